//! The typed NAT vocabulary the control side produces from the
//! configuration (`[[nat.static]]`) and the API; the data side never
//! parses text.

use orbital_fib::{IfId, IpPrefix};

/// A stateless prefix translation, both directions: 1:1 NAT (two /32s),
/// prefix-to-prefix NAT44 (host bits kept), or NPTv6 (RFC 6296) for IPv6
/// prefixes. Packets leaving through `iface` from an `inside` address get
/// its `outside` counterpart as source; packets to an `outside` address,
/// whatever interface they came in by, get the `inside` counterpart as
/// destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticNat {
    /// The prefix of the inside hosts.
    pub inside: IpPrefix,
    /// The prefix they appear as.
    pub outside: IpPrefix,
    /// The outside interface (where source translation happens).
    pub iface: IfId,
    /// Its name, for display.
    pub iface_name: String,
}

/// Every NAT rule of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatRules {
    /// Stateless translations, in configuration order.
    pub statics: Vec<StaticNat>,
}

impl NatRules {
    /// No NAT at all.
    pub fn is_empty(&self) -> bool {
        self.statics.is_empty()
    }
}
