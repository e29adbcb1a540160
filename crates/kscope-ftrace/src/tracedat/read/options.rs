//! Options: the v6 option list and the contents of v7 OPTIONS sections, decoded into typed
//! values where the format is known.

use super::bytes::{Reader, option_text};
use super::error::{ErrorKind, Place, ReadError};
use crate::tracedat::option as id;

/// One option, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOption {
    /// The option id (see [`crate::tracedat::option`]).
    pub id: u16,
    /// Where its data is (for an option in a compressed v7 section, the place in the
    /// decompressed section).
    pub place: Place,
    /// Its data, as stored.
    pub data: Vec<u8>,
    /// Its data decoded, when the format is known.
    pub value: OptionValue,
}

impl TraceOption {
    /// The option's name (`"UNAME"`, `"BUFFER"`, …), or `None` for an id not known here.
    pub fn name(&self) -> Option<&'static str> {
        option_name(self.id)
    }

    /// The option's text, for the options that hold a NUL-terminated string.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            OptionValue::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The name of an option id, as trace-cmd's documentation spells it.
pub fn option_name(option: u16) -> Option<&'static str> {
    Some(match option {
        id::DONE => "DONE",
        id::DATE => "DATE",
        id::CPUSTAT => "CPUSTAT",
        id::BUFFER => "BUFFER",
        id::TRACECLOCK => "TRACECLOCK",
        id::UNAME => "UNAME",
        id::HOOK => "HOOK",
        id::OFFSET => "OFFSET",
        id::CPUCOUNT => "CPUCOUNT",
        id::VERSION => "VERSION",
        id::PROCMAPS => "PROCMAPS",
        id::TRACEID => "TRACEID",
        id::TIME_SHIFT => "TIME_SHIFT",
        id::GUEST => "GUEST",
        id::TSC2NSEC => "TSC2NSEC",
        id::STRINGS => "STRINGS",
        id::HEADER_INFO => "HEADER_INFO",
        id::FTRACE_EVENTS => "FTRACE_EVENTS",
        id::EVENT_FORMATS => "EVENT_FORMATS",
        id::KALLSYMS => "KALLSYMS",
        id::PRINTK => "PRINTK",
        id::CMDLINES => "CMDLINES",
        id::BUFFER_TEXT => "BUFFER_TEXT",
        id::BTF_FILE => "BTF_FILE",
        id::LAST_BOOT_INFO => "LAST_BOOT_INFO",
        id::MODULES_FILE => "MODULES_FILE",
        _ => return None,
    })
}

/// An option's data, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// v7 DONE: the offset of the next OPTIONS section (0: none).
    Done {
        /// The offset.
        next: u64,
    },
    /// A NUL-terminated string (DATE, CPUSTAT, TRACECLOCK, UNAME, HOOK, OFFSET, VERSION,
    /// PROCMAPS), without its NUL.
    Text(String),
    /// CPUCOUNT.
    CpuCount(u32),
    /// TRACEID.
    TraceId(u64),
    /// TSC2NSEC.
    Tsc2Nsec(Tsc2Nsec),
    /// v7 STRINGS and HEADER_INFO … CMDLINES: the offset of a section.
    SectionOffset(u64),
    /// BUFFER.
    Buffer(BufferOption),
    /// v7 BUFFER_TEXT.
    BufferText(BufferTextOption),
    /// Kept raw (TIME_SHIFT, GUEST, BTF_FILE, LAST_BOOT_INFO, MODULES_FILE, unknown ids):
    /// see [`TraceOption::data`].
    Raw,
}

/// TSC2NSEC: how to turn TSC counts into nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tsc2Nsec {
    /// The multiplier.
    pub multiplier: u32,
    /// The shift.
    pub shift: u32,
    /// The offset.
    pub offset: u64,
}

/// A BUFFER option: one instance's ring-buffer data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferOption {
    /// v6: the offset of the instance's `flyrecord` block; v7: of its BUFFER section.
    pub offset: u64,
    /// The instance name (`""` for the top instance).
    pub name: String,
    /// v7: the trace clock.
    pub clock: Option<String>,
    /// v7: the sub-buffer size.
    pub subbuf_size: Option<u32>,
    /// v7: where each CPU's data is.
    pub cpus: Vec<CpuData>,
}

/// A v7 BUFFER_TEXT option: a latency (text) buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferTextOption {
    /// The offset of its section.
    pub offset: u64,
    /// The instance name.
    pub name: String,
    /// The trace clock.
    pub clock: String,
}

