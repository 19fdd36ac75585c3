//! Longest-prefix match for IPv4 and IPv6: the route lookup stage's table.
//!
//! [`Lpm4`] is DIR-24-8 (Gupta et al., INFOCOM '98; DPDK `rte_lpm`): one
//! memory access for routes up to /24, two for longer — and 99.9 % of a real
//! Internet table is /24 or shorter. [`Lpm6`] is the same trie with a 24-bit
//! root and 8-bit groups below it (DPDK's `rte_fib6` trie layout): a /48 (the
//! bulk of the IPv6 table sits in /28–/48) resolves in four accesses. A 16-bit
//! root cost 27.7 against 23.5 cycles per lookup on the real table; since
//! unwritten root chunks are shared (see the `dir` module), the 24-bit root
//! costs memory only where routes are (39 MiB for the full IPv6 table).
//!
//! The bulk lookups walk the batch level by level: every lookup's first load is
//! issued before any second load, so the loads of a batch overlap in the memory
//! system instead of queueing behind each other (what DPDK gets from
//! `rte_lpm_lookupx4` and prefetching). IPv4 also prefetches the batch's
//! root entries first: with a million flows each is a miss, and that took
//! random lookups from 62.9 to 50.3 cycles (best of four, loaded machine)
//! and 28.8 to 26.5 (quiet), with table-order lookups unchanged. The value
//! found is a next-hop id; 0 means no route.
//!
//! Both are stored in copy-on-write chunks so that a new version shares all
//! it did not change with the old one: an update copies hundreds of KiB, not
//! the 64 MiB root. Measured against a flat root in the same run, that costs
//! about 1.5 cycles per lookup on random addresses (13 → 14.5) and nothing
//! visible on addresses in table order.
//!
//! Lookups run on published, immutable tables. Changes go through
//! [`Lpm4Builder`]/[`Lpm6Builder`], which keep every route and produce a new
//! table: from scratch, or as a copy of the old one with only the changed
//! prefixes re-rendered.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::dir::{Chunk, Dir, EXT, ROOT_CHUNKS};
use crate::prefix::{Ipv4Prefix, Ipv6Prefix};
use crate::rules::Rules;

/// Next-hop id meaning "no route".
pub const NO_ROUTE: u32 = 0;
/// Largest next-hop id an LPM can store (31 bits; the top bit marks groups).
pub const MAX_NEXT_HOP: u32 = EXT - 1;

/// IPv4 longest-prefix-match table (DIR-24-8).
#[derive(Debug, Clone, Default)]
pub struct Lpm4 {
    dir: Dir,
    routes: usize,
}

/// IPv6 longest-prefix-match table (24-bit root, 8-bit groups).
#[derive(Debug, Clone, Default)]
pub struct Lpm6 {
    dir: Dir,
    routes: usize,
}

impl Lpm4 {
    /// Bytes of lookup memory this table does not share with `other`: what
    /// publishing it cost over `other` (an update copies only the chunks it
    /// writes).
    pub fn unshared_bytes(&self, other: &Lpm4) -> usize {
        self.dir.unshared_bytes(&other.dir)
    }

    /// Next-hop id for `addr`, or [`NO_ROUTE`].
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> u32 {
        self.lookup_bits(addr.to_bits())
    }

    /// As [`Lpm4::lookup`] for an address given as bits.
    #[inline]
    pub fn lookup_bits(&self, a: u32) -> u32 {
        let e = root_entry(&self.dir.root, a >> 8);
        if e & EXT == 0 {
            e
        } else {
            group_entry(&self.dir.groups, e, (a & 0xff) as u8)
        }
    }

