//! AF_XDP sockets: UMEM registration, ring offsets and statistics, binding,
//! and the wake-up calls of need-wakeup mode.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::check;
use super::size_u32;
use super::socket::{SockOpt, getsockopt};

/// A raw AF_XDP socket.
pub(crate) fn xdp_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = check(unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Register the pool's whole memory as the UMEM of AF_XDP socket `fd`, cut
/// into `pool.stride()`-byte chunks (aligned chunk mode: the kernel refuses
/// a stride that is not a power of two). The address and length registered
/// are the pool's own region, never a caller's value.
///
/// From here on the kernel may write a received frame into any chunk whose
/// address is put on the fill ring of `fd` or of a socket bound to share
/// this UMEM ([`bind_xdp_shared`]), and reads the chunks put on their
/// transmit rings, until the last of those sockets is closed. That is sound
/// when the caller keeps the *UMEM contract* for each of them:
/// 1. only buffers held by an [`orbital_buf::Loans`] ledger (of this pool)
///    are ever put on a fill or transmit ring, at their chunk's address; a
///    lent buffer has no `Packet`, so no Rust reference to its bytes exists
///    while the kernel may write or read them;
/// 2. a buffer leaves the ledger while lent only when its address comes
///    back on the receive or completion ring, read after an acquire load of
///    that ring's producer, which orders the kernel's writes before ours;
/// 3. the socket is closed before its ledger is dropped (the ledger's drop
///    hands every buffer still lent back to the pool): closing unbinds the
///    socket and waits (synchronize_net) for receive paths still writing;
/// 4. a `Pool` handle is held at least as long as the socket, so the memory
///    outlives the registration (the kernel also pins the pages).
///
/// # Safety
/// The caller keeps the UMEM contract for `fd` and for every socket it
/// later binds to share this UMEM.
///
/// # Errors
/// The kernel's refusal (bad geometry, no memory to pin, a UMEM already
/// registered on `fd`).
pub(crate) unsafe fn xdp_register_umem(fd: &OwnedFd, pool: &orbital_buf::Pool) -> io::Result<()> {
    let (start, len) = pool.region();
    let einval = |_| io::Error::from_raw_os_error(libc::EINVAL);
    let reg = libc::xdp_umem_reg {
        addr: start.as_ptr() as u64,
        len: u64::try_from(len).map_err(einval)?,
        chunk_size: u32::try_from(pool.stride()).map_err(einval)?,
        headroom: 0,
        flags: 0,
        tx_metadata_len: 0,
    };
    // SAFETY: `reg` is a live xdp_umem_reg and the length passed is its
    // size, which the kernel accepts; it reads the struct during the call.
    // What the registration lets the kernel do afterwards (write frames into
    // `pool`'s region) is covered by the caller's UMEM contract.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_UMEM_REG,
            (&reg as *const libc::xdp_umem_reg).cast(),
            size_u32::<libc::xdp_umem_reg>(),
        )
    })
    .map(drop)
}

/// XDP_RX_RING: descriptors in the receive ring.
#[derive(Debug)]
pub(crate) enum XdpRxRing {}
/// XDP_TX_RING: descriptors in the transmit ring.
#[derive(Debug)]
pub(crate) enum XdpTxRing {}
/// XDP_UMEM_FILL_RING: descriptors in the fill ring.
#[derive(Debug)]
pub(crate) enum XdpUmemFillRing {}
/// XDP_UMEM_COMPLETION_RING: descriptors in the completion ring.
#[derive(Debug)]
pub(crate) enum XdpUmemCompletionRing {}

// The four ring sizes share one proof, given here and referred to below.
// SAFETY: xsk_setsockopt reads one int (EINVAL for a shorter length) as an
// entry count. The ring is memory the kernel allocates itself; it refuses
// (EINVAL) to replace a ring once created, and frees it only with the
// socket, which a mapping of the ring keeps open.
unsafe impl SockOpt for XdpRxRing {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_RX_RING;
    type Value = libc::c_int;
}
// SAFETY: as for XdpRxRing above.
unsafe impl SockOpt for XdpTxRing {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_TX_RING;
    type Value = libc::c_int;
}
// SAFETY: as for XdpRxRing above.
unsafe impl SockOpt for XdpUmemFillRing {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_UMEM_FILL_RING;
    type Value = libc::c_int;
}
// SAFETY: as for XdpRxRing above.
unsafe impl SockOpt for XdpUmemCompletionRing {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_UMEM_COMPLETION_RING;
    type Value = libc::c_int;
}

/// XDP_MMAP_OFFSETS (read only): where each ring's words sit in its mapping.
#[derive(Debug)]
pub(crate) enum XdpMmapOffsets {}
// SAFETY: the kernel writes an xdp_mmap_offsets (u64s only: any bytes
// valid), in the layout of the length we pass, which is the current
// struct's size; it reads nothing from us.
unsafe impl SockOpt for XdpMmapOffsets {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_MMAP_OFFSETS;
    type Value = libc::xdp_mmap_offsets;
}

