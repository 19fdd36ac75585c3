//! The vocabulary of a batch: typed changes to the tables, where a route
//! sends packets, and why a batch was refused.

use core::fmt;
use core::net::IpAddr;

use orbital_wire::EthernetAddress;

use super::MAX_PORTS;
use crate::interface::{Attach, IfId, PortConfig, PortId, VlanId};
use crate::neighbor::NeighborState;
use crate::nexthop::MAX_ECMP;
use crate::prefix::IpPrefix;

/// Where a route sends packets, as the control side states it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// Through one gateway, or several (ECMP, up to 16).
    Via(Vec<Gateway>),
    /// Directly connected on an interface.
    Dev(IfId),
    /// To the router itself.
    Local,
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP administratively prohibited.
    Prohibit,
}

/// A gateway; its interface is found from the connected subnets when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gateway {
    /// Gateway address (same family as the route).
    pub addr: IpAddr,
    /// Egress interface, if pinned.
    pub iface: Option<IfId>,
}

/// One typed change to the tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableUpdate {
    /// Create or replace a port.
    SetPort(PortConfig),
    /// Remove a port.
    RemovePort(PortId),
    /// Create or replace an interface's name, MAC, MTU and attachment
    /// (its addresses are kept).
    SetInterface {
        /// Interface id.
        id: IfId,
        /// Name.
        name: String,
        /// Router MAC.
        mac: EthernetAddress,
        /// IP MTU.
        mtu: u16,
        /// Port or bridge.
        attach: Attach,
    },
    /// Remove an interface, its addresses and their routes.
    RemoveInterface(IfId),
    /// Add an address (and its connected and local routes).
    AddAddress {
        /// Interface.
        iface: IfId,
        /// Address.
        addr: IpAddr,
        /// Subnet length.
        len: u8,
    },
    /// Remove an address and its routes.
    DelAddress {
        /// Interface.
        iface: IfId,
        /// Address.
        addr: IpAddr,
    },
    /// Create or replace a bridge domain (static MACs are kept).
    SetBridge {
        /// Its VLAN.
        vlan: VlanId,
        /// MAC aging time, seconds.
        aging_secs: u32,
        /// Its L3 interface.
        bvi: Option<IfId>,
    },
    /// Remove a bridge domain.
    RemoveBridge(VlanId),
    /// Pin a station to a port in a bridge.
    AddStaticMac {
        /// Bridge.
        vlan: VlanId,
        /// Station.
        mac: EthernetAddress,
        /// Port.
        port: PortId,
    },
    /// Unpin a station.
    DelStaticMac {
        /// Bridge.
        vlan: VlanId,
        /// Station.
        mac: EthernetAddress,
    },
    /// Add or replace a route.
    AddRoute {
        /// Destination.
        prefix: IpPrefix,
        /// Where to.
        target: RouteTarget,
    },
    /// Remove a route.
    DelRoute(IpPrefix),
    /// Add or replace a neighbour.
    AddNeighbor {
        /// Its address.
        addr: IpAddr,
        /// Its MAC.
        mac: EthernetAddress,
        /// Interface it is on.
        iface: IfId,
        /// State.
        state: NeighborState,
    },
    /// Remove a neighbour.
    DelNeighbor(IpAddr),
}

impl fmt::Display for TableUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableUpdate::SetPort(p) => write!(f, "set port {} ({})", p.id.0, p.name),
            TableUpdate::RemovePort(p) => write!(f, "remove port {}", p.0),
            TableUpdate::SetInterface { id, name, .. } => {
                write!(f, "set interface {} ({name})", id.0)
            }
            TableUpdate::RemoveInterface(i) => write!(f, "remove interface {}", i.0),
            TableUpdate::AddAddress { iface, addr, len } => {
                write!(f, "add address {addr}/{len} on interface {}", iface.0)
            }
            TableUpdate::DelAddress { iface, addr } => {
                write!(f, "delete address {addr} from interface {}", iface.0)
            }
            TableUpdate::SetBridge { vlan, .. } => write!(f, "set bridge {vlan}"),
            TableUpdate::RemoveBridge(v) => write!(f, "remove bridge {v}"),
            TableUpdate::AddStaticMac { vlan, mac, .. } => {
                write!(f, "add static mac {mac} in bridge {vlan}")
            }
            TableUpdate::DelStaticMac { vlan, mac } => {
                write!(f, "delete static mac {mac} in bridge {vlan}")
            }
            TableUpdate::AddRoute { prefix, .. } => write!(f, "add route {prefix}"),
            TableUpdate::DelRoute(p) => write!(f, "delete route {p}"),
            TableUpdate::AddNeighbor { addr, .. } => write!(f, "add neighbor {addr}"),
            TableUpdate::DelNeighbor(a) => write!(f, "delete neighbor {a}"),
        }
    }
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateErrorKind {
    /// A port id at or above [`MAX_PORTS`].
    #[error("port/interface id {0} is out of range (max {max})", max = MAX_PORTS - 1)]
    IdOutOfRange(u16),
    /// No such port.
    #[error("port {0} does not exist")]
    NoSuchPort(u16),
    /// No such interface.
    #[error("interface {0} does not exist")]
    NoSuchInterface(u16),
    /// No such bridge domain.
    #[error("bridge {0} does not exist")]
    NoSuchBridge(VlanId),
    /// No such route.
    #[error("no route for {0}")]
    NoSuchRoute(IpPrefix),
    /// No such neighbour.
    #[error("no neighbor {0}")]
    NoSuchNeighbor(IpAddr),
    /// No such address.
    #[error("{0} is not on that interface")]
    NoSuchAddress(IpAddr),
    /// No such static MAC.
    #[error("no static mac {0}")]
    NoSuchStaticMac(EthernetAddress),
    /// VLAN outside 1–4094.
    #[error("VLAN {0} is outside 1-4094")]
    BadVlan(u16),
    /// MTU outside 68–65535 (IPv4 minimum, RFC 791).
    #[error("MTU {0} is below the IPv4 minimum of 68")]
    BadMtu(u16),
    /// A group MAC where a station MAC is needed.
    #[error("{0} is a multicast MAC, not a station")]
    GroupMac(EthernetAddress),
    /// A subnet length beyond the family.
    #[error("prefix length {0} is too long")]
    BadLength(u8),
    /// The address is already assigned.
    #[error("{0} is already assigned to interface {1}")]
    AddressInUse(IpAddr, u16),
    /// A gateway of the wrong family.
    #[error("gateway {0} is not of the route's address family")]
    FamilyMismatch(IpAddr),
    /// An ECMP route with no or too many paths.
    #[error("a route needs 1 to {MAX_ECMP} gateways, not {0}")]
    PathCount(usize),
    /// A gateway not on any connected subnet.
    #[error("gateway {0} is not on any connected subnet (give its interface)")]
    GatewayNotOnLink(IpAddr),
    /// A reference left dangling at the end of the batch.
    #[error("{0}")]
    Dangling(String),
}

/// An update batch that was refused; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UpdateError {
    /// Position of the refused update in the batch (`None` for a check of the
    /// batch's end state).
    pub index: Option<usize>,
    /// The refused update, described.
    pub update: String,
    /// Why.
    pub kind: UpdateErrorKind,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "update {} ({}): {}", i + 1, self.update, self.kind),
            None => write!(f, "{}: {}", self.update, self.kind),
        }
    }
}
