//! The router's feature set: the stateful firewall and connection tracking
//! of `orbital-firewall`, with NAT around them — what every command runs.
//!
//! | hook | nodes |
//! |---|---|
//! | prerouting | `fw-raw-prerouting`, `nat-in`, `ct-in`, `fw-prerouting` |
//! | input | `fw-input`, `ct-confirm-input` |
//! | forward | `fw-forward` |
//! | output | `fw-raw-output`, `ct-out`, `fw-output` |
//! | postrouting | `fw-postrouting`, `ct-confirm`, `nat-out` |
//!
//! The raw chains see packets as they arrived (nftables' raw priority -300
//! runs before its dnat at -100); everything from conntrack to the
//! postrouting filter sees inside addresses; the wire sees outside ones.

use orbital_firewall::node::{ConfirmNode, Filter, Track};
use orbital_firewall::{Edge, EdgePolicy, EdgeState};
use orbital_graph::{Features, Hooks};

use crate::dynamic::NatState;
use crate::node::{NatIn, NatOut};
use crate::policy::NatPolicy;

/// What the snapshot carries for the router's features.
#[derive(Debug, Default)]
pub struct RouterPolicy {
    /// The firewall and connection tracking.
    pub edge: EdgePolicy,
    /// NAT.
    pub nat: NatPolicy,
}

impl AsRef<EdgePolicy> for RouterPolicy {
    fn as_ref(&self) -> &EdgePolicy {
        &self.edge
    }
}

impl AsRef<NatPolicy> for RouterPolicy {
    fn as_ref(&self) -> &NatPolicy {
        &self.nat
    }
}

/// One worker's state of the router's features.
#[derive(Debug)]
pub struct RouterState {
    /// The firewall's (its connection table).
    pub edge: EdgeState,
    /// NAT's (its sessions).
    pub nat: NatState,
}

impl AsMut<EdgeState> for RouterState {
    fn as_mut(&mut self) -> &mut EdgeState {
        &mut self.edge
    }
}

impl AsMut<NatState> for RouterState {
    fn as_mut(&mut self) -> &mut NatState {
        &mut self.nat
    }
}

/// The router: firewall, connection tracking and NAT at their hooks.
#[derive(Debug)]
pub struct Router;

impl Features for Router {
    type Policy = RouterPolicy;
    type State = RouterState;
    type Prerouting = (Filter, NatIn, Track, Filter);
    type Input = (Filter, ConfirmNode);
    type Forward = (Filter,);
    type Output = (Filter, Track, Filter);
    type Postrouting = (Filter, ConfirmNode, NatOut);
    type Egress = ();

    fn hooks(worker: u16, workers: u16, policy: &RouterPolicy) -> Hooks<Self> {
        // The firewall's nodes as the edge router places them, NAT's added.
        let e = Edge::hooks(worker, workers, &policy.edge);
        let (raw, track, filter) = e.prerouting;
        let (post, confirm) = e.postrouting;
        Hooks {
            state: RouterState {
                edge: e.state,
                nat: NatState::new(usize::from(worker), &policy.nat),
            },
            prerouting: (raw, NatIn, track, filter),
            input: e.input,
            forward: e.forward,
            output: e.output,
            postrouting: (post, confirm, NatOut),
            egress: (),
        }
    }

    fn end_burst(state: &mut RouterState, now_ns: u64) {
        <Edge as Features>::end_burst(&mut state.edge, now_ns);
    }

    fn maintain(state: &mut RouterState, now_ns: u64) -> usize {
        <Edge as Features>::maintain(&mut state.edge, now_ns) + state.nat.maintain(now_ns)
    }
}
