//! IP prefixes as the tables key them.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// Why a prefix string or value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// No `/len`, or the address part does not parse.
    #[error("`{0}` is not an address/length prefix")]
    Syntax(String),
    /// Length above 32 (IPv4) or 128 (IPv6).
    #[error("prefix length {0} is too long for the address family")]
    Length(u8),
    /// Bits set after the prefix length (e.g. 10.0.0.1/24).
    #[error("`{0}` has host bits set; did you mean {1}?")]
    HostBits(String, String),
}

/// An IPv4 prefix with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

/// An IPv6 prefix with no host bits set.
///
/// The address is kept as big-endian bytes rather than a `u128`: the order is
/// the same, but the alignment is 1 instead of 16, so a prefix takes 17 bytes
/// instead of 32 and an [`IpPrefix`] 20 instead of 48 — a million-route batch
/// and the builder's route maps are a third of the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Prefix {
    addr: [u8; 16],
    len: u8,
}

/// Either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpPrefix {
    /// IPv4.
    V4(Ipv4Prefix),
    /// IPv6.
    V6(Ipv6Prefix),
}

#[inline]
const fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

#[inline]
const fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len as u32)
    }
}

// `len` is the mask width of a prefix, not a count of elements.
#[allow(clippy::len_without_is_empty)]
impl Ipv4Prefix {
    /// A prefix; errors if `len` > 32 or host bits are set.
    ///
    /// # Errors
    /// [`PrefixError::Length`], [`PrefixError::HostBits`].
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Ipv4Prefix, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length(len));
        }
        let a = addr.to_bits();
        if a & !mask4(len) != 0 {
            let net = Ipv4Prefix::truncating(addr, len);
            return Err(PrefixError::HostBits(
                format!("{addr}/{len}"),
                net.to_string(),
            ));
        }
        Ok(Ipv4Prefix { addr: a, len })
    }

    /// The prefix of `addr` of length `len` (host bits cleared; len clamped to 32).
    pub fn truncating(addr: Ipv4Addr, len: u8) -> Ipv4Prefix {
        let len = len.min(32);
        Ipv4Prefix {
            addr: addr.to_bits() & mask4(len),
            len,
        }
    }

    /// Network address as bits.
    pub const fn bits(&self) -> u32 {
        self.addr
    }

    /// Network address.
    pub const fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.addr)
    }

    /// Prefix length.
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// True for the default route 0.0.0.0/0.
    pub const fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Last address covered.
    pub const fn last(&self) -> u32 {
        self.addr | !mask4(self.len)
    }

    /// Does the prefix cover `a`?
    pub const fn contains(&self, a: Ipv4Addr) -> bool {
        a.to_bits() & mask4(self.len) == self.addr
    }
}

// `len` is the mask width of a prefix, not a count of elements.
#[allow(clippy::len_without_is_empty)]
impl Ipv6Prefix {
    /// A prefix; errors if `len` > 128 or host bits are set.
    ///
    /// # Errors
    /// [`PrefixError::Length`], [`PrefixError::HostBits`].
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Ipv6Prefix, PrefixError> {
        if len > 128 {
            return Err(PrefixError::Length(len));
        }
        let a = addr.to_bits();
        if a & !mask6(len) != 0 {
            let net = Ipv6Prefix::truncating(addr, len);
            return Err(PrefixError::HostBits(
                format!("{addr}/{len}"),
                net.to_string(),
            ));
        }
        Ok(Ipv6Prefix {
            addr: a.to_be_bytes(),
            len,
        })
    }

    /// The prefix of `addr` of length `len` (host bits cleared; len clamped to 128).
    pub fn truncating(addr: Ipv6Addr, len: u8) -> Ipv6Prefix {
        let len = len.min(128);
        Ipv6Prefix {
            addr: (addr.to_bits() & mask6(len)).to_be_bytes(),
            len,
        }
    }

