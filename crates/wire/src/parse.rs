//! One walk over a frame that fills [`PacketInfo`], the summary every later
//! stage reads instead of parsing again.
//!
//! The walk is a straight line of bounds checks, one per header, with no
//! allocation and no recursion: Ethernet → up to two VLAN tags → ARP | IPv4 |
//! IPv6 (extension headers bounded by [`crate::ipv6::MAX_EXTENSION_HEADERS`])
//! → TCP | UDP | ICMP | ICMPv6. On error the summary keeps everything learned
//! up to the faulty header, so a trace or `orbital inspect` can still say what
//! the frame was.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ethernet::{self, EtherType};
use crate::field::read_u16;
use crate::ip::IpProtocol;
use crate::ipv4;
use crate::ipv6::{self, Ipv6Packet};
use crate::vlan::{self, VlanHeader};
use crate::{ParseError, Result, arp};

/// How the capture or port frames its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// Ethernet II (DLT_EN10MB, LINKTYPE 1): what every data-plane port carries.
    Ethernet,
    /// Raw IP; the version nibble says 4 or 6 (LINKTYPE_RAW 101, DLT_RAW 12/14).
    RawIp,
    /// Raw IPv4 only (LINKTYPE_IPV4 228).
    RawIpv4,
    /// Raw IPv6 only (LINKTYPE_IPV6 229).
    RawIpv6,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL 113): 16-byte header.
    LinuxSll,
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2 276): 20-byte header.
    LinuxSll2,
    /// BSD loopback (LINKTYPE_NULL 0): 4-byte address family in host order.
    Null,
}

impl LinkType {
    /// Map a pcap LINKTYPE_ value, or `None` if the data plane cannot read it.
    pub fn from_pcap(linktype: u32) -> Option<LinkType> {
        Some(match linktype {
            1 => LinkType::Ethernet,
            101 | 12 | 14 => LinkType::RawIp,
            228 => LinkType::RawIpv4,
            229 => LinkType::RawIpv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 => LinkType::Null,
            _ => return None,
        })
    }

    /// The pcap LINKTYPE_ value written for this link type.
    pub fn to_pcap(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::RawIpv4 => 228,
            LinkType::RawIpv6 => 229,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Null => 0,
        }
    }
}

/// What the frame carries at layer 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum L3Kind {
    /// Not reached (the link header was bad).
    #[default]
    None,
    /// ARP.
    Arp,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// Another EtherType (or an 802.3 length field): not for the IP data path.
    Other,
}

/// One VLAN tag as found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100, 0x88a8 or 0x9100).
    pub tpid: u16,
    /// Tag control information (PCP, DEI, VID).
    pub tci: u16,
}

impl VlanTag {
    /// The VLAN id.
    pub const fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }
}

/// Fragment fields of an IPv4 header or an IPv6 fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct FragInfo {
    /// A fragment header (IPv6) or non-zero MF/offset (IPv4) is present.
    pub present: bool,
    /// More fragments follow.
    pub more: bool,
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub ident: u32,
}

impl FragInfo {
    /// A real fragment of a larger datagram (an IPv6 atomic fragment, offset 0
    /// with M clear, is not one: RFC 6946).
    pub const fn is_fragment(&self) -> bool {
        self.present && (self.more || self.offset != 0)
    }

    /// Not the first fragment: no transport header here.
    pub const fn is_later_fragment(&self) -> bool {
        self.present && self.offset != 0
    }
}

