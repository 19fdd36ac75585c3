//! The compiled firewall: what the snapshot carries and the filter nodes
//! read. Built on the control side from a [`Ruleset`] (off the fast path
//! and off the slow path), published with the tables, never edited.
//!
//! Each chain is cut into *segments*: a segment ends after every rule that
//! can let a packet go on past it — no verdict (`counter`, `log`), a rate
//! limit, a `jump`. Inside a segment every rule but the last decides, so
//! the first entry matching a packet in the segment's classifier decides
//! first-match semantics: a deciding rule decides; the segment's last rule
//! (or no match) sends the packet to the next segment. A chain of ordinary
//! rules is one segment and one lookup, however many rules it has.
//!
//! Hit counters (packets, bytes) are per rule and per worker, allocated
//! here with the policy: each worker writes its own cells (plain load and
//! store: one writer), readers sum them. A new policy version has new
//! counters, as `nft -f` gives new ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use orbital_classifier::{Classifier, FieldKind, FieldSpec, Match as CMatch, Rule as CRule};

use crate::expand::{self, Cond, Entry, KEY_LEN, LAYOUT, Word};
use crate::rules::{Field, FwHook, Limit, PRIORITY_CONNTRACK, Policy, Ruleset, Verdict};

/// How deep `jump`s may nest (nftables' limit is 16).
pub const MAX_JUMP_DEPTH: u8 = 16;

/// Entries a whole policy may expand to.
pub const MAX_ENTRIES: usize = 4 << 20;

/// A rule as the nodes need it.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// Its chain.
    pub chain: u32,
    /// Its position in the chain (0-based).
    pub index: u32,
    /// What it decides.
    pub verdict: Option<Verdict>,
    /// Its rate limit.
    pub limit: Option<Limit>,
    /// Its log prefix, if it logs.
    pub log: Option<String>,
    /// `notrack`.
    pub notrack: bool,
    /// As written.
    pub text: String,
    /// Entries it expanded to.
    pub entries: usize,
}

/// A run of rules looked up in one classifier.
#[derive(Debug)]
pub struct Segment {
    /// First-match over the segment's entries; each entry's value is its
    /// rule's index in the chain.
    pub classifier: Classifier,
    /// One past the segment's last rule (chain-local).
    pub end: u32,
}

/// A compiled chain.
#[derive(Debug)]
pub struct CompiledChain {
    /// Its name.
    pub name: String,
    /// Hook, priority, policy of a base chain.
    pub base: Option<(FwHook, i32, Policy)>,
    /// Global id of its rule 0.
    pub first_rule: u32,
    /// Rules it has.
    pub rules: u32,
    /// Its segments, in order.
    pub segments: Vec<Segment>,
}

/// One worker's hit counters, by global rule id.
#[derive(Debug)]
pub struct RuleCounters {
    packets: Box<[AtomicU64]>,
    bytes: Box<[AtomicU64]>,
    /// Packets decided from the flow verdict cache (see [`crate::cache`]).
    cached: AtomicU64,
}

impl RuleCounters {
    fn new(n: usize) -> RuleCounters {
        RuleCounters {
            packets: (0..n).map(|_| AtomicU64::new(0)).collect(),
            bytes: (0..n).map(|_| AtomicU64::new(0)).collect(),
            cached: AtomicU64::new(0),
        }
    }

