//! CPU primitives every stage of the pipeline leans on: a cheap cycle counter
//! for per-stage accounting (VPP's `show runtime`), a prefetch hint for bulk
//! table lookups, and pinning a worker thread to its core.
//!
//! Each is a one-instruction or one-syscall wrapper; the `unsafe` they need
//! lives in `sys` and is exposed as safe functions whose contracts cannot be
//! broken by a caller: reading the TSC and prefetching touch no memory, and
//! pinning takes a plain CPU number.
#![deny(unsafe_code)]
#![deny(clippy::cast_possible_truncation)]

mod sys;

use std::time::{Duration, Instant};

/// Cycle counter: the TSC on x86_64, a monotonic nanosecond clock elsewhere.
/// Constant-rate on every CPU this runs on (`constant_tsc`), so deltas are
/// comparable across cores of one machine.
#[inline(always)]
pub fn cycles() -> u64 {
    sys::rdtsc()
}

/// Hint that `ptr`'s cache line will be read soon. Never faults, even for a
/// dangling or null pointer: a prefetch is only a hint.
#[inline(always)]
pub fn prefetch<T>(ptr: *const T) {
    sys::prefetch(ptr.cast());
}

/// Measure the cycle counter's rate against the wall clock over `window`.
/// Used to turn cycle counts into time and back (e.g. for Mpps figures).
pub fn cycles_per_second(window: Duration) -> f64 {
    let (c0, t0) = (cycles(), Instant::now());
    while t0.elapsed() < window {
        std::hint::spin_loop();
    }
    let (c1, dt) = (cycles(), t0.elapsed());
    (c1 - c0) as f64 / dt.as_secs_f64()
}

/// Pin the calling thread to `cpu`.
///
/// # Errors
/// The OS error, e.g. when `cpu` does not exist or is outside the allowed set.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    sys::pin_current_thread(cpu)
}

/// CPUs the calling thread may run on, in ascending order.
pub fn allowed_cpus() -> Vec<usize> {
    sys::allowed_cpus()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_advance_and_rate_is_plausible() {
        let a = cycles();
        let b = cycles();
        assert!(b >= a);
        let hz = cycles_per_second(Duration::from_millis(20));
        assert!(hz > 1e8 && hz < 1e11, "{hz}");
    }

    #[test]
    fn prefetch_never_faults() {
        prefetch(std::ptr::null::<u8>());
        prefetch(usize::MAX as *const u64);
    }

    #[test]
    fn pinning_to_an_allowed_cpu_works_and_a_bogus_one_errors() {
        let cpus = allowed_cpus();
        assert!(!cpus.is_empty());
        let t = std::thread::spawn(move || pin_current_thread(cpus[0]));
        assert!(t.join().unwrap().is_ok());
        assert!(
            std::thread::spawn(|| pin_current_thread(100_000))
                .join()
                .unwrap()
                .is_err()
        );
    }
}
