//! Route node: the LPM lookup and the RFC 1812 / RFC 4443 decisions
//! ([`orbital_fib::rfc1812`]) for every IP packet on an L3 interface.
//!
//! Outcomes: transmit (egress port, MACs, tag, MTU decided here; the rewrite
//! node applies them), punt (for the router, neighbour discovery, a next hop
//! to resolve, or an ICMP error owed to the sender), or drop with the reason.
//!
//! Position: [`Position::Receive`](orbital_graph::Position::Receive).
//! Reads: `ctx.info`, `ctx.iface_in`, `meta.flow_hash`, the tables and the
//! MAC table (egress through a bridge interface). Sets: `ctx.egress`,
//! verdicts. Drops: the RFC 1812 reasons (martians, TTL, no route, ...),
//! ipv4-bad-checksum, ipv4-source-route (unless accepted),
//! l2-broadcast-not-forwarded (a link-layer group frame that is not for the
//! router), unknown-port, unsupported-ethertype.

use core::net::IpAddr;

use orbital_buf::{MAX_BURST, Packet};
use orbital_fib::nexthop::RouteDrop;
use orbital_fib::rfc1812::{self, Forwarding, NotForwarded};
use orbital_fib::{Attach, Tables};
use orbital_graph::{
    Burst, DropReason, Features, Node, NodeCx, PacketCtx, PuntReason, Reason, Verdict,
};
use orbital_wire::{EthernetAddress, IpProtocol, L3Kind, icmpv6::Icmpv6Message};

/// The route node; its state is the bulk lookups' scratch space, kept
/// between bursts so no burst zeroes kilobytes.
#[derive(Debug, Clone)]
pub struct Route {
    a4: [u32; MAX_BURST],
    a6: [u128; MAX_BURST],
    i4: [u8; MAX_BURST],
    i6: [u8; MAX_BURST],
    found: [u32; MAX_BURST],
    nh: [u32; MAX_BURST],
}

impl Default for Route {
    fn default() -> Self {
        Route {
            a4: [0; MAX_BURST],
            a6: [0; MAX_BURST],
            i4: [0; MAX_BURST],
            i6: [0; MAX_BURST],
            found: [0; MAX_BURST],
            nh: [0; MAX_BURST],
        }
    }
}

impl<F: Features> Node<F> for Route {
    fn name(&self) -> &'static str {
        "route"
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        self.route(cx, b);
    }
}

impl Route {
    /// Every destination of the burst looked up at once (the bulk LPM
    /// lookups overlap their memory accesses), then each decided.
    #[inline]
    fn route<P>(&mut self, cx: &mut NodeCx<'_, P>, b: &mut Burst<'_>) {
        let snap = cx.snap;
        let t: &Tables = &snap.fib;
        let (mut n4, mut n6) = (0, 0);
        let s = self;
        let sel = b.sel;
        for &i in sel {
            let Some(c) = b.ctx.get(usize::from(i)) else {
                continue;
            };
            match c.info.l3 {
                L3Kind::Ipv4 => {
                    s.a4[n4] = c.info.dst as u32;
                    s.i4[n4] = i;
                    n4 += 1;
                }
                L3Kind::Ipv6 => {
                    s.a6[n6] = c.info.dst;
                    s.i6[n6] = i;
                    n6 += 1;
                }
                _ => {}
            }
        }
        t.fib4.lookup_bulk(&s.a4[..n4], &mut s.found[..n4]);
        for k in 0..n4 {
            s.nh[usize::from(s.i4[k])] = s.found[k];
        }
        if n6 > 0 {
            t.fib6.lookup_bulk(&s.a6[..n6], &mut s.found[..n6]);
            for k in 0..n6 {
                s.nh[usize::from(s.i6[k])] = s.found[k];
            }
        }
        let accept_source_route = snap.settings.accept_source_route;
        let sel = b.sel;
        for &i in sel {
            let id = s.nh[usize::from(i)];
            let Some((p, c)) = b.at(i) else { continue };
            // The common case in a few instructions; anything else below.
            if c.info.l3 == L3Kind::Ipv4 {
                if !header_checksum_ok(p, &c.info) {
                    c.verdict = Verdict::Drop(Reason::Ipv4BadChecksum.into());
                    continue;
                }
                // RFC 1812 §5.2.4.1 / Linux `accept_source_route = 0`: a
                // source-routed packet is dropped whoever it is for (parse
                // found the option; IHL-5 packets never set the flag).
                if c.info.source_route && !accept_source_route {
                    c.verdict = Verdict::Drop(Reason::Ipv4SourceRoute.into());
                    continue;
                }
                // A group destination MAC (its I/G bit) goes the full way,
                // which refuses to forward it (RFC 1812 §5.3.4).
                if is_l2_group(p) {
                    c.verdict = route_one(cx, t, p, c, id);
                    continue;
                }
                if let Some(adj) = rfc1812::fast_forward_v4(t, &c.info, id) {
                    let e = &mut c.egress;
                    e.port = adj.port.unwrap_or_default();
                    e.dst_mac = adj.dst_mac.unwrap_or_default();
                    e.src_mac = adj.src_mac;
                    e.vlan_tag = None;
                    e.iface = adj.iface;
                    e.mtu = adj.mtu;
                    e.routed = true;
                    e.fragment = false;
                    c.verdict = Verdict::Tx;
                    continue;
                }
            }
            c.verdict = route_one(cx, t, p, c, id);
        }
    }
}

