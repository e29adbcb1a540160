//! `events/header_page` and `events/header_event`: the ring-buffer page and event header
//! layouts.

use super::FormatError;
use super::fields::parse_field_line;

/// The place of one field of the page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    /// Byte offset in the page.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// The `signed:` flag.
    pub signed: bool,
}

/// The sub-buffer (page) header described by `events/header_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPage {
    /// `u64 timestamp`: the time of the page's first event.
    pub timestamp: HeaderField,
    /// `local_t commit`: the bytes used, with the missed-events flags in the high bits.
    pub commit: HeaderField,
    /// `int overwrite` (shares the commit word), when present.
    pub overwrite: Option<HeaderField>,
    /// `char data`: where the events start; its size is the sub-buffer's data size.
    pub data: HeaderField,
}

impl HeaderPage {
    /// Parses the text of `events/header_page`.
    pub fn parse(text: &str) -> Result<HeaderPage, FormatError> {
        let mut timestamp = None;
        let mut commit = None;
        let mut overwrite = None;
        let mut data = None;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let at = offset;
            offset += line.len();
            let body = line.trim_end_matches(['\n', '\r']);
            let trimmed = body.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            let indent = body.len() - trimmed.len();
            if !trimmed.starts_with("field") {
                return Err(FormatError::at(
                    text,
                    at + indent,
                    format!("unexpected line {trimmed:?}"),
                ));
            }
            let field = parse_field_line(text, at + indent, trimmed)?;
            let place = HeaderField {
                offset: field.offset,
                size: field.size,
                signed: field.signed,
            };
            match field.name.as_str() {
                "timestamp" => timestamp = Some(place),
                "commit" => commit = Some(place),
                "overwrite" => overwrite = Some(place),
                "data" => data = Some(place),
                _ => {}
            }
        }
        let missing = |what: &str| FormatError::at(text, text.len(), format!("no `{what}` field"));
        Ok(HeaderPage {
            timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
            commit: commit.ok_or_else(|| missing("commit"))?,
            overwrite,
            data: data.ok_or_else(|| missing("data"))?,
        })
    }

    /// Whether `commit` is 8 bytes: the kernel's `long` is 64-bit.
    pub fn commit_is_8_bytes(&self) -> bool {
        self.commit.size == 8
    }

    /// The kernel's `sizeof(long)`: the size of `commit`.
    pub fn long_size(&self) -> usize {
        self.commit.size
    }
}

/// The event header described by `events/header_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEvent {
    /// Bits of `type_len` (5).
    pub type_len_bits: u32,
    /// Bits of `time_delta` (27).
    pub time_delta_bits: u32,
    /// Bits of `array` (32).
    pub array_bits: u32,
    /// The `type_len` of padding (29).
    pub padding: u32,
    /// The `type_len` of a time extend (30).
    pub time_extend: u32,
    /// The `type_len` of an absolute time stamp (31), when the kernel has it.
    pub time_stamp: Option<u32>,
    /// The largest `type_len` that encodes a data length (28).
    pub data_max_type_len: u32,
}

impl HeaderEvent {
    /// Parses the text of `events/header_event`.
    pub fn parse(text: &str) -> Result<HeaderEvent, FormatError> {
        let mut type_len_bits = None;
        let mut time_delta_bits = None;
        let mut array_bits = None;
        let mut padding = None;
        let mut time_extend = None;
        let mut time_stamp = None;
        let mut data_max = None;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let at = offset;
            offset += line.len();
            let body = line.trim_end_matches(['\n', '\r']);
            let trimmed = body.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = body.len() - body.trim_start().len();
            let bad = |msg: String| FormatError::at(text, at + indent, msg);
            let number = |s: &str| -> Result<u32, FormatError> {
                s.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(format!("bad number in {trimmed:?}")))
            };
            if let Some(rest) = trimmed.strip_prefix("data max type_len") {
                let value = rest.trim_start().trim_start_matches("==");
                data_max = Some(number(value)?);
                continue;
            }
            let Some((key, value)) = trimmed.split_once(':') else {
                return Err(bad(format!("unexpected line {trimmed:?}")));
            };
            let value = value.trim();
            if let Some(bits) = value.strip_suffix("bits") {
                let bits = number(bits)?;
                match key.trim() {
                    "type_len" => type_len_bits = Some(bits),
                    "time_delta" => time_delta_bits = Some(bits),
                    "array" => array_bits = Some(bits),
                    _ => {}
                }
            } else if let Some(ty) = value.strip_prefix("type") {
                let ty = number(ty.trim_start().trim_start_matches("=="))?;
                match key.trim() {
                    "padding" => padding = Some(ty),
                    "time_extend" => time_extend = Some(ty),
                    "time_stamp" => time_stamp = Some(ty),
                    _ => {}
                }
            } else {
                return Err(bad(format!("unexpected line {trimmed:?}")));
            }
        }
        let missing = |what: &str| FormatError::at(text, text.len(), format!("no `{what}` line"));
        Ok(HeaderEvent {
            type_len_bits: type_len_bits.ok_or_else(|| missing("type_len"))?,
            time_delta_bits: time_delta_bits.ok_or_else(|| missing("time_delta"))?,
            array_bits: array_bits.unwrap_or(32),
            padding: padding.unwrap_or(29),
            time_extend: time_extend.unwrap_or(30),
            time_stamp,
            data_max_type_len: data_max.unwrap_or(28),
        })
    }
}
