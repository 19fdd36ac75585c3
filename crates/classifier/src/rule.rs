//! Rules as the firewall compiles them: one [`Match`] per field and an
//! opaque value; and the normalised value sets the builder and the lookup
//! work on.
//!
//! Every `Match` becomes one of two sets of field values: an interval (`Any`,
//! `Range`, `Prefix`, and a `Mask` whose mask is a run of top bits) or a
//! masked set (any other `Mask`: the bits under the mask are fixed, the rest
//! free). Both are tested at lookup by one formula,
//! `(key & m).wrapping_sub(lo) <= span`: an interval is `m` = the field's
//! width, `span = hi - lo`; a masked set is `m` = its mask, `lo` = its value,
//! `span = 0`. One formula means one branch-free check however the rule was
//! written.

use crate::field::FieldKind;

/// How a rule constrains one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// Every value.
    Any,
    /// `lo..=hi`.
    Range {
        /// Lowest value matched.
        lo: u32,
        /// Highest value matched (inclusive).
        hi: u32,
    },
    /// Values whose top `len` bits of 32 equal `value`'s (bits of `value`
    /// below `len` are ignored). On a field narrower than 32 bits the prefix
    /// still counts from bit 31, so it must cover only values that fit.
    Prefix {
        /// The prefix.
        value: u32,
        /// Its length, 0..=32.
        len: u8,
    },
    /// Values `v` with `v & mask == value & mask` (e.g. TCP flags SYN set and
    /// ACK clear: value 0x002, mask 0x012; ClassBench's protocol `0x06/0xFF`).
    Mask {
        /// Bits required under `mask`.
        value: u32,
        /// Bits that must equal `value`'s.
        mask: u32,
    },
}

/// One rule: a [`Match`] per field of the [`FieldSpec`](crate::FieldSpec) and
/// an opaque value for the caller (an action, a counter index). Its priority
/// is its position in the rule list: the first rule that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// One match per field, in key order.
    pub fields: Vec<Match>,
    /// The caller's value, returned by [`Classifier::value`](crate::Classifier::value).
    pub value: u32,
}

impl Rule {
    /// A rule from its matches and value.
    pub fn new(fields: Vec<Match>, value: u32) -> Self {
        Self { fields, value }
    }
}

/// Why a rule's match cannot be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// range lower bound above upper bound
    #[error("range {lo}..={hi} is empty")]
    EmptyRange {
        /// Lower bound.
        lo: u32,
        /// Upper bound.
        hi: u32,
    },
    /// a value, range end or prefix reaches above the field's width
    #[error("matches values above the field's largest value {max}")]
    TooWide {
        /// Largest value of the field.
        max: u32,
    },
    /// prefix longer than 32 bits
    #[error("prefix length {0} is above 32")]
    PrefixLength(u8),
    /// a mask requires a bit above the field's width to be set, which no key has
    #[error("requires bits {bits:#x} above the field's width set: matches nothing")]
    Unsatisfiable {
        /// The offending bits.
        bits: u32,
    },
}

/// A normalised set of values of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Set {
    /// `lo..=hi`.
    Range { lo: u32, hi: u32 },
    /// `v & mask == value`, with `value & !mask == 0`, `mask` inside the
    /// field's width and not a run of top bits (that is a range).
    Masked { value: u32, mask: u32 },
}

impl Set {
    /// Normalise `m` for a field of kind `kind`.
    pub(crate) fn from_match(m: Match, kind: FieldKind) -> Result<Self, MatchError> {
        let max = kind.max_value();
        let set = match m {
            Match::Any => Set::Range { lo: 0, hi: max },
            Match::Range { lo, hi } => {
                if lo > hi {
                    return Err(MatchError::EmptyRange { lo, hi });
                }
                Set::Range { lo, hi }
            }
            Match::Prefix { value, len } => {
                if len > 32 {
                    return Err(MatchError::PrefixLength(len));
                }
                let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                Set::Range {
                    lo: value & !host,
                    hi: value | host,
                }
            }
            Match::Mask { value, mask } => {
                let above = value & mask & !max;
                if above != 0 {
                    return Err(MatchError::Unsatisfiable { bits: above });
                }
                let mask = mask & max;
                let value = value & mask;
                // A mask that is a run of the field's top bits is a prefix of
                // the field: keep it an interval, which the tree cuts better.
                let free = !mask & max;
                if free & free.wrapping_add(1) == 0 {
                    Set::Range {
                        lo: value,
                        hi: value | free,
                    }
                } else {
                    Set::Masked { value, mask }
                }
            }
        };
        if let Set::Range { hi, .. } = set {
            if hi > max {
                return Err(MatchError::TooWide { max });
            }
        }
        Ok(set)
    }

    /// True if `v` is in the set (the tests' reference for the other ops).
    #[cfg(test)]
    pub(crate) fn contains(self, v: u32) -> bool {
        match self {
            Set::Range { lo, hi } => lo <= v && v <= hi,
            Set::Masked { value, mask } => v & mask == value,
        }
    }

