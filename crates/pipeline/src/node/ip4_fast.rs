//! ip4-fast node: the common case of a router — an untagged IPv4 unicast
//! packet without options or fragmentation, to a routed port's MAC, towards
//! a resolved gateway it fits — parsed, checked, looked up and rewritten in
//! one pass over the burst (VPP's ip4-input → ip4-lookup → ip4-rewrite,
//! fused). It runs only when nothing sits at the hooks it would skip
//! (prerouting, forward, postrouting: every node there inactive) and no
//! packet of the burst is traced; anything it does not take it leaves
//! untouched for parse → l2 → route → rewrite, which decide it in full.
//!
//! What it checks is what those nodes check for such a packet: the header
//! is well formed (version, IHL 5, lengths), its checksum is right unless
//! the NIC verified it (RFC 1812 §5.2.2), neither address is martian
//! (§5.3.7), the TTL does not expire (§5.3.1), it fits the egress MTU, and
//! the next hop's MAC is known. The rewrite is the rewrite node's: MACs,
//! TTL − 1 with the checksum patched (RFC 1624), Ethernet padding removed.
//! The property test in `tests/fast_path.rs` holds its output, byte for
//! byte, to the full path's.
//!
//! Position: the received burst, ahead of parse. Reads: the frame,
//! `meta.port`, `meta.offload`, the tables. Sets: `ctx.info`,
//! `ctx.iface_in`, `ctx.egress`, `ctx.rewritten`, `Verdict::Tx`,
//! `meta.flow_hash` (when the port gave none). Drops: none (doubtful
//! packets go the full way).

use orbital_buf::{MAX_BURST, Offload, Packet};
use orbital_fib::{Tables, rfc1812};
use orbital_graph::{Burst, Features, Node, NodeCx, Verdict};
use orbital_wire::ipv4::Ipv4Packet;
use orbital_wire::{EthernetAddress, EthernetFrame, FragInfo, L3Kind, PacketInfo};

/// The fused node; its state is the bulk lookup's scratch space.
#[derive(Debug, Clone)]
pub struct Ip4Fast {
    addr: [u32; MAX_BURST],
    idx: [u8; MAX_BURST],
    found: [u32; MAX_BURST],
    taken: usize,
}

impl Default for Ip4Fast {
    fn default() -> Self {
        Ip4Fast {
            addr: [0; MAX_BURST],
            idx: [0; MAX_BURST],
            found: [0; MAX_BURST],
            taken: 0,
        }
    }
}

impl<F: Features> Node<F> for Ip4Fast {
    fn name(&self) -> &'static str {
        "ip4-fast"
    }

    fn drops(&self) -> bool {
        false
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        self.fast(cx, b);
    }
}

/// The summary of a plain IPv4 frame (IHL 5, not a fragment) into `info`,
/// every field as `orbital_wire::parse` would write it; false (and `info`
/// partly written, for the full parse to overwrite) when it is anything
/// else. In place: the summary is 80 bytes, too dear to move per packet.
#[inline(always)]
fn quick_parse(frame: &[u8], csum_verified: bool, info: &mut PacketInfo) -> bool {
    quick(frame, csum_verified, info).is_some()
}