    /// Look up `addrs` (as bits) into `out`, which must be at least as long.
    ///
    /// # Panics
    /// If `out` is shorter than `addrs`.
    #[inline]
    pub fn lookup_bulk(&self, addrs: &[u32], out: &mut [u32]) {
        let out = &mut out[..addrs.len()];
        let root = &self.dir.root;
        // With many flows every root entry is a cache (and TLB) miss: ask
        // for all of the burst's lines before the loads that wait for them,
        // so the misses overlap instead of queueing behind the ROB.
        for &a in addrs {
            orbital_cpu::prefetch(root_entry_ref(root, a >> 8));
        }
        for (o, &a) in out.iter_mut().zip(addrs) {
            *o = root_entry(root, a >> 8);
        }
        for (o, &a) in out.iter_mut().zip(addrs) {
            if *o & EXT != 0 {
                *o = group_entry(&self.dir.groups, *o, (a & 0xff) as u8);
            }
        }
    }

    /// Routes in the table.
    pub fn route_count(&self) -> usize {
        self.routes
    }

    /// Bytes of lookup memory: distinct 256 KiB chunks of root and groups.
    pub fn memory_bytes(&self) -> usize {
        self.dir.memory_bytes()
    }

    /// Groups (tbl8s) in use.
    pub fn groups(&self) -> usize {
        self.dir.groups_in_use()
    }
}

impl Lpm6 {
    /// Bytes of lookup memory this table does not share with `other`: what
    /// publishing it cost over `other` (an update copies only the chunks it
    /// writes).
    pub fn unshared_bytes(&self, other: &Lpm6) -> usize {
        self.dir.unshared_bytes(&other.dir)
    }

    /// Next-hop id for `addr`, or [`NO_ROUTE`].
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> u32 {
        self.lookup_bits(addr.to_bits())
    }

    /// As [`Lpm6::lookup`] for an address given as bits.
    #[inline]
    pub fn lookup_bits(&self, a: u128) -> u32 {
        let mut e = root_entry(&self.dir.root, (a >> 104) as u32);
        let mut byte = 13;
        while e & EXT != 0 && byte > 0 {
            byte -= 1;
            e = group_entry(&self.dir.groups, e, a.to_le_bytes()[byte]);
        }
        e
    }

    /// Look up `addrs` into `out`, level by level across the batch.
    ///
    /// Walking every lookup to its end one at a time took 31 cycles/lookup
    /// against 23 level by level (`orbital bench lpm --family ipv6`, same
    /// run). Each level takes its byte with a constant-half shift (see
    /// `level`): 70 instead of 80 instructions per lookup on the real table
    /// (callgrind), with the same branch mispredictions. A branch-free
    /// level (a dummy load for finished lookups) or a gathered list of
    /// unfinished ones cut mispredictions threefold but cost 89 and 93
    /// instructions, and timed no better.
    ///
    /// # Panics
    /// If `out` is shorter than `addrs`.
    pub fn lookup_bulk(&self, addrs: &[u128], out: &mut [u32]) {
        let out = &mut out[..addrs.len()];
        let root = &self.dir.root;
        let mut seen = 0;
        for (o, &a) in out.iter_mut().zip(addrs) {
            *o = root_entry(root, (a >> 104) as u32);
            seen |= *o;
        }
        // Bits 103..96, then each byte below, follow the 24-bit root.
        let mut shift = 104;
        while seen & EXT != 0 && shift > 0 {
            shift -= 8;
            seen = if shift >= 64 {
                self.level::<true>(addrs, out, shift - 64)
            } else {
                self.level::<false>(addrs, out, shift)
            };
        }
    }

    /// One level of [`Lpm6::lookup_bulk`]: every lookup still at a group
    /// takes the byte at `shift` of the address's high (`HIGH`) or low half.
    /// The half is a constant so the byte is one load and one shift (from
    /// the `u128`, a variable shift is several instructions, and indexing its
    /// bytes went through the stack). Returns the OR of the entries written,
    /// whose top bit says whether any lookup goes on.
    #[inline(always)]
    fn level<const HIGH: bool>(&self, addrs: &[u128], out: &mut [u32], shift: u32) -> u32 {
        let groups = &self.dir.groups[..];
        let mut seen = 0;
        for (o, &a) in out.iter_mut().zip(addrs) {
            if *o & EXT != 0 {
                let half = if HIGH { (a >> 64) as u64 } else { a as u64 };
                *o = group_entry(groups, *o, (half >> shift) as u8);
                seen |= *o;
            }
        }
        seen
    }

