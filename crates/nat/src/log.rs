//! The mapping log: a record when a NAT mapping is made and when it is
//! given back — the inside endpoint, the external address and port, the
//! protocol and the time — what a carrier-grade NAT operator must keep to
//! answer "who had 203.0.113.1:5124 at 14:02?" (RFC 6888 REQ-12, RFC 7422
//! §1). Off unless `[nat] log = true`.
//!
//! Workers push into a bounded lock-free queue the API drains (`orbctl show
//! nat log`); a record that finds it full is counted as lost, never waited
//! for. One record per mapping event, not per session or packet, so the
//! cost is at the rate mappings are made.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;

/// One mapping event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingEvent {
    /// Engine time, ns.
    pub time_ns: u64,
    /// Worker that made or ended it.
    pub worker: u16,
    /// Made (true) or given back (false).
    pub created: bool,
    /// IP protocol (6, 17, 1).
    pub proto: u8,
    /// Inside address.
    pub inside: u32,
    /// Inside port (ICMP: identifier).
    pub inside_port: u16,
    /// External address.
    pub external: u32,
    /// External port (ICMP: identifier).
    pub external_port: u16,
}

/// Records the queue holds before it counts losses.
pub const MAPPING_LOG_CAPACITY: usize = 8192;

/// Records waiting for a reader.
#[derive(Debug)]
pub struct MappingLog {
    queue: ArrayQueue<MappingEvent>,
    logged: AtomicU64,
    lost: AtomicU64,
}

impl Default for MappingLog {
    fn default() -> Self {
        MappingLog {
            queue: ArrayQueue::new(MAPPING_LOG_CAPACITY),
            logged: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }
}

impl MappingLog {
    /// Add a record (a worker).
    pub fn push(&self, e: MappingEvent) {
        self.logged.fetch_add(1, Ordering::Relaxed);
        if self.queue.push(e).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Take the oldest record (a reader).
    pub fn pop(&self) -> Option<MappingEvent> {
        self.queue.pop()
    }

    /// Records logged, and lost to a full queue.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.logged.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_counted() {
        let l = MappingLog::default();
        let e = MappingEvent {
            time_ns: 1,
            worker: 0,
            created: true,
            proto: 17,
            inside: 1,
            inside_port: 2,
            external: 3,
            external_port: 4,
        };
        for _ in 0..MAPPING_LOG_CAPACITY + 3 {
            l.push(e);
        }
        assert_eq!(l.counts(), (MAPPING_LOG_CAPACITY as u64 + 3, 3));
        assert_eq!(l.pop(), Some(e));
    }
}
