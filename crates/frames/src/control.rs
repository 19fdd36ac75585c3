//! Frames the router sends (the slow path's answers): ARP and NDP answers and requests, echo
//! replies, ICMP errors. Each is built in a fresh buffer, L3 first and the
//! Ethernet header prepended into the headroom.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::icmp_error::{self, IcmpError};
use orbital_buf::{Packet, PoolCache};
use orbital_wire::EthernetAddress;
use orbital_wire::arp::{self, ArpOperation, ArpRepr};
use orbital_wire::ethernet::EtherType;
use orbital_wire::icmpv4::Icmpv4Repr;
use orbital_wire::icmpv6::Icmpv6Repr;
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::{self, Ipv4Repr};
use orbital_wire::ipv6::{self, Ipv6Repr};
use orbital_wire::ndisc::{NdiscRepr, na_flags};

use crate::l2::set_l2;

/// Ethernet addressing of a frame to send.
#[derive(Debug, Clone, Copy)]
pub struct L2 {
    /// Destination MAC.
    pub dst: EthernetAddress,
    /// Source MAC.
    pub src: EthernetAddress,
    /// 802.1Q tag, if the egress port needs one.
    pub tag: Option<u16>,
}

fn finish(mut p: Packet, l2: L2, ty: EtherType) -> Option<Packet> {
    set_l2(&mut p, 0, l2.dst, l2.src, l2.tag, ty)?;
    Some(p)
}

/// An ARP packet.
pub fn arp(cache: &mut PoolCache, l2: L2, repr: &ArpRepr) -> Option<Packet> {
    let mut p = cache.alloc()?;
    repr.emit(p.append(arp::PACKET_LEN)?);
    finish(p, l2, EtherType::Arp)
}

/// An ARP reply from us (`our_ip` at `l2.src`) to a requester.
pub fn arp_reply(
    cache: &mut PoolCache,
    l2: L2,
    our_ip: Ipv4Addr,
    to_ip: Ipv4Addr,
) -> Option<Packet> {
    arp(
        cache,
        l2,
        &ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: l2.src,
            sender_ip: our_ip,
            target_mac: l2.dst,
            target_ip: to_ip,
        },
    )
}

/// An ARP request for `target` from `our_ip`, broadcast.
pub fn arp_request(
    cache: &mut PoolCache,
    src_mac: EthernetAddress,
    tag: Option<u16>,
    our_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Option<Packet> {
    arp(
        cache,
        L2 {
            dst: EthernetAddress::BROADCAST,
            src: src_mac,
            tag,
        },
        &ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: src_mac,
            sender_ip: our_ip,
            target_mac: EthernetAddress::default(),
            target_ip: target,
        },
    )
}

/// An IPv4 packet carrying an ICMP message.
pub fn icmpv4(
    cache: &mut PoolCache,
    l2: L2,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg: &Icmpv4Repr<'_>,
) -> Option<Packet> {
    let mut p = cache.alloc()?;
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::Icmp,
        payload_len: msg.buffer_len(),
        ttl: 64,
        dscp_ecn: 0,
        ident: 0,
        dont_frag: false,
    };
    let buf = p.append(ipv4::HEADER_LEN + msg.buffer_len())?;
    ip.emit(buf);
    msg.emit(&mut buf[ipv4::HEADER_LEN..]);
    finish(p, l2, EtherType::Ipv4)
}

/// An IPv6 packet carrying an ICMPv6 message.
pub fn icmpv6(
    cache: &mut PoolCache,
    l2: L2,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    msg: &Icmpv6Repr<'_>,
) -> Option<Packet> {
    let mut p = cache.alloc()?;
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: msg.buffer_len(),
        hop_limit,
    };
    let buf = p.append(ipv6::HEADER_LEN + msg.buffer_len())?;
    ip.emit(buf);
    msg.emit(src, dst, &mut buf[ipv6::HEADER_LEN..]);
    finish(p, l2, EtherType::Ipv6)
}

/// A neighbour solicitation for `target` (RFC 4861 §7.2.2): to its
/// solicited-node group, hop limit 255, with our link-layer address.
pub fn neighbor_solicit(
    cache: &mut PoolCache,
    src_mac: EthernetAddress,
    tag: Option<u16>,
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> Option<Packet> {
    let t = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    let l2 = L2 {
        dst: EthernetAddress::ipv6_multicast(&group.octets()),
        src: src_mac,
        tag,
    };
    let msg = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(src_mac),
    });
    icmpv6(cache, l2, src, group, 255, &msg)
}

/// A solicited neighbour advertisement for our `target` address.
pub fn neighbor_advert(
    cache: &mut PoolCache,
    l2: L2,
    target: Ipv6Addr,
    dst: Ipv6Addr,
) -> Option<Packet> {
    let msg = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
        flags: na_flags::ROUTER | na_flags::SOLICITED | na_flags::OVERRIDE,
        target_addr: target,
        lladdr: Some(l2.src),
    });
    icmpv6(cache, l2, target, dst, 255, &msg)
}

/// An ICMPv4 error about `offending` (an IPv4 packet), with L2 header.
pub fn icmpv4_error(
    cache: &mut PoolCache,
    l2: L2,
    err: IcmpError,
    offending: &[u8],
    src: Ipv4Addr,
) -> Option<Packet> {
    let mut p = cache.alloc()?;
    if !icmp_error::build_icmpv4_error(err, offending, src, &mut p) {
        cache.free(p);
        return None;
    }
    finish(p, l2, EtherType::Ipv4)
}

/// An ICMPv6 error about `offending` (an IPv6 packet), with L2 header.
pub fn icmpv6_error(
    cache: &mut PoolCache,
    l2: L2,
    err: IcmpError,
    offending: &[u8],
    src: Ipv6Addr,
) -> Option<Packet> {
    let mut p = cache.alloc()?;
    if !icmp_error::build_icmpv6_error(err, offending, src, &mut p) {
        cache.free(p);
        return None;
    }
    finish(p, l2, EtherType::Ipv6)
}
