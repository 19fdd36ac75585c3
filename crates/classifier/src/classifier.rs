//! The compiled classifier and its lookups.
//!
//! # Layout
//! Every tree lives in one flat table of 64-bit entries. An entry is either
//! a node reference or a terminal:
//!
//! ```text
//!  63      48 47 46  40 39    32 31                0
//! +----------+--+------+--------+-------------------+
//! | cut mask |T | shift| field  | offset            |
//! +----------+--+------+--------+-------------------+
//! ```
//!
//! A node reference says how to pick the next entry:
//! `table[offset + ((key[field] >> shift) & mask)]`: the node's children are
//! `mask + 1` consecutive entries at `offset`, one per value of the cut
//! bits. Everything a step needs is in the reference itself, so each level
//! of the tree is one dependent load.
//!
//! A terminal (bit `T` set) ends the walk; its low 32 bits are a rule
//! index (the rule covers the whole region: no check left, [`NO_MATCH`] if
//! none does) or, with bit 32 set, the offset of a leaf in the leaf array.
//! Nothing else is loaded to learn the answer or where the leaf is, so the
//! burst lookup can prefetch every key's leaf before scanning any.
//!
//! A leaf is a short list of rules in priority order with the checks the
//! tree has not already settled, laid out for four fields at a time:
//!
//! ```text
//! n | blocks << 16, field[4 × blocks], then per rule:
//!     rule, then per block: m[4], lo[4], span[4] ^ 0x8000_0000
//! ```
//!
//! The `fields` are those some rule of the leaf still checks; a key's values
//! of them are gathered once per leaf, and each rule is then four lanes of
//! `(key & m).wrapping_sub(lo) <= span` per block, which the compiler turns
//! into a handful of SSE2 instructions (the span is stored with its sign bit
//! flipped because SSE2 only compares signed lanes). A lane a rule does not
//! need checks nothing (`m = 0, lo = 0, span = u32::MAX`).

use crate::build::BuildStats;
use crate::{NO_MATCH, burst_len};

/// Bit of a table entry marking a terminal.
pub(crate) const TERM: u64 = 1 << 47;
/// Bit of a terminal marking a leaf offset (else a rule index).
pub(crate) const LEAF: u64 = 1 << 32;
/// Field checks of a leaf rule evaluated together (one SSE2 register).
pub(crate) const LANES: usize = 4;
/// The sign bit, flipped to compare unsigned lanes with signed compares.
pub(crate) const SIGN: u32 = 0x8000_0000;
/// Keys stepped together by [`Classifier::classify_bulk`]: the burst size
/// of the pipeline, and small enough that the per-key state (one entry each)
/// stays in registers and L1.
const CHUNK: usize = 64;

/// Node reference for a cut of `bits` bits at `shift` of `field`, children
/// at `offset`.
pub(crate) fn node_ref(offset: u32, field: usize, shift: u8, bits: u8) -> u64 {
    debug_assert!(field < 256 && shift < 32 && (1..=16).contains(&bits));
    u64::from(offset)
        | ((field as u64) << 32)
        | (u64::from(shift) << 40)
        | (((1u64 << bits) - 1) << 48)
}

/// The work of one lookup, from [`Classifier::lookup_cost`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupCost {
    /// Trees searched (a tree whose rules all come after the match so far is
    /// skipped).
    pub trees: u32,
    /// Tree levels stepped, over all trees.
    pub steps: u32,
    /// Leaf rules checked.
    pub rules: u32,
    /// Field checks of those rules.
    pub checks: u32,
}

/// One tree: the rules of one partition (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tree {
    /// Entry the walk starts at.
    pub(crate) root: u64,
    /// Most steps from the root to a terminal.
    pub(crate) depth: u32,
    /// Smallest rule index in the tree: a key already matched by an earlier
    /// rule skips it.
    pub(crate) min_rule: u32,
    /// Rules in the tree (for the stats).
    pub(crate) rules: usize,
}

/// A compiled rule set: first-match classification of multi-field keys.
///
/// Built once per rule-set version by [`Classifier::build`], then read-only
/// (share it behind an `Arc`; publish a new one to change the rules).
#[derive(Debug, Clone)]
pub struct Classifier {
    pub(crate) fields: usize,
    pub(crate) table: Vec<u64>,
    pub(crate) leaves: Vec<u32>,
    /// Sorted by `min_rule`.
    pub(crate) trees: Vec<Tree>,
    pub(crate) values: Vec<u32>,
    pub(crate) stats: BuildStats,
}

