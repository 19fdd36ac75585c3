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
            off % 4 == 0 && off.checked_add(4).is_some_and(|end| end <= self.len),
            "ring offset {off} outside the mapping"
        );
        // SAFETY: `off + 4 <= len` (asserted, without overflow), so the
        // offset pointer stays inside the mapping.
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
    /// block are finished before the kernel may reuse it). Every store takes
    /// `&mut self`, so none can happen while a [`Mapping::tpacket_block`]
    /// view is alive.
    pub(crate) fn store_release(&mut self, off: usize, v: u32) {
        self.word(off).store(v, Ordering::Release)
    }

    /// The TPACKET_V3 block at `off..off + len`, as bytes, if the kernel has
    /// handed it to user space: its status word (at `off +`
    /// [`TPACKET_BLOCK_STATUS`]) has TP_STATUS_USER. `None` while the kernel
    /// owns it, or when the range is not inside the mapping.
    ///
    /// The kernel does not write a block it handed over until the block's
    /// status is set back to TP_STATUS_KERNEL, and only a store through this
    /// mapping does that; stores take `&mut self`, so none can happen while
    /// the returned view (a borrow of `&self`) lives.
    pub(crate) fn tpacket_block(&self, off: usize, len: usize) -> Option<&[u8]> {
        let end = off.checked_add(len)?;
        if end > self.len || len < TPACKET_BLOCK_STATUS + 4 {
            return None;
        }
        if self.load_acquire(off + TPACKET_BLOCK_STATUS) & TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: `off <= end <= len` was checked, so the pointer stays inside
        // the mapping.
        let p = unsafe { self.ptr.as_ptr().add(off) };
        // [off, end) lies inside the mapping, which stays mapped as
        // long as the returned borrow of `self`. Nothing writes those bytes
        // meanwhile: the acquire load above saw the block handed to user
        // space (and orders the kernel's writes to it before our reads); the
        // kernel leaves such a block alone until its status is stored back,
        // which needs `&mut self`; and this is the ring's only mapping
        // (`AfPacketPort::open` maps it once).
        // SAFETY: in bounds, mapped for the borrow, not written, as above.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }
}

/// Offset of a TPACKET_V3 block's status word (tpacket_block_desc.hdr.bh1
/// .block_status).
pub(crate) const TPACKET_BLOCK_STATUS: usize = 8;
/// The block belongs to user space.
pub(crate) const TP_STATUS_USER: u32 = 1;

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
            off % 8 == 0 && off.checked_add(8).is_some_and(|end| end <= self.len),
            "ring offset {off} outside the mapping"
        );
        // SAFETY: `off + 8 <= len` (asserted, without overflow): the pointer
        // stays inside.
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
    pub(crate) fn write_u64(&mut self, off: usize, v: u64) {
        self.word64(off).store(v, Ordering::Relaxed)
    }

    /// Write a 32-bit descriptor field.
    pub(crate) fn write_u32(&mut self, off: usize, v: u32) {
        self.word(off).store(v, Ordering::Relaxed)
    }
}

#[cfg(test)]
impl Mapping {
    /// A private anonymous mapping standing in for a socket's ring in tests,
    /// zero-filled.
    pub(crate) fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh anonymous mapping at a kernel-chosen address
        // aliases no Rust memory; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Mapping { ptr, len })
    }

    /// Play the kernel: write `data` at `off`.
    pub(crate) fn fill(&mut self, off: usize, data: &[u8]) {
        let end = off.checked_add(data.len()).expect("offset overflows");
        assert!(end <= self.len, "fill outside the mapping");
        // SAFETY: `off <= end <= len` (asserted): the pointer stays inside.
        let dst = unsafe { self.ptr.as_ptr().add(off) };
        // SAFETY: [off, end) is inside the mapping and `&mut self` excludes
        // every view of it; `data` is a borrow of other memory, so the two
        // do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) }
    }
}
