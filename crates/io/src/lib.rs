//! Ports: where packets enter and leave the data plane (spec §6), and the
//! lock-free rings that carry them between threads (spec §5).
//!
//! A [`Port`] is one worker's endpoint of one NIC queue pair: `rx_burst` fills
//! a batch with packets in pool buffers, `tx_burst` sends packets from the
//! front of a batch. Both work on whole bursts and never block. A port never
//! silently drops what its device cannot take right now: those packets stay
//! in the batch, in order, and the caller decides whether to retry them or to
//! drop and count them (spec §12). The shape is that of AF_XDP and AF_PACKET
//! rings: the kernel-facing backends (issue "Real I/O") implement the same
//! trait.
//!
//! Backends here:
//! - [`memory`]: a pair of SPSC rings, for tests, benchmarks and handoffs;
//! - [`pcap`]: a capture file as the receive side and a capture file as the
//!   transmit side, the embedded default of `orbital replay`;
//! - [`afxdp`]: a Linux interface queue through an AF_XDP socket whose UMEM
//!   is the buffer pool (no copy between the kernel's frame and the
//!   pipeline's packet), with its own XDP redirect program;
//! - [`afpacket`]: a Linux interface through an AF_PACKET socket with a
//!   TPACKET_V3 receive ring, batched transmit and fanout across workers;
//! - [`tap`]: a TAP device, the host's own stack as a port.
//!
//! The kernel-facing backends need system calls on shared memory and
//! ioctls; that code is in `sys/` (one file per concern: sockets, mappings,
//! ioctls, AF_XDP, bpf), where each `unsafe` block carries its proof. Two
//! calls are `unsafe fn`s called from `afxdp.rs`: registering the pool as
//! UMEM and binding a socket to share it. Both let the kernel write into
//! pool buffers, so their proof is about how that port uses its rings, and
//! it sits there. The rest of the crate is safe.
//!
//! [`AnyPort`] dispatches over the backends with a `match` per burst, not a
//! `dyn` call per packet.
#![deny(unsafe_code)]
#![deny(clippy::cast_possible_truncation)]

pub mod afpacket;
pub mod afxdp;
pub mod csum;
mod ethtool;
pub mod gso;
pub mod memory;
pub mod pcap;
pub mod ring;
mod sys;
pub mod tap;

use std::os::fd::RawFd;

use orbital_buf::{Batch, PoolCache};

pub use afpacket::{AfPacketConfig, AfPacketPort};
pub use afxdp::{XdpConfig, XdpContext, XdpMode, XdpPort};
pub use memory::{MemoryPort, TrafficFrames, TrafficPort};
pub use pcap::{PcapPortError, PcapRx, PcapTx};
pub use ring::{RingRx, RingStats, RingTx, ring};
pub use tap::TapPort;

/// What a port (its device) can do in hardware (spec §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Verifies IPv4/TCP/UDP checksums on receive.
    pub rx_checksum: bool,
    /// Completes partial L4 checksums on transmit.
    pub tx_checksum: bool,
    /// Segments TCP super-packets on transmit (TSO).
    pub tso: bool,
    /// Accepts generic segmentation offload super-packets.
    pub gso: bool,
    /// Hardware flow steering (ntuple filters).
    pub ntuple: bool,
    /// Receive queues.
    pub queues: u16,
    /// Largest frame it sends or receives.
    pub max_frame: u32,
}

impl Capabilities {
    /// A port made of software (rings, files, a generator): one queue, any
    /// frame size, no offloads.
    pub const SOFTWARE: Capabilities = Capabilities {
        rx_checksum: false,
        tx_checksum: false,
        tso: false,
        gso: false,
        ntuple: false,
        queues: 1,
        max_frame: u32::MAX,
    };
}

/// Counters of one port endpoint, written by its owner only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames the device had but the port could not take (no buffer, ring full).
    pub rx_dropped: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the port discarded for a reason other than lack of room (too
    /// large for the device, refused by the kernel); packets it left in the
    /// batch for lack of room are not counted here.
    pub tx_dropped: u64,
}

impl PortStats {
    /// "Transmit" a whole batch by freeing it, counted as sent: what sinks
    /// and unwired ports do (they always have room).
    pub fn discard(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let n = batch.len();
        for p in batch.drain() {
            self.tx_bytes += p.len() as u64;
            cache.free(p);
        }
        self.tx_packets += n as u64;
        TxResult {
            sent: n,
            dropped: 0,
        }
    }

    /// Field-wise sum (aggregating the endpoints of one port across workers).
    pub fn add(&mut self, o: &PortStats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.rx_dropped += o.rx_dropped;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_dropped += o.tx_dropped;
    }
}

/// What happened to the packets a transmitted burst took from its batch.
/// Packets it did not take (no room in the device now) are still in the
/// batch and in neither count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxResult {
    /// Packets handed to the device.
    pub sent: usize,
    /// Packets the port discarded and freed for a reason other than lack of
    /// room: a frame too large for the device, a kernel error on that frame,
    /// a port with no transmit side.
    pub dropped: usize,
}

/// A kernel port that could not be opened: which device, which step, why.
/// The kernel's answer is in the message and deliberately not also the
/// `source()`, so printing the chain (`{:#}`) says it once.
#[derive(Debug, thiserror::Error)]
#[error("{device}: {what}: {reason}")]
pub struct OpenError {
    /// The Linux interface.
    pub device: String,
    /// The step that failed.
    pub what: &'static str,
    /// The kernel's answer.
    pub reason: std::io::Error,
}

