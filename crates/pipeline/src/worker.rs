//! A worker: one thread, one CPU, one receive queue of every port
//! (ARCHITECTURE §2). Each poll takes what the slow path injected, receives a
//! burst from each port, runs it to completion through the stages, and sends
//! each port's packets in one burst. No lock, no allocation, no syscall per
//! packet; the tables are loaded once per burst.

use std::sync::Arc;

use orbital_buf::{Batch, MAX_BURST, Packet, PoolCache};
use orbital_fib::l2::MacTable;
use orbital_fib::{PortId, SharedTables, Tables};
use orbital_io::{AnyPort, Port, RingRx, RingTx};

use crate::clock::Clock;
use crate::counters::{Stage, WorkerCounters, WorkerSnapshot};
use crate::drop::{DropReason, Reason};
use crate::ratelimit::TokenBucket;
use crate::rss::Toeplitz;
use crate::stage::hooks::Hooks;
use crate::stage::{self, Lane, Tally};
use crate::trace::WorkerTrace;
use crate::verdict::{Egress, Inject, InjectTo, PacketCtx, Punt, Verdict};

/// How a worker is set up.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Index.
    pub id: u16,
    /// Most packets per receive burst (at most [`MAX_BURST`]).
    pub burst: usize,
    /// Punts per second this worker may send the slow path.
    pub punt_rate: u64,
    /// Punt burst.
    pub punt_burst: u64,
    /// Stations the MAC table holds.
    pub mac_capacity: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: 0,
            burst: MAX_BURST,
            punt_rate: 10_000,
            punt_burst: 512,
            mac_capacity: 16_384,
        }
    }
}

/// One worker and everything it owns.
pub struct Worker<H: Hooks> {
    cfg: WorkerConfig,
    ports: Vec<AnyPort>,
    cache: PoolCache,
    shared: Arc<SharedTables>,
    clock: Clock,
    hooks: H,
    punt: RingTx<Punt>,
    inject: RingRx<Inject>,
    punt_bucket: TokenBucket,
    macs: MacTable,
    rss: Arc<Toeplitz>,
    trace: WorkerTrace,
    counters: Arc<WorkerCounters>,
    local: WorkerSnapshot,
    batch: Batch,
    ctx: Vec<PacketCtx>,
    txq: Vec<Batch>,
    created: Vec<(Packet, Egress)>,
    scratch: Box<stage::Scratch>,
    slow_bell: Arc<crate::doorbell::Doorbell>,
}

impl<H: Hooks> core::fmt::Debug for Worker<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.cfg.id)
            .field("ports", &self.ports.len())
            .finish()
    }
}

/// The ring ends and shared state a worker is built from.
#[derive(Debug)]
pub struct WorkerWiring {
    /// This worker's endpoint of each port, indexed by port id.
    pub ports: Vec<AnyPort>,
    /// Buffers.
    pub cache: PoolCache,
    /// Published tables.
    pub shared: Arc<SharedTables>,
    /// Engine clock.
    pub clock: Clock,
    /// To the slow path.
    pub punt: RingTx<Punt>,
    /// From the slow path.
    pub inject: RingRx<Inject>,
    /// Flow hasher.
    pub rss: Arc<Toeplitz>,
    /// Trace state.
    pub trace: WorkerTrace,
    /// Where counters are published.
    pub counters: Arc<WorkerCounters>,
    /// Wakes the slow path when this worker punts.
    pub slow_bell: Arc<crate::doorbell::Doorbell>,
}

macro_rules! timed {
    ($self:ident, $stage:expr, $body:expr) => {{
        let c0 = orbital_cpu::cycles();
        let t: Tally = $body;
        let s = &mut $self.local.stages[$stage as usize];
        s.calls += 1;
        s.packets += t.packets;
        s.drops += t.drops;
        s.cycles += orbital_cpu::cycles() - c0;
        if $self.trace.active() {
            $self.trace.step($stage, &$self.ctx);
        }
    }};
}

impl<H: Hooks> Worker<H> {
    /// Assemble a worker.
    pub fn new(cfg: WorkerConfig, w: WorkerWiring, hooks: H) -> Worker<H> {
        let n_ports = w.ports.len();
        Worker {
            punt_bucket: TokenBucket::new(cfg.punt_rate, cfg.punt_burst),
            macs: MacTable::new(cfg.mac_capacity),
            local: WorkerSnapshot::new(n_ports),
            batch: Batch::new(),
            ctx: vec![PacketCtx::default(); MAX_BURST],
            txq: (0..n_ports).map(|_| Batch::new()).collect(),
            created: Vec::with_capacity(MAX_BURST),
            scratch: Box::default(),
            cfg,
            ports: w.ports,
            cache: w.cache,
            shared: w.shared,
            clock: w.clock,
            hooks,
            punt: w.punt,
            inject: w.inject,
            rss: w.rss,
            trace: w.trace,
            counters: w.counters,
            slow_bell: w.slow_bell,
        }
    }

