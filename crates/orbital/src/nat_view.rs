//! What the API shows of NAT: the static translations with their counters
//! (JSON for the API, [`render_nat`] for `orbctl show nat`) and their
//! Prometheus families.

use std::fmt::Write as _;

use std::sync::atomic::{AtomicU64, Ordering};

use orbital_nat::NatPolicy;
use orbital_nat::policy::DynCounters;
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
            "sessions: {} live (at most {} per worker), {} created, {} expired; refused: {} filtered, {} for want of a port, {} table full; {} handed to their worker",
            n("live"),
            n("max_per_worker"),
            n("created"),
            n("expired"),
            n("filtered"),
            n("ports_exhausted"),
            n("table_full"),
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
    family(
        "orbital_nat_untranslatable_total",
        "Packets NPTv6 could not translate (RFC 6296 §3.4), dropped.",
        "counter",
        vec![(String::new(), p.untranslatable())],
    );
}
