//! External ports: which ones a mapping may take, and who holds them.
//!
//! # Steering: the return flow lands where the flow began
//!
//! The engine spreads flows over workers by the symmetric Toeplitz hash of
//! their 4-tuple through a 128-entry indirection table (`graph::rss`). Its
//! key repeats one 16-bit pattern (0x6d5a), so the hash is linear over
//! GF(2) in the XOR of the tuple's 16-bit words: H(X, x, R, r) = L(f(X) ⊕ x
//! ⊕ f(R) ⊕ r), f folding an address to 16 bits. A session from inside
//! endpoint X:x to remote R:r, translated to E:p, returns as R:r → E:p with
//! hash L(f(R) ⊕ r ⊕ f(E) ⊕ p). The two agree in the seven bits the
//! indirection table reads whenever
//!
//! ```text
//!     L7(p) = L7(x ⊕ f(X) ⊕ f(E))
//! ```
//!
//! — a condition on the mapping alone, true for **every** remote endpoint.
//! So every external port is chosen from that coset of the kernel of L7
//! (512 of the 65,536 ports): the return traffic of every session of the
//! mapping reaches the worker its outbound traffic reached, whatever the
//! worker count and whatever the indirection table holds, with no lookup
//! and no hand-off. Port preservation (p = x) happens when x is in the
//! coset (1 in 128); parity (RFC 4787 REQ-4) and the 0–1023 / 1024–65535
//! range (REQ-3 a) are kept, since the coset holds both parities in both
//! ranges.
//!
//! # Who holds a port: the shared port table
//!
//! Endpoint-independent mapping (RFC 4787 REQ-1) means one external port
//! per inside endpoint for every destination, and the sessions of one
//! mapping to different remotes hash to different workers. The port table
//! is the one structure the workers share: per external address and
//! protocol, one atomic word per port holding the inside endpoint that owns
//! it and how many sessions (on any worker) use it. It is written when a
//! session starts or ends — compare-and-swap, no lock — and never per
//! packet; the per-packet path reads only the worker's own session table.
//! Candidates are tried in a fixed order, so given the order of requests
//! the choice is deterministic.

use std::sync::atomic::{AtomicU64, Ordering};

use orbital_graph::rss::Toeplitz;

/// The seven hash bits the indirection table reads.
const RETA_MASK: u32 = 127;

/// The linear map from a 16-bit word of the tuple to the seven hash bits,
/// solved: one port per value, and the kernel's basis.
#[derive(Debug, Clone)]
pub struct Steer {
    /// L7 of each single-bit word (bit `i` of the word → `bits[i]`).
    bits: [u8; 16],
    /// A port with L7 = v, for each v (`None` when L7 does not reach v).
    sol: [Option<u16>; 128],
    /// A basis of the ports with L7 = 0.
    kernel: Vec<u16>,
}

/// The Toeplitz hash of one 16-bit word at the source-port position of an
/// IPv4 4-tuple (with the symmetric key, any word position gives the same).
fn word_hash(rss: &Toeplitz, w: u16) -> u32 {
    let mut b = [0u8; 12];
    b[8..10].copy_from_slice(&w.to_be_bytes());
    rss.hash(&b)
}

impl Steer {
    /// Solve the map of `rss`.
    pub fn new(rss: &Toeplitz) -> Steer {
        let bits: [u8; 16] = core::array::from_fn(|i| (word_hash(rss, 1 << i) & RETA_MASK) as u8);
        let l7 = |p: u16| -> u8 {
            (0..16)
                .filter(|&i| p & (1 << i) != 0)
                .fold(0, |a, i| a ^ bits[i])
        };
        let mut sol = [None; 128];
        let mut kernel = Vec::new();
        // Solve by enumeration (65,536 ports, once per worker): the
        // smallest port reaching each value, and a kernel basis built by
        // adding each kernel port not yet spanned.
        let mut spanned = vec![false; 1 << 16];
        spanned[0] = true;
        let mut span: Vec<u16> = vec![0];
        for p in 0..=u16::MAX {
            let v = l7(p);
            if sol[usize::from(v)].is_none() {
                sol[usize::from(v)] = Some(p);
            }
            if v == 0 && !spanned[usize::from(p)] {
                kernel.push(p);
                let more: Vec<u16> = span.iter().map(|s| s ^ p).collect();
                for m in &more {
                    spanned[usize::from(*m)] = true;
                }
                span.extend(more);
            }
        }
        Steer { bits, sol, kernel }
    }

