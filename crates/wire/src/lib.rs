//! Wire formats of the Orbital data plane: the first stage every packet meets.
//!
//! Everything a worker learns about a frame it learns here. Each protocol is a
//! *view* over a byte buffer (`XPacket<T: AsRef<[u8]>>`, after smoltcp): the
//! view owns no bytes, copies none, and reads fields in place. Untrusted bytes
//! enter only through `new_checked`, which does the one length check a header
//! needs; after it every getter is in bounds. Setters need `T: AsMut<[u8]>` and
//! edit the packet where it lies, so rewrites (TTL, addresses, ports) never move
//! the payload.
//!
//! [`parse`] walks a whole frame once (Ethernet, up to two VLAN tags, ARP or
//! IPv4/IPv6 with a bounded walk of extension headers, then TCP/UDP/ICMP) and
//! fills a compact [`PacketInfo`] the rest of the pipeline reads instead of
//! re-parsing. Malformed input never panics and never reads out of bounds: it
//! yields a [`ParseError`] naming the defect, which the pipeline turns into a
//! counted drop reason.
//!
//! [`checksum`] has the RFC 1071 sum, the IPv4/IPv6 pseudo-headers and the
//! RFC 1624 incremental update used when a stage rewrites a field.
//!
//! Plain-data `Repr` types (ARP, ICMP, ICMPv6) exist for the slow path, which
//! builds replies and errors; the fast path uses views only.
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
mod error;
pub mod ethernet;
mod field;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ndisc;
mod parse;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use error::{Layer, ParseError};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame};
pub use ip::IpProtocol;
pub use parse::{FragInfo, L3Kind, LinkType, PacketInfo, VlanTag, parse};

/// Result of a bounds check or parse in this crate.
pub type Result<T> = core::result::Result<T, ParseError>;
