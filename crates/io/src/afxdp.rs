//! AF_XDP port: the fastest way into a Linux interface without a kernel
//! bypass driver (spec §6). The pool's own memory is the UMEM, so a frame
//! the kernel writes on receive is already a pipeline packet, and a packet
//! is transmitted from the buffer it lives in: no copy in user space,
//! whichever of the worker's ports it came from.
//!
//! * One [`XdpContext`] per buffer pool. The first socket opened through it
//!   registers the pool as UMEM; every later one (other queues, other
//!   interfaces, other workers) binds with XDP_SHARED_UMEM and its own fill
//!   and completion rings, as the kernel requires for a different
//!   interface or queue.
//! * One socket per queue per worker: worker `w` binds queue `w`.
//! * The port loads its own XDP program, six instructions assembled here
//!   (no clang at build time): look the receive queue up in an XSKMAP,
//!   redirect to the socket there, pass to the kernel when there is none. It
//!   is attached through a BPF link, native (driver) mode first, generic
//!   (skb) mode when the driver has none; the link closes with the last
//!   port on that interface, and with the process if it dies, so no program
//!   is ever left behind.
//! * Zero-copy binding is tried first and copy mode (veth, most virtual
//!   devices) taken when the driver refuses it. Need-wakeup is always on:
//!   the kernel is only poked (recvfrom / sendto) when it says it sleeps.
//! * XDP frames carry no checksum state. On a virtual device (veth) a local
//!   sender's frames arrive with the partial checksum its stack left for an
//!   offload that never ran; the port recognises and completes those
//!   (`csum::complete_if_partial`), which real NICs never need.
//! * Every buffer on a fill or transmit ring is recorded in a
//!   [`Loans`] ledger; an address the kernel returns
//!   that was not lent is counted and ignored.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Weak};

use orbital_buf::{Batch, Loans, Pool, PoolCache};

use crate::sys::{self, BpfInsn};
use crate::{Capabilities, OpenError, PortStats, TxResult, open_error as err};

/// Room the kernel leaves in front of a received frame (XDP_PACKET_HEADROOM).
pub const XDP_HEADROOM: usize = 256;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// XSKMAP slots: receive queues an interface may have sockets on.
const MAX_QUEUES: u32 = 64;
/// sendto kicks per transmit burst at most: copy mode sends 32 frames a kick.
const MAX_KICKS: usize = 8;

/// How the XDP program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpMode {
    /// Native (driver) mode, else generic.
    #[default]
    Auto,
    /// Native only.
    Native,
    /// Generic (skb) mode only.
    Generic,
}

/// Geometry and behaviour of an AF_XDP port.
#[derive(Debug, Clone)]
pub struct XdpConfig {
    /// Linux interface.
    pub device: String,
    /// Descriptors in each of the four rings (a power of two).
    pub ring_size: u32,
    /// Program attach mode.
    pub mode: XdpMode,
    /// Try zero-copy first (copy mode is the fallback either way).
    pub zero_copy: bool,
}

impl XdpConfig {
    /// Defaults for `device`: 2048-entry rings, native mode if the driver
    /// has it, zero-copy if it offers it.
    pub fn new(device: &str) -> Self {
        XdpConfig {
            device: device.to_string(),
            ring_size: 2048,
            mode: XdpMode::Auto,
            zero_copy: true,
        }
    }
}

/// The redirect program for XSKMAP `map`: the libxdp default program for
/// kernels since 5.3, which take the fallback action in the flags argument.
pub(crate) fn redirect_program(map: RawFd) -> [BpfInsn; 6] {
    const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const LD_IMM64: u8 = 0x18; // BPF_LD | BPF_DW | BPF_IMM
    const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    const PSEUDO_MAP_FD: u8 = 1;
    const XDP_PASS: i32 = 2;
    const FN_REDIRECT_MAP: i32 = 51;
    const RX_QUEUE_INDEX: i16 = 16; // offsetof(struct xdp_md, rx_queue_index)
    let i = |code, dst: u8, src: u8, off, imm| BpfInsn {
        code,
        regs: dst | src << 4,
        off,
        imm,
    };
    [
        // r2 = ctx->rx_queue_index
        i(LDX_W, 2, 1, RX_QUEUE_INDEX, 0),
        // r1 = &xskmap (two slots)
        i(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map),
        i(0, 0, 0, 0, 0),
        // r3 = XDP_PASS: what to do when the queue has no socket
        i(MOV64_K, 3, 0, 0, XDP_PASS),
        // r0 = bpf_redirect_map(r1, r2, r3)
        i(CALL, 0, 0, 0, FN_REDIRECT_MAP),
        i(EXIT, 0, 0, 0, 0),
    ]
}

/// The program, its XSKMAP and the link that keeps it on one interface.
/// Shared by every socket on the interface; the last one out detaches it.
#[derive(Debug)]
struct Attachment {
    map: OwnedFd,
    _prog: OwnedFd,
    _link: OwnedFd,
    native: bool,
}

