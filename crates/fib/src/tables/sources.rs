//! What the builder remembers about each route: which origins (address,
//! connected subnet, configuration) claim a prefix, how `orbctl show routes`
//! describes the one in effect, and the interning that gives equal next hops
//! one id.

use core::net::IpAddr;
use core::num::NonZeroU32;

use rustc_hash::FxHashMap;

use super::RouteTarget;
use crate::interface::IfId;
use crate::prefix::{IpPrefix, Ipv4Prefix, Ipv6Prefix};

/// A configured route target, interned: a million routes through eight
/// gateways hold eight targets, not a million `Vec<Gateway>`s.
pub(super) type TargetId = NonZeroU32;

/// Which routes a prefix has, by origin; the most specific origin wins:
/// the router's own address, then a connected subnet, then a configured route.
/// 12 bytes, so that a full table's worth fits in a few tens of MiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct RouteSources {
    pub(super) local: Option<IfId>,
    pub(super) connected: Option<IfId>,
    pub(super) user: Option<TargetId>,
}

impl RouteSources {
    pub(super) fn is_empty(&self) -> bool {
        self.local.is_none() && self.connected.is_none() && self.user.is_none()
    }
}

/// Every prefix's [`RouteSources`], one map per family (an IPv4 key is 8
/// bytes, an IPv6 one 17; one map of [`IpPrefix`] would make every key 20),
/// and the interned configured targets with their reference counts.
#[derive(Debug, Default)]
pub(super) struct RouteSourceMap {
    v4: FxHashMap<Ipv4Prefix, RouteSources>,
    v6: FxHashMap<Ipv6Prefix, RouteSources>,
    /// Target of id `i` at `i - 1`, with the number of prefixes using it.
    targets: Vec<(RouteTarget, u32)>,
    target_ids: FxHashMap<RouteTarget, TargetId>,
    /// Ids whose count fell to 0 since the last [`RouteSourceMap::collect`]:
    /// they stay valid until then, because an undo may bring them back.
    unused: Vec<TargetId>,
    free: Vec<TargetId>,
}

impl RouteSourceMap {
    pub(super) fn get(&self, p: &IpPrefix) -> Option<RouteSources> {
        match p {
            IpPrefix::V4(p) => self.v4.get(p).copied(),
            IpPrefix::V6(p) => self.v6.get(p).copied(),
        }
    }

    /// Give `p` the sources `s` (none, or empty: remove it); returns what it
    /// had.
    pub(super) fn set(&mut self, p: IpPrefix, s: Option<RouteSources>) -> Option<RouteSources> {
        let s = s.filter(|s| !s.is_empty());
        if let Some(id) = s.and_then(|s| s.user) {
            self.targets[id.get() as usize - 1].1 += 1;
        }
        let prev = match (p, s) {
            (IpPrefix::V4(p), Some(s)) => self.v4.insert(p, s),
            (IpPrefix::V4(p), None) => self.v4.remove(&p),
            (IpPrefix::V6(p), Some(s)) => self.v6.insert(p, s),
            (IpPrefix::V6(p), None) => self.v6.remove(&p),
        };
        if let Some(id) = prev.and_then(|s| s.user) {
            let refs = &mut self.targets[id.get() as usize - 1].1;
            *refs -= 1;
            if *refs == 0 {
                self.unused.push(id);
            }
        }
        prev
    }

    /// The id of `t`, to be [`set`](RouteSourceMap::set) on a prefix at once.
    pub(super) fn intern(&mut self, t: &RouteTarget) -> TargetId {
        if let Some(&id) = self.target_ids.get(t) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.targets[id.get() as usize - 1] = (t.clone(), 0);
                id
            }
            None => {
                self.targets.push((t.clone(), 0));
                let n = u32::try_from(self.targets.len()).unwrap_or(u32::MAX);
                NonZeroU32::new(n).unwrap_or(NonZeroU32::MAX)
            }
        };
        self.target_ids.insert(t.clone(), id);
        id
    }

    /// The target of `id`.
    pub(super) fn target(&self, id: TargetId) -> &RouteTarget {
        &self.targets[id.get() as usize - 1].0
    }

    /// Free the targets no prefix uses any more; call once a batch is done
    /// or undone.
    pub(super) fn collect(&mut self) {
        for id in std::mem::take(&mut self.unused) {
            let (t, refs) = &mut self.targets[id.get() as usize - 1];
            if *refs == 0 && self.target_ids.get(t) == Some(&id) {
                self.target_ids.remove(t);
                // Keep the slot; a placeholder drops the old gateways.
                *t = RouteTarget::Blackhole;
                self.free.push(id);
            }
        }
    }

    /// Every prefix with sources, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (IpPrefix, RouteSources)> + '_ {
        let v4 = self.v4.iter().map(|(p, s)| (IpPrefix::V4(*p), *s));
        let v6 = self.v6.iter().map(|(p, s)| (IpPrefix::V6(*p), *s));
        v4.chain(v6)
    }

    /// The route in effect for sources `s`, as `orbctl show routes` shows it.
    pub(super) fn in_effect(&self, s: RouteSources) -> Option<(RouteOrigin, RouteTarget)> {
        if s.local.is_some() {
            Some((RouteOrigin::Local, RouteTarget::Local))
        } else if let Some(i) = s.connected {
            Some((RouteOrigin::Connected, RouteTarget::Dev(i)))
        } else {
            Some((RouteOrigin::Static, self.target(s.user?).clone()))
        }
    }
}

/// How a route was made, for `orbctl show routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOrigin {
    /// The router's own address.
    Local,
    /// A connected subnet.
    Connected,
    /// Configured (or added through the API).
    Static,
}

/// A route as the builder holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination.
    pub prefix: IpPrefix,
    /// Origin of the route in effect.
    pub origin: RouteOrigin,
    /// Where it sends packets.
    pub target: RouteTarget,
}

/// Next hops as interned: what decides a next-hop id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum NextHopKey {
    Local,
    Blackhole,
    Unreachable,
    Prohibit,
    Connected(IfId),
    Via(Vec<(IfId, IpAddr)>),
}

/// Next-hop ids by key: a route's id is its key's, so a million routes
/// through eight gateways compile to eight next hops. Id 0 is no route.
#[derive(Debug, Clone)]
pub(super) struct NextHopIds {
    ids: FxHashMap<NextHopKey, u32>,
    keys: Vec<Option<NextHopKey>>,
}

impl Default for NextHopIds {
    fn default() -> Self {
        NextHopIds {
            ids: FxHashMap::default(),
            keys: vec![None],
        }
    }
}

impl NextHopIds {
    /// The id of `key`, and whether it is new.
    pub(super) fn intern(&mut self, key: NextHopKey) -> (u32, bool) {
        if let Some(&id) = self.ids.get(&key) {
            return (id, false);
        }
        let id = self.keys.len() as u32;
        self.keys.push(Some(key.clone()));
        self.ids.insert(key, id);
        (id, true)
    }

    /// Every key by id (`None` for id 0).
    pub(super) fn keys(&self) -> &[Option<NextHopKey>] {
        &self.keys
    }
}