    /// Routes in the table.
    pub fn route_count(&self) -> usize {
        self.routes
    }

    /// Bytes of lookup memory: distinct 256 KiB chunks of root and groups.
    pub fn memory_bytes(&self) -> usize {
        self.dir.memory_bytes()
    }

    /// Groups in use.
    pub fn groups(&self) -> usize {
        self.dir.groups_in_use()
    }
}

/// Root entry `i` (24 bits). Chunk and offset come from fixed-size arrays
/// indexed by masked values, so the compiler drops both bounds checks.
#[inline(always)]
fn root_entry(root: &[std::sync::Arc<Chunk>; ROOT_CHUNKS], i: u32) -> u32 {
    root[((i >> 16) & 0xff) as usize][(i & 0xffff) as usize]
}

/// Where root entry `i` is, for a prefetch.
#[inline(always)]
fn root_entry_ref(root: &[std::sync::Arc<Chunk>; ROOT_CHUNKS], i: u32) -> &u32 {
    &root[((i >> 16) & 0xff) as usize][(i & 0xffff) as usize]
}

/// Entry `byte` of the group an extended entry `e` points at.
#[inline(always)]
fn group_entry(groups: &[std::sync::Arc<Chunk>], e: u32, byte: u8) -> u32 {
    let g = (e & !EXT) as usize;
    groups[g >> 8][((g & 0xff) << 8) | usize::from(byte)]
}

/// The IPv4 rule store that builds [`Lpm4`] tables.
///
/// Collecting or extending it from many routes at once
/// (`FromIterator`/`Extend`) sorts them and bulk-loads the store: faster
/// than inserting one by one, and about half the memory.
#[derive(Debug, Clone, Default)]
pub struct Lpm4Builder {
    rules: Rules<u32>,
}

/// The IPv6 rule store that builds [`Lpm6`] tables (see [`Lpm4Builder`]).
#[derive(Debug, Clone, Default)]
pub struct Lpm6Builder {
    rules: Rules<[u8; 16]>,
}

/// Sort `routes` by (address, length) and keep the last of each prefix, as
/// inserting them in turn would.
fn sorted_last_wins<P: Ord + Copy>(routes: impl IntoIterator<Item = (P, u32)>) -> Vec<(P, u32)> {
    let mut v: Vec<(P, u32)> = routes.into_iter().collect();
    // Stable: equal prefixes stay in insertion order, so the last is last.
    v.sort_by_key(|&(p, _)| p);
    let mut out: Vec<(P, u32)> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(last) if last.0 == r.0 => *last = r,
            _ => out.push(r),
        }
    }
    out
}

fn check_next_hop(next_hop: u32) {
    assert!(
        next_hop != NO_ROUTE && next_hop <= MAX_NEXT_HOP,
        "bad next-hop id {next_hop}"
    );
}

impl Extend<(Ipv4Prefix, u32)> for Lpm4Builder {
    /// Insert every route, later ones replacing earlier ones of the same
    /// prefix.
    ///
    /// # Panics
    /// As [`Lpm4Builder::insert`].
    fn extend<I: IntoIterator<Item = (Ipv4Prefix, u32)>>(&mut self, routes: I) {
        let changes: Vec<_> = sorted_last_wins(routes)
            .into_iter()
            .map(|(p, nh)| {
                check_next_hop(nh);
                (key4(&p), p.len(), Some(nh))
            })
            .collect();
        self.rules.apply(&changes);
    }
}

impl FromIterator<(Ipv4Prefix, u32)> for Lpm4Builder {
    fn from_iter<I: IntoIterator<Item = (Ipv4Prefix, u32)>>(routes: I) -> Self {
        let mut b = Lpm4Builder::new();
        b.extend(routes);
        b
    }
}