#[inline]
fn route_one<P>(
    cx: &mut NodeCx<'_, P>,
    t: &Tables,
    p: &Packet,
    c: &mut PacketCtx,
    nh: u32,
) -> Verdict {
    let info = &c.info;
    let fwd = match info.l3 {
        L3Kind::Ipv4 => rfc1812::decide_v4_with(t, info, nh, p.meta.flow_hash),
        L3Kind::Ipv6 => {
            if is_ndisc(c) {
                return Verdict::Punt(PuntReason::Nd);
            }
            rfc1812::decide_v6_with(t, info, nh, p.meta.flow_hash)
        }
        _ => return Verdict::Drop(Reason::UnsupportedL3.into()),
    };
    match fwd {
        Forwarding::Local => Verdict::Punt(PuntReason::Local),
        Forwarding::Drop(why) => Verdict::Drop(reason(why)),
        // RFC 1812 §5.3.4: received as a link-layer broadcast or multicast,
        // so not forwarded (we route no IP multicast) — as Linux's
        // ip_forward / ip6_forward drop what was not sent to the host's own
        // MAC. Before any ICMP error too: none is sent about such a frame
        // (§4.3.2.7), and IPv6's Packet Too Big exception is for multicast
        // the router routes. What is for the router was delivered above.
        Forwarding::Forward { .. } | Forwarding::Error(..) if is_l2_group(p) => {
            Verdict::Drop(Reason::L2BroadcastNotForwarded.into())
        }
        Forwarding::Error(why, err) => {
            let dst_mac = EthernetAddress::from_bytes(&p[0..6]);
            let allowed = match info.l3 {
                L3Kind::Ipv4 => rfc1812::may_send_icmpv4_error(info, dst_mac),
                _ => rfc1812::may_send_icmpv6_error(info, dst_mac, err),
            };
            if allowed {
                Verdict::Punt(PuntReason::IcmpError {
                    err,
                    why: reason(why),
                })
            } else {
                Verdict::Drop(reason(why))
            }
        }
        Forwarding::Forward {
            adj,
            next_hop,
            fragment,
        } => {
            let Some(dst_mac) = t.neighbor_mac(adj, next_hop) else {
                let e = &mut c.egress;
                e.next_hop = next_hop;
                e.iface = adj.iface;
                e.mtu = adj.mtu;
                e.src_mac = adj.src_mac;
                e.vlan_tag = None;
                e.routed = true;
                e.fragment = fragment;
                return Verdict::Punt(PuntReason::Resolve);
            };
            let out = match adj.port {
                Some(port) => Some((port, None)),
                None => egress_port(cx, t, adj.iface, dst_mac),
            };
            match out {
                Some((port, vlan_tag)) => {
                    // Field by field: the next hop is not needed from here
                    // on, and a whole-struct write costs twice as much.
                    let e = &mut c.egress;
                    e.port = port;
                    e.dst_mac = dst_mac;
                    e.src_mac = adj.src_mac;
                    e.vlan_tag = vlan_tag;
                    e.iface = adj.iface;
                    e.mtu = adj.mtu;
                    e.routed = true;
                    e.fragment = fragment;
                    Verdict::Tx
                }
                None => Verdict::Drop(Reason::UnknownPort.into()),
            }
        }
    }
}