    /// Index.
    pub fn id(&self) -> u16 {
        self.cfg.id
    }

    /// Counters as the worker sees them now.
    pub fn snapshot(&self) -> &WorkerSnapshot {
        &self.local
    }

    /// The worker's MAC table.
    pub fn macs(&self) -> &MacTable {
        &self.macs
    }

    /// One poll: injected packets, a burst from each port, transmit.
    /// Returns the packets handled (0: idle).
    pub fn poll_once(&mut self) -> usize {
        let now = self.clock.now_ns();
        // A guard, not a clone: no shared reference count to bounce
        // between cores per poll.
        let tables = self.shared.load();
        let punted = self.local.punted;
        let mut work = self.take_injects(&tables);
        for port in 0..self.ports.len() {
            let c0 = orbital_cpu::cycles();
            let room = self.cfg.burst.min(MAX_BURST);
            let n = self.ports[port].rx_burst(&mut self.cache, &mut self.batch, room);
            let s = &mut self.local.stages[Stage::Rx as usize];
            s.calls += 1;
            s.cycles += orbital_cpu::cycles() - c0;
            if n == 0 {
                continue;
            }
            s.packets += n as u64;
            let ps = &mut self.local.ports[port];
            ps.rx += n as u64;
            for p in self.batch.as_mut_slice() {
                p.meta.port = port as u16;
                ps.rx_bytes += p.len() as u64;
                if p.meta.timestamp_ns == 0 {
                    p.meta.timestamp_ns = now;
                }
            }
            self.local.rx += n as u64;
            self.process(&tables, now);
            work += n;
        }
        self.flush_tx();
        if self.local.punted != punted {
            self.slow_bell.ring();
        }
        self.local.polls += 1;
        if work == 0 {
            self.local.empty_polls += 1;
        }
        self.counters.publish(&self.local);
        work
    }

    /// Called when the worker has been idle for a while (spec §6.1): do the
    /// ports' slow bookkeeping, then sleep until one of them has frames or
    /// `timeout_ms` passes (so injects from the slow path wait at most that
    /// long). Ports with nothing to wait on (memory, pcap) make this a
    /// plain timed sleep. Counts a wake-up.
    pub fn idle_wait(&mut self, timeout_ms: i32) {
        let mut fds = [0; 16];
        let mut n = 0;
        for (i, p) in self.ports.iter_mut().enumerate() {
            p.maintain();
            self.local.ports[i].rx_drops = p.stats().rx_dropped;
            if let Some(fd) = p.wait_fd()
                && n < fds.len()
            {
                fds[n] = fd;
                n += 1;
            }
        }
        if n == 0 {
            std::thread::sleep(std::time::Duration::from_millis(timeout_ms.max(0) as u64));
        } else {
            let _ = orbital_io::wait_readable(&fds[..n], timeout_ms);
        }
        self.local.wakeups += 1;
        self.counters.publish(&self.local);
    }

    /// Count `n` packets a dispatcher handed to this worker.
    pub fn count_handoffs(&mut self, n: u64) {
        self.local.handoffs += n;
    }

    fn process(&mut self, tables: &Tables, now: u64) {
        let n = self.batch.len();
        let tracing = self.trace.begin_batch();
        let pkts = self.batch.as_mut_slice();
        let ctx = &mut self.ctx[..n];
        let mut lane = Lane {
            tables,
            now_ns: now,
            macs: &mut self.macs,
            cache: &mut self.cache,
            created: &mut self.created,
            rss: &self.rss,
            scratch: &mut self.scratch,
        };
        {
            let c0 = orbital_cpu::cycles();
            let t = stage::parse::run(&mut lane, pkts, ctx);
            let s = &mut self.local.stages[Stage::Parse as usize];
            s.calls += 1;
            s.packets += t.packets;
            s.drops += t.drops;
            s.cycles += orbital_cpu::cycles() - c0;
        }
        if tracing {
            for (i, p) in self.batch.as_slice().iter().enumerate() {
                self.trace.consider(i, p, &mut self.ctx[i]);
            }
            if self.trace.active() {
                self.trace.step(Stage::Parse, &self.ctx[..n]);
            }
        }
        self.run_stages(tables, now, n);
        self.dispatch(n);
        if self.trace.active() {
            self.trace.end_batch();
        }
    }

