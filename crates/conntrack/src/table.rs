//! [`ConnTrack`]: one worker's table — entries, index, timer lists,
//! eviction, the two-phase insert, garbage collection and listing.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use orbital_wire::{L3Kind, PacketInfo};

use crate::config::{CtConfig, Tuning};
use crate::entry::{
    CLASSES, Entry, FREE_LIST, Group, LAG_UNIT_NS, LISTS, NIL, TimeoutClass, UNCONFIRMED_LIST,
    class_of_list, group_of_list, list_id, status,
};
use crate::icmp;
use crate::index::Index;
use crate::tcp::{self, Segment, TcpOutcome, TcpState};
use crate::track::{Confirm, CtDrop, CtHandle, CtState, InvalidReason, Track};
use crate::tuple::{Dir, ICMP, ICMPV6, ProtoClass, TCP, Tuple, TupleHasher, UDP, icmp_answer};

/// Largest `max_entries`: entry references keep two bits free for NAT's
/// direction-restricted index slots (see the crate docs).
pub const MAX_ENTRIES: u32 = 1 << 30;

/// How long a UDP flow must live, after its first packet, before a reply
/// makes it a stream (Linux's `stream_ts`, 2 s).
const UDP_STREAM_AFTER_NS: u64 = 2_000_000_000;

/// Refresh granularity cap: a refresh relinks an entry only when its
/// deadline moved this far (or a sixteenth of its timeout, if less) since
/// it was linked.
const MAX_RELINK_NS: u64 = 60_000_000_000;

/// One timer list: entries of one (group, class), oldest deadline first
/// (within the refresh granularity). The head's deadline is cached here so
/// that garbage collection and eviction look at lists without touching
/// entries.
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: u32,
    head_expires: u64,
}

const EMPTY_LIST: List = List {
    head: NIL,
    tail: NIL,
    len: 0,
    head_expires: 0,
};

/// Why an entry left the table (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    Expired,
    Evicted(Group),
    Released,
    Reset,
    Reopened,
    Removed,
}

/// Counters since the table was made. All are per worker; sum them across
/// workers for a node's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtStats {
    /// Entries created (unconfirmed at first).
    pub created: u64,
    /// Entries confirmed.
    pub confirmed: u64,
    /// Unconfirmed entries released because no packet that used them was
    /// confirmed by the end of its burst (its SYN was dropped, …).
    pub released_unconfirmed: u64,
    /// Entries removed because their timeout ran out.
    pub expired: u64,
    /// Entries evicted to make room, by group: never replied, replied but
    /// not assured, assured but closing.
    pub evicted: [u64; 3],
    /// Entries removed by a reset before any reply.
    pub reset: u64,
    /// Entries replaced by a SYN reopening the connection.
    pub reopened: u64,
    /// Entries removed on request ([`ConnTrack::remove`]).
    pub removed: u64,
    /// Packets conntrack dropped, by [`CtDrop::index`].
    pub drops: [u64; 2],
    /// Invalid packets, by [`InvalidReason::index`].
    pub invalid: [u64; 12],
    /// Related packets (ICMP errors about tracked connections).
    pub related: u64,
    /// Untracked packets.
    pub untracked: u64,
}

const _: () = assert!(InvalidReason::ALL.len() == 12 && CtDrop::ALL.len() == 2);

/// A table's state at a glance: what `orbctl` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtSummary {
    /// Live entries (confirmed and unconfirmed).
    pub entries: u32,
    /// The table's capacity.
    pub max_entries: u32,
    /// Entries awaiting confirmation.
    pub unconfirmed: u32,
    /// Confirmed entries that never saw a reply (first to be evicted).
    pub unreplied: u32,
    /// Confirmed entries that saw a reply but are not assured.
    pub replied: u32,
    /// Assured TCP entries in a closing state (evicted last).
    pub closing: u32,
    /// Assured entries (never evicted).
    pub assured: u32,
    /// Live entries per protocol, by [`ProtoClass::index`].
    pub per_proto: [u32; 5],
    /// Live TCP entries per state, by `TcpState as usize`.
    pub tcp_states: [u32; 10],
    /// Memory the table holds, bytes (entries, counters, index).
    pub memory_bytes: usize,
    /// Counters.
    pub stats: CtStats,
}

impl CtSummary {
    /// Fill level in per mille.
    pub fn fill_permille(&self) -> u32 {
        (u64::from(self.entries) * 1000 / u64::from(self.max_entries.max(1))) as u32
    }
}

impl fmt::Display for CtSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "entries {}/{} ({}.{} %), unconfirmed {}, {} KiB",
            self.entries,
            self.max_entries,
            self.fill_permille() / 10,
            self.fill_permille() % 10,
            self.unconfirmed,
            self.memory_bytes / 1024
        )?;
        writeln!(
            f,
            "unreplied {} replied {} closing {} assured {}",
            self.unreplied, self.replied, self.closing, self.assured
        )?;
        for c in ProtoClass::ALL {
            write!(f, "{} {} ", c.name(), self.per_proto[c.index()])?;
        }
        writeln!(f)?;
        for st in TcpState::ALL.iter().skip(1) {
            write!(f, "{} {} ", st.name(), self.tcp_states[*st as usize])?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "created {} confirmed {} released-unconfirmed {} expired {} reset {} reopened {} removed {}",
            s.created,
            s.confirmed,
            s.released_unconfirmed,
            s.expired,
            s.reset,
            s.reopened,
            s.removed
        )?;
        writeln!(
            f,
            "evicted unreplied {} replied {} closing {}",
            s.evicted[0], s.evicted[1], s.evicted[2]
        )?;
        for d in CtDrop::ALL {
            write!(f, "{} {} ", d.name(), s.drops[d.index()])?;
        }
        writeln!(f, "related {} untracked {}", s.related, s.untracked)?;
        for r in InvalidReason::ALL {
            if s.invalid[r.index()] != 0 {
                writeln!(f, "{} {}", r.name(), s.invalid[r.index()])?;
            }
        }
        Ok(())
    }
}

