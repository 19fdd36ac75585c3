//! The packet handle: one owned buffer, its frame window, and metadata.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::sys::Buf;

/// Offload state of a packet (spec §10): what the NIC already did or left for
/// software. Set by ports, read by the stages that must finish the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Offload(u16);

impl Offload {
    /// The NIC verified the L3/L4 checksums (CHECKSUM_UNNECESSARY).
    pub const RX_CSUM_GOOD: Offload = Offload(1 << 0);
    /// The L4 checksum is partial: complete it from `csum_start` /
    /// `csum_offset` before an egress that cannot (CHECKSUM_PARTIAL).
    pub const TX_CSUM_PARTIAL: Offload = Offload(1 << 1);
    /// The frame is a GSO super-packet of `gso_size`-byte segments.
    pub const GSO_TCP4: Offload = Offload(1 << 2);
    /// As [`Offload::GSO_TCP4`] for TCP over IPv6.
    pub const GSO_TCP6: Offload = Offload(1 << 3);
    /// As above for UDP (USO).
    pub const GSO_UDP: Offload = Offload(1 << 4);

    /// No flag set.
    pub const NONE: Offload = Offload(0);

    /// All of `other`'s flags are set.
    #[inline]
    pub const fn contains(self, other: Offload) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set `other`'s flags.
    #[inline]
    pub fn insert(&mut self, other: Offload) {
        self.0 |= other.0;
    }

    /// Clear `other`'s flags.
    #[inline]
    pub fn remove(&mut self, other: Offload) {
        self.0 &= !other.0;
    }

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }
}

/// Per-packet metadata kept beside (not inside) the frame bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    /// Receive time in nanoseconds on the engine's clock (real or virtual);
    /// for a frame the router makes or releases, when it does so (replay
    /// writes this as the frame's capture time).
    pub timestamp_ns: u64,
    /// Flow hash (RSS / Toeplitz) that chose the worker.
    pub flow_hash: u32,
    /// Ingress port index.
    pub port: u16,
    /// Ingress queue of that port.
    pub queue: u16,
    /// Offload state.
    pub offload: Offload,
    /// Where the L4 checksum computation starts (with `TX_CSUM_PARTIAL`).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
    /// Segment payload size (with a GSO flag).
    pub gso_size: u16,
    /// Sequence number of the received packet this one is, or was made for
    /// (replay orders its output by it).
    pub seq: u64,
    /// Sub-index among packets made for the same `seq` (fragments, replies).
    pub sub: u16,
}

/// A packet: exclusive owner of one pool buffer and of the window
/// `[head, head + len)` in it that holds the frame.
///
/// Dereferences to the frame bytes. Dropping it returns the buffer to its pool
/// (through the shared free list; workers return packets to their
/// [`crate::PoolCache`] instead, which costs no atomic).
pub struct Packet {
    buf: Buf,
    head: u32,
    len: u32,
    /// Metadata.
    pub meta: Meta,
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("index", &self.buf.index())
            .field("head", &self.head)
            .field("len", &self.len)
            .field("meta", &self.meta)
            .finish()
    }
}

impl Packet {
    /// An empty packet in `buf`, at the pool's headroom.
    pub(crate) fn new(buf: Buf) -> Packet {
        Packet {
            head: buf.info().headroom,
            buf,
            len: 0,
            meta: Meta::default(),
        }
    }

    #[inline]
    fn stride(&self) -> usize {
        self.buf.stride()
    }

    /// Set the frame window (a device wrote the frame there). The caller
    /// checked `head + len <= stride`; a window that does not fit is refused
    /// (the packet stays as it was) rather than trusted.
    pub(crate) fn set_window(&mut self, head: u32, len: u32) -> bool {
        let fits = head
            .checked_add(len)
            .is_some_and(|end| end as usize <= self.stride());
        if fits {
            self.head = head;
            self.len = len;
        }
        fits
    }

    /// Give up the buffer (to a cache or a ledger), without returning it.
    pub(crate) fn into_buf(self) -> Buf {
        self.buf
    }

    /// Whether this packet's buffer belongs to `pool`.
    #[inline]
    pub fn is_from(&self, pool: &crate::Pool) -> bool {
        self.buf.is_of(pool.handle())
    }

    /// Index of the buffer in its pool.
    #[inline]
    pub fn buffer_index(&self) -> u32 {
        self.buf.index()
    }

