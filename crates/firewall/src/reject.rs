//! The answer to a rejected packet: a TCP reset (RFC 9293 §3.10.7.1) or an
//! ICMP(v6) destination unreachable (RFC 1812 §4.3.2 / RFC 4443 §3.1),
//! framed back out of the port the packet came in by, to the station that
//! sent it. The answer is a packet the router made: it enters the graph at
//! the output hook, so the output and postrouting chains see it too.
//!
//! Nothing answers a packet an ICMP error may not be sent about (RFC 1812
//! §4.3.2.7: errors, broadcasts, fragments after the first), nor a packet
//! the router made itself.

use orbital_buf::Packet;
use orbital_fib::rfc1812::{may_send_icmpv4_error, may_send_icmpv6_error};
use orbital_fib::{Attach, PortId, Tables};
use orbital_frames::icmp_error::{IcmpError, build_icmpv4_error, build_icmpv6_error};
use orbital_frames::l2::set_l2;
use orbital_frames::reset::{tcp_reset_v4, tcp_reset_v6};
use orbital_graph::{Egress, NodeCx, Origin, PacketCtx, Verdict};
use orbital_wire::ethernet::EtherType;
use orbital_wire::icmpv4::unreach as unreach4;
use orbital_wire::icmpv6::unreach as unreach6;
use orbital_wire::{EthernetAddress, L3Kind, LinkType, parse};

use crate::rules::RejectWith;

/// The ICMP unreachable code for `with` in the packet's family.
fn code(v6: bool, with: RejectWith) -> u8 {
    match (v6, with) {
        (false, RejectWith::HostUnreachable) => unreach4::HOST,
        (false, RejectWith::NetUnreachable) => unreach4::NET,
        (false, RejectWith::AdminProhibited) => unreach4::ADMIN_PROHIBITED,
        (false, _) => unreach4::PORT,
        (true, RejectWith::HostUnreachable) => unreach6::ADDRESS,
        (true, RejectWith::NetUnreachable) => unreach6::NO_ROUTE,
        (true, RejectWith::AdminProhibited) => unreach6::ADMIN_PROHIBITED,
        (true, _) => unreach6::PORT,
    }
}

/// Make the answer to `p` (context `c`) and hand it to the graph. Returns
/// whether one was sent.
pub fn answer<P>(
    cx: &mut NodeCx<'_, P>,
    t: &Tables,
    p: &Packet,
    c: &PacketCtx,
    with: Option<RejectWith>,
) -> bool {
    if c.origin == Origin::Local || c.origin == Origin::Created {
        return false;
    }
    let info = &c.info;
    let v6 = match info.l3 {
        L3Kind::Ipv4 => false,
        L3Kind::Ipv6 => true,
        _ => return false,
    };
    let l3 = usize::from(info.l3_offset);
    let end = (l3 + info.l3_len as usize).min(p.len());
    let Some(ip) = p.get(l3..end) else {
        return false;
    };
    let Some(src_mac) = p.get(6..12).map(EthernetAddress::from_bytes) else {
        return false;
    };
    let dst_mac = p
        .get(0..6)
        .map(EthernetAddress::from_bytes)
        .unwrap_or_default();
    let Some(iface) = t.ifs.iface(c.iface_in) else {
        return false;
    };
    let port = PortId(p.meta.port);
    let tag = match iface.attach {
        Attach::Port(_) => None,
        Attach::Bridge(vlan) => match t.ifs.port(port).and_then(|pc| pc.mode.egress_tag(vlan)) {
            Some(tag) => tag,
            None => return false,
        },
    };
    let tcp = info.protocol == 6 && info.has_l4();
    let reset = tcp && matches!(with, None | Some(RejectWith::TcpReset));
    let Some(mut out) = cx.cache.alloc() else {
        return false;
    };
    let built = if reset {
        // A reset to a later fragment would answer a segment we cannot see.
        !info.frag.is_later_fragment()
            && if v6 {
                tcp_reset_v6(ip, usize::from(info.l4_offset) - l3, &mut out)
            } else {
                tcp_reset_v4(ip, &mut out)
            }
    } else {
        let err = IcmpError::Unreachable(code(v6, with.unwrap_or(RejectWith::PortUnreachable)));
        if v6 {
            may_send_icmpv6_error(info, dst_mac, err)
                && iface
                    .primary_v6()
                    .is_some_and(|src| build_icmpv6_error(err, ip, src, &mut out))
        } else {
            may_send_icmpv4_error(info, dst_mac)
                && iface
                    .primary_v4()
                    .is_some_and(|src| build_icmpv4_error(err, ip, src, &mut out))
        }
    };
    let ty = if v6 { EtherType::Ipv6 } else { EtherType::Ipv4 };
    if !built || set_l2(&mut out, 0, src_mac, iface.mac, tag, ty).is_none() {
        cx.cache.free(out);
        return false;
    }
    out.meta.seq = p.meta.seq;
    out.meta.sub = 1;
    out.meta.timestamp_ns = p.meta.timestamp_ns;
    out.meta.port = p.meta.port;
    let mut oc = PacketCtx {
        origin: Origin::Local,
        verdict: Verdict::Tx,
        egress: Egress {
            port,
            vlan_tag: tag,
            ..Egress::default()
        },
        ..PacketCtx::default()
    };
    let _ = parse(&out, LinkType::Ethernet, &mut oc.info);
    match cx.emit(orbital_graph::Entry::Output, out, oc) {
        Ok(()) => true,
        Err(out) => {
            cx.cache.free(out);
            false
        }
    }
}
