//! The data-plane API's wire protocol (spec §11.1): what `orbctl` and other
//! control-plane agents send to `orbital run` over its Unix socket, and the
//! translation of route and neighbour edits into typed table updates.
//!
//! One request per line, one response per line, both JSON:
//!
//! ```text
//! > {"version":1,"request":{"method":"apply","updates":[{"op":"route-add","prefix":"203.0.113.0/24","via":["192.0.2.254"]}]}}
//! < {"version":1,"ok":true,"result":{"tables_version":7}}
//! > {"version":1,"request":{"method":"stats"}}
//! < {"version":1,"ok":true,"result":{...}}
//! > garbage
//! < {"version":1,"ok":false,"error":"line 1: expected value at line 1 column 1"}
//! ```
//!
//! The version is checked first: a client speaking another version gets an
//! error, not a guess. A request that does not parse, names an unknown
//! method or field, or whose updates the tables refuse changes nothing.

use orbital_fib::{IfId, Interfaces, NeighborState, TableUpdate};
use serde::{Deserialize, Serialize};

use crate::vocab;

/// The protocol version this build speaks.
pub const API_VERSION: u32 = 1;

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/orbital/orbital.sock";

/// A request line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Must be [`API_VERSION`].
    pub version: u32,
    /// What is asked.
    pub request: Request,
}

/// What a client may ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Every counter: ports, workers, stages, drop reasons, rings, slow
    /// path, buffers, table version.
    Stats,
    /// Ports with their counters and capabilities.
    Ports,
    /// The routes in effect.
    Routes,
    /// The neighbour table.
    Neighbors,
    /// Drop reasons with counts.
    Errors,
    /// Per-worker and per-stage runtime (polls, wake-ups, cycles).
    Runtime,
    /// Apply a batch of edits atomically; answers the new table version.
    Apply {
        /// The edits, applied all or none.
        updates: Vec<Update>,
    },
    /// Reload the configuration file (as SIGHUP does).
    Reload,
    /// The firewall's chains and rules with their hit counters.
    Firewall,
    /// NAT: the rules with their counters, sessions, pool use.
    Nat,
    /// NAT mappings: external address:port → inside endpoint.
    NatMappings,
    /// NAT sessions (each worker's copy), optionally only those matching
    /// `filter` (`proto=udp,addr=192.168.1.2,port=5000,kind=forward`).
    NatSessions {
        /// Which sessions.
        #[serde(default)]
        filter: Option<String>,
    },
    /// The external addresses' ports used and free, and each worker's
    /// sessions against its limit.
    NatPool,
    /// The NAT mapping log (`[nat] log = true`): mappings made and given
    /// back, newest last.
    NatLog,
    /// Tracked connections (`conntrack -L`), optionally only those
    /// matching `filter` (`proto=tcp,addr=10.0.0.2,port=443,state=established`).
    Conntrack {
        /// Which connections.
        #[serde(default)]
        filter: Option<String>,
    },
    /// Connection counts per state and protocol, fill, evictions.
    ConntrackSummary,
    /// Packets the firewall's `log` statements logged.
    Log,
    /// Trace the next `count` packets per worker matching `filter`
    /// (`port=lan0,dst=10.0.0.0/8,proto=6,...`).
    TraceStart {
        /// Packets per worker.
        count: usize,
        /// Optional filter.
        #[serde(default)]
        filter: Option<String>,
    },
    /// Finished trace records kept since the last [`Request::TraceClear`],
    /// rendered (reading does not remove them), and how many older ones the
    /// bounded buffer dropped.
    TraceRead,
    /// Forget every finished trace record (`vppctl clear trace`).
    TraceClear,
}

/// One edit of the tables, named as an operator names things.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Update {
    /// Add or replace a route: exactly one of `via` (one gateway, or
    /// several for ECMP), `dev` (connected on an interface) or `type`
    /// (blackhole, unreachable, prohibit).
    RouteAdd {
        /// Destination prefix.
        prefix: String,
        /// Gateways.
        #[serde(default)]
        via: Vec<String>,
        /// Interface.
        #[serde(default)]
        dev: Option<String>,
        /// Route type.
        #[serde(default, rename = "type")]
        kind: Option<String>,
    },
    /// Remove a route.
    RouteDel {
        /// Destination prefix.
        prefix: String,
    },
    /// Add or replace a static neighbour.
    NeighborAdd {
        /// Its address.
        address: String,
        /// Its MAC.
        mac: String,
        /// The port (interface) it is on.
        port: String,
    },
    /// Remove a neighbour.
    NeighborDel {
        /// Its address.
        address: String,
    },
}

