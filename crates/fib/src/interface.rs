//! Ports, L3 interfaces and bridge domains: how the data plane is wired.
//!
//! A *port* is where frames enter and leave (a NIC queue pair, a pcap file,
//! a ring). Each port is in one [`PortMode`]: routed (its frames belong to an
//! L3 interface), or a member of bridge domains as an access port (one VLAN,
//! untagged) or a trunk (a set of VLANs, tagged, plus an optional native
//! VLAN). Bridge domains are VLANs (the model of a VLAN-aware Linux bridge),
//! and a bridge domain may have an L3 interface of its own (a BVI/SVI): frames
//! addressed to its MAC are routed, and routes through it are delivered into
//! the bridge.

use core::net::{Ipv4Addr, Ipv6Addr};

use orbital_wire::EthernetAddress;

/// Index of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortId(pub u16);

/// Index of an L3 interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IfId(pub u16);

/// A VLAN id, 1–4094.
pub type VlanId = u16;

/// A set of VLAN ids (a 4096-bit map, boxed to keep [`PortMode`] small).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VlanSet(Box<[u64; 64]>);

impl Default for VlanSet {
    fn default() -> Self {
        VlanSet(Box::new([0; 64]))
    }
}

impl core::fmt::Debug for VlanSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl VlanSet {
    /// Add a VLAN (ids above 4095 are ignored).
    pub fn insert(&mut self, v: VlanId) {
        if v < 4096 {
            self.0[usize::from(v / 64)] |= 1 << (v % 64);
        }
    }

    /// Is `v` in the set?
    #[inline]
    pub fn contains(&self, v: VlanId) -> bool {
        v < 4096 && self.0[usize::from(v / 64)] & (1 << (v % 64)) != 0
    }

    /// The VLANs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = VlanId> + '_ {
        (0..4096u16).filter(|&v| self.contains(v))
    }
}

impl FromIterator<VlanId> for VlanSet {
    fn from_iter<I: IntoIterator<Item = VlanId>>(it: I) -> Self {
        let mut s = VlanSet::default();
        for v in it {
            s.insert(v);
        }
        s
    }
}

/// What a port does with the frames it receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortMode {
    /// Frames are for L3 interface `iface` (untagged only).
    Routed {
        /// The interface.
        iface: IfId,
    },
    /// Untagged member of one VLAN's bridge domain.
    Access {
        /// The VLAN.
        vlan: VlanId,
    },
    /// Tagged member of several VLANs, optionally carrying one untagged.
    Trunk {
        /// Tagged VLANs.
        vlans: VlanSet,
        /// VLAN of untagged frames, if any are accepted.
        native: Option<VlanId>,
    },
}

impl PortMode {
    /// The bridge domain (VLAN) a frame with outer tag `tag` belongs to on a
    /// bridged port; `None` if the port does not accept it (or is routed).
    #[inline]
    pub fn ingress_vlan(&self, tag: Option<VlanId>) -> Option<VlanId> {
        match (self, tag) {
            (PortMode::Access { vlan }, None) => Some(*vlan),
            (PortMode::Trunk { vlans, .. }, Some(t)) if vlans.contains(t) => Some(t),
            (PortMode::Trunk { native, .. }, None) => *native,
            _ => None,
        }
    }

    /// How a frame of `vlan` leaves this port: `Some(None)` untagged,
    /// `Some(Some(v))` tagged, `None` not at all.
    #[inline]
    pub fn egress_tag(&self, vlan: VlanId) -> Option<Option<VlanId>> {
        match self {
            PortMode::Access { vlan: v } if *v == vlan => Some(None),
            PortMode::Trunk { native, .. } if *native == Some(vlan) => Some(None),
            PortMode::Trunk { vlans, .. } if vlans.contains(vlan) => Some(Some(vlan)),
            _ => None,
        }
    }
}

/// A port's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Index.
    pub id: PortId,
    /// Name (for people: `orbctl show ports`).
    pub name: String,
    /// Mode.
    pub mode: PortMode,
}

/// Where an L3 interface sends and receives its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attach {
    /// Directly on a routed port.
    Port(PortId),
    /// On a bridge domain (BVI/SVI).
    Bridge(VlanId),
}

/// An address on an interface, with its subnet length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr<A> {
    /// The address.
    pub addr: A,
    /// Subnet length.
    pub len: u8,
}

/// An L3 (router) interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Index.
    pub id: IfId,
    /// Name.
    pub name: String,
    /// Router MAC on this interface.
    pub mac: EthernetAddress,
    /// IP MTU (largest L3 packet sent without fragmenting).
    pub mtu: u16,
    /// Where it is attached.
    pub attach: Attach,
    /// IPv4 addresses.
    pub v4: Vec<IfAddr<Ipv4Addr>>,
    /// IPv6 addresses (a link-local one is expected for NDP).
    pub v6: Vec<IfAddr<Ipv6Addr>>,
}

impl Interface {
    /// The first IPv4 address: source of ICMP errors sent from here.
    pub fn primary_v4(&self) -> Option<Ipv4Addr> {
        self.v4.first().map(|a| a.addr)
    }

    /// The first global IPv6 address, else the first one.
    pub fn primary_v6(&self) -> Option<Ipv6Addr> {
        self.v6
            .iter()
            .find(|a| !a.addr.is_unicast_link_local())
            .or(self.v6.first())
            .map(|a| a.addr)
    }

