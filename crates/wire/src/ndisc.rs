//! IPv6 Neighbor Discovery (RFC 4861): router/neighbour solicitations and
//! advertisements, redirects, and their options.
//!
//! The slow path uses these to answer solicitations for the router's own
//! addresses and to learn neighbours; the fast path only classifies.

use core::net::Ipv6Addr;

use crate::ethernet::EthernetAddress;
use crate::field::{read_u16, read_u32, write_u16, write_u32};
use crate::icmpv6::{Icmpv6Message, Icmpv6Packet};
use crate::{ParseError, Result};

/// Neighbour advertisement flags (RFC 4861 §4.4).
pub mod na_flags {
    /// Sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// Sent in response to a solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// Override an existing cache entry.
    pub const OVERRIDE: u8 = 0x20;
}

/// Prefix information flags (RFC 4861 §4.6.2).
pub mod prefix_flags {
    /// On-link.
    pub const ON_LINK: u8 = 0x80;
    /// Autonomous address configuration.
    pub const AUTONOMOUS: u8 = 0x40;
}

/// NDP option types (RFC 4861 §4.6).
mod option_type {
    pub(super) const SOURCE_LL: u8 = 1;
    pub(super) const TARGET_LL: u8 = 2;
    pub(super) const PREFIX_INFO: u8 = 3;
    pub(super) const REDIRECTED: u8 = 4;
    pub(super) const MTU: u8 = 5;
}

/// Prefix information option contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixInfo {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// On-link / autonomous flags, see [`prefix_flags`].
    pub flags: u8,
    /// Valid lifetime, seconds.
    pub valid_lifetime: u32,
    /// Preferred lifetime, seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

/// One NDP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdiscOption<'a> {
    /// Source link-layer address.
    SourceLinkLayer(EthernetAddress),
    /// Target link-layer address.
    TargetLinkLayer(EthernetAddress),
    /// Prefix information.
    PrefixInfo(PrefixInfo),
    /// Redirected header (the leading bytes of the redirected packet).
    RedirectedHeader(&'a [u8]),
    /// Link MTU.
    Mtu(u32),
    /// Any other option: type and body after type/length.
    Unknown(u8, &'a [u8]),
}

/// Iterator over NDP options; yields one error and stops on a malformed one.
#[derive(Debug, Clone)]
pub struct NdiscOptions<'a> {
    data: &'a [u8],
}

impl<'a> NdiscOptions<'a> {
    /// Iterate over the options in `data`.
    pub fn new(data: &'a [u8]) -> NdiscOptions<'a> {
        NdiscOptions { data }
    }
}

impl<'a> Iterator for NdiscOptions<'a> {
    type Item = Result<NdiscOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        // RFC 4861 §4.6: length in units of 8 octets; zero must be discarded.
        let len = self.data.get(1).map(|&l| usize::from(l) * 8);
        let len = match len {
            Some(l) if l > 0 && l <= self.data.len() => l,
            _ => {
                self.data = &[];
                return Some(Err(ParseError::BadNdpOption));
            }
        };
        let kind = self.data[0];
        let body = &self.data[2..len];
        self.data = &self.data[len..];
        let opt = match kind {
            option_type::SOURCE_LL | option_type::TARGET_LL if body.len() >= 6 => {
                let mac = EthernetAddress::from_bytes(&body[..6]);
                if kind == option_type::SOURCE_LL {
                    NdiscOption::SourceLinkLayer(mac)
                } else {
                    NdiscOption::TargetLinkLayer(mac)
                }
            }
            option_type::PREFIX_INFO if body.len() == 30 => {
                let mut p = [0u8; 16];
                p.copy_from_slice(&body[14..30]);
                NdiscOption::PrefixInfo(PrefixInfo {
                    prefix_len: body[0],
                    flags: body[1],
                    valid_lifetime: read_u32(body, 2),
                    preferred_lifetime: read_u32(body, 6),
                    prefix: Ipv6Addr::from(p),
                })
            }
            option_type::REDIRECTED => NdiscOption::RedirectedHeader(&body[6.min(body.len())..]),
            option_type::MTU if body.len() == 6 => NdiscOption::Mtu(read_u32(body, 2)),
            option_type::SOURCE_LL
            | option_type::TARGET_LL
            | option_type::PREFIX_INFO
            | option_type::MTU => {
                self.data = &[];
                return Some(Err(ParseError::BadNdpOption));
            }
            _ => NdiscOption::Unknown(kind, body),
        };
        Some(Ok(opt))
    }
}

