//! The hash index: a bucketized cuckoo table of entry references.
//!
//! Each key (the direction-independent tuple hash) has two candidate
//! buckets; a bucket is one 64-byte cache line of ten slots, each a 16-bit
//! tag and a 32-bit entry reference. A lookup reads at most two lines and
//! touches an entry only when a tag matches (a false match costs one entry
//! read in 65,535 slot checks). The second bucket is `first ^ f(tag)`
//! ("partial-key" cuckoo hashing, as in MemC3 and cuckoo filters), so a slot
//! can be moved to its other bucket without reading its entry or hashing
//! again. Inserting into two full buckets searches breadth-first for a
//! short chain of moves (bounded, on a fixed-size queue on the stack) and
//! performs it back to front, so no existing reference is ever homeless.
//! Removing is clearing a slot: no tombstones, no rehash, no stall.
//!
//! Sized once: the bucket count is the least for which the table is at
//! most 85 % full when every entry has one slot — any count, not a power
//! of two, so memory per entry does not double between sizes (buckets are
//! picked by multiply-shift, and the second bucket is `f(tag) − first`
//! modulo the count, which is its own inverse like the usual XOR); at that load a breadth-first
//! search practically always succeeds. When it does not, the insert fails
//! and the caller counts it (`insert-failed`), as nf_conntrack does.

/// Slots per bucket: 10 × (2 + 4) bytes = 60, one cache line with its padding.
pub(crate) const SLOTS: usize = 10;

/// Tag of an empty slot; real tags are never 0.
const EMPTY: u16 = 0;

/// Highest load the index is sized for, in per mille of slots.
const MAX_LOAD_PERMILLE: usize = 850;

/// Buckets the breadth-first search may visit before it gives up.
const BFS_NODES: usize = 256;

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    tags: [u16; SLOTS],
    refs: [u32; SLOTS],
}

const EMPTY_BUCKET: Bucket = Bucket {
    tags: [EMPTY; SLOTS],
    refs: [0; SLOTS],
};

/// The index. References are opaque `u32`s to it (the table stores entry
/// numbers).
#[derive(Debug)]
pub(crate) struct Index {
    buckets: Box<[Bucket]>,
    /// Bucket count, as a u64 for the multiply-shift reductions.
    n: u64,
    len: usize,
}

/// Where a key may live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    b1: usize,
    b2: usize,
    tag: u16,
}

impl Index {
    /// An index for up to `keys` keys, allocated now and never resized.
    pub(crate) fn with_capacity(keys: usize) -> Index {
        // At most 2^31 buckets: the multiply-shift reductions take 32-bit
        // inputs (keys are bounded by MAX_ENTRIES = 2^30 anyway).
        let n = (keys * 1000)
            .div_ceil(SLOTS * MAX_LOAD_PERMILLE)
            .clamp(2, 1 << 31);
        Index {
            buckets: vec![EMPTY_BUCKET; n].into_boxed_slice(),
            n: n as u64,
            len: 0,
        }
    }

    /// Bytes of memory the index holds.
    pub(crate) fn bytes(&self) -> usize {
        self.buckets.len() * core::mem::size_of::<Bucket>()
    }

