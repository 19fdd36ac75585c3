//! L2 bridging: the MAC learning table and the forwarding decision of a
//! bridge domain.
//!
//! Learned MACs are *worker state*, not part of the published tables: each
//! worker learns from the frames it receives and keeps its own bounded
//! table. Flows are pinned to workers by a symmetric flow hash, so both
//! directions of a conversation meet the same worker, which therefore knows
//! both stations; a station a worker has not heard from is flooded to, as any
//! bridge does with an unknown destination. This keeps learning lock-free and
//! per-core (spec §5). Static MACs come with the bridge configuration.

use orbital_wire::EthernetAddress;
use rustc_hash::FxHashMap;

use crate::interface::{BridgeDomain, IfId, Interfaces, PortId, VlanId};

/// One learned station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacEntry {
    /// Port it was last seen on.
    pub port: PortId,
    /// When, on the engine clock (ns).
    pub seen_ns: u64,
}

/// What [`MacTable::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// A new station.
    New,
    /// A known station seen again on the same port.
    Refreshed,
    /// A known station that moved to another port.
    Moved,
    /// Not learned: the table is full of live entries.
    TableFull,
    /// Not learned: a group address cannot be a source.
    BadSource,
}

/// Counters of a MAC table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MacStats {
    /// Stations learned.
    pub learned: u64,
    /// Stations that moved port.
    pub moved: u64,
    /// Entries removed by aging.
    pub aged: u64,
    /// Learning refused because the table was full.
    pub full: u64,
}

/// A worker's bounded MAC learning table.
#[derive(Debug, Clone)]
pub struct MacTable {
    entries: FxHashMap<(VlanId, EthernetAddress), MacEntry>,
    capacity: usize,
    stats: MacStats,
}

impl MacTable {
    /// A table holding at most `capacity` stations (allocated up front, so
    /// learning never allocates on the fast path).
    pub fn new(capacity: usize) -> MacTable {
        let mut entries = FxHashMap::default();
        entries.reserve(capacity);
        MacTable {
            entries,
            capacity,
            stats: MacStats::default(),
        }
    }

    /// Learn that `mac` in `vlan` lives behind `port`.
    #[inline]
    pub fn learn(
        &mut self,
        vlan: VlanId,
        mac: EthernetAddress,
        port: PortId,
        now_ns: u64,
    ) -> Learned {
        if mac.is_multicast() {
            return Learned::BadSource;
        }
        if let Some(e) = self.entries.get_mut(&(vlan, mac)) {
            e.seen_ns = now_ns;
            if e.port == port {
                return Learned::Refreshed;
            }
            e.port = port;
            self.stats.moved += 1;
            return Learned::Moved;
        }
        if self.entries.len() >= self.capacity {
            self.stats.full += 1;
            return Learned::TableFull;
        }
        self.entries.insert(
            (vlan, mac),
            MacEntry {
                port,
                seen_ns: now_ns,
            },
        );
        self.stats.learned += 1;
        Learned::New
    }

    /// Where `mac` lives in `vlan`, if learned and not older than `aging_ns`.
    #[inline]
    pub fn lookup(
        &self,
        vlan: VlanId,
        mac: EthernetAddress,
        now_ns: u64,
        aging_ns: u64,
    ) -> Option<PortId> {
        self.entries
            .get(&(vlan, mac))
            .filter(|e| now_ns.saturating_sub(e.seen_ns) <= aging_ns)
            .map(|e| e.port)
    }

    /// Remove stations not seen within their bridge's aging time (bridges
    /// gone from the configuration lose all their stations). Returns how many
    /// were removed. Called periodically, off the per-packet path.
    pub fn age(&mut self, now_ns: u64, ifs: &Interfaces) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(vlan, _), e| {
            ifs.bridge(*vlan)
                .is_some_and(|b| now_ns.saturating_sub(e.seen_ns) <= aging_ns(b))
        });
        let removed = before - self.entries.len();
        self.stats.aged += removed as u64;
        removed
    }

    /// Forget every station on `port` (link down, port reconfigured).
    pub fn flush_port(&mut self, port: PortId) {
        self.entries.retain(|_, e| e.port != port);
    }

    /// Stations held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no station is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> MacStats {
        self.stats
    }

    /// Every entry (for `orbctl show`).
    pub fn iter(&self) -> impl Iterator<Item = (VlanId, EthernetAddress, MacEntry)> + '_ {
        self.entries.iter().map(|(&(v, m), &e)| (v, m, e))
    }
}

/// Aging time of a bridge in nanoseconds.
#[inline]
pub fn aging_ns(b: &BridgeDomain) -> u64 {
    u64::from(b.aging_secs) * 1_000_000_000
}

/// Where a bridged frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Decision {
    /// To one port.
    Forward(PortId),
    /// To every member port but the ingress one (and, for a group address,
    /// to the bridge's L3 interface too, if it has one).
    Flood,
    /// Addressed to the bridge's own L3 interface: route it.
    ToRouter(IfId),
    /// The destination lives behind the port the frame came in on.
    SamePort,
}

