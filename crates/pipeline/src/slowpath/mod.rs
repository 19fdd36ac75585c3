//! The slow path (spec §3.2, ARCHITECTURE §7): one thread beside the workers
//! for everything exceptional. It answers ARP and neighbour solicitations for
//! the router's addresses and pings to them, learns neighbours, resolves next
//! hops (holding packets per neighbour meanwhile, bounded per neighbour and
//! in total), sends the ICMP
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
//! replay gives the same answers whatever the number of workers. It acts at
//! each packet's time, not the poll's: what it sends is stamped when it
//! happened (an answer at its cause's arrival, a retry or a give-up at its
//! due time, a held packet when the answer came), and its resolution timers
//! run on a schedule of their own, before any later packet is handled.

mod arp;
/// The frames the slow path sends (built in `orbital-frames`).
pub use orbital_frames::control as frames;
mod icmp_error;
mod local;
mod nd;
mod resolve;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use orbital_buf::{Packet, PoolCache};
use orbital_fib::rfc1812::IcmpError;
use orbital_fib::{Attach, IfId, Interface, NeighborState, PortId, TableUpdate, Tables};
use orbital_graph::ratelimit::TokenBucket;
use orbital_graph::{
    Clock, DropReason, Inject, InjectTo, PacketCtx, Publisher, Punt, PuntReason, Reason,
    SharedSnapshot,
};
use orbital_io::{RingRx, RingTx};
use orbital_wire::arp::{ArpOperation, ArpRepr};
use orbital_wire::icmpv4::{Icmpv4Repr, unreach as unreach4};
use orbital_wire::icmpv6::{Icmpv6Repr, unreach as unreach6};
use orbital_wire::ndisc::NdiscRepr;
use orbital_wire::{EthernetAddress, IpProtocol, L3Kind};

use frames::L2;

/// Slow-path settings (the ICMP error rate is a live setting, in the
/// snapshot).
#[derive(Debug, Clone)]
pub struct SlowPathConfig {
    /// Bytes of buffers held per unresolved neighbour (Linux:
    /// `unres_qlen_bytes`, 212,992 by default). A held packet costs its
    /// whole buffer (the pool's stride), as Linux counts an skb's truesize,
    /// so the default holds about 97 packets of the default 2 KiB buffers
    /// whatever their length. At least one packet is always held.
    pub hold_bytes_per_neighbor: usize,
    /// Bytes of buffers held for all unresolved neighbours together; `None`
    /// is an eighth of the pool. The bound that keeps a flood towards many
    /// unresolved neighbours from taking the buffers receive needs: past it
    /// a packet for a neighbour is dropped (`neighbor-hold-full`) and no new
    /// neighbour is taken on until some resolve or time out.
    pub hold_bytes_total: Option<usize>,
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
            hold_bytes_per_neighbor: 212_992,
            hold_bytes_total: None,
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
    ctx: PacketCtx,
    worker: u16,
}

struct Pending {
    iface: IfId,
    held: Vec<Held>,
    tries: u32,
    /// When the next request (or, after the last, giving up) is due: a
    /// schedule kept from the first packet's arrival, not from the polls
    /// that notice it (see [`SlowPath::run_timers`]).
    next_ns: u64,
    worker: u16,
    seq: u64,
}

struct Learned {
    mac: EthernetAddress,
    iface: IfId,
    confirmed_ns: u64,
    stale: bool,
}

/// The slow path and everything it owns.
pub struct SlowPath<P> {
    cfg: SlowPathConfig,
    shared: Arc<SharedSnapshot<P>>,
    publisher: Arc<Publisher<P>>,
    punts: Vec<RingRx<Punt>>,
    injects: Vec<RingTx<Inject>>,
    cache: PoolCache,
    clock: Clock,
    pending: BTreeMap<IpAddr, Pending>,
    /// No resolution timer is due before this (a lower bound: an entry
    /// taken out may leave it early), so a punt costs no scan of `pending`.
    next_due: u64,
    /// Packets in `pending`, all neighbours.
    held: usize,
    /// What one held packet costs against the bounds (the pool's stride).
    hold_charge: usize,
    /// Packets held per neighbour at most (from the byte bound, ≥ 1).
    hold_per_neighbor: usize,
    /// Packets held in total at most.
    hold_total: usize,
    learned: BTreeMap<IpAddr, Learned>,
    icmp: TokenBucket,
    icmp_settings: (u64, u64),
    stats: SlowSnapshot,
    published: Arc<ArcSwap<SlowSnapshot>>,
    scratch: Vec<Punt>,
    updates: Vec<TableUpdate>,
}

impl<P> core::fmt::Debug for SlowPath<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlowPath")
            .field("stats", &self.stats)
            .finish()
    }
}

