//! Memory ports: a port whose "wire" is a pair of rings. Tests and benchmarks
//! push frames into its receive ring and read what it transmits; the replay
//! driver uses them to hand packets to workers.

use orbital_buf::{Batch, Packet, PoolCache};

use crate::ring::{RingRx, RingTx, ring};
use crate::{Capabilities, Port, PortStats, TxResult};

/// A traffic generator and sink: receive copies prebuilt frames into pool
/// buffers round-robin (one copy per packet, as a NIC's DMA would cost, like
/// DPDK's pcap PMD with `infinite_rx`), stamping the RSS hash a NIC would
/// give; transmit counts and frees. For throughput benchmarks.
#[derive(Debug)]
pub struct TrafficPort {
    frames: std::sync::Arc<Vec<(Vec<u8>, u32)>>,
    next: usize,
    stats: PortStats,
}

impl TrafficPort {
    /// A generator over `frames` (frame bytes and flow hash), starting at
    /// frame `start`.
    pub fn new(frames: std::sync::Arc<Vec<(Vec<u8>, u32)>>, start: usize) -> TrafficPort {
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
        let n_frames = self.frames.len();
        if n_frames == 0 {
            return 0;
        }
        let mut n = 0;
        while n < max && batch.room() > 0 {
            let Some(mut p) = cache.alloc() else {
                self.stats.rx_dropped += 1;
                break;
            };
            let (frame, hash) = &self.frames[self.next];
            self.next = if self.next + 1 == n_frames {
                0
            } else {
                self.next + 1
            };
            p.extend_from_slice(frame);
            p.meta.flow_hash = *hash;
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

    #[inline]
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let mut r = TxResult::default();
        match &mut self.tx {
            Some(tx) => {
                for p in batch.drain() {
                    let len = p.len() as u64;
                    match tx.push(p) {
                        Ok(()) => {
                            r.sent += 1;
                            self.stats.tx_bytes += len;
                        }
                        Err(p) => {
                            r.dropped += 1;
                            cache.free(p);
                        }
                    }
                }
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
    fn frames_go_round_and_full_rings_drop() {
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
        // 6 packets into a 4-slot ring: 4 sent, 2 dropped and freed.
        assert_eq!(
            port.tx_burst(&mut b, &mut cache),
            TxResult {
                sent: 4,
                dropped: 2
            }
        );
        assert!(b.is_empty());
        let s = port.stats();
        assert_eq!((s.rx_packets, s.tx_packets, s.tx_dropped), (3, 4, 2));
        let mut got = 0;
        while let Some(p) = peer.from_port.pop() {
            got += 1;
            cache.free(p);
        }
        assert_eq!(got, 4);
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }
}
