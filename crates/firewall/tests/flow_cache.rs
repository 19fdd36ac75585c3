//! The flow verdict cache changes nothing a user can see: the same
//! traffic through the same random forward chain, with the cache and
//! without it, leaves the same frames on every port, the same rule
//! counters and the same drop reasons — and with it, established packets
//! are decided from the cache.

mod edge;

use edge::{Rig, common, m, tcp};
use orbital_firewall::rules::{Chain, Field, FwHook, Policy, Rule, Ruleset, Verdict, ct_state};
use orbital_firewall::{Edge, FirewallPolicy};
use proptest::prelude::*;

fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

/// Peers behind the WAN (203.0.113.0/24 has a static gateway).
const PEERS: [&str; 2] = ["203.0.113.9", "203.0.113.77"];

/// One random rule of the kinds an edge forward chain has.
fn rule() -> impl Strategy<Value = Rule> {
    let matches = (
        proptest::option::of(0u128..2),
        proptest::option::of(prop_oneof![
            Just((v4([203, 0, 113, 9]), v4([203, 0, 113, 9]))),
            Just((v4([203, 0, 113, 0]), v4([203, 0, 113, 127]))),
        ]),
        proptest::option::of(prop_oneof![
            Just((80u128, 80u128)),
            Just((443, 443)),
            Just((1, 1023)),
            Just((40000, 40001))
        ]),
        proptest::option::of(prop_oneof![
            Just(u128::from(ct_state::NEW)),
            Just(u128::from(ct_state::ESTABLISHED)),
        ]),
        proptest::bool::ANY,
    );
    let verdict = prop_oneof![
        3 => Just(Some(Verdict::Accept)),
        2 => Just(Some(Verdict::Drop)),
        1 => Just(Some(Verdict::Reject(None))),
        1 => Just(None),
    ];
    (matches, verdict).prop_map(|((iif, daddr, dport, state, by_src), verdict)| {
        let mut ms = Vec::new();
        if let Some(i) = iif {
            ms.push(m(Field::Iif, i, i));
        }
        if let Some((lo, hi)) = daddr {
            // The peer as the destination (out) or the source (back in).
            let f = if by_src {
                Field::Ip4Saddr
            } else {
                Field::Ip4Daddr
            };
            ms.push(m(f, lo, hi));
        }
        if let Some((lo, hi)) = dport {
            ms.push(m(Field::L4Proto, 6, 6));
            ms.push(m(Field::Dport, lo, hi));
        }
        if let Some(s) = state {
            ms.push(m(Field::CtState, s, s));
        }
        Rule {
            matches: ms,
            verdict,
            text: "random".into(),
            ..Rule::default()
        }
    })
}

fn rig(rs: &Ruleset, cache: bool) -> Rig<Edge> {
    let mut fw = FirewallPolicy::compile(rs, 1, 1).unwrap();
    if !cache {
        fw.flow_cache = [false; 5];
    }
    edge::rig(fw)
}

/// A connection from the LAN host: peer, its port, our port, and where
/// its handshake has got to with the sequence numbers.
#[derive(Clone, Copy)]
struct Conn {
    peer: &'static str,
    dport: u16,
    sport: u16,
    step: u8,
}

/// What a segment after the handshake is.
#[derive(Debug, Clone, Copy)]
enum Way {
    /// LAN host to peer, on lan0.
    Out,
    /// Peer to LAN host, on wan0.
    Back,
    /// The LAN host's segment arriving on wan0 (spoofed): same connection
    /// and direction, another input interface.
    Spoofed,
}

fn way() -> impl Strategy<Value = Way> {
    prop_oneof![4 => Just(Way::Out), 4 => Just(Way::Back), 1 => Just(Way::Spoofed)]
}

/// Send the connection's next segment (handshake first, then ACKs either
/// way) and return what each port sent.
fn next(rig: &mut Rig<Edge>, c: &mut Conn, way: Way) -> [Vec<Vec<u8>>; 2] {
    let (lan, flags, seq, ack) = match (c.step, way) {
        (0, _) => (true, 0x02, 100, 0),
        (1, _) => (false, 0x12, 500, 101),
        (_, Way::Back) => (false, 0x10, 501, 101),
        _ => (true, 0x10, 101, 501),
    };
    let spoofed = c.step > 1 && matches!(way, Way::Spoofed);
    c.step = c.step.saturating_add(1);
    let (s, d) = if lan {
        (c.sport, c.dport)
    } else {
        (c.dport, c.sport)
    };
    let mut f = tcp(lan, c.peer, s, d, flags, seq, ack);
    if spoofed {
        f[0..6].copy_from_slice(&common::WAN_MAC.0);
        f[6..12].copy_from_slice(&common::GW_MAC.0);
    }
    rig.send(0, if lan && !spoofed { 0 } else { 1 }, &f);
    rig.step();
    [0, 1].map(|p| rig.out(p).into_iter().map(|(_, _, f)| f).collect())
}

