//! Virtual reassembly for the stateful NAT (RFC 4787 REQ-14: a NAT MUST
//! handle fragments in order and out of order; RFC 5382 and RFC 5508 the
//! same for TCP and ICMP).
//!
//! Only the first fragment of a datagram carries ports, so only it can
//! find the mapping; the later ones are translated by what the first one
//! found. Outbound that needs no state (the external address of an inside
//! host is the same for all its flows: paired pooling), inbound it does:
//! the external address hides many inside hosts. Nothing is reassembled —
//! each fragment is translated and forwarded as it is (the virtual part).
//!
//! A NIC hashes every fragment by its addresses alone, so a datagram's
//! fragments all reach one worker, which may not be the one owning the
//! flow's session (hashed with ports). That worker routes: it sends the
//! first fragment to the owner and keeps, per datagram, where it went, so
//! the later ones follow it over the same ring (in order, after it). The
//! owner translates the first fragment through the session and keeps the
//! inside address for the later ones.
//!
//! Later fragments that arrive before their first are held, copied out of
//! their buffers (no pool buffer is pinned), and go through the graph
//! again when the first has been seen. Everything is bounded: [`ENTRIES`]
//! datagrams, [`HELD`] held fragments, [`TIMEOUT_NS`] per datagram (RFC
//! 791's reassembly timer is "15 seconds" as a recommended lower bound for
//! the initial setting); past any bound a fragment is dropped
//! (`nat-fragment`), counted, never waited for.

use std::collections::HashMap;

use orbital_buf::Meta;
use orbital_graph::PacketCtx;

/// Datagrams tracked per worker.
pub const ENTRIES: usize = 1024;

/// Fragments held per worker waiting for their first fragment.
pub const HELD: usize = 64;

/// How long a datagram's entry (and a held fragment) lives.
pub const TIMEOUT_NS: u64 = 15_000_000_000;

/// A datagram: RFC 791 §3.2's (source, destination, protocol,
/// identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatagramKey {
    /// Source address.
    pub src: u32,
    /// Destination (an external address).
    pub dst: u32,
    /// IP identification.
    pub ident: u16,
    /// IP protocol.
    pub proto: u8,
}

/// What the first fragment of a datagram found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent to this worker, which owns its flow.
    Owner(u16),
    /// Translated here: later fragments go to this inside address.
    Inside(u32),
    /// Not a NAT flow (for the router itself): later fragments pass as
    /// they are.
    Pass,
    /// Refused (filtered, no mapping): later fragments are dropped too.
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    fate: Fate,
    deadline: u64,
}

/// A later fragment waiting for its datagram's first.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// Its datagram.
    pub key: DatagramKey,
    /// The frame, copied.
    pub frame: Vec<u8>,
    /// Its metadata (ingress port, hash).
    pub meta: Meta,
    /// Its context as it reached `nat-in`.
    pub ctx: PacketCtx,
    deadline: u64,
}

/// One worker's fragment state.
#[derive(Debug, Default)]
pub struct Fragments {
    entries: HashMap<DatagramKey, Entry>,
    held: Vec<Waiting>,
    /// Held fragments whose first fragment came: for the node to put back
    /// into the graph.
    pub ready: Vec<Waiting>,
    /// Fragments refused for a full table or hold, or expired.
    pub dropped: u64,
}

impl Fragments {
    /// State with its memory reserved.
    pub fn new() -> Fragments {
        Fragments {
            entries: HashMap::with_capacity(ENTRIES),
            held: Vec::with_capacity(HELD),
            ready: Vec::with_capacity(HELD),
            dropped: 0,
        }
    }

    /// What the first fragment of `key` found, if it came (and has not
    /// expired).
    pub fn fate(&self, key: &DatagramKey, now: u64) -> Option<Fate> {
        self.entries
            .get(key)
            .filter(|e| e.deadline > now)
            .map(|e| e.fate)
    }

