//! Telemetry (spec §11.2): per-worker counters written only by their worker,
//! read by anyone, summed on read without stopping anything.
//!
//! A worker counts into a plain [`WorkerSnapshot`] while it processes a batch
//! and publishes it once per batch into its [`WorkerCounters`] with relaxed
//! stores — no read-modify-write, no lock prefix, one cache-line-aligned block
//! per worker so workers never share a line. Readers load the same cells; a
//! reading may be a batch old, never torn within a cell.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::drop::DropReason;

/// The pipeline's stages, in order (VPP's `show runtime` rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `Port::rx_burst` (and injected packets from the slow path).
    Rx,
    /// Bounds-checked parse into the packet summary.
    Parse,
    /// Port mode, VLAN, bridging and MAC learning.
    L2,
    /// Pre-routing hook (firewall, DNAT, QoS classification attach here).
    Prerouting,
    /// LPM lookup and RFC 1812 decisions.
    Route,
    /// Input (to the router) / forward hook.
    InputForward,
    /// Post-routing hook (SNAT, firewall).
    Postrouting,
    /// TTL, checksums, MACs, VLAN tags, fragmentation.
    Rewrite,
    /// Egress queues (QoS scheduling attaches here).
    Egress,
    /// `Port::tx_burst`.
    Tx,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 10] = [
        Stage::Rx,
        Stage::Parse,
        Stage::L2,
        Stage::Prerouting,
        Stage::Route,
        Stage::InputForward,
        Stage::Postrouting,
        Stage::Rewrite,
        Stage::Egress,
        Stage::Tx,
    ];
    /// Number of stages.
    pub const COUNT: usize = Self::ALL.len();

    /// Name.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Rx => "rx",
            Stage::Parse => "parse",
            Stage::L2 => "l2",
            Stage::Prerouting => "prerouting",
            Stage::Route => "route",
            Stage::InputForward => "input-forward",
            Stage::Postrouting => "postrouting",
            Stage::Rewrite => "rewrite",
            Stage::Egress => "egress",
            Stage::Tx => "tx",
        }
    }
}

/// One stage's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageSnapshot {
    /// Times the stage ran (once per batch).
    pub calls: u64,
    /// Packets it looked at.
    pub packets: u64,
    /// Packets it dropped.
    pub drops: u64,
    /// TSC cycles spent in it.
    pub cycles: u64,
}

/// One port's counters as seen by one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortSnapshot {
    /// Packets received.
    pub rx: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets transmitted.
    pub tx: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the port refused to transmit (queue full).
    pub tx_drops: u64,
    /// Frames the port's device had but could not deliver (kernel ring
    /// full, no buffer, oversized): lost before the pipeline saw them.
    pub rx_drops: u64,
}

/// Every counter of a worker, as plain values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerSnapshot {
    /// Packets received from ports.
    pub rx: u64,
    /// Packets that entered other than by receive: slow-path injects,
    /// fragments and flood copies made here.
    pub injected: u64,
    /// Packets handed to ports.
    pub tx: u64,
    /// Packets dropped (any reason).
    pub dropped: u64,
    /// Packets handed to the slow path.
    pub punted: u64,
    /// Packets replaced by others (fragmented, flooded as copies).
    pub consumed: u64,
    /// Packets a dispatcher handed to this worker from another queue.
    pub handoffs: u64,
    /// Poll loops.
    pub polls: u64,
    /// Poll loops that found nothing.
    pub empty_polls: u64,
    /// Times an idle worker slept on its ports' descriptors and woke up.
    pub wakeups: u64,
    /// Per drop reason, indexed by [`DropReason::index`].
    pub drops: Vec<u64>,
    /// Per stage, indexed like [`Stage::ALL`].
    pub stages: [StageSnapshot; Stage::COUNT],
    /// Per port, indexed by port id.
    pub ports: Vec<PortSnapshot>,
}

impl WorkerSnapshot {
    /// Zeroed counters for `ports` ports.
    pub fn new(ports: usize) -> WorkerSnapshot {
        WorkerSnapshot {
            drops: vec![0; DropReason::COUNT],
            ports: vec![PortSnapshot::default(); ports],
            ..WorkerSnapshot::default()
        }
    }

