//! What a stage decides about a packet, and what travels between the fast
//! path and the slow path. No `Result` per packet: each stage sets the
//! packet's [`Verdict`] and the next stage skips what is no longer
//! [`Verdict::Continue`] (STYLE §3).

use core::net::IpAddr;

use orbital_buf::Packet;
use orbital_fib::rfc1812::IcmpError;
use orbital_fib::{IfId, PortId, VlanId};
use orbital_wire::{EthernetAddress, PacketInfo};

use crate::drop::DropReason;

/// A packet's fate so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Still going through the stages.
    #[default]
    Continue,
    /// Dropped, counted under the reason.
    Drop(DropReason),
    /// For the slow path.
    Punt(PuntReason),
    /// Queued for transmission on `Egress::port`.
    Tx,
    /// Replaced by packets made from it (fragments, flood copies).
    Consumed,
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

/// Everything the stages know about one packet of a batch (kept beside the
/// batch, not in the buffer: structure of arrays).
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketCtx {
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
}

/// A packet handed to the slow path.
#[derive(Debug)]
pub struct Punt {
    /// The packet, as received (nothing rewritten yet).
    pub pkt: Packet,
    /// Why.
    pub reason: PuntReason,
    /// Its parse summary.
    pub info: PacketInfo,
    /// L3 interface it arrived on.
    pub iface_in: IfId,
    /// Where it would leave (for `Resolve`).
    pub egress: Egress,
    /// Worker that punted it (answers go back through it).
    pub worker: u16,
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

/// A finished frame from the slow path, to transmit.
#[derive(Debug)]
pub struct Inject {
    /// The frame.
    pub pkt: Packet,
    /// Where.
    pub to: InjectTo,
}

#[cfg(test)]
mod size_tests {
    /// The verdict and context travel with every packet between stages;
    /// every extra byte is copied per packet per stage, which shows up in
    /// `orbital bench forward`, so a change that grows them must be deliberate.
    #[test]
    fn per_packet_state_stays_small() {
        assert!(core::mem::size_of::<super::Verdict>() <= 8);
        assert!(core::mem::size_of::<super::PacketCtx>() <= 160);
        assert!(core::mem::size_of::<orbital_buf::Packet>() <= 64);
    }
}