/// Decide a frame's fate in bridge domain `bd`.
#[inline]
pub fn decide(
    ifs: &Interfaces,
    bd: &BridgeDomain,
    macs: &MacTable,
    ingress: PortId,
    dst: EthernetAddress,
    now_ns: u64,
) -> L2Decision {
    if let Some(bvi) = bd.bvi {
        if ifs.iface(bvi).is_some_and(|i| i.mac == dst) {
            return L2Decision::ToRouter(bvi);
        }
    }
    if dst.is_multicast() {
        return L2Decision::Flood;
    }
    let port = bd
        .statics
        .iter()
        .find(|(m, _)| *m == dst)
        .map(|&(_, p)| p)
        .or_else(|| macs.lookup(bd.vlan, dst, now_ns, aging_ns(bd)));
    match port {
        Some(p) if p == ingress => L2Decision::SamePort,
        Some(p) => L2Decision::Forward(p),
        None => L2Decision::Flood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{Attach, Interface, PortConfig, PortMode};

    const S: u64 = 1_000_000_000;

    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, n])
    }

    fn wiring() -> Interfaces {
        let mut ifs = Interfaces::default();
        for (i, mode) in [
            PortMode::Access { vlan: 10 },
            PortMode::Access { vlan: 10 },
            PortMode::Trunk {
                vlans: [10, 20].into_iter().collect(),
                native: None,
            },
        ]
        .into_iter()
        .enumerate()
        {
            ifs.ports.push(Some(PortConfig {
                id: PortId(i as u16),
                name: format!("p{i}"),
                mode,
            }));
        }
        ifs.ifaces.push(Some(Interface {
            id: IfId(0),
            name: "bvi10".into(),
            mac: mac(0xaa),
            mtu: 1500,
            attach: Attach::Bridge(10),
            v4: vec![],
            v6: vec![],
        }));
        ifs.bridges.push(BridgeDomain {
            vlan: 10,
            aging_secs: 300,
            bvi: Some(IfId(0)),
            members: vec![],
            statics: vec![],
        });
        ifs.refresh_members();
        ifs
    }

    #[test]
    fn learn_forward_flood_and_age() {
        let ifs = wiring();
        let bd = ifs.bridge(10).unwrap().clone();
        assert_eq!(bd.members, vec![PortId(0), PortId(1), PortId(2)]);
        let mut t = MacTable::new(16);
        assert_eq!(
            decide(&ifs, &bd, &t, PortId(0), mac(2), 0),
            L2Decision::Flood
        );
        assert_eq!(t.learn(10, mac(1), PortId(0), 0), Learned::New);
        assert_eq!(t.learn(10, mac(2), PortId(1), S), Learned::New);
        assert_eq!(t.learn(10, mac(2), PortId(1), 2 * S), Learned::Refreshed);
        assert_eq!(
            decide(&ifs, &bd, &t, PortId(0), mac(2), 3 * S),
            L2Decision::Forward(PortId(1))
        );
        assert_eq!(
            decide(&ifs, &bd, &t, PortId(1), mac(2), 3 * S),
            L2Decision::SamePort
        );
        assert_eq!(
            decide(&ifs, &bd, &t, PortId(0), mac(0xaa), 0),
            L2Decision::ToRouter(IfId(0))
        );
        assert_eq!(
            decide(&ifs, &bd, &t, PortId(0), EthernetAddress::BROADCAST, 0),
            L2Decision::Flood
        );
        assert_eq!(t.learn(10, mac(2), PortId(2), 4 * S), Learned::Moved);
        assert_eq!(
            t.learn(10, EthernetAddress::BROADCAST, PortId(2), 0),
            Learned::BadSource
        );
        // Static entries win over learned ones.
        let mut with_static = bd.clone();
        with_static.statics.push((mac(2), PortId(0)));
        assert_eq!(
            decide(&ifs, &with_static, &t, PortId(1), mac(2), 4 * S),
            L2Decision::Forward(PortId(0))
        );
        // mac(1) was last seen at 0: gone from lookups after 300 s, then aged out.
        assert_eq!(t.lookup(10, mac(1), 301 * S, aging_ns(&bd)), None);
        assert_eq!(t.age(301 * S, &ifs), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.stats().aged, 1);
    }

    #[test]
    fn full_table_refuses_and_counts() {
        let mut t = MacTable::new(2);
        assert_eq!(t.learn(1, mac(1), PortId(0), 0), Learned::New);
        assert_eq!(t.learn(1, mac(2), PortId(0), 0), Learned::New);
        assert_eq!(t.learn(1, mac(3), PortId(0), 0), Learned::TableFull);
        assert_eq!(t.stats().full, 1);
        t.flush_port(PortId(0));
        assert!(t.is_empty());
    }
}
