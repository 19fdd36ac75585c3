//! `orbital replay --config F --in [PORT=]IN.pcap --out PORT=OUT.pcap ...`:
//! the engine with capture files as its NICs (the embedded default).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use orbital_fib::{IpPrefix, PortId};
use orbital_io::{PcapRx, PcapTx};
use orbital_pipeline::replay::{ReplayConfig, ReplayInput, ReplayOutput, ReplayReport, replay};
use orbital_pipeline::trace::TraceFilter;

use crate::report;

/// Options of `orbital replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Router configuration (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Input capture, `PORT=FILE` or just `FILE` for the first port. Repeatable.
    #[arg(long = "in", required = true)]
    pub inputs: Vec<String>,
    /// Output capture for a port, `PORT=FILE`. Repeatable. Ports without one
    /// still transmit; their frames are counted and discarded.
    #[arg(long = "out")]
    pub outputs: Vec<String>,
    /// Worker count (overrides the configuration).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Trace the first N packets per worker (every stage's verdict).
    #[arg(long)]
    pub trace: Option<usize>,
    /// Only trace packets matching `key=value,...`: port, src, dst (prefixes),
    /// proto, sport, dport.
    #[arg(long)]
    pub trace_filter: Option<String>,
    /// Print the statistics as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run a replay and print what happened.
///
/// # Errors
/// Bad configuration (file:line:reason), unknown port names, unreadable
/// captures, failed outputs, or counters that do not balance.
pub fn run(a: &ReplayArgs) -> anyhow::Result<ReplayReport> {
    let (compiled, builder) = orbital_control::load(&a.config)?;
    check_outputs(a, &compiled)?;
    let port_id = |name: &str| -> anyhow::Result<PortId> {
        compiled
            .port(name)
            .map(|p| p.id)
            .with_context(|| format!("no port `{name}` in {}", a.config.display()))
    };
    let mut inputs = Vec::new();
    for spec in &a.inputs {
        let (port, file) = match spec.split_once('=') {
            Some((p, f)) => (port_id(p)?, f),
            None => (PortId(0), spec.as_str()),
        };
        inputs.push(ReplayInput {
            port,
            rx: PcapRx::open(std::path::Path::new(file))?,
        });
    }
    let mut outputs = Vec::new();
    for spec in &a.outputs {
        let Some((p, f)) = spec.split_once('=') else {
            bail!("--out wants PORT=FILE, not `{spec}`")
        };
        outputs.push(ReplayOutput {
            port: port_id(p)?,
            tx: PcapTx::new(std::path::Path::new(f)),
        });
    }
    let mut cfg = ReplayConfig::default();
    apply_engine_settings(&compiled.engine, &mut cfg.engine);
    apply_nat_settings(&compiled, &mut cfg);
    if let Some(w) = a.workers {
        cfg.engine.workers = w.max(1);
    }
    if let Some(n) = a.trace {
        let filter = match &a.trace_filter {
            Some(f) => parse_filter(f, &port_id)?,
            None => TraceFilter::default(),
        };
        cfg.trace = Some((n, filter));
    }
    let names: Vec<String> = compiled.ports.iter().map(|p| p.name.clone()).collect();
    let policy = crate::policy(&compiled, cfg.engine.workers, 1, None)?;
    for w in &policy.edge.firewall.warnings {
        crate::errln!("orbital: warning: {w}");
    }
    let rep = replay::<crate::Graph>(&cfg, builder, policy, compiled.ports.len(), inputs, outputs)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&report::replay_json(&rep, &names)).expect("serialises")
        );
    } else {
        crate::out!("{}", report::replay_text(&rep, &names, cfg.engine.workers));
    }
    if !rep.stats.total.balanced() {
        bail!("counters do not balance: rx + injected != tx + dropped + punted + consumed");
    }
    Ok(rep)
}

