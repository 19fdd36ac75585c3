//! The raw memory behind a pool: one zeroed, page-aligned allocation cut into
//! equal slots. This is the only module of the crate that touches raw
//! pointers; everything above it works with slot indices.
//!
//! Page alignment (not just the 64 bytes a cache line needs) lets the same
//! region later be registered as an AF_XDP UMEM, whose frames must start on
//! page-aligned memory.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of the whole region.
pub(crate) const REGION_ALIGN: usize = 4096;

/// A zero-initialised allocation of `count` slots of `stride` bytes.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
    stride: usize,
    count: u32,
}

// SAFETY: Region is a plain block of bytes; it hands out slot slices only
// through `unsafe fn`s whose callers promise exclusive (or shared read-only)
// access to a slot, so moving or sharing the Region across threads cannot by
// itself create a data race.
unsafe impl Send for Region {}
// SAFETY: as above: `&Region` exposes no safe way to reach the bytes.
unsafe impl Sync for Region {}

impl Region {
    /// Allocate `count * stride` zeroed bytes. Zeroing matters for soundness:
    /// a packet may expose bytes of its slot that no one wrote in this life of
    /// the buffer (headroom, or `append`), and those must be initialised.
    pub(crate) fn new(count: u32, stride: usize) -> Option<Region> {
        let size = (count as usize).checked_mul(stride)?.max(1);
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

    /// Bytes per slot.
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// Shared view of slot `index`.
    ///
    /// # Safety
    /// `index < count`, and for the returned lifetime no one holds a mutable
    /// view of the same slot (the caller owns the slot's index).
    #[inline]
    pub(crate) unsafe fn slot<'a>(&self, index: u32) -> &'a [u8] {
        let start = self.slot_ptr(index);
        // SAFETY: `start..start + stride` lies inside the allocation (see
        // `slot_ptr`), was initialised by `alloc_zeroed` and stays allocated
        // while the Region lives (the caller's packet keeps the pool alive);
        // the caller guarantees no concurrent mutable view of this slot.
        unsafe { std::slice::from_raw_parts(start, self.stride) }
    }

    /// Exclusive view of slot `index`.
    ///
    /// # Safety
    /// `index < count`, and for the returned lifetime no other view of the
    /// same slot exists (the caller owns the slot's index exclusively).
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slot_mut<'a>(&self, index: u32) -> &'a mut [u8] {
        let start = self.slot_ptr(index);
        // SAFETY: in bounds and initialised as in `slot`; exclusivity of the
        // slot is the caller's promise, and distinct slots never overlap
        // because each is `stride` bytes at `index * stride`.
        unsafe { std::slice::from_raw_parts_mut(start, self.stride) }
    }

    /// Address of slot `index`. Safe to compute: `wrapping_add` never
    /// dereferences, and for `index < count` the result is in bounds.
    /// `index < count` holds by construction — indices are only ever made by
    /// the pool, from its free list of `0..count` — so it is checked in
    /// debug builds only: this runs on every access to a packet's bytes.
    #[inline]
    fn slot_ptr(&self, index: u32) -> *mut u8 {
        debug_assert!(index < self.count, "buffer index {index} outside the pool");
        self.ptr.as_ptr().wrapping_add(index as usize * self.stride)
    }

    /// Start address and length of the region, for registering it with the
    /// kernel (AF_XDP UMEM). Reading or writing through it is up to the caller.
    pub(crate) fn raw_parts(&self) -> (NonNull<u8>, usize) {
        (self.ptr, self.layout.size())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
