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
    bind(fd, &sa)
}

/// Socket addresses: plain data whose size is the length bind(2) takes.
trait SockAddr: Copy {}
impl SockAddr for libc::sockaddr_ll {}
impl SockAddr for libc::sockaddr_xdp {}

/// bind(2) to a socket address of its family.
fn bind<A: SockAddr>(fd: &OwnedFd, sa: &A) -> io::Result<()> {
    // SAFETY: `sa` is a valid socket address (SockAddr) and the length
    // passed is its size; the kernel only reads it.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (sa as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
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
/// (or a TAP-like fd that takes one frame per message), each after
/// `prefix` (a virtio-net header, or nothing). Returns how many the kernel
/// took; `WouldBlock` when it took none because its queue is full.
pub(crate) fn send_frames(fd: &OwnedFd, prefix: &[u8], frames: &[&[u8]]) -> io::Result<usize> {
    let n = frames.len().min(SEND_CHUNK);
    // SAFETY: iovec and mmsghdr are plain data; all-zero is valid (null
    // pointers with zero lengths).
    let mut iov: [[libc::iovec; 2]; SEND_CHUNK] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; SEND_CHUNK] = unsafe { std::mem::zeroed() };
    let first = usize::from(prefix.is_empty());
    for i in 0..n {
        iov[i][0].iov_base = prefix.as_ptr() as *mut libc::c_void;
        iov[i][0].iov_len = prefix.len();
        iov[i][1].iov_base = frames[i].as_ptr() as *mut libc::c_void;
        iov[i][1].iov_len = frames[i].len();
        msgs[i].msg_hdr.msg_iov = &mut iov[i][first];
        msgs[i].msg_hdr.msg_iovlen = 2 - first;
    }
    // SAFETY: each of the first `n` messages points at one or two iovecs
    // that point at the borrowed prefix and frame, alive for the call; the
    // kernel only reads them (and writes msg_len inside `msgs`).
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

impl SockOpt for TpacketStatsV3 {}

/// PACKET_STATISTICS: frames the kernel dropped for want of ring room since
/// the last call (reading resets the kernel's counters).
pub(crate) fn packet_drops(fd: &OwnedFd) -> io::Result<u32> {
    getsockopt::<TpacketStatsV3>(fd, 263, libc::PACKET_STATISTICS).map(|st| st.drops)
}

// ---------------------------------------------------------------------------
// AF_XDP sockets and their rings.

/// A UDP socket, for interface ioctls (ethtool) that an AF_XDP socket does
/// not answer.
pub(crate) fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A raw AF_XDP socket.
pub(crate) fn xdp_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = check(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Register the pool's whole memory as the UMEM of AF_XDP socket `fd`, cut
/// into `pool.stride()`-byte chunks (which must be a power of two: aligned
/// chunk mode).
///
/// From here on the kernel may write frames into any chunk whose index the
/// caller puts on a fill ring of a socket sharing this UMEM, until that
/// socket is closed. That is sound when the caller (`afxdp::XdpPort`)
/// keeps these promises:
/// * only buffers held by a [`orbital_buf::Loans`] ledger are ever put on a
///   fill or transmit ring, and a lent buffer has no `Packet`, so no Rust
///   reference to its bytes exists while the kernel may write them;
/// * the ledger hands a buffer back only when its index comes back on the
///   receive or completion ring, after an acquire load of the ring's
///   producer that orders the kernel's writes before our reads;
/// * the port drops its socket before its ledger, and closing an XDP socket
///   waits (synchronize_net) until no receive path still writes into its
///   UMEM, so buffers the ledger returns to the pool at drop are quiet;
/// * the socket holds a `Pool` handle, so the memory outlives the
///   registration (the kernel also pins the pages).
///
/// # Safety
/// The caller keeps the four promises above for this socket and every
/// socket that shares its UMEM.
pub(crate) unsafe fn xdp_register_umem(fd: &OwnedFd, pool: &orbital_buf::Pool) -> io::Result<()> {
    let (start, len) = pool.region();
    let reg = libc::xdp_umem_reg {
        addr: start.as_ptr() as u64,
        len: len as u64,
        chunk_size: pool.stride() as u32,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    setsockopt(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg)
}

impl SockOpt for libc::xdp_umem_reg {}

impl SockOpt for libc::xdp_mmap_offsets {}
impl SockOpt for libc::xdp_statistics {}

/// getsockopt(2) of a plain-data value.
fn getsockopt<T: SockOpt>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    // SAFETY: T is plain data (SockOpt): all-zero is a valid value.
    let mut v: T = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes and `len` is `v`'s size;
    // the kernel writes at most that many bytes, and any bytes are a valid T.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// Where the producer, consumer, flags and descriptors of each ring sit in
/// its mapping.
pub(crate) fn xdp_mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    getsockopt(fd, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS)
}

/// The socket's XDP_STATISTICS (cumulative since it was bound).
pub(crate) fn xdp_statistics(fd: &OwnedFd) -> io::Result<libc::xdp_statistics> {
    getsockopt(fd, libc::SOL_XDP, libc::XDP_STATISTICS)
}

/// Bind an AF_XDP socket to one queue of one interface; `shared` is the
/// socket that registered the UMEM when this one shares it.
pub(crate) fn bind_xdp(
    fd: &OwnedFd,
    ifindex: u32,
    queue: u32,
    flags: u16,
    shared: Option<RawFd>,
) -> io::Result<()> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags
            | if shared.is_some() {
                libc::XDP_SHARED_UMEM
            } else {
                0
            },
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared.map_or(0, |f| f as u32),
    };
    bind(fd, &sa)
}

