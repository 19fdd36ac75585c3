//! The packets the data plane makes itself, in one place (the router's
//! answers and the pieces it cuts), built into pool buffers through the
//! wire crate's views and `Repr`s:
//!
//! - [`control`]: ARP and neighbour discovery answers and requests, echo
//!   replies, and ICMP errors framed for Ethernet (the slow path's).
//! - [`icmp_error`]: the ICMP errors of RFC 1812 §4.3 / RFC 4443 as IP
//!   packets.
//! - [`fragment`]: IPv4 fragmentation (RFC 791).
//! - [`l2`]: Ethernet framing in place, in the headroom.
//! - [`reset`]: TCP resets (RFC 9293 §3.10.7.1) for a firewall's reject.
#![forbid(unsafe_code)]

pub mod control;
pub mod fragment;
pub mod icmp_error;
pub mod l2;
pub mod reset;

#[cfg(test)]
mod tests;

pub use control::L2;
pub use icmp_error::IcmpError;