    /// Network address as bits.
    pub const fn bits(&self) -> u128 {
        u128::from_be_bytes(self.addr)
    }

    /// Network address.
    pub const fn addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.bits())
    }

    /// Prefix length.
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// True for ::/0.
    pub const fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Last address covered.
    pub const fn last(&self) -> u128 {
        self.bits() | !mask6(self.len)
    }

    /// Does the prefix cover `a`?
    pub const fn contains(&self, a: Ipv6Addr) -> bool {
        a.to_bits() & mask6(self.len) == self.bits()
    }
}

// `len` is the mask width of a prefix, not a count of elements.
#[allow(clippy::len_without_is_empty)]
impl IpPrefix {
    /// A prefix of either family.
    ///
    /// # Errors
    /// As [`Ipv4Prefix::new`] / [`Ipv6Prefix::new`].
    pub fn new(addr: IpAddr, len: u8) -> Result<IpPrefix, PrefixError> {
        Ok(match addr {
            IpAddr::V4(a) => IpPrefix::V4(Ipv4Prefix::new(a, len)?),
            IpAddr::V6(a) => IpPrefix::V6(Ipv6Prefix::new(a, len)?),
        })
    }

    /// Prefix length.
    pub fn len(&self) -> u8 {
        match self {
            IpPrefix::V4(p) => p.len(),
            IpPrefix::V6(p) => p.len(),
        }
    }

    /// True for a default route of either family.
    pub fn is_default(&self) -> bool {
        self.len() == 0
    }

    /// Network address.
    pub fn addr(&self) -> IpAddr {
        match self {
            IpPrefix::V4(p) => IpAddr::V4(p.addr()),
            IpPrefix::V6(p) => IpAddr::V6(p.addr()),
        }
    }

    /// Does the prefix cover `a` (false across families)?
    pub fn contains(&self, a: IpAddr) -> bool {
        match (self, a) {
            (IpPrefix::V4(p), IpAddr::V4(a)) => p.contains(a),
            (IpPrefix::V6(p), IpAddr::V6(a)) => p.contains(a),
            _ => false,
        }
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpPrefix::V4(p) => p.fmt(f),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

fn split(s: &str) -> Result<(&str, u8), PrefixError> {
    let (a, l) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| PrefixError::Syntax(s.to_string()))?;
    let len = l
        .parse::<u8>()
        .map_err(|_| PrefixError::Syntax(s.to_string()))?;
    Ok((a, len))
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, len) = split(s)?;
        Ipv4Prefix::new(
            a.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?,
            len,
        )
    }
}

impl FromStr for Ipv6Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, len) = split(s)?;
        Ipv6Prefix::new(
            a.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?,
            len,
        )
    }
}

impl FromStr for IpPrefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, len) = split(s)?;
        IpPrefix::new(
            a.parse().map_err(|_| PrefixError::Syntax(s.to_string()))?,
            len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check() {
        let p: Ipv4Prefix = "10.1.0.0/16".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert!(p.contains("10.1.255.3".parse().unwrap()));
        assert!(!p.contains("10.2.0.0".parse().unwrap()));
        assert_eq!(p.last(), 0x0a01_ffff);
        assert_eq!(
            "10.1.0.1/16".parse::<Ipv4Prefix>().unwrap_err(),
            PrefixError::HostBits("10.1.0.1/16".into(), "10.1.0.0/16".into())
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Ipv4Prefix>(),
            Err(PrefixError::Length(33))
        ));
        assert!(matches!(
            "10.0.0.0".parse::<Ipv4Prefix>(),
            Err(PrefixError::Syntax(_))
        ));
        let d: IpPrefix = "::/0".parse().unwrap();
        assert!(d.is_default());
        let p6: Ipv6Prefix = "2001:db8::/32".parse().unwrap();
        assert!(p6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert_eq!(
            Ipv4Prefix::truncating("10.1.2.3".parse().unwrap(), 8).to_string(),
            "10.0.0.0/8"
        );
    }
}
