//! The stages a batch runs through, one file each, in pipeline order:
//! [`parse`] → [`l2`] → prerouting hook → [`route`] → input/forward hook →
//! postrouting hook → [`rewrite`] → [`egress`]. Each is a plain function over
//! the whole batch (packets and their [`crate::verdict::PacketCtx`]s side by
//! side), called directly by the worker: static dispatch, no allocation, no
//! lock. A stage looks only at packets still `Continue` (or `Tx`, for the
//! transmit-side stages) and says how many it looked at and dropped.

pub mod egress;
pub mod hooks;
pub mod l2;
pub mod parse;
pub mod rewrite;
pub mod route;

use orbital_buf::{MAX_BURST, Packet, PoolCache};
use orbital_fib::Tables;
use orbital_fib::l2::MacTable;

use crate::rss::Toeplitz;
use crate::verdict::Egress;

/// What a stage may use besides the batch.
pub struct Lane<'a> {
    /// The table version of this batch.
    pub tables: &'a Tables,
    /// Engine time of this batch.
    pub now_ns: u64,
    /// The worker's MAC learning table.
    pub macs: &'a mut MacTable,
    /// The worker's buffers.
    pub cache: &'a mut PoolCache,
    /// Packets made by stages (flood copies, fragments), with where they go.
    pub created: &'a mut Vec<(Packet, Egress)>,
    /// Flow hasher.
    pub rss: &'a Toeplitz,
    /// Scratch arrays kept between batches (the route stage's bulk lookup
    /// lists), so no stage zeroes kilobytes per batch.
    pub scratch: &'a mut Scratch,
}

/// Per-worker scratch space for stages.
#[derive(Debug, Clone)]
pub struct Scratch {
    pub(crate) a4: [u32; MAX_BURST],
    pub(crate) a6: [u128; MAX_BURST],
    pub(crate) i4: [u8; MAX_BURST],
    pub(crate) i6: [u8; MAX_BURST],
    pub(crate) found: [u32; MAX_BURST],
    pub(crate) nh: [u32; MAX_BURST],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            a4: [0; MAX_BURST],
            a6: [0; MAX_BURST],
            i4: [0; MAX_BURST],
            i6: [0; MAX_BURST],
            found: [0; MAX_BURST],
            nh: [0; MAX_BURST],
        }
    }
}

impl core::fmt::Debug for Lane<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lane")
            .field("version", &self.tables.version)
            .field("now_ns", &self.now_ns)
            .finish()
    }
}

/// What a stage did to a batch, for its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Packets it looked at.
    pub packets: u64,
    /// Packets it dropped.
    pub drops: u64,
}
