//! Packet builders for the conntrack tests: raw IPv4/IPv6 packets parsed by
//! the data plane's own parser, so the tests see exactly what a node sees.
#![allow(dead_code, unreachable_pub)]

use orbital_conntrack::{ConnTrack, Track, l4_bytes};
use orbital_wire::{LinkType, PacketInfo, parse};

pub const SEC: u64 = 1_000_000_000;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// A parsed packet.
#[derive(Debug, Clone)]
pub struct Pkt {
    pub frame: Vec<u8>,
    pub info: PacketInfo,
}

impl Pkt {
    pub fn new(frame: Vec<u8>) -> Pkt {
        let mut info = PacketInfo::default();
        parse(&frame, LinkType::RawIp, &mut info).expect("test packet parses");
        Pkt { frame, info }
    }

    pub fn l4(&self) -> &[u8] {
        l4_bytes(&self.frame, &self.info)
    }
}

pub fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

pub fn v6(s: &str) -> u128 {
    s.parse::<core::net::Ipv6Addr>().unwrap().to_bits()
}

/// An IP packet around `l4`; IPv6 when either address does not fit 32 bits
/// or `ipv6` is set.
pub fn ip(src: u128, dst: u128, proto: u8, l4: &[u8], ipv6: bool) -> Vec<u8> {
    if ipv6 {
        let mut f = vec![0x60, 0, 0, 0];
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[proto, 64]);
        f.extend_from_slice(&src.to_be_bytes());
        f.extend_from_slice(&dst.to_be_bytes());
        f.extend_from_slice(l4);
        f
    } else {
        let total = (20 + l4.len()) as u16;
        let mut f = vec![0x45, 0];
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&(src as u32).to_be_bytes());
        f.extend_from_slice(&(dst as u32).to_be_bytes());
        f.extend_from_slice(l4);
        f
    }
}

/// TCP header (with `opts`, padded to 4 bytes) and `payload_len` zero bytes.
#[allow(clippy::too_many_arguments)]
pub fn tcp_l4(
    sp: u16,
    dp: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: &[u8],
    payload_len: usize,
) -> Vec<u8> {
    let mut o = opts.to_vec();
    while o.len() % 4 != 0 {
        o.push(1);
    }
    let hlen = 20 + o.len();
    let mut t = Vec::new();
    t.extend_from_slice(&sp.to_be_bytes());
    t.extend_from_slice(&dp.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&win.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&o);
    t.resize(hlen + payload_len, 0);
    t
}

/// Window-scale option bytes.
pub fn wscale(shift: u8) -> [u8; 3] {
    [3, 3, shift]
}

/// One endpoint pair of a TCP connection, for building its segments.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub a: u128,
    pub b: u128,
    pub ap: u16,
    pub bp: u16,
    pub ipv6: bool,
}

impl Flow {
    pub fn v4(a: [u8; 4], ap: u16, b: [u8; 4], bp: u16) -> Flow {
        Flow {
            a: v4(a),
            b: v4(b),
            ap,
            bp,
            ipv6: false,
        }
    }

    /// Segment from A (the client) to B.
    pub fn ab(&self, seq: u32, ack: u32, flags: u8, win: u16, opts: &[u8], len: usize) -> Pkt {
        let l4 = tcp_l4(self.ap, self.bp, seq, ack, flags, win, opts, len);
        Pkt::new(ip(self.a, self.b, 6, &l4, self.ipv6))
    }

    /// Segment from B to A.
    pub fn ba(&self, seq: u32, ack: u32, flags: u8, win: u16, opts: &[u8], len: usize) -> Pkt {
        let l4 = tcp_l4(self.bp, self.ap, seq, ack, flags, win, opts, len);
        Pkt::new(ip(self.b, self.a, 6, &l4, self.ipv6))
    }

    pub fn udp_ab(&self, len: usize) -> Pkt {
        Pkt::new(ip(
            self.a,
            self.b,
            17,
            &udp_l4(self.ap, self.bp, len),
            self.ipv6,
        ))
    }

    pub fn udp_ba(&self, len: usize) -> Pkt {
        Pkt::new(ip(
            self.b,
            self.a,
            17,
            &udp_l4(self.bp, self.ap, len),
            self.ipv6,
        ))
    }
}

pub fn udp_l4(sp: u16, dp: u16, len: usize) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sp.to_be_bytes());
    u.extend_from_slice(&dp.to_be_bytes());
    u.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.resize(8 + len, 0);
    u
}

/// ICMP/ICMPv6 header (type, code, id, seq) and `data`.
pub fn icmp_l4(ty: u8, code: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    m
}

/// Track with policy version 1, creating, and confirm what it created (the
/// firewall accepted the packet).
pub fn go(ct: &mut ConnTrack, p: &Pkt, now: u64) -> Track {
    let t = ct.track(&p.info, p.l4(), now, 1, true);
    if let Some(h) = t.handle {
        ct.confirm(h);
    }
    t
}

/// A completed three-way handshake A→B, ISNs 1000 (A) and 5000 (B), window
/// 65535 both ways, no options. Returns the handle.
pub fn handshake(ct: &mut ConnTrack, f: &Flow, now: u64) -> orbital_conntrack::CtHandle {
    let h = go(ct, &f.ab(1000, 0, SYN, 65535, &[], 0), now)
        .handle
        .unwrap();
    go(ct, &f.ba(5000, 1001, SYN | ACK, 65535, &[], 0), now);
    go(ct, &f.ab(1001, 5001, ACK, 65535, &[], 0), now);
    h
}