/// Ask the kernel to transmit what is on the socket's TX ring (copy mode
/// sends from this call). `Ok(true)` when it stopped early with more left.
pub(crate) fn xdp_kick_tx(fd: &OwnedFd) -> io::Result<bool> {
    // SAFETY: a zero-length sendto with null buffer and address reads no
    // memory; for AF_XDP it only starts transmission.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r >= 0 {
        return Ok(false);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EBUSY) => Ok(true),
        Some(libc::ENOBUFS) | Some(libc::ENETDOWN) => Ok(false),
        _ => Err(e),
    }
}

/// Wake the kernel to refill from the fill ring (need-wakeup mode).
pub(crate) fn xdp_kick_rx(fd: &OwnedFd) {
    // SAFETY: a zero-length recvfrom with null buffer and address writes no
    // memory; for AF_XDP it only wakes the driver's receive processing.
    unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
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

// ---------------------------------------------------------------------------
// bpf(2): the XSKMAP, the redirect program, and its link to the interface.

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// Attach type of XDP programs (enum bpf_attach_type).
const BPF_XDP: u32 = 37;

/// One eBPF instruction, as the kernel reads it (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BpfInsn {
    pub(crate) code: u8,
    /// dst register in the low nibble, src in the high one.
    pub(crate) regs: u8,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// bpf(2) with command `cmd` on attribute struct `attr`; a non-negative
/// result that is a descriptor is the caller's to wrap.
///
/// # Safety
/// `A` is the attribute layout of `cmd`, and every pointer stored in it
/// points at memory valid for what the kernel does with it under `cmd`,
/// for the duration of the call.
unsafe fn bpf<A>(cmd: libc::c_int, attr: &mut A) -> io::Result<libc::c_int> {
    // SAFETY: the caller vouches for the attribute's layout and pointers;
    // the size passed is the struct's, so the kernel reads no further.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut A).cast::<libc::c_void>(),
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    check(r as libc::c_int)
}

fn name16(name: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, s) in n.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    n
}

/// An XSKMAP with `entries` slots (one per receive queue), named `name`.
pub(crate) fn bpf_xskmap(name: &str, entries: u32) -> io::Result<OwnedFd> {
    let mut a = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_flags: 0,
        inner_map_fd: 0,
        numa_node: 0,
        map_name: name16(name),
    };
    // SAFETY: MapCreateAttr is the head of BPF_MAP_CREATE's attribute and
    // holds no pointers.
    let fd = unsafe { bpf(BPF_MAP_CREATE, &mut a) }?;
    // SAFETY: BPF_MAP_CREATE returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set `map[key] = value` for a map of u32 keys and values.
pub(crate) fn bpf_map_update_u32(map: &OwnedFd, key: u32, value: u32) -> io::Result<()> {
    let mut a = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: (&key as *const u32) as u64,
        value: (&value as *const u32) as u64,
        flags: 0,
    };
    // SAFETY: key and value point at live u32s (the map's sizes) that the
    // kernel only reads during the call.
    unsafe { bpf(BPF_MAP_UPDATE_ELEM, &mut a) }.map(drop)
}

/// Load an XDP program. On refusal the verifier's log is in the error.
pub(crate) fn bpf_load_xdp(name: &str, insns: &[BpfInsn]) -> io::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 64 * 1024];
    let load = |log_level: u32, log: &mut Vec<u8>| {
        let mut a = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size: if log_level > 0 { log.len() as u32 } else { 0 },
            log_buf: if log_level > 0 {
                log.as_mut_ptr() as u64
            } else {
                0
            },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name16(name),
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
        };
        // SAFETY: `insns` points at `insn_cnt` instructions and `license` at a
        // NUL-terminated string, both read-only during the call; `log_buf`
        // (when set) points at `log_size` writable bytes.
        unsafe { bpf(BPF_PROG_LOAD, &mut a) }
    };
    let fd = match load(0, &mut log) {
        Ok(fd) => fd,
        Err(first) => match load(1, &mut log) {
            Ok(fd) => fd,
            Err(_) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                return Err(io::Error::new(
                    first.kind(),
                    format!("{first}; verifier: {}", text.trim()),
                ));
            }
        },
    };
    // SAFETY: BPF_PROG_LOAD returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach XDP program `prog` to interface `ifindex` through a BPF link,
/// with XDP_FLAGS_* `flags`. The program stays attached exactly as long as
/// the returned descriptor is open (also across a crash: the kernel closes
/// it), which is how a port removes its program.
pub(crate) fn bpf_link_xdp(prog: &OwnedFd, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut a = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    // SAFETY: LinkCreateAttr is the head of BPF_LINK_CREATE's attribute and
    // holds no pointers.
    let fd = unsafe { bpf(BPF_LINK_CREATE, &mut a) }?;
    // SAFETY: BPF_LINK_CREATE returns a new descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