/// First rule of the leaf at `at` that matches `key` and beats `best`
/// (else `best`).
#[inline(always)]
fn scan(w: &[u32], at: usize, key: &[u32], best: u32) -> u32 {
    let head = w[at];
    let (n, blocks) = ((head & 0xffff) as usize, (head >> 16) as usize);
    let stride = 1 + blocks * 3 * LANES;
    let leaf = &w[at + 1..at + 1 + blocks * LANES + n * stride];
    let (fields, rules) = leaf.split_at(blocks * LANES);
    if blocks == 1 {
        // The common case, a few fields: one gather, one block per rule.
        let kv: [u32; LANES] = std::array::from_fn(|l| key[fields[l] as usize]);
        for r in rules.chunks_exact(1 + 3 * LANES) {
            if r[0] >= best {
                return best;
            }
            if block_ok(&kv, &r[1..]) {
                return r[0];
            }
        }
        return best;
    }
    let mut kv = [0u32; crate::MAX_FIELDS.next_multiple_of(LANES)];
    for (v, &f) in kv.iter_mut().zip(fields) {
        *v = key[f as usize];
    }
    for r in rules.chunks_exact(stride) {
        if r[0] >= best {
            return best;
        }
        let ok = kv
            .chunks_exact(LANES)
            .zip(r[1..].chunks_exact(3 * LANES))
            .fold(true, |ok, (k, c)| {
                ok & block_ok(k.try_into().expect("4 lanes"), c)
            });
        if ok {
            return r[0];
        }
    }
    best
}

/// One block of a leaf rule: all four lanes pass. Written lane by lane
/// without short-circuits so that it compiles to one SSE2 compare.
#[inline(always)]
fn block_ok(kv: &[u32; LANES], c: &[u32]) -> bool {
    let c: &[u32; 3 * LANES] = c.try_into().expect("one block");
    let mut bad = 0u32;
    for l in 0..LANES {
        let x = (kv[l] & c[l]).wrapping_sub(c[LANES + l]) ^ SIGN;
        bad |= u32::from((x as i32) > (c[2 * LANES + l] as i32));
    }
    bad == 0
}

/// One step of the walk from entry `e` for the key at `keys[base..]`:
/// one bounds check for the key and one for the table.
#[inline(always)]
fn step_at(table: &[u64], keys: &[u32], base: usize, e: u64) -> u64 {
    let field = (e >> 32) as u8 as usize;
    let shift = (e >> 40) as u32 & 31;
    let mask = (e >> 48) as u32;
    let idx = e as u32 as usize + ((keys[base + field] >> shift) & mask) as usize;
    table[idx]
}

/// One step of the walk from entry `e` for `key`.
#[inline(always)]
fn step(table: &[u64], key: &[u32], e: u64) -> u64 {
    let field = (e >> 32) as u8 as usize;
    let shift = (e >> 40) as u32 & 31;
    let mask = (e >> 48) as u32;
    let idx = e as u32 as usize + ((key[field] >> shift) & mask) as usize;
    table[idx]
}

impl Classifier {
    /// Index of the first rule matching `key`, if any. Each key value is
    /// taken modulo `2^bits` of its field.
    ///
    /// # Panics
    /// If `key` is shorter than the field count.
    pub fn classify(&self, key: &[u32]) -> Option<u32> {
        let key = &key[..self.fields];
        let mut best = NO_MATCH;
        for t in &self.trees {
            if t.min_rule >= best {
                break;
            }
            let mut e = t.root;
            while e & TERM == 0 {
                e = step(&self.table, key, e);
            }
            best = if e & LEAF == 0 {
                (e as u32).min(best)
            } else {
                scan(&self.leaves, e as u32 as usize, key, best)
            };
        }
        (best != NO_MATCH).then_some(best)
    }

