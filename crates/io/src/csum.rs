//! Software checksum completion (spec §10): what a NIC's TX checksum offload
//! would have done, for frames a local sender left with only the
//! pseudo-header sum in the L4 checksum field (Linux CHECKSUM_PARTIAL).

use orbital_buf::Packet;
use std::net::{Ipv4Addr, Ipv6Addr};

use orbital_wire::{IpProtocol, L3Kind, LinkType, PacketInfo, checksum, parse};

/// Finish the TCP or UDP checksum of `p`, whose checksum field holds the
/// folded pseudo-header sum: the one's-complement sum over the segment with
/// that field included, inverted, is the full checksum. Frames that do not
/// parse, or carry another protocol, are left as they are (the pipeline
/// drops or forwards them on its own terms).
pub fn complete(p: &mut Packet) -> bool {
    let mut info = PacketInfo::default();
    if parse(p, LinkType::Ethernet, &mut info).is_err() {
        return false;
    }
    let field = match info.protocol {
        6 => 16,
        17 => 6,
        _ => return false,
    };
    let l4 = usize::from(info.l4_offset);
    let end = usize::from(info.l3_offset) + info.l3_len as usize;
    if l4 == 0 || end > p.len() || l4 + field + 2 > end {
        return false;
    }
    let mut c = checksum::checksum(&p[l4..end]);
    if c == 0 && info.protocol == 17 {
        // RFC 768: a computed zero is sent as all ones.
        c = 0xffff;
    }
    p[l4 + field..l4 + field + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// Complete `p`'s TCP/UDP checksum if, and only if, it is a partial one:
/// for devices that hand over local senders' frames without saying so (an
/// AF_XDP socket on a veth receives CHECKSUM_PARTIAL frames as plain bytes).
///
/// A partial checksum field holds the folded pseudo-header sum. A correct
/// checksum holds that same value once in 65,536 packets, so a match alone
/// is not proof: such a packet is verified first and left alone when it is
/// already correct. Returns true when the checksum was completed.
pub fn complete_if_partial(p: &mut Packet) -> bool {
    let mut info = PacketInfo::default();
    if parse(p, LinkType::Ethernet, &mut info).is_err() {
        return false;
    }
    let (proto, field) = match info.protocol {
        6 => (IpProtocol::Tcp, 16),
        17 => (IpProtocol::Udp, 6),
        _ => return false,
    };
    if info.frag.offset != 0 || info.frag.more {
        return false;
    }
    let l4 = usize::from(info.l4_offset);
    let end = usize::from(info.l3_offset) + info.l3_len as usize;
    if l4 == 0 || end > p.len() || l4 + field + 2 > end {
        return false;
    }
    // end <= p.len(), a buffer's length, which fits a u32.
    let Ok(len) = u32::try_from(end - l4) else {
        return false;
    };
    let pseudo = match info.l3 {
        L3Kind::Ipv4 => checksum::pseudo_header_v4(
            Ipv4Addr::from_bits(v4_bits(info.src)),
            Ipv4Addr::from_bits(v4_bits(info.dst)),
            proto,
            len,
        ),
        L3Kind::Ipv6 => checksum::pseudo_header_v6(
            Ipv6Addr::from_bits(info.src),
            Ipv6Addr::from_bits(info.dst),
            proto,
            len,
        ),
        _ => return false,
    };
    let f = u16::from_be_bytes([p[l4 + field], p[l4 + field + 1]]);
    if f != checksum::fold(pseudo) || checksum::transport(pseudo, &p[l4..end]) == 0 {
        return false;
    }
    complete(p)
}

/// An IPv4 address from PacketInfo's u128, which holds it in the low 32
/// bits (the mask makes the narrowing exact).
pub(crate) fn v4_bits(addr: u128) -> u32 {
    (addr & 0xffff_ffff) as u32
}

#[cfg(test)]
// Fixtures: tags, offsets and lengths are small constants or masked values
// chosen to fit; a truncation would fail the assertions that use them.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};
    use orbital_wire::IpProtocol;
    use orbital_wire::checksum::{pseudo_header_v4, transport};
    use std::net::Ipv4Addr;

    /// A UDP/IPv4 frame as a local sender hands it over with TX checksum
    /// offload: the field holds the pseudo-header sum.
    #[test]
    fn partial_udp_checksum_is_completed_to_the_full_one() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(192, 0, 2, 9));
        let payload = b"orbital checksum completion";
        let udp_len = 8 + payload.len();
        let mut f = vec![0u8; 14 + 20 + udp_len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        let h = checksum::checksum(ip);
        f[24..26].copy_from_slice(&h.to_be_bytes());
        let u = &mut f[34..];
        u[0..2].copy_from_slice(&4000u16.to_be_bytes());
        u[2..4].copy_from_slice(&53u16.to_be_bytes());
        u[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        u[8..].copy_from_slice(payload);
        let pseudo = pseudo_header_v4(src, dst, IpProtocol::Udp, udp_len as u32);
        let expected = transport(pseudo, &f[34..]);
        let folded = {
            let mut s = pseudo;
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            s as u16
        };
        f[40..42].copy_from_slice(&folded.to_be_bytes());

        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut p = pool.alloc().unwrap();
        assert!(p.extend_from_slice(&f));
        let mut q = pool.alloc().unwrap();
        assert!(q.extend_from_slice(&p));
        assert!(complete(&mut p));
        assert_eq!(u16::from_be_bytes([p[40], p[41]]), expected);

        // The same frame as a device hands it over without a flag: found
        // partial and completed; then, complete, left as it is.
        assert!(complete_if_partial(&mut q));
        assert_eq!(u16::from_be_bytes([q[40], q[41]]), expected);
        assert!(!complete_if_partial(&mut q));
        assert_eq!(&q[..], &p[..]);
        // A corrupt checksum that is not the partial pattern is not touched.
        q[41] ^= 0x55;
        assert!(!complete_if_partial(&mut q));
    }
}
