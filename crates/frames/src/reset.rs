//! TCP resets answering a segment (a firewall's `reject with tcp reset`),
//! per RFC 9293 §3.10.7.1: to a segment carrying ACK, `<SEQ=SEG.ACK>
//! <CTL=RST>`; to one without, `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`,
//! where SYN and FIN each count one. The reset comes from the segment's
//! destination, as if that host answered.

use core::net::{Ipv4Addr, Ipv6Addr};

use orbital_buf::Packet;
use orbital_wire::checksum;
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use orbital_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use orbital_wire::tcp::{self, TcpPacket, flags};

/// The reset's TCP header answering `seg` (a TCP header and payload of
/// `payload_len` bytes), written into `out` (20 bytes); false if `seg` is
/// not a TCP header or is a reset itself (never answer a reset).
fn header(seg: &[u8], payload_len: usize, out: &mut [u8]) -> bool {
    let Ok(t) = TcpPacket::new_checked(seg) else {
        return false;
    };
    let f = t.flags();
    if f & flags::RST != 0 || out.len() < tcp::HEADER_LEN {
        return false;
    }
    let mut r = TcpPacket::new_unchecked(&mut out[..tcp::HEADER_LEN]);
    r.set_src_port(t.dst_port());
    r.set_dst_port(t.src_port());
    r.set_window(0);
    r.set_urgent(0);
    r.set_checksum(0);
    if f & flags::ACK != 0 {
        r.set_seq_number(t.ack_number());
        r.set_ack_number(0);
        r.set_header_len_and_flags(tcp::HEADER_LEN, flags::RST);
    } else {
        let len =
            payload_len as u32 + u32::from(f & flags::SYN != 0) + u32::from(f & flags::FIN != 0);
        r.set_seq_number(0);
        r.set_ack_number(t.seq_number().wrapping_add(len));
        r.set_header_len_and_flags(tcp::HEADER_LEN, flags::RST | flags::ACK);
    }
    true
}

/// A reset answering the IPv4 TCP segment `ip` (the IP packet), as an IP
/// packet in `out`. False when there is nothing to answer.
pub fn tcp_reset_v4(ip: &[u8], out: &mut Packet) -> bool {
    let Ok(p) = Ipv4Packet::new_checked(ip) else {
        return false;
    };
    let hlen = p.header_len();
    let total = usize::from(p.total_len()).min(ip.len());
    let Some(seg) = ip.get(hlen..total) else {
        return false;
    };
    let Ok(t) = TcpPacket::new_checked(seg) else {
        return false;
    };
    let payload = seg.len().saturating_sub(t.header_len());
    let (src, dst): (Ipv4Addr, Ipv4Addr) = (p.dst_addr(), p.src_addr());
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Tcp,
        payload_len: tcp::HEADER_LEN,
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: true,
    };
    let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, tcp::HEADER_LEN as u32);
    emit(
        out,
        repr.buffer_len(),
        |b| repr.emit(b),
        seg,
        payload,
        pseudo,
    )
}

/// As [`tcp_reset_v4`] for IPv6 (`l4_offset` past any extension headers).
pub fn tcp_reset_v6(ip: &[u8], l4_offset: usize, out: &mut Packet) -> bool {
    let Ok(p) = Ipv6Packet::new_checked(ip) else {
        return false;
    };
    let end = (40 + usize::from(p.payload_len())).min(ip.len());
    let Some(seg) = ip.get(l4_offset..end) else {
        return false;
    };
    let Ok(t) = TcpPacket::new_checked(seg) else {
        return false;
    };
    let payload = seg.len().saturating_sub(t.header_len());
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (p.dst_addr(), p.src_addr());
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp::HEADER_LEN,
        hop_limit: 64,
    };
    let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, tcp::HEADER_LEN as u32);
    emit(
        out,
        repr.buffer_len(),
        |b| repr.emit(b),
        seg,
        payload,
        pseudo,
    )
}

/// Write the answer into `out`: the IP header (`ip_len` bytes, by
/// `emit_ip`), then the reset for `seg` with its checksum over `pseudo`.
fn emit(
    out: &mut Packet,
    ip_len: usize,
    emit_ip: impl FnOnce(&mut [u8]),
    seg: &[u8],
    payload: usize,
    pseudo: u64,
) -> bool {
    out.truncate(0);
    let Some(buf) = out.append(ip_len + tcp::HEADER_LEN) else {
        return false;
    };
    emit_ip(buf);
    let (_, tcp_out) = buf.split_at_mut(ip_len);
    if !header(seg, payload, tcp_out) {
        out.truncate(0);
        return false;
    }
    let c = checksum::transport(pseudo, tcp_out);
    TcpPacket::new_unchecked(tcp_out).set_checksum(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};

    fn syn(payload: usize, fl: u16) -> Vec<u8> {
        let mut v = vec![0u8; 20 + 20 + payload];
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 2),
            dst_addr: Ipv4Addr::new(198, 51, 100, 7),
            protocol: IpProtocol::Tcp,
            payload_len: 20 + payload,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
        }
        .emit(&mut v);
        let mut t = TcpPacket::new_unchecked(&mut v[20..]);
        t.set_src_port(40000);
        t.set_dst_port(22);
        t.set_seq_number(1000);
        t.set_ack_number(5000);
        t.set_header_len_and_flags(20, fl);
        v
    }

    #[test]
    fn resets_follow_rfc_9293() {
        let pool = Pool::new(PoolConfig {
            buffers: 8,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut out = pool.alloc().unwrap();
        assert!(tcp_reset_v4(&syn(0, flags::SYN), &mut out));
        let ip = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        let t = TcpPacket::new_checked(&out[20..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (22, 40000));
        assert_eq!(
            (t.seq_number(), t.ack_number(), t.flags()),
            (0, 1001, flags::RST | flags::ACK)
        );
        let pseudo = checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), IpProtocol::Tcp, 20);
        assert_eq!(
            checksum::transport(pseudo, &out[20..]),
            0,
            "valid TCP checksum"
        );
        assert!(tcp_reset_v4(&syn(10, flags::ACK | flags::PSH), &mut out));
        let t = TcpPacket::new_checked(&out[20..]).unwrap();
        assert_eq!((t.seq_number(), t.flags()), (5000, flags::RST));
        assert!(
            !tcp_reset_v4(&syn(0, flags::RST), &mut out),
            "never answer a reset"
        );
        assert!(!tcp_reset_v4(&[0x45, 0, 0], &mut out));
    }
}
