//! `orbital run --config FILE`: the data plane as a daemon on real ports.
//!
//! It opens every configured port for every worker (AF_XDP sockets, one
//! per queue per worker over a UMEM that is the buffer pool; AF_PACKET
//! sockets in a fanout group; TAP devices), starts the workers and the slow path
//! ([`orbital_pipeline::engine::Engine::spawn`]), serves the data-plane API
//! on a Unix socket ([`api`]) and, when asked, Prometheus metrics
//! ([`metrics`]). SIGHUP reloads the configuration as one atomic table
//! update; SIGTERM (or SIGINT) stops the workers, which drain their queues,
//! and prints the final counters.

pub mod api;
pub mod metrics;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use orbital_buf::Pool;
use orbital_control::{Backend, Compiled, EngineSettings, PortSpec, XdpAttach};
use orbital_fib::{NeighborState, TableUpdate, TablesBuilder};
use orbital_io::{
    AfPacketConfig, AfPacketPort, AnyPort, Capabilities, NullPort, TapPort, XdpConfig, XdpContext,
    XdpMode, XdpPort,
};
use orbital_pipeline::engine::{Engine, EngineConfig, EngineHandle, Running};
use orbital_pipeline::{Clock, Features};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::report;

/// `orbital run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Router configuration (TOML); ports need `backend` and `device`.
    #[arg(long)]
    pub config: PathBuf,
    /// API socket (default: `[engine] api_socket`, else /run/orbital/orbital.sock).
    #[arg(long)]
    pub api: Option<PathBuf>,
    /// Serve Prometheus metrics on ADDR (`127.0.0.1:9100`, or just a port
    /// for loopback). Off unless given.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Worker count (overrides the configuration).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// The compiled policy of the graph the daemon runs.
pub type Policy = <crate::Graph as Features>::Policy;

/// What the API and metrics threads share with the main thread.
#[derive(Debug)]
pub struct Daemon {
    /// Counters and tables.
    pub handle: EngineHandle<Policy>,
    /// Port names, by id.
    pub names: Vec<String>,
    /// Each port's backend, device and capabilities.
    pub ports: Vec<(PortSpec, Capabilities)>,
    /// The configuration file (for reloads).
    pub config: PathBuf,
    /// Worker threads.
    pub workers: usize,
    /// The running engine (for traces); taken at shutdown.
    pub running: Mutex<Option<Running<Policy>>>,
    /// The `[engine]` settings of the configuration in force (a reload
    /// compares against them).
    pub engine: Mutex<EngineSettings>,
    /// Firewall log records read so far (the newest [`crate::firewall_view::LOG_KEPT`]).
    pub log: Mutex<std::collections::VecDeque<serde_json::Value>>,
    /// NAT mapping log records read so far (the newest
    /// [`crate::nat_view::MAPPING_LOG_KEPT`]).
    pub nat_log: Mutex<std::collections::VecDeque<serde_json::Value>>,
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Pcap => "pcap",
        Backend::Memory => "memory",
        Backend::AfXdp => "af_xdp",
        Backend::AfPacket => "af_packet",
        Backend::Tap => "tap",
    }
}

