//! The compiled NAT the snapshot carries: sorted, non-overlapping prefix
//! tables per family and direction (a binary search per lookup, whatever
//! the rule count), and per-worker counters.
//!
//! A policy change is a new compiled version published with the tables
//! (never edited in place), like the firewall's.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use orbital_fib::{IfId, IpPrefix};

use crate::rules::{NatRules, StaticNat};
use crate::translate::{Map4, Npt};

/// One worker's NAT counters, per rule (read by the API, written by the
/// worker alone: stores, not read-modify-writes).
#[derive(Debug)]
pub struct NatCounters {
    out: Box<[AtomicU64]>,
    inbound: Box<[AtomicU64]>,
    untranslatable: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl NatCounters {
    fn new(n: usize) -> NatCounters {
        NatCounters {
            out: (0..n).map(|_| AtomicU64::new(0)).collect(),
            inbound: (0..n).map(|_| AtomicU64::new(0)).collect(),
            untranslatable: AtomicU64::new(0),
        }
    }

    /// Count a source translation by rule `r` (inside → outside).
    #[inline]
    pub fn translated_out(&self, r: usize) {
        if let Some(c) = self.out.get(r) {
            bump(c);
        }
    }

    /// Count a destination translation by rule `r` (outside → inside).
    #[inline]
    pub fn translated_in(&self, r: usize) {
        if let Some(c) = self.inbound.get(r) {
            bump(c);
        }
    }

    /// Count a packet NPTv6 could not translate.
    #[inline]
    pub fn untranslatable(&self) {
        bump(&self.untranslatable);
    }

    /// Packets rule `r` translated on their way out, and on their way in.
    pub fn rule(&self, r: usize) -> (u64, u64) {
        (
            self.out.get(r).map_or(0, |c| c.load(Ordering::Relaxed)),
            self.inbound.get(r).map_or(0, |c| c.load(Ordering::Relaxed)),
        )
    }

    /// Packets NPTv6 could not translate.
    pub fn untranslatable_count(&self) -> u64 {
        self.untranslatable.load(Ordering::Relaxed)
    }
}

/// A sorted table of non-overlapping prefix translations.
#[derive(Debug, Clone)]
struct Table<M> {
    /// (translation, outside interface, rule), sorted by `from`.
    maps: Vec<(M, IfId, u16)>,
}

impl<M> Default for Table<M> {
    fn default() -> Self {
        Table { maps: Vec::new() }
    }
}

trait Prefixed: Copy {
    type Addr: Copy + Ord;
    fn from(&self) -> Self::Addr;
    fn has(&self, a: Self::Addr) -> bool;
}

impl Prefixed for Map4 {
    type Addr = u32;
    fn from(&self) -> u32 {
        self.from
    }
    fn has(&self, a: u32) -> bool {
        self.contains(a)
    }
}

impl Prefixed for Npt {
    type Addr = u128;
    fn from(&self) -> u128 {
        self.from
    }
    fn has(&self, a: u128) -> bool {
        self.contains(a)
    }
}

impl<M: Prefixed> Table<M> {
    fn sorted(mut maps: Vec<(M, IfId, u16)>) -> Table<M> {
        maps.sort_by_key(|m| m.0.from());
        Table { maps }
    }

    /// The translation whose prefix holds `a`: the last one starting at or
    /// below it is the only candidate (prefixes do not overlap).
    #[inline]
    fn find(&self, a: M::Addr) -> Option<&(M, IfId, u16)> {
        if self.maps.is_empty() {
            return None;
        }
        let i = self.maps.partition_point(|m| m.0.from() <= a);
        let m = self.maps.get(i.checked_sub(1)?)?;
        m.0.has(a).then_some(m)
    }
}

/// Why a NAT configuration does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatError {
    /// The static rule at fault (0-based).
    pub rule: usize,
    /// What is wrong.
    pub message: String,
}