    /// Frame length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head as usize
    }

    /// Free bytes after the frame.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.stride() - (self.head + self.len) as usize
    }

    /// Grow the frame at the front by `n` bytes (into the headroom) and return
    /// the new bytes; `None`, leaving the packet unchanged, if the headroom is
    /// too small. The payload does not move.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.head)?;
        self.head -= n;
        self.len += n;
        let h = self.head as usize;
        Some(&mut self.buf.bytes_mut()[h..h + n as usize])
    }

    /// Remove `n` bytes from the front (e.g. a decapsulated header). Returns
    /// false, changing nothing, if the frame is shorter than `n`.
    #[inline]
    pub fn strip_front(&mut self, n: usize) -> bool {
        match u32::try_from(n) {
            Ok(n) if n <= self.len => {
                self.head += n;
                self.len -= n;
                true
            }
            _ => false,
        }
    }

    /// Grow the frame at the end by `n` bytes and return them; `None` if the
    /// tailroom is too small. The new bytes hold whatever the buffer last
    /// held (always initialised memory).
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        // n <= tailroom < stride, which fits a u32 (checked by Pool::new).
        let grow = u32::try_from(n).ok()?;
        let start = (self.head + self.len) as usize;
        self.len += grow;
        Some(&mut self.buf.bytes_mut()[start..start + n])
    }

    /// Append a copy of `data`; false if it does not fit.
    #[inline]
    pub fn extend_from_slice(&mut self, data: &[u8]) -> bool {
        match self.append(data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// Shorten the frame to `len` bytes (no effect if already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        match u32::try_from(len) {
            Ok(len) if len < self.len => self.len = len,
            _ => {}
        }
    }

    /// Empty the frame and restore the full headroom, keeping the buffer.
    #[inline]
    pub fn reset(&mut self) {
        self.head = self.buf.info().headroom;
        self.len = 0;
        self.meta = Meta::default();
    }

    /// Move the frame so it starts `headroom` bytes into the buffer (for a
    /// stage that needs more headroom than the frame was received with).
    /// Returns false if the frame would not fit.
    pub fn set_headroom(&mut self, headroom: usize) -> bool {
        let len = self.len as usize;
        let Ok(head) = u32::try_from(headroom) else {
            return false;
        };
        if headroom
            .checked_add(len)
            .is_none_or(|end| end > self.stride())
        {
            return false;
        }
        let from = self.head as usize;
        self.buf.bytes_mut().copy_within(from..from + len, headroom);
        self.head = head;
        true
    }
}

impl Deref for Packet {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        let h = self.head as usize;
        &self.buf.bytes()[h..h + self.len as usize]
    }
}

impl DerefMut for Packet {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let h = self.head as usize;
        let l = self.len as usize;
        &mut self.buf.bytes_mut()[h..h + l]
    }
}

impl AsRef<[u8]> for Packet {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for Packet {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::{Pool, PoolConfig};

    fn pool() -> Pool {
        Pool::new(PoolConfig {
            buffers: 8,
            data_room: 128,
            headroom: 16,
        })
        .unwrap()
    }

    #[test]
    fn window_operations() {
        let pool = pool();
        let mut p = pool.alloc().unwrap();
        assert!(p.is_empty());
        assert_eq!(p.headroom(), 16);
        assert_eq!(p.tailroom(), pool.stride() - 16);
        assert!(p.tailroom() >= 128);
        assert!(p.extend_from_slice(b"payload"));
        let tag = p.prepend(4).unwrap();
        tag.copy_from_slice(b"TAG:");
        assert_eq!(&p[..], b"TAG:payload");
        assert_eq!(p.headroom(), 12);
        assert!(p.prepend(13).is_none());
        assert_eq!(&p[..], b"TAG:payload");
        assert!(p.strip_front(4));
        assert!(!p.strip_front(100));
        assert_eq!(&p[..], b"payload");
        p.truncate(3);
        assert_eq!(&p[..], b"pay");
        assert!(p.append(1000).is_none());
        assert!(p.set_headroom(0));
        assert_eq!(&p[..], b"pay");
        assert_eq!(p.headroom(), 0);
        assert!(p.prepend(1).is_none());
        p.reset();
        assert_eq!(p.headroom(), 16);
        assert!(p.is_empty());
    }

    #[test]
    fn a_packet_is_one_cache_line_and_crosses_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Packet>();
        assert_eq!(std::mem::size_of::<crate::Packet>(), 64);
    }

    #[test]
    fn buffers_do_not_overlap() {
        let pool = pool();
        let mut all: Vec<_> = (0..8).map(|_| pool.alloc().unwrap()).collect();
        for (i, p) in all.iter_mut().enumerate() {
            let room = p.tailroom();
            p.append(room).unwrap().fill(u8::try_from(i).unwrap());
        }
        for (i, p) in all.iter().enumerate() {
            assert!(p.iter().all(|&b| usize::from(b) == i));
        }
        let idx: std::collections::HashSet<_> = all.iter().map(|p| p.buffer_index()).collect();
        assert_eq!(idx.len(), 8);
    }
}
