//! Buffers lent to a device: an AF_XDP socket's fill and transmit rings hold
//! pool buffers by *index*, and the kernel gives indices back on its receive
//! and completion rings. [`Loans`] is the ledger that turns a packet into an
//! index when it goes to the device and an index back into a packet when the
//! device returns it, so no packet byte is ever copied between the NIC and
//! the pipeline (spec §4, zero copy).
//!
//! The ledger checks every index the device returns against what it lent:
//! an index it never lent, or one returned twice, is refused (`None`) rather
//! than turned into a second owner of a buffer. So the uniqueness of buffer
//! ownership that the whole crate rests on does not depend on the device
//! behaving. What the device may *write* while it holds a buffer is the
//! business of whoever registered the pool's memory with it.

use std::fmt;

use crate::packet::Packet;
use crate::pool::Pool;
use crate::sys::Ledger;

/// The buffers one device endpoint holds, by index, with the pool references
/// they carry. One per AF_XDP socket; not shared between threads.
pub struct Loans {
    pool: Pool,
    ledger: Ledger,
}

impl fmt::Debug for Loans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loans")
            .field("outstanding", &self.ledger.outstanding())
            .finish()
    }
}

impl Loans {
    /// An empty ledger for buffers of `pool`.
    pub fn new(pool: &Pool) -> Loans {
        Loans {
            pool: pool.clone(),
            ledger: Ledger::new(pool.handle()),
        }
    }

    /// The pool whose buffers this ledger lends.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Buffers currently lent.
    pub fn outstanding(&self) -> usize {
        self.ledger.outstanding()
    }

    /// Lend `pkt`'s buffer: the packet is gone, its index (and its reference
    /// to the pool) is now the ledger's. A packet of another pool is handed
    /// back unchanged.
    ///
    /// # Errors
    /// The packet itself, when it does not belong to this ledger's pool.
    #[inline]
    pub fn lend(&mut self, pkt: Packet) -> Result<u32, Packet> {
        if !pkt.is_from(&self.pool) {
            return Err(pkt);
        }
        // Cannot be refused: the pool was just checked.
        self.ledger.lend(pkt.into_buf()).map_err(Packet::new)
    }

    /// Take back buffer `index` as a packet whose frame is the `len` bytes
    /// at `head` in the buffer. `None`, changing nothing, when the index is
    /// not on loan here (out of range, never lent, already returned); a
    /// returned buffer whose window does not fit comes back as an empty
    /// packet instead (`len` 0 at the headroom), so it is not lost.
    #[inline]
    pub fn reclaim(&mut self, index: u32, head: usize, len: usize) -> Option<Packet> {
        let mut p = Packet::new(self.ledger.reclaim(index)?);
        if let (Ok(head), Ok(len)) = (u32::try_from(head), u32::try_from(len)) {
            p.set_window(head, len);
        }
        Some(p)
    }

    /// Whether `index` is on loan here.
    pub fn is_lent(&self, index: u32) -> bool {
        self.ledger.is_lent(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolConfig;

    fn pool() -> Pool {
        Pool::new(PoolConfig {
            buffers: 130,
            data_room: 1792,
            headroom: 256,
        })
        .unwrap()
    }

    #[test]
    fn lend_and_reclaim_round_trip_without_copy() {
        let pool = pool();
        let mut loans = Loans::new(&pool);
        let mut p = pool.alloc().unwrap();
        assert!(p.extend_from_slice(b"frame"));
        let idx = loans.lend(p).unwrap();
        assert!(loans.is_lent(idx));
        assert_eq!(loans.outstanding(), 1);
        assert_eq!(pool.stats().in_use, 1);
        // The "device" returns the frame where it put it.
        let back = loans.reclaim(idx, 256, 5).unwrap();
        assert_eq!(&back[..], b"frame");
        assert_eq!(back.buffer_index(), idx);
        assert!(!loans.is_lent(idx));
        drop(back);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn refuses_what_it_did_not_lend() {
        let pool = pool();
        let mut loans = Loans::new(&pool);
        let idx = loans.lend(pool.alloc().unwrap()).unwrap();
        assert!(loans.reclaim(idx + 1, 256, 10).is_none(), "never lent");
        assert!(loans.reclaim(u32::MAX, 0, 0).is_none(), "out of range");
        let p = loans.reclaim(idx, 256, 10).unwrap();
        assert!(loans.reclaim(idx, 256, 10).is_none(), "returned twice");
        drop(p);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn bad_window_comes_back_empty_not_lost() {
        let pool = pool();
        let mut loans = Loans::new(&pool);
        let idx = loans.lend(pool.alloc().unwrap()).unwrap();
        let p = loans.reclaim(idx, 2000, 100).unwrap();
        assert!(p.is_empty());
        assert_eq!(p.headroom(), 256);
        let idx = loans.lend(p).unwrap();
        let p = loans.reclaim(idx, usize::MAX, 1).unwrap();
        assert!(p.is_empty());
    }

    #[test]
    fn foreign_packets_are_handed_back() {
        let a = pool();
        let b = pool();
        let mut loans = Loans::new(&a);
        let p = b.alloc().unwrap();
        let p = loans.lend(p).unwrap_err();
        drop(p);
        assert_eq!(loans.outstanding(), 0);
    }

    #[test]
    fn dropping_the_ledger_returns_what_is_on_loan() {
        let pool = pool();
        let mut loans = Loans::new(&pool);
        for _ in 0..130 {
            loans.lend(pool.alloc().unwrap()).unwrap();
        }
        assert_eq!(pool.stats().free, 0);
        drop(loans);
        assert_eq!(pool.stats().free, 130);
        assert_eq!(pool.stats().in_use, 0);
    }
}
