//! What the API shows of NAT: the static translations with their counters
//! (JSON for the API, [`render_nat`] for `orbctl show nat`) and their
//! Prometheus families.

use std::fmt::Write as _;

use std::sync::atomic::{AtomicU64, Ordering};

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use orbital_nat::NatPolicy;
use orbital_nat::policy::{DynCounters, SessionRow};
use orbital_nat::session::Kind;
use serde_json::{Value, json};

use crate::firewall_view::Family;

/// NAT as JSON.
pub fn nat_json(p: &NatPolicy) -> Value {
    let statics: Vec<Value> = p
        .rules
        .statics
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (out, inbound) = p.rule_totals(i);
            let kind = match (s.inside, s.inside.len()) {
                (orbital_fib::IpPrefix::V6(_), _) => "nptv6",
                (_, 32) => "1:1",
                _ => "prefix",
            };
            json!({
                "rule": i + 1,
                "kind": kind,
                "inside": s.inside.to_string(),
                "outside": s.outside.to_string(),
                "interface": s.iface_name,
                "translated_out": out,
                "translated_in": inbound,
            })
        })
        .collect();
    let sources: Vec<Value> = p
        .rules
        .sources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "rule": i + 1,
                "interface": r.iface_name,
                "inside": r.inside.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "to": if r.masquerade { "masquerade".to_string() } else { r.pool.iter().map(ToString::to_string).collect::<Vec<_>>().join(",") },
                "pool": r.pool.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "filtering": r.filtering.name(),
            })
        })
        .collect();
    let forwards: Vec<Value> = p
        .rules
        .forwards
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let last = u32::from(f.to_port) + u32::from(f.ports.1 - f.ports.0);
            json!({
                "rule": i + 1,
                "interface": f.iface_name,
                "protocol": if f.proto == 6 { "tcp" } else { "udp" },
                "address": f.addr.to_string(),
                "ports": if f.ports.0 == f.ports.1 { f.ports.0.to_string() } else { format!("{}-{}", f.ports.0, f.ports.1) },
                "to": if f.ports.0 == f.ports.1 { format!("{}:{}", f.to, f.to_port) } else { format!("{}:{}-{last}", f.to, f.to_port) },
            })
        })
        .collect();
    let sum = |f: fn(&DynCounters) -> &AtomicU64| -> u64 {
        p.shared
            .counters
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    };
    let pool: Vec<Value> = p
        .shared
        .tables
        .iter()
        .map(|(a, t)| {
            json!({
                "address": std::net::Ipv4Addr::from_bits(*a).to_string(),
                "tcp_ports_used": t[0].used(),
                "udp_ports_used": t[1].used(),
                "icmp_ids_used": t[2].used(),
            })
        })
        .collect();
    let t = &p.timeouts.ns;
    json!({
        "static": statics,
        "untranslatable": p.untranslatable(),
        "source": sources,
        "forward": forwards,
        "sessions": {
            "live": sum(|c| &c.live),
            "max_per_worker": p.max_sessions,
            "created": sum(|c| &c.created),
            "expired": sum(|c| &c.expired),
            "filtered": sum(|c| &c.filtered),
            "ports_exhausted": sum(|c| &c.exhausted),
            "table_full": sum(|c| &c.full),
            "host_limited": sum(|c| &c.host_limited),
            "max_per_host": p.max_sessions_per_host,
            "max_ports_per_host": p.max_ports_per_host,
            "handoffs": sum(|c| &c.handoffs),
        },
        "timeouts_s": {
            "udp": t[0] / 1_000_000_000,
            "tcp_established": t[1] / 1_000_000_000,
            "tcp_transitory": t[2] / 1_000_000_000,
            "icmp": t[3] / 1_000_000_000,
        },
        "pool": pool,
    })
}

/// Mappings listed at most.
pub const MAPPINGS_MAX: usize = 10_000;