    /// Classify a burst: `keys` holds the keys end to end (stride = the field
    /// count); `out[i]` gets key `i`'s first matching rule, or [`NO_MATCH`].
    ///
    /// The keys are walked together, one tree level at a time across the
    /// whole burst, so the table loads of different keys are in flight at
    /// once instead of each waiting for the previous key's walk to finish.
    /// Nothing is allocated.
    ///
    /// # Panics
    /// If `keys.len()` is not a multiple of the field count, or `out` is
    /// shorter than the number of keys. With no fields, `out.len()` keys are
    /// classified.
    pub fn classify_bulk(&self, keys: &[u32], out: &mut [u32]) {
        let nf = self.fields;
        let n = burst_len(nf, keys.len(), out.len());
        let out = &mut out[..n];
        out.fill(NO_MATCH);
        if nf == 0 {
            if let Some(r) = self.classify(&[]) {
                out.fill(r);
            }
            return;
        }
        // Per-key arrays of 256 entries indexed by a `u8`: the compiler
        // proves every index in bounds, so the walk's inner loop has only
        // the two checks it needs (the key's field, the table entry).
        let mut state = [0u64; 256];
        let (mut live_a, mut live_b) = ([0u8; 256], [0u8; 256]);
        let table = &self.table[..];
        for (kc, oc) in keys.chunks(CHUNK * nf).zip(out.chunks_mut(CHUNK)) {
            for t in &self.trees {
                // Keys already matched by an earlier rule skip the tree; the
                // rest walk it together, the list of those still walking
                // rebuilt after every level (branch-free: each key is written
                // to the next list and the count advances only if it goes on).
                let (mut live, mut next) = (&mut live_a, &mut live_b);
                let mut n_live = 0usize;
                for (i, &o) in oc.iter().enumerate() {
                    state[usize::from(i as u8)] = t.root;
                    live[usize::from(n_live as u8)] = i as u8;
                    n_live += usize::from(t.min_rule < o);
                }
                if n_live == 0 {
                    continue;
                }
                if t.root & TERM == 0 {
                    while n_live > 0 {
                        let mut k = 0usize;
                        for &i in &live[..n_live] {
                            let i = usize::from(i);
                            let e = step_at(table, kc, i * nf, state[i]);
                            state[i] = e;
                            next[usize::from(k as u8)] = i as u8;
                            k += usize::from(e & TERM == 0);
                        }
                        n_live = k;
                        (live, next) = (next, live);
                    }
                }
                // Every key's leaf is known now: ask for all of them before
                // scanning any, so the scans find them in cache instead of
                // each waiting for its own miss. (Prefetching a rule index
                // as if it were an offset is harmless: a prefetch never faults.)
                for e in &state[..oc.len()] {
                    orbital_cpu::prefetch(self.leaves.as_ptr().wrapping_add(*e as u32 as usize));
                }
                for ((e, key), o) in state.iter().zip(kc.chunks_exact(nf)).zip(oc.iter_mut()) {
                    if t.min_rule < *o {
                        *o = if e & LEAF == 0 {
                            (*e as u32).min(*o)
                        } else {
                            scan(&self.leaves, *e as u32 as usize, key, *o)
                        };
                    }
                }
            }
        }
    }

    /// What looking up `key` costs: the work [`Classifier::classify`] does,
    /// counted (for benchmarks and for tuning [`BuildConfig`](crate::BuildConfig)
    /// on real rule sets and traffic).
    ///
    /// # Panics
    /// If `key` is shorter than the field count.
    pub fn lookup_cost(&self, key: &[u32]) -> LookupCost {
        let key = &key[..self.fields];
        let mut cost = LookupCost::default();
        let mut best = NO_MATCH;
        for t in &self.trees {
            if t.min_rule >= best {
                break;
            }
            cost.trees += 1;
            let mut e = t.root;
            while e & TERM == 0 {
                e = step(&self.table, key, e);
                cost.steps += 1;
            }
            if e & LEAF == 0 {
                best = best.min(e as u32);
                continue;
            }
            let w = &self.leaves;
            let at = e as u32 as usize;
            let found = scan(w, at, key, best);
            let (n, blocks) = ((w[at] & 0xffff) as usize, (w[at] >> 16) as usize);
            let stride = 1 + blocks * 3 * LANES;
            let rules = &w[at + 1 + blocks * LANES..][..n * stride];
            for r in rules.chunks_exact(stride) {
                if r[0] >= best || r[0] > found {
                    break;
                }
                cost.rules += 1;
                cost.checks += r[1..]
                    .chunks_exact(3 * LANES)
                    .flat_map(|b| b[..LANES].iter().zip(&b[2 * LANES..]))
                    .filter(|&(&m, &span)| m != 0 || span != u32::MAX ^ SIGN)
                    .count() as u32;
            }
            best = best.min(found);
        }
        cost
    }

    /// The caller's value of rule `rule` (as given in [`Rule::value`](crate::Rule)).
    ///
    /// # Panics
    /// If `rule` is not a rule index of this classifier.
    pub fn value(&self, rule: u32) -> u32 {
        self.values[rule as usize]
    }

    /// Number of fields of a key.
    pub fn fields(&self) -> usize {
        self.fields
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True with no rules.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes of lookup memory: the table, the leaves and the rule values.
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 8 + self.leaves.len() * 4 + self.values.len() * 4
    }

