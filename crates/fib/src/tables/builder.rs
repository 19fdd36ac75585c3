//! [`TablesBuilder`]: the control side's editable copy of every table, which
//! applies [`TableUpdate`] batches all or nothing and produces the next
//! [`Tables`] version, sharing what a batch did not touch.

use core::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::sources::{NextHopIds, NextHopKey, RouteSourceMap, RouteSources, TargetId};
use super::{MAX_PORTS, RouteInfo, RouteTarget, TableUpdate, Tables, UpdateError, UpdateErrorKind};
use crate::interface::{
    Attach, BridgeDomain, IfAddr, IfId, Interface, Interfaces, PortConfig, PortId, PortMode, VlanId,
};
use crate::lpm::{Lpm4Builder, Lpm6Builder};
use crate::neighbor::{Neighbor, Neighbors};
use crate::nexthop::{Adjacency, EcmpGroup, MAX_ECMP, NextHop, NextHopTable};
use crate::prefix::{IpPrefix, Ipv4Prefix, Ipv6Prefix};

/// What a batch changed, in the order to undo it. A full table is a million
/// `Sources` entries, so the rare large ones are boxed to keep every entry
/// as small as a `Sources` one.
enum Undo {
    Sources(IpPrefix, Option<RouteSources>),
    Neighbor(IpAddr, Option<Neighbor>),
    Port(PortId, Option<Box<PortConfig>>),
    Iface(IfId, Option<Box<Interface>>),
    Bridges(Vec<BridgeDomain>),
}

/// A prefix an update of the batch changed: by which update, and its
/// sources after it (the last one's are the batch's result, so resolving
/// needs no second lookup in a million-entry map).
#[derive(Debug, Clone, Copy)]
struct Touched(IpPrefix, usize, RouteSources);

/// What decides a touched prefix's next-hop key within one batch: a
/// configured target resolves once per family, not once per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyOf {
    Local,
    Connected(IfId),
    User(TargetId, bool),
}

/// The control side's editable copy of every table; publishes snapshots.
#[derive(Debug, Default)]
pub struct TablesBuilder {
    version: u64,
    lpm4: Lpm4Builder,
    lpm6: Lpm6Builder,
    sources: RouteSourceMap,
    nh_ids: NextHopIds,
    neighbors: Neighbors,
    ifs: Interfaces,
    current: Arc<Tables>,
}

/// Re-render an LPM incrementally below this many changed prefixes; above it,
/// a full build is faster than many re-renders.
const INCREMENTAL_LIMIT: usize = 4096;

impl TablesBuilder {
    /// An empty builder; its first publish is version 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number this builder's next publish after `version`: a configuration
    /// reload builds fresh tables in a new builder, and readers must still
    /// see versions only ever grow.
    pub fn continue_after(&mut self, version: u64) {
        self.version = self.version.max(version);
    }

    /// The last published version.
    pub fn current(&self) -> Arc<Tables> {
        self.current.clone()
    }

    /// The wiring as it stands.
    pub fn interfaces(&self) -> &Interfaces {
        &self.ifs
    }

    /// The neighbours as they stand.
    pub fn neighbors(&self) -> &Neighbors {
        &self.neighbors
    }

    /// Every route in effect, sorted by prefix.
    pub fn routes(&self) -> Vec<RouteInfo> {
        let mut v: Vec<RouteInfo> = self
            .sources
            .iter()
            .filter_map(|(prefix, s)| {
                let (origin, target) = self.sources.in_effect(s)?;
                Some(RouteInfo {
                    prefix,
                    origin,
                    target,
                })
            })
            .collect();
        v.sort_by_key(|r| r.prefix);
        v
    }