/// Every mapping (external address:port → inside endpoint) as JSON, from
/// the shared port tables (no worker is asked).
pub fn mappings_json(p: &NatPolicy) -> Value {
    let mut rows = Vec::new();
    'all: for (a, tables) in &p.shared.tables {
        let filtering = p
            .sources
            .iter()
            .find(|r| r.pool.contains(a))
            .map_or("port-forward", |r| r.filtering.name());
        for (proto, t) in ["tcp", "udp", "icmp"].iter().zip(tables) {
            for (port, o) in t.held() {
                if rows.len() >= MAPPINGS_MAX {
                    break 'all;
                }
                rows.push(json!({
                    "protocol": proto,
                    "external": format!("{}:{port}", std::net::Ipv4Addr::from_bits(*a)),
                    "inside": format!("{}:{}", std::net::Ipv4Addr::from_bits(o.addr), o.port),
                    "sessions": o.refs,
                    "filtering": filtering,
                }));
            }
        }
    }
    Value::Array(rows)
}

/// `orbctl show nat mappings` for people.
pub fn render_mappings(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<6}{:<24}{:<24}{:>9}  filtering",
        "proto", "external", "inside", "sessions"
    );
    for r in v.as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "{:<6}{:<24}{:<24}{:>9}  {}",
            r["protocol"].as_str().unwrap_or(""),
            r["external"].as_str().unwrap_or(""),
            r["inside"].as_str().unwrap_or(""),
            r["sessions"].as_u64().unwrap_or(0),
            r["filtering"].as_str().unwrap_or(""),
        );
    }
    o
}

/// Which NAT sessions a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    proto: Option<u8>,
    addr: Option<u32>,
    port: Option<u16>,
    kind: Option<Kind>,
}

