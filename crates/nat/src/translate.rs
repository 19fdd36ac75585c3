//! Address rewriting in place: the byte-level half of NAT, pure functions
//! over a parsed frame, shared by every NAT node.
//!
//! - IPv4: the address, the header checksum and the transport checksum
//!   whose pseudo-header holds the address (TCP, UDP with a checksum),
//!   each updated incrementally (RFC 1624 eqn. 3) — a rewrite costs a few
//!   adds whatever the packet's length. A first fragment's transport
//!   checksum is updated too (it covers the whole datagram, and the update
//!   is linear); later fragments carry no transport header.
//! - ICMP errors quote the packet they are about. The quoted header is
//!   translated the other way round (RFC 5508 §4.2 "ICMP error packets",
//!   RFC 7857 §2.9): its address, its header checksum, its transport
//!   checksum when the quote holds it, and the ICMP checksum over all three.
//! - IPv6: NPTv6 (RFC 6296 §3) — the prefix is replaced and one 16-bit
//!   word outside it adjusted so that the one's-complement sum of the
//!   address is unchanged: no checksum anywhere needs touching, inner
//!   quoted headers included.
//!
//! Every access is bounds-checked: a frame too short for a field is left
//! alone and the function says so.

use orbital_wire::PacketInfo;
use orbital_wire::checksum::{udp_wire, update_u16, update_u32};

/// Which address of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source (SNAT).
    Src,
    /// The destination (DNAT).
    Dst,
}

impl Side {
    /// The other one (what an ICMP error's quote holds in the place of
    /// this side of its own header).
    pub const fn other(self) -> Side {
        match self {
            Side::Src => Side::Dst,
            Side::Dst => Side::Src,
        }
    }

    const fn v4_offset(self) -> usize {
        match self {
            Side::Src => 12,
            Side::Dst => 16,
        }
    }

    const fn v6_offset(self) -> usize {
        match self {
            Side::Src => 8,
            Side::Dst => 24,
        }
    }
}

fn get_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

fn get_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Where the packet's IP bytes end (its own length, not the frame's
/// padding).
fn l3_end(frame: &[u8], info: &PacketInfo) -> usize {
    (usize::from(info.l3_offset) + info.l3_len as usize).min(frame.len())
}

/// The IPv4 address on `side` of the header at `info`.
pub fn v4_addr(frame: &[u8], info: &PacketInfo, side: Side) -> Option<u32> {
    get_u32(frame, usize::from(info.l3_offset) + side.v4_offset())
}

/// Rewrite the IPv4 address on `side` of the packet to `new`: the header
/// checksum, the TCP or UDP checksum (RFC 768: a UDP checksum of 0, "none",
/// stays 0) and `info` follow. Returns the old address, or `None` (nothing
/// changed) when the frame is too short.
pub fn rewrite_v4(frame: &mut [u8], info: &mut PacketInfo, side: Side, new: u32) -> Option<u32> {
    let l3 = usize::from(info.l3_offset);
    let at = l3 + side.v4_offset();
    let old = get_u32(frame, at)?;
    let ipc = get_u16(frame, l3 + 10)?;
    frame
        .get_mut(at..at + 4)?
        .copy_from_slice(&new.to_be_bytes());
    put_u16(frame, l3 + 10, update_u32(ipc, old, new));
    if info.has_l4() && !info.frag.is_later_fragment() {
        let l4 = usize::from(info.l4_offset);
        let end = l3_end(frame, info);
        match info.protocol {
            6 if l4 + 18 <= end => {
                if let Some(c) = get_u16(frame, l4 + 16) {
                    put_u16(frame, l4 + 16, update_u32(c, old, new));
                }
            }
            17 if l4 + 8 <= end => {
                if let Some(c) = get_u16(frame, l4 + 6)
                    && c != 0
                {
                    put_u16(frame, l4 + 6, udp_wire(update_u32(c, old, new)));
                }
            }
            _ => {}
        }
    }
    match side {
        Side::Src => info.src = u128::from(new),
        Side::Dst => info.dst = u128::from(new),
    }
    Some(old)
}