impl Extend<(Ipv6Prefix, u32)> for Lpm6Builder {
    /// Insert every route, later ones replacing earlier ones of the same
    /// prefix.
    ///
    /// # Panics
    /// As [`Lpm6Builder::insert`].
    fn extend<I: IntoIterator<Item = (Ipv6Prefix, u32)>>(&mut self, routes: I) {
        let changes: Vec<_> = sorted_last_wins(routes)
            .into_iter()
            .map(|(p, nh)| {
                check_next_hop(nh);
                (p.bits(), p.len(), Some(nh))
            })
            .collect();
        self.rules.apply(&changes);
    }
}

impl FromIterator<(Ipv6Prefix, u32)> for Lpm6Builder {
    fn from_iter<I: IntoIterator<Item = (Ipv6Prefix, u32)>>(routes: I) -> Self {
        let mut b = Lpm6Builder::new();
        b.extend(routes);
        b
    }
}

fn key4(p: &Ipv4Prefix) -> u128 {
    u128::from(p.bits()) << 96
}

impl Lpm4Builder {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a route; returns the next hop it replaced.
    ///
    /// # Panics
    /// If `next_hop` is [`NO_ROUTE`] or above [`MAX_NEXT_HOP`].
    pub fn insert(&mut self, prefix: Ipv4Prefix, next_hop: u32) -> Option<u32> {
        check_next_hop(next_hop);
        self.rules.insert(key4(&prefix), prefix.len(), next_hop)
    }

    /// Set (`Some`) or remove (`None`) the route of each prefix; `changes`
    /// is sorted by prefix with no prefix twice.
    pub(crate) fn apply_sorted(&mut self, changes: &[(Ipv4Prefix, Option<u32>)]) {
        let changes: Vec<_> = changes
            .iter()
            .map(|&(p, nh)| {
                if let Some(nh) = nh {
                    check_next_hop(nh);
                }
                (key4(&p), p.len(), nh)
            })
            .collect();
        self.rules.apply(&changes);
    }

    /// Remove a route; returns its next hop if it existed.
    pub fn remove(&mut self, prefix: Ipv4Prefix) -> Option<u32> {
        self.rules.remove(key4(&prefix), prefix.len())
    }

    /// The next hop of exactly this prefix, if routed.
    pub fn get(&self, prefix: Ipv4Prefix) -> Option<u32> {
        self.rules.get(key4(&prefix), prefix.len())
    }

    /// Every route, ordered by address then length.
    pub fn routes(&self) -> impl Iterator<Item = (Ipv4Prefix, u32)> + '_ {
        self.rules.iter().map(|(k, l, nh)| {
            (
                Ipv4Prefix::truncating(Ipv4Addr::from_bits((k >> 96) as u32), l),
                nh,
            )
        })
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True with no routes.
    pub fn is_empty(&self) -> bool {
        self.rules.len() == 0
    }

    /// Build a table from every route.
    pub fn build(&self) -> Lpm4 {
        Lpm4 {
            dir: self.rules.render(),
            routes: self.rules.len(),
        }
    }

    /// A copy of `base` with the ranges of `changed` prefixes re-rendered from
    /// the store. `base` must have been built from this store before those
    /// changes.
    pub fn update(&self, base: &Lpm4, changed: &[Ipv4Prefix]) -> Lpm4 {
        let mut dir = base.dir.clone();
        for p in changed {
            self.rules.rerender(&mut dir, key4(p), p.len());
        }
        Lpm4 {
            dir,
            routes: self.rules.len(),
        }
    }
}

impl Lpm6Builder {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a route; returns the next hop it replaced.
    ///
    /// # Panics
    /// If `next_hop` is [`NO_ROUTE`] or above [`MAX_NEXT_HOP`].
    pub fn insert(&mut self, prefix: Ipv6Prefix, next_hop: u32) -> Option<u32> {
        check_next_hop(next_hop);
        self.rules.insert(prefix.bits(), prefix.len(), next_hop)
    }

