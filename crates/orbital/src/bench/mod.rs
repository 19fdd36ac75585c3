//! `orbital bench`: the project's own throughput benchmarks. Figures are
//! cycles (TSC) and rates; compare them with a baseline measured in the same
//! run (see `scripts/`), never across machines.

pub mod classify;
pub mod forward;
pub mod lpm;
