//! Stateful NAT44: masquerade and pools (NAPT), port forwards,
//! hairpinning, ICMP queries and errors — what the NAT nodes call for a
//! packet no static rule translated.
//!
//! The requirements and how each is met (RFC 4787 for UDP, RFC 5382 for
//! TCP, RFC 5508 for ICMP, RFC 7857 updates):
//!
//! | requirement | how |
//! |---|---|
//! | 4787 REQ-1 endpoint-independent mapping | one external port per inside endpoint (protocol, address, port) for every destination: the shared port table ([`crate::ports`]) is the only place a mapping lives; every worker finds the same one |
//! | REQ-2 paired pooling | an inside host's external address is a function of its address ([`crate::policy::SourceRule::address_of`]) |
//! | REQ-3 no port overloading | a port is held by one inside endpoint until its last session ends |
//! | REQ-3 a port ranges | a source port below 1024 maps below 1024, above to above |
//! | REQ-4 port parity | the external port has the inside port's parity |
//! | port preservation | when the inside port keeps the steering (below): 1 in 128; the rest of the time the steering wins |
//! | REQ-5 mapping timer ≥ 2 min, default 5 min | UDP sessions 300 s, configurable, refused below 120 s |
//! | REQ-6 outbound refresh | every outbound packet refreshes its session; inbound ones too |
//! | REQ-7, REQ-8 filtering | per source rule: endpoint-independent, address-dependent (a per-port filter of the remote addresses reached), address-and-port-dependent (the default: a session for that remote endpoint) |
//! | REQ-9 hairpinning | an inside host reaching an external address:port is translated at prerouting as if it came from the Internet: source to its own mapping, destination to the mapping's owner, filtering applied |
//! | 5382 REQ-2 simultaneous open | the inside host's SYN makes the session; the peer's SYN to it then matches it (`tests/nat.rs`) |
//! | 5382 REQ-4, REQ-4a unsolicited SYN | never answered: to a mapping it is filtered (address-and-port-dependent), before any mapping it is for the router and its input policy decides; dropped silently, as REQ-4a asks when an answer would break the filtering |
//! | 5382 REQ-5 TCP timeouts | established 2 h 4 min, transitory (opening, closing) 4 min |
//! | 5508 REQ-1 ICMP query timeout ≥ 60 s | 60 s; identifiers mapped like ports |
//! | 5508 REQ-3, REQ-4 ICMP errors | the quoted header's address and port are translated, with its checksums and the ICMP checksum; errors never make or refresh a session |
//! | REQ-14 fragments, in and out of order | outbound: later fragments by address alone (paired pooling makes it the host's for every flow); inbound: virtual reassembly ([`crate::fragments`]): the first fragment finds the mapping, the later ones follow it, those arriving first are held (bounded) until it comes |
//! | exhaustion | a counted drop (`nat-ports-exhausted`), never a stall |
//! | per-host limits (RFC 6888 REQ-4) | sessions and ports per inside host over all workers ([`crate::hosts`]), a counted drop (`nat-host-limit`) |
//!
//! # Which worker
//!
//! A session lives on the worker its packets reach, both ways, with no
//! hand-off: the external port is chosen so the return flow hashes where
//! the outbound flow did ([`crate::ports`]). Two cases need a hand-off, and
//! get one through the engine's counted rings: replies of a port forward's
//! server (its address and port are the user's, not ours to choose) go to
//! the worker of the connection's outside tuple, and ICMP errors go to the
//! worker of the flow they quote. ICMP query replies, hashed by addresses
//! alone, may reach another worker than their request: they are
//! translated there from the port table, filtered by the remote addresses
//! the mapping reached.
//!
//! A datagram's fragments reach one worker (hashed by addresses), which
//! sends them to the worker of their flow (see [`crate::fragments`]).
//!
//! All this holds when the ports spread packets as the modelled NIC does
//! (replay, the benchmark's generator, a NIC given the symmetric key).
//! AF_PACKET's fanout hashes with the kernel's own (seeded) flow hash, and
//! an AF_XDP socket gets what its queue gets: there
//! ([`crate::policy::NatPolicy::software_steering`]) `nat-in` first sends
//! every packet to an external address or from a translated inside host
//! to the worker the model would have picked, through the counted
//! hand-off rings (`orbital_nat_handoffs_total`): (workers − 1) / workers
//! of those packets pay one hand-off.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use orbital_graph::rss::{Reta, Toeplitz};
use orbital_graph::{Entry, NatMeta, PacketCtx, Reason, Verdict};
use orbital_wire::PacketInfo;

