//! The neighbour table: IPv4 ARP and IPv6 ND entries, IP → MAC on an
//! interface. The slow path fills it (answers to its resolutions, static
//! configuration); the fast path only reads it, and punts a packet whose next
//! hop has no usable entry so the slow path can resolve it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use orbital_wire::EthernetAddress;
use rustc_hash::FxHashMap;

use crate::interface::IfId;

/// RFC 4861 §7.3.2 states, shared with ARP. (DELAY and PROBE are slow-path
/// timers around STALE; to the fast path they are as usable as STALE.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// Resolution under way; no MAC yet.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Not confirmed recently; still used while the slow path re-probes.
    Stale,
    /// Configured; never expires.
    Static,
}

impl NeighborState {
    /// Can packets be sent to this neighbour?
    #[inline]
    pub fn is_usable(self) -> bool {
        !matches!(self, NeighborState::Incomplete)
    }

    /// Lowercase name, as `ip neigh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            NeighborState::Incomplete => "incomplete",
            NeighborState::Reachable => "reachable",
            NeighborState::Stale => "stale",
            NeighborState::Static => "permanent",
        }
    }
}

/// One neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Neighbor {
    /// Its MAC.
    pub mac: EthernetAddress,
    /// The interface it was learned or configured on.
    pub iface: IfId,
    /// State.
    pub state: NeighborState,
}

/// IPv4 and IPv6 neighbours.
#[derive(Debug, Clone, Default)]
pub struct Neighbors {
    v4: FxHashMap<Ipv4Addr, Neighbor>,
    v6: FxHashMap<Ipv6Addr, Neighbor>,
}

impl Neighbors {
    /// A usable IPv4 neighbour.
    #[inline]
    pub fn usable_v4(&self, a: Ipv4Addr) -> Option<&Neighbor> {
        self.v4.get(&a).filter(|n| n.state.is_usable())
    }

    /// A usable IPv6 neighbour.
    #[inline]
    pub fn usable_v6(&self, a: Ipv6Addr) -> Option<&Neighbor> {
        self.v6.get(&a).filter(|n| n.state.is_usable())
    }

    /// Any entry for `a`, usable or not.
    pub fn get(&self, a: IpAddr) -> Option<&Neighbor> {
        match a {
            IpAddr::V4(a) => self.v4.get(&a),
            IpAddr::V6(a) => self.v6.get(&a),
        }
    }

    /// A usable entry for `a`.
    #[inline]
    pub fn usable(&self, a: IpAddr) -> Option<&Neighbor> {
        match a {
            IpAddr::V4(a) => self.usable_v4(a),
            IpAddr::V6(a) => self.usable_v6(a),
        }
    }

    pub(crate) fn insert(&mut self, a: IpAddr, n: Neighbor) -> Option<Neighbor> {
        match a {
            IpAddr::V4(a) => self.v4.insert(a, n),
            IpAddr::V6(a) => self.v6.insert(a, n),
        }
    }

    pub(crate) fn remove(&mut self, a: IpAddr) -> Option<Neighbor> {
        match a {
            IpAddr::V4(a) => self.v4.remove(&a),
            IpAddr::V6(a) => self.v6.remove(&a),
        }
    }

    /// Every entry, IPv4 first, each family in address order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, Neighbor)> + '_ {
        let mut v4: Vec<_> = self.v4.iter().map(|(a, n)| (IpAddr::V4(*a), *n)).collect();
        let mut v6: Vec<_> = self.v6.iter().map(|(a, n)| (IpAddr::V6(*a), *n)).collect();
        v4.sort_by_key(|e| e.0);
        v6.sort_by_key(|e| e.0);
        v4.into_iter().chain(v6)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
