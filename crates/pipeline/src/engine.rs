//! The engine: workers, the slow path and the rings between them, wired from
//! a configuration and driven one of two ways.
//!
//! - [`Engine::step`]: one round in the calling thread — every worker polls,
//!   the slow path polls, every worker polls again to send what the slow path
//!   injected. Replay and tests drive the engine this way: no threads, no
//!   timing, the same result every run.
//! - [`Engine::spawn`]: each worker on its own thread pinned to a CPU, the
//!   slow path on another; they run until told to stop.
//!
//! The engine is generic over its [`Features`]: the same graph runs in the
//! daemon, in replay and in the benchmark.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use orbital_buf::{Pool, PoolConfig, PoolError};
use orbital_fib::TablesBuilder;
use orbital_graph::rss::{Reta, SYMMETRIC_KEY, Toeplitz};
use orbital_graph::trace::{TraceControl, TraceLog, TraceReader, TraceRecord, WorkerTrace};
use orbital_graph::{
    Clock, Features, Publisher, Settings, SharedSnapshot, WorkerCounters, WorkerSnapshot,
};
use orbital_io::{AnyPort, RingStats, ring, ring::RingSnapshot};

use crate::slowpath::{SlowPath, SlowPathConfig, SlowSnapshot};
use crate::worker::{Layout, Worker, WorkerConfig, WorkerWiring};

/// How to build an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads.
    pub workers: usize,
    /// The buffer pool.
    pub pool: PoolConfig,
    /// Buffers each worker caches.
    pub cache_size: usize,
    /// Capacity of punt and inject rings.
    pub ring_size: usize,
    /// Capacity of each hand-off ring between two workers.
    pub handoff_ring: usize,
    /// Settings every worker gets (its id is filled in).
    pub worker: WorkerConfig,
    /// Slow-path settings.
    pub slow: SlowPathConfig,
    /// Finished trace records kept per worker until read.
    pub trace_capacity: usize,
    /// CPUs to pin workers to, in order (empty: do not pin).
    pub cpus: Vec<usize>,
    /// The live settings the first snapshot carries (rates, idle time).
    pub settings: Settings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 1,
            pool: PoolConfig::default(),
            cache_size: 512,
            ring_size: 1024,
            handoff_ring: 1024,
            worker: WorkerConfig::default(),
            slow: SlowPathConfig::default(),
            trace_capacity: 4096,
            cpus: Vec::new(),
            settings: Settings::default(),
        }
    }
}

