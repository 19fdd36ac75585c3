//! The unsafe half: sockets, socket options, the shared ring mappings,
//! batched sends, `poll`, the ioctls (ethtool, TUN), AF_XDP and bpf(2).
//! Every function here is a thin wrapper whose safe signature makes the
//! kernel call's contract hold; the port logic in the other modules uses
//! only these. One file per concern:
//!
//! - `socket`: AF_PACKET sockets, bind, socket options, sendmmsg, poll;
//! - `mmap`: the shared ring mappings and their atomic and byte views;
//! - `ioctl`: interface names and indices, ethtool, TUN/TAP;
//! - `xdp`: AF_XDP sockets, UMEM registration, ring offsets, wake-ups;
//! - `bpf`: the XSKMAP, the redirect program and its link.
#![allow(unsafe_code)]

use std::io;

mod bpf;
mod ioctl;
mod mmap;
mod socket;
mod xdp;

pub(crate) use bpf::{BpfInsn, bpf_link_xdp, bpf_load_xdp, bpf_map_update_u32, bpf_xskmap};
pub(crate) use ioctl::{
    ethtool_get, if_index, ioctl_socket, tun_set_iff, tun_set_offload, tun_set_vnet_hdr_size,
};
pub(crate) use mmap::{Mapping, TPACKET_BLOCK_STATUS};
pub(crate) use socket::{
    PacketAddMembership, PacketFanout, PacketIgnoreOutgoing, PacketQdiscBypass, PacketRxRing,
    PacketVersion, PacketVnetHdr, SEND_CHUNK, bind_packet, is_no_room, packet_drops, packet_socket,
    send_frames, setsockopt, wait_readable, write_frame,
};
pub(crate) use xdp::{
    XdpRxRing, XdpTxRing, XdpUmemCompletionRing, XdpUmemFillRing, bind_xdp, bind_xdp_shared,
    xdp_kick_rx, xdp_kick_tx, xdp_mmap_offsets, xdp_register_umem, xdp_socket, xdp_statistics,
};

/// `size_of::<T>()` as the u32 length (socklen_t, c_uint) a system call
/// takes with a struct of ours: all are tens of bytes, and each use asserts
/// at compile time that its type fits.
#[allow(clippy::cast_possible_truncation)] // asserted <= 4096 just below
const fn size_u32<T>() -> u32 {
    const { assert!(std::mem::size_of::<T>() <= 4096) };
    std::mem::size_of::<T>() as u32
}

/// A libc return value as a Result: negative is the thread's `errno`.
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}
