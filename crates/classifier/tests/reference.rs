//! The classifier against the naive first-match walk ([`Linear`]) on random
//! rule sets and keys.
//!
//! Rule sets mix every [`Match`] kind over fields of every width, with range
//! ends drawn from a small pool per field so that rules overlap, nest and
//! repeat; keys sit mostly on rule boundaries (`lo`, `hi`, `lo - 1`,
//! `hi + 1`), where an off-by-one in a cut or a check would show, and some
//! carry bits above their field's width. The build knobs are random too, so
//! narrow cuts, tiny leaves, many trees and the memory-limit retries are all
//! exercised.

use orbital_classifier::{
    BuildConfig, Classifier, FieldKind, FieldSpec, Linear, Match, NO_MATCH, Rule,
};
use proptest::prelude::*;

const KINDS: [FieldKind; 8] = [
    FieldKind::Ipv4Addr,
    FieldKind::Port,
    FieldKind::Protocol,
    FieldKind::Fragment,
    FieldKind::Dscp,
    FieldKind::TcpFlags,
    FieldKind::Other { bits: 3 },
    FieldKind::Other { bits: 31 },
];

/// A raw field match, fitted to its field by [`fit`].
type Raw = (u8, u8, u8, u32);

#[derive(Debug, Clone)]
struct Case {
    kinds: Vec<FieldKind>,
    pools: Vec<Vec<u32>>,
    rules: Vec<Vec<Raw>>,
    dups: Vec<(usize, usize)>,
    keys: Vec<Vec<(u8, u8, u32)>>,
    cfg: (usize, u8, usize, usize, bool, u8),
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(0..KINDS.len(), 1..=7),
        prop::collection::vec(prop::collection::vec(any::<u32>(), 6), 7),
        prop::collection::vec(
            prop::collection::vec((0u8..8, any::<u8>(), any::<u8>(), any::<u32>()), 7),
            0..48,
        ),
        prop::collection::vec((any::<usize>(), any::<usize>()), 0..6),
        prop::collection::vec(
            prop::collection::vec((0u8..6, any::<u8>(), any::<u32>()), 7),
            1..64,
        ),
        (
            1usize..6,
            1u8..9,
            1usize..6,
            1usize..5,
            any::<bool>(),
            0u8..4,
        ),
    )
        .prop_map(|(k, pools, rules, dups, keys, cfg)| Case {
            kinds: k.into_iter().map(|i| KINDS[i]).collect(),
            pools,
            rules,
            dups,
            keys,
            cfg,
        })
}

/// A `Match` of the kind `tag` for a field of kind `kind`, its ends from the
/// field's pool (so rules share ends and overlap).
fn fit((tag, a, b, x): Raw, kind: FieldKind, pool: &[u32]) -> Match {
    let max = kind.max_value();
    let bits = u32::from(kind.bits());
    let p = |i: u8| pool[usize::from(i) % pool.len()] & max;
    match tag {
        0 | 1 => Match::Any,
        2 | 3 => {
            let (lo, hi) = (p(a).min(p(b)), p(a).max(p(b)));
            Match::Range { lo, hi }
        }
        4 => Match::Range { lo: p(a), hi: p(a) },
        5 => {
            // A prefix counts from bit 31: it must stay inside the width.
            let len = (32 - bits) as u8 + (b % (bits as u8 + 1));
            Match::Prefix { value: p(a), len }
        }
        _ => {
            // Masks: contiguous or scattered bits, with a value taken from
            // the pool (so it often matches pool keys), zero bits above the
            // width in the mask sometimes.
            let mask = if tag == 6 { x & max } else { x };
            let value = p(a) & max;
            Match::Mask { value, mask }
        }
    }
}

