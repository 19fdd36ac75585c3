//! Evaluating a packet's key against the chains at a hook: first match per
//! segment, rate limits, counters, `jump` / `goto` / `return`, and the base
//! chains' policies, as nftables does (an `accept` ends its base chain and
//! the next base chain at the hook still runs; a drop or reject ends it
//! all).

use crate::expand::KEY_LEN;
use crate::policy::{FirewallPolicy, MAX_JUMP_DEPTH, RuleCounters};
use crate::rules::{Policy, RejectWith, Verdict};

/// What the hook's chains decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Accept,
    /// Drop, by a rule.
    Drop,
    /// Drop and answer.
    Reject(Option<RejectWith>),
    /// Drop, by a base chain's policy.
    PolicyDrop,
}

/// Which rule (or policy) decided, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decider {
    /// The chain.
    pub chain: u32,
    /// The rule's index in it plus one; 0: the chain's policy (or nothing
    /// matched anywhere and the packet was accepted).
    pub rule: u32,
}

/// Side effects a packet's evaluation asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// A rule said `notrack`.
    pub notrack: bool,
    /// A rule that logs matched: its global id.
    pub log: Option<u32>,
    /// Rules that matched (and were counted) on the way.
    pub matched: u32,
}

/// A rule's rate limit, shared by every worker: the generic cell rate
/// algorithm (GCRA, ITU-T I.371), the token bucket written as one
/// "theoretical arrival time" so one atomic word holds its whole state and
/// a compare-and-swap updates it without a lock. Shared rather than split
/// per worker so `limit rate 10/second` is the router's rate (as in
/// nftables) and a replay decides the same whatever the worker count; only
/// packets of limited rules touch it.
#[derive(Debug)]
pub struct Gcra {
    /// ns between packets at the rate.
    interval: u64,
    /// How far ahead of time the bucket may run: (burst − 1) intervals.
    tolerance: u64,
    tat: std::sync::atomic::AtomicU64,
}

impl Gcra {
    /// `per_second` packets a second, bursts of `burst`.
    pub fn new(per_second: u64, burst: u64) -> Gcra {
        let interval = 1_000_000_000 / per_second.max(1);
        Gcra {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            tat: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Take one packet at time `now_ns` if the rate allows it.
    pub fn allow(&self, now_ns: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let mut tat = self.tat.load(Relaxed);
        loop {
            let start = tat.max(now_ns);
            if start.saturating_sub(now_ns) > self.tolerance {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, start + self.interval, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(t) => tat = t,
            }
        }
    }
}

/// The rate limits of a policy's rules, by global rule id.
#[derive(Debug, Default)]
pub struct Limits {
    cells: Vec<Option<Gcra>>,
}

impl Limits {
    /// Limits for `policy`'s rules.
    pub fn for_rules(rules: &[crate::policy::RuleInfo]) -> Limits {
        Limits {
            cells: rules
                .iter()
                .map(|r| r.limit.map(|l| Gcra::new(l.per_second, l.burst)))
                .collect(),
        }
    }

    fn allow(&self, rule: u32, now_ns: u64) -> bool {
        match self.cells.get(rule as usize) {
            Some(Some(g)) => g.allow(now_ns),
            _ => true,
        }
    }
}

/// The result of one chain: a verdict, or none (go back to the caller, or
/// to the base chain's policy).
enum Outcome {
    Decided(Decision, Decider),
    None,
}

/// Evaluates packets of one burst at one hook.
#[derive(Debug)]
pub struct Evaluator<'a> {
    /// The policy.
    pub policy: &'a FirewallPolicy,
    /// This worker's counters.
    pub counters: &'a RuleCounters,
    /// The rules' rate limits.
    pub limits: &'a Limits,
    /// Engine time.
    pub now_ns: u64,
}

impl Evaluator<'_> {
    /// Run the base chains `chains` for a packet with key `key` and length
    /// `bytes`; `first` is the first chain's first-segment lookup if the
    /// caller did it in bulk (`None`: look it up here).
    pub fn hook(
        &mut self,
        chains: &[u32],
        key: &[u32; KEY_LEN],
        bytes: u64,
        first: Option<Option<u32>>,
        fx: &mut Effects,
    ) -> (Decision, Decider) {
        let mut last = Decider::default();
        for (i, &c) in chains.iter().enumerate() {
            let hint = if i == 0 { first } else { None };
            match self.chain(c, key, bytes, hint, 0, fx) {
                Outcome::Decided(Decision::Accept, d) => last = d,
                Outcome::Decided(d, who) => return (d, who),
                Outcome::None => {
                    let policy = self
                        .policy
                        .chains
                        .get(c as usize)
                        .and_then(|ch| ch.base)
                        .map_or(Policy::Accept, |b| b.2);
                    last = Decider { chain: c, rule: 0 };
                    if policy == Policy::Drop {
                        return (Decision::PolicyDrop, last);
                    }
                }
            }
        }
        (Decision::Accept, last)
    }

