//! Reading a whole file's layout: the prefix, then the v6 sequence of parts or the v7 chain
//! of sections, into [`Meta`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use super::bytes::{Origin, Reader, text};
use super::compress::{Compression, Decompressor};
use super::error::{ErrorKind, Place, ReadError};
use super::meta::{self, EventSystem, HeaderInfo};
use super::options::{CpuData, OptionValue, TraceOption, read_options};
use super::{Buffer, SectionInfo, TextBuffer};
use crate::page::{Endian, PageFormat, PageLayout};
use crate::tracedat::{MAGIC, SECTION_COMPRESSED, option as id};

/// The largest sub-buffer the page format can describe (27 bits of `commit`).
const MAX_SUBBUF: u64 = 1 << 27;

/// More CPUs than any kernel supports (x86's NR_CPUS is at most 8192): a larger count is
/// damage, and each CPU costs a cursor when the data is read.
pub(crate) const MAX_CPUS: u32 = 1 << 16;

/// Everything read from a file except its ring-buffer data.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) version: u32,
    pub(crate) endian: Endian,
    pub(crate) long_size: u8,
    pub(crate) page_size: u32,
    pub(crate) compression: Compression,
    pub(crate) compression_name: String,
    pub(crate) compression_version: String,
    pub(crate) header: HeaderInfo,
    pub(crate) page_format: PageFormat,
    pub(crate) ftrace_formats: Vec<String>,
    pub(crate) systems: Vec<EventSystem>,
    pub(crate) kallsyms: Arc<str>,
    pub(crate) printk_formats: String,
    pub(crate) cmdlines: String,
    pub(crate) cpu_count: u32,
    pub(crate) options: Vec<TraceOption>,
    pub(crate) buffers: Vec<Buffer>,
    pub(crate) text_buffers: Vec<TextBuffer>,
    pub(crate) sections: Vec<SectionInfo>,
}

/// The fixed 18-byte prefix.
struct Prefix {
    version: u32,
    endian: Endian,
    long_size: u8,
    page_size: u32,
}

pub(crate) fn parse(file: &[u8]) -> Result<Meta, ReadError> {
    let mut r = Reader::new(file, Endian::Little, Origin::File(0), "file prefix");
    let prefix = read_prefix(&mut r)?;
    if prefix.version >= 7 {
        parse_v7(file, r, prefix)
    } else {
        parse_v6(file, r, prefix)
    }
}

fn read_prefix(r: &mut Reader<'_>) -> Result<Prefix, ReadError> {
    let mut expected = [0u8; 10];
    expected[..3].copy_from_slice(&MAGIC);
    expected[3..].copy_from_slice(b"tracing");
    let head = &r.rest()[..r.remaining().min(10)];
    if head != &expected[..head.len()] {
        return Err(r.error(ErrorKind::BadMagic(head.to_vec())));
    }
    r.take(10, "the magic and the `tracing` label")?;
    let at = r.pos();
    let version = r.cstr()?;
    let version = match version {
        b"6" => 6,
        b"7" => 7,
        other => {
            let shown = String::from_utf8_lossy(&other[..other.len().min(16)]).into_owned();
            return Err(r.error_at(at, ErrorKind::BadVersion(shown)));
        }
    };
    let at = r.pos();
    let endian = match r.u8("the endianness")? {
        0 => Endian::Little,
        1 => Endian::Big,
        other => {
            return Err(r.error_at(
                at,
                ErrorKind::BadValue {
                    what: "endianness (0 or 1)",
                    value: other.into(),
                },
            ));
        }
    };
    r.set_endian(endian);
    let at = r.pos();
    let long_size = r.u8("the long size")?;
    if long_size != 4 && long_size != 8 {
        return Err(r.error_at(
            at,
            ErrorKind::BadValue {
                what: "long size (4 or 8)",
                value: long_size.into(),
            },
        ));
    }
    let at = r.pos();
    let page_size = r.u32("the page size")?;
    if page_size == 0 || u64::from(page_size) > MAX_SUBBUF {
        return Err(r.error_at(
            at,
            ErrorKind::BadValue {
                what: "page size",
                value: page_size.into(),
            },
        ));
    }
    Ok(Prefix {
        version,
        endian,
        long_size,
        page_size,
    })
}