/// Frames out per step and port, rule packet counts, drop counts, cache
/// hits.
type Seen = (Vec<[Vec<Vec<u8>>; 2]>, Vec<u64>, Vec<u64>, u64);

fn run(rs: &Ruleset, ops: &[(usize, Way)], cache: bool) -> Seen {
    let mut rig = rig(rs, cache);
    let mut conns: Vec<Conn> = (0..4)
        .map(|i| Conn {
            peer: PEERS[i % 2],
            dport: [80, 443, 22, 80][i],
            sport: 40000 + i as u16,
            step: 0,
        })
        .collect();
    let out = ops
        .iter()
        .map(|&(i, w)| next(&mut rig, &mut conns[i % 4], w))
        .collect();
    let h = rig.engine.handle();
    let snap = h.shared.load();
    let fw = &snap.policy.firewall;
    let hits = (0..fw.rules.len() as u32).map(|r| fw.hits(r).0).collect();
    let drops = h.stats().total.drops.to_vec();
    let cached = fw.cache_hits();
    drop(snap);
    rig.finish();
    (out, hits, drops, cached)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cached_and_uncached_agree(
        rules in proptest::collection::vec(rule(), 1..8),
        accept in proptest::bool::ANY,
        ops in proptest::collection::vec((0usize..4, way()), 1..40),
    ) {
        let rs = Ruleset {
            chains: vec![Chain {
                name: "forward".into(),
                base: Some((
                    FwHook::Forward,
                    0,
                    if accept { Policy::Accept } else { Policy::Drop },
                )),
                rules,
            }],
        };
        prop_assert!(FirewallPolicy::compile(&rs, 1, 1).unwrap().flow_cache[2], "cacheable");
        let (out_a, hits_a, drops_a, _) = run(&rs, &ops, true);
        let (out_b, hits_b, drops_b, none) = run(&rs, &ops, false);
        prop_assert_eq!(none, 0);
        prop_assert_eq!(out_a, out_b, "frames");
        prop_assert_eq!(hits_a, hits_b, "rule counters");
        prop_assert_eq!(drops_a, drops_b, "drop reasons");
    }
}

/// The edge chain: established connections' packets are decided from the
/// cache and counted on the rule that decided them; per-packet fields,
/// limits or jumps in the chain turn the cache off.
#[test]
fn established_packets_hit_the_cache() {
    let est = u128::from(ct_state::ESTABLISHED);
    let rs = Ruleset {
        chains: vec![Chain {
            name: "forward".into(),
            base: Some((FwHook::Forward, 0, Policy::Drop)),
            rules: vec![
                Rule {
                    matches: vec![m(
                        Field::Ip4Saddr,
                        v4([198, 18, 0, 0]),
                        v4([198, 19, 255, 255]),
                    )],
                    verdict: Some(Verdict::Drop),
                    text: "ip saddr 198.18.0.0/15 drop".into(),
                    ..Rule::default()
                },
                Rule {
                    matches: vec![m(Field::CtState, est, est)],
                    verdict: Some(Verdict::Accept),
                    text: "ct state established accept".into(),
                    ..Rule::default()
                },
                Rule {
                    matches: vec![m(Field::Iif, 0, 0)],
                    verdict: Some(Verdict::Accept),
                    text: "iif lan0 accept".into(),
                    ..Rule::default()
                },
            ],
        }],
    };
    // Handshake (3), then 10 ACKs each way: the SYN/ACK and the first ACK
    // out fill the two directions' words, every later one hits.
    let mut ops = vec![(0, Way::Out); 3];
    for i in 0..20 {
        ops.push((0, if i % 2 == 1 { Way::Back } else { Way::Out }));
    }
    let (out, hits, _, cached) = run(&rs, &ops, true);
    assert_eq!(
        out.iter().map(|o| o[0].len() + o[1].len()).sum::<usize>(),
        23,
        "all pass"
    );
    assert_eq!(
        hits,
        vec![0, 22, 1],
        "SYN by iif lan0; the rest established"
    );
    assert_eq!(
        cached, 20,
        "every packet after the first established one of each way"
    );

    let mut uncacheable = rs.clone();
    uncacheable.chains[0].rules[0]
        .matches
        .push(m(Field::TcpFlags, 2, 2));
    assert!(
        !FirewallPolicy::compile(&uncacheable, 1, 1)
            .unwrap()
            .flow_cache[2]
    );
    let mut limited = rs.clone();
    limited.chains[0].rules[0].limit = Some(orbital_firewall::rules::Limit {
        per_second: 1,
        burst: 1,
        over: false,
    });
    assert!(!FirewallPolicy::compile(&limited, 1, 1).unwrap().flow_cache[2]);
}
