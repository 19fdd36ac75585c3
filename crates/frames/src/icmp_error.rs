//! ICMP errors about a packet the router does not forward (RFC 1812 §4.3,
//! RFC 4443): the error itself, its size bounds, and the builders that
//! write it as an IP packet (the caller adds the Ethernet header in the
//! headroom).

use core::net::{Ipv4Addr, Ipv6Addr};

use orbital_buf::Packet;
use orbital_wire::icmpv4::{self, Icmpv4Repr};
use orbital_wire::icmpv6::{self, Icmpv6Repr};
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use orbital_wire::ipv6::{self, Ipv6Repr};

/// An ICMP error owed to the sender of a dropped packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Time exceeded in transit (ICMP 11/0, ICMPv6 3/0).
    TimeExceeded,
    /// Destination unreachable with this code (ICMP type 3 / ICMPv6 type 1).
    Unreachable(u8),
    /// Fragmentation needed (ICMP 3/4) / packet too big (ICMPv6 2), with the
    /// next-hop MTU.
    TooBig(u16),
}

/// Largest ICMPv4 error datagram (RFC 1812 §4.3.2.3: as much of the offending
/// datagram as fits in 576 bytes, at least its header and 8 bytes).
pub const MAX_ICMPV4_ERROR: usize = 576;

/// Write an ICMPv4 error about `offending` (the IP packet, from its header to
/// its total length) into `out` as an IP packet from `src` to the offender's
/// source. Returns false (leaving `out` empty) if `offending` is not a valid
/// IPv4 header or `out` has no room.
pub fn build_icmpv4_error(
    err: IcmpError,
    offending: &[u8],
    src: Ipv4Addr,
    out: &mut Packet,
) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(offending) else {
        return false;
    };
    let quote_len = offending
        .len()
        .min(usize::from(ip.total_len()))
        .min(MAX_ICMPV4_ERROR - ipv4::HEADER_LEN - icmpv4::HEADER_LEN);
    let quote = &offending[..quote_len];
    let icmp = match err {
        IcmpError::TimeExceeded => Icmpv4Repr::TimeExceeded {
            code: icmpv4::time_exceeded::TTL,
            quote,
        },
        IcmpError::Unreachable(code) => Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu: 0,
            quote,
        },
        IcmpError::TooBig(mtu) => Icmpv4Repr::DstUnreachable {
            code: icmpv4::unreach::FRAG_NEEDED,
            next_hop_mtu: mtu,
            quote,
        },
    };
    let ip_repr = Ipv4Repr {
        src_addr: src,
        dst_addr: ip.src_addr(),
        protocol: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        // RFC 1812 §4.3.2.5: precedence 6, internetwork control.
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    };
    out.truncate(0);
    let Some(buf) = out.append(ip_repr.buffer_len() + icmp.buffer_len()) else {
        return false;
    };
    ip_repr.emit(buf);
    icmp.emit(&mut buf[ipv4::HEADER_LEN..]);
    true
}

/// Largest ICMPv6 error: what fits the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
pub const MAX_ICMPV6_ERROR: usize = ipv6::MIN_MTU;

/// Write an ICMPv6 error about `offending` (the IPv6 packet, to its payload
/// length) into `out` as an IPv6 packet from `src`. Returns false if
/// `offending` is not IPv6 or `out` has no room.
pub fn build_icmpv6_error(
    err: IcmpError,
    offending: &[u8],
    src: Ipv6Addr,
    out: &mut Packet,
) -> bool {
    let Ok(ip) = orbital_wire::ipv6::Ipv6Packet::new_checked(offending) else {
        return false;
    };
    let quote_len = offending
        .len()
        .min(ipv6::HEADER_LEN + usize::from(ip.payload_len()))
        .min(MAX_ICMPV6_ERROR - ipv6::HEADER_LEN - icmpv6::HEADER_LEN);
    let quote = &offending[..quote_len];
    let icmp = match err {
        IcmpError::TimeExceeded => Icmpv6Repr::TimeExceeded { code: 0, quote },
        IcmpError::Unreachable(code) => Icmpv6Repr::DstUnreachable { code, quote },
        IcmpError::TooBig(mtu) => Icmpv6Repr::PacketTooBig {
            mtu: u32::from(mtu),
            quote,
        },
    };
    let dst = ip.src_addr();
    let ip_repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    out.truncate(0);
    let Some(buf) = out.append(ip_repr.buffer_len() + icmp.buffer_len()) else {
        return false;
    };
    ip_repr.emit(buf);
    icmp.emit(src, dst, &mut buf[ipv6::HEADER_LEN..]);
    true
}
