//! Packet trace (VPP's `trace add` / `show trace`, without its fixed caps):
//! record, for the next N packets a worker receives (optionally only those
//! matching a filter), every node the packet passed, the verdict after it,
//! and the node's own detail ([`Note`], rendered by the node's formatter).
//! N is the caller's choice.
//!
//! Requests are published to workers through an atomic pointer; each worker
//! claims packets against its own share of the budget, fills fixed-size
//! records (no allocation while tracing) and hands finished ones over a ring.
//! The reader keeps them in a bounded [`TraceLog`] until it is cleared, as
//! `vppctl show trace` / `clear trace` do: showing does not consume.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use orbital_fib::{IpPrefix, PortId};
use orbital_io::{RingRx, RingTx, ring};
use orbital_wire::{IpProtocol, L3Kind, PacketInfo};

use crate::verdict::{PacketCtx, Verdict};

/// Which packets to trace (every field optional: all must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Ingress port.
    pub port: Option<PortId>,
    /// Source inside this prefix.
    pub src: Option<IpPrefix>,
    /// Destination inside this prefix.
    pub dst: Option<IpPrefix>,
    /// IP protocol number.
    pub protocol: Option<u8>,
    /// Source port.
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
}

impl TraceFilter {
    /// Does a packet from `port` with summary `info` match?
    pub fn matches(&self, port: PortId, info: &PacketInfo) -> bool {
        self.port.is_none_or(|p| p == port)
            && self
                .src
                .is_none_or(|p| info.src_ip().is_some_and(|a| p.contains(a)))
            && self
                .dst
                .is_none_or(|p| info.dst_ip().is_some_and(|a| p.contains(a)))
            && self.protocol.is_none_or(|p| {
                p == info.protocol && matches!(info.l3, L3Kind::Ipv4 | L3Kind::Ipv6)
            })
            && self
                .src_port
                .is_none_or(|p| info.has_l4() && p == info.src_port)
            && self
                .dst_port
                .is_none_or(|p| info.has_l4() && p == info.dst_port)
    }
}

/// A trace request: the next `count` matching packets, per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    /// Request id (to tell a new request from the last one).
    pub id: u64,
    /// Packets to trace per worker.
    pub count: usize,
    /// Which packets.
    pub filter: TraceFilter,
}

/// Most node steps kept per packet (a packet passing more nodes keeps the
/// first ones and counts the rest in `TraceRecord::more`).
pub const MAX_STEPS: usize = 24;
/// Leading frame bytes kept per packet.
pub const HEAD_BYTES: usize = 64;

/// A node's own detail about a traced packet (VPP's per-node trace struct):
/// a few words the node fills and the function that renders them. Fixed
/// size, so tracing never allocates on a worker; rendered off the fast path.
#[derive(Clone, Copy)]
pub struct Note {
    /// The node's words.
    pub data: [u64; 3],
    /// Renders them.
    pub fmt: fn(&[u64; 3]) -> String,
}

impl core::fmt::Debug for Note {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&(self.fmt)(&self.data))
    }
}

/// One node's view of a traced packet.
#[derive(Debug, Clone, Copy)]
pub struct TraceStep {
    /// The node.
    pub node: &'static str,
    /// The verdict after it.
    pub verdict: Verdict,
    /// Egress port decided so far (if transmitting).
    pub egress: Option<PortId>,
    /// The node's detail, if it gave one.
    pub note: Option<Note>,
}

/// A traced packet.
#[derive(Debug, Clone)]
pub struct TraceRecord {
    /// Request it belongs to.
    pub request: u64,
    /// Worker that traced it.
    pub worker: u16,
    /// Sequence number (replay: index in the input capture).
    pub seq: u64,
    /// Receive time, ns.
    pub timestamp_ns: u64,
    /// Ingress port.
    pub port: PortId,
    /// Frame length.
    pub len: usize,
    /// Leading bytes.
    pub head: [u8; HEAD_BYTES],
    /// Parse summary.
    pub info: PacketInfo,
    /// Steps.
    pub steps: [Option<TraceStep>; MAX_STEPS],
    /// Steps beyond [`MAX_STEPS`], not kept.
    pub more: u16,
}