fn page_format(header: &HeaderInfo, endian: Endian) -> Result<PageFormat, ReadError> {
    let layout = PageLayout::parse(&header.header_page).map_err(|e| {
        ReadError::new(
            "header_page",
            header.header_page_place,
            ErrorKind::HeaderPage(e),
        )
    })?;
    Ok(PageFormat::new(layout, endian))
}

fn check_subbuf(
    size: u64,
    format: &PageFormat,
    section: impl Into<Cow<'static, str>>,
    place: Place,
) -> Result<u32, ReadError> {
    if size < format.layout.header_len() as u64 || size > MAX_SUBBUF {
        return Err(ReadError::new(
            section,
            place,
            ErrorKind::BadSubbufSize(size),
        ));
    }
    Ok(size as u32)
}

/// The name errors use for one CPU's data.
pub(crate) fn cpu_section(buffer: &str, cpu: u32) -> String {
    if buffer.is_empty() {
        format!("CPU {cpu} data")
    } else {
        format!("CPU {cpu} data of buffer {buffer:?}")
    }
}

fn buffer_section(name: &str) -> String {
    if name.is_empty() {
        "flyrecord".to_string()
    } else {
        format!("flyrecord of buffer {name:?}")
    }
}

/// Checks that a CPU's data lies inside the file.
fn check_cpu_data(
    file_len: u64,
    buffer: &str,
    data: &CpuData,
    compressed: bool,
) -> Result<(), ReadError> {
    if data.size == 0 {
        return Ok(());
    }
    let section = cpu_section(buffer, data.cpu);
    if data.offset > file_len {
        return Err(ReadError::at(
            section,
            data.offset,
            ErrorKind::BadOffset {
                what: "the data offset",
                target: data.offset,
                len: file_len,
            },
        ));
    }
    let available = file_len - data.offset;
    if data.size > available {
        return Err(ReadError::at(
            section,
            data.offset,
            ErrorKind::TooLarge {
                what: "the data size",
                size: data.size,
                available,
            },
        ));
    }
    if compressed && available < 4 {
        return Err(ReadError::at(
            section,
            data.offset,
            ErrorKind::Truncated {
                what: "the chunk count",
                needed: 4,
                available,
            },
        ));
    }
    Ok(())
}

/// A stretch of the file that one part owns, for the overlap check.
struct Region {
    start: u64,
    end: u64,
    name: String,
}

/// Checks that no CPU's data overlaps another's or a metadata part: a size or offset that
/// was damaged would otherwise decode other bytes as ring-buffer pages.
fn check_overlaps(mut regions: Vec<Region>) -> Result<(), ReadError> {
    regions.retain(|r| r.end > r.start);
    regions.sort_by_key(|r| (r.start, r.end));
    for pair in regions.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.start < a.end {
            return Err(ReadError::at(
                b.name.clone(),
                b.start,
                ErrorKind::Overlap {
                    other: a.name.clone(),
                    other_start: a.start,
                    other_end: a.end,
                },
            ));
        }
    }
    Ok(())
}

fn cpu_regions(buffer: &Buffer, out: &mut Vec<Region>) {
    for data in &buffer.cpus {
        out.push(Region {
            start: data.offset,
            end: data.offset.saturating_add(data.size),
            name: cpu_section(&buffer.name, data.cpu),
        });
    }
}

