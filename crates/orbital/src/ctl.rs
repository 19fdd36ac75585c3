//! `orbctl`: the operator's view of a running `orbital run`, through the
//! data-plane API socket. Human tables in the style of `ip` and `vppctl`;
//! `--json` prints the API's answer as is, for scripts.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use orbital_control::api::{API_VERSION, DEFAULT_SOCKET, Request, Response, Update};
use serde_json::Value;

/// `orbctl` arguments.
#[derive(Debug, clap::Parser)]
#[command(
    name = "orbctl",
    version = crate::version::LONG,
    about = "Control and inspect a running Orbital data plane"
)]
pub struct CtlArgs {
    /// The daemon's API socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Print the API's JSON answer.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `orbctl` commands.
#[derive(Debug, clap::Subcommand)]
pub enum CtlCommand {
    /// Show state: stats, ports, routes, neighbors, errors, runtime, trace,
    /// firewall, conntrack, log, nat.
    Show {
        /// What to show.
        #[arg(value_parser = ["stats", "ports", "routes", "neighbors", "errors", "runtime", "trace", "firewall", "conntrack", "log", "nat"])]
        what: String,
        /// For `nat`: `mappings`, `pool`, `log` or `sessions`. For `conntrack`:
        /// `summary`, or a filter
        /// `proto=tcp,addr=10.0.0.2,port=443,state=established`.
        detail: Option<String>,
        /// For `nat sessions`: a filter
        /// `proto=udp,addr=192.168.1.2,port=5000,kind=mapped|forward`.
        filter: Option<String>,
    },
    /// Start a packet trace of the next COUNT packets per worker.
    Trace {
        /// Packets per worker.
        count: usize,
        /// `port=lan0,src=10.0.0.0/8,dst=...,proto=6,sport=...,dport=...`
        #[arg(long)]
        filter: Option<String>,
    },
    /// Add or delete routes.
    Route {
        /// `add` or `del`.
        #[arg(value_parser = ["add", "del"])]
        action: String,
        /// The prefix, then `via GW [GW...]`, `dev IF`, or a type
        /// (blackhole, unreachable, prohibit).
        #[arg(num_args = 1.., required = true)]
        args: Vec<String>,
    },
    /// Add or delete static neighbours: `add ADDR MAC PORT`, `del ADDR`.
    Neighbor {
        /// `add` or `del`.
        #[arg(value_parser = ["add", "del"])]
        action: String,
        /// Address, then MAC and port for `add`.
        #[arg(num_args = 1..=3, required = true)]
        args: Vec<String>,
    },
    /// Re-read the daemon's configuration file.
    Reload,
    /// Forget state: `trace` (the kept trace records).
    Clear {
        /// What to clear.
        #[arg(value_parser = ["trace"])]
        what: String,
    },
}

/// Send one request and read the response.
///
/// # Errors
/// No daemon on `socket`, or a broken answer.
pub fn call(socket: &Path, req: &Request) -> anyhow::Result<Response> {
    let mut s = UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the daemon at {} (is `orbital run` up?)",
            socket.display()
        )
    })?;
    let line = serde_json::to_string(&serde_json::json!({"version": API_VERSION, "request": req}))?;
    writeln!(s, "{line}")?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer)?;
    serde_json::from_str(&answer).with_context(|| format!("unreadable answer `{}`", answer.trim()))
}

