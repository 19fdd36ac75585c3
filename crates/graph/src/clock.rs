//! The engine's clock (issue: "Clock: injected"). Real time for live ports;
//! virtual time, set from capture timestamps, for replay and tests — so
//! timers, aging and rate limits behave the same in every run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A source of nanoseconds. Cheap to clone and to read (once per batch).
#[derive(Debug, Clone)]
pub enum Clock {
    /// Monotonic time since the engine started.
    Real(Instant),
    /// Time set by a driver (replay: the timestamp of the latest packet).
    Virtual(Arc<AtomicU64>),
}

impl Clock {
    /// A real clock starting now.
    pub fn real() -> Clock {
        Clock::Real(Instant::now())
    }

    /// A virtual clock at `ns`.
    pub fn virtual_at(ns: u64) -> Clock {
        Clock::Virtual(Arc::new(AtomicU64::new(ns)))
    }

    /// Current time in nanoseconds.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::Real(t) => t.elapsed().as_nanos() as u64,
            Clock::Virtual(v) => v.load(Ordering::Relaxed),
        }
    }

    /// Move a virtual clock forward to `ns` (never backwards; captures can
    /// be out of order). No effect on a real clock.
    pub fn advance_to(&self, ns: u64) {
        if let Clock::Virtual(v) = self {
            v.fetch_max(ns, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_time_only_moves_forward() {
        let c = Clock::virtual_at(10);
        c.advance_to(5);
        assert_eq!(c.now_ns(), 10);
        c.advance_to(20);
        assert_eq!(c.clone().now_ns(), 20);
    }
}