/// The frame's destination MAC is a group address (broadcast or multicast:
/// the I/G bit of its first byte, IEEE 802).
#[inline(always)]
fn is_l2_group(p: &Packet) -> bool {
    p.first().is_some_and(|b| b & 1 != 0)
}

/// RFC 1812 §5.2.2: the IPv4 header checksum, unless the NIC verified it.
#[inline]
fn header_checksum_ok(p: &Packet, info: &orbital_wire::PacketInfo) -> bool {
    if p.meta.offload.contains(orbital_buf::Offload::RX_CSUM_GOOD) {
        return true;
    }
    let l3 = usize::from(info.l3_offset);
    let end = l3 + usize::from(info.l3_header_len);
    p.get(l3..end)
        .is_some_and(|h| orbital_wire::checksum::checksum(h) == 0)
}

/// The port (and tag) a routed frame to `dst_mac` leaves `iface` by: the
/// interface's own port, or — for a bridge interface — the port the station
/// was learned on (an unknown station is not flooded by a router: the
/// neighbour entry is a hint the station is there; the first frame from it
/// teaches its port).
#[inline]
pub fn egress_port<P>(
    cx: &NodeCx<'_, P>,
    t: &Tables,
    iface: orbital_fib::IfId,
    dst_mac: EthernetAddress,
) -> Option<(orbital_fib::PortId, Option<u16>)> {
    match t.ifs.iface(iface)?.attach {
        Attach::Port(p) => Some((p, None)),
        Attach::Bridge(vlan) => {
            let bd = t.ifs.bridge(vlan)?;
            let port = bd
                .statics
                .iter()
                .find(|(m, _)| *m == dst_mac)
                .map(|&(_, p)| p)
                .or_else(|| {
                    cx.macs
                        .lookup(vlan, dst_mac, cx.now_ns, orbital_fib::l2::aging_ns(bd))
                })?;
            let tag = t.ifs.port(port)?.mode.egress_tag(vlan)?;
            Some((port, tag))
        }
    }
}

/// ICMPv6 neighbour discovery, for us or for a group we are in.
#[inline]
fn is_ndisc(c: &PacketCtx) -> bool {
    c.info.ip_protocol() == IpProtocol::Icmpv6
        && c.info.has_l4()
        && Icmpv6Message::from(c.info.icmp_type()).is_ndisc()
}

/// The drop reason of a not-forwarded decision.
pub fn reason(why: NotForwarded) -> DropReason {
    DropReason::Other(match why {
        NotForwarded::MartianSource => Reason::MartianSource,
        NotForwarded::MartianDestination => Reason::MartianDestination,
        NotForwarded::Multicast => Reason::Multicast,
        NotForwarded::LinkLocal => Reason::LinkLocal,
        NotForwarded::TtlExpired => Reason::TtlExpired,
        NotForwarded::TooBig => Reason::TooBig,
        NotForwarded::Route(RouteDrop::NoRoute) => Reason::NoRoute,
        NotForwarded::Route(RouteDrop::Blackhole) => Reason::Blackhole,
        NotForwarded::Route(RouteDrop::Unreachable) => Reason::Unreachable,
        NotForwarded::Route(RouteDrop::Prohibit) => Reason::Prohibited,
    })
}

/// The address family of a next hop as the slow path needs it.
pub fn is_v4(a: IpAddr) -> bool {
    a.is_ipv4()
}
