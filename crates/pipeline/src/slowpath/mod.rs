//! The slow path (spec §3.2, ARCHITECTURE §7): one thread beside the workers
//! for everything exceptional. It answers ARP and neighbour solicitations for
//! the router's addresses and pings to them, learns neighbours, resolves next
//! hops (holding a few packets per neighbour meanwhile), sends the ICMP
//! errors the route stage decided on (rate-limited, RFC 1812 §4.3.2.8), and
//! hands every frame it makes to a worker's inject ring.
//!
//! The fast path never waits for it: punts arrive over bounded rings after a
//! per-worker token bucket, and a full ring is a counted drop. Its inputs are
//! validated strictly (checksums, lengths, NDP hop limit 255) before anything
//! is learned from them.
//!
//! Each poll handles the punts of all workers in the order of the packets'
//! sequence numbers, and publishes what it learned as one table update, so a
//! replay gives the same answers whatever the number of workers.

pub mod frames;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use orbital_buf::{Packet, PoolCache};
use orbital_fib::rfc1812::IcmpError;
use orbital_fib::{
    Attach, IfId, Interface, NeighborState, PortId, SharedTables, TableUpdate, Tables,
    TablesBuilder,
};
use orbital_io::{RingRx, RingTx};
use orbital_wire::arp::{ArpOperation, ArpRepr};
use orbital_wire::icmpv4::{Icmpv4Repr, unreach as unreach4};
use orbital_wire::icmpv6::{Icmpv6Repr, unreach as unreach6};
use orbital_wire::ndisc::NdiscRepr;
use orbital_wire::{EthernetAddress, IpProtocol, L3Kind, PacketInfo};

use crate::clock::Clock;
use crate::drop::{DropReason, Reason};
use crate::ratelimit::TokenBucket;
use crate::stage::rewrite::{self, Rewritten};
use crate::verdict::{Egress, Inject, InjectTo, Punt, PuntReason};
use frames::L2;

/// Slow-path settings.
#[derive(Debug, Clone)]
pub struct SlowPathConfig {
    /// ICMP errors per second (RFC 1812 §4.3.2.8).
    pub icmp_rate: u64,
    /// ICMP error burst.
    pub icmp_burst: u64,
    /// Packets held per unresolved neighbour (Linux: `unres_qlen`).
    pub hold_per_neighbor: usize,
    /// Resolution requests before giving up.
    pub resolve_tries: u32,
    /// Between requests, ns.
    pub resolve_interval_ns: u64,
    /// A learned neighbour becomes stale after this long unconfirmed, ns
    /// (RFC 4861 REACHABLE_TIME).
    pub reachable_ns: u64,
}

impl Default for SlowPathConfig {
    fn default() -> Self {
        SlowPathConfig {
            icmp_rate: 1000,
            icmp_burst: 100,
            hold_per_neighbor: 3,
            resolve_tries: 3,
            resolve_interval_ns: 1_000_000_000,
            reachable_ns: 30_000_000_000,
        }
    }
}

/// What the slow path has done, for people and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowSnapshot {
    /// Punts taken from the workers.
    pub received: u64,
    /// Received packets answered or acted on and then freed.
    pub consumed: u64,
    /// Received packets dropped (by reason in `drops`).
    pub dropped: u64,
    /// Held packets sent on after resolution.
    pub released: u64,
    /// Packets waiting for a neighbour now.
    pub holding: u64,
    /// Frames handed to workers to send.
    pub injected: u64,
    /// ARP replies sent.
    pub arp_replies: u64,
    /// Neighbour advertisements sent.
    pub neighbor_adverts: u64,
    /// Echo replies sent.
    pub echo_replies: u64,
    /// ICMP errors sent.
    pub icmp_errors: u64,
    /// ICMP errors not sent for the rate limit.
    pub icmp_rate_limited: u64,
    /// ARP requests / neighbour solicitations sent to resolve.
    pub resolutions: u64,
    /// Neighbours learned or updated.
    pub learned: u64,
    /// Drops by reason ([`DropReason::index`]).
    pub drops: Vec<u64>,
}

