//! RFC 1624 incremental updates give exactly the checksum a full recompute
//! gives, for random IPv4/TCP/UDP packets and random rewrites of the fields a
//! router or NAT changes (addresses, ports, TTL), including packets built so
//! that a checksum is 0x0000 before or after the rewrite.

use core::net::{Ipv4Addr, Ipv6Addr};

use orbital_wire::checksum::{self, pseudo_header_v4, pseudo_header_v6};
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Packet;
use orbital_wire::tcp::TcpPacket;
use orbital_wire::udp::UdpPacket;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Rewrite {
    src: Option<u32>,
    dst: Option<u32>,
    sport: Option<u16>,
    dport: Option<u16>,
    ttl_decrements: u8,
}

fn rewrite() -> impl Strategy<Value = Rewrite> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
        0..3u8,
    )
        .prop_map(|(src, dst, sport, dport, ttl_decrements)| Rewrite {
            src,
            dst,
            sport,
            dport,
            ttl_decrements,
        })
}

/// IPv4 + TCP or UDP, all checksums filled by full computation. With
/// `zero_l4`, the last two payload bytes are chosen so the L4 checksum is 0.
fn build(tcp: bool, src: u32, dst: u32, ttl: u8, payload: &[u8], zero_l4: bool) -> Vec<u8> {
    let l4_hdr = if tcp { 20 } else { 8 };
    let l4_len = l4_hdr + payload.len() + 2;
    let mut p = vec![0u8; 20 + l4_len];
    let proto = if tcp {
        IpProtocol::Tcp
    } else {
        IpProtocol::Udp
    };
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut p[..]);
        ip.set_version_and_header_len(20);
        ip.set_total_len((20 + l4_len) as u16);
        ip.set_ttl(ttl);
        ip.set_protocol(proto);
        ip.set_src_addr(Ipv4Addr::from_bits(src));
        ip.set_dst_addr(Ipv4Addr::from_bits(dst));
        ip.fill_checksum();
    }
    let l4 = &mut p[20..];
    if tcp {
        l4[12] = 0x50;
    } else {
        l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    }
    l4[l4_hdr..l4_hdr + payload.len()].copy_from_slice(payload);
    let pseudo = pseudo_header_v4(
        Ipv4Addr::from_bits(src),
        Ipv4Addr::from_bits(dst),
        proto,
        l4_len as u32,
    );
    if zero_l4 {
        // Make the one's-complement sum 0xFFFF so the checksum is 0x0000.
        // (Only for TCP: UDP would send 0xFFFF, covered by `udp_wire`.)
        // The urgent pointer is an aligned word we are free to choose.
        let s = checksum::fold(checksum::accumulate(pseudo, l4));
        l4[18..20].copy_from_slice(&(!s).to_be_bytes());
    }
    fill_l4(tcp, l4, pseudo);
    p
}

fn fill_l4(tcp: bool, l4: &mut [u8], pseudo: u64) {
    if tcp {
        TcpPacket::new_unchecked(l4).fill_checksum(pseudo);
    } else {
        UdpPacket::new_unchecked(l4).fill_checksum(pseudo);
    }
}