/// The compact summary of a parsed frame. Offsets are from the start of the
/// frame; zero means "absent" for `l4_offset` and `payload_offset`.
///
/// Addresses are kept as `u128` so the summary is the same for both families:
/// an IPv4 address sits in the low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketInfo {
    /// Start of the layer-3 header.
    pub l3_offset: u16,
    /// Start of the layer-4 header (0 if not reached).
    pub l4_offset: u16,
    /// Start of the layer-4 payload (0 if not reached).
    pub payload_offset: u16,
    /// Length of the L3 packet by its own length fields (excludes padding).
    /// 32 bits because an IPv6 packet can be 40 + 65,535 bytes.
    pub l3_len: u32,
    /// EtherType after any VLAN tags (raw value).
    pub ethertype: u16,
    /// VLAN tags, outermost first.
    pub vlans: [VlanTag; 2],
    /// Number of valid entries in `vlans`.
    pub vlan_count: u8,
    /// What layer 3 is.
    pub l3: L3Kind,
    /// Upper-layer protocol (after IPv6 extension headers), raw value.
    pub protocol: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 DSCP/ECN byte or IPv6 traffic class.
    pub tos: u8,
    /// IPv4 header length, or 40 + extension headers for IPv6.
    pub l3_header_len: u8,
    /// IPv4 DF bit.
    pub dont_frag: bool,
    /// IPv4 loose or strict source route option present (RFC 791 §3.1);
    /// the router forwards such packets only if configured to
    /// (RFC 1812 §5.2.4.1).
    pub source_route: bool,
    /// Fragment fields.
    pub frag: FragInfo,
    /// Source address (IPv4 in the low 32 bits).
    pub src: u128,
    /// Destination address (IPv4 in the low 32 bits).
    pub dst: u128,
    /// TCP/UDP/SCTP source port; ICMP/ICMPv6 echo identifier.
    pub src_port: u16,
    /// TCP/UDP/SCTP destination port.
    pub dst_port: u16,
    /// TCP flags, or for ICMP/ICMPv6 the type in the high byte and code in the low.
    pub l4_flags: u16,
}

impl PacketInfo {
    /// The upper-layer protocol.
    #[inline]
    pub fn ip_protocol(&self) -> IpProtocol {
        IpProtocol::from(self.protocol)
    }

    /// IPv4 source (meaningful when `l3` is [`L3Kind::Ipv4`]).
    #[inline]
    pub fn src_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.src as u32)
    }

    /// IPv4 destination.
    #[inline]
    pub fn dst_v4(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.dst as u32)
    }

    /// IPv6 source.
    #[inline]
    pub fn src_v6(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.src)
    }

    /// IPv6 destination.
    #[inline]
    pub fn dst_v6(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(self.dst)
    }

    /// Source as an [`IpAddr`], if the frame is IP.
    pub fn src_ip(&self) -> Option<IpAddr> {
        match self.l3 {
            L3Kind::Ipv4 => Some(IpAddr::V4(self.src_v4())),
            L3Kind::Ipv6 => Some(IpAddr::V6(self.src_v6())),
            _ => None,
        }
    }

    /// Destination as an [`IpAddr`], if the frame is IP.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        match self.l3 {
            L3Kind::Ipv4 => Some(IpAddr::V4(self.dst_v4())),
            L3Kind::Ipv6 => Some(IpAddr::V6(self.dst_v6())),
            _ => None,
        }
    }

    /// True once a transport header was found and checked.
    #[inline]
    pub fn has_l4(&self) -> bool {
        self.l4_offset != 0
    }

    /// ICMP/ICMPv6 type (meaningful when the protocol is ICMP).
    #[inline]
    pub fn icmp_type(&self) -> u8 {
        (self.l4_flags >> 8) as u8
    }

    /// ICMP/ICMPv6 code.
    #[inline]
    pub fn icmp_code(&self) -> u8 {
        self.l4_flags as u8
    }
}

