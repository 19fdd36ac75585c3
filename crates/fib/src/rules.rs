//! An LPM's rules: every prefix with the next-hop id it maps to, in address
//! order, from which the trie in `dir` is rendered. It holds ids, not routes
//! (what a route was configured as lives in `tables`); it is kept beside the
//! compiled trie so that an update re-renders only the range of the prefixes
//! it changed, from the covering rule and the rules inside (STYLE: rule store
//! apart from lookup structure; DPDK keeps its `rules_tbl` beside `tbl24` for
//! the same reason).

use std::collections::BTreeMap;

use crate::dir::Dir;

/// Rules keyed by left-aligned `u128` network address and length, each with
/// the next-hop id the trie stores.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    routes: BTreeMap<(u128, u8), u32>,
}

#[inline]
pub(crate) const fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

impl Rules {
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    pub(crate) fn get(&self, key: u128, len: u8) -> Option<u32> {
        self.routes.get(&(key, len)).copied()
    }

    pub(crate) fn insert(&mut self, key: u128, len: u8, nh: u32) -> Option<u32> {
        self.routes.insert((key, len), nh)
    }

    pub(crate) fn remove(&mut self, key: u128, len: u8) -> Option<u32> {
        self.routes.remove(&(key, len))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u128, u8, u32)> + '_ {
        self.routes.iter().map(|(&(k, l), &v)| (k, l, v))
    }

    /// Longest rule strictly shorter than `len` covering `key/len`.
    fn covering(&self, key: u128, len: u8) -> u32 {
        (0..len)
            .rev()
            .find_map(|l| self.get(key & mask(l), l))
            .unwrap_or(0)
    }

    /// Rules strictly inside `key/len`, shortest first.
    fn inside(&self, key: u128, len: u8) -> Vec<(u128, u8, u32)> {
        let last = key | !mask(len);
        let mut v: Vec<_> = self
            .routes
            .range((key, 0)..=(last, u8::MAX))
            .filter(|((_, l), _)| *l > len)
            .map(|(&(k, l), &nh)| (k, l, nh))
            .collect();
        v.sort_by_key(|&(k, l, _)| (l, k));
        v
    }

    /// Build a trie from scratch.
    pub(crate) fn render(&self) -> Dir {
        let mut dir = Dir::new();
        let mut all: Vec<_> = self.iter().collect();
        all.sort_unstable_by_key(|&(k, l, _)| (l, k));
        for (k, l, nh) in all {
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