/// ICMPv4 error types, which quote the packet they are about (RFC 792):
/// destination unreachable, source quench, redirect, time exceeded,
/// parameter problem.
pub const fn is_icmpv4_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 4 | 5 | 11 | 12)
}

/// ICMPv6 error types (RFC 4443 §2.1: types below 128).
pub const fn is_icmpv6_error(icmp_type: u8) -> bool {
    icmp_type < 128
}

/// The IPv4 address on `side` of the header an ICMPv4 error quotes, and
/// the offset of that quoted header, when the packet is such an error and
/// quotes one.
pub fn quoted_v4(frame: &[u8], info: &PacketInfo, side: Side) -> Option<(u32, usize)> {
    if info.protocol != 1 || !info.has_l4() || !is_icmpv4_error(info.icmp_type()) {
        return None;
    }
    if info.frag.is_fragment() {
        // A fragmented error: its quote may be cut; RFC 1812 §4.3.2.7
        // errors are never fragmented by their senders in practice, and
        // translating half a quote would leave it inconsistent.
        return None;
    }
    let inner = usize::from(info.l4_offset) + 8;
    let end = l3_end(frame, info);
    if inner + 20 > end || frame.get(inner)? >> 4 != 4 {
        return None;
    }
    Some((get_u32(frame, inner + side.v4_offset())?, inner))
}

/// Rewrite the address on `side` of the IPv4 header quoted by an ICMPv4
/// error (offset `inner`, from [`quoted_v4`]) to `new`: the quoted header's
/// checksum, the quoted TCP/UDP checksum when the quote reaches it, and the
/// ICMP checksum over every word changed (RFC 5508 §4.2, RFC 7857 §2.9).
/// Returns whether it was rewritten.
pub fn rewrite_quoted_v4(
    frame: &mut [u8],
    info: &PacketInfo,
    inner: usize,
    side: Side,
    new: u32,
) -> bool {
    let icmp = usize::from(info.l4_offset);
    let end = l3_end(frame, info);
    let Some(&vihl) = frame.get(inner) else {
        return false;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || inner + ihl > end {
        return false;
    }
    let at = inner + side.v4_offset();
    let (Some(old), Some(ipc), Some(mut ic)) = (
        get_u32(frame, at),
        get_u16(frame, inner + 10),
        get_u16(frame, icmp + 2),
    ) else {
        return false;
    };
    let new_ipc = update_u32(ipc, old, new);
    let Some(dst) = frame.get_mut(at..at + 4) else {
        return false;
    };
    dst.copy_from_slice(&new.to_be_bytes());
    put_u16(frame, inner + 10, new_ipc);
    ic = update_u32(ic, old, new);
    ic = update_u16(ic, ipc, new_ipc);
    // The quoted transport header, when the quote is of a first fragment
    // and reaches its checksum.
    let proto = frame.get(inner + 9).copied().unwrap_or(0);
    let frag_off = get_u16(frame, inner + 6).unwrap_or(0) & 0x1fff;
    let l4 = inner + ihl;
    let ck_at = match proto {
        6 if frag_off == 0 && l4 + 18 <= end => Some(l4 + 16),
        17 if frag_off == 0 && l4 + 8 <= end => Some(l4 + 6),
        _ => None,
    };
    if let Some(ck_at) = ck_at
        && let Some(c) = get_u16(frame, ck_at)
        && !(proto == 17 && c == 0)
    {
        let mut nc = update_u32(c, old, new);
        if proto == 17 {
            nc = udp_wire(nc);
        }
        put_u16(frame, ck_at, nc);
        ic = update_u16(ic, c, nc);
    }
    put_u16(frame, icmp + 2, ic);
    true
}

/// ICMP query types whose identifier (bytes 4–5) names the flow (RFC 792:
/// echo, timestamp, information; RFC 950: address mask) — requests and
/// replies.
pub const fn is_icmpv4_query(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18)
}

