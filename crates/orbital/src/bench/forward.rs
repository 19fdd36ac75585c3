//! `orbital bench forward`: the whole pipeline at full speed in memory.
//!
//! Each worker owns two ports: a traffic generator on port 0 (prebuilt 64 B
//! or IMIX UDP frames over many flows, destinations drawn from the route
//! table, copied into pool buffers as a NIC's receive would) and a sink on
//! port 1 behind which every route's gateway lives (resolved neighbours, so
//! no packet needs the slow path). Workers run on threads pinned to CPUs for
//! a fixed time; the result is packets per second per core and, from the
//! stage counters, cycles per packet in each stage.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::bail;
use orbital_fib::{
    Attach, Gateway, IfId, IpPrefix, Ipv4Prefix, NeighborState, PortConfig, PortId, PortMode,
    RouteTarget, TableUpdate as U, TablesBuilder,
};
use orbital_io::{AnyPort, TrafficFrames, TrafficPort};
use orbital_pipeline::Clock;
use orbital_pipeline::engine::{Engine, EngineConfig};
use orbital_pipeline::rss::{SYMMETRIC_KEY, Toeplitz};
use orbital_wire::EthernetAddress;
use orbital_wire::ip::IpProtocol;
use orbital_wire::ipv4::Ipv4Repr;
use serde::Serialize;

use crate::routes_file;

/// Options of `orbital bench forward`.
#[derive(Debug, Clone, clap::Args)]
pub struct ForwardArgs {
    /// Synthetic table of N routes (dpdk-test-fib's distribution).
    #[arg(long, conflicts_with = "routes_file")]
    pub routes: Option<usize>,
    /// Routes from a file (e.g. ../shared/data/routes/fulltable-v4v6-bart.txt.gz).
    #[arg(long)]
    pub routes_file: Option<PathBuf>,
    /// Flows (distinct 5-tuples) generated.
    #[arg(long, default_value_t = 65_536)]
    pub flows: usize,
    /// Frame size on the wire in bytes (FCS included, 64–1518), or `imix`
    /// (7:4:1 of 64, 594 and 1518 bytes).
    #[arg(long, default_value = "64")]
    pub size: String,
    /// Worker threads (each pinned to one CPU).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Packets per receive burst (at most 256).
    #[arg(long, default_value_t = 256)]
    pub burst: usize,
    /// Seconds measured (after one second of warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Take the traffic from a capture of Ethernet/IPv4 frames instead of
    /// generating it (their destination MAC is set to the router's).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Write the traffic used to a pcap file (to feed another engine the
    /// same frames, e.g. DPDK l3fwd's pcap PMD).
    #[arg(long)]
    pub dump_pcap: Option<PathBuf>,
    /// Instead of timing threads, poll the first worker this many times in
    /// this thread and report per-packet costs (deterministic: for
    /// instruction counting with callgrind, and for profiles).
    #[arg(long)]
    pub polls: Option<u64>,
    /// Walk every node for every packet (no fused ip4-fast path): the cost
    /// of the full graph.
    #[arg(long)]
    pub no_fast_path: bool,
    /// Filter with the `[firewall]` (and `[conntrack]`) sections of this
    /// file; its rules name the benchmark's ports `lan0` (in) and `wan0`
    /// (out). See `scripts/firewall-rules.py` for an edge policy with 1k
    /// more rules.
    #[arg(long)]
    pub firewall: Option<PathBuf>,
    /// Translate with the `[nat]` section of this file; its rules name the
    /// benchmark's ports `lan0` and `wan0` (`wan0` is 10.254.0.1, what
    /// `masquerade` takes). The traffic comes from 10.0.0.0/8 and leaves by
    /// `wan0`: `examples/bench-nat.toml` translates every packet statelessly
    /// (10.0.0.0/8 → 100.0.0.0/8), `examples/bench-masquerade.toml`
    /// masquerades it (a session per flow).
    #[arg(long)]
    pub nat: Option<PathBuf>,
    /// Track this many flows (the traffic has that many, and each worker's
    /// table is sized to hold its share); implies `--flows N`.
    #[arg(long)]
    pub conntrack_flows: Option<usize>,
    /// With `--nat`: N live NAT sessions, and half the traffic their
    /// replies (from the WAN to the mappings' external address and port,
    /// back to 10.0.0.0/8 by lan0). The mappings are found by a dry run of
    /// the same traffic first (allocation is deterministic on one worker,
    /// so this needs `--workers 1`); implies `--flows N`.
    #[arg(long, requires = "nat")]
    pub sessions: Option<usize>,
    /// With `--nat`: how fast one core makes sessions — N flows each seen
    /// once, every packet a new session and mapping, stepped on one worker
    /// (TRex-style connection-open load); reports sessions per second.
    #[arg(long, requires = "nat", conflicts_with = "sessions")]
    pub new_sessions: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One stage's cost.
#[derive(Debug, Clone, Serialize)]
pub struct StageCost {
    /// Stage name.
    pub name: &'static str,
    /// Packets it handled.
    pub packets: u64,
    /// TSC cycles per packet handled.
    pub cycles_per_packet: f64,
}

/// What `orbital bench forward` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardReport {
    /// Always `forward`.
    pub scenario: &'static str,
    /// Routes in the table.
    pub routes: usize,
    /// Where they came from.
    pub source: String,
    /// Flows generated.
    pub flows: usize,
    /// Frame size (`64`, ..., or `imix`).
    pub size: String,
    /// Worker threads.
    pub workers: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// Packets forwarded in that time.
    pub packets: u64,
    /// Packets dropped in that time (should be 0).
    pub dropped: u64,
    /// Million packets per second, all workers.
    pub mpps: f64,
    /// Million packets per second per worker core.
    pub mpps_per_core: f64,
    /// Gigabits per second of frames (FCS included).
    pub gbps: f64,
    /// TSC cycles per packet per core, from wall time.
    pub cycles_per_packet: f64,
    /// Per stage, from the stage counters.
    pub stages: Vec<StageCost>,
    /// NAT sessions live at the end (with `--nat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_sessions: Option<u64>,
    /// NAT sessions made per second per core (with `--new-sessions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_per_second: Option<f64>,
}

