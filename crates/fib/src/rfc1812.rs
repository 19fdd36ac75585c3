//! Router decisions from RFC 1812 (IPv4) and RFC 8200 / RFC 4443 (IPv6), as
//! plain functions the pipeline's route and rewrite stages call.
//!
//! [`decide_v4`] / [`decide_v6`] take a parsed packet and the tables and say
//! what happens to it: forwarded (perhaps after software fragmentation),
//! delivered locally, dropped, or dropped with an ICMP error. The checks run
//! in the order Linux's `ip_forward` runs them, so the same packet gets the
//! same answer: martians first, then the route (no route beats an expired
//! TTL), then TTL / hop limit, then MTU.
//!
//! The packets these decisions call for (ICMP errors, fragments) are built
//! by `orbital-frames`; [`IcmpError`] and the builders are re-exported here
//! for the callers that reach them through fib.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use orbital_wire::icmpv4::{self, Icmpv4Message};
use orbital_wire::icmpv6::{self, Icmpv6Message};
use orbital_wire::ip::IpProtocol;
use orbital_wire::{EthernetAddress, L3Kind, PacketInfo};

pub use orbital_frames::fragment::{FragmentError, fragment_ipv4};
pub use orbital_frames::icmp_error::{
    IcmpError, MAX_ICMPV4_ERROR, MAX_ICMPV6_ERROR, build_icmpv4_error, build_icmpv6_error,
};

use crate::nexthop::{Adjacency, Resolved, RouteDrop};
use crate::tables::Tables;

/// Why a packet is not forwarded (each maps to a drop reason of the pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForwarded {
    /// Source address that cannot be a host (RFC 1812 §5.3.7, RFC 4291).
    MartianSource,
    /// Destination that must never be routed (0/8, 127/8, class E, ::, ::1).
    MartianDestination,
    /// Multicast destination: this data plane does not route multicast.
    Multicast,
    /// IPv6 link-local destination, or link-local source going off-link.
    LinkLocal,
    /// TTL / hop limit would reach zero.
    TtlExpired,
    /// The route says so (no route, blackhole, unreachable, prohibit).
    Route(RouteDrop),
    /// Larger than the egress MTU and may not be fragmented.
    TooBig,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding<'a> {
    /// Send through `adj` to the neighbour `next_hop` (the gateway, or the
    /// destination itself when connected); `fragment` when it must first be
    /// cut to `adj.mtu`.
    Forward {
        /// The way out.
        adj: &'a Adjacency,
        /// Whose MAC the frame goes to.
        next_hop: IpAddr,
        /// IPv4 only: fragment in software first.
        fragment: bool,
    },
    /// For the router itself.
    Local,
    /// Dropped silently.
    Drop(NotForwarded),
    /// Dropped, and the sender is told with an ICMP error (if
    /// [`may_send_icmpv4_error`] / [`may_send_icmpv6_error`] allow it).
    Error(NotForwarded, IcmpError),
}

/// RFC 1812 §5.3.7: source addresses a router must not forward from.
#[inline]
pub fn is_martian_source_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || o >= 224
}

/// Destinations a router must never route: this network (0/8), loopback,
/// class E and limited broadcast.
#[inline]
pub fn is_martian_destination_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || o >= 240
}

/// IPv6 sources that cannot be a single sender (RFC 4291 §2.5.2, §2.7,
/// §2.5.5.2): unspecified, loopback, multicast, IPv4-mapped.
#[inline]
pub fn is_martian_source_v6(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.to_ipv4_mapped().is_some()
}

/// IPv6 destinations never routed: unspecified, loopback, IPv4-mapped.
#[inline]
pub fn is_martian_destination_v6(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.to_ipv4_mapped().is_some()
}

/// Route and check an IPv4 packet (RFC 1812 §5.2–5.3).
pub fn decide_v4<'t>(t: &'t Tables, info: &PacketInfo, flow_hash: u32) -> Forwarding<'t> {
    decide_v4_with(t, info, t.fib4.lookup(info.dst_v4()), flow_hash)
}

