//! The SDT notes of an ELF file: section `.note.stapsdt`, one note per probe site (owner
//! `stapsdt`, type 3), as systemtap's `sys/sdt.h` emits them. A note's descriptor holds
//! three addresses (the site's pc, the link-time address of `.stapsdt.base`, the
//! semaphore or 0) and three NUL-terminated strings: provider, name, argument specs.

/// The note type of an SDT probe descriptor (`NT_STAPSDT`).
pub const NT_STAPSDT: u32 = 3;

/// One probe site as its note describes it (addresses as linked, before any
/// `.stapsdt.base` adjustment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The provider (`libc`, `python`).
    pub provider: String,
    /// The probe's name.
    pub name: String,
    /// The address of the site's `nop`.
    pub pc: u64,
    /// The address `.stapsdt.base` had when the note was written.
    pub base: u64,
    /// The address of the probe's semaphore (a `u16`), or 0 when it has none.
    pub semaphore: u64,
    /// The argument specs (`-4@%eax 8@-16(%rbp)`).
    pub args: String,
}

fn word(b: &[u8], at: usize, size: usize, little: bool) -> Option<u64> {
    let s = b.get(at..at + size)?;
    let mut v = [0u8; 8];
    if little {
        v[..size].copy_from_slice(s);
        Some(u64::from_le_bytes(v))
    } else {
        v[8 - size..].copy_from_slice(s);
        Some(u64::from_be_bytes(v))
    }
}

fn cstr(b: &[u8], at: &mut usize) -> Option<String> {
    let rest = b.get(*at..)?;
    let n = rest.iter().position(|&c| c == 0)?;
    *at += n + 1;
    Some(String::from_utf8_lossy(&rest[..n]).into_owned())
}

/// Parses the contents of a `.note.stapsdt` section: `addr_size` is 8 for ELF64 and 4 for
/// ELF32, `little` the file's byte order. Notes of other owners or types are skipped; a
/// truncated note is an error.
pub fn parse(data: &[u8], addr_size: usize, little: bool) -> Result<Vec<Note>, String> {
    let align4 = |n: usize| n.div_ceil(4) * 4;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= data.len() {
        let (Some(namesz), Some(descsz), Some(kind)) = (
            word(data, at, 4, little),
            word(data, at + 4, 4, little),
            word(data, at + 8, 4, little),
        ) else {
            break;
        };
        let (namesz, descsz) = (namesz as usize, descsz as usize);
        let name_at = at + 12;
        let desc_at = name_at + align4(namesz);
        let next = desc_at + align4(descsz);
        if desc_at + descsz > data.len() {
            return Err(format!("a truncated note at offset {at} of .note.stapsdt"));
        }
        let owner = &data[name_at..name_at + namesz];
        if owner.strip_suffix(&[0]).unwrap_or(owner) == b"stapsdt" && kind == u64::from(NT_STAPSDT)
        {
            let desc = &data[desc_at..desc_at + descsz];
            let bad = || format!("a malformed stapsdt note at offset {at} of .note.stapsdt");
            let pc = word(desc, 0, addr_size, little).ok_or_else(bad)?;
            let base = word(desc, addr_size, addr_size, little).ok_or_else(bad)?;
            let semaphore = word(desc, 2 * addr_size, addr_size, little).ok_or_else(bad)?;
            let mut s = 3 * addr_size;
            let provider = cstr(desc, &mut s).ok_or_else(bad)?;
            let name = cstr(desc, &mut s).ok_or_else(bad)?;
            // Old notes may end right after the name (a probe without arguments).
            let args = cstr(desc, &mut s).unwrap_or_default();
            out.push(Note {
                provider,
                name,
                pc,
                base,
                semaphore,
                args,
            });
        }
        at = next;
    }
    Ok(out)
}

