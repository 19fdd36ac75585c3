//! Sockets: AF_PACKET creation and binding, socket options, batched sends
//! and `poll`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{check, size_u32};

/// ETH_P_ALL (every protocol) in network order, as sockaddr_ll's u16 field.
#[allow(clippy::cast_possible_truncation)] // 3, asserted to fit just below
const ETH_P_ALL_BE: u16 = {
    assert!(libc::ETH_P_ALL >= 0 && libc::ETH_P_ALL <= 0xffff);
    (libc::ETH_P_ALL as u16).to_be()
};

/// AF_PACKET as sockaddr_ll's u16 family field.
#[allow(clippy::cast_possible_truncation)] // 17, asserted to fit just below
const AF_PACKET_FAMILY: u16 = {
    assert!(libc::AF_PACKET >= 0 && libc::AF_PACKET <= 0xffff);
    libc::AF_PACKET as u16
};

/// A raw AF_PACKET socket receiving every protocol, non-blocking.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    let proto = libc::c_int::from(ETH_P_ALL_BE);
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

/// A socket option, bound to the one value type the kernel takes for it.
///
/// Tying the value type to the option (rather than letting a caller pass any
/// plain-data value under any option name) is what makes [`setsockopt`] and
/// [`getsockopt`] safe: a 28-byte `tpacket_req3` passed under XDP_UMEM_REG
/// would otherwise register whatever address its first fields spell.
///
/// # Safety
/// An implementation promises, for option `NAME` at level `LEVEL`:
/// * `Value` has the layout the kernel reads on setsockopt(2) and writes on
///   getsockopt(2), and `size_of::<Value>()` is a length it accepts: it
///   copies at most that many bytes either way;
/// * every byte pattern of that size, all-zero included, is a valid `Value`
///   (no references, `bool`s, enums or other niches), since the kernel may
///   write any bytes into it;
/// * setting the option makes the kernel follow no address held in `Value`
///   and gives it no access to memory this process owns or has mapped.
///   Options that hand the kernel an address (XDP_UMEM_REG, SO_ATTACH_FILTER)
///   must never implement this trait: they get their own `unsafe fn`. An
///   option that makes the kernel allocate memory of its own, which we map
///   later, qualifies only if the kernel refuses to free or replace that
///   memory while it is mapped.
pub(crate) unsafe trait SockOpt {
    /// The option's level (SOL_PACKET, SOL_XDP, ...).
    const LEVEL: libc::c_int;
    /// The option's name at that level.
    const NAME: libc::c_int;
    /// What the kernel reads or writes for it.
    type Value: Copy;
}

/// SOL_PACKET: level 263 (linux/socket.h); libc does not export it.
pub(crate) const SOL_PACKET: libc::c_int = 263;

/// PACKET_VERSION: the ring layout (TPACKET_V3).
#[derive(Debug)]
pub(crate) enum PacketVersion {}
// SAFETY: packet_setsockopt reads exactly one int for PACKET_VERSION
// (EINVAL for any other length) and uses it as a number; any int is a valid
// c_int. It refuses (EBUSY) once a ring exists, so a mapped ring keeps the
// layout it was mapped with.
unsafe impl SockOpt for PacketVersion {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_VERSION;
    type Value = libc::c_int;
}

/// PACKET_IGNORE_OUTGOING: do not loop our own transmissions back.
#[derive(Debug)]
pub(crate) enum PacketIgnoreOutgoing {}
// SAFETY: one int read as a flag (EINVAL for a shorter length); no address.
unsafe impl SockOpt for PacketIgnoreOutgoing {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_IGNORE_OUTGOING;
    type Value = libc::c_int;
}

/// PACKET_VNET_HDR: a virtio-net header in front of every frame.
#[derive(Debug)]
pub(crate) enum PacketVnetHdr {}
// SAFETY: one int read as a flag (EINVAL for a shorter length); no address.
// It only changes where frames sit inside the ring, whose offsets the
// receive path bounds-checks against the block anyway.
unsafe impl SockOpt for PacketVnetHdr {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_VNET_HDR;
    type Value = libc::c_int;
}

/// PACKET_QDISC_BYPASS: transmit straight to the driver.
#[derive(Debug)]
pub(crate) enum PacketQdiscBypass {}
// SAFETY: one int read as a flag (EINVAL for a shorter length); no address.
unsafe impl SockOpt for PacketQdiscBypass {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_QDISC_BYPASS;
    type Value = libc::c_int;
}

