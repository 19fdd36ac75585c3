//! The hook stages: where the firewall (filter tables), NAT (DNAT before
//! routing, SNAT after) and QoS classification attach (spec §8.1, §9).
//!
//! A worker is generic over its [`Hooks`], so a hook runs by static dispatch
//! on whole batches, like every other stage. [`PassThrough`] is today's
//! implementation: every hook lets every packet through unchanged.

use orbital_buf::Packet;
use orbital_fib::Tables;

use super::Tally;
use crate::verdict::PacketCtx;

/// The three hook points of the pipeline. Each sees the whole batch and may
/// set verdicts (drop with a reason), rewrite headers, or change the route
/// decision already in `ctx`.
pub trait Hooks: Send {
    /// False for hooks that never look at a packet: the worker then skips
    /// the hook stages altogether (compiled out, no per-batch pass).
    const ACTIVE: bool = true;

    /// Before the route lookup: packets still `Continue` (DNAT, ingress
    /// filter, QoS classification).
    fn prerouting(&mut self, _t: &Tables, _pkts: &mut [Packet], _ctx: &mut [PacketCtx]) -> Tally {
        Tally::default()
    }

    /// After the route lookup: packets for the router (punted `Local`, the
    /// input hook) and packets to forward (`Tx`, the forward hook).
    fn input_forward(
        &mut self,
        _t: &Tables,
        _pkts: &mut [Packet],
        _ctx: &mut [PacketCtx],
    ) -> Tally {
        Tally::default()
    }

    /// Before rewrite: packets leaving (`Tx`) — SNAT / masquerade, egress filter.
    fn postrouting(&mut self, _t: &Tables, _pkts: &mut [Packet], _ctx: &mut [PacketCtx]) -> Tally {
        Tally::default()
    }
}

/// Hooks that pass every packet through.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl Hooks for PassThrough {
    const ACTIVE: bool = false;
}
