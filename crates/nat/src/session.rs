//! One worker's NAT sessions: a bounded table of translated flows, found
//! from either side, expiring on the engine clock.
//!
//! A session is one flow between an inside endpoint and a remote one,
//! through one mapping (RFC 4787's terms): its inside tuple (protocol,
//! inside address:port, remote address:port) and its outside tuple
//! (protocol, external address:port, remote address:port). Two
//! open-addressing indexes (linear probing, backward-shift deletion, so no
//! tombstones and no rehash) find it from a packet of either direction; the
//! entries sit in a preallocated slab. Nothing allocates after
//! [`Sessions::new`]: a full table is a counted drop, never growth.
//!
//! Timers: one FIFO list per timeout class (UDP, TCP established, TCP
//! transitory, ICMP), each class one timeout, so the list is in deadline
//! order as long as entries are appended when refreshed. A refresh only
//! rewrites the deadline; the collector moves a refreshed head to the tail
//! when it meets it, and stops at the first unexpired entry that was not
//! refreshed — everything behind it is younger.

/// Sentinel for "no entry" in the links.
const NIL: u32 = u32::MAX;

/// Timeout classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// UDP (RFC 4787 REQ-5: at least 2 minutes).
    Udp = 0,
    /// TCP established (RFC 5382 REQ-5: at least 2 h 4 min).
    TcpEstablished = 1,
    /// TCP opening or closing (RFC 5382 REQ-5: at least 4 minutes).
    TcpTransitory = 2,
    /// ICMP query (RFC 5508 REQ-1: at least 60 s).
    Icmp = 3,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 4] = [
        Class::Udp,
        Class::TcpEstablished,
        Class::TcpTransitory,
        Class::Icmp,
    ];

    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Udp => "udp",
            Class::TcpEstablished => "tcp_established",
            Class::TcpTransitory => "tcp_transitory",
            Class::Icmp => "icmp",
        }
    }
}

/// Timeouts per class, in seconds, with the RFCs' floors as defaults
/// (UDP 5 minutes, RFC 4787 REQ-5's recommended default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Per [`Class`], ns.
    pub ns: [u64; 4],
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            ns: [300, 7440, 240, 60].map(|s| s * 1_000_000_000),
        }
    }
}

/// The least each class may be set to (the RFCs' MUSTs).
pub const MIN_TIMEOUTS_S: [u64; 4] = [120, 7440, 240, 60];

/// A flow's tuple on one side: protocol, our-side address and port, the
/// remote's address and port (ICMP: the identifier, remote port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Key {
    /// IP protocol.
    pub proto: u8,
    /// The inside (LAN key) or external (WAN key) address.
    pub addr: u32,
    /// Its port.
    pub port: u16,
    /// The remote's address.
    pub remote: u32,
    /// The remote's port.
    pub rport: u16,
}

impl Key {
    #[inline]
    fn hash(&self) -> u64 {
        let a = (u64::from(self.addr) << 32) | u64::from(self.remote);
        let b =
            (u64::from(self.proto) << 32) | (u64::from(self.port) << 16) | u64::from(self.rport);
        let h = (a ^ 0x243f_6a88_85a3_08d3).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (b ^ 0x1319_8a2e_0370_7344).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h ^ (h >> 29)
    }
}

/// How the session came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Source NAT of an outbound flow (or an inbound one a filter let in
    /// to an existing mapping): it holds a port of the port table.
    Mapped,
    /// A port forward (destination NAT): the port is the rule's.
    Forward,
}

/// One session.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    /// Inside side.
    pub lan: Key,
    /// Outside side.
    pub wan: Key,
    /// When it expires, engine ns.
    pub deadline: u64,
    /// Its timeout class.
    pub class: Class,
    /// How it came to be.
    pub kind: Kind,
    /// When it was made, engine ns.
    pub created: u64,
    /// TCP: a FIN or RST was seen (it stays transitory).
    pub closing: bool,
    /// The deadline when it was last linked at its list's tail: a later
    /// deadline means refreshed since, so out of place in the list.
    linked: u64,
    prev: u32,
    next: u32,
    live: bool,
}

/// Why a session could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A handle to a live session.
pub type Id = u32;

/// One open-addressing index of entry numbers.
#[derive(Debug)]
struct Index {
    slots: Box<[u32]>,
    mask: usize,
}

impl Index {
    fn new(cap: usize) -> Index {
        let n = (cap * 2).next_power_of_two().max(16);
        Index {
            slots: vec![NIL; n].into_boxed_slice(),
            mask: n - 1,
        }
    }