impl TraceRecord {
    /// Render like `show trace`, one line per stage.
    pub fn render(&self, port_name: &dyn Fn(PortId) -> String) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "packet seq {} on {} (worker {}), {} bytes, t={}.{:09}",
            self.seq,
            port_name(self.port),
            self.worker,
            self.len,
            self.timestamp_ns / 1_000_000_000,
            self.timestamp_ns % 1_000_000_000
        );
        let _ = writeln!(o, "  {}", describe(&self.info));
        for s in self.steps.iter().flatten() {
            let v = match s.verdict {
                Verdict::Continue => "continue".to_string(),
                Verdict::Drop(r) => format!("drop: {}", r.name()),
                Verdict::Punt(p) => format!("punt to slow path: {}", p.name()),
                Verdict::Tx => format!("transmit on {}", s.egress.map_or("?".into(), port_name)),
                Verdict::Consumed => "consumed (replaced by copies or fragments)".to_string(),
                Verdict::Handoff { worker, .. } => format!("hand off to worker {worker}"),
            };
            let _ = writeln!(o, "  {:<14}{v}", s.node);
            if let Some(n) = &s.note {
                let _ = writeln!(o, "  {:<14}  {}", "", (n.fmt)(&n.data));
            }
        }
        if self.more > 0 {
            let _ = writeln!(o, "  ... {} more steps not kept", self.more);
        }
        let hex: Vec<String> = self.head[..self.len.min(HEAD_BYTES)]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(o, "  bytes  {}", hex.join(""));
        o
    }
}

/// One line about a parsed packet.
pub fn describe(i: &PacketInfo) -> String {
    let vlan = if i.vlan_count > 0 {
        format!("vlan {} ", i.vlans[0].vid())
    } else {
        String::new()
    };
    match i.l3 {
        L3Kind::Ipv4 | L3Kind::Ipv6 => {
            let fam = if i.l3 == L3Kind::Ipv4 { "IPv4" } else { "IPv6" };
            let p = IpProtocol::from(i.protocol);
            let (s, d) = (
                i.src_ip().unwrap_or(core::net::IpAddr::from([0, 0, 0, 0])),
                i.dst_ip().unwrap_or(core::net::IpAddr::from([0, 0, 0, 0])),
            );
            let frag = if i.frag.is_fragment() {
                format!(
                    " frag off {}{}",
                    i.frag.offset,
                    if i.frag.more { " +" } else { "" }
                )
            } else {
                String::new()
            };
            if i.has_l4() && matches!(p, IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp) {
                format!(
                    "{vlan}{fam} {} {s}:{} -> {d}:{} ttl {} len {}{frag}",
                    p.name(),
                    i.src_port,
                    i.dst_port,
                    i.ttl,
                    i.l3_len
                )
            } else if i.has_l4() && matches!(p, IpProtocol::Icmp | IpProtocol::Icmpv6) {
                format!(
                    "{vlan}{fam} {} {s} -> {d} type {} code {} ttl {} len {}{frag}",
                    p.name(),
                    i.icmp_type(),
                    i.icmp_code(),
                    i.ttl,
                    i.l3_len
                )
            } else {
                format!(
                    "{vlan}{fam} {} {s} -> {d} ttl {} len {}{frag}",
                    p.name(),
                    i.ttl,
                    i.l3_len
                )
            }
        }
        L3Kind::Arp => format!("{vlan}ARP"),
        L3Kind::Other => format!("{vlan}EtherType {:#06x}", i.ethertype),
        L3Kind::None => "unparsed".into(),
    }
}

/// The trace control shared by the API and the workers.
#[derive(Debug, Default)]
pub struct TraceControl {
    request: ArcSwapOption<TraceRequest>,
    next_id: AtomicU64,
}

