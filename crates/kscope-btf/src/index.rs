//! Hash indexes from names to type ids (and enumerators), built once on first use.
//!
//! An open-addressing table of (hash, payload) pairs with linear probing. Entries are
//! inserted in payload order, so equal names come back lowest payload first. The table
//! holds no strings: callers compare the name of every candidate whose hash matches.

/// FNV-1a, 32 bits: short names, no allocation, good enough spread for this table.
fn hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in name {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Names (by hash) → u32 payloads.
#[derive(Debug, Default)]
pub(crate) struct NameIndex {
    /// `(hash, payload + 1)`; payload 0 marks an empty slot.
    slots: Vec<(u32, u32)>,
    mask: usize,
}

impl NameIndex {
    /// Indexes `n` entries; `name(i)` is entry `i`'s name, `None` to leave it out. The
    /// payload of entry `i` is `i`.
    pub(crate) fn build<'a>(n: usize, name: impl Fn(usize) -> Option<&'a [u8]>) -> NameIndex {
        let entries: Vec<(u32, u32)> = (0..n)
            .filter_map(|i| name(i).map(|s| (hash(s), i as u32)))
            .collect();
        NameIndex::from_entries(&entries)
    }

    /// Indexes `(hash, payload)` pairs in order.
    fn from_entries(entries: &[(u32, u32)]) -> NameIndex {
        let cap = (entries.len() * 2).next_power_of_two().max(8);
        let mask = cap - 1;
        let mut slots = vec![(0u32, 0u32); cap];
        for &(h, payload) in entries {
            let mut i = h as usize & mask;
            while slots[i].1 != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = (h, payload + 1);
        }
        NameIndex { slots, mask }
    }

    /// The payloads whose name may be `name` (same hash), in insertion order.
    pub(crate) fn candidates(&self, name: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let h = hash(name);
        let mut i = h as usize & self.mask;
        std::iter::from_fn(move || {
            loop {
                let (sh, p) = *self.slots.get(i)?;
                if p == 0 {
                    return None;
                }
                i = (i + 1) & self.mask;
                if sh == h {
                    return Some(p - 1);
                }
            }
        })
    }
}

/// Enumerator names → (type id, enumerator index), for every ENUM and ENUM64.
#[derive(Debug, Default)]
pub(crate) struct EnumIndex {
    index: NameIndex,
    entries: Vec<(u32, u32)>,
}

impl EnumIndex {
    /// Indexes the enumerators listed as `(name, type id, index)`, in order.
    pub(crate) fn build<'a>(items: impl Iterator<Item = (&'a [u8], u32, u32)>) -> EnumIndex {
        let mut hashed = Vec::new();
        let mut entries = Vec::new();
        for (name, id, idx) in items {
            hashed.push((hash(name), entries.len() as u32));
            entries.push((id, idx));
        }
        EnumIndex {
            index: NameIndex::from_entries(&hashed),
            entries,
        }
    }

    /// The `(type id, index)` pairs whose enumerator name may be `name`.
    pub(crate) fn candidates(&self, name: &[u8]) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.index
            .candidates(name)
            .filter_map(|p| self.entries.get(p as usize).copied())
    }
}