    /// Apply a batch; on success publish-ready tables of the next version are
    /// returned (and kept as current). On error nothing changed.
    ///
    /// # Errors
    /// The first refused update, or a dangling reference at the end.
    pub fn apply(&mut self, batch: &[TableUpdate]) -> Result<Arc<Tables>, UpdateError> {
        let mut undo = Vec::new();
        let mut touched: Vec<Touched> = Vec::new();
        let (mut ifs_changed, mut neigh_changed) = (false, false);
        for (i, u) in batch.iter().enumerate() {
            let r = self.apply_one(
                u,
                i,
                &mut undo,
                &mut touched,
                &mut ifs_changed,
                &mut neigh_changed,
            );
            if let Err(kind) = r {
                self.rollback(undo);
                return Err(UpdateError {
                    index: Some(i),
                    update: u.to_string(),
                    kind,
                });
            }
        }
        if ifs_changed {
            self.ifs.refresh_members();
            if let Err(kind) = self.check_wiring() {
                self.rollback(undo);
                self.ifs.refresh_members();
                return Err(UpdateError {
                    index: None,
                    update: "the batch as a whole".into(),
                    kind,
                });
            }
        }
        // One entry per prefix, in prefix order, with the last update that
        // touched it (the one an error is reported against) and so its
        // final sources.
        touched.sort_by_key(|t| t.0);
        touched.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                *kept = *later;
            }
            same
        });
        // Resolve every touched prefix to a next-hop key before changing any
        // LPM or interning anything.
        let mut keys = Vec::new();
        let mut memo = FxHashMap::default();
        let mut resolved = Vec::with_capacity(touched.len());
        for &Touched(p, i, sources) in &touched {
            match self.key_slot(p, sources, &mut keys, &mut memo) {
                Ok(k) => resolved.push((p, k)),
                Err(kind) => {
                    self.rollback(undo);
                    self.ifs.refresh_members();
                    return Err(UpdateError {
                        index: Some(i),
                        update: batch[i].to_string(),
                        kind,
                    });
                }
            }
        }
        drop((touched, undo, memo));
        let mut new_ids = false;
        let ids: Vec<u32> = keys
            .into_iter()
            .map(|k| {
                let (id, new) = self.nh_ids.intern(k);
                new_ids |= new;
                id
            })
            .collect();
        let (mut ch4, mut ch6) = (Vec::new(), Vec::new());
        for (p, k) in resolved {
            let id = k.map(|k| ids[k]);
            match p {
                IpPrefix::V4(p) => ch4.push((p, id)),
                IpPrefix::V6(p) => ch6.push((p, id)),
            }
        }
        self.lpm4.apply_sorted(&ch4);
        self.lpm6.apply_sorted(&ch6);
        self.sources.collect();
        Ok(self.publish_next(
            &ch4,
            &ch6,
            new_ids || ifs_changed || neigh_changed,
            ifs_changed,
            neigh_changed,
        ))
    }

    fn publish_next(
        &mut self,
        ch4: &[(Ipv4Prefix, Option<u32>)],
        ch6: &[(Ipv6Prefix, Option<u32>)],
        nh_dirty: bool,
        ifs_changed: bool,
        neigh_changed: bool,
    ) -> Arc<Tables> {
        let cur = &self.current;
        let fib4 = match ch4.len() {
            0 => cur.fib4.clone(),
            n if n > INCREMENTAL_LIMIT => Arc::new(self.lpm4.build()),
            _ => {
                let changed: Vec<Ipv4Prefix> = ch4.iter().map(|&(p, _)| p).collect();
                Arc::new(self.lpm4.update(&cur.fib4, &changed))
            }
        };
        let fib6 = match ch6.len() {
            0 => cur.fib6.clone(),
            n if n > INCREMENTAL_LIMIT => Arc::new(self.lpm6.build()),
            _ => {
                let changed: Vec<Ipv6Prefix> = ch6.iter().map(|&(p, _)| p).collect();
                Arc::new(self.lpm6.update(&cur.fib6, &changed))
            }
        };
        let next_hops = if nh_dirty {
            Arc::new(self.compile_next_hops())
        } else {
            cur.next_hops.clone()
        };
        let ifs = if ifs_changed {
            Arc::new(self.ifs.clone())
        } else {
            cur.ifs.clone()
        };
        let neighbors = if neigh_changed {
            Arc::new(self.neighbors.clone())
        } else {
            cur.neighbors.clone()
        };
        self.version += 1;
        self.current = Arc::new(Tables {
            version: self.version,
            fib4,
            fib6,
            next_hops,
            neighbors,
            ifs,
        });
        self.current.clone()
    }

    fn adjacency(&self, iface: IfId, gateway: Option<IpAddr>) -> Option<Adjacency> {
        let i = self.ifs.iface(iface)?;
        Some(Adjacency {
            iface,
            gateway,
            mtu: i.mtu,
            src_mac: i.mac,
            dst_mac: gateway
                .and_then(|g| self.neighbors.usable(g))
                .map(|n| n.mac),
            port: match i.attach {
                Attach::Port(p) => Some(p),
                Attach::Bridge(_) => None,
            },
        })
    }

    fn compile_next_hops(&self) -> NextHopTable {
        let hops = self
            .nh_ids
            .keys()
            .iter()
            .map(|k| match k {
                None => NextHop::NoRoute,
                Some(NextHopKey::Local) => NextHop::Local,
                Some(NextHopKey::Blackhole) => NextHop::Blackhole,
                Some(NextHopKey::Unreachable) => NextHop::Unreachable,
                Some(NextHopKey::Prohibit) => NextHop::Prohibit,
                Some(NextHopKey::Connected(i)) => self
                    .adjacency(*i, None)
                    .map_or(NextHop::Unreachable, NextHop::Forward),
                Some(NextHopKey::Via(gws)) => {
                    let adjs: Vec<_> = gws
                        .iter()
                        .filter_map(|&(i, g)| self.adjacency(i, Some(g)))
                        .collect();
                    match adjs.len() {
                        0 => NextHop::Unreachable,
                        1 => NextHop::Forward(
                            adjs.into_iter().next().unwrap_or_else(|| unreachable!()),
                        ),
                        _ => NextHop::Ecmp(EcmpGroup::new(adjs)),
                    }
                }
            })
            .collect();
        NextHopTable::from_hops(hops)
    }

    /// The next-hop key of the route in effect of `prefix` with sources `s`, as an index into
    /// `keys` (the batch's distinct keys, `memo` remembering what decided
    /// each); `None` if it has no route.
    fn key_slot(
        &self,
        prefix: IpPrefix,
        s: RouteSources,
        keys: &mut Vec<NextHopKey>,
        memo: &mut FxHashMap<KeyOf, usize>,
    ) -> Result<Option<usize>, UpdateErrorKind> {
        let of = if s.local.is_some() {
            KeyOf::Local
        } else if let Some(i) = s.connected {
            KeyOf::Connected(i)
        } else if let Some(t) = s.user {
            KeyOf::User(t, matches!(prefix, IpPrefix::V4(_)))
        } else {
            return Ok(None);
        };
        if let Some(&k) = memo.get(&of) {
            return Ok(Some(k));
        }
        let key = match of {
            KeyOf::Local => NextHopKey::Local,
            KeyOf::Connected(i) => NextHopKey::Connected(i),
            KeyOf::User(t, _) => self.target_key(self.sources.target(t), prefix)?,
        };
        keys.push(key);
        memo.insert(of, keys.len() - 1);
        Ok(Some(keys.len() - 1))
    }

    /// The next-hop key of a configured target on a route to `prefix`.
    fn target_key(&self, t: &RouteTarget, prefix: IpPrefix) -> Result<NextHopKey, UpdateErrorKind> {
        Ok(match t {
            RouteTarget::Local => NextHopKey::Local,
            RouteTarget::Blackhole => NextHopKey::Blackhole,
            RouteTarget::Unreachable => NextHopKey::Unreachable,
            RouteTarget::Prohibit => NextHopKey::Prohibit,
            RouteTarget::Dev(i) => {
                self.ifs
                    .iface(*i)
                    .ok_or(UpdateErrorKind::NoSuchInterface(i.0))?;
                NextHopKey::Connected(*i)
            }
            RouteTarget::Via(gws) => {
                if gws.is_empty() || gws.len() > MAX_ECMP {
                    return Err(UpdateErrorKind::PathCount(gws.len()));
                }
                let mut v = Vec::with_capacity(gws.len());
                for g in gws {
                    if g.addr.is_ipv4() != matches!(prefix, IpPrefix::V4(_)) {
                        return Err(UpdateErrorKind::FamilyMismatch(g.addr));
                    }
                    let iface = match g.iface {
                        Some(i) => {
                            self.ifs
                                .iface(i)
                                .ok_or(UpdateErrorKind::NoSuchInterface(i.0))?;
                            i
                        }
                        None => self
                            .on_link(g.addr)
                            .ok_or(UpdateErrorKind::GatewayNotOnLink(g.addr))?,
                    };
                    v.push((iface, g.addr));
                }
                NextHopKey::Via(v)
            }
        })
    }

    fn on_link(&self, a: IpAddr) -> Option<IfId> {
        self.ifs
            .iter_ifaces()
            .find(|i| match a {
                IpAddr::V4(a) => i.on_link_v4(a),
                IpAddr::V6(a) => i.on_link_v6(a),
            })
            .map(|i| i.id)
    }

    fn check_wiring(&self) -> Result<(), UpdateErrorKind> {
        for p in self.ifs.iter_ports() {
            if let PortMode::Routed { iface } = p.mode {
                if self.ifs.iface(iface).is_none() {
                    return Err(UpdateErrorKind::Dangling(format!(
                        "port {} ({}) is routed to interface {} which does not exist",
                        p.id.0, p.name, iface.0
                    )));
                }
            }
            for v in vlans_of(&p.mode) {
                if self.ifs.bridge(v).is_none() {
                    return Err(UpdateErrorKind::Dangling(format!(
                        "port {} ({}) is in VLAN {v}, which has no bridge",
                        p.id.0, p.name
                    )));
                }
            }
        }
        for i in self.ifs.iter_ifaces() {
            let ok = match i.attach {
                Attach::Port(p) => self
                    .ifs
                    .port(p)
                    .is_some_and(|c| c.mode == PortMode::Routed { iface: i.id }),
                Attach::Bridge(v) => self.ifs.bridge(v).is_some_and(|b| b.bvi == Some(i.id)),
            };
            if !ok {
                return Err(UpdateErrorKind::Dangling(format!(
                    "interface {} ({}) is attached to {:?}, which does not point back at it",
                    i.id.0, i.name, i.attach
                )));
            }
        }
        for b in &self.ifs.bridges {
            for (mac, port) in &b.statics {
                if !b.members.contains(port) {
                    return Err(UpdateErrorKind::Dangling(format!(
                        "static mac {mac} in bridge {} is on port {}, not a member",
                        b.vlan, port.0
                    )));
                }
            }
        }
        Ok(())
    }

    fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Sources(p, prev) => {
                    self.sources.set(p, prev);
                }
                Undo::Neighbor(a, prev) => match prev {
                    Some(n) => {
                        self.neighbors.insert(a, n);
                    }
                    None => {
                        self.neighbors.remove(a);
                    }
                },
                Undo::Port(id, prev) => *slot(&mut self.ifs.ports, id.0) = prev.map(|p| *p),
                Undo::Iface(id, prev) => *slot(&mut self.ifs.ifaces, id.0) = prev.map(|i| *i),
                Undo::Bridges(prev) => self.ifs.bridges = prev,
            }
        }
        self.sources.collect();
    }

    fn edit_sources(
        &mut self,
        p: IpPrefix,
        i: usize,
        undo: &mut Vec<Undo>,
        touched: &mut Vec<Touched>,
        f: impl FnOnce(&mut RouteSources),
    ) {
        let prev = self.sources.get(&p);
        let mut s = prev.unwrap_or_default();
        f(&mut s);
        self.sources.set(p, Some(s));
        undo.push(Undo::Sources(p, prev));
        touched.push(Touched(p, i, s));
    }

    /// The routes an address brings: its subnet (connected) and itself (local),
    /// plus the subnet broadcast address for IPv4 subnets of /30 and wider.
    fn address_routes(addr: IpAddr, len: u8) -> (Option<IpPrefix>, Vec<IpPrefix>) {
        match addr {
            IpAddr::V4(a) => {
                let net = Ipv4Prefix::truncating(a, len);
                let mut locals = vec![IpPrefix::V4(Ipv4Prefix::truncating(a, 32))];
                if len <= 30 {
                    locals.push(IpPrefix::V4(Ipv4Prefix::truncating(
                        Ipv4Addr::from_bits(net.last()),
                        32,
                    )));
                }
                (Some(IpPrefix::V4(net)), locals)
            }
            IpAddr::V6(a) => {
                // Link-local subnets exist on every interface: no shared route.
                let connected = (!a.is_unicast_link_local())
                    .then(|| IpPrefix::V6(Ipv6Prefix::truncating(a, len)));
                (
                    connected,
                    vec![IpPrefix::V6(Ipv6Prefix::truncating(a, 128))],
                )
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_one(
        &mut self,
        u: &TableUpdate,
        i: usize,
        undo: &mut Vec<Undo>,
        touched: &mut Vec<Touched>,
        ifs_changed: &mut bool,
        neigh_changed: &mut bool,
    ) -> Result<(), UpdateErrorKind> {
        use UpdateErrorKind as E;
        match u {
            TableUpdate::SetPort(p) => {
                check_id(p.id.0)?;
                for v in vlans_of(&p.mode) {
                    check_vlan(v)?;
                }
                let prev = slot(&mut self.ifs.ports, p.id.0).replace(p.clone());
                undo.push(Undo::Port(p.id, prev.map(Box::new)));
                *ifs_changed = true;
            }
            TableUpdate::RemovePort(id) => {
                let prev = slot(&mut self.ifs.ports, id.0)
                    .take()
                    .ok_or(E::NoSuchPort(id.0))?;
                undo.push(Undo::Port(*id, Some(Box::new(prev))));
                *ifs_changed = true;
            }
            TableUpdate::SetInterface {
                id,
                name,
                mac,
                mtu,
                attach,
            } => {
                check_id(id.0)?;
                if mac.is_multicast() {
                    return Err(E::GroupMac(*mac));
                }
                if *mtu < 68 {
                    return Err(E::BadMtu(*mtu));
                }
                if let Attach::Bridge(v) = attach {
                    check_vlan(*v)?;
                }
                let s = slot(&mut self.ifs.ifaces, id.0);
                let prev = s.clone();
                let (v4, v6) = prev
                    .as_ref()
                    .map(|p| (p.v4.clone(), p.v6.clone()))
                    .unwrap_or_default();
                *s = Some(Interface {
                    id: *id,
                    name: name.clone(),
                    mac: *mac,
                    mtu: *mtu,
                    attach: *attach,
                    v4,
                    v6,
                });
                undo.push(Undo::Iface(*id, prev.map(Box::new)));
                *ifs_changed = true;
            }
            TableUpdate::RemoveInterface(id) => {
                let prev = self
                    .ifs
                    .iface(*id)
                    .cloned()
                    .ok_or(E::NoSuchInterface(id.0))?;
                let addrs: Vec<(IpAddr, u8)> = prev
                    .v4
                    .iter()
                    .map(|a| (IpAddr::V4(a.addr), a.len))
                    .chain(prev.v6.iter().map(|a| (IpAddr::V6(a.addr), a.len)))
                    .collect();
                for (a, len) in addrs {
                    self.drop_address_routes(*id, a, len, i, undo, touched);
                }
                *slot(&mut self.ifs.ifaces, id.0) = None;
                undo.push(Undo::Iface(*id, Some(Box::new(prev))));
                *ifs_changed = true;
            }
            TableUpdate::AddAddress { iface, addr, len } => {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if *len > max {
                    return Err(E::BadLength(*len));
                }
                if let Some(owner) = self.owner_of(*addr) {
                    return Err(E::AddressInUse(*addr, owner.0));
                }
                let prev = self
                    .ifs
                    .iface(*iface)
                    .cloned()
                    .ok_or(E::NoSuchInterface(iface.0))?;
                let mut next = prev.clone();
                match addr {
                    IpAddr::V4(a) => next.v4.push(IfAddr {
                        addr: *a,
                        len: *len,
                    }),
                    IpAddr::V6(a) => next.v6.push(IfAddr {
                        addr: *a,
                        len: *len,
                    }),
                }
                *slot(&mut self.ifs.ifaces, iface.0) = Some(next);
                undo.push(Undo::Iface(*iface, Some(Box::new(prev))));
                let (connected, locals) = Self::address_routes(*addr, *len);
                if let Some(net) = connected {
                    self.edit_sources(net, i, undo, touched, |s| s.connected = Some(*iface));
                }
                for l in locals {
                    self.edit_sources(l, i, undo, touched, |s| s.local = Some(*iface));
                }
                *ifs_changed = true;
            }
            TableUpdate::DelAddress { iface, addr } => {
                let prev = self
                    .ifs
                    .iface(*iface)
                    .cloned()
                    .ok_or(E::NoSuchInterface(iface.0))?;
                let len = match addr {
                    IpAddr::V4(a) => prev.v4.iter().find(|x| x.addr == *a).map(|x| x.len),
                    IpAddr::V6(a) => prev.v6.iter().find(|x| x.addr == *a).map(|x| x.len),
                }
                .ok_or(E::NoSuchAddress(*addr))?;
                let mut next = prev.clone();
                next.v4.retain(|x| IpAddr::V4(x.addr) != *addr);
                next.v6.retain(|x| IpAddr::V6(x.addr) != *addr);
                *slot(&mut self.ifs.ifaces, iface.0) = Some(next);
                undo.push(Undo::Iface(*iface, Some(Box::new(prev))));
                self.drop_address_routes(*iface, *addr, len, i, undo, touched);
                *ifs_changed = true;
            }
            TableUpdate::SetBridge {
                vlan,
                aging_secs,
                bvi,
            } => {
                check_vlan(*vlan)?;
                undo.push(Undo::Bridges(self.ifs.bridges.clone()));
                let statics = self
                    .ifs
                    .bridge(*vlan)
                    .map(|b| b.statics.clone())
                    .unwrap_or_default();
                self.ifs.bridges.retain(|b| b.vlan != *vlan);
                self.ifs.bridges.push(BridgeDomain {
                    vlan: *vlan,
                    aging_secs: *aging_secs,
                    bvi: *bvi,
                    members: Vec::new(),
                    statics,
                });
                self.ifs.bridges.sort_by_key(|b| b.vlan);
                *ifs_changed = true;
            }
            TableUpdate::RemoveBridge(vlan) => {
                self.ifs.bridge(*vlan).ok_or(E::NoSuchBridge(*vlan))?;
                undo.push(Undo::Bridges(self.ifs.bridges.clone()));
                self.ifs.bridges.retain(|b| b.vlan != *vlan);
                *ifs_changed = true;
            }
            TableUpdate::AddStaticMac { vlan, mac, port } => {
                if mac.is_multicast() {
                    return Err(E::GroupMac(*mac));
                }
                self.ifs.port(*port).ok_or(E::NoSuchPort(port.0))?;
                self.ifs.bridge(*vlan).ok_or(E::NoSuchBridge(*vlan))?;
                undo.push(Undo::Bridges(self.ifs.bridges.clone()));
                if let Some(b) = self.ifs.bridges.iter_mut().find(|b| b.vlan == *vlan) {
                    b.statics.retain(|(m, _)| m != mac);
                    b.statics.push((*mac, *port));
                }
                *ifs_changed = true;
            }
            TableUpdate::DelStaticMac { vlan, mac } => {
                let b = self.ifs.bridge(*vlan).ok_or(E::NoSuchBridge(*vlan))?;
                if !b.statics.iter().any(|(m, _)| m == mac) {
                    return Err(E::NoSuchStaticMac(*mac));
                }
                undo.push(Undo::Bridges(self.ifs.bridges.clone()));
                if let Some(b) = self.ifs.bridges.iter_mut().find(|b| b.vlan == *vlan) {
                    b.statics.retain(|(m, _)| m != mac);
                }
                *ifs_changed = true;
            }
            TableUpdate::AddRoute { prefix, target } => {
                if let RouteTarget::Via(gws) = target {
                    if gws.is_empty() || gws.len() > MAX_ECMP {
                        return Err(E::PathCount(gws.len()));
                    }
                }
                let t = self.sources.intern(target);
                self.edit_sources(*prefix, i, undo, touched, |s| s.user = Some(t));
            }
            TableUpdate::DelRoute(prefix) => {
                if self.sources.get(prefix).is_none_or(|s| s.user.is_none()) {
                    return Err(E::NoSuchRoute(*prefix));
                }
                self.edit_sources(*prefix, i, undo, touched, |s| s.user = None);
            }
            TableUpdate::AddNeighbor {
                addr,
                mac,
                iface,
                state,
            } => {
                if mac.is_multicast() {
                    return Err(E::GroupMac(*mac));
                }
                self.ifs.iface(*iface).ok_or(E::NoSuchInterface(iface.0))?;
                let prev = self.neighbors.insert(
                    *addr,
                    Neighbor {
                        mac: *mac,
                        iface: *iface,
                        state: *state,
                    },
                );
                undo.push(Undo::Neighbor(*addr, prev));
                *neigh_changed = true;
            }
            TableUpdate::DelNeighbor(addr) => {
                let prev = self
                    .neighbors
                    .remove(*addr)
                    .ok_or(E::NoSuchNeighbor(*addr))?;
                undo.push(Undo::Neighbor(*addr, Some(prev)));
                *neigh_changed = true;
            }
        }
        Ok(())
    }

    fn drop_address_routes(
        &mut self,
        iface: IfId,
        addr: IpAddr,
        len: u8,
        i: usize,
        undo: &mut Vec<Undo>,
        touched: &mut Vec<Touched>,
    ) {
        let (connected, locals) = Self::address_routes(addr, len);
        if let Some(net) = connected {
            if self
                .sources
                .get(&net)
                .is_some_and(|s| s.connected == Some(iface))
            {
                self.edit_sources(net, i, undo, touched, |s| s.connected = None);
            }
        }
        for l in locals {
            if self.sources.get(&l).is_some_and(|s| s.local == Some(iface)) {
                self.edit_sources(l, i, undo, touched, |s| s.local = None);
            }
        }
    }

    fn owner_of(&self, a: IpAddr) -> Option<IfId> {
        match a {
            IpAddr::V4(a) => self.ifs.local_v4(a).map(|i| i.id),
            IpAddr::V6(a) => self.ifs.local_v6(a).map(|i| i.id),
        }
    }
}

fn check_id(id: u16) -> Result<(), UpdateErrorKind> {
    if id >= MAX_PORTS {
        Err(UpdateErrorKind::IdOutOfRange(id))
    } else {
        Ok(())
    }
}

fn check_vlan(v: VlanId) -> Result<(), UpdateErrorKind> {
    if (1..=4094).contains(&v) {
        Ok(())
    } else {
        Err(UpdateErrorKind::BadVlan(v))
    }
}

fn vlans_of(m: &PortMode) -> Vec<VlanId> {
    match m {
        PortMode::Routed { .. } => vec![],
        PortMode::Access { vlan } => vec![*vlan],
        PortMode::Trunk { vlans, native } => vlans.iter().chain(*native).collect(),
    }
}

fn slot<T>(v: &mut Vec<Option<T>>, id: u16) -> &mut Option<T> {
    let i = usize::from(id);
    if v.len() <= i {
        v.resize_with(i + 1, || None);
    }
    &mut v[i]
}