    fn run_stages(&mut self, tables: &Tables, now: u64, n: usize) {
        let t: &Tables = tables;
        macro_rules! lane {
            () => {
                Lane {
                    tables: t,
                    now_ns: now,
                    macs: &mut self.macs,
                    cache: &mut self.cache,
                    created: &mut self.created,
                    rss: &self.rss,
                    scratch: &mut self.scratch,
                }
            };
        }
        timed!(
            self,
            Stage::L2,
            stage::l2::run(&mut lane!(), self.batch.as_mut_slice(), &mut self.ctx[..n])
        );
        if H::ACTIVE {
            timed!(self, Stage::Prerouting, {
                let h = self
                    .hooks
                    .prerouting(t, self.batch.as_mut_slice(), &mut self.ctx[..n]);
                hook_tally(&self.ctx[..n], is_continue, h)
            });
        }
        timed!(
            self,
            Stage::Route,
            stage::route::run(&mut lane!(), self.batch.as_mut_slice(), &mut self.ctx[..n])
        );
        if H::ACTIVE {
            timed!(self, Stage::InputForward, {
                let h = self
                    .hooks
                    .input_forward(t, self.batch.as_mut_slice(), &mut self.ctx[..n]);
                hook_tally(&self.ctx[..n], is_local_or_tx, h)
            });
            timed!(self, Stage::Postrouting, {
                let h = self
                    .hooks
                    .postrouting(t, self.batch.as_mut_slice(), &mut self.ctx[..n]);
                hook_tally(&self.ctx[..n], is_tx, h)
            });
        }
        timed!(
            self,
            Stage::Rewrite,
            stage::rewrite::run(&mut lane!(), self.batch.as_mut_slice(), &mut self.ctx[..n])
        );
        timed!(
            self,
            Stage::Egress,
            stage::egress::run(self.batch.as_mut_slice(), &mut self.ctx[..n])
        );
    }

    /// Move each packet where its verdict says.
    fn dispatch(&mut self, n: usize) {
        let Worker {
            batch,
            ctx,
            txq,
            ports,
            cache,
            local,
            punt,
            punt_bucket,
            created,
            cfg,
            ..
        } = self;
        for (p, c) in batch.drain().zip(ctx[..n].iter()) {
            match c.verdict {
                Verdict::Tx => queue(txq, ports, cache, local, c.egress.port, p),
                Verdict::Drop(r) => {
                    local.drop(r);
                    cache.free(p);
                }
                Verdict::Consumed => {
                    local.consumed += 1;
                    cache.free(p);
                }
                Verdict::Punt(reason) => {
                    // Receive time, not batch time: exact in replay, where a
                    // round of packets shares one clock reading.
                    if !punt_bucket.allow(p.meta.timestamp_ns) {
                        local.drop(Reason::PuntRateLimited.into());
                        cache.free(p);
                        continue;
                    }
                    let msg = Punt {
                        pkt: p,
                        reason,
                        info: c.info,
                        iface_in: c.iface_in,
                        egress: c.egress,
                        worker: cfg.id,
                    };
                    match punt.push(msg) {
                        Ok(()) => local.punted += 1,
                        Err(m) => {
                            local.drop(Reason::PuntQueueFull.into());
                            cache.free(m.pkt);
                        }
                    }
                }
                Verdict::Continue => {
                    // A stage left it undecided: a bug, but never a leak.
                    local.drop(Reason::UnsupportedL3.into());
                    cache.free(p);
                }
            }
        }
        punt.observe_depth();
        for (p, eg) in created.drain(..) {
            local.injected += 1;
            queue(txq, ports, cache, local, eg.port, p);
        }
    }