    /// As [`Lpm4Builder::apply_sorted`].
    pub(crate) fn apply_sorted(&mut self, changes: &[(Ipv6Prefix, Option<u32>)]) {
        let changes: Vec<_> = changes
            .iter()
            .map(|&(p, nh)| {
                if let Some(nh) = nh {
                    check_next_hop(nh);
                }
                (p.bits(), p.len(), nh)
            })
            .collect();
        self.rules.apply(&changes);
    }

    /// Remove a route; returns its next hop if it existed.
    pub fn remove(&mut self, prefix: Ipv6Prefix) -> Option<u32> {
        self.rules.remove(prefix.bits(), prefix.len())
    }

    /// The next hop of exactly this prefix, if routed.
    pub fn get(&self, prefix: Ipv6Prefix) -> Option<u32> {
        self.rules.get(prefix.bits(), prefix.len())
    }

    /// Every route, ordered by address then length.
    pub fn routes(&self) -> impl Iterator<Item = (Ipv6Prefix, u32)> + '_ {
        self.rules
            .iter()
            .map(|(k, l, nh)| (Ipv6Prefix::truncating(Ipv6Addr::from_bits(k), l), nh))
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True with no routes.
    pub fn is_empty(&self) -> bool {
        self.rules.len() == 0
    }

    /// Build a table from every route.
    pub fn build(&self) -> Lpm6 {
        Lpm6 {
            dir: self.rules.render(),
            routes: self.rules.len(),
        }
    }

    /// A copy of `base` with the ranges of `changed` prefixes re-rendered.
    pub fn update(&self, base: &Lpm6, changed: &[Ipv6Prefix]) -> Lpm6 {
        let mut dir = base.dir.clone();
        for p in changed {
            self.rules.rerender(&mut dir, p.bits(), p.len());
        }
        Lpm6 {
            dir,
            routes: self.rules.len(),
        }
    }
}

