//! AF_PACKET port: a TPACKET_V3 memory-mapped receive ring and batched
//! `sendmmsg` transmit, one socket per worker joined in a PACKET_FANOUT
//! (hash) group so the kernel keeps each flow on one worker.
//!
//! Receive copies each frame from the ring into a pool buffer: the ring is
//! the kernel's memory, not the pool, and the copy lets a block go back to
//! the kernel as soon as it is read. Frames the kernel left with a partial
//! checksum (a local sender's CHECKSUM_PARTIAL, TP_STATUS_CSUMNOTREADY) are
//! completed here, so the rest of the pipeline and the next hop see a valid
//! packet; a VLAN tag the kernel stripped into metadata is put back.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use orbital_buf::{Batch, Offload, PoolCache};

use crate::sys;
use crate::{Capabilities, OpenError, PortStats, TxResult, open_error as err};

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
/// struct virtio_net_hdr, in front of each frame with PACKET_VNET_HDR.
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;
/// What we send in front of each frame: no checksum or GSO request.
const VNET_HDR_NONE: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

// struct tpacket_block_desc / tpacket_hdr_v1 field offsets.
const BLK_STATUS: usize = 8;
const BLK_NUM_PKTS: usize = 12;
const BLK_FIRST: usize = 16;
// struct tpacket3_hdr field offsets.
const PKT_NEXT: usize = 0;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_VLAN_TCI: usize = 32;
const PKT_VLAN_TPID: usize = 36;

/// Ring geometry and behaviour of an AF_PACKET port.
#[derive(Debug, Clone)]
pub struct AfPacketConfig {
    /// Linux interface.
    pub device: String,
    /// Ring block size (a power of two, multiple of the page size).
    pub block_size: u32,
    /// Blocks in the ring.
    pub blocks: u32,
    /// How long the kernel may keep a partly filled block before handing it
    /// over, milliseconds: the latency bound at low rates.
    pub block_timeout_ms: u32,
    /// Fanout group shared by the workers' sockets on this device.
    pub fanout_group: u16,
    /// Receive frames not addressed to the interface's own MAC.
    pub promiscuous: bool,
}

impl AfPacketConfig {
    /// Defaults for `device`: 16 blocks of 256 KiB (4 MiB), 1 ms timeout.
    pub fn new(device: &str) -> Self {
        AfPacketConfig {
            device: device.to_string(),
            block_size: 1 << 18,
            blocks: 16,
            block_timeout_ms: 1,
            fanout_group: 0,
            promiscuous: true,
        }
    }
}

/// One worker's AF_PACKET socket on one interface.
#[derive(Debug)]
pub struct AfPacketPort {
    fd: OwnedFd,
    ring: sys::Mapping,
    cfg: AfPacketConfig,
    caps: Capabilities,
    /// Block being read, and the offset of its next frame (0: not started).
    block: u32,
    next_off: usize,
    left_in_block: u32,
    stats: PortStats,
    /// Segments of a GSO super-packet that did not fit the last batch.
    pending: std::collections::VecDeque<orbital_buf::Packet>,
    /// Frames longer than a pool buffer that are not GSO (jumbo frames).
    pub oversize: u64,
    /// GSO super-packets cut into wire frames.
    pub gso_segmented: u64,
    /// GSO super-packets that could not be cut (malformed, no buffer).
    pub gso_failed: u64,
}