    fn find(&self, k: &Key, key_of: impl Fn(u32) -> Key) -> Option<u32> {
        let mut i = k.hash() as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == NIL {
                return None;
            }
            if key_of(s) == *k {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, k: &Key, e: u32) {
        let mut i = k.hash() as usize & self.mask;
        while self.slots[i] != NIL {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = e;
    }

    /// Remove entry `e` (whose key is `k`), shifting back the entries of
    /// its run that hashed at or before the hole (Knuth's algorithm R).
    fn remove(&mut self, k: &Key, e: u32, key_of: impl Fn(u32) -> Key) {
        let mut i = k.hash() as usize & self.mask;
        while self.slots[i] != e {
            if self.slots[i] == NIL {
                return;
            }
            i = (i + 1) & self.mask;
        }
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let s = self.slots[j];
            if s == NIL {
                break;
            }
            let home = key_of(s).hash() as usize & self.mask;
            // Move s into the hole if its home is not in (hole, j].
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = NIL;
    }
}

/// The table.
#[derive(Debug)]
pub struct Sessions {
    entries: Box<[Session]>,
    free: Vec<u32>,
    lan: Index,
    wan: Index,
    lists: [(u32, u32); 4],
    len: usize,
}

fn blank() -> Session {
    Session {
        lan: Key::default(),
        wan: Key::default(),
        deadline: 0,
        class: Class::Udp,
        kind: Kind::Mapped,
        created: 0,
        closing: false,
        linked: 0,
        prev: NIL,
        next: NIL,
        live: false,
    }
}

impl Sessions {
    /// Room for `max` sessions, all allocated now.
    pub fn new(max: usize) -> Sessions {
        let max = max.max(1);
        Sessions {
            entries: vec![blank(); max].into_boxed_slice(),
            free: (0..max as u32).rev().collect(),
            lan: Index::new(max),
            wan: Index::new(max),
            lists: [(NIL, NIL); 4],
            len: 0,
        }
    }

    /// Sessions now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No sessions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many it can hold.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// The session whose inside tuple is `k`.
    #[inline]
    pub fn by_lan(&self, k: &Key) -> Option<Id> {
        let e = &self.entries;
        self.lan.find(k, |i| e[i as usize].lan)
    }

    /// Prefetch the index slot where inside tuple `k` (`wan`: outside
    /// tuple) is looked for first, for a whole burst before any lookup, so
    /// the burst's cache misses overlap instead of following one another
    /// (VPP prefetches its bihash buckets the same way).
    #[inline]
    pub fn prefetch_slot(&self, k: &Key, wan: bool) -> usize {
        let ix = if wan { &self.wan } else { &self.lan };
        let i = k.hash() as usize & ix.mask;
        orbital_cpu::prefetch(&ix.slots[i]);
        i
    }

    /// Prefetch the entry the slot [`Sessions::prefetch_slot`] returned
    /// names (the lookup's second miss), once that slot has arrived.
    #[inline]
    pub fn prefetch_entry(&self, i: usize, wan: bool) {
        let ix = if wan { &self.wan } else { &self.lan };
        if let Some(e) = ix.slots.get(i).and_then(|&s| self.entries.get(s as usize)) {
            orbital_cpu::prefetch(e);
        }
    }

    /// The session whose outside tuple is `k`.
    #[inline]
    pub fn by_wan(&self, k: &Key) -> Option<Id> {
        let e = &self.entries;
        self.wan.find(k, |i| e[i as usize].wan)
    }

    /// A session.
    #[inline]
    pub fn get(&self, id: Id) -> &Session {
        &self.entries[id as usize]
    }

    /// Make a session expiring `timeout_ns` from `now`.
    ///
    /// # Errors
    /// [`Full`] when the table holds its maximum.
    pub fn insert(
        &mut self,
        lan: Key,
        wan: Key,
        kind: Kind,
        class: Class,
        now: u64,
        timeout_ns: u64,
    ) -> Result<Id, Full> {
        let id = self.free.pop().ok_or(Full)?;
        self.entries[id as usize] = Session {
            lan,
            wan,
            deadline: now.saturating_add(timeout_ns),
            class,
            kind,
            created: now,
            closing: false,
            linked: 0,
            prev: NIL,
            next: NIL,
            live: true,
        };
        self.lan.insert(&lan, id);
        self.wan.insert(&wan, id);
        self.link(id);
        self.len += 1;
        Ok(id)
    }

    /// Push the deadline to `timeout_ns` from `now`, in class `class`
    /// (`closing`: a TCP FIN or RST was seen).
    #[inline]
    pub fn refresh(&mut self, id: Id, class: Class, now: u64, timeout_ns: u64, closing: bool) {
        self.entries[id as usize].closing |= closing;
        if self.entries[id as usize].class != class {
            self.unlink(id);
            self.entries[id as usize].class = class;
            self.link(id);
        }
        self.entries[id as usize].deadline = now.saturating_add(timeout_ns);
    }

    fn link(&mut self, id: Id) {
        let c = self.entries[id as usize].class as usize;
        let tail = self.lists[c].1;
        {
            let e = &mut self.entries[id as usize];
            e.prev = tail;
            e.next = NIL;
            e.linked = e.deadline;
        }
        if tail == NIL {
            self.lists[c].0 = id;
        } else {
            self.entries[tail as usize].next = id;
        }
        self.lists[c].1 = id;
    }

    fn unlink(&mut self, id: Id) {
        let (c, prev, next) = {
            let e = &self.entries[id as usize];
            (e.class as usize, e.prev, e.next)
        };
        if prev == NIL {
            self.lists[c].0 = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[c].1 = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
    }

    /// End a session; returns it.
    pub fn remove(&mut self, id: Id) -> Session {
        let s = self.entries[id as usize];
        if !s.live {
            return s;
        }
        self.unlink(id);
        let e = &self.entries;
        self.lan.remove(&s.lan, id, |i| e[i as usize].lan);
        let e = &self.entries;
        self.wan.remove(&s.wan, id, |i| e[i as usize].wan);
        self.entries[id as usize].live = false;
        self.free.push(id);
        self.len -= 1;
        s
    }

    /// Collect expired sessions, looking at no more than `budget` entries;
    /// each one removed is passed to `gone`. Returns how many were removed.
    pub fn expire(&mut self, now: u64, budget: usize, mut gone: impl FnMut(&Session)) -> usize {
        let mut looked = 0;
        let mut removed = 0;
        for c in 0..4 {
            while looked < budget {
                let head = self.lists[c].0;
                if head == NIL {
                    break;
                }
                looked += 1;
                let e = &self.entries[head as usize];
                if e.deadline <= now {
                    let s = self.remove(head);
                    gone(&s);
                    removed += 1;
                } else if e.deadline != e.linked {
                    // Refreshed since it was linked: to the tail, where
                    // its new deadline belongs.
                    self.unlink(head);
                    self.link(head);
                } else {
                    // The oldest deadline of the class, not yet due.
                    break;
                }
            }
        }
        removed
    }

    /// Every live session (for listings; not on the fast path).
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.entries.iter().filter(|s| s.live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: u32, p: u16) -> Key {
        Key {
            proto: 17,
            addr: a,
            port: p,
            remote: 0x0808_0808,
            rport: 53,
        }
    }

    #[test]
    fn found_from_both_sides_bounded_and_expiring_on_time() {
        let mut t = Sessions::new(64);
        let s = 1_000_000_000u64;
        for i in 0..64u16 {
            t.insert(
                key(1, i),
                key(2, 1000 + i),
                Kind::Mapped,
                Class::Udp,
                0,
                300 * s,
            )
            .unwrap();
        }
        assert_eq!(
            t.insert(key(1, 99), key(2, 99), Kind::Mapped, Class::Udp, 0, s),
            Err(Full)
        );
        let id = t.by_lan(&key(1, 7)).unwrap();
        assert_eq!(t.by_wan(&key(2, 1007)), Some(id));
        // Keep one alive; the rest expire at 300 s, not before.
        t.refresh(id, Class::Udp, 200 * s, 300 * s, false);
        assert_eq!(t.expire(299 * s, 1000, |_| {}), 0);
        let mut gone = Vec::new();
        assert_eq!(t.expire(300 * s, 1000, |x| gone.push(x.lan.port)), 63);
        assert!(!gone.contains(&7));
        assert_eq!(t.len(), 1);
        assert_eq!(t.by_lan(&key(1, 7)), Some(id));
        assert!(t.by_lan(&key(1, 8)).is_none() && t.by_wan(&key(2, 1008)).is_none());
        assert_eq!(t.expire(500 * s, 1000, |_| {}), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn removal_keeps_every_other_entry_findable() {
        // Many keys in a small index: long runs, removals in the middle.
        let mut t = Sessions::new(200);
        let mut ids = Vec::new();
        for i in 0..200u16 {
            ids.push(
                t.insert(key(3, i), key(4, i), Kind::Mapped, Class::Udp, 0, 1)
                    .unwrap(),
            );
        }
        for (i, id) in ids.iter().enumerate() {
            if i % 3 == 0 {
                t.remove(*id);
            }
        }
        for i in 0..200u16 {
            let want = usize::from(i) % 3 != 0;
            assert_eq!(t.by_lan(&key(3, i)).is_some(), want, "{i}");
            assert_eq!(t.by_wan(&key(4, i)).is_some(), want, "{i}");
        }
    }
}
