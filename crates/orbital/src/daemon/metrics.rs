//! Prometheus metrics (spec §11.2): `GET /metrics` in the text exposition
//! format, served on a loopback address unless told otherwise. Off by
//! default; reading the counters never stops the workers.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use anyhow::Context;

use super::Daemon;
use crate::report;

/// Parse `--metrics`: `HOST:PORT`, or `PORT` / `:PORT` for loopback.
///
/// # Errors
/// Not an address and not a port.
pub fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let port: u16 = s
        .trim_start_matches(':')
        .parse()
        .with_context(|| format!("--metrics `{s}`: not HOST:PORT or PORT"))?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Start serving; returns the bound address.
///
/// # Errors
/// A bad address or one that cannot be bound.
pub fn serve(addr: &str, d: Arc<Daemon>) -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind(parse_addr(addr)?)
        .with_context(|| format!("binding metrics on {addr}"))?;
    let bound = l.local_addr()?;
    std::thread::Builder::new()
        .name("orbital-metrics".into())
        .spawn(move || {
            for c in l.incoming().flatten() {
                let _ = answer(c, &d);
            }
        })?;
    Ok(bound)
}

fn answer(c: TcpStream, d: &Daemon) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut first = String::new();
    r.read_line(&mut first)?;
    // Headers are read and ignored, up to the blank line.
    let mut h = String::new();
    while r.read_line(&mut h)? > 2 {
        h.clear();
    }
    let mut c = c;
    if first.starts_with("GET /metrics ") || first.starts_with("GET /metrics?") {
        let body = render(d);
        write!(
            c,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        c.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n")
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every metric, text exposition format.
pub fn render(d: &Daemon) -> String {
    let s = d.handle.stats();
    let mut o = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(o, "{name}{labels} {v}");
        }
    };
    // Which build runs, as Prometheus exporters say it: a constant 1 with
    // the facts as labels (join on it to tell builds apart in a rollout).
    family(
        "orbital_build_info",
        "The running build: its version and git revision (always 1).",
        "gauge",
        vec![(
            format!(
                "{{version=\"{}\",revision=\"{}\"}}",
                esc(crate::version::VERSION),
                esc(crate::version::REVISION)
            ),
            1,
        )],
    );
    let port = |f: fn(&orbital_pipeline::counters::PortSnapshot) -> u64| {
        s.total
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("{{port=\"{}\"}}", esc(&d.names[i])), f(p)))
            .collect::<Vec<_>>()
    };
    family(
        "orbital_port_rx_packets_total",
        "Packets received.",
        "counter",
        port(|p| p.rx),
    );
    family(
        "orbital_port_tx_packets_total",
        "Packets transmitted.",
        "counter",
        port(|p| p.tx),
    );
    family(
        "orbital_port_rx_bytes_total",
        "Bytes received.",
        "counter",
        port(|p| p.rx_bytes),
    );
    family(
        "orbital_port_tx_bytes_total",
        "Bytes transmitted.",
        "counter",
        port(|p| p.tx_bytes),
    );
    family(
        "orbital_port_tx_dropped_total",
        "Packets the port could not transmit.",
        "counter",
        port(|p| p.tx_drops),
    );
    family(
        "orbital_port_rx_dropped_total",
        "Frames lost before the pipeline (ring full, no buffer, oversize).",
        "counter",
        port(|p| p.rx_drops),
    );
    family(
        "orbital_drops_total",
        "Packets dropped, by reason.",
        "counter",
        report::drops(&s)
            .into_iter()
            .map(|(r, n)| (format!("{{reason=\"{}\"}}", r.name()), n))
            .collect(),
    );
    let nodes = s.nodes.clone();
    let stage = |f: fn(&orbital_pipeline::counters::NodeSnapshot) -> u64| {
        s.workers
            .iter()
            .enumerate()
            .flat_map(|(w, ws)| {
                let nodes = nodes.clone();
                ws.nodes.iter().enumerate().map(move |(i, c)| {
                    let name = nodes.get(i).copied().unwrap_or("?");
                    (format!("{{worker=\"{w}\",stage=\"{name}\"}}"), f(c))
                })
            })
            .collect::<Vec<_>>()
    };
    family(
        "orbital_stage_packets_total",
        "Packets through a stage.",
        "counter",
        stage(|c| c.packets),
    );
    family(
        "orbital_stage_drops_total",
        "Packets a stage dropped.",
        "counter",
        stage(|c| c.drops),
    );
    family(
        "orbital_stage_cycles_total",
        "CPU cycles spent in a stage.",
        "counter",
        stage(|c| c.cycles),
    );
    let worker = |f: fn(&orbital_pipeline::counters::WorkerSnapshot) -> u64| {
        s.workers
            .iter()
            .enumerate()
            .map(|(w, ws)| (format!("{{worker=\"{w}\"}}"), f(ws)))
            .collect::<Vec<_>>()
    };
    family(
        "orbital_worker_polls_total",
        "Poll loops.",
        "counter",
        worker(|w| w.polls),
    );
    family(
        "orbital_worker_empty_polls_total",
        "Poll loops that found nothing.",
        "counter",
        worker(|w| w.empty_polls),
    );
    family(
        "orbital_worker_wakeups_total",
        "Times an idle worker slept and woke.",
        "counter",
        worker(|w| w.wakeups),
    );
    family(
        "orbital_worker_punted_total",
        "Packets handed to the slow path.",
        "counter",
        worker(|w| w.punted),
    );
    let ring = |f: fn(&orbital_io::ring::RingSnapshot) -> u64| {
        s.rings
            .iter()
            .map(|(n, r)| (format!("{{queue=\"{}\"}}", esc(n)), f(r)))
            .collect::<Vec<_>>()
    };
    family(
        "orbital_queue_pushed_total",
        "Items put on a ring.",
        "counter",
        ring(|r| r.pushed),
    );
    family(
        "orbital_queue_dropped_total",
        "Items refused by a full ring.",
        "counter",
        ring(|r| r.dropped),
    );
    family(
        "orbital_queue_high_water",
        "Deepest occupancy seen.",
        "gauge",
        ring(|r| r.high_water),
    );
    family(
        "orbital_buffers_free",
        "Free packet buffers.",
        "gauge",
        vec![(String::new(), u64::from(s.pool.free))],
    );
    family(
        "orbital_tables_version",
        "Version of the published tables.",
        "gauge",
        vec![(String::new(), s.tables_version)],
    );
    let policy = d.handle.shared.load_full();
    crate::firewall_view::metrics(&policy.policy.edge, &mut family);
    crate::nat_view::metrics(&policy.policy.nat, &mut family);
    o
}