/// Everything anyone may read about a running engine, without stopping it.
#[derive(Debug)]
pub struct EngineHandle<P> {
    /// The published snapshot.
    pub shared: Arc<SharedSnapshot<P>>,
    /// Its only writer (the API, reloads and the slow path publish here).
    pub publisher: Arc<Publisher<P>>,
    /// Node names, by node number (the same on every worker).
    pub nodes: Arc<[&'static str]>,
    /// Each worker's counters.
    pub workers: Vec<Arc<WorkerCounters>>,
    /// The slow path's counters.
    pub slow: Arc<ArcSwap<SlowSnapshot>>,
    /// Rings by name: punt and inject rings per worker.
    pub rings: Vec<(String, Arc<RingStats>)>,
    /// Trace control.
    pub trace: Arc<TraceControl>,
    /// The buffer pool.
    pub pool: Pool,
}

impl<P> Clone for EngineHandle<P> {
    fn clone(&self) -> Self {
        EngineHandle {
            shared: self.shared.clone(),
            publisher: self.publisher.clone(),
            nodes: self.nodes.clone(),
            workers: self.workers.clone(),
            slow: self.slow.clone(),
            rings: self.rings.clone(),
            trace: self.trace.clone(),
            pool: self.pool.clone(),
        }
    }
}

/// A summary of every counter.
#[derive(Debug, Clone)]
pub struct EngineStats {
    /// Per worker.
    pub workers: Vec<WorkerSnapshot>,
    /// All workers summed.
    pub total: WorkerSnapshot,
    /// The slow path.
    pub slow: SlowSnapshot,
    /// Rings.
    pub rings: Vec<(String, RingSnapshot)>,
    /// Version of the published snapshot.
    pub tables_version: u64,
    /// Buffer pool accounting.
    pub pool: orbital_buf::PoolStats,
    /// Node names, by node number (index of `WorkerSnapshot::nodes`).
    pub nodes: Arc<[&'static str]>,
}

impl<P> EngineHandle<P> {
    /// Read every counter.
    pub fn stats(&self) -> EngineStats {
        let workers: Vec<WorkerSnapshot> = self.workers.iter().map(|w| w.snapshot()).collect();
        let mut total = WorkerSnapshot::new(
            workers.first().map_or(0, |w| w.ports.len()),
            self.nodes.len(),
        );
        for w in &workers {
            total.add(w);
        }
        EngineStats {
            workers,
            total,
            slow: (**self.slow.load()).clone(),
            rings: self
                .rings
                .iter()
                .map(|(n, s)| (n.clone(), s.snapshot()))
                .collect(),
            tables_version: self.shared.load().version,
            pool: self.pool.stats(),
            nodes: self.nodes.clone(),
        }
    }
}

/// Workers, slow path, rings.
pub struct Engine<F: Features> {
    /// The workers.
    pub workers: Vec<Worker<F>>,
    /// The slow path.
    pub slow: SlowPath<F::Policy>,
    handle: EngineHandle<F::Policy>,
    trace_readers: Vec<TraceReader>,
    /// Per worker, what a [`Running`]'s trace log keeps.
    trace_capacity: usize,
    /// Flow hasher (for dispatchers).
    pub rss: Arc<Toeplitz>,
    /// Flow → worker.
    pub reta: Arc<Reta>,
    /// The clock.
    pub clock: Clock,
    cpus: Vec<usize>,
    slow_bell: Arc<crate::doorbell::Doorbell>,
}

impl<F: Features> core::fmt::Debug for Engine<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl<F: Features> Engine<F> {
    /// Build an engine over tables already built in `builder` and the
    /// features' compiled `policy`. `port(worker, port)` gives each worker
    /// its endpoint of each of the `n_ports` ports; each worker's nodes come
    /// from [`Features::hooks`].
    ///
    /// # Errors
    /// When the buffer pool cannot be made.
    pub fn new(
        cfg: &EngineConfig,
        builder: TablesBuilder,
        policy: F::Policy,
        n_ports: usize,
        port: impl FnMut(usize, usize) -> AnyPort,
        clock: Clock,
    ) -> Result<Engine<F>, PoolError> {
        let pool = Pool::new(cfg.pool)?;
        Ok(Self::with_pool(
            cfg, pool, builder, policy, n_ports, port, clock,
        ))
    }

