//! The pool, its shared free list, and per-worker caches.

use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::packet::Packet;
use crate::sys::{Handle, Stash};

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
    /// Headroom + data room, rounded up to a cache line, must fit a 32-bit
    /// offset and be non-zero.
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

/// A pool's configuration and shared counters, kept beside its memory.
#[derive(Debug)]
pub(crate) struct PoolInfo {
    pub(crate) headroom: u32,
    pub(crate) data_room: u32,
    pub(crate) alloc_failures: AtomicU64,
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
#[derive(Clone)]
pub struct Pool {
    handle: Handle,
}

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
        // Offsets inside a buffer are u32s: the whole stride must fit one.
        let stride = size
            .div_ceil(CACHE_LINE)
            .checked_mul(CACHE_LINE)
            .filter(|&s| u32::try_from(s).is_ok())
            .ok_or(PoolError::BadBufferSize)?;
        // Both fit: their sum `size` was checked to fit a u32.
        let (Ok(headroom), Ok(data_room)) = (
            u32::try_from(config.headroom),
            u32::try_from(config.data_room),
        ) else {
            return Err(PoolError::BadBufferSize);
        };
        let info = PoolInfo {
            headroom,
            data_room,
            alloc_failures: AtomicU64::new(0),
        };
        let handle = Handle::new(config.buffers, stride, info).ok_or(PoolError::OutOfMemory)?;
        Ok(Pool { handle })
    }

    /// Number of buffers.
    pub fn capacity(&self) -> u32 {
        self.handle.count()
    }

    /// Headroom of every buffer.
    pub fn headroom(&self) -> usize {
        self.handle.info().headroom as usize
    }

    /// Data room of every buffer (largest frame without using headroom).
    pub fn data_room(&self) -> usize {
        self.handle.info().data_room as usize
    }

    /// Distance between buffer starts (headroom + data room, rounded up to a
    /// cache line).
    pub fn stride(&self) -> usize {
        self.handle.stride()
    }

    /// Accounting snapshot. Buffers in caches count as in use.
    pub fn stats(&self) -> PoolStats {
        let total = self.handle.count();
        // The free list holds at most `total` indices.
        let free = u32::try_from(self.handle.free_len()).unwrap_or(total);
        PoolStats {
            total,
            free,
            in_use: total - free,
            alloc_failures: self.handle.info().alloc_failures.load(Ordering::Relaxed),
        }
    }

    /// A per-worker cache holding up to `size` buffers, refilled and drained
    /// `size / 2` at a time.
    pub fn cache(&self, size: usize) -> PoolCache {
        let size = size.max(2);
        PoolCache {
            pool: self.clone(),
            stash: Stash::new(&self.handle, size + size / 2),
            capacity: size,
            bulk: size / 2,
            stats: CacheStats::default(),
        }
    }

    /// Take one buffer straight from the shared free list. For the slow path
    /// and tests; workers use a [`PoolCache`].
    pub fn alloc(&self) -> Option<Packet> {
        match self.handle.take() {
            Some(buf) => Some(Packet::new(buf)),
            None => {
                self.handle
                    .info()
                    .alloc_failures
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Start and length of the pool's memory, for registering it with the
    /// kernel (AF_XDP UMEM). Buffer `i` starts at `start + i * stride()`.
    pub fn region(&self) -> (NonNull<u8>, usize) {
        self.handle.raw_region()
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
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

/// A worker's private stock of buffers. One owner, no locks, no atomics on
/// the per-packet path.
pub struct PoolCache {
    pool: Pool,
    stash: Stash,
    capacity: usize,
    bulk: usize,
    stats: CacheStats,
}

impl fmt::Debug for PoolCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolCache")
            .field("cached", &self.stash.len())
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
        self.stash.len()
    }

    /// This cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Take a buffer: from the cache, refilling from the shared list in bulk
    /// when empty. `None` (and a counted failure) when the pool is exhausted.
    #[inline]
    pub fn alloc(&mut self) -> Option<Packet> {
        if self.stash.len() == 0 && !self.refill() {
            return None;
        }
        self.stash.pop().map(Packet::new)
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
        if self.stash.refill(self.bulk) == 0 {
            self.stats.alloc_failures += 1;
            self.pool
                .handle
                .info()
                .alloc_failures
                .fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.stats.refills += 1;
        true
    }

    /// Take a packet back. A packet of another pool goes home on its own.
    #[inline]
    pub fn free(&mut self, pkt: Packet) {
        // A foreign buffer handed back is dropped: it returns to its own pool.
        if self.stash.put(pkt.into_buf()).is_ok() && self.stash.len() > self.capacity {
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
        if n.min(self.stash.len()) == 0 {
            return;
        }
        self.stash.flush(n);
        self.stats.flushes += 1;
    }

    /// Return every cached buffer to the shared list.
    pub fn flush_all(&mut self) {
        self.flush(self.stash.len());
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
        // Fits a u32, but not once rounded up to a cache line.
        assert_eq!(bad(1, u32::MAX as usize, 0), PoolError::BadBufferSize);
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