fn l4_csum(tcp: bool, p: &[u8]) -> u16 {
    let at = if tcp { 20 + 16 } else { 20 + 6 };
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// Apply the rewrite incrementally, the way the NAT and rewrite stages do.
fn apply_incremental(tcp: bool, p: &mut [u8], r: &Rewrite) {
    let (ip_part, l4) = p.split_at_mut(20);
    let mut ip = Ipv4Packet::new_unchecked(ip_part);
    for _ in 0..r.ttl_decrements {
        ip.decrement_ttl();
    }
    let mut l4c = l4_csum_field(tcp, l4);
    let mut ipc = ip.checksum();
    if let Some(s) = r.src {
        let old = ip.src_addr().to_bits();
        ipc = checksum::update_u32(ipc, old, s);
        l4c = upd32(tcp, l4c, old, s);
        ip.set_src_addr(Ipv4Addr::from_bits(s));
    }
    if let Some(d) = r.dst {
        let old = ip.dst_addr().to_bits();
        ipc = checksum::update_u32(ipc, old, d);
        l4c = upd32(tcp, l4c, old, d);
        ip.set_dst_addr(Ipv4Addr::from_bits(d));
    }
    ip.set_checksum(ipc);
    for (at, new) in [(0usize, r.sport), (2, r.dport)] {
        if let Some(n) = new {
            let old = u16::from_be_bytes([l4[at], l4[at + 1]]);
            l4c = upd16(tcp, l4c, old, n);
            l4[at..at + 2].copy_from_slice(&n.to_be_bytes());
        }
    }
    let at = if tcp { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&l4c.to_be_bytes());
}

fn l4_csum_field(tcp: bool, l4: &[u8]) -> u16 {
    let at = if tcp { 16 } else { 6 };
    u16::from_be_bytes([l4[at], l4[at + 1]])
}

fn upd16(tcp: bool, c: u16, old: u16, new: u16) -> u16 {
    if tcp {
        checksum::update_u16(c, old, new)
    } else if c == 0 {
        0
    } else {
        checksum::udp_wire(checksum::update_u16(c, old, new))
    }
}

fn upd32(tcp: bool, c: u16, old: u32, new: u32) -> u16 {
    if tcp {
        checksum::update_u32(c, old, new)
    } else if c == 0 {
        0
    } else {
        checksum::udp_wire(checksum::update_u32(c, old, new))
    }
}

/// The same rewrite, then every checksum recomputed from scratch.
fn apply_full(tcp: bool, p: &mut [u8], r: &Rewrite) {
    let (ip_part, l4) = p.split_at_mut(20);
    let mut ip = Ipv4Packet::new_unchecked(ip_part);
    ip.set_ttl(ip.ttl().wrapping_sub(r.ttl_decrements));
    if let Some(s) = r.src {
        ip.set_src_addr(Ipv4Addr::from_bits(s));
    }
    if let Some(d) = r.dst {
        ip.set_dst_addr(Ipv4Addr::from_bits(d));
    }
    ip.fill_checksum();
    if let Some(v) = r.sport {
        l4[0..2].copy_from_slice(&v.to_be_bytes());
    }
    if let Some(v) = r.dport {
        l4[2..4].copy_from_slice(&v.to_be_bytes());
    }
    let proto = if tcp {
        IpProtocol::Tcp
    } else {
        IpProtocol::Udp
    };
    let pseudo = pseudo_header_v4(ip.src_addr(), ip.dst_addr(), proto, l4.len() as u32);
    fill_l4(tcp, l4, pseudo);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn incremental_equals_full_recompute(
        tcp in any::<bool>(),
        src in any::<u32>(),
        dst in any::<u32>(),
        ttl in 3..=255u8,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        zero in any::<bool>(),
        r in rewrite(),
    ) {
        let zero = zero && tcp;
        let orig = build(tcp, src, dst, ttl, &payload, zero);
        if zero {
            prop_assert_eq!(l4_csum(tcp, &orig), 0);
        }
        let mut inc = orig.clone();
        apply_incremental(tcp, &mut inc, &r);
        let mut full = orig;
        apply_full(tcp, &mut full, &r);
        prop_assert_eq!(&inc[..20], &full[..20], "IPv4 header");
        prop_assert_eq!(l4_csum(tcp, &inc), l4_csum(tcp, &full), "L4 checksum");
        prop_assert_eq!(inc, full);
    }

    /// A rewrite chosen to land the checksum exactly on 0x0000.
    #[test]
    fn rewrite_onto_zero_checksum(
        src in any::<u32>(),
        dst in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..32),
    ) {
        let orig = build(true, src, dst, 64, &payload, false);
        let c = l4_csum(true, &orig);
        let sport = u16::from_be_bytes([orig[20], orig[21]]);
        // New sport that moves the sum by exactly the checksum: result 0.
        let target = checksum::fold(u64::from(sport) + u64::from(c));
        prop_assume!(target != 0);
        let r = Rewrite { src: None, dst: None, sport: Some(target), dport: None, ttl_decrements: 0 };
        let mut inc = orig.clone();
        apply_incremental(true, &mut inc, &r);
        let mut full = orig;
        apply_full(true, &mut full, &r);
        prop_assert_eq!(l4_csum(true, &full), 0);
        prop_assert_eq!(inc, full);
    }

    #[test]
    fn ipv6_address_rewrite_updates_l4(
        a in any::<u128>(), b in any::<u128>(), c in any::<u128>(),
        payload in proptest::collection::vec(any::<u8>(), 8..40),
    ) {
        let (src, dst, new_src) = (Ipv6Addr::from_bits(a), Ipv6Addr::from_bits(b), Ipv6Addr::from_bits(c));
        let mut seg = payload.clone();
        seg[6] = 0;
        seg[7] = 0;
        let len = seg.len() as u32;
        let full_old = checksum::transport(pseudo_header_v6(src, dst, IpProtocol::Udp, len), &seg);
        let full_new = checksum::transport(pseudo_header_v6(new_src, dst, IpProtocol::Udp, len), &seg);
        let inc = checksum::update_bytes(full_old, &src.octets(), &new_src.octets());
        prop_assert_eq!(inc, full_new);
    }
}

#[test]
fn update_is_exact_at_the_corners() {
    // Fields moving between 0x0000 and 0xFFFF, beside words chosen so the
    // checksum before or after is 0x0000 (sum 0xFFFF) or 0xFFFF (sum 0).
    let pairs: [(u16, u16); 4] = [
        (0xffff, 0x0000),
        (0x0000, 0xffff),
        (0xfffe, 0xffff),
        (0x0001, 0xfffe),
    ];
    for (old, new) in pairs {
        for other in [0x0000u16, 0xffff, 0x1234, !old, !new] {
            let data_old = [old.to_be_bytes(), other.to_be_bytes()].concat();
            let data_new = [new.to_be_bytes(), other.to_be_bytes()].concat();
            let full_old = checksum::checksum(&data_old);
            let full_new = checksum::checksum(&data_new);
            if full_old == 0xffff || full_new == 0xffff {
                continue; // only all-zero data sums to 0; no real header does
            }
            assert_eq!(
                checksum::update_u16(full_old, old, new),
                full_new,
                "{old:#06x}->{new:#06x} beside {other:#06x}"
            );
        }
    }
}