/// PACKET_FANOUT: join a fanout group (group id and mode in one int).
#[derive(Debug)]
pub(crate) enum PacketFanout {}
// SAFETY: with a length of one int the kernel reads just the int form (the
// longer fanout_args form needs a longer length) and uses it as numbers.
unsafe impl SockOpt for PacketFanout {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_FANOUT;
    type Value = libc::c_int;
}

/// PACKET_RX_RING: the geometry of the TPACKET_V3 receive ring.
#[derive(Debug)]
pub(crate) enum PacketRxRing {}
// tpacket_req3 is seven u32s (any bytes valid) that the kernel copies by
// the length given and reads as numbers. The ring it describes is memory
// the kernel allocates itself; it refuses (EBUSY) to set up a second ring
// while one exists and frees a ring only while nothing maps it, so a later
// call can never pull the ring from under a `Mapping`.
// SAFETY: plain numbers in, no user memory handed over, as above.
unsafe impl SockOpt for PacketRxRing {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_RX_RING;
    type Value = libc::tpacket_req3;
}

/// PACKET_ADD_MEMBERSHIP: e.g. promiscuous mode on one interface.
#[derive(Debug)]
pub(crate) enum PacketAddMembership {}
// SAFETY: packet_mreq is integers and an 8-byte hardware address held by
// value (any bytes valid); the kernel copies it and follows no address.
unsafe impl SockOpt for PacketAddMembership {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_ADD_MEMBERSHIP;
    type Value = libc::packet_mreq;
}

/// struct tpacket_stats_v3.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// PACKET_STATISTICS (read only): the ring's receive and drop counters.
#[derive(Debug)]
pub(crate) enum PacketStatistics {}
// SAFETY: for a TPACKET_V3 socket the kernel writes a tpacket_stats_v3,
// three u32s (any bytes valid), truncated to the length we pass (its size);
// reading it touches no memory but the value.
unsafe impl SockOpt for PacketStatistics {
    const LEVEL: libc::c_int = SOL_PACKET;
    const NAME: libc::c_int = libc::PACKET_STATISTICS;
    type Value = TpacketStatsV3;
}

/// setsockopt(2) of option `O`.
pub(crate) fn setsockopt<O: SockOpt>(fd: &OwnedFd, value: &O::Value) -> io::Result<()> {
    // SAFETY: `value` points at size_of::<O::Value>() readable bytes for the
    // call's duration, and that length is one the kernel accepts for `O`;
    // by `O`'s SockOpt contract the kernel only copies the value and gains
    // access to no memory of ours through it.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            O::LEVEL,
            O::NAME,
            (value as *const O::Value).cast(),
            size_u32::<O::Value>(),
        )
    })
    .map(drop)
}

/// getsockopt(2) of option `O`.
pub(crate) fn getsockopt<O: SockOpt>(fd: &OwnedFd) -> io::Result<O::Value> {
    // SAFETY: all-zero is a valid `O::Value` (SockOpt contract).
    let mut v: O::Value = unsafe { std::mem::zeroed() };
    let mut len = size_u32::<O::Value>();
    // SAFETY: `v` and `len` are live and writable for the call, `len` is
    // `v`'s size, and the kernel writes at most `len` bytes; whatever bytes
    // it writes are a valid `O::Value` (SockOpt contract).
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            O::LEVEL,
            O::NAME,
            (&mut v as *mut O::Value).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// Bind a packet socket to one interface.
pub(crate) fn bind_packet(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = AF_PACKET_FAMILY;
    sa.sll_protocol = ETH_P_ALL_BE;
    sa.sll_ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    bind(fd, &sa)
}

/// A socket address that [`bind`] may pass to the kernel.
///
/// # Safety
/// An implementation promises that `Self` is the complete address struct of
/// one family, that `size_of::<Self>()` is the length bind(2) expects for it,
/// and that binding any value of it gives the kernel access to no memory of
/// this process (the kernel reads the struct, during the call only).
/// `sockaddr_xdp` does not qualify: with XDP_SHARED_UMEM it hands a socket
/// another socket's UMEM, so AF_XDP binds live in `xdp.rs` as their own calls.
pub(super) unsafe trait SockAddr: Copy {}
// SAFETY: sockaddr_ll is AF_PACKET's whole address (family, protocol,
// ifindex, hardware address by value); binding to it selects an interface
// and touches no memory of ours.
unsafe impl SockAddr for libc::sockaddr_ll {}

/// bind(2) to a socket address of its family.
pub(super) fn bind<A: SockAddr>(fd: &OwnedFd, sa: &A) -> io::Result<()> {
    // SAFETY: `sa` is live for the call and the length passed is its size,
    // the length its family expects (SockAddr contract); the kernel reads it
    // and, by the same contract, gains access to no memory of ours.
    check(unsafe { libc::bind(fd.as_raw_fd(), (sa as *const A).cast(), size_u32::<A>()) }).map(drop)
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
            // n <= SEND_CHUNK (64).
            u32::try_from(n).unwrap_or(0),
            libc::MSG_DONTWAIT,
        )
    };
    check(r).map(|r| r as usize)
}