use crate::fragments::{DatagramKey, Fate, Fragments};
use crate::hosts::Held;
use crate::log::MappingEvent;
use crate::node::{STATUS_DNAT, STATUS_SNAT};
use crate::policy::{DynCounters, NatPolicy, NatShared, SourceRule};
use crate::ports::{PortError, PortTable, Steer, fold};
use crate::rules::Filtering;
use crate::session::{Class, Id, Key, Kind, Sessions};
use crate::translate::{
    Side, is_icmpv4_error, is_icmpv4_query, is_icmpv4_reply, quoted_tuple_v4, quoted_v4,
    rewrite_port, rewrite_quoted_port_v4, rewrite_quoted_v4, rewrite_v4,
};

/// Sessions collected per poll at most.
const EXPIRE_BUDGET: usize = 64;

/// One worker's stateful NAT.
#[derive(Debug)]
pub struct NatState {
    /// Its sessions.
    pub sessions: Sessions,
    steer: Option<Steer>,
    shared: Arc<NatShared>,
    counters: Arc<DynCounters>,
    /// Where the API reads a copy of the sessions.
    pub view: Arc<crate::policy::SessionView>,
    /// Inbound fragments' datagrams (virtual reassembly).
    pub frags: Fragments,
    /// When the fragment state is next swept.
    frags_sweep: u64,
    /// This worker.
    worker: u16,
    /// Whether the policy keeps the mapping log.
    log_on: bool,
}

impl AsMut<NatState> for NatState {
    fn as_mut(&mut self) -> &mut NatState {
        self
    }
}

/// What a translation did, for the node's counters and trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Nothing of ours.
    None,
    /// Translated (source or destination), old and new address.
    Translated,
    /// Dropped or handed off (the verdict is set).
    Decided,
    /// A later fragment whose first has not come: for the node to hold
    /// (see [`crate::fragments`]).
    Hold(DatagramKey),
}

fn key(info: &PacketInfo) -> Option<Key> {
    let (sport, dport) = match info.protocol {
        6 | 17 => (info.src_port, info.dst_port),
        1 if is_icmpv4_query(info.icmp_type()) => (info.src_port, 0),
        _ => return None,
    };
    info.has_l4().then_some(Key {
        proto: info.protocol,
        addr: info.src as u32,
        port: sport,
        remote: info.dst as u32,
        rport: dport,
    })
}

/// The timeout class of a TCP/UDP/ICMP packet's session.
fn class_of(info: &PacketInfo, closing: bool) -> Class {
    match info.protocol {
        6 => {
            let f = info.l4_flags;
            if closing || f & 0x05 != 0 || f & 0x02 != 0 {
                // FIN or RST: closing; SYN: opening.
                Class::TcpTransitory
            } else {
                Class::TcpEstablished
            }
        }
        17 => Class::Udp,
        _ => Class::Icmp,
    }
}

/// The RSS hash of an IPv4 4-tuple (as the NIC computes it).
fn hash4(rss: &Toeplitz, a: u32, b: u32, pa: u16, pb: u16) -> u32 {
    let mut buf = [0u8; 12];
    buf[..4].copy_from_slice(&a.to_be_bytes());
    buf[4..8].copy_from_slice(&b.to_be_bytes());
    buf[8..10].copy_from_slice(&pa.to_be_bytes());
    buf[10..12].copy_from_slice(&pb.to_be_bytes());
    rss.hash(&buf)
}

/// What a node gives the stateful NAT of its context.
#[derive(Debug, Clone, Copy)]
pub struct Cx<'a> {
    /// Engine time.
    pub now: u64,
    /// This worker.
    pub worker: u16,
    /// Workers.
    pub workers: u16,
    /// The NIC's hash.
    pub rss: &'a Toeplitz,
    /// The NIC's indirection table.
    pub reta: &'a Reta,
}

impl NatState {
    /// Worker `worker`'s state under `policy`.
    pub fn new(worker: usize, policy: &NatPolicy) -> NatState {
        NatState {
            // Allocated whether or not NAT is configured yet, so a reload
            // can add it (4.7 MB per worker at the default 65,536).
            sessions: Sessions::new(policy.max_sessions as usize),
            steer: None,
            shared: policy.shared.clone(),
            counters: policy
                .shared
                .counters
                .get(worker)
                .cloned()
                .unwrap_or_default(),
            view: policy.shared.views.get(worker).cloned().unwrap_or_default(),
            frags: Fragments::new(),
            frags_sweep: 0,
            worker: u16::try_from(worker).unwrap_or(u16::MAX),
            log_on: policy.log,
        }
    }