    /// As [`Engine::new`], over a pool made beforehand: ports whose device
    /// shares the pool's memory (AF_XDP UMEM) are opened before the engine
    /// exists. `cfg.pool` is ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn with_pool(
        cfg: &EngineConfig,
        pool: Pool,
        builder: TablesBuilder,
        policy: F::Policy,
        n_ports: usize,
        mut port: impl FnMut(usize, usize) -> AnyPort,
        clock: Clock,
    ) -> Engine<F> {
        let publisher = Arc::new(Publisher::new(builder, policy, cfg.settings));
        let shared = publisher.shared().clone();
        let rss = Arc::new(Toeplitz::new(&SYMMETRIC_KEY));
        let trace = Arc::new(TraceControl::default());
        let slow_bell = Arc::new(crate::doorbell::Doorbell::default());
        let n = cfg.workers.clamp(1, usize::from(u16::MAX));
        let reta = Arc::new(Reta::new(n));
        let (mut workers, mut punt_rx, mut inject_tx, mut rings, mut counters, mut readers) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        // Hand-off rings, one per ordered pair of workers.
        let mut handoff_tx: Vec<Vec<_>> = (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        let mut handoff_rx: Vec<Vec<_>> = (0..n).map(|_| Vec::new()).collect();
        for (a, row) in handoff_tx.iter_mut().enumerate() {
            for (b, slot) in row.iter_mut().enumerate() {
                if a == b {
                    continue;
                }
                let (tx, rx, stats) = ring(cfg.handoff_ring);
                rings.push((format!("handoff/worker{a}->worker{b}"), stats));
                *slot = Some(tx);
                handoff_rx[b].push(rx);
            }
        }
        let mut handoff_tx = handoff_tx.into_iter();
        let mut handoff_rx = handoff_rx.into_iter();
        let mut nodes: Arc<[&'static str]> = Arc::from(Vec::new());
        for w in 0..n {
            let (ptx, prx, pstats) = ring(cfg.ring_size);
            let (itx, irx, istats) = ring(cfg.ring_size);
            rings.push((format!("punt/worker{w}"), pstats));
            rings.push((format!("inject/worker{w}"), istats));
            punt_rx.push(prx);
            inject_tx.push(itx);
            // `n` fits in u16 (clamped above).
            let id = w as u16;
            let hooks = F::hooks(id, n as u16, publisher.shared().load().policy.as_ref());
            let layout = Layout::of(&hooks);
            if w == 0 {
                nodes = Arc::from(layout.names.clone());
            }
            let c = Arc::new(WorkerCounters::new(n_ports, layout.names.len()));
            counters.push(c.clone());
            let (wt, reader) = WorkerTrace::new(trace.clone(), id, cfg.trace_capacity);
            readers.push(reader);
            let wcfg = WorkerConfig {
                id,
                workers: n as u16,
                ..cfg.worker.clone()
            };
            let wiring = WorkerWiring {
                ports: (0..n_ports).map(|p| port(w, p)).collect(),
                cache: pool.cache(cfg.cache_size),
                shared: shared.clone(),
                clock: clock.clone(),
                punt: ptx,
                inject: irx,
                handoff_tx: handoff_tx.next().unwrap_or_default(),
                handoff_rx: handoff_rx.next().unwrap_or_default(),
                rss: rss.clone(),
                reta: reta.clone(),
                trace: wt,
                counters: c,
                slow_bell: slow_bell.clone(),
            };
            workers.push(Worker::new(wcfg, wiring, hooks));
        }
        let slow = SlowPath::new(
            cfg.slow.clone(),
            shared.clone(),
            publisher.clone(),
            punt_rx,
            inject_tx,
            pool.cache(cfg.cache_size),
            clock.clone(),
        );
        let handle = EngineHandle {
            shared,
            publisher,
            nodes,
            workers: counters,
            slow: slow.counters(),
            rings,
            trace,
            pool,
        };
        Engine {
            workers,
            slow,
            handle,
            trace_readers: readers,
            trace_capacity: cfg.trace_capacity,
            rss,
            reta,
            clock,
            cpus: cfg.cpus.clone(),
            slow_bell,
        }
    }

    /// What the control side and readers use.
    pub fn handle(&self) -> EngineHandle<F::Policy> {
        self.handle.clone()
    }

    /// One deterministic round: workers, slow path, workers again.
    /// Returns the packets and punts handled.
    pub fn step(&mut self) -> usize {
        let mut work: usize = self.workers.iter_mut().map(Worker::poll_once).sum();
        work += self.slow.poll_once();
        work += self
            .workers
            .iter_mut()
            .map(Worker::poll_once)
            .sum::<usize>();
        work
    }

    /// Finished trace records, from every worker, in sequence order.
    pub fn take_trace(&mut self) -> Vec<TraceRecord> {
        let mut v = Vec::new();
        for r in &mut self.trace_readers {
            while let Some(t) = r.pop() {
                v.push(t);
            }
        }
        v.sort_by_key(|t| (t.seq, t.worker));
        v
    }

    /// Return every buffer to the pool (after the last step).
    pub fn drain(&mut self) {
        self.slow.drain();
        for w in &mut self.workers {
            w.drain();
        }
    }

    /// Run every worker and the slow path on threads until `stop` is set.
    /// Workers are pinned to the configured CPUs; idle workers sleep on
    /// their ports (after `idle_us` of empty polls, see [`Worker::idle_wait`]).
    pub fn spawn(self, stop: Arc<AtomicBool>) -> Running<F::Policy> {
        let Engine {
            workers,
            mut slow,
            handle,
            trace_readers,
            trace_capacity,
            cpus,
            slow_bell,
            ..
        } = self;
        let mut threads = Vec::new();
        let n_workers = workers.len();
        for (i, mut w) in workers.into_iter().enumerate() {
            let stop = stop.clone();
            let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("orbital-w{i}"))
                    .spawn(move || {
                        if let Some(c) = cpu {
                            let _ = orbital_cpu::pin_current_thread(c);
                        }
                        let mut idle = Idle::new(w.idle_us());
                        while !stop.load(Ordering::Relaxed) {
                            let work = w.poll_once();
                            idle.idle_ns = w.idle_us().saturating_mul(1000);
                            if idle.after(work) {
                                w.idle_wait(IDLE_WAIT_MS);
                            }
                        }
                        w.drain();
                    }),
            );
        }
        // The slow path runs on a CPU no worker uses, if there is one.
        let slow_cpu = orbital_cpu::allowed_cpus()
            .into_iter()
            .find(|c| !cpus.iter().take(n_workers).any(|w| w == c));
        let slow_stop = stop.clone();
        let slow_thread = std::thread::Builder::new()
            .name("orbital-slow".into())
            .spawn(move || {
                if let Some(c) = slow_cpu {
                    let _ = orbital_cpu::pin_current_thread(c);
                }
                slow_bell.bind_current();
                let mut idle = Backoff::default();
                while !slow_stop.load(Ordering::Relaxed) {
                    if idle.after(slow.poll_once()) {
                        slow_bell.sleep(SLOW_TICK, || slow.has_punts());
                    }
                }
                slow.drain();
            });
        Running {
            stop,
            handle,
            threads: threads.into_iter().filter_map(Result::ok).collect(),
            slow: slow_thread.ok(),
            trace_readers,
            // As many as the workers' rings hold together: a full read of
            // every ring fits.
            trace_log: TraceLog::new(trace_capacity.saturating_mul(n_workers)),
        }
    }
}

/// Longest a sleeping worker waits before looking at its inject ring and
/// the stop flag again. Injects are answers to the worker's own punts and
/// come while it still spins (within `idle_us`), so this bounds only
/// timer-driven ones (resolution retries) and the stop.
const IDLE_WAIT_MS: i32 = 10;

/// Longest the slow path sleeps with no punt: the granularity of its
/// timers (resolution retries, held-packet expiry). Punts wake it at once
/// ([`crate::doorbell::Doorbell`]).
const SLOW_TICK: std::time::Duration = std::time::Duration::from_millis(20);

/// Adaptive polling (spec §6.1): a worker busy-polls while traffic flows;
/// once it has found nothing for `idle_ns` it blocks on its ports'
/// descriptors ([`Worker::idle_wait`]), so an idle data plane uses ~0 % CPU.
#[derive(Debug)]
struct Idle {
    idle_ns: u64,
    since: Option<std::time::Instant>,
    /// Asleep since the last packet: a wake-up that finds nothing goes
    /// straight back to sleep instead of spinning through `idle_ns` again.
    asleep: bool,
}

impl Idle {
    fn new(idle_us: u64) -> Idle {
        Idle {
            idle_ns: idle_us.saturating_mul(1000),
            since: None,
            asleep: false,
        }
    }