/// Open port `spec` for worker `w` of `workers`. AF_XDP ports need the
/// shared UMEM context (`xdp`, made when any port is AF_XDP).
fn open_port(
    spec: &PortSpec,
    w: usize,
    workers: usize,
    xdp: Option<&XdpContext>,
) -> anyhow::Result<AnyPort> {
    let device = || {
        spec.device.clone().with_context(|| {
            format!(
                "port {}: backend {} needs `device`",
                spec.name,
                backend_name(spec.backend)
            )
        })
    };
    Ok(match (spec.backend, xdp) {
        (Backend::AfXdp, Some(ctx)) => {
            let cfg = xdp_config(spec, &device()?);
            // The first fill ring is filled from a cache that goes back to
            // the pool at once; the worker's own cache refills it later.
            let mut cache = ctx.pool().cache(cfg.ring_size as usize);
            AnyPort::Xdp(Box::new(
                XdpPort::open(ctx, &cfg, w as u32, &mut cache)
                    .with_context(|| format!("port {} (AF_XDP queue {w})", spec.name))?,
            ))
        }
        (Backend::AfPacket | Backend::AfXdp, _) => {
            let mut c = AfPacketConfig::new(&device()?);
            c.fanout_group = spec.id.0;
            AnyPort::AfPacket(
                AfPacketPort::open(&c, workers).with_context(|| format!("port {}", spec.name))?,
            )
        }
        // One TAP queue: worker 0 owns it, the others see an empty port.
        (Backend::Tap, _) if w == 0 => {
            AnyPort::Tap(TapPort::open(&device()?).with_context(|| format!("port {}", spec.name))?)
        }
        (Backend::Tap | Backend::Memory, _) => AnyPort::Null(NullPort::default()),
        (Backend::Pcap, _) => bail!(
            "port {}: a pcap port has no live device; give it `backend = \"af_packet\"` (or tap) and `device`, or use `orbital replay`",
            spec.name
        ),
    })
}

/// An AF_XDP port's settings from its configuration.
fn xdp_config(spec: &PortSpec, device: &str) -> XdpConfig {
    let mut cfg = XdpConfig::new(device);
    cfg.mode = match spec.xdp_mode {
        XdpAttach::Auto => XdpMode::Auto,
        XdpAttach::Native => XdpMode::Native,
        XdpAttach::Generic => XdpMode::Generic,
    };
    if let Some(r) = spec.ring_size {
        cfg.ring_size = r;
    }
    cfg
}

/// The buffer pool: AF_XDP ports need UMEM geometry (2 KiB buffers, 256 B
/// headroom) and enough buffers for every socket's fill and transmit rings
/// on top of what the workers and the slow path cache.
fn make_pool(ecfg: &EngineConfig, compiled: &Compiled) -> anyhow::Result<(Pool, bool)> {
    if !compiled.ports.iter().any(|p| p.backend == Backend::AfXdp) {
        return Ok((Pool::new(ecfg.pool).context("buffer pool")?, false));
    }
    let workers = ecfg.workers as u32;
    let sockets: u32 = compiled
        .ports
        .iter()
        .filter(|p| p.backend == Backend::AfXdp)
        .map(|p| XdpContext::buffers_per_socket(&xdp_config(p, "-")) * workers)
        .sum();
    let need = sockets + (workers + 1) * ecfg.cache_size as u32 * 2 + ecfg.pool.buffers;
    let pool = Pool::new(XdpContext::pool_config(need)).context("buffer pool (AF_XDP UMEM)")?;
    Ok((pool, true))
}

