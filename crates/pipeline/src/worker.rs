//! A worker: one thread, one CPU, one receive queue of every port
//! (ARCHITECTURE §2). Each poll loads the snapshot once, takes what other
//! workers handed over and what the slow path gave back, receives a burst
//! from each port and runs every burst through the graph, then lets the
//! egress node transmit. No lock, no allocation, no syscall per packet.
//!
//! The graph, in order (node numbers in [`Layout`]): rx, parse, l2, the
//! prerouting hook, route, the input hook, the forward hook, the output
//! hook, the postrouting hook, rewrite, the egress hook, egress, tx. A burst
//! enters at an [`Entry`]: received packets at the start, packets resolved
//! by the slow path at the forward hook, packets the router made at the
//! output hook, fragments and flood copies at the egress hook, hand-offs
//! where the handing node asked — so every packet passes every hook on its
//! way out.

use std::sync::Arc;

use orbital_buf::{Batch, MAX_BURST, Packet, PoolCache};
use orbital_fib::l2::MacTable;
use orbital_fib::{Attach, PortId};
use orbital_graph::ratelimit::TokenBucket;
use orbital_graph::rss::{Reta, Toeplitz};
use orbital_graph::trace::WorkerTrace;
use orbital_graph::{
    Chain, Clock, Entry, Features, Handoff, Hook, Hooks, Inject, InjectTo, NodeCx, NodeSnapshot,
    Origin, PacketCtx, Position, Punt, Reason, Runner, Scratch, Settings, SharedSnapshot, Snapshot,
    Verdict, WorkerCounters, WorkerSnapshot,
};
use orbital_io::{AnyPort, Port, RingRx, RingTx};
use orbital_wire::{LinkType, parse};

use crate::node::egress::DEFAULT_QUEUE_LIMIT;
use crate::node::l2::{FloodAs, flood};
use crate::node::route::egress_port;
use crate::node::{Builtins, l2};

/// How a worker is set up.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Index.
    pub id: u16,
    /// Workers in the engine.
    pub workers: u16,
    /// Most packets per receive burst (at most [`MAX_BURST`]).
    pub burst: usize,
    /// Stations the MAC table holds.
    pub mac_capacity: usize,
    /// Packets each egress queue holds.
    pub egress_queue: usize,
    /// Take the fused ip4-fast path for the common case when the hooks it
    /// skips are idle (off: every packet walks every node; for measuring
    /// the graph and for the tests that hold the two to the same output).
    pub fast_path: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: 0,
            workers: 1,
            burst: MAX_BURST,
            mac_capacity: 16_384,
            egress_queue: DEFAULT_QUEUE_LIMIT,
            fast_path: true,
        }
    }
}

/// Node numbers: each node's row in the counters and `show runtime`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Names, by node number.
    pub names: Vec<&'static str>,
    rx: usize,
    ip4_fast: usize,
    parse: usize,
    l2: usize,
    prerouting: usize,
    route: usize,
    input: usize,
    forward: usize,
    output: usize,
    postrouting: usize,
    rewrite: usize,
    egress_hook: usize,
    egress: usize,
    tx: usize,
}

impl Layout {
    /// The layout of graph `F` (its hooks' node names from `hooks`).
    pub fn of<F: Features>(hooks: &Hooks<F>) -> Layout {
        let mut names = Vec::new();
        let at = |names: &mut Vec<&'static str>, n: &'static str| {
            names.push(n);
            names.len() - 1
        };
        let rx = at(&mut names, "rx");
        let ip4_fast = at(&mut names, "ip4-fast");
        let parse = at(&mut names, "parse");
        let l2 = at(&mut names, "l2");
        let prerouting = names.len();
        hooks.prerouting.names(&mut names);
        let route = at(&mut names, "route");
        let input = names.len();
        hooks.input.names(&mut names);
        let forward = names.len();
        hooks.forward.names(&mut names);
        let output = names.len();
        hooks.output.names(&mut names);
        let postrouting = names.len();
        hooks.postrouting.names(&mut names);
        let rewrite = at(&mut names, "rewrite");
        let egress_hook = names.len();
        hooks.egress.names(&mut names);
        let egress = at(&mut names, "egress");
        let tx = at(&mut names, "tx");
        Layout {
            names,
            rx,
            ip4_fast,
            parse,
            l2,
            prerouting,
            route,
            input,
            forward,
            output,
            postrouting,
            rewrite,
            egress_hook,
            egress,
            tx,
        }
    }
}

