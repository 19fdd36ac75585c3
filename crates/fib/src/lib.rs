//! Forwarding tables: what the route lookup and L2 stages consult.
#![forbid(unsafe_code)]

mod dir;
pub mod lpm;
pub mod prefix;
mod rib;

pub use lpm::{Lpm4, Lpm4Builder, Lpm6, Lpm6Builder, NO_ROUTE};
pub use prefix::{IpPrefix, Ipv4Prefix, Ipv6Prefix, PrefixError};