impl SlowSnapshot {
    fn drop(&mut self, r: DropReason) {
        self.dropped += 1;
        if self.drops.len() < DropReason::COUNT {
            self.drops.resize(DropReason::COUNT, 0);
        }
        self.drops[r.index()] += 1;
    }

    /// `received == consumed + dropped + released + holding`.
    pub fn balanced(&self) -> bool {
        self.received == self.consumed + self.dropped + self.released + self.holding
    }
}

struct Held {
    pkt: Packet,
    info: PacketInfo,
    egress: Egress,
    worker: u16,
}

struct Pending {
    iface: IfId,
    held: Vec<Held>,
    tries: u32,
    next_ns: u64,
    worker: u16,
    seq: u64,
    ts: u64,
}

struct Learned {
    mac: EthernetAddress,
    iface: IfId,
    confirmed_ns: u64,
    stale: bool,
}

/// The slow path and everything it owns.
pub struct SlowPath {
    cfg: SlowPathConfig,
    shared: Arc<SharedTables>,
    builder: Arc<Mutex<TablesBuilder>>,
    punts: Vec<RingRx<Punt>>,
    injects: Vec<RingTx<Inject>>,
    cache: PoolCache,
    clock: Clock,
    pending: BTreeMap<IpAddr, Pending>,
    learned: BTreeMap<IpAddr, Learned>,
    icmp: TokenBucket,
    stats: SlowSnapshot,
    published: Arc<ArcSwap<SlowSnapshot>>,
    scratch: Vec<Punt>,
    updates: Vec<TableUpdate>,
}

impl core::fmt::Debug for SlowPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlowPath")
            .field("stats", &self.stats)
            .finish()
    }
}