/// An ICMPv4 query reply (answers a request we mapped).
pub const fn is_icmpv4_reply(icmp_type: u8) -> bool {
    matches!(icmp_type, 0 | 14 | 16 | 18)
}

/// Rewrite the TCP/UDP port on `side`, or an ICMP query's identifier
/// (either side: it is one field), to `new`, with the transport checksum
/// (RFC 1624; UDP 0 stays 0) and `info`. Returns the old value, or `None`
/// when the packet has no such field.
pub fn rewrite_port(frame: &mut [u8], info: &mut PacketInfo, side: Side, new: u16) -> Option<u16> {
    if !info.has_l4() || info.frag.is_later_fragment() {
        return None;
    }
    let l4 = usize::from(info.l4_offset);
    let end = l3_end(frame, info);
    let (at, ck) = match (info.protocol, side) {
        (6, Side::Src) => (l4, l4 + 16),
        (6, Side::Dst) => (l4 + 2, l4 + 16),
        (17, Side::Src) => (l4, l4 + 6),
        (17, Side::Dst) => (l4 + 2, l4 + 6),
        (1, _) if is_icmpv4_query(info.icmp_type()) => (l4 + 4, l4 + 2),
        _ => return None,
    };
    if ck + 2 > end || at + 2 > end {
        return None;
    }
    let old = get_u16(frame, at)?;
    put_u16(frame, at, new);
    if let Some(c) = get_u16(frame, ck)
        && !(info.protocol == 17 && c == 0)
    {
        let n = update_u16(c, old, new);
        put_u16(frame, ck, if info.protocol == 17 { udp_wire(n) } else { n });
    }
    match (info.protocol, side) {
        (1, _) | (_, Side::Src) => info.src_port = new,
        (_, Side::Dst) => info.dst_port = new,
    }
    Some(old)
}

/// The quoted transport tuple of an ICMPv4 error (header at `inner`, from
/// [`quoted_v4`]): protocol, source, destination, source port, destination
/// port (an ICMP query's identifier as both ports' first, the second 0).
pub fn quoted_tuple_v4(
    frame: &[u8],
    info: &PacketInfo,
    inner: usize,
) -> Option<(u8, u32, u32, u16, u16)> {
    let end = l3_end(frame, info);
    let ihl = usize::from(frame.get(inner)? & 0x0f) * 4;
    let proto = *frame.get(inner + 9)?;
    let src = get_u32(frame, inner + 12)?;
    let dst = get_u32(frame, inner + 16)?;
    let l4 = inner + ihl;
    if l4 + 8 > end {
        return None;
    }
    match proto {
        6 | 17 => Some((
            proto,
            src,
            dst,
            get_u16(frame, l4)?,
            get_u16(frame, l4 + 2)?,
        )),
        1 if is_icmpv4_query(*frame.get(l4)?) => Some((1, src, dst, get_u16(frame, l4 + 4)?, 0)),
        _ => None,
    }
}

/// Rewrite the port on `side` (ICMP query: the identifier) of the
/// transport header quoted by an ICMPv4 error, fixing the quoted checksum
/// when the quote holds it and the error's ICMP checksum over both (RFC
/// 5508 §4.2). Returns whether it was rewritten.
pub fn rewrite_quoted_port_v4(
    frame: &mut [u8],
    info: &PacketInfo,
    inner: usize,
    side: Side,
    new: u16,
) -> bool {
    let icmp = usize::from(info.l4_offset);
    let end = l3_end(frame, info);
    let Some(&vihl) = frame.get(inner) else {
        return false;
    };
    let l4 = inner + usize::from(vihl & 0x0f) * 4;
    let proto = frame.get(inner + 9).copied().unwrap_or(0);
    let (at, ck) = match (proto, side) {
        (6, Side::Src) => (l4, l4 + 16),
        (6, Side::Dst) => (l4 + 2, l4 + 16),
        (17, Side::Src) => (l4, l4 + 6),
        (17, Side::Dst) => (l4 + 2, l4 + 6),
        (1, _) => (l4 + 4, l4 + 2),
        _ => return false,
    };
    let (Some(old), Some(mut ic)) = (get_u16(frame, at), get_u16(frame, icmp + 2)) else {
        return false;
    };
    if at + 2 > end {
        return false;
    }
    put_u16(frame, at, new);
    ic = update_u16(ic, old, new);
    if ck + 2 <= end
        && let Some(c) = get_u16(frame, ck)
        && !(proto == 17 && c == 0)
    {
        let mut n = update_u16(c, old, new);
        if proto == 17 {
            n = udp_wire(n);
        }
        put_u16(frame, ck, n);
        ic = update_u16(ic, c, n);
    }
    put_u16(frame, icmp + 2, ic);
    true
}

