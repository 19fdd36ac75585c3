//! The multibit trie behind both LPMs: a directly indexed root of `root_bits`
//! (24 for IPv4: DPDK's DIR-24-8; 16 for IPv6) and 256-entry groups for each
//! further 8 bits, allocated only under prefixes longer than the root.
//!
//! Entries are `u32`: a next-hop id (0 = no route), or, with [`EXT`] set, the
//! index of the group that resolves the next 8 bits. Keys are `u128`, left
//! aligned (an IPv4 address sits in the top 32 bits), so one builder serves
//! both families; the lookups are specialised in `lpm4`/`lpm6`.
//!
//! Building paints prefixes in ascending length order: a longer prefix only
//! ever overwrites the part of a shorter one it covers, and a new group starts
//! as 256 copies of the entry it replaces. An update re-renders just the
//! changed prefix's range from the route store (see [`crate::rib::Rib`]), on a
//! copy: the published table is never touched.

/// Marks an entry that points at a group.
pub(crate) const EXT: u32 = 1 << 31;
/// Entries per group (8 bits).
pub(crate) const GROUP: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub(crate) root: Box<[u32]>,
    pub(crate) groups: Vec<u32>,
    free: Vec<u32>,
    root_bits: u32,
}

#[derive(Clone, Copy)]
enum Slot {
    Root(usize),
    Group(usize),
}

impl Dir {
    pub(crate) fn new(root_bits: u32) -> Dir {
        Dir {
            root: vec![0u32; 1usize << root_bits].into_boxed_slice(),
            groups: Vec::new(),
            free: Vec::new(),
            root_bits,
        }
    }

    fn get(&self, s: Slot) -> u32 {
        match s {
            Slot::Root(i) => self.root[i],
            Slot::Group(i) => self.groups[i],
        }
    }

    fn set(&mut self, s: Slot, v: u32) {
        let old = match s {
            Slot::Root(i) => std::mem::replace(&mut self.root[i], v),
            Slot::Group(i) => std::mem::replace(&mut self.groups[i], v),
        };
        if old & EXT != 0 && old != v {
            self.free_group(old & !EXT);
        }
    }

    fn alloc_group(&mut self, fill: u32) -> u32 {
        match self.free.pop() {
            Some(g) => {
                let at = g as usize * GROUP;
                self.groups[at..at + GROUP].fill(fill);
                g
            }
            None => {
                let g = (self.groups.len() / GROUP) as u32;
                assert!(g < EXT, "LPM group space exhausted");
                self.groups.resize(self.groups.len() + GROUP, fill);
                g
            }
        }
    }

    fn free_group(&mut self, g: u32) {
        let at = g as usize * GROUP;
        for i in at..at + GROUP {
            let e = self.groups[i];
            if e & EXT != 0 {
                self.groups[i] = 0;
                self.free_group(e & !EXT);
            }
        }
        self.free.push(g);
    }

    /// Set every address of `key/len` to `value` (a next-hop id), dropping
    /// whatever more specific entries were below it.
    pub(crate) fn paint(&mut self, key: u128, len: u32, value: u32) {
        debug_assert!(value & EXT == 0);
        let r = self.root_bits;
        if len <= r {
            let start = (key >> (128 - r)) as usize;
            for i in start..start + (1usize << (r - len)) {
                self.set(Slot::Root(i), value);
            }
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
                self.set(slot, EXT | g);
                g
            };
            let base = g as usize * GROUP;
            let idx = ((key >> (128 - consumed - 8)) & 0xff) as usize;
            if len <= consumed + 8 {
                for i in idx..idx + (1usize << (consumed + 8 - len)) {
                    self.set(Slot::Group(base + i), value);
                }
                return;
            }
            slot = Slot::Group(base + idx);
            consumed += 8;
        }
    }

    /// Reference lookup (the LPMs have faster specialised ones).
    #[cfg(test)]
    pub(crate) fn lookup(&self, key: u128) -> u32 {
        let r = self.root_bits;
        let mut e = self.root[(key >> (128 - r)) as usize];
        let mut consumed = r;
        while e & EXT != 0 {
            let g = (e & !EXT) as usize;
            e = self.groups[g * GROUP + ((key >> (128 - consumed - 8)) & 0xff) as usize];
            consumed += 8;
        }
        e
    }

    /// Bytes of lookup memory (root + groups in use or free).
    pub(crate) fn memory_bytes(&self) -> usize {
        (self.root.len() + self.groups.len()) * 4
    }

    /// Groups allocated and not free.
    pub(crate) fn groups_in_use(&self) -> usize {
        self.groups.len() / GROUP - self.free.len()
    }
}
