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

use crate::ports::PortTable;
use crate::rules::{Filtering, NatRules, StaticNat};
use crate::session::Timeouts;
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

/// One worker's stateful NAT counters (kept across reloads).
#[derive(Debug, Default)]
pub struct DynCounters {
    /// Sessions made.
    pub created: AtomicU64,
    /// Sessions that timed out.
    pub expired: AtomicU64,
    /// Sessions now (a gauge the worker stores).
    pub live: AtomicU64,
    /// Inbound packets the filtering refused.
    pub filtered: AtomicU64,
    /// New mappings refused for want of a port.
    pub exhausted: AtomicU64,
    /// New sessions refused for a full table.
    pub full: AtomicU64,
    /// New sessions or mappings refused by a per-host limit.
    pub host_limited: AtomicU64,
    /// Packets handed to the worker owning their session (port-forward
    /// replies).
    pub handoffs: AtomicU64,
}

impl DynCounters {
    /// Count one (the worker's own counter: a store, not an RMW).
    #[inline]
    pub fn bump(c: &AtomicU64) {
        bump(c);
    }
}

/// The protocols a port table is kept for: TCP, UDP, ICMP (identifiers).
pub const PROTOS: [u8; 3] = [6, 17, 1];

/// The index of `proto` in [`PROTOS`].
#[inline]
pub fn proto_index(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(0),
        17 => Some(1),
        1 => Some(2),
        _ => None,
    }
}

/// What outlives a policy version: each external address's port tables
/// (live sessions hold their ports across a reload), the stateful
/// counters and the session views.
#[derive(Debug, Default)]
pub struct NatShared {
    /// External address → its TCP, UDP and ICMP port tables, sorted.
    pub tables: Vec<(u32, [Arc<PortTable>; 3])>,
    /// Per worker.
    pub counters: Vec<Arc<DynCounters>>,
    /// Per worker, where readers ask for a copy of its sessions.
    pub views: Vec<Arc<SessionView>>,
    /// Sessions and ports each inside host holds.
    pub hosts: Arc<crate::hosts::HostCounts>,
    /// Mapping events for the API (when `[nat] log` is on).
    pub log: Arc<crate::log::MappingLog>,
}

/// Sessions copied per listing, per worker.
pub const SESSION_LIST_MAX: usize = 10_000;

/// One session as a listing shows it.
#[derive(Debug, Clone, Copy)]
pub struct SessionRow {
    /// Inside tuple.
    pub lan: crate::session::Key,
    /// Outside tuple.
    pub wan: crate::session::Key,
    /// Mapping or port forward.
    pub kind: crate::session::Kind,
    /// Timeout class.
    pub class: crate::session::Class,
    /// Time left.
    pub expires_in_ns: u64,
}

/// What the API may read of a worker's sessions: a copy the worker makes
/// when asked (the table is the worker's alone).
#[derive(Debug, Default)]
pub struct SessionView {
    /// Set by a reader, cleared by the worker when it has answered.
    pub wanted: std::sync::atomic::AtomicBool,
    /// The worker's last answer.
    pub answer: std::sync::Mutex<Option<Vec<SessionRow>>>,
}

impl NatShared {
    /// The port table of `addr` for `proto`.
    #[inline]
    pub fn table(&self, addr: u32, proto: u8) -> Option<&PortTable> {
        let i = self.tables.binary_search_by_key(&addr, |t| t.0).ok()?;
        Some(&self.tables[i].1[proto_index(proto)?])
    }

    /// Whether `addr` is an external address of the stateful NAT.
    #[inline]
    pub fn is_external(&self, addr: u32) -> bool {
        self.tables.binary_search_by_key(&addr, |t| t.0).is_ok()
    }
}

/// A compiled source NAT rule.
#[derive(Debug, Clone)]
pub struct SourceRule {
    /// The outside interface.
    pub iface: IfId,
    /// Inside prefixes as (network, mask).
    pub inside: Vec<(u32, u32)>,
    /// External addresses.
    pub pool: Vec<u32>,
    /// Inbound filtering.
    pub filtering: Filtering,
}

impl SourceRule {
    /// Whether it translates source `a`.
    #[inline]
    pub fn covers(&self, a: u32) -> bool {
        self.inside.iter().any(|&(n, m)| a & m == n)
    }

    /// The external address of inside host `a`: always the same one
    /// (paired pooling, RFC 4787 REQ-2).
    #[inline]
    pub fn address_of(&self, a: u32) -> u32 {
        let n = self.pool.len().max(1) as u64;
        let h = u64::from(a).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        self.pool.get((h % n) as usize).copied().unwrap_or(0)
    }
}

