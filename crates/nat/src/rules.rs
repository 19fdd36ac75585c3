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

/// Sessions per inside host by default: VPP NAT44-ED's default per user
/// (`max translations per user`), ample for a desktop, not for a scan.
pub const DEFAULT_SESSIONS_PER_HOST: u32 = 10_240;

/// External ports per inside host by default: a sixteenth of one address's
/// ports, so sixteen busy hosts still leave room on a single-address
/// masquerade (endpoint-independent mapping spends one port per inside
/// port, not per destination).
pub const DEFAULT_PORTS_PER_HOST: u32 = 4_096;

/// Every NAT rule of a configuration, and the stateful part's sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatRules {
    /// Stateless translations, in configuration order.
    pub statics: Vec<StaticNat>,
    /// Stateful source NAT, first match by inside prefix.
    pub sources: Vec<SourceNat>,
    /// Port forwards.
    pub forwards: Vec<PortForward>,
    /// Sessions per worker (allocated at start: a change needs a restart).
    pub max_sessions: u32,
    /// Sessions one inside host may hold, on all workers together.
    pub max_sessions_per_host: u32,
    /// External ports (ICMP identifiers) one inside host may hold.
    pub max_ports_per_host: u32,
    /// Keep the mapping log (see [`crate::log`]).
    pub log: bool,
    /// Session timeouts.
    pub timeouts: crate::session::Timeouts,
}

impl Default for NatRules {
    fn default() -> Self {
        NatRules {
            statics: Vec::new(),
            sources: Vec::new(),
            forwards: Vec::new(),
            max_sessions: 65_536,
            max_sessions_per_host: DEFAULT_SESSIONS_PER_HOST,
            max_ports_per_host: DEFAULT_PORTS_PER_HOST,
            log: false,
            timeouts: crate::session::Timeouts::default(),
        }
    }
}

impl NatRules {
    /// No NAT at all.
    pub fn is_empty(&self) -> bool {
        self.statics.is_empty() && !self.stateful()
    }

    /// What to call rule `i` of [`crate::NatError::rule`]'s numbering
    /// (static rules, then source NAT rules, then port forwards).
    pub fn label(&self, i: usize) -> String {
        let (s, n) = (self.statics.len(), self.sources.len());
        if i < s {
            format!("static NAT rule {}", i + 1)
        } else if i < s + n {
            format!("source NAT rule {}", i - s + 1)
        } else {
            format!("port forward {}", i - s - n + 1)
        }
    }

    /// Any stateful translation.
    pub fn stateful(&self) -> bool {
        !self.sources.is_empty() || !self.forwards.is_empty()
    }
}

/// Which unsolicited inbound packets reach a mapping (RFC 4787 §5, REQ-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filtering {
    /// From anyone.
    EndpointIndependent,
    /// From addresses the inside endpoint has sent to.
    AddressDependent,
    /// From address and port pairs the inside endpoint has sent to (the
    /// default: the most restrictive, what RFC 4787 REQ-8 lets a NAT pick
    /// for security).
    #[default]
    AddressAndPortDependent,
}

impl Filtering {
    /// Its configuration name.
    pub const fn name(self) -> &'static str {
        match self {
            Filtering::EndpointIndependent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
        }
    }
}

/// Stateful source NAT (NAPT): inside hosts leaving through `iface` share
/// the `pool` addresses, each host always on the same one (paired pooling,
/// RFC 4787 REQ-2), each inside endpoint on one external port for every
/// destination (endpoint-independent mapping, REQ-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceNat {
    /// The outside interface.
    pub iface: IfId,
    /// Its name, for display.
    pub iface_name: String,
    /// The sources translated (IPv4 prefixes).
    pub inside: Vec<IpPrefix>,
    /// External addresses (masquerade: the interface's address).
    pub pool: Vec<std::net::Ipv4Addr>,
    /// Whether the pool is the interface's address.
    pub masquerade: bool,
    /// Inbound filtering.
    pub filtering: Filtering,
}

/// A port forward (destination NAT): connections to `addr`, protocol
/// `proto`, ports `ports` arriving on `iface` go to `to`, from port
/// `to_port` on (a range keeps its offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// Where they arrive.
    pub iface: IfId,
    /// Its name, for display.
    pub iface_name: String,
    /// TCP (6) or UDP (17).
    pub proto: u8,
    /// The external address (the interface's, by default).
    pub addr: std::net::Ipv4Addr,
    /// First and last external port.
    pub ports: (u16, u16),
    /// The inside server.
    pub to: std::net::Ipv4Addr,
    /// Its first port.
    pub to_port: u16,
}