impl<P: Send + Sync + 'static> SlowPath<P> {
    /// Assemble the slow path.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: SlowPathConfig,
        shared: Arc<SharedSnapshot<P>>,
        publisher: Arc<Publisher<P>>,
        punts: Vec<RingRx<Punt>>,
        injects: Vec<RingTx<Inject>>,
        cache: PoolCache,
        clock: Clock,
    ) -> SlowPath<P> {
        let s = shared.load().settings;
        let pool = cache.pool();
        let hold_charge = pool.stride().max(1);
        let pool_bytes = pool.capacity() as usize * hold_charge;
        let hold_total = (cfg.hold_bytes_total.unwrap_or(pool_bytes / 8) / hold_charge).max(1);
        let hold_per_neighbor = (cfg.hold_bytes_per_neighbor / hold_charge).max(1);
        SlowPath {
            held: 0,
            hold_charge,
            hold_per_neighbor,
            hold_total,
            icmp: TokenBucket::new(s.icmp_rate, s.icmp_burst),
            icmp_settings: (s.icmp_rate, s.icmp_burst),
            cfg,
            shared,
            publisher,
            punts,
            injects,
            cache,
            clock,
            pending: BTreeMap::new(),
            next_due: u64::MAX,
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
        let snap = self.shared.load_full();
        let s = snap.settings;
        if (s.icmp_rate, s.icmp_burst) != self.icmp_settings {
            self.icmp_settings = (s.icmp_rate, s.icmp_burst);
            self.icmp = TokenBucket::new(s.icmp_rate, s.icmp_burst);
        }
        let tables = snap.fib.clone();
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

    /// Publish what was learned as one snapshot, unless someone else is
    /// publishing (a reload, an API batch): then keep it for the next poll
    /// rather than wait — the slow path never stalls behind a compile.
    /// Held packets do not wait for this: they are released from the slow
    /// path's own table.
    fn publish_updates(&mut self) {
        if self.updates.is_empty() {
            return;
        }
        let updates = std::mem::take(&mut self.updates);
        let r = self.publisher.try_update(|st| {
            if st.builder.apply(&updates).is_err() {
                // An interface vanished under a learned neighbour: apply the
                // rest one by one so one bad entry does not block the others.
                for u in &updates {
                    let _ = st.builder.apply(std::slice::from_ref(u));
                }
            }
            Ok::<(), ()>(())
        });
        if r.is_none() {
            self.updates = updates;
        }
    }

    /// Handle one punt at the time it happened: its packet's timestamp
    /// (its arrival; a frame the router made carries its cause's), not this
    /// poll's. A replay's clock jumps a whole round at a time, so what the
    /// slow path does and stamps follows the packets' times, and timers
    /// due before this packet run first: a resolution that gave up before
    /// it arrived does not hold it, and nothing is answered or stamped
    /// before its cause.
    fn handle(&mut self, t: &Tables, p: Punt, now: u64) {
        let at = match p.pkt.meta.timestamp_ns {
            0 => now,
            ts => ts,
        };
        self.run_timers(t, at);
        match p.reason {
            PuntReason::Arp => self.arp(t, p, at),
            PuntReason::Nd => self.nd(t, p, at),
            PuntReason::Local => self.local(t, p),
            PuntReason::Resolve => {
                let next_hop = p.ctx.egress.next_hop;
                self.resolve(t, p, next_hop, at)
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

    /// Hand a frame the router made to worker `worker`: it enters the graph
    /// at the output hook.
    fn send(&mut self, worker: u16, to: InjectTo, pkt: Packet) {
        self.inject(worker, Inject::Local { pkt, to });
    }

    fn inject(&mut self, worker: u16, inj: Inject) {
        let n = self.injects.len();
        let ring = &mut self.injects[usize::from(worker) % n];
        match ring.push(inj) {
            Ok(()) => self.stats.injected += 1,
            Err(Inject::Local { pkt, .. } | Inject::Resolved { pkt, .. }) => {
                self.stats.drop(Reason::InjectQueueFull.into());
                self.cache.free(pkt);
            }
        }
    }

    /// Stamp a frame made because of `trigger`, at the trigger's time: the
    /// router answers at once (replay writes output in time order, then by
    /// the trigger's sequence number).
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
        if let Some(pending) = self.take_pending(&a) {
            for h in pending.held {
                self.release(h, mac, now);
            }
        }
    }

    /// Stop waiting for `a`: its entry and held packets, taken out of the
    /// hold accounting.
    fn take_pending(&mut self, a: &IpAddr) -> Option<Pending> {
        let p = self.pending.remove(a)?;
        self.held -= p.held.len();
        Some(p)
    }

    /// The hold queue's bounds as packets: per neighbour, in total, and
    /// what one packet is charged in bytes.
    pub fn hold_limits(&self) -> (usize, usize, usize) {
        (self.hold_per_neighbor, self.hold_total, self.hold_charge)
    }

    /// Give a held packet back to its worker now that its next hop's MAC is
    /// known: it re-enters the graph at the forward hook, so it passes the
    /// forward and postrouting hooks and the rewrite it would have had. It
    /// leaves at `at`, when the answer came, not when it arrived.
    fn release(&mut self, mut h: Held, mac: EthernetAddress, at: u64) {
        h.ctx.egress.dst_mac = mac;
        h.pkt.meta.timestamp_ns = h.pkt.meta.timestamp_ns.max(at);
        self.stats.released += 1;
        self.inject(
            h.worker,
            Inject::Resolved {
                pkt: h.pkt,
                ctx: h.ctx,
            },
        );
    }

    /// Give back every held packet and cached buffer (at shutdown).
    pub fn drain(&mut self) {
        self.held = 0;
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
