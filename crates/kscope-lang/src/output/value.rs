//! The value model the printers consume: decoded primitives and the map-level values
//! (histograms, ordered maps, stats) built from them.

/// How a stack is printed (bpftrace's `kstack(mode)` / `ustack(mode)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StackMode {
    /// One symbol per line, indented by 8 spaces (the default).
    #[default]
    Bpftrace,
    /// `\t<hex addr> <symbol>` per line, like perf.
    Perf,
    /// The bare hexadecimal addresses.
    Raw,
}

/// One frame of a kernel or user stack, already symbolised by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The instruction address.
    pub addr: u64,
    /// `name+offset` (decimal offset), or `None` when the address did not resolve
    /// (printed as `0x<hex>`, as upstream does).
    pub symbol: Option<String>,
}

/// One frame of a `ustack(build_id)` stack (the kernel's `struct bpf_stack_build_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildIdFrame {
    /// The build id of the file the address is in and the address's offset in that file.
    Valid {
        /// The build id (`BPF_BUILD_ID_SIZE`, 20 bytes).
        build_id: [u8; 20],
        /// The file offset.
        offset: u64,
    },
    /// The kernel could not read the file's build id: the address itself.
    Ip(u64),
}

/// A decoded value: what bpftrace calls a primitive (orderable, printable inline).
#[derive(Debug, Clone, PartialEq)]
pub enum Primitive {
    /// No value (`null` in JSON, `null` in text).
    None,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer (any width, sign-extended).
    Int(i64),
    /// An unsigned integer (any width, zero-extended).
    Uint(u64),
    /// A string, already cut at its NUL (a truncated string carries the `..` trailer).
    Str(String),
    /// A fixed-size array: text `[1,2]`, JSON `[1,2]`.
    Array(Vec<Primitive>),
    /// A `buf()` buffer: text is the escaped hex form, JSON the byte values.
    Buffer(Vec<u8>),
    /// A tuple: text `(1, a)`, JSON `[1,"a"]`.
    Tuple(Vec<Primitive>),
    /// A record or struct: text `{ .a = 1 }`, JSON `{"a": 1}`.
    Record(Vec<(String, Primitive)>),
    /// A value with a text form and a number: JSON prints the number (enums, pointers,
    /// histogram labels such as `1K`).
    Symbolic {
        /// The text form.
        symbol: String,
        /// The number JSON prints.
        numeric: u64,
    },
}

impl Primitive {
    /// A string value from raw bytes: cut at the first NUL; invalid UTF-8 is replaced.
    pub fn from_c_bytes(bytes: &[u8]) -> Self {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Primitive::Str(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    /// A string read from a fixed `size`-byte buffer: when the string fills the buffer
    /// (no NUL inside), upstream assumes it was cut and appends `trailer` (`..` by default).
    pub fn from_c_buffer(bytes: &[u8], trailer: &str) -> Self {
        match bytes.iter().position(|&b| b == 0) {
            Some(end) => Primitive::Str(String::from_utf8_lossy(&bytes[..end]).into_owned()),
            None => {
                let mut s = String::from_utf8_lossy(bytes).into_owned();
                s.push_str(trailer);
                Primitive::Str(s)
            }
        }
    }

    /// A pointer: text `0x1f`, JSON the number.
    pub fn pointer(addr: u64) -> Self {
        Primitive::Symbolic {
            symbol: format!("0x{addr:x}"),
            numeric: addr,
        }
    }

    /// An enum value: its name when known, else the number as text.
    pub fn enum_value(name: Option<&str>, value: u64) -> Self {
        Primitive::Symbolic {
            symbol: name.map_or_else(|| value.to_string(), str::to_string),
            numeric: value,
        }
    }

    /// A `ksym`/`usym` value: the symbol's name, or `0x<hex>` when it did not resolve.
    pub fn symbol(name: Option<&str>, addr: u64) -> Self {
        Primitive::Str(name.map_or_else(|| format!("0x{addr:x}"), str::to_string))
    }

    /// A stack (`kstack`/`ustack`) as upstream formats it: a leading newline, then one
    /// line per frame; frames after an unwind failure (address `u64::MAX`) are dropped.
    pub fn stack(frames: &[Frame], mode: StackMode) -> Self {
        let mut s = String::from("\n");
        for f in frames {
            if f.addr == u64::MAX {
                s.push_str("        <unwind failure>\n");
                break;
            }
            let sym = f
                .symbol
                .clone()
                .unwrap_or_else(|| format!("0x{:x}", f.addr));
            match mode {
                StackMode::Bpftrace => {
                    s.push_str("        ");
                    s.push_str(&sym);
                }
                StackMode::Perf => s.push_str(&format!("\t{:x} {sym}", f.addr)),
                StackMode::Raw => s.push_str(&format!("{:x}", f.addr)),
            }
            s.push('\n');
        }
        Primitive::Str(s)
    }

    /// A `ustack(build_id)` stack as upstream formats it: a leading newline, then per
    /// frame the 40 hex digits of the build id, a space and `0x` with the file offset in
    /// hex (at least two digits), or the bare hex address when the build id was not read;
    /// no indentation.
    pub fn build_id_stack(frames: &[BuildIdFrame]) -> Self {
        let mut s = String::from("\n");
        for f in frames {
            match f {
                BuildIdFrame::Valid { build_id, offset } => {
                    for b in build_id {
                        s.push_str(&format!("{b:02x}"));
                    }
                    s.push_str(&format!(" 0x{offset:02x}"));
                }
                BuildIdFrame::Ip(ip) => s.push_str(&format!("{ip:x}")),
            }
            s.push('\n');
        }
        Primitive::Str(s)
    }

    /// The integer inside (`Int`, `Uint`, `Bool` or `Symbolic`'s number), as 64 bits.
    pub fn as_bits(&self) -> Option<u64> {
        match self {
            Primitive::Int(v) => Some(*v as u64),
            Primitive::Uint(v) => Some(*v),
            Primitive::Bool(b) => Some(u64::from(*b)),
            Primitive::Symbolic { numeric, .. } => Some(*numeric),
            _ => None,
        }
    }
}

/// A histogram ready to print: `labels[i]` is the exclusive upper bound of bucket `i`;
/// when `counts` is one longer than `labels`, the last bucket is open (`[x, ...)`);
/// `lower_bound` is the first bucket's lower bound (absent: `(..., x)`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Lower bound of the first bucket.
    pub lower_bound: Option<Primitive>,
    /// Upper bounds.
    pub labels: Vec<Primitive>,
    /// Counts per bucket.
    pub counts: Vec<u64>,
}

/// A printable value: a primitive or one of the aggregate shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single inline value.
    Primitive(Primitive),
    /// A histogram (multi-line).
    Histogram(Histogram),
    /// Keys and values in print order.
    OrderedMap(Vec<(Primitive, Value)>),
    /// `avg`/`stats` maps: printed like the inner value, but JSON's type is `stats`.
    Stats(Box<Value>),
    /// A `tseries` (multi-line chart; JSON's type is `tseries`).
    Tseries(super::tseries::Series),
}

impl From<Primitive> for Value {
    fn from(p: Primitive) -> Self {
        Value::Primitive(p)
    }
}