/// Plain-data NDP message. Only the options a router acts on are kept; others
/// are validated and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdiscRepr<'a> {
    /// Router solicitation.
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Router advertisement.
    RouterAdvert {
        /// Current hop limit to advertise.
        hop_limit: u8,
        /// M/O flags byte.
        flags: u8,
        /// Router lifetime, seconds.
        router_lifetime: u16,
        /// Reachable time, ms.
        reachable_time: u32,
        /// Retransmission timer, ms.
        retrans_time: u32,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
        /// MTU option.
        mtu: Option<u32>,
        /// First prefix information option.
        prefix_info: Option<PrefixInfo>,
    },
    /// Neighbour solicitation.
    NeighborSolicit {
        /// Address being resolved.
        target_addr: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Neighbour advertisement.
    NeighborAdvert {
        /// R/S/O flags, see [`na_flags`].
        flags: u8,
        /// Address being advertised.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Redirect.
    Redirect {
        /// Better first hop.
        target_addr: Ipv6Addr,
        /// Destination being redirected.
        dest_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EthernetAddress>,
        /// Redirected header option.
        redirected_hdr: Option<&'a [u8]>,
    },
}

fn addr_at(d: &[u8], at: usize) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[at..at + 16]);
    Ipv6Addr::from(b)
}

impl<'a> NdiscRepr<'a> {
    /// Parse an NDP message from a whole ICMPv6 message (checksum already checked).
    /// Returns `Ok(None)` for a non-NDP type or a non-zero code (RFC 4861
    /// requires code 0 for all of them).
    ///
    /// # Errors
    /// [`ParseError::TruncatedIcmpv6`] if the fixed body is cut short,
    /// [`ParseError::BadNdpOption`] for a malformed option.
    pub fn parse(d: &'a [u8]) -> Result<Option<NdiscRepr<'a>>> {
        let p = Icmpv6Packet::new_checked(d)?;
        if p.code() != 0 {
            return Ok(None);
        }
        let fixed = match p.msg_type() {
            Icmpv6Message::RouterSolicit => 8,
            Icmpv6Message::RouterAdvert => 16,
            Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert => 24,
            Icmpv6Message::Redirect => 40,
            _ => return Ok(None),
        };
        if d.len() < fixed {
            return Err(ParseError::TruncatedIcmpv6);
        }
        let (mut src_ll, mut tgt_ll, mut mtu, mut prefix, mut redirected) =
            (None, None, None, None, None);
        for opt in NdiscOptions::new(&d[fixed..]) {
            match opt? {
                NdiscOption::SourceLinkLayer(m) => src_ll = Some(m),
                NdiscOption::TargetLinkLayer(m) => tgt_ll = Some(m),
                NdiscOption::Mtu(m) => mtu = Some(m),
                NdiscOption::PrefixInfo(pi) => prefix = prefix.or(Some(pi)),
                NdiscOption::RedirectedHeader(h) => redirected = Some(h),
                NdiscOption::Unknown(..) => {}
            }
        }
        Ok(Some(match p.msg_type() {
            Icmpv6Message::RouterSolicit => NdiscRepr::RouterSolicit { lladdr: src_ll },
            Icmpv6Message::RouterAdvert => NdiscRepr::RouterAdvert {
                hop_limit: d[4],
                flags: d[5],
                router_lifetime: read_u16(d, 6),
                reachable_time: read_u32(d, 8),
                retrans_time: read_u32(d, 12),
                lladdr: src_ll,
                mtu,
                prefix_info: prefix,
            },
            Icmpv6Message::NeighborSolicit => NdiscRepr::NeighborSolicit {
                target_addr: addr_at(d, 8),
                lladdr: src_ll,
            },
            Icmpv6Message::NeighborAdvert => NdiscRepr::NeighborAdvert {
                flags: d[4],
                target_addr: addr_at(d, 8),
                lladdr: tgt_ll,
            },
            _ => NdiscRepr::Redirect {
                target_addr: addr_at(d, 8),
                dest_addr: addr_at(d, 24),
                lladdr: tgt_ll,
                redirected_hdr: redirected,
            },
        }))
    }

    /// Bytes [`NdiscRepr::emit`] writes (ICMPv6 header included).
    pub fn buffer_len(&self) -> usize {
        let ll = |l: &Option<EthernetAddress>| if l.is_some() { 8 } else { 0 };
        match self {
            NdiscRepr::RouterSolicit { lladdr } => 8 + ll(lladdr),
            NdiscRepr::RouterAdvert {
                lladdr,
                mtu,
                prefix_info,
                ..
            } => {
                16 + ll(lladdr)
                    + if mtu.is_some() { 8 } else { 0 }
                    + if prefix_info.is_some() { 32 } else { 0 }
            }
            NdiscRepr::NeighborSolicit { lladdr, .. }
            | NdiscRepr::NeighborAdvert { lladdr, .. } => 24 + ll(lladdr),
            NdiscRepr::Redirect {
                lladdr,
                redirected_hdr,
                ..
            } => 40 + ll(lladdr) + redirected_hdr.map_or(0, |h| 8 + h.len().div_ceil(8) * 8),
        }
    }

    /// Write the message, checksum left zero (the ICMPv6 emitter fills it).
    ///
    /// # Panics
    /// If `buf` is shorter than [`NdiscRepr::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        buf.fill(0);
        let put_ll = |b: &mut [u8], kind: u8, mac: &EthernetAddress| {
            b[0] = kind;
            b[1] = 1;
            b[2..8].copy_from_slice(&mac.0);
        };
        match *self {
            NdiscRepr::RouterSolicit { lladdr } => {
                buf[0] = Icmpv6Message::RouterSolicit.into();
                if let Some(m) = lladdr {
                    put_ll(&mut buf[8..], option_type::SOURCE_LL, &m);
                }
            }
            NdiscRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                lladdr,
                mtu,
                prefix_info,
            } => {
                buf[0] = Icmpv6Message::RouterAdvert.into();
                buf[4] = hop_limit;
                buf[5] = flags;
                write_u16(buf, 6, router_lifetime);
                write_u32(buf, 8, reachable_time);
                write_u32(buf, 12, retrans_time);
                let mut at = 16;
                if let Some(m) = lladdr {
                    put_ll(&mut buf[at..], option_type::SOURCE_LL, &m);
                    at += 8;
                }
                if let Some(m) = mtu {
                    buf[at] = option_type::MTU;
                    buf[at + 1] = 1;
                    write_u32(buf, at + 4, m);
                    at += 8;
                }
                if let Some(p) = prefix_info {
                    buf[at] = option_type::PREFIX_INFO;
                    buf[at + 1] = 4;
                    buf[at + 2] = p.prefix_len;
                    buf[at + 3] = p.flags;
                    write_u32(buf, at + 4, p.valid_lifetime);
                    write_u32(buf, at + 8, p.preferred_lifetime);
                    buf[at + 16..at + 32].copy_from_slice(&p.prefix.octets());
                }
            }
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                buf[0] = Icmpv6Message::NeighborSolicit.into();
                buf[8..24].copy_from_slice(&target_addr.octets());
                if let Some(m) = lladdr {
                    put_ll(&mut buf[24..], option_type::SOURCE_LL, &m);
                }
            }
            NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                buf[0] = Icmpv6Message::NeighborAdvert.into();
                buf[4] = flags;
                buf[8..24].copy_from_slice(&target_addr.octets());
                if let Some(m) = lladdr {
                    put_ll(&mut buf[24..], option_type::TARGET_LL, &m);
                }
            }
            NdiscRepr::Redirect {
                target_addr,
                dest_addr,
                lladdr,
                redirected_hdr,
            } => {
                buf[0] = Icmpv6Message::Redirect.into();
                buf[8..24].copy_from_slice(&target_addr.octets());
                buf[24..40].copy_from_slice(&dest_addr.octets());
                let mut at = 40;
                if let Some(m) = lladdr {
                    put_ll(&mut buf[at..], option_type::TARGET_LL, &m);
                    at += 8;
                }
                if let Some(h) = redirected_hdr {
                    let olen = 8 + h.len().div_ceil(8) * 8;
                    buf[at] = option_type::REDIRECTED;
                    buf[at + 1] = (olen / 8) as u8;
                    buf[at + 8..at + 8 + h.len()].copy_from_slice(h);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmpv6::Icmpv6Repr;

    #[test]
    fn ns_na_round_trip() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        for n in [
            NdiscRepr::NeighborSolicit {
                target_addr: "2001:db8::2".parse().unwrap(),
                lladdr: Some(mac),
            },
            NdiscRepr::NeighborAdvert {
                flags: na_flags::ROUTER | na_flags::SOLICITED | na_flags::OVERRIDE,
                target_addr: "2001:db8::1".parse().unwrap(),
                lladdr: Some(mac),
            },
            NdiscRepr::RouterAdvert {
                hop_limit: 64,
                flags: 0,
                router_lifetime: 1800,
                reachable_time: 0,
                retrans_time: 0,
                lladdr: Some(mac),
                mtu: Some(1500),
                prefix_info: Some(PrefixInfo {
                    prefix_len: 64,
                    flags: prefix_flags::ON_LINK | prefix_flags::AUTONOMOUS,
                    valid_lifetime: 86400,
                    preferred_lifetime: 14400,
                    prefix: "2001:db8::".parse().unwrap(),
                }),
            },
            NdiscRepr::Redirect {
                target_addr: "fe80::9".parse().unwrap(),
                dest_addr: "2001:db8::99".parse().unwrap(),
                lladdr: None,
                redirected_hdr: Some(&[0x60, 0, 0, 0, 0, 0, 0, 0]),
            },
            NdiscRepr::RouterSolicit { lladdr: None },
        ] {
            let r = Icmpv6Repr::Ndisc(n);
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(src, dst, &mut buf);
            assert_eq!(Icmpv6Repr::parse(src, dst, &buf).unwrap(), Some(r), "{n:?}");
        }
    }

    #[test]
    fn zero_length_option_is_rejected() {
        let opts = [1u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            NdiscOptions::new(&opts).collect::<Vec<_>>(),
            vec![Err(ParseError::BadNdpOption)]
        );
        let past = [1u8, 2, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            NdiscOptions::new(&past).collect::<Vec<_>>(),
            vec![Err(ParseError::BadNdpOption)]
        );
    }

    #[test]
    fn truncated_ns_is_an_error() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let mut buf = [0u8; 20];
        buf[0] = 135;
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum(src, src);
        assert_eq!(
            Icmpv6Repr::parse(src, src, &buf).unwrap_err(),
            ParseError::TruncatedIcmpv6
        );
    }
}
