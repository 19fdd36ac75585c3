//! What the API shows of the firewall and connection tracking: the rules
//! with their hit counters (`nft list ruleset` with counters), the tracked
//! connections (`conntrack -L`), their summary, and the log. JSON for the
//! API; `orbctl` renders it ([`render_firewall`], [`render_conntrack`],
//! [`render_summary`], [`render_log`]).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use orbital_conntrack::{CtDrop, CtEntry, CtSummary, InvalidReason, ProtoClass, Tuple};
use orbital_firewall::EdgePolicy;
use serde_json::{Value, json};

/// Log records the daemon keeps for readers.
pub const LOG_KEPT: usize = 1000;

/// The firewall as JSON.
pub fn firewall_json(p: &EdgePolicy, _ports: &[String]) -> Value {
    let fw = &p.firewall;
    let chains: Vec<Value> = fw
        .chains
        .iter()
        .map(|c| {
            let rules: Vec<Value> = (0..c.rules)
                .map(|i| {
                    let gid = c.first_rule + i;
                    let r = &fw.rules[gid as usize];
                    let (packets, bytes) = fw.hits(gid);
                    json!({"handle": i + 1, "text": r.text, "packets": packets, "bytes": bytes, "entries": r.entries})
                })
                .collect();
            let (hook, priority, policy) = match c.base {
                Some((h, p, pol)) => (Some(h.name()), Some(p), Some(pol.to_string())),
                None => (None, None, None),
            };
            json!({"name": c.name, "hook": hook, "priority": priority, "policy": policy, "rules": rules})
        })
        .collect();
    let (logged, lost) = p.log.counts();
    json!({
        "generation": fw.generation,
        "chains": chains,
        "warnings": fw.warnings,
        "stats": {
            "rules": fw.stats.rules, "entries": fw.stats.entries, "segments": fw.stats.segments,
            "build_ms": fw.stats.build_ms, "memory_bytes": fw.stats.memory_bytes,
        },
        "flow_cache": {
            "hooks": orbital_firewall::rules::FwHook::ALL
                .iter()
                .zip(fw.flow_cache)
                .filter(|(_, on)| *on)
                .map(|(h, _)| h.name())
                .collect::<Vec<_>>(),
            "hits": fw.cache_hits(),
        },
        "log": {"logged": logged, "lost": lost},
    })
}

/// Which connections a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtFilter {
    proto: Option<String>,
    addr: Option<IpAddr>,
    port: Option<u16>,
    state: Option<String>,
}