/// Packets and bytes (IP length) in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes, counted as the IP packet's length.
    pub bytes: u64,
}

/// One entry as `conntrack -L` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtEntry {
    /// Its handle.
    pub handle: CtHandle,
    /// Original-direction tuple.
    pub original: Tuple,
    /// Reply-direction tuple (the inverted original; NAT will make them
    /// differ).
    pub reply: Tuple,
    /// Protocol class.
    pub protocol: ProtoClass,
    /// TCP state, for TCP.
    pub tcp_state: Option<TcpState>,
    /// Nanoseconds until it expires.
    pub timeout_left_ns: u64,
    /// A reply was seen.
    pub seen_reply: bool,
    /// Assured (never evicted).
    pub assured: bool,
    /// Confirmed (else it awaits its packet's confirmation).
    pub confirmed: bool,
    /// The policy version it was last checked against.
    pub policy_version: u32,
    /// Per-direction counters, when [`CtConfig::accounting`] is on.
    pub counters: Option<[Counters; 2]>,
}

fn fmt_tuple(f: &mut fmt::Formatter<'_>, t: &Tuple) -> fmt::Result {
    if t.ipv6 {
        write!(
            f,
            "src={} dst={} ",
            Ipv6Addr::from_bits(t.src),
            Ipv6Addr::from_bits(t.dst)
        )?;
    } else {
        write!(
            f,
            "src={} dst={} ",
            Ipv4Addr::from_bits(t.src as u32),
            Ipv4Addr::from_bits(t.dst as u32)
        )?;
    }
    match t.class() {
        ProtoClass::Tcp | ProtoClass::Udp => {
            write!(f, "sport={} dport={} ", t.src_port, t.dst_port)
        }
        ProtoClass::Icmp | ProtoClass::Icmpv6 => write!(
            f,
            "type={} code={} id={} ",
            t.icmp_type(),
            t.icmp_code(),
            t.src_port
        ),
        ProtoClass::Generic => Ok(()),
    }
}

impl fmt::Display for CtEntry {
    /// The `conntrack -L` line: `tcp 6 431999 ESTABLISHED src=… [ASSURED]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8} {} {} ",
            self.protocol.name(),
            self.original.protocol,
            self.timeout_left_ns / 1_000_000_000
        )?;
        if let Some(s) = self.tcp_state {
            write!(f, "{} ", s.name())?;
        }
        fmt_tuple(f, &self.original)?;
        if let Some(c) = self.counters {
            write!(f, "packets={} bytes={} ", c[0].packets, c[0].bytes)?;
        }
        if !self.seen_reply {
            write!(f, "[UNREPLIED] ")?;
        }
        fmt_tuple(f, &self.reply)?;
        if let Some(c) = self.counters {
            write!(f, "packets={} bytes={} ", c[1].packets, c[1].bytes)?;
        }
        if self.assured {
            write!(f, "[ASSURED] ")?;
        }
        if !self.confirmed {
            write!(f, "[UNCONFIRMED] ")?;
        }
        write!(f, "policy={}", self.policy_version)
    }
}

/// One worker's connection table. See the crate documentation for the
/// design; every method is O(1) except [`ConnTrack::new`],
/// [`ConnTrack::iter`] and [`ConnTrack::audit`], and none allocates after
/// `new`.
#[derive(Debug)]
pub struct ConnTrack {
    cfg: CtConfig,
    tune: Tuning,
    hasher: TupleHasher,
    /// The hash of the packet being tracked, computed by the caller ahead
    /// of time ([`ConnTrack::track_hashed`]): used when the tuple matches.
    hint: Option<FlowHash>,
    entries: Box<[Entry]>,
    /// Per entry: packets and bytes, original then reply; empty when
    /// accounting is off.
    acct: Box<[[u64; 4]]>,
    index: Index,
    /// Class lists by `list_id`, then the unconfirmed list.
    lists: [List; LISTS + 1],
    /// Bit `l` set when list `l` is not empty.
    nonempty: u64,
    free: u32,
    live: u32,
    now: u64,
    gc_cursor: usize,
    per_proto: [u32; 5],
    tcp_states: [u32; 10],
    stats: CtStats,
}

const CLASS_LISTS_MASK: u64 = (1 << LISTS) - 1;

