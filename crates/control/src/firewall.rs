//! The firewall's configuration: sets, chains and rules written as
//! nftables writes them, inside the TOML (spec §2.2: the data plane never
//! parses; this is the only place rule text is read).
//!
//! ```toml
//! [[firewall.set]]
//! name = "blocklist"
//! type = "ipv4_addr"
//! elements = ["198.51.100.0/24", "203.0.113.7"]
//!
//! [[firewall.chain]]
//! name = "input"
//! hook = "input"          # prerouting, input, forward, output, postrouting
//! priority = "filter"     # or raw (-300), mangle (-150), a number
//! policy = "drop"
//! rules = [
//!   "ct state established,related accept",
//!   "ct state invalid drop",
//!   "iif lan0 accept",
//!   "ip saddr @blocklist drop",
//!   "icmp type echo-request limit rate 10/second accept",
//!   "tcp dport { 22, 80, 443 } ct state new accept",
//!   "meta l4proto udp reject",
//! ]
//! ```
//!
//! Matches: `iif`/`oif` (interfaces) and `iifname`/`oifname`, `iport`/`oport`
//! (ports), `ivlan`/`ovlan`, `ip`/`ip6` `saddr`/`daddr` (addresses,
//! prefixes, ranges, sets, `@set`), `ip protocol`, `ip6 nexthdr`, `meta
//! l4proto`, `meta nfproto`, `tcp`/`udp`/`sctp`/`th` `sport`/`dport`,
//! `icmp`/`icmpv6` `type`/`code`, `tcp flags` (`syn`, `syn / syn,ack`,
//! `== syn`), `ct state`, `ct status`, `ip dscp`/`ip6 dscp`, `meta length`,
//! `fragment [first|later]`; `!=` negates. Statements: `counter`, `log
//! [prefix "..."]`, `limit rate [over] N/second|minute|hour [burst N
//! packets]`, `notrack`; verdicts `accept`, `drop`, `reject [with icmp
//! type port-unreachable|host-unreachable|net-unreachable|admin-prohibited
//! | with icmpv6 type ... | with tcp reset]`, `jump C`, `goto C`,
//! `return`. Errors point into the rule text and say what was expected.

use std::collections::HashMap;
use std::ops::Range;

use orbital_fib::{IfId, PortId};
use orbital_firewall::rules::{
    Chain, Field, FwHook, Limit, Match, PRIORITY_CONNTRACK, Policy, RejectWith, Rule, Ruleset,
    TupleMatch, Values, Verdict, ct_state, ct_status,
};
use serde::Deserialize;
use toml::Spanned;

/// Where each rule's text sits in the file, by chain then rule.
pub(crate) type RuleSpans = Vec<Vec<Range<usize>>>;

/// `[firewall]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FirewallSection {
    #[serde(default)]
    set: Vec<SetSection>,
    #[serde(default)]
    chain: Vec<ChainSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSection {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    #[serde(default)]
    flags: Vec<Spanned<String>>,
    #[serde(default)]
    elements: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Priority {
    Number(i64),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainSection {
    name: Spanned<String>,
    hook: Option<Spanned<String>>,
    priority: Option<Spanned<Priority>>,
    policy: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
}

/// Where a rule's text sits in the file: the position of byte `at` of the
/// string whose quoted form spans `span` (exact unless the string holds
/// escapes; then its start).
pub(crate) fn in_string(source: &str, span: &Range<usize>, text: &str, at: usize) -> usize {
    let inner = source
        .get(span.start + 1..span.end.saturating_sub(1))
        .unwrap_or("");
    if inner == text {
        span.start + 1 + at
    } else {
        span.start
    }
}

impl FirewallSection {
    /// The ruleset: sets expanded, names resolved, jumps checked. `err`
    /// makes an error at a span of the configuration.
    pub(crate) fn ruleset(
        &self,
        source: &str,
        ifaces: &[(String, IfId)],
        ports: &[(String, PortId)],
        err: &dyn Fn(Range<usize>, String) -> crate::ConfigError,
    ) -> Result<(Ruleset, RuleSpans), crate::ConfigError> {
        let mut sets = HashMap::new();
        for s in &self.set {
            let name = s.name.get_ref();
            if sets.contains_key(name) {
                return Err(err(s.name.span(), format!("set `{name}` is defined twice")));
            }
            let ty = SetType::parse(s.ty.get_ref()).map_err(|e| err(s.ty.span(), e))?;
            for f in &s.flags {
                if !matches!(f.get_ref().as_str(), "interval" | "constant") {
                    return Err(err(
                        f.span(),
                        format!("unknown set flag `{}` (interval, constant)", f.get_ref()),
                    ));
                }
            }
            let mut elements = Vec::with_capacity(s.elements.len());
            for e in &s.elements {
                elements.push(parse_element(&ty, e.get_ref()).map_err(|m| err(e.span(), m))?);
            }
            sets.insert(name.clone(), Set { ty, elements });
        }
        let mut chains = HashMap::new();
        for (i, c) in self.chain.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            if chains.insert(c.name.get_ref().clone(), id).is_some() {
                return Err(err(
                    c.name.span(),
                    format!("chain `{}` is defined twice", c.name.get_ref()),
                ));
            }
        }
        let names = Names {
            ifaces,
            ports,
            sets: &sets,
            chains: &chains,
        };
        let mut out = Ruleset::default();
        let mut spans = Vec::with_capacity(self.chain.len());
        for c in &self.chain {
            spans.push(c.rules.iter().map(Spanned::span).collect());
            let base = chain_base(c, &err)?;
            let mut rules = Vec::with_capacity(c.rules.len());
            for r in &c.rules {
                let text = r.get_ref();
                let rule = parse_rule(text, &names).map_err(|e| {
                    let at = in_string(source, &r.span(), text, e.at);
                    err(at..at, e.message)
                })?;
                if rule.notrack
                    && !matches!(base, Some((FwHook::Prerouting | FwHook::Output, p, _)) if p < PRIORITY_CONNTRACK)
                {
                    return Err(err(
                        r.span(),
                        format!(
                            "`notrack` works only before connection tracking: in a prerouting or output chain with priority below {PRIORITY_CONNTRACK} (raw)"
                        ),
                    ));
                }
                rules.push(rule);
            }
            out.chains.push(Chain {
                name: c.name.get_ref().clone(),
                base,
                rules,
            });
        }
        if let Some(i) = jump_loop(&out) {
            let c = &self.chain[i];
            return Err(err(
                c.name.span(),
                format!(
                    "chain `{}` can reach itself by jump/goto (a loop)",
                    c.name.get_ref()
                ),
            ));
        }
        Ok((out, spans))
    }
}

fn chain_base(
    c: &ChainSection,
    err: &dyn Fn(Range<usize>, String) -> crate::ConfigError,
) -> Result<Option<(FwHook, i32, Policy)>, crate::ConfigError> {
    let Some(hook) = &c.hook else {
        if let Some(p) = &c.policy {
            return Err(err(
                p.span(),
                "only a base chain (one with a `hook`) has a policy".into(),
            ));
        }
        return Ok(None);
    };
    let h = match hook.get_ref().as_str() {
        "prerouting" => FwHook::Prerouting,
        "input" => FwHook::Input,
        "forward" => FwHook::Forward,
        "output" => FwHook::Output,
        "postrouting" => FwHook::Postrouting,
        other => {
            return Err(err(
                hook.span(),
                format!("unknown hook `{other}` (prerouting, input, forward, output, postrouting)"),
            ));
        }
    };
    let prio = match c.priority.as_ref().map(|p| (p.get_ref(), p.span())) {
        None => 0,
        Some((Priority::Number(n), span)) => {
            i32::try_from(*n).map_err(|_| err(span, format!("priority {n} is out of range")))?
        }
        Some((Priority::Name(n), span)) => match n.as_str() {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "filter" => 0,
            "security" => 50,
            "srcnat" => 100,
            other => {
                return Err(err(
                    span,
                    format!(
                        "unknown priority `{other}` (raw, mangle, dstnat, filter, security, srcnat, or a number)"
                    ),
                ));
            }
        },
    };
    let policy = match c.policy.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("accept", _)) => Policy::Accept,
        Some(("drop", _)) => Policy::Drop,
        Some((other, span)) => {
            return Err(err(
                span,
                format!("unknown policy `{other}` (accept, drop)"),
            ));
        }
    };
    Ok(Some((h, prio, policy)))
}

