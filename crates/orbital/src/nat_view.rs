//! What the API shows of NAT: the static translations with their counters
//! (JSON for the API, [`render_nat`] for `orbctl show nat`) and their
//! Prometheus families.

use std::fmt::Write as _;

use orbital_nat::NatPolicy;
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
    json!({"static": statics, "untranslatable": p.untranslatable()})
}

/// `orbctl show nat` for people.
pub fn render_nat(v: &Value) -> String {
    let mut o = String::new();
    let rows = v["static"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        o.push_str("no NAT configured\n");
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
    family(
        "orbital_nat_untranslatable_total",
        "Packets NPTv6 could not translate (RFC 6296 §3.4), dropped.",
        "counter",
        vec![(String::new(), p.untranslatable())],
    );
}
