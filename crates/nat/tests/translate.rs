//! The rewrites held to first principles on random packets: after a
//! translation every checksum verifies when computed from scratch (IPv4
//! header, TCP/UDP over the new pseudo-header, ICMP over the quote and the
//! quoted header's own), a translation and its reverse give back the very
//! bytes, and NPTv6 keeps the one's-complement sum of every address.

use std::net::Ipv4Addr;

use orbital_nat::translate::{
    Map4, Npt, Side, quoted_v4, rewrite_quoted_v4, rewrite_v4, set_v6_addr_at, v6_addr_at,
};
use orbital_wire::checksum::{checksum, pseudo_header_v4, sum, transport};
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Repr;
use orbital_wire::{LinkType, PacketInfo, parse};
use proptest::prelude::*;

fn ipv4(src: u32, dst: u32, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + payload.len()];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src_addr: Ipv4Addr::from_bits(src),
        dst_addr: Ipv4Addr::from_bits(dst),
        protocol: IpProtocol::from(proto),
        payload_len: payload.len(),
        ttl: 64,
        dscp_ecn: 0,
        ident: 7,
        dont_frag: true,
    }
    .emit(&mut f[14..]);
    f[34..].copy_from_slice(payload);
    f
}

/// A TCP or UDP segment from `src` to `dst` with a right checksum (UDP:
/// none, 0, when `no_sum`).
fn segment(src: u32, dst: u32, proto: u8, data: &[u8], no_sum: bool) -> Vec<u8> {
    let mut s = if proto == 6 {
        let mut h = vec![0u8; 20];
        h[0..4].copy_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
        h[12] = 5 << 4;
        h[13] = 0x18;
        h
    } else {
        let mut h = vec![0u8; 8];
        h[0..4].copy_from_slice(&[0x13, 0x88, 0x00, 0x35]);
        h[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        h
    };
    s.extend_from_slice(data);
    if proto == 17 && no_sum {
        return s;
    }
    let ph = pseudo_header_v4(
        Ipv4Addr::from_bits(src),
        Ipv4Addr::from_bits(dst),
        IpProtocol::from(proto),
        s.len() as u32,
    );
    let mut c = transport(ph, &s);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    let at = if proto == 6 { 16 } else { 6 };
    s[at..at + 2].copy_from_slice(&c.to_be_bytes());
    s
}

fn info(f: &[u8]) -> PacketInfo {
    let mut i = PacketInfo::default();
    parse(f, LinkType::Ethernet, &mut i).unwrap();
    i
}

/// Every checksum of an IPv4 frame, from scratch.
fn verify(f: &[u8]) {
    let ip = &f[14..34];
    assert_eq!(checksum(ip), 0, "IPv4 header checksum");
    let src = u32::from_be_bytes(ip[12..16].try_into().unwrap());
    let dst = u32::from_be_bytes(ip[16..20].try_into().unwrap());
    let l4 = &f[34..];
    match ip[9] {
        6 | 17 => {
            if ip[9] == 17 && l4[6..8] == [0, 0] {
                return;
            }
            let ph = pseudo_header_v4(
                Ipv4Addr::from_bits(src),
                Ipv4Addr::from_bits(dst),
                IpProtocol::from(ip[9]),
                l4.len() as u32,
            );
            assert_eq!(transport(ph, l4), 0, "transport checksum");
        }
        1 => {
            assert_eq!(checksum(l4), 0, "ICMP checksum");
            let inner = &l4[8..28];
            assert_eq!(checksum(inner), 0, "quoted header checksum");
            let (is, id) = (
                u32::from_be_bytes(inner[12..16].try_into().unwrap()),
                u32::from_be_bytes(inner[16..20].try_into().unwrap()),
            );
            let q = &l4[28..];
            if inner[9] == 17
                && q.len() >= 8
                && usize::from(u16::from_be_bytes([q[4], q[5]])) == q.len()
                && q[6..8] != [0, 0]
            {
                // The quote holds the whole datagram here: it verifies too.
                let ph = pseudo_header_v4(
                    Ipv4Addr::from_bits(is),
                    Ipv4Addr::from_bits(id),
                    IpProtocol::Udp,
                    q.len() as u32,
                );
                assert_eq!(transport(ph, q), 0, "quoted UDP checksum");
            }
        }
        _ => {}
    }
}

fn map() -> impl Strategy<Value = Map4> {
    (any::<u32>(), any::<u32>(), 8u8..=32).prop_map(|(a, b, len)| {
        let m = Map4 {
            from: 0,
            to: 0,
            len,
        };
        let mask = m.mask();
        Map4 {
            from: a & mask,
            to: b & mask,
            len,
        }
    })
}

proptest! {
    #[test]
    fn rewrites_keep_every_checksum_right_and_reverse_exactly(
        m in map(),
        host in any::<u32>(),
        peer in any::<u32>(),
        proto in prop::sample::select(vec![6u8, 17, 47]),
        no_sum in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..64),
        side_src in any::<bool>(),
    ) {
        let a = m.from | (host & !m.mask());
        let side = if side_src { Side::Src } else { Side::Dst };
        let (src, dst) = if side_src { (a, peer) } else { (peer, a) };
        let payload = if proto == 47 { data.clone() } else { segment(src, dst, proto, &data, no_sum) };
        let orig = ipv4(src, dst, proto, &payload);
        let mut f = orig.clone();
        let mut i = info(&f);
        prop_assert_eq!(rewrite_v4(&mut f, &mut i, side, m.apply(a)), Some(a));
        verify(&f);
        prop_assert_eq!(i, info(&f), "info follows the rewrite");
        if proto == 17 && no_sum {
            prop_assert_eq!(&f[40..42], &[0u8, 0][..], "no checksum stays none");
        }
        prop_assert_eq!(rewrite_v4(&mut f, &mut i, side, a), Some(m.apply(a)));
        // A UDP checksum that came out 0 is sent as 0xFFFF (RFC 768), one
        // value in one's complement: compare sums, not bytes, there.
        if proto == 17 && !no_sum {
            prop_assert_eq!(sum(&f[40..42]) % 0xffff, sum(&orig[40..42]) % 0xffff);
            prop_assert_eq!(&f[..40], &orig[..40]);
            prop_assert_eq!(&f[42..], &orig[42..]);
        } else {
            prop_assert_eq!(&f, &orig);
        }
    }

    #[test]
    fn icmp_error_quotes_are_translated_with_every_checksum(
        m in map(),
        host in any::<u32>(),
        peer in any::<u32>(),
        router in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..32),
        quote_len in 8usize..40,
    ) {
        // The inside host's packet left as `out` and an error about it
        // comes back: outer destination and quoted source are translated.
        let inside = m.from | (host & !m.mask());
        let out = m.apply(inside);
        let quoted = ipv4(out, peer, 17, &segment(out, peer, 17, &data, false));
        let q = &quoted[14..(34 + quote_len).min(quoted.len())];
        let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(q);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = ipv4(router, out, 1, &icmp);
        let mut i = info(&f);
        let r = m.reverse();
        rewrite_v4(&mut f, &mut i, Side::Dst, r.apply(out));
        let (qa, at) = quoted_v4(&f, &i, Side::Src).unwrap();
        prop_assert_eq!(qa, out);
        prop_assert!(rewrite_quoted_v4(&mut f, &i, at, Side::Src, r.apply(out)));
        verify(&f);
        prop_assert_eq!(&f[34 + 8 + 12..34 + 8 + 16], &inside.to_be_bytes()[..]);
    }

    #[test]
    fn nptv6_is_checksum_neutral_and_reversible(
        len in 1u8..=64,
        a in any::<u128>(),
        b in any::<u128>(),
        host in any::<u128>(),
    ) {
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        let n = Npt { from: a & mask, to: b & mask, len };
        let addr = n.from | (host & !mask);
        let words = |x: u128| -> u32 {
            let s: u32 = (0..8).map(|k| ((x >> (16 * k)) & 0xffff) as u32).sum();
            s % 0xffff
        };
        match n.apply(addr) {
            Ok(t) => {
                prop_assert!(n.reverse().contains(t));
                prop_assert_eq!(words(t), words(addr));
                // Back, to the same value in one's complement (0 and
                // 0xFFFF in the adjusted word are one value; RFC 6296 §3.4
                // writes 0).
                let back = n.reverse().apply(t).unwrap();
                prop_assert_eq!(words(back), words(addr));
                prop_assert_eq!(back & mask, addr & mask);
                let word = |x: u128, k: u32| ((x >> (16 * (7 - k))) & 0xffff) as u16;
                let k = if len <= 48 { 3 } else { (4..8).find(|&k| word(addr, k) != 0xffff).unwrap() };
                if word(addr, k) != 0 {
                    prop_assert_eq!(back, addr, "exact inverse");
                }
                // And on a frame: written and read back.
                let mut f = vec![0u8; 54];
                prop_assert!(set_v6_addr_at(&mut f, 14, Side::Src, t));
                prop_assert_eq!(v6_addr_at(&f, 14, Side::Src), Some(t));
            }
            Err(_) => {
                // Only when the adjusted word is 0xFFFF.
                let moved = n.to | (addr & !mask);
                let w = |k: u32| ((moved >> (16 * (7 - k))) & 0xffff) as u16;
                if len <= 48 {
                    prop_assert_eq!(w(3), 0xffff);
                } else {
                    prop_assert!((4..8).all(|k| w(k) == 0xffff));
                }
            }
        }
    }
}
