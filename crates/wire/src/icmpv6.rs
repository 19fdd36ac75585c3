//! ICMPv6 (RFC 4443). Neighbour discovery messages are in [`crate::ndisc`].

use core::net::Ipv6Addr;

use crate::checksum;
use crate::field::{enum_with_unknown, read_u16, read_u32, write_u16, write_u32};
use crate::ip::IpProtocol;
use crate::ndisc::NdiscRepr;
use crate::{ParseError, Result};

enum_with_unknown! {
    /// ICMPv6 message type.
    pub enum Icmpv6Message(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big.
        PacketTooBig = 2,
        /// Time exceeded.
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Multicast listener query (RFC 2710).
        MldQuery = 130,
        /// MLDv1 report.
        MldReport = 131,
        /// MLDv1 done.
        MldDone = 132,
        /// Router solicitation (RFC 4861).
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbour solicitation.
        NeighborSolicit = 135,
        /// Neighbour advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
        /// MLDv2 report (RFC 3810).
        Mldv2Report = 143,
    }
}

impl Icmpv6Message {
    /// Error messages have the high bit of the type clear (RFC 4443 §2.1).
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }

    /// True for the neighbour-discovery messages of RFC 4861.
    pub fn is_ndisc(self) -> bool {
        (133..=137).contains(&u8::from(self))
    }
}

/// Destination-unreachable codes (RFC 4443 §3.1).
pub mod unreach {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited.
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
    /// Reject route to destination.
    pub const REJECT_ROUTE: u8 = 6;
}

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const WORD: usize = 4;
}

/// Length of the ICMPv6 header including the 4-byte type-specific word.
pub const HEADER_LEN: usize = 8;

/// Largest ICMPv6 error message: the IPv6 minimum MTU minus the IPv6 header
/// (RFC 4443 §2.4 (c)).
pub const MAX_ERROR_LEN: usize = crate::ipv6::MIN_MTU - crate::ipv6::HEADER_LEN;

/// A view of an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wrap without checking.
    pub const fn new_unchecked(buffer: T) -> Icmpv6Packet<T> {
        Icmpv6Packet { buffer }
    }

    /// Wrap after checking the 8-byte header is present. (Every ICMPv6 message
    /// has at least the 4-byte word after the checksum.)
    ///
    /// # Errors
    /// [`ParseError::TruncatedIcmpv6`].
    pub fn new_checked(buffer: T) -> Result<Icmpv6Packet<T>> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::TruncatedIcmpv6);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv6Message {
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

    /// The 32-bit word after the checksum (MTU, pointer, or ident/seq).
    #[inline]
    pub fn word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::WORD)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WORD)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WORD + 2)
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// The whole message.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Verify the checksum under the IPv6 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32);
        checksum::transport(pseudo, data) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Set type and code.
    pub fn set_type_code(&mut self, t: Icmpv6Message, code: u8) {
        let d = self.buffer.as_mut();
        d[field::TYPE] = t.into();
        d[field::CODE] = code;
    }

    /// Set the 32-bit word after the checksum.
    pub fn set_word(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::WORD, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Compute and store the checksum under the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32);
        let c = checksum::transport(pseudo, data);
        self.set_checksum(c);
    }

    /// Mutable bytes after the header.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// Plain-data ICMPv6 message, for the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Destination unreachable.
    DstUnreachable {
        /// Code, see [`unreach`].
        code: u8,
        /// Quoted packet.
        quote: &'a [u8],
    },
    /// Packet too big, with the MTU of the next hop.
    PacketTooBig {
        /// Next-hop MTU.
        mtu: u32,
        /// Quoted packet.
        quote: &'a [u8],
    },
    /// Time exceeded (code 0: hop limit; 1: reassembly).
    TimeExceeded {
        /// Code.
        code: u8,
        /// Quoted packet.
        quote: &'a [u8],
    },
    /// Parameter problem.
    ParamProblem {
        /// Code.
        code: u8,
        /// Offset of the offending octet.
        pointer: u32,
        /// Quoted packet.
        quote: &'a [u8],
    },
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data.
        data: &'a [u8],
    },
    /// A neighbour-discovery message.
    Ndisc(NdiscRepr<'a>),
}