    /// L7 of a word.
    #[inline]
    pub fn l7(&self, w: u16) -> u8 {
        let mut a = 0;
        let mut w = w;
        let mut i = 0;
        while w != 0 {
            if w & 1 != 0 {
                a ^= self.bits[i];
            }
            w >>= 1;
            i += 1;
        }
        a
    }

    /// The ports in the kernel coset a mapping of inside endpoint `x`
    /// (whose address folds to `fx`) on external address folding to `fe`
    /// must take: at most 2^k, k the kernel's dimension.
    pub fn coset_size(&self) -> usize {
        1 << self.kernel.len().min(16)
    }

    /// Candidate `i` (0..coset_size) of the coset for `x` ⊕ `fx` ⊕ `fe`,
    /// or `None` when no port reaches it.
    #[inline]
    pub fn candidate(&self, x: u16, fx: u16, fe: u16, i: usize) -> Option<u16> {
        let base = self.sol[usize::from(self.l7(x ^ fx ^ fe))]?;
        let mut p = base;
        for (k, b) in self.kernel.iter().enumerate() {
            if i & (1 << k) != 0 {
                p ^= b;
            }
        }
        Some(p)
    }

    /// Whether port `p` on address `fe` keeps the steering for `x` on `fx`.
    #[inline]
    pub fn steers(&self, x: u16, fx: u16, fe: u16, p: u16) -> bool {
        self.l7(p ^ x ^ fx ^ fe) == 0
    }
}

/// Fold an IPv4 address to 16 bits (the XOR of its words).
#[inline]
pub const fn fold(a: u32) -> u16 {
    ((a >> 16) ^ (a & 0xffff)) as u16
}

/// A port-table word: the inside endpoint (address, port) and the sessions
/// using it; 0 is free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// Inside address.
    pub addr: u32,
    /// Inside port (ICMP: identifier).
    pub port: u16,
    /// Sessions using the mapping, on every worker.
    pub refs: u16,
}

impl Owner {
    const fn pack(self) -> u64 {
        ((self.refs as u64) << 48) | ((self.port as u64) << 32) | self.addr as u64
    }

    const fn unpack(w: u64) -> Owner {
        Owner {
            addr: w as u32,
            port: (w >> 32) as u16,
            refs: (w >> 48) as u16,
        }
    }

    const fn same_endpoint(self, addr: u32, port: u16) -> bool {
        self.addr == addr && self.port == port
    }
}

/// Why a mapping could not be made or joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// Every candidate port is taken (`nat-ports-exhausted`).
    Exhausted,
    /// The mapping already has 65,535 sessions.
    TooManySessions,
}

/// One external address's ports for one protocol: a word per port.
#[derive(Debug)]
pub struct PortTable {
    words: Box<[AtomicU64]>,
    /// Per port, a 64-bit Bloom filter of the remote addresses the
    /// mapping's sessions reached (address-dependent filtering, RFC 4787
    /// REQ-8; ICMP replies).
    remotes: Box<[AtomicU64]>,
}

impl Default for PortTable {
    fn default() -> Self {
        PortTable::new()
    }
}

/// The two Bloom bits of a remote address.
#[inline]
fn bloom(remote: u32) -> u64 {
    let h = u64::from(remote).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (1 << (h >> 58)) | (1 << ((h >> 52) & 63))
}

