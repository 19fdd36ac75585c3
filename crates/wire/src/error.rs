//! The one error type of the wire crate.
//!
//! Flat and `Copy` on purpose: the pipeline maps each variant to a drop reason
//! and a counter index without allocating, and `orbital inspect` counts them by
//! [`ParseError::name`]. Adding a variant adds a name, a description and a
//! counter slot in one place.

use core::fmt;

/// The protocol layer a [`ParseError`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Link layer (Ethernet II, Linux cooked, raw IP framing).
    Link,
    /// 802.1Q / 802.1ad tags.
    Vlan,
    /// ARP.
    Arp,
    /// IPv4 header and options.
    Ipv4,
    /// IPv6 fixed header and extension headers.
    Ipv6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMPv4.
    Icmpv4,
    /// ICMPv6 (including NDP).
    Icmpv6,
}

macro_rules! parse_errors {
    ($( $(#[$doc:meta])* $variant:ident => ($name:literal, $layer:ident), )+) => {
        /// Why a frame could not be parsed. Each variant names one defect.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum ParseError {
            $( $(#[$doc])* $variant, )+
        }

        impl ParseError {
            /// Every variant, in counter-index order.
            pub const ALL: &'static [ParseError] = &[$(ParseError::$variant),+];
            /// Number of variants (the size of a per-error counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// Stable kebab-case name, used in counters, JSON and traces.
            pub const fn name(self) -> &'static str {
                match self { $(ParseError::$variant => $name),+ }
            }

            /// The layer the defect was found in.
            pub const fn layer(self) -> Layer {
                match self { $(ParseError::$variant => Layer::$layer),+ }
            }

            /// Dense index in `0..COUNT`, for counter arrays.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

parse_errors! {
    /// Shorter than an Ethernet header (or the link header of the capture).
    TruncatedLink => ("truncated-link", Link),
    /// A VLAN tag is cut short.
    TruncatedVlan => ("truncated-vlan", Vlan),
    /// More VLAN tags than the data plane handles (two: 802.1ad outer, 802.1Q inner).
    TooManyVlans => ("too-many-vlans", Vlan),
    /// Shorter than an ARP packet.
    TruncatedArp => ("truncated-arp", Arp),
    /// ARP hardware/protocol type or address lengths other than Ethernet/IPv4.
    UnsupportedArp => ("unsupported-arp", Arp),
    /// Shorter than the 20-byte IPv4 header.
    TruncatedIpv4 => ("truncated-ipv4", Ipv4),
    /// IP version field disagrees with the EtherType (or is neither 4 nor 6 on raw IP).
    BadIpVersion => ("bad-ip-version", Ipv4),
    /// IPv4 IHL below 5, or header longer than the frame.
    BadIhl => ("bad-ihl", Ipv4),
    /// IPv4 total length shorter than the header or longer than the frame.
    BadTotalLength => ("bad-total-length", Ipv4),
    /// IPv4 options are malformed (RFC 1812 §5.2.4: a length byte of zero, one or past the header; a record route, source route or timestamp pointer out of place; a repeated option).
    BadIpv4Option => ("bad-ipv4-option", Ipv4),
    /// IPv4 fragment reaches past 65,535 bytes.
    BadFragment => ("bad-fragment", Ipv4),
    /// Shorter than the 40-byte IPv6 header.
    TruncatedIpv6 => ("truncated-ipv6", Ipv6),
    /// IPv6 payload length longer than the frame, or zero (jumbogram) which the data plane does not forward.
    BadPayloadLength => ("bad-payload-length", Ipv6),
    /// An IPv6 extension header runs past the packet.
    BadExtensionHeader => ("bad-extension-header", Ipv6),
    /// Hop-by-hop options anywhere but directly after the IPv6 header (RFC 8200 §4.1).
    HopByHopNotFirst => ("hop-by-hop-not-first", Ipv6),
    /// More extension headers than the bounded walk allows.
    TooManyExtensionHeaders => ("too-many-extension-headers", Ipv6),
    /// IPv6 fragment header with inconsistent length or offset.
    BadIpv6Fragment => ("bad-ipv6-fragment", Ipv6),
    /// Shorter than the 20-byte TCP header.
    TruncatedTcp => ("truncated-tcp", Tcp),
    /// TCP data offset below 5 or past the segment.
    BadTcpDataOffset => ("bad-tcp-data-offset", Tcp),
    /// TCP options malformed.
    BadTcpOption => ("bad-tcp-option", Tcp),
    /// Shorter than the 8-byte UDP header.
    TruncatedUdp => ("truncated-udp", Udp),
    /// UDP length field below 8 or past the datagram.
    BadUdpLength => ("bad-udp-length", Udp),
    /// Shorter than the ICMP header.
    TruncatedIcmpv4 => ("truncated-icmp", Icmpv4),
    /// Shorter than the ICMPv6 header (or an NDP message body).
    TruncatedIcmpv6 => ("truncated-icmpv6", Icmpv6),
    /// NDP option with length zero or past the message (RFC 4861 §4.6).
    BadNdpOption => ("bad-ndp-option", Icmpv6),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_dense_and_names_unique() {
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
        let mut names: Vec<_> = ParseError::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ParseError::COUNT);
    }
}