/// The trace clock named by a `[clock]`-style text: the bracketed word, else the first word.
pub(crate) fn selected_clock(text: &str) -> String {
    if let Some(start) = text.find('[')
        && let Some(len) = text[start + 1..].find(']')
    {
        return text[start + 1..start + 1 + len].to_string();
    }
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A v6 `flyrecord` block after its label: {u64 offset, u64 size} per CPU, then, when the
/// file has a TRACECLOCK option, u64 length and the `[clock]` text.
fn v6_flyrecord(
    r: &mut Reader<'_>,
    cpus: u32,
    clock_text: bool,
) -> Result<(Vec<CpuData>, Option<String>), ReadError> {
    if cpus > MAX_CPUS {
        return Err(r.error(ErrorKind::BadValue {
            what: "CPU count",
            value: cpus.into(),
        }));
    }
    let needed = u64::from(cpus) * 16;
    if needed > r.remaining() as u64 {
        return Err(r.error(ErrorKind::TooLarge {
            what: "the CPU table's size",
            size: needed,
            available: r.remaining() as u64,
        }));
    }
    let mut out = Vec::with_capacity(cpus as usize);
    for cpu in 0..cpus {
        out.push(CpuData {
            cpu,
            offset: r.u64("a CPU data offset")?,
            size: r.u64("a CPU data size")?,
        });
    }
    let clock = if clock_text {
        let size = r.u64("the clock text size")?;
        Some(selected_clock(&text(
            r.take_sized(size, "the clock text size")?,
        )))
    } else {
        None
    };
    Ok((out, clock))
}

fn parse_v6(file: &[u8], mut r: Reader<'_>, prefix: Prefix) -> Result<Meta, ReadError> {
    let header = meta::header_info(&mut r)?;
    let page_format = page_format(&header, prefix.endian)?;
    let ftrace_formats = meta::ftrace_formats(&mut r)?;
    let systems = meta::event_systems(&mut r)?;
    let kallsyms = meta::sized_text(&mut r, "kallsyms", false)?;
    let printk_formats = meta::sized_text(&mut r, "printk formats", false)?;
    let cmdlines = meta::sized_text(&mut r, "cmdlines", true)?;
    r.set_section("CPU count");
    let cpu_count = r.u32("the CPU count")?;
    let mut options = Vec::new();
    r.set_section("options");
    if r.peek_label("options  \0") {
        r.label("options  \0")?;
        read_options(&mut r, 6, &mut options)?;
    }
    let has_clock = options.iter().any(|o| o.id == id::TRACECLOCK);
    let subbuf_size = check_subbuf(
        prefix.page_size.into(),
        &page_format,
        "file prefix",
        Place::file(14),
    )?;
    let mut buffers = Vec::new();
    let mut text_buffers = Vec::new();
    let mut regions = Vec::new();
    let file_len = file.len() as u64;
    r.set_section("flyrecord");
    if r.peek_label("latency  \0") {
        r.set_section("latency");
        r.label("latency  \0")?;
        text_buffers.push(TextBuffer {
            name: String::new(),
            clock: None,
            offset: r.place_of(r.pos()).offset,
            size: r.remaining() as u64,
            compressed: false,
        });
    } else {
        let at = r.place_of(r.pos()).offset;
        r.label("flyrecord\0")?;
        let (cpus, clock) = v6_flyrecord(&mut r, cpu_count, has_clock)?;
        // Everything up to the end of the CPU table is metadata.
        regions.push(Region {
            start: 0,
            end: r.place_of(r.pos()).offset,
            name: "the metadata".to_string(),
        });
        for data in &cpus {
            check_cpu_data(file_len, "", data, false)?;
        }
        buffers.push(Buffer {
            name: String::new(),
            clock,
            subbuf_size,
            offset: at,
            compressed: false,
            cpus,
        });
    }
    // The other instances: each BUFFER option points to a flyrecord block of its own.
    for option in &options {
        let OptionValue::Buffer(b) = &option.value else {
            continue;
        };
        let section = buffer_section(&b.name);
        if b.offset >= file_len {
            return Err(ReadError::new(
                section,
                option.place,
                ErrorKind::BadOffset {
                    what: "the buffer offset",
                    target: b.offset,
                    len: file_len,
                },
            ));
        }
        let mut br = Reader::new(
            &file[b.offset as usize..],
            prefix.endian,
            Origin::File(b.offset),
            section,
        );
        br.label("flyrecord\0")?;
        let (cpus, clock) = v6_flyrecord(&mut br, cpu_count, has_clock)?;
        regions.push(Region {
            start: b.offset,
            end: br.place_of(br.pos()).offset,
            name: buffer_section(&b.name),
        });
        for data in &cpus {
            check_cpu_data(file_len, &b.name, data, false)?;
        }
        buffers.push(Buffer {
            name: b.name.clone(),
            clock,
            subbuf_size,
            offset: b.offset,
            compressed: false,
            cpus,
        });
    }
    for buffer in &buffers {
        cpu_regions(buffer, &mut regions);
    }
    check_overlaps(regions)?;
    Ok(Meta {
        version: prefix.version,
        endian: prefix.endian,
        long_size: prefix.long_size,
        page_size: prefix.page_size,
        compression: Compression::None,
        compression_name: String::new(),
        compression_version: String::new(),
        header,
        page_format,
        ftrace_formats,
        systems,
        kallsyms: kallsyms.into(),
        printk_formats,
        cmdlines,
        cpu_count,
        options,
        buffers,
        text_buffers,
        sections: Vec::new(),
    })
}

/// A v7 section: its header and where its payload is.
struct Section<'a> {
    info: SectionInfo,
    payload: &'a [u8],
}

