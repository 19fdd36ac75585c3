//! The unsafe half of the crate: the pool's memory, its reference count, and
//! who owns each buffer in it. Everything that touches a raw pointer is in
//! this file, behind a safe API; the rest of the crate is safe code.
//!
//! Soundness rests on one invariant that only this module can break:
//!
//! > Each buffer index of a pool is held by exactly one of: the pool's free
//! > list, a [`Stash`], a [`Ledger`] or a [`Buf`]; and each holder other than
//! > the free list carries one reference to the pool for each index it
//! > holds, beside the one each [`Handle`] carries.
//!
//! It holds because indices move between holders only by value and only
//! through this module: the free list is filled once with `0..count` when the
//! pool is made; a `Buf` comes only from the free list, a stash or a ledger of
//! the same pool (they check), and going back it takes its index and its
//! reference with it. Nothing outside turns a number into a `Buf`. So
//! `&Buf` is shared access to that buffer's bytes and `&mut Buf` exclusive
//! access, and the pool's memory is freed only when the count of references
//! reaches zero, after every holder is gone.
//!
//! The count is kept in bulk, as in DPDK's mempool cache: a stash or ledger
//! takes or drops the references of many buffers with one atomic operation,
//! and moving one buffer in or out of it costs none.
//!
//! The region is one zeroed, page-aligned allocation cut into equal slots.
//! Zeroing matters for soundness: a packet may expose bytes of its slot that
//! no one wrote in this life of the buffer (headroom, or `append`), and
//! those must be initialised. Page alignment lets the same region be
//! registered as an AF_XDP UMEM, whose chunks must start on page-aligned
//! memory.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crossbeam_queue::ArrayQueue;

use crate::pool::PoolInfo;

/// Alignment of the whole region.
const REGION_ALIGN: usize = 4096;

/// `count` slots of `stride` bytes, zero-initialised.
#[derive(Debug)]
struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
    stride: usize,
    count: u32,
}