/// Packets waiting to enter the graph other than by receive, by entry.
#[derive(Debug, Default)]
struct Pending {
    by_entry: [Vec<(Packet, PacketCtx)>; 5],
}

impl Pending {
    fn push(&mut self, at: Entry, p: Packet, c: PacketCtx) {
        self.by_entry[at as usize].push((p, c));
    }

    fn is_empty(&self) -> bool {
        self.by_entry.iter().all(Vec::is_empty)
    }
}

/// Most rounds of made packets (a node making packets from packets it
/// made: a hairpin) one poll runs before the rest are dropped.
const MAX_ROUNDS: usize = 4;

/// Most slow-path injects and hand-offs taken per poll and ring: the rest
/// wait, so a flood of either cannot starve the ports.
const INTAKE_PER_POLL: usize = 4 * MAX_BURST;

/// One worker and everything it owns.
pub struct Worker<F: Features> {
    cfg: WorkerConfig,
    ports: Vec<AnyPort>,
    cache: PoolCache,
    shared: Arc<SharedSnapshot<F::Policy>>,
    clock: Clock,
    hooks: Hooks<F>,
    nodes: Builtins,
    layout: Layout,
    punt: RingTx<Punt>,
    inject: RingRx<Inject>,
    handoff_tx: Vec<Option<RingTx<Handoff>>>,
    handoff_rx: Vec<RingRx<Handoff>>,
    punt_bucket: TokenBucket,
    punt_settings: (u64, u64),
    idle_us: u64,
    macs: MacTable,
    rss: Arc<Toeplitz>,
    reta: Arc<Reta>,
    trace: WorkerTrace,
    counters: Arc<WorkerCounters>,
    local: WorkerSnapshot,
    batch: Batch,
    ctx: Vec<PacketCtx>,
    scratch: Scratch,
    pending: Pending,
    slow_bell: Arc<crate::doorbell::Doorbell>,
}

impl<F: Features> core::fmt::Debug for Worker<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.cfg.id)
            .field("ports", &self.ports.len())
            .finish()
    }
}

/// The ring ends and shared state a worker is built from.
#[derive(Debug)]
pub struct WorkerWiring<P> {
    /// This worker's endpoint of each port, indexed by port id.
    pub ports: Vec<AnyPort>,
    /// Buffers.
    pub cache: PoolCache,
    /// The published snapshot.
    pub shared: Arc<SharedSnapshot<P>>,
    /// Engine clock.
    pub clock: Clock,
    /// To the slow path.
    pub punt: RingTx<Punt>,
    /// From the slow path.
    pub inject: RingRx<Inject>,
    /// To each other worker, by worker index (`None` for itself).
    pub handoff_tx: Vec<Option<RingTx<Handoff>>>,
    /// From the other workers.
    pub handoff_rx: Vec<RingRx<Handoff>>,
    /// Flow hasher.
    pub rss: Arc<Toeplitz>,
    /// Hash → worker.
    pub reta: Arc<Reta>,
    /// Trace state.
    pub trace: WorkerTrace,
    /// Where counters are published.
    pub counters: Arc<WorkerCounters>,
    /// Wakes the slow path when this worker punts.
    pub slow_bell: Arc<crate::doorbell::Doorbell>,
}

impl<F: Features> Worker<F> {
    /// Assemble a worker with its features' nodes.
    pub fn new(cfg: WorkerConfig, w: WorkerWiring<F::Policy>, hooks: Hooks<F>) -> Worker<F> {
        let n_ports = w.ports.len();
        let layout = Layout::of(&hooks);
        let settings = w.shared.load().settings;
        Worker {
            punt_bucket: TokenBucket::new(settings.punt_rate, settings.punt_burst),
            punt_settings: (settings.punt_rate, settings.punt_burst),
            idle_us: settings.idle_us,
            macs: MacTable::new(cfg.mac_capacity),
            local: WorkerSnapshot::new(n_ports, layout.names.len()),
            batch: Batch::new(),
            ctx: vec![PacketCtx::default(); MAX_BURST],
            scratch: Scratch::new(),
            pending: Pending::default(),
            nodes: Builtins::new(n_ports, cfg.egress_queue),
            layout,
            cfg,
            ports: w.ports,
            cache: w.cache,
            shared: w.shared,
            clock: w.clock,
            hooks,
            punt: w.punt,
            inject: w.inject,
            handoff_tx: w.handoff_tx,
            handoff_rx: w.handoff_rx,
            rss: w.rss,
            reta: w.reta,
            trace: w.trace,
            counters: w.counters,
            slow_bell: w.slow_bell,
        }
    }

