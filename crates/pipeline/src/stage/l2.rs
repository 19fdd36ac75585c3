//! L2 stage: what the port's mode makes of a frame.
//!
//! - Routed port: untagged frames to the interface's MAC (or to a group
//!   address: ARP, NDP) go on to L3; other unicast is not for us.
//! - Access / trunk port: the frame's VLAN picks a bridge domain; the source
//!   MAC is learned (worker-local table); the destination is forwarded to one
//!   port, flooded as copies, or — addressed to the bridge's own interface —
//!   handed to L3.
//!
//! ARP on an L3 interface is punted here. Reads: `ctx.info`, `meta.port`.
//! Sets: `ctx.iface_in`, `ctx.vlan`, `ctx.egress` (bridged), verdicts.

use orbital_buf::Packet;
use orbital_fib::l2::{self, L2Decision};
use orbital_fib::{PortId, PortMode, Tables, VlanId};
use orbital_wire::{EthernetAddress, L3Kind};

use super::{Lane, Tally};
use crate::drop::{DropReason, Reason};
use crate::verdict::{Egress, PacketCtx, PuntReason, Verdict};

#[inline]
fn dst_mac(p: &Packet) -> EthernetAddress {
    EthernetAddress::from_bytes(&p[0..6])
}

#[inline]
fn src_mac(p: &Packet) -> EthernetAddress {
    EthernetAddress::from_bytes(&p[6..12])
}

/// Run the stage.
#[inline]
pub fn run(l: &mut Lane<'_>, pkts: &mut [Packet], ctx: &mut [PacketCtx]) -> Tally {
    let mut tally = Tally::default();
    let t = l.tables;
    let n = ctx.len().min(pkts.len());
    let (pkts, ctx) = (&mut pkts[..n], &mut ctx[..n]);
    for i in 0..n {
        let c = &mut ctx[i];
        if !matches!(c.verdict, Verdict::Continue) {
            continue;
        }
        tally.packets += 1;
        let p = &mut pkts[i];
        // The common case first: an untagged, well-formed IP frame to the
        // MAC of a routed port goes on to L3 untouched.
        if let Some(&Some((iface, mac))) = t.ifs.routed.get(usize::from(p.meta.port)) {
            if c.info.vlan_count == 0
                && c.l3_error.is_none()
                && matches!(c.info.l3, L3Kind::Ipv4 | L3Kind::Ipv6)
                && p.get(0..6) == Some(&mac.0[..])
            {
                c.iface_in = iface;
                continue;
            }
            let dst = dst_mac(p);
            let verdict = if c.info.vlan_count > 0 {
                Verdict::Drop(Reason::VlanNotAllowed.into())
            } else if dst == mac || dst.is_multicast() {
                c.iface_in = iface;
                to_l3(c)
            } else {
                Verdict::Drop(Reason::NotForUs.into())
            };
            if let Verdict::Drop(_) = verdict {
                tally.drops += 1;
            }
            c.verdict = verdict;
            continue;
        }
        let port = PortId(p.meta.port);
        let tag = (c.info.vlan_count > 0).then(|| c.info.vlans[0].vid());
        let verdict = match t.ifs.port(port).map(|pc| &pc.mode) {
            None => Verdict::Drop(Reason::UnknownPort.into()),
            Some(PortMode::Routed { iface }) => match (tag, t.ifs.iface(*iface)) {
                (Some(_), _) => Verdict::Drop(Reason::VlanNotAllowed.into()),
                (None, None) => Verdict::Drop(Reason::UnknownPort.into()),
                (None, Some(i)) => {
                    let dst = dst_mac(p);
                    if dst == i.mac || dst.is_multicast() {
                        c.iface_in = *iface;
                        to_l3(c)
                    } else {
                        Verdict::Drop(Reason::NotForUs.into())
                    }
                }
            },
            Some(mode) => bridge(l, t, p, c, port, mode.ingress_vlan(tag)),
        };
        if let Verdict::Drop(_) = verdict {
            tally.drops += 1;
        }
        c.verdict = verdict;
    }
    tally
}

