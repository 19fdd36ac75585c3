//! An LPM's rules: every prefix with the next-hop id it maps to, in address
//! order, from which the trie in `dir` is rendered. It holds ids, not routes
//! (what a route was configured as lives in `tables`); it is kept beside the
//! compiled trie so that an update re-renders only the range of the prefixes
//! it changed, from the covering rule and the rules inside (STYLE: rule store
//! apart from lookup structure; DPDK keeps its `rules_tbl` beside `tbl24` for
//! the same reason).
//!
//! # Memory
//! A full table is a million rules, so the key is stored at its family's
//! width ([`RuleKey`]): `(u32, u8)` for IPv4 and `([u8; 16], u8)` for IPv6
//! rather than `(u128, u8)`, whose 16-byte alignment made every IPv4 key 32
//! bytes. Large change sets are merged and bulk-loaded ([`Rules::apply`]),
//! which fills B-tree nodes completely where one-at-a-time ascending inserts
//! leave them half empty: 13 bytes per IPv4 rule against 72 before.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::dir::Dir;

/// A network address as a rule store keeps it; all arithmetic is done on the
/// left-aligned `u128` form.
pub(crate) trait RuleKey: Copy + Ord + std::fmt::Debug {
    /// From the left-aligned form.
    fn from_bits(k: u128) -> Self;
    /// To the left-aligned form.
    fn bits(self) -> u128;
}

impl RuleKey for u32 {
    #[inline]
    fn from_bits(k: u128) -> Self {
        (k >> 96) as u32
    }
    #[inline]
    fn bits(self) -> u128 {
        u128::from(self) << 96
    }
}

/// Big-endian bytes keep the numeric order at alignment 1.
impl RuleKey for [u8; 16] {
    #[inline]
    fn from_bits(k: u128) -> Self {
        k.to_be_bytes()
    }
    #[inline]
    fn bits(self) -> u128 {
        u128::from_be_bytes(self)
    }
}

/// Rules keyed by network address and length, each with the next-hop id the
/// trie stores. Keys are given and returned left-aligned in a `u128`.
#[derive(Debug, Clone)]
pub(crate) struct Rules<K> {
    routes: BTreeMap<(K, u8), u32>,
}

impl<K> Default for Rules<K> {
    fn default() -> Self {
        Rules {
            routes: BTreeMap::new(),
        }
    }
}

/// Above this many changes [`Rules::apply`] rebuilds the map in one pass.
const BULK_LIMIT: usize = 4096;

#[inline]
pub(crate) const fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

impl<K: RuleKey> Rules<K> {
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    pub(crate) fn get(&self, key: u128, len: u8) -> Option<u32> {
        self.routes.get(&(K::from_bits(key), len)).copied()
    }

    pub(crate) fn insert(&mut self, key: u128, len: u8, nh: u32) -> Option<u32> {
        self.routes.insert((K::from_bits(key), len), nh)
    }

    pub(crate) fn remove(&mut self, key: u128, len: u8) -> Option<u32> {
        self.routes.remove(&(K::from_bits(key), len))
    }

