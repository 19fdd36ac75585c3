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
//!
//! The ring is read one block at a time, and only once the kernel has
//! handed that block over. Every offset and length in it (first-frame
//! offset, next-frame links, MAC offset, snap length) is checked against
//! that block, not the whole ring: a frame that points outside is dropped
//! and counted (`malformed`), and a broken link ends the block.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use orbital_buf::{Batch, Offload, PoolCache};

use crate::sys;
use crate::{Capabilities, OpenError, PortStats, TxResult, open_error as err};

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
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
const BLK_STATUS: usize = sys::TPACKET_BLOCK_STATUS;
const BLK_NUM_PKTS: usize = 12;
const BLK_FIRST: usize = 16;
/// sizeof(struct tpacket_block_desc): no frame starts inside it.
const BLK_HDR_LEN: usize = 48;
// struct tpacket3_hdr field offsets.
const PKT_NEXT: usize = 0;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_VLAN_TCI: usize = 32;
const PKT_VLAN_TPID: usize = 36;
/// sizeof(struct tpacket3_hdr): a frame's bytes start after it.
const PKT_HDR_LEN: usize = 48;

/// PACKET_MR_PROMISC as packet_mreq's u16 `mr_type`.
#[allow(clippy::cast_possible_truncation)] // 1, asserted to fit just below
const MR_PROMISC: u16 = {
    assert!(libc::PACKET_MR_PROMISC >= 0 && libc::PACKET_MR_PROMISC <= 0xffff);
    libc::PACKET_MR_PROMISC as u16
};

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
    /// Block being read, and where in it (`None`: not started).
    block: u32,
    walk: Option<BlockWalk>,
    stats: PortStats,
    /// Segments of a GSO super-packet that did not fit the last batch.
    pending: std::collections::VecDeque<orbital_buf::Packet>,
    /// Frames longer than a pool buffer that are not GSO (jumbo frames).
    pub oversize: u64,
    /// GSO super-packets cut into wire frames.
    pub gso_segmented: u64,
    /// GSO super-packets that could not be cut (malformed, no buffer).
    pub gso_failed: u64,
    /// Frames lost to a ring header whose offsets or lengths point outside
    /// its block (also counted in `rx_dropped`); the kernel never writes
    /// one, so anything here means a corrupt ring.
    pub malformed: u64,
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
                mr_ifindex: i32::try_from(ifindex).map_err(|_| {
                    err(dev, "interface index out of range")(io::Error::from_raw_os_error(
                        libc::ENODEV,
                    ))
                })?,
                mr_type: MR_PROMISC,
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
        // More workers than a u16 counts are still "many queues".
        let queues = u16::try_from(workers).unwrap_or(u16::MAX);
        let caps = crate::ethtool::capabilities(&fd, dev, queues);
        Ok(AfPacketPort {
            fd,
            ring,
            cfg: cfg.clone(),
            caps,
            block: 0,
            walk: None,
            stats: PortStats::default(),
            pending: std::collections::VecDeque::new(),
            oversize: 0,
            gso_segmented: 0,
            gso_failed: 0,
            malformed: 0,
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
        let block_size = self.cfg.block_size as usize;
        while n < max && batch.room() > 0 {
            // `None` while the kernel still fills the block.
            let Some(block) = self.ring.tpacket_block(self.block_base(), block_size) else {
                break;
            };
            let walk = match self.walk {
                Some(w) => w,
                None => BlockWalk::start(block).unwrap_or_else(|lost| {
                    self.malformed += u64::from(lost);
                    self.stats.rx_dropped += u64::from(lost);
                    BlockWalk::EMPTY
                }),
            };
            let walk = self.walk.insert(walk);
            let mut finished = false;
            while n < max && batch.room() > 0 {
                let f = match walk.step(block) {
                    Step::End => {
                        finished = true;
                        break;
                    }
                    Step::Malformed(lost) => {
                        self.malformed += u64::from(lost);
                        self.stats.rx_dropped += u64::from(lost);
                        continue;
                    }
                    Step::Frame(f) => f,
                };
                if f.data.len() < f.wire_len {
                    self.oversize += 1;
                    self.stats.rx_dropped += 1;
                    continue;
                }
                let gso_type = f.vnet[1] & !VIRTIO_NET_HDR_GSO_ECN;
                if gso_type != VIRTIO_NET_HDR_GSO_NONE {
                    let gso_size = u16::from_le_bytes([f.vnet[4], f.vnet[5]]);
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
                    match crate::gso::segment(f.data, usize::from(gso_size), cache, &mut emit) {
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
                let frame = f.data;
                let ok = match f.vlan {
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
                if f.status & TP_STATUS_CSUMNOTREADY != 0 {
                    crate::csum::complete(&mut p);
                } else if f.status & TP_STATUS_CSUM_VALID != 0 {
                    p.meta.offload.insert(Offload::RX_CSUM_GOOD);
                }
                self.stats.rx_bytes += p.len() as u64;
                let _ = batch.push(p);
                n += 1;
            }
            if !finished {
                break;
            }
            self.release_block();
        }
        // A block read to its last frame goes back now, not next burst.
        if self.walk.is_some_and(|w| w.left == 0) {
            self.release_block();
        }
        self.stats.rx_packets += n as u64;
        n
    }

    fn release_block(&mut self) {
        let base = self.block_base();
        self.ring.store_release(base + BLK_STATUS, TP_STATUS_KERNEL);
        self.block = (self.block + 1) % self.cfg.blocks;
        self.walk = None;
    }

    /// Transmit frames from the front of the batch with as few syscalls as
    /// it takes, until the kernel has no room (its queue or our send buffer
    /// full): the rest stay in the batch, in order. A frame the kernel
    /// refuses for itself (larger than the device's MTU, the device down...)
    /// is dropped and the ones after it still go.
    pub fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let (mut sent, mut dropped) = (0, 0);
        // Packets taken from the front: sent or dropped.
        let mut done = 0;
        {
            let pkts = batch.as_slice();
            let mut frames: [&[u8]; sys::SEND_CHUNK] = [&[]; sys::SEND_CHUNK];
            while done < pkts.len() {
                let chunk = (pkts.len() - done).min(sys::SEND_CHUNK);
                for (f, p) in frames.iter_mut().zip(&pkts[done..done + chunk]) {
                    *f = &p[..];
                }
                match sys::send_frames(&self.fd, &VNET_HDR_NONE, &frames[..chunk]) {
                    Ok(k) if k > 0 => {
                        for p in &pkts[done..done + k] {
                            self.stats.tx_bytes += p.len() as u64;
                        }
                        sent += k;
                        done += k;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(_) => break,
                    Err(e) if sys::is_no_room(&e) => break,
                    // sendmmsg reports an error only when the first message
                    // of the call failed: that frame is the one refused.
                    Err(_) => {
                        dropped += 1;
                        done += 1;
                    }
                }
            }
        }
        cache.free_all(batch.drain_front(done));
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

/// One frame of a TPACKET_V3 block, every kernel-supplied offset and length
/// checked against that block.
#[derive(Debug, PartialEq, Eq)]
struct RingFrame<'a> {
    /// The captured bytes: `tp_snaplen` of them at `tp_mac`.
    data: &'a [u8],
    /// The virtio-net header just in front of them (PACKET_VNET_HDR).
    vnet: [u8; VNET_HDR_LEN],
    /// Length on the wire (`tp_len`): more than `data.len()` if truncated.
    wire_len: usize,
    /// `tp_status`.
    status: u32,
    /// The VLAN tag the kernel took out of the frame: TPID, TCI.
    vlan: Option<(u16, u16)>,
}

/// What one step through a block found.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    /// A frame that lies wholly inside the block.
    Frame(RingFrame<'a>),
    /// Frames lost to bad offsets: 1 for a frame whose bytes do not fit the
    /// block, or every frame the block still claims when the next header is
    /// outside it (nothing after it can be found).
    Malformed(u32),
    /// No frame left.
    End,
}

/// A reader's place in one TPACKET_V3 block: where the next frame header
/// starts (from the block's start) and how many frames the block still
/// claims. Each step reads only inside the block it is given, whatever the
/// headers say, so a corrupt ring costs frames, never a read elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockWalk {
    next: usize,
    left: u32,
}

impl BlockWalk {
    /// A block with nothing (left) to read.
    const EMPTY: BlockWalk = BlockWalk { next: 0, left: 0 };

    /// Begin `block`, the whole block from its header on.
    ///
    /// # Errors
    /// The number of frames the block claims when its first-frame offset
    /// points into its header or past its end: none of them can be found.
    fn start(block: &[u8]) -> Result<BlockWalk, u32> {
        let (Some(left), Some(first)) = (read_u32(block, BLK_NUM_PKTS), read_u32(block, BLK_FIRST))
        else {
            return Err(0);
        };
        let first = first as usize;
        if left > 0 && !(BLK_HDR_LEN..block.len()).contains(&first) {
            return Err(left);
        }
        Ok(BlockWalk { next: first, left })
    }

    /// The next frame of `block` (the same block `start` was given).
    fn step<'a>(&mut self, block: &'a [u8]) -> Step<'a> {
        if self.left == 0 {
            return Step::End;
        }
        let at = self.next;
        let Some(h) = at
            .checked_add(PKT_HDR_LEN)
            .and_then(|end| block.get(at..end))
        else {
            return Step::Malformed(std::mem::take(&mut self.left));
        };
        // `h` holds a whole header: these reads are in bounds.
        let r32 = |o| read_u32(h, o).unwrap_or(0);
        let r16 = |o| read_u16(h, o).unwrap_or(0);
        self.left -= 1;
        // A zero link ends the block whatever its count says.
        match (r32(PKT_NEXT) as usize, at) {
            (0, _) => self.left = 0,
            (next, at) => match at.checked_add(next) {
                Some(n) => self.next = n,
                None => self.left = 0,
            },
        }
        let (mac, snap) = (usize::from(r16(PKT_MAC)), r32(PKT_SNAPLEN) as usize);
        // The frame and the virtio-net header before it must lie after this
        // frame's own header and end inside the block.
        let bytes = (mac >= PKT_HDR_LEN + VNET_HDR_LEN)
            .then(|| {
                let start = at.checked_add(mac)?;
                let data = block.get(start..start.checked_add(snap)?)?;
                let vnet = block.get(start - VNET_HDR_LEN..start)?.try_into().ok()?;
                Some((data, vnet))
            })
            .flatten();
        let Some((data, vnet)) = bytes else {
            return Step::Malformed(1);
        };
        let status = r32(PKT_STATUS);
        let vlan = (status & TP_STATUS_VLAN_VALID != 0).then(|| {
            let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 {
                r16(PKT_VLAN_TPID)
            } else {
                0x8100
            };
            // The TCI is a u32 field holding 16 bits.
            (tpid, (r32(PKT_VLAN_TCI) & 0xffff) as u16)
        });
        Step::Frame(RingFrame {
            data,
            vnet,
            wire_len: r32(PKT_LEN) as usize,
            status,
            vlan,
        })
    }
}

/// The native-endian u32 at `at` in `b`, if it lies inside.
fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(w.try_into().ok()?))
}

