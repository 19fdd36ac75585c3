//! The engine: per-core workers running bursts through the node graph, the
//! slow path beside them, and the deterministic replay driver.
//!
//! Layout, in pipeline order: ports come from `orbital-io`; [`node`] holds
//! the built-in nodes, one file each (parse, l2, route, rewrite, egress),
//! written against `orbital-graph`'s node trait like every feature's nodes;
//! [`worker`] runs the graph over each burst (received, handed over, given
//! back by the slow path, made by a node) and lets the egress node
//! transmit; [`slowpath`] answers ARP/ND and pings, resolves next hops,
//! sends ICMP errors, one file per job; [`engine`] wires workers, rings and
//! the slow path and drives them, on threads pinned to CPUs or step by step
//! for deterministic [`replay`].
//!
//! The graph's vocabulary (verdicts, drop reasons, counters, trace, the
//! snapshot) lives in `orbital-graph` and is re-exported here under its old
//! paths.
#![forbid(unsafe_code)]

pub mod doorbell;
pub mod engine;
pub mod node;
pub mod replay;
pub mod slowpath;
pub mod worker;

pub use orbital_graph::{
    Clock, DropReason, Egress, Entry, Features, Hook, Hooks, Inject, InjectTo, Node, NodeCx,
    Origin, PacketCtx, Plain, Publisher, Punt, PuntReason, Reason, Settings, Snapshot, Verdict,
    WorkerCounters, WorkerSnapshot,
};
pub use orbital_graph::{clock, counters, drop, ratelimit, rss, trace, verdict};
pub use worker::{Worker, WorkerConfig, WorkerWiring};
