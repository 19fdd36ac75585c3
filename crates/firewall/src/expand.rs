//! From rules to classifier entries: every rule becomes one or more
//! entries, each a conjunction of one condition per key word, so that "the
//! packet matches rule r" is "the packet matches one of r's entries".
//!
//! - A field with several values (a set, a `{ ... }` list) gives one entry
//!   per value; several such fields give their product; a concatenation
//!   gives one entry per tuple.
//! - `!=` becomes the complement: the gaps between the values, over the
//!   field's whole domain.
//! - An address is 128 bits (IPv4 in the low word): a range of them is cut
//!   into prefixes, and a prefix is exact words, one word under a prefix
//!   condition, and free words — so every condition is on one 32-bit word.
//!
//! The product is bounded ([`MAX_ENTRIES_PER_RULE`]); a rule beyond it is
//! refused with its size, not built.

use crate::rules::{Field, Match, Rule, TupleMatch, Values};

/// Words of the classification key, in order (see [`Word`]).
pub const KEY_WORDS: usize = 24;

/// What each key word holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    /// A scalar field.
    Scalar(Field),
    /// Word `n` (0 = most significant) of the source address.
    Src(u8),
    /// Word `n` of the destination address.
    Dst(u8),
}

/// The key layout: which word holds what.
pub const LAYOUT: [Word; KEY_WORDS] = [
    Word::Scalar(Field::Family),
    Word::Scalar(Field::L4Proto),
    Word::Src(3),
    Word::Dst(3),
    Word::Scalar(Field::Sport),
    Word::Scalar(Field::Dport),
    Word::Scalar(Field::CtState),
    Word::Scalar(Field::Iif),
    Word::Scalar(Field::Oif),
    Word::Scalar(Field::IcmpType),
    Word::Scalar(Field::IcmpCode),
    Word::Scalar(Field::TcpFlags),
    Word::Scalar(Field::CtStatus),
    Word::Scalar(Field::Dscp),
    Word::Scalar(Field::Length),
    Word::Scalar(Field::Frag),
    Word::Scalar(Field::Iport),
    Word::Scalar(Field::Oport),
    Word::Scalar(Field::Ivlan),
    Word::Scalar(Field::Ovlan),
    Word::Src(0),
    Word::Src(1),
    Word::Dst(0),
    Word::Dst(1),
];

/// Key words for address words 2 (IPv6 only), appended after the layout's.
pub const SRC2: usize = KEY_WORDS;
/// See [`SRC2`].
pub const DST2: usize = KEY_WORDS + 1;
/// Words in a full key.
pub const KEY_LEN: usize = KEY_WORDS + 2;

/// The key word index of a scalar field.
pub const fn scalar_word(f: Field) -> Option<usize> {
    let mut i = 0;
    while i < KEY_WORDS {
        if let Word::Scalar(g) = LAYOUT[i]
            && g as u8 == f as u8
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// [`scalar_word`] of a field the layout has (a compile-time constant).
pub const fn word_of(f: Field) -> usize {
    match scalar_word(f) {
        Some(i) => i,
        None => panic!("field not in the key layout"),
    }
}

/// The key word index of address word `n` (0..4) of the source or
/// destination.
pub const fn addr_word(dst: bool, n: u8) -> usize {
    if n == 2 {
        return if dst { DST2 } else { SRC2 };
    }
    let mut i = 0;
    while i < KEY_WORDS {
        match LAYOUT[i] {
            Word::Src(m) if !dst && m == n => return i,
            Word::Dst(m) if dst && m == n => return i,
            _ => {}
        }
        i += 1;
    }
    0
}

/// The key of a packet whose field values are given by `get` (scalar
/// fields) and whose addresses are `src`, `dst` (IPv4 in the low word).
pub fn key(get: impl Fn(Field) -> u32, src: u128, dst: u128) -> [u32; KEY_LEN] {
    let mut k = [0u32; KEY_LEN];
    for (i, w) in LAYOUT.iter().enumerate() {
        k[i] = match *w {
            Word::Scalar(f) => get(f),
            Word::Src(n) => (src >> (96 - 32 * u32::from(n))) as u32,
            Word::Dst(n) => (dst >> (96 - 32 * u32::from(n))) as u32,
        };
    }
    k[SRC2] = (src >> 32) as u32;
    k[DST2] = (dst >> 32) as u32;
    k
}

/// A condition on one key word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cond {
    /// Anything.
    Any,
    /// In `lo..=hi`.
    Range(u32, u32),
    /// Bits under `mask` equal `value`.
    Mask(u32, u32),
}

impl Cond {
    /// Does `v` satisfy it?
    #[inline]
    pub fn holds(self, v: u32) -> bool {
        match self {
            Cond::Any => true,
            Cond::Range(lo, hi) => lo <= v && v <= hi,
            Cond::Mask(value, mask) => v & mask == value & mask,
        }
    }

    /// Is every value `other` accepts accepted by `self`?
    pub fn covers(self, other: Cond) -> bool {
        match (self, other) {
            (Cond::Any, _) => true,
            (_, Cond::Any) => false,
            (Cond::Range(a, b), Cond::Range(c, d)) => a <= c && d <= b,
            (Cond::Mask(v, m), Cond::Mask(w, n)) => m & n == m && v & m == w & m,
            (Cond::Mask(v, m), Cond::Range(c, d)) => c == d && c & m == v & m,
            // A range covers a mask only in corners not worth deciding.
            (Cond::Range(..), Cond::Mask(..)) => false,
        }
    }
}

/// One entry: a condition per key word, and the rule it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Conditions, by key word.
    pub conds: [Cond; KEY_LEN],
    /// The rule's index in its chain.
    pub rule: u32,
}

