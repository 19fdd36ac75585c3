//! Expansion against the rule's meaning: for random rules (ranges, sets,
//! negations, masks, IPv4 and IPv6 addresses, tuples) and random packets,
//! "some entry matches the packet's key" equals "every match of the rule
//! holds for the packet's field values".

use orbital_firewall::expand::{ExpandError, MAX_ENTRIES_PER_RULE, expand, key};
use orbital_firewall::rules::{Field, Match, Rule, TupleMatch, Values};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Packet {
    scalars: Vec<u32>,
    src: u128,
    dst: u128,
}

fn value(p: &Packet, f: Field) -> u128 {
    match f {
        Field::Ip4Saddr => p.src & 0xffff_ffff,
        Field::Ip4Daddr => p.dst & 0xffff_ffff,
        Field::Ip6Saddr => p.src,
        Field::Ip6Daddr => p.dst,
        f => u128::from(p.scalars[Field::ALL.iter().position(|x| *x == f).unwrap()]),
    }
}

fn holds(m: &Match, v: u128) -> bool {
    let inside = match &m.values {
        Values::Ranges(r) => r.iter().any(|&(a, b)| a <= v && v <= b),
        Values::Mask { value, mask } => (v as u32) & mask == value & mask,
    };
    inside != m.negate
}

fn reference(r: &Rule, p: &Packet) -> bool {
    r.matches.iter().all(|m| holds(m, value(p, m.field)))
        && r.tuples.iter().all(|t| {
            t.elements.iter().any(|e| {
                t.fields
                    .iter()
                    .zip(e)
                    .all(|(f, &(a, b))| (a..=b).contains(&value(p, *f)))
            })
        })
}

/// Fields with small domains (so random values hit the boundaries) and the
/// addresses.
const FIELDS: [Field; 8] = [
    Field::Dport,
    Field::Sport,
    Field::L4Proto,
    Field::Dscp,
    Field::CtState,
    Field::Ip4Saddr,
    Field::Ip6Daddr,
    Field::TcpFlags,
];

fn bounded(f: Field, v: u128) -> u128 {
    match f {
        Field::Dport | Field::Sport => v % 64,
        Field::L4Proto | Field::CtState => v % 8,
        Field::Dscp => v % 64,
        Field::Ip4Saddr => v % 256,
        Field::Ip6Daddr => (v % 256) << 120 | (v % 3),
        _ => v % 256,
    }
}

fn a_match() -> impl Strategy<Value = Match> {
    (
        0..FIELDS.len(),
        prop::collection::vec((any::<u128>(), 0u128..20), 1..4),
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(fi, vals, negate, mv, mm)| {
            let field = FIELDS[fi];
            let values = if field == Field::TcpFlags {
                Values::Mask {
                    value: u32::from(mv),
                    mask: u32::from(mm),
                }
            } else {
                Values::Ranges(
                    vals.into_iter()
                        .map(|(a, w)| {
                            let lo = bounded(field, a);
                            let hi = if field == Field::Ip6Daddr {
                                lo.saturating_add(w << 118)
                            } else {
                                lo + w
                            };
                            (lo, hi.min(field.max()))
                        })
                        .collect(),
                )
            };
            Match {
                field,
                values,
                negate,
            }
        })
}

fn a_rule() -> impl Strategy<Value = Rule> {
    (
        prop::collection::vec(a_match(), 0..4),
        prop::option::of(prop::collection::vec((0u128..64, 0u128..8, 0u128..6), 1..4)),
    )
        .prop_map(|(matches, tuple)| Rule {
            matches,
            tuples: tuple
                .map(|els| {
                    vec![TupleMatch {
                        fields: vec![Field::Dport, Field::L4Proto],
                        elements: els
                            .into_iter()
                            .map(|(p, q, w)| vec![(p, p + w), (q, q)])
                            .collect(),
                    }]
                })
                .unwrap_or_default(),
            ..Rule::default()
        })
}

fn a_packet() -> impl Strategy<Value = Packet> {
    (
        prop::collection::vec(any::<u32>(), Field::ALL.len()),
        any::<u128>(),
        any::<u128>(),
    )
        .prop_map(|(s, src, dst)| {
            let scalars = Field::ALL
                .iter()
                .zip(s)
                .map(|(f, v)| bounded(*f, u128::from(v)) as u32)
                .collect();
            Packet {
                scalars,
                src: bounded(Field::Ip4Saddr, src),
                dst: bounded(Field::Ip6Daddr, dst),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn entries_mean_what_the_rule_means(rule in a_rule(), packets in prop::collection::vec(a_packet(), 1..32)) {
        let entries = match expand(&rule, 0) {
            Ok(e) => e,
            // Refused for its size: only when it truly is that large.
            Err(ExpandError::TooLarge(n)) => {
                prop_assert!(n > MAX_ENTRIES_PER_RULE);
                return Ok(());
            }
        };
        for p in &packets {
            let k = key(|f| value(p, f) as u32, p.src, p.dst);
            let got = entries.iter().any(|e| e.matches(&k));
            prop_assert_eq!(got, reference(&rule, p), "{:?} {:?}", rule, p);
        }
    }
}