fn section_name(section: u16) -> &'static str {
    match section {
        id::DONE => "options",
        id::BUFFER => "buffer",
        id::STRINGS => "strings",
        id::HEADER_INFO => "header_page",
        id::FTRACE_EVENTS => "ftrace event formats",
        id::EVENT_FORMATS => "event formats",
        id::KALLSYMS => "kallsyms",
        id::PRINTK => "printk formats",
        id::CMDLINES => "cmdlines",
        id::BUFFER_TEXT => "latency text",
        _ => "section",
    }
}

/// Reads the 16-byte section header at `offset`, which must have one of the ids in
/// `expected`, and bounds its payload.
fn read_section<'a>(
    file: &'a [u8],
    endian: Endian,
    offset: u64,
    expected: &[u16],
    section: impl Into<Cow<'static, str>>,
) -> Result<Section<'a>, ReadError> {
    let section = section.into();
    let len = file.len() as u64;
    if offset >= len {
        return Err(ReadError::at(
            section,
            offset,
            ErrorKind::BadOffset {
                what: "the section offset",
                target: offset,
                len,
            },
        ));
    }
    let mut r = Reader::new(
        &file[offset as usize..],
        endian,
        Origin::File(offset),
        section,
    );
    let found = r.u16("a section header")?;
    if !expected.contains(&found) {
        return Err(r.error_at(
            0,
            ErrorKind::WrongSection {
                expected: expected[0],
                found,
            },
        ));
    }
    let flags = r.u16("a section header")?;
    let description_id = r.u32("a section header")?;
    let size = r.u64("a section header")?;
    let payload = r.take_sized(size, "the section size")?;
    Ok(Section {
        info: SectionInfo {
            id: found,
            flags,
            description_id,
            description: None,
            offset,
            size,
        },
        payload,
    })
}

/// The payload of a metadata section, decompressed when it is flagged compressed.
fn section_data<'a>(
    section: &Section<'a>,
    endian: Endian,
    decompressor: &mut Decompressor,
    name: &'static str,
) -> Result<(Cow<'a, [u8]>, Origin), ReadError> {
    let start = section.info.offset + 16;
    if section.info.flags & SECTION_COMPRESSED == 0 {
        return Ok((Cow::Borrowed(section.payload), Origin::File(start)));
    }
    let mut r = Reader::new(section.payload, endian, Origin::File(start), name);
    let csize = r.u32("the compressed size")?;
    let usize_ = r.u32("the uncompressed size")?;
    let data = r.take_sized(csize.into(), "the compressed size")?;
    let mut out = Vec::new();
    decompressor
        .decompress(data, usize_.into(), &mut out)
        .map_err(|kind| ReadError::at(name, start, kind))?;
    Ok((Cow::Owned(out), Origin::Decompressed(start)))
}

