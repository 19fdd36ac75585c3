//! The pool, its shared free list, and per-worker caches.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use crossbeam_queue::ArrayQueue;

use crate::packet::Packet;
use crate::sys::Region;

/// Cache-line size the buffers are aligned to.
pub const CACHE_LINE: usize = 64;

/// How to cut a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Number of buffers.
    pub buffers: u32,
    /// Bytes of frame data a buffer holds after its headroom.
    pub data_room: usize,
    /// Bytes reserved in front of the frame for prepending headers.
    pub headroom: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            buffers: 8192,
            data_room: 2048,
            headroom: 128,
        }
    }
}

/// Why a pool could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// A pool needs at least one buffer.
    NoBuffers,
    /// Headroom + data room must fit a 32-bit offset and be non-zero.
    BadBufferSize,
    /// The allocation failed.
    OutOfMemory,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::NoBuffers => "a buffer pool needs at least one buffer",
            PoolError::BadBufferSize => "buffer size (headroom + data room) must be 1 B to 4 GiB",
            PoolError::OutOfMemory => "could not allocate the buffer pool",
        })
    }
}

impl std::error::Error for PoolError {}

/// Shared state of a pool. Reached from packets through a raw pointer that the
/// reference count keeps valid.
pub(crate) struct PoolInner {
    pub(crate) region: Region,
    free: ArrayQueue<u32>,
    /// Pool handles + buffers outside `free`. The inner is freed at zero.
    refs: AtomicUsize,
    pub(crate) headroom: u32,
    data_room: u32,
    count: u32,
    alloc_failures: AtomicU64,
}

impl PoolInner {
    /// Give a buffer back to the free list and drop the reference it held.
    ///
    /// # Safety
    /// `this` points at a live `PoolInner`, `index` is owned by the caller and
    /// counted in `refs`; neither is used afterwards by the caller.
    pub(crate) unsafe fn return_one(this: NonNull<PoolInner>, index: u32) {
        // SAFETY: the caller's buffer counts as a reference, so the inner is
        // alive until `release` below.
        let inner = unsafe { this.as_ref() };
        let pushed = inner.free.push(index);
        debug_assert!(
            pushed.is_ok(),
            "free list overflow: buffer {index} returned twice"
        );
        // SAFETY: we drop exactly the one reference our buffer held.
        unsafe { release(this, 1) };
    }
}

/// Drop `n` references; free the pool when none remain.
///
/// # Safety
/// The caller owns `n` references to the live `PoolInner` at `this` and does
/// not use the pointer afterwards.
unsafe fn release(this: NonNull<PoolInner>, n: usize) {
    // SAFETY: the caller still holds `n` >= 1 references, so it is alive.
    let refs = unsafe { &this.as_ref().refs };
    if refs.fetch_sub(n, Ordering::Release) == n {
        // Pairs with the Release above in every other holder (as in Arc), so
        // all their writes to buffers happen-before the free.
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero: no handle, cache or packet can reach
        // the inner any more, and it came from `Box::into_raw` in `Pool::new`.
        drop(unsafe { Box::from_raw(this.as_ptr()) });
    }
}

/// Snapshot of a pool's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers in the pool.
    pub total: u32,
    /// Buffers on the shared free list.
    pub free: u32,
    /// Buffers held by caches or packets (`total - free`).
    pub in_use: u32,
    /// Allocations that found no buffer.
    pub alloc_failures: u64,
}

/// A handle to a pool of fixed-size packet buffers. Cloning is cheap (one
/// atomic increment); the memory lives until the last handle, cache and
/// packet are gone.
pub struct Pool {
    inner: NonNull<PoolInner>,
}