    /// Follow a new policy version (its port tables and counters).
    #[inline]
    pub fn follow(&mut self, policy: &NatPolicy, worker: usize, rss: &Toeplitz) {
        self.log_on = policy.log;
        if !Arc::ptr_eq(&self.shared, &policy.shared) {
            self.shared = policy.shared.clone();
            if let Some(c) = policy.shared.counters.get(worker) {
                self.counters = c.clone();
            }
        }
        if self.steer.is_none() {
            self.steer = Some(Steer::new(rss));
        }
    }

    /// The live session whose inside tuple is `k`: one past its deadline
    /// is ended here (the collector may not have reached it yet), so a
    /// lookup is always exact.
    fn by_lan(&mut self, k: &Key, now: u64) -> Option<Id> {
        let id = self.sessions.by_lan(k)?;
        self.alive(id, now)
    }

    /// The live session whose outside tuple is `k`.
    fn by_wan(&mut self, k: &Key, now: u64) -> Option<Id> {
        let id = self.sessions.by_wan(k)?;
        self.alive(id, now)
    }

    fn alive(&mut self, id: Id, now: u64) -> Option<Id> {
        if self.sessions.get(id).deadline > now {
            return Some(id);
        }
        let s = self.sessions.remove(id);
        ended(&self.shared, &self.counters, &s, self.log_at(now));
        None
    }

    fn refresh(&mut self, id: Id, info: &PacketInfo, nat: &NatPolicy, now: u64) {
        let s = self.sessions.get(id);
        let closing = s.class == Class::TcpTransitory && s.closing;
        let class = class_of(info, closing);
        let fin = info.protocol == 6 && info.l4_flags & 0x05 != 0;
        self.sessions.refresh(
            id,
            class,
            now,
            nat.timeouts.ns[class as usize],
            closing || fin,
        );
    }

    /// Send the packet to worker `w`, which owns its session, at
    /// prerouting (counted).
    fn hand_off(&self, c: &mut PacketCtx, w: usize) {
        DynCounters::bump(&self.counters.handoffs);
        c.verdict = Verdict::Handoff {
            worker: u16::try_from(w).unwrap_or(0),
            at: Entry::Prerouting,
        };
    }