impl TraceControl {
    /// Start tracing the next `count` matching packets on every worker;
    /// returns the request id.
    pub fn start(&self, count: usize, filter: TraceFilter) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.request
            .store(Some(Arc::new(TraceRequest { id, count, filter })));
        id
    }

    /// Stop tracing.
    pub fn stop(&self) {
        self.request.store(None);
    }

    /// The active request.
    pub fn current(&self) -> Option<Arc<TraceRequest>> {
        self.request.load_full()
    }
}

/// A worker's side of the trace.
#[derive(Debug)]
pub struct WorkerTrace {
    control: Arc<TraceControl>,
    request: Option<Arc<TraceRequest>>,
    left: usize,
    out: RingTx<TraceRecord>,
    open: Vec<(usize, TraceRecord)>,
    worker: u16,
}

/// Reader end of one worker's finished records.
pub type TraceReader = RingRx<TraceRecord>;

impl WorkerTrace {
    /// A worker's trace state and the reader of its records (ring of
    /// `capacity` finished records; more than that unread are dropped).
    pub fn new(
        control: Arc<TraceControl>,
        worker: u16,
        capacity: usize,
    ) -> (WorkerTrace, TraceReader) {
        let (out, rx, _) = ring(capacity);
        (
            WorkerTrace {
                control,
                request: None,
                left: 0,
                out,
                open: Vec::with_capacity(256),
                worker,
            },
            rx,
        )
    }

    /// At the start of a batch: pick up a new request. Cheap when idle (one
    /// atomic load).
    #[inline]
    pub fn begin_batch(&mut self) -> bool {
        let cur = self.control.request.load();
        match (&*cur, &self.request) {
            (None, None) => return false,
            (None, Some(_)) => {
                self.request = None;
                self.left = 0;
            }
            (Some(r), mine) if mine.as_ref().is_none_or(|m| m.id != r.id) => {
                self.left = r.count;
                self.request = Some(r.clone());
            }
            _ => {}
        }
        self.left > 0
    }

    /// After parsing: decide whether packet `i` is traced.
    pub fn consider(&mut self, i: usize, pkt: &orbital_buf::Packet, ctx: &mut PacketCtx) {
        let Some(req) = &self.request else { return };
        if self.left == 0 || !req.filter.matches(PortId(pkt.meta.port), &ctx.info) {
            return;
        }
        self.left -= 1;
        ctx.traced = true;
        let mut head = [0u8; HEAD_BYTES];
        let n = pkt.len().min(HEAD_BYTES);
        head[..n].copy_from_slice(&pkt[..n]);
        self.open.push((
            i,
            TraceRecord {
                request: req.id,
                worker: self.worker,
                seq: pkt.meta.seq,
                timestamp_ns: pkt.meta.timestamp_ns,
                port: PortId(pkt.meta.port),
                len: pkt.len(),
                head,
                info: ctx.info,
                steps: [None; MAX_STEPS],
                more: 0,
            },
        ));
    }

    /// Start a record for a packet that enters the graph other than by
    /// receive (resolved, handed off, made by the router) and is marked
    /// traced already: its steps go on a record of its own.
    pub fn adopt(&mut self, i: usize, pkt: &orbital_buf::Packet, ctx: &PacketCtx) {
        let Some(req) = &self.request else { return };
        let mut head = [0u8; HEAD_BYTES];
        let n = pkt.len().min(HEAD_BYTES);
        head[..n].copy_from_slice(&pkt[..n]);
        self.open.push((
            i,
            TraceRecord {
                request: req.id,
                worker: self.worker,
                seq: pkt.meta.seq,
                timestamp_ns: pkt.meta.timestamp_ns,
                port: PortId(pkt.meta.port),
                len: pkt.len(),
                head,
                info: ctx.info,
                steps: [None; MAX_STEPS],
                more: 0,
            },
        ));
    }