impl Attachment {
    fn new(dev: &str, ifindex: u32, mode: XdpMode) -> Result<Attachment, OpenError> {
        let map = sys::bpf_xskmap("orbital_xsks", MAX_QUEUES)
            .map_err(err(dev, "cannot create the XSKMAP (bpf)"))?;
        let prog = sys::bpf_load_xdp("orbital_redir", &redirect_program(map.as_raw_fd()))
            .map_err(err(dev, "the kernel refused the XDP program"))?;
        let attach = |flags| sys::bpf_link_xdp(&prog, ifindex, flags);
        let (link, native) = match mode {
            XdpMode::Native => (attach(XDP_FLAGS_DRV_MODE), true),
            XdpMode::Generic => (attach(XDP_FLAGS_SKB_MODE), false),
            XdpMode::Auto => match attach(XDP_FLAGS_DRV_MODE) {
                Ok(l) => (Ok(l), true),
                Err(_) => (attach(XDP_FLAGS_SKB_MODE), false),
            },
        };
        let link = link.map_err(err(
            dev,
            "cannot attach the XDP program (another one attached?)",
        ))?;
        Ok(Attachment {
            map,
            _prog: prog,
            _link: link,
            native,
        })
    }
}

#[derive(Debug, Default)]
struct ContextInner {
    /// The socket that registered the UMEM, while its port lives.
    owner: Weak<OwnedFd>,
    /// Whether the owner bound zero-copy (sharers inherit its mode).
    zero_copy: bool,
    attachments: HashMap<u32, Weak<Attachment>>,
}

/// What the AF_XDP sockets over one buffer pool share: the UMEM (the pool's
/// memory) and each interface's XDP program. Cheap to clone.
#[derive(Debug, Clone)]
pub struct XdpContext {
    pool: Pool,
    inner: Arc<Mutex<ContextInner>>,
}

impl XdpContext {
    /// A context for sockets over `pool`, whose buffers must be usable as
    /// UMEM chunks: a power-of-two stride of 2 or 4 KiB and at least
    /// [`XDP_HEADROOM`] of headroom.
    ///
    /// # Errors
    /// When the pool's geometry cannot be a UMEM.
    pub fn new(pool: &Pool) -> Result<XdpContext, String> {
        let stride = pool.stride();
        if !(stride == 2048 || stride == 4096) {
            return Err(format!(
                "an AF_XDP pool needs 2048- or 4096-byte buffers, this one has {stride}"
            ));
        }
        if pool.headroom() < XDP_HEADROOM {
            return Err(format!(
                "an AF_XDP pool needs {XDP_HEADROOM} B of headroom, this one has {}",
                pool.headroom()
            ));
        }
        Ok(XdpContext {
            pool: pool.clone(),
            inner: Arc::default(),
        })
    }

    /// The pool whose memory is the UMEM.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool geometry AF_XDP ports need: 2 KiB buffers with the kernel's
    /// 256 B of headroom (1792 B of frame, enough for a 1500 B MTU).
    pub fn pool_config(buffers: u32) -> orbital_buf::PoolConfig {
        orbital_buf::PoolConfig {
            buffers,
            data_room: 2048 - XDP_HEADROOM,
            headroom: XDP_HEADROOM,
        }
    }

    /// Buffers one socket may hold at once (fill and transmit rings full).
    pub fn buffers_per_socket(cfg: &XdpConfig) -> u32 {
        cfg.ring_size * 2
    }
}

/// One ring shared with the kernel: a producer and a consumer index and a
/// power-of-two array of descriptors.
#[derive(Debug)]
struct Ring {
    map: sys::Mapping,
    prod: usize,
    cons: usize,
    flags: usize,
    desc: usize,
    entry: usize,
    size: u32,
    /// Our own index: the producer on fill/TX rings, the consumer on RX and
    /// completion rings.
    local: u32,
    /// The kernel's index as last read.
    seen: u32,
}

impl Ring {
    fn open(
        fd: &OwnedFd,
        off: &libc::xdp_ring_offset,
        pgoff: u64,
        size: u32,
        entry: usize,
    ) -> io::Result<Ring> {
        // Offsets come from the kernel: refuse any this machine cannot
        // address (the mapping then bounds-checks every access to them).
        let at =
            |o: u64| usize::try_from(o).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
        let (prod, cons, flags, desc) = (
            at(off.producer)?,
            at(off.consumer)?,
            at(off.flags)?,
            at(off.desc)?,
        );
        let len = (size as usize)
            .checked_mul(entry)
            .and_then(|d| d.checked_add(desc))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let map = sys::Mapping::new_at(fd, len, pgoff)?;
        let local_is_prod =
            pgoff == libc::XDP_UMEM_PGOFF_FILL_RING || pgoff == libc::XDP_PGOFF_TX_RING as u64;
        let (local, seen) = if local_is_prod {
            (map.load_acquire(prod), map.load_acquire(cons))
        } else {
            (map.load_acquire(cons), map.load_acquire(prod))
        };
        Ok(Ring {
            map,
            prod,
            cons,
            flags,
            desc,
            entry,
            size,
            local,
            seen,
        })
    }

