//! Offload capabilities of a Linux interface, read with the legacy ethtool
//! "get" ioctls when a port opens (spec §10). A query the driver does not
//! answer counts as "not available": the data plane then does the work in
//! software, which is always correct, only slower.

use std::os::fd::OwnedFd;

use crate::Capabilities;
use crate::sys;

const ETHTOOL_GRXCSUM: u32 = 0x14;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_GTSO: u32 = 0x1e;
const ETHTOOL_GGSO: u32 = 0x23;
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETH_FLAG_NTUPLE: u32 = 1 << 27;

/// What `device` offers, asked through socket `fd`.
pub(crate) fn capabilities(fd: &OwnedFd, device: &str, queues: u16) -> Capabilities {
    let get = |cmd| sys::ethtool_get(fd, device, cmd).unwrap_or(0);
    Capabilities {
        rx_checksum: get(ETHTOOL_GRXCSUM) != 0,
        tx_checksum: get(ETHTOOL_GTXCSUM) != 0,
        tso: get(ETHTOOL_GTSO) != 0,
        gso: get(ETHTOOL_GGSO) != 0,
        ntuple: get(ETHTOOL_GFLAGS) & ETH_FLAG_NTUPLE != 0,
        queues: queues.max(1),
        max_frame: mtu(device).map_or(1518, |m| m + 18),
    }
}

fn mtu(device: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{device}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