impl SessionFilter {
    /// Parse `proto=udp,addr=192.168.1.2,port=5000,kind=mapped`; `addr`
    /// and `port` match the inside, external or remote side alike.
    ///
    /// # Errors
    /// An unknown key or a value that does not parse.
    pub fn parse(s: &str) -> Result<SessionFilter, String> {
        let mut f = SessionFilter::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("NAT session filter `{part}` is not key=value"))?;
            match k {
                "proto" => {
                    f.proto = Some(match v.to_lowercase().as_str() {
                        "tcp" => 6,
                        "udp" => 17,
                        "icmp" => 1,
                        _ => return Err(format!("proto `{v}`: expected tcp, udp or icmp")),
                    })
                }
                "addr" | "src" | "dst" => {
                    f.addr = Some(
                        v.parse::<Ipv4Addr>()
                            .map_err(|_| format!("`{v}` is not an IPv4 address"))?
                            .to_bits(),
                    )
                }
                "port" | "sport" | "dport" => {
                    f.port = Some(v.parse().map_err(|_| format!("`{v}` is not a port"))?)
                }
                "kind" => {
                    f.kind = Some(match v {
                        "mapped" | "snat" => Kind::Mapped,
                        "forward" | "dnat" => Kind::Forward,
                        _ => return Err(format!("kind `{v}`: expected mapped or forward")),
                    })
                }
                other => {
                    return Err(format!(
                        "unknown NAT session filter key `{other}` (proto, addr, port, kind)"
                    ));
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, r: &SessionRow) -> bool {
        self.proto.is_none_or(|p| p == r.lan.proto)
            && self
                .addr
                .is_none_or(|a| [r.lan.addr, r.wan.addr, r.lan.remote, r.wan.remote].contains(&a))
            && self
                .port
                .is_none_or(|p| [r.lan.port, r.wan.port, r.lan.rport, r.wan.rport].contains(&p))
            && self.kind.is_none_or(|k| k == r.kind)
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        _ => "?",
    }
}

fn endpoint(a: u32, p: u16) -> String {
    format!("{}:{p}", Ipv4Addr::from_bits(a))
}

/// Ask every worker for a copy of its NAT sessions and wait (bounded) for
/// the answers; each worker lists at most
/// [`orbital_nat::policy::SESSION_LIST_MAX`].
///
/// # Errors
/// A worker that did not answer within a second (stopped, or stalled).
pub fn sessions_listing(p: &NatPolicy, f: &SessionFilter) -> Result<Value, String> {
    let views = &p.shared.views;
    for v in views {
        v.wanted.store(true, Ordering::Release);
    }
    let t0 = Instant::now();
    while views.iter().any(|v| v.wanted.load(Ordering::Acquire)) {
        if t0.elapsed() > Duration::from_secs(1) {
            return Err("a worker did not answer within 1 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rows = Vec::new();
    let mut listed = 0;
    for (w, v) in views.iter().enumerate() {
        let Ok(a) = v.answer.lock() else { continue };
        let Some(l) = a.as_ref() else { continue };
        listed += l.len();
        for r in l.iter().filter(|r| f.matches(r)) {
            rows.push(json!({
                "worker": w,
                "protocol": proto_name(r.lan.proto),
                "kind": match r.kind { Kind::Mapped => "mapped", Kind::Forward => "forward" },
                "inside": endpoint(r.lan.addr, r.lan.port),
                "external": endpoint(r.wan.addr, r.wan.port),
                "remote": endpoint(r.wan.remote, r.wan.rport),
                "timeout_class": r.class.name(),
                "expires_in_s": r.expires_in_ns / 1_000_000_000,
            }));
        }
    }
    Ok(json!({"sessions": rows, "listed": listed}))
}

/// `orbctl show nat sessions` for people.
pub fn render_sessions(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<4}{:<6}{:<9}{:<22}{:<22}{:<22}{:<16}{:>9}",
        "w", "proto", "kind", "inside", "external", "remote", "timer", "left(s)"
    );
    let rows = v["sessions"].as_array().cloned().unwrap_or_default();
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let _ = writeln!(
            o,
            "{:<4}{:<6}{:<9}{:<22}{:<22}{:<22}{:<16}{:>9}",
            r["worker"].as_u64().unwrap_or(0),
            s("protocol"),
            s("kind"),
            s("inside"),
            s("external"),
            s("remote"),
            s("timeout_class"),
            r["expires_in_s"].as_u64().unwrap_or(0),
        );
    }
    let _ = writeln!(
        o,
        "{} shown of {} listed",
        rows.len(),
        v["listed"].as_u64().unwrap_or(0)
    );
    o
}

/// Ports (and ICMP identifiers) a port table can hand out: all but 0.
const PORTS: usize = 65_535;

/// Ports used and free per external address and protocol (from the shared
/// port tables), and each worker's sessions against its limit.
pub fn pool_json(p: &NatPolicy) -> Value {
    let addresses: Vec<Value> = p
        .shared
        .tables
        .iter()
        .map(|(a, t)| {
            let proto =
                |i: usize| json!({"used": t[i].used(), "free": PORTS.saturating_sub(t[i].used())});
            json!({
                "address": Ipv4Addr::from_bits(*a).to_string(),
                "tcp": proto(0),
                "udp": proto(1),
                "icmp": proto(2),
            })
        })
        .collect();
    let workers: Vec<Value> = p
        .shared
        .counters
        .iter()
        .enumerate()
        .map(|(w, c)| {
            let live = c.live.load(Ordering::Relaxed);
            json!({
                "worker": w,
                "sessions": live,
                "max_sessions": p.max_sessions,
                "free": u64::from(p.max_sessions).saturating_sub(live),
            })
        })
        .collect();
    json!({"addresses": addresses, "workers": workers})
}

/// `orbctl show nat pool` for people.
pub fn render_pool(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "address", "tcp used", "free", "udp used", "free", "icmp used", "free"
    );
    for a in v["addresses"].as_array().into_iter().flatten() {
        let n = |p: &str, k: &str| a[p][k].as_u64().unwrap_or(0);
        let _ = writeln!(
            o,
            "{:<18}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            a["address"].as_str().unwrap_or(""),
            n("tcp", "used"),
            n("tcp", "free"),
            n("udp", "used"),
            n("udp", "free"),
            n("icmp", "used"),
            n("icmp", "free"),
        );
    }
    for w in v["workers"].as_array().into_iter().flatten() {
        let n = |k: &str| w[k].as_u64().unwrap_or(0);
        let _ = writeln!(
            o,
            "worker {}: {} sessions of {} ({} free)",
            n("worker"),
            n("sessions"),
            n("max_sessions"),
            n("free")
        );
    }
    o
}