    /// Does one of its IPv4 subnets contain `a`?
    pub fn on_link_v4(&self, a: Ipv4Addr) -> bool {
        self.v4
            .iter()
            .any(|s| crate::prefix::Ipv4Prefix::truncating(s.addr, s.len).contains(a))
    }

    /// Does one of its IPv6 subnets contain `a` (link-local always is)?
    pub fn on_link_v6(&self, a: Ipv6Addr) -> bool {
        a.is_unicast_link_local()
            || self
                .v6
                .iter()
                .any(|s| crate::prefix::Ipv6Prefix::truncating(s.addr, s.len).contains(a))
    }
}

/// A bridge domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeDomain {
    /// Its VLAN.
    pub vlan: VlanId,
    /// Seconds a learned MAC stays without being seen again.
    pub aging_secs: u32,
    /// The bridge's own L3 interface, if it routes.
    pub bvi: Option<IfId>,
    /// Member ports (derived from port modes when published).
    pub members: Vec<PortId>,
    /// Static stations: MAC → port, never aged.
    pub statics: Vec<(EthernetAddress, PortId)>,
}

/// The wiring: ports, interfaces, bridge domains. Indexed by id for the
/// fast path (`ports[id.0]`), `None` for unused ids.
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    /// Ports by id.
    pub ports: Vec<Option<PortConfig>>,
    /// Interfaces by id.
    pub ifaces: Vec<Option<Interface>>,
    /// Bridge domains by VLAN (a sparse list: few exist).
    pub bridges: Vec<BridgeDomain>,
    /// Per port id: for a routed port, its interface and that interface's
    /// MAC — what the L2 stage needs for nearly every frame, in 10 bytes
    /// instead of a walk through port, mode and interface (derived).
    pub routed: Vec<Option<(IfId, EthernetAddress)>>,
}

impl Interfaces {
    /// A port's configuration.
    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortConfig> {
        self.ports.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    /// An interface.
    #[inline]
    pub fn iface(&self, id: IfId) -> Option<&Interface> {
        self.ifaces.get(usize::from(id.0)).and_then(Option::as_ref)
    }

    /// A bridge domain by VLAN.
    #[inline]
    pub fn bridge(&self, vlan: VlanId) -> Option<&BridgeDomain> {
        self.bridges.iter().find(|b| b.vlan == vlan)
    }

    /// Every configured interface.
    pub fn iter_ifaces(&self) -> impl Iterator<Item = &Interface> {
        self.ifaces.iter().flatten()
    }

    /// Every configured port.
    pub fn iter_ports(&self) -> impl Iterator<Item = &PortConfig> {
        self.ports.iter().flatten()
    }

    /// The interface owning IPv4 address `a`, if it is one of the router's.
    pub fn local_v4(&self, a: Ipv4Addr) -> Option<&Interface> {
        self.iter_ifaces()
            .find(|i| i.v4.iter().any(|x| x.addr == a))
    }

    /// The interface owning IPv6 address `a`, if it is one of the router's.
    pub fn local_v6(&self, a: Ipv6Addr) -> Option<&Interface> {
        self.iter_ifaces()
            .find(|i| i.v6.iter().any(|x| x.addr == a))
    }

    /// The L3 interface a port's frames belong to, for routed ports.
    #[inline]
    pub fn routed_iface(&self, port: PortId) -> Option<IfId> {
        match self.port(port)?.mode {
            PortMode::Routed { iface } => Some(iface),
            _ => None,
        }
    }

    /// Recompute what is derived from ports, interfaces and bridges.
    pub(crate) fn refresh_members(&mut self) {
        self.routed = self
            .ports
            .iter()
            .map(|p| match p.as_ref().map(|p| &p.mode) {
                Some(PortMode::Routed { iface }) => self.iface(*iface).map(|i| (*iface, i.mac)),
                _ => None,
            })
            .collect();
        let ports: Vec<PortConfig> = self.iter_ports().cloned().collect();
        for b in &mut self.bridges {
            b.members = ports
                .iter()
                .filter(|p| p.mode.egress_tag(b.vlan).is_some())
                .map(|p| p.id)
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_modes_classify_and_tag() {
        let access = PortMode::Access { vlan: 10 };
        assert_eq!(access.ingress_vlan(None), Some(10));
        assert_eq!(access.ingress_vlan(Some(10)), None);
        assert_eq!(access.egress_tag(10), Some(None));
        assert_eq!(access.egress_tag(20), None);
        let trunk = PortMode::Trunk {
            vlans: [10, 20].into_iter().collect(),
            native: Some(99),
        };
        assert_eq!(trunk.ingress_vlan(Some(20)), Some(20));
        assert_eq!(trunk.ingress_vlan(Some(30)), None);
        assert_eq!(trunk.ingress_vlan(None), Some(99));
        assert_eq!(trunk.egress_tag(20), Some(Some(20)));
        assert_eq!(trunk.egress_tag(99), Some(None));
        let routed = PortMode::Routed { iface: IfId(1) };
        assert_eq!(routed.ingress_vlan(None), None);
        let s: VlanSet = [1, 4094, 5000].into_iter().collect();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 4094]);
    }
}
