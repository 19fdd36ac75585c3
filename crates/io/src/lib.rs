//! Ports: where packets enter and leave the data plane (spec §6), and the
//! lock-free rings that carry them between threads (spec §5).
//!
//! A [`Port`] is one worker's endpoint of one NIC queue pair: `rx_burst` fills
//! a batch with packets in pool buffers, `tx_burst` takes a batch away. Both
//! work on whole bursts and never block; a full transmit queue drops and
//! counts (spec §12). The shape is that of AF_XDP and AF_PACKET rings: the
//! kernel-facing backends (issue "Real I/O") implement the same trait.
//!
//! Backends here:
//! - [`memory`]: a pair of SPSC rings, for tests, benchmarks and handoffs;
//! - [`pcap`]: a capture file as the receive side and a capture file as the
//!   transmit side, the embedded default of `orbital replay`.
//!
//! [`AnyPort`] dispatches over the backends with a `match` per burst, not a
//! `dyn` call per packet.
#![forbid(unsafe_code)]

pub mod memory;
pub mod pcap;
pub mod ring;

use orbital_buf::{Batch, PoolCache};

pub use memory::{MemoryPort, TrafficPort};
pub use pcap::{PcapPortError, PcapRx, PcapTx};
pub use ring::{RingRx, RingStats, RingTx, ring};

/// What a port (its device) can do in hardware (spec §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Verifies IPv4/TCP/UDP checksums on receive.
    pub rx_checksum: bool,
    /// Completes partial L4 checksums on transmit.
    pub tx_checksum: bool,
    /// Segments TCP super-packets on transmit (TSO).
    pub tso: bool,
    /// Accepts generic segmentation offload super-packets.
    pub gso: bool,
    /// Hardware flow steering (ntuple filters).
    pub ntuple: bool,
    /// Receive queues.
    pub queues: u16,
    /// Largest frame it sends or receives.
    pub max_frame: u32,
}

/// Counters of one port endpoint, written by its owner only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames the device had but the port could not take (no buffer, ring full).
    pub rx_dropped: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the transmit queue refused (full).
    pub tx_dropped: u64,
}

impl PortStats {
    /// Field-wise sum (aggregating the endpoints of one port across workers).
    pub fn add(&mut self, o: &PortStats) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.rx_dropped += o.rx_dropped;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.tx_dropped += o.tx_dropped;
    }
}

/// What happened to a transmitted burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxResult {
    /// Packets handed to the device.
    pub sent: usize,
    /// Packets refused (queue full) and freed.
    pub dropped: usize,
}

/// One worker's endpoint of a port.
pub trait Port {
    /// Receive up to `max` packets (and at most `batch.room()`), appending
    /// them to `batch`. Returns how many were added. Never blocks.
    fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize;

    /// Transmit every packet of `batch`, leaving it empty: what the device
    /// cannot take is freed and counted. Never blocks.
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult;

    /// Device capabilities.
    fn capabilities(&self) -> Capabilities;

    /// Counters.
    fn stats(&self) -> PortStats;
}

/// Every backend, for static dispatch.
#[derive(Debug)]
pub enum AnyPort {
    /// Rings in memory.
    Memory(MemoryPort),
    /// A traffic generator and sink.
    Traffic(TrafficPort),
    /// Nothing: receives nothing, drops what it is given (counted as sent:
    /// a port left unwired in a replay).
    Null(NullPort),
}

impl Port for AnyPort {
    #[inline]
    fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        match self {
            AnyPort::Memory(p) => p.rx_burst(cache, batch, max),
            AnyPort::Traffic(p) => p.rx_burst(cache, batch, max),
            AnyPort::Null(p) => p.rx_burst(cache, batch, max),
        }
    }

    #[inline]
    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        match self {
            AnyPort::Memory(p) => p.tx_burst(batch, cache),
            AnyPort::Traffic(p) => p.tx_burst(batch, cache),
            AnyPort::Null(p) => p.tx_burst(batch, cache),
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self {
            AnyPort::Memory(p) => p.capabilities(),
            AnyPort::Traffic(p) => p.capabilities(),
            AnyPort::Null(p) => p.capabilities(),
        }
    }

    fn stats(&self) -> PortStats {
        match self {
            AnyPort::Memory(p) => p.stats(),
            AnyPort::Traffic(p) => p.stats(),
            AnyPort::Null(p) => p.stats(),
        }
    }
}

/// A port that receives nothing and discards what it sends (`/dev/null`).
#[derive(Debug, Default)]
pub struct NullPort {
    stats: PortStats,
}

impl Port for NullPort {
    fn rx_burst(&mut self, _cache: &mut PoolCache, _batch: &mut Batch, _max: usize) -> usize {
        0
    }

    fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let n = batch.len();
        for p in batch.drain() {
            self.stats.tx_bytes += p.len() as u64;
            cache.free(p);
        }
        self.stats.tx_packets += n as u64;
        TxResult {
            sent: n,
            dropped: 0,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            queues: 1,
            max_frame: u32::MAX,
            ..Capabilities::default()
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}
