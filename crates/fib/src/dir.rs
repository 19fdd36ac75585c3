//! The multibit trie behind both LPMs: a directly indexed 24-bit root
//! (DPDK's DIR-24-8 for IPv4, its `rte_fib6` trie layout for IPv6) and
//! 256-entry groups for each further 8 bits, allocated only under prefixes
//! longer than /24.
//!
//! Entries are `u32`: a next-hop id (0 = no route), or, with [`EXT`] set, the
//! index of the group that resolves the next 8 bits. Keys are `u128`, left
//! aligned (an IPv4 address sits in the top 32 bits), so one builder serves
//! both families; the lookups are specialised in `lpm`.
//!
//! # Copy-on-write chunks
//! The root (16 Mi entries) and the groups are stored in 256 KiB chunks held
//! by `Arc`. A new version clones the chunk pointers, not the chunks, and a
//! change copies only the chunks it writes (`Arc::make_mut`): publishing a
//! route change costs a few hundred KiB of copying instead of the 64 MiB root
//! (measured: 2,000 single-route updates of a table took 104 s with a flat
//! root, see `tests/tables.rs`). Chunks nobody wrote are one shared zero
//! chunk, so a sparse IPv6 root costs memory only where routes are. The price
//! is one load from the 2 KiB chunk-pointer array per lookup, which stays in
//! L1: about 1.5 cycles per lookup on random addresses (`orbital bench lpm`,
//! A/B in one run).
//!
//! Building paints prefixes in (address, length) order, which puts a prefix
//! before every prefix it covers: a longer prefix only ever overwrites the
//! part of a shorter one it covers, and a new group starts as 256 copies of
//! the entry it replaces. An update re-renders just the
//! changed prefix's range from the rule store (see [`crate::rules::Rules`]).

use std::sync::Arc;

/// Marks an entry that points at a group.
pub(crate) const EXT: u32 = 1 << 31;
/// Entries per group (8 bits).
pub(crate) const GROUP: usize = 256;
/// Bits of the root.
pub(crate) const ROOT_BITS: u32 = 24;
/// Entries per chunk.
pub(crate) const CHUNK: usize = 1 << 16;
/// Root chunks.
pub(crate) const ROOT_CHUNKS: usize = (1 << ROOT_BITS) / CHUNK;

/// 256 KiB of entries.
pub(crate) type Chunk = [u32; CHUNK];

#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub(crate) root: Box<[Arc<Chunk>; ROOT_CHUNKS]>,
    /// 256 groups per chunk.
    pub(crate) groups: Vec<Arc<Chunk>>,
    n_groups: u32,
    free: Vec<u32>,
}

#[derive(Clone, Copy)]
enum Slot {
    Root(usize),
    Group(usize),
}

fn zero_chunk() -> Arc<Chunk> {
    let v: Box<Chunk> = vec![0u32; CHUNK]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    Arc::from(v)
}

impl Default for Dir {
    fn default() -> Self {
        Dir::new()
    }
}

impl Dir {
    pub(crate) fn new() -> Dir {
        let zero = zero_chunk();
        Dir {
            root: Box::new(std::array::from_fn(|_| zero.clone())),
            groups: Vec::new(),
            n_groups: 0,
            free: Vec::new(),
        }
    }

    #[inline]
    fn get(&self, s: Slot) -> u32 {
        match s {
            Slot::Root(i) => self.root[i / CHUNK][i % CHUNK],
            Slot::Group(i) => self.groups[i / CHUNK][i % CHUNK],
        }
    }

    #[inline]
    fn entry_mut(&mut self, s: Slot) -> &mut u32 {
        match s {
            Slot::Root(i) => &mut Arc::make_mut(&mut self.root[i / CHUNK])[i % CHUNK],
            Slot::Group(i) => &mut Arc::make_mut(&mut self.groups[i / CHUNK])[i % CHUNK],
        }
    }

    fn set(&mut self, s: Slot, v: u32) {
        if self.get(s) == v {
            return; // do not copy a chunk for nothing
        }
        let old = std::mem::replace(self.entry_mut(s), v);
        if old & EXT != 0 {
            self.free_group(old & !EXT);
        }
    }

    fn alloc_group(&mut self, fill: u32) -> u32 {
        let g = match self.free.pop() {
            Some(g) => g,
            None => {
                let g = self.n_groups;
                assert!(g < EXT, "LPM group space exhausted");
                self.n_groups += 1;
                if (g as usize * GROUP) / CHUNK == self.groups.len() {
                    self.groups.push(zero_chunk());
                }
                g
            }
        };
        let at = g as usize * GROUP;
        let chunk = Arc::make_mut(&mut self.groups[at / CHUNK]);
        chunk[at % CHUNK..at % CHUNK + GROUP].fill(fill);
        g
    }

