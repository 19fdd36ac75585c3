//! UDP (RFC 768).

use crate::checksum;
use crate::field::{read_u16, write_u16};
use crate::{ParseError, Result};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wrap after checking the header and the length field.
    ///
    /// # Errors
    /// [`ParseError::TruncatedUdp`] if shorter than eight bytes;
    /// [`ParseError::BadUdpLength`] if the length field is below eight or
    /// past the buffer. (A length of zero is accepted only from IPv6 jumbograms,
    /// which the data plane rejects earlier.)
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        let len = p.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::TruncatedUdp);
        }
        let l = usize::from(p.len());
        if l < HEADER_LEN || l > len {
            return Err(ParseError::BadUdpLength);
        }
        Ok(p)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field (header + data).
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// True if the length field says there is no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum as on the wire (0 = none, IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Data after the header, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Verify against a pseudo-header sum (see [`checksum::pseudo_header_v4`]).
    /// A zero checksum counts as valid ("not computed", RFC 768); IPv6 callers
    /// must reject zero themselves (RFC 8200 §8.1).
    pub fn verify_checksum(&self, pseudo: u64) -> bool {
        self.checksum() == 0
            || checksum::transport(pseudo, &self.buffer.as_ref()[..usize::from(self.len())]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Set the source port. Does not touch the checksum.
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Set the destination port. Does not touch the checksum.
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Set the length field.
    pub fn set_len(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Compute and store the checksum under a pseudo-header sum.
    pub fn fill_checksum(&mut self, pseudo: u64) {
        self.set_checksum(0);
        let len = usize::from(self.len());
        let c = checksum::transport(pseudo, &self.buffer.as_ref()[..len]);
        self.set_checksum(checksum::udp_wire(c));
    }

    /// Patch the checksum for a 16-bit change elsewhere (a port here, or an
    /// address word in the pseudo-header), keeping "no checksum" as it is.
    #[inline]
    pub fn update_checksum_u16(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        if c != 0 {
            self.set_checksum(checksum::udp_wire(checksum::update_u16(c, old, new)));
        }
    }

    /// As [`UdpPacket::update_checksum_u16`] for a 32-bit change.
    #[inline]
    pub fn update_checksum_u32(&mut self, old: u32, new: u32) {
        let c = self.checksum();
        if c != 0 {
            self.set_checksum(checksum::udp_wire(checksum::update_u32(c, old, new)));
        }
    }

    /// Mutable data after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IpProtocol;
    use core::net::Ipv4Addr;

    #[test]
    fn fields_and_checksum() {
        let mut d = [
            0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x00, 0x00, b'a', b'b', b'c', b'd',
        ];
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, 12);
        let mut u = UdpPacket::new_checked(&mut d[..]).unwrap();
        assert_eq!(u.src_port(), 12345);
        assert_eq!(u.dst_port(), 53);
        assert_eq!(u.payload(), b"abcd");
        u.fill_checksum(pseudo);
        assert!(u.verify_checksum(pseudo));
        assert_ne!(u.checksum(), 0);
        u.update_checksum_u16(12345, 40000);
        u.set_src_port(40000);
        assert!(u.verify_checksum(pseudo));
    }

    #[test]
    fn rejects_bad_length() {
        let d = [0, 1, 0, 2, 0, 7, 0, 0];
        assert_eq!(
            UdpPacket::new_checked(&d[..]).unwrap_err(),
            ParseError::BadUdpLength
        );
        let d = [0, 1, 0, 2, 0, 9, 0, 0];
        assert_eq!(
            UdpPacket::new_checked(&d[..]).unwrap_err(),
            ParseError::BadUdpLength
        );
        assert_eq!(
            UdpPacket::new_checked(&d[..7]).unwrap_err(),
            ParseError::TruncatedUdp
        );
    }
}