/// XDP_STATISTICS (read only): the socket's drop and ring counters.
#[derive(Debug)]
pub(crate) enum XdpStatistics {}
// SAFETY: the kernel writes an xdp_statistics (u64s only: any bytes valid),
// at most the length we pass (its size); it reads nothing from us.
unsafe impl SockOpt for XdpStatistics {
    const LEVEL: libc::c_int = libc::SOL_XDP;
    const NAME: libc::c_int = libc::XDP_STATISTICS;
    type Value = libc::xdp_statistics;
}

/// Where the producer, consumer, flags and descriptors of each ring sit in
/// its mapping.
pub(crate) fn xdp_mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    getsockopt::<XdpMmapOffsets>(fd)
}

/// The socket's XDP_STATISTICS (cumulative since it was bound).
pub(crate) fn xdp_statistics(fd: &OwnedFd) -> io::Result<libc::xdp_statistics> {
    getsockopt::<XdpStatistics>(fd)
}

/// bind(2) of an AF_XDP socket.
///
/// # Safety
/// When `sa` asks for XDP_SHARED_UMEM, the caller keeps the UMEM contract
/// (see [`xdp_register_umem`]) for `fd`: the bind lets the kernel write into
/// the shared UMEM's chunks that `fd`'s fill ring names.
unsafe fn bind_xdp_addr(fd: &OwnedFd, sa: &libc::sockaddr_xdp) -> io::Result<()> {
    // SAFETY: `sa` is a live sockaddr_xdp and the length is its size, which
    // AF_XDP's bind expects; the kernel reads it during the call. What
    // sharing a UMEM allows afterwards is the caller's promise.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (sa as *const libc::sockaddr_xdp).cast(),
            size_u32::<libc::sockaddr_xdp>(),
        )
    })
    .map(drop)
}

/// Bind an AF_XDP socket that registered its own UMEM to one queue of one
/// interface, with XDP_* bind `flags` (XDP_SHARED_UMEM is never passed: that
/// is [`bind_xdp_shared`]'s).
pub(crate) fn bind_xdp(fd: &OwnedFd, ifindex: u32, queue: u32, flags: u16) -> io::Result<()> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: AF_XDP_FAMILY,
        sxdp_flags: flags & !libc::XDP_SHARED_UMEM,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: 0,
    };
    // SAFETY: no sharing is asked for, so the bind lets the kernel use only
    // the UMEM registered on `fd` itself (through `xdp_register_umem`, whose
    // caller vouched for it), or fails when there is none.
    unsafe { bind_xdp_addr(fd, &sa) }
}

/// Bind AF_XDP socket `fd` to one queue of one interface, sharing the UMEM
/// registered on `owner`.
///
/// # Safety
/// The caller keeps the UMEM contract (see [`xdp_register_umem`]) for `fd`.
pub(crate) unsafe fn bind_xdp_shared(
    fd: &OwnedFd,
    ifindex: u32,
    queue: u32,
    owner: &OwnedFd,
) -> io::Result<()> {
    let owner =
        u32::try_from(owner.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    let sa = libc::sockaddr_xdp {
        sxdp_family: AF_XDP_FAMILY,
        sxdp_flags: libc::XDP_SHARED_UMEM,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: owner,
    };
    // SAFETY: the caller keeps the UMEM contract for `fd`, which is what
    // binding it to `owner`'s UMEM requires.
    unsafe { bind_xdp_addr(fd, &sa) }
}

/// AF_XDP as sockaddr_xdp's u16 family field.
#[allow(clippy::cast_possible_truncation)] // 44, asserted to fit just below
const AF_XDP_FAMILY: u16 = {
    assert!(libc::AF_XDP >= 0 && libc::AF_XDP <= 0xffff);
    libc::AF_XDP as u16
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::setsockopt;

    #[test]
    fn xdp_values_have_the_kernels_sizes() {
        // include/uapi/linux/if_xdp.h: four rings of producer, consumer,
        // desc and flags offsets; six statistics counters.
        assert_eq!(size_u32::<<XdpMmapOffsets as SockOpt>::Value>(), 128);
        assert_eq!(size_u32::<<XdpStatistics as SockOpt>::Value>(), 48);
        assert_eq!(size_u32::<<XdpRxRing as SockOpt>::Value>(), 4);
        assert_eq!(size_u32::<libc::sockaddr_xdp>(), 16);
    }

    /// What the ring-size options' SAFETY comment rests on: a ring, once
    /// created, cannot be replaced under its mapping.
    #[test]
    fn an_xdp_ring_cannot_be_replaced() {
        let fd = match xdp_socket() {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EAFNOSUPPORT)) => {
                eprintln!("skipped: no AF_XDP here ({e})");
                return;
            }
            Err(e) => panic!("socket(AF_XDP): {e}"),
        };
        setsockopt::<XdpRxRing>(&fd, &64).unwrap();
        let again = setsockopt::<XdpRxRing>(&fd, &128).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EINVAL), "{again}");
        setsockopt::<XdpUmemFillRing>(&fd, &64).unwrap();
        assert!(setsockopt::<XdpUmemFillRing>(&fd, &64).is_err());
        let off = xdp_mmap_offsets(&fd).unwrap();
        assert!(off.rx.desc >= off.rx.producer);
    }
}
