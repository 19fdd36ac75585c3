//! One tracked connection, packed into 120 bytes, and the classes that
//! decide its timeout and how readily it is evicted.

use crate::tcp::TcpTrack;
use crate::tuple::{Dir, ProtoClass, Tuple};

/// "No entry" in list links and the free list.
pub(crate) const NIL: u32 = u32::MAX;

/// Entry status bits (nf_conntrack's `IPS_*` that we need).
pub(crate) mod status {
    /// A packet was seen in the reply direction (`IPS_SEEN_REPLY`).
    pub(crate) const SEEN_REPLY: u8 = 0x01;
    /// Worth keeping: never evicted to make room (`IPS_ASSURED`).
    pub(crate) const ASSURED: u8 = 0x02;
    /// Created by a packet that has not been confirmed yet.
    pub(crate) const UNCONFIRMED: u8 = 0x04;
    /// The slot holds a connection (else it is on the free list).
    pub(crate) const LIVE: u8 = 0x08;
    /// IPv6 tuple.
    pub(crate) const IPV6: u8 = 0x10;
}

/// One connection: the original tuple, timers, links and the TCP tracker.
/// The reply tuple is not stored: without NAT it is the inverted original
/// (see the crate docs for where NAT's translated tuple will live).
///
/// `repr(C)` so that what a lookup, a refresh and the firewall's verdict
/// cache read — tuple, status, list, deadline, policy version, cached
/// verdicts — comes first, in the first 64 bytes; the list links (touched
/// on a relink) and the TCP tracker (read only for TCP) come after.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct Entry {
    /// Original-direction source address.
    pub(crate) src: Addr,
    /// Original-direction destination address.
    pub(crate) dst: Addr,
    /// Original source port / ICMP identifier.
    pub(crate) sport: u16,
    /// Original destination port / ICMP `type << 8 | code`.
    pub(crate) dport: u16,
    /// IP protocol.
    pub(crate) proto: u8,
    /// [`status`] bits.
    pub(crate) status: u8,
    /// TCP state ([`crate::TcpState`] as u8); unused by other protocols.
    pub(crate) state: u8,
    /// The list the entry is on ([`list_id`], [`UNCONFIRMED_LIST`] or [`FREE_LIST`]).
    pub(crate) list: u8,
    /// Engine time (ns) at which the entry dies unless refreshed.
    pub(crate) expires: u64,
    /// How far `expires` has moved past the deadline the entry had when it
    /// was last linked, in units of [`LAG_UNIT_NS`], rounded up; lets a
    /// refresh skip relinking (see `ConnTrack::settle`). While the entry is
    /// unconfirmed: the list it will join.
    pub(crate) lag: u16,
    /// Bumped when the slot is freed, so stale handles are detected.
    pub(crate) generation: u16,
    /// Policy version the entry was last checked against.
    pub(crate) policy: u32,
    /// Per direction, a verdict the firewall cached for this connection
    /// under policy version `policy` (opaque here; 0: none). Cleared when
    /// `policy` changes.
    pub(crate) verdicts: [u32; 2],
    /// Previous entry on the entry's list.
    pub(crate) prev: u32,
    /// Next entry on the entry's list (or on the free list).
    pub(crate) next: u32,
    /// TCP window tracking; UDP keeps its stream deadline here.
    pub(crate) tcp: TcpTrack,
}

const _: () = assert!(core::mem::size_of::<Entry>() == 120);

/// An address stored as two 64-bit halves: a `u128` field would align the
/// entry to 16 bytes and round its 120 up to 128.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Addr([u64; 2]);

impl Addr {
    #[inline]
    pub(crate) const fn new(a: u128) -> Addr {
        Addr([a as u64, (a >> 64) as u64])
    }

    #[inline]
    pub(crate) const fn get(self) -> u128 {
        (self.0[1] as u128) << 64 | self.0[0] as u128
    }
}

/// Unit of [`Entry::lag`]: 2^20 ns ≈ 1.05 ms, so a u16 spans 68 s.
pub(crate) const LAG_UNIT_NS: u64 = 1 << 20;

impl Entry {
    pub(crate) fn tuple(&self) -> Tuple {
        Tuple {
            src: self.src.get(),
            dst: self.dst.get(),
            src_port: self.sport,
            dst_port: self.dport,
            protocol: self.proto,
            ipv6: self.status & status::IPV6 != 0,
        }
    }

    pub(crate) fn set_tuple(&mut self, t: &Tuple) {
        self.src = Addr::new(t.src);
        self.dst = Addr::new(t.dst);
        self.sport = t.src_port;
        self.dport = t.dst_port;
        self.proto = t.protocol;
        if t.ipv6 {
            self.status |= status::IPV6;
        } else {
            self.status &= !status::IPV6;
        }
    }

    pub(crate) fn ipv6(&self) -> bool {
        self.status & status::IPV6 != 0
    }