impl ConnTrack {
    /// A table for `cfg.max_entries` entries (clamped to 1..=[`MAX_ENTRIES`]),
    /// with all its memory allocated now.
    pub fn new(cfg: CtConfig) -> ConnTrack {
        let cfg = CtConfig {
            max_entries: cfg.max_entries.clamp(1, MAX_ENTRIES),
            ..cfg
        };
        let n = cfg.max_entries as usize;
        let mut entries = vec![Entry::default(); n].into_boxed_slice();
        for (i, e) in entries.iter_mut().enumerate() {
            e.list = FREE_LIST;
            e.next = if i + 1 < n { (i + 1) as u32 } else { NIL };
            e.prev = NIL;
        }
        let acct = if cfg.accounting {
            vec![[0u64; 4]; n].into_boxed_slice()
        } else {
            Box::default()
        };
        ConnTrack {
            tune: Tuning::new(&cfg),
            hasher: TupleHasher::new(cfg.hash_seed),
            hint: None,
            cfg,
            entries,
            acct,
            index: Index::with_capacity(n),
            lists: [EMPTY_LIST; LISTS + 1],
            nonempty: 0,
            free: 0,
            live: 0,
            now: 0,
            gc_cursor: 0,
            per_proto: [0; 5],
            tcp_states: [0; 10],
            stats: CtStats::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &CtConfig {
        &self.cfg
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Counters since the table was made.
    pub fn stats(&self) -> &CtStats {
        &self.stats
    }

    /// Bytes of memory the table holds; constant from `new` on.
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.entries)
            + core::mem::size_of_val(&*self.acct)
            + self.index.bytes()
    }

    /// Memory per entry of capacity: entry, counters (if on) and index
    /// share.
    pub fn bytes_per_entry(&self) -> f64 {
        self.memory_bytes() as f64 / f64::from(self.cfg.max_entries)
    }

    /// Size of one entry in bytes, without index or counters.
    pub const ENTRY_BYTES: usize = core::mem::size_of::<Entry>();

    #[inline]
    fn advance(&mut self, now_ns: u64) -> u64 {
        // Engine time never goes back (captures may be out of order).
        self.now = self.now.max(now_ns);
        self.now
    }

    #[inline]
    fn handle(&self, idx: u32) -> CtHandle {
        CtHandle {
            index: idx,
            generation: self.entries[idx as usize].generation,
        }
    }

    #[inline]
    fn resolve(&self, h: CtHandle) -> Option<u32> {
        let e = self.entries.get(h.index as usize)?;
        (e.generation == h.generation && e.has(status::LIVE)).then_some(h.index)
    }

    /// Track one packet: find its connection (or, if `create`, make one),
    /// run the protocol's state machine, refresh its timeout.
    ///
    /// `l4` is the transport header and payload: from `info.l4_offset` to the
    /// end of the IP packet (`info.l3_offset + info.l3_len`, not the end of
    /// the frame: Ethernet padding would count as TCP data). [`l4_bytes`]
    /// cuts it. `now_ns` is the engine clock; `policy_version` the version
    /// of the ruleset judging the packet: new entries take it, and
    /// [`Track::recheck`] says when an entry was judged under an older one.
    ///
    /// A new entry is *unconfirmed*: visible to later packets (of this burst
    /// too) but removed again unless [`ConnTrack::confirm`] is called for it
    /// before [`ConnTrack::release_unconfirmed`] (or [`ConnTrack::expire`])
    /// runs, so a packet the firewall drops leaves no state behind.
    ///
    /// Never allocates; never panics on any input.
    pub fn track(
        &mut self,
        info: &PacketInfo,
        l4: &[u8],
        now_ns: u64,
        policy_version: u32,
        create: bool,
    ) -> Track {
        self.advance(now_ns);
        let tr = self.classify(info, l4, policy_version, create);
        match tr.state {
            CtState::Invalid(r) => self.stats.invalid[r.index()] += 1,
            CtState::Related => self.stats.related += 1,
            CtState::Untracked => self.stats.untracked += 1,
            _ => {}
        }
        if let Some(d) = tr.drop {
            self.stats.drops[d.index()] += 1;
        }
        tr
    }

    fn classify(&mut self, info: &PacketInfo, l4: &[u8], policy: u32, create: bool) -> Track {
        let ipv6 = match info.l3 {
            L3Kind::Ipv4 => false,
            L3Kind::Ipv6 => true,
            _ => return Track::bare(CtState::Untracked),
        };
        // nf_conntrack reassembles before it tracks; we do not, and a later
        // fragment has no ports to look up.
        if info.frag.is_later_fragment() {
            return Track::bare(CtState::Untracked);
        }
        match (info.protocol, ipv6) {
            (TCP, _) => self.track_tcp(info, l4, policy, create),
            (UDP, _) => match Tuple::from_packet(info) {
                Some(t) => self.track_simple(&t, info.l3_len, policy, create),
                None => invalid(InvalidReason::Truncated),
            },
            (ICMP, false) | (ICMPV6, true) => self.track_icmp(info, l4, ipv6, policy, create),
            (ICMP, true) | (ICMPV6, false) => invalid(InvalidReason::IcmpUnknownType),
            _ => match Tuple::from_packet(info) {
                Some(t) => self.track_simple(&t, info.l3_len, policy, create),
                None => Track::bare(CtState::Untracked),
            },
        }
    }

    /// A packet's flow hash, computed once for the stages of a burst
    /// lookup: [`ConnTrack::prefetch`], [`ConnTrack::prefetch_entry`] and
    /// [`ConnTrack::track_hashed`] take it instead of hashing again (the
    /// hash is a fifth of a lookup's instructions). `None` for a packet
    /// with no tuple of its own.
    #[inline]
    pub fn flow_hash(&self, info: &PacketInfo) -> Option<FlowHash> {
        Tuple::from_packet(info).map(|tuple| FlowHash {
            tuple,
            hash: self.hasher.hash(&tuple),
        })
    }

    /// First stage of a burst lookup: start loading the index bucket the
    /// packet with hash `h` will read. Changes nothing; never required. As
    /// DPDK's bulk lookups do, a node tracking a burst calls it a few
    /// packets ahead (`prefetch(i + 8)`, `prefetch_entry(i + 4)`,
    /// `track_hashed(i)`), so the memory latency of a large table overlaps
    /// with work on earlier packets.
    #[inline]
    pub fn prefetch(&self, h: &FlowHash) {
        self.index.prefetch(self.index.probe(h.hash));
    }

    /// Second stage: read the (by now loaded) bucket and start loading the
    /// entry it points at. Changes nothing; never required.
    #[inline]
    pub fn prefetch_entry(&self, h: &FlowHash) {
        let p = self.index.probe(h.hash);
        if let Some(r) = self.index.first_candidate(p) {
            // An entry spans two lines at most: its head and its tracker.
            let e = &self.entries[r as usize];
            orbital_cpu::prefetch(e);
            orbital_cpu::prefetch(&e.tcp);
        }
    }

    /// [`ConnTrack::track`] with the packet's hash from
    /// [`ConnTrack::flow_hash`] (`None`: hash here).
    pub fn track_hashed(
        &mut self,
        info: &PacketInfo,
        l4: &[u8],
        now_ns: u64,
        policy_version: u32,
        create: bool,
        h: Option<FlowHash>,
    ) -> Track {
        self.hint = h;
        let t = self.track(info, l4, now_ns, policy_version, create);
        self.hint = None;
        t
    }

    /// The hash of `t`: the caller's if it gave one for this tuple.
    #[inline]
    fn hash_of(&self, t: &Tuple) -> u64 {
        match &self.hint {
            Some(h) if h.tuple == *t => h.hash,
            _ => self.hasher.hash(t),
        }
    }

    /// Find the live entry `t` travels on. An expired entry found on the way
    /// is removed (it is dead even if the collector has not reached it).
    fn lookup_live(&mut self, t: &Tuple) -> Option<(u32, Dir)> {
        let (idx, dir) = self.find(t)?;
        let e = &self.entries[idx as usize];
        if e.expires <= self.now && !e.has(status::UNCONFIRMED) {
            self.remove_entry(idx, Removal::Expired);
            return None;
        }
        Some((idx, dir))
    }

    #[inline]
    fn find(&self, t: &Tuple) -> Option<(u32, Dir)> {
        let p = self.index.probe(self.hash_of(t));
        let mut dir = Dir::Original;
        let entries = &self.entries;
        let idx = self
            .index
            .find(p, |r| match entries[r as usize].matches(t) {
                Some(d) => {
                    dir = d;
                    true
                }
                None => false,
            })?;
        Some((idx, dir))
    }

    fn hit(&self, idx: u32, dir: Dir, policy: u32, state: CtState) -> Track {
        let e = &self.entries[idx as usize];
        Track {
            state,
            dir,
            handle: Some(self.handle(idx)),
            recheck: (policy.wrapping_sub(e.policy) as i32) > 0,
            drop: None,
        }
    }

    fn conn_state(&self, idx: u32, dir: Dir) -> CtState {
        if dir == Dir::Reply || self.entries[idx as usize].has(status::SEEN_REPLY) {
            CtState::Established
        } else {
            CtState::New
        }
    }

    #[inline]
    fn account(&mut self, idx: u32, dir: Dir, len: u32) {
        if let Some(a) = self.acct.get_mut(idx as usize) {
            a[dir.index() * 2] += 1;
            a[dir.index() * 2 + 1] += u64::from(len);
        }
    }

    fn mark_reply(&mut self, idx: u32, dir: Dir) {
        if dir == Dir::Reply {
            self.entries[idx as usize].status |= status::SEEN_REPLY;
        }
    }

    /// UDP and the generic tracker: no per-packet checks; a reply marks the
    /// entry, and UDP becomes a stream (assured, longer timeout) when it is
    /// still active 2 s after its first packet.
    fn track_simple(&mut self, t: &Tuple, len: u32, policy: u32, create: bool) -> Track {
        let now = self.now;
        let udp = t.protocol == UDP;
        if let Some((idx, dir)) = self.lookup_live(t) {
            let e = &mut self.entries[idx as usize];
            let class = if !udp {
                TimeoutClass::Generic
            } else if e.has(status::SEEN_REPLY) && now > e.tcp.stashed() {
                e.status |= status::ASSURED;
                TimeoutClass::UdpStream
            } else {
                TimeoutClass::Udp
            };
            // As Linux: the timeout is chosen before this packet's reply
            // bit is set, so the first reply gets the short one.
            self.mark_reply(idx, dir);
            self.settle(idx, class, true);
            self.account(idx, dir, len);
            let state = self.conn_state(idx, dir);
            return self.hit(idx, dir, policy, state);
        }
        if !create {
            return Track::bare(CtState::New);
        }
        let class = if udp {
            TimeoutClass::Udp
        } else {
            TimeoutClass::Generic
        };
        let mut e = Entry::default();
        e.set_tuple(t);
        if udp {
            e.tcp.stash(now.saturating_add(UDP_STREAM_AFTER_NS));
        }
        e.expires = now.saturating_add(self.tune.of(class));
        self.insert_new(e, t, policy, class, len)
    }

    fn track_icmp(
        &mut self,
        info: &PacketInfo,
        l4: &[u8],
        ipv6: bool,
        policy: u32,
        create: bool,
    ) -> Track {
        if !info.has_l4() {
            return invalid(InvalidReason::Truncated);
        }
        let ty = info.icmp_type();
        if icmp::is_error(ty, ipv6) {
            return self.related(info, l4, ipv6, policy);
        }
        if ipv6 && icmp::untracked_v6(ty) {
            return Track::bare(CtState::Untracked);
        }
        if icmp_answer(ty, ipv6).is_none() {
            return invalid(InvalidReason::IcmpUnknownType);
        }
        let Some(t) = Tuple::from_packet(info) else {
            return invalid(InvalidReason::Truncated);
        };
        if let Some((idx, dir)) = self.lookup_live(&t) {
            self.mark_reply(idx, dir);
            self.settle(idx, TimeoutClass::Icmp, true);
            self.account(idx, dir, info.l3_len);
            let state = self.conn_state(idx, dir);
            return self.hit(idx, dir, policy, state);
        }
        if !crate::tuple::icmp_is_query(ty, ipv6) {
            return invalid(InvalidReason::IcmpNotQuery);
        }
        if !create {
            return Track::bare(CtState::New);
        }
        let mut e = Entry::default();
        e.set_tuple(&t);
        e.expires = self.now.saturating_add(self.tune.of(TimeoutClass::Icmp));
        self.insert_new(e, &t, policy, TimeoutClass::Icmp, info.l3_len)
    }

    /// An ICMP error: related to the connection of the packet it quotes, if
    /// that connection is tracked and the error goes to one of its
    /// addresses. It neither refreshes nor changes the entry (as in Linux).
    fn related(&mut self, info: &PacketInfo, l4: &[u8], ipv6: bool, policy: u32) -> Track {
        let quoted = match icmp::quoted_tuple(l4, ipv6) {
            Ok(t) => t,
            Err(r) => return invalid(r),
        };
        // The quoted packet went the other way from the error.
        let Some(t) = quoted.invert() else {
            return invalid(InvalidReason::IcmpErrorMalformed);
        };
        let Some((idx, dir)) = self.lookup_live(&t) else {
            return invalid(InvalidReason::IcmpErrorNoMatch);
        };
        if self.entries[idx as usize].dst_of(dir) != info.dst {
            return invalid(InvalidReason::IcmpErrorMismatch);
        }
        self.hit(idx, dir, policy, CtState::Related)
    }

    fn track_tcp(&mut self, info: &PacketInfo, l4: &[u8], policy: u32, create: bool) -> Track {
        let Some(t) = Tuple::from_packet(info) else {
            return invalid(InvalidReason::Truncated);
        };
        let seg = match Segment::parse(l4) {
            Ok(s) => s,
            Err(r) => return invalid(r),
        };
        let now = self.now;
        let tune = self.tune;
        if let Some((idx, dir)) = self.lookup_live(&t) {
            let before = self.entries[idx as usize].state;
            let out = tcp::packet(&mut self.entries[idx as usize], dir, &seg, &tune, now);
            let after = self.entries[idx as usize].state;
            if before != after {
                // Per-state counts follow the state machine.
                self.tcp_states[usize::from(before)] -= 1;
                self.tcp_states[usize::from(after)] += 1;
            }
            match out {
                TcpOutcome::Accept { class, refresh } => {
                    self.mark_reply(idx, dir);
                    self.settle(idx, class, refresh);
                    self.account(idx, dir, info.l3_len);
                    let state = self.conn_state(idx, dir);
                    return self.hit(idx, dir, policy, state);
                }
                TcpOutcome::Ignore => {
                    self.mark_reply(idx, dir);
                    let class = self.current_class(idx);
                    self.settle(idx, class, false);
                    self.account(idx, dir, info.l3_len);
                    let state = self.conn_state(idx, dir);
                    return self.hit(idx, dir, policy, state);
                }
                TcpOutcome::Invalid { reason, shorten } => {
                    if shorten {
                        self.settle(idx, TimeoutClass::TcpUnack, true);
                    }
                    return invalid(reason);
                }
                TcpOutcome::Kill => {
                    let state = self.conn_state(idx, dir);
                    self.remove_entry(idx, Removal::Reset);
                    return Track {
                        state,
                        dir,
                        handle: None,
                        recheck: false,
                        drop: None,
                    };
                }
                TcpOutcome::Reopen => {
                    // A new incarnation of a closed connection: forget the old
                    // one and track the SYN afresh.
                    self.remove_entry(idx, Removal::Reopened);
                }
            }
        }
        let mut e = Entry::default();
        e.set_tuple(&t);
        if let Err(r) = tcp::open(&mut e.tcp, &seg, &tune) {
            return invalid(r);
        }
        match tcp::packet(&mut e, Dir::Original, &seg, &tune, now) {
            TcpOutcome::Accept { class, .. } => {
                if !create {
                    return Track::bare(CtState::New);
                }
                e.expires = now.saturating_add(tune.of(class));
                self.insert_new(e, &t, policy, class, info.l3_len)
            }
            TcpOutcome::Invalid { reason, .. } => invalid(reason),
            // A first segment is accepted or invalid (open() refused the
            // rest); say so rather than guess.
            _ => invalid(InvalidReason::TcpInvalidNew),
        }
    }

    /// The class an entry's deadline currently runs on.
    fn current_class(&self, idx: u32) -> TimeoutClass {
        let e = &self.entries[idx as usize];
        if e.has(status::UNCONFIRMED) {
            class_of_list(e.lag as u8)
        } else {
            class_of_list(e.list)
        }
    }

    fn group_of(e: &Entry) -> Group {
        if !e.has(status::SEEN_REPLY) {
            Group::Unreplied
        } else if !e.has(status::ASSURED) {
            Group::Replied
        } else if e.proto == TCP && TcpState::from_u8(e.state).closing() {
            Group::Closing
        } else {
            Group::Assured
        }
    }

    /// After a packet: put the entry on the list of its (group, class) and
    /// refresh its deadline.
    ///
    /// Refreshing does not relink on every packet: relinking touches the
    /// neighbours' cache lines, which costs more than the rest of a hit at
    /// a million entries. An entry is moved to its list's tail only once its
    /// deadline has moved a granule (a sixteenth of the timeout, at most
    /// 60 s) past the deadline it was linked with; in between only
    /// `expires` (exact) and `lag` change. Each list therefore stays sorted
    /// by link-time deadline, every entry expires no earlier than that, and
    /// the collector, which stops at the first live head, reclaims an entry
    /// at most one granule after its exact deadline. Lookups check the
    /// exact deadline, so no packet ever sees an expired entry.
    fn settle(&mut self, idx: u32, class: TimeoutClass, refresh: bool) {
        let now = self.now;
        let tmo = self.tune.of(class);
        let e = &self.entries[idx as usize];
        let list = list_id(Self::group_of(e), class);
        let new_exp = if refresh {
            now.saturating_add(tmo)
        } else {
            e.expires
        };
        let e = &mut self.entries[idx as usize];
        if e.has(status::UNCONFIRMED) {
            // Linked at confirm time; remember where.
            e.expires = new_exp;
            e.lag = u16::from(list);
            let l = &mut self.lists[usize::from(UNCONFIRMED_LIST)];
            if l.head == idx {
                l.head_expires = new_exp;
            }
            return;
        }
        if e.list != list {
            self.unlink(idx);
            self.entries[idx as usize].expires = new_exp;
            self.link(idx, list);
            return;
        }
        if !refresh {
            return;
        }
        let moved = new_exp.saturating_sub(e.expires);
        let lag = (u64::from(e.lag) * LAG_UNIT_NS).saturating_add(moved);
        let granule = (tmo / 16).clamp(1, MAX_RELINK_NS);
        if lag >= granule {
            self.unlink(idx);
            self.entries[idx as usize].expires = new_exp;
            self.link(idx, list);
        } else {
            e.expires = new_exp;
            e.lag = lag.div_ceil(LAG_UNIT_NS) as u16;
            let l = &mut self.lists[usize::from(list)];
            if l.head == idx {
                l.head_expires = new_exp;
            }
        }
    }

    fn insert_new(
        &mut self,
        mut e: Entry,
        t: &Tuple,
        policy: u32,
        class: TimeoutClass,
        len: u32,
    ) -> Track {
        let Some(idx) = self.alloc() else {
            return Track {
                drop: Some(CtDrop::TableFull),
                ..Track::bare(CtState::New)
            };
        };
        let p = self.index.probe(self.hash_of(t));
        if !self.index.insert(p, idx) {
            self.push_free(idx);
            return Track {
                drop: Some(CtDrop::InsertFailed),
                ..Track::bare(CtState::New)
            };
        }
        let slot = &self.entries[idx as usize];
        e.generation = slot.generation;
        e.status |= status::LIVE | status::UNCONFIRMED;
        e.policy = policy;
        e.lag = u16::from(list_id(Self::group_of(&e), class));
        self.entries[idx as usize] = e;
        self.link(idx, UNCONFIRMED_LIST);
        self.live += 1;
        self.per_proto[e.class().index()] += 1;
        if e.proto == TCP {
            self.tcp_states[usize::from(e.state)] += 1;
        }
        self.stats.created += 1;
        self.account(idx, Dir::Original, len);
        self.hit(idx, Dir::Original, policy, CtState::New)
    }
}

fn invalid(r: InvalidReason) -> Track {
    Track::bare(CtState::Invalid(r))
}

/// A packet's tuple and its hash ([`ConnTrack::flow_hash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHash {
    tuple: Tuple,
    hash: u64,
}

