//! What the firewall's engine tests share: the pipeline tests' rig (lan0
//! and wan0, a LAN host at 10.0.0.2) running the firewall's graph.
#![allow(dead_code)]

#[path = "../../../pipeline/tests/common/mod.rs"]
pub(crate) mod common;

pub(crate) use common::{Rig, tcp};
use orbital_conntrack::CtConfig;
use orbital_fib::{IfId, NeighborState, TableUpdate};
use orbital_firewall::rules::{Field, Match, Values};
use orbital_firewall::{Edge, EdgePolicy, FirewallPolicy};
use orbital_pipeline::engine::EngineConfig;

/// `field` in `lo..=hi`.
pub(crate) fn m(field: Field, lo: u128, hi: u128) -> Match {
    Match {
        field,
        values: Values::Ranges(vec![(lo, hi)]),
        negate: false,
    }
}

/// A rig running `fw` on one worker, the LAN host a known neighbour (no
/// resolution in the way).
pub(crate) fn rig(fw: FirewallPolicy) -> Rig<Edge> {
    let rig = Rig::<Edge>::with_policy(
        EngineConfig::default(),
        EdgePolicy::new(fw, CtConfig::default(), 1),
    );
    rig.engine
        .handle()
        .publisher
        .update(|st| {
            st.builder.apply(&[TableUpdate::AddNeighbor {
                addr: "10.0.0.2".parse().unwrap(),
                mac: common::HOST_MAC,
                iface: IfId(0),
                state: NeighborState::Static,
            }])
        })
        .unwrap();
    rig
}
