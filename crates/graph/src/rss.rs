//! Receive-side scaling in software (spec §6.2): the Toeplitz hash NICs use
//! (Microsoft RSS spec), over source/destination address and ports, and an
//! indirection table from hash to worker.
//!
//! With the symmetric key (0x6d5a repeated: Woo & Park, "Scalable TCP Session
//! Monitoring with Symmetric RSS") both directions of a flow hash alike, so a
//! conversation — and its NAT/conntrack state and MAC learning — stays on one
//! worker. The hash is computed with a per-byte lookup table (one load and
//! one XOR per input byte instead of 8 shifts).

use orbital_wire::{IpProtocol, L3Kind, PacketInfo};

/// The key in Microsoft's RSS verification suite (and most NIC defaults).
pub const MICROSOFT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// A key that hashes (a, b) and (b, a) alike.
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// Longest input: IPv6 source, destination and two ports.
const MAX_INPUT: usize = 36;

/// A Toeplitz hasher for one key, with its lookup table.
#[derive(Debug, Clone)]
pub struct Toeplitz {
    table: Box<[[u32; 256]; MAX_INPUT]>,
}

impl Toeplitz {
    /// Precompute the table for `key`.
    pub fn new(key: &[u8; 40]) -> Toeplitz {
        let mut table = Box::new([[0u32; 256]; MAX_INPUT]);
        for (pos, row) in table.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                let mut h = 0u32;
                for bit in 0..8 {
                    if v & (0x80 >> bit) != 0 {
                        h ^= window(key, pos * 8 + bit);
                    }
                }
                *slot = h;
            }
        }
        Toeplitz { table }
    }

    /// Hash `input` (at most 36 bytes).
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input
            .iter()
            .zip(self.table.iter())
            .fold(0, |h, (&b, row)| h ^ row[usize::from(b)])
    }

    /// The RSS hash of a parsed packet: 4-tuple for TCP/UDP/SCTP first
    /// fragments and unfragmented packets, addresses only otherwise (as NICs
    /// do, so all fragments of a datagram meet on one worker). 0 for non-IP.
    #[inline]
    pub fn hash_packet(&self, info: &PacketInfo) -> u32 {
        let ports = info.has_l4()
            && !info.frag.is_fragment()
            && matches!(
                info.ip_protocol(),
                IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp
            );
        let mut buf = [0u8; MAX_INPUT];
        let n = match info.l3 {
            L3Kind::Ipv4 => {
                buf[..4].copy_from_slice(&(info.src as u32).to_be_bytes());
                buf[4..8].copy_from_slice(&(info.dst as u32).to_be_bytes());
                8
            }
            L3Kind::Ipv6 => {
                buf[..16].copy_from_slice(&info.src.to_be_bytes());
                buf[16..32].copy_from_slice(&info.dst.to_be_bytes());
                32
            }
            _ => return 0,
        };
        let n = if ports {
            buf[n..n + 2].copy_from_slice(&info.src_port.to_be_bytes());
            buf[n + 2..n + 4].copy_from_slice(&info.dst_port.to_be_bytes());
            n + 4
        } else {
            n
        };
        self.hash(&buf[..n])
    }
}

/// 32 key bits starting at bit `start`.
fn window(key: &[u8; 40], start: usize) -> u32 {
    (0..32).fold(0u32, |w, i| {
        let b = start + i;
        let bit = key.get(b / 8).map_or(0, |k| (k >> (7 - b % 8)) & 1);
        (w << 1) | u32::from(bit)
    })
}

/// Hash → worker, through a 128-entry indirection table as NICs use.
#[derive(Debug, Clone)]
pub struct Reta {
    table: [u16; 128],
}

impl Reta {
    /// Spread evenly over `workers` (at least one).
    pub fn new(workers: usize) -> Reta {
        let n = workers.max(1);
        Reta {
            table: std::array::from_fn(|i| (i % n) as u16),
        }
    }

    /// The worker for `hash`.
    #[inline]
    pub fn worker(&self, hash: u32) -> usize {
        usize::from(self.table[(hash & 127) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Microsoft's RSS verification suite, IPv4 with TCP ports.
    #[test]
    fn microsoft_verification_vectors() {
        let t = Toeplitz::new(&MICROSOFT_KEY);
        // (source, destination, source port, destination port, hash of the
        // addresses, hash with ports)
        type Case = ([u8; 4], [u8; 4], u16, u16, u32, u32);
        let cases: [Case; 3] = [
            (
                [66, 9, 149, 187],
                [161, 142, 100, 80],
                2794,
                1766,
                0x323e_8fc2,
                0x51cc_c178,
            ),
            (
                [199, 92, 111, 2],
                [65, 69, 140, 83],
                14230,
                4739,
                0xd718_262a,
                0xc626_b0ea,
            ),
            (
                [24, 19, 198, 95],
                [12, 22, 207, 184],
                12898,
                38024,
                0xd2d0_a5de,
                0x5c2b_394a,
            ),
        ];
        for (src, dst, sp, dp, ip_only, with_ports) in cases {
            let mut input = Vec::new();
            input.extend_from_slice(&src);
            input.extend_from_slice(&dst);
            assert_eq!(t.hash(&input), ip_only);
            input.extend_from_slice(&sp.to_be_bytes());
            input.extend_from_slice(&dp.to_be_bytes());
            assert_eq!(t.hash(&input), with_ports);
        }
    }

    #[test]
    fn symmetric_key_is_symmetric() {
        let t = Toeplitz::new(&SYMMETRIC_KEY);
        let mut a = PacketInfo {
            l3: L3Kind::Ipv4,
            src: 0x0a00_0001,
            dst: 0xc633_6401,
            src_port: 40000,
            dst_port: 443,
            protocol: 6,
            l4_offset: 34,
            ..PacketInfo::default()
        };
        let h1 = t.hash_packet(&a);
        std::mem::swap(&mut a.src, &mut a.dst);
        std::mem::swap(&mut a.src_port, &mut a.dst_port);
        assert_eq!(t.hash_packet(&a), h1);
        let reta = Reta::new(3);
        assert!(reta.worker(h1) < 3);
    }
}
