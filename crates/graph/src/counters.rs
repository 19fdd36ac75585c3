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

/// One node's counters (a row of `show runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSnapshot {
    /// Times the node ran (once per burst that had packets for it).
    pub calls: u64,
    /// Packets it was given.
    pub packets: u64,
    /// Packets it dropped.
    pub drops: u64,
    /// TSC cycles spent in it.
    pub cycles: u64,
}

impl NodeSnapshot {
    /// Cycles per packet (0 when it saw none).
    pub fn cycles_per_packet(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.cycles as f64 / self.packets as f64
        }
    }
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
    /// Packets other workers handed to this one.
    pub handoff_in: u64,
    /// Packets this worker handed to others.
    pub handoff_out: u64,
    /// Packets waiting in the egress queues now (a level, not a count).
    pub queued: u64,
    /// Packets handed to ports.
    pub tx: u64,
    /// Packets dropped (any reason).
    pub dropped: u64,
    /// Packets handed to the slow path.
    pub punted: u64,
    /// Packets replaced by others (fragmented, flooded as copies).
    pub consumed: u64,
    /// Packets a software dispatcher (replay's RSS) steered to this worker.
    pub handoffs: u64,
    /// Poll loops.
    pub polls: u64,
    /// Poll loops that found nothing.
    pub empty_polls: u64,
    /// Times an idle worker slept on its ports' descriptors and woke up.
    pub wakeups: u64,
    /// Per drop reason, indexed by [`DropReason::index`].
    pub drops: Vec<u64>,
    /// Per node, in graph order (names from the engine's node table).
    pub nodes: Vec<NodeSnapshot>,
    /// Per port, indexed by port id.
    pub ports: Vec<PortSnapshot>,
}

impl WorkerSnapshot {
    /// Zeroed counters for `ports` ports and `nodes` nodes.
    pub fn new(ports: usize, nodes: usize) -> WorkerSnapshot {
        WorkerSnapshot {
            drops: vec![0; DropReason::COUNT],
            ports: vec![PortSnapshot::default(); ports],
            nodes: vec![NodeSnapshot::default(); nodes],
            ..WorkerSnapshot::default()
        }
    }

    /// Count a drop.
    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.dropped += 1;
        self.drops[r.index()] += 1;
    }

    /// `rx + injected + handoff_in == tx + dropped + punted + consumed +
    /// handoff_out + queued`, between polls: every packet that came in is
    /// accounted for exactly once. Summed over workers, hand-offs cancel.
    pub fn balanced(&self) -> bool {
        self.rx + self.injected + self.handoff_in
            == self.tx + self.dropped + self.punted + self.consumed + self.handoff_out + self.queued
    }

    /// Add another worker's counters (sum on read).
    pub fn add(&mut self, o: &WorkerSnapshot) {
        self.rx += o.rx;
        self.injected += o.injected;
        self.handoff_in += o.handoff_in;
        self.handoff_out += o.handoff_out;
        self.queued += o.queued;
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
        if self.nodes.len() < o.nodes.len() {
            self.nodes.resize(o.nodes.len(), NodeSnapshot::default());
        }
        for (a, b) in self.nodes.iter_mut().zip(&o.nodes) {
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

    fn flat_len(ports: usize, nodes: usize) -> usize {
        BASE + DropReason::COUNT + 4 * nodes + 6 * ports
    }

    fn write_flat(&self, out: &mut impl FnMut(usize, u64)) {
        let base: [u64; BASE] = [
            self.rx,
            self.injected,
            self.handoff_in,
            self.handoff_out,
            self.queued,
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
        for s in &self.nodes {
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

    fn read_flat(ports: usize, nodes: usize, get: impl Fn(usize) -> u64) -> WorkerSnapshot {
        let mut s = WorkerSnapshot::new(ports, nodes);
        let mut i = 0;
        let mut next = || {
            let v = get(i);
            i += 1;
            v
        };
        s.rx = next();
        s.injected = next();
        s.handoff_in = next();
        s.handoff_out = next();
        s.queued = next();
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
        for st in &mut s.nodes {
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

/// Scalar counters at the head of the flat layout.
const BASE: usize = 13;

/// A worker's published counters: one cache-line-aligned block of cells.
#[derive(Debug)]
pub struct WorkerCounters {
    ports: usize,
    nodes: usize,
    cells: CachePadded<Box<[AtomicU64]>>,
}

impl WorkerCounters {
    /// Cells for a worker with `ports` ports and `nodes` nodes.
    pub fn new(ports: usize, nodes: usize) -> WorkerCounters {
        let cells = (0..WorkerSnapshot::flat_len(ports, nodes))
            .map(|_| AtomicU64::new(0))
            .collect();
        WorkerCounters {
            ports,
            nodes,
            cells: CachePadded::new(cells),
        }
    }

    /// Publish the worker's running counts (its owner only).
    pub fn publish(&self, s: &WorkerSnapshot) {
        debug_assert_eq!(s.ports.len(), self.ports);
        debug_assert_eq!(s.nodes.len(), self.nodes);
        s.write_flat(&mut |i, v| {
            if let Some(c) = self.cells.get(i) {
                c.store(v, Ordering::Relaxed);
            }
        });
    }

    /// Read the published counts.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot::read_flat(self.ports, self.nodes, |i| {
            self.cells.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drop::Reason;

    #[test]
    fn publish_and_read_round_trip_and_sum() {
        let c = WorkerCounters::new(2, 5);
        let mut s = WorkerSnapshot::new(2, 5);
        s.rx = 10;
        s.tx = 7;
        s.drop(DropReason::Other(Reason::TtlExpired));
        s.punted = 2;
        s.nodes[4].cycles = 99;
        s.handoff_out = 1;
        s.handoff_in = 1;
        s.ports[1].tx_bytes = 1234;
        assert!(s.balanced());
        c.publish(&s);
        let r = c.snapshot();
        assert_eq!(r, s);
        let mut total = WorkerSnapshot::new(2, 5);
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