impl Entry {
    /// Does key `k` match?
    pub fn matches(&self, k: &[u32; KEY_LEN]) -> bool {
        self.conds.iter().zip(k).all(|(c, &v)| c.holds(v))
    }

    /// Does `self` match every key `other` matches?
    pub fn covers(&self, other: &Entry) -> bool {
        self.conds
            .iter()
            .zip(&other.conds)
            .all(|(a, b)| a.covers(*b))
    }
}

/// Most entries one rule may expand to.
pub const MAX_ENTRIES_PER_RULE: usize = 65_536;

/// Why a rule cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// Its product of values is too large.
    TooLarge(usize),
}

/// The alternatives one match gives: a list of partial assignments (key
/// word, condition).
type Alternatives = Vec<Vec<(usize, Cond)>>;

/// Ranges over the field's domain, complemented if negated, sorted and
/// merged.
fn ranges(field: Field, values: &[(u128, u128)], negate: bool) -> Vec<(u128, u128)> {
    let max = field.max();
    let mut v: Vec<(u128, u128)> = values
        .iter()
        .map(|&(a, b)| (a.min(max), b.min(max)))
        .filter(|(a, b)| a <= b)
        .collect();
    v.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    if !negate {
        return merged;
    }
    let mut gaps = Vec::with_capacity(merged.len() + 1);
    let mut next = 0u128;
    let mut done = false;
    for (a, b) in merged {
        if a > next {
            gaps.push((next, a - 1));
        }
        if b == max {
            done = true;
            break;
        }
        next = b + 1;
    }
    if !done {
        gaps.push((next, max));
    }
    gaps
}

/// A 128-bit range as prefixes (the classic split: at most 2 × 128).
fn prefixes(lo: u128, hi: u128) -> Vec<(u128, u32)> {
    let mut out = Vec::new();
    let mut a = lo;
    loop {
        // The largest aligned block starting at `a` that ends by `hi`.
        let mut size_bits = if a == 0 { 128 } else { a.trailing_zeros() };
        loop {
            let last = if size_bits == 128 {
                u128::MAX
            } else {
                a | ((1u128 << size_bits) - 1)
            };
            if last <= hi {
                out.push((a, 128 - size_bits));
                if last == hi {
                    return out;
                }
                a = last + 1;
                break;
            }
            size_bits -= 1;
        }
    }
}

/// The per-word conditions of an address prefix.
fn address_prefix(dst: bool, v6: bool, value: u128, len: u32) -> Vec<(usize, Cond)> {
    let words = if v6 { 0..4u8 } else { 3..4u8 };
    let mut out = Vec::new();
    for n in words {
        // Word n covers address bits [n*32, n*32+32) from the top.
        let top = u32::from(n) * 32;
        let w = (value >> (96 - top)) as u32;
        let cond = if len >= top + 32 {
            Cond::Range(w, w)
        } else if len <= top {
            Cond::Any
        } else {
            let keep = len - top; // 1..=31 bits
            let mask = u32::MAX << (32 - keep);
            Cond::Range(w & mask, (w & mask) | !mask)
        };
        if cond != Cond::Any {
            out.push((addr_word(dst, n), cond));
        }
    }
    out
}

