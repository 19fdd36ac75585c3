//! Shared mappings of a socket's rings (TPACKET_V3 blocks, AF_XDP rings) and
//! the atomic and byte views the ports read and write them through.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A shared mapping of a socket's ring, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by exactly one Mapping; moving it to another
// thread moves the only handle (nothing thread-local is involved).
unsafe impl Send for Mapping {}

impl Mapping {
    /// mmap(2) `len` bytes of `fd`'s ring, shared and read-write.
    pub(crate) fn new(fd: &OwnedFd, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping at a kernel-chosen address aliases no Rust
        // memory; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        // MAP_LOCKED may be refused under a low RLIMIT_MEMLOCK; retry without.
        let p = if p == libc::MAP_FAILED {
            // SAFETY: as above.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_POPULATE,
                    fd.as_raw_fd(),
                    0,
                )
            }
        } else {
            p
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Mapping { ptr, len })
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(
            off % 4 == 0 && off + 4 <= self.len,
            "ring offset {off} outside the mapping"
        );
        // SAFETY: `off + 4 <= len` (asserted), so the offset pointer stays
        // inside the mapping.
        let p = unsafe { self.ptr.as_ptr().add(off) };
        // SAFETY: `p` is 4-aligned (page-aligned base, asserted offset) and
        // inside the mapping, which lives as long as `self`; the kernel
        // accesses ring status words atomically too, so an AtomicU32 view is
        // the correct shared type.
        unsafe { AtomicU32::from_ptr(p.cast::<u32>()) }
    }

    /// Read a status word the kernel publishes (acquire: the frame bytes it
    /// guards are visible once it reads "user").
    pub(crate) fn load_acquire(&self, off: usize) -> u32 {
        self.word(off).load(Ordering::Acquire)
    }

    /// Hand a status word back to the kernel (release: our reads of the
    /// block are finished before the kernel may reuse it).
    pub(crate) fn store_release(&self, off: usize, v: u32) {
        self.word(off).store(v, Ordering::Release)
    }

    /// Bytes of the mapping. Only call for a region the kernel has handed to
    /// user space (its block status is "user") and not yet handed back: the
    /// kernel does not write it meanwhile.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> Option<&[u8]> {
        let end = off.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `off <= end <= len` was checked, so the pointer stays inside
        // the mapping.
        let p = unsafe { self.ptr.as_ptr().add(off) };
        // SAFETY: [off, end) lies inside the mapping, which lives as long as
        // the returned borrow of `self`; the caller only asks for regions
        // owned by user space (see above), so no concurrent write happens.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; no borrow of the
        // mapping outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

impl Mapping {
    /// mmap(2) `len` bytes of `fd` at page offset `offset` (the AF_XDP
    /// rings are told apart by offset), shared and read-write.
    pub(crate) fn new_at(fd: &OwnedFd, len: usize, offset: u64) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping at a kernel-chosen address aliases no Rust
        // memory; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Mapping { ptr, len })
    }

    fn word64(&self, off: usize) -> &std::sync::atomic::AtomicU64 {
        assert!(
            off % 8 == 0 && off + 8 <= self.len,
            "ring offset {off} outside the mapping"
        );
        // SAFETY: `off + 8 <= len` (asserted): the pointer stays inside.
        let p = unsafe { self.ptr.as_ptr().add(off) };
        // Descriptor slots are shared with the kernel, which hands them over
        // through the ring's producer/consumer words: an atomic view is the
        // right shared type, and relaxed accesses suffice because those
        // words carry the acquire/release ordering.
        // SAFETY: 8-aligned (page-aligned base, asserted offset) and inside
        // the mapping, which lives as long as `self`.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(p.cast::<u64>()) }
    }

    /// Read a ring word without ordering (our own index, or a flag).
    pub(crate) fn load_relaxed(&self, off: usize) -> u32 {
        self.word(off).load(Ordering::Relaxed)
    }

    /// Read a 64-bit descriptor field.
    pub(crate) fn read_u64(&self, off: usize) -> u64 {
        self.word64(off).load(Ordering::Relaxed)
    }

    /// Write a 64-bit descriptor field (published by a later release store
    /// of the producer).
    pub(crate) fn write_u64(&self, off: usize, v: u64) {
        self.word64(off).store(v, Ordering::Relaxed)
    }

    /// Write a 32-bit descriptor field.
    pub(crate) fn write_u32(&self, off: usize, v: u32) {
        self.word(off).store(v, Ordering::Relaxed)
    }
}
