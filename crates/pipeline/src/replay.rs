//! `orbital replay`: the engine with capture files as its NICs.
//!
//! The driver plays the NIC and its RSS: it reads the input captures (merged
//! by timestamp when there are several), numbers the frames, hashes each flow
//! (symmetric Toeplitz) to a worker and hands the frame to that worker's
//! receive ring (a counted handoff), a fixed number of frames per round, then
//! steps the engine once. Time is the capture's: the virtual clock follows
//! the frames' timestamps, so timers, aging and rate limits fire at the same
//! packet every run. Every frame is stamped with the virtual time the
//! engine sent it — what it forwards or answers at its cause's arrival,
//! what the slow path's timers send at their due time — and outputs are
//! written in that time order, ties by the sequence number of the input
//! frame that caused them (see `orbital_io::pcap`): in time order, and
//! byte-identical across runs and across worker counts.
//!
//! A round holds frames of one input capture only, so a worker sees the
//! frames of different ports in their time order.
//!
//! Two things can still make worker counts differ, both by design of the
//! fast path: per-worker punt token buckets (spec §3.2), when a capture
//! exceeds them, and per-worker MAC learning (a station heard only on
//! another worker is flooded to). The router example triggers neither.

use orbital_buf::Packet;
use orbital_fib::{PortId, TablesBuilder};
use orbital_io::{AnyPort, MemoryPort, PcapPortError, PcapRx, PcapTx, RingRx, RingTx, ring};
use orbital_wire::{LinkType, PacketInfo, parse};

use orbital_graph::trace::{TraceFilter, TraceRecord};
use orbital_graph::{Clock, Features};

use crate::engine::{Engine, EngineConfig, EngineStats};

/// A capture arriving on a port.
#[derive(Debug)]
pub struct ReplayInput {
    /// The port it arrives on.
    pub port: PortId,
    /// The capture.
    pub rx: PcapRx,
}

/// Where a port's transmitted frames are written.
#[derive(Debug)]
pub struct ReplayOutput {
    /// The port.
    pub port: PortId,
    /// The capture to write.
    pub tx: PcapTx,
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The engine.
    pub engine: EngineConfig,
    /// Input frames per round.
    pub round: usize,
    /// Virtual time to let pass after the last frame, so pending neighbour
    /// resolutions time out as they would on a live router.
    pub settle_ns: u64,
    /// Trace the first N matching packets per worker.
    pub trace: Option<(usize, TraceFilter)>,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            engine: EngineConfig {
                ring_size: 8192,
                pool: orbital_buf::PoolConfig {
                    buffers: 32_768,
                    ..orbital_buf::PoolConfig::default()
                },
                ..EngineConfig::default()
            },
            round: 64,
            settle_ns: 5_000_000_000,
            trace: None,
        }
    }
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayReport {
    /// Every counter at the end.
    pub stats: EngineStats,
    /// Frames read from the inputs.
    pub frames_in: u64,
    /// Frames written, per output port.
    pub frames_out: Vec<(PortId, usize)>,
    /// Frames sent on ports without an output file (discarded).
    pub unwritten: u64,
    /// Input frames too large for a buffer (skipped).
    pub oversize: u64,
    /// Damage found at the end of an input, if any.
    pub damage: Vec<String>,
    /// Traced packets.
    pub trace: Vec<TraceRecord>,
    /// Rounds stepped.
    pub rounds: u64,
}

