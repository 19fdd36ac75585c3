//! Forwarding tables: what the route lookup, L2 and rewrite stages consult,
//! and the RFC 1812 decisions they take (spec §2.1, §7).
//!
//! - [`lpm`]: IPv4 DIR-24-8 and IPv6 24-8-8… longest-prefix match with bulk
//!   lookups; the value found is a next-hop id.
//! - [`nexthop`]: what an id stands for: an adjacency (interface, MACs, MTU),
//!   an ECMP group, local delivery, or a drop.
//! - [`neighbor`]: ARP/ND entries; a miss sends the packet to the slow path.
//! - [`interface`]: ports (routed, access, trunk), L3 interfaces, bridge domains.
//! - [`l2`]: the per-worker MAC learning table and the bridging decision.
//! - [`tables`]: all of the above in one immutable, versioned [`Tables`]
//!   value, built by [`TablesBuilder`] from typed [`TableUpdate`] batches and
//!   published by atomic pointer swap through [`SharedTables`].
//! - [`rfc1812`]: TTL, martians, MTU, ICMP errors and software fragmentation.
#![forbid(unsafe_code)]

mod dir;
pub mod interface;
pub mod l2;
pub mod lpm;
pub mod neighbor;
pub mod nexthop;
pub mod prefix;
pub mod rfc1812;
mod rules;
pub mod tables;

pub use interface::{
    Attach, BridgeDomain, IfId, Interface, Interfaces, PortConfig, PortId, PortMode, VlanId,
};
pub use lpm::{Lpm4, Lpm4Builder, Lpm6, Lpm6Builder, NO_ROUTE};
pub use neighbor::{Neighbor, NeighborState, Neighbors};
pub use nexthop::{Adjacency, NextHop, Resolved, RouteDrop};
pub use prefix::{IpPrefix, Ipv4Prefix, Ipv6Prefix, PrefixError};
pub use tables::{
    Gateway, RouteTarget, SharedTables, TableUpdate, Tables, TablesBuilder, UpdateError,
};
