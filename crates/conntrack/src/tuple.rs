//! The connection tuple, its inversion, and the keyed hash that both
//! directions of a connection share.
//!
//! A [`Tuple`] is nf_conntrack's `nf_conntrack_tuple`: addresses, layer-4
//! protocol and the two protocol words. For TCP and UDP those are the ports;
//! for ICMP/ICMPv6 queries `src_port` is the identifier and `dst_port` holds
//! `type << 8 | code`, as Linux keeps `src.u.icmp.id` and
//! `dst.u.icmp.{type,code}`; for every other protocol both are zero (the
//! generic tracker: addresses and protocol only).
//!
//! The hash is *direction-independent*: a packet and its answer hash alike,
//! so one index slot serves both directions of a connection (see the crate
//! documentation for how NAT will add a second slot when its reply tuple is
//! not the inverse of the original).

use orbital_wire::{L3Kind, PacketInfo};

/// IP protocol number of ICMP.
pub(crate) const ICMP: u8 = 1;
/// IP protocol number of TCP.
pub(crate) const TCP: u8 = 6;
/// IP protocol number of UDP.
pub(crate) const UDP: u8 = 17;
/// IP protocol number of ICMPv6.
pub(crate) const ICMPV6: u8 = 58;

/// One direction of a connection, as nf_conntrack's tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tuple {
    /// Source address (IPv4 in the low 32 bits).
    pub src: u128,
    /// Destination address (IPv4 in the low 32 bits).
    pub dst: u128,
    /// TCP/UDP source port; ICMP identifier; 0 for other protocols.
    pub src_port: u16,
    /// TCP/UDP destination port; ICMP `type << 8 | code`; 0 for other protocols.
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// IPv6 (else IPv4).
    pub ipv6: bool,
}

/// Which way a packet travels relative to the packet that created its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dir {
    /// Same direction as the packet that created the entry.
    #[default]
    Original,
    /// The answering direction.
    Reply,
}

impl Dir {
    /// 0 for original, 1 for reply: the index of per-direction arrays.
    #[inline]
    pub const fn index(self) -> usize {
        match self {
            Dir::Original => 0,
            Dir::Reply => 1,
        }
    }

    /// The other direction.
    #[inline]
    pub const fn flip(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }
}

/// The protocol family a tracker handles, for per-protocol counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtoClass {
    /// TCP: state machine and window tracking.
    Tcp,
    /// UDP: unreplied / replied / stream pseudo-states.
    Udp,
    /// ICMP (IPv4) queries.
    Icmp,
    /// ICMPv6 queries.
    Icmpv6,
    /// Any other protocol: addresses and protocol only.
    Generic,
}

impl ProtoClass {
    /// Every class, in [`ProtoClass::index`] order.
    pub const ALL: [ProtoClass; 5] = [
        ProtoClass::Tcp,
        ProtoClass::Udp,
        ProtoClass::Icmp,
        ProtoClass::Icmpv6,
        ProtoClass::Generic,
    ];

    /// Position in [`ProtoClass::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name, as `conntrack -L` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            ProtoClass::Tcp => "tcp",
            ProtoClass::Udp => "udp",
            ProtoClass::Icmp => "icmp",
            ProtoClass::Icmpv6 => "icmpv6",
            ProtoClass::Generic => "unknown",
        }
    }

    pub(crate) const fn of(protocol: u8, ipv6: bool) -> ProtoClass {
        match (protocol, ipv6) {
            (TCP, _) => ProtoClass::Tcp,
            (UDP, _) => ProtoClass::Udp,
            (ICMP, false) => ProtoClass::Icmp,
            (ICMPV6, true) => ProtoClass::Icmpv6,
            _ => ProtoClass::Generic,
        }
    }
}