/// The address of the site once the file is placed where its `.stapsdt.base` section
/// now is (`base_now`; prelink may have moved the file after the note was written), and
/// its semaphore's address the same way (0 stays 0).
pub fn adjusted(note: &Note, base_now: Option<u64>) -> (u64, u64) {
    match base_now {
        Some(b) if note.base != 0 => {
            let d = b.wrapping_sub(note.base);
            let sem = if note.semaphore == 0 {
                0
            } else {
                note.semaphore.wrapping_add(d)
            };
            (note.pc.wrapping_add(d), sem)
        }
        _ => (note.pc, note.semaphore),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One note as `sys/sdt.h` lays it out (ELF64, little-endian).
    fn note(owner: &[u8], kind: u32, words: [u64; 3], strings: &[&str]) -> Vec<u8> {
        let mut desc = Vec::new();
        for w in words {
            desc.extend_from_slice(&w.to_le_bytes());
        }
        for s in strings {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(owner.len() as u32).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(owner);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&desc);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn parses_sites_and_skips_other_notes() {
        let mut data = note(
            b"stapsdt\0",
            3,
            [0x1150, 0x2019, 0],
            &["kscope", "twice", "-4@$1 -4@-4(%rbp)"],
        );
        data.extend(note(b"GNU\0", 3, [1, 2, 3], &["x", "y", "z"]));
        data.extend(note(
            b"stapsdt\0",
            3,
            [0x1335, 0x2019, 0x4030],
            &["kscope", "gated", "-4@-4(%rbp)"],
        ));
        data.extend(note(b"stapsdt\0", 3, [0x1400, 0x2019, 0], &["p", "noargs"]));
        let notes = parse(&data, 8, true).expect("parses");
        assert_eq!(notes.len(), 3);
        assert_eq!(
            notes[0],
            Note {
                provider: "kscope".into(),
                name: "twice".into(),
                pc: 0x1150,
                base: 0x2019,
                semaphore: 0,
                args: "-4@$1 -4@-4(%rbp)".into(),
            }
        );
        assert_eq!(notes[1].semaphore, 0x4030);
        assert_eq!(notes[1].name, "gated");
        assert_eq!(notes[2].args, "");
    }

    #[test]
    fn elf32_and_big_endian_words() {
        let mut desc = Vec::new();
        for w in [0x8000u32, 0x9000, 0xa000] {
            desc.extend_from_slice(&w.to_be_bytes());
        }
        desc.extend_from_slice(b"prov\0probe\x004@%r3\0");
        let mut data = Vec::new();
        data.extend_from_slice(&8u32.to_be_bytes());
        data.extend_from_slice(&(desc.len() as u32).to_be_bytes());
        data.extend_from_slice(&3u32.to_be_bytes());
        data.extend_from_slice(b"stapsdt\0");
        data.extend_from_slice(&desc);
        let n = parse(&data, 4, false).expect("parses");
        assert_eq!(
            (n[0].pc, n[0].base, n[0].semaphore),
            (0x8000, 0x9000, 0xa000)
        );
        assert_eq!(
            (n[0].provider.as_str(), n[0].args.as_str()),
            ("prov", "4@%r3")
        );
    }

    #[test]
    fn truncated_notes_are_errors() {
        let data = note(b"stapsdt\0", 3, [1, 2, 0], &["p", "n", ""]);
        assert!(parse(&data[..data.len() - 8], 8, true).is_err());
    }

    #[test]
    fn prelink_moves_pc_and_semaphore() {
        let n = Note {
            provider: "p".into(),
            name: "n".into(),
            pc: 0x1000,
            base: 0x2000,
            semaphore: 0x3000,
            args: String::new(),
        };
        assert_eq!(adjusted(&n, Some(0x2000)), (0x1000, 0x3000));
        assert_eq!(adjusted(&n, Some(0x12000)), (0x11000, 0x13000));
        assert_eq!(adjusted(&n, None), (0x1000, 0x3000));
        let no_sem = Note { semaphore: 0, ..n };
        assert_eq!(adjusted(&no_sem, Some(0x12000)), (0x11000, 0));
    }
}
