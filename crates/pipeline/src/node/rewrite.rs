//! Rewrite node: make a routed packet ready for its next hop — TTL / hop
//! limit minus one with the IPv4 checksum patched incrementally (RFC 1624),
//! the Ethernet header rebuilt for the egress (MACs, VLAN tag), and IPv4
//! packets too large for the egress MTU fragmented in software (RFC 791;
//! the fragments enter the graph at the egress hook).
//!
//! It runs after the postrouting hook, on every routed packet of others:
//! received, or resolved by the slow path and given back (so a packet sent
//! late is byte-for-byte what it would have been on time). Bridged frames
//! got their tag from L2; frames the router made are finished already.
//!
//! Position: [`Position::Rewrite`](orbital_graph::Position::Rewrite).
//! Reads: `ctx.egress`, `ctx.info`. Sets: the frame; `Consumed` for a
//! fragmented packet. Drops: no-buffer, fragment-failed, created-overflow.

use orbital_buf::{Packet, PoolCache};
use orbital_frames::fragment::{FragmentError, fragment_ipv4};
pub use orbital_frames::l2::{set_l2, set_vlan};
use orbital_graph::{
    Burst, DropReason, Egress, Entry, Features, Node, NodeCx, Origin, PacketCtx, Reason, Verdict,
};
use orbital_wire::ethernet::EtherType;
use orbital_wire::ipv4::Ipv4Packet;
use orbital_wire::ipv6::Ipv6Packet;
use orbital_wire::{EthernetFrame, L3Kind, PacketInfo};

/// The rewrite node (stateless; fragments are built in a list it keeps).
#[derive(Debug, Default)]
pub struct Rewrite {
    frags: Vec<Packet>,
}

impl<F: Features> Node<F> for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let sel = b.sel;
        for &i in sel {
            let Some((p, c)) = b.at(i) else { continue };
            c.verdict = match apply(p, &c.info, &c.egress, cx.cache, &mut self.frags) {
                Ok(Rewritten::InPlace) => continue,
                Ok(Rewritten::Fragmented) => match emit_fragments(cx, &mut self.frags, c) {
                    Ok(()) => Verdict::Consumed,
                    Err(e) => Verdict::Drop(e),
                },
                Err(e) => Verdict::Drop(e),
            };
        }
    }
}

/// Hand fragments to the graph at the egress hook, each with the
/// original's context.
fn emit_fragments<P>(
    cx: &mut NodeCx<'_, P>,
    frags: &mut Vec<Packet>,
    c: &PacketCtx,
) -> Result<(), DropReason> {
    let mut fc = *c;
    fc.origin = Origin::Created;
    fc.verdict = Verdict::Tx;
    let mut full = false;
    for f in frags.drain(..) {
        if full {
            cx.cache.free(f);
        } else if let Err(f) = cx.emit(Entry::Egress, f, fc) {
            full = true;
            cx.cache.free(f);
        }
    }
    if full {
        Err(Reason::CreatedOverflow.into())
    } else {
        Ok(())
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewritten {
    /// The packet itself is ready to send.
    InPlace,
    /// It was cut into fragments (queued in `created`); drop the original.
    Fragmented,
}

/// Rewrite a routed packet for `eg`. Fragments, if any, are pushed to
/// `created` (framed for `eg`).
///
/// # Errors
/// The drop reason when it cannot be done (no headroom, no buffers, or an
/// unfragmentable packet).
#[inline]
pub fn apply(
    p: &mut Packet,
    info: &PacketInfo,
    eg: &Egress,
    cache: &mut PoolCache,
    created: &mut Vec<Packet>,
) -> Result<Rewritten, DropReason> {
    let l2 = if info.l3_offset == 14 && eg.vlan_tag.is_none() && p.len() >= 14 {
        // Same header shape in and out (untagged Ethernet): only the MACs change.
        let mut eth = EthernetFrame::new_unchecked(&mut p[..]);
        eth.set_dst_addr(eg.dst_mac);
        eth.set_src_addr(eg.src_mac);
        14
    } else {
        let ethertype = if info.l3 == L3Kind::Ipv4 {
            EtherType::Ipv4
        } else {
            EtherType::Ipv6
        };
        set_l2(
            p,
            info.l3_offset,
            eg.dst_mac,
            eg.src_mac,
            eg.vlan_tag,
            ethertype,
        )
        .ok_or(Reason::NoBuffer)?
    };
    let l3_end = l2 + info.l3_len as usize;
    if p.len() > l3_end {
        p.truncate(l3_end); // Ethernet padding is not forwarded
    }
    if info.l3 == L3Kind::Ipv4 {
        Ipv4Packet::new_unchecked(&mut p[l2..]).decrement_ttl();
    } else {
        // IPv6 has no header checksum. The route decision left hop limit > 1.
        let mut ip = Ipv6Packet::new_unchecked(&mut p[l2..]);
        let hops = ip.hop_limit().saturating_sub(1);
        ip.set_hop_limit(hops);
    }
    if !eg.fragment {
        return Ok(Rewritten::InPlace);
    }
    let start = created.len();
    fragment_ipv4(&p[l2..l3_end], p.meta, eg.mtu, cache, created).map_err(|e| match e {
        FragmentError::NoBuffer => DropReason::from(Reason::NoBuffer),
        FragmentError::BadOption => DropReason::Parse(orbital_wire::ParseError::BadIpv4Option),
        _ => DropReason::from(Reason::FragmentFailed),
    })?;
    let mut framed = true;
    for (sub, f) in (p.meta.sub..).zip(created[start..].iter_mut()) {
        f.meta.sub = sub;
        framed &= set_l2(f, 0, eg.dst_mac, eg.src_mac, eg.vlan_tag, EtherType::Ipv4).is_some();
    }
    if !framed {
        cache.free_all(created.drain(start..));
        return Err(Reason::NoBuffer.into());
    }
    Ok(Rewritten::Fragmented)
}
