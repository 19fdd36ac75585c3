//! Software segmentation (spec §10): a local sender's GSO super-packet (a
//! TCP or UDP segment of up to 64 KiB that the kernel meant a NIC to cut
//! up) is cut here into wire-size frames, each in its own pool buffer, as
//! the NIC would have: headers copied, IPv4 length, ID and header checksum,
//! IPv6 payload length, TCP sequence number and flags (FIN and PSH only on
//! the last segment, CWR only on the first), UDP length, and a full L4
//! checksum per segment.
//!
//! It runs where such packets enter (an AF_PACKET port with
//! PACKET_VNET_HDR says which frames are GSO and their segment size), so
//! the pipeline only ever sees frames that fit a buffer and the wire.

use orbital_buf::{Packet, PoolCache};
use orbital_wire::{IpProtocol, L3Kind, LinkType, PacketInfo, checksum, parse};

/// Why a super-packet could not be segmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GsoError {
    /// The headers do not parse as Ethernet + IP + TCP/UDP.
    #[error("GSO frame does not parse as TCP or UDP over IP")]
    Malformed,
    /// A zero segment size, or headers + one segment over a buffer.
    #[error("GSO segment size does not fit a buffer")]
    BadSize,
    /// The pool ran out of buffers part way (the segments made are freed).
    #[error("no buffer for a GSO segment")]
    NoBuffer,
}

