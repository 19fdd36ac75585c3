//! Packet buffers: where every packet of the Orbital data plane lives from the
//! NIC's receive ring to its transmit ring (spec §4).
//!
//! * A [`Pool`] is one allocation made at start, cut into fixed-size, 64-byte
//!   aligned buffers (default 128 B headroom + 2048 B data room). It never
//!   grows and never allocates again; a buffer is named by its index.
//! * A [`PoolCache`] belongs to one worker. It hands out and takes back
//!   buffers with no atomic operation at all, and talks to the pool's shared
//!   lock-free free list only in bulk, when it runs empty or overfull
//!   (DPDK's mempool cache, VPP's per-thread buffer cache).
//! * A [`Packet`] owns exactly one buffer. It moves between stages and threads
//!   by value (64 bytes), never copying the frame; it dereferences to the
//!   frame's bytes; its headroom lets a stage prepend a VLAN tag or an
//!   encapsulation without moving the payload. Dropped anywhere, it finds its
//!   way home to the pool.
//!
//! * [`Loans`] lends buffers to a device by index (an AF_XDP socket's fill
//!   and transmit rings, whose UMEM is the pool's memory) and takes them back
//!   as packets, refusing any index it did not lend.
//!
//! Exhaustion is an ordinary outcome: `alloc` returns `None` and a counter
//! goes up. Nothing here ever blocks.
//!
//! # Safety
//! The crate denies `unsafe` everywhere but its private `sys` module, which
//! holds every raw pointer: the region, the reference count that keeps it
//! alive, and the ownership of buffer indices. Soundness rests on one
//! invariant that module keeps by itself: *each buffer index is held by
//! exactly one holder at a time* (the shared free list, a cache's stock, a
//! device ledger, or one packet), and each holder but the free list counts
//! as one reference to the pool per index, beside every [`Pool`] handle. The
//! pool's memory lives until that count reaches zero (counted in bulk, so
//! the fast path does no per-packet atomic). Indices move between holders
//! only by value, through `sys`, so no safe code elsewhere can forge a
//! second owner of a buffer.
#![deny(unsafe_code)]
#![deny(clippy::cast_possible_truncation)]

mod batch;
mod loan;
mod packet;
mod pool;
mod sys;

pub use batch::{Batch, MAX_BURST};
pub use loan::Loans;
pub use packet::{Meta, Offload, Packet};
pub use pool::{CACHE_LINE, CacheStats, Pool, PoolCache, PoolConfig, PoolError, PoolStats};