/// Where one CPU's ring-buffer data is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuData {
    /// The CPU number.
    pub cpu: u32,
    /// The file offset of the data.
    pub offset: u64,
    /// Its size in the file, as recorded (for compressed data trace-cmd 3.1.6 records the
    /// size of the chunks without the 4-byte chunk count before them).
    pub size: u64,
}

/// Reads an option list. In v6 it ends with a zero id that has no size; in v7 with the
/// DONE option, whose value is returned.
pub(crate) fn read_options(
    r: &mut Reader<'_>,
    version: u32,
    out: &mut Vec<TraceOption>,
) -> Result<Option<u64>, ReadError> {
    loop {
        let option = r.u16("an option id")?;
        if version < 7 && option == id::DONE {
            return Ok(None);
        }
        let size = r.u32("an option size")?;
        let mut data = r.sub_sized(u64::from(size), "option data")?;
        let place = data.place_of(0);
        let raw = data.rest().to_vec();
        let value = decode(option, version, &mut data).map_err(|mut e| {
            e.section = format!(
                "{}, option {} ({})",
                r.section(),
                option,
                option_name(option).unwrap_or("unknown"),
            )
            .into();
            e
        })?;
        let done = match value {
            OptionValue::Done { next } => Some(next),
            _ => None,
        };
        out.push(TraceOption {
            id: option,
            place,
            data: raw,
            value,
        });
        if let Some(next) = done {
            return Ok(Some(next));
        }
        if r.is_empty() {
            return Err(r.error(ErrorKind::Missing(if version < 7 {
                "the option list has no end marker"
            } else {
                "the options section has no DONE option"
            })));
        }
    }
}

fn decode(option: u16, version: u32, r: &mut Reader<'_>) -> Result<OptionValue, ReadError> {
    let v7 = version >= 7;
    Ok(match option {
        id::DONE => OptionValue::Done {
            next: r.u64("the next options offset")?,
        },
        id::DATE
        | id::CPUSTAT
        | id::TRACECLOCK
        | id::UNAME
        | id::HOOK
        | id::OFFSET
        | id::VERSION
        | id::PROCMAPS => OptionValue::Text(option_text(r.rest())),
        id::CPUCOUNT => OptionValue::CpuCount(r.u32("the CPU count")?),
        id::TRACEID => OptionValue::TraceId(r.u64("the trace id")?),
        id::TSC2NSEC => OptionValue::Tsc2Nsec(Tsc2Nsec {
            multiplier: r.u32("the multiplier")?,
            shift: r.u32("the shift")?,
            offset: r.u64("the offset")?,
        }),
        id::STRINGS | id::HEADER_INFO..=id::CMDLINES if v7 => {
            OptionValue::SectionOffset(r.u64("a section offset")?)
        }
        id::BUFFER => {
            let offset = r.u64("the buffer offset")?;
            let name = r.string()?;
            if !v7 {
                OptionValue::Buffer(BufferOption {
                    offset,
                    name,
                    clock: None,
                    subbuf_size: None,
                    cpus: Vec::new(),
                })
            } else {
                let clock = r.string()?;
                let subbuf_size = r.u32("the sub-buffer size")?;
                let at = r.pos();
                let count = r.u32("the CPU count")?;
                if count > super::parse::MAX_CPUS {
                    return Err(r.error_at(
                        at,
                        ErrorKind::BadValue {
                            what: "CPU count",
                            value: count.into(),
                        },
                    ));
                }
                // Each CPU takes 20 bytes: a count the data cannot hold is an error before
                // anything is allocated for it.
                let needed = u64::from(count) * 20;
                if needed > r.remaining() as u64 {
                    return Err(r.error(ErrorKind::TooLarge {
                        what: "the CPU list's size",
                        size: needed,
                        available: r.remaining() as u64,
                    }));
                }
                let mut cpus = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    cpus.push(CpuData {
                        cpu: r.u32("a CPU id")?,
                        offset: r.u64("a CPU data offset")?,
                        size: r.u64("a CPU data size")?,
                    });
                }
                OptionValue::Buffer(BufferOption {
                    offset,
                    name,
                    clock: Some(clock),
                    subbuf_size: Some(subbuf_size),
                    cpus,
                })
            }
        }
        id::BUFFER_TEXT if v7 => OptionValue::BufferText(BufferTextOption {
            offset: r.u64("the buffer offset")?,
            name: r.string()?,
            clock: r.string()?,
        }),
        _ => OptionValue::Raw,
    })
}
