//! TAP port: attaches the host's own network stack as one more port
//! (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).
//!
//! The host may hand over frames with a partial checksum (we accept
//! TUN_F_CSUM); they are completed in software on receive. TSO is not
//! accepted, so the host segments before a frame reaches us. TAP has no
//! batched read or write: this port costs one syscall per packet, which is
//! fine for the host-stack path it exists for, not for line rate.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use orbital_buf::{Batch, PoolCache};

use crate::sys;
use crate::{Capabilities, OpenError, PortStats, TxResult, open_error as err};

/// struct virtio_net_hdr (no mergeable buffers).
const VNET_HDR: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const TUN_F_CSUM: libc::c_uint = 0x01;

/// One TAP device.
#[derive(Debug)]
pub struct TapPort {
    file: File,
    name: String,
    scratch: Vec<u8>,
    stats: PortStats,
}

impl TapPort {
    /// Create (or attach to) TAP device `name`. The host side brings it up
    /// and addresses it (`ip link set NAME up`).
    ///
    /// # Errors
    /// No /dev/net/tun, no permission, a bad name, or a device of another kind.
    pub fn open(name: &str) -> Result<TapPort, OpenError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(err(name, "cannot open /dev/net/tun"))?;
        let fd = OwnedFd::from(file);
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        sys::tun_set_iff(&fd, name, flags).map_err(err(name, "TUNSETIFF refused"))?;
        sys::tun_set_vnet_hdr_size(&fd, VNET_HDR as libc::c_int)
            .map_err(err(name, "TUNSETVNETHDRSZ refused"))?;
        sys::tun_set_offload(&fd, TUN_F_CSUM).map_err(err(name, "TUNSETOFFLOAD refused"))?;
        Ok(TapPort {
            file: File::from(fd),
            name: name.to_string(),
            scratch: vec![0; VNET_HDR + 65_536],
            stats: PortStats::default(),
        })
    }

    /// Receive up to `max` frames, one read each.
    pub fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        let mut n = 0;
        while n < max && batch.room() > 0 {
            let len = match self.file.read(&mut self.scratch) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if len <= VNET_HDR {
                continue;
            }
            let needs_csum = self.scratch[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0;
            let Some(mut p) = cache.alloc() else {
                self.stats.rx_dropped += 1;
                continue;
            };
            if !p.extend_from_slice(&self.scratch[VNET_HDR..len]) {
                self.stats.rx_dropped += 1;
                cache.free(p);
                continue;
            }
            if needs_csum {
                crate::csum::complete(&mut p);
            }
            self.stats.rx_bytes += p.len() as u64;
            let _ = batch.push(p);
            n += 1;
        }
        self.stats.rx_packets += n as u64;
        n
    }

    /// Write every frame (with an all-zero virtio header: nothing to offload).
    pub fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let (mut sent, mut dropped) = (0, 0);
        for mut p in batch.drain() {
            let len = p.len();
            let ok = match p.prepend(VNET_HDR) {
                Some(h) => {
                    h.fill(0);
                    self.file.write(&p).is_ok()
                }
                None => false,
            };
            if ok {
                sent += 1;
                self.stats.tx_bytes += len as u64;
            } else {
                dropped += 1;
            }
            cache.free(p);
        }
        self.stats.tx_packets += sent as u64;
        self.stats.tx_dropped += dropped as u64;
        TxResult { sent, dropped }
    }

    /// One queue, no hardware offloads (the host stack is software).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            tx_checksum: false,
            queues: 1,
            max_frame: 65_535,
            ..Capabilities::default()
        }
    }

    /// Counters.
    pub fn stats(&self) -> PortStats {
        self.stats
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor to wait on when idle.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
