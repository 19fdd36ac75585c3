//! Router decisions from RFC 1812 (IPv4) and RFC 8200 / RFC 4443 (IPv6), as
//! plain functions the pipeline's route and rewrite stages call.
//!
//! [`decide_v4`] / [`decide_v6`] take a parsed packet and the tables and say
//! what happens to it: forwarded (perhaps after software fragmentation),
//! delivered locally, dropped, or dropped with an ICMP error. The checks run
//! in the order Linux's `ip_forward` runs them, so the same packet gets the
//! same answer: martians first, then the route (no route beats an expired
//! TTL), then TTL / hop limit, then MTU.
//!
//! The builders make the ICMP error packets (layer 3 only; the rewrite stage
//! adds the Ethernet header in the headroom) and the fragments.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use orbital_buf::{Packet, PoolCache};
use orbital_wire::icmpv4::{self, Icmpv4Message, Icmpv4Repr};
use orbital_wire::icmpv6::{self, Icmpv6Message, Icmpv6Repr};
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use orbital_wire::ipv6::{self, Ipv6Repr};
use orbital_wire::{EthernetAddress, L3Kind, PacketInfo};

use crate::nexthop::{Adjacency, Resolved, RouteDrop};
use crate::tables::Tables;

/// Why a packet is not forwarded (each maps to a drop reason of the pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotForwarded {
    /// Source address that cannot be a host (RFC 1812 §5.3.7, RFC 4291).
    MartianSource,
    /// Destination that must never be routed (0/8, 127/8, class E, ::, ::1).
    MartianDestination,
    /// Multicast destination: this data plane does not route multicast.
    Multicast,
    /// IPv6 link-local destination, or link-local source going off-link.
    LinkLocal,
    /// TTL / hop limit would reach zero.
    TtlExpired,
    /// The route says so (no route, blackhole, unreachable, prohibit).
    Route(RouteDrop),
    /// Larger than the egress MTU and may not be fragmented.
    TooBig,
}

/// An ICMP error the slow path should send about a dropped packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Time exceeded in transit (ICMP 11/0, ICMPv6 3/0).
    TimeExceeded,
    /// Destination unreachable with this code (ICMP type 3 / ICMPv6 type 1).
    Unreachable(u8),
    /// Fragmentation needed (ICMP 3/4) / packet too big (ICMPv6 2), with the
    /// next-hop MTU.
    TooBig(u16),
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding<'a> {
    /// Send through `adj` to the neighbour `next_hop` (the gateway, or the
    /// destination itself when connected); `fragment` when it must first be
    /// cut to `adj.mtu`.
    Forward {
        /// The way out.
        adj: &'a Adjacency,
        /// Whose MAC the frame goes to.
        next_hop: IpAddr,
        /// IPv4 only: fragment in software first.
        fragment: bool,
    },
    /// For the router itself.
    Local,
    /// Dropped silently.
    Drop(NotForwarded),
    /// Dropped, and the sender is told with an ICMP error (if
    /// [`may_send_icmpv4_error`] / [`may_send_icmpv6_error`] allow it).
    Error(NotForwarded, IcmpError),
}

/// RFC 1812 §5.3.7: source addresses a router must not forward from.
#[inline]
pub fn is_martian_source_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || o >= 224
}

/// Destinations a router must never route: this network (0/8), loopback,
/// class E and limited broadcast.
#[inline]
pub fn is_martian_destination_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || o >= 240
}

/// IPv6 sources that cannot be a single sender (RFC 4291 §2.5.2, §2.7,
/// §2.5.5.2): unspecified, loopback, multicast, IPv4-mapped.
#[inline]
pub fn is_martian_source_v6(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.to_ipv4_mapped().is_some()
}

/// IPv6 destinations never routed: unspecified, loopback, IPv4-mapped.
#[inline]
pub fn is_martian_destination_v6(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.to_ipv4_mapped().is_some()
}

