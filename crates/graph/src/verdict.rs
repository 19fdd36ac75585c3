//! What a node decides about a packet, and what travels between the fast
//! path, the slow path and other workers. No `Result` per packet: each node
//! sets the packet's [`Verdict`], and the next node's input arc (the hook
//! point's selection, see [`crate::node::Position`]) decides whether it sees
//! the packet at all (STYLE §3).

use core::net::IpAddr;

use orbital_buf::Packet;
use orbital_fib::{IfId, PortId, VlanId};
use orbital_frames::IcmpError;
use orbital_wire::{EthernetAddress, PacketInfo};

use crate::drop::DropReason;

/// A packet's fate so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// On the receive path, not yet routed or bridged.
    #[default]
    Continue,
    /// Dropped, counted under the reason (once, at the node that set it).
    Drop(DropReason),
    /// For the slow path. `Punt(Local)` and `Punt(Nd)` first pass the input
    /// hook.
    Punt(PuntReason),
    /// Leaves on `Egress::port`, through the egress node's queue.
    Tx,
    /// Replaced by packets made from it (fragments, flood copies).
    Consumed,
    /// Belongs to another worker (the owner of its flow's state): sent
    /// there over the pair's hand-off ring, where it re-enters the graph at
    /// `at` (the hook point of the node that handed it off).
    Handoff {
        /// The owning worker.
        worker: u16,
        /// Where it resumes.
        at: Entry,
    },
}

/// How a packet came into the graph, which decides the hooks it passes
/// (ARCHITECTURE §2.1): received packets pass prerouting, then input or
/// forward; packets the router makes pass output; all routed or made ones
/// pass postrouting; everything that leaves passes egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Origin {
    /// Received on a port (or handed off by the worker that received it).
    #[default]
    Rx,
    /// Held by the slow path until its next hop resolved, then given back
    /// to the worker: enters at the forward hook.
    Resolved,
    /// Made by the router itself (ARP/ND answers and requests, echo
    /// replies, ICMP errors, a node's reject): enters at the output hook.
    Local,
    /// Made by a node from another packet (fragment, flood copy): enters at
    /// the egress hook.
    Created,
}

/// A place a packet can enter (or re-enter) the graph. Ordered: a burst
/// entering at one point runs every node from there on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
#[repr(u8)]
pub enum Entry {
    /// From a port: parse, L2, then on.
    #[default]
    Rx,
    /// After L2, before the prerouting hook (a hand-off from prerouting, a
    /// hairpinned packet).
    Prerouting,
    /// The forward hook (resolved packets).
    Forward,
    /// The output hook (packets the router makes).
    Output,
    /// The egress hook (fragments, flood copies).
    Egress,
}

/// Why a packet goes to the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntReason {
    /// ARP on an L3 interface.
    Arp,
    /// Neighbour discovery (NS/NA/RS/RA/redirect).
    Nd,
    /// For the router: ICMP echo, UDP, TCP, …
    Local,
    /// Forwardable, but the MAC of the next hop (`Egress::next_hop`) is
    /// unknown.
    Resolve,
    /// Not forwarded; the sender is owed an ICMP error.
    IcmpError {
        /// Which error.
        err: IcmpError,
        /// Counted as dropped for this reason once the error is sent.
        why: DropReason,
    },
}

impl PuntReason {
    /// Short name for traces and counters.
    pub fn name(&self) -> &'static str {
        match self {
            PuntReason::Arp => "arp",
            PuntReason::Nd => "nd",
            PuntReason::Local => "local",
            PuntReason::Resolve => "resolve",
            PuntReason::IcmpError { .. } => "icmp-error",
        }
    }
}

/// Where a packet leaves, decided by the L2 or route stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Egress {
    /// The neighbour whose MAC the frame goes to (routed packets): the
    /// gateway, or the destination itself when connected.
    pub next_hop: IpAddr,
    /// Egress port.
    pub port: PortId,
    /// Frame destination MAC (routed packets).
    pub dst_mac: EthernetAddress,
    /// Frame source MAC (routed packets).
    pub src_mac: EthernetAddress,
    /// 802.1Q tag to carry on the egress port, if any.
    pub vlan_tag: Option<VlanId>,
    /// The egress interface (routed packets).
    pub iface: IfId,
    /// IP MTU of the egress interface.
    pub mtu: u16,
    /// Routed (rewrite TTL and MACs) rather than bridged (tags only).
    pub routed: bool,
    /// IPv4 only: fragment to `mtu` first.
    pub fragment: bool,
}

impl Default for Egress {
    fn default() -> Self {
        Egress {
            next_hop: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            port: PortId::default(),
            dst_mac: EthernetAddress::default(),
            src_mac: EthernetAddress::default(),
            vlan_tag: None,
            iface: IfId::default(),
            mtu: 0,
            routed: false,
            fragment: false,
        }
    }
}

