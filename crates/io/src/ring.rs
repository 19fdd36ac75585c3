//! Bounded single-producer single-consumer rings (spec §5, §12): punts to the
//! slow path, injects back, handoffs between workers, memory ports.
//!
//! Built on `rtrb`: wait-free, cache-padded head and tail, each side caching
//! the other's index so a push or pop usually touches no shared cache line.
//! The `ring` criterion bench measures it against `crossbeam`'s MPMC
//! `ArrayQueue`, which needs a compare-and-swap per operation. A full ring
//! refuses the item (the caller drops and counts it); nothing ever waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// Counters of one ring. Written by the producer only (relaxed stores of
/// values only it computes), read by anyone.
#[derive(Debug, Default)]
pub struct RingStats {
    /// Items accepted.
    pub pushed: CachePadded<AtomicU64>,
    /// Items refused because the ring was full.
    pub dropped: AtomicU64,
    /// Largest occupancy seen at a push.
    pub high_water: AtomicU64,
    /// Capacity.
    pub capacity: AtomicU64,
}

impl RingStats {
    /// Plain-value snapshot.
    pub fn snapshot(&self) -> RingSnapshot {
        RingSnapshot {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            high_water: self.high_water.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
        }
    }
}

/// Values of [`RingStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingSnapshot {
    /// Items accepted.
    pub pushed: u64,
    /// Items refused (full).
    pub dropped: u64,
    /// Largest occupancy seen.
    pub high_water: u64,
    /// Capacity.
    pub capacity: u64,
}

/// Producer end.
#[derive(Debug)]
pub struct RingTx<T> {
    inner: rtrb::Producer<T>,
    stats: Arc<RingStats>,
    // Producer-local copies, stored to the shared counters without RMW.
    pushed: u64,
    dropped: u64,
    high_water: u64,
}

/// Consumer end.
#[derive(Debug)]
pub struct RingRx<T> {
    inner: rtrb::Consumer<T>,
}

/// A ring of `capacity` items.
pub fn ring<T>(capacity: usize) -> (RingTx<T>, RingRx<T>, Arc<RingStats>) {
    let (p, c) = rtrb::RingBuffer::new(capacity.max(1));
    let stats = Arc::new(RingStats::default());
    stats.capacity.store(capacity as u64, Ordering::Relaxed);
    (
        RingTx {
            inner: p,
            stats: stats.clone(),
            pushed: 0,
            dropped: 0,
            high_water: 0,
        },
        RingRx { inner: c },
        stats,
    )
}

impl<T> RingTx<T> {
    /// Push one item; gives it back if the ring is full (counted).
    ///
    /// # Errors
    /// The item itself when the ring is full.
    #[inline]
    pub fn push(&mut self, item: T) -> Result<(), T> {
        match self.inner.push(item) {
            Ok(()) => {
                self.pushed += 1;
                self.stats.pushed.store(self.pushed, Ordering::Relaxed);
                Ok(())
            }
            Err(rtrb::PushError::Full(item)) => {
                self.dropped += 1;
                self.stats.dropped.store(self.dropped, Ordering::Relaxed);
                Err(item)
            }
        }
    }

    /// Note the current occupancy for the high-water mark (once per burst,
    /// not per item: reading the consumer's index costs a shared line).
    #[inline]
    pub fn observe_depth(&mut self) {
        let depth = (self.inner.buffer().capacity() - self.inner.slots()) as u64;
        if depth > self.high_water {
            self.high_water = depth;
            self.stats.high_water.store(depth, Ordering::Relaxed);
        }
    }

    /// Free slots.
    #[inline]
    pub fn room(&self) -> usize {
        self.inner.slots()
    }
}

impl<T> RingRx<T> {
    /// Pop one item, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.inner.pop().ok()
    }

    /// Items waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.slots()
    }

    /// True when nothing waits.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_refuses_and_counts() {
        let (mut tx, mut rx, stats) = ring::<u32>(4);
        for i in 0..4 {
            tx.push(i).unwrap();
        }
        tx.observe_depth();
        assert_eq!(tx.push(9), Err(9));
        let s = stats.snapshot();
        assert_eq!(
            (s.pushed, s.dropped, s.high_water, s.capacity),
            (4, 1, 4, 4)
        );
        assert_eq!(rx.len(), 4);
        assert_eq!(
            (0..4).map(|_| rx.pop().unwrap()).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(rx.pop().is_none());
    }

    #[test]
    fn stress_across_threads_keeps_order_and_count() {
        let (mut tx, mut rx, stats) = ring::<u64>(64);
        const N: u64 = 1_000_000;
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            let mut refused = 0u64;
            while i < N {
                match tx.push(i) {
                    Ok(()) => i += 1,
                    Err(_) => {
                        refused += 1;
                        std::hint::spin_loop();
                    }
                }
            }
            refused
        });
        let mut expect = 0;
        while expect < N {
            if let Some(v) = rx.pop() {
                assert_eq!(v, expect, "SPSC order");
                expect += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        let refused = producer.join().unwrap();
        let s = stats.snapshot();
        assert_eq!(s.pushed, N);
        assert_eq!(s.dropped, refused, "every refusal counted");
    }
}
