//! The firewall's rule vocabulary: what the control side's parser (the
//! nftables-like text in the configuration) produces and the compiler turns
//! into a classifier. Typed and already resolved — interface names are ids,
//! named sets are expanded into their elements, services and ICMP type
//! names are numbers — so the data side never parses.
//!
//! A [`Ruleset`] is a list of chains. A base chain sits at a hook with a
//! priority (lower runs first, as in nftables) and a policy for packets no
//! rule decides; a regular chain is only reached by `jump` / `goto`. A rule
//! is a conjunction of matches (each a set of values of one packet field,
//! optionally negated, or a set of tuples over several fields), an optional
//! rate limit (the rule matches only while under it, or only while over
//! it), optional `log`, `notrack`, and an optional verdict; a rule without
//! a verdict lets the packet go on to the next rule once it has counted
//! (and logged) it.

use core::fmt;

/// A packet field a rule can test. Its value for a packet is an unsigned
/// number (addresses are 32 or 128 bits; the rest fit 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// 4 or 6 (set by `ip`/`ip6` matches and by `meta nfproto`).
    Family,
    /// The L3 interface the packet arrived on (routed port or bridge
    /// interface id).
    Iif,
    /// The L3 interface it leaves by.
    Oif,
    /// The physical port it arrived on.
    Iport,
    /// The physical port it leaves by.
    Oport,
    /// The bridge VLAN it arrived in (0: none).
    Ivlan,
    /// The bridge VLAN it leaves in (0: none).
    Ovlan,
    /// IPv4 source.
    Ip4Saddr,
    /// IPv4 destination.
    Ip4Daddr,
    /// IPv6 source.
    Ip6Saddr,
    /// IPv6 destination.
    Ip6Daddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    L4Proto,
    /// TCP/UDP/SCTP source port.
    Sport,
    /// TCP/UDP/SCTP destination port.
    Dport,
    /// ICMP or ICMPv6 type.
    IcmpType,
    /// ICMP or ICMPv6 code.
    IcmpCode,
    /// TCP flags (FIN 0x01 … CWR 0x80).
    TcpFlags,
    /// Connection tracking state, one bit each ([`ct_state`]).
    CtState,
    /// Connection tracking status bits ([`ct_status`]).
    CtStatus,
    /// DSCP (6 bits).
    Dscp,
    /// IP packet length (IPv4 total length, IPv6 40 + payload length).
    Length,
    /// Fragment: 0 not one, 1 first fragment, 2 a later fragment.
    Frag,
}

impl Field {
    /// Every field, in key order.
    pub const ALL: [Field; 22] = [
        Field::Family,
        Field::Iif,
        Field::Oif,
        Field::Iport,
        Field::Oport,
        Field::Ivlan,
        Field::Ovlan,
        Field::Ip4Saddr,
        Field::Ip4Daddr,
        Field::Ip6Saddr,
        Field::Ip6Daddr,
        Field::L4Proto,
        Field::Sport,
        Field::Dport,
        Field::IcmpType,
        Field::IcmpCode,
        Field::TcpFlags,
        Field::CtState,
        Field::CtStatus,
        Field::Dscp,
        Field::Length,
        Field::Frag,
    ];

    /// The largest value the field takes.
    pub const fn max(self) -> u128 {
        match self {
            Field::Ip6Saddr | Field::Ip6Daddr => u128::MAX,
            Field::Ip4Saddr | Field::Ip4Daddr => u32::MAX as u128,
            Field::Family => 6,
            Field::Iif | Field::Oif | Field::Iport | Field::Oport => u16::MAX as u128,
            Field::Ivlan | Field::Ovlan => 4095,
            Field::L4Proto
            | Field::IcmpType
            | Field::IcmpCode
            | Field::TcpFlags
            | Field::CtState
            | Field::CtStatus => u8::MAX as u128,
            Field::Sport | Field::Dport | Field::Length => u16::MAX as u128,
            Field::Dscp => 63,
            Field::Frag => 2,
        }
    }

    /// Its name in rule text (for listings).
    pub const fn name(self) -> &'static str {
        match self {
            Field::Family => "meta nfproto",
            Field::Iif => "iif",
            Field::Oif => "oif",
            Field::Iport => "iport",
            Field::Oport => "oport",
            Field::Ivlan => "ivlan",
            Field::Ovlan => "ovlan",
            Field::Ip4Saddr => "ip saddr",
            Field::Ip4Daddr => "ip daddr",
            Field::Ip6Saddr => "ip6 saddr",
            Field::Ip6Daddr => "ip6 daddr",
            Field::L4Proto => "meta l4proto",
            Field::Sport => "th sport",
            Field::Dport => "th dport",
            Field::IcmpType => "icmp type",
            Field::IcmpCode => "icmp code",
            Field::TcpFlags => "tcp flags",
            Field::CtState => "ct state",
            Field::CtStatus => "ct status",
            Field::Dscp => "dscp",
            Field::Length => "meta length",
            Field::Frag => "fragment",
        }
    }
}

