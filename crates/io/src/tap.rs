//! TAP port: attaches the host's own network stack as one more port
//! (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).
//!
//! The host may hand over frames with a partial checksum (we accept
//! TUN_F_CSUM); they are completed in software on receive. TSO is not
//! accepted, so the host segments before a frame reaches us. TAP has no
//! batched read or write: this port costs one syscall per packet, which is
//! fine for the host-stack path it exists for, not for line rate.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use orbital_buf::{Batch, PoolCache};

use crate::sys;
use crate::{Capabilities, OpenError, PortStats, TxResult, open_error as err};

/// struct virtio_net_hdr (no mergeable buffers): its size, as TUNSETVNETHDRSZ
/// takes it and as we index with it.
const VNET_HDR_SIZE: libc::c_int = 10;
const VNET_HDR: usize = VNET_HDR_SIZE as usize;
/// What we send in front of each frame: no checksum or GSO request.
const VNET_HDR_NONE: [u8; VNET_HDR] = [0; VNET_HDR];
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const TUN_F_CSUM: libc::c_uint = 0x01;

/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR as ifreq's short `ifr_flags`.
#[allow(clippy::cast_possible_truncation)] // 0x5002, asserted to fit below
const TAP_FLAGS: libc::c_short = {
    let f = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR;
    assert!(f >= 0 && f <= libc::c_short::MAX as libc::c_int);
    f as libc::c_short
};

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
        let flags = TAP_FLAGS;
        sys::tun_set_iff(&fd, name, flags).map_err(err(name, "TUNSETIFF refused"))?;
        sys::tun_set_vnet_hdr_size(&fd, VNET_HDR_SIZE)
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

    /// Write frames from the front of the batch, each after an all-zero
    /// virtio header (nothing to offload), until the device has no room:
    /// the rest stay in the batch, in order. A frame the device refuses for
    /// itself is dropped and the ones after it still go.
    pub fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        let (mut sent, mut dropped, mut done) = (0, 0, 0);
        let fd = self.file.as_fd();
        for p in batch.as_slice() {
            let r = loop {
                match sys::write_frame(fd, &VNET_HDR_NONE, p) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            match r {
                Ok(_) => {
                    sent += 1;
                    self.stats.tx_bytes += p.len() as u64;
                }
                Err(e) if sys::is_no_room(&e) => break,
                Err(_) => dropped += 1,
            }
            done += 1;
        }
        cache.free_all(batch.drain_front(done));
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

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_buf::{Pool, PoolConfig};
    use std::os::unix::net::UnixDatagram;

    /// A TAP port whose "device" is one end of a datagram socket pair: one
    /// frame per write, and a queue that fills.
    fn port_with_peer() -> (TapPort, UnixDatagram) {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let port = TapPort {
            file: File::from(OwnedFd::from(a)),
            name: "fake0".into(),
            scratch: vec![0; VNET_HDR + 65_536],
            stats: PortStats::default(),
        };
        (port, b)
    }

    fn received(peer: &UnixDatagram) -> Vec<(u8, usize)> {
        let mut got = Vec::new();
        let mut buf = vec![0; 1 << 16];
        while let Ok(n) = peer.recv(&mut buf) {
            assert_eq!(buf[..VNET_HDR], VNET_HDR_NONE);
            got.push((buf[VNET_HDR], n - VNET_HDR));
        }
        got
    }

    #[test]
    fn tx_writes_until_the_device_is_full_then_resumes_in_order() {
        let pool = Pool::new(PoolConfig {
            buffers: 512,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut cache = pool.cache(64);
        let (mut port, peer) = port_with_peer();
        let mut batch = Batch::new();
        for i in 0..=255u8 {
            let mut p = cache.alloc().unwrap();
            assert!(p.extend_from_slice(&[i; 1000]));
            batch.push(p).unwrap();
        }
        let r = port.tx_burst(&mut batch, &mut cache);
        assert!(r.sent > 0 && r.sent < 256, "sent {}", r.sent);
        assert_eq!((r.dropped, batch.len()), (0, 256 - r.sent));
        // The frames left were not touched: no header was prepended to them.
        assert!(batch.as_slice().iter().all(|p| p.len() == 1000));
        let mut got = received(&peer);
        while !batch.is_empty() {
            assert!(port.tx_burst(&mut batch, &mut cache).sent > 0);
            got.extend(received(&peer));
        }
        let want: Vec<(u8, usize)> = (0..=255).map(|i| (i, 1000)).collect();
        assert_eq!(got, want);
        assert_eq!(port.stats().tx_packets, 256);
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn a_frame_the_device_refuses_is_dropped_and_the_next_goes() {
        let pool = Pool::new(PoolConfig {
            buffers: 4,
            data_room: 8 << 20,
            headroom: 128,
        })
        .unwrap();
        let mut cache = pool.cache(4);
        let (mut port, peer) = port_with_peer();
        let mut batch = Batch::new();
        for (tag, len) in [(0u8, 60), (1, 8 << 20), (2, 60)] {
            let mut p = cache.alloc().unwrap();
            assert!(p.extend_from_slice(&vec![tag; len]));
            batch.push(p).unwrap();
        }
        let r = port.tx_burst(&mut batch, &mut cache);
        assert_eq!((r.sent, r.dropped, batch.len()), (2, 1, 0));
        assert_eq!(received(&peer), [(0, 60), (2, 60)]);
    }
}