// Keep the reference lookup reachable for tests of the specialised ones.
#[cfg(test)]
impl Lpm4 {
    fn reference(&self, a: u32) -> u32 {
        self.dir.lookup(u128::from(a) << 96)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p4(s: &str) -> Ipv4Prefix {
        s.parse().unwrap()
    }

    fn p6(s: &str) -> Ipv6Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_longest_match_wins() {
        let mut b = Lpm4Builder::new();
        b.insert(p4("0.0.0.0/0"), 1);
        b.insert(p4("10.0.0.0/8"), 2);
        b.insert(p4("10.1.0.0/16"), 3);
        b.insert(p4("10.1.2.0/24"), 4);
        b.insert(p4("10.1.2.128/25"), 5);
        b.insert(p4("10.1.2.129/32"), 6);
        let t = b.build();
        let at = |s: &str| t.lookup(s.parse().unwrap());
        assert_eq!(at("192.0.2.1"), 1);
        assert_eq!(at("10.200.0.1"), 2);
        assert_eq!(at("10.1.9.9"), 3);
        assert_eq!(at("10.1.2.1"), 4);
        assert_eq!(at("10.1.2.130"), 5);
        assert_eq!(at("10.1.2.129"), 6);
        assert_eq!(t.groups(), 1);
        assert_eq!(t.reference(0x0a01_0281), 6);
        let addrs: Vec<u32> = ["10.1.2.129", "10.1.2.1", "8.8.8.8"]
            .iter()
            .map(|s| s.parse::<Ipv4Addr>().unwrap().to_bits())
            .collect();
        let mut out = [0; 3];
        t.lookup_bulk(&addrs, &mut out);
        assert_eq!(out, [6, 4, 1]);
    }

    #[test]
    fn ipv4_update_matches_rebuild_and_frees_groups() {
        let mut b = Lpm4Builder::new();
        b.insert(p4("10.0.0.0/8"), 2);
        b.insert(p4("10.1.2.128/25"), 5);
        let v1 = b.build();
        b.remove(p4("10.1.2.128/25"));
        b.insert(p4("10.1.0.0/16"), 7);
        let v2 = b.update(&v1, &[p4("10.1.2.128/25"), p4("10.1.0.0/16")]);
        assert_eq!(
            v1.lookup("10.1.2.200".parse().unwrap()),
            5,
            "the old version is untouched"
        );
        assert_eq!(v2.lookup("10.1.2.200".parse().unwrap()), 7);
        assert_eq!(v2.groups(), 0);
        b.remove(p4("10.0.0.0/8"));
        let v3 = b.update(&v2, &[p4("10.0.0.0/8")]);
        assert_eq!(v3.lookup("10.9.0.0".parse().unwrap()), NO_ROUTE);
        assert_eq!(v3.lookup("10.1.0.1".parse().unwrap()), 7);
    }

    #[test]
    fn ipv6_longest_match_wins() {
        let mut b = Lpm6Builder::new();
        b.insert(p6("::/0"), 1);
        b.insert(p6("2001:db8::/32"), 2);
        b.insert(p6("2001:db8:1::/48"), 3);
        b.insert(p6("2001:db8:1:2::/64"), 4);
        b.insert(p6("2001:db8:1:2::1/128"), 5);
        b.insert(p6("2001:db0::/28"), 6);
        let t = b.build();
        let at = |s: &str| t.lookup(s.parse().unwrap());
        assert_eq!(at("2a00::1"), 1);
        assert_eq!(at("2001:db8:ffff::1"), 2);
        assert_eq!(at("2001:db8:1:ffff::1"), 3);
        assert_eq!(at("2001:db8:1:2::2"), 4);
        assert_eq!(at("2001:db8:1:2::1"), 5);
        assert_eq!(at("2001:db3::1"), 6);
        let addrs: Vec<u128> = ["2001:db8:1:2::1", "2a00::1", "2001:db8:1:2::2"]
            .iter()
            .map(|s| s.parse::<Ipv6Addr>().unwrap().to_bits())
            .collect();
        let mut out = [0; 3];
        t.lookup_bulk(&addrs, &mut out);
        assert_eq!(out, [5, 1, 4]);
    }

    /// Bulk lookups of every burst length, with lookups ending at every
    /// depth in one burst, give what single lookups give.
    #[test]
    fn bulk_lookups_of_any_burst_agree_with_single_ones() {
        let mut b6 = Lpm6Builder::new();
        let mut b4 = Lpm4Builder::new();
        for len in (0..=128u8).step_by(4) {
            let a = 0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | (u128::from(len) << 40);
            b6.insert(Ipv6Prefix::truncating(a.into(), len), u32::from(len) + 1);
            if len <= 32 {
                let a = 0x0a00_0000u32 | (u32::from(len) << 4);
                b4.insert(Ipv4Prefix::truncating(a.into(), len), u32::from(len) + 1);
            }
        }
        let (t4, t6) = (b4.build(), b6.build());
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let a6: Vec<u128> = (0..200)
            .map(|_| {
                0x2001_0db8u128 << 96
                    | (u128::from(next()) << 40 & (0xff << 40))
                    | u128::from(next() % 4)
            })
            .collect();
        let a4: Vec<u32> = (0..200)
            .map(|_| 0x0a00_0000 | (next() as u32 & 0x3ff))
            .collect();
        for burst in [1, 2, 3, 63, 64, 65, 128, 200] {
            let mut out = vec![0; burst];
            for c in a6.chunks(burst) {
                t6.lookup_bulk(c, &mut out);
                for (a, got) in c.iter().zip(&out) {
                    assert_eq!(*got, t6.lookup_bits(*a), "burst {burst}");
                }
            }
            for c in a4.chunks(burst) {
                t4.lookup_bulk(c, &mut out);
                for (a, got) in c.iter().zip(&out) {
                    assert_eq!(*got, t4.lookup_bits(*a), "burst {burst}");
                }
            }
        }
    }
}