fn field_alternatives(m: &Match) -> Alternatives {
    let (dst, v6) = match m.field {
        Field::Ip4Saddr => (false, false),
        Field::Ip4Daddr => (true, false),
        Field::Ip6Saddr => (false, true),
        Field::Ip6Daddr => (true, true),
        f => {
            let Some(word) = scalar_word(f) else {
                return vec![vec![]];
            };
            return match &m.values {
                Values::Mask { value, mask } if !m.negate => {
                    vec![vec![(word, Cond::Mask(*value, *mask))]]
                }
                Values::Mask { value, mask } => {
                    // Not (bits == value): some bit under the mask differs.
                    (0..32)
                        .filter(|b| mask & (1 << b) != 0)
                        .map(|b| {
                            let bit = 1u32 << b;
                            vec![(word, Cond::Mask(!value & bit, bit))]
                        })
                        .collect()
                }
                Values::Ranges(v) => ranges(f, v, m.negate)
                    .into_iter()
                    .map(|(a, b)| vec![(word, Cond::Range(a as u32, b as u32))])
                    .collect(),
            };
        }
    };
    let Values::Ranges(v) = &m.values else {
        return vec![vec![]];
    };
    ranges(m.field, v, m.negate)
        .into_iter()
        .flat_map(|(a, b)| prefixes(a, b))
        // An IPv4 address is the low word of the 128: its prefixes have
        // lengths 96..=128 in that space, and only word 3 is tested.
        .map(|(value, len)| address_prefix(dst, v6, value, len))
        .collect()
}

fn tuple_alternatives(t: &TupleMatch) -> Alternatives {
    let mut out = Vec::new();
    for e in &t.elements {
        // One element: the product of its components' alternatives.
        let mut acc: Alternatives = vec![vec![]];
        for (f, &(lo, hi)) in t.fields.iter().zip(e) {
            let m = Match {
                field: *f,
                values: Values::Ranges(vec![(lo, hi)]),
                negate: false,
            };
            acc = product(&acc, &field_alternatives(&m));
        }
        out.extend(acc);
    }
    out
}

fn product(a: &Alternatives, b: &Alternatives) -> Alternatives {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut z = x.clone();
            z.extend_from_slice(y);
            out.push(z);
        }
    }
    out
}

/// The entries of rule number `index`.
///
/// # Errors
/// When the product of its values exceeds [`MAX_ENTRIES_PER_RULE`].
pub fn expand(rule: &Rule, index: u32) -> Result<Vec<Entry>, ExpandError> {
    let mut alts: Vec<Alternatives> = rule.matches.iter().map(field_alternatives).collect();
    alts.extend(rule.tuples.iter().map(tuple_alternatives));
    let size = alts
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.len()))
        .unwrap_or(usize::MAX);
    if size > MAX_ENTRIES_PER_RULE {
        return Err(ExpandError::TooLarge(size));
    }
    let mut acc: Alternatives = vec![vec![]];
    for a in &alts {
        acc = product(&acc, a);
    }
    let mut out = Vec::with_capacity(acc.len());
    'entry: for conj in acc {
        let mut conds = [Cond::Any; KEY_LEN];
        for (w, c) in conj {
            conds[w] = match (conds[w], c) {
                (Cond::Any, c) => c,
                // Two conditions on one word (a field matched twice, or a
                // match and a tuple component): their intersection.
                (Cond::Range(a, b), Cond::Range(c, d)) => {
                    let (lo, hi) = (a.max(c), b.min(d));
                    if lo > hi {
                        continue 'entry;
                    }
                    Cond::Range(lo, hi)
                }
                (Cond::Mask(v, m), Cond::Mask(w2, n)) => {
                    if (v ^ w2) & m & n != 0 {
                        continue 'entry;
                    }
                    Cond::Mask((v & m) | (w2 & n), m | n)
                }
                // A mask and a range on one word: keep both by splitting is
                // not needed for the fields that take masks (TCP flags,
                // ct status), which never take ranges too.
                (old, _) => old,
            };
        }
        out.push(Entry { conds, rule: index });
    }
    Ok(out)
}

