//! TCP (RFC 9293) header and options.

use crate::checksum;
use crate::field::{read_u16, read_u32, write_u16, write_u32};
use crate::{ParseError, Result};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ_NUM: usize = 4;
    pub(super) const ACK_NUM: usize = 8;
    pub(super) const FLAGS: usize = 12;
    pub(super) const WIN_SIZE: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// TCP flag bits (low byte of the flags word, plus AE in bit 8).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronise sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer significant.
    pub const URG: u16 = 0x020;
    /// ECN echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// Accurate ECN (RFC 9768; formerly NS).
    pub const AE: u16 = 0x100;
}

/// A view of a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wrap after checking the fixed header and the data offset.
    ///
    /// # Errors
    /// [`ParseError::TruncatedTcp`], [`ParseError::BadTcpDataOffset`].
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let p = Self::new_unchecked(buffer);
        let len = p.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::TruncatedTcp);
        }
        let h = p.header_len();
        if h < HEADER_LEN || h > len {
            return Err(ParseError::BadTcpDataOffset);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS] >> 4) * 4
    }

    /// Flag bits, see [`flags`].
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS) & 0x01ff
    }

    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Options bytes.
    pub fn options(&self) -> TcpOptions<'_> {
        TcpOptions {
            data: &self.buffer.as_ref()[HEADER_LEN..self.header_len()],
        }
    }

    /// Segment data after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Verify against a pseudo-header sum covering the whole segment.
    pub fn verify_checksum(&self, pseudo: u64) -> bool {
        checksum::transport(pseudo, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Set the source port. Does not touch the checksum.
    pub fn set_src_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Set the destination port. Does not touch the checksum.
    pub fn set_dst_port(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Set the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, v);
    }

    /// Set the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, v);
    }

    /// Set header length (bytes, multiple of four) and flags together.
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u16) {
        let v = (((header_len / 4) as u16) << 12) | (flags & 0x01ff);
        write_u16(self.buffer.as_mut(), field::FLAGS, v);
    }

    /// Set the window.
    pub fn set_window(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the urgent pointer.
    pub fn set_urgent(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, v);
    }

    /// Compute and store the checksum over the whole buffer.
    pub fn fill_checksum(&mut self, pseudo: u64) {
        self.set_checksum(0);
        let c = checksum::transport(pseudo, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Patch the checksum for a 16-bit change (port or pseudo-header word).
    #[inline]
    pub fn update_checksum_u16(&mut self, old: u16, new: u16) {
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c);
    }

    /// Patch the checksum for a 32-bit change (an IPv4 address).
    #[inline]
    pub fn update_checksum_u32(&mut self, old: u32, new: u32) {
        let c = checksum::update_u32(self.checksum(), old, new);
        self.set_checksum(c);
    }
}

/// A TCP option (RFC 9293 §3.2 and the IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// No-operation padding.
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift.
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// SACK blocks (pairs of left/right edges, raw).
    Sack(&'a [u8]),
    /// Timestamps: value and echo reply.
    Timestamps(u32, u32),
    /// Any other kind, with its data.
    Unknown(u8, &'a [u8]),
}

/// Iterator over TCP options; yields one error and stops on a malformed one.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, rest) = self.data.split_first()?;
        match kind {
            0 => {
                self.data = &[];
                None
            }
            1 => {
                self.data = rest;
                Some(Ok(TcpOption::Nop))
            }
            _ => {
                let len = match rest.first() {
                    Some(&l) if usize::from(l) >= 2 && usize::from(l) <= self.data.len() => {
                        usize::from(l)
                    }
                    _ => {
                        self.data = &[];
                        return Some(Err(ParseError::BadTcpOption));
                    }
                };
                let body = &self.data[2..len];
                self.data = &self.data[len..];
                let opt = match (kind, body.len()) {
                    (2, 2) => TcpOption::Mss(read_u16(body, 0)),
                    (3, 1) => TcpOption::WindowScale(body[0]),
                    (4, 0) => TcpOption::SackPermitted,
                    (5, n) if n % 8 == 0 && n > 0 => TcpOption::Sack(body),
                    (8, 8) => TcpOption::Timestamps(read_u32(body, 0), read_u32(body, 4)),
                    (2..=5 | 8, _) => {
                        self.data = &[];
                        return Some(Err(ParseError::BadTcpOption));
                    }
                    _ => TcpOption::Unknown(kind, body),
                };
                Some(Ok(opt))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SYN with MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
    static SYN: [u8; 40] = [
        0xc0, 0x01, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
        0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parse_syn_with_options() {
        let t = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(t.src_port(), 0xc001);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.flags(), flags::SYN);
        assert_eq!(t.header_len(), 40);
        let opts: Vec<_> = t.options().map(|o| o.unwrap()).collect();
        assert_eq!(
            opts,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps(5, 0),
                TcpOption::Nop,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn rejects_bad_offsets_and_options() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            ParseError::TruncatedTcp
        );
        let mut d = SYN;
        d[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&d[..]).unwrap_err(),
            ParseError::BadTcpDataOffset
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..36]).unwrap_err(),
            ParseError::BadTcpDataOffset
        );
        let mut d = SYN;
        d[21] = 3; // MSS with length 3
        let t = TcpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(t.options().next(), Some(Err(ParseError::BadTcpOption)));
        let mut d = SYN;
        d[21] = 0; // zero length would loop forever in a naive walker
        let t = TcpPacket::new_checked(&d[..]).unwrap();
        assert_eq!(
            t.options().collect::<Vec<_>>(),
            vec![Err(ParseError::BadTcpOption)]
        );
    }
}
