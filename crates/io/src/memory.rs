//! Memory ports: a port whose "wire" is a pair of rings. Tests and benchmarks
//! push frames into its receive ring and read what it transmits; the replay
//! driver uses them to hand packets to workers.

use orbital_buf::{Batch, Packet, PoolCache};

use crate::ring::{RingRx, RingTx, ring};
use crate::{Capabilities, Port, PortStats, TxResult};

/// Prebuilt frames for a [`TrafficPort`], laid out as a NIC's receive ring
/// would hold them: one flat array, a fixed stride per frame, so producing
/// a frame costs one copy from one place (a `Vec` per frame would add a
/// pointer chase — a second cache miss per packet with many flows — that
/// no NIC imposes).
#[derive(Debug, Default)]
pub struct TrafficFrames {
    data: Vec<u8>,
    stride: usize,
    lens: Vec<u32>,
    hashes: Vec<u32>,
}

impl TrafficFrames {
    /// Lay out `frames` (bytes and flow hash).
    pub fn new(frames: &[(Vec<u8>, u32)]) -> TrafficFrames {
        // A whole number of cache lines per frame.
        let stride = frames
            .iter()
            .map(|(f, _)| f.len())
            .max()
            .unwrap_or(0)
            .next_multiple_of(64);
        let mut data = vec![0u8; stride * frames.len()];
        for ((f, _), slot) in frames.iter().zip(data.chunks_exact_mut(stride.max(1))) {
            slot[..f.len()].copy_from_slice(f);
        }
        TrafficFrames {
            data,
            stride,
            lens: frames
                .iter()
                .map(|(f, _)| u32::try_from(f.len()).unwrap_or(u32::MAX))
                .collect(),
            hashes: frames.iter().map(|&(_, h)| h).collect(),
        }
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    #[inline]
    fn frame(&self, i: usize) -> &[u8] {
        let start = i * self.stride;
        let len = self.lens.get(i).map_or(0, |&l| l as usize);
        self.data.get(start..start + len).unwrap_or(&[])
    }
}

/// A traffic generator and sink: receive copies prebuilt frames into pool
/// buffers round-robin (one copy per packet, as a NIC's DMA would cost, like
/// DPDK's pcap PMD with `infinite_rx`), stamping the RSS hash a NIC would
/// give; transmit counts and frees. For throughput benchmarks.
#[derive(Debug)]
pub struct TrafficPort {
    frames: std::sync::Arc<TrafficFrames>,
    next: usize,
    stats: PortStats,
}

/// How many frames ahead receive prefetches its source (a NIC's DMA has
/// the data in flight before the driver looks; this is the software
/// equivalent for the copy).
const PREFETCH_AHEAD: usize = 8;

impl TrafficPort {
    /// A generator over `frames`, starting at frame `start`.
    pub fn new(frames: std::sync::Arc<TrafficFrames>, start: usize) -> TrafficPort {
        TrafficPort {
            next: start,
            frames,
            stats: PortStats::default(),
        }
    }
}

impl Port for TrafficPort {
    #[inline]
    fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        let f = &*self.frames;
        let n_frames = f.len();
        if n_frames == 0 {
            return 0;
        }
        let mut n = 0;
        while n < max && batch.room() > 0 {
            let Some(mut p) = cache.alloc() else {
                self.stats.rx_dropped += 1;
                break;
            };
            let ahead = (self.next + PREFETCH_AHEAD) % n_frames;
            orbital_cpu::prefetch(f.frame(ahead).as_ptr());
            let frame = f.frame(self.next);
            let hash = f.hashes.get(self.next).copied().unwrap_or(0);
            self.next = if self.next + 1 == n_frames {
                0
            } else {
                self.next + 1
            };
            p.extend_from_slice(frame);
            p.meta.flow_hash = hash;
            self.stats.rx_bytes += frame.len() as u64;
            let _ = batch.push(p);
            n += 1;
        }
        self.stats.rx_packets += n as u64;
        n
    }

    #[inline]
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        self.stats.discard(batch, cache)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::SOFTWARE
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

/// A port over rings: receives from one, transmits into the other.
#[derive(Debug)]
pub struct MemoryPort {
    rx: Option<RingRx<Packet>>,
    tx: Option<RingTx<Packet>>,
    stats: PortStats,
}

/// The far side of a [`MemoryPort`]'s rings.
#[derive(Debug)]
pub struct MemoryPeer {
    /// Feeds the port's receive side.
    pub to_port: RingTx<Packet>,
    /// Drains what the port transmits.
    pub from_port: RingRx<Packet>,
}

/// A memory port and its peer, each ring of `capacity` packets.
pub fn link(capacity: usize) -> (MemoryPort, MemoryPeer) {
    let (to_port, rx, _) = ring(capacity);
    let (tx, from_port, _) = ring(capacity);
    (
        MemoryPort::new(Some(rx), Some(tx)),
        MemoryPeer { to_port, from_port },
    )
}

impl MemoryPort {
    /// A port over the given ring ends (either may be absent).
    pub fn new(rx: Option<RingRx<Packet>>, tx: Option<RingTx<Packet>>) -> MemoryPort {
        MemoryPort {
            rx,
            tx,
            stats: PortStats::default(),
        }
    }
}

impl Port for MemoryPort {
    #[inline]
    fn rx_burst(&mut self, _cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        let Some(rx) = &mut self.rx else { return 0 };
        let mut n = 0;
        while n < max && batch.room() > 0 {
            let Some(p) = rx.pop() else { break };
            self.stats.rx_bytes += p.len() as u64;
            // Cannot fail: room was checked.
            let _ = batch.push(p);
            n += 1;
        }
        self.stats.rx_packets += n as u64;
        n
    }