/// Run a replay of graph `F` over tables built in `builder` and the
/// features' `policy`, for `n_ports` ports.
///
/// # Errors
/// Pool creation or writing an output.
pub fn replay<F: Features>(
    cfg: &ReplayConfig,
    builder: TablesBuilder,
    policy: F::Policy,
    n_ports: usize,
    mut inputs: Vec<ReplayInput>,
    mut outputs: Vec<ReplayOutput>,
) -> Result<ReplayReport, PcapPortError> {
    let workers = cfg.engine.workers.max(1);
    // Driver → worker receive rings and worker → driver transmit rings, per
    // (worker, port).
    let mut to_worker: Vec<Vec<Option<RingTx<Packet>>>> = (0..workers)
        .map(|_| (0..n_ports).map(|_| None).collect())
        .collect();
    let mut from_worker: Vec<Vec<Option<RingRx<Packet>>>> = (0..workers)
        .map(|_| (0..n_ports).map(|_| None).collect())
        .collect();
    let ring_size = cfg.engine.ring_size.max(cfg.round * 2);
    let clock = Clock::virtual_at(0);
    let mut engine: Engine<F> = Engine::new(
        &cfg.engine,
        builder,
        policy,
        n_ports,
        |w, p| {
            let (tx_in, rx_in, _) = ring(ring_size);
            let (tx_out, rx_out, _) = ring(ring_size);
            to_worker[w][p] = Some(tx_in);
            from_worker[w][p] = Some(rx_out);
            AnyPort::Memory(MemoryPort::new(Some(rx_in), Some(tx_out)))
        },
        clock.clone(),
    )
    .map_err(|e| PcapPortError::Write {
        path: "buffer pool".into(),
        reason: std::io::Error::other(e.to_string()),
    })?;
    let handle = engine.handle();
    let mut cache = handle.pool.cache(256);
    if let Some((n, f)) = &cfg.trace {
        handle.trace.start(*n, f.clone());
    }
    let mut report = ReplayReport {
        stats: handle.stats(),
        frames_in: 0,
        frames_out: Vec::new(),
        unwritten: 0,
        oversize: 0,
        damage: Vec::new(),
        trace: Vec::new(),
        rounds: 0,
    };
    let mut peeked: Vec<Option<Packet>> = inputs
        .iter_mut()
        .map(|i| i.rx.next_packet(&mut cache))
        .collect();
    let mut info = PacketInfo::default();
    let mut seq = 0u64;
    let mut last_ts = 0;
    loop {
        let mut sent = 0;
        let mut round_input = None;
        while sent < cfg.round {
            // Earliest frame across inputs; ties go to the first input.
            let Some(i) = (0..peeked.len())
                .filter(|&i| peeked[i].is_some())
                .min_by_key(|&i| {
                    (
                        peeked[i].as_ref().map_or(u64::MAX, |p| p.meta.timestamp_ns),
                        i,
                    )
                })
            else {
                break;
            };
            // A round holds frames of one input only: a worker polls its
            // ports one after the other, so frames of two ports in one round
            // would be seen out of their time order (an ACK before the
            // SYN/ACK it answers, to connection tracking).
            if round_input.is_some_and(|r| r != i) {
                break;
            }
            round_input = Some(i);
            let mut p = peeked[i].take().unwrap_or_else(|| unreachable!());
            peeked[i] = inputs[i].rx.next_packet(&mut cache);
            p.meta.seq = seq;
            seq += 1;
            p.meta.port = inputs[i].port.0;
            // Received now: a capture out of time order is still received
            // in file order, so no frame arrives before the one read ahead
            // of it (the clock never goes back).
            p.meta.timestamp_ns = p.meta.timestamp_ns.max(last_ts);
            let hash = match parse(&p, LinkType::Ethernet, &mut info) {
                Ok(()) => engine.rss.hash_packet(&info),
                Err(_) => 0,
            };
            p.meta.flow_hash = hash;
            let w = engine.reta.worker(hash);
            last_ts = last_ts.max(p.meta.timestamp_ns);
            clock.advance_to(p.meta.timestamp_ns);
            let port = usize::from(p.meta.port);
            match to_worker[w].get_mut(port).and_then(Option::as_mut) {
                Some(r) => {
                    if let Err(p) = r.push(p) {
                        cache.free(p);
                    } else {
                        engine.workers[w].count_handoffs(1);
                    }
                }
                None => cache.free(p),
            }
            report.frames_in += 1;
            sent += 1;
        }
        if sent == 0 {
            break;
        }
        engine.step();
        report.rounds += 1;
        collect(&mut from_worker, &mut outputs, &mut cache, &mut report);
    }
    // Let the engine finish what is in flight, then let timers run out.
    while engine.step() > 0 {
        report.rounds += 1;
        collect(&mut from_worker, &mut outputs, &mut cache, &mut report);
    }
    let mut t = 0;
    while t < cfg.settle_ns {
        t += 1_000_000_000;
        clock.advance_to(last_ts + t);
        engine.step();
        report.rounds += 1;
        collect(&mut from_worker, &mut outputs, &mut cache, &mut report);
    }
    report.trace = engine.take_trace();
    engine.drain();
    collect(&mut from_worker, &mut outputs, &mut cache, &mut report);
    for i in &inputs {
        report.oversize += i.rx.oversize;
        if let Some(d) = &i.rx.damage {
            report
                .damage
                .push(format!("{}: {d}", i.rx.path().display()));
        }
    }
    for o in outputs {
        let port = o.port;
        report.frames_out.push((port, o.tx.finish()?));
    }
    drop(cache);
    report.stats = handle.stats();
    Ok(report)
}

fn collect(
    from_worker: &mut [Vec<Option<RingRx<Packet>>>],
    outputs: &mut [ReplayOutput],
    cache: &mut orbital_buf::PoolCache,
    report: &mut ReplayReport,
) {
    for per_port in from_worker.iter_mut() {
        for (port, r) in per_port.iter_mut().enumerate() {
            let Some(r) = r else { continue };
            while let Some(p) = r.pop() {
                match outputs.iter_mut().find(|o| usize::from(o.port.0) == port) {
                    Some(o) => o.tx.record(p, cache),
                    None => {
                        report.unwritten += 1;
                        cache.free(p);
                    }
                }
            }
        }
    }
}
