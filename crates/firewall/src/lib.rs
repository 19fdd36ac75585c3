//! The stateful firewall of the Orbital data plane (spec §8.1, §8.2): the
//! nodes at the five hooks (prerouting, input, forward, output,
//! postrouting) that filter every packet against rules precompiled for the
//! fast path, with connection tracking.
//!
//! - [`expand`]: rules to classifier entries (sets, negations, address
//!   ranges as per-word conditions) and the shadowed-rule check.
//! - [`rules`]: the typed rule vocabulary the control side produces from
//!   nftables-like text (the data side never parses).
#![forbid(unsafe_code)]

pub mod expand;
pub mod rules;