    /// Keys stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn alt(&self, b: usize, tag: u16) -> usize {
        // f − b (mod n) maps b to the other bucket and back again. For the
        // rare b with 2b ≡ f both candidates are one bucket: that key just
        // has ten slots instead of twenty.
        let f = ((u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) * self.n) >> 32;
        let a = f + self.n - b as u64;
        (if a >= self.n { a - self.n } else { a }) as usize
    }

    /// The two buckets and the tag of a hash.
    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> Probe {
        let tag = match (hash >> 48) as u16 {
            EMPTY => 1,
            t => t,
        };
        // Lemire's multiply-shift: the low 32 bits scaled to [0, n).
        let b1 = (((hash & 0xffff_ffff) * self.n) >> 32) as usize;
        Probe {
            b1,
            b2: self.alt(b1, tag),
            tag,
        }
    }

    /// The first reference under `p` for which `accept` says yes.
    #[inline]
    pub(crate) fn find(&self, p: Probe, mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        for b in [p.b1, p.b2] {
            let bucket = &self.buckets[b];
            // All ten tags compared at once (the compiler makes this a
            // vector compare), then only the matches are looked at: no
            // branch per slot.
            let mut hits = 0u32;
            for (i, &t) in bucket.tags.iter().enumerate() {
                hits |= u32::from(t == p.tag) << i;
            }
            while hits != 0 {
                let i = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if accept(bucket.refs[i]) {
                    return Some(bucket.refs[i]);
                }
            }
        }
        None
    }

    /// Hint that the first bucket of `p` will be read soon.
    #[inline]
    pub(crate) fn prefetch(&self, p: Probe) {
        orbital_cpu::prefetch(&self.buckets[p.b1]);
    }

    /// The first reference in the first bucket whose tag matches, without
    /// looking further: what a prefetch of the entry should aim at.
    #[inline]
    pub(crate) fn first_candidate(&self, p: Probe) -> Option<u32> {
        let bucket = &self.buckets[p.b1];
        let i = bucket.tags.iter().position(|&t| t == p.tag)?;
        Some(bucket.refs[i])
    }

    /// Store `r` under `p`. False when both buckets and every short chain of
    /// moves out of them are full (the caller counts an insert failure).
    pub(crate) fn insert(&mut self, p: Probe, r: u32) -> bool {
        for b in [p.b1, p.b2] {
            if let Some(s) = self.free_slot(b) {
                self.put(b, s, p.tag, r);
                return true;
            }
        }
        self.insert_by_moves(p, r)
    }

    /// Remove the reference `r` stored under `p`. False if it was not there.
    pub(crate) fn remove(&mut self, p: Probe, r: u32) -> bool {
        for b in [p.b1, p.b2] {
            let bucket = &mut self.buckets[b];
            for i in 0..SLOTS {
                if bucket.tags[i] == p.tag && bucket.refs[i] == r {
                    bucket.tags[i] = EMPTY;
                    self.len -= 1;
                    return true;
                }
            }
        }
        false
    }

    #[inline]
    fn free_slot(&self, b: usize) -> Option<usize> {
        self.buckets[b].tags.iter().position(|&t| t == EMPTY)
    }

    #[inline]
    fn put(&mut self, b: usize, s: usize, tag: u16, r: u32) {
        self.buckets[b].tags[s] = tag;
        self.buckets[b].refs[s] = r;
        self.len += 1;
    }

    /// Breadth-first search for a bucket with room reachable by moving slots
    /// to their other bucket, then the moves from the far end back.
    fn insert_by_moves(&mut self, p: Probe, r: u32) -> bool {
        // (bucket, parent node, slot of the parent's bucket whose move leads here)
        const ROOT: u16 = u16::MAX;
        let mut queue = [(0usize, ROOT, 0u8); BFS_NODES];
        queue[0] = (p.b1, ROOT, 0);
        queue[1] = (p.b2, ROOT, 0);
        let (mut head, mut len) = (0, 2);
        while head < len {
            let (b, _, _) = queue[head];
            if let Some(mut free) = self.free_slot(b) {
                // Walk back to the root, moving each parent's slot into the
                // room its child has.
                let mut node = head;
                loop {
                    let (nb, parent, pslot) = queue[node];
                    if parent == ROOT {
                        self.put(nb, free, p.tag, r);
                        return true;
                    }
                    let pb = queue[usize::from(parent)].0;
                    let ps = usize::from(pslot);
                    self.buckets[nb].tags[free] = self.buckets[pb].tags[ps];
                    self.buckets[nb].refs[free] = self.buckets[pb].refs[ps];
                    self.buckets[pb].tags[ps] = EMPTY;
                    free = ps;
                    node = usize::from(parent);
                }
            }
            for s in 0..SLOTS {
                if len == BFS_NODES {
                    break;
                }
                let next = self.alt(b, self.buckets[b].tags[s]);
                queue[len] = (next, head as u16, s as u8);
                len += 1;
            }
            head += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn mix(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn bucket_is_one_cache_line() {
        assert_eq!(core::mem::size_of::<Bucket>(), 64);
    }

    #[test]
    fn fills_to_capacity_and_empties() {
        let n = 100_000;
        let mut ix = Index::with_capacity(n);
        for i in 0..n as u32 {
            assert!(ix.insert(ix.probe(mix(u64::from(i))), i), "insert {i}");
        }
        assert_eq!(ix.len(), n);
        for i in 0..n as u32 {
            let p = ix.probe(mix(u64::from(i)));
            assert_eq!(ix.find(p, |r| r == i), Some(i));
        }
        for i in (0..n as u32).step_by(2) {
            assert!(ix.remove(ix.probe(mix(u64::from(i))), i));
        }
        for i in 0..n as u32 {
            let p = ix.probe(mix(u64::from(i)));
            assert_eq!(ix.find(p, |r| r == i).is_some(), i % 2 == 1);
        }
    }

    #[test]
    fn moves_make_room_far_beyond_the_sizing_load() {
        // 118 buckets (not a power of two), 1,180 slots; fill to 97 %: most
        // late inserts need chains of moves, and every key placed must stay
        // findable.
        let mut ix = Index::with_capacity(1000);
        assert_eq!(ix.buckets.len() * SLOTS, 1180);
        let mut placed = Vec::new();
        for i in 0..1180u32 {
            if ix.insert(ix.probe(mix(u64::from(i) + 7)), i) {
                placed.push(i);
            }
        }
        assert!(placed.len() >= 1145, "only {} placed", placed.len());
        for &i in &placed {
            let p = ix.probe(mix(u64::from(i) + 7));
            assert_eq!(ix.find(p, |r| r == i), Some(i), "key {i} lost");
        }
        assert_eq!(ix.len(), placed.len());
    }

    proptest::proptest! {
        /// Against a naive map: random inserts and removes of keys with
        /// deliberately few distinct hashes (collisions, equal tags).
        #[test]
        fn matches_a_map(ops in proptest::collection::vec((0u32..400, 0u64..64, proptest::bool::ANY), 1..2000)) {
            let mut ix = Index::with_capacity(400);
            let mut model: HashMap<u32, u64> = HashMap::new();
            for (r, h, add) in ops {
                let hash = mix(h);
                if add {
                    if let std::collections::hash_map::Entry::Vacant(v) = model.entry(r) {
                        if ix.insert(ix.probe(hash), r) {
                            v.insert(hash);
                        }
                    }
                } else if let Some(old) = model.remove(&r) {
                    proptest::prop_assert!(ix.remove(ix.probe(old), r));
                }
                proptest::prop_assert_eq!(ix.len(), model.len());
            }
            for (&r, &h) in &model {
                proptest::prop_assert_eq!(ix.find(ix.probe(h), |x| x == r), Some(r));
            }
        }
    }
}