#[inline(always)]
fn quick(frame: &[u8], csum_verified: bool, info: &mut PacketInfo) -> Option<()> {
    let f: &[u8; 34] = frame.get(..34)?.try_into().ok()?;
    if f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 {
        return None;
    }
    let h = &f[14..34];
    let total = u16::from_be_bytes([h[2], h[3]]);
    let flags = u16::from_be_bytes([h[6], h[7]]);
    if total < 20 || usize::from(total) > frame.len() - 14 || flags & 0x3fff != 0 {
        return None;
    }
    if !csum_verified {
        let mut sum = 0u32;
        for w in h.chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        let sum = (sum & 0xffff) + (sum >> 16);
        if (sum & 0xffff) + (sum >> 16) != 0xffff {
            return None;
        }
    }
    let protocol = h[9];
    let l4 = &frame[34..14 + usize::from(total)];
    // Ports for TCP/UDP (the flow hash and any later match read them);
    // anything else is left to the full parse.
    let (src_port, dst_port, l4_flags, hlen4) = match protocol {
        6 => {
            let t: &[u8; 20] = l4.get(..20)?.try_into().ok()?;
            let off = usize::from(t[12] >> 4) * 4;
            if off < 20 || off > l4.len() {
                return None;
            }
            (
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
                u16::from_be_bytes([t[12], t[13]]) & 0x01ff,
                off,
            )
        }
        17 => {
            let u: &[u8; 8] = l4.get(..8)?.try_into().ok()?;
            let len = usize::from(u16::from_be_bytes([u[4], u[5]]));
            if len < 8 || len > l4.len() {
                return None;
            }
            (
                u16::from_be_bytes([u[0], u[1]]),
                u16::from_be_bytes([u[2], u[3]]),
                0,
                8,
            )
        }
        _ => return None,
    };
    *info = PacketInfo {
        l3_offset: 14,
        l4_offset: 34,
        payload_offset: (34 + hlen4) as u16,
        l3_len: u32::from(total),
        ethertype: 0x0800,
        vlans: Default::default(),
        vlan_count: 0,
        l3: L3Kind::Ipv4,
        protocol,
        ttl: h[8],
        tos: h[1],
        l3_header_len: 20,
        dont_frag: flags & 0x4000 != 0,
        source_route: false,
        frag: FragInfo::default(),
        src: u128::from(u32::from_be_bytes([h[12], h[13], h[14], h[15]])),
        dst: u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]])),
        src_port,
        dst_port,
        l4_flags,
    };
    Some(())
}

impl Ip4Fast {
    #[inline]
    fn fast<P>(&mut self, cx: &mut NodeCx<'_, P>, b: &mut Burst<'_>) {
        let snap = cx.snap;
        let t: &Tables = &snap.fib;
        let routed = &t.ifs.routed[..];
        let mut n = 0;
        let sel = b.sel;
        for &i in sel {
            let (Some(p), Some(c)) = (
                b.pkts.get_mut(usize::from(i)),
                b.ctx.get_mut(usize::from(i)),
            ) else {
                continue;
            };
            let Some(&Some((iface, mac))) = routed.get(usize::from(p.meta.port)) else {
                continue;
            };
            if p.get(0..6) != Some(&mac.0[..])
                || !quick_parse(
                    p,
                    p.meta.offload.contains(Offload::RX_CSUM_GOOD),
                    &mut c.info,
                )
            {
                continue;
            }
            c.iface_in = iface;
            if p.meta.flow_hash == 0 {
                p.meta.flow_hash = cx.rss.hash_packet(&c.info);
            }
            self.addr[n] = c.info.dst as u32;
            self.idx[n] = i;
            n += 1;
        }
        let mut taken = 0;
        t.fib4.lookup_bulk(&self.addr[..n], &mut self.found[..n]);
        for k in 0..n {
            let i = usize::from(self.idx[k]);
            let (Some(p), Some(c)) = (b.pkts.get_mut(i), b.ctx.get_mut(i)) else {
                continue;
            };
            if let Some(adj) = rfc1812::fast_forward_v4(t, &c.info, self.found[k]) {
                let (Some(port), Some(dst_mac)) = (adj.port, adj.dst_mac) else {
                    continue;
                };
                rewrite(p, &c.info, dst_mac.0, adj.src_mac.0);
                let e = &mut c.egress;
                e.port = port;
                e.dst_mac = dst_mac;
                e.src_mac = adj.src_mac;
                e.vlan_tag = None;
                e.iface = adj.iface;
                e.mtu = adj.mtu;
                e.routed = true;
                e.fragment = false;
                c.rewritten = true;
                c.verdict = Verdict::Tx;
                taken += 1;
            }
        }
        self.taken = taken;
    }

    /// Packets the last run took (the rest are for the full path).
    pub fn taken(&self) -> usize {
        self.taken
    }
}

/// The rewrite node's work for this packet shape (untagged in and out).
#[inline(always)]
fn rewrite(p: &mut Packet, info: &PacketInfo, dst: [u8; 6], src: [u8; 6]) {
    let end = 14 + info.l3_len as usize;
    if p.len() > end {
        p.truncate(end);
    }
    let Some(h) = p.get_mut(..34) else { return };
    let mut eth = EthernetFrame::new_unchecked(&mut h[..14]);
    eth.set_dst_addr(EthernetAddress(dst));
    eth.set_src_addr(EthernetAddress(src));
    // TTL > 1 (fast_forward_v4); the checksum patched by RFC 1624.
    Ipv4Packet::new_unchecked(&mut h[14..34]).decrement_ttl();
}