    fn chain(
        &mut self,
        c: u32,
        key: &[u32; KEY_LEN],
        bytes: u64,
        mut hint: Option<Option<u32>>,
        depth: u8,
        fx: &mut Effects,
    ) -> Outcome {
        let p = self.policy;
        let Some(ch) = p.chains.get(c as usize) else {
            return Outcome::None;
        };
        let mut seg = 0;
        while seg < ch.segments.len() {
            let s = &ch.segments[seg];
            let found = match hint.take() {
                Some(h) => h,
                None => s.classifier.classify(key).map(|e| s.classifier.value(e)),
            };
            let Some(r) = found else {
                seg += 1;
                continue;
            };
            let gid = ch.first_rule + r;
            let Some(rule) = p.rules.get(gid as usize) else {
                return Outcome::None;
            };
            if let Some(l) = rule.limit {
                // Under the rate the rule matches; over it, it does not
                // (`over` turns that round).
                if self.limits.allow(gid, self.now_ns) == l.over {
                    seg += 1;
                    continue;
                }
            }
            self.counters.hit(gid, bytes);
            fx.matched += 1;
            fx.notrack |= rule.notrack;
            if rule.log.is_some() {
                fx.log = Some(gid);
            }
            let who = Decider {
                chain: c,
                rule: r + 1,
            };
            match rule.verdict {
                None => seg += 1,
                Some(Verdict::Accept) => return Outcome::Decided(Decision::Accept, who),
                Some(Verdict::Drop) => return Outcome::Decided(Decision::Drop, who),
                Some(Verdict::Reject(w)) => return Outcome::Decided(Decision::Reject(w), who),
                Some(Verdict::Return) => return Outcome::None,
                Some(Verdict::Jump(t)) => {
                    if depth < MAX_JUMP_DEPTH
                        && let Outcome::Decided(d, w) =
                            self.chain(t, key, bytes, None, depth + 1, fx)
                    {
                        return Outcome::Decided(d, w);
                    }
                    seg += 1;
                }
                Some(Verdict::Goto(t)) => {
                    return if depth < MAX_JUMP_DEPTH {
                        self.chain(t, key, bytes, None, depth + 1, fx)
                    } else {
                        Outcome::None
                    };
                }
            }
        }
        Outcome::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::{key, scalar_word};
    use crate::rules::{Chain, Field, FwHook, Limit, Match, Rule, Ruleset, Values};

    fn dport(p: u128, verdict: Option<Verdict>) -> Rule {
        Rule {
            matches: vec![Match {
                field: Field::Dport,
                values: Values::Ranges(vec![(p, p)]),
                negate: false,
            }],
            verdict,
            text: format!("th dport {p}"),
            ..Rule::default()
        }
    }

    fn eval(p: &FirewallPolicy, limits: &Limits, now: u64, port: u32) -> (Decision, Decider) {
        let k = key(|f| if f == Field::Dport { port } else { 0 }, 0, 0);
        let _ = scalar_word(Field::Dport);
        let mut ev = Evaluator {
            policy: p,
            counters: &p.counters[0],
            limits,
            now_ns: now,
        };
        ev.hook(p.at(FwHook::Input), &k, 100, None, &mut Effects::default())
    }

    #[test]
    fn first_match_counters_jumps_limits_and_policy() {
        let mut limited = dport(53, Some(Verdict::Accept));
        limited.limit = Some(Limit {
            per_second: 2,
            burst: 2,
            over: false,
        });
        let rs = Ruleset {
            chains: vec![
                Chain {
                    name: "input".into(),
                    base: Some((FwHook::Input, 0, Policy::Drop)),
                    rules: vec![
                        dport(22, None),
                        dport(22, Some(Verdict::Accept)),
                        dport(80, Some(Verdict::Jump(1))),
                        limited,
                        dport(80, Some(Verdict::Drop)),
                        dport(443, Some(Verdict::Goto(1))),
                    ],
                },
                Chain {
                    name: "web".into(),
                    base: None,
                    rules: vec![
                        dport(443, Some(Verdict::Accept)),
                        Rule {
                            verdict: Some(Verdict::Return),
                            ..Rule::default()
                        },
                    ],
                },
            ],
        };
        let p = FirewallPolicy::compile(&rs, 1, 1).unwrap();
        let l = &p.limits;
        assert_eq!(
            p.stats.segments,
            4 + 1,
            "segments end after 22 (no verdict), 80 jump, 53 limit"
        );
        assert_eq!(
            eval(&p, l, 0, 22),
            (Decision::Accept, Decider { chain: 0, rule: 2 })
        );
        assert_eq!(p.hits(0), (1, 100), "the counting rule saw it");
        // 80: jumps to web, which returns; then the drop after it decides.
        assert_eq!(
            eval(&p, l, 0, 80),
            (Decision::Drop, Decider { chain: 0, rule: 5 })
        );
        // 443: goto web, accepted there.
        assert_eq!(
            eval(&p, l, 0, 443),
            (Decision::Accept, Decider { chain: 1, rule: 1 })
        );
        // 53: two under the limit, the third falls to the policy.
        assert_eq!(eval(&p, l, 0, 53).0, Decision::Accept);
        assert_eq!(eval(&p, l, 0, 53).0, Decision::Accept);
        assert_eq!(
            eval(&p, l, 0, 53),
            (Decision::PolicyDrop, Decider { chain: 0, rule: 0 })
        );
        assert_eq!(
            eval(&p, l, 1_000_000_000, 53).0,
            Decision::Accept,
            "refilled"
        );
        assert_eq!(
            eval(&p, l, 0, 9),
            (Decision::PolicyDrop, Decider { chain: 0, rule: 0 })
        );
    }
}