    /// After a poll that handled `work` packets: should the worker sleep?
    fn after(&mut self, work: usize) -> bool {
        if work > 0 {
            self.since = None;
            self.asleep = false;
            return false;
        }
        if self.asleep {
            return true;
        }
        let t = *self.since.get_or_insert_with(std::time::Instant::now);
        if t.elapsed().as_nanos() as u64 >= self.idle_ns {
            self.since = None;
            self.asleep = true;
            return true;
        }
        std::hint::spin_loop();
        false
    }
}

/// The slow path's idle loop: it spins, then yields, then says to park
/// until a worker rings its doorbell or a timer is due.
#[derive(Debug, Default)]
struct Backoff {
    empty: u32,
}

impl Backoff {
    /// After a poll that handled `work` punts: should the slow path park?
    fn after(&mut self, work: usize) -> bool {
        if work > 0 {
            self.empty = 0;
            return false;
        }
        self.empty = self.empty.saturating_add(1);
        match self.empty {
            0..=64 => std::hint::spin_loop(),
            65..=1024 => std::thread::yield_now(),
            _ => return true,
        }
        false
    }
}

/// An engine running on threads.
#[derive(Debug)]
pub struct Running<P> {
    stop: Arc<AtomicBool>,
    /// Readers' handle.
    pub handle: EngineHandle<P>,
    threads: Vec<JoinHandle<()>>,
    slow: Option<JoinHandle<()>>,
    trace_readers: Vec<TraceReader>,
    trace_log: TraceLog,
}

impl<P> Running<P> {
    /// The trace records kept since the last [`Running::clear_trace`]
    /// (with those the workers finished since the last call); reading does
    /// not remove them.
    pub fn trace(&mut self) -> &TraceLog {
        self.trace_log.collect(&mut self.trace_readers);
        &self.trace_log
    }

    /// Forget every finished trace record (`clear trace`).
    pub fn clear_trace(&mut self) {
        self.trace_log.collect(&mut self.trace_readers);
        self.trace_log.clear();
    }

    /// Stop every thread and wait for them.
    pub fn stop(self) -> EngineStats {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        if let Some(s) = self.slow {
            let _ = s.join();
        }
        self.handle.stats()
    }
}