    /// After node `node` ran over the packets `sel` of the burst: record
    /// the traced ones' verdicts and the node's notes (`notes`: packet
    /// index and note).
    pub fn step(
        &mut self,
        node: &'static str,
        sel: &[u8],
        ctx: &[PacketCtx],
        notes: &[(u8, Note)],
    ) {
        for (i, rec) in &mut self.open {
            if !sel.iter().any(|&s| usize::from(s) == *i) {
                continue;
            }
            let Some(c) = ctx.get(*i) else { continue };
            let note = notes
                .iter()
                .find(|(j, _)| usize::from(*j) == *i)
                .map(|&(_, n)| n);
            match rec.steps.iter_mut().find(|s| s.is_none()) {
                Some(slot) => {
                    *slot = Some(TraceStep {
                        node,
                        verdict: c.verdict,
                        egress: (matches!(c.verdict, Verdict::Tx)).then_some(c.egress.port),
                        note,
                    })
                }
                None => rec.more = rec.more.saturating_add(1),
            }
        }
    }

    /// True if any packet of the batch is traced.
    #[inline]
    pub fn active(&self) -> bool {
        !self.open.is_empty()
    }

    /// At the end of a batch: hand finished records to the reader.
    pub fn end_batch(&mut self) {
        for (_, rec) in self.open.drain(..) {
            let _ = self.out.push(rec);
        }
    }
}

/// Finished trace records kept for the operator until cleared: reading
/// them does not remove them. Bounded: when full, the oldest record is
/// dropped and counted, so a long trace cannot grow without limit and the
/// reader still learns that something is missing.
#[derive(Debug)]
pub struct TraceLog {
    records: VecDeque<TraceRecord>,
    capacity: usize,
    dropped: u64,
}

impl TraceLog {
    /// A log keeping at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> TraceLog {
        TraceLog {
            records: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Move what the workers finished into the log, each call's new records
    /// in (sequence, worker) order after those already kept.
    pub fn collect(&mut self, readers: &mut [TraceReader]) {
        let mut new = Vec::new();
        for r in readers {
            while let Some(t) = r.pop() {
                new.push(t);
            }
        }
        new.sort_by_key(|t| (t.seq, t.worker));
        for t in new {
            self.push(t);
        }
    }

    /// Keep `rec`, dropping (and counting) the oldest record if full.
    pub fn push(&mut self, rec: TraceRecord) {
        if self.records.len() >= self.capacity {
            self.records.pop_front();
            self.dropped += 1;
        }
        self.records.push_back(rec);
    }

    /// The records kept, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &TraceRecord> {
        self.records.iter()
    }

    /// Records kept.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records dropped because the log was full, since the last clear.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forget every record and the drop count (`clear trace`).
    pub fn clear(&mut self) {
        self.records.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> TraceRecord {
        TraceRecord {
            request: 1,
            worker: 0,
            seq,
            timestamp_ns: 0,
            port: PortId(0),
            len: 0,
            head: [0; HEAD_BYTES],
            info: PacketInfo::default(),
            steps: [None; MAX_STEPS],
            more: 0,
        }
    }

    #[test]
    fn the_log_keeps_records_until_cleared_and_drops_the_oldest_when_full() {
        let (mut tx, rx, _) = ring(8);
        let mut readers = [rx];
        let mut log = TraceLog::new(3);
        for s in [2, 1] {
            assert!(tx.push(record(s)).is_ok());
        }
        log.collect(&mut readers);
        let seqs = |l: &TraceLog| l.records().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&log), [1, 2], "in sequence order");
        log.collect(&mut readers);
        assert_eq!(seqs(&log), [1, 2], "reading again keeps them");
        for s in [3, 4, 5] {
            assert!(tx.push(record(s)).is_ok());
        }
        log.collect(&mut readers);
        assert_eq!(seqs(&log), [3, 4, 5], "bounded: the oldest went");
        assert_eq!(log.dropped(), 2, "and were counted");
        log.clear();
        assert!(log.is_empty());
        assert_eq!(log.dropped(), 0);
    }
}
