//! Dropping pages of a file mapping that a reader has finished with.

use std::io;

use crate::mmap::Mapping;

impl Mapping {
    /// Tells the kernel that bytes `offset..offset + len` of the mapping are not needed
    /// any more (`madvise(MADV_DONTNEED)` on the whole pages inside the range), so they
    /// stop counting towards this process's resident memory. The mapping stays valid: a
    /// later read of those bytes faults them in again from the file. Meant for mappings
    /// of regular files read front to back (a trace.dat being decoded), where it keeps
    /// the resident size bounded by what is being decoded rather than by the file size.
    pub fn release(&self, offset: usize, len: usize) -> io::Result<()> {
        let page = page_size();
        let end = offset.saturating_add(len).min(self.bytes().len());
        let start = offset.div_ceil(page).saturating_mul(page);
        let end = end / page * page;
        if start >= end {
            return Ok(());
        }
        let base = self.bytes().as_ptr() as usize;
        // SAFETY: the range lies inside this read-only file mapping (checked above), so
        // MADV_DONTNEED only drops page-table entries; the bytes read back from the file
        // on the next access, and no Rust reference observes different contents.
        let rc = unsafe {
            libc::madvise(
                (base + start) as *mut libc::c_void,
                end - start,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}