impl PortTable {
    /// All ports free.
    pub fn new() -> PortTable {
        PortTable {
            words: (0..=u16::MAX).map(|_| AtomicU64::new(0)).collect(),
            remotes: (0..=u16::MAX).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Who holds port `p`.
    #[inline]
    pub fn owner(&self, p: u16) -> Option<Owner> {
        let w = self.words.get(usize::from(p))?.load(Ordering::Acquire);
        (w >> 48 != 0).then(|| Owner::unpack(w))
    }

    /// Join the mapping of `addr:port` at `p` if it holds it: one more
    /// session.
    ///
    /// # Errors
    /// [`PortError::TooManySessions`]; `Exhausted` when `p` is not theirs.
    pub fn join(&self, p: u16, addr: u32, port: u16) -> Result<(), PortError> {
        let slot = &self.words[usize::from(p)];
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            let o = Owner::unpack(cur);
            if o.refs == 0 || !o.same_endpoint(addr, port) {
                return Err(PortError::Exhausted);
            }
            if o.refs == u16::MAX {
                return Err(PortError::TooManySessions);
            }
            let next = Owner {
                refs: o.refs + 1,
                ..o
            }
            .pack();
            match slot.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(v) => cur = v,
            }
        }
    }

    /// Take free port `p` for `addr:port` with one session. Returns whether
    /// it was free.
    fn claim(&self, p: u16, addr: u32, port: u16) -> bool {
        let slot = &self.words[usize::from(p)];
        let cur = slot.load(Ordering::Acquire);
        if cur >> 48 != 0 {
            return false;
        }
        let next = Owner {
            addr,
            port,
            refs: 1,
        }
        .pack();
        if slot
            .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.remotes[usize::from(p)].store(0, Ordering::Release);
            true
        } else {
            false
        }
    }

    /// One session fewer on port `p`; the port is free when none is left.
    /// Returns whether this freed it.
    pub fn release(&self, p: u16) -> bool {
        let slot = &self.words[usize::from(p)];
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            let o = Owner::unpack(cur);
            if o.refs == 0 {
                return false;
            }
            // The endpoint stays in the word when its last session goes: a
            // "was here" mark, so a later search for it does not stop short
            // of a port it holds further on (see [`PortTable::map`]).
            let next = Owner {
                refs: o.refs - 1,
                ..o
            }
            .pack();
            match slot.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return o.refs == 1,
                Err(v) => cur = v,
            }
        }
    }

    /// Note that the mapping at `p` reached `remote`.
    #[inline]
    pub fn add_remote(&self, p: u16, remote: u32) {
        if let Some(r) = self.remotes.get(usize::from(p)) {
            let b = bloom(remote);
            if r.load(Ordering::Relaxed) & b != b {
                r.fetch_or(b, Ordering::AcqRel);
            }
        }
    }

    /// Whether the mapping at `p` may have reached `remote` (a Bloom
    /// filter: never a false "no"; a false "yes" with probability about
    /// (1 - e^(-2n/64))^2 after n remotes — 1.4 % at 4, 9 % at 10).
    #[inline]
    pub fn reached(&self, p: u16, remote: u32) -> bool {
        let b = bloom(remote);
        self.remotes
            .get(usize::from(p))
            .is_some_and(|r| r.load(Ordering::Acquire) & b == b)
    }

    /// The mapping of inside endpoint `addr:port` with one more session:
    /// its port if it has one among `candidates`, else the first free one;
    /// and whether the port was newly taken (not joined).
    /// Candidates come in a fixed order; a word that once held an endpoint
    /// is never empty again (it keeps the endpoint with no sessions), so
    /// the search can stop at the first never-used port: the endpoint's
    /// mapping, if any, is before it.
    ///
    /// # Errors
    /// [`PortError::Exhausted`] when no candidate is free.
    pub fn map(
        &self,
        addr: u32,
        port: u16,
        candidates: impl Iterator<Item = u16> + Clone,
    ) -> Result<(u16, bool), PortError> {
        'retry: for _ in 0..4 {
            let mut free = None;
            for p in candidates.clone() {
                let w = self.words[usize::from(p)].load(Ordering::Acquire);
                let o = Owner::unpack(w);
                if w != 0 && o.same_endpoint(addr, port) {
                    if o.refs == 0 {
                        if self.claim(p, addr, port) {
                            return Ok((p, true));
                        }
                        continue 'retry;
                    }
                    match self.join(p, addr, port) {
                        Ok(()) => return Ok((p, false)),
                        Err(PortError::Exhausted) => continue 'retry,
                        Err(e) => return Err(e),
                    }
                }
                if o.refs == 0 && free.is_none() {
                    free = Some(p);
                }
                if w == 0 {
                    break;
                }
            }
            let Some(p) = free else {
                return Err(PortError::Exhausted);
            };
            if self.claim(p, addr, port) {
                return Ok((p, true));
            }
        }
        Err(PortError::Exhausted)
    }

    /// Ports held now (at least one session).
    pub fn used(&self) -> usize {
        self.words
            .iter()
            .filter(|w| w.load(Ordering::Relaxed) >> 48 != 0)
            .count()
    }

    /// Every held port with its owner, in port order.
    pub fn held(&self) -> impl Iterator<Item = (u16, Owner)> + '_ {
        self.words.iter().enumerate().filter_map(|(p, w)| {
            let w = w.load(Ordering::Relaxed);
            (w >> 48 != 0).then(|| (p as u16, Owner::unpack(w)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbital_graph::rss::SYMMETRIC_KEY;

    #[test]
    fn the_coset_keeps_the_return_hash_for_every_remote() {
        let rss = Toeplitz::new(&SYMMETRIC_KEY);
        let s = Steer::new(&rss);
        assert_eq!(s.coset_size(), 512, "L7 has full rank with this key");
        let (x_addr, e_addr) = (0xc0a8_0121u32, 0xcb00_7101u32);
        let x = 40_000u16;
        let mut rng = 0x1234_5678u64;
        for i in 0..512 {
            let p = s.candidate(x, fold(x_addr), fold(e_addr), i).unwrap();
            assert!(s.steers(x, fold(x_addr), fold(e_addr), p));
            for _ in 0..4 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                let (r, rp) = ((rng >> 32) as u32, (rng >> 16) as u16);
                let mut fwd = [0u8; 12];
                fwd[..4].copy_from_slice(&x_addr.to_be_bytes());
                fwd[4..8].copy_from_slice(&r.to_be_bytes());
                fwd[8..10].copy_from_slice(&x.to_be_bytes());
                fwd[10..12].copy_from_slice(&rp.to_be_bytes());
                let mut back = [0u8; 12];
                back[..4].copy_from_slice(&r.to_be_bytes());
                back[4..8].copy_from_slice(&e_addr.to_be_bytes());
                back[8..10].copy_from_slice(&rp.to_be_bytes());
                back[10..12].copy_from_slice(&p.to_be_bytes());
                assert_eq!(rss.hash(&fwd) & 127, rss.hash(&back) & 127);
            }
        }
    }

    #[test]
    fn one_endpoint_one_port_and_no_overloading() {
        let t = PortTable::new();
        let cands = || [1000u16, 2000, 3000].into_iter();
        assert_eq!(t.map(1, 5, cands()), Ok((1000, true)));
        assert_eq!(t.map(1, 5, cands()), Ok((1000, false)), "joined");
        assert_eq!(t.map(2, 5, cands()), Ok((2000, true)), "the next endpoint");
        assert_eq!(t.owner(1000).unwrap().refs, 2);
        assert!(!t.release(1000), "one session left");
        assert!(t.release(1000), "the last one frees it");
        assert!(t.owner(1000).is_none());
        // The second endpoint is still found behind the freed port, and
        // the first gets its old port back.
        assert_eq!(t.map(2, 5, cands()), Ok((2000, false)));
        assert_eq!(t.map(1, 5, cands()), Ok((1000, true)));
        assert_eq!(t.map(3, 5, cands()), Ok((3000, true)));
        assert_eq!(t.map(4, 5, cands()), Err(PortError::Exhausted));
        t.add_remote(2000, 0x0a00_0001);
        assert!(t.reached(2000, 0x0a00_0001));
        assert!(!t.reached(2000, 0x0a00_0002));
    }
}
