//! Sockets: AF_PACKET creation and binding, socket options, batched sends
//! and `poll`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::check;

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
pub(super) trait SockAddr: Copy {}
impl SockAddr for libc::sockaddr_ll {}
impl SockAddr for libc::sockaddr_xdp {}

/// bind(2) to a socket address of its family.
pub(super) fn bind<A: SockAddr>(fd: &OwnedFd, sa: &A) -> io::Result<()> {
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

/// getsockopt(2) of a plain-data value.
pub(super) fn getsockopt<T: SockOpt>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
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
