//! The vocabulary of the Orbital data plane's per-burst path: what every
//! node — the built-in forwarding nodes in `orbital-pipeline` and the
//! features' nodes (firewall, conntrack, NAT, QoS) — is written against.
//!
//! - [`node`]: the [`Node`] trait, the [`NodeCx`] a node works with (clock,
//!   buffers, snapshot, flow hash, making packets), the [`Burst`] it is
//!   given, and the [`Runner`] that times, counts and traces every node.
//! - [`features`]: the six hook points ([`Hook`]), a hook's [`Chain`] of
//!   nodes in declared order, and the [`Features`] type that fixes them at
//!   compile time ([`Plain`]: none).
//! - [`verdict`]: a packet's fate ([`Verdict`]), its context
//!   ([`PacketCtx`]), how it entered ([`Origin`], [`Entry`]), and what travels
//!   to the slow path ([`Punt`]), back ([`Inject`]) and between workers
//!   ([`Handoff`]).
//! - [`snapshot`]: the one versioned [`Snapshot`] of tables, policy and live
//!   settings, published by the [`Publisher`].
//! - [`drop`](mod@drop): every drop reason; [`counters`]: per-worker,
//!   per-node and per-port counters; [`trace`]: per-packet, per-node trace;
//!   [`rss`]: Toeplitz hash and indirection table; [`clock`]: real or
//!   virtual time; [`ratelimit`]: token buckets on that clock.
#![forbid(unsafe_code)]

pub mod clock;
pub mod counters;
pub mod drop;
pub mod features;
pub mod node;
pub mod ratelimit;
pub mod rss;
pub mod snapshot;
pub mod trace;
pub mod verdict;

pub use clock::Clock;
pub use counters::{NodeSnapshot, WorkerCounters, WorkerSnapshot};
pub use drop::{DropReason, Reason};
pub use features::{Chain, Features, Hook, Hooks, NoPolicy, Plain};
pub use node::{Burst, Emitted, Node, NodeCx, Position, Runner, Scratch};
pub use snapshot::{Publisher, Settings, SharedSnapshot, Snapshot};
pub use trace::Note;
pub use verdict::{
    CtMeta, Egress, Entry, Handoff, Inject, InjectTo, NatMeta, Origin, PacketCtx, Punt, PuntReason,
    Verdict,
};
