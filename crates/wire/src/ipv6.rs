//! IPv6 (RFC 8200) and a bounded walk of its extension headers.
//!
//! The walk stops after [`MAX_EXTENSION_HEADERS`] headers: real traffic carries
//! zero to two, and an attacker-chosen chain must not cost unbounded time per
//! packet (RFC 7112 asks that the whole chain sit in the first fragment).

use core::net::Ipv6Addr;

use crate::field::{Field, read_u16, read_u32, write_u16};
use crate::ip::IpProtocol;
use crate::{ParseError, Result};

mod field {
    use super::Field;
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const LENGTH: usize = 4;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: Field = 8..24;
    pub(super) const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// The IPv6 minimum link MTU (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;
/// Most extension headers the walk steps over before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wrap after [`Ipv6Packet::check_len`].
    ///
    /// # Errors
    /// As [`Ipv6Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validate version and payload length against the buffer. Trailing bytes
    /// (Ethernet padding) are allowed.
    ///
    /// # Errors
    /// [`ParseError::TruncatedIpv6`], [`ParseError::BadIpVersion`],
    /// [`ParseError::BadPayloadLength`] (also for a jumbogram: payload length
    /// zero with a hop-by-hop header, RFC 2675, which no link here can carry).
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(ParseError::TruncatedIpv6);
        }
        if self.version() != 6 {
            return Err(ParseError::BadIpVersion);
        }
        let plen = usize::from(self.payload_len());
        if HEADER_LEN + plen > data.len() {
            return Err(ParseError::BadPayloadLength);
        }
        if plen == 0 && self.next_header() == IpProtocol::HopByHop && data.len() > HEADER_LEN {
            return Err(ParseError::BadPayloadLength);
        }
        Ok(())
    }

    /// Version (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        let d = self.buffer.as_ref();
        (d[0] << 4) | (d[1] >> 4)
    }

    /// Flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Payload length (everything after the fixed header).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Next header after the fixed header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Payload (extension headers included), up to the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Walk the extension headers. See [`walk_extension_headers`].
    ///
    /// # Errors
    /// As [`walk_extension_headers`].
    pub fn extension_headers(&self) -> Result<ExtensionWalk> {
        walk_extension_headers(self.next_header(), self.payload())
    }
}

#[inline]
fn addr_at(data: &[u8], f: Field) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[f]);
    Ipv6Addr::from(b)
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Set version 6, traffic class and flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[..4].copy_from_slice(&v.to_be_bytes());
    }

    /// Set the traffic class, keeping version and flow label.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let d = self.buffer.as_mut();
        d[0] = 0x60 | (tc >> 4);
        d[1] = (tc << 4) | (d[1] & 0x0f);
    }

    /// Set the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Set the next header.
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = p.into();
    }

    /// Set the hop limit (IPv6 has no header checksum to patch).
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
}

/// A parsed IPv6 fragment header (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragmentHeader {
    /// Offset of this fragment's data, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

/// Length of an IPv6 fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// What the extension-header walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionWalk {
    /// Protocol of the upper layer (or of the next header when the walk
    /// stopped at a non-first fragment or ESP).
    pub protocol: IpProtocol,
    /// Offset of that header from the start of the IPv6 payload.
    pub offset: usize,
    /// Extension headers stepped over.
    pub count: u8,
    /// The fragment header, if one was present.
    pub fragment: Option<FragmentHeader>,
    /// Offset of the routing header from the start of the payload, if any.
    pub routing_offset: Option<usize>,
}