    /// Take what the slow path injected and queue it for transmission.
    fn take_injects(&mut self, t: &Tables) -> usize {
        let mut n = 0;
        while let Some(inj) = self.inject.pop() {
            n += 1;
            self.local.injected += 1;
            match inj.to {
                InjectTo::Port(port) => {
                    let Worker {
                        txq,
                        ports,
                        cache,
                        local,
                        ..
                    } = self;
                    queue(txq, ports, cache, local, port, inj.pkt);
                }
                InjectTo::Bridge { vlan, except } => {
                    let l2_len = l2_header_len(&inj.pkt);
                    let mut lane = Lane {
                        tables: t,
                        now_ns: 0,
                        macs: &mut self.macs,
                        cache: &mut self.cache,
                        created: &mut self.created,
                        rss: &self.rss,
                        scratch: &mut self.scratch,
                    };
                    // The original is replaced by its copies (or dropped if
                    // the pool ran dry part way; copies made still go out).
                    match stage::l2::flood(&mut lane, t, &inj.pkt, l2_len, vlan, except) {
                        Ok(()) => self.local.consumed += 1,
                        Err(e) => self.local.drop(e),
                    }
                    self.cache.free(inj.pkt);
                    let Worker {
                        txq,
                        ports,
                        cache,
                        local,
                        created,
                        ..
                    } = self;
                    for (p, eg) in created.drain(..) {
                        local.injected += 1;
                        queue(txq, ports, cache, local, eg.port, p);
                    }
                }
            }
        }
        n
    }

    /// Send every queued packet.
    pub fn flush_tx(&mut self) {
        let c0 = orbital_cpu::cycles();
        let mut sent_any = false;
        for port in 0..self.txq.len() {
            if !self.txq[port].is_empty() {
                sent_any = true;
                send(
                    &mut self.txq[port],
                    &mut self.ports[port],
                    &mut self.cache,
                    &mut self.local,
                    port,
                );
            }
        }
        if sent_any {
            let s = &mut self.local.stages[Stage::Tx as usize];
            s.calls += 1;
            s.cycles += orbital_cpu::cycles() - c0;
        }
    }

    /// Give back every buffer the worker holds (at shutdown).
    pub fn drain(&mut self) {
        self.flush_tx();
        self.counters.publish(&self.local);
        self.cache.flush_all();
    }
}

fn is_continue(c: &PacketCtx) -> bool {
    matches!(c.verdict, Verdict::Continue)
}

fn is_tx(c: &PacketCtx) -> bool {
    matches!(c.verdict, Verdict::Tx)
}

fn is_local_or_tx(c: &PacketCtx) -> bool {
    matches!(
        c.verdict,
        Verdict::Tx | Verdict::Punt(crate::verdict::PuntReason::Local)
    )
}

/// A hook's tally: the packets it was shown (counted after it ran, plus those
/// it dropped) and its drops.
fn hook_tally(ctx: &[PacketCtx], shown: fn(&PacketCtx) -> bool, t: Tally) -> Tally {
    Tally {
        packets: ctx.iter().filter(|c| shown(c)).count() as u64 + t.drops,
        drops: t.drops,
    }
}

/// The length of a frame's L2 header (Ethernet plus any 802.1Q/ad tags).
fn l2_header_len(p: &Packet) -> u16 {
    let mut off = 12;
    while off + 2 <= p.len() {
        let t = u16::from_be_bytes([p[off], p[off + 1]]);
        if !orbital_wire::EtherType::from(t).is_vlan_tpid() {
            break;
        }
        off += 4;
    }
    (off + 2) as u16
}

#[inline(always)]
fn queue(
    txq: &mut [Batch],
    ports: &mut [AnyPort],
    cache: &mut PoolCache,
    local: &mut WorkerSnapshot,
    port: PortId,
    p: Packet,
) {
    let i = usize::from(port.0);
    if i >= txq.len() {
        local.drop(DropReason::Other(Reason::UnknownPort));
        cache.free(p);
        return;
    }
    if let Err(p) = txq[i].push(p) {
        send(&mut txq[i], &mut ports[i], cache, local, i);
        let _ = txq[i].push(p);
    }
}

#[inline]
fn send(
    q: &mut Batch,
    port: &mut AnyPort,
    cache: &mut PoolCache,
    local: &mut WorkerSnapshot,
    i: usize,
) {
    let bytes: u64 = q.as_slice().iter().map(|p| p.len() as u64).sum();
    let queued = q.len() as u64;
    let mut r = port.tx_burst(q, cache);
    // Stopgap until the egress node keeps them queued: what the port had no
    // room for is freed and counted as before (tx-queue-full).
    r.dropped += q.len();
    cache.free_all(q.drain());
    local.stages[Stage::Tx as usize].packets += queued;
    local.stages[Stage::Tx as usize].drops += r.dropped as u64;
    local.tx += r.sent as u64;
    let ps = &mut local.ports[i];
    ps.tx += r.sent as u64;
    ps.tx_drops += r.dropped as u64;
    if r.dropped == 0 {
        ps.tx_bytes += bytes;
    }
    for _ in 0..r.dropped {
        local.drop(Reason::TxQueueFull.into());
    }
}
