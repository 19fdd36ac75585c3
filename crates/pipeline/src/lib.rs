//! The engine: per-core workers running batches through the stages, the slow
//! path beside them, and what lets people see inside (counters, trace).
//!
//! Layout, in pipeline order: ports come from `orbital-io`; [`stage`] holds
//! one file per stage (parse, l2, hooks, route, rewrite, egress); [`worker`]
//! runs them over each burst and transmits; [`slowpath`] answers ARP/ND and
//! pings, resolves next hops, sends ICMP errors, and injects packets back;
//! [`engine`] wires workers, rings and the slow path and drives them, on
//! threads pinned to CPUs or step by step for deterministic replay.
//! [`counters`], [`trace`], [`drop`](mod@drop) are the telemetry; [`rss`] the flow
//! hash; [`clock`] real or virtual time; [`ratelimit`] token buckets.
#![forbid(unsafe_code)]

pub mod clock;
pub mod counters;
pub mod doorbell;
pub mod drop;
pub mod engine;
pub mod ratelimit;
pub mod replay;
pub mod rss;
pub mod slowpath;
pub mod stage;
pub mod trace;
pub mod verdict;
pub mod worker;

pub use clock::Clock;
pub use counters::{Stage, WorkerCounters, WorkerSnapshot};
pub use drop::{DropReason, Reason};
pub use stage::hooks::{Hooks, PassThrough};
pub use verdict::{Egress, Inject, InjectTo, PacketCtx, Punt, PuntReason, Verdict};
pub use worker::{Worker, WorkerConfig, WorkerWiring};