/// An L3 frame: malformed ones stop here, ARP is the slow path's, IP goes
/// on, anything else stops here too.
#[inline]
fn to_l3(c: &PacketCtx) -> Verdict {
    if let Some(e) = c.l3_error {
        return Verdict::Drop(DropReason::Parse(e));
    }
    match c.info.l3 {
        L3Kind::Ipv4 | L3Kind::Ipv6 => Verdict::Continue,
        L3Kind::Arp => Verdict::Punt(PuntReason::Arp),
        _ => Verdict::Drop(Reason::UnsupportedL3.into()),
    }
}

fn bridge(
    l: &mut Lane<'_>,
    t: &Tables,
    p: &Packet,
    c: &mut PacketCtx,
    port: PortId,
    vlan: Option<VlanId>,
) -> Verdict {
    let Some(vlan) = vlan else {
        return Verdict::Drop(Reason::VlanNotAllowed.into());
    };
    let Some(bd) = t.ifs.bridge(vlan) else {
        return Verdict::Drop(Reason::NoBridge.into());
    };
    c.vlan = Some(vlan);
    let dst = dst_mac(p);
    l.macs.learn(vlan, src_mac(p), port, l.now_ns);
    match l2::decide(&t.ifs, bd, l.macs, port, dst, l.now_ns) {
        L2Decision::Forward(out) => match egress_tag(t, out, vlan) {
            Some(tag) => {
                c.egress = Egress {
                    port: out,
                    vlan_tag: tag,
                    routed: false,
                    ..Egress::default()
                };
                Verdict::Tx
            }
            None => Verdict::Drop(Reason::VlanNotAllowed.into()),
        },
        L2Decision::ToRouter(bvi) => {
            c.iface_in = bvi;
            to_l3(c)
        }
        L2Decision::SamePort => Verdict::Drop(Reason::SamePort.into()),
        L2Decision::Flood => {
            if flood(l, t, p, c.info.l3_offset, vlan, Some(port)).is_err() {
                return Verdict::Drop(Reason::NoBuffer.into());
            }
            // A group frame is also for the bridge's own interface (ARP, ND).
            match bd.bvi {
                Some(bvi) if dst.is_multicast() => {
                    c.iface_in = bvi;
                    to_l3(c)
                }
                _ => Verdict::Consumed,
            }
        }
    }
}

/// How frames of `vlan` leave `port`: `Some(None)` untagged, `Some(Some(v))`
/// tagged, `None` not at all.
#[inline]
pub fn egress_tag(t: &Tables, port: PortId, vlan: VlanId) -> Option<Option<VlanId>> {
    t.ifs.port(port)?.mode.egress_tag(vlan)
}

/// Copy frame `p` (whose L2 header is `l2_len` bytes) to every member of
/// bridge `vlan` except `except`, each copy re-tagged for its port, into
/// `l.created`.
///
/// # Errors
/// When the pool runs out; copies made so far stay queued.
pub fn flood(
    l: &mut Lane<'_>,
    t: &Tables,
    p: &Packet,
    l2_len: u16,
    vlan: VlanId,
    except: Option<PortId>,
) -> Result<(), DropReason> {
    let Some(bd) = t.ifs.bridge(vlan) else {
        return Ok(());
    };
    for &m in &bd.members {
        if Some(m) == except {
            continue;
        }
        let Some(tag) = egress_tag(t, m, vlan) else {
            continue;
        };
        let Some(mut copy) = l.cache.alloc() else {
            return Err(Reason::NoBuffer.into());
        };
        copy.meta = p.meta;
        if !copy.extend_from_slice(p) || !super::rewrite::set_vlan(&mut copy, l2_len, tag) {
            l.cache.free(copy);
            return Err(Reason::NoBuffer.into());
        }
        l.created.push((
            copy,
            Egress {
                port: m,
                vlan_tag: tag,
                routed: false,
                ..Egress::default()
            },
        ));
    }
    Ok(())
}
