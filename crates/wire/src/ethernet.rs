//! Ethernet II frames (IEEE 802.3 with an EtherType).

use core::fmt;

use crate::field::{Field, Rest, enum_with_unknown, read_u16, write_u16};
use crate::{ParseError, Result};

enum_with_unknown! {
    /// EtherType values the data plane recognises.
    pub enum EtherType(u16) {
        /// IPv4 (RFC 894).
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// 802.1Q customer VLAN tag.
        Vlan = 0x8100,
        /// IPv6 (RFC 2464).
        Ipv6 = 0x86DD,
        /// 802.1ad service VLAN tag (QinQ outer tag).
        QinQ = 0x88A8,
        /// Pre-standard QinQ outer tag still sent by some switches.
        QinQLegacy = 0x9100,
        /// MPLS unicast.
        Mpls = 0x8847,
        /// PPPoE session stage.
        PppoeSession = 0x8864,
    }
}

impl EtherType {
    /// True for the tag protocol identifiers the VLAN walk accepts.
    #[inline]
    pub fn is_vlan_tpid(self) -> bool {
        matches!(
            self,
            EtherType::Vlan | EtherType::QinQ | EtherType::QinQLegacy
        )
    }
}

/// A 48-bit IEEE MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Construct from a slice of exactly six bytes.
    ///
    /// # Panics
    /// If `data` is not six bytes long; callers pass fixed header fields.
    pub fn from_bytes(data: &[u8]) -> EthernetAddress {
        let mut bytes = [0u8; 6];
        bytes.copy_from_slice(data);
        EthernetAddress(bytes)
    }

    /// The address bytes.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Group bit set (multicast or broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// A unicast address (group bit clear).
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The IPv6 multicast MAC 33:33:xx:xx:xx:xx for a group address (RFC 2464 §7).
    pub fn ipv6_multicast(group: &[u8; 16]) -> EthernetAddress {
        EthernetAddress([0x33, 0x33, group[12], group[13], group[14], group[15]])
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl core::str::FromStr for EthernetAddress {
    type Err = &'static str;

    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or("MAC address needs six octets")?;
            if p.len() != 2 {
                return Err("each MAC octet is two hex digits");
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| "MAC octet is not hex")?;
        }
        if parts.next().is_some() {
            return Err("MAC address has more than six octets");
        }
        Ok(EthernetAddress(out))
    }
}

mod field {
    use super::{Field, Rest};
    pub(super) const DESTINATION: Field = 0..6;
    pub(super) const SOURCE: Field = 6..12;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const PAYLOAD: Rest = 14..;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap without checking; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wrap after checking the buffer holds a full header.
    ///
    /// # Errors
    /// [`ParseError::TruncatedLink`] if shorter than 14 bytes.
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Check the buffer holds a full header.
    ///
    /// # Errors
    /// [`ParseError::TruncatedLink`] if shorter than 14 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(ParseError::TruncatedLink)
        } else {
            Ok(())
        }
    }

    /// Give back the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// EtherType (or 802.3 length when below 0x0600).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Bytes after the 14-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Set the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Set the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Set the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, t.into());
    }

    /// Mutable bytes after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// Write a 14-byte Ethernet II header at the start of `buf`.
///
/// # Panics
/// If `buf` is shorter than [`HEADER_LEN`]; emitters size their buffers first.
pub fn emit_header(buf: &mut [u8], dst: EthernetAddress, src: EthernetAddress, ty: EtherType) {
    let mut f = EthernetFrame::new_unchecked(buf);
    f.set_dst_addr(dst);
    f.set_src_addr(src);
    f.set_ethertype(ty);
}

#[cfg(test)]
mod tests {
    use super::*;

    static FRAME: [u8; 18] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x08, 0x00, 0xaa,
        0x00, 0x00, 0xff,
    ];

    #[test]
    fn parse_fields() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress([1, 2, 3, 4, 5, 6]));
        assert_eq!(
            f.src_addr(),
            EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16])
        );
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &[0xaa, 0x00, 0x00, 0xff]);
    }

    #[test]
    fn short_frame_is_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            ParseError::TruncatedLink
        );
    }

    #[test]
    fn emit_matches_fixture() {
        let mut buf = [0u8; 14];
        emit_header(
            &mut buf,
            EthernetAddress([1, 2, 3, 4, 5, 6]),
            EthernetAddress([0x11, 0x12, 0x13, 0x14, 0x15, 0x16]),
            EtherType::Ipv4,
        );
        assert_eq!(&buf[..], &FRAME[..14]);
    }

    #[test]
    fn mac_parse_and_print() {
        let m: EthernetAddress = "02:66:00:00:0a:ff".parse().unwrap();
        assert_eq!(m.to_string(), "02:66:00:00:0a:ff");
        assert!("02:66:00:00:0a".parse::<EthernetAddress>().is_err());
        assert!("02:66:00:00:0a:ff:01".parse::<EthernetAddress>().is_err());
        assert!("zz:66:00:00:0a:ff".parse::<EthernetAddress>().is_err());
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
    }

    #[test]
    fn unknown_ethertype_round_trips() {
        let t = EtherType::from(0x1234);
        assert_eq!(t, EtherType::Unknown(0x1234));
        assert_eq!(u16::from(t), 0x1234);
    }
}
