//! Any bytes, under any link type, through the fast-path parser and the
//! slow-path reprs: no panic, no out-of-bounds read, offsets inside the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbital_wire::{L3Kind, LinkType, PacketInfo, parse};

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::RawIpv4,
    LinkType::RawIpv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let mut info = PacketInfo::default();
    let ok = parse(frame, LINKS[usize::from(sel) % LINKS.len()], &mut info).is_ok();
    if info.has_l4() {
        assert!(usize::from(info.payload_offset) <= frame.len());
        assert!(info.l4_offset >= info.l3_offset);
    }
    if ok && matches!(info.l3, L3Kind::Ipv4 | L3Kind::Ipv6) {
        assert!(usize::from(info.l3_offset) + info.l3_len as usize <= frame.len());
    }
    // The slow-path parsers see the same bytes from the L4 header on.
    if let Some(l4) = frame.get(usize::from(info.l4_offset)..) {
        let _ = orbital_wire::icmpv4::Icmpv4Repr::parse(l4);
        let a = core::net::Ipv6Addr::from_bits(info.src);
        let b = core::net::Ipv6Addr::from_bits(info.dst);
        let _ = orbital_wire::icmpv6::Icmpv6Repr::parse(a, b, l4);
        let _ = orbital_wire::ndisc::NdiscRepr::parse(l4);
        if let Ok(t) = orbital_wire::tcp::TcpPacket::new_checked(l4) {
            for _ in t.options() {}
        }
    }
    if let Some(l3) = frame.get(usize::from(info.l3_offset)..) {
        let _ = orbital_wire::arp::ArpRepr::parse(l3);
        if let Ok(ip) = orbital_wire::ipv4::Ipv4Packet::new_checked(l3) {
            for _ in ip.options() {}
        }
    }
});