/// Parse `frame`, framed as `link`, into `info`, which is overwritten.
///
/// On success every field the frame has is set. On error `info` holds what was
/// learned before the defect (so `l3` tells whether the frame was IPv4 even if
/// its header was bad), and the error names the defect.
///
/// # Errors
/// Any [`ParseError`]; never panics, never reads out of bounds.
pub fn parse(frame: &[u8], link: LinkType, info: &mut PacketInfo) -> Result<()> {
    *info = PacketInfo::default();
    let (ethertype, l3_offset) = match link {
        LinkType::Ethernet => return parse_ethernet(frame, info),
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(6) => (EtherType::Ipv6, 0),
            Some(_) => (EtherType::Ipv4, 0),
            None => return Err(ParseError::TruncatedLink),
        },
        LinkType::RawIpv4 => (EtherType::Ipv4, 0),
        LinkType::RawIpv6 => (EtherType::Ipv6, 0),
        LinkType::LinuxSll => {
            if frame.len() < 16 {
                return Err(ParseError::TruncatedLink);
            }
            (EtherType::from(read_u16(frame, 14)), 16)
        }
        LinkType::LinuxSll2 => {
            if frame.len() < 20 {
                return Err(ParseError::TruncatedLink);
            }
            (EtherType::from(read_u16(frame, 0)), 20)
        }
        LinkType::Null => {
            if frame.len() < 4 {
                return Err(ParseError::TruncatedLink);
            }
            // The family is in the capturing host's byte order; accept both.
            let le = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let be = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let family = if le < 0x100 { le } else { be };
            let t = match family {
                2 => EtherType::Ipv4,
                24 | 28 | 30 => EtherType::Ipv6,
                _ => EtherType::Unknown(0),
            };
            (t, 4)
        }
    };
    parse_l3(frame, ethertype, l3_offset, info)
}

#[inline]
fn parse_ethernet(frame: &[u8], info: &mut PacketInfo) -> Result<()> {
    if frame.len() < ethernet::HEADER_LEN {
        return Err(ParseError::TruncatedLink);
    }
    // Raw EtherType values here: the lossless enum's conversion is a chain
    // of compares this per-packet walk does not need.
    let mut ethertype = read_u16(frame, 12);
    let mut off = ethernet::HEADER_LEN;
    while matches!(ethertype, TPID_8021Q | TPID_8021AD | TPID_QINQ_LEGACY) {
        let tag = VlanHeader::new_checked(&frame[off..])?;
        if usize::from(info.vlan_count) == info.vlans.len() {
            return Err(ParseError::TooManyVlans);
        }
        info.vlans[usize::from(info.vlan_count)] = VlanTag {
            tpid: ethertype,
            tci: tag.tci(),
        };
        info.vlan_count += 1;
        ethertype = read_u16(frame, off + 2);
        off += vlan::TAG_LEN;
    }
    parse_l3(frame, EtherType::from(ethertype), off, info)
}

const TPID_8021Q: u16 = 0x8100;
const ICMP: u8 = 1;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;
const TPID_8021AD: u16 = 0x88a8;
const TPID_QINQ_LEGACY: u16 = 0x9100;

#[inline(always)]
fn parse_l3(frame: &[u8], ethertype: EtherType, off: usize, info: &mut PacketInfo) -> Result<()> {
    info.ethertype = ethertype.into();
    info.l3_offset = off as u16;
    let l3 = &frame[off..];
    match ethertype {
        EtherType::Ipv4 => {
            info.l3 = L3Kind::Ipv4;
            parse_ipv4(l3, off, info)
        }
        EtherType::Ipv6 => {
            info.l3 = L3Kind::Ipv6;
            parse_ipv6(l3, off, info)
        }
        EtherType::Arp => {
            info.l3 = L3Kind::Arp;
            arp::ArpPacket::new_checked(l3)?;
            info.l3_len = arp::PACKET_LEN as u32;
            Ok(())
        }
        _ => {
            info.l3 = L3Kind::Other;
            Ok(())
        }
    }
}

/// The fixed 20 bytes of a header, or `err` if the buffer is shorter. The
/// summary walk reads fields out of fixed-size arrays: after this one length
/// check no field read needs its own bounds check (the views do the same
/// checks per accessor; this is the per-packet path).
#[inline(always)]
fn fixed<const N: usize>(b: &[u8], err: ParseError) -> Result<&[u8; N]> {
    b.get(..N).and_then(|s| s.try_into().ok()).ok_or(err)
}

