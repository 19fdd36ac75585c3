//! Why packets are dropped: one enum, one name, one description and one
//! counter each (VPP's error lists, STYLE §3). Parse errors from the wire
//! crate are drop reasons too, under their own names. Every node's reasons
//! are here, so one counter array indexed by [`DropReason::index`] covers
//! the whole graph and `show errors` lists them all.

use orbital_wire::ParseError;

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $desc:literal; )+) => {
        /// A drop reason that is not a parse error.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reason {
            $( $(#[$doc])* $variant, )+
        }

        impl Reason {
            const ALL: &'static [Reason] = &[$(Reason::$variant),+];
            const fn name(self) -> &'static str {
                match self { $(Reason::$variant => $name),+ }
            }
            const fn description(self) -> &'static str {
                match self { $(Reason::$variant => $desc),+ }
            }
        }
    };
}

drop_reasons! {
    /// The frame arrived on a port with no configuration.
    UnknownPort => "unknown-port", "frame on a port that is not configured";
    /// A tag the port does not carry (or any tag on a routed port).
    VlanNotAllowed => "vlan-not-allowed", "VLAN not allowed on the port";
    /// A VLAN with no bridge domain.
    NoBridge => "no-bridge", "VLAN has no bridge domain";
    /// Unicast to another station on a routed port.
    NotForUs => "l2-not-for-us", "unicast frame for another MAC on a routed port";
    /// The destination station is behind the ingress port.
    SamePort => "l2-same-port", "destination is behind the port the frame came from";
    /// Neither IPv4, IPv6 nor ARP on an L3 interface.
    UnsupportedL3 => "unsupported-ethertype", "EtherType the router does not handle";
    /// RFC 1812 §5.3.7 source.
    MartianSource => "martian-source", "source address never forwarded (0/8, 127/8, multicast, class E, ::, ::1)";
    /// Destination never routed.
    MartianDestination => "martian-destination", "destination never routed (0/8, 127/8, class E, broadcast)";
    /// Multicast routing is not done.
    Multicast => "multicast-not-routed", "multicast destination (no multicast routing)";
    /// IPv6 link-local scope.
    LinkLocal => "link-local-not-forwarded", "IPv6 link-local address would leave its link";
    /// TTL / hop limit expired.
    TtlExpired => "ttl-expired", "TTL or hop limit would reach zero";
    /// No route.
    NoRoute => "no-route", "no route to the destination";
    /// Blackhole route.
    Blackhole => "blackhole", "blackhole route";
    /// Unreachable route.
    Unreachable => "unreachable-route", "unreachable route";
    /// Prohibit route.
    Prohibited => "prohibited", "administratively prohibited route";
    /// Too big with DF / IPv6.
    TooBig => "too-big", "larger than the egress MTU and may not be fragmented";
    /// Software fragmentation failed.
    FragmentFailed => "fragment-failed", "could not be fragmented (MTU too small or malformed)";
    /// No buffer for a copy or fragment.
    NoBuffer => "no-buffer", "buffer pool exhausted while copying or fragmenting";
    /// Punt token bucket empty.
    PuntRateLimited => "punt-rate-limited", "slow-path punt rate limit exceeded";
    /// Punt ring full.
    PuntQueueFull => "punt-queue-full", "slow-path punt ring full";
    /// Transmit queue full.
    TxQueueFull => "tx-queue-full", "port transmit queue full";
    /// The port refused the frame itself.
    TxError => "tx-error", "the port refused the frame (larger than the device takes, or a device error)";
    /// Inject ring full (slow path side).
    InjectQueueFull => "inject-queue-full", "slow-path inject ring full";
    /// The hold queue for unresolved neighbours is full: this neighbour's
    /// share or all neighbours' together.
    HoldQueueFull => "neighbor-hold-full", "waiting for neighbour resolution, and its hold queue or the total is full ([engine] neighbor_hold_bytes, neighbor_hold_total_bytes)";
    /// Neighbour did not answer.
    NeighborUnresolved => "neighbor-unresolved", "neighbour resolution timed out";
    /// ICMP error rate limit (RFC 1812 §4.3.2.8).
    IcmpRateLimited => "icmp-rate-limited", "ICMP error rate limit exceeded";
    /// No ICMP error allowed about this packet (RFC 1812 §4.3.2.7).
    IcmpNotAllowed => "icmp-not-allowed", "dropped; an ICMP error about it is not allowed";
    /// For the router, nothing listens.
    LocalNoListener => "local-no-listener", "for the router, no service listens";
    /// ARP the router ignores.
    ArpIgnored => "arp-ignored", "ARP not for the router and not about a known neighbour";
    /// NDP the router ignores or refuses.
    NdIgnored => "nd-ignored", "neighbour discovery message ignored (not for us, or invalid)";
    /// Failed the slow path's strict validation.
    SlowPathInvalid => "slowpath-invalid", "failed slow-path validation (checksum, lengths, fields)";
    /// No source address to send a reply or error from.
    NoSourceAddress => "no-source-address", "no router address of that family to reply from";
    /// RFC 1812 §5.2.2: a router verifies the IPv4 header checksum.
    Ipv4BadChecksum => "ipv4-bad-checksum", "IPv4 header checksum is wrong (RFC 1812 §5.2.2)";
    /// RFC 1812 §5.3.4: a packet received as a link-layer broadcast or
    /// multicast is not forwarded (no multicast is routed here).
    L2BroadcastNotForwarded => "l2-broadcast-not-forwarded", "received as a link-layer broadcast or multicast: never forwarded (RFC 1812 §5.3.4)";
    /// RFC 1812 §5.2.4.1: source-routed packets, unless the router accepts
    /// them (`[engine] accept_source_route`, off by default as Linux's
    /// `accept_source_route = 0`).
    Ipv4SourceRoute => "ipv4-source-route", "IPv4 loose or strict source route option, not accepted ([engine] accept_source_route, RFC 1812 §5.2.4.1)";
    /// A firewall rule said drop.
    FwDrop => "fw-drop", "dropped by a firewall rule";
    /// A firewall rule dropped a packet conntrack found invalid.
    FwDropInvalid => "ct-invalid", "dropped by a firewall rule as ct state invalid (out of window, bad flags, ...)";
    /// A firewall rule said reject.
    FwReject => "fw-reject", "rejected by a firewall rule (an ICMP error or TCP reset answered it)";
    /// A base chain's policy.
    FwPolicy => "fw-policy-drop", "dropped by a firewall chain's policy (no rule accepted it)";
    /// A connection the new policy no longer allows.
    FwRecheck => "fw-recheck-drop", "its connection predates the policy, which no longer allows it";
    /// No room for a new connection.
    CtTableFull => "ct-table-full", "connection table full (only established connections left to keep)";
    /// The index could not place a new connection.
    CtInsertFailed => "ct-insert-failed", "connection index could not place a new entry";
    /// NPTv6 cannot translate the address checksum-neutrally (RFC 6296
    /// §3.4, §3.5: the word that absorbs the adjustment is 0xFFFF).
    NatUntranslatable => "nat-untranslatable", "NPTv6 cannot translate the address (its adjustment word is 0xFFFF, RFC 6296 §3.4)";
    /// Stateful NAT's filtering refused an inbound packet (RFC 4787 REQ-8).
    NatFiltered => "nat-filtered", "to a NAT mapping, from a remote its filtering does not let in (RFC 4787 REQ-8)";
    /// No external port left for a new mapping.
    NatPortsExhausted => "nat-ports-exhausted", "no external port left for a new NAT mapping";
    /// No room for a new NAT session.
    NatSessionTableFull => "nat-session-table-full", "NAT session table full ([nat] max_sessions per worker)";
    /// An inside host holds its most sessions or ports.
    NatHostLimit => "nat-host-limit", "an inside host holds its most NAT sessions or ports ([nat] max_sessions_per_host, max_ports_per_host)";
    /// A fragment to a stateful NAT address that cannot be followed.
    NatFragment => "nat-fragment", "fragment to a NAT address that cannot be followed (its first fragment was refused or never came, or the fragment table is full)";
    /// Hand-off ring to the owning worker full.
    HandoffQueueFull => "handoff-queue-full", "ring to the worker owning the flow is full";
    /// Nodes made more packets in one poll than it carries.
    CreatedOverflow => "created-overflow", "more packets made from one burst than a poll carries";
    /// No node decided the packet's fate.
    Undecided => "undecided", "no node decided the packet's fate (a bug: counted, never leaked)";
}