/// A chain that can reach itself through jump/goto, if any.
fn jump_loop(rs: &Ruleset) -> Option<usize> {
    let n = rs.chains.len();
    let edges: Vec<Vec<usize>> = rs
        .chains
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .filter_map(|r| match r.verdict {
                    Some(Verdict::Jump(t) | Verdict::Goto(t)) => usize::try_from(t).ok(),
                    _ => None,
                })
                .collect()
        })
        .collect();
    // Depth-first search with colours: grey on the stack, black done.
    let mut colour = vec![0u8; n];
    fn visit(v: usize, edges: &[Vec<usize>], colour: &mut [u8]) -> bool {
        colour[v] = 1;
        for &w in &edges[v] {
            if w < colour.len() && (colour[w] == 1 || (colour[w] == 0 && visit(w, edges, colour))) {
                return true;
            }
        }
        colour[v] = 2;
        false
    }
    (0..n).find(|&v| colour[v] == 0 && visit(v, &edges, &mut colour))
}

/// A parse error: byte offset in the rule text, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Byte offset of the offending word in the text.
    pub at: usize,
    /// What was found and what was expected.
    pub message: String,
}

/// What a set holds, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetType {
    /// One field per component (`ipv4_addr . inet_service`: two).
    pub fields: Vec<Component>,
}

/// A component type of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `ipv4_addr`.
    Ipv4,
    /// `ipv6_addr`.
    Ipv6,
    /// `inet_service`: a port.
    Service,
    /// `inet_proto`: an L4 protocol.
    Proto,
}

impl SetType {
    /// Parse `ipv4_addr`, `ipv6_addr`, `inet_service`, `inet_proto` or a
    /// concatenation of them with ` . `.
    ///
    /// # Errors
    /// An unknown type name.
    pub fn parse(s: &str) -> Result<SetType, String> {
        let fields = s
            .split('.')
            .map(|p| match p.trim() {
                "ipv4_addr" => Ok(Component::Ipv4),
                "ipv6_addr" => Ok(Component::Ipv6),
                "inet_service" => Ok(Component::Service),
                "inet_proto" => Ok(Component::Proto),
                other => Err(format!(
                    "unknown set type `{other}` (ipv4_addr, ipv6_addr, inet_service, inet_proto, or a concatenation with ` . `)"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SetType { fields })
    }
}

/// A named set, its elements resolved to one range per component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// Its type.
    pub ty: SetType,
    /// Its elements.
    pub elements: Vec<Vec<(u128, u128)>>,
}

/// Parse one set element (`10.0.0.0/8`, `22`, `1024-65535`, `10.0.0.1 . 22`).
///
/// # Errors
/// An element that does not fit the type.
pub fn parse_element(ty: &SetType, s: &str) -> Result<Vec<(u128, u128)>, String> {
    let parts: Vec<&str> = if ty.fields.len() > 1 {
        s.split(" . ").collect()
    } else {
        vec![s]
    };
    if parts.len() != ty.fields.len() {
        return Err(format!(
            "`{s}` has {} part(s); the set's type has {}",
            parts.len(),
            ty.fields.len()
        ));
    }
    parts
        .iter()
        .zip(&ty.fields)
        .map(|(p, c)| component_value(*c, p.trim()))
        .collect()
}

fn component_value(c: Component, s: &str) -> Result<(u128, u128), String> {
    match c {
        Component::Ipv4 => v4_range(s),
        Component::Ipv6 => v6_range(s),
        Component::Service => number_range(s, 65535, service),
        Component::Proto => number_range(s, 255, protocol),
    }
}

/// The context names resolve in.
#[derive(Debug)]
pub struct Names<'a> {
    /// Interfaces by name.
    pub ifaces: &'a [(String, IfId)],
    /// Ports by name.
    pub ports: &'a [(String, PortId)],
    /// Named sets.
    pub sets: &'a HashMap<String, Set>,
    /// Chains by name (jump/goto targets): their ids.
    pub chains: &'a HashMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    Word(&'a str),
    Str(&'a str),
    Open,
    Close,
    Comma,
    NotEq,
    Eq,
    Slash,
    Amp,
}

/// Split rule text into tokens with their offsets.
pub(crate) fn lex(s: &str) -> Result<Vec<(usize, Tok<'_>)>, RuleError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let single = match c {
            b'{' => Some(Tok::Open),
            b'}' => Some(Tok::Close),
            b',' => Some(Tok::Comma),
            b'&' => Some(Tok::Amp),
            _ => None,
        };
        if c.is_ascii_whitespace() {
            i += 1;
        } else if let Some(t) = single {
            out.push((i, t));
            i += 1;
        } else if c == b'!' && b.get(i + 1) == Some(&b'=') {
            out.push((i, Tok::NotEq));
            i += 2;
        } else if c == b'=' && b.get(i + 1) == Some(&b'=') {
            out.push((i, Tok::Eq));
            i += 2;
        } else if c == b'/' && b.get(i + 1).is_none_or(u8::is_ascii_whitespace) {
            out.push((i, Tok::Slash));
            i += 1;
        } else if c == b'"' {
            let end = s[i + 1..].find('"').ok_or(RuleError {
                at: i,
                message: "unterminated string".into(),
            })?;
            out.push((i, Tok::Str(&s[i + 1..i + 1 + end])));
            i += end + 2;
        } else {
            let start = i;
            while i < b.len() && !ends_word(b, i) {
                i += 1;
            }
            out.push((start, Tok::Word(&s[start..i])));
        }
    }
    Ok(out)
}

