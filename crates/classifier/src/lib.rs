//! The firewall's compiled rule classifier: first-match lookup of a key of
//! `u32` fields in an ordered rule list, a whole burst at a time.
//!
//! # Place in the pipeline
//! The control side keeps the firewall's rule list (STYLE §8); at every
//! update it compiles the list into a [`Classifier`], a read-only value the
//! data side gets by pointer swap (§9). The firewall's hook nodes build one
//! key per packet of the burst (addresses, ports, protocol, flags,
//! interfaces, conntrack state, … as the [`FieldSpec`] lays them out) and
//! classify the burst with one [`Classifier::classify_bulk`] call; the rule
//! index found picks the verdict through [`Classifier::value`]. Nothing here
//! knows about packets or configuration: rules are [`Match`]es on numbered
//! fields, keys are `u32`s.
//!
//! # Semantics
//! Rules are in priority order: the answer is the index of the first rule
//! every field of which matches the key, exactly as the naive walk
//! [`Linear`] gives it (a property test holds the classifier to it on random
//! rule sets and keys). Key values are taken modulo `2^bits` of their field.
//!
//! # Design
//! Rules are partitioned by a field they are narrow in, and each partition
//! is compiled into a decision tree of bit cuts (HiCuts, Gupta & McKeown
//! 2000, with EffiCuts' separation of wide rules, Vamanan et al. 2010):
//! a node takes the top bits of one field and indexes its children with
//! them, a leaf holds a few rules with only the checks the path has not
//! already settled. See the [`classifier`](Classifier) layout notes and
//! `build` for the choices and what they bought.
#![forbid(unsafe_code)]

mod build;
mod classifier;
mod field;
mod linear;
mod rule;

pub use build::{BuildConfig, BuildStats};
pub use classifier::{Classifier, LookupCost};
pub use field::{FieldKind, FieldSpec, FieldSpecError, MAX_FIELDS};
pub use linear::Linear;
pub use rule::{Match, MatchError, Rule};

/// Written by the burst lookups where no rule matches.
pub const NO_MATCH: u32 = u32::MAX;

/// Most rules a classifier holds: rule indices are below [`NO_MATCH`] and
/// leave the top bit free.
pub const MAX_RULES: usize = 1 << 31;

/// Why a rule set was not compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// a rule has a different number of fields than the spec
    #[error("rule {rule}: {found} fields, the key has {expected}")]
    FieldCount {
        /// Index of the rule.
        rule: usize,
        /// Fields in the spec.
        expected: usize,
        /// Fields in the rule.
        found: usize,
    },
    /// a rule's match cannot be compiled for its field
    #[error("rule {rule}, field {field}: {error}")]
    Match {
        /// Index of the rule.
        rule: usize,
        /// Index of the field.
        field: usize,
        /// What is wrong with it.
        error: MatchError,
    },
    /// more than MAX_RULES rules
    #[error("{0} rules; at most {MAX_RULES}")]
    TooManyRules(usize),
    /// the compiled structure would exceed the memory limit even as a plain list
    #[error("the rules need at least {needed} bytes of lookup memory; the limit is {limit}")]
    TooLarge {
        /// Bytes the smallest form would take.
        needed: usize,
        /// [`BuildConfig::max_memory_bytes`].
        limit: usize,
    },
}

/// Check every rule against the spec (shared by [`Linear`] and the builder so
/// the two refuse the same rule sets).
pub(crate) fn validate(spec: &FieldSpec, rules: &[Rule]) -> Result<(), BuildError> {
    if rules.len() > MAX_RULES {
        return Err(BuildError::TooManyRules(rules.len()));
    }
    for (i, r) in rules.iter().enumerate() {
        if r.fields.len() != spec.len() {
            return Err(BuildError::FieldCount {
                rule: i,
                expected: spec.len(),
                found: r.fields.len(),
            });
        }
        for (f, (&m, &kind)) in r.fields.iter().zip(spec.kinds()).enumerate() {
            rule::Set::from_match(m, kind).map_err(|error| BuildError::Match {
                rule: i,
                field: f,
                error,
            })?;
        }
    }
    Ok(())
}

/// Keys in a burst of `keys_len` values of `fields` each, checked against
/// `out_len`. With no fields the burst is `out_len` empty keys.
pub(crate) fn burst_len(fields: usize, keys_len: usize, out_len: usize) -> usize {
    if fields == 0 {
        return out_len;
    }
    assert!(
        keys_len % fields == 0,
        "burst of {keys_len} values is not a whole number of {fields}-field keys"
    );
    let n = keys_len / fields;
    assert!(out_len >= n, "out holds {out_len} results for {n} keys");
    n
}