/// Why a packet was dropped. Indexes a counter array of [`DropReason::COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The parser refused it.
    Parse(ParseError),
    /// Any other reason.
    Other(Reason),
}

impl From<Reason> for DropReason {
    fn from(r: Reason) -> Self {
        DropReason::Other(r)
    }
}

impl DropReason {
    /// Number of reasons: the size of a counter array.
    pub const COUNT: usize = ParseError::COUNT + Reason::ALL.len();

    /// Every reason, in index order.
    pub fn all() -> impl Iterator<Item = DropReason> {
        ParseError::ALL
            .iter()
            .map(|&e| DropReason::Parse(e))
            .chain(Reason::ALL.iter().map(|&r| DropReason::Other(r)))
    }

    /// Dense index.
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            DropReason::Parse(e) => e.index(),
            DropReason::Other(r) => ParseError::COUNT + r as usize,
        }
    }

    /// Stable kebab-case name (counters, JSON, traces, Prometheus labels).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Parse(e) => e.name(),
            DropReason::Other(r) => r.name(),
        }
    }

    /// One line for people.
    pub fn description(self) -> &'static str {
        match self {
            DropReason::Parse(_) => "malformed packet (parse error)",
            DropReason::Other(r) => r.description(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        let all: Vec<_> = DropReason::all().collect();
        assert_eq!(all.len(), DropReason::COUNT);
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut names: Vec<_> = all.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