/// Parses one value of a field into an inclusive range.
type ValueFn<'f> = dyn Fn(&str) -> Result<(u128, u128), String> + 'f;

/// A byte that ends a word.
fn ends_word(b: &[u8], i: usize) -> bool {
    b[i].is_ascii_whitespace()
        || matches!(b[i], b'{' | b'}' | b',' | b'"' | b'&')
        || (b[i] == b'!' && b.get(i + 1) == Some(&b'='))
}

struct Parser<'a, 'n> {
    toks: Vec<(usize, Tok<'a>)>,
    pos: usize,
    end: usize,
    names: &'n Names<'n>,
    rule: Rule,
    /// The family the rule's matches imply, and where it was first implied.
    family: Option<(u8, usize)>,
    proto: Option<(u8, usize)>,
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, RuleError> {
    Err(RuleError {
        at,
        message: message.into(),
    })
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<(usize, Tok<'a>)> {
        self.toks.get(self.pos).copied()
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |(at, _)| at)
    }

    fn next(&mut self) -> Option<(usize, Tok<'a>)> {
        let t = self.peek();
        self.pos += usize::from(t.is_some());
        t
    }

    fn word(&mut self, what: &str) -> Result<(usize, &'a str), RuleError> {
        match self.next() {
            Some((at, Tok::Word(w))) => Ok((at, w)),
            Some((at, _)) => err(at, format!("expected {what}")),
            None => err(self.end, format!("expected {what} at the end")),
        }
    }

    fn eat(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some((_, Tok::Word(x))) if x == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn imply_family(&mut self, f: u8, at: usize) -> Result<(), RuleError> {
        match self.family {
            Some((g, _)) if g != f => err(
                at,
                "a rule matches IPv4 or IPv6, not both (use two rules, or `meta l4proto` alone)",
            ),
            Some(_) => Ok(()),
            None => {
                self.family = Some((f, at));
                Ok(())
            }
        }
    }

    fn imply_proto(&mut self, p: u8, at: usize) -> Result<(), RuleError> {
        match self.proto {
            Some((q, _)) if q != p => err(
                at,
                format!("this needs protocol {p}, but the rule already matches protocol {q}"),
            ),
            Some(_) => Ok(()),
            None => {
                self.proto = Some((p, at));
                Ok(())
            }
        }
    }

    /// `!=`, if there.
    fn negation(&mut self) -> bool {
        match self.peek() {
            Some((_, Tok::NotEq)) => {
                self.pos += 1;
                true
            }
            Some((_, Tok::Eq)) => {
                self.pos += 1;
                false
            }
            _ => false,
        }
    }

    /// A value, a `{ ... }` list, or `@set` of a single-component type.
    fn values(
        &mut self,
        what: &str,
        one: &ValueFn<'_>,
        set_kind: Option<Component>,
    ) -> Result<Vec<(u128, u128)>, RuleError> {
        match self.next() {
            Some((_, Tok::Open)) => {
                let mut v = Vec::new();
                loop {
                    let (at, w) = self.word(what)?;
                    v.push(one(w).or_else(|e| err(at, e))?);
                    match self.next() {
                        Some((_, Tok::Comma)) => continue,
                        Some((_, Tok::Close)) => break,
                        Some((at, _)) => return err(at, "expected `,` or `}`"),
                        None => return err(self.end, "expected `}`"),
                    }
                }
                Ok(v)
            }
            Some((at, Tok::Word(w))) if w.starts_with('@') => {
                let name = &w[1..];
                let Some(set) = self.names.sets.get(name) else {
                    return err(at, format!("no set named `{name}`"));
                };
                if set.ty.fields.len() != 1 || Some(set.ty.fields[0]) != set_kind {
                    return err(at, format!("set `{name}` does not hold {what}"));
                }
                Ok(set.elements.iter().map(|e| e[0]).collect())
            }
            Some((at, Tok::Word(w))) => Ok(vec![one(w).or_else(|e| err(at, e))?]),
            Some((at, _)) => err(at, format!("expected {what}")),
            None => err(self.end, format!("expected {what} at the end")),
        }
    }

    fn push(&mut self, field: Field, values: Vec<(u128, u128)>, negate: bool) {
        self.rule.matches.push(Match {
            field,
            values: Values::Ranges(values),
            negate,
        });
    }

    fn addr(&mut self, v6: bool, at: usize) -> Result<(), RuleError> {
        self.imply_family(if v6 { 6 } else { 4 }, at)?;
        let (_, which) = self.word("`saddr` or `daddr`")?;
        let (field, kind) = match (v6, which) {
            (false, "saddr") => (Field::Ip4Saddr, Component::Ipv4),
            (false, "daddr") => (Field::Ip4Daddr, Component::Ipv4),
            (true, "saddr") => (Field::Ip6Saddr, Component::Ipv6),
            (true, "daddr") => (Field::Ip6Daddr, Component::Ipv6),
            (_, "protocol" | "nexthdr") => {
                let neg = self.negation();
                let v = self.values(
                    "a protocol",
                    &|s| number_range(s, 255, protocol),
                    Some(Component::Proto),
                )?;
                self.push(Field::L4Proto, v, neg);
                return Ok(());
            }
            (_, "dscp") => {
                let neg = self.negation();
                let v = self.values("a DSCP", &|s| number_range(s, 63, dscp), None)?;
                self.push(Field::Dscp, v, neg);
                return Ok(());
            }
            (_, "length") => {
                let neg = self.negation();
                let v = self.values("a length", &|s| number_range(s, 65535, |_| None), None)?;
                self.push(Field::Length, v, neg);
                return Ok(());
            }
            (_, other) => {
                let at = self.toks[self.pos - 1].0;
                return err(
                    at,
                    format!("`{other}`: expected saddr, daddr, protocol/nexthdr, dscp or length"),
                );
            }
        };
        let neg = self.negation();
        // A concatenation: `ip daddr . tcp dport @set` or `{ a . b, ... }`.
        if matches!(self.peek(), Some((_, Tok::Word(".")))) {
            return self.concatenation(field, kind, neg, at);
        }
        let one: &ValueFn<'_> = if v6 {
            &|s| v6_range(s)
        } else {
            &|s| v4_range(s)
        };
        let v = self.values("an address", one, Some(kind))?;
        self.push(field, v, neg);
        Ok(())
    }

    /// `FIELD . FIELD [. ...] (@set | { a . b, ... })`, after the first field.
    fn concatenation(
        &mut self,
        first: Field,
        first_kind: Component,
        negate: bool,
        at: usize,
    ) -> Result<(), RuleError> {
        if negate {
            return err(at, "`!=` on a concatenation is not supported");
        }
        let mut fields = vec![(first, first_kind)];
        while self.eat(".") {
            let (wat, w) = self.word("a field after `.`")?;
            let (f, k) = match w {
                "ip" | "ip6" => {
                    let v6 = w == "ip6";
                    self.imply_family(if v6 { 6 } else { 4 }, wat)?;
                    let (_, d) = self.word("`saddr` or `daddr`")?;
                    match (v6, d) {
                        (false, "saddr") => (Field::Ip4Saddr, Component::Ipv4),
                        (false, "daddr") => (Field::Ip4Daddr, Component::Ipv4),
                        (true, "saddr") => (Field::Ip6Saddr, Component::Ipv6),
                        (true, "daddr") => (Field::Ip6Daddr, Component::Ipv6),
                        _ => return err(wat, "expected saddr or daddr"),
                    }
                }
                "tcp" | "udp" | "sctp" | "th" => {
                    if let Some(p) = l4_number(w) {
                        self.imply_proto(p, wat)?;
                    }
                    let (_, d) = self.word("`sport` or `dport`")?;
                    match d {
                        "sport" => (Field::Sport, Component::Service),
                        "dport" => (Field::Dport, Component::Service),
                        _ => return err(wat, "expected sport or dport"),
                    }
                }
                "meta" if self.eat("l4proto") => (Field::L4Proto, Component::Proto),
                _ => {
                    return err(
                        wat,
                        format!("`{w}` cannot be concatenated (addresses, ports, l4proto)"),
                    );
                }
            };
            fields.push((f, k));
        }
        let ty = SetType {
            fields: fields.iter().map(|&(_, k)| k).collect(),
        };
        let elements = match self.next() {
            Some((wat, Tok::Word(w))) if w.starts_with('@') => {
                let name = &w[1..];
                let Some(set) = self.names.sets.get(name) else {
                    return err(wat, format!("no set named `{name}`"));
                };
                if set.ty != ty {
                    return err(
                        wat,
                        format!("set `{name}` is not of this concatenation's type"),
                    );
                }
                set.elements.clone()
            }
            Some((_, Tok::Open)) => {
                let mut v = Vec::new();
                loop {
                    // Elements are `a . b`: words separated by `.` words.
                    let (eat, first) = self.word("an element")?;
                    let mut text = first.to_string();
                    while self.eat(".") {
                        let (_, w) = self.word("a component after `.`")?;
                        text.push_str(" . ");
                        text.push_str(w);
                    }
                    v.push(parse_element(&ty, &text).or_else(|e| err(eat, e))?);
                    match self.next() {
                        Some((_, Tok::Comma)) => continue,
                        Some((_, Tok::Close)) => break,
                        Some((a, _)) => return err(a, "expected `,` or `}`"),
                        None => return err(self.end, "expected `}`"),
                    }
                }
                v
            }
            Some((a, _)) => return err(a, "expected `@set` or `{ ... }`"),
            None => return err(self.end, "expected `@set` or `{ ... }`"),
        };
        self.rule.tuples.push(TupleMatch {
            fields: fields.into_iter().map(|(f, _)| f).collect(),
            elements,
        });
        Ok(())
    }

    fn ports(&mut self, proto: &'a str, at: usize) -> Result<(), RuleError> {
        if let Some(p) = l4_number(proto) {
            self.imply_proto(p, at)?;
        }
        let (wat, which) = self.word("`sport`, `dport` or `flags`")?;
        let field = match which {
            "sport" => Field::Sport,
            "dport" => Field::Dport,
            "flags" if proto == "tcp" => return self.tcp_flags(),
            other => return err(wat, format!("`{other}`: expected sport or dport")),
        };
        let neg = self.negation();
        if matches!(self.peek(), Some((_, Tok::Word(".")))) {
            return self.concatenation(field, Component::Service, neg, at);
        }
        let v = self.values(
            "a port",
            &|s| number_range(s, 65535, service),
            Some(Component::Service),
        )?;
        self.push(field, v, neg);
        Ok(())
    }

    /// `tcp flags syn` (syn set), `tcp flags syn / syn,ack` (of syn and
    /// ack, only syn), `tcp flags == syn` (exactly), `tcp flags & M == V`.
    fn tcp_flags(&mut self) -> Result<(), RuleError> {
        let list = |p: &mut Self| -> Result<u32, RuleError> {
            let mut bits = 0;
            loop {
                let (at, w) = p.word("a TCP flag")?;
                bits |= tcp_flag(w).ok_or_else(|| RuleError {
                    at,
                    message: format!("`{w}`: expected fin, syn, rst, psh, ack, urg, ecn or cwr"),
                })?;
                if !matches!(p.peek(), Some((_, Tok::Comma))) {
                    return Ok(bits);
                }
                p.pos += 1;
            }
        };
        let (value, mask, negate) = match self.peek() {
            Some((_, Tok::Amp)) => {
                self.pos += 1;
                let mask = list(self)?;
                let neg = match self.next() {
                    Some((_, Tok::Eq)) => false,
                    Some((_, Tok::NotEq)) => true,
                    Some((a, _)) => return err(a, "expected `==` or `!=`"),
                    None => return err(self.end, "expected `==` or `!=`"),
                };
                (list(self)?, mask, neg)
            }
            Some((_, Tok::Eq)) => {
                self.pos += 1;
                (list(self)?, 0xff, false)
            }
            Some((_, Tok::NotEq)) => {
                self.pos += 1;
                let v = list(self)?;
                (v, v, true)
            }
            _ => {
                let v = list(self)?;
                if matches!(self.peek(), Some((_, Tok::Slash))) {
                    self.pos += 1;
                    (v, list(self)?, false)
                } else {
                    (v, v, false)
                }
            }
        };
        self.rule.matches.push(Match {
            field: Field::TcpFlags,
            values: Values::Mask { value, mask },
            negate,
        });
        Ok(())
    }

    fn icmp(&mut self, v6: bool, at: usize) -> Result<(), RuleError> {
        self.imply_family(if v6 { 6 } else { 4 }, at)?;
        self.imply_proto(if v6 { 58 } else { 1 }, at)?;
        let (wat, which) = self.word("`type` or `code`")?;
        let neg = self.negation();
        match which {
            "type" => {
                let one: &ValueFn<'_> = if v6 {
                    &|s| number_range(s, 255, icmpv6_type)
                } else {
                    &|s| number_range(s, 255, icmp_type)
                };
                let v = self.values("an ICMP type", one, None)?;
                self.push(Field::IcmpType, v, neg);
            }
            "code" => {
                let v = self.values("an ICMP code", &|s| number_range(s, 255, |_| None), None)?;
                self.push(Field::IcmpCode, v, neg);
            }
            other => return err(wat, format!("`{other}`: expected type or code")),
        }
        Ok(())
    }

