//! The data-plane API server (spec §11.1): a Unix socket, mode 0600, one
//! JSON request per line and one JSON response per line (protocol in
//! [`orbital_control::api`]). Each connection gets a thread; requests are
//! rare control operations, never per packet.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use orbital_control::api::{Request, Response, compile_updates, parse_request};
use orbital_fib::{PortId, RouteTarget, Tables};
use serde_json::{Value, json};

use super::Daemon;
use crate::report;

/// Longest request line accepted; a longer one is an error, not a buffer.
const MAX_REQUEST: u64 = 4 << 20;

/// The listening socket; dropping it stops accepting and removes the file.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Bind `path` (creating its directory), restrict it to its owner, and
    /// serve on a thread.
    ///
    /// # Errors
    /// Another daemon already answers on `path`, or the socket cannot be made.
    pub fn bind(path: &Path, d: Arc<Daemon>) -> anyhow::Result<Server> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                bail!(
                    "{}: another daemon is already listening there",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        std::thread::Builder::new()
            .name("orbital-api".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s2.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let d = d.clone();
                    let _ = std::thread::Builder::new()
                        .name("orbital-api-conn".into())
                        .spawn(move || serve(conn, &d));
                }
            })
            .context("API thread")?;
        Ok(Server {
            path: path.to_path_buf(),
            stop,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(conn: UnixStream, d: &Daemon) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut input = BufReader::new(conn);
    loop {
        let mut line = String::new();
        match (&mut input).take(MAX_REQUEST).read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{}",
                    json_line(&Response::err(format!("unreadable request: {e}")))
                );
                return;
            }
        }
        if !line.ends_with('\n') && line.len() as u64 >= MAX_REQUEST {
            let _ = writeln!(
                out,
                "{}",
                json_line(&Response::err("request longer than 4 MiB"))
            );
            return;
        }
        if line.trim().is_empty() {
            continue;
        }
        let resp = match parse_request(line.trim()) {
            Ok(r) => handle(d, r),
            Err(e) => Response::err(e),
        };
        if writeln!(out, "{}", json_line(&resp)).is_err() {
            return;
        }
    }
}

fn json_line(r: &Response) -> String {
    serde_json::to_string(r)
        .unwrap_or_else(|_| r#"{"version":1,"ok":false,"error":"unserialisable"}"#.into())
}

/// Carry out one request.
pub fn handle(d: &Daemon, r: Request) -> Response {
    match r {
        Request::Stats => {
            let s = d.handle.stats();
            let mut v = report::stats_json(&s, &d.names);
            v["ports"] = ports_json(d);
            if let Ok(mut g) = d.running.lock()
                && let Some(r) = g.as_mut()
            {
                v["trace_dropped"] = json!(r.trace().dropped());
            }
            Response::ok(v)
        }
        Request::Ports => Response::ok(ports_json(d)),
        Request::Routes => Response::ok(routes_json(d)),
        Request::Neighbors => Response::ok(neighbors_json(d)),
        Request::Errors => {
            let s = d.handle.stats();
            Response::ok(json!(report::drops(&s)
                .into_iter()
                .map(|(r, n)| json!({"reason": r.name(), "count": n, "description": r.description()}))
                .collect::<Vec<_>>()))
        }
        Request::Runtime => Response::ok(runtime_json(d)),
        Request::Apply { updates } => {
            let r = d.handle.publisher.update(|st| {
                let ups = compile_updates(&updates, st.builder.interfaces())?;
                st.builder.apply(&ups).map_err(|e| match e.index {
                    Some(i) => format!("update {}: {}: {}", i + 1, e.update, e.kind),
                    None => format!("{}: {}", e.update, e.kind),
                })?;
                Ok::<(), String>(())
            });
            match r {
                Ok((v, ())) => Response::ok(json!({"tables_version": v})),
                Err(e) => Response::err(e),
            }
        }
        Request::Nat => Response::ok(crate::nat_view::nat_json(
            &d.handle.shared.load_full().policy.nat,
        )),
        Request::NatMappings => Response::ok(crate::nat_view::mappings_json(
            &d.handle.shared.load_full().policy.nat,
        )),
        Request::NatSessions { filter } => {
            let f = match filter.as_deref().map(crate::nat_view::SessionFilter::parse) {
                Some(Err(e)) => return Response::err(e),
                Some(Ok(f)) => f,
                None => crate::nat_view::SessionFilter::default(),
            };
            match crate::nat_view::sessions_listing(&d.handle.shared.load_full().policy.nat, &f) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::err(e),
            }
        }
        Request::NatPool => Response::ok(crate::nat_view::pool_json(
            &d.handle.shared.load_full().policy.nat,
        )),
        Request::NatLog => {
            let snap = d.handle.shared.load_full();
            let Ok(mut kept) = d.nat_log.lock() else {
                return Response::err("NAT log buffer poisoned");
            };
            Response::ok(crate::nat_view::log_json(&snap.policy.nat, &mut kept))
        }
        Request::Firewall => Response::ok(crate::firewall_view::firewall_json(
            &d.handle.shared.load_full().policy.edge,
            &d.names,
        )),
        Request::Conntrack { filter } => {
            let f = match filter.as_deref().map(crate::firewall_view::CtFilter::parse) {
                Some(Err(e)) => return Response::err(e),
                Some(Ok(f)) => f,
                None => crate::firewall_view::CtFilter::default(),
            };
            let snap = d.handle.shared.load_full();
            match crate::firewall_view::conntrack_listing(&snap.policy.edge, &f) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::err(e),
            }
        }
        Request::ConntrackSummary => Response::ok(crate::firewall_view::conntrack_summary_json(
            &d.handle.shared.load_full().policy.edge,
        )),
        Request::Log => {
            let snap = d.handle.shared.load_full();
            let Ok(mut kept) = d.log.lock() else {
                return Response::err("log buffer poisoned");
            };
            Response::ok(crate::firewall_view::log_json(
                &snap.policy.edge,
                &mut kept,
                &d.names,
            ))
        }
        Request::Reload => match super::reload(d) {
            Ok(v) => Response::ok(json!({"tables_version": v})),
            Err(e) => Response::err(e),
        },
        Request::TraceStart { count, filter } => {
            let port_id = |name: &str| -> anyhow::Result<PortId> {
                d.names
                    .iter()
                    .position(|n| n == name)
                    .map(|i| PortId(i as u16))
                    .with_context(|| format!("no port `{name}`"))
            };
            let f = match filter
                .as_deref()
                .map(|f| crate::replay::parse_filter(f, &port_id))
            {
                Some(Err(e)) => return Response::err(format!("{e:#}")),
                Some(Ok(f)) => f,
                None => Default::default(),
            };
            let id = d.handle.trace.start(count, f);
            Response::ok(json!({"trace": id, "count": count}))
        }
        Request::TraceRead => {
            let Ok(mut g) = d.running.lock() else {
                return Response::err("engine lock poisoned");
            };
            let Some(r) = g.as_mut() else {
                return Response::err("the engine is stopping");
            };
            let names = d.names.clone();
            let pn = move |p: PortId| {
                names
                    .get(usize::from(p.0))
                    .cloned()
                    .unwrap_or_else(|| format!("port{}", p.0))
            };
            let log = r.trace();
            let recs: Vec<Value> = log
                .records()
                .map(|t| json!({"seq": t.seq, "worker": t.worker, "text": t.render(&pn)}))
                .collect();
            // A bare list, as before records were kept: scripts read it.
            // What a full buffer dropped is in `show stats`
            // (`trace_dropped`).
            Response::ok(json!(recs))
        }
        Request::TraceClear => {
            let Ok(mut g) = d.running.lock() else {
                return Response::err("engine lock poisoned");
            };
            let Some(r) = g.as_mut() else {
                return Response::err("the engine is stopping");
            };
            r.clear_trace();
            Response::ok(json!({"cleared": true}))
        }
    }
}

