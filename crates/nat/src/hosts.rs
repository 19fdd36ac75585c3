//! Per inside host limits: how many NAT sessions and external ports one
//! host may hold, so that one host (a scan, a P2P client, malware) cannot
//! exhaust the pool or the session tables for everybody (issue 11: "sessions
//! and ports per inside host"; RFC 7857 §3 and RFC 6888 REQ-4 ask a NAT to
//! limit ports per subscriber).
//!
//! The counts are shared by every worker (a host's sessions spread over
//! workers by flow hash), in a fixed array of buckets indexed by a hash of
//! the inside address: bounded memory (512 KiB) whatever the number of
//! hosts, one atomic add when a session or port is taken or given back and
//! nothing per packet. Two hosts whose addresses hash to the same bucket
//! share one budget: the limit is then conservative, never exceeded. With
//! 65,536 buckets a given host shares its bucket with one of n others with
//! probability about n / 65,536.

use std::sync::atomic::{AtomicU32, Ordering};

/// Buckets per count.
const BUCKETS: usize = 1 << 16;

/// What is counted per host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Sessions (outbound mappings' sessions and inbound ones a filter let
    /// in), on all workers.
    Sessions = 0,
    /// External ports (ICMP: identifiers), on all addresses and protocols.
    Ports = 1,
}

/// The shared per-host counts.
#[derive(Debug)]
pub struct HostCounts {
    counts: [Box<[AtomicU32]>; 2],
}

impl Default for HostCounts {
    fn default() -> Self {
        let zeros = || (0..BUCKETS).map(|_| AtomicU32::new(0)).collect();
        HostCounts {
            counts: [zeros(), zeros()],
        }
    }
}

#[inline]
fn bucket(addr: u32) -> usize {
    // Fibonacci hashing: neighbouring addresses land far apart, so a
    // subnet's hosts do not share buckets.
    (addr.wrapping_mul(0x9e37_79b1) >> 16) as usize
}

impl HostCounts {
    /// Take one `what` for `addr` if it holds fewer than `limit`.
    #[inline]
    pub fn take(&self, what: Held, addr: u32, limit: u32) -> bool {
        let c = &self.counts[what as usize][bucket(addr)];
        c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
    }

    /// Give one `what` of `addr` back.
    #[inline]
    pub fn give(&self, what: Held, addr: u32) {
        let c = &self.counts[what as usize][bucket(addr)];
        let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// What `addr` holds now (with any host sharing its bucket).
    pub fn held(&self, what: Held, addr: u32) -> u32 {
        self.counts[what as usize][bucket(addr)].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_its_limit_and_no_more_and_others_are_untouched() {
        let h = HostCounts::default();
        let (a, b) = (0xc0a8_0102, 0xc0a8_0103);
        assert_ne!(bucket(a), bucket(b), "neighbours do not share");
        for _ in 0..3 {
            assert!(h.take(Held::Ports, a, 3));
        }
        assert!(!h.take(Held::Ports, a, 3), "the fourth is refused");
        assert_eq!(h.held(Held::Ports, a), 3);
        assert!(h.take(Held::Ports, b, 3), "another host is not");
        assert!(h.take(Held::Sessions, a, 3), "sessions count apart");
        h.give(Held::Ports, a);
        assert!(h.take(Held::Ports, a, 3), "a port given back is free again");
        for _ in 0..10 {
            h.give(Held::Sessions, a);
        }
        assert_eq!(h.held(Held::Sessions, a), 0, "never below zero");
    }

    #[test]
    fn a_subnet_spreads_over_the_buckets() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..4096u32 {
            seen.insert(bucket(0x0a00_0000 | i));
        }
        assert_eq!(seen.len(), 4096, "a /20's hosts each have their own bucket");
    }
}