    fn slot(&self, i: u32) -> usize {
        self.desc + (i & (self.size - 1)) as usize * self.entry
    }

    /// Producer side: free slots (re-reading the kernel's consumer only when
    /// the cached view shows fewer than `want`).
    fn free(&mut self, want: u32) -> u32 {
        let free = self.size - self.local.wrapping_sub(self.seen);
        if free >= want {
            return free;
        }
        self.seen = self.map.load_acquire(self.cons);
        self.size - self.local.wrapping_sub(self.seen)
    }

    /// Producer side: publish `n` descriptors written at `local..local+n`.
    fn submit(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.map.store_release(self.prod, self.local);
    }

    /// Consumer side: descriptors ready, at most `max`.
    fn ready(&mut self, max: u32) -> u32 {
        let mut n = self.seen.wrapping_sub(self.local);
        if n == 0 {
            self.seen = self.map.load_acquire(self.prod);
            n = self.seen.wrapping_sub(self.local);
        }
        n.min(max)
    }

    /// Consumer side: give `n` read descriptors back.
    fn release(&mut self, n: u32) {
        self.local = self.local.wrapping_add(n);
        self.map.store_release(self.cons, self.local);
    }

    /// Producer side of a TX ring: write descriptor `local + k` (published
    /// by a later `submit`).
    fn put_desc(&mut self, k: u32, addr: u64, len: u32) {
        let at = self.slot(self.local.wrapping_add(k));
        self.map.write_u64(at, addr);
        self.map.write_u32(at + 8, len);
        self.map.write_u32(at + 12, 0);
    }

    fn needs_wakeup(&self) -> bool {
        self.map.load_relaxed(self.flags) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// Counters the kernel keeps for an XDP socket (XDP_STATISTICS), and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XdpStats {
    /// Frames the kernel dropped for other reasons.
    pub rx_dropped: u64,
    /// Frames dropped because the receive ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub fill_ring_empty: u64,
    /// Descriptors the kernel refused on RX / TX.
    pub invalid_descs: u64,
    /// Addresses the kernel returned that were not on loan (ignored).
    pub foreign_addrs: u64,
    /// sendto / recvfrom wake-ups.
    pub kicks: u64,
    /// Partial checksums (a local sender's, on a virtual device) completed.
    pub csum_completed: u64,
}

/// An AF_XDP socket and the four rings it shares with the kernel: all that
/// must be gone before the buffers the kernel may still write go home.
#[derive(Debug)]
struct Xsk {
    fill: Ring,
    comp: Ring,
    rx: Ring,
    tx: Ring,
    fd: Arc<OwnedFd>,
    /// Run as the socket goes (tests record the drop order with it).
    #[cfg(test)]
    on_close: Option<CloseHook>,
}

/// A test's probe of the moment an [`Xsk`] is torn down.
#[cfg(test)]
struct CloseHook(Box<dyn FnOnce() + Send>);

#[cfg(test)]
impl std::fmt::Debug for CloseHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloseHook")
    }
}

#[cfg(test)]
impl Drop for Xsk {
    /// Runs just before the fields (rings, socket) are dropped, which is
    /// as part of the same step of the owner's drop.
    fn drop(&mut self) {
        if let Some(CloseHook(hook)) = self.on_close.take() {
            hook();
        }
    }
}

/// One worker's AF_XDP socket on one queue of one interface.
#[derive(Debug)]
pub struct XdpPort {
    // Field order is drop order, and this one is load-bearing (clause 3 of
    // the UMEM contract, see `xdp_register_umem`): the rings are unmapped
    // and the socket closed (`xsk`) before the ledger hands the buffers the
    // kernel held back to the pool (`loans`), and the ledger's `Pool`
    // handle keeps the memory alive until then. The test
    // `the_socket_goes_before_the_buffers_it_may_write` fails if reordered.
    xsk: Xsk,
    loans: Loans,
    _attachment: Arc<Attachment>,
    stride: u64,
    caps: Capabilities,
    zero_copy: bool,
    native: bool,
    /// A virtual device (veth, tap...) may hand over local senders' frames
    /// with partial checksums and no flag to say so: look for them.
    repair_partial: bool,
    queue: u32,
    stats: PortStats,
    xdp: XdpStats,
    /// Kernel counters as last read, to turn totals into increments.
    kernel_seen: u64,
}