impl Tuple {
    /// The tuple of a parsed packet in the direction it travels, or `None`
    /// when the frame is not IP, or when TCP/UDP/ICMP has no transport header
    /// (a later fragment).
    pub fn from_packet(info: &PacketInfo) -> Option<Tuple> {
        let ipv6 = match info.l3 {
            L3Kind::Ipv4 => false,
            L3Kind::Ipv6 => true,
            _ => return None,
        };
        let mut t = Tuple {
            src: info.src,
            dst: info.dst,
            src_port: 0,
            dst_port: 0,
            protocol: info.protocol,
            ipv6,
        };
        match ProtoClass::of(info.protocol, ipv6) {
            ProtoClass::Tcp | ProtoClass::Udp => {
                if !info.has_l4() {
                    return None;
                }
                t.src_port = info.src_port;
                t.dst_port = info.dst_port;
            }
            ProtoClass::Icmp | ProtoClass::Icmpv6 => {
                if !info.has_l4() {
                    return None;
                }
                t.src_port = info.src_port;
                t.dst_port = info.l4_flags;
            }
            ProtoClass::Generic => {}
        }
        Some(t)
    }

    /// The protocol class of this tuple.
    #[inline]
    pub fn class(&self) -> ProtoClass {
        ProtoClass::of(self.protocol, self.ipv6)
    }

    /// ICMP type (meaningful for ICMP tuples).
    #[inline]
    pub const fn icmp_type(&self) -> u8 {
        (self.dst_port >> 8) as u8
    }

    /// ICMP code (meaningful for ICMP tuples).
    #[inline]
    pub const fn icmp_code(&self) -> u8 {
        self.dst_port as u8
    }

    /// The tuple of the answering direction: addresses and ports swapped;
    /// for ICMP the identifier kept and the type replaced by its answer
    /// (echo ↔ echo reply, …). `None` for an ICMP type with no answer, which
    /// nf_conntrack cannot track either.
    pub fn invert(&self) -> Option<Tuple> {
        let mut r = Tuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            protocol: self.protocol,
            ipv6: self.ipv6,
        };
        match self.class() {
            ProtoClass::Icmp | ProtoClass::Icmpv6 => {
                let t = icmp_answer(self.icmp_type(), self.ipv6)?;
                r.src_port = self.src_port;
                r.dst_port = u16::from(t) << 8 | u16::from(self.icmp_code());
            }
            ProtoClass::Generic => {
                r.src_port = 0;
                r.dst_port = 0;
            }
            _ => {}
        }
        Some(r)
    }
}

/// The answer to an ICMP query type, or the query a reply answers
/// (RFC 792, RFC 4443, RFC 4620 node information).
pub(crate) const fn icmp_answer(t: u8, ipv6: bool) -> Option<u8> {
    if ipv6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            139 => Some(140),
            140 => Some(139),
            _ => None,
        }
    } else {
        match t {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    }
}

/// True for the ICMP types that may open an entry (the queries).
pub(crate) const fn icmp_is_query(t: u8, ipv6: bool) -> bool {
    if ipv6 {
        matches!(t, 128 | 139)
    } else {
        matches!(t, 8 | 13 | 15 | 17)
    }
}

/// The query member of an ICMP type pair (the type itself for a query).
const fn icmp_query_of(t: u8, ipv6: bool) -> u8 {
    if icmp_is_query(t, ipv6) {
        t
    } else {
        match icmp_answer(t, ipv6) {
            Some(q) => q,
            None => t,
        }
    }
}

/// A keyed hash over tuples that gives both directions of a connection the
/// same value.
///
/// Construction: each endpoint (address, port) is folded through one
/// 64×64→128-bit multiply with secret words (wyhash/foldhash's "folded
/// multiply"); the two endpoint values are *added*, which is commutative (so
/// direction-independent) without XOR's flaw of sending every `a == b` pair
/// to one value; one more folded multiply mixes in the protocol, family and,
/// for ICMP, identifier and query type. Three multiplies per packet.
///
/// The key comes from [`crate::CtConfig::hash_seed`]. A fixed seed keeps
/// replays identical; a live router should draw it at random per worker so
/// that nobody outside can aim tuples at one bucket pair.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TupleHasher {
    k: [u64; 4],
}