    pub(crate) fn class(&self) -> ProtoClass {
        ProtoClass::of(self.proto, self.ipv6())
    }

    pub(crate) fn has(&self, bit: u8) -> bool {
        self.status & bit != 0
    }

    /// Does `t` travel on this connection, and which way? Reply-direction
    /// matching compares against the inverted original, field by field
    /// (no tuple is built).
    #[inline]
    pub(crate) fn matches(&self, t: &Tuple) -> Option<Dir> {
        if t.protocol != self.proto || t.ipv6 != self.ipv6() {
            return None;
        }
        match self.class() {
            ProtoClass::Tcp | ProtoClass::Udp => {
                if t.src == self.src.get()
                    && t.dst == self.dst.get()
                    && t.src_port == self.sport
                    && t.dst_port == self.dport
                {
                    Some(Dir::Original)
                } else if t.src == self.dst.get()
                    && t.dst == self.src.get()
                    && t.src_port == self.dport
                    && t.dst_port == self.sport
                {
                    Some(Dir::Reply)
                } else {
                    None
                }
            }
            ProtoClass::Icmp | ProtoClass::Icmpv6 => {
                if t.src_port != self.sport || t.icmp_code() != (self.dport as u8) {
                    return None;
                }
                let orig_type = (self.dport >> 8) as u8;
                if t.src == self.src.get() && t.dst == self.dst.get() && t.icmp_type() == orig_type
                {
                    Some(Dir::Original)
                } else if t.src == self.dst.get()
                    && t.dst == self.src.get()
                    && Some(t.icmp_type()) == crate::tuple::icmp_answer(orig_type, self.ipv6())
                {
                    Some(Dir::Reply)
                } else {
                    None
                }
            }
            ProtoClass::Generic => {
                if t.src == self.src.get() && t.dst == self.dst.get() {
                    Some(Dir::Original)
                } else if t.src == self.dst.get() && t.dst == self.src.get() {
                    Some(Dir::Reply)
                } else {
                    None
                }
            }
        }
    }

    /// The destination address of direction `dir`'s tuple.
    pub(crate) fn dst_of(&self, dir: Dir) -> u128 {
        match dir {
            Dir::Original => self.dst.get(),
            Dir::Reply => self.src.get(),
        }
    }
}

/// Which timeout an entry runs on. Each class has one duration, so a list
/// of entries of one class, appended in time order, is in deadline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TimeoutClass {
    TcpSynSent,
    TcpSynRecv,
    TcpEstablished,
    TcpFinWait,
    TcpCloseWait,
    TcpLastAck,
    TcpTimeWait,
    TcpClose,
    TcpSynSent2,
    TcpRetrans,
    TcpUnack,
    Udp,
    UdpStream,
    Icmp,
    Generic,
}

/// Number of timeout classes.
pub(crate) const CLASSES: usize = 15;

/// How readily an entry is evicted when the table is full: lower first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Group {
    /// Never saw a reply: SYN floods, scans, one-way probes.
    Unreplied = 0,
    /// Saw a reply but is not assured yet.
    Replied = 1,
    /// Assured TCP that is closing (FIN/RST seen): Linux's GC drops these
    /// early above 95 % fill.
    Closing = 2,
    /// Assured: never evicted to make room.
    Assured = 3,
}

/// Number of groups.
pub(crate) const GROUPS: usize = 4;

/// Class lists, then the unconfirmed list.
pub(crate) const LISTS: usize = CLASSES * GROUPS;
/// The list of entries created by packets not yet confirmed.
pub(crate) const UNCONFIRMED_LIST: u8 = LISTS as u8;
/// `Entry::list` of a free slot.
pub(crate) const FREE_LIST: u8 = 0xff;

pub(crate) const fn list_id(group: Group, class: TimeoutClass) -> u8 {
    group as u8 * CLASSES as u8 + class as u8
}

pub(crate) const fn group_of_list(list: u8) -> Group {
    match list as usize / CLASSES {
        0 => Group::Unreplied,
        1 => Group::Replied,
        2 => Group::Closing,
        _ => Group::Assured,
    }
}

pub(crate) const fn class_of_list(list: u8) -> TimeoutClass {
    const ALL: [TimeoutClass; CLASSES] = [
        TimeoutClass::TcpSynSent,
        TimeoutClass::TcpSynRecv,
        TimeoutClass::TcpEstablished,
        TimeoutClass::TcpFinWait,
        TimeoutClass::TcpCloseWait,
        TimeoutClass::TcpLastAck,
        TimeoutClass::TcpTimeWait,
        TimeoutClass::TcpClose,
        TimeoutClass::TcpSynSent2,
        TimeoutClass::TcpRetrans,
        TimeoutClass::TcpUnack,
        TimeoutClass::Udp,
        TimeoutClass::UdpStream,
        TimeoutClass::Icmp,
        TimeoutClass::Generic,
    ];
    ALL[list as usize % CLASSES]
}
