//! Software checksum completion (spec §10): what a NIC's TX checksum offload
//! would have done, for frames a local sender left with only the
//! pseudo-header sum in the L4 checksum field (Linux CHECKSUM_PARTIAL).

use orbital_buf::Packet;
use orbital_wire::{LinkType, PacketInfo, checksum, parse};

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

#[cfg(test)]
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
        assert!(complete(&mut p));
        assert_eq!(u16::from_be_bytes([p[40], p[41]]), expected);
    }
}