    /// Index.
    pub fn id(&self) -> u16 {
        self.cfg.id
    }

    /// Node names, by node number.
    pub fn node_names(&self) -> &[&'static str] {
        &self.layout.names
    }

    /// Counters as the worker sees them now.
    pub fn snapshot(&self) -> &WorkerSnapshot {
        &self.local
    }

    /// The worker's MAC table.
    pub fn macs(&self) -> &MacTable {
        &self.macs
    }

    /// How long to busy-poll before sleeping, from the live settings.
    pub fn idle_us(&self) -> u64 {
        self.idle_us
    }

    /// Packets waiting in the egress queues.
    pub fn queued(&self) -> usize {
        self.nodes.egress.queued()
    }

    /// One poll: hand-offs, injects, a burst from each port, what the nodes
    /// made, transmit. Returns the packets handled (0: idle; a backlog in
    /// the egress queues counts as work, so a worker never sleeps on one).
    pub fn poll_once(&mut self) -> usize {
        let now = self.clock.now_ns();
        // A guard, not a clone: no shared reference count to bounce
        // between cores per poll.
        let snap = self.shared.load();
        self.settings(&snap.settings);
        let punted = self.local.punted;
        let mut work = self.take_handoffs();
        work += self.take_injects(&snap, now);
        self.drain_pending(&snap, now);
        for port in 0..self.ports.len() {
            let c0 = orbital_cpu::cycles();
            let room = self.cfg.burst.min(MAX_BURST);
            let n = self.ports[port].rx_burst(&mut self.cache, &mut self.batch, room);
            let s = &mut self.local.nodes[self.layout.rx];
            s.calls += 1;
            s.cycles += orbital_cpu::cycles().wrapping_sub(c0);
            if n == 0 {
                continue;
            }
            s.packets += n as u64;
            let ps = &mut self.local.ports[port];
            ps.rx += n as u64;
            for (p, c) in self.batch.as_mut_slice().iter_mut().zip(&mut self.ctx) {
                p.meta.port = port as u16;
                ps.rx_bytes += p.len() as u64;
                if p.meta.timestamp_ns == 0 {
                    p.meta.timestamp_ns = now;
                }
                c.origin = Origin::Rx;
                c.verdict = Verdict::Continue;
                c.vlan = None;
                c.traced = false;
                c.l3_error = None;
                c.rewritten = false;
            }
            self.local.rx += n as u64;
            self.run_burst(&snap, now, Entry::Rx);
            self.drain_pending(&snap, now);
            work += n;
        }
        let queued = self.flush_tx();
        if self.local.punted != punted {
            self.slow_bell.ring();
        }
        self.local.polls += 1;
        if work == 0 && queued == 0 {
            self.local.empty_polls += 1;
        }
        self.counters.publish(&self.local);
        work + queued
    }