/// Start the daemon and run until SIGTERM/SIGINT.
///
/// # Errors
/// Bad configuration, a port that does not open (named, with the reason),
/// an API socket that cannot be bound.
pub fn run(a: &RunArgs) -> anyhow::Result<()> {
    let (compiled, builder) = orbital_control::load(&a.config)?;
    let mut ecfg = EngineConfig::default();
    crate::replay::apply_engine_settings(&compiled.engine, &mut ecfg);
    if let Some(w) = a.workers {
        ecfg.workers = w.max(1);
    }
    let n = ecfg.workers;
    let (pool, has_xdp) = make_pool(&ecfg, &compiled)?;
    let xdp = has_xdp
        .then(|| XdpContext::new(&pool))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut opened: Vec<Vec<Option<AnyPort>>> = Vec::new();
    for w in 0..n {
        let mut row = Vec::new();
        for spec in &compiled.ports {
            row.push(Some(open_port(spec, w, n, xdp.as_ref())?));
        }
        opened.push(row);
    }
    for (spec, port) in compiled.ports.iter().zip(&opened[0]) {
        if let Some(AnyPort::Xdp(p)) = port {
            crate::errln!(
                "orbital: port {}: AF_XDP on {} ({} mode, {}), {} queue(s)",
                spec.name,
                spec.device.as_deref().unwrap_or("?"),
                if p.native() { "native" } else { "generic" },
                if p.zero_copy() { "zero-copy" } else { "copy" },
                n
            );
        }
    }
    let ports: Vec<(PortSpec, Capabilities)> = compiled
        .ports
        .iter()
        .zip(&opened[0])
        .map(|(s, p)| {
            (
                s.clone(),
                p.as_ref()
                    .map(orbital_io::Port::capabilities)
                    .unwrap_or_default(),
            )
        })
        .collect();
    let names: Vec<String> = compiled.ports.iter().map(|p| p.name.clone()).collect();
    let policy = crate::policy(&compiled, n, 1, None)?;
    for w in &policy.edge.firewall.warnings {
        crate::errln!("orbital: warning: {w}");
    }
    let engine: Engine<crate::Graph> = Engine::with_pool(
        &ecfg,
        pool,
        builder,
        policy,
        compiled.ports.len(),
        |w, p| {
            opened[w][p]
                .take()
                .expect("each port endpoint is handed out once")
        },
        Clock::real(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let running = engine.spawn(stop);
    let daemon = Arc::new(Daemon {
        handle: running.handle.clone(),
        names,
        ports,
        config: a.config.clone(),
        workers: n,
        running: Mutex::new(Some(running)),
        engine: Mutex::new(compiled.engine.clone()),
        log: Mutex::default(),
        nat_log: Mutex::default(),
    });
    let sock = a
        .api
        .clone()
        .or_else(|| compiled.engine.api_socket.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(orbital_control::api::DEFAULT_SOCKET));
    let server = api::Server::bind(&sock, daemon.clone())?;
    let metrics_addr = match &a.metrics {
        Some(m) => Some(metrics::serve(m, daemon.clone())?),
        None => None,
    };
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).context("signal handlers")?;
    crate::outln!(
        "orbital: running {} port(s) on {} worker(s), tables version {}, api {}{}",
        daemon.names.len(),
        n,
        daemon.handle.shared.load().version,
        sock.display(),
        metrics_addr
            .map(|m| format!(", metrics http://{m}/metrics"))
            .unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    for sig in signals.forever() {
        match sig {
            SIGHUP => match reload(&daemon) {
                Ok(v) => crate::errln!(
                    "orbital: reloaded {}: tables version {v}",
                    daemon.config.display()
                ),
                Err(e) => crate::errln!("orbital: reload refused, tables unchanged: {e}"),
            },
            _ => break,
        }
    }
    drop(server);
    let running = daemon.running.lock().expect("no panics while held").take();
    if let Some(r) = running {
        let stats = r.stop();
        crate::out!("{}", report::stats_text(&stats, &daemon.names));
        crate::outln!("orbital: stopped");
    }
    Ok(())
}

/// Ports may not change on a reload: they are open sockets and devices.
fn same_ports(old: &[(PortSpec, Capabilities)], new: &Compiled) -> Result<(), String> {
    let key = |p: &PortSpec| (p.name.clone(), p.backend, p.device.clone());
    let a: Vec<_> = old.iter().map(|(p, _)| key(p)).collect();
    let b: Vec<_> = new.ports.iter().map(key).collect();
    if a == b {
        Ok(())
    } else {
        Err("the port list (names, backends, devices) changed; ports change only on restart".into())
    }
}

/// Re-read the configuration and publish all of it — tables, policy and
/// the live `[engine]` settings — as one new snapshot. Learned neighbours
/// survive, so forwarding does not pause for re-resolution. A changed
/// setting that needs a restart refuses the whole reload, naming it at its
/// place in the file. On any error nothing changes.
///
/// The new tables are built before the publisher is taken (a full table
/// takes seconds), so the slow path and the API are not held up meanwhile.
///
/// # Errors
/// `file:line:column: reason` for a bad file or setting, or why the new
/// tables were refused.
pub fn reload(d: &Daemon) -> Result<u64, String> {
    let source =
        std::fs::read_to_string(&d.config).map_err(|e| format!("{}: {e}", d.config.display()))?;
    let compiled = orbital_control::compile_str(&d.config, &source).map_err(|e| e.to_string())?;
    same_ports(&d.ports, &compiled)?;
    {
        let running = d.engine.lock().map_err(|_| "engine settings poisoned")?;
        if let Some((name, old, new)) = running.restart_needed(&compiled.engine).into_iter().next()
        {
            return Err(compiled
                .locate_setting(
                    name,
                    format!(
                        "`{name}` changed from {old} to {new}: it takes effect only on a restart \
                         (nothing was reloaded)"
                    ),
                )
                .to_string());
        }
    }
    let current = d.handle.shared.load_full();
    if current.policy.edge.conntrack != compiled.conntrack {
        return Err(compiled
            .locate_conntrack(
                "the [conntrack] settings changed: the tables are sized at start, so they take effect only on a restart (nothing was reloaded)".into(),
            )
            .to_string());
    }
    if current.policy.nat.max_sessions != compiled.nat.max_sessions {
        return Err(compiled
            .locate_nat(
                0,
                format!(
                    "[nat] max_sessions changed from {} to {}: the session tables are sized at start, so it takes effect only on a restart (nothing was reloaded)",
                    current.policy.nat.max_sessions, compiled.nat.max_sessions
                ),
            )
            .to_string());
    }
    // The expensive parts — the tables, the classifier — are built before
    // the publisher is taken.
    let mut fresh = TablesBuilder::new();
    compiled.apply_to(&mut fresh).map_err(|e| e.to_string())?;
    let generation = u32::try_from(current.version + 1).unwrap_or(u32::MAX);
    let policy = crate::policy(&compiled, d.workers, generation, Some(&current.policy))
        .map_err(|e| e.to_string())?;
    for w in &policy.edge.firewall.warnings {
        crate::errln!("orbital: warning: {w}");
    }
    let settings = crate::replay::live_settings(&compiled.engine);
    let (version, ()) = d.handle.publisher.update(|st| {
        fresh.continue_after(st.builder.current().version);
        carry_learned(&st.builder, &mut fresh);
        st.builder = fresh;
        st.settings = settings;
        st.policy = Arc::new(policy);
        Ok::<(), String>(())
    })?;
    if let Ok(mut e) = d.engine.lock() {
        *e = compiled.engine;
    }
    Ok(version)
}

/// Copy the neighbours `old` learned (not configured ones) into `fresh`,
/// by interface name. One by one: a learned neighbour the new addressing
/// no longer allows is simply not carried.
fn carry_learned(old: &TablesBuilder, fresh: &mut TablesBuilder) {
    let name_of = |b: &TablesBuilder, id| b.interfaces().iface(id).map(|i| i.name.clone());
    let carried: Vec<TableUpdate> = old
        .neighbors()
        .iter()
        .filter(|(_, n)| n.state != NeighborState::Static)
        .filter_map(|(addr, n)| {
            let name = name_of(old, n.iface)?;
            let iface = fresh
                .interfaces()
                .iter_ifaces()
                .find(|i| i.name == name)?
                .id;
            (fresh.neighbors().get(addr).is_none()).then_some(TableUpdate::AddNeighbor {
                addr,
                mac: n.mac,
                iface,
                state: n.state,
            })
        })
        .collect();
    for u in carried {
        let _ = fresh.apply(std::slice::from_ref(&u));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_io::NullPort;

    /// A daemon over the example router's configuration (copied to a temp
    /// file), its ports unwired: enough to reload.
    fn daemon(tag: &str) -> (Arc<Daemon>, PathBuf) {
        daemon_with(tag, |_, _| AnyPort::Null(NullPort::default()))
    }

    /// As [`daemon`], with the ports `port(worker, port)` makes.
    fn daemon_with(tag: &str, port: impl FnMut(usize, usize) -> AnyPort) -> (Arc<Daemon>, PathBuf) {
        let dir = std::env::temp_dir().join(format!("orbital-reload-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("router.toml");
        let src = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/router.toml"),
        )
        .unwrap();
        std::fs::write(&path, &src).unwrap();
        let (compiled, builder) = orbital_control::load(&path).unwrap();
        let mut ecfg = EngineConfig::default();
        crate::replay::apply_engine_settings(&compiled.engine, &mut ecfg);
        let policy = crate::policy(&compiled, 1, 1, None).unwrap();
        let engine: Engine<crate::Graph> = Engine::new(
            &ecfg,
            builder,
            policy,
            compiled.ports.len(),
            port,
            Clock::real(),
        )
        .unwrap();
        let running = engine.spawn(Arc::new(AtomicBool::new(false)));
        let d = Daemon {
            handle: running.handle.clone(),
            names: compiled.ports.iter().map(|p| p.name.clone()).collect(),
            ports: compiled
                .ports
                .iter()
                .map(|p| (p.clone(), Capabilities::default()))
                .collect(),
            config: path.clone(),
            workers: 1,
            running: Mutex::new(Some(running)),
            engine: Mutex::new(compiled.engine.clone()),
            log: Mutex::default(),
            nat_log: Mutex::default(),
        };
        (Arc::new(d), dir)
    }

    fn stop(d: &Daemon, dir: &std::path::Path) {
        if let Some(r) = d.running.lock().unwrap().take() {
            let _ = r.stop();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    fn edit(d: &Daemon, from: &str, to: &str) {
        let s = std::fs::read_to_string(&d.config).unwrap();
        assert!(s.contains(from));
        std::fs::write(&d.config, s.replacen(from, to, 1)).unwrap();
    }

    #[test]
    fn a_reload_applies_live_settings_and_refuses_restart_ones_by_name() {
        let (d, dir) = daemon("settings");
        let v0 = d.handle.shared.load().version;
        edit(
            &d,
            "workers = 1",
            "workers = 1\nidle_us = 777\nicmp_rate = 5\naccept_source_route = true",
        );
        assert!(!d.handle.shared.load().settings.accept_source_route);
        let v1 = reload(&d).unwrap();
        assert_eq!(v1, v0 + 1);
        let s = d.handle.shared.load().settings;
        assert_eq!((s.idle_us, s.icmp_rate), (777, 5), "live settings applied");
        assert!(s.accept_source_route, "source routing switched by a reload");
        edit(&d, "workers = 1", "workers = 2");
        let e = reload(&d).unwrap_err();
        assert!(e.contains("router.toml:7:11:"), "{e}");
        assert!(e.contains("`workers` changed from 1 to 2"), "{e}");
        assert!(e.contains("restart"), "{e}");
        assert_eq!(d.handle.shared.load().version, v1, "nothing published");
        // Back as it was: reloads again, settings kept from the file.
        edit(&d, "workers = 2", "workers = 1");
        edit(&d, "idle_us = 777", "idle_us = 300");
        reload(&d).unwrap();
        assert_eq!(d.handle.shared.load().settings.idle_us, 300);
        stop(&d, &dir);
    }

    #[test]
    fn a_reload_carries_learned_neighbors_and_routes_change_atomically() {
        let (d, dir) = daemon("routes");
        d.handle
            .publisher
            .update(|st| {
                st.builder.apply(&[TableUpdate::AddNeighbor {
                    addr: "192.0.2.77".parse().unwrap(),
                    mac: "02:00:00:00:01:77".parse().unwrap(),
                    iface: orbital_fib::IfId(1),
                    state: NeighborState::Reachable,
                }])
            })
            .unwrap();
        edit(
            &d,
            "prefix = \"203.0.113.0/24\"",
            "prefix = \"203.0.112.0/23\"",
        );
        reload(&d).unwrap();
        let snap = d.handle.shared.load_full();
        assert!(
            snap.fib
                .neighbors
                .get("192.0.2.77".parse().unwrap())
                .is_some(),
            "learned neighbour kept"
        );
        let routes = d.handle.publisher.read(|st| st.builder.routes());
        assert!(
            routes
                .iter()
                .any(|r| r.prefix.to_string() == "203.0.112.0/23")
        );
        assert!(
            !routes
                .iter()
                .any(|r| r.prefix.to_string() == "203.0.113.0/24")
        );
        stop(&d, &dir);
    }

    #[test]
    fn a_reload_brings_nat_the_api_and_metrics_show_it_and_a_bad_rule_changes_nothing() {
        use orbital_control::api::Request;
        let (d, dir) = daemon("nat");
        let show = || {
            let r = api::handle(&d, Request::Nat);
            assert!(r.ok, "{r:?}");
            r.result.unwrap()
        };
        assert_eq!(show()["static"].as_array().unwrap().len(), 0);
        let rule = "\n[[nat.static]]\ninside = \"10.0.0.2/32\"\noutside = \"198.18.0.2/32\"\ninterface = \"wan0\"\n";
        let base = std::fs::read_to_string(&d.config).unwrap();
        std::fs::write(&d.config, format!("{base}{rule}")).unwrap();
        reload(&d).unwrap();
        let v = show();
        let r = &v["static"][0];
        assert_eq!(
            (
                r["kind"].as_str(),
                r["inside"].as_str(),
                r["outside"].as_str()
            ),
            (Some("1:1"), Some("10.0.0.2/32"), Some("198.18.0.2/32"))
        );
        assert_eq!(r["interface"], "wan0");
        assert!(
            crate::ctl::render(
                &crate::ctl::CtlCommand::Show {
                    what: "nat".into(),
                    detail: None,
                    filter: None,
                },
                &v
            )
            .contains("198.18.0.2/32")
        );
        let m = metrics::render(&d);
        assert!(
            m.contains("orbital_nat_static_packets_total{rule=\"1\",inside=\"10.0.0.2/32\",outside=\"198.18.0.2/32\",direction=\"out\"} 0"),
            "{m}"
        );
        // An overlapping rule is refused, located; the running NAT stays.
        let v0 = d.handle.shared.load().version;
        let bad = "\n[[nat.static]]\ninside = \"10.0.0.0/24\"\noutside = \"198.18.1.0/24\"\ninterface = \"wan0\"\n";
        std::fs::write(&d.config, format!("{base}{rule}{bad}")).unwrap();
        let e = reload(&d).unwrap_err();
        assert!(e.contains("static NAT rule 2"), "{e}");
        assert!(e.contains("overlaps 10.0.0.2/32"), "{e}");
        assert!(e.contains("router.toml:"), "{e}");
        assert_eq!(d.handle.shared.load().version, v0, "nothing published");
        assert_eq!(show()["static"].as_array().unwrap().len(), 1);
        // Masquerade added by a reload: its pool is the interface's address.
        let masq = "\n[[nat.source]]\ninterface = \"wan0\"\ninside = [\"10.0.0.0/24\"]\nto = \"masquerade\"\n";
        std::fs::write(&d.config, format!("{base}{rule}{masq}")).unwrap();
        reload(&d).unwrap();
        let v = show();
        assert_eq!(v["source"][0]["to"], "masquerade");
        assert_eq!(v["source"][0]["filtering"], "address-and-port-dependent");
        assert_eq!(v["pool"][0]["udp_ports_used"], 0);
        let m = api::handle(&d, Request::NatMappings);
        assert_eq!(m.result.unwrap(), serde_json::json!([]));
        let text = crate::ctl::render(
            &crate::ctl::CtlCommand::Show {
                what: "nat".into(),
                detail: None,
                filter: None,
            },
            &v,
        );
        assert!(
            text.contains("source rule 1: out wan0 from 10.0.0.0/24 to masquerade"),
            "{text}"
        );
        assert!(metrics::render(&d).contains("orbital_nat_sessions 0"));
        // The pool: the interface's address with every port free, and
        // each worker's sessions against its limit.
        let pool = api::handle(&d, Request::NatPool).result.unwrap();
        assert_eq!(pool["addresses"][0]["address"], "192.0.2.1", "{pool}");
        assert_eq!(pool["addresses"][0]["udp"]["free"], 65_535, "{pool}");
        assert_eq!(pool["workers"][0]["max_sessions"], 65_536, "{pool}");
        // The workers answer a session listing (none yet); a bad filter
        // is an error, not an empty list.
        let r = api::handle(&d, Request::NatSessions { filter: None });
        assert!(r.ok, "{r:?}");
        assert_eq!(r.result.unwrap()["sessions"], serde_json::json!([]));
        let r = api::handle(
            &d,
            Request::NatSessions {
                filter: Some("proto=sctp".into()),
            },
        );
        assert!(
            !r.ok && r.error.as_deref().unwrap_or("").contains("sctp"),
            "{r:?}"
        );
        // The mapping log answers, off unless configured, and says so.
        let log = api::handle(&d, Request::NatLog).result.unwrap();
        assert_eq!(log["enabled"], false, "{log}");
        assert_eq!(log["records"], serde_json::json!([]));
        let text = crate::nat_view::render_log(&log);
        assert!(text.contains("[nat] log = true"), "{text}");
        assert!(
            metrics::render(&d).contains("orbital_nat_log_records_total{fate=\"lost\"} 0"),
            "metrics"
        );
        stop(&d, &dir);
    }

    #[test]
    fn metrics_say_which_build_runs() {
        let (d, dir) = daemon("build-info");
        let body = metrics::render(&d);
        let want = format!(
            "orbital_build_info{{version=\"{}\",revision=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION"),
            crate::version::REVISION
        );
        assert!(body.contains(&want), "{body}");
        assert!(body.contains("# TYPE orbital_build_info gauge\n"), "{body}");
        assert!(!crate::version::REVISION.is_empty());
        stop(&d, &dir);
    }

    #[test]
    fn show_trace_keeps_its_records_until_clear_trace() {
        use orbital_control::api::Request;
        use orbital_io::{TrafficFrames, TrafficPort};
        // Port 0 receives the example capture's first frame, over and over.
        let cap = orbital_capture::Capture::open(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lan.pcap"),
        )
        .unwrap();
        let frame = cap.frames().next().unwrap().unwrap().data.to_vec();
        let frames = Arc::new(TrafficFrames::new(&[(frame, 0)]));
        let (d, dir) = daemon_with("trace", move |_, p| match p {
            0 => AnyPort::Traffic(TrafficPort::new(frames.clone(), 0)),
            _ => AnyPort::Null(NullPort::default()),
        });
        let show = || {
            let r = api::handle(&d, Request::TraceRead);
            assert!(r.ok, "{r:?}");
            r.result.unwrap()
        };
        assert!(
            api::handle(
                &d,
                Request::TraceStart {
                    count: 3,
                    filter: None
                }
            )
            .ok
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut first = show();
        while first.as_array().unwrap().len() < 3 {
            assert!(std::time::Instant::now() < deadline, "traced: {first}");
            std::thread::sleep(std::time::Duration::from_millis(20));
            first = show();
        }
        let stats = api::handle(&d, Request::Stats).result.unwrap();
        assert_eq!(stats["trace_dropped"], 0, "{stats}");
        assert_eq!(show(), first, "a second show returns the same records");
        assert!(api::handle(&d, Request::TraceClear).ok);
        let after = show();
        assert!(after.as_array().unwrap().is_empty(), "{after}");
        stop(&d, &dir);
    }
}