fn build_case(c: &Case) -> (FieldSpec, Vec<Rule>, Vec<u32>, BuildConfig) {
    let spec = FieldSpec::new(&c.kinds).unwrap();
    let nf = c.kinds.len();
    let mut rules: Vec<Rule> = c
        .rules
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            Rule::new(
                (0..nf)
                    .map(|f| fit(raw[f], c.kinds[f], &c.pools[f]))
                    .collect(),
                i as u32 * 10,
            )
        })
        .collect();
    // Duplicates, also out of order.
    for &(from, to) in &c.dups {
        if !rules.is_empty() {
            let r = rules[from % rules.len()].clone();
            let at = to % (rules.len() + 1);
            rules.insert(at, r);
        }
    }
    let mut keys = Vec::new();
    for raw in &c.keys {
        for (f, &(how, pick, x)) in raw.iter().take(nf).enumerate() {
            let kind = c.kinds[f];
            let max = kind.max_value();
            let ends =
                rules
                    .get(usize::from(pick) % rules.len().max(1))
                    .map(|r| match r.fields[f] {
                        Match::Any => (0, max),
                        Match::Range { lo, hi } => (lo, hi),
                        Match::Prefix { value, len } => {
                            let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                            (value & !host, value | host)
                        }
                        Match::Mask { value, mask } => (value & mask, value | !mask),
                    });
            let (lo, hi) = ends.unwrap_or((0, max));
            keys.push(match how {
                0 => lo,
                1 => hi,
                2 => lo.wrapping_sub(1),
                3 => hi.wrapping_add(1),
                // Above the width: must be classified modulo 2^bits.
                4 => x,
                _ => x & max,
            });
        }
    }
    let (leaf_rules, max_cut_bits, space_factor, max_trees, tight, gain) = c.cfg;
    let cfg = BuildConfig {
        leaf_rules,
        max_cut_bits,
        space_factor,
        max_trees,
        cut_gain: [0.5, 0.8, 0.95, 1.0][usize::from(gain)],
        // Small enough that big cases retry with larger leaves.
        max_memory_bytes: if tight { 8 << 10 } else { 256 << 20 },
    };
    (spec, rules, keys, cfg)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn classifier_agrees_with_linear(c in case()) {
        let (spec, rules, keys, cfg) = build_case(&c);
        let nf = spec.len();
        let lin = Linear::new(&spec, &rules).unwrap();
        let cls = match Classifier::build_with(&spec, &rules, &cfg) {
            Ok(cls) => cls,
            // Only the tight limit may refuse, and only a set too big for it
            // even as plain lists.
            Err(e) => {
                prop_assert!(c.cfg.4, "{e}");
                return Ok(());
            }
        };
        prop_assert!(cls.memory_bytes() <= cfg.max_memory_bytes);
        let n = keys.len() / nf;
        let mut want = vec![0; n];
        lin.classify_bulk(&keys, &mut want);
        let mut got = vec![7; n + 3];
        cls.classify_bulk(&keys, &mut got);
        for i in 0..n {
            let key = &keys[i * nf..(i + 1) * nf];
            prop_assert_eq!(got[i], want[i], "bulk, key {:?}, stats {:?}", key, cls.stats());
            prop_assert_eq!(cls.classify(key).unwrap_or(NO_MATCH), want[i], "single, key {:?}", key);
            prop_assert_eq!(lin.classify(key).unwrap_or(NO_MATCH), want[i]);
        }
        prop_assert_eq!(&got[n..], &[7, 7, 7], "wrote past the burst");
        for (i, r) in rules.iter().enumerate() {
            prop_assert_eq!(cls.value(i as u32), r.value);
        }
    }
}

#[test]
fn empty_and_all_any_rule_sets() {
    let spec = FieldSpec::ipv4_5tuple();
    let keys = [1, 2, 3, 4, 5, 0, 0, 0, 0, 0];
    let mut out = [0; 2];
    let empty = Classifier::build(&spec, &[]).unwrap();
    assert_eq!(empty.classify(&keys[..5]), None);
    empty.classify_bulk(&keys, &mut out);
    assert_eq!(out, [NO_MATCH; 2]);

    let any = |v| Rule::new(vec![Match::Any; 5], v);
    let all = Classifier::build(&spec, &[any(3), any(4)]).unwrap();
    assert_eq!(all.classify(&keys[..5]), Some(0));
    all.classify_bulk(&keys, &mut out);
    assert_eq!(out, [0, 0]);
    assert_eq!(all.stats().nodes, 0, "nothing to cut: {:?}", all.stats());

    // No fields at all: every rule matches the empty key.
    let none = FieldSpec::new(&[]).unwrap();
    let c = Classifier::build(&none, &[Rule::new(vec![], 1)]).unwrap();
    assert_eq!(c.classify(&[]), Some(0));
    let mut out = [5; 3];
    c.classify_bulk(&[], &mut out);
    assert_eq!(out, [0; 3]);
}

#[test]
fn unused_fields_cost_nothing() {
    // Twenty fields, the rules touch only the last one: the walk must only
    // ever cut field 19 and the leaves only check it.
    let spec = FieldSpec::new(&[FieldKind::Port; 20]).unwrap();
    let rules: Vec<Rule> = (0..200u32)
        .map(|i| {
            let mut f = vec![Match::Any; 20];
            f[19] = Match::Range {
                lo: i * 100,
                hi: i * 100 + 150,
            };
            Rule::new(f, i)
        })
        .collect();
    let c = Classifier::build(&spec, &rules).unwrap();
    let lin = Linear::new(&spec, &rules).unwrap();
    for k in (0..20_000).step_by(7) {
        let mut key = [0xdead; 20];
        key[19] = k;
        assert_eq!(c.classify(&key), lin.classify(&key), "{k}");
    }
    let st = c.stats();
    assert!(
        st.field_cuts[19] > 0 && st.field_cuts[..19].iter().all(|&n| n == 0),
        "{st:?}"
    );
    assert!(st.field_checks[..19].iter().all(|&n| n == 0), "{st:?}");
}