    /// What the build produced and how long it took.
    pub fn stats(&self) -> &BuildStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FieldKind, FieldSpec, Match, Rule};

    /// One rule on one field compiles to a root leaf: the exact words of the
    /// documented leaf layout, then the answers at the edges.
    fn one_rule_leaf(kind: FieldKind, m: Match) -> (Classifier, Vec<u32>) {
        let spec = FieldSpec::new(&[kind]).unwrap();
        let c = Classifier::build(&spec, &[Rule::new(vec![m], 42)]).unwrap();
        assert_eq!(c.trees.len(), 1);
        assert!(c.table.is_empty(), "no node for one rule");
        assert_eq!(c.trees[0].root, TERM | LEAF, "root is the leaf at offset 0");
        assert_eq!(c.value(0), 42);
        (c.clone(), c.leaves)
    }

    /// The leaf words for one rule checking field 0 with `(m, lo, span)`.
    fn leaf_words(m: u32, lo: u32, span: u32) -> Vec<u32> {
        let free = u32::MAX ^ SIGN;
        vec![
            1 | 1 << 16, // one rule, one block
            0,
            0,
            0,
            0, // fields: 0, then padding lanes reading field 0
            0, // rule 0
            m,
            0,
            0,
            0, // masks
            lo,
            0,
            0,
            0, // lows
            span ^ SIGN,
            free,
            free,
            free, // spans, sign-flipped
        ]
    }

    fn at(c: &Classifier, v: u32) -> Option<u32> {
        let single = c.classify(&[v]);
        let mut out = [7];
        c.classify_bulk(&[v], &mut out);
        assert_eq!(
            single.unwrap_or(NO_MATCH),
            out[0],
            "bulk and single agree at {v:#x}"
        );
        single
    }

    #[test]
    fn any_settles_the_root_without_a_check() {
        let spec = FieldSpec::new(&[FieldKind::Port, FieldKind::Protocol]).unwrap();
        let c = Classifier::build(&spec, &[Rule::new(vec![Match::Any; 2], 9)]).unwrap();
        assert_eq!(c.trees[0].root, TERM, "decided terminal for rule 0");
        assert!(c.table.is_empty() && c.leaves.is_empty());
        assert_eq!(c.classify(&[0xffff, 0xff]), Some(0));
        assert_eq!(c.memory_bytes(), 4, "one rule value");
    }

    #[test]
    fn range_leaf() {
        let (c, words) = one_rule_leaf(
            FieldKind::Port,
            Match::Range {
                lo: 1024,
                hi: 65535,
            },
        );
        assert_eq!(words, leaf_words(0xffff, 1024, 64511));
        assert_eq!(at(&c, 1023), None);
        assert_eq!(at(&c, 1024), Some(0));
        assert_eq!(at(&c, 65535), Some(0));
        // Taken modulo 2^16: 0x1_0400 is port 1024, 0x1_0000 is port 0.
        assert_eq!(at(&c, 0x1_0400), Some(0));
        assert_eq!(at(&c, 0x1_0000), None);
    }

    #[test]
    fn prefix_leaf() {
        let (c, words) = one_rule_leaf(
            FieldKind::Ipv4Addr,
            Match::Prefix {
                value: 0x0a00_0000,
                len: 8,
            },
        );
        assert_eq!(words, leaf_words(u32::MAX, 0x0a00_0000, 0x00ff_ffff));
        assert_eq!(at(&c, 0x09ff_ffff), None);
        assert_eq!(at(&c, 0x0a00_0000), Some(0));
        assert_eq!(at(&c, 0x0aff_ffff), Some(0));
        assert_eq!(at(&c, 0x0b00_0000), None);
    }

    #[test]
    fn mask_leaf() {
        // SYN set, ACK clear, the rest free.
        let (c, words) = one_rule_leaf(
            FieldKind::TcpFlags,
            Match::Mask {
                value: 0x002,
                mask: 0x012,
            },
        );
        assert_eq!(words, leaf_words(0x012, 0x002, 0));
        assert_eq!(at(&c, 0x002), Some(0));
        assert_eq!(at(&c, 0x0c2), Some(0), "other flags free");
        assert_eq!(at(&c, 0x012), None, "ACK set");
        assert_eq!(at(&c, 0x000), None, "SYN clear");
    }

    #[test]
    fn a_cut_then_leaves_and_first_match_across_them() {
        // Two exact ports and a wildcard after them, cut down to one rule a
        // leaf: the walk must end on the exact port's leaf or the wildcard.
        let spec = FieldSpec::new(&[FieldKind::Port]).unwrap();
        let rules = [
            Rule::new(vec![Match::Range { lo: 22, hi: 22 }], 1),
            Rule::new(vec![Match::Range { lo: 80, hi: 80 }], 2),
            Rule::new(vec![Match::Any], 3),
        ];
        let cfg = crate::BuildConfig {
            leaf_rules: 1,
            ..Default::default()
        };
        let c = Classifier::build_with(&spec, &rules, &cfg).unwrap();
        assert!(c.stats().nodes >= 1, "{:?}", c.stats());
        for (v, want) in [(22, 0), (80, 1), (21, 2), (23, 2), (0, 2), (65535, 2)] {
            assert_eq!(at(&c, v), Some(want), "port {v}");
        }
        let cost = c.lookup_cost(&[22]);
        assert!(cost.steps >= 1 && cost.rules <= 1, "{cost:?}");
    }
}
