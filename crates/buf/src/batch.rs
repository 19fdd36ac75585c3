//! A burst of packets: what a port returns from `rx_burst` and what each
//! stage walks over.

use crate::packet::Packet;

/// Most packets in one burst (VPP's frame size; DPDK l3fwd uses 32, we take
/// more per poll to amortise the per-batch table load and port call).
pub const MAX_BURST: usize = 256;

/// A fixed-capacity list of packets. Its storage is allocated once, when the
/// batch is made, and reused for every burst.
#[derive(Debug)]
pub struct Batch {
    pkts: Vec<Packet>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// An empty batch with room for [`MAX_BURST`] packets.
    pub fn new() -> Batch {
        Batch {
            pkts: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Add a packet; hands it back if the batch is full.
    ///
    /// # Errors
    /// The packet itself, when [`MAX_BURST`] packets are already in.
    #[inline]
    pub fn push(&mut self, pkt: Packet) -> Result<(), Packet> {
        if self.pkts.len() == MAX_BURST {
            return Err(pkt);
        }
        self.pkts.push(pkt);
        Ok(())
    }

    /// Packets in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.pkts.len()
    }

    /// True when empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pkts.is_empty()
    }

    /// Room left.
    #[inline]
    pub fn room(&self) -> usize {
        MAX_BURST - self.pkts.len()
    }

    /// The packets.
    #[inline]
    pub fn as_slice(&self) -> &[Packet] {
        &self.pkts
    }

    /// The packets, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Packet] {
        &mut self.pkts
    }

    /// Take all packets out, leaving the batch empty with its storage kept.
    #[inline]
    pub fn drain(&mut self) -> std::vec::Drain<'_, Packet> {
        self.pkts.drain(..)
    }

    /// Take the first `n` packets (all, if fewer), in order; the rest move to
    /// the front, in order.
    #[inline]
    pub fn drain_front(&mut self, n: usize) -> std::vec::Drain<'_, Packet> {
        let n = n.min(self.pkts.len());
        self.pkts.drain(..n)
    }

    /// Hand the packets to `take` from the front, in order, until it gives
    /// one back: that one and every packet after it stay in the batch, in
    /// order. Returns how many `take` kept. What a port's `tx_burst` uses to
    /// send as much as the device has room for.
    pub fn hand_off(&mut self, mut take: impl FnMut(Packet) -> Result<(), Packet>) -> usize {
        // Popping from the back of the reversed list takes the front without
        // shifting the rest once per packet.
        self.pkts.reverse();
        let mut kept = 0;
        while let Some(p) = self.pkts.pop() {
            if let Err(p) = take(p) {
                self.pkts.push(p);
                break;
            }
            kept += 1;
        }
        self.pkts.reverse();
        kept
    }

    /// Remove and return the packet at `i`, moving the last one into its place.
    #[inline]
    pub fn swap_remove(&mut self, i: usize) -> Packet {
        self.pkts.swap_remove(i)
    }

    /// Remove the last packet.
    #[inline]
    pub fn pop(&mut self) -> Option<Packet> {
        self.pkts.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pool, PoolConfig};

    fn batch_of(pool: &Pool, n: u8) -> Batch {
        let mut b = Batch::new();
        for i in 0..n {
            let mut p = pool.alloc().unwrap();
            assert!(p.extend_from_slice(&[i]));
            b.push(p).unwrap();
        }
        b
    }

    fn firsts(b: &Batch) -> Vec<u8> {
        b.as_slice().iter().map(|p| p[0]).collect()
    }

    #[test]
    fn hand_off_stops_at_the_first_refusal_and_keeps_order() {
        let pool = Pool::new(PoolConfig {
            buffers: 16,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut b = batch_of(&pool, 6);
        let mut taken = Vec::new();
        let kept = b.hand_off(|p| {
            if taken.len() == 4 {
                return Err(p);
            }
            taken.push(p[0]);
            Ok(())
        });
        assert_eq!((kept, taken), (4, vec![0, 1, 2, 3]));
        assert_eq!(firsts(&b), [4, 5]);
        assert_eq!(b.hand_off(|_| Ok(())), 2);
        assert!(b.is_empty());
        assert_eq!(b.hand_off(|_| Ok(())), 0);
        assert_eq!(pool.stats().in_use, 0);
    }

    #[test]
    fn drain_front_takes_a_prefix() {
        let pool = Pool::new(PoolConfig {
            buffers: 16,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut b = batch_of(&pool, 5);
        let front: Vec<u8> = b.drain_front(2).map(|p| p[0]).collect();
        assert_eq!((front, firsts(&b)), (vec![0, 1], vec![2, 3, 4]));
        assert_eq!(b.drain_front(10).count(), 3);
        assert!(b.is_empty());
    }
}
