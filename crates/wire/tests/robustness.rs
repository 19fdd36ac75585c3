//! `parse` never panics and never reports offsets outside the frame, for
//! random bytes and for valid frames with random damage (bit flips, byte
//! overwrites, truncation, extension) — the kinds of damage the fuzz-found
//! captures in ../shared/data/pcap carry.

use orbital_wire::{L3Kind, LinkType, PacketInfo, parse};
use proptest::prelude::*;

/// Valid frames of every shape the parser knows, to mutate from.
fn seeds() -> Vec<Vec<u8>> {
    let eth = |t: [u8; 2]| {
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
        f.extend_from_slice(&t);
        f
    };
    let ipv4 = |proto: u8, l4: &[u8], opts: &[u8], frag: [u8; 2]| {
        let hl = 20 + opts.len();
        let total = (hl + l4.len()) as u16;
        let mut v = vec![0x40 | (hl / 4) as u8, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[
            0, 7, frag[0], frag[1], 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        v.extend_from_slice(opts);
        v.extend_from_slice(l4);
        v
    };
    let ipv6 = |next: u8, payload: &[u8]| {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(&[next, 64]);
        v.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend_from_slice(payload);
        v
    };
    let tcp = [
        0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5,
        0xb4,
    ];
    let udp = [0x30, 0x39, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4];
    let icmp = [8, 0, 0, 0, 0, 1, 0, 1, 0xaa, 0xbb];
    let mut out = Vec::new();
    for (proto, l4) in [(6u8, &tcp[..]), (17, &udp[..]), (1, &icmp[..])] {
        let mut f = eth([0x08, 0x00]);
        f.extend(ipv4(proto, l4, &[], [0x40, 0]));
        out.push(f);
    }
    let mut f = eth([0x08, 0x00]);
    f.extend(ipv4(17, &udp, &[148, 4, 0, 0], [0x20, 0]));
    out.push(f);
    let mut f = eth([0x81, 0x00]);
    f.extend_from_slice(&[0, 10, 0x86, 0xdd]);
    let mut chain = vec![
        60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 0, 0, 0, 0, 0, 1, 58, 0, 0, 0, 0, 0, 0, 0,
    ];
    chain.extend_from_slice(&[44, 0, 0, 1, 0, 0, 0, 9]);
    chain.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    chain.drain(16..24);
    f.extend(ipv6(0, &chain));
    out.push(f);
    let mut f = eth([0x88, 0xa8]);
    f.extend_from_slice(&[0, 5, 0x81, 0x00, 0, 6, 0x86, 0xdd]);
    f.extend(ipv6(6, &tcp));
    out.push(f);
    let mut f = eth([0x08, 0x06]);
    f.extend_from_slice(&[
        0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ]);
    out.push(f);
    out
}

fn check(frame: &[u8], link: LinkType) {
    let mut info = PacketInfo::default();
    let ok = parse(frame, link, &mut info).is_ok();
    let len = frame.len();
    if info.l3 != L3Kind::None {
        assert!(usize::from(info.l3_offset) <= len);
    }
    if info.has_l4() {
        assert!(info.l4_offset >= info.l3_offset, "{info:?}");
        assert!(usize::from(info.l4_offset) <= len);
        assert!(info.payload_offset >= info.l4_offset);
        assert!(usize::from(info.payload_offset) <= len);
    }
    if ok && matches!(info.l3, L3Kind::Ipv4 | L3Kind::Ipv6) {
        assert!(
            usize::from(info.l3_offset) + info.l3_len as usize <= len,
            "{info:?}"
        );
        assert!(u32::from(info.l3_header_len) <= info.l3_len);
        if info.has_l4() {
            assert!(
                (info.payload_offset as usize)
                    <= usize::from(info.l3_offset) + info.l3_len as usize
            );
        }
    }
    assert!(usize::from(info.vlan_count) <= 2);
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0..8u8).prop_map(|(i, b)| Damage::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Damage::Set(i, v)),
        any::<usize>().prop_map(Damage::Truncate),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Damage::Extend),
    ]
}

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::RawIpv4,
    LinkType::RawIpv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200), link in 0..7usize) {
        check(&frame, LINKS[link]);
    }

    #[test]
    fn damaged_valid_frames_never_panic(
        seed in 0..7usize,
        hits in proptest::collection::vec(damage(), 1..6),
        strip in 0..30usize,
    ) {
        let mut f = seeds()[seed].clone();
        for d in hits {
            match d {
                Damage::Flip(i, b) if !f.is_empty() => { let n = f.len(); f[i % n] ^= 1 << b }
                Damage::Set(i, v) if !f.is_empty() => { let n = f.len(); f[i % n] = v }
                Damage::Truncate(i) => f.truncate(i % (f.len() + 1)),
                Damage::Extend(v) => f.extend(v),
                _ => {}
            }
        }
        check(&f, LinkType::Ethernet);
        // The same bytes from the IP header on, as a raw-IP capture would give them.
        let from = strip.min(f.len());
        check(&f[from..], LinkType::RawIp);
    }
}

#[test]
fn seeds_parse_cleanly() {
    for (i, f) in seeds().iter().enumerate() {
        let mut info = PacketInfo::default();
        parse(f, LinkType::Ethernet, &mut info).unwrap_or_else(|e| panic!("seed {i}: {e}"));
        check(f, LinkType::Ethernet);
    }
}

/// A 65,575-byte IPv6 packet (maximum payload length): lengths past u16.
#[test]
fn maximum_ipv6_packet() {
    let mut f = vec![
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60, 0, 0, 0, 0xff, 0xff, 17, 64,
    ];
    f.extend_from_slice(&[0; 32]);
    f.extend_from_slice(&[0, 1, 0, 2, 0xff, 0xff, 0, 0]);
    f.resize(14 + 40 + 65535, 0);
    let mut info = PacketInfo::default();
    parse(&f, LinkType::Ethernet, &mut info).unwrap();
    assert_eq!(info.l3_len, 65575);
    check(&f, LinkType::Ethernet);
}