impl XdpPort {
    /// Open queue `queue` of `cfg.device` over `ctx`'s pool: socket, rings,
    /// UMEM (registered or shared), program (loaded or shared), bind, map
    /// entry, and a full fill ring from `cache`.
    ///
    /// # Errors
    /// Which step failed and why (no such device, a queue the device does
    /// not have, no permission, another XDP program attached, ...).
    pub fn open(
        ctx: &XdpContext,
        cfg: &XdpConfig,
        queue: u32,
        cache: &mut PoolCache,
    ) -> Result<XdpPort, OpenError> {
        let dev = cfg.device.as_str();
        if !cfg.ring_size.is_power_of_two() || cfg.ring_size < 64 {
            return Err(err(dev, "ring size must be a power of two >= 64")(
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        let ifindex = sys::if_index(dev).map_err(err(dev, "no such interface"))?;
        let mut inner = ctx.inner.lock().unwrap_or_else(|e| e.into_inner());
        let attachment = match inner.attachments.get(&ifindex).and_then(Weak::upgrade) {
            Some(a) => a,
            None => {
                let a = Arc::new(Attachment::new(dev, ifindex, cfg.mode)?);
                inner.attachments.insert(ifindex, Arc::downgrade(&a));
                a
            }
        };
        let fd = sys::xdp_socket().map_err(err(dev, "cannot create an AF_XDP socket"))?;
        let owner = inner.owner.upgrade();
        if owner.is_none() {
            #[allow(unsafe_code)]
            // The UMEM contract of `xdp_register_umem`, clause by
            // clause, as this type keeps it for `fd` and for every socket
            // later bound to share the UMEM (each one an `XdpPort` too):
            // 1. `refill` and `tx_burst` write a ring address only for an
            //    index `Loans::lend` just returned: a buffer of this pool the
            //    ledger holds and no `Packet` owns;
            // 2. `rx_burst` and `reap` rebuild packets only through
            //    `Loans::reclaim`, which refuses indices not on loan, and only
            //    for descriptors `Ring::ready` counted after its acquire load
            //    of the producer;
            // 3. `XdpPort` declares its socket (`xsk`) before `loans`, and
            //    fields drop in declaration order (a test checks it);
            // 4. `loans` holds a `Pool` handle for as long as the socket lives.
            // SAFETY: clauses 1–4 above are the contract, each kept.
            unsafe { sys::xdp_register_umem(&fd, &ctx.pool) }
                .map_err(err(dev, "cannot register the buffer pool as UMEM"))?;
        }
        let n = libc::c_int::try_from(cfg.ring_size).map_err(|_| {
            err(dev, "ring size too large")(io::Error::from_raw_os_error(libc::EINVAL))
        })?;
        sys::setsockopt::<sys::XdpUmemFillRing>(&fd, &n).map_err(err(dev, "fill ring refused"))?;
        sys::setsockopt::<sys::XdpUmemCompletionRing>(&fd, &n)
            .map_err(err(dev, "completion ring refused"))?;
        sys::setsockopt::<sys::XdpRxRing>(&fd, &n).map_err(err(dev, "receive ring refused"))?;
        sys::setsockopt::<sys::XdpTxRing>(&fd, &n).map_err(err(dev, "transmit ring refused"))?;
        let off = sys::xdp_mmap_offsets(&fd).map_err(err(dev, "cannot read ring offsets"))?;
        let map = |o, pg, entry, what| {
            Ring::open(&fd, o, pg, cfg.ring_size, entry).map_err(err(dev, what))
        };
        let fill = map(
            &off.fr,
            libc::XDP_UMEM_PGOFF_FILL_RING,
            8,
            "cannot map the fill ring",
        )?;
        let comp = map(
            &off.cr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            8,
            "cannot map the completion ring",
        )?;
        let rx = map(
            &off.rx,
            libc::XDP_PGOFF_RX_RING as u64,
            16,
            "cannot map the receive ring",
        )?;
        let tx = map(
            &off.tx,
            libc::XDP_PGOFF_TX_RING as u64,
            16,
            "cannot map the transmit ring",
        )?;
        let zero_copy = match &owner {
            Some(o) => {
                #[allow(unsafe_code)]
                // SAFETY: this port keeps the UMEM contract for `fd`, as
                // listed where the owner registered it above: the same code
                // (this type's refill, rx_burst, reap, tx_burst and field
                // order) drives every socket of the UMEM.
                unsafe { sys::bind_xdp_shared(&fd, ifindex, queue, o) }.map_err(err(
                    dev,
                    "cannot bind the AF_XDP socket (does the device have a queue per worker?)",
                ))?;
                inner.zero_copy
            }
            None => {
                let wake = libc::XDP_USE_NEED_WAKEUP;
                let zc = cfg.zero_copy
                    && sys::bind_xdp(&fd, ifindex, queue, wake | libc::XDP_ZEROCOPY).is_ok();
                if !zc {
                    sys::bind_xdp(&fd, ifindex, queue, wake | libc::XDP_COPY).map_err(err(
                        dev,
                        "cannot bind the AF_XDP socket (does the device have a queue per worker?)",
                    ))?;
                }
                zc
            }
        };
        let fd = Arc::new(fd);
        if owner.is_none() {
            inner.owner = Arc::downgrade(&fd);
            inner.zero_copy = zero_copy;
        }
        drop(owner);
        drop(inner);
        sys::bpf_map_update_u32(&attachment.map, queue, fd.as_raw_fd() as u32)
            .map_err(err(dev, "cannot enter the socket in the XSKMAP"))?;
        let ioctl = sys::ioctl_socket().map_err(err(dev, "cannot create an ioctl socket"))?;
        let dev_caps = crate::ethtool::capabilities(&ioctl, dev, 1);
        let stride = ctx.pool.stride();
        let caps = Capabilities {
            // XDP frames carry no checksum or segmentation state: the
            // pipeline completes checksums itself and sends whole frames.
            rx_checksum: false,
            tx_checksum: false,
            tso: false,
            gso: false,
            ntuple: dev_caps.ntuple,
            queues: dev_caps.queues,
            // The stride is 2 or 4 KiB (checked by XdpContext::new).
            max_frame: dev_caps
                .max_frame
                .min(u32::try_from(stride - XDP_HEADROOM).unwrap_or(u32::MAX)),
        };
        let mut port = XdpPort {
            xsk: Xsk {
                fill,
                comp,
                rx,
                tx,
                fd,
                #[cfg(test)]
                on_close: None,
            },
            loans: Loans::new(&ctx.pool),
            _attachment: attachment.clone(),
            stride: stride as u64,
            caps,
            zero_copy,
            native: attachment.native,
            repair_partial: !std::path::Path::new(&format!("/sys/class/net/{dev}/device")).exists(),
            queue,
            stats: PortStats::default(),
            xdp: XdpStats::default(),
            kernel_seen: 0,
        };
        port.refill(cache);
        Ok(port)
    }

    /// Put as many buffers on the fill ring as it has room for.
    fn refill(&mut self, cache: &mut PoolCache) {
        let free = self.xsk.fill.free(self.xsk.fill.size);
        let mut n = 0;
        while n < free {
            let Some(p) = cache.alloc() else { break };
            match self.loans.lend(p) {
                Ok(index) => {
                    let at = self.xsk.fill.slot(self.xsk.fill.local.wrapping_add(n));
                    self.xsk
                        .fill
                        .map
                        .write_u64(at, u64::from(index) * self.stride);
                    n += 1;
                }
                Err(p) => {
                    cache.free(p);
                    break;
                }
            }
        }
        if n > 0 {
            self.xsk.fill.submit(n);
        }
    }

    /// Receive up to `max` frames (and at most `batch.room()`).
    pub fn rx_burst(&mut self, cache: &mut PoolCache, batch: &mut Batch, max: usize) -> usize {
        // At most MAX_BURST (a batch's room).
        let want = u32::try_from(max.min(batch.room())).unwrap_or(u32::MAX);
        let ready = self.xsk.rx.ready(want);
        let mut n = 0;
        for k in 0..ready {
            let at = self.xsk.rx.slot(self.xsk.rx.local.wrapping_add(k));
            let addr = self.xsk.rx.map.read_u64(at);
            // struct xdp_desc { u64 addr; u32 len; u32 options; }
            let len = self.xsk.rx.map.load_relaxed(at + 8) as usize;
            // An address past u32::MAX chunks is no buffer of ours: u32::MAX
            // is never lent (indices are < the pool's u32 count), so the
            // ledger refuses it as foreign.
            let index = u32::try_from(addr / self.stride).unwrap_or(u32::MAX);
            // Less than the stride, itself a usize.
            let head = usize::try_from(addr % self.stride).unwrap_or(usize::MAX);
            match self.loans.reclaim(index, head, len) {
                Some(mut p) if p.len() == len && len > 0 => {
                    if self.repair_partial && crate::csum::complete_if_partial(&mut p) {
                        self.xdp.csum_completed += 1;
                    }
                    self.stats.rx_bytes += len as u64;
                    let _ = batch.push(p);
                    n += 1;
                }
                Some(p) => {
                    self.stats.rx_dropped += 1;
                    cache.free(p);
                }
                None => self.xdp.foreign_addrs += 1,
            }
        }
        if ready > 0 {
            self.xsk.rx.release(ready);
        }
        self.refill(cache);
        if ready == 0 && self.xsk.fill.needs_wakeup() {
            self.xdp.kicks += 1;
            sys::xdp_kick_rx(&self.xsk.fd);
        }
        self.stats.rx_packets += n as u64;
        n
    }

    /// Take back the buffers the kernel finished sending.
    fn reap(&mut self, cache: &mut PoolCache) {
        let done = self.xsk.comp.ready(self.xsk.comp.size);
        for k in 0..done {
            let at = self.xsk.comp.slot(self.xsk.comp.local.wrapping_add(k));
            let addr = self.xsk.comp.map.read_u64(at);
            // As in rx_burst: out of range means foreign.
            let index = u32::try_from(addr / self.stride).unwrap_or(u32::MAX);
            match self.loans.reclaim(index, 0, 0) {
                Some(p) => cache.free(p),
                None => self.xdp.foreign_addrs += 1,
            }
        }
        if done > 0 {
            self.xsk.comp.release(done);
        }
    }

    /// Put packets from the front of the batch on the transmit ring, as many
    /// as it has room for, and wake the kernel if it sleeps; the rest stay in
    /// the batch, in order. Packets of another pool are copied into one of
    /// ours first (one that finds no free buffer stays, for a retry). A frame
    /// larger than the device takes, or than our buffers hold, is dropped:
    /// the kernel would refuse its descriptor without completing it.
    pub fn tx_burst(&mut self, batch: &mut Batch, cache: &mut PoolCache) -> TxResult {
        self.reap(cache);
        let want = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let room = self.xsk.tx.free(want);
        let max_frame = usize::try_from(self.caps.max_frame).unwrap_or(usize::MAX);
        let (tx, loans, stride) = (&mut self.xsk.tx, &mut self.loans, self.stride);
        let (mut queued, mut dropped, mut bytes) = (0u32, 0, 0);
        batch.hand_off(|p| {
            if queued == room {
                return Err(p);
            }
            if p.len() > max_frame || p.is_empty() {
                dropped += 1;
                cache.free(p);
                return Ok(());
            }
            let p = if p.is_from(loans.pool()) {
                p
            } else {
                // A packet of another pool (a software port's) is copied
                // into one of ours: the kernel sends only from the UMEM.
                let Some(mut mine) = cache.alloc() else {
                    return Err(p);
                };
                let fits = mine.extend_from_slice(&p);
                mine.meta = p.meta;
                cache.free(p);
                if !fits {
                    dropped += 1;
                    cache.free(mine);
                    return Ok(());
                }
                mine
            };
            // A frame is at most `max_frame` <= a buffer's size (u32).
            let len = u32::try_from(p.len()).unwrap_or(u32::MAX);
            let head = p.headroom() as u64;
            match loans.lend(p) {
                Ok(index) => {
                    tx.put_desc(queued, u64::from(index) * stride + head, len);
                    queued += 1;
                    bytes += u64::from(len);
                }
                // The cache's pool is not the UMEM: nothing to send from.
                Err(p) => {
                    dropped += 1;
                    cache.free(p);
                }
            }
            Ok(())
        });
        if queued > 0 {
            self.xsk.tx.submit(queued);
            self.kick_tx();
        }
        self.stats.tx_bytes += bytes;
        self.stats.tx_packets += u64::from(queued);
        self.stats.tx_dropped += dropped as u64;
        TxResult {
            sent: queued as usize,
            dropped,
        }
    }

    fn kick_tx(&mut self) {
        if !self.xsk.tx.needs_wakeup() {
            return;
        }
        for _ in 0..MAX_KICKS {
            self.xdp.kicks += 1;
            match sys::xdp_kick_tx(&self.xsk.fd) {
                Ok(true) => continue,
                _ => break,
            }
        }
    }

    /// Capabilities: what the port can use (none of the device's checksum
    /// or segmentation offloads reach an XDP socket).
    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// Counters; kernel drops are in `rx_dropped` as of the last
    /// [`XdpPort::maintain`].
    pub fn stats(&self) -> PortStats {
        self.stats
    }

    /// XDP-specific counters.
    pub fn xdp_stats(&self) -> XdpStats {
        self.xdp
    }

    /// Whether the socket runs zero-copy (else copy mode).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Whether the program runs in the driver (else generic mode).
    pub fn native(&self) -> bool {
        self.native
    }

    /// The queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Buffers lent to the kernel right now (fill + transmit rings).
    pub fn buffers_lent(&self) -> usize {
        self.loans.outstanding()
    }

    /// Idle-time bookkeeping: retry a transmit the kernel left half done,
    /// and fold the kernel's drop counters into the port's.
    pub fn maintain(&mut self) {
        if self.xsk.tx.local != self.xsk.tx.map.load_acquire(self.xsk.tx.cons) {
            self.kick_tx();
        }
        if let Ok(st) = sys::xdp_statistics(&self.xsk.fd) {
            self.xdp.rx_dropped = st.rx_dropped;
            self.xdp.rx_ring_full = st.rx_ring_full;
            self.xdp.fill_ring_empty = st.rx_fill_ring_empty_descs;
            self.xdp.invalid_descs = st.rx_invalid_descs + st.tx_invalid_descs;
            let total = st.rx_dropped + st.rx_ring_full + st.rx_invalid_descs;
            self.stats.rx_dropped += total.saturating_sub(self.kernel_seen);
            self.kernel_seen = total;
        }
    }

    /// The descriptor to wait on when idle.
    pub fn raw_fd(&self) -> RawFd {
        self.xsk.fd.as_raw_fd()
    }
}

#[cfg(test)]
impl Ring {
    /// A ring over anonymous memory, for tests that play the kernel: the
    /// producer at 0, the consumer at 64, flags at 128, descriptors at 192.
    fn fake(size: u32, entry: usize) -> Ring {
        let desc = 192;
        Ring {
            map: sys::Mapping::anonymous(desc + size as usize * entry).unwrap(),
            prod: 0,
            cons: 64,
            flags: 128,
            desc,
            entry,
            size,
            local: 0,
            seen: 0,
        }
    }
}

#[cfg(test)]
impl XdpPort {
    /// A port over fake rings of `ring_size` and a stand-in descriptor
    /// (/dev/null), with no kernel behind it.
    fn fake(pool: &Pool, ring_size: u32) -> XdpPort {
        let null = || OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let attachment = Attachment {
            map: null(),
            _prog: null(),
            _link: null(),
            native: false,
        };
        XdpPort {
            xsk: Xsk {
                fill: Ring::fake(ring_size, 8),
                comp: Ring::fake(ring_size, 8),
                rx: Ring::fake(ring_size, 16),
                tx: Ring::fake(ring_size, 16),
                fd: Arc::new(null()),
                on_close: None,
            },
            loans: Loans::new(pool),
            _attachment: Arc::new(attachment),
            stride: pool.stride() as u64,
            caps: Capabilities {
                max_frame: 1514,
                ..Capabilities::SOFTWARE
            },
            zero_copy: false,
            native: false,
            repair_partial: false,
            queue: 0,
            stats: PortStats::default(),
            xdp: XdpStats::default(),
            kernel_seen: 0,
        }
    }
}

#[cfg(test)]
// Fixtures: tags, offsets and lengths are small constants or masked values
// chosen to fit; a truncation would fail the assertions that use them.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn redirect_program_encoding() {
        let p = redirect_program(7);
        // The map load is a two-slot instruction carrying the fd.
        assert_eq!(p[1].code, 0x18);
        assert_eq!(p[1].regs, 1 | 1 << 4);
        assert_eq!(p[1].imm, 7);
        assert_eq!(
            p[2],
            BpfInsn {
                code: 0,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(p[0].off, 16, "rx_queue_index");
        assert_eq!(p[3].imm, 2, "XDP_PASS fallback");
        assert_eq!(p[4].imm, 51, "bpf_redirect_map");
        assert_eq!(p[5].code, 0x95);
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
    }

    #[test]
    fn pool_geometry_is_checked() {
        let ok = Pool::new(XdpContext::pool_config(64)).unwrap();
        assert_eq!(ok.stride(), 2048);
        assert!(XdpContext::new(&ok).is_ok());
        let bad = Pool::new(orbital_buf::PoolConfig::default()).unwrap();
        assert!(XdpContext::new(&bad).unwrap_err().contains("2048"));
        let shallow = Pool::new(orbital_buf::PoolConfig {
            buffers: 4,
            data_room: 2048 - 64,
            headroom: 64,
        })
        .unwrap();
        assert!(XdpContext::new(&shallow).unwrap_err().contains("headroom"));
    }

    /// Clause 3 of the UMEM contract: the socket and its rings go before the
    /// ledger hands back the buffers the kernel may still write, and while
    /// they go the ledger's pool handle still holds the memory. Reordering
    /// `XdpPort`'s fields (`loans` before `xsk`) makes this fail.
    #[test]
    fn the_socket_goes_before_the_buffers_it_may_write() {
        let pool = Pool::new(XdpContext::pool_config(256)).unwrap();
        let mut cache = pool.cache(64);
        let mut port = XdpPort::fake(&pool, 64);
        port.refill(&mut cache);
        assert_eq!(port.buffers_lent(), 64);
        drop(cache);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (probe, record) = (pool.clone(), log.clone());
        port.xsk.on_close = Some(CloseHook(Box::new(move || {
            let s = probe.stats();
            record.lock().unwrap().push(("socket closes", s.in_use));
        })));
        drop(port);
        let after = pool.stats().in_use;
        assert_eq!(
            *log.lock().unwrap(),
            [("socket closes", 64)],
            "the socket closed while every lent buffer was still on loan"
        );
        assert_eq!(after, 0, "then the ledger returned them");
    }

    fn frames(cache: &mut PoolCache, lens: &[usize]) -> Batch {
        let mut b = Batch::new();
        for (i, &len) in lens.iter().enumerate() {
            let mut p = cache.alloc().unwrap();
            assert!(p.extend_from_slice(&vec![i as u8; len]));
            b.push(p).unwrap();
        }
        b
    }

    /// The first byte of each packet left in `b`.
    fn left(b: &Batch) -> Vec<u8> {
        b.as_slice().iter().map(|p| p[0]).collect()
    }

    /// Play the kernel: it sent everything on the TX ring and completes it.
    fn kernel_sends_all(port: &mut XdpPort) {
        let tx = &mut port.xsk.tx;
        let (done, cons) = (tx.local, tx.cons);
        let mut addrs = Vec::new();
        for k in 0..done {
            addrs.push(tx.map.read_u64(tx.slot(k)));
        }
        tx.map.store_release(cons, done);
        let comp = &mut port.xsk.comp;
        for (k, a) in (0u32..).zip(addrs) {
            let at = comp.slot(k);
            comp.map.write_u64(at, a);
        }
        let prod = comp.prod;
        comp.map.store_release(prod, done);
    }

    #[test]
    fn tx_takes_what_the_ring_has_room_for_and_leaves_the_rest_in_order() {
        let pool = Pool::new(XdpContext::pool_config(512)).unwrap();
        let mut cache = pool.cache(256);
        let mut port = XdpPort::fake(&pool, 64);
        let mut b = frames(&mut cache, &[60; 70]);
        let r = port.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped), (64, 0));
        assert_eq!(left(&b), (64..70).collect::<Vec<u8>>());
        assert_eq!((port.buffers_lent(), port.stats().tx_dropped), (64, 0));
        // Descriptors in order, each at its buffer's frame, 60 bytes long.
        let tx = &port.xsk.tx;
        for k in 0..64 {
            let at = tx.slot(k);
            let addr = tx.map.read_u64(at);
            assert_eq!(addr % port.stride, XDP_HEADROOM as u64);
            assert_eq!(tx.map.load_relaxed(at + 8), 60);
        }
        // Nothing freed up: the leftovers stay where they are.
        assert_eq!(port.tx_burst(&mut b, &mut cache).sent, 0);
        assert_eq!(b.len(), 6);
        kernel_sends_all(&mut port);
        let r = port.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped, b.len()), (6, 0, 0));
        assert_eq!(port.buffers_lent(), 6, "the 64 completed went home");
        drop(port);
        drop(cache);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn tx_drops_only_what_it_could_never_send() {
        let pool = Pool::new(XdpContext::pool_config(512)).unwrap();
        let other = Pool::new(orbital_buf::PoolConfig::default()).unwrap();
        let mut cache = pool.cache(256);
        let mut port = XdpPort::fake(&pool, 64);
        // Ours: a good frame, one over the device's 1514, an empty one.
        let mut b = frames(&mut cache, &[60, 1600, 60]);
        b.as_mut_slice()[2].truncate(0);
        // Another pool's: a small frame (copied) and one over the device's.
        let mut oc = other.cache(8);
        for (tag, len) in [(3u8, 100), (4, 1700)] {
            let mut p = oc.alloc().unwrap();
            assert!(p.extend_from_slice(&vec![tag; len]));
            b.push(p).unwrap();
        }
        let r = port.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped, b.len()), (2, 3, 0));
        assert_eq!(port.stats().tx_dropped, 3);
        let tx = &port.xsk.tx;
        assert_eq!(tx.map.load_relaxed(tx.slot(1) + 8), 100, "the copy");
        drop(oc);
        assert_eq!(other.stats().in_use, 0, "foreign buffers all went home");
    }

    #[test]
    fn a_foreign_packet_with_no_buffer_to_copy_into_waits_in_order() {
        let pool = Pool::new(XdpContext::pool_config(64)).unwrap();
        let other = Pool::new(orbital_buf::PoolConfig::default()).unwrap();
        let mut cache = pool.cache(64);
        let mut port = XdpPort::fake(&pool, 64);
        let mut b = frames(&mut cache, &[60]);
        let mut p = other.alloc().unwrap();
        assert!(p.extend_from_slice(&[1; 60]));
        b.push(p).unwrap();
        let mut q = cache.alloc().unwrap();
        assert!(q.extend_from_slice(&[2; 60]));
        b.push(q).unwrap();
        // Every other buffer of ours is held elsewhere.
        let mut held = Vec::new();
        while let Some(p) = cache.alloc() {
            held.push(p);
        }
        let r = port.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped), (1, 0));
        assert_eq!(left(&b), [1, 2]);
        assert!(
            !b.as_slice()[0].is_from(&pool),
            "the foreign packet, untouched"
        );
        cache.free_all(held);
        let r = port.tx_burst(&mut b, &mut cache);
        assert_eq!((r.sent, r.dropped, b.len()), (2, 0, 0));
    }
}
