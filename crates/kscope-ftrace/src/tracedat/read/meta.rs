//! The metadata parts both versions share: header_page and header_event, the ftrace and
//! per-system event formats, kallsyms, printk formats and cmdlines. In v6 they follow one
//! another; in v7 each is the payload of its own section.

use super::bytes::{Reader, text};
use super::error::{Place, ReadError};

/// The event formats of one event system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSystem {
    /// The system name (`sched`, `irq`, …).
    pub name: String,
    /// The text of each event's `format` file, in file order.
    pub formats: Vec<String>,
}

/// header_page and header_event.
#[derive(Debug, Clone)]
pub(crate) struct HeaderInfo {
    pub(crate) header_page: String,
    pub(crate) header_page_place: Place,
    pub(crate) header_event: String,
}

/// `header_page\0`, u64 size, text, `header_event\0`, u64 size, text.
pub(crate) fn header_info(r: &mut Reader<'_>) -> Result<HeaderInfo, ReadError> {
    r.set_section("header_page");
    r.label("header_page\0")?;
    let size = r.u64("the header_page size")?;
    let header_page_place = r.place_of(r.pos());
    let header_page = text(r.take_sized(size, "the header_page size")?);
    r.set_section("header_event");
    r.label("header_event\0")?;
    let size = r.u64("the header_event size")?;
    let header_event = text(r.take_sized(size, "the header_event size")?);
    Ok(HeaderInfo {
        header_page,
        header_page_place,
        header_event,
    })
}

/// u32 count, then {u64 size, text} for each.
pub(crate) fn ftrace_formats(r: &mut Reader<'_>) -> Result<Vec<String>, ReadError> {
    r.set_section("ftrace event formats");
    let count = r.u32("the ftrace event count")?;
    let mut out = Vec::new();
    for _ in 0..count {
        let size = r.u64("a format size")?;
        out.push(text(r.take_sized(size, "the format size")?));
    }
    Ok(out)
}

/// u32 number of systems, then for each: name, u32 number of events, {u64 size, text}.
pub(crate) fn event_systems(r: &mut Reader<'_>) -> Result<Vec<EventSystem>, ReadError> {
    r.set_section("event formats");
    let count = r.u32("the event system count")?;
    let mut out = Vec::new();
    for _ in 0..count {
        r.set_section("event formats");
        let name = r.string()?;
        r.set_section(format!("event formats of system {name}"));
        let events = r.u32("the event count")?;
        let mut formats = Vec::new();
        for _ in 0..events {
            let size = r.u64("a format size")?;
            formats.push(text(r.take_sized(size, "the format size")?));
        }
        out.push(EventSystem { name, formats });
    }
    Ok(out)
}

/// A text after a size of 4 (`wide == false`) or 8 bytes.
pub(crate) fn sized_text(
    r: &mut Reader<'_>,
    section: &'static str,
    wide: bool,
) -> Result<String, ReadError> {
    r.set_section(section);
    let size = if wide {
        r.u64("the size")?
    } else {
        u64::from(r.u32("the size")?)
    };
    Ok(text(r.take_sized(size, "the size")?))
}
