//! ICMP and ICMPv6: which messages open entries, which are errors about
//! another connection, and reading the packet an error quotes.
//!
//! Queries (echo, timestamp, information, address mask; ICMPv6 echo and node
//! information) open an entry; their replies match it (RFC 792, RFC 4443).
//! Errors (destination unreachable, source quench, redirect, time
//! exceeded, parameter problem; every ICMPv6 type below 128) quote the start
//! of the packet that caused them (RFC 792; RFC 4443 §2.4 (c)); the quoted
//! header's tuple, inverted, finds the connection the error is about, and
//! the error is `related` to it, as in Linux's `nf_conntrack_inet_error`.

use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv6;

use crate::track::InvalidReason;
use crate::tuple::{ICMP, ICMPV6, ProtoClass, TCP, Tuple, UDP};

/// ICMP header length (type, code, checksum, four type-specific bytes).
const ICMP_HEADER: usize = 8;

/// Errors that quote a packet: ICMPv4 destination unreachable, source
/// quench, redirect, time exceeded, parameter problem (Linux's
/// `icmp_is_err`); ICMPv6 types 0–127 (RFC 4443 §2.1).
pub(crate) const fn is_error(t: u8, ipv6: bool) -> bool {
    if ipv6 {
        t < 128
    } else {
        matches!(t, 3 | 4 | 5 | 11 | 12)
    }
}

/// ICMPv6 messages Linux deliberately leaves untracked: multicast listener
/// discovery, router and neighbour discovery, multicast router discovery
/// (RFC 2710, RFC 3810, RFC 4861, RFC 4286). They stay on their link.
pub(crate) const fn untracked_v6(t: u8) -> bool {
    matches!(t, 130..=136 | 143 | 151 | 152)
}

/// The tuple of the packet an ICMP error quotes, read from the error's
/// L4 bytes (`l4` starts at the ICMP header).
pub(crate) fn quoted_tuple(l4: &[u8], ipv6: bool) -> Result<Tuple, InvalidReason> {
    let bad = InvalidReason::IcmpErrorMalformed;
    let inner = l4.get(ICMP_HEADER..).ok_or(bad)?;
    let (mut t, l4_inner) = if ipv6 {
        let h = inner.get(..ipv6::HEADER_LEN).ok_or(bad)?;
        if h[0] >> 4 != 6 {
            return Err(bad);
        }
        let addr = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&h[at..at + 16]);
            u128::from_be_bytes(b)
        };
        let rest = &inner[ipv6::HEADER_LEN..];
        // The quote may be cut anywhere; a chain the quote does not hold
        // whole is as unreadable as a bad one.
        let walk = ipv6::walk_extension_headers(IpProtocol::from(h[6]), rest).map_err(|_| bad)?;
        if walk.fragment.is_some_and(|fr| fr.offset != 0) {
            return Err(bad);
        }
        let t = Tuple {
            src: addr(8),
            dst: addr(24),
            src_port: 0,
            dst_port: 0,
            protocol: walk.protocol.into(),
            ipv6: true,
        };
        (t, &rest[walk.offset..])
    } else {
        let h = inner.get(..20).ok_or(bad)?;
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if h[0] >> 4 != 4 || ihl < 20 || ihl > inner.len() {
            return Err(bad);
        }
        if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
            // A later fragment: no transport header to match.
            return Err(bad);
        }
        let t = Tuple {
            src: u128::from(u32::from_be_bytes([h[12], h[13], h[14], h[15]])),
            dst: u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]])),
            src_port: 0,
            dst_port: 0,
            protocol: h[9],
            ipv6: false,
        };
        (t, &inner[ihl..])
    };
    match t.class() {
        ProtoClass::Tcp | ProtoClass::Udp => {
            // RFC 792 promises the first 64 bits: the ports are there.
            let p = l4_inner.get(..4).ok_or(bad)?;
            t.src_port = u16::from_be_bytes([p[0], p[1]]);
            t.dst_port = u16::from_be_bytes([p[2], p[3]]);
        }
        ProtoClass::Icmp | ProtoClass::Icmpv6 => {
            let p = l4_inner.get(..ICMP_HEADER).ok_or(bad)?;
            t.dst_port = u16::from_be_bytes([p[0], p[1]]);
            t.src_port = u16::from_be_bytes([p[4], p[5]]);
        }
        ProtoClass::Generic => {}
    }
    debug_assert!(
        matches!(t.protocol, TCP | UDP | ICMP | ICMPV6) || t.class() == ProtoClass::Generic
    );
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_udp_over_ipv4() {
        let mut l4 = vec![3, 3, 0, 0, 0, 0, 0, 0];
        l4.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        l4.extend_from_slice(&[0x04, 0x00, 0x00, 0x35, 0, 8, 0, 0]);
        let t = quoted_tuple(&l4, false).unwrap();
        assert_eq!((t.src, t.dst), (0x0a00_0001, 0x0a00_0002));
        assert_eq!((t.src_port, t.dst_port, t.protocol), (1024, 53, UDP));
        // Cut inside the ports: malformed.
        assert_eq!(
            quoted_tuple(&l4[..30], false),
            Err(InvalidReason::IcmpErrorMalformed)
        );
    }
}