const IN_MAC: EthernetAddress = EthernetAddress([0x02, 0x42, 0, 0, 0, 1]);
const OUT_MAC: EthernetAddress = EthernetAddress([0x02, 0x42, 0, 0, 1, 1]);
const GATEWAYS: u8 = 4;
/// The benchmark router's ports: in, out.
const PORT_NAMES: [&str; 2] = ["lan0", "wan0"];

/// The policy the benchmark runs: none, or the file's firewall with its
/// conntrack sized for the flows, and the NAT file's rules.
fn policy(a: &ForwardArgs, flows: usize) -> anyhow::Result<orbital_nat::RouterPolicy> {
    let ifaces: Vec<(String, IfId)> = PORT_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), IfId(i as u16)))
        .collect();
    let ports: Vec<(String, PortId)> = PORT_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), PortId(i as u16)))
        .collect();
    let nat = match &a.nat {
        Some(path) => {
            let addrs = [
                (IfId(0), Ipv4Addr::new(10, 255, 0, 1)),
                (IfId(1), Ipv4Addr::new(10, 254, 0, 1)),
            ];
            let rules = orbital_control::nat_file(path, &ifaces, &addrs)?;
            orbital_nat::NatPolicy::compile(&rules, a.workers, None)
                .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?
        }
        None => orbital_nat::NatPolicy::default(),
    };
    let Some(path) = &a.firewall else {
        return Ok(orbital_nat::RouterPolicy {
            edge: orbital_firewall::EdgePolicy::default(),
            nat,
        });
    };
    let (rs, mut ct) = orbital_control::firewall_file(path, &ifaces, &ports)?;
    // Room for every flow with a quarter to spare, per worker's share.
    let share = (flows.div_ceil(a.workers.max(1)) * 5 / 4) as u32;
    ct.max_entries = ct
        .max_entries
        .max(share)
        .min(orbital_conntrack::MAX_ENTRIES);
    let fw = orbital_firewall::FirewallPolicy::compile(&rs, a.workers, 1)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
    Ok(orbital_nat::RouterPolicy {
        edge: orbital_firewall::EdgePolicy::new(fw, ct, a.workers),
        nat,
    })
}

