//! What a key is made of: an ordered list of fields, each a `u32` of a known
//! width.
//!
//! The classifier only needs a field's width (how many low bits of the `u32`
//! carry the value): the decision tree cuts a field from its top bit down, so
//! a 16-bit port is cut from bit 15, not bit 31, and a key's bits above its
//! field's width are ignored (the key is taken modulo `2^bits`, by the
//! classifier and by [`Linear`](crate::Linear) alike). The names say what
//! the firewall puts there, so a rule compiler and its reader agree on the
//! layout.

/// What one field of the key holds, and so its width in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// An IPv4 address as a host-order `u32` (`Ipv4Addr::to_bits`).
    Ipv4Addr,
    /// One 32-bit word of an IPv6 address, most significant first: an IPv6
    /// address is four consecutive fields.
    Ipv6Word,
    /// IP protocol / IPv6 next header (8 bits).
    Protocol,
    /// A TCP or UDP port (16 bits).
    Port,
    /// ICMP or ICMPv6 type (8 bits).
    IcmpType,
    /// ICMP or ICMPv6 code (8 bits).
    IcmpCode,
    /// TCP flags (the 12-bit field: CWR…FIN plus AE/NS and the reserved bits).
    TcpFlags,
    /// A port or interface index (32 bits).
    Interface,
    /// A VLAN id (12 bits; 0 for untagged).
    Vlan,
    /// Connection-tracking state bits (8 bits: new, established, related,
    /// invalid, …; matched under a mask).
    CtState,
    /// DSCP (6 bits).
    Dscp,
    /// Packet length in bytes (16 bits).
    Length,
    /// Fragment flag (1 bit: set on a non-first fragment).
    Fragment,
    /// Anything else, `bits` wide (1..=32).
    Other {
        /// Width in bits.
        bits: u8,
    },
}

impl FieldKind {
    /// Width of the field in bits (1..=32; [`FieldKind::Other`] with a width
    /// outside that range is refused by [`FieldSpec::new`]).
    pub const fn bits(self) -> u8 {
        match self {
            Self::Ipv4Addr | Self::Ipv6Word | Self::Interface => 32,
            Self::Port | Self::Length => 16,
            Self::TcpFlags | Self::Vlan => 12,
            Self::Protocol | Self::IcmpType | Self::IcmpCode | Self::CtState => 8,
            Self::Dscp => 6,
            Self::Fragment => 1,
            Self::Other { bits } => bits,
        }
    }

    /// Largest value of the field: `2^bits - 1`.
    pub const fn max_value(self) -> u32 {
        let b = self.bits();
        if b >= 32 { u32::MAX } else { (1u32 << b) - 1 }
    }
}

/// Most fields a key may have. The lookup stores a field index in 8 bits;
/// 64 leaves room for two IPv6 addresses and every other field the firewall
/// matches, with margin.
pub const MAX_FIELDS: usize = 64;

/// The layout of the key: field `i` of every key and every rule is of kind
/// `kinds()[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSpec {
    kinds: Vec<FieldKind>,
}

/// Why a [`FieldSpec`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSpecError {
    /// more than MAX_FIELDS (64) fields
    #[error("{0} fields; at most {MAX_FIELDS}")]
    TooManyFields(usize),
    /// a field's width is outside 1..=32 bits
    #[error("field {field}: width {bits} bits is outside 1..=32")]
    BadWidth {
        /// Index of the field.
        field: usize,
        /// Its width.
        bits: u8,
    },
}

impl FieldSpec {
    /// A key of these fields, in this order.
    ///
    /// # Errors
    /// More than [`MAX_FIELDS`] fields, or an [`FieldKind::Other`] width
    /// outside 1..=32.
    pub fn new(kinds: &[FieldKind]) -> Result<Self, FieldSpecError> {
        if kinds.len() > MAX_FIELDS {
            return Err(FieldSpecError::TooManyFields(kinds.len()));
        }
        if let Some((field, k)) = kinds
            .iter()
            .enumerate()
            .find(|(_, k)| !(1..=32).contains(&k.bits()))
        {
            return Err(FieldSpecError::BadWidth {
                field,
                bits: k.bits(),
            });
        }
        Ok(Self {
            kinds: kinds.to_vec(),
        })
    }

    /// The IPv4 5-tuple of ClassBench and `dpdk-test-acl`: source address,
    /// destination address, source port, destination port, protocol.
    pub fn ipv4_5tuple() -> Self {
        Self {
            kinds: vec![
                FieldKind::Ipv4Addr,
                FieldKind::Ipv4Addr,
                FieldKind::Port,
                FieldKind::Port,
                FieldKind::Protocol,
            ],
        }
    }

    /// Number of fields (the stride of a burst of keys).
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True with no fields (every rule then matches every key).
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The kinds, in key order.
    pub fn kinds(&self) -> &[FieldKind] {
        &self.kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_limits() {
        assert_eq!(FieldKind::Port.max_value(), 0xffff);
        assert_eq!(FieldKind::Ipv6Word.max_value(), u32::MAX);
        assert_eq!(FieldKind::Fragment.max_value(), 1);
        assert_eq!(FieldSpec::ipv4_5tuple().len(), 5);
        assert_eq!(
            FieldSpec::new(&[FieldKind::Port, FieldKind::Other { bits: 0 }]),
            Err(FieldSpecError::BadWidth { field: 1, bits: 0 })
        );
        assert_eq!(
            FieldSpec::new(&[FieldKind::Port; 65]),
            Err(FieldSpecError::TooManyFields(65))
        );
        assert!(FieldSpec::new(&[]).unwrap().is_empty());
    }
}