/// A prefix translation of IPv4 addresses: keep the host bits, replace the
/// network bits (`len` 32 is 1:1 NAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map4 {
    /// Network bits of the prefix translated from.
    pub from: u32,
    /// Network bits of the prefix translated to.
    pub to: u32,
    /// Prefix length, 0–32.
    pub len: u8,
}

impl Map4 {
    /// The network mask.
    pub const fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        }
    }

    /// Whether `a` is in the prefix translated from.
    pub const fn contains(&self, a: u32) -> bool {
        a & self.mask() == self.from
    }

    /// `a` translated.
    pub const fn apply(&self, a: u32) -> u32 {
        self.to | (a & !self.mask())
    }

    /// The other direction.
    pub const fn reverse(&self) -> Map4 {
        Map4 {
            from: self.to,
            to: self.from,
            len: self.len,
        }
    }
}

/// Why NPTv6 cannot translate an address (RFC 6296 §3.4, §3.5): the word
/// that would absorb the checksum adjustment is 0xFFFF, which one's
/// complement cannot tell from 0x0000 on the way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untranslatable;

/// An NPTv6 prefix translation (RFC 6296): inside and outside prefixes of
/// the same length, at most /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Npt {
    /// Network bits of the prefix translated from.
    pub from: u128,
    /// Network bits of the prefix translated to.
    pub to: u128,
    /// Prefix length, 1–64.
    pub len: u8,
}

fn words(a: u128) -> [u16; 8] {
    let b = a.to_be_bytes();
    core::array::from_fn(|i| u16::from_be_bytes([b[2 * i], b[2 * i + 1]]))
}

/// One's-complement sum of the words, folded to 16 bits.
fn sum16(w: &[u16; 8]) -> u32 {
    let mut s: u32 = w.iter().map(|&x| u32::from(x)).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

impl Npt {
    /// The network mask.
    pub const fn mask(&self) -> u128 {
        if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - self.len)
        }
    }

    /// Whether `a` is in the prefix translated from.
    pub const fn contains(&self, a: u128) -> bool {
        a & self.mask() == self.from
    }

    /// The other direction.
    pub const fn reverse(&self) -> Npt {
        Npt {
            from: self.to,
            to: self.from,
            len: self.len,
        }
    }

    /// `a` translated, checksum-neutrally (RFC 6296 §3.2): the prefix
    /// replaced, then the one's-complement difference of the old and new
    /// address added to the subnet word (bits 48–63) for a /48 or shorter
    /// (§3.4), or to the first interface-identifier word that is not 0xFFFF
    /// for /49–/64 (§3.5). A result of 0xFFFF is written 0x0000 (§3.4:
    /// the two are one value in one's complement).
    ///
    /// # Errors
    /// [`Untranslatable`] when the adjusted word would be 0xFFFF (/48 or
    /// shorter), or every IID word is (longer prefixes).
    pub fn apply(&self, a: u128) -> Result<u128, Untranslatable> {
        let old = words(a);
        let moved = self.to | (a & !self.mask());
        let mut w = words(moved);
        let k = if self.len <= 48 {
            if w[3] == 0xffff {
                return Err(Untranslatable);
            }
            3
        } else {
            (4..8).find(|&i| w[i] != 0xffff).ok_or(Untranslatable)?
        };
        // Checksum neutrality: sum(new) must equal sum(old). The adjusted
        // word lies outside both prefixes, so it is the same in `old` and
        // `moved`; add sum(old) - sum(moved) to it.
        let old_sum = sum16(&old);
        let new_sum = sum16(&w);
        let mut x = u32::from(w[k]) + old_sum + (!new_sum & 0xffff);
        while x > 0xffff {
            x = (x & 0xffff) + (x >> 16);
        }
        w[k] = if x == 0xffff { 0 } else { x as u16 };
        let mut out = [0u8; 16];
        for (i, v) in w.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        Ok(u128::from_be_bytes(out))
    }
}