/// Route and check an IPv4 packet (RFC 1812 §5.2–5.3).
pub fn decide_v4<'t>(t: &'t Tables, info: &PacketInfo, flow_hash: u32) -> Forwarding<'t> {
    decide_v4_with(t, info, t.fib4.lookup(info.dst_v4()), flow_hash)
}

/// As [`decide_v4`] with the LPM lookup already done (the route stage looks
/// a whole batch up at once), `nh` being the next-hop id found.
#[inline]
pub fn decide_v4_with<'t>(
    t: &'t Tables,
    info: &PacketInfo,
    nh: u32,
    flow_hash: u32,
) -> Forwarding<'t> {
    let (src, dst) = (info.src_v4(), info.dst_v4());
    if is_martian_source_v4(src) {
        return Forwarding::Drop(NotForwarded::MartianSource);
    }
    if dst.is_multicast() {
        return Forwarding::Drop(NotForwarded::Multicast);
    }
    if is_martian_destination_v4(dst) {
        return Forwarding::Drop(NotForwarded::MartianDestination);
    }
    let adj = match t.next_hops.resolve(nh, flow_hash) {
        Resolved::Local => return Forwarding::Local,
        Resolved::Drop(d) => return route_drop(d, false),
        Resolved::Forward(a) => a,
    };
    if info.ttl <= 1 {
        return Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded);
    }
    let next_hop = adj.gateway.unwrap_or(IpAddr::V4(dst));
    let fragment = info.l3_len > u32::from(adj.mtu);
    if fragment && info.dont_frag {
        return Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(adj.mtu));
    }
    Forwarding::Forward {
        adj,
        next_hop,
        fragment,
    }
}

/// The common case of [`decide_v4_with`], decided cheaply: `Some(adj)`
/// exactly when the full decision would forward the packet unfragmented
/// through a single (non-ECMP) gateway whose MAC is resolved and whose
/// interface sits on a port; `None` means "ask [`decide_v4_with`]". The route
/// stage tries this first (a property test holds the two to agreeing).
#[inline(always)]
pub fn fast_forward_v4<'t>(t: &'t Tables, info: &PacketInfo, nh: u32) -> Option<&'t Adjacency> {
    let crate::nexthop::NextHop::Forward(adj) = t.next_hops.get(nh) else {
        return None;
    };
    let (s, d) = ((info.src >> 24) as u8, (info.dst >> 24) as u8);
    // Not martian (source 0, 127, ≥224; destination 0, 127, ≥224 incl.
    // multicast and class E), TTL left, fits the MTU, next hop known.
    let ok = s != 0
        && s != 127
        && s < 224
        && d != 0
        && d != 127
        && d < 224
        && info.ttl > 1
        && info.l3_len <= u32::from(adj.mtu)
        && adj.gateway.is_some()
        && adj.dst_mac.is_some()
        && adj.port.is_some();
    ok.then_some(adj)
}

/// Route and check an IPv6 packet (RFC 8200 §3, RFC 4443 §3).
pub fn decide_v6<'t>(t: &'t Tables, info: &PacketInfo, flow_hash: u32) -> Forwarding<'t> {
    decide_v6_with(t, info, t.fib6.lookup(info.dst_v6()), flow_hash)
}

