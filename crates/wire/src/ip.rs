//! Things IPv4 and IPv6 share: the protocol / next-header number space.

use crate::field::enum_with_unknown;

enum_with_unknown! {
    /// IP protocol number (IPv4) / next header (IPv6), IANA "Assigned Internet
    /// Protocol Numbers".
    pub enum IpProtocol(u8) {
        /// IPv6 hop-by-hop options (RFC 8200 §4.3).
        HopByHop = 0,
        /// ICMP (RFC 792).
        Icmp = 1,
        /// IGMP (RFC 3376).
        Igmp = 2,
        /// IPv4 encapsulated (RFC 2003).
        IpIp = 4,
        /// TCP (RFC 9293).
        Tcp = 6,
        /// UDP (RFC 768).
        Udp = 17,
        /// IPv6 encapsulated (RFC 2473 / 4213).
        Ipv6 = 41,
        /// IPv6 routing header (RFC 8200 §4.4).
        Ipv6Route = 43,
        /// IPv6 fragment header (RFC 8200 §4.5).
        Ipv6Frag = 44,
        /// GRE (RFC 2784).
        Gre = 47,
        /// ESP (RFC 4303).
        Esp = 50,
        /// Authentication header (RFC 4302).
        Ah = 51,
        /// ICMPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 "no next header" (RFC 8200 §4.7).
        Ipv6NoNxt = 59,
        /// IPv6 destination options (RFC 8200 §4.6).
        Ipv6Opts = 60,
        /// SCTP (RFC 9260).
        Sctp = 132,
        /// Mobility header (RFC 6275).
        Mobility = 135,
    }
}

impl IpProtocol {
    /// True for the IPv6 extension headers the bounded walk steps over
    /// (RFC 8200 §4 and the IANA "IPv6 Extension Header Types" registry entries
    /// that use the generic TLV length format).
    #[inline]
    pub fn is_ipv6_extension(self) -> bool {
        matches!(
            self,
            IpProtocol::HopByHop
                | IpProtocol::Ipv6Route
                | IpProtocol::Ipv6Frag
                | IpProtocol::Ipv6Opts
                | IpProtocol::Ah
                | IpProtocol::Mobility
        )
    }

    /// Short lowercase name, as tcpdump prints it.
    pub fn name(self) -> &'static str {
        match self {
            IpProtocol::HopByHop => "hopopts",
            IpProtocol::Icmp => "icmp",
            IpProtocol::Igmp => "igmp",
            IpProtocol::IpIp => "ipip",
            IpProtocol::Tcp => "tcp",
            IpProtocol::Udp => "udp",
            IpProtocol::Ipv6 => "ipv6",
            IpProtocol::Ipv6Route => "routing",
            IpProtocol::Ipv6Frag => "fragment",
            IpProtocol::Gre => "gre",
            IpProtocol::Esp => "esp",
            IpProtocol::Ah => "ah",
            IpProtocol::Icmpv6 => "icmpv6",
            IpProtocol::Ipv6NoNxt => "none",
            IpProtocol::Ipv6Opts => "dstopts",
            IpProtocol::Sctp => "sctp",
            IpProtocol::Mobility => "mobility",
            IpProtocol::Unknown(_) => "unknown",
        }
    }
}