/// The IPv6 address on `side` of the header at `offset`.
pub fn v6_addr_at(frame: &[u8], offset: usize, side: Side) -> Option<u128> {
    let at = offset + side.v6_offset();
    Some(u128::from_be_bytes(
        frame.get(at..at + 16)?.try_into().ok()?,
    ))
}

/// Write the IPv6 address on `side` of the header at `offset`. Returns
/// whether the frame was long enough.
pub fn set_v6_addr_at(frame: &mut [u8], offset: usize, side: Side, a: u128) -> bool {
    let at = offset + side.v6_offset();
    match frame.get_mut(at..at + 16) {
        Some(s) => {
            s.copy_from_slice(&a.to_be_bytes());
            true
        }
        None => false,
    }
}

/// The offset of the IPv6 header an ICMPv6 error quotes, when the packet
/// is such an error and quotes a whole header.
pub fn quoted_v6(frame: &[u8], info: &PacketInfo) -> Option<usize> {
    if info.protocol != 58 || !info.has_l4() || !is_icmpv6_error(info.icmp_type()) {
        return None;
    }
    let inner = usize::from(info.l4_offset) + 8;
    if inner + 40 > l3_end(frame, info) || frame.get(inner)? >> 4 != 6 {
        return None;
    }
    Some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map4_keeps_host_bits() {
        let m = Map4 {
            from: 0xc0a8_0100,
            to: 0xcb00_7100,
            len: 24,
        };
        assert!(m.contains(0xc0a8_010a));
        assert!(!m.contains(0xc0a8_020a));
        assert_eq!(m.apply(0xc0a8_010a), 0xcb00_710a);
        assert_eq!(m.reverse().apply(0xcb00_710a), 0xc0a8_010a);
        let one = Map4 {
            from: 0x0a00_0001,
            to: 0xcb00_7101,
            len: 32,
        };
        assert_eq!(one.apply(0x0a00_0001), 0xcb00_7101);
    }

    // RFC 6296 §3.1's worked example: fd01:0203:0405::/48 inside,
    // 2001:0db8:0001::/48 outside; 0xd550 is the example's adjustment
    // result for subnet word 0x0001.
    #[test]
    fn nptv6_rfc6296_example() {
        let inside: u128 = 0xfd01_0203_0405_0001_0000_0000_0000_1234;
        let n = Npt {
            from: 0xfd01_0203_0405_0000_0000_0000_0000_0000,
            to: 0x2001_0db8_0001_0000_0000_0000_0000_0000,
            len: 48,
        };
        let out = n.apply(inside).unwrap();
        assert_eq!(out, 0x2001_0db8_0001_d550_0000_0000_0000_1234);
        assert_eq!(sum16(&words(out)), sum16(&words(inside)));
        assert_eq!(n.reverse().apply(out).unwrap(), inside);
    }

    #[test]
    fn nptv6_refuses_subnet_ffff() {
        let n = Npt {
            from: 0xfd01_0203_0405_0000_0000_0000_0000_0000,
            to: 0x2001_0db8_0001_0000_0000_0000_0000_0000,
            len: 48,
        };
        assert_eq!(
            n.apply(0xfd01_0203_0405_ffff_0000_0000_0000_0001),
            Err(Untranslatable)
        );
    }
}
