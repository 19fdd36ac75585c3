//! A packet's classification key: its fields as the rules see them, from
//! the parse summary, the routing decision and conntrack's view, laid out
//! as [`crate::expand::LAYOUT`] says.

use orbital_buf::Packet;
use orbital_graph::{Origin, PacketCtx, Verdict};
use orbital_wire::L3Kind;

use crate::expand::{KEY_LEN, key};
use crate::rules::{Field, ct_state};

/// The value of an interface or port field that names none (a packet the
/// router made has no input interface; one not yet routed, no output).
pub const NONE: u32 = 0xffff;

/// The key of packet `p` with context `c`.
#[inline]
pub fn of(p: &Packet, c: &PacketCtx) -> [u32; KEY_LEN] {
    let i = &c.info;
    let ip = matches!(i.l3, L3Kind::Ipv4 | L3Kind::Ipv6);
    let l4 = ip && i.has_l4();
    let proto = i.protocol;
    let ports = l4 && matches!(proto, 6 | 17 | 132);
    let icmp = l4 && matches!(proto, 1 | 58);
    let leaving = matches!(c.verdict, Verdict::Tx);
    let received = c.origin != Origin::Local;
    let state = if c.ct.state == 0 {
        u32::from(ct_state::UNTRACKED)
    } else {
        u32::from(c.ct.state)
    };
    key(
        |f| match f {
            Field::Family => match i.l3 {
                L3Kind::Ipv4 => 4,
                L3Kind::Ipv6 => 6,
                _ => 0,
            },
            Field::L4Proto => {
                if ip {
                    u32::from(proto)
                } else {
                    0
                }
            }
            Field::Sport => {
                if ports {
                    u32::from(i.src_port)
                } else {
                    0
                }
            }
            Field::Dport => {
                if ports {
                    u32::from(i.dst_port)
                } else {
                    0
                }
            }
            Field::IcmpType => {
                if icmp {
                    u32::from(i.icmp_type())
                } else {
                    0
                }
            }
            Field::IcmpCode => {
                if icmp {
                    u32::from(i.icmp_code())
                } else {
                    0
                }
            }
            Field::TcpFlags => {
                if l4 && proto == 6 {
                    u32::from(i.l4_flags & 0xff)
                } else {
                    0
                }
            }
            Field::CtState => state,
            Field::CtStatus => u32::from(c.ct.status),
            Field::Iif => {
                if received {
                    u32::from(c.iface_in.0)
                } else {
                    NONE
                }
            }
            Field::Oif => {
                if leaving && c.egress.routed {
                    u32::from(c.egress.iface.0)
                } else {
                    NONE
                }
            }
            Field::Iport => {
                if received {
                    u32::from(p.meta.port)
                } else {
                    NONE
                }
            }
            Field::Oport => {
                if leaving {
                    u32::from(c.egress.port.0)
                } else {
                    NONE
                }
            }
            Field::Ivlan => c.vlan.map_or(0, u32::from),
            Field::Ovlan => {
                if leaving {
                    c.egress.vlan_tag.map_or(0, u32::from)
                } else {
                    0
                }
            }
            Field::Dscp => u32::from(i.tos >> 2),
            Field::Length => i.l3_len.min(u32::from(u16::MAX)),
            Field::Frag => {
                if !i.frag.is_fragment() {
                    0
                } else if i.frag.offset == 0 {
                    1
                } else {
                    2
                }
            }
            // Addresses are passed whole below.
            Field::Ip4Saddr | Field::Ip4Daddr | Field::Ip6Saddr | Field::Ip6Daddr => 0,
        },
        if ip { i.src } else { 0 },
        if ip { i.dst } else { 0 },
    )
}