/// A compiled port forward.
#[derive(Debug, Clone, Copy)]
pub struct ForwardRule {
    /// Where its connections arrive.
    pub iface: IfId,
    /// TCP or UDP.
    pub proto: u8,
    /// External address.
    pub addr: u32,
    /// External ports, first and last.
    pub lo: u16,
    /// Last external port.
    pub hi: u16,
    /// Inside server.
    pub to: u32,
    /// Its port for `lo`.
    pub to_port: u16,
}

impl ForwardRule {
    /// The inside endpoint for external port `p`, if the rule covers it.
    #[inline]
    pub fn target(&self, proto: u8, addr: u32, p: u16) -> Option<(u32, u16)> {
        (proto == self.proto && addr == self.addr && (self.lo..=self.hi).contains(&p))
            .then(|| (self.to, self.to_port.wrapping_add(p - self.lo)))
    }

    /// The external port of inside endpoint `to:port`, if it is this
    /// rule's server.
    #[inline]
    pub fn source(&self, proto: u8, to: u32, port: u16) -> Option<u16> {
        let last = self.to_port.wrapping_add(self.hi - self.lo);
        (proto == self.proto && to == self.to && (self.to_port..=last).contains(&port))
            .then(|| self.lo.wrapping_add(port - self.to_port))
    }
}