    /// The first fragment of `key` met `fate`; its held later fragments
    /// become ready. Returns false when the table is full (the fragment's
    /// datagram cannot be followed: the caller drops it).
    pub fn decide(&mut self, key: DatagramKey, fate: Fate, now: u64) -> bool {
        if self.entries.len() >= ENTRIES && !self.entries.contains_key(&key) {
            self.expire(now);
            if self.entries.len() >= ENTRIES {
                self.dropped += 1;
                return false;
            }
        }
        self.entries.insert(
            key,
            Entry {
                fate,
                deadline: now.saturating_add(TIMEOUT_NS),
            },
        );
        if self.held.iter().any(|w| w.key == key) {
            // In arrival order (rare: only out-of-order datagrams pay).
            let ready = &mut self.ready;
            self.held.retain(|w| {
                let mine = w.key == key;
                if mine {
                    ready.push(w.clone());
                }
                !mine
            });
        }
        true
    }

    /// Hold a later fragment of `key` until its first comes. Returns false
    /// when the hold is full (the caller drops it).
    pub fn hold(
        &mut self,
        key: DatagramKey,
        frame: &[u8],
        meta: Meta,
        ctx: PacketCtx,
        now: u64,
    ) -> bool {
        if self.held.len() >= HELD {
            self.expire(now);
            if self.held.len() >= HELD {
                self.dropped += 1;
                return false;
            }
        }
        self.held.push(Waiting {
            key,
            frame: frame.to_vec(),
            meta,
            ctx,
            deadline: now.saturating_add(TIMEOUT_NS),
        });
        true
    }

    /// Forget datagrams and held fragments past their time. Returns the
    /// held fragments it let go.
    pub fn expire(&mut self, now: u64) -> usize {
        self.entries.retain(|_, e| e.deadline > now);
        let before = self.held.len();
        self.held.retain(|w| w.deadline > now);
        let gone = before - self.held.len();
        self.dropped += gone as u64;
        gone
    }

    /// Fragments held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> DatagramKey {
        DatagramKey {
            src: 1,
            dst: 2,
            ident,
            proto: 17,
        }
    }

    #[test]
    fn later_fragments_wait_for_their_first_and_follow_it_in_order() {
        let mut f = Fragments::new();
        assert_eq!(f.fate(&key(1), 0), None);
        assert!(f.hold(key(1), &[1], Meta::default(), PacketCtx::default(), 0));
        assert!(f.hold(key(2), &[9], Meta::default(), PacketCtx::default(), 1));
        assert!(f.hold(key(1), &[2], Meta::default(), PacketCtx::default(), 2));
        assert!(f.decide(key(1), Fate::Inside(7), 3));
        let ready: Vec<_> = f.ready.drain(..).map(|w| w.frame[0]).collect();
        assert_eq!(ready, [1, 2], "its own, in arrival order");
        assert_eq!(f.held(), 1, "another datagram's stays");
        assert_eq!(f.fate(&key(1), 4), Some(Fate::Inside(7)));
        assert_eq!(f.fate(&key(1), 3 + TIMEOUT_NS), None, "expired");
    }

    #[test]
    fn bounded_and_expiring() {
        let mut f = Fragments::new();
        for i in 0..HELD {
            assert!(f.hold(
                key(i as u16),
                &[0],
                Meta::default(),
                PacketCtx::default(),
                0
            ));
        }
        assert!(
            !f.hold(key(999), &[0], Meta::default(), PacketCtx::default(), 1),
            "hold full"
        );
        assert_eq!(f.dropped, 1);
        assert!(f.hold(
            key(999),
            &[0],
            Meta::default(),
            PacketCtx::default(),
            TIMEOUT_NS
        ));
        assert_eq!(f.held(), 1, "the old ones expired");
        assert_eq!(f.dropped, 1 + HELD as u64);
        for i in 0..ENTRIES {
            assert!(f.decide(key(i as u16), Fate::Refused, 0));
        }
        assert!(!f.decide(key(60_000), Fate::Refused, 1), "table full");
        assert!(f.decide(key(60_000), Fate::Refused, TIMEOUT_NS));
    }
}