impl SlowPath {
    /// Assemble the slow path.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: SlowPathConfig,
        shared: Arc<SharedTables>,
        builder: Arc<Mutex<TablesBuilder>>,
        punts: Vec<RingRx<Punt>>,
        injects: Vec<RingTx<Inject>>,
        cache: PoolCache,
        clock: Clock,
    ) -> SlowPath {
        SlowPath {
            icmp: TokenBucket::new(cfg.icmp_rate, cfg.icmp_burst),
            cfg,
            shared,
            builder,
            punts,
            injects,
            cache,
            clock,
            pending: BTreeMap::new(),
            learned: BTreeMap::new(),
            stats: SlowSnapshot {
                drops: vec![0; DropReason::COUNT],
                ..SlowSnapshot::default()
            },
            published: Arc::default(),
            scratch: Vec::with_capacity(1024),
            updates: Vec::new(),
        }
    }

    /// Where the slow path publishes its counters (read by anyone).
    pub fn counters(&self) -> Arc<ArcSwap<SlowSnapshot>> {
        self.published.clone()
    }

    /// Counters now.
    pub fn snapshot(&self) -> &SlowSnapshot {
        &self.stats
    }

    /// Whether a worker has punted something not yet handled.
    pub fn has_punts(&self) -> bool {
        self.punts.iter().any(|r| !r.is_empty())
    }

    /// One poll: every waiting punt, timers, then publish what was learned.
    /// Returns the punts handled.
    pub fn poll_once(&mut self) -> usize {
        let now = self.clock.now_ns();
        let tables = self.shared.load_full();
        for r in &mut self.punts {
            while let Some(p) = r.pop() {
                self.scratch.push(p);
            }
        }
        let n = self.scratch.len();
        // Sequence order, whatever worker a packet went through.
        self.scratch
            .sort_by_key(|p| (p.pkt.meta.seq, p.pkt.meta.sub, p.worker));
        let mut punts = std::mem::take(&mut self.scratch);
        for p in punts.drain(..) {
            self.stats.received += 1;
            self.handle(&tables, p, now);
        }
        self.scratch = punts;
        self.timers(&tables, now);
        self.publish_updates();
        let holding = self.pending.values().map(|p| p.held.len() as u64).sum();
        // Publish only what changed: a store makes the writer settle every
        // reader's outstanding loads (arc-swap), too dear for an idle loop.
        if n > 0
            || holding != self.stats.holding
            || self.published.load().received != self.stats.received
        {
            self.stats.holding = holding;
            self.published.store(Arc::new(self.stats.clone()));
        }
        n
    }

    fn publish_updates(&mut self) {
        if self.updates.is_empty() {
            return;
        }
        let updates = std::mem::take(&mut self.updates);
        let mut b = self.builder.lock().unwrap_or_else(|e| e.into_inner());
        match b.apply(&updates) {
            Ok(t) => self.shared.publish(t),
            Err(_) => {
                // An interface vanished under a learned neighbour: apply the
                // rest one by one so one bad entry does not block the others.
                for u in updates {
                    if let Ok(t) = b.apply(std::slice::from_ref(&u)) {
                        self.shared.publish(t);
                    }
                }
            }
        }
    }

    fn handle(&mut self, t: &Tables, p: Punt, now: u64) {
        match p.reason {
            PuntReason::Arp => self.arp(t, p, now),
            PuntReason::Nd => self.nd(t, p, now),
            PuntReason::Local => self.local(t, p),
            PuntReason::Resolve => {
                let next_hop = p.egress.next_hop;
                self.resolve(t, p, next_hop, now)
            }
            PuntReason::IcmpError { err, why } => self.icmp_error(t, p, err, why),
        }
    }

    fn drop(&mut self, pkt: Packet, r: impl Into<DropReason>) {
        self.stats.drop(r.into());
        self.cache.free(pkt);
    }

    fn consume(&mut self, pkt: Packet) {
        self.stats.consumed += 1;
        self.cache.free(pkt);
    }

    /// Hand a frame to worker `worker` for transmission.
    fn send(&mut self, worker: u16, to: InjectTo, pkt: Packet) {
        let n = self.injects.len();
        let ring = &mut self.injects[usize::from(worker) % n];
        match ring.push(Inject { pkt, to }) {
            Ok(()) => self.stats.injected += 1,
            Err(inj) => {
                self.stats.drop(Reason::InjectQueueFull.into());
                self.cache.free(inj.pkt);
            }
        }
    }

    /// Stamp a frame made because of `trigger` (replay orders output by it).
    fn stamp(frame: &mut Packet, trigger: &Packet, sub: u16) {
        frame.meta.seq = trigger.meta.seq;
        frame.meta.sub = sub;
        frame.meta.timestamp_ns = trigger.meta.timestamp_ns;
    }

    /// The way back to whoever sent `p`: out of its ingress port, to its
    /// source MAC, from the interface's MAC, tagged as that port needs.
    fn reverse(t: &Tables, p: &Punt, iface: &Interface) -> Option<(InjectTo, L2)> {
        let port = PortId(p.pkt.meta.port);
        let tag = match iface.attach {
            Attach::Port(_) => None,
            Attach::Bridge(v) => t.ifs.port(port)?.mode.egress_tag(v)?,
        };
        let l2 = L2 {
            dst: EthernetAddress::from_bytes(p.pkt.get(6..12)?),
            src: iface.mac,
            tag,
        };
        Some((InjectTo::Port(port), l2))
    }

    fn neighbor_mac(&self, t: &Tables, a: IpAddr) -> Option<EthernetAddress> {
        self.learned
            .get(&a)
            .map(|l| l.mac)
            .or_else(|| t.neighbors.usable(a).map(|n| n.mac))
    }

    fn learn(&mut self, t: &Tables, a: IpAddr, mac: EthernetAddress, iface: IfId, now: u64) {
        if mac.is_multicast()
            || t.neighbors
                .get(a)
                .is_some_and(|n| n.state == NeighborState::Static)
        {
            return;
        }
        let changed = self
            .learned
            .get(&a)
            .is_none_or(|l| l.mac != mac || l.iface != iface || l.stale);
        self.learned.insert(
            a,
            Learned {
                mac,
                iface,
                confirmed_ns: now,
                stale: false,
            },
        );
        if changed {
            self.stats.learned += 1;
            self.updates.push(TableUpdate::AddNeighbor {
                addr: a,
                mac,
                iface,
                state: NeighborState::Reachable,
            });
        }
        if let Some(pending) = self.pending.remove(&a) {
            for h in pending.held {
                self.release(t, h, mac);
            }
        }
    }

    /// Send a held packet on now that its next hop's MAC is known: the same
    /// rewrite the fast path would have done.
    fn release(&mut self, t: &Tables, mut h: Held, mac: EthernetAddress) {
        h.egress.dst_mac = mac;
        let to = match t.ifs.iface(h.egress.iface).map(|i| i.attach) {
            Some(Attach::Port(p)) => {
                h.egress.port = p;
                InjectTo::Port(p)
            }
            Some(Attach::Bridge(vlan)) => InjectTo::Bridge { vlan, except: None },
            None => return self.drop(h.pkt, Reason::UnknownPort),
        };
        let mut created = Vec::new();
        match rewrite::apply(
            &mut h.pkt,
            &h.info,
            &h.egress,
            &mut self.cache,
            &mut created,
        ) {
            Ok(Rewritten::InPlace) => {
                self.stats.released += 1;
                self.send(h.worker, to, h.pkt);
            }
            Ok(Rewritten::Fragmented) => {
                self.stats.released += 1;
                self.cache.free(h.pkt);
                for (f, _) in created {
                    self.send(h.worker, to, f);
                }
            }
            Err(e) => self.drop(h.pkt, e),
        }
    }

    fn arp(&mut self, t: &Tables, p: Punt, now: u64) {
        let Some(iface) = t.ifs.iface(p.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let Ok(a) = ArpRepr::parse(&p.pkt[usize::from(p.info.l3_offset)..]) else {
            return self.drop(p.pkt, Reason::SlowPathInvalid);
        };
        let sender = a.sender_ip;
        let for_us = iface.v4.iter().any(|x| x.addr == a.target_ip);
        let sane = !sender.is_unspecified()
            && !orbital_fib::rfc1812::is_martian_source_v4(sender)
            && a.sender_mac.is_unicast()
            && iface.on_link_v4(sender)
            && iface.v4.iter().all(|x| x.addr != sender);
        // RFC 826 merge: update a known entry; add one when we are the target.
        let known = self.learned.contains_key(&IpAddr::V4(sender))
            || self.pending.contains_key(&IpAddr::V4(sender));
        if sane && (for_us || known) {
            self.learn(t, IpAddr::V4(sender), a.sender_mac, iface.id, now);
        }
        if a.operation == ArpOperation::Request && for_us && sane {
            let Some((to, mut l2)) = Self::reverse(t, &p, iface) else {
                return self.drop(p.pkt, Reason::UnknownPort);
            };
            l2.dst = a.sender_mac;
            match frames::arp_reply(&mut self.cache, l2, a.target_ip, sender) {
                Some(mut reply) => {
                    Self::stamp(&mut reply, &p.pkt, 1);
                    self.stats.arp_replies += 1;
                    self.send(p.worker, to, reply);
                    self.consume(p.pkt);
                }
                None => self.drop(p.pkt, Reason::NoBuffer),
            }
        } else if sane && (for_us || known) {
            self.consume(p.pkt);
        } else {
            self.drop(p.pkt, Reason::ArpIgnored);
        }
    }

    fn nd(&mut self, t: &Tables, p: Punt, now: u64) {
        let Some(iface) = t.ifs.iface(p.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let (src, dst) = (p.info.src_v6(), p.info.dst_v6());
        let l4 = usize::from(p.info.l4_offset);
        let end = usize::from(p.info.l3_offset) + p.info.l3_len as usize;
        // RFC 4861 §7.1: hop limit 255 proves the sender is on the link.
        if p.info.ttl != 255 || l4 == 0 || end > p.pkt.len() {
            return self.drop(p.pkt, Reason::NdIgnored);
        }
        let msg = match Icmpv6Repr::parse(src, dst, &p.pkt[l4..end]) {
            Ok(Some(Icmpv6Repr::Ndisc(n))) => n,
            _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
        };
        let frame_src = EthernetAddress::from_bytes(&p.pkt[6..12]);
        match msg {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                if !iface.v6.iter().any(|a| a.addr == target_addr) {
                    return self.drop(p.pkt, Reason::NdIgnored);
                }
                if src.is_unspecified() {
                    // Duplicate address detection by someone else: nothing to learn.
                    return self.consume(p.pkt);
                }
                let mac = lladdr.unwrap_or(frame_src);
                if iface.on_link_v6(src) {
                    self.learn(t, IpAddr::V6(src), mac, iface.id, now);
                }
                let Some((to, mut l2)) = Self::reverse(t, &p, iface) else {
                    return self.drop(p.pkt, Reason::UnknownPort);
                };
                l2.dst = mac;
                match frames::neighbor_advert(&mut self.cache, l2, target_addr, src) {
                    Some(mut na) => {
                        Self::stamp(&mut na, &p.pkt, 1);
                        self.stats.neighbor_adverts += 1;
                        self.send(p.worker, to, na);
                        self.consume(p.pkt);
                    }
                    None => self.drop(p.pkt, Reason::NoBuffer),
                }
            }
            NdiscRepr::NeighborAdvert {
                target_addr,
                lladdr,
                ..
            } => {
                if iface.on_link_v6(target_addr) && iface.v6.iter().all(|a| a.addr != target_addr) {
                    self.learn(
                        t,
                        IpAddr::V6(target_addr),
                        lladdr.unwrap_or(frame_src),
                        iface.id,
                        now,
                    );
                    self.consume(p.pkt);
                } else {
                    self.drop(p.pkt, Reason::NdIgnored);
                }
            }
            // Router solicitations, advertisements and redirects: this router
            // neither advertises nor follows redirects (yet).
            _ => self.drop(p.pkt, Reason::NdIgnored),
        }
    }

    fn local(&mut self, t: &Tables, p: Punt) {
        let Some(iface) = t.ifs.iface(p.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let l3 = usize::from(p.info.l3_offset);
        let end = l3 + p.info.l3_len as usize;
        let l4 = usize::from(p.info.l4_offset);
        let proto = p.info.ip_protocol();
        let echo_v4 =
            p.info.l3 == L3Kind::Ipv4 && proto == IpProtocol::Icmp && p.info.icmp_type() == 8;
        let echo_v6 =
            p.info.l3 == L3Kind::Ipv6 && proto == IpProtocol::Icmpv6 && p.info.icmp_type() == 128;
        if (echo_v4 || echo_v6) && l4 != 0 && end <= p.pkt.len() && !p.info.frag.is_fragment() {
            let Some((to, l2)) = Self::reverse(t, &p, iface) else {
                return self.drop(p.pkt, Reason::UnknownPort);
            };
            let reply = if echo_v4 {
                match Icmpv4Repr::parse(&p.pkt[l4..end]) {
                    Ok(Some(Icmpv4Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    })) => frames::icmpv4(
                        &mut self.cache,
                        l2,
                        p.info.dst_v4(),
                        p.info.src_v4(),
                        &Icmpv4Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        },
                    ),
                    _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
                }
            } else {
                let (s, d) = (p.info.src_v6(), p.info.dst_v6());
                match Icmpv6Repr::parse(s, d, &p.pkt[l4..end]) {
                    Ok(Some(Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    })) if !d.is_multicast() => frames::icmpv6(
                        &mut self.cache,
                        l2,
                        d,
                        s,
                        64,
                        &Icmpv6Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        },
                    ),
                    _ => return self.drop(p.pkt, Reason::SlowPathInvalid),
                }
            };
            match reply {
                Some(mut r) => {
                    Self::stamp(&mut r, &p.pkt, 1);
                    self.stats.echo_replies += 1;
                    self.send(p.worker, to, r);
                    self.consume(p.pkt);
                }
                None => self.drop(p.pkt, Reason::NoBuffer),
            }
            return;
        }
        // Nothing listens on the router yet: UDP gets port unreachable (so a
        // traceroute to the router ends), everything else is dropped.
        if proto == IpProtocol::Udp && p.info.has_l4() {
            let err = IcmpError::Unreachable(if p.info.l3 == L3Kind::Ipv4 {
                unreach4::PORT
            } else {
                unreach6::PORT
            });
            return self.icmp_error(t, p, err, Reason::LocalNoListener.into());
        }
        self.drop(p.pkt, Reason::LocalNoListener)
    }

    /// Source address for an error or reply leaving `iface` (RFC 1812
    /// §4.3.2.4): its own address, else any of the router's.
    fn source_v4(t: &Tables, iface: IfId) -> Option<Ipv4Addr> {
        t.ifs
            .iface(iface)
            .and_then(Interface::primary_v4)
            .or_else(|| t.ifs.iter_ifaces().find_map(Interface::primary_v4))
    }

    fn source_v6(t: &Tables, iface: IfId) -> Option<Ipv6Addr> {
        t.ifs
            .iface(iface)
            .and_then(Interface::primary_v6)
            .or_else(|| t.ifs.iter_ifaces().find_map(Interface::primary_v6))
    }

    fn icmp_error(&mut self, t: &Tables, p: Punt, err: IcmpError, why: DropReason) {
        if !self
            .icmp
            .allow(self.clock.now_ns().max(p.pkt.meta.timestamp_ns))
        {
            self.stats.icmp_rate_limited += 1;
            return self.drop(p.pkt, why);
        }
        let Some(iface) = t.ifs.iface(p.iface_in) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let Some((to, l2)) = Self::reverse(t, &p, iface) else {
            return self.drop(p.pkt, Reason::UnknownPort);
        };
        let l3 = usize::from(p.info.l3_offset);
        let end = (l3 + p.info.l3_len as usize).min(p.pkt.len());
        let offending = &p.pkt[l3..end];
        let frame = match p.info.l3 {
            L3Kind::Ipv4 => match Self::source_v4(t, p.iface_in) {
                Some(src) => frames::icmpv4_error(&mut self.cache, l2, err, offending, src),
                None => return self.drop(p.pkt, Reason::NoSourceAddress),
            },
            _ => match Self::source_v6(t, p.iface_in) {
                Some(src) => frames::icmpv6_error(&mut self.cache, l2, err, offending, src),
                None => return self.drop(p.pkt, Reason::NoSourceAddress),
            },
        };
        match frame {
            Some(mut f) => {
                Self::stamp(&mut f, &p.pkt, 1);
                self.stats.icmp_errors += 1;
                self.send(p.worker, to, f);
                // The offending packet itself is dropped, under its reason.
                self.drop(p.pkt, why);
            }
            None => self.drop(p.pkt, Reason::NoBuffer),
        }
    }

    fn resolve(&mut self, t: &Tables, p: Punt, next_hop: IpAddr, now: u64) {
        if let Some(mac) = self.neighbor_mac(t, next_hop) {
            // Learned since the worker looked.
            let h = Held {
                pkt: p.pkt,
                info: p.info,
                egress: p.egress,
                worker: p.worker,
            };
            return self.release(t, h, mac);
        }
        let limit = self.cfg.hold_per_neighbor;
        let is_new = !self.pending.contains_key(&next_hop);
        let pending = self.pending.entry(next_hop).or_insert(Pending {
            iface: p.egress.iface,
            held: Vec::with_capacity(limit),
            tries: 0,
            next_ns: now,
            worker: p.worker,
            seq: p.pkt.meta.seq,
            ts: p.pkt.meta.timestamp_ns,
        });
        if pending.held.len() >= limit {
            return self.drop(p.pkt, Reason::HoldQueueFull);
        }
        pending.held.push(Held {
            pkt: p.pkt,
            info: p.info,
            egress: p.egress,
            worker: p.worker,
        });
        if is_new {
            self.solicit(t, next_hop, now);
        }
    }

    /// Send (or resend) the ARP request / neighbour solicitation for `a`.
    fn solicit(&mut self, t: &Tables, a: IpAddr, now: u64) {
        let Some(pend) = self.pending.get_mut(&a) else {
            return;
        };
        pend.tries += 1;
        pend.next_ns = now + self.cfg.resolve_interval_ns;
        let (iface_id, worker, seq, ts, tries) =
            (pend.iface, pend.worker, pend.seq, pend.ts, pend.tries);
        let Some(iface) = t.ifs.iface(iface_id) else {
            return;
        };
        let to = match iface.attach {
            Attach::Port(p) => InjectTo::Port(p),
            Attach::Bridge(vlan) => InjectTo::Bridge { vlan, except: None },
        };
        let frame = match a {
            IpAddr::V4(target) => {
                let src = iface
                    .v4
                    .iter()
                    .find(|x| orbital_fib::Ipv4Prefix::truncating(x.addr, x.len).contains(target))
                    .or(iface.v4.first())
                    .map(|x| x.addr);
                src.and_then(|s| frames::arp_request(&mut self.cache, iface.mac, None, s, target))
            }
            IpAddr::V6(target) => {
                let src = iface
                    .v6
                    .iter()
                    .find(|x| x.addr.is_unicast_link_local())
                    .or(iface.v6.first())
                    .map(|x| x.addr);
                src.and_then(|s| {
                    frames::neighbor_solicit(&mut self.cache, iface.mac, None, s, target)
                })
            }
        };
        if let Some(mut f) = frame {
            f.meta.seq = seq;
            f.meta.sub = 1 + tries as u16;
            f.meta.timestamp_ns = ts.max(now);
            self.stats.resolutions += 1;
            self.send(worker, to, f);
        }
    }

    fn timers(&mut self, t: &Tables, now: u64) {
        let due: Vec<IpAddr> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.next_ns)
            .map(|(a, _)| *a)
            .collect();
        for a in due {
            let tries = self.pending.get(&a).map_or(0, |p| p.tries);
            if tries < self.cfg.resolve_tries {
                self.solicit(t, a, now);
                continue;
            }
            // Nobody answered: the held packets' senders learn so (RFC 1812
            // §4.3.3.1 host unreachable / RFC 4443 address unreachable).
            let Some(p) = self.pending.remove(&a) else {
                continue;
            };
            for h in p.held {
                let err = IcmpError::Unreachable(if a.is_ipv4() {
                    unreach4::HOST
                } else {
                    unreach6::ADDRESS
                });
                let punt = Punt {
                    iface_in: ingress_iface(t, &h.pkt).unwrap_or(h.egress.iface),
                    pkt: h.pkt,
                    reason: PuntReason::Local,
                    info: h.info,
                    egress: h.egress,
                    worker: h.worker,
                };
                let dst_mac = EthernetAddress::from_bytes(&punt.pkt[0..6]);
                let allowed = match punt.info.l3 {
                    L3Kind::Ipv4 => {
                        orbital_fib::rfc1812::may_send_icmpv4_error(&punt.info, dst_mac)
                    }
                    _ => orbital_fib::rfc1812::may_send_icmpv6_error(&punt.info, dst_mac, err),
                };
                if allowed {
                    self.icmp_error(t, punt, err, Reason::NeighborUnresolved.into());
                } else {
                    self.drop(punt.pkt, Reason::NeighborUnresolved);
                }
            }
        }
        // RFC 4861 §7.3.3: unconfirmed for REACHABLE_TIME → STALE (still used).
        let reachable = self.cfg.reachable_ns;
        for (a, l) in self.learned.iter_mut() {
            if !l.stale && now.saturating_sub(l.confirmed_ns) > reachable {
                l.stale = true;
                self.updates.push(TableUpdate::AddNeighbor {
                    addr: *a,
                    mac: l.mac,
                    iface: l.iface,
                    state: NeighborState::Stale,
                });
            }
        }
    }

    /// Give back every held packet and cached buffer (at shutdown).
    pub fn drain(&mut self) {
        for (_, p) in std::mem::take(&mut self.pending) {
            for h in p.held {
                self.stats.drop(Reason::NeighborUnresolved.into());
                self.cache.free(h.pkt);
            }
        }
        for r in &mut self.punts {
            while let Some(p) = r.pop() {
                self.stats.received += 1;
                self.stats.drop(Reason::NeighborUnresolved.into());
                self.cache.free(p.pkt);
            }
        }
        self.stats.holding = 0;
        self.published.store(Arc::new(self.stats.clone()));
        self.cache.flush_all();
    }
}

/// The L3 interface a packet arrived on (its ingress port's).
fn ingress_iface(t: &Tables, p: &Packet) -> Option<IfId> {
    t.ifs.routed_iface(PortId(p.meta.port))
}