    fn settings(&mut self, s: &Settings) {
        if (s.punt_rate, s.punt_burst) != self.punt_settings {
            self.punt_settings = (s.punt_rate, s.punt_burst);
            self.punt_bucket = TokenBucket::new(s.punt_rate, s.punt_burst);
        }
        self.idle_us = s.idle_us;
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

    /// Count `n` packets a software dispatcher steered to this worker.
    pub fn count_handoffs(&mut self, n: u64) {
        self.local.handoffs += n;
    }

    /// Run the batch (its contexts set up) through the graph from `entry`,
    /// then move each packet where its verdict says.
    fn run_burst(&mut self, snap: &Snapshot<F::Policy>, now: u64, entry: Entry) {
        let n = self.batch.len();
        if n == 0 {
            return;
        }
        let tracing = self.trace.begin_batch();
        {
            let Worker {
                batch,
                ctx,
                hooks,
                nodes,
                layout: l,
                local,
                trace,
                cache,
                rss,
                reta,
                macs,
                scratch,
                cfg,
                ..
            } = self;
            let mut cx = NodeCx::new(
                snap,
                now,
                cfg.id,
                cfg.workers,
                cache,
                rss,
                reta,
                macs,
                scratch,
            );
            let mut rn = Runner::new(batch.as_mut_slice(), &mut ctx[..n], &mut local.nodes, trace);
            let Hooks {
                state,
                prerouting,
                input,
                forward,
                output,
                postrouting,
                egress,
            } = hooks;
            if tracing && entry != Entry::Rx {
                rn.adopt_traced();
            }
            // A burst the fused path took whole has nothing left for the
            // nodes up to rewrite: their selections would all be empty.
            let mut all_fast = false;
            if entry <= Entry::Rx {
                let fast = cfg.fast_path
                    && !tracing
                    && !prerouting.active(&cx)
                    && !forward.active(&cx)
                    && !postrouting.active(&cx);
                if fast {
                    rn.run::<F, _>(
                        l.ip4_fast,
                        Position::Rx,
                        &mut nodes.ip4_fast,
                        state,
                        &mut cx,
                    );
                    all_fast = nodes.ip4_fast.taken() == n;
                }
            }
            if entry <= Entry::Rx && !all_fast {
                rn.run::<F, _>(l.parse, Position::Rx, &mut nodes.parse, state, &mut cx);
                if tracing {
                    rn.begin_trace("parse");
                }
                rn.run::<F, _>(l.l2, Position::Receive, &mut nodes.l2, state, &mut cx);
            }
            if entry <= Entry::Prerouting && !all_fast {
                prerouting.run(Hook::Prerouting, l.prerouting, &mut rn, state, &mut cx);
                rn.run::<F, _>(l.route, Position::Receive, &mut nodes.route, state, &mut cx);
                input.run(Hook::Input, l.input, &mut rn, state, &mut cx);
            }
            if entry <= Entry::Forward && !all_fast {
                forward.run(Hook::Forward, l.forward, &mut rn, state, &mut cx);
            }
            if entry <= Entry::Output && !all_fast {
                output.run(Hook::Output, l.output, &mut rn, state, &mut cx);
                postrouting.run(Hook::Postrouting, l.postrouting, &mut rn, state, &mut cx);
                rn.run::<F, _>(
                    l.rewrite,
                    Position::Rewrite,
                    &mut nodes.rewrite,
                    state,
                    &mut cx,
                );
            }
            egress.run(Hook::Egress, l.egress_hook, &mut rn, state, &mut cx);
            rn.run::<F, _>(
                l.egress,
                Position::Egress,
                &mut nodes.egress,
                state,
                &mut cx,
            );
        }
        self.dispatch(n);
        if self.trace.active() {
            self.trace.end_batch();
        }
        for e in self.scratch.take_emitted() {
            self.local.injected += 1;
            self.pending.push(e.at, e.pkt, e.ctx);
        }
    }

    /// Move each packet where its verdict says.
    fn dispatch(&mut self, n: usize) {
        let Worker {
            batch,
            ctx,
            nodes,
            cache,
            local,
            punt,
            punt_bucket,
            handoff_tx,
            cfg,
            ..
        } = self;
        for (p, c) in batch.drain().zip(ctx[..n].iter()) {
            match c.verdict {
                Verdict::Tx => nodes.egress.enqueue(usize::from(c.egress.port.0), p),
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
                        ctx: *c,
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
                Verdict::Handoff { worker, at } => {
                    let mut hc = *c;
                    hc.verdict = Verdict::Continue;
                    let sent = match handoff_tx.get_mut(usize::from(worker)) {
                        Some(Some(ring)) => ring.push(Handoff {
                            pkt: p,
                            ctx: hc,
                            at,
                        }),
                        _ => Err(Handoff {
                            pkt: p,
                            ctx: hc,
                            at,
                        }),
                    };
                    match sent {
                        Ok(()) => local.handoff_out += 1,
                        Err(h) => {
                            local.drop(Reason::HandoffQueueFull.into());
                            cache.free(h.pkt);
                        }
                    }
                }
                Verdict::Continue => {
                    local.drop(Reason::Undecided.into());
                    cache.free(p);
                }
            }
        }
        nodes.egress.end_burst();
        punt.observe_depth();
    }

    /// Take what other workers handed over (bounded per ring and poll).
    fn take_handoffs(&mut self) -> usize {
        let mut n = 0;
        for r in &mut self.handoff_rx {
            for _ in 0..INTAKE_PER_POLL {
                let Some(h) = r.pop() else { break };
                n += 1;
                self.pending.push(h.at, h.pkt, h.ctx);
            }
        }
        self.local.handoff_in += n as u64;
        n
    }

    /// Take what the slow path gave back: resolved packets enter at the
    /// forward hook, frames the router made at the output hook.
    fn take_injects(&mut self, snap: &Snapshot<F::Policy>, now: u64) -> usize {
        let mut n = 0;
        while n < INTAKE_PER_POLL {
            let Some(inj) = self.inject.pop() else { break };
            n += 1;
            self.local.injected += 1;
            match inj {
                Inject::Resolved { pkt, ctx } => self.resolved(snap, now, pkt, ctx),
                Inject::Local { pkt, to } => self.made_here(snap, now, pkt, to),
            }
        }
        n
    }

    /// A held packet is back with its next hop's MAC: find its port (a
    /// bridge interface's station port from this worker's MAC table) and
    /// let it go on from the forward hook.
    fn resolved(&mut self, snap: &Snapshot<F::Policy>, now: u64, pkt: Packet, mut c: PacketCtx) {
        c.origin = Origin::Resolved;
        c.verdict = Verdict::Tx;
        let t = &snap.fib;
        match t.ifs.iface(c.egress.iface).map(|i| i.attach) {
            Some(Attach::Port(p)) => {
                c.egress.port = p;
                c.egress.vlan_tag = None;
                self.pending.push(Entry::Forward, pkt, c);
            }
            Some(Attach::Bridge(vlan)) => {
                let found = {
                    let cx = self.cx(snap, now);
                    egress_port(&cx, t, c.egress.iface, c.egress.dst_mac)
                };
                match found {
                    Some((port, tag)) => {
                        c.egress.port = port;
                        c.egress.vlan_tag = tag;
                        self.pending.push(Entry::Forward, pkt, c);
                    }
                    // The station is not known on this worker: every member
                    // port gets a copy, each rewritten for its own tag.
                    None => self.flood_resolved(snap, pkt, c, vlan),
                }
            }
            None => {
                self.local.drop(Reason::UnknownPort.into());
                self.cache.free(pkt);
            }
        }
    }

    fn flood_resolved(
        &mut self,
        snap: &Snapshot<F::Policy>,
        pkt: Packet,
        c: PacketCtx,
        vlan: orbital_fib::VlanId,
    ) {
        let t = &snap.fib;
        let members: Vec<PortId> = t.ifs.bridge(vlan).map_or(Vec::new(), |b| b.members.clone());
        for m in members {
            let Some(tag) = l2::egress_tag(t, m, vlan) else {
                continue;
            };
            let Some(mut copy) = self.cache.alloc() else {
                self.local.drop(Reason::NoBuffer.into());
                continue;
            };
            copy.meta = pkt.meta;
            if !copy.extend_from_slice(&pkt) {
                self.cache.free(copy);
                self.local.drop(Reason::NoBuffer.into());
                continue;
            }
            let mut cc = c;
            cc.egress.port = m;
            cc.egress.vlan_tag = tag;
            self.local.injected += 1;
            self.pending.push(Entry::Forward, copy, cc);
        }
        self.local.consumed += 1;
        self.cache.free(pkt);
    }

    /// A frame the router made: parsed (so the output hook's nodes can
    /// match on it), then on from the output hook — flooded as copies when
    /// it goes to a bridge.
    fn made_here(&mut self, snap: &Snapshot<F::Policy>, now: u64, pkt: Packet, to: InjectTo) {
        let mut c = PacketCtx {
            origin: Origin::Local,
            verdict: Verdict::Tx,
            ..PacketCtx::default()
        };
        // The slow path built it: a parse error here would be our bug; the
        // frame still goes out as made, its summary partial.
        let _ = parse(&pkt, LinkType::Ethernet, &mut c.info);
        match to {
            InjectTo::Port(port) => {
                c.egress.port = port;
                self.pending.push(Entry::Output, pkt, c);
            }
            InjectTo::Bridge { vlan, except } => {
                let r = {
                    let mut cx = self.cx(snap, now);
                    flood(&mut cx, &snap.fib, &pkt, &c, vlan, except, FloodAs::Local)
                };
                match r {
                    Ok(()) => self.local.consumed += 1,
                    Err(e) => self.local.drop(e),
                }
                self.cache.free(pkt);
                for e in self.scratch.take_emitted() {
                    self.local.injected += 1;
                    self.pending.push(e.at, e.pkt, e.ctx);
                }
            }
        }
    }

    fn cx<'a>(&'a mut self, snap: &'a Snapshot<F::Policy>, now: u64) -> NodeCx<'a, F::Policy> {
        NodeCx::new(
            snap,
            now,
            self.cfg.id,
            self.cfg.workers,
            &mut self.cache,
            &self.rss,
            &self.reta,
            &mut self.macs,
            &mut self.scratch,
        )
    }

    /// Run everything pending through the graph, by entry, in bursts; what
    /// those bursts make goes round again, at most [`MAX_ROUNDS`] times.
    fn drain_pending(&mut self, snap: &Snapshot<F::Policy>, now: u64) {
        let mut rounds = 0;
        while !self.pending.is_empty() {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                for v in &mut self.pending.by_entry {
                    for (p, _) in v.drain(..) {
                        self.local.drop(Reason::CreatedOverflow.into());
                        self.cache.free(p);
                    }
                }
                break;
            }
            for at in [
                Entry::Rx,
                Entry::Prerouting,
                Entry::Forward,
                Entry::Output,
                Entry::Egress,
            ] {
                let mut list = std::mem::take(&mut self.pending.by_entry[at as usize]);
                let mut it = list.drain(..).peekable();
                while it.peek().is_some() {
                    for ((p, c), slot) in it.by_ref().take(MAX_BURST).zip(self.ctx.iter_mut()) {
                        *slot = c;
                        // Room for MAX_BURST: the batch was drained.
                        let _ = self.batch.push(p);
                    }
                    self.run_burst(snap, now, at);
                }
                drop(it);
                // Keep the storage (no allocation next poll) unless the
                // bursts just run left new packets at this entry.
                if self.pending.by_entry[at as usize].is_empty() {
                    self.pending.by_entry[at as usize] = list;
                }
            }
        }
    }