impl<'a> Icmpv6Repr<'a> {
    /// Read a message and check its checksum under the pseudo-header.
    ///
    /// # Errors
    /// [`ParseError::TruncatedIcmpv6`] / NDP errors for malformed messages.
    /// `Ok(None)` for a bad checksum or a type this repr does not model.
    pub fn parse(src: Ipv6Addr, dst: Ipv6Addr, data: &'a [u8]) -> Result<Option<Icmpv6Repr<'a>>> {
        let p = Icmpv6Packet::new_checked(data)?;
        if !p.verify_checksum(src, dst) {
            return Ok(None);
        }
        let body = &data[HEADER_LEN..];
        let t = p.msg_type();
        if t.is_ndisc() {
            return Ok(NdiscRepr::parse(data)?.map(Icmpv6Repr::Ndisc));
        }
        Ok(match t {
            Icmpv6Message::DstUnreachable => Some(Icmpv6Repr::DstUnreachable {
                code: p.code(),
                quote: body,
            }),
            Icmpv6Message::PacketTooBig => Some(Icmpv6Repr::PacketTooBig {
                mtu: p.word(),
                quote: body,
            }),
            Icmpv6Message::TimeExceeded => Some(Icmpv6Repr::TimeExceeded {
                code: p.code(),
                quote: body,
            }),
            Icmpv6Message::ParamProblem => Some(Icmpv6Repr::ParamProblem {
                code: p.code(),
                pointer: p.word(),
                quote: body,
            }),
            Icmpv6Message::EchoRequest if p.code() == 0 => Some(Icmpv6Repr::EchoRequest {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data: body,
            }),
            Icmpv6Message::EchoReply if p.code() == 0 => Some(Icmpv6Repr::EchoReply {
                ident: p.echo_ident(),
                seq_no: p.echo_seq_no(),
                data: body,
            }),
            _ => None,
        })
    }

    /// Bytes [`Icmpv6Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::DstUnreachable { quote, .. }
            | Icmpv6Repr::PacketTooBig { quote, .. }
            | Icmpv6Repr::TimeExceeded { quote, .. }
            | Icmpv6Repr::ParamProblem { quote, .. } => HEADER_LEN + quote.len(),
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::Ndisc(n) => n.buffer_len(),
        }
    }

    /// Write the message with its checksum for the given addresses.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Icmpv6Repr::buffer_len`].
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        let (t, code, word, body): (_, _, u32, &[u8]) = match *self {
            Icmpv6Repr::DstUnreachable { code, quote } => {
                (Icmpv6Message::DstUnreachable, code, 0, quote)
            }
            Icmpv6Repr::PacketTooBig { mtu, quote } => (Icmpv6Message::PacketTooBig, 0, mtu, quote),
            Icmpv6Repr::TimeExceeded { code, quote } => {
                (Icmpv6Message::TimeExceeded, code, 0, quote)
            }
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quote,
            } => (Icmpv6Message::ParamProblem, code, pointer, quote),
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Message::EchoRequest,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Message::EchoReply,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::Ndisc(ref n) => {
                n.emit(buf);
                Icmpv6Packet::new_unchecked(buf).fill_checksum(src, dst);
                return;
            }
        };
        let mut p = Icmpv6Packet::new_unchecked(buf);
        p.set_type_code(t, code);
        p.set_word(word);
        p.data_mut().copy_from_slice(body);
        p.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_and_too_big_round_trip() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        for r in [
            Icmpv6Repr::EchoRequest {
                ident: 7,
                seq_no: 9,
                data: b"ping",
            },
            Icmpv6Repr::PacketTooBig {
                mtu: 1400,
                quote: &[0x60; 48],
            },
            Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: 40,
                quote: &[0x60; 48],
            },
        ] {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(src, dst, &mut buf);
            assert_eq!(Icmpv6Repr::parse(src, dst, &buf).unwrap(), Some(r));
            // Wrong pseudo-header: checksum no longer verifies.
            assert_eq!(Icmpv6Repr::parse(dst, dst, &buf).unwrap(), None);
        }
    }

    #[test]
    fn classification() {
        assert!(Icmpv6Message::PacketTooBig.is_error());
        assert!(!Icmpv6Message::EchoRequest.is_error());
        assert!(Icmpv6Message::NeighborSolicit.is_ndisc());
        assert!(!Icmpv6Message::MldReport.is_ndisc());
        assert_eq!(
            Icmpv6Packet::new_checked(&[128u8, 0, 0][..]).unwrap_err(),
            ParseError::TruncatedIcmpv6
        );
    }
}