/// Refuse `--out` arguments that would lose data, before anything is read
/// or written: two outputs for one port (one file would stay empty), one
/// file for two ports (it would keep only one port's frames), an output
/// that is one of the inputs (it would be overwritten), or an output in a
/// directory that does not exist (the replay would run and then fail).
///
/// # Errors
/// The first such argument, with the one it conflicts with.
fn check_outputs(a: &ReplayArgs, compiled: &orbital_control::Compiled) -> anyhow::Result<()> {
    let inputs: Vec<(PathBuf, &str)> = a
        .inputs
        .iter()
        .map(|spec| {
            let file = spec.split_once('=').map_or(spec.as_str(), |(_, f)| f);
            (file_identity(Path::new(file)), file)
        })
        .collect();
    let mut seen: Vec<(&str, PathBuf, &str)> = Vec::new();
    for spec in &a.outputs {
        let Some((port, file)) = spec.split_once('=') else {
            bail!("--out wants PORT=FILE, not `{spec}`")
        };
        if compiled.port(port).is_none() {
            bail!("--out {spec}: no port `{port}` in {}", a.config.display());
        }
        let path = Path::new(file);
        let id = file_identity(path);
        if let Some((_, _, earlier)) = seen.iter().find(|(p, _, _)| *p == port) {
            bail!(
                "--out {spec}: port `{port}` already has --out {port}={earlier}; give each port one output"
            );
        }
        if let Some((p, _, earlier)) = seen.iter().find(|(_, i, _)| *i == id) {
            bail!(
                "--out {spec}: {earlier} is already the output of port `{p}`; give each port its own file"
            );
        }
        if let Some((_, input)) = inputs.iter().find(|(i, _)| *i == id) {
            bail!("--out {spec}: {input} is an input (--in); writing it would destroy it");
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!("--out {spec}: directory {} does not exist", dir.display());
        }
        seen.push((port, id, file));
    }
    Ok(())
}

/// What two spellings of one file have in common: the canonical path of an
/// existing file, else its canonical directory joined with its name (an
/// output usually does not exist yet), else the path as given.
fn file_identity(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (dir.canonicalize(), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => path.to_path_buf(),
    }
}

/// With stateful NAT, a replay steps the engine after every frame: each
/// frame is then handled at its own capture time (a session's timer sees
/// the true gaps) and new mappings are made in capture order whatever the
/// worker count, so the ports chosen — and the outputs — are the same with
/// one worker or many.
pub fn apply_nat_settings(compiled: &orbital_control::Compiled, cfg: &mut ReplayConfig) {
    if compiled.nat.stateful() {
        cfg.round = 1;
    }
}

/// Carry a configuration's `[engine]` settings into an engine configuration
/// (absent settings keep the engine's defaults).
pub fn apply_engine_settings(
    s: &orbital_control::EngineSettings,
    e: &mut orbital_pipeline::engine::EngineConfig,
) {
    if let Some(w) = s.workers {
        e.workers = w.max(1);
    }
    if let Some(c) = &s.cpus {
        e.cpus = c.clone();
    }
    if let Some(b) = s.buffers {
        e.pool.buffers = b;
    }
    if let Some(b) = s.neighbor_hold_bytes {
        e.slow.hold_bytes_per_neighbor = b;
    }
    if s.neighbor_hold_total_bytes.is_some() {
        e.slow.hold_bytes_total = s.neighbor_hold_total_bytes;
    }
    e.settings = live_settings(s);
}

/// The live settings (those a reload applies without a restart) of a
/// configuration's `[engine]` section; absent ones keep their defaults.
pub fn live_settings(s: &orbital_control::EngineSettings) -> orbital_pipeline::Settings {
    let d = orbital_pipeline::Settings::default();
    orbital_pipeline::Settings {
        punt_rate: s.punt_rate.unwrap_or(d.punt_rate),
        punt_burst: s.punt_burst.unwrap_or(d.punt_burst),
        icmp_rate: s.icmp_rate.unwrap_or(d.icmp_rate),
        icmp_burst: s.icmp_burst.unwrap_or(d.icmp_burst),
        idle_us: s.idle_us.unwrap_or(d.idle_us),
        accept_source_route: s.accept_source_route.unwrap_or(d.accept_source_route),
    }
}

/// Parse `port=lan0,dst=198.51.100.0/24,proto=17,...`.
///
/// # Errors
/// An unknown key or a value that does not parse.
pub fn parse_filter(
    s: &str,
    port_id: &dyn Fn(&str) -> anyhow::Result<PortId>,
) -> anyhow::Result<TraceFilter> {
    let mut f = TraceFilter::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("trace filter `{part}` is not key=value"))?;
        match k {
            "port" => f.port = Some(port_id(v)?),
            "src" => {
                f.src = Some(
                    v.parse::<IpPrefix>()
                        .with_context(|| format!("src `{v}`"))?,
                )
            }
            "dst" => {
                f.dst = Some(
                    v.parse::<IpPrefix>()
                        .with_context(|| format!("dst `{v}`"))?,
                )
            }
            "proto" => f.protocol = Some(v.parse().with_context(|| format!("proto `{v}`"))?),
            "sport" => f.src_port = Some(v.parse().with_context(|| format!("sport `{v}`"))?),
            "dport" => f.dst_port = Some(v.parse().with_context(|| format!("dport `{v}`"))?),
            other => {
                bail!("unknown trace filter key `{other}` (port, src, dst, proto, sport, dport)")
            }
        }
    }
    Ok(f)
}