#[inline(always)]
fn parse_ipv4(l3: &[u8], off: usize, info: &mut PacketInfo) -> Result<()> {
    let h: &[u8; 20] = fixed(l3, ParseError::TruncatedIpv4)?;
    if h[0] >> 4 != 4 {
        return Err(ParseError::BadIpVersion);
    }
    let hlen = usize::from(h[0] & 0x0f) * 4;
    if hlen < 20 || hlen > l3.len() {
        return Err(ParseError::BadIhl);
    }
    let total = u16::from_be_bytes([h[2], h[3]]);
    if usize::from(total) < hlen || usize::from(total) > l3.len() {
        return Err(ParseError::BadTotalLength);
    }
    info.l3_len = u32::from(total);
    info.l3_header_len = hlen as u8;
    info.tos = h[1];
    info.ttl = h[8];
    info.protocol = h[9];
    let flags = u16::from_be_bytes([h[6], h[7]]);
    info.dont_frag = flags & 0x4000 != 0;
    info.src = u128::from(u32::from_be_bytes([h[12], h[13], h[14], h[15]]));
    info.dst = u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]]));
    // Options only when there are any: the common IHL-5 header pays one
    // compare (RFC 1812 §5.2.4: malformed options are not forwarded).
    if hlen > ipv4::HEADER_LEN {
        ipv4_options(&l3[ipv4::HEADER_LEN..hlen], info)?;
    }
    if flags & 0x3fff != 0 {
        info.frag = FragInfo {
            present: true,
            more: flags & 0x2000 != 0,
            offset: (flags & 0x1fff) << 3,
            ident: u32::from(u16::from_be_bytes([h[4], h[5]])),
        };
        if usize::from(info.frag.offset) + usize::from(total) - hlen > usize::from(u16::MAX) {
            return Err(ParseError::BadFragment);
        }
        if info.frag.offset != 0 {
            return Ok(());
        }
    }
    let l4 = &l3[hlen..usize::from(total)];
    parse_l4(l4, off + hlen, info)
}

/// The option walk of a header with options, out of line: rare, and the
/// inlined common case stays small.
#[cold]
#[inline(never)]
fn ipv4_options(opts: &[u8], info: &mut PacketInfo) -> Result<()> {
    info.source_route = ipv4::validate_options(opts)?.source_route;
    Ok(())
}

#[inline]
fn parse_ipv6(l3: &[u8], off: usize, info: &mut PacketInfo) -> Result<()> {
    let ip = Ipv6Packet::new_checked(l3)?;
    info.l3_len = (ipv6::HEADER_LEN + usize::from(ip.payload_len())) as u32;
    info.ttl = ip.hop_limit();
    info.tos = ip.traffic_class();
    info.src = ip.src_addr().to_bits();
    info.dst = ip.dst_addr().to_bits();
    info.protocol = ip.next_header().into();
    info.l3_header_len = ipv6::HEADER_LEN as u8;
    let walk = ip.extension_headers()?;
    info.protocol = walk.protocol.into();
    info.l3_header_len = (ipv6::HEADER_LEN + walk.offset).min(255) as u8;
    if let Some(f) = walk.fragment {
        info.frag = FragInfo {
            present: true,
            more: f.more,
            offset: f.offset,
            ident: f.ident,
        };
        if f.offset != 0 {
            return Ok(());
        }
    }
    let start = ipv6::HEADER_LEN + walk.offset;
    let l4 = &l3[start..info.l3_len as usize];
    parse_l4(l4, off + start, info)
}

