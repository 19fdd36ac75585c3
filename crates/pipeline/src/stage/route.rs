//! Route stage: the LPM lookup and the RFC 1812 / RFC 4443 decisions
//! ([`orbital_fib::rfc1812`]) for every IP packet on an L3 interface.
//!
//! Outcomes: transmit (egress port, MACs, tag, MTU decided here; the rewrite
//! stage applies them), punt (for the router, neighbour discovery, a next hop
//! to resolve, or an ICMP error owed to the sender), or drop with the reason.
//! Reads: `ctx.info`, `ctx.iface_in`, the tables. Sets: `ctx.egress`, verdicts.

use core::net::IpAddr;

use orbital_buf::Packet;
use orbital_fib::nexthop::RouteDrop;
use orbital_fib::rfc1812::{self, Forwarding, NotForwarded};
use orbital_fib::{Attach, Tables};
use orbital_wire::{EthernetAddress, IpProtocol, L3Kind, icmpv6::Icmpv6Message};

use super::{Lane, Tally};
use crate::drop::{DropReason, Reason};
use crate::verdict::{Egress, PacketCtx, PuntReason, Verdict};

/// Run the stage.
#[inline]
pub fn run(l: &mut Lane<'_>, pkts: &mut [Packet], ctx: &mut [PacketCtx]) -> Tally {
    let mut tally = Tally::default();
    let t = l.tables;
    for (p, c) in pkts.iter_mut().zip(ctx.iter_mut()) {
        if c.verdict != Verdict::Continue {
            continue;
        }
        tally.packets += 1;
        let v = route_one(l, t, p, c);
        if let Verdict::Drop(_) = v {
            tally.drops += 1;
        }
        c.verdict = v;
    }
    tally
}

#[inline]
fn route_one(l: &mut Lane<'_>, t: &Tables, p: &Packet, c: &mut PacketCtx) -> Verdict {
    let info = &c.info;
    let fwd = match info.l3 {
        L3Kind::Ipv4 => rfc1812::decide_v4(t, info, p.meta.flow_hash),
        L3Kind::Ipv6 => {
            if is_ndisc(c) {
                return Verdict::Punt(PuntReason::Nd);
            }
            rfc1812::decide_v6(t, info, p.meta.flow_hash)
        }
        _ => return Verdict::Drop(Reason::UnsupportedL3.into()),
    };
    match fwd {
        Forwarding::Local => Verdict::Punt(PuntReason::Local),
        Forwarding::Drop(why) => Verdict::Drop(reason(why)),
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
                c.egress = Egress {
                    iface: adj.iface,
                    mtu: adj.mtu,
                    src_mac: adj.src_mac,
                    routed: true,
                    fragment,
                    ..Egress::default()
                };
                return Verdict::Punt(PuntReason::Resolve { next_hop });
            };
            match egress_port(l, t, adj.iface, dst_mac) {
                Some((port, vlan_tag)) => {
                    c.egress = Egress {
                        port,
                        dst_mac,
                        src_mac: adj.src_mac,
                        vlan_tag,
                        iface: adj.iface,
                        mtu: adj.mtu,
                        routed: true,
                        fragment,
                    };
                    Verdict::Tx
                }
                None => Verdict::Drop(Reason::UnknownPort.into()),
            }
        }
    }
}

/// The port (and tag) a routed frame to `dst_mac` leaves `iface` by: the
/// interface's own port, or — for a bridge interface — the port the station
/// was learned on (an unknown station is not flooded by a router: the
/// neighbour entry is a hint the station is there; the first frame from it
/// teaches its port).
#[inline]
pub fn egress_port(
    l: &Lane<'_>,
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
                    l.macs
                        .lookup(vlan, dst_mac, l.now_ns, orbital_fib::l2::aging_ns(bd))
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