/// Mapping log records the daemon keeps for readers.
pub const MAPPING_LOG_KEPT: usize = 10_000;

/// Take the new mapping log records into `kept` (the newest
/// [`MAPPING_LOG_KEPT`]) and show them.
pub fn log_json(p: &NatPolicy, kept: &mut std::collections::VecDeque<Value>) -> Value {
    let log = &p.shared.log;
    while let Some(e) = log.pop() {
        kept.push_back(json!({
            "time_ns": e.time_ns,
            "worker": e.worker,
            "event": if e.created { "create" } else { "delete" },
            "protocol": proto_name(e.proto),
            "inside": endpoint(e.inside, e.inside_port),
            "external": endpoint(e.external, e.external_port),
        }));
        if kept.len() > MAPPING_LOG_KEPT {
            kept.pop_front();
        }
    }
    let (logged, lost) = log.counts();
    json!({
        "enabled": p.log,
        "records": kept.iter().cloned().collect::<Vec<_>>(),
        "logged": logged,
        "lost": lost,
    })
}

/// `orbctl show nat log` for people.
pub fn render_log(v: &Value) -> String {
    let mut o = String::new();
    if v["enabled"] == false {
        o.push_str("the mapping log is off ([nat] log = true turns it on)\n");
    }
    let _ = writeln!(
        o,
        "{:>20}  {:<4}{:<8}{:<6}{:<22}external",
        "time (ns)", "w", "event", "proto", "inside"
    );
    for r in v["records"].as_array().into_iter().flatten() {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let _ = writeln!(
            o,
            "{:>20}  {:<4}{:<8}{:<6}{:<22}{}",
            r["time_ns"].as_u64().unwrap_or(0),
            r["worker"].as_u64().unwrap_or(0),
            s("event"),
            s("protocol"),
            s("inside"),
            s("external"),
        );
    }
    let _ = writeln!(
        o,
        "{} logged, {} lost to a full queue",
        v["logged"].as_u64().unwrap_or(0),
        v["lost"].as_u64().unwrap_or(0)
    );
    o
}