    /// Every rule in (address, length) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u128, u8, u32)> + '_ {
        self.routes.iter().map(|(&(k, l), &v)| (k.bits(), l, v))
    }

    /// Set (`Some`) or remove (`None`) each rule of `changes`, which must be
    /// sorted by (address, length) with no key twice. Many changes are
    /// merged with the rules in one ordered pass and bulk-loaded, which is
    /// faster than as many inserts and packs the nodes full.
    pub(crate) fn apply(&mut self, changes: &[(u128, u8, Option<u32>)]) {
        debug_assert!(
            changes
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1))
        );
        if changes.len() <= BULK_LIMIT {
            for &(k, l, nh) in changes {
                match nh {
                    Some(nh) => self.insert(k, l, nh),
                    None => self.remove(k, l),
                };
            }
            return;
        }
        let old = std::mem::take(&mut self.routes);
        let mut merged = Vec::with_capacity(old.len() + changes.len());
        let mut old = old.into_iter().peekable();
        let mut new = changes
            .iter()
            .map(|&(k, l, nh)| ((K::from_bits(k), l), nh))
            .peekable();
        loop {
            let (o, n) = match (old.peek(), new.peek()) {
                (Some(&o), Some(&n)) => (o, n),
                (Some(_), None) => {
                    merged.extend(old);
                    break;
                }
                (None, _) => {
                    merged.extend(new.filter_map(|(k, set)| set.map(|nh| (k, nh))));
                    break;
                }
            };
            match o.0.cmp(&n.0) {
                Ordering::Less => {
                    merged.push(o);
                    old.next();
                }
                ord => {
                    if ord == Ordering::Equal {
                        old.next();
                    }
                    if let Some(nh) = n.1 {
                        merged.push((n.0, nh));
                    }
                    new.next();
                }
            }
        }
        // Sorted input: `from_iter`'s sort finds one run, then it bulk-loads.
        self.routes = merged.into_iter().collect();
    }

    /// Longest rule strictly shorter than `len` covering `key/len`.
    fn covering(&self, key: u128, len: u8) -> u32 {
        (0..len)
            .rev()
            .find_map(|l| self.get(key & mask(l), l))
            .unwrap_or(0)
    }

    /// Rules strictly inside `key/len`, in (address, length) order: a rule
    /// comes before every rule it covers, so painting in this order leaves
    /// the longest match everywhere.
    fn inside(&self, key: u128, len: u8) -> impl Iterator<Item = (u128, u8, u32)> + '_ {
        let last = key | !mask(len);
        self.routes
            .range((K::from_bits(key), 0)..=(K::from_bits(last), u8::MAX))
            .filter(move |((_, l), _)| *l > len)
            .map(|(&(k, l), &nh)| (k.bits(), l, nh))
    }

    /// Build a trie from scratch, painting in (address, length) order: a
    /// covering rule is painted before the rules inside it, so no sort by
    /// length is needed.
    pub(crate) fn render(&self) -> Dir {
        let mut dir = Dir::new();
        for (k, l, nh) in self.iter() {
            dir.paint(k, u32::from(l), nh);
        }
        dir
    }

    /// Bring `dir` up to date for a change of rule `key/len` (added,
    /// removed, or given another next hop): repaint its range from the best
    /// covering rule, then the rules inside it.
    pub(crate) fn rerender(&self, dir: &mut Dir, key: u128, len: u8) {
        let base = self
            .get(key, len)
            .unwrap_or_else(|| self.covering(key, len));
        dir.paint(key, u32::from(len), base);
        for (k, l, nh) in self.inside(key, len) {
            dir.paint(k, u32::from(l), nh);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bulk merge gives what the same changes one by one give: sets,
    /// replacements, removals of present and absent keys, on both sides of
    /// every existing key.
    #[test]
    fn bulk_apply_matches_one_by_one() {
        let mut bulk: Rules<u32> = Rules::default();
        let mut one: Rules<u32> = Rules::default();
        let mut x = 0x9e37_79b9u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for round in 0..3 {
            let mut changes: Vec<(u128, u8, Option<u32>)> = (0..3 * BULK_LIMIT)
                .map(|_| {
                    let len = 16 + (next() % 9) as u8;
                    let key = (u128::from(next() & 0x00ff_ffff) << 96) & mask(len);
                    let nh = (next() % 3 != 0 || round == 0).then(|| next() % 1000 + 1);
                    (key, len, nh)
                })
                .collect();
            changes.sort_by_key(|&(k, l, _)| (k, l));
            changes.dedup_by_key(|c| (c.0, c.1));
            bulk.apply(&changes);
            for &(k, l, nh) in &changes {
                match nh {
                    Some(nh) => one.insert(k, l, nh),
                    None => one.remove(k, l),
                };
            }
            assert!(bulk.iter().eq(one.iter()), "round {round}");
        }
        assert!(bulk.len() > BULK_LIMIT);
    }
}