/// Everything the nodes know about one packet of a batch (kept beside the
/// batch, not in the buffer: structure of arrays). It travels with the
/// packet to the slow path and to other workers, so a packet resumes where
/// it left off.
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketCtx {
    /// How it entered the graph.
    pub origin: Origin,
    /// The parse summary.
    pub info: PacketInfo,
    /// Fate so far.
    pub verdict: Verdict,
    /// L3 interface it arrived on (routed port or bridge BVI).
    pub iface_in: IfId,
    /// Bridge domain it is in, for bridged frames.
    pub vlan: Option<VlanId>,
    /// Where it leaves.
    pub egress: Egress,
    /// Being traced.
    pub traced: bool,
    /// A defect above L2 found by the parser: fatal only if the frame goes
    /// to L3 (a bridge forwards frames whatever they carry).
    pub l3_error: Option<orbital_wire::ParseError>,
    /// The frame is rewritten for its next hop already (the fused ip4-fast
    /// node did the rewrite node's work).
    pub rewritten: bool,
    /// What connection tracking knows about the packet.
    pub ct: CtMeta,
    /// A source translation the NAT's prerouting node decided and its
    /// postrouting node applies (hairpinning: the destination is
    /// translated before conntrack and routing, the source after, so
    /// conntrack sees both directions of the flow alike).
    pub nat: NatMeta,
}

/// A pending source translation (see [`PacketCtx::nat`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatMeta {
    /// Translate the source on the way out.
    pub pending: bool,
    /// To this IPv4 address.
    pub src: u32,
    /// And this port (TCP/UDP), or identifier (ICMP query).
    pub sport: u16,
}

/// Connection tracking's view of a packet, set by the conntrack node and
/// read by the firewall's rules (`ct state`, `ct status`) and its confirm
/// node. All zero: not looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtMeta {
    /// The state, one bit (`ct_state` of the firewall's rules: new 1,
    /// established 2, related 4, invalid 8, untracked 16); 0 not tracked
    /// yet.
    pub state: u8,
    /// Status bits (dnat 1, snat 2, seen-reply 4, assured 8).
    pub status: u8,
    /// Flags: [`CtMeta::REPLY`], [`CtMeta::RECHECK`], [`CtMeta::UNCONFIRMED`],
    /// [`CtMeta::NOTRACK`].
    pub flags: u8,
    /// The entry's generation (with `slot`, the entry's handle).
    pub generation: u16,
    /// The entry's slot plus one; 0: no entry.
    pub slot: u32,
}

impl CtMeta {
    /// The packet goes in the reply direction of its connection.
    pub const REPLY: u8 = 1;
    /// Its entry was judged under an older policy: the rules run again.
    pub const RECHECK: u8 = 2;
    /// Its entry is new and waits for the packet to be accepted.
    pub const UNCONFIRMED: u8 = 4;
    /// A rule said `notrack`.
    pub const NOTRACK: u8 = 8;

    /// Is flag `f` set?
    #[inline]
    pub const fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// A packet handed to the slow path.
#[derive(Debug)]
pub struct Punt {
    /// The packet, as received (nothing rewritten yet).
    pub pkt: Packet,
    /// Why.
    pub reason: PuntReason,
    /// What the nodes knew about it (parse summary, ingress interface,
    /// the egress decided for `Resolve`); given back with it on release.
    pub ctx: PacketCtx,
    /// Worker that punted it (answers go back through it).
    pub worker: u16,
}

/// A packet handed from one worker to another (the owner of its flow).
#[derive(Debug)]
pub struct Handoff {
    /// The packet, as far as the sending worker took it.
    pub pkt: Packet,
    /// Its context, to resume with.
    pub ctx: PacketCtx,
    /// Where it re-enters the graph.
    pub at: Entry,
}

/// Where an injected frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectTo {
    /// Out of one port as it is.
    Port(PortId),
    /// Flooded in a bridge domain, except `except` (tags per member port).
    Bridge {
        /// The bridge.
        vlan: VlanId,
        /// A port not to flood to.
        except: Option<PortId>,
    },
}

/// What the slow path gives a worker. Either way the packet passes the
/// hooks after its entry point, like every other packet on its way out.
#[derive(Debug)]
pub enum Inject {
    /// A held packet whose next hop is now resolved (`ctx.egress.dst_mac`
    /// set): enters at the forward hook, then postrouting, rewrite, egress.
    Resolved {
        /// The packet, as received.
        pkt: Packet,
        /// Its context from the punt, with the resolved MAC.
        ctx: PacketCtx,
    },
    /// A finished frame the router made (ARP/ND, echo reply, ICMP error):
    /// enters at the output hook, then postrouting and egress.
    Local {
        /// The frame.
        pkt: Packet,
        /// Where it goes.
        to: InjectTo,
    },
}

#[cfg(test)]
mod size_tests {
    /// The verdict and context travel with every packet between stages;
    /// every extra byte is copied per packet per stage, which shows up in
    /// `orbital bench forward`, so a change that grows them must be deliberate.
    #[test]
    fn per_packet_state_stays_small() {
        assert!(core::mem::size_of::<super::Verdict>() <= 8);
        assert!(
            core::mem::size_of::<super::PacketCtx>() <= 160,
            "{}",
            core::mem::size_of::<super::PacketCtx>()
        );
        assert!(core::mem::size_of::<super::Entry>() == 1);
        assert!(core::mem::size_of::<orbital_buf::Packet>() <= 64);
    }
}
