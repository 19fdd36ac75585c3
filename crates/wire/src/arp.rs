//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! Only hardware type 1 / protocol 0x0800 with 6- and 4-byte addresses is
//! accepted: that is the only ARP a router answers, and fixing the lengths lets
//! every field sit at a constant offset. Anything else is
//! [`ParseError::UnsupportedArp`].

use core::net::Ipv4Addr;

use crate::ethernet::EthernetAddress;
use crate::field::{Field, enum_with_unknown, read_u16, write_u16};
use crate::{ParseError, Result};

enum_with_unknown! {
    /// ARP operation.
    pub enum ArpOperation(u16) {
        /// Who has `target_ip`? Tell `sender_ip`.
        Request = 1,
        /// `sender_ip` is at `sender_mac`.
        Reply = 2,
    }
}

mod field {
    use super::Field;
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: Field = 8..14;
    pub(super) const SPA: Field = 14..18;
    pub(super) const THA: Field = 18..24;
    pub(super) const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wrap after checking length and that this is Ethernet/IPv4 ARP.
    ///
    /// # Errors
    /// [`ParseError::TruncatedArp`] if the fixed header or the addresses it
    /// declares do not fit; [`ParseError::UnsupportedArp`] for other
    /// hardware/protocol types.
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// See [`ArpPacket::new_checked`].
    ///
    /// # Errors
    /// As [`ArpPacket::new_checked`].
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < field::OPER + 2 {
            return Err(ParseError::TruncatedArp);
        }
        let hlen = usize::from(data[field::HLEN]);
        let plen = usize::from(data[field::PLEN]);
        if data.len() < field::OPER + 2 + 2 * (hlen + plen) {
            return Err(ParseError::TruncatedArp);
        }
        if read_u16(data, field::HTYPE) != HTYPE_ETHERNET
            || read_u16(data, field::PTYPE) != PTYPE_IPV4
            || hlen != 6
            || plen != 4
        {
            return Err(ParseError::UnsupportedArp);
        }
        Ok(())
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        read_u16(self.buffer.as_ref(), field::OPER).into()
    }

    /// Sender hardware address.
    pub fn sender_mac(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SPA)
    }

    /// Target hardware address.
    pub fn target_mac(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::TPA)
    }
}

fn ipv4_at(data: &[u8], f: Field) -> Ipv4Addr {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[f]);
    Ipv4Addr::from(b)
}

/// Plain-data ARP message, for the slow path that answers and resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_mac: EthernetAddress,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in a request).
    pub target_mac: EthernetAddress,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Read an ARP packet.
    ///
    /// # Errors
    /// As [`ArpPacket::new_checked`].
    pub fn parse(data: &[u8]) -> Result<ArpRepr> {
        let p = ArpPacket::new_checked(data)?;
        Ok(ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        })
    }

    /// Bytes [`ArpRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Write the packet into the first [`PACKET_LEN`] bytes of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`PACKET_LEN`].
    pub fn emit(&self, buf: &mut [u8]) {
        write_u16(buf, field::HTYPE, HTYPE_ETHERNET);
        write_u16(buf, field::PTYPE, PTYPE_IPV4);
        buf[field::HLEN] = 6;
        buf[field::PLEN] = 4;
        write_u16(buf, field::OPER, self.operation.into());
        buf[field::SHA].copy_from_slice(&self.sender_mac.0);
        buf[field::SPA].copy_from_slice(&self.sender_ip.octets());
        buf[field::THA].copy_from_slice(&self.target_mac.0);
        buf[field::TPA].copy_from_slice(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A who-has 10.0.0.1 tell 10.0.0.2 from 02:00:00:00:00:02.
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 10, 0,
        0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1,
    ];

    #[test]
    fn parse_request() {
        let r = ArpRepr::parse(&REQUEST).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.sender_mac, EthernetAddress([2, 0, 0, 0, 0, 2]));
        assert_eq!(r.sender_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(r.target_ip, Ipv4Addr::new(10, 0, 0, 1));
    }

    #[test]
    fn emit_round_trips() {
        let r = ArpRepr::parse(&REQUEST).unwrap();
        let mut buf = [0u8; PACKET_LEN];
        r.emit(&mut buf);
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn rejects_short_and_foreign() {
        assert_eq!(
            ArpRepr::parse(&REQUEST[..27]).unwrap_err(),
            ParseError::TruncatedArp
        );
        let mut other = REQUEST;
        other[5] = 16; // IPv6-sized protocol address
        assert_eq!(
            ArpRepr::parse(&other).unwrap_err(),
            ParseError::TruncatedArp
        );
        let mut other = REQUEST;
        other[1] = 6; // IEEE 802 hardware type
        assert_eq!(
            ArpRepr::parse(&other).unwrap_err(),
            ParseError::UnsupportedArp
        );
    }
}