// SAFETY: PoolInner's shared state is atomics and a lock-free queue; its
// buffer memory is only reached through owned indices (see crate docs).
unsafe impl Send for Pool {}
// SAFETY: as above; `&Pool` offers only thread-safe operations.
unsafe impl Sync for Pool {}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    /// Allocate a pool.
    ///
    /// # Errors
    /// [`PoolError`] for zero buffers, an impossible buffer size, or failed
    /// allocation.
    pub fn new(config: PoolConfig) -> Result<Pool, PoolError> {
        if config.buffers == 0 {
            return Err(PoolError::NoBuffers);
        }
        let size = config
            .headroom
            .checked_add(config.data_room)
            .filter(|&s| s > 0 && u32::try_from(s).is_ok())
            .ok_or(PoolError::BadBufferSize)?;
        let stride = size.div_ceil(CACHE_LINE) * CACHE_LINE;
        let region = Region::new(config.buffers, stride).ok_or(PoolError::OutOfMemory)?;
        let free = ArrayQueue::new(config.buffers as usize);
        for i in 0..config.buffers {
            let _ = free.push(i);
        }
        let inner = Box::new(PoolInner {
            region,
            free,
            refs: AtomicUsize::new(1),
            headroom: config.headroom as u32,
            data_room: config.data_room as u32,
            count: config.buffers,
            alloc_failures: AtomicU64::new(0),
        });
        Ok(Pool {
            inner: NonNull::from(Box::leak(inner)),
        })
    }

    #[inline]
    fn inner(&self) -> &PoolInner {
        // SAFETY: this handle is one of the references keeping the inner alive.
        unsafe { self.inner.as_ref() }
    }

    /// Number of buffers.
    pub fn capacity(&self) -> u32 {
        self.inner().count
    }

    /// Headroom of every buffer.
    pub fn headroom(&self) -> usize {
        self.inner().headroom as usize
    }

    /// Data room of every buffer (largest frame without using headroom).
    pub fn data_room(&self) -> usize {
        self.inner().data_room as usize
    }

    /// Distance between buffer starts (headroom + data room, rounded up to a
    /// cache line).
    pub fn stride(&self) -> usize {
        self.inner().region.stride()
    }

    /// Accounting snapshot. Buffers in caches count as in use.
    pub fn stats(&self) -> PoolStats {
        let i = self.inner();
        let free = i.free.len() as u32;
        PoolStats {
            total: i.count,
            free,
            in_use: i.count - free,
            alloc_failures: i.alloc_failures.load(Ordering::Relaxed),
        }
    }

    /// A per-worker cache holding up to `size` buffers, refilled and drained
    /// `size / 2` at a time.
    pub fn cache(&self, size: usize) -> PoolCache {
        let size = size.max(2);
        PoolCache {
            pool: self.clone(),
            local: Vec::with_capacity(size + size / 2),
            capacity: size,
            bulk: size / 2,
            stats: CacheStats::default(),
        }
    }

    /// Take one buffer straight from the shared free list. For the slow path
    /// and tests; workers use a [`PoolCache`].
    pub fn alloc(&self) -> Option<Packet> {
        let i = self.inner();
        match i.free.pop() {
            Some(index) => {
                i.refs.fetch_add(1, Ordering::Relaxed);
                Some(Packet::new(self.inner, index, i.headroom))
            }
            None => {
                i.alloc_failures.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Start and length of the pool's memory, for registering it with the
    /// kernel (AF_XDP UMEM). Buffer `i` starts at `start + i * stride()`.
    pub fn region(&self) -> (NonNull<u8>, usize) {
        self.inner().region.raw_parts()
    }

    pub(crate) fn ptr(&self) -> NonNull<PoolInner> {
        self.inner
    }
}

impl Clone for Pool {
    fn clone(&self) -> Self {
        self.inner().refs.fetch_add(1, Ordering::Relaxed);
        Pool { inner: self.inner }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: this handle owns one reference and is going away.
        unsafe { release(self.inner, 1) }
    }
}

/// Counters of one cache, written only by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Refills from the shared free list.
    pub refills: u64,
    /// Bulk returns to the shared free list.
    pub flushes: u64,
    /// Allocations that found neither a cached nor a shared buffer.
    pub alloc_failures: u64,
}

/// A worker's private stock of buffers. Not `Sync`: one owner, no locks, no
/// atomics on the per-packet path.
pub struct PoolCache {
    pool: Pool,
    local: Vec<u32>,
    capacity: usize,
    bulk: usize,
    stats: CacheStats,
}

impl fmt::Debug for PoolCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCache")
            .field("cached", &self.local.len())
            .field("capacity", &self.capacity)
            .field("stats", &self.stats)
            .finish()
    }
}

impl PoolCache {
    /// The pool this cache draws from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Buffers currently held by the cache.
    pub fn cached(&self) -> usize {
        self.local.len()
    }

    /// This cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Take a buffer: from the cache, refilling from the shared list in bulk
    /// when empty. `None` (and a counted failure) when the pool is exhausted.
    #[inline]
    pub fn alloc(&mut self) -> Option<Packet> {
        if self.local.is_empty() && !self.refill() {
            return None;
        }
        let index = self.local.pop()?;
        Some(Packet::new(
            self.pool.ptr(),
            index,
            self.pool.inner().headroom,
        ))
    }

    /// Allocate up to `n` packets into `out`; returns how many were added.
    pub fn alloc_bulk(&mut self, out: &mut Vec<Packet>, n: usize) -> usize {
        for got in 0..n {
            match self.alloc() {
                Some(p) => out.push(p),
                None => return got,
            }
        }
        n
    }