#[inline]
fn fold(x: u64, y: u64) -> u64 {
    let r = u128::from(x) * u128::from(y);
    (r as u64) ^ ((r >> 64) as u64)
}

/// SplitMix64: expands one seed into independent-looking key words.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl TupleHasher {
    pub(crate) fn new(seed: u64) -> TupleHasher {
        let mut s = seed;
        // Odd words: a multiply by an even word would drop a bit.
        TupleHasher {
            k: [
                splitmix(&mut s) | 1,
                splitmix(&mut s) | 1,
                splitmix(&mut s) | 1,
                splitmix(&mut s) | 1,
            ],
        }
    }

    #[inline]
    fn endpoint(&self, addr: u128, port: u16) -> u64 {
        fold(
            (addr as u64) ^ self.k[0],
            ((addr >> 64) as u64) ^ self.k[1] ^ (u64::from(port) << 40),
        )
    }

    /// Hash of the connection `t` belongs to; `hash(t) == hash(t.invert())`.
    #[inline]
    pub(crate) fn hash(&self, t: &Tuple) -> u64 {
        let (p1, p2, extra) = match t.class() {
            ProtoClass::Tcp | ProtoClass::Udp => (t.src_port, t.dst_port, 0u64),
            ProtoClass::Icmp | ProtoClass::Icmpv6 => {
                let q = icmp_query_of(t.icmp_type(), t.ipv6);
                let extra =
                    u64::from(t.src_port) | u64::from(q) << 16 | u64::from(t.icmp_code()) << 24;
                (0, 0, extra)
            }
            ProtoClass::Generic => (0, 0, 0),
        };
        let sum = self
            .endpoint(t.src, p1)
            .wrapping_add(self.endpoint(t.dst, p2));
        fold(
            sum ^ self.k[2],
            extra ^ u64::from(t.protocol) << 48 ^ u64::from(t.ipv6) << 56 ^ self.k[3],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(src: u128, dst: u128, sp: u16, dp: u16) -> Tuple {
        Tuple {
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            protocol: TCP,
            ipv6: false,
        }
    }

    #[test]
    fn both_directions_hash_alike() {
        let h = TupleHasher::new(7);
        let t = tcp(0x0a00_0001, 0x0a00_0002, 40000, 80);
        assert_eq!(h.hash(&t), h.hash(&t.invert().unwrap()));
        let echo = Tuple {
            src: 1,
            dst: 2,
            src_port: 0x1234,
            dst_port: 8 << 8,
            protocol: ICMP,
            ipv6: false,
        };
        let reply = echo.invert().unwrap();
        assert_eq!(reply.dst_port, 0);
        assert_eq!(reply.src_port, 0x1234);
        assert_eq!(h.hash(&echo), h.hash(&reply));
        // Different ports, protocol or family give different hashes.
        assert_ne!(
            h.hash(&t),
            h.hash(&tcp(0x0a00_0001, 0x0a00_0002, 40001, 80))
        );
        let mut u = t;
        u.protocol = UDP;
        assert_ne!(h.hash(&t), h.hash(&u));
        u = t;
        u.ipv6 = true;
        assert_ne!(h.hash(&t), h.hash(&u));
        // Ports are bound to their address: swapping only the ports differs.
        assert_ne!(
            h.hash(&t),
            h.hash(&tcp(0x0a00_0001, 0x0a00_0002, 80, 40000))
        );
    }

    #[test]
    fn icmp_without_answer_cannot_invert() {
        let t = Tuple {
            src: 1,
            dst: 2,
            src_port: 0,
            dst_port: 9 << 8,
            protocol: ICMP,
            ipv6: false,
        };
        assert!(t.invert().is_none());
        assert_eq!(icmp_answer(128, true), Some(129));
        assert!(!icmp_is_query(129, true));
    }
}