/// The bytes [`ConnTrack::track`] wants as `l4`: from the transport header
/// to the end of the IP packet. Empty when the packet has no transport
/// header or the summary does not fit the frame.
pub fn l4_bytes<'a>(frame: &'a [u8], info: &PacketInfo) -> &'a [u8] {
    if !info.has_l4() {
        return &[];
    }
    let start = usize::from(info.l4_offset);
    let end = (usize::from(info.l3_offset) + info.l3_len as usize).min(frame.len());
    frame.get(start..end).unwrap_or(&[])
}

/// Lists, allocation, eviction, removal.
impl ConnTrack {
    fn link(&mut self, idx: u32, list: u8) {
        let l = usize::from(list);
        let tail = self.lists[l].tail;
        let e = &mut self.entries[idx as usize];
        e.list = list;
        e.prev = tail;
        e.next = NIL;
        e.lag = 0;
        let expires = e.expires;
        if tail == NIL {
            self.lists[l].head = idx;
            self.lists[l].head_expires = expires;
        } else {
            self.entries[tail as usize].next = idx;
        }
        let l = &mut self.lists[l];
        l.tail = idx;
        l.len += 1;
        self.nonempty |= 1 << list;
    }

    fn unlink(&mut self, idx: u32) {
        let e = &self.entries[idx as usize];
        let (prev, next, list) = (e.prev, e.next, e.list);
        let l = usize::from(list);
        if prev == NIL {
            self.lists[l].head = next;
            self.lists[l].head_expires = if next == NIL {
                0
            } else {
                self.entries[next as usize].expires
            };
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[l].tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        self.lists[l].len -= 1;
        if self.lists[l].len == 0 {
            self.nonempty &= !(1 << list);
        }
        let e = &mut self.entries[idx as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_free(&mut self, idx: u32) {
        let e = &mut self.entries[idx as usize];
        e.list = FREE_LIST;
        e.status = 0;
        e.next = self.free;
        e.prev = NIL;
        self.free = idx;
    }

    /// A free slot: from the free list, else by reclaiming an expired entry,
    /// else by evicting — never replied first, then replied but not assured,
    /// then assured but closing; assured live connections never.
    fn alloc(&mut self) -> Option<u32> {
        if self.free == NIL {
            let (victim, why) = self.pick_victim()?;
            self.remove_entry(victim, why);
        }
        let idx = self.free;
        self.free = self.entries[idx as usize].next;
        Some(idx)
    }

    fn pick_victim(&self) -> Option<(u32, Removal)> {
        let now = self.now;
        let mut bits = self.nonempty & CLASS_LISTS_MASK;
        while bits != 0 {
            let l = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.lists[l].head_expires <= now {
                return Some((self.lists[l].head, Removal::Expired));
            }
        }
        for group in [Group::Unreplied, Group::Replied, Group::Closing] {
            // Within a group, the entry closest to its deadline: the one
            // least likely to be missed.
            let first = group as usize * CLASSES;
            let group_bits = (self.nonempty >> first) & ((1 << CLASSES) - 1);
            let mut bits = group_bits;
            let mut best: Option<usize> = None;
            while bits != 0 {
                let l = first + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if best.is_none_or(|b| self.lists[l].head_expires < self.lists[b].head_expires) {
                    best = Some(l);
                }
            }
            if let Some(l) = best {
                return Some((self.lists[l].head, Removal::Evicted(group)));
            }
        }
        None
    }

    fn remove_entry(&mut self, idx: u32, why: Removal) {
        let e = self.entries[idx as usize];
        let p = self.index.probe(self.hasher.hash(&e.tuple()));
        let found = self.index.remove(p, idx);
        debug_assert!(found, "entry {idx} missing from the index");
        self.unlink(idx);
        self.live -= 1;
        self.per_proto[e.class().index()] -= 1;
        if e.proto == TCP {
            self.tcp_states[usize::from(e.state)] -= 1;
        }
        if let Some(a) = self.acct.get_mut(idx as usize) {
            *a = [0; 4];
        }
        let slot = &mut self.entries[idx as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.push_free(idx);
        let s = &mut self.stats;
        match why {
            Removal::Expired => s.expired += 1,
            Removal::Evicted(g) => s.evicted[(g as usize).min(2)] += 1,
            Removal::Released => s.released_unconfirmed += 1,
            Removal::Reset => s.reset += 1,
            Removal::Reopened => s.reopened += 1,
            Removal::Removed => s.removed += 1,
        }
    }
}

/// Confirmation, collection, policy, inspection.
impl ConnTrack {
    /// Commit the entry a packet created, now that the packet was accepted
    /// (Linux confirms at postrouting and input, the last hooks a packet
    /// passes). Call it for every accepted packet that carries a handle;
    /// for an entry already confirmed it is a no-op.
    pub fn confirm(&mut self, h: CtHandle) -> Confirm {
        let Some(idx) = self.resolve(h) else {
            return Confirm::Stale;
        };
        let e = &mut self.entries[idx as usize];
        if !e.has(status::UNCONFIRMED) {
            return Confirm::AlreadyConfirmed;
        }
        let list = e.lag as u8;
        e.status &= !status::UNCONFIRMED;
        self.unlink(idx);
        self.link(idx, list);
        self.stats.confirmed += 1;
        Confirm::Confirmed
    }

    /// Remove every entry still unconfirmed: their packets were dropped.
    /// Call once per burst, after the last hook; returns how many went.
    /// Work is the number of entries the burst created and did not confirm.
    pub fn release_unconfirmed(&mut self) -> usize {
        let mut n = 0;
        loop {
            let head = self.lists[usize::from(UNCONFIRMED_LIST)].head;
            if head == NIL {
                return n;
            }
            self.remove_entry(head, Removal::Released);
            n += 1;
        }
    }

    /// Incremental garbage collection on the engine clock: releases the
    /// unconfirmed entries (so call it between bursts, never between a
    /// `track` and its `confirm`), then removes at most `budget` expired
    /// entries, continuing next call where this one stopped. Checking a
    /// list costs nothing (its head's deadline is cached), so the work is
    /// bounded by `budget` plus the burst's unconfirmed entries. Returns
    /// the number of expired entries removed.
    pub fn expire(&mut self, now_ns: u64, budget: usize) -> usize {
        let now = self.advance(now_ns);
        self.release_unconfirmed();
        let mut done = 0;
        for step in 0..LISTS {
            let l = (self.gc_cursor + step) % LISTS;
            if self.nonempty & (1 << l) == 0 {
                continue;
            }
            while done < budget && self.lists[l].head != NIL && self.lists[l].head_expires <= now {
                let head = self.lists[l].head;
                self.remove_entry(head, Removal::Expired);
                done += 1;
            }
            if done >= budget {
                self.gc_cursor = l;
                return done;
            }
        }
        self.gc_cursor = (self.gc_cursor + 1) % LISTS;
        done
    }

    /// Record that the entry was re-checked against policy version `v`.
    /// False for a stale handle.
    pub fn set_policy_version(&mut self, h: CtHandle, v: u32) -> bool {
        match self.resolve(h) {
            Some(idx) => {
                let e = &mut self.entries[idx as usize];
                if e.policy != v {
                    // Verdicts cached under the old version mean nothing now.
                    e.verdicts = [0; 2];
                }
                e.policy = v;
                true
            }
            None => false,
        }
    }

    /// The verdict cached for direction `dir` of the connection under
    /// policy version `policy`; 0 when none is (nothing cached, a stale
    /// handle, or the entry was last checked against another version).
    /// What the word means is the caller's (the firewall's flow verdict
    /// cache); the table only keeps it with the entry and forgets it when
    /// the entry's policy version changes.
    #[inline]
    pub fn cached_verdict(&self, h: CtHandle, dir: Dir, policy: u32) -> u32 {
        match self.entries.get(h.index as usize) {
            Some(e) if e.generation == h.generation && e.policy == policy => {
                e.verdicts[dir.index()]
            }
            _ => 0,
        }
    }

    /// Cache `verdict` for direction `dir` of the connection, if the entry
    /// is live and was checked against `policy` (else nothing is stored:
    /// the verdict would be judged under a version the entry is not).
    /// False when nothing was stored.
    #[inline]
    pub fn cache_verdict(&mut self, h: CtHandle, dir: Dir, policy: u32, verdict: u32) -> bool {
        match self.resolve(h) {
            Some(idx) if self.entries[idx as usize].policy == policy => {
                self.entries[idx as usize].verdicts[dir.index()] = verdict;
                true
            }
            _ => false,
        }
    }

    /// Delete an entry (`conntrack -D`; the firewall, when a re-check under
    /// a new policy refuses the connection). False for a stale handle.
    pub fn remove(&mut self, h: CtHandle) -> bool {
        match self.resolve(h) {
            Some(idx) => {
                self.remove_entry(idx, Removal::Removed);
                true
            }
            None => false,
        }
    }

    /// The entry a packet travels on, and which way, without creating or
    /// changing anything (an expired entry is not found).
    pub fn lookup(&self, info: &PacketInfo) -> Option<(CtHandle, Dir)> {
        self.lookup_tuple(&Tuple::from_packet(info)?)
    }

    /// The live entry tuple `t` travels on, and which way.
    pub fn lookup_tuple(&self, t: &Tuple) -> Option<(CtHandle, Dir)> {
        let (idx, dir) = self.find(t)?;
        let e = &self.entries[idx as usize];
        if e.expires <= self.now && !e.has(status::UNCONFIRMED) {
            return None;
        }
        Some((self.handle(idx), dir))
    }

    /// The entry behind a handle, as a listing shows it; `None` when stale.
    pub fn get(&self, h: CtHandle) -> Option<CtEntry> {
        self.resolve(h).map(|idx| self.describe(idx))
    }

    fn describe(&self, idx: u32) -> CtEntry {
        let e = &self.entries[idx as usize];
        let original = e.tuple();
        CtEntry {
            handle: self.handle(idx),
            original,
            reply: original.invert().unwrap_or(original),
            protocol: e.class(),
            tcp_state: (e.proto == TCP).then(|| TcpState::from_u8(e.state)),
            timeout_left_ns: e.expires.saturating_sub(self.now),
            seen_reply: e.has(status::SEEN_REPLY),
            assured: e.has(status::ASSURED),
            confirmed: !e.has(status::UNCONFIRMED),
            policy_version: e.policy,
            counters: self.acct.get(idx as usize).map(|a| {
                [
                    Counters {
                        packets: a[0],
                        bytes: a[1],
                    },
                    Counters {
                        packets: a[2],
                        bytes: a[3],
                    },
                ]
            }),
        }
    }

    /// Every live entry, in slot order (`conntrack -L`). This walks the whole
    /// capacity: a worker answering a listing request should hand it out in
    /// chunks with [`ConnTrack::iter_from`].
    pub fn iter(&self) -> impl Iterator<Item = CtEntry> + '_ {
        self.iter_from(0)
    }

    /// Live entries from slot `start` on; resume a chunked listing at the
    /// last handle's [`CtHandle::index`] + 1.
    pub fn iter_from(&self, start: u32) -> impl Iterator<Item = CtEntry> + '_ {
        (start..self.cfg.max_entries)
            .filter(|&i| self.entries[i as usize].has(status::LIVE))
            .map(|i| self.describe(i))
    }

    /// Counts per state, protocol and eviction group, fill and counters.
    /// O(number of lists), cheap enough for every `orbctl` poll.
    pub fn summary(&self) -> CtSummary {
        let mut groups = [0u32; 4];
        for l in 0..LISTS {
            groups[group_of_list(l as u8) as usize] += self.lists[l].len;
        }
        CtSummary {
            entries: self.live,
            max_entries: self.cfg.max_entries,
            unconfirmed: self.lists[usize::from(UNCONFIRMED_LIST)].len,
            unreplied: groups[Group::Unreplied as usize],
            replied: groups[Group::Replied as usize],
            closing: groups[Group::Closing as usize],
            assured: groups[Group::Assured as usize],
            per_proto: self.per_proto,
            tcp_states: self.tcp_states,
            memory_bytes: self.memory_bytes(),
            stats: self.stats,
        }
    }

    /// Check every internal invariant — free list, lists, index, counts —
    /// walking the whole table: for tests and debugging, not the fast path.
    ///
    /// # Errors
    /// A description of the first inconsistency found.
    pub fn audit(&self) -> Result<(), String> {
        let n = self.cfg.max_entries as usize;
        let mut on_list = vec![false; n];
        let mut free = 0usize;
        let mut f = self.free;
        while f != NIL {
            let i = f as usize;
            if i >= n || on_list[i] {
                return Err(format!("free list broken at {i}"));
            }
            if self.entries[i].has(status::LIVE) || self.entries[i].list != FREE_LIST {
                return Err(format!("live entry {i} on the free list"));
            }
            on_list[i] = true;
            free += 1;
            f = self.entries[i].next;
        }
        let mut linked = 0usize;
        for l in 0..=LISTS {
            let list = &self.lists[l];
            let (mut cur, mut prev, mut len) = (list.head, NIL, 0u32);
            while cur != NIL {
                let i = cur as usize;
                let e = &self.entries[i];
                if on_list[i] || usize::from(e.list) != l || e.prev != prev {
                    return Err(format!("list {l} broken at {i}"));
                }
                if !e.has(status::LIVE)
                    || e.has(status::UNCONFIRMED) != (l == usize::from(UNCONFIRMED_LIST))
                {
                    return Err(format!("entry {i} has the wrong status for list {l}"));
                }
                if l < LISTS && Self::group_of(e) != group_of_list(l as u8) {
                    return Err(format!("entry {i} is in the wrong group"));
                }
                on_list[i] = true;
                len += 1;
                prev = cur;
                cur = e.next;
            }
            if list.tail != prev || list.len != len || (self.nonempty >> l & 1 == 1) != (len > 0) {
                return Err(format!("list {l} header wrong"));
            }
            if len > 0 && list.head_expires != self.entries[list.head as usize].expires {
                return Err(format!("list {l} caches a stale head deadline"));
            }
            linked += len as usize;
        }
        if free + linked != n {
            return Err(format!("{} entries on no list", n - free - linked));
        }
        if linked != self.live as usize || self.index.len() != linked {
            return Err(format!(
                "live {} linked {linked} indexed {}",
                self.live,
                self.index.len()
            ));
        }
        let (mut proto, mut states) = ([0u32; 5], [0u32; 10]);
        for (i, e) in self.entries.iter().enumerate() {
            if !e.has(status::LIVE) {
                continue;
            }
            match self.find(&e.tuple()) {
                Some((j, Dir::Original)) if j as usize == i => {}
                other => return Err(format!("entry {i} found as {other:?}")),
            }
            proto[e.class().index()] += 1;
            if e.proto == TCP {
                states[usize::from(e.state)] += 1;
            }
        }
        if proto != self.per_proto || states != self.tcp_states {
            return Err("per-protocol or per-state counts drifted".into());
        }
        Ok(())
    }
}