impl AfPacketPort {
    /// Open a socket on `cfg.device`: TPACKET_V3 ring, bound, fanout joined
    /// (when `workers > 1`), promiscuous if asked.
    ///
    /// # Errors
    /// Which step failed and why (no such device, permission, ...).
    pub fn open(cfg: &AfPacketConfig, workers: usize) -> Result<AfPacketPort, OpenError> {
        let dev = cfg.device.as_str();
        let ifindex = sys::if_index(dev).map_err(err(dev, "no such interface"))?;
        let fd = sys::packet_socket().map_err(err(dev, "cannot create an AF_PACKET socket"))?;
        sys::setsockopt::<sys::PacketVersion>(&fd, &TPACKET_V3)
            .map_err(err(dev, "TPACKET_V3 refused"))?;
        // Our own transmissions must not come back as receptions.
        sys::setsockopt::<sys::PacketIgnoreOutgoing>(&fd, &1)
            .map_err(err(dev, "PACKET_IGNORE_OUTGOING refused"))?;
        // A virtio-net header before every frame says which are GSO
        // super-packets (and their segment size) and which checksums are
        // partial: a local sender's TSO does not become a drop.
        sys::setsockopt::<sys::PacketVnetHdr>(&fd, &1)
            .map_err(err(dev, "PACKET_VNET_HDR refused"))?;
        // Send straight to the driver: the data plane does its own queueing.
        let _ = sys::setsockopt::<sys::PacketQdiscBypass>(&fd, &1);
        let frame = 2048u32;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.blocks,
            tp_frame_size: frame,
            tp_frame_nr: cfg.block_size / frame * cfg.blocks,
            tp_retire_blk_tov: cfg.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sys::setsockopt::<sys::PacketRxRing>(&fd, &req)
            .map_err(err(dev, "receive ring refused"))?;
        let ring = sys::Mapping::new(&fd, cfg.block_size as usize * cfg.blocks as usize)
            .map_err(err(dev, "cannot map the receive ring"))?;
        sys::bind_packet(&fd, ifindex).map_err(err(dev, "cannot bind"))?;
        if cfg.promiscuous {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            sys::setsockopt::<sys::PacketAddMembership>(&fd, &mreq)
                .map_err(err(dev, "cannot enter promiscuous mode"))?;
        }
        if workers > 1 {
            let group = u32::from(cfg.fanout_group) | (ifindex & 0xff) << 8;
            let v = (group | ((libc::PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16))
                as libc::c_int;
            sys::setsockopt::<sys::PacketFanout>(&fd, &v)
                .map_err(err(dev, "cannot join the fanout group"))?;
        }
        let caps = crate::ethtool::capabilities(&fd, dev, workers as u16);
        Ok(AfPacketPort {
            fd,
            ring,
            cfg: cfg.clone(),
            caps,
            block: 0,
            next_off: 0,
            left_in_block: 0,
            stats: PortStats::default(),
            pending: std::collections::VecDeque::new(),
            oversize: 0,
            gso_segmented: 0,
            gso_failed: 0,
        })
    }

    fn block_base(&self) -> usize {
        self.block as usize * self.cfg.block_size as usize
    }

    /// Receive up to `max` frames (and at most `batch.room()`).
    pub fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        let mut n = 0;
        while n < max && batch.room() > 0 {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            self.stats.rx_bytes += p.len() as u64;
            let _ = batch.push(p);
            n += 1;
        }
        while n < max && batch.room() > 0 {
            let base = self.block_base();
            if self.next_off == 0 {
                if self.ring.load_acquire(base + BLK_STATUS) & TP_STATUS_USER == 0 {
                    break;
                }
                self.left_in_block = self.ring.load_acquire(base + BLK_NUM_PKTS);
                self.next_off = self.ring.load_acquire(base + BLK_FIRST) as usize;
            }
            if self.left_in_block == 0 {
                self.release_block();
                continue;
            }
            let at = base + self.next_off;
            let Some(h) = self.ring.bytes(at, 40) else {
                // A corrupt offset: give the block back rather than stall.
                self.release_block();
                continue;
            };
            let rd32 = |o: usize| u32::from_ne_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            let rd16 = |o: usize| u16::from_ne_bytes([h[o], h[o + 1]]);
            let (next, snap, wire, status, mac) = (
                rd32(PKT_NEXT) as usize,
                rd32(PKT_SNAPLEN) as usize,
                rd32(PKT_LEN) as usize,
                rd32(PKT_STATUS),
                rd16(PKT_MAC) as usize,
            );
            let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
                let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    rd16(PKT_VLAN_TPID)
                } else {
                    0x8100
                };
                (tpid, rd32(PKT_VLAN_TCI) as u16)
            });
            self.left_in_block -= 1;
            self.next_off += next;
            // A zero link ends the block whatever its count says.
            if next == 0 {
                self.left_in_block = 0;
            }
            let Some(frame) = self.ring.bytes(at + mac, snap) else {
                self.stats.rx_dropped += 1;
                continue;
            };
            if snap < wire {
                self.oversize += 1;
                self.stats.rx_dropped += 1;
                continue;
            }
            let vnet = mac
                .checked_sub(VNET_HDR_LEN)
                .and_then(|o| self.ring.bytes(at + o, VNET_HDR_LEN));
            let (gso_type, gso_size) = vnet.map_or((0, 0), |v| {
                (
                    v[1] & !VIRTIO_NET_HDR_GSO_ECN,
                    u16::from_le_bytes([v[4], v[5]]),
                )
            });
            if gso_type != VIRTIO_NET_HDR_GSO_NONE {
                let mut made = 0;
                let (batch_ref, pending) = (&mut *batch, &mut self.pending);
                let mut emit = |p: orbital_buf::Packet| {
                    if made < max - n {
                        if let Err(p) = batch_ref.push(p) {
                            pending.push_back(p);
                        } else {
                            made += 1;
                        }
                    } else {
                        pending.push_back(p);
                    }
                };
                match crate::gso::segment(frame, usize::from(gso_size), cache, &mut emit) {
                    Ok(_) => {
                        self.gso_segmented += 1;
                        for p in &batch.as_slice()[batch.len() - made..] {
                            self.stats.rx_bytes += p.len() as u64;
                        }
                        n += made;
                    }
                    Err(_) => {
                        self.gso_failed += 1;
                        self.stats.rx_dropped += 1;
                    }
                }
                continue;
            }
            let Some(mut p) = cache.alloc() else {
                self.stats.rx_dropped += 1;
                continue;
            };
            let ok = match vlan {
                Some((tpid, tci)) if frame.len() >= 12 => {
                    let mut tag = [0u8; 4];
                    tag[..2].copy_from_slice(&tpid.to_be_bytes());
                    tag[2..].copy_from_slice(&tci.to_be_bytes());
                    p.extend_from_slice(&frame[..12])
                        && p.extend_from_slice(&tag)
                        && p.extend_from_slice(&frame[12..])
                }
                _ => p.extend_from_slice(frame),
            };
            if !ok {
                self.oversize += 1;
                self.stats.rx_dropped += 1;
                cache.free(p);
                continue;
            }
            if status & TP_STATUS_CSUMNOTREADY != 0 {
                crate::csum::complete(&mut p);
            } else if status & TP_STATUS_CSUM_VALID != 0 {
                p.meta.offload.insert(Offload::RX_CSUM_GOOD);
            }
            self.stats.rx_bytes += p.len() as u64;
            let _ = batch.push(p);
            n += 1;
        }
        if self.next_off != 0 && self.left_in_block == 0 {
            self.release_block();
        }
        self.stats.rx_packets += n as u64;
        n
    }

    fn release_block(&mut self) {
        let base = self.block_base();
        self.ring.store_release(base + BLK_STATUS, TP_STATUS_KERNEL);
        self.block = (self.block + 1) % self.cfg.blocks;
        self.next_off = 0;
        self.left_in_block = 0;
    }

    /// Transmit the batch with as few syscalls as it takes; what the kernel
    /// refuses (its queue full) is freed and counted.
    pub fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let total = batch.len();
        let mut sent = 0;
        let mut refused = false;
        {
            let pkts = batch.as_slice();
            let mut frames: [&[u8]; sys::SEND_CHUNK] = [&[]; sys::SEND_CHUNK];
            while sent < total && !refused {
                let chunk = (total - sent).min(sys::SEND_CHUNK);
                for (f, p) in frames.iter_mut().zip(&pkts[sent..sent + chunk]) {
                    *f = &p[..];
                }
                match sys::send_frames(&self.fd, &VNET_HDR_NONE, &frames[..chunk]) {
                    Ok(k) if k > 0 => {
                        for p in &pkts[sent..sent + k] {
                            self.stats.tx_bytes += p.len() as u64;
                        }
                        sent += k;
                    }
                    Ok(_) => refused = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => refused = true,
                }
            }
        }
        cache.free_all(batch.drain());
        let dropped = total - sent;
        self.stats.tx_packets += sent as u64;
        self.stats.tx_dropped += dropped as u64;
        TxResult { sent, dropped }
    }

    /// Capabilities found when the port opened.
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Counters; the kernel's own drop count (ring full) is in `rx_dropped`
    /// as of the last [`AfPacketPort::refresh_kernel_drops`].
    pub fn stats(&self) -> PortStats {
        self.stats
    }

    /// Add the drops the kernel counted since the last call (frames it had
    /// no ring room for). Reading resets the kernel's counters.
    pub fn refresh_kernel_drops(&mut self) {
        if let Ok(d) = sys::packet_drops(&self.fd) {
            self.stats.rx_dropped += u64::from(d);
        }
    }

    /// The descriptor to wait on when idle.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