/// As [`decide_v6`] with the LPM lookup already done.
#[inline]
pub fn decide_v6_with<'t>(
    t: &'t Tables,
    info: &PacketInfo,
    nh: u32,
    flow_hash: u32,
) -> Forwarding<'t> {
    let (src, dst) = (info.src_v6(), info.dst_v6());
    if is_martian_source_v6(src) {
        return Forwarding::Drop(NotForwarded::MartianSource);
    }
    if is_martian_destination_v6(dst) {
        return Forwarding::Drop(NotForwarded::MartianDestination);
    }
    let adj = match t.next_hops.resolve(nh, flow_hash) {
        Resolved::Local => return Forwarding::Local,
        // Multicast and link-local destinations are only ever local.
        _ if dst.is_multicast() => return Forwarding::Drop(NotForwarded::Multicast),
        _ if dst.is_unicast_link_local() => return Forwarding::Drop(NotForwarded::LinkLocal),
        Resolved::Drop(d) => return route_drop(d, true),
        Resolved::Forward(a) => a,
    };
    if src.is_unicast_link_local() {
        // RFC 4443 §3.1 code 2: beyond scope of source address.
        return Forwarding::Error(NotForwarded::LinkLocal, IcmpError::Unreachable(2));
    }
    if info.ttl <= 1 {
        return Forwarding::Error(NotForwarded::TtlExpired, IcmpError::TimeExceeded);
    }
    if info.l3_len > u32::from(adj.mtu) {
        return Forwarding::Error(NotForwarded::TooBig, IcmpError::TooBig(adj.mtu));
    }
    let next_hop = adj.gateway.unwrap_or(IpAddr::V6(dst));
    Forwarding::Forward {
        adj,
        next_hop,
        fragment: false,
    }
}

fn route_drop(d: RouteDrop, v6: bool) -> Forwarding<'static> {
    let why = NotForwarded::Route(d);
    let code = match (d, v6) {
        (RouteDrop::Blackhole, _) => return Forwarding::Drop(why),
        (RouteDrop::NoRoute, false) => icmpv4::unreach::NET,
        (RouteDrop::Unreachable, false) => icmpv4::unreach::HOST,
        (RouteDrop::Prohibit, false) => icmpv4::unreach::ADMIN_PROHIBITED,
        (RouteDrop::NoRoute, true) => icmpv6::unreach::NO_ROUTE,
        (RouteDrop::Unreachable, true) => icmpv6::unreach::REJECT_ROUTE,
        (RouteDrop::Prohibit, true) => icmpv6::unreach::ADMIN_PROHIBITED,
    };
    Forwarding::Error(why, IcmpError::Unreachable(code))
}

/// RFC 1812 §4.3.2.7: may an ICMP error be sent about this packet? Not about
/// an ICMP error, a non-first fragment, a link-layer or IP broadcast or
/// multicast, or a packet from an address that is not a single host.
pub fn may_send_icmpv4_error(info: &PacketInfo, dst_mac: EthernetAddress) -> bool {
    if info.l3 != L3Kind::Ipv4 || dst_mac.is_multicast() || info.frag.is_later_fragment() {
        return false;
    }
    let (src, dst) = (info.src_v4(), info.dst_v4());
    if is_martian_source_v4(src) || dst.is_multicast() || dst.is_broadcast() {
        return false;
    }
    let is_icmp_error = info.ip_protocol() == IpProtocol::Icmp
        && info.has_l4()
        && Icmpv4Message::from(info.icmp_type()).is_error();
    !is_icmp_error
}

/// RFC 4443 §2.4 (e): may an ICMPv6 error be sent about this packet? Not about
/// an ICMPv6 error or redirect, nor a packet from an address that is not a
/// single host; for multicast destinations only Packet Too Big.
pub fn may_send_icmpv6_error(info: &PacketInfo, dst_mac: EthernetAddress, err: IcmpError) -> bool {
    if info.l3 != L3Kind::Ipv6 || info.frag.is_later_fragment() {
        return false;
    }
    let (src, dst) = (info.src_v6(), info.dst_v6());
    if src.is_unspecified() || src.is_multicast() || is_martian_source_v6(src) {
        return false;
    }
    let group = dst.is_multicast() || dst_mac.is_multicast();
    if group && !matches!(err, IcmpError::TooBig(_)) {
        return false;
    }
    if info.ip_protocol() == IpProtocol::Icmpv6 && info.has_l4() {
        let t = Icmpv6Message::from(info.icmp_type());
        if t.is_error() || t == Icmpv6Message::Redirect {
            return false;
        }
    }
    true
}

/// Largest ICMPv4 error datagram (RFC 1812 §4.3.2.3: as much of the offending
/// datagram as fits in 576 bytes, at least its header and 8 bytes).
pub const MAX_ICMPV4_ERROR: usize = 576;

