//! IPv4 (RFC 791), with options and fragment fields.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::field::{Field, read_u16, write_u16};
use crate::ip::IpProtocol;
use crate::{ParseError, Result};

mod field {
    use super::Field;
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const LENGTH: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLG_OFF: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC_ADDR: Field = 12..16;
    pub(super) const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet (header, options and payload up to total length).
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wrap after [`Ipv4Packet::check_len`].
    ///
    /// # Errors
    /// As [`Ipv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validate version, IHL and total length against the buffer. Trailing
    /// bytes past the total length (Ethernet padding) are allowed and ignored.
    ///
    /// # Errors
    /// [`ParseError::TruncatedIpv4`], [`ParseError::BadIpVersion`],
    /// [`ParseError::BadIhl`], [`ParseError::BadTotalLength`].
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(ParseError::TruncatedIpv4);
        }
        if self.version() != 4 {
            return Err(ParseError::BadIpVersion);
        }
        let hlen = self.header_len();
        if hlen < HEADER_LEN || hlen > data.len() {
            return Err(ParseError::BadIhl);
        }
        let total = usize::from(self.total_len());
        if total < hlen || total > data.len() {
            return Err(ParseError::BadTotalLength);
        }
        Ok(())
    }

    /// Version field (4 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// The whole DSCP/ECN (former TOS) byte.
    #[inline]
    pub fn dscp_ecn_byte(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// ECN bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length (header + payload).
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// True for any fragment (MF set or non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// Header checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        addr_at(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr_at(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// True if the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> Ipv4Options<'_> {
        Ipv4Options {
            data: &self.buffer.as_ref()[HEADER_LEN..self.header_len()],
        }
    }

    /// Payload, from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// The header bytes, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
}

#[inline]
fn addr_at(data: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(data[at], data[at + 1], data[at + 2], data[at + 3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Set version 4 and the header length in bytes (a multiple of four).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Set the DSCP, keeping ECN. Does not touch the checksum.
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (dscp << 2) | (*b & 0x03);
    }

    /// Set the DSCP/ECN byte.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Set the total length.
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Set the identification.
    pub fn set_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    /// Set DF, MF and the fragment offset (bytes, a multiple of eight).
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        write_u16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    /// Set the TTL. Does not touch the checksum.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Set the protocol.
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, c);
    }

    /// Set the source address. Does not touch the checksum.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Set the destination address. Does not touch the checksum.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Recompute the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// Decrement the TTL by one and patch the checksum incrementally
    /// (RFC 1624; RFC 1812 §5.3.1). Returns the new TTL. The caller has
    /// already checked the TTL is above 1.
    ///
    /// The TTL shares its 16-bit word with the protocol, so the word drops by
    /// exactly 0x0100 and RFC 1624's `~HC + ~m + m'` is `~HC + 0xFEFF`: one
    /// add and one fold, equal to the general update (and so to a full
    /// recompute) for every TTL of at least 1.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let data = self.buffer.as_mut();
        let Some(h) = data.get_mut(..HEADER_LEN) else {
            return 0;
        };
        let ttl = h[field::TTL].wrapping_sub(1);
        h[field::TTL] = ttl;
        let hc = u16::from_be_bytes([h[field::CHECKSUM], h[field::CHECKSUM + 1]]);
        let s = u32::from(!hc) + 0xfeff;
        let s = (s & 0xffff) + (s >> 16);
        h[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&(!(s as u16)).to_be_bytes());
        ttl
    }

    /// Mutable payload.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// One IPv4 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Option<'a> {
    /// Option type byte (copied flag, class and number).
    pub kind: u8,
    /// Option data after type and length (empty for NOP).
    pub data: &'a [u8],
}

/// Option type values with a name (IANA "IP Option Numbers").
pub mod option_kind {
    /// End of option list.
    pub const END: u8 = 0;
    /// No operation.
    pub const NOP: u8 = 1;
    /// Record route.
    pub const RECORD_ROUTE: u8 = 7;
    /// Router alert (RFC 2113).
    pub const ROUTER_ALERT: u8 = 148;
    /// Loose source route.
    pub const LSRR: u8 = 131;
    /// Strict source route.
    pub const SSRR: u8 = 137;
    /// Internet timestamp (RFC 791 §3.1, RFC 781).
    pub const TIMESTAMP: u8 = 68;
}

/// What a router acts on in a well-formed option list
/// ([`validate_options`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionsSummary {
    /// A loose or strict source route (LSRR/SSRR, RFC 791 §3.1): forwarded
    /// only where the router accepts source routing (RFC 1812 §5.2.4.1).
    pub source_route: bool,
}

/// Timestamp option flag values (RFC 791 §3.1, the low nibble of the
/// fourth byte).
const TS_ADDR: u8 = 1;
const TS_PRESPEC: u8 = 3;