impl CtFilter {
    /// Parse `proto=tcp,addr=10.0.0.2,port=443,state=established`.
    ///
    /// # Errors
    /// An unknown key or a value that does not parse.
    pub fn parse(s: &str) -> Result<CtFilter, String> {
        let mut f = CtFilter::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("conntrack filter `{part}` is not key=value"))?;
            match k {
                "proto" => f.proto = Some(v.to_lowercase()),
                "addr" | "src" | "dst" => {
                    f.addr = Some(v.parse().map_err(|_| format!("`{v}` is not an address"))?)
                }
                "port" | "sport" | "dport" => {
                    f.port = Some(v.parse().map_err(|_| format!("`{v}` is not a port"))?)
                }
                "state" => f.state = Some(v.to_lowercase()),
                other => {
                    return Err(format!(
                        "unknown conntrack filter key `{other}` (proto, addr, port, state)"
                    ));
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, e: &CtEntry) -> bool {
        let addrs = [e.original.src, e.original.dst, e.reply.src, e.reply.dst];
        let ports = [
            e.original.src_port,
            e.original.dst_port,
            e.reply.src_port,
            e.reply.dst_port,
        ];
        self.proto.as_deref().is_none_or(|p| p == e.protocol.name())
            && self.addr.is_none_or(|a| {
                let v = match a {
                    IpAddr::V4(x) => u128::from(x.to_bits()),
                    IpAddr::V6(x) => x.to_bits(),
                };
                addrs.contains(&v)
            })
            && self.port.is_none_or(|p| ports.contains(&p))
            && self.state.as_deref().is_none_or(|s| match s {
                "unreplied" => !e.seen_reply,
                "assured" => e.assured,
                "replied" => e.seen_reply,
                s => e
                    .tcp_state
                    .is_some_and(|t| t.name().eq_ignore_ascii_case(s)),
            })
    }
}

fn addr(t: &Tuple, a: u128) -> String {
    if t.ipv6 {
        Ipv6Addr::from_bits(a).to_string()
    } else {
        Ipv4Addr::from_bits(a as u32).to_string()
    }
}

fn tuple_json(t: &Tuple) -> Value {
    json!({"src": addr(t, t.src), "dst": addr(t, t.dst), "sport": t.src_port, "dport": t.dst_port, "protocol": t.protocol})
}

/// Ask every worker for a copy of its table and wait (bounded) for the
/// answers.
///
/// # Errors
/// A worker that did not answer within a second (stopped, or stalled).
pub fn conntrack_listing(p: &EdgePolicy, f: &CtFilter) -> Result<Value, String> {
    for v in &p.ct_views {
        v.wanted.store(true, Ordering::Release);
    }
    let t0 = Instant::now();
    while p.ct_views.iter().any(|v| v.wanted.load(Ordering::Acquire)) {
        if t0.elapsed() > Duration::from_secs(1) {
            return Err("a worker did not answer within 1 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rows = Vec::new();
    let mut total = 0;
    for (w, v) in p.ct_views.iter().enumerate() {
        let Ok(a) = v.answer.lock() else { continue };
        let Some(l) = a.as_ref() else { continue };
        total += l.entries.len();
        for e in l.entries.iter().filter(|e| f.matches(e)) {
            rows.push(json!({
                "worker": w,
                "proto": e.protocol.name(),
                "state": e.tcp_state.map(|s| s.name()),
                "timeout_s": e.timeout_left_ns / 1_000_000_000,
                "original": tuple_json(&e.original),
                "reply": tuple_json(&e.reply),
                "seen_reply": e.seen_reply,
                "assured": e.assured,
                "text": e.to_string(),
            }));
        }
    }
    Ok(json!({"connections": rows, "listed": total}))
}

fn add(a: &mut CtSummary, b: &CtSummary) {
    a.entries += b.entries;
    a.max_entries += b.max_entries;
    a.unconfirmed += b.unconfirmed;
    a.unreplied += b.unreplied;
    a.replied += b.replied;
    a.closing += b.closing;
    a.assured += b.assured;
    for (x, y) in a.per_proto.iter_mut().zip(&b.per_proto) {
        *x += y;
    }
    for (x, y) in a.tcp_states.iter_mut().zip(&b.tcp_states) {
        *x += y;
    }
    a.memory_bytes += b.memory_bytes;
    let (s, t) = (&mut a.stats, &b.stats);
    s.created += t.created;
    s.confirmed += t.confirmed;
    s.released_unconfirmed += t.released_unconfirmed;
    s.expired += t.expired;
    s.reset += t.reset;
    s.reopened += t.reopened;
    s.removed += t.removed;
    s.related += t.related;
    s.untracked += t.untracked;
    for (x, y) in s.evicted.iter_mut().zip(&t.evicted) {
        *x += y;
    }
    for (x, y) in s.drops.iter_mut().zip(&t.drops) {
        *x += y;
    }
    for (x, y) in s.invalid.iter_mut().zip(&t.invalid) {
        *x += y;
    }
}

/// Every worker's table summary, summed (as of the workers' last refresh,
/// at most about a second old).
pub fn summed(p: &EdgePolicy) -> Option<CtSummary> {
    let mut total: Option<CtSummary> = None;
    for v in &p.ct_views {
        let Ok(s) = v.summary.lock() else { continue };
        let Some((_, s)) = s.as_ref() else { continue };
        match &mut total {
            None => total = Some(*s),
            Some(t) => add(t, s),
        }
    }
    total
}

/// The summary as JSON.
pub fn conntrack_summary_json(p: &EdgePolicy) -> Value {
    let Some(s) = summed(p) else {
        return json!({"workers": p.ct_views.len(), "entries": 0, "max_entries": 0});
    };
    let st = &s.stats;
    json!({
        "workers": p.ct_views.len(),
        "entries": s.entries, "max_entries": s.max_entries, "fill_permille": s.fill_permille(),
        "unconfirmed": s.unconfirmed, "unreplied": s.unreplied, "replied": s.replied,
        "closing": s.closing, "assured": s.assured, "memory_bytes": s.memory_bytes,
        "per_protocol": ProtoClass::ALL.iter().map(|c| json!({"protocol": c.name(), "entries": s.per_proto[c.index()]})).collect::<Vec<_>>(),
        "tcp_states": orbital_conntrack::TcpState::ALL.iter().skip(1).map(|t| json!({"state": t.name(), "entries": s.tcp_states[*t as usize]})).collect::<Vec<_>>(),
        "created": st.created, "confirmed": st.confirmed, "released_unconfirmed": st.released_unconfirmed,
        "expired": st.expired, "reset": st.reset, "removed": st.removed,
        "related": st.related, "untracked": st.untracked,
        "evicted": {"unreplied": st.evicted[0], "replied": st.evicted[1], "closing": st.evicted[2]},
        "drops": CtDrop::ALL.iter().map(|d| json!({"reason": d.name(), "count": st.drops[d.index()]})).collect::<Vec<_>>(),
        "invalid": InvalidReason::ALL.iter().map(|r| json!({"reason": r.name(), "description": r.description(), "count": st.invalid[r.index()]})).collect::<Vec<_>>(),
    })
}

/// Take the new log records into `kept` (the newest [`LOG_KEPT`]) and
/// show them.
pub fn log_json(p: &EdgePolicy, kept: &mut VecDeque<Value>, ports: &[String]) -> Value {
    let fw = &p.firewall;
    while let Some(r) = p.log.pop() {
        let rule = (r.generation == fw.generation)
            .then(|| fw.rules.get(r.rule as usize))
            .flatten();
        let chain = rule.and_then(|x| fw.chains.get(x.chain as usize));
        kept.push_back(json!({
            "time_ns": r.time_ns,
            "worker": r.worker,
            "hook": r.hook.name(),
            "port": ports.get(usize::from(r.port)).cloned().unwrap_or_else(|| format!("port{}", r.port)),
            "chain": chain.map(|c| c.name.clone()),
            "rule": rule.map(|x| x.text.clone()),
            "prefix": rule.and_then(|x| x.log.clone()),
            "packet": orbital_pipeline::trace::describe(&r.info),
        }));
        if kept.len() > LOG_KEPT {
            kept.pop_front();
        }
    }
    let (logged, lost) = p.log.counts();
    json!({"records": kept.iter().cloned().collect::<Vec<_>>(), "logged": logged, "lost": lost})
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => String::new(),
        x => x.to_string(),
    }
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

/// `orbctl show firewall`: the ruleset as nftables lists it, with counters.
pub fn render_firewall(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "table inet orbital {{  # generation {}",
        u(v, "generation")
    );
    for c in v["chains"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "\tchain {} {{", s(c, "name"));
        if !c["hook"].is_null() {
            let _ = writeln!(
                o,
                "\t\ttype filter hook {} priority {}; policy {};",
                s(c, "hook"),
                s(c, "priority"),
                s(c, "policy")
            );
        }
        for r in c["rules"].as_array().into_iter().flatten() {
            let _ = writeln!(
                o,
                "\t\t{} counter packets {} bytes {}  # handle {}",
                s(r, "text"),
                u(r, "packets"),
                u(r, "bytes"),
                u(r, "handle")
            );
        }
        let _ = writeln!(o, "\t}}");
    }
    let _ = writeln!(o, "}}");
    let st = &v["stats"];
    let _ = writeln!(
        o,
        "# {} rules, {} classifier entries in {} segments, {:.1} ms to build, {} KiB",
        u(st, "rules"),
        u(st, "entries"),
        u(st, "segments"),
        st["build_ms"].as_f64().unwrap_or(0.0),
        u(st, "memory_bytes") / 1024
    );
    let fc = &v["flow_cache"];
    let hooks: Vec<&str> = fc["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if hooks.is_empty() {
        let _ = writeln!(o, "# flow verdict cache: off (no cacheable forward chain)");
    } else {
        let _ = writeln!(
            o,
            "# flow verdict cache: on at {}; {} packets decided from it",
            hooks.join(", "),
            u(fc, "hits")
        );
    }
    for w in v["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "# warning: {}", w.as_str().unwrap_or(""));
    }
    o
}

/// `orbctl show conntrack`: one line per connection, as `conntrack -L`.
pub fn render_conntrack(v: &Value) -> String {
    let mut o = String::new();
    for c in v["connections"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "{}", s(c, "text"));
    }
    let n = v["connections"].as_array().map_or(0, Vec::len);
    let _ = writeln!(o, "orbctl: {n} flow entries have been shown.");
    o
}

/// `orbctl show conntrack summary`.
pub fn render_summary(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "entries {} of {} ({}.{} %) on {} worker(s), {} KiB",
        u(v, "entries"),
        u(v, "max_entries"),
        u(v, "fill_permille") / 10,
        u(v, "fill_permille") % 10,
        u(v, "workers"),
        u(v, "memory_bytes") / 1024
    );
    let _ = writeln!(
        o,
        "unreplied {}  replied {}  assured {}  closing {}  unconfirmed {}",
        u(v, "unreplied"),
        u(v, "replied"),
        u(v, "assured"),
        u(v, "closing"),
        u(v, "unconfirmed")
    );
    let per: Vec<String> = v["per_protocol"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} {}", s(p, "protocol"), u(p, "entries")))
        .collect();
    let _ = writeln!(o, "by protocol: {}", per.join(", "));
    let tcp: Vec<String> = v["tcp_states"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| u(p, "entries") > 0)
        .map(|p| format!("{} {}", s(p, "state"), u(p, "entries")))
        .collect();
    let _ = writeln!(
        o,
        "tcp: {}",
        if tcp.is_empty() {
            "-".into()
        } else {
            tcp.join(", ")
        }
    );
    let e = &v["evicted"];
    let _ = writeln!(
        o,
        "created {}  expired {}  evicted {} unreplied / {} replied / {} closing  related {}  untracked {}",
        u(v, "created"),
        u(v, "expired"),
        u(e, "unreplied"),
        u(e, "replied"),
        u(e, "closing"),
        u(v, "related"),
        u(v, "untracked")
    );
    for d in v["drops"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(v["invalid"].as_array().into_iter().flatten())
    {
        if u(d, "count") > 0 {
            let _ = writeln!(
                o,
                "  {:<28}{:>10}  {}",
                s(d, "reason"),
                u(d, "count"),
                s(d, "description")
            );
        }
    }
    o
}

/// `orbctl show log`.
pub fn render_log(v: &Value) -> String {
    let mut o = String::new();
    for r in v["records"].as_array().into_iter().flatten() {
        let t = u(r, "time_ns");
        let _ = writeln!(
            o,
            "{}.{:06} {}{} on {} (chain {}: {}): {}",
            t / 1_000_000_000,
            (t % 1_000_000_000) / 1000,
            s(r, "prefix"),
            s(r, "hook"),
            s(r, "port"),
            s(r, "chain"),
            s(r, "rule"),
            s(r, "packet")
        );
    }
    let _ = writeln!(
        o,
        "{} logged, {} lost to a full queue",
        u(v, "logged"),
        u(v, "lost")
    );
    o
}

/// Writes one Prometheus family: name, help, type, (labels, value) rows.
pub type Family<'a> = dyn FnMut(&str, &str, &str, Vec<(String, u64)>) + 'a;

/// Prometheus families of the firewall and connection tracking.
pub fn metrics(p: &EdgePolicy, family: &mut Family<'_>) {
    let fw = &p.firewall;
    let mut packets = Vec::new();
    let mut bytes = Vec::new();
    for c in &fw.chains {
        for i in 0..c.rules {
            let (pk, by) = fw.hits(c.first_rule + i);
            let label = format!("{{chain=\"{}\",handle=\"{}\"}}", c.name, i + 1);
            packets.push((label.clone(), pk));
            bytes.push((label, by));
        }
    }
    family(
        "orbital_fw_rule_packets_total",
        "Packets a firewall rule matched.",
        "counter",
        packets,
    );
    family(
        "orbital_fw_rule_bytes_total",
        "Bytes a firewall rule matched.",
        "counter",
        bytes,
    );
    family(
        "orbital_fw_flow_cache_hits_total",
        "Packets the firewall decided from a connection's cached verdict.",
        "counter",
        vec![(String::new(), fw.cache_hits())],
    );
    let Some(s) = summed(p) else { return };
    family(
        "orbital_ct_entries",
        "Tracked connections now.",
        "gauge",
        vec![(String::new(), u64::from(s.entries))],
    );
    family(
        "orbital_ct_max_entries",
        "Connections the tables can hold.",
        "gauge",
        vec![(String::new(), u64::from(s.max_entries))],
    );
    family(
        "orbital_ct_evictions_total",
        "Connections evicted to make room, by kind.",
        "counter",
        ["unreplied", "replied", "closing"]
            .iter()
            .zip(s.stats.evicted)
            .map(|(k, v)| (format!("{{kind=\"{k}\"}}"), v))
            .collect(),
    );
    family(
        "orbital_ct_invalid_total",
        "Packets conntrack found invalid, by reason.",
        "counter",
        InvalidReason::ALL
            .iter()
            .map(|r| {
                (
                    format!("{{reason=\"{}\"}}", r.name()),
                    s.stats.invalid[r.index()],
                )
            })
            .collect(),
    );
    family(
        "orbital_ct_created_total",
        "Connections created.",
        "counter",
        vec![(String::new(), s.stats.created)],
    );
}
