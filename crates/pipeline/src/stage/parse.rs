//! Parse stage: every received frame through the bounds-checked parser
//! ([`orbital_wire::parse`]) into the packet's summary. A frame with a broken
//! Ethernet or VLAN header is dropped here under the parse error's name; a
//! defect further in is noted and decides the frame's fate only if it goes to
//! L3 (the L2 stage), since a bridge forwards frames whatever they carry.
//! Reads: the frame. Sets: `ctx.info`, `ctx.l3_error`, `ctx.verdict`,
//! `meta.flow_hash` (software RSS when the port gave none).

use orbital_buf::Packet;
use orbital_wire::{Layer, LinkType, parse};

use super::{Lane, Tally};
use crate::drop::DropReason;
use crate::verdict::{PacketCtx, Verdict};

/// Run the stage.
#[inline]
pub fn run(l: &mut Lane<'_>, pkts: &mut [Packet], ctx: &mut [PacketCtx]) -> Tally {
    let mut t = Tally::default();
    let n = ctx.len().min(pkts.len());
    for (p, c) in pkts[..n].iter_mut().zip(ctx[..n].iter_mut()) {
        t.packets += 1;
        c.verdict = Verdict::Continue;
        c.vlan = None;
        c.traced = false;
        c.l3_error = None;
        if let Err(e) = parse(p, LinkType::Ethernet, &mut c.info) {
            if matches!(e.layer(), Layer::Link | Layer::Vlan) {
                c.verdict = Verdict::Drop(DropReason::Parse(e));
                t.drops += 1;
                continue;
            }
            c.l3_error = Some(e);
        }
        if p.meta.flow_hash == 0 {
            p.meta.flow_hash = l.rss.hash_packet(&c.info);
        }
    }
    t
}
