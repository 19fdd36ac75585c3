//! The naive first-match walk: the reference every faster classifier is held
//! to (the property tests compare them on random rule sets and keys), and a
//! baseline to benchmark against (`orbital bench classify --algo linear`).
//!
//! It evaluates each [`Match`] straight from its definition, not through the
//! normalised sets the [`Classifier`](crate::Classifier) is compiled from, so
//! a mistake in normalisation shows up as a disagreement instead of being
//! shared by both sides.

use crate::field::{FieldKind, FieldSpec};
use crate::rule::{Match, Rule};
use crate::{BuildError, NO_MATCH, validate};

/// Rules walked in order; the first whose every field matches wins.
#[derive(Debug, Clone)]
pub struct Linear {
    kinds: Vec<FieldKind>,
    rules: Vec<Vec<Match>>,
}

impl Linear {
    /// Check the rules as [`Classifier::build`](crate::Classifier::build)
    /// does and keep them.
    ///
    /// # Errors
    /// The same as [`Classifier::build`](crate::Classifier::build) for a bad
    /// rule (wrong field count, an empty or too wide match, too many rules).
    pub fn new(spec: &FieldSpec, rules: &[Rule]) -> Result<Self, BuildError> {
        validate(spec, rules)?;
        Ok(Self {
            kinds: spec.kinds().to_vec(),
            rules: rules.iter().map(|r| r.fields.clone()).collect(),
        })
    }

    /// Index of the first rule matching `key`, if any. Each key value is
    /// taken modulo `2^bits` of its field, as the classifier does.
    ///
    /// # Panics
    /// If `key` is shorter than the field count.
    pub fn classify(&self, key: &[u32]) -> Option<u32> {
        let key = &key[..self.kinds.len()];
        self.rules
            .iter()
            .position(|r| {
                r.iter()
                    .zip(key)
                    .zip(&self.kinds)
                    .all(|((m, &k), kind)| matches(*m, k & kind.max_value()))
            })
            .map(|i| i as u32)
    }

    /// [`Linear::classify`] for a burst of keys laid end to end (stride = the
    /// field count) into `out` ([`NO_MATCH`] where none matches).
    ///
    /// # Panics
    /// As [`Classifier::classify_bulk`](crate::Classifier::classify_bulk).
    pub fn classify_bulk(&self, keys: &[u32], out: &mut [u32]) {
        let n = crate::burst_len(self.kinds.len(), keys.len(), out.len());
        let nf = self.kinds.len();
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self
                .classify(&keys[i * nf..(i + 1) * nf])
                .unwrap_or(NO_MATCH);
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True with no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Bytes held: one 12-byte match per rule and field.
    pub fn memory_bytes(&self) -> usize {
        self.rules.len() * self.kinds.len() * std::mem::size_of::<Match>()
    }
}

/// `m` matches `v`, by the definitions on [`Match`].
fn matches(m: Match, v: u32) -> bool {
    match m {
        Match::Any => true,
        Match::Range { lo, hi } => lo <= v && v <= hi,
        Match::Prefix { value, len } => {
            len == 0 || (v ^ value) >> (32 - u32::from(len.min(32))) == 0
        }
        Match::Mask { value, mask } => v & mask == value & mask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_match_wins_and_keys_are_taken_modulo_the_width() {
        let spec = FieldSpec::new(&[FieldKind::Ipv4Addr, FieldKind::Port]).unwrap();
        let rules = [
            Rule::new(
                vec![
                    Match::Prefix {
                        value: 0x0a00_0000,
                        len: 8,
                    },
                    Match::Range { lo: 80, hi: 80 },
                ],
                7,
            ),
            Rule::new(vec![Match::Any, Match::Any], 9),
        ];
        let l = Linear::new(&spec, &rules).unwrap();
        assert_eq!(l.classify(&[0x0a01_0203, 80]), Some(0));
        assert_eq!(l.classify(&[0x0a01_0203, 81]), Some(1));
        assert_eq!(l.classify(&[0x0a01_0203, 0x1_0050]), Some(0));
        let mut out = [0; 2];
        l.classify_bulk(&[0x0b00_0000, 80, 0x0a00_0000, 80], &mut out);
        assert_eq!(out, [1, 0]);
        assert_eq!(Linear::new(&spec, &[]).unwrap().classify(&[1, 2]), None);
    }
}