    fn ct(&mut self) -> Result<(), RuleError> {
        let (wat, which) = self.word("`state` or `status`")?;
        let neg = self.negation();
        let (names, field): (fn(&str) -> Option<u8>, Field) = match which {
            "state" => (ct_state_bit, Field::CtState),
            "status" => (ct_status_bit, Field::CtStatus),
            other => return err(wat, format!("`{other}`: expected state or status")),
        };
        let mut bits = 0u32;
        loop {
            let (at, w) = self.word("a state")?;
            bits |= u32::from(names(w).ok_or_else(|| RuleError {
                at,
                message: match field {
                    Field::CtState => {
                        format!("`{w}`: expected new, established, related, invalid or untracked")
                    }
                    _ => format!("`{w}`: expected dnat, snat, seen-reply or assured"),
                },
            })?);
            if !matches!(self.peek(), Some((_, Tok::Comma))) {
                break;
            }
            self.pos += 1;
        }
        // A state is one bit: "any of these" is one range per bit.
        let v: Vec<(u128, u128)> = (0..8)
            .filter(|b| bits & (1 << b) != 0)
            .map(|b| {
                let x = 1u128 << b;
                (x, x)
            })
            .collect();
        match field {
            // Status bits combine (dnat and seen-reply at once): test bits.
            Field::CtStatus => self.rule.matches.push(Match {
                field,
                values: Values::Mask {
                    value: bits,
                    mask: bits,
                },
                negate: neg,
            }),
            _ => self.push(field, v, neg),
        }
        Ok(())
    }