/// The native-endian u16 at `at` in `b`, if it lies inside.
fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let w = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(w.try_into().ok()?))
}

#[cfg(test)]
impl AfPacketPort {
    /// A port over a stand-in socket and ring, for tests that play the
    /// kernel's side.
    fn from_parts(fd: OwnedFd, ring: sys::Mapping, cfg: &AfPacketConfig) -> AfPacketPort {
        AfPacketPort {
            fd,
            ring,
            cfg: cfg.clone(),
            caps: Capabilities::SOFTWARE,
            block: 0,
            walk: None,
            stats: PortStats::default(),
            pending: std::collections::VecDeque::new(),
            oversize: 0,
            gso_segmented: 0,
            gso_failed: 0,
            malformed: 0,
        }
    }
}

#[cfg(test)]
// Fixtures: tags, offsets and lengths are small constants or masked values
// chosen to fit; a truncation would fail the assertions that use them.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};

    const BLOCK: usize = 4096;
    /// Where the kernel puts a frame's MAC header: after its tpacket3_hdr,
    /// a sockaddr_ll and the virtio-net header (what 6.x kernels use).
    const MAC: u16 = 82;

    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// An empty block handed to user space, claiming `frames` frames from
    /// offset `first`.
    fn block(frames: u32, first: u32) -> Vec<u8> {
        let mut b = vec![0; BLOCK];
        put32(&mut b, BLK_STATUS, 1);
        put32(&mut b, BLK_NUM_PKTS, frames);
        put32(&mut b, BLK_FIRST, first);
        b
    }

    /// A frame header at `at` linking to `next`, its bytes at `at + mac`
    /// (written when they fit the block).
    fn frame(b: &mut [u8], at: usize, next: u32, mac: u16, data: &[u8]) {
        put32(b, at + PKT_NEXT, next);
        put32(b, at + PKT_SNAPLEN, data.len() as u32);
        put32(b, at + PKT_LEN, data.len() as u32);
        put16(b, at + PKT_MAC, mac);
        let start = at + usize::from(mac);
        if let Some(dst) = b.get_mut(start..start + data.len()) {
            dst.copy_from_slice(data);
        }
    }

    fn frames_of(b: &[u8]) -> (Vec<Vec<u8>>, u32) {
        let mut walk = BlockWalk::start(b).expect("a good block header");
        let (mut got, mut lost) = (Vec::new(), 0);
        loop {
            match walk.step(b) {
                Step::Frame(f) => got.push(f.data.to_vec()),
                Step::Malformed(n) => lost += n,
                Step::End => return (got, lost),
            }
        }
    }

    #[test]
    fn walks_linked_frames_in_order() {
        let mut b = block(3, 48);
        frame(&mut b, 48, 200, MAC, b"first");
        frame(&mut b, 248, 200, MAC, b"second");
        frame(&mut b, 448, 0, MAC, b"third");
        assert_eq!(
            frames_of(&b),
            (
                vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()],
                0
            )
        );
    }

    #[test]
    fn a_zero_link_ends_the_block_whatever_its_count() {
        let mut b = block(1000, 48);
        frame(&mut b, 48, 0, MAC, b"only");
        assert_eq!(frames_of(&b), (vec![b"only".to_vec()], 0));
    }

    #[test]
    fn first_offset_outside_the_block_loses_its_frames() {
        for first in [0, 47, BLOCK as u32, BLOCK as u32 + 1, u32::MAX] {
            assert_eq!(BlockWalk::start(&block(5, first)), Err(5), "first {first}");
        }
        // A header too short to hold the count: nothing claimed, nothing read.
        assert_eq!(BlockWalk::start(&[1u8; 15]), Err(0));
        // An empty block may say anything about where frames would start.
        let walk = BlockWalk::start(&block(0, u32::MAX)).unwrap();
        assert_eq!(walk.left, 0);
    }

    #[test]
    fn a_link_past_the_block_loses_the_rest_and_reads_nothing_there() {
        let mut b = block(4, 48);
        frame(&mut b, 48, u32::MAX, MAC, b"kept");
        assert_eq!(frames_of(&b), (vec![b"kept".to_vec()], 3));
        // A header that starts inside the block but ends past it.
        let mut b = block(2, 48);
        frame(&mut b, 48, (BLOCK - 48 - 20) as u32, MAC, b"kept");
        assert_eq!(frames_of(&b), (vec![b"kept".to_vec()], 1));
    }

    #[test]
    fn frame_bytes_outside_the_block_drop_that_frame_only() {
        let mut b = block(4, 48);
        // Snap length running past the end.
        frame(&mut b, 48, 200, MAC, b"x");
        put32(&mut b, 48 + PKT_SNAPLEN, BLOCK as u32);
        // MAC offset past the end.
        frame(&mut b, 248, 200, u16::MAX, b"y");
        // MAC offset inside the frame's own header (no room for vnet).
        frame(&mut b, 448, 200, 50, b"z");
        frame(&mut b, 648, 0, MAC, b"good");
        assert_eq!(frames_of(&b), (vec![b"good".to_vec()], 3));
        // Largest snap length: no overflow, just a drop.
        let mut b = block(1, 48);
        frame(&mut b, 48, 0, MAC, b"");
        put32(&mut b, 48 + PKT_SNAPLEN, u32::MAX);
        assert_eq!(frames_of(&b), (vec![], 1));
    }

    #[test]
    fn vlan_and_lengths_come_from_the_header() {
        let mut b = block(1, 48);
        frame(&mut b, 48, 0, MAC, &[7; 60]);
        put32(&mut b, 48 + PKT_LEN, 1500);
        put32(&mut b, 48 + PKT_STATUS, TP_STATUS_VLAN_VALID);
        put32(&mut b, 48 + PKT_VLAN_TCI, 0xdead_0064);
        let mut walk = BlockWalk::start(&b).unwrap();
        let Step::Frame(f) = walk.step(&b) else {
            panic!("a frame")
        };
        assert_eq!((f.data.len(), f.wire_len), (60, 1500));
        assert_eq!(f.vlan, Some((0x8100, 0x0064)));
    }

    /// Random headers: every step ends, and every frame lies inside the block.
    #[test]
    fn garbage_blocks_never_lead_outside() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2000 {
            let mut b = block((rand() % 64) as u32, 48 + (rand() % 64) as u32);
            let mut at = 48;
            while at + PKT_HDR_LEN < BLOCK {
                let r = rand();
                put32(&mut b, at + PKT_NEXT, (r % 700) as u32);
                put32(&mut b, at + PKT_SNAPLEN, (r >> 16) as u32 % 5000);
                put16(&mut b, at + PKT_MAC, (r >> 40) as u16 % 3000);
                at += 1 + (r >> 50) as usize % 300;
            }
            let range = b.as_ptr_range();
            let Ok(mut walk) = BlockWalk::start(&b) else {
                continue;
            };
            for _ in 0..=BLOCK {
                match walk.step(&b) {
                    Step::Frame(f) => {
                        let r = f.data.as_ptr_range();
                        assert!(range.start <= r.start && r.end <= range.end);
                    }
                    Step::Malformed(_) => {}
                    Step::End => break,
                }
            }
            assert_eq!(walk.step(&b), Step::End, "a walk always ends");
        }
    }

    fn port(blocks: u32) -> AfPacketPort {
        let cfg = AfPacketConfig {
            block_size: BLOCK as u32,
            blocks,
            ..AfPacketConfig::new("fake0")
        };
        let (a, _b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let ring = sys::Mapping::anonymous(BLOCK * blocks as usize).unwrap();
        AfPacketPort::from_parts(OwnedFd::from(a), ring, &cfg)
    }

    #[test]
    fn rx_burst_drops_malformed_frames_and_hands_the_block_back() {
        let pool = Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(16);
        let mut port = port(2);
        let mut b = block(3, 48);
        frame(&mut b, 48, 200, MAC, &[1; 60]);
        frame(&mut b, 248, 200, MAC, &[2; 60]);
        put32(&mut b, 248 + PKT_SNAPLEN, 5000);
        frame(&mut b, 448, 0, MAC, &[3; 60]);
        port.ring.fill(0, &b);
        let mut batch = Batch::new();
        assert_eq!(port.rx_burst(&mut cache, &mut batch, 64), 2);
        assert_eq!(batch.as_slice()[0][..], [1; 60]);
        assert_eq!(batch.as_slice()[1][..], [3; 60]);
        assert_eq!((port.stats().rx_dropped, port.malformed), (1, 1));
        assert_eq!(port.ring.load_acquire(BLK_STATUS), TP_STATUS_KERNEL);
        assert_eq!(port.block, 1);
        // Block 1 is still the kernel's: nothing to read, nothing touched.
        assert_eq!(port.rx_burst(&mut cache, &mut batch, 64), 0);
        // Then it arrives with a first-frame offset past its end.
        port.ring.fill(BLOCK, &block(9, BLOCK as u32 + 8));
        assert_eq!(port.rx_burst(&mut cache, &mut batch, 64), 0);
        assert_eq!((port.stats().rx_dropped, port.malformed), (10, 10));
        assert_eq!(port.ring.load_acquire(BLOCK + BLK_STATUS), TP_STATUS_KERNEL);
        assert_eq!(port.block, 0);
        cache.free_all(batch.drain());
    }

    #[test]
    fn a_full_batch_keeps_the_place_in_the_block() {
        let pool = Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(16);
        let mut port = port(1);
        let mut b = block(3, 48);
        for (i, at) in [48usize, 248, 448].into_iter().enumerate() {
            let next = if i == 2 { 0 } else { 200 };
            frame(&mut b, at, next, MAC, &[i as u8; 60]);
        }
        port.ring.fill(0, &b);
        let mut batch = Batch::new();
        assert_eq!(port.rx_burst(&mut cache, &mut batch, 2), 2);
        assert_eq!(port.ring.load_acquire(BLK_STATUS), 1, "still ours");
        assert_eq!(port.rx_burst(&mut cache, &mut batch, 2), 1);
        assert_eq!(batch.as_slice()[2][..], [2; 60]);
        assert_eq!(port.ring.load_acquire(BLK_STATUS), TP_STATUS_KERNEL);
        cache.free_all(batch.drain());
    }

    /// `n` frames of `len` bytes, frame `i` filled with byte `i`.
    fn tagged(cache: &mut PoolCache, n: usize, len: usize) -> Batch {
        let mut b = Batch::new();
        for i in 0..n {
            let mut p = cache.alloc().unwrap();
            assert!(p.extend_from_slice(&vec![i as u8; len]));
            b.push(p).unwrap();
        }
        b
    }

    /// Every datagram waiting on `peer`, each a `len`-byte frame after the
    /// 10-byte vnet header (checked to be all zero): the tag byte of each.
    fn received(peer: &std::os::unix::net::UnixDatagram, len: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0; 1 << 16];
        while let Ok(n) = peer.recv(&mut buf) {
            assert_eq!(n, VNET_HDR_LEN + len);
            assert_eq!(buf[..VNET_HDR_LEN], VNET_HDR_NONE);
            got.push(buf[VNET_HDR_LEN]);
        }
        got
    }

    fn port_with_peer() -> (AfPacketPort, std::os::unix::net::UnixDatagram) {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let cfg = AfPacketConfig {
            block_size: BLOCK as u32,
            blocks: 1,
            ..AfPacketConfig::new("fake0")
        };
        let ring = sys::Mapping::anonymous(BLOCK).unwrap();
        (AfPacketPort::from_parts(OwnedFd::from(a), ring, &cfg), b)
    }

    #[test]
    fn tx_sends_until_the_socket_is_full_and_keeps_the_rest_in_order() {
        let pool = Pool::new(PoolConfig {
            buffers: 512,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(64);
        let (mut port, peer) = port_with_peer();
        // 256 KiB: more than a Unix socket's default send buffer or queue.
        let mut batch = tagged(&mut cache, 256, 1000);
        let r = port.tx_burst(&mut batch, &mut cache);
        assert!(r.sent > 0 && r.sent < 256, "sent {}", r.sent);
        assert_eq!((r.dropped, batch.len()), (0, 256 - r.sent));
        assert_eq!(
            batch.as_slice()[0][0],
            r.sent as u8,
            "the rest, from the first unsent"
        );
        let mut got = received(&peer, 1000);
        assert_eq!(got.len(), r.sent);
        // Each retry sends more once the peer has read: all arrive in order.
        while !batch.is_empty() {
            let r = port.tx_burst(&mut batch, &mut cache);
            assert!(r.sent > 0 && r.dropped == 0);
            got.extend(received(&peer, 1000));
        }
        assert_eq!(got, (0..=255).collect::<Vec<u8>>());
        let s = port.stats();
        assert_eq!((s.tx_packets, s.tx_bytes, s.tx_dropped), (256, 256_000, 0));
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn tx_drops_a_frame_the_kernel_refuses_and_sends_the_next() {
        // Buffers big enough for a frame no Unix socket takes (EMSGSIZE).
        let pool = Pool::new(PoolConfig {
            buffers: 4,
            data_room: 8 << 20,
            headroom: 128,
        })
        .unwrap();
        let mut cache = pool.cache(4);
        let (mut port, peer) = port_with_peer();
        let mut batch = Batch::new();
        for (tag, len) in [(0u8, 60), (1, 8 << 20), (2, 60)] {
            let mut p = cache.alloc().unwrap();
            assert!(p.extend_from_slice(&vec![tag; len]));
            batch.push(p).unwrap();
        }
        let r = port.tx_burst(&mut batch, &mut cache);
        assert_eq!((r.sent, r.dropped, batch.len()), (2, 1, 0));
        assert_eq!(received(&peer, 60), [0, 2]);
        assert_eq!(port.stats().tx_dropped, 1);
    }
}