    /// Let the egress node transmit. Returns packets still queued.
    pub fn flush_tx(&mut self) -> usize {
        self.nodes.egress.flush(
            &mut self.ports,
            &mut self.cache,
            &mut self.local,
            self.layout.tx,
        );
        self.nodes.egress.queued()
    }

    /// Give back every buffer the worker holds (at shutdown): what the
    /// ports take is sent, the rest of the egress queues is dropped.
    pub fn drain(&mut self) {
        for _ in 0..64 {
            if self.flush_tx() == 0 {
                break;
            }
        }
        self.nodes.egress.discard(&mut self.cache, &mut self.local);
        self.counters.publish(&self.local);
        self.cache.flush_all();
    }
}

/// Every node's counters with its name (for `show runtime`).
pub fn node_rows<'a>(
    names: &'a [&'static str],
    s: &'a WorkerSnapshot,
) -> impl Iterator<Item = (&'static str, NodeSnapshot)> + 'a {
    names.iter().zip(s.nodes.iter()).map(|(&n, &c)| (n, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_graph::Plain;

    #[test]
    fn layout_of_plain_is_the_forwarding_path() {
        let l = Layout::of(&Plain::hooks(0, 1));
        assert_eq!(
            l.names,
            [
                "rx", "ip4-fast", "parse", "l2", "route", "rewrite", "egress", "tx"
            ]
        );
        assert_eq!((l.prerouting, l.route, l.input), (4, 4, 5));
    }
}