    /// Push packets into the transmit ring until it is full; the rest stay
    /// in the batch. A port without a transmit ring discards everything
    /// (counted as dropped: there is no device to wait for).
    #[inline]
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let mut r = TxResult::default();
        match &mut self.tx {
            Some(tx) => {
                // Room only grows while we push (the consumer frees slots),
                // so stopping at the room seen now never has a push refused
                // (which the ring would count as a drop).
                let room = tx.room();
                let (mut bytes, mut n) = (0, 0);
                r.sent = batch.hand_off(|p| {
                    if n == room {
                        return Err(p);
                    }
                    let len = p.len() as u64;
                    tx.push(p).map(|()| {
                        bytes += len;
                        n += 1;
                    })
                });
                self.stats.tx_bytes += bytes;
                tx.observe_depth();
            }
            None => {
                r.dropped = batch.len();
                cache.free_all(batch.drain());
            }
        }
        self.stats.tx_packets += r.sent as u64;
        self.stats.tx_dropped += r.dropped as u64;
        r
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::SOFTWARE
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};

    #[test]
    fn frames_go_round_and_a_full_ring_leaves_the_rest_in_the_batch() {
        let pool = Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(16);
        let (mut port, mut peer) = link(4);
        for i in 0..3u8 {
            let mut p = cache.alloc().unwrap();
            p.extend_from_slice(&[i; 60]);
            peer.to_port.push(p).unwrap();
        }
        let mut b = Batch::new();
        assert_eq!(port.rx_burst(&mut cache, &mut b, 2), 2);
        assert_eq!(port.rx_burst(&mut cache, &mut b, 256), 1);
        for _ in 0..3 {
            let mut p = cache.alloc().unwrap();
            p.extend_from_slice(&[9; 60]);
            b.push(p).unwrap();
        }
        // 6 packets into a 4-slot ring: 4 sent, the last 2 left, in order.
        assert_eq!(
            port.tx_burst(&mut b, &mut cache),
            TxResult {
                sent: 4,
                dropped: 0
            }
        );
        assert_eq!(b.len(), 2);
        assert_eq!((b.as_slice()[0][0], b.as_slice()[1][0]), (9, 9));
        let s = port.stats();
        assert_eq!((s.rx_packets, s.tx_packets, s.tx_dropped), (3, 4, 0));
        let mut got = Vec::new();
        while let Some(p) = peer.from_port.pop() {
            got.push(p[0]);
            cache.free(p);
        }
        assert_eq!(got, [0, 1, 2, 9]);
        // Room again: the leftovers go, in order.
        assert_eq!(port.tx_burst(&mut b, &mut cache).sent, 2);
        assert!(b.is_empty());
        while let Some(p) = peer.from_port.pop() {
            cache.free(p);
        }
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }
}

#[cfg(test)]
mod sink_tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};

    fn batch(cache: &mut PoolCache, n: usize) -> Batch {
        let mut b = Batch::new();
        for _ in 0..n {
            let mut p = cache.alloc().unwrap();
            p.extend_from_slice(&[1; 60]);
            b.push(p).unwrap();
        }
        b
    }

    #[test]
    fn sinks_take_everything_and_portless_memory_drops_it() {
        let pool = Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(16);
        let mut b = batch(&mut cache, 5);
        let mut traffic = TrafficPort::new(std::sync::Arc::new(TrafficFrames::default()), 0);
        let r = traffic.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped, b.len()), (5, 0, 0));
        assert_eq!(traffic.stats().tx_bytes, 300);
        let mut b = batch(&mut cache, 3);
        let mut null = crate::NullPort::default();
        assert_eq!(null.tx_burst(&mut b, &mut cache).sent, 3);
        assert!(b.is_empty());
        let mut b = batch(&mut cache, 4);
        let mut rx_only = MemoryPort::new(None, None);
        let r = rx_only.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped, b.len()), (0, 4, 0));
        assert_eq!(rx_only.stats().tx_dropped, 4);
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn traffic_gives_each_frame_as_laid_out_round_robin() {
        let pool = Pool::new(PoolConfig {
            buffers: 64,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(16);
        let frames: Vec<(Vec<u8>, u32)> =
            vec![(vec![7; 60], 11), (vec![8; 130], 22), (vec![9; 64], 33)];
        let mut port = TrafficPort::new(std::sync::Arc::new(TrafficFrames::new(&frames)), 1);
        let mut b = Batch::new();
        assert_eq!(port.rx_burst(&mut cache, &mut b, 5), 5);
        let got: Vec<(Vec<u8>, u32)> = b
            .as_slice()
            .iter()
            .map(|p| (p.to_vec(), p.meta.flow_hash))
            .collect();
        let want: Vec<(Vec<u8>, u32)> =
            [1, 2, 0, 1, 2].iter().map(|&i| frames[i].clone()).collect();
        assert_eq!(got, want);
        cache.free_all(b.drain());
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }
}
