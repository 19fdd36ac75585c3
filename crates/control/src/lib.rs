//! The control side's configuration compiler (spec §2.2: the data plane never
//! parses configuration). A router configuration in TOML becomes the port
//! list and a batch of typed [`TableUpdate`]s; the engine only ever sees the
//! latter. Every error — syntax, a bad address, a gateway on no subnet — is
//! reported as `file:line:column: reason`, and a configuration is checked by
//! applying its updates to a scratch builder before anyone uses it.
//!
//! ```toml
//! [engine]
//! workers = 2
//!
//! [[port]]
//! name = "lan0"
//! mac = "02:00:00:00:00:01"
//! addresses = ["10.0.0.1/24", "2001:db8::1/64", "fe80::1/64"]
//!
//! [[port]]
//! name = "wan0"
//! mac = "02:00:00:00:01:01"
//! mtu = 1280
//! addresses = ["192.0.2.1/24"]
//!
//! [[route]]
//! prefix = "0.0.0.0/0"
//! via = "192.0.2.254"          # or ["gw1", "gw2"] for ECMP, or dev = "wan0"
//!
//! [[route]]
//! prefix = "203.0.113.0/24"
//! type = "blackhole"            # unreachable, prohibit, local
//!
//! [[neighbor]]
//! address = "192.0.2.254"
//! mac = "02:00:00:00:01:fe"
//! port = "wan0"
//! ```
//!
//! A large table goes in route files, one route per line in `ip route`'s
//! syntax ([`route_file`]): `route_files = ["fulltable.routes"]`, paths
//! relative to the configuration.
//!
//! Ports may instead be bridge members (`mode = "access"`, `vlan = 10`, or
//! `mode = "trunk"`, `vlans = [10, 20]`, `native = 1`), and `[[bridge]]`
//! sections (`vlan`, `aging`, and optionally `mac` + `addresses` for the
//! bridge's own L3 interface) define the bridge domains.
#![forbid(unsafe_code)]

pub mod api;
mod config;
pub mod firewall;
mod nat;
mod nat_rule;
pub mod route_file;
pub mod vocab;

pub use config::{
    Apply, Backend, Compiled, ConfigError, EngineSettings, PortSpec, XdpAttach, compile_str,
    firewall_file, load, nat_file,
};
pub use orbital_fib::TableUpdate;