    /// Count a drop.
    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.dropped += 1;
        self.drops[r.index()] += 1;
    }

    /// `rx + injected == tx + dropped + punted + consumed`, once nothing is
    /// in flight inside the worker (between batches): every packet that came
    /// in is accounted for exactly once.
    pub fn balanced(&self) -> bool {
        self.rx + self.injected == self.tx + self.dropped + self.punted + self.consumed
    }

    /// Add another worker's counters (sum on read).
    pub fn add(&mut self, o: &WorkerSnapshot) {
        self.rx += o.rx;
        self.injected += o.injected;
        self.tx += o.tx;
        self.dropped += o.dropped;
        self.punted += o.punted;
        self.consumed += o.consumed;
        self.handoffs += o.handoffs;
        self.polls += o.polls;
        self.empty_polls += o.empty_polls;
        self.wakeups += o.wakeups;
        if self.drops.len() < o.drops.len() {
            self.drops.resize(o.drops.len(), 0);
        }
        for (a, b) in self.drops.iter_mut().zip(&o.drops) {
            *a += b;
        }
        for (a, b) in self.stages.iter_mut().zip(&o.stages) {
            a.calls += b.calls;
            a.packets += b.packets;
            a.drops += b.drops;
            a.cycles += b.cycles;
        }
        if self.ports.len() < o.ports.len() {
            self.ports.resize(o.ports.len(), PortSnapshot::default());
        }
        for (a, b) in self.ports.iter_mut().zip(&o.ports) {
            a.rx += b.rx;
            a.rx_bytes += b.rx_bytes;
            a.tx += b.tx;
            a.tx_bytes += b.tx_bytes;
            a.tx_drops += b.tx_drops;
            a.rx_drops += b.rx_drops;
        }
    }

    fn flat_len(ports: usize) -> usize {
        10 + DropReason::COUNT + 4 * Stage::COUNT + 6 * ports
    }

    fn write_flat(&self, out: &mut impl FnMut(usize, u64)) {
        let base = [
            self.rx,
            self.injected,
            self.tx,
            self.dropped,
            self.punted,
            self.consumed,
            self.handoffs,
            self.polls,
            self.empty_polls,
            self.wakeups,
        ];
        let mut i = 0;
        let mut put = |v: u64| {
            out(i, v);
            i += 1;
        };
        base.into_iter().for_each(&mut put);
        self.drops.iter().for_each(|&v| put(v));
        for s in &self.stages {
            [s.calls, s.packets, s.drops, s.cycles]
                .into_iter()
                .for_each(&mut put);
        }
        for p in &self.ports {
            [p.rx, p.rx_bytes, p.tx, p.tx_bytes, p.tx_drops, p.rx_drops]
                .into_iter()
                .for_each(&mut put);
        }
    }

    fn read_flat(ports: usize, get: impl Fn(usize) -> u64) -> WorkerSnapshot {
        let mut s = WorkerSnapshot::new(ports);
        let mut i = 0;
        let mut next = || {
            let v = get(i);
            i += 1;
            v
        };
        s.rx = next();
        s.injected = next();
        s.tx = next();
        s.dropped = next();
        s.punted = next();
        s.consumed = next();
        s.handoffs = next();
        s.polls = next();
        s.empty_polls = next();
        s.wakeups = next();
        for d in &mut s.drops {
            *d = next();
        }
        for st in &mut s.stages {
            st.calls = next();
            st.packets = next();
            st.drops = next();
            st.cycles = next();
        }
        for p in &mut s.ports {
            p.rx = next();
            p.rx_bytes = next();
            p.tx = next();
            p.tx_bytes = next();
            p.tx_drops = next();
            p.rx_drops = next();
        }
        s
    }
}

/// A worker's published counters: one cache-line-aligned block of cells.
#[derive(Debug)]
pub struct WorkerCounters {
    ports: usize,
    cells: CachePadded<Box<[AtomicU64]>>,
}

impl WorkerCounters {
    /// Cells for a worker with `ports` ports.
    pub fn new(ports: usize) -> WorkerCounters {
        let cells = (0..WorkerSnapshot::flat_len(ports))
            .map(|_| AtomicU64::new(0))
            .collect();
        WorkerCounters {
            ports,
            cells: CachePadded::new(cells),
        }
    }

    /// Publish the worker's running counts (its owner only).
    pub fn publish(&self, s: &WorkerSnapshot) {
        debug_assert_eq!(s.ports.len(), self.ports);
        s.write_flat(&mut |i, v| self.cells[i].store(v, Ordering::Relaxed));
    }

    /// Read the published counts.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot::read_flat(self.ports, |i| self.cells[i].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drop::Reason;

    #[test]
    fn publish_and_read_round_trip_and_sum() {
        let c = WorkerCounters::new(2);
        let mut s = WorkerSnapshot::new(2);
        s.rx = 10;
        s.tx = 7;
        s.drop(DropReason::Other(Reason::TtlExpired));
        s.punted = 2;
        s.stages[4].cycles = 99;
        s.ports[1].tx_bytes = 1234;
        assert!(s.balanced());
        c.publish(&s);
        let r = c.snapshot();
        assert_eq!(r, s);
        let mut total = WorkerSnapshot::new(2);
        total.add(&r);
        total.add(&r);
        assert_eq!(total.rx, 20);
        assert_eq!(
            total.drops[DropReason::Other(Reason::TtlExpired).index()],
            2
        );
        assert!(total.balanced());
    }
}