/// Turn the command line into an API request.
///
/// # Errors
/// Arguments that do not form a route or neighbour edit.
pub fn request_of(c: &CtlCommand) -> anyhow::Result<Request> {
    Ok(match c {
        CtlCommand::Show {
            what,
            detail,
            filter,
        } => match what.as_str() {
            "firewall" => Request::Firewall,
            "nat" => match detail.as_deref() {
                None => Request::Nat,
                Some("mappings") => Request::NatMappings,
                Some("pool") => Request::NatPool,
                Some("log") => Request::NatLog,
                Some("sessions") => Request::NatSessions {
                    filter: filter.clone(),
                },
                Some(other) => {
                    anyhow::bail!(
                        "show nat {other}: expected mappings, pool, log or sessions [FILTER]"
                    )
                }
            },
            "log" => Request::Log,
            "conntrack" if detail.as_deref() == Some("summary") => Request::ConntrackSummary,
            "conntrack" => Request::Conntrack {
                filter: detail.clone(),
            },
            "stats" => Request::Stats,
            "ports" => Request::Ports,
            "routes" => Request::Routes,
            "neighbors" => Request::Neighbors,
            "errors" => Request::Errors,
            "runtime" => Request::Runtime,
            _ => Request::TraceRead,
        },
        CtlCommand::Clear { .. } => Request::TraceClear,
        CtlCommand::Trace { count, filter } => Request::TraceStart {
            count: *count,
            filter: filter.clone(),
        },
        CtlCommand::Route { action, args } => {
            let prefix = args[0].clone();
            let u = if action == "del" {
                if args.len() != 1 {
                    bail!("usage: orbctl route del PREFIX");
                }
                Update::RouteDel { prefix }
            } else {
                match args.get(1).map(String::as_str) {
                    Some("via") if args.len() > 2 => Update::RouteAdd {
                        prefix,
                        via: args[2..].iter().filter(|a| *a != "via").cloned().collect(),
                        dev: None,
                        kind: None,
                    },
                    Some("dev") if args.len() == 3 => Update::RouteAdd {
                        prefix,
                        via: vec![],
                        dev: Some(args[2].clone()),
                        kind: None,
                    },
                    Some(k) if args.len() == 2 => Update::RouteAdd {
                        prefix,
                        via: vec![],
                        dev: None,
                        kind: Some(k.to_string()),
                    },
                    _ => bail!(
                        "usage: orbctl route add PREFIX (via GW [GW...] | dev IF | blackhole | unreachable | prohibit)"
                    ),
                }
            };
            Request::Apply { updates: vec![u] }
        }
        CtlCommand::Neighbor { action, args } => {
            let u = match (action.as_str(), &args[..]) {
                ("add", [a, m, p]) => Update::NeighborAdd {
                    address: a.clone(),
                    mac: m.clone(),
                    port: p.clone(),
                },
                ("del", [a]) => Update::NeighborDel { address: a.clone() },
                _ => bail!("usage: orbctl neighbor add ADDR MAC PORT | orbctl neighbor del ADDR"),
            };
            Request::Apply { updates: vec![u] }
        }
        CtlCommand::Reload => Request::Reload,
    })
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn ports_text(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<10}{:<11}{:<12}{:>10}{:>10}{:>10}{:>10}  offloads",
        "port", "backend", "device", "rx", "tx", "rx-drops", "tx-drops"
    );
    for p in rows(v) {
        let c = &p["capabilities"];
        let on: Vec<&str> = ["rx_checksum", "tx_checksum", "tso", "gso", "ntuple"]
            .into_iter()
            .filter(|k| c[*k].as_bool() == Some(true))
            .collect();
        let _ = writeln!(
            o,
            "{:<10}{:<11}{:<12}{:>10}{:>10}{:>10}{:>10}  {}",
            s(p, "name"),
            s(p, "backend"),
            s(p, "device"),
            u(p, "rx"),
            u(p, "tx"),
            u(p, "rx_drops"),
            u(p, "tx_drops"),
            if on.is_empty() {
                "none".to_string()
            } else {
                on.join(",")
            }
        );
    }
    o
}

fn errors_text(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{:>12}  {:<26}description", "count", "reason");
    for d in rows(v) {
        let _ = writeln!(
            o,
            "{:>12}  {:<26}{}",
            u(d, "count"),
            s(d, "reason"),
            s(d, "description")
        );
    }
    o
}