    /// True if some value of `lo..=hi` is in the set.
    pub(crate) fn intersects(self, lo: u32, hi: u32) -> bool {
        match self {
            Set::Range { lo: a, hi: b } => a <= hi && lo <= b,
            Set::Masked { value, mask } => masked_next_ge(value, mask, lo).is_some_and(|v| v <= hi),
        }
    }

    /// True if every value of `lo..=hi` is in the set.
    pub(crate) fn covers(self, lo: u32, hi: u32) -> bool {
        match self {
            Set::Range { lo: a, hi: b } => a <= lo && hi <= b,
            Set::Masked { value, mask } => {
                // Every bit at or below the highest bit where `lo` and `hi`
                // differ takes both values inside `lo..=hi`, so the set covers
                // the interval exactly when its mask leaves those bits free.
                let d = lo ^ hi;
                let varying = if d == 0 {
                    0
                } else {
                    u32::MAX >> d.leading_zeros()
                };
                mask & varying == 0 && lo & mask == value
            }
        }
    }

    /// Smallest and largest member inside `lo..=hi`, if any.
    pub(crate) fn clip(self, lo: u32, hi: u32) -> Option<(u32, u32)> {
        match self {
            Set::Range { lo: a, hi: b } => {
                let (l, h) = (a.max(lo), b.min(hi));
                (l <= h).then_some((l, h))
            }
            Set::Masked { value, mask } => {
                let l = masked_next_ge(value, mask, lo).filter(|&v| v <= hi)?;
                let h = masked_prev_le(value, mask, hi)?;
                Some((l, h))
            }
        }
    }

    /// True if every member of `other` inside `lo..=hi` is in `self`: a rule
    /// with `other` listed after one with `self` cannot win in that region
    /// on this field's account. Exact for intervals, conservative (may say
    /// false) for two masked sets whose masks do not nest.
    pub(crate) fn contains_within(self, other: Set, lo: u32, hi: u32) -> bool {
        if let (
            Set::Masked { value: v, mask: m },
            Set::Masked {
                value: ov,
                mask: om,
            },
        ) = (self, other)
        {
            if m & om == m && ov & m == v {
                return true;
            }
        }
        match other.clip(lo, hi) {
            None => true,
            Some((l, h)) => match (self, other) {
                // A masked `other` need not fill `l..=h`: only its members
                // count, and a range holds them all if it holds the ends.
                (Set::Range { lo: a, hi: b }, _) => a <= l && h <= b,
                (Set::Masked { .. }, _) => self.covers(l, h),
            },
        }
    }

    /// The lookup's check: `(key & m).wrapping_sub(lo) <= span`.
    pub(crate) fn check(self, max: u32) -> (u32, u32, u32) {
        match self {
            Set::Range { lo, hi } => (max, lo, hi - lo),
            Set::Masked { value, mask } => (mask, value, 0),
        }
    }
}

/// Smallest `v >= lo` with `v & mask == value` (`value` inside `mask`).
///
/// The members of a masked set keep their order when their free bits are
/// read as a number, so the answer is `lo` with its fixed bits forced, then
/// corrected at the highest bit where forcing changed it: if forcing raised
/// that bit, the free bits below it drop to zero; if it lowered it, the
/// lowest free zero bit above it carries in.
pub(crate) fn masked_next_ge(value: u32, mask: u32, lo: u32) -> Option<u32> {
    let free = !mask;
    let v = (lo & free) | value;
    if v == lo {
        return Some(v);
    }
    let p = 31 - (v ^ lo).leading_zeros();
    let below = (1u32 << p) - 1;
    if v > lo {
        Some((v & !below) | (value & below))
    } else {
        let at_or_below_p = u32::MAX >> (31 - p);
        let carry = free & !v & !at_or_below_p;
        if carry == 0 {
            return None;
        }
        let q = carry.trailing_zeros();
        let above_q = u32::MAX.checked_shl(q + 1).unwrap_or(0);
        Some((v & above_q) | (1 << q) | (value & ((1u32 << q) - 1)))
    }
}