/// Write an ICMPv4 error about `offending` (the IP packet, from its header to
/// its total length) into `out` as an IP packet from `src` to the offender's
/// source. Returns false (leaving `out` empty) if `offending` is not a valid
/// IPv4 header or `out` has no room.
pub fn build_icmpv4_error(
    err: IcmpError,
    offending: &[u8],
    src: Ipv4Addr,
    out: &mut Packet,
) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(offending) else {
        return false;
    };
    let quote_len = offending
        .len()
        .min(usize::from(ip.total_len()))
        .min(MAX_ICMPV4_ERROR - ipv4::HEADER_LEN - icmpv4::HEADER_LEN);
    let quote = &offending[..quote_len];
    let icmp = match err {
        IcmpError::TimeExceeded => Icmpv4Repr::TimeExceeded {
            code: icmpv4::time_exceeded::TTL,
            quote,
        },
        IcmpError::Unreachable(code) => Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu: 0,
            quote,
        },
        IcmpError::TooBig(mtu) => Icmpv4Repr::DstUnreachable {
            code: icmpv4::unreach::FRAG_NEEDED,
            next_hop_mtu: mtu,
            quote,
        },
    };
    let ip_repr = Ipv4Repr {
        src_addr: src,
        dst_addr: ip.src_addr(),
        protocol: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        // RFC 1812 §4.3.2.5: precedence 6, internetwork control.
        dscp_ecn: 0xc0,
        ident: 0,
        dont_frag: false,
    };
    out.truncate(0);
    let Some(buf) = out.append(ip_repr.buffer_len() + icmp.buffer_len()) else {
        return false;
    };
    ip_repr.emit(buf);
    icmp.emit(&mut buf[ipv4::HEADER_LEN..]);
    true
}

/// Largest ICMPv6 error: what fits the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
pub const MAX_ICMPV6_ERROR: usize = ipv6::MIN_MTU;

/// Write an ICMPv6 error about `offending` (the IPv6 packet, to its payload
/// length) into `out` as an IPv6 packet from `src`. Returns false if
/// `offending` is not IPv6 or `out` has no room.
pub fn build_icmpv6_error(
    err: IcmpError,
    offending: &[u8],
    src: Ipv6Addr,
    out: &mut Packet,
) -> bool {
    let Ok(ip) = orbital_wire::ipv6::Ipv6Packet::new_checked(offending) else {
        return false;
    };
    let quote_len = offending
        .len()
        .min(ipv6::HEADER_LEN + usize::from(ip.payload_len()))
        .min(MAX_ICMPV6_ERROR - ipv6::HEADER_LEN - icmpv6::HEADER_LEN);
    let quote = &offending[..quote_len];
    let icmp = match err {
        IcmpError::TimeExceeded => Icmpv6Repr::TimeExceeded { code: 0, quote },
        IcmpError::Unreachable(code) => Icmpv6Repr::DstUnreachable { code, quote },
        IcmpError::TooBig(mtu) => Icmpv6Repr::PacketTooBig {
            mtu: u32::from(mtu),
            quote,
        },
    };
    let dst = ip.src_addr();
    let ip_repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    out.truncate(0);
    let Some(buf) = out.append(ip_repr.buffer_len() + icmp.buffer_len()) else {
        return false;
    };
    ip_repr.emit(buf);
    icmp.emit(src, dst, &mut buf[ipv6::HEADER_LEN..]);
    true
}

/// Why a packet could not be fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Not a valid IPv4 packet.
    #[error("not a valid IPv4 packet")]
    Malformed,
    /// DF is set: the sender must be told instead (Fragmentation Needed).
    #[error("don't-fragment is set")]
    DontFragment,
    /// The MTU cannot hold the header and eight bytes of data.
    #[error("MTU {0} is too small to fragment into")]
    MtuTooSmall(u16),
    /// The pool ran out of buffers part way; fragments made so far are freed.
    #[error("no buffer for a fragment")]
    NoBuffer,
}

