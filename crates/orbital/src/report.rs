//! Statistics for people (tables, like `vppctl show runtime` / `ip -s link`)
//! and for scripts (JSON with stable field names).

use std::fmt::Write as _;

use orbital_pipeline::counters::WorkerSnapshot;
use orbital_pipeline::drop::DropReason;
use orbital_pipeline::engine::EngineStats;
use orbital_pipeline::replay::ReplayReport;
use serde_json::{Value, json};

fn name(names: &[String], i: usize) -> String {
    names.get(i).cloned().unwrap_or_else(|| format!("port{i}"))
}

/// Drop reasons with a non-zero count, fast and slow path together.
pub fn drops(s: &EngineStats) -> Vec<(DropReason, u64)> {
    DropReason::all()
        .map(|r| {
            let n = s.total.drops.get(r.index()).copied().unwrap_or(0)
                + s.slow.drops.get(r.index()).copied().unwrap_or(0);
            (r, n)
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// The whole statistics block as text.
pub fn stats_text(s: &EngineStats, names: &[String]) -> String {
    let mut o = String::new();
    let t = &s.total;
    let _ = writeln!(
        o,
        "ports{:>24}{:>10}{:>10}{:>12}{:>12}",
        "rx", "tx", "tx-drops", "rx-bytes", "tx-bytes"
    );
    for (i, p) in t.ports.iter().enumerate() {
        let _ = writeln!(
            o,
            "  {:<20}{:>7}{:>10}{:>10}{:>12}{:>12}",
            name(names, i),
            p.rx,
            p.tx,
            p.tx_drops,
            p.rx_bytes,
            p.tx_bytes
        );
    }
    let d = drops(s);
    if !d.is_empty() {
        let _ = writeln!(o, "drops");
        for (r, n) in d {
            let _ = writeln!(o, "  {:<28}{:>8}  {}", r.name(), n, r.description());
        }
    }
    let sl = &s.slow;
    let _ = writeln!(
        o,
        "slow path: {} punts: {} ARP replies, {} neighbour adverts, {} echo replies, {} ICMP errors ({} rate-limited), {} resolutions sent, {} released, {} learned",
        sl.received,
        sl.arp_replies,
        sl.neighbor_adverts,
        sl.echo_replies,
        sl.icmp_errors,
        sl.icmp_rate_limited,
        sl.resolutions,
        sl.released,
        sl.learned
    );
    let _ = writeln!(
        o,
        "nodes{:>23}{:>10}{:>8}{:>14}",
        "calls", "packets", "drops", "cycles/pkt"
    );
    for (name, c) in s.nodes.iter().zip(&t.nodes) {
        if c.calls == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "  {:<16}{:>10}{:>10}{:>8}{:>14.1}",
            name,
            c.calls,
            c.packets,
            c.drops,
            c.cycles_per_packet()
        );
    }
    let _ = writeln!(
        o,
        "accounting: rx {} + injected {} = tx {} + dropped {} + punted {} + consumed {} + queued {}  [{}]",
        t.rx,
        t.injected,
        t.tx,
        t.dropped,
        t.punted,
        t.consumed,
        t.queued,
        if t.balanced() {
            "balanced"
        } else {
            "NOT BALANCED"
        }
    );
    let _ = writeln!(
        o,
        "tables version {}, buffers {}/{} free, {} handoffs",
        s.tables_version, s.pool.free, s.pool.total, t.handoffs
    );
    o
}

/// A replay's report as text.
pub fn replay_text(r: &ReplayReport, names: &[String], workers: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "replayed {} frames in {} rounds on {} worker(s)",
        r.frames_in, r.rounds, workers
    );
    for (p, n) in &r.frames_out {
        let _ = writeln!(
            o,
            "  wrote {} frames sent on {}",
            n,
            name(names, usize::from(p.0))
        );
    }
    if r.unwritten > 0 {
        let _ = writeln!(
            o,
            "  {} frames sent on ports without --out (discarded)",
            r.unwritten
        );
    }
    if r.oversize > 0 {
        let _ = writeln!(
            o,
            "  {} input frames larger than a buffer were skipped",
            r.oversize
        );
    }
    for d in &r.damage {
        let _ = writeln!(o, "  input damaged: {d}");
    }
    o.push_str(&stats_text(&r.stats, names));
    if !r.trace.is_empty() {
        let _ = writeln!(o, "trace ({} packets)", r.trace.len());
        let pn = |p: orbital_fib::PortId| name(names, usize::from(p.0));
        for t in &r.trace {
            o.push_str(&t.render(&pn));
        }
    }
    o
}

fn worker_json(w: &WorkerSnapshot, names: &[String], nodes: &[&'static str]) -> Value {
    json!({
        "rx": w.rx, "tx": w.tx, "injected": w.injected, "dropped": w.dropped,
        "punted": w.punted, "consumed": w.consumed, "handoffs": w.handoffs,
        "handoff_in": w.handoff_in, "handoff_out": w.handoff_out, "queued": w.queued,
        "polls": w.polls, "empty_polls": w.empty_polls, "wakeups": w.wakeups, "balanced": w.balanced(),
        "ports": w.ports.iter().enumerate().map(|(i, p)| json!({
            "name": name(names, i), "rx": p.rx, "tx": p.tx, "tx_drops": p.tx_drops,
            "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes, "rx_drops": p.rx_drops,
        })).collect::<Vec<_>>(),
        "stages": nodes.iter().zip(&w.nodes).map(|(n, c)| {
            json!({"name": n, "calls": c.calls, "packets": c.packets, "drops": c.drops, "cycles": c.cycles})
        }).collect::<Vec<_>>(),
    })
}

/// Every counter as JSON.
pub fn stats_json(s: &EngineStats, names: &[String]) -> Value {
    json!({
        "tables_version": s.tables_version,
        "total": worker_json(&s.total, names, &s.nodes),
        "workers": s.workers.iter().map(|w| worker_json(w, names, &s.nodes)).collect::<Vec<_>>(),
        "drops": drops(s).into_iter().map(|(r, n)| json!({"reason": r.name(), "count": n, "description": r.description()})).collect::<Vec<_>>(),
        "slow_path": {
            "received": s.slow.received, "consumed": s.slow.consumed, "dropped": s.slow.dropped,
            "released": s.slow.released, "holding": s.slow.holding, "injected": s.slow.injected,
            "arp_replies": s.slow.arp_replies, "neighbor_adverts": s.slow.neighbor_adverts,
            "echo_replies": s.slow.echo_replies, "icmp_errors": s.slow.icmp_errors,
            "icmp_rate_limited": s.slow.icmp_rate_limited, "resolutions": s.slow.resolutions,
            "learned": s.slow.learned,
        },
        "rings": s.rings.iter().map(|(n, r)| json!({"name": n, "pushed": r.pushed, "dropped": r.dropped, "high_water": r.high_water, "capacity": r.capacity})).collect::<Vec<_>>(),
        "buffers": {"total": s.pool.total, "free": s.pool.free, "in_use": s.pool.in_use, "alloc_failures": s.pool.alloc_failures},
    })
}

/// A replay's report as JSON.
pub fn replay_json(r: &ReplayReport, names: &[String]) -> Value {
    json!({
        "frames_in": r.frames_in,
        "rounds": r.rounds,
        "outputs": r.frames_out.iter().map(|(p, n)| json!({"port": name(names, usize::from(p.0)), "frames": n})).collect::<Vec<_>>(),
        "unwritten": r.unwritten,
        "stats": stats_json(&r.stats, names),
    })
}
