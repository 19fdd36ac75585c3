//! What the builder remembers about each route: which origins (address,
//! connected subnet, configuration) claim a prefix, how `orbctl show routes`
//! describes the one in effect, and the interning that gives equal next hops
//! one id.

use core::net::IpAddr;
use std::collections::HashMap;

use super::RouteTarget;
use crate::interface::IfId;
use crate::prefix::IpPrefix;

/// Which routes a prefix has, by origin; the most specific origin wins:
/// the router's own address, then a connected subnet, then a configured route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RouteSources {
    pub(super) local: Option<IfId>,
    pub(super) connected: Option<IfId>,
    pub(super) user: Option<RouteTarget>,
}

impl RouteSources {
    pub(super) fn is_empty(&self) -> bool {
        self.local.is_none() && self.connected.is_none() && self.user.is_none()
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
    ids: HashMap<NextHopKey, u32>,
    keys: Vec<Option<NextHopKey>>,
}

impl Default for NextHopIds {
    fn default() -> Self {
        NextHopIds {
            ids: HashMap::new(),
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
