//! The `orbital` command: the operator's entry point to the data plane.
//!
//! Subcommands live one per module so each reads on its own:
//! [`inspect`] shows how the parser sees a capture; [`replay`] runs the
//! engine on captures; [`daemon`] is `orbital run` on real ports with its
//! API and metrics; [`ctl`] is `orbctl`; [`lab`] builds a namespace lab;
//! [`bench`](mod@bench) measures the engine's parts; [`routes_file`] reads
//! route lists.
#![forbid(unsafe_code)]

pub mod bench;
pub mod ctl;
pub mod daemon;
pub mod inspect;
pub mod lab;
pub mod replay;
pub mod report;
pub mod routes_file;

/// The graph every command runs (the daemon, replay, the benchmarks): the
/// forwarding path and the features registered at its hooks. One type, so
/// what is replayed or benchmarked is what the daemon runs.
pub type Graph = orbital_pipeline::Plain;