/// Cut `frame` (Ethernet) into segments of at most `mss` payload bytes,
/// handing each to `emit`. Returns how many were made.
///
/// # Errors
/// [`GsoError`]; nothing is emitted then.
pub fn segment(
    frame: &[u8],
    mss: usize,
    cache: &mut PoolCache,
    emit: &mut impl FnMut(Packet),
) -> Result<usize, GsoError> {
    let mut info = PacketInfo::default();
    parse(frame, LinkType::Ethernet, &mut info).map_err(|_| GsoError::Malformed)?;
    let proto = match info.protocol {
        6 => IpProtocol::Tcp,
        17 => IpProtocol::Udp,
        _ => return Err(GsoError::Malformed),
    };
    let (l3, l4, hdr) = (
        usize::from(info.l3_offset),
        usize::from(info.l4_offset),
        usize::from(info.payload_offset),
    );
    let end = l3 + info.l3_len as usize;
    if l4 == 0 || hdr <= l4 || end > frame.len() || hdr > end {
        return Err(GsoError::Malformed);
    }
    let v4 = match info.l3 {
        L3Kind::Ipv4 => true,
        L3Kind::Ipv6 => false,
        _ => return Err(GsoError::Malformed),
    };
    let room = cache.pool().data_room();
    // Every length written below is at most hdr - l3 + mss: an IP total
    // length (or IPv6 payload length + 40) that must fit 16 bits.
    if mss == 0 || hdr + mss > room || u16::try_from(hdr - l3 + mss).is_err() {
        return Err(GsoError::BadSize);
    }
    let len16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    let payload = &frame[hdr..end];
    let count = payload.len().div_ceil(mss).max(1);
    let mut made = Vec::with_capacity(count);
    for (i, chunk) in payload
        .chunks(mss)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        let Some(mut p) = cache.alloc() else {
            for p in made {
                cache.free(p);
            }
            return Err(GsoError::NoBuffer);
        };
        // Checked above: headers + one segment fit the data room.
        let _ = p.extend_from_slice(&frame[..hdr]) && p.extend_from_slice(chunk);
        let l4_len = hdr - l4 + chunk.len();
        if v4 {
            let tot = len16(hdr - l3 + chunk.len());
            p[l3 + 2..l3 + 4].copy_from_slice(&tot.to_be_bytes());
            // IDs count on modulo 2^16: the masked narrowing is that modulo.
            #[allow(clippy::cast_possible_truncation)]
            let id = u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]])
                .wrapping_add((i & 0xffff) as u16);
            p[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            p[l3 + 10..l3 + 12].fill(0);
            let hl = usize::from(info.l3_header_len);
            let c = checksum::checksum(&p[l3..l3 + hl]);
            p[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
        } else {
            let plen = len16(hdr - l3 - 40 + chunk.len());
            p[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
        }
        let last = i + 1 == count;
        let field = if proto == IpProtocol::Tcp {
            // Sequence numbers are modulo 2^32 (RFC 9293 §3.4): the masked
            // narrowing is that modulo.
            #[allow(clippy::cast_possible_truncation)]
            let seq =
                u32::from_be_bytes([frame[l4 + 4], frame[l4 + 5], frame[l4 + 6], frame[l4 + 7]])
                    .wrapping_add(((i * mss) & 0xffff_ffff) as u32);
            p[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            const FIN: u8 = 0x01;
            const PSH: u8 = 0x08;
            const CWR: u8 = 0x80;
            if !last {
                p[l4 + 13] &= !(FIN | PSH);
            }
            if i > 0 {
                p[l4 + 13] &= !CWR;
            }
            16
        } else {
            p[l4 + 4..l4 + 6].copy_from_slice(&len16(l4_len).to_be_bytes());
            6
        };
        p[l4 + field..l4 + field + 2].fill(0);
        let pseudo = if v4 {
            checksum::pseudo_header_v4(
                std::net::Ipv4Addr::from_bits(crate::csum::v4_bits(info.src)),
                std::net::Ipv4Addr::from_bits(crate::csum::v4_bits(info.dst)),
                proto,
                u32::from(len16(l4_len)),
            )
        } else {
            checksum::pseudo_header_v6(
                std::net::Ipv6Addr::from_bits(info.src),
                std::net::Ipv6Addr::from_bits(info.dst),
                proto,
                u32::from(len16(l4_len)),
            )
        };
        let mut c = checksum::transport(pseudo, &p[l4..l4 + l4_len]);
        if c == 0 && proto == IpProtocol::Udp {
            c = 0xffff;
        }
        p[l4 + field..l4 + field + 2].copy_from_slice(&c.to_be_bytes());
        p.meta.offload = orbital_buf::Offload::NONE;
        made.push(p);
    }
    let n = made.len();
    for p in made {
        emit(p);
    }
    Ok(n)
}

#[cfg(test)]
// Fixtures: tags, offsets and lengths are small constants or masked values
// chosen to fit; a truncation would fail the assertions that use them.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};

    fn tcp4_super(payload_len: usize, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20 + payload_len];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let tot = (40 + payload_len) as u16;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&tot.to_be_bytes());
        f[18..20].copy_from_slice(&0x1234u16.to_be_bytes());
        f[20] = 0x40;
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 2]);
        f[30..34].copy_from_slice(&[192, 0, 2, 2]);
        let t = 34;
        f[t..t + 2].copy_from_slice(&40000u16.to_be_bytes());
        f[t + 2..t + 4].copy_from_slice(&5201u16.to_be_bytes());
        f[t + 4..t + 8].copy_from_slice(&1000u32.to_be_bytes());
        f[t + 12] = 5 << 4;
        f[t + 13] = flags;
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    fn valid_l4(p: &[u8]) -> bool {
        let mut info = PacketInfo::default();
        parse(p, LinkType::Ethernet, &mut info).unwrap();
        let l4 = usize::from(info.l4_offset);
        let end = usize::from(info.l3_offset) + info.l3_len as usize;
        let pseudo = checksum::pseudo_header_v4(
            std::net::Ipv4Addr::from_bits(info.src as u32),
            std::net::Ipv4Addr::from_bits(info.dst as u32),
            IpProtocol::from(info.protocol),
            (end - l4) as u32,
        );
        checksum::transport(pseudo, &p[l4..end]) == 0 && checksum::checksum(&p[14..34]) == 0
    }

    #[test]
    fn tcp_super_packet_becomes_wire_frames() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut cache = pool.cache(64);
        let f = tcp4_super(10_000, 0x18 | 0x01 | 0x80); // PSH ACK FIN CWR
        let mut out = Vec::new();
        let n = segment(&f, 1448, &mut cache, &mut |p| out.push(p)).unwrap();
        assert_eq!(n, 7);
        let mut payload = Vec::new();
        for (i, p) in out.iter().enumerate() {
            assert!(valid_l4(p), "segment {i} checksums");
            let seq = u32::from_be_bytes([p[38], p[39], p[40], p[41]]);
            assert_eq!(seq, 1000 + (i * 1448) as u32);
            let id = u16::from_be_bytes([p[18], p[19]]);
            assert_eq!(id, 0x1234 + i as u16);
            let flags = p[47];
            let last = i == n - 1;
            assert_eq!(flags & 0x01 != 0, last, "FIN only last");
            assert_eq!(flags & 0x08 != 0, last, "PSH only last");
            assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
            assert_eq!(flags & 0x10, 0x10, "ACK everywhere");
            let tot = u16::from_be_bytes([p[16], p[17]]) as usize;
            assert_eq!(tot + 14, p.len());
            payload.extend_from_slice(&p[54..]);
        }
        assert_eq!(payload, f[54..]);
    }

    #[test]
    fn refuses_what_it_cannot_cut() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut cache = pool.cache(8);
        let f = tcp4_super(3000, 0x10);
        let mut none = |_p: Packet| panic!("nothing may be emitted");
        assert_eq!(
            segment(&f, 0, &mut cache, &mut none),
            Err(GsoError::BadSize)
        );
        assert_eq!(
            segment(&f, 4000, &mut cache, &mut none),
            Err(GsoError::BadSize)
        );
        assert_eq!(
            segment(&f[..20], 1448, &mut cache, &mut none),
            Err(GsoError::Malformed)
        );
        let tiny = Pool::new(PoolConfig {
            buffers: 1,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut c1 = tiny.cache(2);
        assert_eq!(
            segment(&f, 1448, &mut c1, &mut none),
            Err(GsoError::NoBuffer)
        );
        drop(c1);
        assert_eq!(tiny.stats().in_use, 0, "partial work is given back");
    }
}