/// An [`OpenError`] maker for `map_err`.
pub(crate) fn open_error(
    device: &str,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> OpenError {
    let device = device.to_string();
    move |reason| OpenError {
        device,
        what,
        reason,
    }
}

/// Block until one of `fds` is readable or `timeout_ms` passes: how an idle
/// worker sleeps instead of spinning (spec §6.1). Returns how many are ready.
///
/// # Errors
/// poll(2)'s error (an interruption counts as a timeout).
pub fn wait_readable(fds: &[RawFd], timeout_ms: i32) -> std::io::Result<usize> {
    sys::wait_readable(fds, timeout_ms)
}

/// One worker's endpoint of a port.
pub trait Port {
    /// Receive up to `max` packets (and at most `batch.room()`), appending
    /// them to `batch`. Returns how many were added. Never blocks.
    fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize;

    /// Transmit packets from the front of `batch`, in order, as many as the
    /// device has room for, removing them from the batch; packets the device
    /// cannot take now stay in `batch`, in order, for the caller to retry
    /// later or drop. Returns how many were sent.
    ///
    /// A packet the port has to discard for a reason other than lack of room
    /// (a frame too large for the device, a kernel error on that frame) is
    /// removed too, freed to `cache`, and counted in [`TxResult::dropped`];
    /// the packets after it are still sent in order. Never blocks.
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult;

    /// Device capabilities.
    fn capabilities(&self) -> Capabilities;

    /// Counters.
    fn stats(&self) -> PortStats;

    /// A descriptor that becomes readable when frames arrive, for an idle
    /// worker to sleep on; `None` for ports that are never waited for.
    fn wait_fd(&self) -> Option<RawFd> {
        None
    }

    /// Slow bookkeeping (kernel drop counters...), called when the worker
    /// is idle, never per burst.
    fn maintain(&mut self) {}
}

/// Every backend, for static dispatch.
#[derive(Debug)]
pub enum AnyPort {
    /// Rings in memory.
    Memory(MemoryPort),
    /// A traffic generator and sink.
    Traffic(TrafficPort),
    /// A Linux interface queue through AF_XDP.
    Xdp(Box<XdpPort>),
    /// A Linux interface through AF_PACKET.
    AfPacket(AfPacketPort),
    /// A TAP device.
    Tap(TapPort),
    /// Nothing: receives nothing, drops what it is given (counted as sent:
    /// a port left unwired in a replay).
    Null(NullPort),
}

impl Port for AnyPort {
    #[inline]
    fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        match self {
            AnyPort::Memory(p) => p.rx_burst(cache, batch, max),
            AnyPort::Traffic(p) => p.rx_burst(cache, batch, max),
            AnyPort::Null(p) => p.rx_burst(cache, batch, max),
            AnyPort::Xdp(p) => p.rx_burst(cache, batch, max),
            AnyPort::AfPacket(p) => p.rx_burst(cache, batch, max),
            AnyPort::Tap(p) => p.rx_burst(cache, batch, max),
        }
    }

    #[inline]
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        match self {
            AnyPort::Memory(p) => p.tx_burst(batch, cache),
            AnyPort::Traffic(p) => p.tx_burst(batch, cache),
            AnyPort::Null(p) => p.tx_burst(batch, cache),
            AnyPort::Xdp(p) => p.tx_burst(batch, cache),
            AnyPort::AfPacket(p) => p.tx_burst(batch, cache),
            AnyPort::Tap(p) => p.tx_burst(batch, cache),
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self {
            AnyPort::Memory(p) => p.capabilities(),
            AnyPort::Traffic(p) => p.capabilities(),
            AnyPort::Null(p) => p.capabilities(),
            AnyPort::Xdp(p) => p.capabilities(),
            AnyPort::AfPacket(p) => p.capabilities(),
            AnyPort::Tap(p) => p.capabilities(),
        }
    }

    fn stats(&self) -> PortStats {
        match self {
            AnyPort::Memory(p) => p.stats(),
            AnyPort::Traffic(p) => p.stats(),
            AnyPort::Null(p) => p.stats(),
            AnyPort::Xdp(p) => p.stats(),
            AnyPort::AfPacket(p) => p.stats(),
            AnyPort::Tap(p) => p.stats(),
        }
    }
}

impl AnyPort {
    /// See [`Port::wait_fd`].
    pub fn wait_fd(&self) -> Option<RawFd> {
        match self {
            AnyPort::Xdp(p) => Some(p.raw_fd()),
            AnyPort::AfPacket(p) => Some(p.raw_fd()),
            AnyPort::Tap(p) => Some(p.raw_fd()),
            _ => None,
        }
    }

    /// See [`Port::maintain`].
    pub fn maintain(&mut self) {
        match self {
            AnyPort::AfPacket(p) => p.refresh_kernel_drops(),
            AnyPort::Xdp(p) => p.maintain(),
            _ => {}
        }
    }
}

/// A port that receives nothing and discards what it sends (`/dev/null`).
#[derive(Debug, Default)]
pub struct NullPort {
    stats: PortStats,
}

impl Port for NullPort {
    fn rx_burst(&mut self, _cache: &mut PoolCache, _batch: &mut Batch, _max: usize) -> usize {
        0
    }

    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        self.stats.discard(batch, cache)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::SOFTWARE
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}