/// As [`decide_v4`] with the LPM lookup already done (the route stage looks
/// a whole batch up at once), `nh` being the next-hop id found.
#[inline]
pub fn decide_v4_with<'t>(
    t: &'t Tables,
    info: &PacketInfo,
    nh: u32,
    flow_hash: u32,
) -> Forwarding<'t> {
    let (src, dst) = (info.src_v4(), info.dst_v4());
    if is_martian_source_v4(src) {
        return Forwarding::Drop(NotForwarded::MartianSource);
    }
    if dst.is_multicast() {
        return Forwarding::Drop(NotForwarded::Multicast);
    }
    if is_martian_destination_v4(dst) {
        return Forwarding::Drop(NotForwarded::MartianDestination);
    }
    let adj = match t.next_hops.resolve(nh, flow_hash) {
        Resolved::Local => return Forwarding::Local,
        Resolved::Drop(d) => return route_drop(d, false),
        Resolved::Forward(a) => a,
    };
    if info.ttl <= 1 {
        return Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded);
    }
    let next_hop = adj.gateway.unwrap_or(IpAddr::V4(dst));
    let fragment = info.l3_len > u32::from(adj.mtu);
    if fragment && info.dont_frag {
        return Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(adj.mtu));
    }
    Forwarding::Forward {
        adj,
        next_hop,
        fragment,
    }
}

/// The common case of [`decide_v4_with`], decided cheaply: `Some(adj)`
/// exactly when the full decision would forward the packet unfragmented
/// through a single (non-ECMP) gateway whose MAC is resolved and whose
/// interface sits on a port; `None` means "ask [`decide_v4_with`]". The route
/// stage tries this first (a property test holds the two to agreeing).
#[inline(always)]
pub fn fast_forward_v4<'t>(t: &'t Tables, info: &PacketInfo, nh: u32) -> Option<&'t Adjacency> {
    let crate::nexthop::NextHop::Forward(adj) = t.next_hops.get(nh) else {
        return None;
    };
    let (s, d) = ((info.src >> 24) as u8, (info.dst >> 24) as u8);
    // Not martian (source 0, 127, ≥224; destination 0, 127, ≥224 incl.
    // multicast and class E), TTL left, fits the MTU, next hop known.
    let ok = s != 0
        && s != 127
        && s < 224
        && d != 0
        && d != 127
        && d < 224
        && info.ttl > 1
        && info.l3_len <= u32::from(adj.mtu)
        && adj.gateway.is_some()
        && adj.dst_mac.is_some()
        && adj.port.is_some();
    ok.then_some(adj)
}

/// Route and check an IPv6 packet (RFC 8200 §3, RFC 4443 §3).
pub fn decide_v6<'t>(t: &'t Tables, info: &PacketInfo, flow_hash: u32) -> Forwarding<'t> {
    decide_v6_with(t, info, t.fib6.lookup(info.dst_v6()), flow_hash)
}

/// As [`decide_v6`] with the LPM lookup already done.
#[inline]
pub fn decide_v6_with<'t>(
    t: &'t Tables,
    info: &PacketInfo,
    nh: u32,
    flow_hash: u32,
) -> Forwarding<'t> {
    let (src, dst) = (info.src_v6(), info.dst_v6());
    if is_martian_source_v6(src) {
        return Forwarding::Drop(NotForwarded::MartianSource);
    }
    if is_martian_destination_v6(dst) {
        return Forwarding::Drop(NotForwarded::MartianDestination);
    }
    let adj = match t.next_hops.resolve(nh, flow_hash) {
        Resolved::Local => return Forwarding::Local,
        // Multicast and link-local destinations are only ever local.
        _ if dst.is_multicast() => return Forwarding::Drop(NotForwarded::Multicast),
        _ if dst.is_unicast_link_local() => return Forwarding::Drop(NotForwarded::LinkLocal),
        Resolved::Drop(d) => return route_drop(d, true),
        Resolved::Forward(a) => a,
    };
    if src.is_unicast_link_local() {
        // RFC 4443 §3.1 code 2: beyond scope of source address.
        return Forwarding::Error(NotForwarded::LinkLocal, IcmpError::Unreachable(2));
    }
    if info.ttl <= 1 {
        return Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded);
    }
    if info.l3_len > u32::from(adj.mtu) {
        return Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(adj.mtu));
    }
    let next_hop = adj.gateway.unwrap_or(IpAddr::V6(dst));
    Forwarding::Forward {
        adj,
        next_hop,
        fragment: false,
    }
}

