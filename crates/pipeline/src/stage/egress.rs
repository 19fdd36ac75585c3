//! Egress stage: where QoS scheduling (priority queues, shaping) attaches
//! (spec §9). Today every transmitted packet goes to its port's queue in
//! arrival order; the worker moves them there after this stage and the port
//! sends them in one burst.

use orbital_buf::Packet;

use super::Tally;
use crate::verdict::{PacketCtx, Verdict};

/// Run the stage: count the packets leaving.
#[inline]
pub fn run(_pkts: &mut [Packet], ctx: &mut [PacketCtx]) -> Tally {
    Tally {
        packets: ctx
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Tx))
            .count() as u64,
        drops: 0,
    }
}