#[inline(always)]
fn parse_l4(l4: &[u8], off: usize, info: &mut PacketInfo) -> Result<()> {
    // A first fragment holds only the start of the datagram, so length fields
    // that describe the whole datagram (UDP length) cannot be checked here.
    let fragmented = info.frag.more;
    match info.protocol {
        TCP => {
            let h: &[u8; 20] = fixed(l4, ParseError::TruncatedTcp)?;
            let hlen = usize::from(h[12] >> 4) * 4;
            if hlen < 20 || hlen > l4.len() {
                return Err(ParseError::BadTcpDataOffset);
            }
            info.src_port = u16::from_be_bytes([h[0], h[1]]);
            info.dst_port = u16::from_be_bytes([h[2], h[3]]);
            info.l4_flags = u16::from_be_bytes([h[12], h[13]]) & 0x01ff;
            info.l4_offset = off as u16;
            info.payload_offset = (off + hlen) as u16;
        }
        UDP => {
            let h: &[u8; 8] = fixed(l4, ParseError::TruncatedUdp)?;
            let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
            if !fragmented && (len < crate::udp::HEADER_LEN || len > l4.len()) {
                return Err(ParseError::BadUdpLength);
            }
            info.src_port = u16::from_be_bytes([h[0], h[1]]);
            info.dst_port = u16::from_be_bytes([h[2], h[3]]);
            info.l4_offset = off as u16;
            info.payload_offset = (off + crate::udp::HEADER_LEN) as u16;
        }
        ICMP | ICMPV6 => {
            let err = if info.protocol == ICMP {
                ParseError::TruncatedIcmpv4
            } else {
                ParseError::TruncatedIcmpv6
            };
            let h: &[u8; 8] = fixed(l4, err)?;
            info.l4_flags = u16::from_be_bytes([h[0], h[1]]);
            info.src_port = u16::from_be_bytes([h[4], h[5]]);
            info.l4_offset = off as u16;
            info.payload_offset = (off + 8) as u16;
        }
        SCTP if l4.len() >= 12 => {
            info.src_port = read_u16(l4, 0);
            info.dst_port = read_u16(l4, 2);
            info.l4_offset = off as u16;
            info.payload_offset = (off + 12) as u16;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet / 802.1ad 100 / 802.1Q 200 / IPv4 10.0.0.1 -> 10.0.0.2 / UDP 1000 -> 53 / "hi".
    fn qinq_udp() -> Vec<u8> {
        let mut f = vec![
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xa8, 0x00, 100, 0x81, 0x00,
        ];
        f.extend_from_slice(&[0x20, 200, 0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&[0x03, 0xe8, 0, 53, 0, 10, 0, 0, b'h', b'i']);
        f
    }

    #[test]
    fn qinq_udp_summary() {
        let f = qinq_udp();
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.vlan_count, 2);
        assert_eq!(i.vlans[0].vid(), 100);
        assert_eq!(i.vlans[0].tpid, 0x88a8);
        assert_eq!(i.vlans[1].vid(), 200);
        assert_eq!(i.vlans[1].tci >> 13, 1);
        assert_eq!(i.l3, L3Kind::Ipv4);
        assert_eq!(i.l3_offset, 22);
        assert_eq!(i.l4_offset, 42);
        assert_eq!(i.payload_offset, 50);
        assert_eq!(i.l3_len, 30);
        assert_eq!(i.ip_protocol(), IpProtocol::Udp);
        assert_eq!(i.src_v4(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(i.dst_v4(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!((i.src_port, i.dst_port), (1000, 53));
        assert!(i.dont_frag);
        assert!(!i.frag.present);
    }

    #[test]
    fn padding_after_ip_is_ignored() {
        let mut f = qinq_udp();
        f.extend_from_slice(&[0; 12]);
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.l3_len, 30);
    }

    #[test]
    fn three_tags_are_too_many() {
        let mut f = qinq_udp();
        f.splice(20..20, [0x81, 0x00, 0x00, 0x05]);
        let mut i = PacketInfo::default();
        assert_eq!(
            parse(&f, LinkType::Ethernet, &mut i),
            Err(ParseError::TooManyVlans)
        );
    }

    #[test]
    fn errors_keep_partial_summary() {
        let mut f = qinq_udp();
        f[22] = 0x43; // IHL 3
        let mut i = PacketInfo::default();
        assert_eq!(
            parse(&f, LinkType::Ethernet, &mut i),
            Err(ParseError::BadIhl)
        );
        assert_eq!(i.l3, L3Kind::Ipv4);
        assert_eq!(i.vlan_count, 2);
    }

    /// `qinq_udp` with option bytes `opts` (a multiple of 4) in its header.
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut f = qinq_udp();
        f.splice(42..42, opts.iter().copied());
        f[22] = 0x45 + (opts.len() / 4) as u8;
        let total = u16::from_be_bytes([f[24], f[25]]) + opts.len() as u16;
        f[24..26].copy_from_slice(&total.to_be_bytes());
        f
    }

    #[test]
    fn options_are_walked_and_malformed_ones_refused() {
        let mut i = PacketInfo::default();
        parse(&with_options(&[148, 4, 0, 0]), LinkType::Ethernet, &mut i).unwrap();
        assert_eq!((i.l3_header_len, i.dst_port), (24, 53));
        assert!(!i.source_route);
        let lsrr = [131, 7, 4, 192, 0, 2, 9, 0];
        parse(&with_options(&lsrr), LinkType::Ethernet, &mut i).unwrap();
        assert!(i.source_route);
        for bad in [
            &[148, 0, 0, 0][..],        // length 0
            &[7, 1, 0, 0],              // length 1
            &[148, 12, 0, 0],           // past the option space
            &[68, 8, 2, 0, 0, 0, 0, 0], // timestamp pointer
            &[7, 7, 1, 0, 0, 0, 0, 0],  // record route pointer
        ] {
            assert_eq!(
                parse(&with_options(bad), LinkType::Ethernet, &mut i),
                Err(ParseError::BadIpv4Option),
                "{bad:?}"
            );
            assert_eq!(i.l3, L3Kind::Ipv4, "the summary says what it was");
            assert_eq!(i.dst_v4(), Ipv4Addr::new(10, 0, 0, 2));
        }
    }

    #[test]
    fn later_fragment_has_no_l4() {
        let mut f = qinq_udp();
        f[28] = 0x20; // MF
        f[29] = 0x02; // offset 16 bytes
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert!(i.frag.is_fragment());
        assert!(i.frag.is_later_fragment());
        assert_eq!(i.frag.offset, 16);
        assert!(!i.has_l4());
    }

    #[test]
    fn first_fragment_skips_udp_length_check() {
        let mut f = qinq_udp();
        f[28] = 0x20; // MF, offset 0
        f[46] = 0x10; // UDP length 4096: the whole datagram, not this fragment
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.dst_port, 53);
    }

    #[test]
    fn raw_and_cooked_link_types() {
        let f = qinq_udp();
        let ip = &f[22..];
        let mut i = PacketInfo::default();
        parse(ip, LinkType::RawIp, &mut i).unwrap();
        assert_eq!(i.l3_offset, 0);
        assert_eq!(i.dst_port, 53);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        parse(&sll, LinkType::LinuxSll, &mut i).unwrap();
        assert_eq!(i.l3_offset, 16);
        assert_eq!(i.l4_offset, 36);
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        parse(&null, LinkType::Null, &mut i).unwrap();
        assert_eq!(i.l3, L3Kind::Ipv4);
        assert_eq!(
            parse(&[], LinkType::RawIp, &mut i),
            Err(ParseError::TruncatedLink)
        );
    }

    #[test]
    fn ipv6_icmpv6_echo() {
        let mut f = vec![0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 12, 58, 255]);
        f.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&[128, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4]);
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.l3, L3Kind::Ipv6);
        assert_eq!(i.ip_protocol(), IpProtocol::Icmpv6);
        assert_eq!(i.icmp_type(), 128);
        assert_eq!(i.src_port, 0x1234);
        assert_eq!(i.ttl, 255);
        assert_eq!(i.dst_v6(), "ff02::1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn arp_and_other() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[0; 20]);
        let mut i = PacketInfo::default();
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.l3, L3Kind::Arp);
        f[12] = 0x88;
        f[13] = 0xcc; // LLDP
        parse(&f, LinkType::Ethernet, &mut i).unwrap();
        assert_eq!(i.l3, L3Kind::Other);
    }
}