    fn free_group(&mut self, g: u32) {
        let at = g as usize * GROUP;
        for i in at..at + GROUP {
            let e = self.get(Slot::Group(i));
            if e & EXT != 0 {
                *self.entry_mut(Slot::Group(i)) = 0;
                self.free_group(e & !EXT);
            }
        }
        self.free.push(g);
    }

    /// Set entries `start..end` of the root (`in_groups` false) or of the
    /// group space to `value`. A chunk is checked before it is written, and
    /// written with one `make_mut` and a `fill`, not entry by entry: a /8 is
    /// 65,536 root entries.
    fn fill(&mut self, in_groups: bool, start: usize, end: usize, value: u32) {
        let slot = |i| {
            if in_groups {
                Slot::Group(i)
            } else {
                Slot::Root(i)
            }
        };
        let mut i = start;
        while i < end {
            let c = i / CHUNK;
            let stop = end.min((c + 1) * CHUNK);
            let range = i % CHUNK..stop - c * CHUNK;
            let chunks: &mut [Arc<Chunk>] = if in_groups {
                &mut self.groups
            } else {
                &mut self.root[..]
            };
            let cur = &chunks[c][range.clone()];
            if cur.iter().any(|&e| e & EXT != 0) {
                // Groups below are freed one by one.
                for j in i..stop {
                    self.set(slot(j), value);
                }
            } else if cur.iter().any(|&e| e != value) {
                Arc::make_mut(&mut chunks[c])[range].fill(value);
            }
            i = stop;
        }
    }

    /// Set every address of `key/len` to `value` (a next-hop id), dropping
    /// whatever more specific entries were below it.
    pub(crate) fn paint(&mut self, key: u128, len: u32, value: u32) {
        debug_assert!(value & EXT == 0);
        let r = ROOT_BITS;
        if len <= r {
            let start = (key >> (128 - r)) as usize;
            self.fill(false, start, start + (1usize << (r - len)), value);
            return;
        }
        let mut slot = Slot::Root((key >> (128 - r)) as usize);
        let mut consumed = r;
        loop {
            let e = self.get(slot);
            let g = if e & EXT != 0 {
                e & !EXT
            } else {
                let g = self.alloc_group(e);
                *self.entry_mut(slot) = EXT | g;
                g
            };
            let base = g as usize * GROUP;
            let idx = ((key >> (128 - consumed - 8)) & 0xff) as usize;
            if len <= consumed + 8 {
                let n = 1usize << (consumed + 8 - len);
                self.fill(true, base + idx, base + idx + n, value);
                return;
            }
            slot = Slot::Group(base + idx);
            consumed += 8;
        }
    }

    /// Reference lookup (the LPMs have faster specialised ones).
    #[cfg(test)]
    pub(crate) fn lookup(&self, key: u128) -> u32 {
        let mut e = self.get(Slot::Root((key >> (128 - ROOT_BITS)) as usize));
        let mut consumed = ROOT_BITS;
        while e & EXT != 0 {
            let g = (e & !EXT) as usize;
            e = self.get(Slot::Group(
                g * GROUP + ((key >> (128 - consumed - 8)) & 0xff) as usize,
            ));
            consumed += 8;
        }
        e
    }

    /// Bytes of lookup memory: every distinct chunk once (versions sharing a
    /// chunk share its memory), plus the chunk-pointer arrays.
    pub(crate) fn memory_bytes(&self) -> usize {
        let mut seen: Vec<*const Chunk> = self
            .root
            .iter()
            .chain(&self.groups)
            .map(Arc::as_ptr)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len() * CHUNK * 4
            + (ROOT_CHUNKS + self.groups.len()) * std::mem::size_of::<Arc<Chunk>>()
    }

    /// Bytes of chunks of `self` that `other` does not hold.
    pub(crate) fn unshared_bytes(&self, other: &Dir) -> usize {
        let mut theirs: Vec<*const Chunk> = other
            .root
            .iter()
            .chain(&other.groups)
            .map(Arc::as_ptr)
            .collect();
        theirs.sort_unstable();
        let mut mine: Vec<*const Chunk> = self
            .root
            .iter()
            .chain(&self.groups)
            .map(Arc::as_ptr)
            .collect();
        mine.sort_unstable();
        mine.dedup();
        mine.retain(|p| theirs.binary_search(p).is_err());
        mine.len() * CHUNK * 4
    }

    /// Groups allocated and not free.
    pub(crate) fn groups_in_use(&self) -> usize {
        self.n_groups as usize - self.free.len()
    }
}
