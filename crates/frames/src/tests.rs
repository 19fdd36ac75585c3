//! Byte-level checks of the fragments and ICMP errors built here.

use crate::fragment::*;
use crate::icmp_error::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use orbital_buf::{Pool, PoolConfig};
use orbital_wire::PacketInfo;
use orbital_wire::icmpv4::Icmpv4Message;
use orbital_wire::icmpv6::Icmpv6Repr;
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Packet;
use orbital_wire::{LinkType, parse};

fn ipv4_packet(len: usize, df: bool, opts: &[u8]) -> Vec<u8> {
    let hlen = 20 + opts.len();
    let mut v = vec![0u8; hlen + len];
    {
        let mut p = Ipv4Packet::new_unchecked(&mut v[..]);
        p.set_version_and_header_len(hlen);
        p.set_total_len((hlen + len) as u16);
        p.set_ident(0x1234);
        p.set_frag(df, false, 0);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Udp);
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.set_dst_addr(Ipv4Addr::new(198, 51, 100, 10));
    }
    v[20..hlen].copy_from_slice(opts);
    for (i, b) in v[hlen..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    Ipv4Packet::new_unchecked(&mut v[..]).fill_checksum();
    v
}

fn pool() -> Pool {
    Pool::new(PoolConfig {
        buffers: 256,
        ..PoolConfig::default()
    })
    .unwrap()
}

