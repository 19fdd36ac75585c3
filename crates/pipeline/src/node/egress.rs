//! Egress node: the per-port transmit queues, and the only caller of
//! `Port::tx_burst` (spec §9: where QoS scheduling attaches).
//!
//! Every packet that leaves — forwarded, bridged, fragmented, flooded, made
//! by the router — reaches this node last, after the egress hook. Its run
//! checks that the packet's port exists and that its queue has room (a full
//! queue is a tail drop, `tx-queue-full`); the worker then moves the
//! packet into the queue. At the end of each poll [`Egress::flush`] hands
//! each port its queue in bursts; whatever a port cannot take now stays
//! queued for the next poll, in order, so a port that backs up drops at its
//! queue's tail with a named reason and never stalls the worker or other
//! ports. A worker with packets queued does not go to sleep.
//!
//! Queued packets keep their buffers (no copy); each queue is allocated
//! once, at its limit.
//!
//! Position: [`Position::Egress`](orbital_graph::Position::Egress). Reads:
//! `ctx.egress.port`. Sets: verdicts (drops). Drops: unknown-port,
//! tx-queue-full (a queue at its limit), tx-error (the port refused a frame
//! itself: larger than the device takes, a device error).

use std::collections::VecDeque;

use orbital_buf::{Batch, MAX_BURST, Packet, PoolCache};
use orbital_graph::{Burst, Features, Node, NodeCx, Reason, Verdict, WorkerSnapshot};
use orbital_io::{AnyPort, Port};

/// Packets each port's queue holds by default.
pub const DEFAULT_QUEUE_LIMIT: usize = 4 * MAX_BURST;

/// One port's queue: the next burst, and the backlog behind it (only used
/// when more than a burst is waiting, so the common case moves each packet
/// once).
#[derive(Debug)]
struct Queue {
    front: Batch,
    backlog: VecDeque<Packet>,
    /// Packets accepted by this burst's run and not yet enqueued.
    reserved: usize,
}

impl Queue {
    fn len(&self) -> usize {
        self.front.len() + self.backlog.len()
    }
}

/// The egress node and its queues.
#[derive(Debug)]
pub struct Egress {
    queues: Vec<Queue>,
    limit: usize,
}

impl Egress {
    /// Queues for `ports` ports, `limit` packets each (at least a burst).
    pub fn new(ports: usize, limit: usize) -> Egress {
        let limit = limit.max(MAX_BURST);
        Egress {
            queues: (0..ports)
                .map(|_| Queue {
                    front: Batch::new(),
                    backlog: VecDeque::with_capacity(limit - MAX_BURST),
                    reserved: 0,
                })
                .collect(),
            limit,
        }
    }

    /// Packets waiting, all ports.
    pub fn queued(&self) -> usize {
        self.queues.iter().map(Queue::len).sum()
    }

    /// Move a packet the run accepted into its port's queue.
    #[inline]
    pub fn enqueue(&mut self, port: usize, p: Packet) {
        let Some(q) = self.queues.get_mut(port) else {
            // The run refuses unknown ports; never reached, never leaked.
            drop(p);
            return;
        };
        q.reserved = q.reserved.saturating_sub(1);
        if q.backlog.is_empty() {
            if let Err(p) = q.front.push(p) {
                q.backlog.push_back(p);
            }
        } else {
            q.backlog.push_back(p);
        }
    }

    /// Hand every port what is queued for it. Counts transmitted packets
    /// and bytes per port and the node row `tx` (index `tx_node`).
    pub fn flush(
        &mut self,
        ports: &mut [AnyPort],
        cache: &mut PoolCache,
        local: &mut WorkerSnapshot,
        tx_node: usize,
    ) -> usize {
        let c0 = orbital_cpu::cycles();
        let mut sent_total = 0;
        let mut called = false;
        for (i, (q, port)) in self.queues.iter_mut().zip(ports.iter_mut()).enumerate() {
            // At most the backlog's length in rounds: a port that takes
            // nothing ends the loop at once.
            loop {
                if q.front.is_empty() {
                    break;
                }
                called = true;
                let queued = q.front.len();
                let bytes: u64 = q.front.as_slice().iter().map(|p| p.len() as u64).sum();
                let r = port.tx_burst(&mut q.front, cache);
                let left = q.front.len();
                let left_bytes: u64 = q.front.as_slice().iter().map(|p| p.len() as u64).sum();
                let sent = r.sent;
                sent_total += sent;
                local.tx += sent as u64;
                let ps = &mut local.ports[i];
                ps.tx += sent as u64;
                ps.tx_drops += r.dropped as u64;
                if r.dropped == 0 {
                    ps.tx_bytes += bytes - left_bytes;
                }
                if let Some(s) = local.nodes.get_mut(tx_node) {
                    s.packets += (queued - left) as u64;
                    s.drops += r.dropped as u64;
                }
                for _ in 0..r.dropped {
                    local.drop(Reason::TxError.into());
                }
                // Refill the front from the backlog, behind what the port
                // left (order kept).
                while q.front.room() > 0 {
                    let Some(p) = q.backlog.pop_front() else {
                        break;
                    };
                    let _ = q.front.push(p).map_err(|p| q.backlog.push_front(p));
                }
                if left > 0 || sent == 0 {
                    break; // the device is full for now
                }
            }
        }
        if called && let Some(s) = local.nodes.get_mut(tx_node) {
            s.calls += 1;
            s.cycles += orbital_cpu::cycles().wrapping_sub(c0);
        }
        local.queued = self.queued() as u64;
        sent_total
    }

    /// After the worker moved a burst's packets in: forget reservations
    /// (none should be left; this keeps a miscount from shrinking a queue).
    pub fn end_burst(&mut self) {
        for q in &mut self.queues {
            q.reserved = 0;
        }
    }

    /// Give back every queued packet (at shutdown, after a last flush),
    /// counted as dropped.
    pub fn discard(&mut self, cache: &mut PoolCache, local: &mut WorkerSnapshot) {
        for q in &mut self.queues {
            for p in q.front.drain().chain(q.backlog.drain(..)) {
                local.drop(Reason::TxQueueFull.into());
                cache.free(p);
            }
        }
        local.queued = 0;
    }
}

impl<F: Features> Node<F> for Egress {
    fn name(&self) -> &'static str {
        "egress"
    }

    #[inline]
    fn run(&mut self, _: &mut F::State, _cx: &mut NodeCx<'_, F::Policy>, b: &mut Burst<'_>) {
        let limit = self.limit;
        for &i in b.sel {
            let Some(c) = b.ctx.get_mut(usize::from(i)) else {
                continue;
            };
            match self.queues.get_mut(usize::from(c.egress.port.0)) {
                None => c.verdict = Verdict::Drop(Reason::UnknownPort.into()),
                Some(q) if q.len() + q.reserved >= limit => {
                    c.verdict = Verdict::Drop(Reason::TxQueueFull.into());
                }
                Some(q) => q.reserved += 1,
            }
        }
    }
}
