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