#[test]
fn fragments_reassemble_to_the_original() {
    let pool = pool();
    let mut cache = pool.cache(64);
    // Record route (not copied) and a copied security-like option 0x82.
    let opts = [7u8, 7, 4, 0, 0, 0, 0, 0x82, 4, 9, 9, 1];
    let ip = ipv4_packet(3000, false, &opts);
    let mut out = Vec::new();
    let n = fragment_ipv4(&ip, Default::default(), 1280, &mut cache, &mut out).unwrap();
    assert_eq!(n, 3);
    let mut data = vec![0u8; 3000];
    let mut covered = 0;
    for (i, f) in out.iter().enumerate() {
        assert!(f.len() <= 1280);
        let p = Ipv4Packet::new_checked(&f[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.ident(), 0x1234);
        assert_eq!(p.more_frags(), i < 2);
        if i == 0 {
            assert_eq!(p.header_len(), 32);
        } else {
            assert_eq!(p.header_len(), 24, "only the copied option");
            assert_eq!(&f[20..24], &[0x82, 4, 9, 9]);
        }
        let off = usize::from(p.frag_offset());
        assert_eq!(off % 8, 0);
        data[off..off + p.payload().len()].copy_from_slice(p.payload());
        covered += p.payload().len();
    }
    assert_eq!(covered, 3000);
    assert_eq!(&data[..], &ip[32..]);
    cache.free_all(out);
}

#[test]
fn fragmenting_a_fragment_keeps_offsets_and_more() {
    let pool = pool();
    let mut cache = pool.cache(64);
    let mut ip = ipv4_packet(1000, false, &[]);
    Ipv4Packet::new_unchecked(&mut ip[..]).set_frag(false, true, 800);
    Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
    let mut out = Vec::new();
    fragment_ipv4(&ip, Default::default(), 576, &mut cache, &mut out).unwrap();
    let offs: Vec<_> = out
        .iter()
        .map(|f| {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            (p.frag_offset(), p.more_frags())
        })
        .collect();
    assert_eq!(offs, vec![(800, true), (1352, true)]);
    cache.free_all(out);
}

#[test]
fn fragment_refusals() {
    let pool = pool();
    let mut cache = pool.cache(64);
    let mut out = Vec::new();
    let df = ipv4_packet(2000, true, &[]);
    assert_eq!(
        fragment_ipv4(&df, Default::default(), 1500, &mut cache, &mut out),
        Err(FragmentError::DontFragment)
    );
    let ip = ipv4_packet(2000, false, &[]);
    assert_eq!(
        fragment_ipv4(&ip, Default::default(), 27, &mut cache, &mut out),
        Err(FragmentError::MtuTooSmall(27))
    );
    assert_eq!(
        fragment_ipv4(&ip[..10], Default::default(), 1500, &mut cache, &mut out),
        Err(FragmentError::Malformed)
    );
    // RFC 1812 §5.2.4: a malformed option list is refused, not cut short
    // at the defect (the later fragments would carry the part before it).
    for opts in [
        [0x82u8, 4, 9, 9, 7, 0, 0, 0],  // a length-0 option after a copied one
        [0x82, 4, 9, 9, 0x83, 9, 4, 0], // LSRR past the option space
        [68, 8, 3, 0, 0, 0, 0, 0],      // timestamp pointer below 5
    ] {
        let bad = ipv4_packet(2000, false, &opts);
        assert_eq!(
            fragment_ipv4(&bad, Default::default(), 576, &mut cache, &mut out),
            Err(FragmentError::BadOption),
            "{opts:?}"
        );
        assert!(out.is_empty());
    }
    let tiny = Pool::new(PoolConfig {
        buffers: 1,
        ..PoolConfig::default()
    })
    .unwrap();
    let mut tiny_cache = tiny.cache(2);
    assert_eq!(
        fragment_ipv4(&ip, Default::default(), 576, &mut tiny_cache, &mut out),
        Err(FragmentError::NoBuffer)
    );
    assert!(out.is_empty());
    drop(tiny_cache);
    assert_eq!(tiny.stats().free, 1, "partial fragments went back");
}

#[test]
fn icmpv4_errors_quote_and_carry_mtu() {
    let pool = pool();
    let offending = ipv4_packet(1400, true, &[]);
    let mut out = pool.alloc().unwrap();
    assert!(build_icmpv4_error(
        IcmpError::TooBig(1280),
        &offending,
        Ipv4Addr::new(10, 0, 0, 1),
        &mut out
    ));
    assert_eq!(
        out.len(),
        MAX_ICMPV4_ERROR,
        "quote fills RFC 1812's 576 bytes"
    );
    let ip = Ipv4Packet::new_checked(&out[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(ip.dscp_ecn_byte(), 0xc0);
    let icmp = orbital_wire::icmpv4::Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(
        (icmp.msg_type(), icmp.code(), icmp.next_hop_mtu()),
        (Icmpv4Message::DstUnreachable, 4, 1280)
    );
    assert_eq!(&icmp.data()[..28], &offending[..28]);
    // A small offender is quoted whole.
    let small = ipv4_packet(8, false, &[]);
    assert!(build_icmpv4_error(
        IcmpError::TimeExceeded,
        &small,
        Ipv4Addr::new(10, 0, 0, 1),
        &mut out
    ));
    assert_eq!(out.len(), 20 + 8 + 28);
    assert!(!build_icmpv4_error(
        IcmpError::TimeExceeded,
        &small[..12],
        Ipv4Addr::new(10, 0, 0, 1),
        &mut out
    ));
}

#[test]
fn icmpv6_errors() {
    let pool = pool();
    let mut off = vec![0x60, 0, 0, 0, 0x05, 0xdc, 17, 1];
    off.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    off.extend_from_slice(&"2001:db8:ffff::10".parse::<Ipv6Addr>().unwrap().octets());
    off.resize(40 + 1500, 0xab);
    let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut out = pool.alloc().unwrap();
    assert!(build_icmpv6_error(
        IcmpError::TooBig(1400),
        &off,
        src,
        &mut out
    ));
    assert_eq!(out.len(), 1280);
    let mut info = PacketInfo::default();
    parse(&out, LinkType::RawIpv6, &mut info).unwrap();
    assert_eq!(info.icmp_type(), 2);
    let body = &out[40..];
    assert_eq!(
        Icmpv6Repr::parse(src, "2001:db8::2".parse().unwrap(), body).unwrap(),
        Some(Icmpv6Repr::PacketTooBig {
            mtu: 1400,
            quote: &off[..1280 - 48]
        })
    );
}