/// Write one frame after `prefix` (a virtio-net header, or nothing) with one
/// writev(2), to a descriptor that takes one frame per write (a TAP fd).
/// Returns the bytes written.
pub(crate) fn write_frame(fd: BorrowedFd<'_>, prefix: &[u8], frame: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: prefix.as_ptr() as *mut libc::c_void,
            iov_len: prefix.len(),
        },
        libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        },
    ];
    // SAFETY: both iovecs point at live borrowed slices of the lengths given,
    // which the kernel only reads during the call; the count is 2.
    let r = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) };
    usize::try_from(r).map_err(|_| io::Error::last_os_error())
}

/// Whether a send failed only because the device or socket has no room now
/// (its queue or send buffer is full): the frame was not taken and may be
/// offered again later. Any other error is about that frame, or lasting.
pub(crate) fn is_no_room(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
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

/// PACKET_STATISTICS: frames the kernel dropped for want of ring room since
/// the last call (reading resets the kernel's counters).
pub(crate) fn packet_drops(fd: &OwnedFd) -> io::Result<u32> {
    getsockopt::<PacketStatistics>(fd).map(|st| st.drops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Mapping;

    /// A packet socket, or `None` where the test may not open one (no
    /// CAP_NET_RAW): the checks below are about the kernel's behaviour, which
    /// only a real socket shows.
    fn packet_socket_or_skip() -> Option<OwnedFd> {
        match packet_socket() {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!("skipped: no CAP_NET_RAW ({e})");
                None
            }
            Err(e) => panic!("socket(AF_PACKET): {e}"),
        }
    }

    #[test]
    fn option_values_have_the_kernels_sizes() {
        // The lengths the kernel checks (include/uapi/linux/if_packet.h).
        assert_eq!(size_u32::<<PacketRxRing as SockOpt>::Value>(), 28);
        assert_eq!(size_u32::<<PacketAddMembership as SockOpt>::Value>(), 16);
        assert_eq!(size_u32::<<PacketStatistics as SockOpt>::Value>(), 12);
        assert_eq!(size_u32::<<PacketFanout as SockOpt>::Value>(), 4);
        assert_eq!(size_u32::<libc::sockaddr_ll>(), 20);
    }

    /// What `PacketRxRing`'s SAFETY comment rests on: once a ring exists the
    /// kernel will neither replace it nor, while it is mapped, free it.
    #[test]
    fn a_mapped_packet_ring_can_be_neither_replaced_nor_freed() {
        let Some(fd) = packet_socket_or_skip() else {
            return;
        };
        setsockopt::<PacketVersion>(&fd, &2).unwrap();
        assert_eq!(getsockopt::<PacketVersion>(&fd).unwrap(), 2);
        let page = 4096;
        let req = libc::tpacket_req3 {
            tp_block_size: page,
            tp_block_nr: 2,
            tp_frame_size: 2048,
            tp_frame_nr: 4,
            tp_retire_blk_tov: 1,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt::<PacketRxRing>(&fd, &req).unwrap();
        let map = Mapping::new(&fd, 2 * page as usize).unwrap();
        let again = setsockopt::<PacketRxRing>(&fd, &req).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EBUSY), "{again}");
        let free = libc::tpacket_req3 {
            tp_block_size: 0,
            tp_block_nr: 0,
            tp_frame_size: 0,
            tp_frame_nr: 0,
            ..req
        };
        let freed = setsockopt::<PacketRxRing>(&fd, &free).unwrap_err();
        assert_eq!(freed.raw_os_error(), Some(libc::EBUSY), "{freed}");
        // A version change under the ring is refused too.
        assert!(setsockopt::<PacketVersion>(&fd, &1).is_err());
        // The mapping is still whole: the first block's header reads.
        let _ = map.load_acquire(8);
        assert_eq!(getsockopt::<PacketStatistics>(&fd).unwrap().drops, 0);
    }
}
