//! A policy change reaches connections made under the old one: the next
//! packet of an established connection's original direction is judged
//! again as if it started the connection, and a connection the new policy
//! would not let start is ended (nftables would let it live on under `ct
//! state established accept`).

mod edge;

use std::sync::Arc;

use edge::{Rig, m, tcp};
use orbital_firewall::rules::{Chain, Field, FwHook, Policy, Rule, Ruleset, Verdict, ct_state};
use orbital_firewall::{Edge, FirewallPolicy};
use orbital_graph::{DropReason, Reason};

/// forward: established accept; from lan0 to TCP port `port` accept; drop.
fn ruleset(port: u128) -> Ruleset {
    let est = u128::from(ct_state::ESTABLISHED);
    Ruleset {
        chains: vec![Chain {
            name: "forward".into(),
            base: Some((FwHook::Forward, 0, Policy::Drop)),
            rules: vec![
                Rule {
                    matches: vec![m(Field::CtState, est, est)],
                    verdict: Some(Verdict::Accept),
                    text: "ct state established accept".into(),
                    ..Rule::default()
                },
                Rule {
                    matches: vec![
                        m(Field::Iif, 0, 0),
                        m(Field::L4Proto, 6, 6),
                        m(Field::Dport, port, port),
                    ],
                    verdict: Some(Verdict::Accept),
                    text: format!("iif lan0 tcp dport {port} accept"),
                    ..Rule::default()
                },
            ],
        }],
    }
}

fn rig() -> Rig<Edge> {
    edge::rig(FirewallPolicy::compile(&ruleset(80), 1, 1).unwrap())
}

fn publish(rig: &Rig<Edge>, port: u128) {
    let h = rig.engine.handle();
    let g = u32::try_from(h.shared.load().version + 1).unwrap();
    h.publisher
        .update(|st| {
            let fw = FirewallPolicy::compile(&ruleset(port), 1, g).unwrap();
            st.policy = Arc::new(st.policy.with_firewall(fw));
            Ok::<(), ()>(())
        })
        .unwrap();
}

fn drops(rig: &Rig<Edge>, r: Reason) -> u64 {
    rig.engine.handle().stats().total.drops[DropReason::Other(r).index()]
}

/// A handshake to 203.0.113.9:80 through the router; the connection is
/// established.
fn connect(rig: &mut Rig<Edge>) {
    rig.send(0, 0, &tcp(true, "203.0.113.9", 40000, 80, 0x02, 100, 0));
    rig.step();
    rig.send(0, 1, &tcp(false, "203.0.113.9", 80, 40000, 0x12, 500, 101));
    rig.step();
    rig.send(0, 0, &tcp(true, "203.0.113.9", 40000, 80, 0x10, 101, 501));
    rig.step();
    assert_eq!(rig.out(1).len(), 2, "SYN and ACK out");
    assert_eq!(rig.out(0).len(), 1, "SYN/ACK in");
}

#[test]
fn a_connection_the_new_policy_forbids_is_ended() {
    let mut rig = rig();
    connect(&mut rig);
    publish(&rig, 443);
    rig.send(0, 0, &tcp(true, "203.0.113.9", 40000, 80, 0x18, 101, 501));
    rig.step();
    assert!(
        rig.out(1).is_empty(),
        "the old connection's data is stopped"
    );
    assert_eq!(drops(&rig, Reason::FwRecheck), 1);
    // It is gone: the server's next segment is a stranger's.
    rig.send(0, 1, &tcp(false, "203.0.113.9", 80, 40000, 0x10, 501, 101));
    rig.step();
    assert!(rig.out(0).is_empty());
    rig.finish();
}

#[test]
fn a_connection_the_new_policy_still_allows_goes_on() {
    let mut rig = rig();
    connect(&mut rig);
    publish(&rig, 80);
    for _ in 0..2 {
        rig.send(0, 0, &tcp(true, "203.0.113.9", 40000, 80, 0x18, 101, 501));
        rig.step();
        assert_eq!(rig.out(1).len(), 1);
    }
    assert_eq!(drops(&rig, Reason::FwRecheck), 0);
    rig.finish();
}