    fn interfaces(&mut self, field: Field) -> Result<(), RuleError> {
        let neg = self.negation();
        let names = self.names;
        let v = match field {
            Field::Iif | Field::Oif => self.values(
                "an interface",
                &|s| by_name(names.ifaces, |i| i.0, "interface", s),
                None,
            )?,
            Field::Iport | Field::Oport => self.values(
                "a port",
                &|s| by_name(names.ports, |p| p.0, "port", s),
                None,
            )?,
            _ => self.values("a VLAN", &|s| number_range(s, 4094, |_| None), None)?,
        };
        self.push(field, v, neg);
        Ok(())
    }

    fn limit(&mut self) -> Result<(), RuleError> {
        let (at, w) = self.word("`rate`")?;
        if w != "rate" {
            return err(at, "expected `rate`");
        }
        let over = self.eat("over");
        let (at, w) = self.word("a rate like 10/second")?;
        let (n, unit) = w.split_once('/').ok_or(RuleError {
            at,
            message: format!("`{w}`: expected N/second, N/minute or N/hour"),
        })?;
        let n: u64 = n
            .parse()
            .or_else(|_| err(at, format!("`{n}` is not a number")))?;
        let per_second = match unit {
            "second" => n,
            "minute" => n.div_ceil(60),
            "hour" => n.div_ceil(3600),
            "day" => n.div_ceil(86_400),
            other => {
                return err(
                    at,
                    format!("`{other}`: expected second, minute, hour or day"),
                );
            }
        };
        let mut burst = n.clamp(1, 5).max(per_second.min(5));
        if self.eat("burst") {
            let (bat, b) = self.word("a burst")?;
            burst = b
                .parse()
                .or_else(|_| err(bat, format!("`{b}` is not a number")))?;
            if !self.eat("packets") {
                return err(self.here(), "expected `packets` after the burst");
            }
        }
        if self.rule.limit.is_some() {
            return err(at, "one `limit` per rule");
        }
        self.rule.limit = Some(Limit {
            per_second,
            burst,
            over,
        });
        Ok(())
    }

    fn reject(&mut self) -> Result<Option<RejectWith>, RuleError> {
        if !self.eat("with") {
            return Ok(None);
        }
        let (at, kind) = self.word("icmp, icmpv6, icmpx or tcp")?;
        match kind {
            "tcp" => {
                let (rat, w) = self.word("`reset`")?;
                if w != "reset" {
                    return err(rat, "expected `reset`");
                }
                self.imply_proto(6, at)?;
                Ok(Some(RejectWith::TcpReset))
            }
            "icmp" | "icmpv6" | "icmpx" => {
                let _ = self.eat("type");
                let (wat, w) = self.word("a reject type")?;
                let r = match w {
                    "port-unreachable" => RejectWith::PortUnreachable,
                    "host-unreachable" | "addr-unreachable" => RejectWith::HostUnreachable,
                    "net-unreachable" | "no-route" => RejectWith::NetUnreachable,
                    "admin-prohibited" => RejectWith::AdminProhibited,
                    other => {
                        return err(
                            wat,
                            format!(
                                "`{other}`: expected port-unreachable, host-unreachable, net-unreachable or admin-prohibited"
                            ),
                        );
                    }
                };
                match kind {
                    "icmp" => self.imply_family(4, at)?,
                    "icmpv6" => self.imply_family(6, at)?,
                    _ => {}
                }
                Ok(Some(r))
            }
            other => err(
                at,
                format!("`{other}`: expected icmp, icmpv6, icmpx or tcp"),
            ),
        }
    }

    fn chain_target(&mut self) -> Result<u32, RuleError> {
        let (at, name) = self.word("a chain name")?;
        self.names
            .chains
            .get(name)
            .copied()
            .ok_or_else(|| RuleError {
                at,
                message: format!("no chain named `{name}`"),
            })
    }

