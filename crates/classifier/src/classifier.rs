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
//! A leaf is a short list of rules in priority order, each with only the
//! field checks the tree has not already settled:
//! `[n, (rule, checks, (field, m, lo, span) × checks) × n]`; a rule matches
//! when every check `(key[field] & m).wrapping_sub(lo) <= span` holds.

use crate::build::BuildStats;
use crate::{NO_MATCH, burst_len};

/// Bit of a table entry marking a terminal.
pub(crate) const TERM: u64 = 1 << 47;
/// Bit of a terminal marking a leaf offset (else a rule index).
pub(crate) const LEAF: u64 = 1 << 32;
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
#[inline]
fn scan(w: &[u32], mut at: usize, key: &[u32], best: u32) -> u32 {
    let n = w[at];
    at += 1;
    for _ in 0..n {
        let (rule, checks) = (w[at], w[at + 1] as usize);
        if rule >= best {
            return best;
        }
        let end = at + 2 + 4 * checks;
        let mut ok = true;
        for c in w[at + 2..end].chunks_exact(4) {
            ok &= (key[c[0] as usize] & c[1]).wrapping_sub(c[2]) <= c[3];
        }
        if ok {
            return rule;
        }
        at = end;
    }
    best
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
            let mut at = e as u32 as usize + 1;
            for _ in 0..w[at - 1] {
                let (rule, checks) = (w[at], w[at + 1] as usize);
                if rule >= best {
                    break;
                }
                cost.rules += 1;
                cost.checks += checks as u32;
                let ok = w[at + 2..at + 2 + 4 * checks]
                    .chunks_exact(4)
                    .all(|c| (key[c[0] as usize] & c[1]).wrapping_sub(c[2]) <= c[3]);
                if ok {
                    best = rule;
                    break;
                }
                at += 2 + 4 * checks;
            }
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
