//! Parse node: every received frame through the bounds-checked parser
//! ([`orbital_wire::parse`]) into the packet's summary. A frame with a broken
//! Ethernet or VLAN header is dropped here under the parse error's name; a
//! defect further in is noted and decides the frame's fate only if it goes to
//! L3 (the L2 node), since a bridge forwards frames whatever they carry.
//!
//! Position: [`Position::Rx`](orbital_graph::Position::Rx). Reads: the frame.
//! Sets: `ctx.info`, `ctx.l3_error`, `ctx.verdict` (parse drops),
//! `meta.flow_hash` (software RSS when the port gave none). Drops: the
//! link-layer and VLAN parse errors.

use orbital_graph::{Burst, DropReason, Features, Node, NodeCx, Verdict};
use orbital_wire::{Layer, LinkType, parse};

/// The parse node (stateless).
#[derive(Debug, Default)]
pub struct Parse;

impl<F: Features> Node<F> for Parse {
    fn name(&self) -> &'static str {
        "parse"
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let sel = b.sel;
        for &i in sel {
            let Some((p, c)) = b.at(i) else { continue };
            if let Err(e) = parse(p, LinkType::Ethernet, &mut c.info) {
                if matches!(e.layer(), Layer::Link | Layer::Vlan) {
                    c.verdict = Verdict::Drop(DropReason::Parse(e));
                    continue;
                }
                c.l3_error = Some(e);
            }
            if p.meta.flow_hash == 0 {
                p.meta.flow_hash = cx.rss.hash_packet(&c.info);
            }
        }
    }
}
