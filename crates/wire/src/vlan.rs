//! IEEE 802.1Q / 802.1ad VLAN tags.
//!
//! On the wire a tag is the 16-bit TPID (in the position of the EtherType) and a
//! 16-bit TCI, followed by the next EtherType. This view starts at the TCI, so
//! it covers the four bytes after a TPID: TCI and inner EtherType.

use crate::ethernet::EtherType;
use crate::field::{read_u16, write_u16};
use crate::{ParseError, Result};

mod field {
    pub(super) const TCI: usize = 0;
    pub(super) const ETHERTYPE: usize = 2;
}

/// Bytes a tag adds to a frame.
pub const TAG_LEN: usize = 4;

/// A view of the TCI and inner EtherType that follow a VLAN TPID.
#[derive(Debug, Clone)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> VlanHeader<T> {
        VlanHeader { buffer }
    }

    /// Wrap after checking four bytes are present.
    ///
    /// # Errors
    /// [`ParseError::TruncatedVlan`].
    pub fn new_checked(buffer: T) -> Result<VlanHeader<T>> {
        if buffer.as_ref().len() < TAG_LEN {
            return Err(ParseError::TruncatedVlan);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Raw tag control information.
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI)
    }

    /// VLAN identifier (low 12 bits of the TCI).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Priority code point (802.1p).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// EtherType of what follows the tag.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    /// Set the whole TCI.
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), field::TCI, tci);
    }

    /// Set the VLAN id, keeping PCP and DEI.
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }

    /// Set the inner EtherType.
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, t.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let bytes = [0xb0, 0x64, 0x08, 0x00];
        let v = VlanHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!(v.vid(), 100);
        assert_eq!(v.pcp(), 5);
        assert!(v.dei());
        assert_eq!(v.ethertype(), EtherType::Ipv4);
        assert_eq!(
            VlanHeader::new_checked(&bytes[..3]).unwrap_err(),
            ParseError::TruncatedVlan
        );
    }

    #[test]
    fn set_vid_keeps_priority() {
        let mut bytes = [0xb0, 0x64, 0x08, 0x00];
        let mut v = VlanHeader::new_unchecked(&mut bytes[..]);
        v.set_vid(4000);
        assert_eq!(v.vid(), 4000);
        assert_eq!(v.pcp(), 5);
    }
}