/// Largest `v <= hi` with `v & mask == value`: [`masked_next_ge`] on the
/// complements.
pub(crate) fn masked_prev_le(value: u32, mask: u32, hi: u32) -> Option<u32> {
    masked_next_ge(!value & mask, mask, !hi).map(|v| !v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: FieldKind = FieldKind::Port;
    const ADDR: FieldKind = FieldKind::Ipv4Addr;

    #[test]
    fn any_is_the_whole_width() {
        assert_eq!(
            Set::from_match(Match::Any, PORT),
            Ok(Set::Range { lo: 0, hi: 0xffff })
        );
        assert_eq!(
            Set::from_match(Match::Any, ADDR),
            Ok(Set::Range {
                lo: 0,
                hi: u32::MAX
            })
        );
    }

    #[test]
    fn range_is_inclusive_and_checked() {
        let s = Set::from_match(
            Match::Range {
                lo: 1024,
                hi: 65535,
            },
            PORT,
        )
        .unwrap();
        assert!(!s.contains(1023) && s.contains(1024) && s.contains(65535));
        assert_eq!(s.check(0xffff), (0xffff, 1024, 64511));
        assert_eq!(
            Set::from_match(Match::Range { lo: 5, hi: 4 }, PORT),
            Err(MatchError::EmptyRange { lo: 5, hi: 4 })
        );
        assert_eq!(
            Set::from_match(Match::Range { lo: 0, hi: 65536 }, PORT),
            Err(MatchError::TooWide { max: 0xffff })
        );
    }

    #[test]
    fn prefix_counts_from_bit_31_and_ignores_host_bits() {
        // 192.0.2.0/24 written with a host bit set.
        let s = Set::from_match(
            Match::Prefix {
                value: 0xc000_0201,
                len: 24,
            },
            ADDR,
        )
        .unwrap();
        assert_eq!(
            s,
            Set::Range {
                lo: 0xc000_0200,
                hi: 0xc000_02ff
            }
        );
        assert_eq!(
            Set::from_match(Match::Prefix { value: 7, len: 0 }, ADDR),
            Ok(Set::Range {
                lo: 0,
                hi: u32::MAX
            })
        );
        assert_eq!(
            Set::from_match(
                Match::Prefix {
                    value: 0x0a00_0001,
                    len: 32
                },
                ADDR
            ),
            Ok(Set::Range {
                lo: 0x0a00_0001,
                hi: 0x0a00_0001
            })
        );
        // /16 of 32 bits on a port field is every port; /8 would reach above.
        assert_eq!(
            Set::from_match(Match::Prefix { value: 0, len: 16 }, PORT),
            Ok(Set::Range { lo: 0, hi: 0xffff })
        );
        assert_eq!(
            Set::from_match(Match::Prefix { value: 0, len: 8 }, PORT),
            Err(MatchError::TooWide { max: 0xffff })
        );
        assert_eq!(
            Set::from_match(Match::Prefix { value: 0, len: 33 }, ADDR),
            Err(MatchError::PrefixLength(33))
        );
    }

    #[test]
    fn mask_keeps_free_bits_free() {
        // SYN set, ACK clear.
        let s = Set::from_match(
            Match::Mask {
                value: 0x002,
                mask: 0x012,
            },
            FieldKind::TcpFlags,
        )
        .unwrap();
        assert_eq!(
            s,
            Set::Masked {
                value: 0x002,
                mask: 0x012
            }
        );
        assert!(s.contains(0x002) && s.contains(0x0c2) && !s.contains(0x012) && !s.contains(0));
        assert_eq!(s.check(0xfff), (0x012, 0x002, 0));
        // ClassBench's 0x06/0xFF is the exact value 6; 0x00/0x00 is any.
        assert_eq!(
            Set::from_match(
                Match::Mask {
                    value: 6,
                    mask: 0xff
                },
                FieldKind::Protocol
            ),
            Ok(Set::Range { lo: 6, hi: 6 })
        );
        assert_eq!(
            Set::from_match(Match::Mask { value: 0, mask: 0 }, FieldKind::Protocol),
            Ok(Set::Range { lo: 0, hi: 0xff })
        );
        // Mask bits above the width: zero ones are dropped, set ones refused.
        assert_eq!(
            Set::from_match(
                Match::Mask {
                    value: 0x0001,
                    mask: 0xf00f
                },
                FieldKind::Protocol
            ),
            Ok(Set::Masked {
                value: 0x01,
                mask: 0x0f
            })
        );
        assert_eq!(
            Set::from_match(
                Match::Mask {
                    value: 0x100,
                    mask: 0x100
                },
                FieldKind::Protocol
            ),
            Err(MatchError::Unsatisfiable { bits: 0x100 })
        );
    }

    #[test]
    fn masked_ops_agree_with_brute_force_on_8_bits() {
        for mask in 0..=255u32 {
            for value in [0u32, 0x5a, 0xff, 0x81, 0x10] {
                let value = value & mask;
                let s = Set::Masked { value, mask };
                for lo in (0..=255u32).step_by(7) {
                    let next = (lo..=255).find(|&v| s.contains(v));
                    // Inside 8 bits; the helper works on 32, so restrict.
                    let got = masked_next_ge(value, mask | 0xffff_ff00, lo);
                    assert_eq!(got, next, "next_ge {value:#x}/{mask:#x} from {lo}");
                    for hi in (lo..=255).step_by(11) {
                        let members: Vec<u32> = (lo..=hi).filter(|&v| s.contains(v)).collect();
                        let s8 = Set::Masked {
                            value,
                            mask: mask | 0xffff_ff00,
                        };
                        assert_eq!(s8.intersects(lo, hi), !members.is_empty());
                        assert_eq!(s8.covers(lo, hi), members.len() as u32 == hi - lo + 1);
                        assert_eq!(
                            s8.clip(lo, hi),
                            members.first().map(|&a| (a, *members.last().unwrap()))
                        );
                    }
                }
            }
        }
    }
}
