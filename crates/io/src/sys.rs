//! The unsafe half: sockets, socket options, the shared ring mapping, batched
//! sends, `poll`, and the ioctls (ethtool, TUN). Every function here is a
//! thin wrapper whose safe signature makes the kernel call's contract hold;
//! the port logic in the other modules uses only these.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A raw AF_PACKET socket receiving every protocol, non-blocking.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns, so OwnedFd may take it.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Plain-old-data option values: any byte pattern of their size is what the
/// kernel reads, and they hold no pointers.
pub(crate) trait SockOpt: Copy {}
impl SockOpt for libc::c_int {}
impl SockOpt for libc::tpacket_req3 {}
impl SockOpt for libc::packet_mreq {}

/// setsockopt(2) with a plain-data value.
pub(crate) fn setsockopt<T: SockOpt>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points at size_of::<T>() readable bytes for the call's
    // duration; T is plain data (SockOpt), so the kernel reads no pointer.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// The interface index of `name`.
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

/// Bind a packet socket to one interface.
pub(crate) fn bind_packet(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sa.sll_ifindex = ifindex as i32;
    // SAFETY: `sa` is a valid sockaddr_ll and the length passed is its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
    .map(drop)
}

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

/// Frames sent per sendmmsg(2) call.
pub(crate) const SEND_CHUNK: usize = 64;

/// Send up to [`SEND_CHUNK`] frames in one sendmmsg(2) on a bound socket
/// (or a TAP-like fd that takes one frame per message). Returns how many the
/// kernel took; `WouldBlock` when it took none because its queue is full.
pub(crate) fn send_frames(fd: &OwnedFd, frames: &[&[u8]]) -> io::Result<usize> {
    let n = frames.len().min(SEND_CHUNK);
    // SAFETY: iovec and mmsghdr are plain data; all-zero is valid (null
    // pointers with zero lengths).
    let mut iov: [libc::iovec; SEND_CHUNK] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; SEND_CHUNK] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iov[i].iov_base = frames[i].as_ptr() as *mut libc::c_void;
        iov[i].iov_len = frames[i].len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: each of the first `n` messages points at one iovec that points
    // at a borrowed frame alive for the call; the kernel only reads them
    // (and writes msg_len inside `msgs`).
    let r = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            msgs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    check(r).map(|r| r as usize)
}

/// poll(2) for readability of `fds`, at most `timeout_ms`. Returns the
/// number ready (0 on timeout or interruption).
pub(crate) fn wait_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<usize> {
    const MAX: usize = 64;
    // SAFETY: pollfd is plain data; all-zero is valid.
    let mut p: [libc::pollfd; MAX] = unsafe { std::mem::zeroed() };
    let n = fds.len().min(MAX);
    for (slot, &fd) in p.iter_mut().zip(&fds[..n]) {
        slot.fd = fd;
        slot.events = libc::POLLIN;
    }
    // SAFETY: the first `n` entries of `p` are valid pollfds; poll writes
    // only their revents.
    let r = unsafe { libc::poll(p.as_mut_ptr(), n as libc::nfds_t, timeout_ms) };
    match check(r) {
        Ok(r) => Ok(r as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ifname(name: &str) -> io::Result<[libc::c_char; libc::IFNAMSIZ]> {
    let b = name.as_bytes();
    if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut n = [0 as libc::c_char; libc::IFNAMSIZ];
    for (d, s) in n.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    Ok(n)
}

/// One legacy ethtool "get value" command (ETHTOOL_GRXCSUM, GTXCSUM, GTSO,
/// GGSO, ...) on interface `name`, through any socket `fd`.
pub(crate) fn ethtool_get(fd: &OwnedFd, name: &str, cmd: u32) -> io::Result<u32> {
    let mut v = EthtoolValue { cmd, data: 0 };
    let mut ifr = IfreqData {
        name: ifname(name)?,
        data: (&mut v as *mut EthtoolValue).cast(),
        _pad: [0; 16],
    };
    // SAFETY: `ifr` is a valid struct ifreq (name + ifr_data pointer, padded
    // to the kernel's size) whose data points at a live ethtool_value; the
    // kernel writes only `v.data` for these commands.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) })?;
    Ok(v.data)
}

#[repr(C)]
#[derive(Clone, Copy)]
struct IfreqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Attach `fd` (an open /dev/net/tun) to TAP device `name` with `flags`
/// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR ...).
pub(crate) fn tun_set_iff(fd: &OwnedFd, name: &str, flags: libc::c_short) -> io::Result<()> {
    let mut ifr = IfreqFlags {
        name: ifname(name)?,
        flags,
        _pad: [0; 22],
    };
    // SAFETY: TUNSETIFF reads and writes a struct ifreq; `ifr` is one (name +
    // flags, padded to the kernel's 40 bytes) and lives for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) }).map(drop)
}

/// TUNSETVNETHDRSZ: the size of the virtio-net header on this TAP fd.
pub(crate) fn tun_set_vnet_hdr_size(fd: &OwnedFd, size: libc::c_int) -> io::Result<()> {
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which
    // points at a live int.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) }).map(drop)
}

/// TUNSETOFFLOAD: which offloads the TAP fd accepts from the kernel.
pub(crate) fn tun_set_offload(fd: &OwnedFd, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value; no memory is touched.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, flags as libc::c_ulong) })
        .map(drop)
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// PACKET_STATISTICS: frames the kernel dropped for want of ring room since
/// the last call (reading resets the kernel's counters).
pub(crate) fn packet_drops(fd: &OwnedFd) -> io::Result<u32> {
    let mut st = TpacketStatsV3::default();
    let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
    // SAFETY: `st` and `len` are valid for writes and `len` is `st`'s size;
    // the kernel writes at most that many bytes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            263,
            libc::PACKET_STATISTICS,
            (&mut st as *mut TpacketStatsV3).cast(),
            &mut len,
        )
    })?;
    Ok(st.drops)
}