/// Check the option bytes of a received header (`data`: from byte 20 to the
/// IHL) as a router must before it forwards them (RFC 1812 §5.2.4: a router
/// that finds an option malformed does not pass it on), with the rules of
/// Linux's `ip_options_compile` for a received packet, so the same packet
/// gets the same answer:
///
/// - every option but END and NOP has a length byte of at least 2 that stays
///   inside the option space (RFC 791 §3.1); what follows END is padding;
/// - record route, LSRR, SSRR: length ≥ 3, pointer ≥ 4, and a pointer inside
///   the option leaves room for a whole address; at most one record route
///   and one source route;
/// - timestamp: length ≥ 4, pointer ≥ 5, a pointer inside the option leaves
///   room for its entry (4 bytes, 8 with addresses), a full option's
///   overflow count not already 15 (RFC 781); at most one;
/// - other options (router alert, security, unknown): accepted as long as
///   their length is right — a router passes on options it does not know
///   (RFC 1812 §5.2.4).
///
/// # Errors
/// [`ParseError::BadIpv4Option`] for the first defect found.
pub fn validate_options(data: &[u8]) -> Result<OptionsSummary> {
    let bad = Err(ParseError::BadIpv4Option);
    let mut sum = OptionsSummary::default();
    let (mut seen_rr, mut seen_ts) = (false, false);
    let mut rest = data;
    loop {
        let Some((&kind, after)) = rest.split_first() else {
            return Ok(sum);
        };
        match kind {
            option_kind::END => return Ok(sum),
            option_kind::NOP => {
                rest = after;
                continue;
            }
            _ => {}
        }
        let len = match after.first() {
            Some(&l) if l >= 2 && usize::from(l) <= rest.len() => usize::from(l),
            _ => return bad,
        };
        let opt = &rest[..len];
        // Pointers are 1-based offsets from the option's type byte.
        let ptr = opt.get(2).map_or(0, |&p| usize::from(p));
        match kind {
            option_kind::RECORD_ROUTE | option_kind::LSRR | option_kind::SSRR => {
                let dup = if kind == option_kind::RECORD_ROUTE {
                    core::mem::replace(&mut seen_rr, true)
                } else {
                    core::mem::replace(&mut sum.source_route, true)
                };
                if dup || len < 3 || ptr < 4 || (ptr <= len && ptr + 3 > len) {
                    return bad;
                }
            }
            option_kind::TIMESTAMP => {
                if core::mem::replace(&mut seen_ts, true) || len < 4 || ptr < 5 {
                    return bad;
                }
                let flag = opt[3] & 0x0f;
                if ptr <= len {
                    let entry = if matches!(flag, TS_ADDR | TS_PRESPEC) {
                        8
                    } else {
                        4
                    };
                    if ptr + entry - 1 > len {
                        return bad;
                    }
                } else if flag != TS_PRESPEC && opt[3] >> 4 == 15 {
                    // Full, and the overflow count cannot count one more.
                    return bad;
                }
            }
            _ => {}
        }
        rest = &rest[len..];
    }
}

/// Iterator over IPv4 options, yielding an error once and stopping on a
/// malformed length.
#[derive(Debug, Clone)]
pub struct Ipv4Options<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Ipv4Options<'a> {
    type Item = Result<Ipv4Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, rest) = self.data.split_first()?;
        match kind {
            option_kind::END => {
                self.data = &[];
                None
            }
            option_kind::NOP => {
                self.data = rest;
                Some(Ok(Ipv4Option { kind, data: &[] }))
            }
            _ => {
                let len = rest.first().map(|&l| usize::from(l));
                match len {
                    Some(len) if len >= 2 && len <= self.data.len() => {
                        let data = &self.data[2..len];
                        self.data = &self.data[len..];
                        Some(Ok(Ipv4Option { kind, data }))
                    }
                    _ => {
                        self.data = &[];
                        Some(Err(ParseError::BadIpv4Option))
                    }
                }
            }
        }
    }
}