/// Step over the extension headers at the start of `payload`, whose first
/// header is `first`. Stops at the upper-layer header, at "no next header", or
/// after a fragment header with a non-zero offset (the rest of the chain is in
/// the first fragment).
///
/// # Errors
/// [`ParseError::BadExtensionHeader`] if a header runs past the payload,
/// [`ParseError::HopByHopNotFirst`], [`ParseError::TooManyExtensionHeaders`],
/// [`ParseError::BadIpv6Fragment`] for a fragment header whose fragment would
/// end past 65,535 bytes or, when more follow, whose data is not a multiple
/// of eight bytes.
pub fn walk_extension_headers(first: IpProtocol, payload: &[u8]) -> Result<ExtensionWalk> {
    let mut walk = ExtensionWalk {
        protocol: first,
        offset: 0,
        count: 0,
        fragment: None,
        routing_offset: None,
    };
    while walk.protocol.is_ipv6_extension() {
        if usize::from(walk.count) == MAX_EXTENSION_HEADERS {
            return Err(ParseError::TooManyExtensionHeaders);
        }
        if walk.protocol == IpProtocol::HopByHop && walk.count != 0 {
            return Err(ParseError::HopByHopNotFirst);
        }
        let hdr = payload
            .get(walk.offset..walk.offset + 8)
            .ok_or(ParseError::BadExtensionHeader)?;
        let len = match walk.protocol {
            IpProtocol::Ipv6Frag => FRAGMENT_HEADER_LEN,
            IpProtocol::Ah => (usize::from(hdr[1]) + 2) * 4,
            _ => (usize::from(hdr[1]) + 1) * 8,
        };
        if walk.offset + len > payload.len() {
            return Err(ParseError::BadExtensionHeader);
        }
        let next = IpProtocol::from(hdr[0]);
        match walk.protocol {
            IpProtocol::Ipv6Frag => {
                let off_flags = read_u16(hdr, 2);
                let frag = FragmentHeader {
                    offset: off_flags & 0xfff8,
                    more: off_flags & 1 != 0,
                    ident: read_u32(hdr, 4),
                };
                let data_len = payload.len() - walk.offset - FRAGMENT_HEADER_LEN;
                if usize::from(frag.offset) + data_len > usize::from(u16::MAX)
                    || (frag.more && data_len % 8 != 0)
                {
                    return Err(ParseError::BadIpv6Fragment);
                }
                walk.fragment = Some(frag);
                walk.count += 1;
                walk.offset += len;
                walk.protocol = next;
                if frag.offset != 0 {
                    break;
                }
                continue;
            }
            IpProtocol::Ipv6Route => walk.routing_offset = Some(walk.offset),
            _ => {}
        }
        walk.count += 1;
        walk.offset += len;
        walk.protocol = next;
    }
    Ok(walk)
}

/// A view of a routing header (RFC 8200 §4.4), enough to find the final
/// destination the transport pseudo-header must use.
#[derive(Debug, Clone)]
pub struct RoutingHeader<'a> {
    data: &'a [u8],
}

impl<'a> RoutingHeader<'a> {
    /// Routing type 0 (deprecated by RFC 5095, still seen in captures).
    pub const TYPE0: u8 = 0;
    /// Type 2, Mobile IPv6 home address (RFC 6275).
    pub const TYPE2: u8 = 2;
    /// Type 4, Segment Routing (RFC 8754).
    pub const SRH: u8 = 4;