/// `orbctl show nat` for people.
pub fn render_nat(v: &Value) -> String {
    let mut o = String::new();
    let rows = v["static"].as_array().cloned().unwrap_or_default();
    let src = v["source"].as_array().cloned().unwrap_or_default();
    let fwd = v["forward"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() && src.is_empty() && fwd.is_empty() {
        o.push_str("no NAT configured\n");
        return o;
    }
    for r in &src {
        let _ = writeln!(
            o,
            "source rule {}: out {} from {} to {} (pool {}), filtering {}",
            r["rule"],
            r["interface"].as_str().unwrap_or(""),
            r["inside"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            r["to"].as_str().unwrap_or(""),
            r["pool"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            r["filtering"].as_str().unwrap_or(""),
        );
    }
    for r in &fwd {
        let _ = writeln!(
            o,
            "port forward {}: {} {}:{} on {} to {}",
            r["rule"],
            r["protocol"].as_str().unwrap_or(""),
            r["address"].as_str().unwrap_or(""),
            r["ports"].as_str().unwrap_or(""),
            r["interface"].as_str().unwrap_or(""),
            r["to"].as_str().unwrap_or(""),
        );
    }
    if !src.is_empty() || !fwd.is_empty() {
        let s = &v["sessions"];
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        let _ = writeln!(
            o,
            "sessions: {} live (at most {} per worker; per inside host {} sessions, {} ports), {} created, {} expired; refused: {} filtered, {} for want of a port, {} table full, {} over a host's limit; {} handed to their worker",
            n("live"),
            n("max_per_worker"),
            n("max_per_host"),
            n("max_ports_per_host"),
            n("created"),
            n("expired"),
            n("filtered"),
            n("ports_exhausted"),
            n("table_full"),
            n("host_limited"),
            n("handoffs")
        );
        for a in v["pool"].as_array().into_iter().flatten() {
            let _ = writeln!(
                o,
                "  {}: {} TCP ports, {} UDP ports, {} ICMP identifiers in use",
                a["address"].as_str().unwrap_or(""),
                a["tcp_ports_used"],
                a["udp_ports_used"],
                a["icmp_ids_used"]
            );
        }
    }
    if rows.is_empty() {
        return o;
    }
    let _ = writeln!(
        o,
        "{:<5}{:<8}{:<28}{:<28}{:<12}{:>14}{:>14}",
        "rule", "kind", "inside", "outside", "interface", "out", "in"
    );
    for r in &rows {
        let _ = writeln!(
            o,
            "{:<5}{:<8}{:<28}{:<28}{:<12}{:>14}{:>14}",
            r["rule"].as_u64().unwrap_or(0),
            r["kind"].as_str().unwrap_or(""),
            r["inside"].as_str().unwrap_or(""),
            r["outside"].as_str().unwrap_or(""),
            r["interface"].as_str().unwrap_or(""),
            r["translated_out"].as_u64().unwrap_or(0),
            r["translated_in"].as_u64().unwrap_or(0),
        );
    }
    let _ = writeln!(
        o,
        "NPTv6 untranslatable (dropped): {}",
        v["untranslatable"].as_u64().unwrap_or(0)
    );
    o
}

/// Prometheus families of NAT.
pub fn metrics(p: &NatPolicy, family: &mut Family<'_>) {
    let mut rows = Vec::new();
    for (i, s) in p.rules.statics.iter().enumerate() {
        let (out, inbound) = p.rule_totals(i);
        let l = |dir: &str| {
            format!(
                "{{rule=\"{}\",inside=\"{}\",outside=\"{}\",direction=\"{dir}\"}}",
                i + 1,
                s.inside,
                s.outside
            )
        };
        rows.push((l("out"), out));
        rows.push((l("in"), inbound));
    }
    family(
        "orbital_nat_static_packets_total",
        "Packets a static NAT rule translated, by direction (out: source, in: destination).",
        "counter",
        rows,
    );
    let sum = |f: fn(&DynCounters) -> &AtomicU64| -> u64 {
        p.shared
            .counters
            .iter()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    };
    family(
        "orbital_nat_sessions",
        "Stateful NAT sessions now.",
        "gauge",
        vec![(String::new(), sum(|c| &c.live))],
    );
    family(
        "orbital_nat_sessions_created_total",
        "Stateful NAT sessions made.",
        "counter",
        vec![(String::new(), sum(|c| &c.created))],
    );
    family(
        "orbital_nat_sessions_expired_total",
        "Stateful NAT sessions that timed out.",
        "counter",
        vec![(String::new(), sum(|c| &c.expired))],
    );
    family(
        "orbital_nat_handoffs_total",
        "Packets NAT handed to the worker owning their session.",
        "counter",
        vec![(String::new(), sum(|c| &c.handoffs))],
    );
    let mut used = Vec::new();
    for (a, t) in &p.shared.tables {
        for (proto, t) in ["tcp", "udp", "icmp"].iter().zip(t) {
            used.push((
                format!(
                    "{{address=\"{}\",protocol=\"{proto}\"}}",
                    std::net::Ipv4Addr::from_bits(*a)
                ),
                t.used() as u64,
            ));
        }
    }
    family(
        "orbital_nat_ports_used",
        "External ports (ICMP: identifiers) held by mappings, per address and protocol.",
        "gauge",
        used,
    );
    let (logged, lost) = p.shared.log.counts();
    family(
        "orbital_nat_log_records_total",
        "NAT mapping log records, by fate (logged, lost to a full queue).",
        "counter",
        vec![
            ("{fate=\"logged\"}".to_string(), logged),
            ("{fate=\"lost\"}".to_string(), lost),
        ],
    );
    family(
        "orbital_nat_untranslatable_total",
        "Packets NPTv6 could not translate (RFC 6296 §3.4), dropped.",
        "counter",
        vec![(String::new(), p.untranslatable())],
    );
}