/// Rules of a chain that can never decide a packet: every packet they
/// match, an earlier rule that always decides (a verdict, no rate limit)
/// matches first. Listed as (shadowed rule, the rule that shadows it).
pub fn shadowed(rules: &[Rule], entries: &[Vec<Entry>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (j, ej) in entries.iter().enumerate() {
        if ej.is_empty() {
            continue;
        }
        for (i, ei) in entries.iter().enumerate().take(j) {
            let decides = rules[i].verdict.is_some() && rules[i].limit.is_none();
            // Simple sufficient test: one entry of i covers all of j's.
            if decides && ej.iter().all(|e| ei.iter().any(|d| d.covers(e))) {
                out.push((j, i));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Verdict;

    fn key(f: &[(usize, u32)]) -> [u32; KEY_LEN] {
        let mut k = [0; KEY_LEN];
        for &(w, v) in f {
            k[w] = v;
        }
        k
    }

    #[test]
    fn complements_cover_the_rest_of_the_domain() {
        assert_eq!(
            ranges(Field::Dport, &[(22, 22)], true),
            vec![(0, 21), (23, 65535)]
        );
        assert_eq!(ranges(Field::Dport, &[(0, 10), (5, 65535)], true), vec![]);
        assert_eq!(
            ranges(Field::Dscp, &[(46, 46), (0, 0)], false),
            vec![(0, 0), (46, 46)]
        );
    }

    #[test]
    fn a_range_becomes_minimal_prefixes() {
        assert_eq!(prefixes(0, u128::MAX), vec![(0, 0)]);
        let p = prefixes(1, 6);
        assert_eq!(p, vec![(1, 128), (2, 127), (4, 127), (6, 128)]);
    }

    #[test]
    fn rules_expand_to_what_they_match() {
        let rule = Rule {
            matches: vec![
                Match {
                    field: Field::Ip4Saddr,
                    values: Values::Ranges(vec![(0x0a00_0000, 0x0aff_ffff)]),
                    negate: false,
                },
                Match {
                    field: Field::Dport,
                    values: Values::Ranges(vec![(22, 22), (80, 80)]),
                    negate: false,
                },
            ],
            verdict: Some(Verdict::Accept),
            ..Rule::default()
        };
        let e = expand(&rule, 0).unwrap();
        assert_eq!(e.len(), 2);
        let src = addr_word(false, 3);
        let dport = scalar_word(Field::Dport).unwrap();
        assert!(
            e.iter()
                .any(|x| x.matches(&key(&[(src, 0x0a01_0203), (dport, 80)])))
        );
        assert!(
            !e.iter()
                .any(|x| x.matches(&key(&[(src, 0x0b01_0203), (dport, 80)])))
        );
        assert!(
            !e.iter()
                .any(|x| x.matches(&key(&[(src, 0x0a01_0203), (dport, 81)])))
        );
        let v6 = Rule {
            matches: vec![Match {
                field: Field::Ip6Daddr,
                values: Values::Ranges(vec![(
                    0x2001_0db8 << 96,
                    (0x2001_0db8 << 96) | (u128::MAX >> 32),
                )]),
                negate: false,
            }],
            ..Rule::default()
        };
        let e = expand(&v6, 1).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(
            e[0].conds[addr_word(true, 0)],
            Cond::Range(0x2001_0db8, 0x2001_0db8)
        );
        assert_eq!(e[0].conds[addr_word(true, 1)], Cond::Any);
        let flags = Rule {
            matches: vec![Match {
                field: Field::TcpFlags,
                values: Values::Mask {
                    value: 0x02,
                    mask: 0x12,
                },
                negate: true,
            }],
            ..Rule::default()
        };
        let e = expand(&flags, 2).unwrap();
        let w = scalar_word(Field::TcpFlags).unwrap();
        let hit = |f: u32| e.iter().any(|x| x.matches(&key(&[(w, f)])));
        assert!(!hit(0x02), "syn alone is what is negated");
        assert!(hit(0x12) && hit(0x00) && hit(0x10));
    }

    #[test]
    fn shadowed_rules_are_found() {
        let dport = |v: u128, verdict| Rule {
            matches: vec![Match {
                field: Field::Dport,
                values: Values::Ranges(vec![(v, v)]),
                negate: false,
            }],
            verdict,
            ..Rule::default()
        };
        let any = Rule {
            verdict: Some(Verdict::Drop),
            ..Rule::default()
        };
        let rules = vec![
            dport(22, None),
            dport(22, Some(Verdict::Accept)),
            dport(22, Some(Verdict::Drop)),
            any,
            dport(80, Some(Verdict::Accept)),
        ];
        let entries: Vec<Vec<Entry>> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| expand(r, i as u32).unwrap())
            .collect();
        assert_eq!(shadowed(&rules, &entries), vec![(2, 1), (4, 3)]);
    }
}
