//! ICMP for IPv4 (RFC 792), with the messages a router sends and answers.

use crate::checksum;
use crate::field::{enum_with_unknown, read_u16, write_u16};
use crate::{ParseError, Result};

enum_with_unknown! {
    /// ICMP message type.
    pub enum Icmpv4Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement (RFC 1256).
        RouterAdvert = 9,
        /// Router solicitation (RFC 1256).
        RouterSolicit = 10,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp request.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
        /// Extended echo request (RFC 8335).
        ExtendedEchoRequest = 42,
        /// Extended echo reply (RFC 8335).
        ExtendedEchoReply = 43,
    }
}

impl Icmpv4Message {
    /// True for error messages, which carry a quoted datagram and must never be
    /// sent in answer to another error (RFC 1812 §4.3.2.7).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Icmpv4Message::DstUnreachable
                | Icmpv4Message::Redirect
                | Icmpv4Message::TimeExceeded
                | Icmpv4Message::ParamProblem
        )
    }
}

/// Destination-unreachable codes (RFC 792, RFC 1812 §5.2.7.1).
pub mod unreach {
    /// Network unreachable (no route).
    pub const NET: u8 = 0;
    /// Host unreachable (neighbour did not resolve).
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191 carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time-exceeded codes.
pub mod time_exceeded {
    /// TTL exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const WORD1: usize = 4;
    pub(super) const WORD2: usize = 6;
}

/// Length of the ICMP header (type, code, checksum and the four bytes whose
/// meaning depends on the type).
pub const HEADER_LEN: usize = 8;

/// A view of an ICMP message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    /// Wrap after checking the 8-byte header is present.
    ///
    /// # Errors
    /// [`ParseError::TruncatedIcmpv4`].
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::TruncatedIcmpv4);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Message {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (bytes 4–5).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WORD1)
    }

    /// Echo sequence number (bytes 6–7).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WORD2)
    }

    /// Next-hop MTU of a fragmentation-needed message (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WORD2)
    }

    /// Data after the 8-byte header (echo data, or the quoted datagram).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True if the checksum over the whole message is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Set type and code.
    pub fn set_type_code(&mut self, t: Icmpv4Message, code: u8) {
        let d = self.buffer.as_mut();
        d[field::TYPE] = t.into();
        d[field::CODE] = code;
    }

    /// Set the echo identifier (and the ident word of other types).
    pub fn set_echo_ident(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WORD1, v);
    }

    /// Set the echo sequence number (and the second word of other types).
    pub fn set_echo_seq_no(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::WORD2, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Compute and store the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Mutable data after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// Plain-data ICMP message, for the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to be echoed.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable; `next_hop_mtu` is non-zero only for
    /// [`unreach::FRAG_NEEDED`].
    DstUnreachable {
        /// Code, see [`unreach`].
        code: u8,
        /// Next-hop MTU (RFC 1191).
        next_hop_mtu: u16,
        /// Quoted IP header and leading payload bytes.
        quote: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code, see [`time_exceeded`].
        code: u8,
        /// Quoted IP header and leading payload bytes.
        quote: &'a [u8],
    },
    /// Parameter problem, pointing at the offending octet.
    ParamProblem {
        /// Octet offset in the quoted header.
        pointer: u8,
        /// Quoted IP header and leading payload bytes.
        quote: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Read a message, checking its checksum.
    ///
    /// # Errors
    /// [`ParseError::TruncatedIcmpv4`] when shorter than the header. Returns
    /// `Ok(None)` for a message with a bad checksum or of a type this repr does
    /// not model (the slow path ignores those).
    pub fn parse(data: &'a [u8]) -> Result<Option<Icmpv4Repr<'a>>> {
        let p = Icmpv4Packet::new_checked(data)?;
        if !p.verify_checksum() {
            return Ok(None);
        }
        let d = &data[HEADER_LEN..];
        Ok(match p.msg_type() {
            Icmpv4Message::EchoRequest if p.code() == 0 => Some(Icmpv4Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data: d,
            }),
            Icmpv4Message::EchoReply if p.code() == 0 => Some(Icmpv4Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data: d,
            }),
            Icmpv4Message::DstUnreachable => Some(Icmpv4Repr::DstUnreachable {
                code: p.code(),
                next_hop_mtu: p.next_hop_mtu(),
                quote: d,
            }),
            Icmpv4Message::TimeExceeded => Some(Icmpv4Repr::TimeExceeded {
                code: p.code(),
                quote: d,
            }),
            Icmpv4Message::ParamProblem => Some(Icmpv4Repr::ParamProblem {
                pointer: data[4],
                quote: d,
            }),
            _ => None,
        })
    }

    fn body(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => data,
            Icmpv4Repr::DstUnreachable { quote, .. }
            | Icmpv4Repr::TimeExceeded { quote, .. }
            | Icmpv4Repr::ParamProblem { quote, .. } => quote,
        }
    }

    /// Bytes [`Icmpv4Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body().len()
    }

    /// Write the message, checksum included, into the first
    /// [`Icmpv4Repr::buffer_len`] bytes of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Icmpv4Repr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..len]);
        let (t, code, w1, w2) = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                (Icmpv4Message::EchoRequest, 0, ident, seq_no)
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                (Icmpv4Message::EchoReply, 0, ident, seq_no)
            }
            Icmpv4Repr::DstUnreachable {
                code, next_hop_mtu, ..
            } => (Icmpv4Message::DstUnreachable, code, 0, next_hop_mtu),
            Icmpv4Repr::TimeExceeded { code, .. } => (Icmpv4Message::TimeExceeded, code, 0, 0),
            Icmpv4Repr::ParamProblem { pointer, .. } => {
                (Icmpv4Message::ParamProblem, 0, u16::from(pointer) << 8, 0)
            }
        };
        p.set_type_code(t, code);
        p.set_echo_ident(w1);
        p.set_echo_seq_no(w2);
        p.data_mut().copy_from_slice(self.body());
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request id 0x1234 seq 1 with "abcd", checksum computed by hand-checked full sum.
    #[test]
    fn echo_round_trip() {
        let r = Icmpv4Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf);
        assert_eq!(&buf[..2], &[8, 0]);
        assert_eq!(checksum::sum(&buf), 0xffff);
        assert_eq!(Icmpv4Repr::parse(&buf).unwrap(), Some(r));
        let mut bad = buf.clone();
        bad[9] ^= 1;
        assert_eq!(Icmpv4Repr::parse(&bad).unwrap(), None);
    }

    #[test]
    fn frag_needed_carries_mtu() {
        let quote = [0x45u8; 28];
        let r = Icmpv4Repr::DstUnreachable {
            code: unreach::FRAG_NEEDED,
            next_hop_mtu: 1400,
            quote: &quote,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf);
        let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(p.code(), 4);
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(p.data(), &quote);
        assert!(p.verify_checksum());
        assert!(p.msg_type().is_error());
    }

    #[test]
    fn short_is_truncated() {
        assert_eq!(
            Icmpv4Repr::parse(&[8, 0, 0, 0]).unwrap_err(),
            ParseError::TruncatedIcmpv4
        );
    }
}