    fn statement(&mut self) -> Result<(), RuleError> {
        let (at, w) = self.word("a match or a statement")?;
        if self.rule.verdict.is_some() {
            return err(at, "nothing may follow the verdict");
        }
        match w {
            "ip" | "ip6" => self.addr(w == "ip6", at)?,
            "tcp" | "udp" | "sctp" | "th" => self.ports(w, at)?,
            "icmp" => self.icmp(false, at)?,
            "icmpv6" => self.icmp(true, at)?,
            "ct" => self.ct()?,
            "iif" | "iifname" => self.interfaces(Field::Iif)?,
            "oif" | "oifname" => self.interfaces(Field::Oif)?,
            "iport" => self.interfaces(Field::Iport)?,
            "oport" => self.interfaces(Field::Oport)?,
            "ivlan" => self.interfaces(Field::Ivlan)?,
            "ovlan" => self.interfaces(Field::Ovlan)?,
            "meta" => {
                let (mat, m) = self.word("l4proto, nfproto or length")?;
                let neg = self.negation();
                match m {
                    "l4proto" => {
                        let v = self.values(
                            "a protocol",
                            &|s| number_range(s, 255, protocol),
                            Some(Component::Proto),
                        )?;
                        if let (false, [(a, b)]) = (neg, v.as_slice())
                            && a == b
                        {
                            self.imply_proto(*a as u8, mat)?;
                        }
                        self.push(Field::L4Proto, v, neg);
                    }
                    "nfproto" => {
                        let (fat, f) = self.word("ipv4 or ipv6")?;
                        let fam = match f {
                            "ipv4" => 4,
                            "ipv6" => 6,
                            _ => return err(fat, "expected ipv4 or ipv6"),
                        };
                        if neg {
                            self.imply_family(10 - fam, fat)?;
                        } else {
                            self.imply_family(fam, fat)?;
                        }
                    }
                    "length" => {
                        let v =
                            self.values("a length", &|s| number_range(s, 65535, |_| None), None)?;
                        self.push(Field::Length, v, neg);
                    }
                    other => {
                        return err(
                            mat,
                            format!("`{other}`: expected l4proto, nfproto or length"),
                        );
                    }
                }
            }
            "fragment" => {
                let v = if self.eat("first") {
                    (1, 1)
                } else if self.eat("later") {
                    (2, 2)
                } else {
                    (1, 2)
                };
                self.push(Field::Frag, vec![v], false);
            }
            "counter" => {}
            "notrack" => self.rule.notrack = true,
            "log" => {
                let mut prefix = String::new();
                if self.eat("prefix") {
                    match self.next() {
                        Some((_, Tok::Str(s))) => prefix = s.to_string(),
                        Some((pat, _)) => return err(pat, "expected a quoted prefix"),
                        None => return err(self.end, "expected a quoted prefix"),
                    }
                }
                self.rule.log = Some(prefix);
            }
            "limit" => self.limit()?,
            "accept" => self.rule.verdict = Some(Verdict::Accept),
            "drop" => self.rule.verdict = Some(Verdict::Drop),
            "reject" => self.rule.verdict = Some(Verdict::Reject(self.reject()?)),
            "jump" => self.rule.verdict = Some(Verdict::Jump(self.chain_target()?)),
            "goto" => self.rule.verdict = Some(Verdict::Goto(self.chain_target()?)),
            "return" => self.rule.verdict = Some(Verdict::Return),
            "masquerade" | "snat" | "dnat" | "netmap" => {
                return err(
                    at,
                    format!(
                        "`{w}` is a NAT statement: write the rule in `[nat] rules` (the firewall filters; `ct status dnat accept` lets a port forward in)"
                    ),
                );
            }
            other => {
                return err(
                    at,
                    format!(
                        "`{other}`: expected a match (ip, ip6, tcp, udp, icmp, ct, iif, oif, meta, ...) or a statement (accept, drop, reject, jump, goto, return, counter, log, limit, notrack)"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Parse one rule.
///
/// # Errors
/// The first word that does not fit, with its offset in `text`.
pub fn parse_rule(text: &str, names: &Names<'_>) -> Result<Rule, RuleError> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return err(0, "an empty rule (expected a match or a statement)");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
        names,
        rule: Rule {
            text: text.trim().to_string(),
            ..Rule::default()
        },
        family: None,
        proto: None,
    };
    while p.peek().is_some() {
        p.statement()?;
    }
    if let Some((f, _)) = p.family {
        p.rule.matches.insert(
            0,
            Match {
                field: Field::Family,
                values: Values::Ranges(vec![(u128::from(f), u128::from(f))]),
                negate: false,
            },
        );
    }
    if let Some((proto, _)) = p.proto
        && !p
            .rule
            .matches
            .iter()
            .any(|m| m.field == Field::L4Proto && !m.negate)
    {
        p.rule.matches.push(Match {
            field: Field::L4Proto,
            values: Values::Ranges(vec![(u128::from(proto), u128::from(proto))]),
            negate: false,
        });
    }
    Ok(p.rule)
}

fn l4_number(w: &str) -> Option<u8> {
    match w {
        "tcp" => Some(6),
        "udp" => Some(17),
        "sctp" => Some(132),
        _ => None,
    }
}

fn tcp_flag(w: &str) -> Option<u32> {
    Some(match w {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ecn" => 0x40,
        "cwr" => 0x80,
        _ => return None,
    })
}

fn ct_state_bit(w: &str) -> Option<u8> {
    Some(match w {
        "new" => ct_state::NEW,
        "established" => ct_state::ESTABLISHED,
        "related" => ct_state::RELATED,
        "invalid" => ct_state::INVALID,
        "untracked" => ct_state::UNTRACKED,
        _ => return None,
    })
}

fn ct_status_bit(w: &str) -> Option<u8> {
    Some(match w {
        "dnat" => ct_status::DNAT,
        "snat" => ct_status::SNAT,
        "seen-reply" => ct_status::SEEN_REPLY,
        "assured" => ct_status::ASSURED,
        _ => return None,
    })
}

/// Protocol names (`/etc/protocols`' common ones).
fn protocol(w: &str) -> Option<u128> {
    Some(match w {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        _ => return None,
    })
}

/// Service names (`/etc/services`' common ones).
fn service(w: &str) -> Option<u128> {
    Some(match w {
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "http" => 80,
        "ntp" => 123,
        "snmp" => 161,
        "bgp" => 179,
        "https" => 443,
        "isakmp" => 500,
        "syslog" => 514,
        "dhcpv6-client" => 546,
        "dhcpv6-server" => 547,
        "submission" => 587,
        "ipsec-nat-t" => 4500,
        "sip" => 5060,
        _ => return None,
    })
}

/// ICMP type names (RFC 792 and nftables' spellings).
fn icmp_type(w: &str) -> Option<u128> {
    Some(match w {
        "echo-reply" => 0,
        "destination-unreachable" => 3,
        "source-quench" => 4,
        "redirect" => 5,
        "echo-request" => 8,
        "router-advertisement" => 9,
        "router-solicitation" => 10,
        "time-exceeded" => 11,
        "parameter-problem" => 12,
        "timestamp-request" => 13,
        "timestamp-reply" => 14,
        _ => return None,
    })
}

/// ICMPv6 type names (RFC 4443, RFC 4861 and nftables' spellings).
fn icmpv6_type(w: &str) -> Option<u128> {
    Some(match w {
        "destination-unreachable" => 1,
        "packet-too-big" => 2,
        "time-exceeded" => 3,
        "parameter-problem" => 4,
        "echo-request" => 128,
        "echo-reply" => 129,
        "mld-listener-query" => 130,
        "mld-listener-report" => 131,
        "mld-listener-done" | "mld-listener-reduction" => 132,
        "nd-router-solicit" => 133,
        "nd-router-advert" => 134,
        "nd-neighbor-solicit" => 135,
        "nd-neighbor-advert" => 136,
        "nd-redirect" => 137,
        "mld2-listener-report" => 143,
        _ => return None,
    })
}

/// DSCP names (RFC 4594's classes).
fn dscp(w: &str) -> Option<u128> {
    let cs = |n: u128| n << 3;
    Some(match w {
        "cs0" | "be" => 0,
        "le" => 1,
        "cs1" => cs(1),
        "cs2" => cs(2),
        "cs3" => cs(3),
        "cs4" => cs(4),
        "cs5" => cs(5),
        "cs6" => cs(6),
        "cs7" => cs(7),
        "af11" => 10,
        "af12" => 12,
        "af13" => 14,
        "af21" => 18,
        "af22" => 20,
        "af23" => 22,
        "af31" => 26,
        "af32" => 28,
        "af33" => 30,
        "af41" => 34,
        "af42" => 36,
        "af43" => 38,
        "va" => 44,
        "ef" => 46,
        _ => return None,
    })
}

/// A number, a name, or a range `a-b` of them, at most `max`.
fn number_range(
    s: &str,
    max: u128,
    name: fn(&str) -> Option<u128>,
) -> Result<(u128, u128), String> {
    let one = |t: &str| -> Result<u128, String> {
        let v = match t.strip_prefix("0x") {
            Some(h) => u128::from_str_radix(h, 16).ok(),
            None => t.parse::<u128>().ok(),
        }
        .or_else(|| name(t))
        .ok_or_else(|| format!("`{t}` is not a number or a known name"))?;
        if v > max {
            return Err(format!("{v} is out of range (0-{max})"));
        }
        Ok(v)
    };
    match s.split_once('-') {
        Some((a, b)) if !a.is_empty() && name(s).is_none() => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("`{s}`: the range runs backwards"));
            }
            Ok((a, b))
        }
        _ => {
            let v = one(s)?;
            Ok((v, v))
        }
    }
}

/// The id of the interface or port named `s` among `known`, as a value
/// range of one.
fn by_name<T: Copy>(
    known: &[(String, T)],
    id: impl Fn(T) -> u16,
    what: &str,
    s: &str,
) -> Result<(u128, u128), String> {
    known
        .iter()
        .find(|(n, _)| n == s)
        .map(|&(_, t)| (u128::from(id(t)), u128::from(id(t))))
        .ok_or_else(|| format!("no {what} named `{s}`"))
}

fn v4_range(s: &str) -> Result<(u128, u128), String> {
    let a = |t: &str| {
        t.parse::<core::net::Ipv4Addr>()
            .map(|a| u128::from(a.to_bits()))
            .map_err(|_| format!("`{t}` is not an IPv4 address"))
    };
    if let Some((lo, hi)) = s.split_once('-') {
        let (lo, hi) = (a(lo)?, a(hi)?);
        if lo > hi {
            return Err(format!("`{s}`: the range runs backwards"));
        }
        return Ok((lo, hi));
    }
    match s.split_once('/') {
        Some((addr, len)) => {
            let v = a(addr)?;
            let len: u32 = len
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| format!("`{s}`: the length must be 0-32"))?;
            let host = if len == 0 { u32::MAX } else { u32::MAX >> len };
            let v = v as u32;
            if v & host != 0 {
                return Err(format!(
                    "`{s}` has host bits set; did you mean {}/{len}?",
                    core::net::Ipv4Addr::from_bits(v & !host)
                ));
            }
            Ok((u128::from(v), u128::from(v | host)))
        }
        None => {
            let v = a(s)?;
            Ok((v, v))
        }
    }
}

fn v6_range(s: &str) -> Result<(u128, u128), String> {
    let a = |t: &str| {
        t.parse::<core::net::Ipv6Addr>()
            .map(|a| a.to_bits())
            .map_err(|_| format!("`{t}` is not an IPv6 address"))
    };
    match s.split_once('/') {
        Some((addr, len)) => {
            let v = a(addr)?;
            let len: u32 = len
                .parse()
                .ok()
                .filter(|l| *l <= 128)
                .ok_or_else(|| format!("`{s}`: the length must be 0-128"))?;
            let host = if len == 0 {
                u128::MAX
            } else {
                u128::MAX >> len
            };
            if v & host != 0 {
                return Err(format!(
                    "`{s}` has host bits set; did you mean {}/{len}?",
                    core::net::Ipv6Addr::from_bits(v & !host)
                ));
            }
            Ok((v, v | host))
        }
        None => match s.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (a(lo)?, a(hi)?);
                if lo > hi {
                    return Err(format!("`{s}`: the range runs backwards"));
                }
                Ok((lo, hi))
            }
            None => {
                let v = a(s)?;
                Ok((v, v))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tables = (
        Vec<(String, IfId)>,
        Vec<(String, PortId)>,
        HashMap<String, Set>,
        HashMap<String, u32>,
    );

    fn names() -> Tables {
        let ifaces = vec![("lan0".to_string(), IfId(0)), ("wan0".to_string(), IfId(1))];
        let ports = vec![
            ("lan0".to_string(), PortId(0)),
            ("wan0".to_string(), PortId(1)),
        ];
        let mut sets = HashMap::new();
        sets.insert(
            "blocklist".to_string(),
            Set {
                ty: SetType::parse("ipv4_addr").unwrap(),
                elements: vec![vec![(10, 20)]],
            },
        );
        sets.insert(
            "svc".to_string(),
            Set {
                ty: SetType::parse("ipv4_addr . inet_service").unwrap(),
                elements: vec![vec![(1, 1), (22, 22)]],
            },
        );
        let mut chains = HashMap::new();
        chains.insert("lan-in".to_string(), 3);
        (ifaces, ports, sets, chains)
    }

    fn parse(text: &str) -> Result<Rule, RuleError> {
        let (i, p, s, c) = names();
        let n = Names {
            ifaces: &i,
            ports: &p,
            sets: &s,
            chains: &c,
        };
        parse_rule(text, &n)
    }

    fn field(r: &Rule, f: Field) -> Option<&Match> {
        r.matches.iter().find(|m| m.field == f)
    }

    #[test]
    fn the_issues_examples_parse() {
        let r = parse("iif lan0 oif wan0 accept").unwrap();
        assert_eq!(r.verdict, Some(Verdict::Accept));
        assert_eq!(
            field(&r, Field::Oif).unwrap().values,
            Values::Ranges(vec![(1, 1)])
        );
        let r = parse("ct state established,related accept").unwrap();
        assert_eq!(
            field(&r, Field::CtState).unwrap().values,
            Values::Ranges(vec![(2, 2), (4, 4)])
        );
        assert!(parse("ct state invalid drop").is_ok());
        let r = parse("ip saddr @blocklist drop").unwrap();
        assert_eq!(
            field(&r, Field::Ip4Saddr).unwrap().values,
            Values::Ranges(vec![(10, 20)])
        );
        assert_eq!(
            field(&r, Field::Family).unwrap().values,
            Values::Ranges(vec![(4, 4)])
        );
        let r = parse("tcp dport { 22, 80, 443 } ct state new accept").unwrap();
        assert_eq!(
            field(&r, Field::Dport).unwrap().values,
            Values::Ranges(vec![(22, 22), (80, 80), (443, 443)])
        );
        assert_eq!(
            field(&r, Field::L4Proto).unwrap().values,
            Values::Ranges(vec![(6, 6)])
        );
        let r = parse("icmp type echo-request limit rate 10/second accept").unwrap();
        assert_eq!(
            r.limit,
            Some(Limit {
                per_second: 10,
                burst: 5,
                over: false
            })
        );
        assert_eq!(
            field(&r, Field::IcmpType).unwrap().values,
            Values::Ranges(vec![(8, 8)])
        );
        let r = parse("meta l4proto udp reject").unwrap();
        assert_eq!(r.verdict, Some(Verdict::Reject(None)));
        let r = parse("ip daddr . tcp dport @svc accept").unwrap();
        assert_eq!(r.tuples[0].fields, vec![Field::Ip4Daddr, Field::Dport]);
        let r = parse("ip daddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . 80 } accept").unwrap();
        assert_eq!(r.tuples[0].elements.len(), 2);
        assert_eq!(r.tuples[0].elements[1][1], (80, 80));
    }

    #[test]
    fn more_forms() {
        let r = parse("tcp flags syn / syn,ack counter log prefix \"syn \" jump lan-in").unwrap();
        assert_eq!(
            field(&r, Field::TcpFlags).unwrap().values,
            Values::Mask {
                value: 2,
                mask: 0x12
            }
        );
        assert_eq!(r.log.as_deref(), Some("syn "));
        assert_eq!(r.verdict, Some(Verdict::Jump(3)));
        let r = parse("ip6 saddr != 2001:db8::/32 udp sport 1024-65535 drop").unwrap();
        let m = field(&r, Field::Ip6Saddr).unwrap();
        assert!(m.negate);
        assert_eq!(
            field(&r, Field::Sport).unwrap().values,
            Values::Ranges(vec![(1024, 65535)])
        );
        let r = parse("tcp dport ssh reject with tcp reset").unwrap();
        assert_eq!(r.verdict, Some(Verdict::Reject(Some(RejectWith::TcpReset))));
        let r = parse("reject with icmp type admin-prohibited").unwrap();
        assert_eq!(
            r.verdict,
            Some(Verdict::Reject(Some(RejectWith::AdminProhibited)))
        );
        assert!(parse("ip dscp ef accept").is_ok());
        assert!(parse("fragment later drop").is_ok());
        assert!(parse("limit rate over 100/minute burst 20 packets drop").is_ok());
        assert!(parse("ct status dnat accept").is_ok());
        assert!(parse("notrack").unwrap().notrack);
    }

    #[test]
    fn errors_point_at_the_word_and_say_what_was_expected() {
        let e = parse("iif lan9 accept").unwrap_err();
        assert_eq!((e.at, e.message.as_str()), (4, "no interface named `lan9`"));
        let e = parse("tcp dport { 22, 80 accept").unwrap_err();
        assert!(e.message.contains("`,` or `}`"), "{e:?}");
        let e = parse("ip saddr 10.0.0.1/8 drop").unwrap_err();
        assert_eq!(e.at, 9);
        assert!(e.message.contains("did you mean 10.0.0.0/8"), "{e:?}");
        let e = parse("accept drop").unwrap_err();
        assert_eq!(e.at, 7);
        let e = parse("ip saddr 10.0.0.1 ip6 daddr ::1 drop").unwrap_err();
        assert_eq!(e.at, 18);
        let e = parse("udp dport 53 tcp sport 1 drop").unwrap_err();
        assert!(e.message.contains("protocol"), "{e:?}");
        let e = parse("ct state fresh accept").unwrap_err();
        assert!(e.message.contains("expected new, established"), "{e:?}");
        let e = parse("jump nowhere").unwrap_err();
        assert_eq!(e.at, 5);
        let e = parse("tcp dport 70000 accept").unwrap_err();
        assert!(e.message.contains("out of range"), "{e:?}");
        let e = parse("frobnicate").unwrap_err();
        assert!(
            e.message.starts_with("`frobnicate`: expected a match"),
            "{e:?}"
        );
        assert!(parse("").is_err());
        let e = parse("oif lan0 masquerade").unwrap_err();
        assert_eq!(e.at, 9);
        assert!(e.message.contains("[nat] rules"), "{e:?}");
        let e = parse("ip saddr @nope drop").unwrap_err();
        assert!(e.message.contains("no set named `nope`"), "{e:?}");
        let e = parse("tcp dport @blocklist drop").unwrap_err();
        assert!(e.message.contains("does not hold"), "{e:?}");
        let e = parse("log prefix \"open").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e:?}");
    }
}
