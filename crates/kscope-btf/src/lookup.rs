//! Finding types and strings by name: scans first, a hash index once lookups are many.

use crate::{Btf, Kind, SCANS_BEFORE_INDEX, index};
use std::sync::atomic::Ordering;

impl Btf {
    /// The first (lowest-id) type of `kind` named `name`, looking in the base first for
    /// split BTF. The first lookups scan (the name's string offsets with `memmem`, then
    /// the types' name offsets: well under a millisecond for vmlinux); after
    /// [`SCANS_BEFORE_INDEX`] of them a hash index of all names is built and lookups are
    /// O(1). Returns `None` if there is none.
    pub fn find_by_name(&self, kind: Kind, name: &str) -> Option<u32> {
        if let Some(base) = &self.inner.base
            && let Some(id) = base.find_by_name(kind, name)
        {
            return Some(id);
        }
        let mut found = None;
        self.own_named(name, |i| {
            let hit = self.own_kind_no(i as usize) == kind as u32;
            if hit {
                found = Some(self.inner.first_id + i);
            }
            hit
        });
        found
    }

    /// Every type named `name`, of any kind (base first), lowest id first.
    pub fn find_all_by_name(&self, name: &str) -> Vec<u32> {
        let mut out = match &self.inner.base {
            Some(base) => base.find_all_by_name(name),
            None => Vec::new(),
        };
        self.own_named(name, |i| {
            out.push(self.inner.first_id + i);
            false
        });
        out
    }

    /// Calls `f` with the index of each own type named `name`, in id order, until it
    /// returns true.
    fn own_named(&self, name: &str, mut f: impl FnMut(u32) -> bool) {
        let inner = &self.inner;
        let want = name.as_bytes();
        let index = match inner.names.get() {
            Some(index) => Some(index),
            None if inner.scans.fetch_add(1, Ordering::Relaxed) >= SCANS_BEFORE_INDEX => {
                Some(inner.names.get_or_init(|| self.build_name_index()))
            }
            None => None,
        };
        if let Some(index) = index {
            for i in index.candidates(want) {
                if self.own_name_bytes(i as usize) == want && f(i) {
                    return;
                }
            }
            return;
        }
        let name_offs = self.string_offsets(want);
        if name_offs.is_empty() {
            return;
        }
        for (i, &off) in inner.offsets.iter().enumerate() {
            if name_offs.binary_search(&self.u32_at(off as usize)).is_ok() && f(i as u32) {
                return;
            }
        }
    }

    /// Every string offset (this blob's and its bases') at which the string `name` is,
    /// sorted.
    pub(crate) fn string_offsets(&self, name: &[u8]) -> Vec<u32> {
        let inner = &self.inner;
        let mut out = match &inner.base {
            Some(base) => base.string_offsets(name),
            None => Vec::new(),
        };
        let strs = &self.bytes()[inner.strs_start..inner.strs_end];
        if name.is_empty() {
            out.push(0);
            return out;
        }
        // `name` and its NUL anywhere, as a name offset may point into the tail of a
        // longer string. (Matches of this needle cannot overlap, so `find_iter` sees all.)
        let mut needle = Vec::with_capacity(name.len() + 1);
        needle.extend_from_slice(name);
        needle.push(0);
        out.extend(memchr::memmem::find_iter(strs, &needle).map(|p| inner.str_base + p as u32));
        out.sort_unstable();
        out
    }

    fn build_name_index(&self) -> index::NameIndex {
        let n = self.inner.offsets.len();
        index::NameIndex::build(n, |i| {
            let name = self.own_name_bytes(i);
            (!name.is_empty()).then_some(name)
        })
    }
}