/// The compiled NAT.
#[derive(Debug, Default)]
pub struct NatPolicy {
    /// The rules it was compiled from (for display).
    pub rules: NatRules,
    v4_out: Table<Map4>,
    v4_in: Table<Map4>,
    v6_out: Table<Npt>,
    v6_in: Table<Npt>,
    /// Per worker.
    pub counters: Vec<Arc<NatCounters>>,
}

fn overlaps(a: &IpPrefix, b: &IpPrefix) -> bool {
    a.contains(b.addr()) || b.contains(a.addr())
}

fn v4_bits(p: &IpPrefix) -> u32 {
    match p.addr() {
        IpAddr::V4(a) => a.to_bits(),
        IpAddr::V6(_) => 0,
    }
}

fn v6_bits(p: &IpPrefix) -> u128 {
    match p.addr() {
        IpAddr::V6(a) => a.to_bits(),
        IpAddr::V4(_) => 0,
    }
}

impl NatPolicy {
    /// Compile `rules` for `workers` workers.
    ///
    /// # Errors
    /// A rule whose prefixes differ in family or length, an NPTv6 prefix
    /// longer than /64 (RFC 6296 §3.5 leaves no word to adjust), or
    /// prefixes overlapping another rule's (a packet would have two
    /// translations) or the rule's own other side.
    pub fn compile(rules: &NatRules, workers: usize) -> Result<NatPolicy, NatError> {
        let err = |rule, message: String| Err(NatError { rule, message });
        let (mut o4, mut i4, mut o6, mut i6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (r, s) in rules.statics.iter().enumerate() {
            let StaticNat {
                inside,
                outside,
                iface,
                ..
            } = s;
            if matches!(inside, IpPrefix::V4(_)) != matches!(outside, IpPrefix::V4(_)) {
                return err(
                    r,
                    format!("inside {inside} and outside {outside} are of different families"),
                );
            }
            if inside.len() != outside.len() {
                return err(
                    r,
                    format!(
                        "inside {inside} and outside {outside} differ in length: a prefix translation keeps the host bits, so both need the same length"
                    ),
                );
            }
            if overlaps(inside, outside) {
                return err(r, format!("inside {inside} overlaps outside {outside}"));
            }
            for (q, t) in rules.statics.iter().enumerate().take(r) {
                for (a, b, what) in [
                    (inside, &t.inside, "inside"),
                    (outside, &t.outside, "outside"),
                    (inside, &t.outside, "outside"),
                    (outside, &t.inside, "inside"),
                ] {
                    if overlaps(a, b) {
                        return err(
                            r,
                            format!(
                                "{a} overlaps {b}, the {what} prefix of static NAT rule {} (a packet would have two translations)",
                                q + 1
                            ),
                        );
                    }
                }
            }
            let tag = u16::try_from(r).map_err(|_| NatError {
                rule: r,
                message: "too many static NAT rules (65,535 at most)".into(),
            })?;
            match inside {
                IpPrefix::V4(_) => {
                    let m = Map4 {
                        from: v4_bits(inside),
                        to: v4_bits(outside),
                        len: inside.len(),
                    };
                    o4.push((m, *iface, tag));
                    i4.push((m.reverse(), *iface, tag));
                }
                IpPrefix::V6(_) => {
                    if inside.len() > 64 || inside.len() == 0 {
                        return err(
                            r,
                            format!(
                                "NPTv6 translates prefixes of /1 to /64 (RFC 6296 §3.5), not /{}",
                                inside.len()
                            ),
                        );
                    }
                    let m = Npt {
                        from: v6_bits(inside),
                        to: v6_bits(outside),
                        len: inside.len(),
                    };
                    o6.push((m, *iface, tag));
                    i6.push((m.reverse(), *iface, tag));
                }
            }
        }
        let n = rules.statics.len();
        Ok(NatPolicy {
            rules: rules.clone(),
            v4_out: Table::sorted(o4),
            v4_in: Table::sorted(i4),
            v6_out: Table::sorted(o6),
            v6_in: Table::sorted(i6),
            counters: (0..workers.max(1))
                .map(|_| Arc::new(NatCounters::new(n)))
                .collect(),
        })
    }

    /// Whether any packet can be translated.
    #[inline]
    pub fn active(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The inside → outside translation for IPv4 address `a`, with its
    /// outside interface and rule.
    #[inline]
    pub fn out_v4(&self, a: u32) -> Option<(Map4, IfId, usize)> {
        self.v4_out.find(a).map(|&(m, i, r)| (m, i, usize::from(r)))
    }

    /// The outside → inside translation for IPv4 address `a`.
    #[inline]
    pub fn in_v4(&self, a: u32) -> Option<(Map4, IfId, usize)> {
        self.v4_in.find(a).map(|&(m, i, r)| (m, i, usize::from(r)))
    }

    /// The inside → outside translation for IPv6 address `a`.
    #[inline]
    pub fn out_v6(&self, a: u128) -> Option<(Npt, IfId, usize)> {
        self.v6_out.find(a).map(|&(m, i, r)| (m, i, usize::from(r)))
    }

    /// The outside → inside translation for IPv6 address `a`.
    #[inline]
    pub fn in_v6(&self, a: u128) -> Option<(Npt, IfId, usize)> {
        self.v6_in.find(a).map(|&(m, i, r)| (m, i, usize::from(r)))
    }

    /// Rule `r`'s packets translated out and in, summed over workers.
    pub fn rule_totals(&self, r: usize) -> (u64, u64) {
        self.counters.iter().fold((0, 0), |(o, i), c| {
            let (a, b) = c.rule(r);
            (o + a, i + b)
        })
    }

    /// Packets NPTv6 could not translate, summed over workers.
    pub fn untranslatable(&self) -> u64 {
        self.counters.iter().map(|c| c.untranslatable_count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(inside: &str, outside: &str) -> StaticNat {
        StaticNat {
            inside: inside.parse().unwrap(),
            outside: outside.parse().unwrap(),
            iface: IfId(1),
            iface_name: "wan0".into(),
        }
    }

    #[test]
    fn lookups_find_the_covering_rule_only() {
        let rules = NatRules {
            statics: vec![
                rule("192.168.1.10/32", "203.0.113.10/32"),
                rule("10.1.0.0/16", "198.51.0.0/16"),
                rule("fd00:1::/48", "2001:db8:1::/48"),
            ],
        };
        let p = NatPolicy::compile(&rules, 2).unwrap();
        let (m, i, r) = p.out_v4(0xc0a8_010a).unwrap();
        assert_eq!((m.apply(0xc0a8_010a), i, r), (0xcb00_710a, IfId(1), 0));
        assert!(p.out_v4(0xc0a8_010b).is_none());
        assert_eq!(
            p.in_v4(0xc633_0203).unwrap().0.apply(0xc633_0203),
            0x0a01_0203
        );
        assert!(p.in_v4(0x0a01_0203).is_none());
        assert!(
            p.out_v6(0xfd00_0001_0000_0005_0000_0000_0000_0001)
                .is_some()
        );
        assert!(p.in_v6(0x2001_0db8_0001_0000_0000_0000_0000_0001).is_some());
        assert!(p.in_v6(0x2001_0db8_0002_0000_0000_0000_0000_0001).is_none());
    }

    #[test]
    fn bad_rules_are_refused_with_their_index() {
        let cases = [
            (vec![rule("10.0.0.0/24", "2001:db8::/64")], "families"),
            (vec![rule("10.0.0.0/24", "198.51.100.0/25")], "length"),
            (vec![rule("10.0.0.0/24", "10.0.0.0/24")], "overlaps"),
            (vec![rule("fd00::/96", "2001:db8::/96")], "/64"),
            (
                vec![
                    rule("10.0.0.0/24", "198.51.100.0/24"),
                    rule("10.0.0.128/25", "198.51.101.0/25"),
                ],
                "static NAT rule 1",
            ),
        ];
        for (rules, want) in cases {
            let n = rules.len();
            let e = NatPolicy::compile(&NatRules { statics: rules }, 1).unwrap_err();
            assert_eq!(e.rule, n - 1);
            assert!(e.message.contains(want), "{}", e.message);
        }
    }
}
