//! Interface ioctls: name to index, ethtool queries, TUN/TAP setup.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::check;

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
