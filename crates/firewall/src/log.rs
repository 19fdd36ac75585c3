//! The firewall's `log` statement: a record per logged packet, into a
//! bounded lock-free queue the API drains (`orbctl show log`), and into the
//! trace when the packet is traced. Logging is rate-limited per worker; a
//! record that finds the queue full is counted, never waited for.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use orbital_wire::PacketInfo;

use crate::rules::FwHook;

/// One logged packet.
#[derive(Debug, Clone, Copy)]
pub struct LogRecord {
    /// Engine time, ns.
    pub time_ns: u64,
    /// Worker that logged it.
    pub worker: u16,
    /// The hook.
    pub hook: FwHook,
    /// The rule (global id in the policy of `generation`).
    pub rule: u32,
    /// The policy's generation.
    pub generation: u32,
    /// Ingress port.
    pub port: u16,
    /// The packet's summary.
    pub info: PacketInfo,
}

/// Records waiting for a reader: the firewall's log, and (with another
/// record type) NAT's mapping log.
#[derive(Debug)]
pub struct LogQueue<T = LogRecord> {
    queue: ArrayQueue<T>,
    lost: AtomicU64,
    logged: AtomicU64,
}

/// Records the queue holds before it counts losses.
pub const LOG_CAPACITY: usize = 4096;

impl<T> Default for LogQueue<T> {
    fn default() -> Self {
        LogQueue {
            queue: ArrayQueue::new(LOG_CAPACITY),
            lost: AtomicU64::new(0),
            logged: AtomicU64::new(0),
        }
    }
}

impl<T> LogQueue<T> {
    /// Add a record (a worker).
    pub fn push(&self, r: T) {
        self.logged.fetch_add(1, Ordering::Relaxed);
        if self.queue.push(r).is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Take the oldest record (a reader).
    pub fn pop(&self) -> Option<T> {
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