/// Reads the metadata section at `offset` with `parse`.
fn meta_section<T>(
    file: &[u8],
    endian: Endian,
    decompressor: &mut Decompressor,
    sections: &mut Vec<SectionInfo>,
    offset: u64,
    section_id: u16,
    parse: impl FnOnce(&mut Reader<'_>) -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    let name = section_name(section_id);
    let section = read_section(file, endian, offset, &[section_id], name)?;
    let (data, origin) = section_data(&section, endian, decompressor, name)?;
    sections.push(section.info);
    let mut r = Reader::new(&data, endian, origin, name);
    parse(&mut r)
}

fn parse_v7(file: &[u8], mut r: Reader<'_>, prefix: Prefix) -> Result<Meta, ReadError> {
    let endian = prefix.endian;
    let file_len = file.len() as u64;
    r.set_section("compression header");
    let compression_name = r.string()?;
    let compression_version = r.string()?;
    let compression = Compression::from_name(&compression_name);
    let mut decompressor = Decompressor::new(compression.clone());
    r.set_section("file header");
    let mut next = r.u64("the offset of the first options section")?;
    let header_end = r.pos() as u64;

    // The chain of OPTIONS sections, and the STRINGS section that follows each.
    let mut options = Vec::new();
    let mut sections = Vec::new();
    let mut strings: Vec<u8> = Vec::new();
    let mut visited: Vec<u64> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut strings_read: HashSet<u64> = HashSet::new();
    if next == 0 {
        return Err(r.error_at(
            r.pos() - 8,
            ErrorKind::Missing("the file has no options section"),
        ));
    }
    while next != 0 {
        if !seen.insert(next) {
            return Err(ReadError::at("options", next, ErrorKind::OptionsLoop(next)));
        }
        visited.push(next);
        let section = read_section(file, endian, next, &[id::DONE], "options section")?;
        let after = section.info.offset + 16 + section.info.size;
        let (data, origin) = section_data(&section, endian, &mut decompressor, "options")?;
        sections.push(section.info);
        let mut or = Reader::new(&data, endian, origin, "options");
        next = read_options(&mut or, 7, &mut options)?.unwrap_or(0);
        if !or.is_empty() {
            return Err(or.error(ErrorKind::TrailingBytes(or.remaining() as u64)));
        }
        // trace-cmd writes its STRINGS section right after an options section.
        if after < file_len && after + 16 > file_len {
            return Err(ReadError::at(
                "section header",
                after,
                ErrorKind::Truncated {
                    what: "a section header",
                    needed: 16,
                    available: file_len - after,
                },
            ));
        }
        if after + 16 <= file_len {
            let at = after as usize;
            let sid = match endian {
                Endian::Little => u16::from_le_bytes([file[at], file[at + 1]]),
                Endian::Big => u16::from_be_bytes([file[at], file[at + 1]]),
            };
            if sid == id::STRINGS {
                read_strings(
                    file,
                    endian,
                    after,
                    &mut decompressor,
                    &mut sections,
                    &mut strings,
                )?;
                strings_read.insert(after);
            }
        }
    }
    for option in &options {
        if option.id == id::STRINGS
            && let OptionValue::SectionOffset(at) = option.value
            && !strings_read.contains(&at)
        {
            read_strings(
                file,
                endian,
                at,
                &mut decompressor,
                &mut sections,
                &mut strings,
            )?;
            strings_read.insert(at);
        }
    }

    let first_offset = |option: u16| {
        options.iter().find_map(|o| match o.value {
            OptionValue::SectionOffset(at) if o.id == option => Some(at),
            _ => None,
        })
    };
    let Some(header_at) = first_offset(id::HEADER_INFO) else {
        return Err(ReadError::at(
            "options",
            visited[0],
            ErrorKind::Missing("no HEADER_INFO option: the file has no header_page"),
        ));
    };
    let header = meta_section(
        file,
        endian,
        &mut decompressor,
        &mut sections,
        header_at,
        id::HEADER_INFO,
        meta::header_info,
    )?;
    let page_format = page_format(&header, endian)?;
    let mut part = |option: u16, what: &mut dyn FnMut(&mut Reader<'_>) -> Result<(), ReadError>| {
        match first_offset(option) {
            Some(at) => meta_section(
                file,
                endian,
                &mut decompressor,
                &mut sections,
                at,
                option,
                what,
            ),
            None => Ok(()),
        }
    };
    let mut ftrace_formats = Vec::new();
    part(id::FTRACE_EVENTS, &mut |r| {
        ftrace_formats = meta::ftrace_formats(r)?;
        Ok(())
    })?;
    let mut systems = Vec::new();
    part(id::EVENT_FORMATS, &mut |r| {
        systems = meta::event_systems(r)?;
        Ok(())
    })?;
    let mut kallsyms = String::new();
    part(id::KALLSYMS, &mut |r| {
        kallsyms = meta::sized_text(r, "kallsyms", false)?;
        Ok(())
    })?;
    let mut printk_formats = String::new();
    part(id::PRINTK, &mut |r| {
        printk_formats = meta::sized_text(r, "printk formats", false)?;
        Ok(())
    })?;
    let mut cmdlines = String::new();
    part(id::CMDLINES, &mut |r| {
        cmdlines = meta::sized_text(r, "cmdlines", true)?;
        Ok(())
    })?;

    let mut buffers = Vec::new();
    let mut text_buffers = Vec::new();
    for option in &options {
        match &option.value {
            OptionValue::Buffer(b) => {
                let name = buffer_section(&b.name);
                let section = read_section(file, endian, b.offset, &[id::BUFFER], name.clone())?;
                let compressed = section.info.flags & SECTION_COMPRESSED != 0;
                let section_size = section.info.size;
                sections.push(section.info);
                let subbuf_size = check_subbuf(
                    b.subbuf_size.unwrap_or(prefix.page_size).into(),
                    &page_format,
                    format!("options, BUFFER option of buffer {:?}", b.name),
                    option.place,
                )?;
                let mut ids = HashSet::new();
                for data in &b.cpus {
                    if !ids.insert(data.cpu) {
                        return Err(ReadError::new(
                            format!("options, BUFFER option of buffer {:?}", b.name),
                            option.place,
                            ErrorKind::BadValue {
                                what: "CPU id listed twice",
                                value: data.cpu.into(),
                            },
                        ));
                    }
                }
                let payload_start = b.offset + 16;
                let payload_end = payload_start + section_size;
                for data in &b.cpus {
                    check_cpu_data(file_len, &b.name, data, compressed)?;
                    if data.size > 0
                        && (data.offset < payload_start
                            || data.offset.saturating_add(data.size) > payload_end)
                    {
                        return Err(ReadError::at(
                            cpu_section(&b.name, data.cpu),
                            data.offset,
                            ErrorKind::OutsideSection {
                                start: payload_start,
                                end: payload_end,
                            },
                        ));
                    }
                }
                buffers.push(Buffer {
                    name: b.name.clone(),
                    clock: b.clock.clone(),
                    subbuf_size,
                    offset: b.offset,
                    compressed,
                    cpus: b.cpus.clone(),
                });
            }
            OptionValue::BufferText(b) => {
                let section = read_section(
                    file,
                    endian,
                    b.offset,
                    &[id::BUFFER_TEXT, id::BUFFER],
                    "latency text",
                )?;
                let compressed = section.info.flags & SECTION_COMPRESSED != 0;
                text_buffers.push(TextBuffer {
                    name: b.name.clone(),
                    clock: Some(b.clock.clone()),
                    offset: section.info.offset + 16,
                    size: section.info.size,
                    compressed,
                });
                sections.push(section.info);
            }
            _ => {}
        }
    }

    for info in &mut sections {
        info.description = string_at(&strings, info.description_id);
    }
    // No two sections (nor the file header) overlap; within its buffer section, no two
    // CPUs' data overlap.
    let mut regions: Vec<Region> = sections
        .iter()
        .map(|s| Region {
            start: s.offset,
            end: s.offset.saturating_add(16).saturating_add(s.size),
            name: format!("{} section", section_name(s.id)),
        })
        .collect();
    regions.push(Region {
        start: 0,
        end: header_end,
        name: "file header".to_string(),
    });
    check_overlaps(regions)?;
    let mut regions = Vec::new();
    for buffer in &buffers {
        cpu_regions(buffer, &mut regions);
    }
    check_overlaps(regions)?;
    let cpu_count = options
        .iter()
        .find_map(|o| match o.value {
            OptionValue::CpuCount(n) => Some(n),
            _ => None,
        })
        .unwrap_or_else(|| {
            buffers
                .iter()
                .flat_map(|b| b.cpus.iter().map(|c| c.cpu.saturating_add(1)))
                .max()
                .unwrap_or(0)
        });
    Ok(Meta {
        version: prefix.version,
        endian,
        long_size: prefix.long_size,
        page_size: prefix.page_size,
        compression,
        compression_name,
        compression_version,
        header,
        page_format,
        ftrace_formats,
        systems,
        kallsyms: kallsyms.into(),
        printk_formats,
        cmdlines,
        cpu_count,
        options,
        buffers,
        text_buffers,
        sections,
    })
}

fn read_strings(
    file: &[u8],
    endian: Endian,
    at: u64,
    decompressor: &mut Decompressor,
    sections: &mut Vec<SectionInfo>,
    strings: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let section = read_section(file, endian, at, &[id::STRINGS], "strings")?;
    let (data, _) = section_data(&section, endian, decompressor, "strings")?;
    strings.extend_from_slice(&data);
    sections.push(section.info);
    Ok(())
}

/// The NUL-terminated string at `offset` of the STRINGS data.
fn string_at(strings: &[u8], offset: u32) -> Option<String> {
    let rest = strings.get(offset as usize..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(text(&rest[..end]))
}
