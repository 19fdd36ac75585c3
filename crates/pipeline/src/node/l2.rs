//! L2 node: what the port's mode makes of a frame.
//!
//! - Routed port: untagged frames to the interface's MAC (or to a group
//!   address: ARP, NDP) go on to L3; other unicast is not for us.
//! - Access / trunk port: the frame's VLAN picks a bridge domain; the source
//!   MAC is learned (worker-local table); the destination is forwarded to one
//!   port, flooded as copies, or — addressed to the bridge's own interface —
//!   handed to L3.
//!
//! ARP on an L3 interface is punted here. Position:
//! [`Position::Receive`](orbital_graph::Position::Receive). Reads:
//! `ctx.info`, `ctx.l3_error`, `meta.port`, the MAC table. Sets:
//! `ctx.iface_in`, `ctx.vlan`, `ctx.egress` (bridged), verdicts; learns
//! source MACs; emits flood copies at the egress hook. Drops: unknown-port,
//! vlan-not-allowed, no-bridge, l2-not-for-us, l2-same-port,
//! unsupported-ethertype, no-buffer, created-overflow, and the L3 parse
//! errors of frames for the router.

use orbital_buf::Packet;
use orbital_fib::l2::{self, L2Decision};
use orbital_fib::{PortId, PortMode, Tables, VlanId};
use orbital_graph::{
    Burst, DropReason, Egress, Entry, Features, Node, NodeCx, Origin, PacketCtx, PuntReason,
    Reason, Verdict,
};
use orbital_wire::{EthernetAddress, L3Kind};

/// The L2 node (its state is the worker's MAC table, in the context).
#[derive(Debug, Default)]
pub struct L2;

impl<F: Features> Node<F> for L2 {
    fn name(&self) -> &'static str {
        "l2"
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        run(cx, b);
    }
}

#[inline]
fn dst_mac(p: &Packet) -> EthernetAddress {
    EthernetAddress::from_bytes(&p[0..6])
}

#[inline]
fn src_mac(p: &Packet) -> EthernetAddress {
    EthernetAddress::from_bytes(&p[6..12])
}

#[inline]
fn run<P>(cx: &mut NodeCx<'_, P>, b: &mut Burst<'_>) {
    let snap = cx.snap;
    let t: &Tables = &snap.fib;
    let sel = b.sel;
    for &i in sel {
        let Some((p, c)) = b.at(i) else { continue };
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
            c.verdict = if c.info.vlan_count > 0 {
                Verdict::Drop(Reason::VlanNotAllowed.into())
            } else if dst == mac || dst.is_multicast() {
                c.iface_in = iface;
                to_l3(c)
            } else {
                Verdict::Drop(Reason::NotForUs.into())
            };
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
            Some(mode) => bridge(cx, t, p, c, port, mode.ingress_vlan(tag)),
        };
        c.verdict = verdict;
    }
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

fn bridge<P>(
    cx: &mut NodeCx<'_, P>,
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
    cx.macs.learn(vlan, src_mac(p), port, cx.now_ns);
    match l2::decide(&t.ifs, bd, cx.macs, port, dst, cx.now_ns) {
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
            if let Err(e) = flood(cx, t, p, c, vlan, Some(port), FloodAs::Created) {
                return Verdict::Drop(e);
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

/// What flood copies are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodAs {
    /// Copies of a received frame: they enter at the egress hook.
    Created,
    /// Copies of a frame the router made: they enter at the output hook.
    Local,
}

/// Copy frame `p` (context `c`; its L2 header is `c.info.l3_offset` bytes)
/// to every member of bridge `vlan` except `except`, each copy re-tagged
/// for its port, and hand the copies to the graph.
///
/// # Errors
/// When the pool runs out or the poll's bound on made packets is reached;
/// copies made so far go on.
pub fn flood<P>(
    cx: &mut NodeCx<'_, P>,
    t: &Tables,
    p: &Packet,
    c: &PacketCtx,
    vlan: VlanId,
    except: Option<PortId>,
    kind: FloodAs,
) -> Result<(), DropReason> {
    let Some(bd) = t.ifs.bridge(vlan) else {
        return Ok(());
    };
    let l2_len = c.info.l3_offset;
    let (origin, at) = match kind {
        FloodAs::Created => (Origin::Created, Entry::Egress),
        FloodAs::Local => (Origin::Local, Entry::Output),
    };
    for &m in &bd.members {
        if Some(m) == except {
            continue;
        }
        let Some(tag) = egress_tag(t, m, vlan) else {
            continue;
        };
        let Some(mut copy) = cx.cache.alloc() else {
            return Err(Reason::NoBuffer.into());
        };
        copy.meta = p.meta;
        if !copy.extend_from_slice(p) || !super::rewrite::set_vlan(&mut copy, l2_len, tag) {
            cx.cache.free(copy);
            return Err(Reason::NoBuffer.into());
        }
        let mut cc = *c;
        cc.origin = origin;
        cc.verdict = Verdict::Tx;
        cc.egress = Egress {
            port: m,
            vlan_tag: tag,
            routed: false,
            ..Egress::default()
        };
        // The copy's L2 header is now 14 or 18 bytes; its L3 offset follows.
        cc.info.l3_offset = if tag.is_some() { 18 } else { 14 };
        if let Err(copy) = cx.emit(at, copy, cc) {
            cx.cache.free(copy);
            return Err(Reason::CreatedOverflow.into());
        }
    }
    Ok(())
}
