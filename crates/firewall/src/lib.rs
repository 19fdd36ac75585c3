//! The stateful firewall of the Orbital data plane (spec §8.1, §8.2): the
//! nodes at the five hooks (prerouting, input, forward, output,
//! postrouting) that filter every packet against rules precompiled for the
//! fast path, with connection tracking.
//!
//! - [`expand`]: rules to classifier entries (sets, negations, address
//!   ranges as per-word conditions) and the shadowed-rule check.
//! - [`policy`]: the compiled firewall the snapshot carries (classifier
//!   segments per chain, base chains per hook, per-worker hit counters).
//! - [`eval`]: a packet's key through a hook's chains.
//! - [`cache`]: the flow verdict cache that lets an established
//!   connection's packets skip the classifier when that changes nothing.
//! - [`rules`]: the typed rule vocabulary the control side produces from
//!   nftables-like text (the data side never parses).
#![forbid(unsafe_code)]

pub mod cache;
pub mod eval;
pub mod expand;
pub mod key;
pub mod log;
pub mod node;
pub mod policy;
pub mod reject;
pub mod rules;

pub use node::{Edge, EdgePolicy, EdgeState};
pub use policy::FirewallPolicy;