/// Most external addresses of the stateful NAT (3 MiB of port tables each).
pub const MAX_EXTERNAL: usize = 64;

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
    /// Stateful source NAT rules, in order.
    pub sources: Vec<SourceRule>,
    /// Port forwards.
    pub forwards: Vec<ForwardRule>,
    /// Port tables and stateful counters (kept across reloads).
    pub shared: Arc<NatShared>,
    /// Session timeouts.
    pub timeouts: Timeouts,
    /// Sessions per worker.
    pub max_sessions: u32,
    /// Sessions per inside host.
    pub max_sessions_per_host: u32,
    /// External ports per inside host.
    pub max_ports_per_host: u32,
    /// The ports spread packets over workers by a hash of their own (the
    /// kernel's AF_PACKET fanout, the queue a device picks), not the
    /// modelled NIC's: NAT's packets are steered in software, at `nat-in`,
    /// to the worker the model picks (see [`crate::dynamic`], "Which
    /// worker").
    pub software_steering: bool,
    /// Keep the mapping log.
    pub log: bool,
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
    pub fn compile(
        rules: &NatRules,
        workers: usize,
        previous: Option<&NatPolicy>,
    ) -> Result<NatPolicy, NatError> {
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
        let (sources, forwards, shared) = dynamic(rules, workers, previous)?;
        Ok(NatPolicy {
            sources,
            forwards,
            shared,
            timeouts: rules.timeouts,
            max_sessions: rules.max_sessions,
            max_sessions_per_host: rules.max_sessions_per_host,
            max_ports_per_host: rules.max_ports_per_host,
            software_steering: false,
            log: rules.log,
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

    /// Whether stateful NAT translates packets leaving by `oif`.
    #[inline]
    pub fn outside(&self, oif: IfId) -> bool {
        self.sources.iter().any(|r| r.iface == oif) || self.forwards.iter().any(|f| f.iface == oif)
    }

    /// Whether any stateful rule exists.
    #[inline]
    pub fn stateful(&self) -> bool {
        !self.sources.is_empty() || !self.forwards.is_empty()
    }

    /// The source NAT rule for a packet from `src` leaving by `oif`.
    #[inline]
    pub fn source_rule(&self, src: u32, oif: IfId) -> Option<&SourceRule> {
        self.sources
            .iter()
            .find(|r| r.iface == oif && r.covers(src))
    }

    /// The source NAT rule covering inside host `src`, whatever the
    /// interface (hairpinning: the host's mapping as the Internet sees it).
    #[inline]
    pub fn source_rule_any(&self, src: u32) -> Option<&SourceRule> {
        self.sources.iter().find(|r| r.covers(src))
    }

    /// The port forward for `proto` to external `addr:p`: the inside
    /// endpoint.
    #[inline]
    pub fn forward_to(&self, proto: u8, addr: u32, p: u16) -> Option<(u32, u16)> {
        self.forwards.iter().find_map(|f| f.target(proto, addr, p))
    }

    /// Whether external `addr:p` is a port forward's (dynamic mappings
    /// never take it).
    #[inline]
    pub fn forwarded(&self, proto: u8, addr: u32, p: u16) -> bool {
        self.forwards
            .iter()
            .any(|f| f.target(proto, addr, p).is_some())
    }

    /// The port forward whose server is `to:port`, with its external
    /// address and port.
    #[inline]
    pub fn forward_from(&self, proto: u8, to: u32, port: u16) -> Option<(u32, u16)> {
        self.forwards
            .iter()
            .find_map(|f| f.source(proto, to, port).map(|p| (f.addr, p)))
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

/// Compile the stateful rules; port tables of addresses the previous
/// version had are kept.
#[allow(clippy::type_complexity)]
fn dynamic(
    rules: &NatRules,
    workers: usize,
    previous: Option<&NatPolicy>,
) -> Result<(Vec<SourceRule>, Vec<ForwardRule>, Arc<NatShared>), NatError> {
    let base = rules.statics.len();
    let err = |rule: usize, message: String| NatError { rule, message };
    let mut sources = Vec::new();
    let mut addrs: Vec<u32> = Vec::new();
    for (i, r) in rules.sources.iter().enumerate() {
        let at = base + i;
        let mut inside = Vec::new();
        for p in &r.inside {
            match p {
                IpPrefix::V4(_) => {
                    let m = if p.len() == 0 {
                        0
                    } else {
                        u32::MAX << (32 - p.len())
                    };
                    inside.push((v4_bits(p), m));
                }
                IpPrefix::V6(_) => {
                    return Err(err(
                        at,
                        format!("{p}: stateful NAT is IPv4 only (NPTv6 is `[[nat.static]]`)"),
                    ));
                }
            }
        }
        if r.pool.is_empty() {
            return Err(err(at, "no external address to translate to".into()));
        }
        let pool: Vec<u32> = r.pool.iter().map(|a| a.to_bits()).collect();
        addrs.extend(&pool);
        sources.push(SourceRule {
            iface: r.iface,
            inside,
            pool,
            filtering: r.filtering,
        });
    }
    let mut forwards: Vec<ForwardRule> = Vec::new();
    for (i, f) in rules.forwards.iter().enumerate() {
        let at = base + rules.sources.len() + i;
        if f.ports.0 > f.ports.1 {
            return Err(err(
                at,
                format!("port range {}-{} is empty", f.ports.0, f.ports.1),
            ));
        }
        if u32::from(f.to_port) + u32::from(f.ports.1 - f.ports.0) > 65_535 {
            return Err(err(at, "the inside port range runs past 65535".into()));
        }
        let r = ForwardRule {
            iface: f.iface,
            proto: f.proto,
            addr: f.addr.to_bits(),
            lo: f.ports.0,
            hi: f.ports.1,
            to: f.to.to_bits(),
            to_port: f.to_port,
        };
        if let Some(q) = forwards
            .iter()
            .position(|o| o.proto == r.proto && o.addr == r.addr && o.lo <= r.hi && r.lo <= o.hi)
        {
            return Err(err(
                at,
                format!(
                    "ports {}-{} overlap those of port forward {} on the same address",
                    r.lo,
                    r.hi,
                    q + 1
                ),
            ));
        }
        addrs.push(r.addr);
        forwards.push(r);
    }
    addrs.sort_unstable();
    addrs.dedup();
    if addrs.len() > MAX_EXTERNAL {
        return Err(err(
            base,
            format!(
                "{} external addresses; at most {MAX_EXTERNAL} (each takes 3 MiB of port tables)",
                addrs.len()
            ),
        ));
    }
    let old = previous.map(|p| p.shared.clone());
    let tables = addrs
        .iter()
        .map(|&a| {
            let kept = old
                .as_ref()
                .and_then(|o| o.tables.iter().find(|t| t.0 == a).map(|t| t.1.clone()));
            (
                a,
                kept.unwrap_or_else(|| core::array::from_fn(|_| Arc::new(PortTable::new()))),
            )
        })
        .collect();
    let (counters, views) = match &old {
        Some(o) if o.counters.len() == workers.max(1) => (o.counters.clone(), o.views.clone()),
        _ => (
            (0..workers.max(1)).map(|_| Arc::default()).collect(),
            (0..workers.max(1)).map(|_| Arc::default()).collect(),
        ),
    };
    Ok((
        sources,
        forwards,
        Arc::new(NatShared {
            tables,
            counters,
            views,
            hosts: old.as_ref().map(|o| o.hosts.clone()).unwrap_or_default(),
            log: old.as_ref().map(|o| o.log.clone()).unwrap_or_default(),
        }),
    ))
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
            ..NatRules::default()
        };
        let p = NatPolicy::compile(&rules, 2, None).unwrap();
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
            let e = NatPolicy::compile(
                &NatRules {
                    statics: rules,
                    ..NatRules::default()
                },
                1,
                None,
            )
            .unwrap_err();
            assert_eq!(e.rule, n - 1);
            assert!(e.message.contains(want), "{}", e.message);
        }
    }
}