    /// Wrap a routing header already bounded by the extension walk.
    ///
    /// # Errors
    /// [`ParseError::BadExtensionHeader`] if shorter than eight bytes or than
    /// its own length field.
    pub fn new_checked(data: &'a [u8]) -> Result<RoutingHeader<'a>> {
        if data.len() < 8 || data.len() < (usize::from(data[1]) + 1) * 8 {
            return Err(ParseError::BadExtensionHeader);
        }
        Ok(RoutingHeader { data })
    }

    /// Routing type.
    pub fn routing_type(&self) -> u8 {
        self.data[2]
    }

    /// Segments left.
    pub fn segments_left(&self) -> u8 {
        self.data[3]
    }

    /// The destination the packet finally reaches, if this header names one
    /// the node must use in upper-layer checksums (RFC 8200 §8.1): the last
    /// address of a type 0 / 2 header, the first of an SRH segment list.
    pub fn final_destination(&self) -> Option<Ipv6Addr> {
        if self.segments_left() == 0 {
            return None;
        }
        let len = (usize::from(self.data[1]) + 1) * 8;
        match self.routing_type() {
            Self::TYPE0 | Self::TYPE2 if len >= 24 => Some(addr_at(self.data, len - 16..len)),
            Self::SRH if len >= 24 => Some(addr_at(self.data, 8..24)),
            _ => None,
        }
    }
}

/// Plain-data IPv6 header, for packets the slow path builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Bytes [`Ipv6Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the 40-byte fixed header.
    ///
    /// # Panics
    /// If `buf` is shorter than 40 bytes or the payload exceeds 65,535 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let plen = u16::try_from(self.payload_len).expect("IPv6 payload over 64 KiB");
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_tc_flow(0, 0);
        p.set_payload_len(plen);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(next: u8, plen: u16) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&plen.to_be_bytes());
        v.push(next);
        v.push(64);
        v.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets());
        v.extend_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).octets());
        v
    }

    #[test]
    fn parse_fixed_header() {
        let mut v = header(17, 8);
        v.extend_from_slice(&[0; 8]);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.payload().len(), 8);
        let w = p.extension_headers().unwrap();
        assert_eq!(w.protocol, IpProtocol::Udp);
        assert_eq!(w.offset, 0);
    }

    #[test]
    fn rejects_bad_lengths() {
        let v = header(17, 9);
        assert_eq!(
            Ipv6Packet::new_checked(&v[..39]).unwrap_err(),
            ParseError::TruncatedIpv6
        );
        assert_eq!(
            Ipv6Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadPayloadLength
        );
        let mut v = header(0, 0);
        v.extend_from_slice(&[17, 0, 0xc2, 4, 0, 1, 0, 0]);
        assert_eq!(
            Ipv6Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadPayloadLength
        );
        let mut v = header(17, 0);
        v[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadIpVersion
        );
    }

    #[test]
    fn walks_hbh_dst_frag_chain() {
        // HBH(8) -> DstOpts(16) -> Frag(8, first fragment, M=1) -> UDP(8)
        let mut pl = vec![60, 0, 1, 4, 0, 0, 0, 0];
        pl.extend_from_slice(&[44, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        pl.extend_from_slice(&[17, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
        pl.extend_from_slice(&[0; 8]);
        let w = walk_extension_headers(IpProtocol::HopByHop, &pl).unwrap();
        assert_eq!(w.protocol, IpProtocol::Udp);
        assert_eq!(w.offset, 32);
        assert_eq!(w.count, 3);
        assert_eq!(
            w.fragment,
            Some(FragmentHeader {
                offset: 0,
                more: true,
                ident: 0xdead_beef
            })
        );
    }

    #[test]
    fn later_fragment_stops_walk() {
        let mut pl = vec![6, 0, 0x05, 0x00, 0, 0, 0, 7];
        pl.extend_from_slice(&[0; 16]);
        let w = walk_extension_headers(IpProtocol::Ipv6Frag, &pl).unwrap();
        assert_eq!(w.protocol, IpProtocol::Tcp);
        assert_eq!(w.fragment.unwrap().offset, 0x500);
        assert_eq!(w.offset, 8);
    }

    #[test]
    fn rejects_bad_chains() {
        assert_eq!(
            walk_extension_headers(IpProtocol::HopByHop, &[17, 0, 0, 0]).unwrap_err(),
            ParseError::BadExtensionHeader
        );
        assert_eq!(
            walk_extension_headers(IpProtocol::Ipv6Opts, &[17, 1, 0, 0, 0, 0, 0, 0]).unwrap_err(),
            ParseError::BadExtensionHeader
        );
        let dst_then_hbh = [0u8, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_extension_headers(IpProtocol::Ipv6Opts, &dst_then_hbh).unwrap_err(),
            ParseError::HopByHopNotFirst
        );
        let many: Vec<u8> = (0..10).flat_map(|_| [60u8, 0, 0, 0, 0, 0, 0, 0]).collect();
        assert_eq!(
            walk_extension_headers(IpProtocol::Ipv6Opts, &many).unwrap_err(),
            ParseError::TooManyExtensionHeaders
        );
        // A fragment whose end would pass 64 KiB.
        let mut pl = vec![17, 0, 0xff, 0xf8, 0, 0, 0, 1];
        pl.extend_from_slice(&[0; 16]);
        assert_eq!(
            walk_extension_headers(IpProtocol::Ipv6Frag, &pl).unwrap_err(),
            ParseError::BadIpv6Fragment
        );
    }

    #[test]
    fn routing_header_final_destination() {
        let last = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99);
        let mut rh = vec![6, 2, 0, 1, 0, 0, 0, 0];
        rh.extend_from_slice(&last.octets());
        let r = RoutingHeader::new_checked(&rh).unwrap();
        assert_eq!(r.final_destination(), Some(last));
        assert!(RoutingHeader::new_checked(&rh[..20]).is_err());
    }
}
