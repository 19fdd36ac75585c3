//! Next hops: what a route lookup's id stands for.
//!
//! Forwarding next hops are *adjacencies* (VPP's term): interface, MTU, the
//! router's source MAC, and — for a gateway — the gateway's MAC, resolved
//! when the tables are published, so a routed packet costs one LPM lookup and
//! one array index, with no neighbour lookup. Directly connected routes leave
//! the MAC to a per-packet neighbour lookup of the destination.
//!
//! An ECMP group (up to [`MAX_ECMP`] members) spreads flows over its members
//! by flow hash through a 256-bucket table; a flow's hash never changes, so
//! its member does not either while the group is unchanged. The bucket uses
//! the hash's top byte because the low bits already chose the flow's worker
//! (RSS): reusing them would send all of one worker's flows to one member.

use core::net::IpAddr;

use orbital_wire::EthernetAddress;

use crate::interface::IfId;

/// Most members of an ECMP group.
pub const MAX_ECMP: usize = 16;

/// A resolved way out of the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjacency {
    /// Egress interface.
    pub iface: IfId,
    /// The gateway, or `None` for a directly connected destination.
    pub gateway: Option<IpAddr>,
    /// IP MTU of the interface.
    pub mtu: u16,
    /// Router MAC on the interface (frame source).
    pub src_mac: EthernetAddress,
    /// The gateway's MAC once resolved (always `None` when connected).
    pub dst_mac: Option<EthernetAddress>,
    /// The egress port when the interface sits on one (not a bridge), so
    /// the fast path need not look the interface up per packet.
    pub port: Option<crate::interface::PortId>,
}

/// An ECMP group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcmpGroup {
    members: Vec<Adjacency>,
    buckets: Box<[u8; 256]>,
}

impl EcmpGroup {
    /// A group over `members` (1 to [`MAX_ECMP`]).
    ///
    /// # Panics
    /// If `members` is empty or longer than [`MAX_ECMP`]; the builder checks.
    pub fn new(members: Vec<Adjacency>) -> EcmpGroup {
        assert!(
            (1..=MAX_ECMP).contains(&members.len()),
            "ECMP group of {}",
            members.len()
        );
        let n = members.len();
        let mut buckets = Box::new([0u8; 256]);
        for (i, b) in buckets.iter_mut().enumerate() {
            *b = (i % n) as u8;
        }
        EcmpGroup { members, buckets }
    }

    /// The member carrying flows of `flow_hash`.
    #[inline]
    pub fn select(&self, flow_hash: u32) -> &Adjacency {
        &self.members[usize::from(self.buckets[(flow_hash >> 24) as usize])]
    }

    /// The members.
    pub fn members(&self) -> &[Adjacency] {
        &self.members
    }
}

/// What a next-hop id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    /// Id 0: the lookup found no route (RFC 1812: ICMP network unreachable).
    NoRoute,
    /// For the router itself: local delivery.
    Local,
    /// Dropped silently.
    Blackhole,
    /// Dropped with ICMP destination unreachable.
    Unreachable,
    /// Dropped with ICMP administratively prohibited.
    Prohibit,
    /// Forwarded through one adjacency.
    Forward(Adjacency),
    /// Forwarded through one of several, by flow hash.
    Ecmp(EcmpGroup),
}

/// Why a packet is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteDrop {
    /// No route: ICMP network unreachable / ICMPv6 no route.
    NoRoute,
    /// A blackhole route: silent.
    Blackhole,
    /// An unreachable route: ICMP host unreachable / ICMPv6 reject route.
    Unreachable,
    /// A prohibit route: ICMP administratively prohibited.
    Prohibit,
}

/// A next hop resolved for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// For the router.
    Local,
    /// Not forwarded.
    Drop(RouteDrop),
    /// Out through this adjacency.
    Forward(&'a Adjacency),
}

/// All next hops, indexed by the id the LPMs store.
#[derive(Debug, Clone)]
pub struct NextHopTable {
    hops: Vec<NextHop>,
}

impl Default for NextHopTable {
    fn default() -> Self {
        NextHopTable {
            hops: vec![NextHop::NoRoute],
        }
    }
}

impl NextHopTable {
    pub(crate) fn from_hops(hops: Vec<NextHop>) -> NextHopTable {
        debug_assert!(matches!(hops.first(), Some(NextHop::NoRoute)));
        NextHopTable { hops }
    }

    /// The next hop of id `id` (an unknown id reads as no route).
    #[inline]
    pub fn get(&self, id: u32) -> &NextHop {
        self.hops.get(id as usize).unwrap_or(&NextHop::NoRoute)
    }

    /// Resolve id `id` for a packet of flow hash `flow_hash`.
    #[inline]
    pub fn resolve(&self, id: u32, flow_hash: u32) -> Resolved<'_> {
        match self.get(id) {
            NextHop::Forward(a) => Resolved::Forward(a),
            NextHop::Ecmp(g) => Resolved::Forward(g.select(flow_hash)),
            NextHop::Local => Resolved::Local,
            NextHop::NoRoute => Resolved::Drop(RouteDrop::NoRoute),
            NextHop::Blackhole => Resolved::Drop(RouteDrop::Blackhole),
            NextHop::Unreachable => Resolved::Drop(RouteDrop::Unreachable),
            NextHop::Prohibit => Resolved::Drop(RouteDrop::Prohibit),
        }
    }

    /// Number of ids (including id 0).
    pub fn len(&self) -> usize {
        self.hops.len()
    }

    /// Always false: id 0 exists.
    pub fn is_empty(&self) -> bool {
        self.hops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adj(i: u16) -> Adjacency {
        Adjacency {
            iface: IfId(i),
            gateway: None,
            mtu: 1500,
            src_mac: EthernetAddress::default(),
            dst_mac: None,
            port: None,
        }
    }

    #[test]
    fn ecmp_spreads_by_top_bits_and_is_stable() {
        let g = EcmpGroup::new((0..3).map(adj).collect());
        let mut counts = [0u32; 3];
        for h in 0..=255u32 {
            let m = g.select(h << 24).iface.0;
            counts[usize::from(m)] += 1;
            // Same flow, same member; low bits (the worker's) do not matter.
            assert_eq!(g.select((h << 24) | 0xffff).iface.0, m);
        }
        assert_eq!(counts, [86, 85, 85]);
    }

    #[test]
    fn unknown_id_is_no_route() {
        let t = NextHopTable::default();
        assert_eq!(t.resolve(42, 0), Resolved::Drop(RouteDrop::NoRoute));
    }
}
