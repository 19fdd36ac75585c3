//! AF_XDP sockets: UMEM registration, ring offsets and statistics, binding,
//! and the wake-up calls of need-wakeup mode.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::check;
use super::socket::{SockOpt, bind, getsockopt, setsockopt};

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