/// Cut IPv4 packet `ip` (header to total length) into fragments of at most
/// `mtu` bytes (RFC 791 §3.2, RFC 1812 §5.2.6), each a new L3 packet from
/// `cache` with the original's metadata, pushed to `out` in order. The first
/// fragment keeps every option; later ones only those with the copied flag.
/// A packet that is itself a fragment is fragmented further (offsets and MF
/// carry over).
///
/// # Errors
/// [`FragmentError`]; nothing is pushed to `out` on error.
pub fn fragment_ipv4(
    ip: &[u8],
    meta: orbital_buf::Meta,
    mtu: u16,
    cache: &mut PoolCache,
    out: &mut Vec<Packet>,
) -> Result<usize, FragmentError> {
    let p = Ipv4Packet::new_checked(ip).map_err(|_| FragmentError::Malformed)?;
    if p.dont_frag() {
        return Err(FragmentError::DontFragment);
    }
    let hlen = p.header_len();
    let total = usize::from(p.total_len());
    let payload = &ip[hlen..total];
    // Options that go into every fragment (copied flag, RFC 791 §3.1).
    let mut later_header = ip[..ipv4::HEADER_LEN].to_vec();
    for opt in p.options().map_while(Result::ok) {
        if opt.kind & 0x80 != 0 {
            later_header.push(opt.kind);
            later_header.push((opt.data.len() + 2) as u8);
            later_header.extend_from_slice(opt.data);
        }
    }
    while later_header.len() % 4 != 0 {
        later_header.push(0); // end of option list
    }
    let mtu = usize::from(mtu);
    let first_room = mtu.saturating_sub(hlen) & !7;
    let later_room = mtu.saturating_sub(later_header.len()) & !7;
    if first_room == 0 || later_room == 0 {
        return Err(FragmentError::MtuTooSmall(mtu as u16));
    }
    let base_offset = usize::from(p.frag_offset());
    let last_more = p.more_frags();
    let start = out.len();
    let mut pos = 0;
    while pos < payload.len() {
        let (header, room) = if pos == 0 {
            (&ip[..hlen], first_room)
        } else {
            (&later_header[..], later_room)
        };
        let take = room.min(payload.len() - pos);
        let more = pos + take < payload.len() || last_more;
        let Some(mut f) = cache.alloc() else {
            cache.free_all(out.drain(start..));
            return Err(FragmentError::NoBuffer);
        };
        f.meta = meta;
        let Some(buf) = f.append(header.len() + take) else {
            cache.free(f);
            cache.free_all(out.drain(start..));
            return Err(FragmentError::NoBuffer);
        };
        buf[..header.len()].copy_from_slice(header);
        buf[header.len()..].copy_from_slice(&payload[pos..pos + take]);
        let mut fp = Ipv4Packet::new_unchecked(&mut buf[..]);
        fp.set_version_and_header_len(header.len());
        fp.set_total_len((header.len() + take) as u16);
        fp.set_frag(false, more, (base_offset + pos) as u16);
        fp.fill_checksum();
        out.push(f);
        pos += take;
    }
    Ok(out.len() - start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};
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

    #[test]
    fn martians() {
        for a in [
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.5",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            assert!(is_martian_source_v4(a.parse().unwrap()), "{a}");
        }
        for a in ["10.0.0.1", "192.0.2.1", "100.64.0.1"] {
            assert!(!is_martian_source_v4(a.parse().unwrap()), "{a}");
        }
        assert!(is_martian_destination_v4("127.1.1.1".parse().unwrap()));
        assert!(is_martian_destination_v4(
            "255.255.255.255".parse().unwrap()
        ));
        assert!(
            !is_martian_destination_v4("224.0.0.1".parse().unwrap()),
            "multicast is its own reason"
        );
        assert!(is_martian_source_v6("::".parse().unwrap()));
        assert!(is_martian_source_v6("ff02::1".parse().unwrap()));
        assert!(is_martian_source_v6("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!is_martian_source_v6("fe80::1".parse().unwrap()));
        assert!(is_martian_destination_v6("::1".parse().unwrap()));
    }
}
