//! How workers wake the slow path (spec §6.1: an idle data plane uses
//! ~0 % CPU). The slow path has no descriptor to sleep on, only rings, so
//! when it runs dry it parks its thread; a worker that punts rings the
//! bell, which costs one relaxed load unless the slow path really sleeps.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::thread::Thread;
use std::time::Duration;

/// A parked thread and the flag that says it is parked.
#[derive(Debug, Default)]
pub struct Doorbell {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
    rung: std::sync::atomic::AtomicU64,
}

impl Doorbell {
    /// Make the calling thread the one this bell wakes.
    pub fn bind_current(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Sleep up to `timeout` unless `has_work` (checked after announcing
    /// the sleep, so a ring between the check and the park is not lost:
    /// an unpark before the park makes the park return at once).
    pub fn sleep(&self, timeout: Duration, has_work: impl FnOnce() -> bool) {
        self.sleeping.store(true, Ordering::Relaxed);
        // Pairs with the fence in `ring`: either the sleeper sees the
        // pusher's item, or the pusher sees `sleeping`.
        fence(Ordering::SeqCst);
        if !has_work() {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// After pushing work: wake the thread if it sleeps.
    #[inline]
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::Relaxed) {
            if let Some(t) = self.thread.get() {
                self.rung.fetch_add(1, Ordering::Relaxed);
                t.unpark();
            }
        }
    }

    /// Wake-ups delivered.
    pub fn rung(&self) -> u64 {
        self.rung.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// A ring after the sleeper announced itself is never lost: the sleeper
    /// returns long before its (hour-long) timeout.
    #[test]
    fn a_ring_wakes_the_sleeper() {
        let bell = Arc::new(Doorbell::default());
        let work = Arc::new(AtomicUsize::new(0));
        let (b, w) = (bell.clone(), work.clone());
        let t = std::thread::spawn(move || {
            b.bind_current();
            while w.load(Ordering::SeqCst) == 0 {
                b.sleep(Duration::from_secs(3600), || w.load(Ordering::SeqCst) > 0);
            }
        });
        // Keep ringing until the sleeper has registered: no timing assumed.
        work.store(1, Ordering::SeqCst);
        while !t.is_finished() {
            bell.ring();
            std::thread::yield_now();
        }
        t.join().unwrap();
    }

    #[test]
    fn ringing_an_awake_thread_is_free() {
        let bell = Doorbell::default();
        bell.bind_current();
        bell.ring();
        assert_eq!(bell.rung(), 0);
    }
}