/// A response line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// [`API_VERSION`].
    pub version: u32,
    /// Whether the request was carried out.
    pub ok: bool,
    /// The answer, when ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why not, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// A success.
    pub fn ok(result: serde_json::Value) -> Response {
        Response {
            version: API_VERSION,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A refusal.
    pub fn err(error: impl Into<String>) -> Response {
        Response {
            version: API_VERSION,
            ok: false,
            result: None,
            error: Some(error.into()),
        }
    }
}

/// Parse one request line, checking the version first.
///
/// # Errors
/// A message fit to send back: bad JSON, wrong version, unknown method or
/// field.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(API_VERSION) => {}
        Some(n) => {
            return Err(format!(
                "protocol version {n} is not supported (this daemon speaks {API_VERSION})"
            ));
        }
        None => return Err("missing `version` (this daemon speaks 1)".into()),
    }
    serde_json::from_value::<Envelope>(v)
        .map(|e| e.request)
        .map_err(|e| format!("bad request: {e}"))
}

fn iface_named(ifs: &Interfaces, name: &str) -> Option<IfId> {
    ifs.iter_ifaces().find(|i| i.name == name).map(|i| i.id)
}

/// Turn API edits into one batch of typed table updates, in the same
/// vocabulary as the configuration ([`crate::vocab`]): what a
/// `[[route]]` accepts, `route-add` accepts.
///
/// # Errors
/// `update N: why` for the first edit that does not compile.
pub fn compile_updates(updates: &[Update], ifs: &Interfaces) -> Result<Vec<TableUpdate>, String> {
    let mut out = Vec::with_capacity(updates.len());
    for (i, u) in updates.iter().enumerate() {
        let at = |e: String| format!("update {}: {e}", i + 1);
        let t = match u {
            Update::RouteAdd {
                prefix,
                via,
                dev,
                kind,
            } => {
                let prefix = vocab::prefix(prefix).map_err(at)?;
                let via: Vec<&str> = via.iter().map(String::as_str).collect();
                let spec = vocab::RouteSpec {
                    via: &via,
                    dev: dev.as_deref(),
                    kind: kind.as_deref(),
                };
                let target = vocab::route_target(spec, |n| iface_named(ifs, n))
                    .map_err(|e| at(e.message))?;
                TableUpdate::AddRoute { prefix, target }
            }
            Update::RouteDel { prefix } => {
                TableUpdate::DelRoute(vocab::prefix(prefix).map_err(at)?)
            }
            Update::NeighborAdd { address, mac, port } => TableUpdate::AddNeighbor {
                addr: vocab::address(address).map_err(at)?,
                mac: vocab::station_mac(mac).map_err(at)?,
                iface: iface_named(ifs, port)
                    .ok_or_else(|| at(format!("no port or bridge interface named `{port}`")))?,
                state: NeighborState::Static,
            },
            Update::NeighborDel { address } => {
                TableUpdate::DelNeighbor(vocab::address(address).map_err(at)?)
            }
        };
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_named() {
        let r = parse_request(
            r#"{"version":1,"request":{"method":"apply","updates":[{"op":"route-del","prefix":"10.0.0.0/8"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Apply {
                updates: vec![Update::RouteDel {
                    prefix: "10.0.0.0/8".into()
                }]
            }
        );
        assert!(parse_request("garbage").unwrap_err().contains("not JSON"));
        assert!(
            parse_request(r#"{"version":2,"request":{"method":"stats"}}"#)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(
            parse_request(r#"{"version":1,"request":{"method":"explode"}}"#)
                .unwrap_err()
                .contains("explode")
        );
        assert!(
            parse_request(r#"{"version":1,"request":{"method":"apply","updates":[],"x":1}}"#)
                .is_err()
        );
    }

    #[test]
    fn edits_resolve_names_or_say_which_one_is_wrong() {
        let ifs = Interfaces::default();
        let e = compile_updates(
            &[
                Update::RouteAdd {
                    prefix: "10.0.0.0/8".into(),
                    via: vec!["192.0.2.1".into()],
                    dev: None,
                    kind: None,
                },
                Update::NeighborAdd {
                    address: "192.0.2.1".into(),
                    mac: "02:00:00:00:00:01".into(),
                    port: "nope".into(),
                },
            ],
            &ifs,
        )
        .unwrap_err();
        assert_eq!(e, "update 2: no port or bridge interface named `nope`");
        let e = compile_updates(
            &[Update::RouteAdd {
                prefix: "10.0.0.0/33".into(),
                via: vec![],
                dev: None,
                kind: Some("blackhole".into()),
            }],
            &ifs,
        )
        .unwrap_err();
        assert!(e.starts_with("update 1: `10.0.0.0/33`"), "{e}");
    }
}