/// Render an answer for people.
pub fn render(c: &CtlCommand, v: &Value) -> String {
    let mut o = String::new();
    match c {
        CtlCommand::Show { what, detail, .. } => match what.as_str() {
            "firewall" => o = crate::firewall_view::render_firewall(v),
            "nat" => {
                o = match detail.as_deref() {
                    Some("mappings") => crate::nat_view::render_mappings(v),
                    Some("pool") => crate::nat_view::render_pool(v),
                    Some("log") => crate::nat_view::render_log(v),
                    Some("sessions") => crate::nat_view::render_sessions(v),
                    _ => crate::nat_view::render_nat(v),
                }
            }
            "log" => o = crate::firewall_view::render_log(v),
            "conntrack" if detail.as_deref() == Some("summary") => {
                o = crate::firewall_view::render_summary(v)
            }
            "conntrack" => o = crate::firewall_view::render_conntrack(v),
            "ports" => o = ports_text(v),
            "routes" => {
                for r in rows(v) {
                    let _ = writeln!(
                        o,
                        "{:<44}{:<10}{}",
                        s(r, "prefix"),
                        s(r, "origin"),
                        s(r, "target")
                    );
                }
            }
            "neighbors" => {
                for n in rows(v) {
                    let _ = writeln!(
                        o,
                        "{:<40} lladdr {} dev {} {}",
                        s(n, "address"),
                        s(n, "mac"),
                        s(n, "port"),
                        s(n, "state").to_uppercase()
                    );
                }
            }
            "errors" => o = errors_text(v),
            "runtime" => {
                for w in rows(&v["workers"]) {
                    let _ = writeln!(
                        o,
                        "worker {}: polls {}, empty {}, wake-ups {}, rx {}, tx {}, dropped {}, punted {}",
                        u(w, "worker"),
                        u(w, "polls"),
                        u(w, "empty_polls"),
                        u(w, "wakeups"),
                        u(w, "rx"),
                        u(w, "tx"),
                        u(w, "dropped"),
                        u(w, "punted")
                    );
                    let _ = writeln!(
                        o,
                        "  {:<16}{:>12}{:>14}{:>10}{:>14}",
                        "stage", "calls", "packets", "drops", "cycles/pkt"
                    );
                    for st in rows(&w["stages"]) {
                        let _ = writeln!(
                            o,
                            "  {:<16}{:>12}{:>14}{:>10}{:>14.1}",
                            s(st, "stage"),
                            u(st, "calls"),
                            u(st, "packets"),
                            u(st, "drops"),
                            st["cycles_per_packet"].as_f64().unwrap_or(0.0)
                        );
                    }
                }
            }
            "trace" => {
                for t in rows(v) {
                    o.push_str(s(t, "text"));
                }
                if o.is_empty() {
                    o.push_str("no trace records (start one with `orbctl trace N`)\n");
                }
            }
            _ => {
                o = ports_text(&v["ports"]);
                let t = &v["total"];
                let _ = writeln!(
                    o,
                    "\nrx {}  tx {}  dropped {}  punted {}  injected {}  (accounting {})",
                    u(t, "rx"),
                    u(t, "tx"),
                    u(t, "dropped"),
                    u(t, "punted"),
                    u(t, "injected"),
                    if t["balanced"].as_bool() == Some(true) {
                        "balanced"
                    } else {
                        "in flight"
                    }
                );
                let sp = &v["slow_path"];
                let _ = writeln!(
                    o,
                    "slow path: {} punts, {} ARP replies, {} neighbour adverts, {} echo replies, {} ICMP errors, {} resolutions, {} learned",
                    u(sp, "received"),
                    u(sp, "arp_replies"),
                    u(sp, "neighbor_adverts"),
                    u(sp, "echo_replies"),
                    u(sp, "icmp_errors"),
                    u(sp, "resolutions"),
                    u(sp, "learned")
                );
                if !rows(&v["drops"]).is_empty() {
                    let _ = writeln!(o, "drops:");
                    o.push_str(&errors_text(&v["drops"]));
                }
                let b = &v["buffers"];
                let _ = writeln!(
                    o,
                    "buffers {}/{} free, tables version {}",
                    u(b, "free"),
                    u(b, "total"),
                    u(v, "tables_version")
                );
            }
        },
        CtlCommand::Clear { .. } => {
            let _ = writeln!(o, "trace records cleared");
        }
        CtlCommand::Trace { .. } => {
            let _ = writeln!(
                o,
                "tracing the next {} packets per worker (read with `orbctl show trace`)",
                u(v, "count")
            );
        }
        _ => {
            let _ = writeln!(o, "ok, tables version {}", u(v, "tables_version"));
        }
    }
    o
}

/// Run `orbctl`; the exit status is non-zero when the daemon refused.
///
/// # Errors
/// No daemon, bad arguments, or the daemon's refusal (its message).
pub fn main_with(a: &CtlArgs) -> anyhow::Result<()> {
    let req = request_of(&a.command)?;
    let resp = call(&a.socket, &req)?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&resp)?);
    }
    if !resp.ok {
        bail!("{}", resp.error.unwrap_or_else(|| "refused".into()));
    }
    if !a.json {
        crate::out!(
            "{}",
            render(&a.command, resp.result.as_ref().unwrap_or(&Value::Null))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_command_line_is_well_formed_and_show_nat_takes_its_details() {
        // clap checks the definition only when a command is built: a bad
        // one panics at run time, for every user, without this.
        CtlArgs::command().debug_assert();
        let req = |args: &[&str]| {
            let a = CtlArgs::try_parse_from(std::iter::once("orbctl").chain(args.iter().copied()))
                .unwrap();
            request_of(&a.command).unwrap()
        };
        assert!(matches!(req(&["show", "nat"]), Request::Nat));
        assert!(matches!(req(&["show", "nat", "pool"]), Request::NatPool));
        assert!(matches!(req(&["show", "nat", "log"]), Request::NatLog));
        assert!(matches!(
            req(&["show", "nat", "mappings"]),
            Request::NatMappings
        ));
        assert!(matches!(
            req(&["show", "nat", "sessions", "proto=udp"]),
            Request::NatSessions { filter: Some(f) } if f == "proto=udp"
        ));
        assert!(matches!(
            req(&["show", "nat", "sessions"]),
            Request::NatSessions { filter: None }
        ));
        assert!(matches!(
            req(&["show", "conntrack", "proto=tcp"]),
            Request::Conntrack { filter: Some(f) } if f == "proto=tcp"
        ));
        let a = CtlArgs::try_parse_from(["orbctl", "show", "nat", "colour"]).unwrap();
        assert!(request_of(&a.command).is_err());
    }
}
