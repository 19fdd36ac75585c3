//! Connection tracking for the Orbital data plane: one bounded table per
//! worker, with Linux nf_conntrack's semantics where they matter to a
//! firewall and our own data structures where a per-core, batch-driven
//! engine is better served by something else.
//!
//! # Place in the pipeline
//!
//! A pure data structure: no graph or pipeline dependency, no locks, no
//! allocation after [`ConnTrack::new`]. Each worker owns one
//! [`ConnTrack`] inside its firewall nodes' state (ARCHITECTURE §2.1: stateful
//! tables are per-worker shards, never swapped):
//!
//! - the **prerouting** and **output** nodes call [`ConnTrack::track`] for
//!   every packet (received, resp. made by the router): it finds or creates
//!   the entry, runs the protocol's state machine and says
//!   [`CtState::New`]/[`Established`](CtState::Established)/[`Related`](CtState::Related)/[`Invalid`](CtState::Invalid)/[`Untracked`](CtState::Untracked)
//!   for the rules to match (`ct state`);
//!   For a burst, [`ConnTrack::prefetch`] and [`ConnTrack::prefetch_entry`]
//!   a few packets ahead hide the memory latency of a large table (the one
//!   other dependency, `orbital-cpu`, provides the prefetch hint);
//! - the **input** and **postrouting** nodes, the last a packet passes,
//!   call [`ConnTrack::confirm`] for the packets that survived;
//! - the worker calls [`ConnTrack::expire`] between bursts (bounded
//!   garbage collection, which also releases what was not confirmed);
//! - the API thread asks the worker for [`ConnTrack::summary`] (fill level,
//!   evictions — `orbctl`) and chunked [`ConnTrack::iter_from`] listings.
//!
//! ## Two-phase insert
//!
//! Linux inserts a new connection into its table only at confirmation, so a
//! dropped SYN leaves nothing. Our graph runs a whole burst through
//! prerouting before any packet reaches postrouting, so a SYN and its
//! SYN/ACK (common in a replayed capture) can share a burst: the entry must
//! be findable before it is confirmed. [`ConnTrack::track`] therefore puts a
//! new entry into the index at once, marked *unconfirmed* and on a list of
//! its own; `confirm` moves it to its timer list; anything left unconfirmed
//! at the end of the burst ([`ConnTrack::release_unconfirmed`], also run by
//! `expire`) is removed. No allocation either way: the slot comes from the
//! preallocated pool and goes back to it. A packet held across bursts (the
//! neighbour hold queue) finds its handle [`Confirm::Stale`] and is
//! tracked again.
//!
//! ## Policy versions
//!
//! Tables of rules are swapped; connections are not. Each entry remembers the
//! policy version it was judged under; [`Track::recheck`] is set when the
//! caller's version is newer, the firewall re-runs its rules on that packet
//! and records the result with [`ConnTrack::set_policy_version`] (or ends the
//! connection with [`ConnTrack::remove`]).
//!
//! # TCP
//!
//! States and transitions are nf_conntrack's (`tcp_conntracks` in Linux
//! 6.x, net/netfilter/nf_conntrack_proto_tcp.c), which follow the RFC 9293
//! §3.3.2 state diagram as seen from the middle: SYN_SENT, SYN_RECV,
//! ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE and
//! SYN_SENT2 for simultaneous open (RFC 9293 §3.5). An entry is *assured*
//! (never evicted to make room) on the ACK that completes the handshake.
//! Kept from Linux: picking up connections mid-stream (`tcp_loose`) with
//! liberal window checks; SYNs reopening TIME_WAIT/CLOSE (RFC 9293 §3.10.7.4,
//! RFC 1122 4.2.2.13); ignoring segments our view may be out of sync for
//! and resynchronising on the SYN/ACK that answers an ignored SYN;
//! RFC 5961 challenge-ACK handling; reset validation against the peer's
//! highest ACK; removing an entry whose only answer is a reset; the timeout
//! caps for retransmissions, unacknowledged data and zero windows; Linux's
//! default timeouts ([`Timeouts::LINUX`]).
//!
//! ## Window tracking
//!
//! After Guido van Rooij's "Real Stateful TCP Packet Filtering in IP
//! Filter", as nf_conntrack refines it. A middlebox sees both directions
//! but not the endpoints' variables, so per direction the entry keeps what
//! the *sender* has shown (RFC 9293 §3.3.1 names in brackets): `end`, the
//! highest sequence number sent plus one, SYN and FIN counting one
//! [SND.NXT as seen]; `maxend`, the highest `ack + window` the other side
//! advertised [SND.UNA + SND.WND]; `maxwin`, the largest window it
//! advertised, scaled and widened by SACK (RFC 2018); `maxack`, its highest
//! ACK; and the window-scale shift of its SYN (RFC 7323 §2: used only when
//! both SYNs carried the option, never applied to a SYN's own window,
//! capped at 14). A segment `seq..end` acknowledging `sack` (its highest
//! SACK right edge, else its ACK) is in window when, modulo 2^32
//! (RFC 9293 §3.4):
//!
//! 1. `seq <= sender.maxend` — it starts inside the receiver's window;
//! 2. `end >= sender.end - receiver.maxwin` — it is not older than a window;
//! 3. `sack <= receiver.end` — it acknowledges only data that was sent;
//! 4. `sack >= receiver.end - max(sender.maxwin, 66000)` — not an ancient ACK.
//!
//! Failing 1 or 3 is *out of window* (below); failing 2 or 4 (a
//! retransmission of acknowledged data, a very late ACK) is *ignored*, as in
//! Linux 6.x: the packet keeps its connection's state and passes, but does
//! not move the tracker. A segment overshooting the window by less than a
//! window with everything else in order is also ignored, and noted, so that
//! the ACK for it is not judged "data not seen".
//!
//! ## Out-of-window packets
//!
//! A segment beyond the receiver's window, or acknowledging data never
//! sent, is [`CtState::Invalid`] with [`InvalidReason::TcpSeqOutOfWindow`] or
//! [`InvalidReason::TcpAckOutOfWindow`], each counted in
//! [`CtStats::invalid`]. It does not change the entry: no state move, no
//! refresh, no removal — so it can neither tear a connection down nor keep
//! a dead one alive — and conntrack never drops or answers it: the rules
//! decide (`ct state invalid drop`; only a `reject with tcp-reset` rule the
//! user wrote sends a reset). Retransmissions of acknowledged data and very
//! late ACKs are not invalid: they pass as their connection's state without
//! moving it, as in Linux 6.x. The one entry change an invalid packet can
//! cause is Linux's too: an out-of-window FIN or RST answering one from the
//! other side shortens an assured connection's remaining life to
//! `tcp_unacknowledged`.
//!
//! # UDP, ICMP, others
//!
//! UDP: 30 s until a reply; a reply makes the flow replied; still active
//! 2 s after its first packet, a replied flow becomes a stream: assured,
//! 120 s. ICMP/ICMPv6 queries (echo, timestamp, information, address mask,
//! node information) open entries their replies match, 30 s; a reply with
//! no request is invalid. ICMP errors are [`CtState::Related`] to the
//! connection whose packet they quote (v4 and v6, through IPv6 extension
//! headers), and **invalid** when they quote no tracked connection
//! ([`InvalidReason::IcmpErrorNoMatch`]) or are sent to an address not on it
//! — exactly Linux's answers. ICMPv6 neighbour discovery and MLD are
//! untracked, as in Linux. Every other protocol is tracked by addresses and
//! protocol alone, 600 s.
//!
//! # Memory and tables
//!
//! - **Entries**: a preallocated array of `max_entries` 120-byte entries
//!   ([`ConnTrack::ENTRY_BYTES`]): original tuple, deadline, policy version,
//!   the firewall's cached verdicts (one word per direction), list links,
//!   generation, TCP tracker. The reply tuple is computed (the
//!   inverted original).
//! - **Index**: a bucketized cuckoo hash of 64-byte buckets (ten 16-bit tags
//!   and 32-bit entry numbers each), two candidate buckets per key, as
//!   many buckets as ≤ 85 % load needs; 7.5 bytes per entry. One slot per
//!   connection: the hash is *direction-independent* (the sum of the two
//!   endpoints' folded-multiply hashes, keyed by [`CtConfig::hash_seed`]), so
//!   both directions land on the same slot and a match says which direction.
//! - **Timers and eviction**: intrusive doubly linked lists through the
//!   entries, one per (eviction group × timeout class) — 60 lists whose
//!   members share one timeout, so appending keeps each in deadline order.
//!   A refresh rewrites the exact deadline but relinks only once per
//!   granule (a sixteenth of the timeout, ≤ 60 s): the collector reclaims at
//!   most a granule late, lookups are always exact. (One exception: an
//!   entry that changes group without a refresh — an ignored segment that
//!   is the first reply — joins its new list with its old deadline and may
//!   be collected late by up to that class's timeout; a lookup still sees
//!   it expire on time.) (Measured against
//!   relinking on every packet: no difference in `track` time within the
//!   noise of our 2-core machine — the neighbours' writes are stores, which
//!   do not stall — but three fewer cache lines dirtied per packet, which a
//!   loaded memory bus does feel. A timer wheel would need its own links
//!   for the eviction order; per-class lists give both with one pair.) Groups give eviction
//!   order: never replied, replied, assured-closing; assured connections are
//!   never evicted, and when only they remain a new connection is a counted
//!   drop ([`CtDrop::TableFull`]), never a stall.
//!
//! Per entry of capacity: 120 bytes (112 of connection, 8 of the
//! firewall's per-direction verdict cache) plus the index share, 64 bytes
//! per 8.5 entries = 7.5 bytes (the bucket count is not rounded to a power
//! of two) — 127.5 bytes for any table of 64 entries or more. With
//! [`CtConfig::accounting`], 32 more for packet and byte counters.
//! nf_conntrack spends about 300 (`struct nf_conn` plus extensions and two
//! hash nodes).
//!
//! # NAT, later
//!
//! In Linux a NAT session is a conntrack entry whose reply tuple is not the
//! inverted original. The design leaves room for it without paying for it
//! now: [`CtHandle::index`] keys a per-entry side table (NAT's translated
//! address and port, allocated up front by the NAT feature), and the entry
//! references in the index keep two bits free ([`MAX_ENTRIES`] = 2^30) so a
//! translated entry can have a second slot keyed by its reply tuple, each
//! slot restricted to one direction; the reply-direction match then compares
//! against the side table instead of the inverted original.
//!
//! # Differences from nf_conntrack, and why
//!
//! - Per-worker tables, no locks, no RCU; the engine steers a flow to one
//!   worker (RSS, hand-off), so a connection lives in one table.
//! - Confirmation is per burst, with unconfirmed entries visible inside their
//!   burst (above), because the graph processes bursts hook by hook.
//! - No reassembly: later fragments are [`CtState::Untracked`], first
//!   fragments are tracked on their own bytes (the firewall decides what to
//!   do with fragments).
//! - No checksum verification here (the parse stage and the NIC own it).
//! - Eviction uses ordered lists instead of sampling hash chains, and also
//!   evicts assured-but-closing TCP at insert time rather than from a
//!   background 95 % sweep.
//! - Timeouts are on the engine clock (virtual in replay), not jiffies;
//!   collection may be up to one granule late, lookups never are.
//! - SCTP, DCCP, GRE and the helpers (FTP, SIP, …) are not tracked
//!   specifically: they use the generic tracker. ICMPv6 redirects are not
//!   related to the flow they redirect (Linux parses the redirected-header
//!   option): they are invalid.
//! - Retransmission detection keeps a 32-bit fingerprint of (seq, ack)
//!   instead of both numbers, to fit the entry in 120 bytes.
//! - Counters are optional and count every packet attributed to the entry.
#![forbid(unsafe_code)]

mod config;
mod entry;
mod icmp;
mod index;
mod table;
mod tcp;
mod track;
mod tuple;

pub use config::{CtConfig, Timeouts};
pub use table::{
    ConnTrack, Counters, CtEntry, CtStats, CtSummary, FlowHash, MAX_ENTRIES, l4_bytes,
};
pub use tcp::TcpState;
pub use track::{Confirm, CtDrop, CtHandle, CtState, InvalidReason, Track};
pub use tuple::{Dir, ProtoClass, Tuple};