fn ports_json(d: &Daemon) -> Value {
    let s = d.handle.stats();
    json!(
        d.ports
            .iter()
            .enumerate()
            .map(|(i, (spec, caps))| {
                let p = s.total.ports.get(i).copied().unwrap_or_default();
                json!({
                    "name": spec.name,
                    "backend": super::backend_name(spec.backend),
                    "device": spec.device,
                    "mac": spec.mac.to_string(),
                    "rx": p.rx, "tx": p.tx, "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes,
                    "tx_drops": p.tx_drops, "rx_drops": p.rx_drops,
                    "capabilities": {
                        "rx_checksum": caps.rx_checksum, "tx_checksum": caps.tx_checksum,
                        "tso": caps.tso, "gso": caps.gso, "ntuple": caps.ntuple,
                        "queues": caps.queues, "max_frame": caps.max_frame,
                    },
                })
            })
            .collect::<Vec<_>>()
    )
}

fn iface_name(t: &Tables, id: orbital_fib::IfId) -> String {
    t.ifs
        .iface(id)
        .map_or_else(|| format!("if{}", id.0), |i| i.name.clone())
}

fn routes_json(d: &Daemon) -> Value {
    d.handle.publisher.read(|st| {
    let b = &st.builder;
    let t = b.current();
    json!(b
        .routes()
        .into_iter()
        .map(|r| {
            let target = match &r.target {
                RouteTarget::Via(gws) => gws
                    .iter()
                    .map(|g| match g.iface {
                        Some(i) => format!("via {} dev {}", g.addr, iface_name(&t, i)),
                        None => format!("via {}", g.addr),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                RouteTarget::Dev(i) => format!("dev {}", iface_name(&t, *i)),
                RouteTarget::Local => "local".into(),
                RouteTarget::Blackhole => "blackhole".into(),
                RouteTarget::Unreachable => "unreachable".into(),
                RouteTarget::Prohibit => "prohibit".into(),
            };
            json!({"prefix": r.prefix.to_string(), "origin": format!("{:?}", r.origin).to_lowercase(), "target": target})
        })
        .collect::<Vec<_>>())
    })
}

fn neighbors_json(d: &Daemon) -> Value {
    d.handle.publisher.read(|st| {
        let b = &st.builder;
        let t = b.current();
        let mut v: Vec<_> = b.neighbors().iter().collect();
        v.sort_by_key(|(a, _)| *a);
        json!(v
            .into_iter()
            .map(|(a, n)| json!({"address": a.to_string(), "mac": n.mac.to_string(), "port": iface_name(&t, n.iface), "state": n.state.name()}))
            .collect::<Vec<_>>())
    })
}

fn runtime_json(d: &Daemon) -> Value {
    let s = d.handle.stats();
    json!({
        "workers": s.workers.iter().enumerate().map(|(i, w)| json!({
            "worker": i, "polls": w.polls, "empty_polls": w.empty_polls, "wakeups": w.wakeups,
            "rx": w.rx, "tx": w.tx, "dropped": w.dropped, "punted": w.punted,
            "stages": s.nodes.iter().zip(&w.nodes).map(|(n, c)| {
                json!({"stage": n, "calls": c.calls, "packets": c.packets, "drops": c.drops,
                       "cycles_per_packet": c.cycles_per_packet()})
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "tables_version": s.tables_version,
    })
}
