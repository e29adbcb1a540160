//! The byte encodings of trace.dat's pieces, as pure functions over an endianness: the
//! prefix, v7 section headers, options, and the metadata blocks shared by v6 and v7.

use super::WriteError;
use crate::tracedat::MAGIC;

/// Byte order of the integers written after the prefix's first 13 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Little,
    Big,
}

impl Order {
    pub(crate) const NATIVE: Order = if cfg!(target_endian = "big") {
        Order::Big
    } else {
        Order::Little
    };
}

/// A growable byte buffer that writes integers in one byte order.
#[derive(Debug, Clone)]
pub(crate) struct Enc {
    pub(crate) order: Order,
    pub(crate) bytes: Vec<u8>,
}

impl Enc {
    pub(crate) fn new(order: Order) -> Enc {
        Enc {
            order,
            bytes: Vec::new(),
        }
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Enc {
        let b = match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        self.bytes.extend_from_slice(&b);
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Enc {
        let b = match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        self.bytes.extend_from_slice(&b);
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Enc {
        let b = match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        };
        self.bytes.extend_from_slice(&b);
        self
    }

    pub(crate) fn raw(&mut self, b: &[u8]) -> &mut Enc {
        self.bytes.extend_from_slice(b);
        self
    }

    /// A NUL-terminated string; fails when `s` has a NUL in it.
    pub(crate) fn cstr(&mut self, s: &str, what: &str) -> Result<&mut Enc, WriteError> {
        check_no_nul(s, what)?;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        Ok(self)
    }

    /// A text preceded by its size as a u32.
    pub(crate) fn text32(&mut self, s: &str, what: &str) -> Result<&mut Enc, WriteError> {
        let len = u32_size(s.len(), what)?;
        self.u32(len);
        self.bytes.extend_from_slice(s.as_bytes());
        Ok(self)
    }

    /// A text preceded by its size as a u64.
    pub(crate) fn text64(&mut self, s: &str) -> &mut Enc {
        self.u64(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

pub(crate) fn check_no_nul(s: &str, what: &str) -> Result<(), WriteError> {
    if s.contains('\0') {
        return Err(WriteError::Metadata(format!("{what} contains a NUL byte")));
    }
    Ok(())
}

pub(crate) fn u32_size(len: usize, what: &str) -> Result<u32, WriteError> {
    u32::try_from(len).map_err(|_| {
        WriteError::Metadata(format!(
            "{what} is {len} bytes, more than its 32-bit size field holds"
        ))
    })
}

/// The 18-byte prefix: magic, `tracing`, the version string, endianness, long size, page
/// size.
pub(crate) fn prefix(order: Order, version: u8, long_size: u8, page_size: u32) -> Vec<u8> {
    let mut e = Enc::new(order);
    e.raw(&MAGIC).raw(b"tracing");
    e.raw(&[b'0' + version, 0]);
    e.raw(&[u8::from(order == Order::Big), long_size]);
    e.u32(page_size);
    e.bytes
}

/// The v7 section header: `{u16 id, u16 flags, u32 description, u64 size}`.
pub(crate) fn section_header(order: Order, id: u16, flags: u16, desc: u32, size: u64) -> Vec<u8> {
    let mut e = Enc::new(order);
    e.u16(id).u16(flags).u32(desc).u64(size);
    e.bytes
}

/// One option: `{u16 id, u32 size, data}`.
pub(crate) fn option(e: &mut Enc, id: u16, data: &[u8]) -> Result<(), WriteError> {
    let size = u32_size(data.len(), &format!("option {id}"))?;
    e.u16(id).u32(size).raw(data);
    Ok(())
}

/// A string option's data: the text and a NUL.
pub(crate) fn cstr_data(s: &str, what: &str) -> Result<Vec<u8>, WriteError> {
    check_no_nul(s, what)?;
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    Ok(v)
}

/// HEADER_INFO: `header_page\0`, u64 size, text, `header_event\0`, u64 size, text.
pub(crate) fn header_info(order: Order, header_page: &str, header_event: &str) -> Vec<u8> {
    let mut e = Enc::new(order);
    e.raw(b"header_page\0").text64(header_page);
    e.raw(b"header_event\0").text64(header_event);
    e.bytes
}

/// FTRACE_EVENTS: u32 count, then `{u64 size, format}` for each.
pub(crate) fn ftrace_formats(order: Order, formats: &[String]) -> Result<Vec<u8>, WriteError> {
    let mut e = Enc::new(order);
    e.u32(u32_size(formats.len(), "the number of ftrace formats")?);
    for f in formats {
        e.text64(f);
    }
    Ok(e.bytes)
}

/// EVENT_FORMATS: u32 number of systems; for each `name\0`, u32 count, `{u64 size,
/// format}` for each event.
pub(crate) fn event_formats(
    order: Order,
    systems: &[(String, Vec<String>)],
) -> Result<Vec<u8>, WriteError> {
    let mut e = Enc::new(order);
    e.u32(u32_size(systems.len(), "the number of event systems")?);
    for (system, formats) in systems {
        e.cstr(system, "an event system name")?;
        e.u32(u32_size(formats.len(), "the number of event formats")?);
        for f in formats {
            e.text64(f);
        }
    }
    Ok(e.bytes)
}

/// KALLSYMS and PRINTK: u32 size, text.
pub(crate) fn text32(order: Order, text: &str, what: &str) -> Result<Vec<u8>, WriteError> {
    let mut e = Enc::new(order);
    e.text32(text, what)?;
    Ok(e.bytes)
}

/// CMDLINES: u64 size, text.
pub(crate) fn text64(order: Order, text: &str) -> Vec<u8> {
    let mut e = Enc::new(order);
    e.text64(text);
    e.bytes
}

/// The TRACECLOCK option text as the kernel's `trace_clock` file shows it: every clock,
/// the selected one in brackets, and a newline.
pub(crate) fn trace_clock_text(selected: &str, available: &[String]) -> String {
    let mut words: Vec<String> = available
        .iter()
        .map(|c| {
            if c == selected {
                format!("[{c}]")
            } else {
                c.clone()
            }
        })
        .collect();
    if !available.iter().any(|c| c == selected) {
        words.insert(0, format!("[{selected}]"));
    }
    let mut text = words.join(" ");
    text.push('\n');
    text
}

/// One CPU of a v7 BUFFER option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuExtent {
    pub(crate) cpu: u32,
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// The v7 BUFFER option's data: u64 section offset, `name\0`, `clock\0`, u32 sub-buffer
/// size, u32 CPU count, `{u32 cpu, u64 offset, u64 size}` for each CPU.
pub(crate) fn buffer_option_v7(
    order: Order,
    section_offset: u64,
    name: &str,
    clock: &str,
    subbuf_size: u32,
    cpus: &[CpuExtent],
) -> Result<Vec<u8>, WriteError> {
    let mut e = Enc::new(order);
    e.u64(section_offset);
    e.cstr(name, "the buffer name")?;
    e.cstr(clock, "the trace clock")?;
    e.u32(subbuf_size);
    e.u32(u32_size(cpus.len(), "the number of CPUs")?);
    for c in cpus {
        e.u32(c.cpu).u64(c.offset).u64(c.size);
    }
    Ok(e.bytes)
}

/// The v6 `flyrecord` block: `flyrecord\0`, `{u64 offset, u64 size}` for each CPU, then
/// u64 length and `[clock]`.
pub(crate) fn flyrecord_v6(order: Order, cpus: &[CpuExtent], clock: &str) -> Vec<u8> {
    let mut e = Enc::new(order);
    e.raw(b"flyrecord\0");
    for c in cpus {
        e.u64(c.offset).u64(c.size);
    }
    let clock = format!("[{clock}]");
    e.text64(&clock);
    e.bytes
}

/// The size of [`flyrecord_v6`]'s output.
pub(crate) fn flyrecord_v6_len(cpus: usize, clock: &str) -> usize {
    10 + 16 * cpus + 8 + clock.len() + 2
}

/// A table of NUL-terminated strings; a string's id is its offset in the table (v7
/// STRINGS section).
#[derive(Debug, Clone, Default)]
pub(crate) struct Strings {
    pub(crate) bytes: Vec<u8>,
}

impl Strings {
    /// The id of `s`, adding it when it is new.
    pub(crate) fn id(&mut self, s: &str) -> Result<u32, WriteError> {
        check_no_nul(s, "a section description")?;
        let mut at = 0;
        for part in self.bytes.split(|&b| b == 0) {
            if part == s.as_bytes() && at < self.bytes.len() {
                return u32_size(at, "the string table");
            }
            at += part.len() + 1;
        }
        let id = u32_size(self.bytes.len(), "the string table")?;
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        Ok(id)
    }
}

pub(crate) fn align_up(v: u64, to: u64) -> u64 {
    if to <= 1 {
        return v;
    }
    v.div_ceil(to).saturating_mul(to)
}