impl Region {
    fn new(count: u32, stride: usize) -> Option<Region> {
        let size = usize::try_from(count).ok()?.checked_mul(stride)?.max(1);
        let layout = Layout::from_size_align(size, REGION_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size (clamped to at least one byte).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)?;
        Some(Region {
            ptr,
            layout,
            stride,
            count,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed
        // once, here; no `Buf` outlives the region (each holds a reference).
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// What every holder of a pool shares. Freed when `refs` reaches zero.
#[derive(Debug)]
struct Shared {
    region: Region,
    /// Indices no one holds: each at most once (the invariant above).
    free: ArrayQueue<u32>,
    /// Handles, plus one per index held by a stash, ledger or `Buf`.
    refs: AtomicUsize,
    info: PoolInfo,
}

/// Drop `n` references to the pool at `shared`; free it at zero.
///
/// # Safety
/// The caller owns `n` references to the live pool at `shared` and neither
/// uses them nor the pointer afterwards (unless it holds another reference).
unsafe fn release(shared: NonNull<Shared>, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the caller still holds `n >= 1` references, so it is alive.
    let refs = unsafe { &shared.as_ref().refs };
    if refs.fetch_sub(n, Ordering::Release) == n {
        // Pairs with the Release above in every other holder (as in Arc),
        // so all their accesses to the buffers happen before the free.
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero: no handle, stash, ledger or `Buf`
        // can reach the pool any more, and it came from `Box::leak` in
        // `Handle::new`.
        drop(unsafe { Box::from_raw(shared.as_ptr()) });
    }
}

/// One counted reference to a pool: what a `Pool` is.
#[derive(Debug)]
pub(crate) struct Handle {
    shared: NonNull<Shared>,
}

// SAFETY: through a `Handle` one reaches only `Shared`'s thread-safe parts
// (atomics, a lock-free queue, plain numbers); buffer bytes are reached only
// through a `Buf`, the one holder of its index. Dropping the last reference
// on any thread is ordered like Arc's (see `release`).
unsafe impl Send for Handle {}
// SAFETY: as above; every `&Handle` method is thread-safe.
unsafe impl Sync for Handle {}

impl Handle {
    /// A pool of `count` buffers of `stride` bytes, all on the free list.
    /// `None` when the region cannot be allocated.
    pub(crate) fn new(count: u32, stride: usize, info: PoolInfo) -> Option<Handle> {
        let region = Region::new(count, stride)?;
        let free = ArrayQueue::new(usize::try_from(count).ok()?.max(1));
        for i in 0..count {
            let _ = free.push(i);
        }
        let shared = Box::new(Shared {
            region,
            free,
            refs: AtomicUsize::new(1),
            info,
        });
        Some(Handle {
            shared: NonNull::from(Box::leak(shared)),
        })
    }

    fn shared(&self) -> &Shared {
        // SAFETY: this handle is one of the references keeping it alive.
        unsafe { self.shared.as_ref() }
    }

    /// The pool's configuration and counters.
    pub(crate) fn info(&self) -> &PoolInfo {
        &self.shared().info
    }

    /// Bytes per buffer.
    pub(crate) fn stride(&self) -> usize {
        self.shared().region.stride
    }

    /// Buffers in the pool.
    pub(crate) fn count(&self) -> u32 {
        self.shared().region.count
    }

    /// Buffers on the shared free list.
    pub(crate) fn free_len(&self) -> usize {
        self.shared().free.len()
    }

    /// Start and length of the region, for registering it with the kernel
    /// (AF_XDP UMEM). Reading or writing through it is up to the caller.
    pub(crate) fn raw_region(&self) -> (NonNull<u8>, usize) {
        let r = &self.shared().region;
        (r.ptr, r.layout.size())
    }

    /// A buffer from the shared free list.
    pub(crate) fn take(&self) -> Option<Buf> {
        let index = self.shared().free.pop()?;
        self.shared().refs.fetch_add(1, Ordering::Relaxed);
        Some(Buf {
            shared: self.shared,
            index,
        })
    }
}

impl Clone for Handle {
    fn clone(&self) -> Self {
        // Relaxed as in Arc::clone: the new reference is made from an
        // existing one, which keeps the count above zero meanwhile.
        self.shared().refs.fetch_add(1, Ordering::Relaxed);
        Handle {
            shared: self.shared,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: this handle owns one reference and is going away.
        unsafe { release(self.shared, 1) }
    }
}

/// One buffer, owned: the only way to its bytes, and one reference keeping
/// the pool alive. Dropping it puts the buffer back on the free list.
#[derive(Debug)]
pub(crate) struct Buf {
    shared: NonNull<Shared>,
    index: u32,
}

// A `Buf` is the only holder of its index, so moving it moves that
// exclusive access; the pool it points at is kept alive by its reference
// and shared state is thread-safe (see Handle). The free list orders a
// buffer's last use on one thread before its next owner's on another
// (crossbeam's queue synchronises push with pop).
// SAFETY: exclusive access to the slot moves with the value, as above.
unsafe impl Send for Buf {}
// SAFETY: `&Buf` gives only shared reads of its own bytes and of the
// pool's thread-safe state.
unsafe impl Sync for Buf {}

impl Buf {
    fn shared(&self) -> &Shared {
        // SAFETY: this buffer carries a reference keeping the pool alive.
        unsafe { self.shared.as_ref() }
    }

    /// The buffer's index in its pool.
    #[inline]
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Bytes per buffer of its pool.
    #[inline]
    pub(crate) fn stride(&self) -> usize {
        self.shared().region.stride
    }

    /// Its pool's configuration and counters.
    #[inline]
    pub(crate) fn info(&self) -> &PoolInfo {
        &self.shared().info
    }

    /// Whether it belongs to `pool`.
    #[inline]
    pub(crate) fn is_of(&self, pool: &Handle) -> bool {
        self.shared == pool.shared
    }

    /// Start of the buffer. Safe to compute (`wrapping_add` dereferences
    /// nothing); in bounds because `index < count` by the module invariant
    /// (indices are made only from `0..count`).
    #[inline]
    fn start(&self) -> *mut u8 {
        let r = &self.shared().region;
        debug_assert!(self.index < r.count, "buffer index outside the pool");
        r.ptr.as_ptr().wrapping_add(self.index as usize * r.stride)
    }

    /// The whole buffer, shared.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        let start = self.start();
        // `start..start + stride` is slot `index` of the region
        // (`index < count`), initialised by `alloc_zeroed`, allocated while
        // this buffer's reference keeps the pool alive, and disjoint from
        // every other slot. This `Buf` is the only holder of the index (the
        // module invariant), and `&self` rules out a `bytes_mut` meanwhile.
        // SAFETY: in bounds, initialised, alive and not written, as above.
        unsafe { std::slice::from_raw_parts(start, self.stride()) }
    }

    /// The whole buffer, exclusive.
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let start = self.start();
        // SAFETY: the same slot as in `bytes`; `&mut self` on the only holder
        // of the index means no other view of these bytes exists.
        unsafe { std::slice::from_raw_parts_mut(start, self.stride()) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let pushed = self.shared().free.push(self.index);
        debug_assert!(pushed.is_ok(), "free list overflow: a buffer held twice");
        // SAFETY: this buffer owns one reference and is going away; its index
        // is back on the free list.
        unsafe { release(self.shared, 1) }
    }
}

/// A private stock of buffers of one pool, by index (a worker's cache).
/// Moving a buffer in or out costs no atomic operation: the stash holds one
/// pool reference per index, taken and dropped in bulk.
#[derive(Debug)]
pub(crate) struct Stash {
    pool: Handle,
    indices: Vec<u32>,
}

impl Stash {
    /// An empty stash of `pool`'s buffers, with room for `capacity` before
    /// its storage grows.
    pub(crate) fn new(pool: &Handle, capacity: usize) -> Stash {
        Stash {
            pool: pool.clone(),
            indices: Vec::with_capacity(capacity),
        }
    }

    /// Buffers held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.indices.len()
    }

    /// A buffer from the stash.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Buf> {
        let index = self.indices.pop()?;
        // The index carried one of the stash's references; the `Buf` takes it.
        Some(Buf {
            shared: self.pool.shared,
            index,
        })
    }

    /// Keep `buf`; a buffer of another pool is handed back.
    ///
    /// # Errors
    /// The buffer itself, when it is not of this stash's pool.
    #[inline]
    pub(crate) fn put(&mut self, buf: Buf) -> Result<(), Buf> {
        if !buf.is_of(&self.pool) {
            return Err(buf);
        }
        // The buffer's reference now counts as the stash's, for its index.
        let buf = ManuallyDrop::new(buf);
        self.indices.push(buf.index);
        Ok(())
    }

    /// Take up to `n` buffers from the shared free list; returns how many.
    pub(crate) fn refill(&mut self, n: usize) -> usize {
        let shared = self.pool.shared();
        let mut got = 0;
        while got < n {
            match shared.free.pop() {
                Some(i) => {
                    self.indices.push(i);
                    got += 1;
                }
                None => break,
            }
        }
        if got > 0 {
            // Relaxed: the stash's own handle keeps the count above zero.
            shared.refs.fetch_add(got, Ordering::Relaxed);
        }
        got
    }

    /// Put the last `n` buffers held (at most all) back on the shared list.
    pub(crate) fn flush(&mut self, n: usize) {
        let n = n.min(self.indices.len());
        if n == 0 {
            return;
        }
        let shared = self.pool.shared();
        for i in self.indices.drain(self.indices.len() - n..) {
            let pushed = shared.free.push(i);
            debug_assert!(pushed.is_ok(), "free list overflow: a buffer held twice");
        }
        // SAFETY: the `n` indices just returned each carried one reference,
        // now dropped; the stash's own handle keeps the pool alive after.
        unsafe { release(self.pool.shared, n) };
    }
}

impl Drop for Stash {
    fn drop(&mut self) {
        self.flush(self.indices.len());
    }
}

/// Buffers of one pool lent to a device by index, with the references they
/// carry: an index goes out only as a `Buf` given up, and comes back as a
/// `Buf` only if it is on loan here.
#[derive(Debug)]
pub(crate) struct Ledger {
    pool: Handle,
    /// One bit per buffer of the pool: set while lent.
    lent: Vec<u64>,
    outstanding: usize,
}

impl Ledger {
    /// An empty ledger for `pool`'s buffers.
    pub(crate) fn new(pool: &Handle) -> Ledger {
        Ledger {
            pool: pool.clone(),
            lent: vec![0; (pool.count() as usize).div_ceil(64)],
            outstanding: 0,
        }
    }

    /// Buffers on loan.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Record `buf` as lent and give its index; a buffer of another pool is
    /// handed back.
    ///
    /// # Errors
    /// The buffer itself, when it is not of this ledger's pool.
    #[inline]
    pub(crate) fn lend(&mut self, buf: Buf) -> Result<u32, Buf> {
        if !buf.is_of(&self.pool) {
            return Err(buf);
        }
        let (w, b) = (buf.index as usize / 64, buf.index % 64);
        // A `Buf` is its index's only holder, so the bit is clear.
        debug_assert!(self.lent[w] & (1 << b) == 0, "buffer lent twice");
        self.lent[w] |= 1 << b;
        self.outstanding += 1;
        // The buffer's reference now counts as the ledger's, for its index.
        Ok(ManuallyDrop::new(buf).index)
    }

    /// The buffer at `index` back, if it is on loan here.
    #[inline]
    pub(crate) fn reclaim(&mut self, index: u32) -> Option<Buf> {
        let (w, b) = (index as usize / 64, index % 64);
        let word = self.lent.get_mut(w)?;
        if *word & (1 << b) == 0 {
            return None;
        }
        *word &= !(1 << b);
        self.outstanding -= 1;
        // The bit said the ledger held `index` and one reference for it;
        // both go to the `Buf`, and the cleared bit keeps it from going twice.
        Some(Buf {
            shared: self.pool.shared,
            index,
        })
    }

    /// Whether `index` is on loan here.
    pub(crate) fn is_lent(&self, index: u32) -> bool {
        let (w, b) = (index as usize / 64, index % 64);
        self.lent.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
}

impl Drop for Ledger {
    /// Buffers still on loan go home. The device must be done with them by
    /// now: the port that owns both closes its socket first.
    fn drop(&mut self) {
        let shared = self.pool.shared();
        for (w, word) in self.lent.iter_mut().enumerate() {
            let mut bits = std::mem::take(word);
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                // Bits are set only for indices < count, a u32: the index
                // and the word's first index (no larger) both fit.
                #[allow(clippy::cast_possible_truncation)]
                let index = (w * 64) as u32 + b;
                let pushed = shared.free.push(index);
                debug_assert!(pushed.is_ok(), "free list overflow: a buffer held twice");
            }
        }
        let n = std::mem::take(&mut self.outstanding);
        // SAFETY: each of the `n` indices just returned carried one of the
        // ledger's references; the ledger's handle keeps the pool alive after.
        unsafe { release(self.pool.shared, n) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn handle(count: u32) -> Handle {
        let info = PoolInfo {
            headroom: 0,
            data_room: 64,
            alloc_failures: AtomicU64::new(0),
        };
        Handle::new(count, 64, info).unwrap()
    }

    fn refs(h: &Handle) -> usize {
        h.shared().refs.load(Ordering::Relaxed)
    }

    #[test]
    fn references_follow_buffers_through_every_holder() {
        let h = handle(8);
        assert_eq!(refs(&h), 1);
        let a = h.take().unwrap();
        assert_eq!(refs(&h), 2);
        let mut s = Stash::new(&h, 4);
        assert_eq!(refs(&h), 3);
        assert_eq!(s.refill(3), 3);
        assert_eq!(refs(&h), 6);
        s.put(a).unwrap();
        assert_eq!((refs(&h), s.len()), (6, 4));
        let mut l = Ledger::new(&h);
        let b = s.pop().unwrap();
        let i = l.lend(b).unwrap();
        assert_eq!((refs(&h), l.outstanding(), h.free_len()), (7, 1, 4));
        assert!(l.reclaim(i + 100).is_none());
        let b = l.reclaim(i).unwrap();
        assert!(l.reclaim(i).is_none(), "returned once only");
        assert_eq!(b.index(), i);
        drop(b);
        assert_eq!((refs(&h), h.free_len()), (6, 5));
        s.flush(2);
        assert_eq!((refs(&h), s.len()), (4, 1));
        l.lend(s.pop().unwrap()).unwrap();
        drop(l);
        drop(s);
        assert_eq!((refs(&h), h.free_len()), (1, 8));
    }

    #[test]
    fn foreign_buffers_are_refused() {
        let (a, b) = (handle(2), handle(2));
        let mut s = Stash::new(&a, 2);
        let mut l = Ledger::new(&a);
        let x = b.take().unwrap();
        let x = s.put(x).unwrap_err();
        let x = l.lend(x).unwrap_err();
        assert!(x.is_of(&b) && !x.is_of(&a));
    }

    #[test]
    fn buffers_are_disjoint_slots_of_the_region() {
        let h = handle(4);
        let mut bufs: Vec<Buf> = (0..4).map(|_| h.take().unwrap()).collect();
        for b in &mut bufs {
            let i = u8::try_from(b.index()).unwrap();
            b.bytes_mut().fill(i);
        }
        let (start, len) = h.raw_region();
        for b in &bufs {
            let i = u8::try_from(b.index()).unwrap();
            assert!(b.bytes().iter().all(|&x| x == i));
            let at = b.bytes().as_ptr() as usize - start.as_ptr() as usize;
            assert_eq!(at, b.index() as usize * 64);
            assert!(at + 64 <= len);
        }
    }

    #[test]
    fn the_pool_outlives_its_last_handle_while_a_buffer_lives() {
        let h = handle(1);
        let mut b = h.take().unwrap();
        drop(h);
        b.bytes_mut()[0] = 7;
        assert_eq!(b.bytes()[0], 7);
        drop(b); // the last reference: freed here (miri or asan would see a leak otherwise)
    }
}