    /// Count a packet decided from the flow verdict cache.
    #[inline]
    pub fn cache_hit(&self) {
        let c = &self.cached;
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Packets this worker decided from the flow verdict cache.
    pub fn cache_hits(&self) -> u64 {
        self.cached.load(Ordering::Relaxed)
    }

    /// Count a hit of rule `r` (its worker only: not a read-modify-write).
    #[inline]
    pub fn hit(&self, r: u32, bytes: u64) {
        let i = r as usize;
        if let (Some(p), Some(b)) = (self.packets.get(i), self.bytes.get(i)) {
            p.store(p.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            b.store(b.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
        }
    }

    /// Rule `r`'s packets and bytes.
    pub fn get(&self, r: u32) -> (u64, u64) {
        let i = r as usize;
        (
            self.packets.get(i).map_or(0, |c| c.load(Ordering::Relaxed)),
            self.bytes.get(i).map_or(0, |c| c.load(Ordering::Relaxed)),
        )
    }
}

/// What compiling took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PolicyStats {
    /// Rules.
    pub rules: usize,
    /// Classifier entries they expanded to.
    pub entries: usize,
    /// Segments (classifiers).
    pub segments: usize,
    /// Build time, milliseconds.
    pub build_ms: f64,
    /// Classifier memory, bytes.
    pub memory_bytes: usize,
}

/// The compiled firewall.
#[derive(Debug, Default)]
pub struct FirewallPolicy {
    /// Chains, by id.
    pub chains: Vec<CompiledChain>,
    /// Rules, by global id.
    pub rules: Vec<RuleInfo>,
    /// Per hook (index of [`FwHook::ALL`]): base chain ids in priority
    /// order.
    pub hooks: [Vec<u32>; 5],
    /// Per hook: how many of `hooks[h]` come before connection tracking
    /// (priority below [`PRIORITY_CONNTRACK`]).
    pub raw: [usize; 5],
    /// Hit counters, per worker.
    pub counters: Vec<Arc<RuleCounters>>,
    /// Warnings found while compiling (shadowed rules).
    pub warnings: Vec<String>,
    /// What compiling took.
    pub stats: PolicyStats,
    /// Its generation: conntrack entries judged under an older one are
    /// judged again.
    pub generation: u32,
    /// Whether any rule reads connection tracking state (then the conntrack
    /// nodes run).
    pub tracks: bool,
    /// The rules' rate limits (shared by the workers).
    pub limits: crate::eval::Limits,
    /// Per hook: may connections' verdicts be cached (see
    /// [`crate::cache`] for when they may; only ever at forward).
    pub flow_cache: [bool; 5],
}

/// Why a ruleset does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The chain and rule (0-based) at fault, if one is.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// The classifier's view of the key words.
fn field_spec() -> FieldSpec {
    let kinds: Vec<FieldKind> = (0..KEY_LEN)
        .map(|i| match LAYOUT.get(i) {
            Some(Word::Scalar(f)) => match f {
                Field::L4Proto => FieldKind::Protocol,
                Field::Sport | Field::Dport => FieldKind::Port,
                Field::IcmpType => FieldKind::IcmpType,
                Field::IcmpCode => FieldKind::IcmpCode,
                Field::TcpFlags => FieldKind::Other { bits: 8 },
                Field::CtState | Field::CtStatus => FieldKind::Other { bits: 8 },
                Field::Dscp => FieldKind::Dscp,
                Field::Length => FieldKind::Length,
                Field::Ivlan | Field::Ovlan => FieldKind::Vlan,
                Field::Family | Field::Frag => FieldKind::Other { bits: 3 },
                _ => FieldKind::Other { bits: 16 },
            },
            Some(Word::Src(3) | Word::Dst(3)) => FieldKind::Ipv4Addr,
            _ => FieldKind::Ipv6Word,
        })
        .collect();
    // KEY_LEN fields of at most 32 bits: within the classifier's bounds.
    FieldSpec::new(&kinds).unwrap_or_else(|_| FieldSpec::ipv4_5tuple())
}

fn classifier_rule(e: &Entry) -> CRule {
    CRule::new(
        e.conds
            .iter()
            .map(|c| match *c {
                Cond::Any => CMatch::Any,
                Cond::Range(lo, hi) => CMatch::Range { lo, hi },
                Cond::Mask(value, mask) => CMatch::Mask { value, mask },
            })
            .collect(),
        e.rule,
    )
}

/// Does a rule end its segment (can a packet matching it go on)?
fn ends_segment(r: &crate::rules::Rule) -> bool {
    r.limit.is_some() || matches!(r.verdict, None | Some(Verdict::Jump(_)))
}

impl FirewallPolicy {
    /// Compile `rs` for `workers` workers; `generation` numbers it.
    ///
    /// # Errors
    /// A rule expanding past the bounds, or a classifier that cannot be
    /// built.
    pub fn compile(
        rs: &Ruleset,
        workers: usize,
        generation: u32,
    ) -> Result<FirewallPolicy, CompileError> {
        let t0 = Instant::now();
        let spec = field_spec();
        let mut p = FirewallPolicy {
            generation,
            ..FirewallPolicy::default()
        };
        let mut total = 0usize;
        for (ci, c) in rs.chains.iter().enumerate() {
            let ci32 = u32::try_from(ci).unwrap_or(u32::MAX);
            let first_rule = u32::try_from(p.rules.len()).unwrap_or(u32::MAX);
            let mut entries: Vec<Vec<Entry>> = Vec::with_capacity(c.rules.len());
            for (ri, r) in c.rules.iter().enumerate() {
                let e = expand::expand(r, u32::try_from(ri).unwrap_or(u32::MAX)).map_err(|expand::ExpandError::TooLarge(n)| CompileError {
                    at: Some((ci, ri)),
                    message: format!(
                        "the rule expands to {n} classifier entries (at most {}): split its sets",
                        expand::MAX_ENTRIES_PER_RULE
                    ),
                })?;
                total += e.len();
                if total > MAX_ENTRIES {
                    return Err(CompileError {
                        at: Some((ci, ri)),
                        message: format!(
                            "the rules expand to more than {MAX_ENTRIES} classifier entries"
                        ),
                    });
                }
                p.tracks |= r
                    .matches
                    .iter()
                    .any(|m| matches!(m.field, Field::CtState | Field::CtStatus));
                p.rules.push(RuleInfo {
                    chain: ci32,
                    index: u32::try_from(ri).unwrap_or(u32::MAX),
                    verdict: r.verdict,
                    limit: r.limit,
                    log: r.log.clone(),
                    notrack: r.notrack,
                    text: r.text.clone(),
                    entries: e.len(),
                });
                entries.push(e);
            }
            for (j, i) in expand::shadowed(&c.rules, &entries) {
                p.warnings.push(format!(
                    "chain {}: rule {} (`{}`) is never reached: rule {} (`{}`) decides every packet it matches",
                    c.name,
                    j + 1,
                    c.rules[j].text,
                    i + 1,
                    c.rules[i].text
                ));
            }
            let mut segments = Vec::new();
            let mut start = 0;
            for (ri, r) in c.rules.iter().enumerate() {
                let last = ri + 1 == c.rules.len();
                if ends_segment(r) || last {
                    let rules: Vec<CRule> = entries[start..=ri]
                        .iter()
                        .flatten()
                        .map(classifier_rule)
                        .collect();
                    let classifier =
                        Classifier::build(&spec, &rules).map_err(|e| CompileError {
                            at: Some((ci, start)),
                            message: format!("cannot build the classifier: {e}"),
                        })?;
                    p.stats.memory_bytes += classifier.memory_bytes();
                    segments.push(Segment {
                        classifier,
                        end: u32::try_from(ri + 1).unwrap_or(u32::MAX),
                    });
                    start = ri + 1;
                }
            }
            p.stats.segments += segments.len();
            if let Some((hook, prio, _)) = c.base {
                let h = FwHook::ALL.iter().position(|x| *x == hook).unwrap_or(0);
                p.hooks[h].push(ci32);
                let _ = prio;
            }
            p.chains.push(CompiledChain {
                name: c.name.clone(),
                base: c.base,
                first_rule,
                rules: u32::try_from(c.rules.len()).unwrap_or(u32::MAX),
                segments,
            });
        }
        for h in 0..5 {
            // Stable: chains of one priority keep their file order.
            let chains = &p.chains;
            p.hooks[h].sort_by_key(|&c| chains[c as usize].base.map_or(0, |b| b.1));
            p.raw[h] = p.hooks[h]
                .iter()
                .take_while(|&&c| {
                    chains[c as usize]
                        .base
                        .is_some_and(|b| b.1 < PRIORITY_CONNTRACK)
                })
                .count();
        }
        for h in 0..5 {
            // Forwarding only: an entry has one word per direction, and
            // forwarded traffic is where large rule sets are.
            p.flow_cache[h] = FwHook::ALL[h] == FwHook::Forward
                && crate::cache::cacheable(rs, &p.hooks[h], p.raw[h]);
        }
        p.limits = crate::eval::Limits::for_rules(&p.rules);
        p.counters = (0..workers.max(1))
            .map(|_| Arc::new(RuleCounters::new(p.rules.len())))
            .collect();
        p.stats.rules = p.rules.len();
        p.stats.entries = total;
        p.stats.build_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(p)
    }

    /// Base chains at `hook`.
    pub fn at(&self, hook: FwHook) -> &[u32] {
        &self.hooks[FwHook::ALL.iter().position(|x| *x == hook).unwrap_or(0)]
    }

    /// Whether anything filters at `hook` (`raw`: before conntrack).
    pub fn filters(&self, hook: FwHook, raw: bool) -> bool {
        let h = FwHook::ALL.iter().position(|x| *x == hook).unwrap_or(0);
        if raw {
            self.raw[h] > 0
        } else {
            self.hooks[h].len() > self.raw[h]
        }
    }

    /// Packets decided from the flow verdict cache, all workers.
    pub fn cache_hits(&self) -> u64 {
        self.counters.iter().map(|c| c.cache_hits()).sum()
    }

    /// Rule `r`'s hits, all workers.
    pub fn hits(&self, r: u32) -> (u64, u64) {
        self.counters.iter().fold((0, 0), |(p, b), c| {
            let (p2, b2) = c.get(r);
            (p + p2, b + b2)
        })
    }

    /// True when there is nothing to filter.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}
