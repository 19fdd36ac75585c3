//! Versioned, immutable table snapshots and the builder that makes them
//! (spec §7.1–7.2).
//!
//! Everything a worker consults — both LPMs, next hops, neighbours, the
//! wiring — lives in one [`Tables`] value with a version number. Workers load
//! the current one once per batch through [`SharedTables`] (an `arc-swap`
//! pointer: a load is a few uncontended atomic operations, never a lock or a
//! wait) and use it for the whole batch, so a batch sees exactly one version.
//!
//! [`TablesBuilder`] lives on the control side. It applies a batch of typed
//! [`TableUpdate`]s and produces the next version: the parts a batch does not
//! touch are shared with the previous version (`Arc`), the parts it touches are
//! built anew — an LPM as a copy with only the changed prefixes re-rendered.
//! Nothing ever edits a published version. A batch is all or nothing: the
//! first invalid update (or a dangling reference left at the end) undoes the
//! batch and nothing is published.
//!
//! The module is laid out as the data flows: `update` is the vocabulary a
//! batch is written in, `builder` applies batches, `sources` is what the
//! builder remembers about each route, and this file holds the published
//! value itself.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use orbital_wire::EthernetAddress;

use crate::interface::Interfaces;
use crate::lpm::{Lpm4, Lpm6};
use crate::neighbor::Neighbors;
use crate::nexthop::{Adjacency, NextHopTable, Resolved};

mod builder;
mod sources;
mod update;

pub use builder::TablesBuilder;
pub use sources::{RouteInfo, RouteOrigin};
pub use update::{Gateway, RouteTarget, TableUpdate, UpdateError, UpdateErrorKind};

/// Most ports and interfaces (ids are indices into dense arrays).
pub const MAX_PORTS: u16 = 1024;

/// One consistent version of every forwarding table.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Version number; each publish adds one.
    pub version: u64,
    /// IPv4 routes → next-hop ids.
    pub fib4: Arc<Lpm4>,
    /// IPv6 routes → next-hop ids.
    pub fib6: Arc<Lpm6>,
    /// Next hops by id.
    pub next_hops: Arc<NextHopTable>,
    /// ARP / ND entries.
    pub neighbors: Arc<Neighbors>,
    /// Ports, interfaces, bridge domains.
    pub ifs: Arc<Interfaces>,
}

impl Tables {
    /// Route an IPv4 destination for a packet of flow hash `flow_hash`.
    #[inline]
    pub fn route_v4(&self, dst: Ipv4Addr, flow_hash: u32) -> Resolved<'_> {
        self.next_hops.resolve(self.fib4.lookup(dst), flow_hash)
    }

    /// Route an IPv6 destination.
    #[inline]
    pub fn route_v6(&self, dst: Ipv6Addr, flow_hash: u32) -> Resolved<'_> {
        self.next_hops.resolve(self.fib6.lookup(dst), flow_hash)
    }

    /// The MAC to send to through `adj` for destination `dst`: the resolved
    /// gateway MAC, or the neighbour entry of a directly connected
    /// destination. `None` means: punt to the slow path to resolve it.
    #[inline]
    pub fn neighbor_mac(&self, adj: &Adjacency, dst: IpAddr) -> Option<EthernetAddress> {
        match adj.gateway {
            Some(_) => adj.dst_mac,
            None => self.neighbors.usable(dst).map(|n| n.mac),
        }
    }
}

/// The published tables, shared by every worker and the control side.
#[derive(Debug)]
pub struct SharedTables {
    current: ArcSwap<Tables>,
}

impl SharedTables {
    /// Share `tables` as the first version.
    pub fn new(tables: Arc<Tables>) -> SharedTables {
        SharedTables {
            current: ArcSwap::new(tables),
        }
    }

    /// The current version, for the length of a batch. Lock-free and
    /// wait-free for readers.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Tables>> {
        self.current.load()
    }

    /// The current version as an owned `Arc` (for holding across batches).
    pub fn load_full(&self) -> Arc<Tables> {
        self.current.load_full()
    }

    /// Make `tables` the current version, atomically.
    pub fn publish(&self, tables: Arc<Tables>) {
        self.current.store(tables);
    }
}