fn route_drop(d: RouteDrop, v6: bool) -> Forwarding<'static> {
    let why = NotForwarded::Route(d);
    let code = match (d, v6) {
        (RouteDrop::Blackhole, _) => return Forwarding::Drop(why),
        (RouteDrop::NoRoute, false) => icmpv4::unreach::NET,
        (RouteDrop::Unreachable, false) => icmpv4::unreach::HOST,
        (RouteDrop::Prohibit, false) => icmpv4::unreach::ADMIN_PROHIBITED,
        (RouteDrop::NoRoute, true) => icmpv6::unreach::NO_ROUTE,
        (RouteDrop::Unreachable, true) => icmpv6::unreach::REJECT_ROUTE,
        (RouteDrop::Prohibit, true) => icmpv6::unreach::ADMIN_PROHIBITED,
    };
    Forwarding::Error(why, IcmpError::Unreachable(code))
}

/// RFC 1812 §4.3.2.7: may an ICMP error be sent about this packet? Not about
/// an ICMP error, a non-first fragment, a link-layer or IP broadcast or
/// multicast, or a packet from an address that is not a single host.
pub fn may_send_icmpv4_error(info: &PacketInfo, dst_mac: EthernetAddress) -> bool {
    if info.l3 != L3Kind::Ipv4 || dst_mac.is_multicast() || info.frag.is_later_fragment() {
        return false;
    }
    let (src, dst) = (info.src_v4(), info.dst_v4());
    if is_martian_source_v4(src) || dst.is_multicast() || dst.is_broadcast() {
        return false;
    }
    let is_icmp_error = info.ip_protocol() == IpProtocol::Icmp
        && info.has_l4()
        && Icmpv4Message::from(info.icmp_type()).is_error();
    !is_icmp_error
}

/// RFC 4443 §2.4 (e): may an ICMPv6 error be sent about this packet? Not about
/// an ICMPv6 error or redirect, nor a packet from an address that is not a
/// single host; for multicast destinations only Packet Too Big.
pub fn may_send_icmpv6_error(info: &PacketInfo, dst_mac: EthernetAddress, err: IcmpError) -> bool {
    if info.l3 != L3Kind::Ipv6 || info.frag.is_later_fragment() {
        return false;
    }
    let (src, dst) = (info.src_v6(), info.dst_v6());
    if src.is_unspecified() || src.is_multicast() || is_martian_source_v6(src) {
        return false;
    }
    let group = dst.is_multicast() || dst_mac.is_multicast();
    if group && !matches!(err, IcmpError::TooBig(_)) {
        return false;
    }
    if info.ip_protocol() == IpProtocol::Icmpv6 && info.has_l4() {
        let t = Icmpv6Message::from(info.icmp_type());
        if t.is_error() || t == Icmpv6Message::Redirect {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn martians() {
        for a in [
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.5",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            assert!(is_martian_source_v4(a.parse().unwrap()), "{a}");
        }
        for a in ["10.0.0.1", "192.0.2.1", "100.64.0.1"] {
            assert!(!is_martian_source_v4(a.parse().unwrap()), "{a}");
        }
        assert!(is_martian_destination_v4("127.1.1.1".parse().unwrap()));
        assert!(is_martian_destination_v4(
            "255.255.255.255".parse().unwrap()
        ));
        assert!(
            !is_martian_destination_v4("224.0.0.1".parse().unwrap()),
            "multicast is its own reason"
        );
        assert!(is_martian_source_v6("::".parse().unwrap()));
        assert!(is_martian_source_v6("ff02::1".parse().unwrap()));
        assert!(is_martian_source_v6("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!is_martian_source_v6("fe80::1".parse().unwrap()));
        assert!(is_martian_destination_v6("::1".parse().unwrap()));
    }
}