/// Connection tracking states as bits of [`Field::CtState`].
pub mod ct_state {
    /// The first packet of a connection (or one not yet confirmed).
    pub const NEW: u8 = 1;
    /// A packet of a connection that has seen both directions.
    pub const ESTABLISHED: u8 = 2;
    /// An ICMP error about a tracked connection.
    pub const RELATED: u8 = 4;
    /// A packet conntrack cannot fit to a state (out of window, bad flags).
    pub const INVALID: u8 = 8;
    /// Not tracked (`notrack`).
    pub const UNTRACKED: u8 = 16;
}

/// Connection tracking status bits of [`Field::CtStatus`].
pub mod ct_status {
    /// The connection's destination is translated.
    pub const DNAT: u8 = 1;
    /// The connection's source is translated.
    pub const SNAT: u8 = 2;
    /// Seen in both directions.
    pub const SEEN_REPLY: u8 = 4;
    /// Assured: will not be evicted for new connections.
    pub const ASSURED: u8 = 8;
}

/// The values of one field a match accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// Any of these inclusive ranges (a single value is `(v, v)`, a prefix
    /// its first and last address).
    Ranges(Vec<(u128, u128)>),
    /// The bits under `mask` equal `value` (`tcp flags & (syn|ack) == syn`).
    Mask {
        /// Required bits.
        value: u32,
        /// Which bits count.
        mask: u32,
    },
}

/// One field tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The field.
    pub field: Field,
    /// The values it must have.
    pub values: Values,
    /// True for `!=`: the values it must not have.
    pub negate: bool,
}

/// Several fields tested together against a set of tuples (a concatenated
/// set: `ip daddr . tcp dport { 10.0.0.1 . 22, 10.0.0.2 . 80 }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleMatch {
    /// The fields, in order.
    pub fields: Vec<Field>,
    /// Each element: one inclusive range per field.
    pub elements: Vec<Vec<(u128, u128)>>,
}

/// How `reject` answers (RFC 1812 §4.3.2 / RFC 4443 codes; TCP RST per
/// RFC 9293 §3.10.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectWith {
    /// ICMP(v6) port unreachable (the default for non-TCP).
    PortUnreachable,
    /// ICMP host unreachable / ICMPv6 address unreachable.
    HostUnreachable,
    /// ICMP network unreachable / ICMPv6 no route.
    NetUnreachable,
    /// ICMP communication administratively prohibited / ICMPv6 the same.
    AdminProhibited,
    /// A TCP reset (the default for TCP).
    TcpReset,
}

/// Where a packet goes when a rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through this hook.
    Accept,
    /// Drop it silently.
    Drop,
    /// Drop it and answer as said (`None`: TCP reset for TCP, port
    /// unreachable otherwise).
    Reject(Option<RejectWith>),
    /// Evaluate chain N, then come back (unless it decides).
    Jump(u32),
    /// Evaluate chain N and do not come back.
    Goto(u32),
    /// Back to the chain that jumped here (at a base chain: its policy).
    Return,
}

/// A rate limit (`limit rate [over] N/second [burst M packets]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Packets per second.
    pub per_second: u64,
    /// Burst, packets.
    pub burst: u64,
    /// `over`: the rule matches only packets beyond the rate.
    pub over: bool,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// All must hold.
    pub matches: Vec<Match>,
    /// All must hold.
    pub tuples: Vec<TupleMatch>,
    /// A rate limit the rule is subject to.
    pub limit: Option<Limit>,
    /// Log matching packets, with this prefix.
    pub log: Option<String>,
    /// Do not track the packet's connection (only before conntrack: raw
    /// priority at prerouting or output).
    pub notrack: bool,
    /// What to do; `None`: count (and log) and go on.
    pub verdict: Option<Verdict>,
    /// The rule as written (listings).
    pub text: String,
}

/// A hook a base chain sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FwHook {
    /// Before routing.
    Prerouting,
    /// For the router.
    Input,
    /// Through the router.
    Forward,
    /// From the router.
    Output,
    /// After routing, leaving.
    Postrouting,
}

impl FwHook {
    /// All five.
    pub const ALL: [FwHook; 5] = [
        FwHook::Prerouting,
        FwHook::Input,
        FwHook::Forward,
        FwHook::Output,
        FwHook::Postrouting,
    ];

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            FwHook::Prerouting => "prerouting",
            FwHook::Input => "input",
            FwHook::Forward => "forward",
            FwHook::Output => "output",
            FwHook::Postrouting => "postrouting",
        }
    }
}

/// nftables' priority of the `raw` chains: before connection tracking.
pub const PRIORITY_RAW: i32 = -300;
/// Connection tracking's own priority: chains below it see packets before
/// their connection is looked up (`notrack` works only there).
pub const PRIORITY_CONNTRACK: i32 = -200;
/// The `filter` priority.
pub const PRIORITY_FILTER: i32 = 0;

/// What a base chain does with a packet no rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Let it through.
    Accept,
    /// Drop it.
    Drop,
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name.
    pub name: String,
    /// For a base chain: its hook, priority and policy.
    pub base: Option<(FwHook, i32, Policy)>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// Every chain of the firewall. Chain ids (in `Jump`/`Goto`) index `chains`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// The chains.
    pub chains: Vec<Chain>,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        })
    }
}
