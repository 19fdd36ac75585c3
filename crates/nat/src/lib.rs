//! NAT for the Orbital data plane (spec §8.2 "NAT processing: stateless
//! where possible", §3.2 "simple NAT on the fast path", §7.1 "NAT tables:
//! lock-free reads, versioned updates").
//!
//! # Place in the pipeline
//!
//! Two nodes, [`node::NatIn`] at prerouting (before connection tracking)
//! and [`node::NatOut`] at postrouting (the last node before rewrite), so
//! that conntrack, routing and the firewall's rules see inside addresses
//! and the wire sees outside ones; [`router::Router`] is the feature set
//! that places them beside the firewall's nodes, and what the daemon,
//! replay and the benchmarks run. The compiled rules ([`policy`]) ride in
//! the snapshot with the tables and the firewall, swapped atomically.
//!
//! # What it translates
//!
//! Stateless translations, no per-flow state ([`rules::StaticNat`]):
//!
//! - **1:1 NAT44** (a /32 inside, a /32 outside) and **prefix NAT44**
//!   (equal-length prefixes, host bits kept: Linux's `netmap`), both
//!   directions: the source of packets leaving through the outside
//!   interface, the destination of packets to an outside address. IPv4
//!   header and TCP/UDP checksums are updated incrementally (RFC 1624);
//!   ICMP errors have their quoted header translated back (RFC 5508 §4.2,
//!   RFC 7857 §2.9), with the quoted checksums and the ICMP checksum;
//!   fragments are translated by their addresses alone (later fragments
//!   carry no transport checksum to fix).
//! - **NPTv6** (RFC 6296) for IPv6 prefixes up to /64: checksum-neutral,
//!   so no transport checksum is touched; ICMPv6 errors' quoted headers
//!   are translated the same way; an address whose adjustment word is
//!   0xFFFF is dropped (`nat-untranslatable`, §3.4).
//! - **Hairpinning** (RFC 4787 REQ-9): an inside host reaching another's
//!   outside address is translated on both sides at prerouting, so the
//!   server sees the outside address the client has on the Internet.
//!
//! [`translate`] holds the byte-level rewrites, shared by every node.
//!
//! Stateful NAT44 ([`dynamic`]: masquerade and pools with
//! endpoint-independent mapping and configurable filtering, port forwards,
//! hairpinning, ICMP) keeps its sessions in a bounded per-worker table
//! ([`session`]) and its mappings in the shared port table ([`ports`]),
//! whose port choice keeps each session on one worker.
#![forbid(unsafe_code)]

pub mod dynamic;
pub mod fragments;
pub mod hosts;
pub mod log;
pub mod node;
pub mod policy;
pub mod ports;
pub mod router;
pub mod rules;
pub mod session;
pub mod translate;

pub use policy::{NatError, NatPolicy};
pub use router::{Router, RouterPolicy};
pub use rules::{NatRules, StaticNat};