    /// Outbound: a packet leaving by `oif` from an inside host (nat-out).
    pub fn outbound(
        &mut self,
        p: &mut [u8],
        c: &mut PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Done {
        let Some(k) = key(&c.info) else {
            return self.outbound_other(p, c, nat, cx.now);
        };
        let id = match self.by_lan(&k, cx.now) {
            Some(id) => id,
            None => {
                let Some(rule) = nat.source_rule(k.addr, c.egress.iface) else {
                    return Done::None;
                };
                match self.open(k, rule, nat, cx, c) {
                    Ok(id) => id,
                    Err(()) => return Done::Decided,
                }
            }
        };
        self.refresh(id, &c.info, nat, cx.now);
        let s = *self.sessions.get(id);
        translate_src(p, &mut c.info, s.wan.addr, s.wan.port);
        c.ct.status |= STATUS_SNAT;
        Done::Translated
    }

    /// Outbound packets without a session key: ICMP errors (quoting a
    /// flow an inside host received), later fragments.
    fn outbound_other(
        &mut self,
        p: &mut [u8],
        c: &mut PacketCtx,
        nat: &NatPolicy,
        now: u64,
    ) -> Done {
        let src = c.info.src as u32;
        if c.info.protocol == 1 && c.info.has_l4() && is_icmpv4_error(c.info.icmp_type()) {
            let Some((_, inner)) = quoted_v4(p, &c.info, Side::Dst) else {
                return Done::None;
            };
            let Some((proto, qs, qd, qsp, qdp)) = quoted_tuple_v4(p, &c.info, inner) else {
                return Done::None;
            };
            // The quote is of a packet to the inside host: its inside
            // tuple reversed is the session's.
            let k = Key {
                proto,
                addr: qd,
                port: if proto == 1 { qsp } else { qdp },
                remote: qs,
                rport: if proto == 1 { 0 } else { qsp },
            };
            let Some(id) = self.by_lan(&k, now) else {
                return Done::None;
            };
            let s = *self.sessions.get(id);
            if src == s.lan.addr {
                rewrite_v4(p, &mut c.info, Side::Src, s.wan.addr);
            }
            rewrite_quoted_v4(p, &c.info, inner, Side::Dst, s.wan.addr);
            rewrite_quoted_port_v4(
                p,
                &c.info,
                inner,
                if proto == 1 { Side::Src } else { Side::Dst },
                s.wan.port,
            );
            c.ct.status |= STATUS_SNAT;
            return Done::Translated;
        }
        if c.info.frag.is_later_fragment()
            && let Some(rule) = nat.source_rule(src, c.egress.iface)
        {
            // No ports here; the address is the host's whatever the flow
            // (paired pooling), so no state is needed.
            rewrite_v4(p, &mut c.info, Side::Src, rule.address_of(src));
            c.ct.status |= STATUS_SNAT;
            return Done::Translated;
        }
        Done::None
    }

    /// A new session for outbound packet key `k` under `rule`.
    fn open(
        &mut self,
        k: Key,
        rule: &SourceRule,
        nat: &NatPolicy,
        cx: &Cx<'_>,
        c: &mut PacketCtx,
    ) -> Result<Id, ()> {
        let e = rule.address_of(k.addr);
        let Some(table) = self.shared.table(e, k.proto) else {
            return Err(());
        };
        let steer = self.steer.as_ref();
        let mapped = if k.proto == 1 {
            // Identifiers do not enter the hash of an ICMP packet: any
            // will do; the inside one first, then upwards.
            table.map(
                k.addr,
                k.port,
                (0..1024u16).map(move |i| k.port.wrapping_add(i)),
            )
        } else {
            let Some(steer) = steer else { return Err(()) };
            let (x, fx, fe) = (k.port, fold(k.addr), fold(e));
            let low = x < 1024;
            let n = steer.coset_size();
            // Start where the inside port would sit in the coset, so
            // neighbours' mappings spread out rather than pile up.
            let start = usize::from(x >> 7) % n.max(1);
            // The inside port's parity first (RFC 4787 REQ-4, a
            // recommendation), then the other half of the coset rather
            // than no mapping at all.
            let cands = (0..2 * n).filter_map(move |j| {
                let p = steer.candidate(x, fx, fe, (start + j % n) % n)?;
                let parity = u16::from(j >= n) ^ (x & 1);
                let ok =
                    p != 0 && (p < 1024) == low && p & 1 == parity && !nat.forwarded(k.proto, e, p);
                ok.then_some(p)
            });
            // Port preservation when it keeps the steering.
            let keep = (steer.steers(x, fx, fe, x) && x != 0 && !nat.forwarded(k.proto, e, x))
                .then_some(x);
            table.map(k.addr, k.port, keep.into_iter().chain(cands))
        };
        let (port, fresh) = match mapped {
            Ok(p) => p,
            Err(PortError::Exhausted | PortError::TooManySessions) => {
                DynCounters::bump(&self.counters.exhausted);
                c.verdict = Verdict::Drop(Reason::NatPortsExhausted.into());
                return Err(());
            }
        };
        let hosts = &self.shared.hosts;
        let ports_ok = !fresh || hosts.take(Held::Ports, k.addr, nat.max_ports_per_host);
        if !ports_ok || !hosts.take(Held::Sessions, k.addr, nat.max_sessions_per_host) {
            if ports_ok {
                give_port(&self.shared, table, port, k.addr);
            } else {
                table.release(port);
            }
            DynCounters::bump(&self.counters.host_limited);
            c.verdict = Verdict::Drop(Reason::NatHostLimit.into());
            return Err(());
        }
        let wan = Key {
            proto: k.proto,
            addr: e,
            port,
            remote: k.remote,
            rport: k.rport,
        };
        let class = class_of(&c.info, false);
        match self.sessions.insert(
            k,
            wan,
            Kind::Mapped,
            class,
            cx.now,
            nat.timeouts.ns[class as usize],
        ) {
            Ok(id) => {
                table.add_remote(port, k.remote);
                DynCounters::bump(&self.counters.created);
                if fresh && let Some((now, worker)) = self.log_at(cx.now) {
                    self.shared
                        .log
                        .push(mapping_event(now, worker, true, &k, &wan));
                }
                Ok(id)
            }
            Err(_) => {
                hosts.give(Held::Sessions, k.addr);
                give_port(&self.shared, table, port, k.addr);
                DynCounters::bump(&self.counters.full);
                c.verdict = Verdict::Drop(Reason::NatSessionTableFull.into());
                Err(())
            }
        }
    }

    /// Inbound: a packet to an external address (nat-in). `hairpin`: it
    /// came from an inside host, whose source was translated already.
    pub fn inbound(
        &mut self,
        p: &mut [u8],
        c: &mut PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Done {
        let dst = c.info.dst as u32;
        if nat.software_steering
            && cx.workers > 1
            && let Some(w) = self.modelled_owner(p, c, nat, cx)
            && w != usize::from(cx.worker)
        {
            self.hand_off(c, w);
            return Done::Decided;
        }
        // A reply of a port forward's server (hairpinned too), or an
        // inside host's ICMP error about a flow it received: to the worker
        // of that flow.
        if let Some(owner) = self.owner_of_reply(p, c, nat, cx)
            && owner != usize::from(cx.worker)
        {
            self.hand_off(c, owner);
            return Done::Decided;
        }
        if !self.shared.is_external(dst) {
            return Done::None;
        }
        if c.info.frag.is_fragment() {
            return self.inbound_fragment(p, c, nat, cx);
        }
        self.inbound_whole(p, c, nat, cx)
    }

    /// A fragment to an external address (see [`crate::fragments`]).
    fn inbound_fragment(
        &mut self,
        p: &mut [u8],
        c: &mut PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Done {
        let key = DatagramKey {
            src: c.info.src as u32,
            dst: c.info.dst as u32,
            ident: c.info.frag.ident as u16,
            proto: c.info.protocol,
        };
        let drop = |c: &mut PacketCtx| {
            c.verdict = Verdict::Drop(Reason::NatFragment.into());
            Done::Decided
        };
        if c.info.frag.is_later_fragment() {
            return match self.frags.fate(&key, cx.now) {
                Some(Fate::Owner(w)) if w != cx.worker => {
                    self.hand_off(c, usize::from(w));
                    Done::Decided
                }
                Some(Fate::Inside(a)) => {
                    rewrite_v4(p, &mut c.info, Side::Dst, a);
                    c.ct.status |= STATUS_DNAT;
                    Done::Translated
                }
                Some(Fate::Pass) => Done::None,
                Some(Fate::Refused | Fate::Owner(_)) => drop(c),
                None => Done::Hold(key),
            };
        }
        // The first: to the worker owning its flow (a NIC hashed it by
        // addresses only), which translates it through the session.
        if matches!(c.info.protocol, 6 | 17) && c.info.has_l4() && cx.workers > 1 {
            let owner = cx.reta.worker(hash4(
                cx.rss,
                key.src,
                key.dst,
                c.info.src_port,
                c.info.dst_port,
            ));
            let owner = u16::try_from(owner).unwrap_or(0);
            if owner != cx.worker {
                if !self.frags.decide(key, Fate::Owner(owner), cx.now) {
                    return drop(c);
                }
                self.hand_off(c, usize::from(owner));
                return Done::Decided;
            }
        }
        let done = self.inbound_whole(p, c, nat, cx);
        let fate = match (done, c.verdict) {
            (Done::Translated, _) => Fate::Inside(c.info.dst as u32),
            (_, Verdict::Handoff { worker, .. }) => Fate::Owner(worker),
            (Done::None, _) => Fate::Pass,
            _ => Fate::Refused,
        };
        // A full table loses the later fragments (counted), not this one.
        let _ = self.frags.decide(key, fate, cx.now);
        done
    }

    /// A packet (or a datagram's first fragment) to an external address.
    fn inbound_whole(
        &mut self,
        p: &mut [u8],
        c: &mut PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Done {
        let src = c.info.src as u32;
        if c.info.protocol == 1 && c.info.has_l4() && is_icmpv4_error(c.info.icmp_type()) {
            return self.inbound_error(p, c, cx);
        }
        let Some(k) = key(&c.info) else {
            return Done::None;
        };
        // Who the packet is from, as the mapping sees it: the remote, or
        // for an inside host (hairpinning, RFC 4787 REQ-9) its own
        // mapping — as if it had gone out and come back. Its source is
        // translated at postrouting (see `PacketCtx::nat`), after
        // conntrack has seen both directions of the flow alike.
        let mut view = (k.addr, k.port);
        let hairpin = nat.source_rule_any(src).is_some() && !self.shared.is_external(src);
        if hairpin {
            if !self.resolves(c, nat) {
                return Done::None;
            }
            let rule = nat.source_rule_any(src).cloned();
            let id = match (self.by_lan(&k, cx.now), rule) {
                (Some(id), _) => id,
                (None, Some(rule)) => match self.open(k, &rule, nat, cx, c) {
                    Ok(id) => id,
                    Err(()) => return Done::Decided,
                },
                (None, None) => return Done::None,
            };
            self.refresh(id, &c.info, nat, cx.now);
            let s = self.sessions.get(id);
            view = (s.wan.addr, s.wan.port);
        }
        // The outside tuple: the external endpoint, then the remote.
        let wan = Key {
            proto: k.proto,
            addr: k.remote,
            port: if k.proto == 1 { k.port } else { k.rport },
            remote: view.0,
            rport: if k.proto == 1 { 0 } else { view.1 },
        };
        let id = match self.by_wan(&wan, cx.now) {
            Some(id) => id,
            None => match self.admit(wan, c, nat, cx) {
                Admit::Session(id) => id,
                Admit::Direct(a, port) => {
                    translate_dst(p, &mut c.info, a, port);
                    c.ct.status |= STATUS_DNAT;
                    return Done::Translated;
                }
                Admit::NotOurs => return Done::None,
                Admit::Decided => return Done::Decided,
            },
        };
        self.refresh(id, &c.info, nat, cx.now);
        let s = *self.sessions.get(id);
        translate_dst(p, &mut c.info, s.lan.addr, s.lan.port);
        c.ct.status |= STATUS_DNAT;
        if hairpin {
            c.nat = NatMeta {
                pending: true,
                src: view.0,
                sport: view.1,
            };
        }
        Done::Translated
    }

    /// Whether the destination of a packet to an external address is a
    /// session, a port forward or a mapping (else it is for the router).
    fn resolves(&self, c: &PacketCtx, nat: &NatPolicy) -> bool {
        let Some(k) = key(&c.info) else {
            return false;
        };
        let dp = if k.proto == 1 { k.port } else { k.rport };
        if k.proto == 1 && !is_icmpv4_reply(c.info.icmp_type()) {
            return false;
        }
        nat.forward_to(k.proto, k.remote, dp).is_some()
            || self
                .shared
                .table(k.remote, k.proto)
                .and_then(|t| t.owner(dp))
                .is_some()
    }

    /// No session for inbound `wan`: a port forward, a mapping the filter
    /// lets in, or nothing of ours.
    fn admit(&mut self, wan: Key, c: &mut PacketCtx, nat: &NatPolicy, cx: &Cx<'_>) -> Admit {
        if wan.proto == 1 && !is_icmpv4_reply(c.info.icmp_type()) {
            // Queries from outside are for the router (or a static rule).
            return Admit::NotOurs;
        }
        if let Some((to, to_port)) = nat.forward_to(wan.proto, wan.addr, wan.port) {
            let lan = Key {
                proto: wan.proto,
                addr: to,
                port: to_port,
                remote: wan.remote,
                rport: wan.rport,
            };
            let class = class_of(&c.info, false);
            return match self.sessions.insert(
                lan,
                wan,
                Kind::Forward,
                class,
                cx.now,
                nat.timeouts.ns[class as usize],
            ) {
                Ok(id) => {
                    DynCounters::bump(&self.counters.created);
                    Admit::Session(id)
                }
                Err(_) => {
                    DynCounters::bump(&self.counters.full);
                    c.verdict = Verdict::Drop(Reason::NatSessionTableFull.into());
                    Admit::Decided
                }
            };
        }
        let Some(table) = self.shared.table(wan.addr, wan.proto) else {
            return Admit::NotOurs;
        };
        let Some(owner) = table.owner(wan.port) else {
            return Admit::NotOurs;
        };
        let filtering = nat
            .sources
            .iter()
            .find(|r| r.pool.contains(&wan.addr))
            .map_or(Filtering::default(), |r| r.filtering);
        let allowed = match (filtering, wan.proto) {
            (Filtering::EndpointIndependent, _) => true,
            // ICMP has no remote port: address-dependent is all there is.
            (_, 1) | (Filtering::AddressDependent, _) => table.reached(wan.port, wan.remote),
            // A session with this remote endpoint would have been found:
            // its packets reach this worker (the steering).
            (Filtering::AddressAndPortDependent, _) => false,
        };
        if !allowed {
            DynCounters::bump(&self.counters.filtered);
            c.verdict = Verdict::Drop(Reason::NatFiltered.into());
            return Admit::Decided;
        }
        if wan.proto == 1 {
            // An ICMP reply: hashed by its addresses, it may reach another
            // worker than its request, which hashed by the inside host's.
            // There are the session and the connection: hand it over.
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&owner.addr.to_be_bytes());
            b[4..].copy_from_slice(&wan.remote.to_be_bytes());
            let w = cx.reta.worker(cx.rss.hash(&b));
            if w != usize::from(cx.worker) {
                self.hand_off(c, w);
                return Admit::Decided;
            }
            return Admit::Direct(owner.addr, owner.port);
        }
        if table.join(wan.port, owner.addr, owner.port).is_err() {
            DynCounters::bump(&self.counters.exhausted);
            c.verdict = Verdict::Drop(Reason::NatPortsExhausted.into());
            return Admit::Decided;
        }
        let hosts = &self.shared.hosts;
        if !hosts.take(Held::Sessions, owner.addr, nat.max_sessions_per_host) {
            give_port(&self.shared, table, wan.port, owner.addr);
            DynCounters::bump(&self.counters.host_limited);
            c.verdict = Verdict::Drop(Reason::NatHostLimit.into());
            return Admit::Decided;
        }
        let lan = Key {
            proto: wan.proto,
            addr: owner.addr,
            port: owner.port,
            remote: wan.remote,
            rport: wan.rport,
        };
        let class = class_of(&c.info, false);
        match self.sessions.insert(
            lan,
            wan,
            Kind::Mapped,
            class,
            cx.now,
            nat.timeouts.ns[class as usize],
        ) {
            Ok(id) => {
                table.add_remote(wan.port, wan.remote);
                DynCounters::bump(&self.counters.created);
                Admit::Session(id)
            }
            Err(_) => {
                hosts.give(Held::Sessions, owner.addr);
                give_port(&self.shared, table, wan.port, owner.addr);
                DynCounters::bump(&self.counters.full);
                c.verdict = Verdict::Drop(Reason::NatSessionTableFull.into());
                Admit::Decided
            }
        }
    }

    /// An ICMP error to an external address, quoting a packet we sent
    /// out: the outer destination and the quoted source back to the
    /// inside endpoint. The session may be on another worker: hand off.
    fn inbound_error(&mut self, p: &mut [u8], c: &mut PacketCtx, cx: &Cx<'_>) -> Done {
        let Some((_, inner)) = quoted_v4(p, &c.info, Side::Src) else {
            return Done::None;
        };
        let Some((proto, qs, qd, qsp, qdp)) = quoted_tuple_v4(p, &c.info, inner) else {
            return Done::None;
        };
        let wan = Key {
            proto,
            addr: qs,
            port: qsp,
            remote: qd,
            rport: if proto == 1 { 0 } else { qdp },
        };
        let Some(id) = self.by_wan(&wan, cx.now) else {
            if proto != 1 && cx.workers > 1 {
                let owner = cx.reta.worker(hash4(cx.rss, qs, qd, qsp, qdp));
                if owner != usize::from(cx.worker) {
                    self.hand_off(c, owner);
                    return Done::Decided;
                }
            }
            return Done::None;
        };
        let s = *self.sessions.get(id);
        rewrite_v4(p, &mut c.info, Side::Dst, s.lan.addr);
        rewrite_quoted_v4(p, &c.info, inner, Side::Src, s.lan.addr);
        rewrite_quoted_port_v4(p, &c.info, inner, Side::Src, s.lan.port);
        c.ct.status |= STATUS_DNAT;
        Done::Translated
    }

    /// Prefetch what the burst's session lookups will read: the index
    /// slots, then the entries they name (see [`Sessions::prefetch_slot`]).
    /// `outbound`: the inside tuples (nat-out); else the outside tuples of
    /// packets to an external address (nat-in).
    pub fn warm<'a>(&self, infos: impl Iterator<Item = &'a PacketInfo>, outbound: bool) {
        let mut slots = [0usize; orbital_buf::MAX_BURST];
        let mut n = 0;
        for info in infos {
            if n == slots.len() {
                break;
            }
            let Some(k) = key(info) else { continue };
            let k = if outbound {
                k
            } else if k.proto != 1 && self.shared.is_external(k.remote) {
                Key {
                    proto: k.proto,
                    addr: k.remote,
                    port: k.rport,
                    remote: k.addr,
                    rport: k.port,
                }
            } else {
                continue;
            };
            slots[n] = self.sessions.prefetch_slot(&k, !outbound);
            n += 1;
        }
        for &i in &slots[..n] {
            self.sessions.prefetch_entry(i, !outbound);
        }
    }

    /// Where a NAT packet belongs when the ports do not spread packets as
    /// the modelled NIC would: a port forward's reply or an ICMP error as
    /// [`Self::owner_of_reply`] says, anything to an external address or
    /// from a translated inside host where the model's RSS hash puts it
    /// (so sessions are made and found where the port choice expects).
    fn modelled_owner(
        &self,
        p: &[u8],
        c: &PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Option<usize> {
        if let Some(w) = self.owner_of_reply(p, c, nat, cx) {
            return Some(w);
        }
        let (src, dst) = (c.info.src as u32, c.info.dst as u32);
        (self.shared.is_external(dst) || nat.source_rule_any(src).is_some())
            .then(|| cx.reta.worker(cx.rss.hash_packet(&c.info)))
    }

    /// The worker owning the session of a packet from inside that is a
    /// port forward's reply, or an ICMP error quoting a flow to an inside
    /// endpoint; `None` for anything else.
    fn owner_of_reply(
        &self,
        p: &[u8],
        c: &PacketCtx,
        nat: &NatPolicy,
        cx: &Cx<'_>,
    ) -> Option<usize> {
        if cx.workers < 2 {
            return None;
        }
        let info = &c.info;
        if info.protocol == 1 && info.has_l4() && is_icmpv4_error(info.icmp_type()) {
            let (_, inner) = quoted_v4(p, info, Side::Dst)?;
            let (proto, qs, qd, qsp, qdp) = quoted_tuple_v4(p, info, inner)?;
            if proto == 1 {
                return None;
            }
            // The flow quoted ran qs:qsp -> qd:qdp, qd inside. A port
            // forward's session hashes as its outside tuple; a mapping's
            // as its inside one (the steering makes them agree).
            let h = match nat.forward_from(proto, qd, qdp) {
                Some((e, ep)) => hash4(cx.rss, qs, e, qsp, ep),
                None if nat.source_rule_any(qd).is_some() => hash4(cx.rss, qs, qd, qsp, qdp),
                None => return None,
            };
            return Some(cx.reta.worker(h));
        }
        let k = key(info)?;
        if k.proto == 1 {
            return None;
        }
        let (e, ep) = nat.forward_from(k.proto, k.addr, k.port)?;
        Some(cx.reta.worker(hash4(cx.rss, k.remote, e, k.rport, ep)))
    }

    /// Where and when to log mapping events, if the log is on.
    fn log_at(&self, now: u64) -> Option<(u64, u16)> {
        self.log_on.then_some((now, self.worker))
    }

    /// Collect expired sessions (between bursts), releasing their ports.
    pub fn maintain(&mut self, now: u64) -> usize {
        if now >= self.frags_sweep {
            self.frags.expire(now);
            self.frags_sweep = now.saturating_add(1_000_000_000);
        }
        let log = self.log_at(now);
        let (shared, counters) = (&self.shared, &self.counters);
        let n = self
            .sessions
            .expire(now, EXPIRE_BUDGET, |s| ended(shared, counters, s, log));
        counters
            .live
            .store(self.sessions.len() as u64, Ordering::Relaxed);
        let v = self.view.clone();
        if v.wanted.load(Ordering::Acquire) {
            let list: Vec<_> = self
                .sessions
                .iter()
                .take(crate::policy::SESSION_LIST_MAX)
                .map(|s| crate::policy::SessionRow {
                    lan: s.lan,
                    wan: s.wan,
                    kind: s.kind,
                    class: s.class,
                    expires_in_ns: s.deadline.saturating_sub(now),
                })
                .collect();
            if let Ok(mut a) = v.answer.lock() {
                *a = Some(list);
            }
            v.wanted.store(false, Ordering::Release);
        }
        n
    }
}

/// A session is gone: its port back to the table, its host's counts down;
/// with `log` (time, worker), a mapping it was the last of is logged.
fn ended(
    shared: &NatShared,
    counters: &DynCounters,
    s: &crate::session::Session,
    log: Option<(u64, u16)>,
) {
    if s.kind == Kind::Mapped {
        shared.hosts.give(Held::Sessions, s.lan.addr);
        if let Some(t) = shared.table(s.wan.addr, s.wan.proto)
            && give_port(shared, t, s.wan.port, s.lan.addr)
            && let Some((now, worker)) = log
        {
            shared
                .log
                .push(mapping_event(now, worker, false, &s.lan, &s.wan));
        }
    }
    DynCounters::bump(&counters.expired);
}

/// The log record of mapping `lan` → `wan`.
fn mapping_event(now: u64, worker: u16, created: bool, lan: &Key, wan: &Key) -> MappingEvent {
    MappingEvent {
        time_ns: now,
        worker,
        created,
        proto: lan.proto,
        inside: lan.addr,
        inside_port: lan.port,
        external: wan.addr,
        external_port: wan.port,
    }
}

/// One session fewer on `port` of `table`; if that frees the port, the
/// inside host `host` holds one port fewer. Returns whether it did.
fn give_port(shared: &NatShared, table: &PortTable, port: u16, host: u32) -> bool {
    let freed = table.release(port);
    if freed {
        shared.hosts.give(Held::Ports, host);
    }
    freed
}

/// What [`NatState::admit`] decided.
enum Admit {
    Session(Id),
    /// Translate to this inside endpoint without a session.
    Direct(u32, u16),
    NotOurs,
    /// Dropped or handed off: the verdict is set.
    Decided,
}

/// Rewrite the source address and port (ICMP query: identifier).
pub fn translate_src(p: &mut [u8], info: &mut PacketInfo, a: u32, port: u16) {
    rewrite_v4(p, info, Side::Src, a);
    if info.src_port != port || info.protocol == 1 {
        rewrite_port(p, info, Side::Src, port);
    }
}

fn translate_dst(p: &mut [u8], info: &mut PacketInfo, a: u32, port: u16) {
    rewrite_v4(p, info, Side::Dst, a);
    if info.protocol == 1 {
        rewrite_port(p, info, Side::Src, port);
    } else if info.dst_port != port {
        rewrite_port(p, info, Side::Dst, port);
    }
}