    #[cold]
    fn refill(&mut self) -> bool {
        let inner = self.pool.inner();
        let mut got = 0;
        while got < self.bulk {
            match inner.free.pop() {
                Some(i) => {
                    self.local.push(i);
                    got += 1;
                }
                None => break,
            }
        }
        if got == 0 {
            self.stats.alloc_failures += 1;
            inner.alloc_failures.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        inner.refs.fetch_add(got, Ordering::Relaxed);
        self.stats.refills += 1;
        true
    }

    /// Take a packet back. A packet of another pool goes home on its own.
    #[inline]
    pub fn free(&mut self, pkt: Packet) {
        if pkt.pool_ptr() != self.pool.ptr() {
            drop(pkt);
            return;
        }
        self.local.push(pkt.into_index());
        if self.local.len() > self.capacity {
            self.flush(self.bulk);
        }
    }

    /// Take back every packet of an iterator (e.g. a drained batch).
    pub fn free_all(&mut self, pkts: impl IntoIterator<Item = Packet>) {
        for p in pkts {
            self.free(p);
        }
    }

    #[cold]
    fn flush(&mut self, n: usize) {
        let n = n.min(self.local.len());
        if n == 0 {
            return;
        }
        let inner = self.pool.inner();
        for i in self.local.drain(self.local.len() - n..) {
            let pushed = inner.free.push(i);
            debug_assert!(
                pushed.is_ok(),
                "free list overflow: buffer {i} returned twice"
            );
        }
        // SAFETY: these `n` buffers each held a reference; the cache's own
        // pool handle keeps the count above zero.
        unsafe { release(self.pool.ptr(), n) };
        self.stats.flushes += 1;
    }

    /// Return every cached buffer to the shared list.
    pub fn flush_all(&mut self) {
        self.flush(self.local.len());
    }
}

impl Drop for PoolCache {
    fn drop(&mut self) {
        self.flush_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Pool {
        Pool::new(PoolConfig {
            buffers: 64,
            data_room: 256,
            headroom: 64,
        })
        .unwrap()
    }

    #[test]
    fn rejects_bad_configs() {
        let bad = |buffers, data_room, headroom| {
            Pool::new(PoolConfig {
                buffers,
                data_room,
                headroom,
            })
            .unwrap_err()
        };
        assert_eq!(bad(0, 2048, 128), PoolError::NoBuffers);
        assert_eq!(bad(1, 0, 0), PoolError::BadBufferSize);
        assert_eq!(bad(1, usize::MAX, 1), PoolError::BadBufferSize);
    }

    #[test]
    fn stride_is_cache_aligned() {
        let p = Pool::new(PoolConfig {
            buffers: 4,
            data_room: 1500,
            headroom: 100,
        })
        .unwrap();
        assert_eq!(p.stride(), 1600usize.div_ceil(64) * 64);
        let (start, _) = p.region();
        assert_eq!(start.as_ptr() as usize % 4096, 0);
    }

    #[test]
    fn cache_refills_and_flushes_in_bulk() {
        let pool = small();
        let mut c = pool.cache(16);
        let p = c.alloc().unwrap();
        assert_eq!(c.stats().refills, 1);
        assert_eq!(c.cached(), 7);
        assert_eq!(pool.stats().free, 64 - 8);
        c.free(p);
        let mut v = Vec::new();
        assert_eq!(c.alloc_bulk(&mut v, 30), 30);
        c.free_all(v.drain(..));
        assert!(c.cached() <= 16);
        assert!(c.stats().flushes >= 1);
        drop(c);
        assert_eq!(pool.stats().free, 64);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn exhaustion_is_counted_not_blocking() {
        let pool = small();
        let mut c = pool.cache(8);
        let mut v = Vec::new();
        assert_eq!(c.alloc_bulk(&mut v, 100), 64);
        assert!(c.alloc().is_none());
        assert!(pool.alloc().is_none());
        assert_eq!(c.stats().alloc_failures, 2);
        assert_eq!(pool.stats().alloc_failures, 3);
        assert_eq!(pool.stats().in_use, 64);
        drop(v);
        drop(c);
        assert_eq!(pool.stats().free, 64);
    }

    #[test]
    fn packets_outlive_every_handle() {
        let pool = small();
        let mut c = pool.cache(8);
        let mut p = c.alloc().unwrap();
        p.append(4).unwrap().copy_from_slice(b"live");
        drop(c);
        drop(pool);
        // The memory is still ours: the packet holds a reference.
        assert_eq!(&p[..], b"live");
        drop(p); // last reference: the pool is freed here (miri/asan would see a leak otherwise)
    }

    #[test]
    fn foreign_packet_goes_home() {
        let a = small();
        let b = small();
        let mut cb = b.cache(8);
        let pa = a.alloc().unwrap();
        cb.free(pa);
        assert_eq!(a.stats().free, 64);
        assert_eq!(cb.cached(), 0);
    }
}