/// Plain-data IPv4 header without options, for packets the slow path builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP/ECN byte.
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Bytes of header [`Ipv4Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write a 20-byte header with a correct checksum at the start of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than 20 bytes or the payload does not fit an IPv4
    /// total length; builders size both first.
    pub fn emit(&self, buf: &mut [u8]) {
        let total = u16::try_from(HEADER_LEN + self.payload_len).expect("IPv4 packet over 64 KiB");
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        p.set_version_and_header_len(HEADER_LEN);
        p.set_dscp_ecn(self.dscp_ecn);
        p.set_total_len(total);
        p.set_ident(self.ident);
        p.set_frag(self.dont_frag, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.0.1 -> 192.168.0.199 UDP, total length 0x73 (header only here, padded).
    fn packet() -> Vec<u8> {
        let mut v = vec![
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        v.resize(0x73, 0xaa);
        v
    }

    #[test]
    fn parse_fields() {
        let b = packet();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn rejects_each_defect() {
        let b = packet();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            ParseError::TruncatedIpv4
        );
        let mut v = b.clone();
        v[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadIpVersion
        );
        let mut v = b.clone();
        v[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadIhl
        );
        let mut v = b.clone();
        v[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..40]).unwrap_err(),
            ParseError::BadIhl
        );
        let mut v = b.clone();
        v[3] = 0x10;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadTotalLength
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..0x72]).unwrap_err(),
            ParseError::BadTotalLength
        );
        let mut v = b;
        v[2] = 0;
        v[3] = 0; // "big TCP": total length 0
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::BadTotalLength
        );
    }

    #[test]
    fn decrement_ttl_keeps_checksum_valid() {
        let mut b = packet();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        for _ in 0..63 {
            p.decrement_ttl();
            assert!(p.verify_checksum());
        }
        assert_eq!(p.ttl(), 1);
    }

    #[test]
    fn validate_options_accepts_well_formed_lists() {
        let ok: &[&[u8]] = &[
            &[],
            &[1, 1, 1, 1],
            &[0, 0xde, 0xad, 0],       // padding after END is not read
            &[148, 4, 0, 0],           // router alert
            &[7, 7, 4, 0, 0, 0, 0, 0], // record route, room for one
            &[7, 7, 8, 1, 2, 3, 4, 0], // record route, full
            &[68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0], // timestamps only
            &[68, 12, 13, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0], // full, overflow 14
            &[68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0], // address + timestamp
            &[0x99, 3, 0, 0],          // unknown option, length right
        ];
        for o in ok {
            assert_eq!(validate_options(o), Ok(OptionsSummary::default()), "{o:?}");
        }
        let lsrr = [1, 131, 7, 4, 192, 0, 2, 9];
        assert!(validate_options(&lsrr).unwrap().source_route);
        let ssrr = [137, 7, 8, 192, 0, 2, 9, 0];
        assert!(validate_options(&ssrr).unwrap().source_route);
    }

    #[test]
    fn validate_options_rejects_malformed_lists() {
        let bad: &[&[u8]] = &[
            &[148, 0, 0, 0],                                       // length 0
            &[148, 1, 0, 0],                                       // length 1
            &[148, 9, 0, 0],                                       // longer than the option space
            &[1, 1, 1, 148],                                       // no length byte
            &[7, 7, 3, 0, 0, 0, 0, 0],                             // record route pointer < 4
            &[7, 7, 5, 0, 0, 0, 0, 0],                             // no room for the address
            &[7, 2, 1, 1],                                         // record route too short
            &[131, 7, 2, 0, 0, 0, 0, 0],                           // LSRR pointer < 4
            &[137, 7, 6, 0, 0, 0, 0, 0],                           // SSRR address cut short
            &[131, 7, 4, 0, 0, 0, 0, 137, 7, 4, 0, 0, 0, 0, 0, 0], // two source routes
            &[68, 12, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],               // timestamp pointer < 5
            &[68, 12, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],               // timestamp pointer 1
            &[68, 3, 5, 0],                                        // timestamp too short
            &[68, 8, 6, 0, 0, 0, 0, 0],                            // timestamp entry cut short
            &[68, 8, 5, 1, 0, 0, 0, 0],                            // address + timestamp cut short
            &[68, 8, 9, 0xf0, 0, 0, 0, 0],                         // full and overflow at 15
        ];
        for o in bad {
            assert_eq!(validate_options(o), Err(ParseError::BadIpv4Option), "{o:?}");
        }
    }

    #[test]
    fn options_iterate_and_reject_bad_length() {
        let opts = [1u8, 148, 4, 0, 0, 1, 0];
        let got: Vec<_> = Ipv4Options { data: &opts }.collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].unwrap().kind, option_kind::ROUTER_ALERT);
        assert_eq!(got[1].unwrap().data, &[0, 0]);
        let bad = [7u8, 1];
        let got: Vec<_> = Ipv4Options { data: &bad }.collect();
        assert_eq!(got, vec![Err(ParseError::BadIpv4Option)]);
        let past = [7u8, 9, 0];
        let got: Vec<_> = Ipv4Options { data: &past }.collect();
        assert_eq!(got, vec![Err(ParseError::BadIpv4Option)]);
    }

    #[test]
    fn repr_emit_is_valid() {
        let r = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: IpProtocol::Udp,
            payload_len: 0x73 - 20,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0,
            dont_frag: true,
        };
        let mut buf = [0u8; 20];
        r.emit(&mut buf);
        assert_eq!(&buf[..], &packet()[..20]);
    }
}