/// Run the benchmark.
///
/// # Errors
/// Bad arguments, unreadable routes.
pub fn run(a: &ForwardArgs) -> anyhow::Result<ForwardReport> {
    let flows = a
        .sessions
        .or(a.new_sessions)
        .or(a.conntrack_flows)
        .unwrap_or(a.flows);
    if a.workers == 0 || flows == 0 || a.seconds <= 0.0 {
        bail!("--workers, --flows and --seconds must be positive");
    }
    if (a.sessions.is_some() || a.new_sessions.is_some()) && a.workers != 1 {
        bail!("--sessions and --new-sessions measure one core: --workers 1");
    }
    let sizes: Vec<usize> = match a.size.as_str() {
        "imix" => [64; 7].into_iter().chain([594; 4]).chain([1518]).collect(),
        s => match s.parse::<usize>() {
            Ok(n) if (64..=1518).contains(&n) => vec![n],
            _ => bail!("--size is 64..=1518 or imix"),
        },
    };
    let mut rng = fastrand::Rng::with_seed(7);
    let (source, routes) = match (&a.routes_file, a.routes) {
        (Some(f), _) => (
            f.display().to_string(),
            routes_file::read(f)?
                .v4
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
        ),
        (None, n) => {
            let n = n.unwrap_or(100_000);
            let args = crate::bench::lpm::LpmArgs {
                routes: Some(n),
                routes_file: None,
                distribution: None,
                lookups: 1,
                random_percent: 0,
                shuffle: false,
                burst: 64,
                family: crate::bench::lpm::Family::Ipv4,
                seed: 1,
                lookups_file: None,
                dump_routes: None,
                dump_lookups: None,
                json: false,
            };
            let list = crate::bench::lpm::synthetic_routes(&args, &mut rng)?;
            (
                format!("synthetic {n} routes"),
                list.v4.into_iter().map(|(p, _)| p).collect(),
            )
        }
    };
    // The router: in on port 0 (10.255.0.1/24), out on port 1 (10.254.0.1/24)
    // to four gateways; every route uses one of them.
    let ip = |s: &str| s.parse::<IpAddr>().expect("literal");
    let mut updates = Vec::new();
    for (i, mac, addr) in [(0u16, IN_MAC, "10.255.0.1"), (1, OUT_MAC, "10.254.0.1")] {
        updates.push(U::SetPort(PortConfig {
            id: PortId(i),
            name: PORT_NAMES[usize::from(i)].into(),
            mode: PortMode::Routed { iface: IfId(i) },
        }));
        updates.push(U::SetInterface {
            id: IfId(i),
            name: PORT_NAMES[usize::from(i)].into(),
            mac,
            mtu: 9000,
            attach: Attach::Port(PortId(i)),
        });
        updates.push(U::AddAddress {
            iface: IfId(i),
            addr: ip(addr),
            len: 24,
        });
    }
    for g in 0..GATEWAYS {
        updates.push(U::AddNeighbor {
            addr: IpAddr::V4(Ipv4Addr::new(10, 254, 0, 10 + g)),
            mac: EthernetAddress([0x02, 0x42, 0, 0, 2, g]),
            iface: IfId(1),
            state: NeighborState::Static,
        });
    }
    if a.sessions.is_some() {
        // Replies go back to the inside hosts by lan0.
        updates.push(U::AddNeighbor {
            addr: IpAddr::V4(LAN_GATEWAY),
            mac: LAN_GATEWAY_MAC,
            iface: IfId(0),
            state: NeighborState::Static,
        });
        updates.push(U::AddRoute {
            prefix: IpPrefix::V4(Ipv4Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 8).expect("literal")),
            target: RouteTarget::Via(vec![Gateway {
                addr: IpAddr::V4(LAN_GATEWAY),
                iface: None,
            }]),
        });
    }
    // The policy first: destinations inside a NAT rule's outside prefix
    // would be translated back inwards, so the traffic avoids them.
    let policy = policy(a, flows)?;
    let mut usable = Vec::with_capacity(routes.len());
    for (i, p) in routes.iter().enumerate() {
        // Skip what would shadow the router's own subnets or be martian.
        let first = p.addr().octets()[0];
        if p.len() < 8 || first == 0 || first == 127 || first >= 224 || first == 10 {
            continue;
        }
        if policy.nat.in_v4(p.bits()).is_some() {
            continue;
        }
        updates.push(U::AddRoute {
            prefix: IpPrefix::V4(*p),
            target: RouteTarget::Via(vec![Gateway {
                addr: IpAddr::V4(Ipv4Addr::new(
                    10,
                    254,
                    0,
                    10 + (i % usize::from(GATEWAYS)) as u8,
                )),
                iface: None,
            }]),
        });
        usable.push(*p);
    }
    if usable.is_empty() {
        bail!("no usable IPv4 routes in {source}");
    }
    let build = || -> anyhow::Result<TablesBuilder> {
        let mut builder = TablesBuilder::new();
        builder
            .apply(&updates)
            .map_err(|e| anyhow::anyhow!("building tables: {e}"))?;
        Ok(builder)
    };
    let builder = build()?;
    let frames = match &a.pcap {
        Some(path) => Arc::new(frames_from_pcap(path)?),
        None => Arc::new(make_frames(flows, &sizes, &usable, &mut rng)),
    };
    if let Some(out) = &a.dump_pcap {
        let f = std::io::BufWriter::new(std::fs::File::create(out)?);
        let mut w =
            orbital_capture::PcapWriter::new(f, 1, 65535, orbital_capture::Resolution::Micro)?;
        for (i, (frame, _)) in frames.iter().enumerate() {
            w.write(i as u64 * 1000, frame)?;
        }
        w.finish()?;
    }
    let workers = a.workers;
    let cpus = orbital_cpu::allowed_cpus();
    let cfg = EngineConfig {
        workers,
        cpus: cpus.clone(),
        pool: orbital_buf::PoolConfig {
            buffers: 8192 * workers as u32 + 4096,
            ..orbital_buf::PoolConfig::default()
        },
        worker: orbital_pipeline::WorkerConfig {
            burst: a.burst.clamp(1, orbital_buf::MAX_BURST),
            fast_path: !a.no_fast_path,
            ..orbital_pipeline::WorkerConfig::default()
        },
        ..EngineConfig::default()
    };
    let per_worker = flows.div_ceil(workers);
    let laid_out = Arc::new(TrafficFrames::new(&frames));
    let make = |builder, policy, replies: Arc<TrafficFrames>| {
        Engine::<crate::Graph>::new(
            &cfg,
            builder,
            policy,
            2,
            |w, p| match p {
                0 => AnyPort::Traffic(TrafficPort::new(
                    laid_out.clone(),
                    (w * per_worker) % frames.len(),
                )),
                _ => AnyPort::Traffic(TrafficPort::new(replies.clone(), 0)),
            },
            Clock::real(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
    };
    let none = Arc::new(TrafficFrames::default());
    if a.new_sessions.is_some() {
        let engine = make(builder, policy, none)?;
        return Ok(new_sessions(engine, flows, a, source, usable.len(), &sizes));
    }
    let replies = match a.sessions {
        Some(n) => {
            let dry = make(build()?, self::policy(a, flows)?, none.clone())?;
            Arc::new(TrafficFrames::new(&replies_of(dry, &frames, n)?))
        }
        None => none,
    };
    let engine = make(builder, policy, replies)?;
    let handle = engine.handle();
    if let Some(polls) = a.polls {
        return Ok(stepped(engine, polls, a, source, usable.len(), &sizes));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let running = engine.spawn(stop);
    std::thread::sleep(Duration::from_secs(1));
    let before = handle.stats();
    let t0 = Instant::now();
    let c0 = orbital_cpu::cycles();
    std::thread::sleep(Duration::from_secs_f64(a.seconds));
    let after = handle.stats();
    let (secs, cycles) = (t0.elapsed().as_secs_f64(), orbital_cpu::cycles() - c0);
    let _ = running.stop();
    let nat_sessions = a.nat.as_ref().map(|_| live_sessions(&handle));
    let packets = after.total.tx - before.total.tx;
    let dropped = after.total.dropped - before.total.dropped;
    let mpps = packets as f64 / secs / 1e6;
    let wire_bytes: f64 = sizes.iter().map(|&s| s as f64 + 20.0).sum::<f64>() / sizes.len() as f64; // + preamble and gap
    let stages = after
        .nodes
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let (b, e) = (
                before.total.nodes.get(i).copied().unwrap_or_default(),
                after.total.nodes.get(i).copied().unwrap_or_default(),
            );
            let p = e.packets - b.packets;
            StageCost {
                name,
                packets: p,
                cycles_per_packet: if p > 0 {
                    (e.cycles - b.cycles) as f64 / p as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    Ok(ForwardReport {
        scenario: "forward",
        routes: usable.len(),
        source,
        flows,
        size: a.size.clone(),
        workers,
        seconds: secs,
        packets,
        dropped,
        mpps,
        mpps_per_core: mpps / workers as f64,
        gbps: mpps * 1e6 * wire_bytes * 8.0 / 1e9,
        cycles_per_packet: cycles as f64 * workers as f64 / packets.max(1) as f64,
        stages,
        nat_sessions,
        sessions_per_second: None,
    })
}

/// The LAN-side gateway replies return through (`--sessions`).
const LAN_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 10);
const LAN_GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0x42, 0, 0, 3, 0]);

/// NAT sessions live on every worker.
fn live_sessions(h: &orbital_pipeline::engine::EngineHandle<orbital_nat::RouterPolicy>) -> u64 {
    h.shared
        .load_full()
        .policy
        .nat
        .shared
        .counters
        .iter()
        .map(|c| c.live.load(std::sync::atomic::Ordering::Relaxed))
        .sum()
}

/// The replies to the first `n` flows of `frames`: a dry run on `dry`'s
/// worker 0 makes their mappings; each reply comes from the flow's
/// destination to its mapping, from a WAN gateway to the router's wan0.
fn replies_of(
    mut dry: Engine<crate::Graph>,
    frames: &[(Vec<u8>, u32)],
    n: usize,
) -> anyhow::Result<Vec<(Vec<u8>, u32)>> {
    let n = n.min(frames.len());
    // Polls until every flow has been seen once (bounded: a poll takes a
    // burst from the generator).
    for _ in 0..(n / 8 + 16) {
        if dry.workers[0].snapshot().rx >= n as u64 {
            break;
        }
        dry.workers[0].poll_once();
    }
    let snap = dry.handle().shared.load_full();
    let mut mapped = std::collections::HashMap::new();
    for (e, t) in &snap.policy.nat.shared.tables {
        for (p, o) in t[1].held() {
            mapped.insert((o.addr, o.port), (*e, p));
        }
    }
    let rss = Toeplitz::new(&SYMMETRIC_KEY);
    let word = |f: &[u8], at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    let half = |f: &[u8], at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
    let mut out = Vec::with_capacity(n);
    for (f, _) in &frames[..n] {
        let (src, dst, sport, dport) = (word(f, 26), word(f, 30), half(f, 34), half(f, 36));
        let Some(&(e, ep)) = mapped.get(&(src, sport)) else {
            continue;
        };
        let mut r = f.clone();
        r[0..6].copy_from_slice(&OUT_MAC.0);
        r[6..12].copy_from_slice(&[0x02, 0x42, 0, 0, 2, 0]);
        let udp_len = f.len() - 34;
        Ipv4Repr {
            src_addr: Ipv4Addr::from_bits(dst),
            dst_addr: Ipv4Addr::from_bits(e),
            protocol: IpProtocol::Udp,
            payload_len: udp_len,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
        }
        .emit(&mut r[14..]);
        r[34..36].copy_from_slice(&dport.to_be_bytes());
        r[36..38].copy_from_slice(&ep.to_be_bytes());
        r[38..40].copy_from_slice(&(udp_len as u16).to_be_bytes());
        r[40..42].copy_from_slice(&[0, 0]);
        let mut tuple = [0u8; 12];
        tuple[..4].copy_from_slice(&dst.to_be_bytes());
        tuple[4..8].copy_from_slice(&e.to_be_bytes());
        tuple[8..10].copy_from_slice(&dport.to_be_bytes());
        tuple[10..12].copy_from_slice(&ep.to_be_bytes());
        out.push((r, rss.hash(&tuple).max(1)));
    }
    if out.len() < n {
        bail!(
            "the dry run mapped {} of {n} flows (is --nat a masquerade or pool?)",
            out.len()
        );
    }
    Ok(out)
}

/// `--new-sessions`: worker 0 stepped through `n` flows each seen once;
/// every packet opens a session (and a mapping).
fn new_sessions(
    mut engine: Engine<crate::Graph>,
    n: usize,
    a: &ForwardArgs,
    source: String,
    routes: usize,
    sizes: &[usize],
) -> ForwardReport {
    let h = engine.handle();
    let t0 = Instant::now();
    let c0 = orbital_cpu::cycles();
    for _ in 0..(n / 8 + 16) {
        if engine.workers[0].snapshot().rx >= n as u64 {
            break;
        }
        engine.workers[0].poll_once();
    }
    let (secs, cycles) = (t0.elapsed().as_secs_f64(), orbital_cpu::cycles() - c0);
    let made = live_sessions(&h);
    let mut r = stepped_report(&engine, secs, cycles, a, source, routes, sizes);
    r.nat_sessions = Some(made);
    r.sessions_per_second = Some(made as f64 / secs);
    r
}

fn stepped(
    mut engine: Engine<crate::Graph>,
    polls: u64,
    a: &ForwardArgs,
    source: String,
    routes: usize,
    sizes: &[usize],
) -> ForwardReport {
    let t0 = Instant::now();
    let c0 = orbital_cpu::cycles();
    for _ in 0..polls {
        engine.workers[0].poll_once();
    }
    let (secs, cycles) = (t0.elapsed().as_secs_f64(), orbital_cpu::cycles() - c0);
    stepped_report(&engine, secs, cycles, a, source, routes, sizes)
}

/// What worker 0 of `engine` did in `secs` and `cycles`.
fn stepped_report(
    engine: &Engine<crate::Graph>,
    secs: f64,
    cycles: u64,
    a: &ForwardArgs,
    source: String,
    routes: usize,
    sizes: &[usize],
) -> ForwardReport {
    let s = engine.workers[0].snapshot().clone();
    let names = engine.workers[0].node_names().to_vec();
    let packets = s.tx;
    let mpps = packets as f64 / secs / 1e6;
    let wire_bytes: f64 = sizes.iter().map(|&s| s as f64 + 20.0).sum::<f64>() / sizes.len() as f64;
    ForwardReport {
        scenario: "forward",
        routes,
        source,
        flows: a
            .sessions
            .or(a.new_sessions)
            .or(a.conntrack_flows)
            .unwrap_or(a.flows),
        size: a.size.clone(),
        workers: 1,
        seconds: secs,
        packets,
        dropped: s.dropped,
        mpps,
        mpps_per_core: mpps,
        gbps: mpps * 1e6 * wire_bytes * 8.0 / 1e9,
        cycles_per_packet: cycles as f64 / packets.max(1) as f64,
        stages: names
            .iter()
            .zip(&s.nodes)
            .map(|(&name, &c)| StageCost {
                name,
                packets: c.packets,
                cycles_per_packet: if c.packets > 0 {
                    c.cycles as f64 / c.packets as f64
                } else {
                    0.0
                },
            })
            .collect(),
        nat_sessions: None,
        sessions_per_second: None,
    }
}

/// Frames from a capture, readdressed to the router's input MAC, with their
/// RSS hash.
fn frames_from_pcap(path: &std::path::Path) -> anyhow::Result<Vec<(Vec<u8>, u32)>> {
    let cap = orbital_capture::Capture::open(path)?;
    let rss = Toeplitz::new(&SYMMETRIC_KEY);
    let mut info = orbital_wire::PacketInfo::default();
    let mut out = Vec::new();
    for f in cap.frames() {
        let f = f?;
        let mut data = f.data.to_vec();
        if f.linktype != 1
            || data.len() < 14
            || orbital_wire::parse(&data, orbital_wire::LinkType::Ethernet, &mut info).is_err()
        {
            continue;
        }
        data[0..6].copy_from_slice(&IN_MAC.0);
        out.push((data, rss.hash_packet(&info).max(1)));
    }
    if out.is_empty() {
        bail!("{}: no usable Ethernet frames", path.display());
    }
    Ok(out)
}

/// One prebuilt frame per flow: Ethernet to the router's input MAC, IPv4 UDP
/// from 10.0.0.0/8 to a random address inside a random route, random ports.
fn make_frames(
    flows: usize,
    sizes: &[usize],
    routes: &[Ipv4Prefix],
    rng: &mut fastrand::Rng,
) -> Vec<(Vec<u8>, u32)> {
    let rss = Toeplitz::new(&SYMMETRIC_KEY);
    (0..flows)
        .map(|i| {
            let wire = sizes[i % sizes.len()];
            let frame_len = wire - 4; // no FCS in memory
            let p = routes[rng.usize(..routes.len())];
            let host = if p.len() == 32 {
                0
            } else {
                rng.u32(..) & (u32::MAX >> p.len())
            };
            let dst = Ipv4Addr::from_bits(p.bits() | host);
            let src = Ipv4Addr::from_bits(0x0a00_0000 | (rng.u32(..) & 0x00ff_ffff));
            let (sport, dport) = (rng.u16(1024..), rng.u16(1..));
            let mut f = vec![0u8; frame_len];
            f[0..6].copy_from_slice(&IN_MAC.0);
            f[6..12].copy_from_slice(&[0x02, 0x42, 0, 0, 9, 9]);
            f[12..14].copy_from_slice(&[0x08, 0x00]);
            let udp_len = frame_len - 14 - 20;
            Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: IpProtocol::Udp,
                payload_len: udp_len,
                ttl: 64,
                dscp_ecn: 0,
                ident: i as u16,
                dont_frag: true,
            }
            .emit(&mut f[14..]);
            f[34..36].copy_from_slice(&sport.to_be_bytes());
            f[36..38].copy_from_slice(&dport.to_be_bytes());
            f[38..40].copy_from_slice(&(udp_len as u16).to_be_bytes());
            let mut tuple = [0u8; 12];
            tuple[..4].copy_from_slice(&src.octets());
            tuple[4..8].copy_from_slice(&dst.octets());
            tuple[8..10].copy_from_slice(&sport.to_be_bytes());
            tuple[10..12].copy_from_slice(&dport.to_be_bytes());
            (f, rss.hash(&tuple).max(1))
        })
        .collect()
}

/// Render for people.
pub fn render(r: &ForwardReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "forward: {} routes ({}), {} flows, {} B frames, {} worker(s), {:.1} s",
        r.routes, r.source, r.flows, r.size, r.workers, r.seconds
    );
    let _ = writeln!(
        o,
        "  {:.2} Mpps ({:.2} Mpps per core, {:.2} Gbit/s), {:.1} cycles/packet/core, {} dropped",
        r.mpps, r.mpps_per_core, r.gbps, r.cycles_per_packet, r.dropped
    );
    let _ = writeln!(o, "  {:<16}{:>14}{:>12}", "stage", "packets", "cycles/pkt");
    if let Some(n) = r.nat_sessions {
        let _ = writeln!(o, "  NAT sessions live: {n}");
    }
    if let Some(v) = r.sessions_per_second {
        let _ = writeln!(o, "  new NAT sessions: {:.3} M/s on one core", v / 1e6);
    }
    for s in &r.stages {
        let _ = writeln!(
            o,
            "  {:<16}{:>14}{:>12.1}",
            s.name, s.packets, s.cycles_per_packet
        );
    }
    o
}
