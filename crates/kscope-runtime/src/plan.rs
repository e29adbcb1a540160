//! The maps and output messages a script needs, decided once from the checked program:
//! their BPF layouts (lowering writes them) and how user space reads them back.

use kscope_bpf::{MapSpec, MapType};
use kscope_codegen::MapId;
use kscope_codegen::lower::{MINMAX_VALUE_SIZE, STATS_VALUE_SIZE, hist_buckets, lhist_buckets};
use kscope_lang::output::FormatString;
use kscope_lang::sema::{AggKind, Checked, Type};

/// Bytes of a string value (map keys, values, variables, printf arguments). Strings are
/// NUL padded to this size so that equal strings are equal byte for byte.
pub const STR_SIZE: u32 = 64;
/// Entries of a map (upstream's default `max_map_keys`).
pub const MAP_ENTRIES: u32 = 4096;
/// Frames kept per stack (upstream's default `max_stack_depth`... of perf: 127).
pub const STACK_DEPTH: u32 = 127;
/// Bytes of the output ring buffer (its pages count in the resident set twice: the
/// consumer maps the data area twice to read records that wrap).
pub const RINGBUF_BYTES: u32 = 1 << 19;

/// Elements of an array `join()` reads at most (upstream's default).
pub const JOIN_MAX: u32 = 16;
/// Bytes read of each element by `join()`.
pub const JOIN_SIZE: u32 = 64;

/// How one scalar (a key part, a variable, a plain map value) is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// 8 bytes, sign- or zero-extended from its type.
    Int {
        /// Whether the type is signed.
        signed: bool,
    },
    /// `bool`: 8 bytes, printed `true`/`false` (as upstream's).
    Bool,
    /// A pointer: 8 bytes, printed as `0x` hex (JSON: the number), as upstream's.
    Ptr,
    /// [`STR_SIZE`] bytes, NUL padded.
    Str,
    /// `kstack`: the 8-byte id `bpf_get_stackid` returned (negative: no stack).
    Kstack,
    /// `ksym(addr)`, `func` in kernel probes: the 8-byte address, named in user space.
    Ksym,
    /// `ustack`: the 8-byte stack word (as [`Scalar::Kstack`], from the user stack map
    /// [`Plan::stack_map`] gives) and the 8-byte pid that took it (symbols are per process).
    Ustack,
    /// `usym(addr)`, `func` in user probes: the 8-byte address and the 8-byte pid.
    Usym,
    /// `ntop()`: [`STR_SIZE`] bytes, the 8-byte address family, then the address in
    /// network byte order (4 or 16 bytes), zero padded.
    Inet,
    /// `strftime()`: the 8-byte nanoseconds since boot; the index of its format in
    /// [`Checked::timestamp_formats`](kscope_lang::sema::Checked::timestamp_formats).
    Timestamp(u32),
    /// `cgroup_path()`: the 8-byte cgroup id; the index of its hierarchy filter in
    /// [`Checked::cgroup_path_filters`](kscope_lang::sema::Checked::cgroup_path_filters).
    CgroupPath(u32),
    /// `username`: the 8-byte uid, named from /etc/passwd when printed.
    Username,
    /// A value of a C enum (the script's or the kernel's): 8 bytes, printed as the name
    /// of its enumerator (the enum's id in [`Plan::enums`]).
    Enum(u32),
    /// `buf()`: [`STR_SIZE`] bytes, the 8-byte length, then that many bytes (at most
    /// [`BUF_MAX`](kscope_lang::sema::BUF_MAX)), zero padded.
    Buf,
    /// An array of integers, bools or pointers of at most [`STR_SIZE`] bytes (`pton()`,
    /// `uint8[4]`, `int x[2][2]`, `bool[2]`): its elements in [`STR_SIZE`] zero-padded
    /// bytes, in C's order, printed as upstream's `[1,2,3,4]`, `[[5,6],[7,8]]`,
    /// `[true,false]`.
    Array {
        /// The kind of its innermost elements.
        elem: ArrayElem,
        /// The lengths of its dimensions, outermost first.
        dims: Dims,
    },
}

/// The innermost elements of an [`Scalar::Array`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayElem {
    /// Integers of `bytes` bytes (1, 2, 4 or 8).
    Int {
        /// Bytes per element.
        bytes: u8,
        /// Whether they are signed.
        signed: bool,
    },
    /// `bool`s, a byte each, printed `true`/`false`.
    Bool,
    /// Pointers, 8 bytes each, printed `0x…`.
    Ptr,
}

impl ArrayElem {
    /// Bytes per element.
    pub fn size(self) -> u32 {
        match self {
            ArrayElem::Int { bytes, .. } => u32::from(bytes),
            ArrayElem::Bool => 1,
            ArrayElem::Ptr => 8,
        }
    }
}

/// At most this many dimensions in an array value.
pub const MAX_DIMS: usize = 8;

/// The lengths of an array value's dimensions, outermost first (`int x[2][3]`: 2, 3).
/// An array value holds at most [`STR_SIZE`] bytes, so each length fits a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    n: u8,
    lens: [u8; MAX_DIMS],
}

impl Dims {
    /// One dimension of `len` elements.
    pub const fn one(len: u8) -> Dims {
        let mut lens = [0; MAX_DIMS];
        lens[0] = len;
        Dims { n: 1, lens }
    }

    /// These dimensions, if there are 1 to [`MAX_DIMS`] of them, each at most 255.
    pub fn new(lens: &[u64]) -> Option<Dims> {
        if lens.is_empty() || lens.len() > MAX_DIMS {
            return None;
        }
        let mut d = [0; MAX_DIMS];
        for (i, &l) in lens.iter().enumerate() {
            d[i] = u8::try_from(l).ok()?;
        }
        Some(Dims {
            n: lens.len() as u8,
            lens: d,
        })
    }

    /// The lengths, outermost first.
    pub fn lens(&self) -> &[u8] {
        &self.lens[..usize::from(self.n)]
    }

    /// The number of innermost elements.
    pub fn count(&self) -> u32 {
        self.lens().iter().map(|&l| u32::from(l)).product()
    }
}

impl Scalar {
    /// A one-dimensional integer array of `count` elements of `bytes` bytes.
    pub const fn int_array(bytes: u8, signed: bool, count: u8) -> Scalar {
        Scalar::Array {
            elem: ArrayElem::Int { bytes, signed },
            dims: Dims::one(count),
        }
    }

    /// The array value of type `t` (an array of arrays... of integers, bools or
    /// pointers, of at most [`STR_SIZE`] bytes), if it is one.
    fn array_of(t: &Type) -> Option<Scalar> {
        let mut lens = Vec::new();
        let mut cur = t;
        while let Type::Array(elem, n) = cur {
            lens.push(*n);
            cur = elem;
        }
        let elem = match cur {
            Type::Int { bits, signed } => ArrayElem::Int {
                bytes: bits / 8,
                signed: *signed,
            },
            Type::Bool => ArrayElem::Bool,
            Type::Ptr(_) => ArrayElem::Ptr,
            _ => return None,
        };
        let count = lens.iter().try_fold(1u64, |a, &n| a.checked_mul(n))?;
        if count.checked_mul(u64::from(elem.size()))? > u64::from(STR_SIZE) {
            return None;
        }
        Some(Scalar::Array {
            elem,
            dims: Dims::new(&lens)?,
        })
    }
}

/// The word a `kstack`/`ustack` value stores: the id `bpf_get_stackid` returned in the low
/// 32 bits (an error code reads as an id no map holds), the print mode in bits 32..40,
/// the frame limit (0: [`STACK_DEPTH`]) in bits 40..56 and, when the script takes
/// `len()` of a stack of its kind ([`Checked::len_of_kstack`]), the number of frames in
/// bits 56..64 (else 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackWord {
    /// The stack id (or an error code as `u32`).
    pub id: u32,
    /// [`STACK_MODE_BPFTRACE`], [`STACK_MODE_PERF`], [`STACK_MODE_RAW`] or
    /// [`STACK_MODE_BUILD_ID`].
    pub mode: u8,
    /// The frame limit (`kstack(3)`), 0 for the default.
    pub limit: u16,
    /// The frames the stack has (at most the limit), when counted.
    pub frames: u8,
}

/// [`StackWord::mode`] of `bpftrace` (the default).
pub const STACK_MODE_BPFTRACE: u8 = 0;
/// [`StackWord::mode`] of `perf`.
pub const STACK_MODE_PERF: u8 = 1;
/// [`StackWord::mode`] of `raw`.
pub const STACK_MODE_RAW: u8 = 2;
/// [`StackWord::mode`] of `build_id` (user stacks only): the stack is in a map created
/// with `BPF_F_STACK_BUILD_ID`.
pub const STACK_MODE_BUILD_ID: u8 = 3;
/// The bit where [`StackWord::frames`] starts.
pub const STACK_FRAMES_SHIFT: u32 = 56;

impl StackWord {
    /// The bits above the id, as lowering ORs them in.
    pub fn high_bits(mode: u8, limit: u16) -> u64 {
        (u64::from(mode) << 32) | (u64::from(limit) << 40)
    }

    /// Splits a stored word.
    pub fn decode(w: u64) -> StackWord {
        StackWord {
            id: w as u32,
            mode: (w >> 32) as u8,
            limit: (w >> 40) as u16,
            frames: (w >> STACK_FRAMES_SHIFT) as u8,
        }
    }

    /// The depth of the map the stack is in: the limit, or [`STACK_DEPTH`].
    pub fn depth(self) -> u32 {
        match u32::from(self.limit) {
            0 => STACK_DEPTH,
            d => d.min(STACK_DEPTH),
        }
    }
}

/// A stack trace map: kernel or user stacks, and the frames it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackMap {
    /// User stacks (`BPF_F_USER_STACK`).
    pub user: bool,
    /// Frames kept (the map's depth): a `kstack(3)` keeps 3, so that stacks equal in
    /// their first 3 frames are one key, as upstream's.
    pub depth: u32,
    /// Frames are `struct bpf_stack_build_id` (build id and file offset), not
    /// addresses: the map has `BPF_F_STACK_BUILD_ID` (`ustack(build_id)`).
    pub build_id: bool,
    /// Its id.
    pub id: MapId,
}

impl StackMap {
    /// Its spec: `depth` addresses, or `depth` build-id frames.
    pub fn spec(&self) -> MapSpec {
        let kind = if self.user { "u" } else { "k" };
        if self.build_id {
            MapSpec::build_id_stack_trace(self.depth, MAP_ENTRIES)
                .with_name(format!("ks_{kind}stackb{}", self.depth))
        } else {
            MapSpec::stack_trace(self.depth, MAP_ENTRIES)
                .with_name(format!("ks_{kind}stack{}", self.depth))
        }
    }
}

impl Scalar {
    /// The storage of a value of type `t`, if it has one.
    pub fn of(t: &Type) -> Option<Scalar> {
        match t {
            Type::Int { signed, .. } => Some(Scalar::Int { signed: *signed }),
            // A kernel value the checker could not type reads as int64, as upstream's.
            Type::Unknown => Some(Scalar::Int { signed: true }),
            Type::Bool => Some(Scalar::Bool),
            Type::Ptr(_) => Some(Scalar::Ptr),
            Type::Str => Some(Scalar::Str),
            Type::Kstack => Some(Scalar::Kstack),
            Type::Ksym => Some(Scalar::Ksym),
            Type::Ustack => Some(Scalar::Ustack),
            Type::Usym => Some(Scalar::Usym),
            Type::Inet => Some(Scalar::Inet),
            Type::Buf => Some(Scalar::Buf),
            Type::Timestamp(i) => Some(Scalar::Timestamp(*i)),
            Type::CgroupPath(i) => Some(Scalar::CgroupPath(*i)),
            Type::Username => Some(Scalar::Username),
            Type::Enum { id, .. } => Some(Scalar::Enum(*id)),
            Type::Array(..) => Scalar::array_of(t),
            _ => None,
        }
    }

    /// Its size in bytes.
    pub fn size(self) -> u32 {
        match self {
            Scalar::Int { .. }
            | Scalar::Bool
            | Scalar::Ptr
            | Scalar::Kstack
            | Scalar::Ksym
            | Scalar::Timestamp(_)
            | Scalar::CgroupPath(_)
            | Scalar::Username
            | Scalar::Enum(_) => 8,
            Scalar::Str | Scalar::Inet | Scalar::Buf | Scalar::Array { .. } => STR_SIZE,
            Scalar::Ustack | Scalar::Usym => 16,
        }
    }

    /// Whether the value carries the pid in a second word (user stacks and symbols).
    pub fn has_pid(self) -> bool {
        matches!(self, Scalar::Ustack | Scalar::Usym)
    }
}

/// How a value that may be a tuple is stored: a scalar, or the elements one after
/// another (each a multiple of 8 bytes, so no padding), nested for nested tuples. A map
/// key of several parts is laid out as the tuple of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One scalar.
    Scalar(Scalar),
    /// A tuple of these elements.
    Tuple(Vec<Layout>),
    /// A record: named elements in their stored order, laid out as a tuple of them.
    Record(Vec<(String, Layout)>),
}

/// Why a value of type `t` that has no [`Layout`] cannot be stored, when an array in it
/// is the reason: a sentence to append to the "not built yet" message (empty otherwise).
pub fn unstored_hint(t: &Type) -> String {
    fn bad_array(t: &Type) -> Option<&Type> {
        match t {
            Type::Array(..) if Scalar::of(t).is_none() => Some(t),
            Type::Tuple(items) => items.iter().find_map(bad_array),
            Type::Record(fields) => fields.iter().find_map(|(_, t)| bad_array(t)),
            _ => None,
        }
    }
    let Some(a) = bad_array(t) else {
        return String::new();
    };
    let mut elem = a;
    while let Type::Array(e, _) = elem {
        elem = e;
    }
    if matches!(elem, Type::Int { .. } | Type::Bool | Type::Ptr(_)) {
        format!(
            ": an array value holds at most {STR_SIZE} bytes, and `{a}` has more; index it \
             (`x[0]`) and keep the elements you need"
        )
    } else {
        let index = if matches!(elem, Type::Struct(_)) {
            "x[0].member"
        } else {
            "x[0]"
        };
        format!(
            ": an array value holds integers, bools or pointers, not `{elem}`; index it \
             (`{index}`) and keep what you need"
        )
    }
}

impl Layout {
    /// The storage of a value of type `t`, if it has one.
    pub fn of(t: &Type) -> Option<Layout> {
        match t {
            Type::Tuple(items) => items
                .iter()
                .map(Layout::of)
                .collect::<Option<Vec<_>>>()
                .map(Layout::Tuple),
            Type::Record(fields) => fields
                .iter()
                .map(|(n, t)| Layout::of(t).map(|l| (n.clone(), l)))
                .collect::<Option<Vec<_>>>()
                .map(Layout::Record),
            t => Scalar::of(t).map(Layout::Scalar),
        }
    }

    /// Its size in bytes.
    pub fn size(&self) -> u32 {
        match self {
            Layout::Scalar(s) => s.size(),
            Layout::Tuple(items) => items.iter().map(Layout::size).sum(),
            Layout::Record(fields) => fields.iter().map(|(_, l)| l.size()).sum(),
        }
    }

    /// Whether it is a tuple or a record (stored element after element).
    pub fn is_aggregate(&self) -> bool {
        matches!(self, Layout::Tuple(_) | Layout::Record(_))
    }

    /// Element `i` of a tuple or record (in stored order): its byte offset and layout.
    pub fn element(&self, i: usize) -> Option<(u32, &Layout)> {
        let items: Vec<&Layout> = match self {
            Layout::Tuple(items) => items.iter().collect(),
            Layout::Record(fields) => fields.iter().map(|(_, l)| l).collect(),
            Layout::Scalar(_) => return None,
        };
        let off = items.iter().take(i).map(|l| l.size()).sum();
        items.get(i).map(|l| (off, *l))
    }

    /// Field `name` of a record: its byte offset and layout.
    pub fn field(&self, name: &str) -> Option<(u32, &Layout)> {
        let Layout::Record(fields) = self else {
            return None;
        };
        let i = fields.iter().position(|(n, _)| n == name)?;
        self.element(i)
    }
}

/// What a map's value holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueLayout {
    /// `count()` / `sum()`: a per-CPU u64.
    Sum,
    /// `min()` / `max()`: per-CPU `{value, is_set}`.
    MinMax {
        /// `max` (else `min`).
        max: bool,
        /// Compare signed.
        signed: bool,
    },
    /// `avg()` / `stats()`: per-CPU `{count, sum}`.
    AvgStats,
    /// `hist()` / `lhist()`: a per-CPU array of bucket counters.
    Buckets {
        /// Number of buckets.
        n: u32,
        /// `hist` bits, or `None` for `lhist`.
        hist_bits: Option<u32>,
        /// `lhist` (min, max, step).
        lhist: Option<(i64, i64, i64)>,
    },
    /// `tseries()`: per-CPU `{value, meta, epoch}` buckets
    /// ([`tseries::SLOT_SIZE`](kscope_lang::output::tseries::SLOT_SIZE) bytes), one hash
    /// entry per key and bucket: the key is followed by the 8-byte bucket number
    /// `epoch % num_intervals`.
    Tseries {
        /// The interval in nanoseconds.
        interval_ns: u64,
        /// The number of buckets.
        num_intervals: u64,
        /// How values of one interval combine.
        agg: kscope_lang::sema::TseriesAgg,
        /// Signed values.
        signed: bool,
    },
    /// A plain value (`@x = expr`).
    Plain(Scalar),
    /// A tuple or record value (`@x = (a, b)`, `@x = (a=1)`), laid out by [`Layout`].
    Tuple(Layout),
}

/// One `@map` of the script.
#[derive(Debug, Clone)]
pub struct UserMap {
    /// Its name without `@` (`""` for `@`).
    pub name: String,
    /// The checker's facts.
    pub info: kscope_lang::sema::MapInfo,
    /// The key parts, one after another (empty for a scalar map, which uses one zero
    /// key: 8 bytes for a hash, 4 for an array, see [`UserMap::is_array`]); a part may be
    /// a tuple (`@m[1, ("a", 2)]`).
    pub keys: Vec<Layout>,
    /// The value.
    pub value: ValueLayout,
    /// Its id in the program.
    pub id: MapId,
}

impl UserMap {
    /// Whether the map is a per-CPU array of one entry (key 0) rather than a hash: an
    /// aggregation without keys (`@ = count()`, `@x = hist(v)`). Its value is the
    /// aggregation's ([`UserMap::value_size`]) followed by an 8-byte "present" word at
    /// [`UserMap::present_offset`] that every update sets to 1: an entry whose CPUs
    /// all hold 0 there was never written (or was cleared), as a missing hash key.
    pub fn is_array(&self) -> bool {
        self.keys.is_empty()
            && !matches!(
                self.value,
                ValueLayout::Plain(_) | ValueLayout::Tuple(_) | ValueLayout::Tseries { .. }
            )
    }

    /// Whether the map holds `tseries()` buckets (its kernel key ends with the bucket).
    pub fn is_tseries(&self) -> bool {
        matches!(self.value, ValueLayout::Tseries { .. })
    }

    /// The bytes of the script's key parts ([`UserMap::keys`]), without the bucket number
    /// a `tseries` key ends with.
    pub fn user_key_size(&self) -> u32 {
        self.keys.iter().map(Layout::size).sum()
    }

    /// The offset of the "present" word in an array map's value ([`UserMap::is_array`]).
    pub fn present_offset(&self) -> u32 {
        self.value_size()
    }

    /// The key size in bytes (4 for an array, whose only key is 0).
    pub fn key_size(&self) -> u32 {
        if self.is_array() {
            4
        } else if self.is_tseries() {
            self.user_key_size() + 8
        } else if self.keys.is_empty() {
            8
        } else {
            self.keys.iter().map(Layout::size).sum()
        }
    }

    /// The value size in bytes (one CPU's).
    pub fn value_size(&self) -> u32 {
        match &self.value {
            ValueLayout::Sum => 8,
            ValueLayout::MinMax { .. } => MINMAX_VALUE_SIZE,
            ValueLayout::AvgStats => STATS_VALUE_SIZE,
            ValueLayout::Buckets { n, .. } => n * 8,
            ValueLayout::Tseries { .. } => kscope_lang::output::tseries::SLOT_SIZE,
            ValueLayout::Plain(s) => s.size(),
            ValueLayout::Tuple(l) => l.size(),
        }
    }

    /// The kernel map spec.
    pub fn spec(&self) -> MapSpec {
        let name = format!("ks_{}", sanitize(&self.name));
        if self.is_array() {
            let size = self.present_offset() + 8;
            return MapSpec::new(MapType::PercpuArray, 4, size, 1).with_name(name);
        }
        let t = match self.value {
            ValueLayout::Plain(_) | ValueLayout::Tuple(_) => MapType::Hash,
            _ => MapType::PercpuHash,
        };
        MapSpec::new(t, self.key_size(), self.value_size(), MAP_ENTRIES).with_name(name)
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(11)
        .collect();
    if s.is_empty() { "anon".into() } else { s }
}

/// A record kind sent through the ring buffer, by its id (the index in
/// [`Plan::messages`]).
#[derive(Debug, Clone)]
pub enum Message {
    /// `printf(fmt, args...)`: the arguments follow packed, each [`Scalar::size`] bytes.
    Printf {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
    },
    /// `system(fmt, args...)` (`--unsafe`): the command line is formatted like printf.
    System {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
    },
    /// `errorf(fmt, args...)` / `warnf(...)`: printf's text as an error or warning
    /// message with the call's source location.
    Report {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
        /// `errorf` (else `warnf`).
        error: bool,
        /// The call in the script.
        span: kscope_lang::span::Span,
    },
    /// `cat(fmt, args...)`: the file name is formatted like printf; the file's first
    /// `max_cat_bytes` bytes are printed.
    Cat {
        /// The parsed format.
        format: FormatString,
        /// The argument layouts.
        args: Vec<Scalar>,
    },
    /// `print(value)` of a non-map value.
    PrintValue {
        /// The value's layout.
        layout: Scalar,
    },
    /// `exit()`.
    Exit,
    /// `exit(code)`: the 8-byte exit code follows.
    ExitCode,
    /// `print(value)` of a tuple value.
    PrintTuple {
        /// The tuple's layout.
        layout: Layout,
    },
    /// `join(array[, sep])`: the number of elements read (8 bytes), then [`JOIN_MAX`]
    /// string slots of [`JOIN_SIZE`] bytes, each NUL terminated.
    Join {
        /// The separator.
        sep: String,
    },
    /// `print(@m[, top[, div]])` of user map index `map`.
    Print {
        /// Index in [`Plan::maps`].
        map: usize,
        /// Only the `top` entries with the largest values (0: all).
        top: usize,
        /// Values are divided by `div` (1: as they are).
        div: u64,
    },
    /// `clear(@m)` (`zero == false`) or `zero(@m)`.
    Clear {
        /// Index in [`Plan::maps`].
        map: usize,
        /// Keep the keys and zero the values.
        zero: bool,
    },
    /// `time(fmt)`.
    Time {
        /// The strftime format.
        format: String,
    },
    /// A process took its first user stack or symbol: user space caches its memory map
    /// now, so that its addresses still resolve if it exits before the maps are printed.
    /// The 8-byte pid follows.
    NewPid,
}

/// The maps and messages of a script.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The script's maps, by name order.
    pub maps: Vec<UserMap>,
    /// The output ring buffer.
    pub ringbuf: MapId,
    /// The per-CPU lost-record counter.
    pub loss: MapId,
    /// A one-entry array whose `u32` every probe reads first: non-zero means the run is
    /// over and the probe returns at once. Setting it stops every probe at the cost of
    /// one map update, where detaching waits for the kernel's RCU grace periods; the
    /// detach itself then happens in the background (see `runner`).
    pub stop: MapId,
    /// An all-zero per-CPU array for inserting bucket arrays (when a map with keys has buckets).
    pub zero: Option<(MapId, u32)>,
    /// The stack trace map (when the script uses `kstack`).
    pub stacks: Option<MapId>,
    /// The ring buffer record kinds; lowering appends to it.
    pub messages: Vec<Message>,
    /// Stack trace maps beyond [`Plan::stacks`] (user stacks, limited depths); lowering
    /// adds them through [`Plan::stack_map`].
    pub stack_maps: Vec<StackMap>,
    /// The hash of pids already announced with [`Message::NewPid`] (when the script
    /// stores user stacks or symbols); added through [`Plan::seen_pids`].
    pub seen_pids: Option<MapId>,
    /// A one-entry per-CPU array of [`STACK_DEPTH`] frames that `bpf_get_stack` fills
    /// to count a stack's frames (when the script takes `len()` of a stack); added
    /// through [`Plan::frames_buf`].
    pub frames_buf: Option<MapId>,
    /// The string tables `strerror()` and kin read (added through [`Plan::str_table`]).
    pub str_tables: Vec<(StrTable, MapId)>,
    /// The `strftime()` formats, indexed by [`Scalar::Timestamp`].
    pub timestamp_formats: Vec<String>,
    /// The `cgroup_path()` hierarchy filters, indexed by [`Scalar::CgroupPath`].
    pub cgroup_path_filters: Vec<String>,
    /// The scalar map (`@ts`) whose value `tseries()` takes as the time instead of the
    /// clock, from [`DUMMY_TS_MAP_ENV`](crate::lower::DUMMY_TS_MAP_ENV) as upstream's
    /// runtime tests set it; `None` reads `CLOCK_TAI`.
    pub tseries_clock: Option<String>,
    /// The enums of the program's values (the script's and the kernel's), by
    /// [`Scalar::Enum`].
    pub enums: kscope_lang::cdefs::EnumTable,
    /// The kernel functions (kfuncs) the programs call, by vmlinux BTF id: `--dry-run`
    /// names them in the disassembly.
    pub kfuncs: std::collections::BTreeMap<u32, String>,
}

/// A table of strings indexed by a number, held in an array map that user space fills
/// before the programs load: `strerror()`, `signal_name()`, `syscall_name()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrTable {
    /// Errno texts (`strerror()`).
    Errno,
    /// Signal texts (`signal_name()`).
    Signal,
    /// x86-64 syscall names (`syscall_name()`).
    Syscall,
}

impl StrTable {
    /// The table of the function `name`.
    pub fn of_function(name: &str) -> Option<StrTable> {
        match name {
            "strerror" => Some(StrTable::Errno),
            "signal_name" => Some(StrTable::Signal),
            "syscall_name" => Some(StrTable::Syscall),
            _ => None,
        }
    }

    /// The texts by number (`""`: a hole, read as [`StrTable::unknown`]).
    pub fn texts(self) -> &'static [&'static str] {
        use kscope_lang::kernel_names as k;
        match self {
            StrTable::Errno => k::ERRNO_TEXTS,
            StrTable::Signal => k::SIGNAL_TEXTS,
            StrTable::Syscall => k::SYSCALL_TEXTS,
        }
    }

    /// The text of a number the table does not hold (upstream bpftrace's).
    pub fn unknown(self) -> &'static str {
        match self {
            StrTable::Errno => "Unknown error",
            StrTable::Signal => "N/A",
            StrTable::Syscall => "Unknown syscall",
        }
    }

    /// The map's entries: one per number, then the unknown text (holes hold it too, so
    /// that a lookup needs no second test).
    pub fn entries(self) -> u32 {
        self.texts().len() as u32 + 1
    }

    /// Entry `i`'s [`STR_SIZE`] NUL-padded bytes.
    pub fn entry(self, i: u32) -> Vec<u8> {
        let text = match self.texts().get(i as usize) {
            Some(t) if !t.is_empty() => t,
            _ => self.unknown(),
        };
        let mut v = vec![0u8; STR_SIZE as usize];
        let n = text.len().min(STR_SIZE as usize - 1);
        v[..n].copy_from_slice(&text.as_bytes()[..n]);
        v
    }

    fn map_name(self) -> &'static str {
        match self {
            StrTable::Errno => "ks_errno",
            StrTable::Signal => "ks_signals",
            StrTable::Syscall => "ks_syscalls",
        }
    }
}

/// The map a plan could not lay out: its name and why.
#[derive(Debug, Clone)]
pub struct Unsupported {
    /// The map's name.
    pub map: String,
    /// What is not built yet.
    pub what: String,
}

impl Plan {
    /// Lays out every map of `checked`.
    pub fn new(checked: &Checked) -> Result<Plan, Unsupported> {
        let mut maps = Vec::new();
        let mut zero_size = 0u32;
        for (i, (name, info)) in checked.maps.iter().enumerate() {
            let mut keys = Vec::new();
            for k in &info.keys {
                keys.push(Layout::of(k).ok_or_else(|| Unsupported {
                    map: name.clone(),
                    what: format!("map keys of type {k} are not built yet{}", unstored_hint(k)),
                })?);
            }
            let value = match &info.value {
                Type::Agg(kind, signed) => match kind {
                    AggKind::Count | AggKind::Sum => ValueLayout::Sum,
                    AggKind::Min => ValueLayout::MinMax {
                        max: false,
                        signed: *signed,
                    },
                    AggKind::Max => ValueLayout::MinMax {
                        max: true,
                        signed: *signed,
                    },
                    AggKind::Avg | AggKind::Stats => ValueLayout::AvgStats,
                    AggKind::Hist { bits } => ValueLayout::Buckets {
                        n: hist_buckets(u32::from(*bits)),
                        hist_bits: Some(u32::from(*bits)),
                        lhist: None,
                    },
                    AggKind::Lhist { min, max, step } => ValueLayout::Buckets {
                        n: lhist_buckets(*min, *max, *step),
                        hist_bits: None,
                        lhist: Some((*min, *max, *step)),
                    },
                    AggKind::Tseries {
                        interval_ns,
                        num_intervals,
                        agg,
                    } => ValueLayout::Tseries {
                        interval_ns: *interval_ns,
                        num_intervals: *num_intervals,
                        agg: *agg,
                        signed: *signed,
                    },
                },
                t @ (Type::Tuple(_) | Type::Record(_)) => {
                    ValueLayout::Tuple(Layout::of(t).ok_or_else(|| Unsupported {
                        map: name.clone(),
                        what: format!(
                            "map values of type {t} are not built yet{}",
                            unstored_hint(t)
                        ),
                    })?)
                }
                t => ValueLayout::Plain(Scalar::of(t).ok_or_else(|| Unsupported {
                    map: name.clone(),
                    what: format!(
                        "map values of type {t} are not built yet{}",
                        unstored_hint(t)
                    ),
                })?),
            };
            // Keyed bucket maps insert missing keys from the zero map (arrays need none).
            if let ValueLayout::Buckets { n, .. } = value
                && !keys.is_empty()
            {
                zero_size = zero_size.max(n * 8);
            }
            maps.push(UserMap {
                name: name.clone(),
                info: info.clone(),
                keys,
                value,
                id: MapId(i as u32),
            });
        }
        let n = maps.len() as u32;
        let zero = (zero_size > 0).then_some((MapId(n + 3), zero_size));
        let next = n + 3 + u32::from(zero.is_some());
        let stacks = checked.types.contains(&Type::Kstack).then_some(MapId(next));
        Ok(Plan {
            maps,
            ringbuf: MapId(n),
            loss: MapId(n + 1),
            stop: MapId(n + 2),
            zero,
            stacks,
            messages: Vec::new(),
            stack_maps: Vec::new(),
            seen_pids: None,
            frames_buf: None,
            str_tables: Vec::new(),
            timestamp_formats: checked.timestamp_formats.clone(),
            enums: checked.enums.clone(),
            cgroup_path_filters: checked.cgroup_path_filters.clone(),
            tseries_clock: std::env::var(crate::lower::DUMMY_TS_MAP_ENV)
                .ok()
                .filter(|v| !v.is_empty()),
            kfuncs: std::collections::BTreeMap::new(),
        })
    }

    /// The maps laid out by [`Plan::new`] (ids below this count).
    fn fixed_maps(&self) -> u32 {
        self.maps.len() as u32
            + 3
            + u32::from(self.zero.is_some())
            + u32::from(self.stacks.is_some())
    }

    /// The stack trace map for kernel or `user` stacks of `depth` frames (0: the
    /// default [`STACK_DEPTH`]), of build ids and offsets when `build_id`, added on
    /// first use.
    pub fn stack_map(&mut self, user: bool, depth: u32, build_id: bool) -> MapId {
        let depth = if depth == 0 {
            STACK_DEPTH
        } else {
            depth.min(STACK_DEPTH)
        };
        if !user
            && !build_id
            && depth == STACK_DEPTH
            && let Some(id) = self.stacks
        {
            return id;
        }
        if let Some(m) = self
            .stack_maps
            .iter()
            .find(|m| m.user == user && m.depth == depth && m.build_id == build_id)
        {
            return m.id;
        }
        let id = self.next_lazy_id();
        self.stack_maps.push(StackMap {
            user,
            depth,
            build_id,
            id,
        });
        id
    }

    /// The per-CPU frame buffer (added on first use), see [`Plan::frames_buf`].
    pub fn frames_buf(&mut self) -> MapId {
        if let Some(id) = self.frames_buf {
            return id;
        }
        let id = self.next_lazy_id();
        self.frames_buf = Some(id);
        id
    }

    /// The id the next map added after [`Plan::new`] gets.
    fn next_lazy_id(&self) -> MapId {
        MapId(
            self.fixed_maps()
                + self.stack_maps.len() as u32
                + u32::from(self.seen_pids.is_some())
                + u32::from(self.frames_buf.is_some())
                + self.str_tables.len() as u32,
        )
    }

    /// The hash of announced pids (added on first use).
    pub fn seen_pids(&mut self) -> MapId {
        if let Some(id) = self.seen_pids {
            return id;
        }
        let id = self.next_lazy_id();
        self.seen_pids = Some(id);
        id
    }

    /// The array map holding `table` (added on first use).
    pub fn str_table(&mut self, table: StrTable) -> MapId {
        if let Some((_, id)) = self.str_tables.iter().find(|(t, _)| *t == table) {
            return *id;
        }
        let id = self.next_lazy_id();
        self.str_tables.push((table, id));
        id
    }

    /// Every map spec, indexed by [`MapId`].
    pub fn specs(&self) -> Vec<MapSpec> {
        let mut out: Vec<MapSpec> = self.maps.iter().map(UserMap::spec).collect();
        out.push(MapSpec::ringbuf(RINGBUF_BYTES).with_name("ks_ringbuf"));
        out.push(MapSpec::new(MapType::PercpuArray, 4, 8, 1).with_name("ks_lost"));
        out.push(MapSpec::new(MapType::Array, 4, 4, 1).with_name("ks_stop"));
        if let Some((_, size)) = self.zero {
            out.push(MapSpec::new(MapType::PercpuArray, 4, size, 1).with_name("ks_zero"));
        }
        if self.stacks.is_some() {
            out.push(MapSpec::stack_trace(STACK_DEPTH, MAP_ENTRIES).with_name("ks_stacks"));
        }
        let mut lazy: Vec<(MapId, MapSpec)> =
            self.stack_maps.iter().map(|m| (m.id, m.spec())).collect();
        if let Some(id) = self.frames_buf {
            lazy.push((
                id,
                MapSpec::new(MapType::PercpuArray, 4, STACK_DEPTH * 8, 1).with_name("ks_frames"),
            ));
        }
        if let Some(id) = self.seen_pids {
            lazy.push((
                id,
                MapSpec::new(MapType::Hash, 4, 1, MAP_ENTRIES).with_name("ks_pids"),
            ));
        }
        for &(t, id) in &self.str_tables {
            let spec =
                MapSpec::new(MapType::Array, 4, STR_SIZE, t.entries()).with_name(t.map_name());
            lazy.push((id, spec));
        }
        lazy.sort_by_key(|(id, _)| id.0);
        out.extend(lazy.into_iter().map(|(_, s)| s));
        out
    }

    /// The user map named `name`.
    pub fn map(&self, name: &str) -> Option<(usize, &UserMap)> {
        self.maps.iter().enumerate().find(|(_, m)| m.name == name)
    }
}

#[cfg(test)]
mod stack_word_tests {
    use super::*;

    #[test]
    fn stack_words_round_trip_and_errors_are_no_id() {
        let w = (7u64 & 0xffff_ffff) | StackWord::high_bits(1, 3);
        assert_eq!(
            StackWord::decode(w),
            StackWord {
                id: 7,
                mode: 1,
                limit: 3,
                frames: 0,
            }
        );
        // The frame count lowering ORs in at the top, as `len()` reads it back.
        let counted = w | (3u64 << STACK_FRAMES_SHIFT);
        assert_eq!(StackWord::decode(counted).frames, 3);
        assert_eq!(StackWord::decode(counted).id, 7);
        assert_eq!(StackWord::decode(counted).limit, 3);
        assert_eq!(StackWord::decode(counted).depth(), 3);
        assert_eq!(StackWord::decode(7).depth(), STACK_DEPTH);
        // The largest count, 127 frames, fits the 8 bits.
        let full = 7 | (u64::from(STACK_DEPTH) << STACK_FRAMES_SHIFT);
        assert_eq!(u32::from(StackWord::decode(full).frames), STACK_DEPTH);
        // -EFAULT from bpf_get_stackid, zero-extended from 32 bits, names no stack.
        let err = (-14i64 as u64) & 0xffff_ffff;
        assert!(StackWord::decode(err).id >= MAP_ENTRIES);
        assert_eq!(StackWord::decode(err).mode, 0);
    }
}

#[cfg(test)]
mod str_table_tests {
    use super::*;

    fn text(t: StrTable, i: u32) -> String {
        let e = t.entry(i);
        assert_eq!(e.len(), STR_SIZE as usize);
        String::from_utf8(e.into_iter().take_while(|&c| c != 0).collect()).unwrap()
    }

    #[test]
    fn tables_hold_upstream_texts_and_end_with_the_unknown_text() {
        assert_eq!(text(StrTable::Errno, 0), "Success");
        assert_eq!(text(StrTable::Errno, 2), "No such file or directory");
        assert_eq!(text(StrTable::Errno, 125), "Operation Canceled");
        // 41 is a hole of the errno numbers.
        assert_eq!(text(StrTable::Errno, 41), "Unknown error");
        assert_eq!(
            text(StrTable::Errno, StrTable::Errno.entries() - 1),
            "Unknown error"
        );
        assert_eq!(text(StrTable::Signal, 9), "Killed");
        assert_eq!(text(StrTable::Signal, 33), "Unknown signal 33");
        assert_eq!(text(StrTable::Signal, 64), "Real-time signal 30");
        assert_eq!(StrTable::Signal.entries(), 66);
        assert_eq!(text(StrTable::Signal, 65), "N/A");
        assert_eq!(text(StrTable::Syscall, 0), "read");
        assert_eq!(text(StrTable::Syscall, 231), "exit_group");
        assert_eq!(text(StrTable::Syscall, 400), "Unknown syscall");
        assert_eq!(text(StrTable::Syscall, 512), "rt_sigaction");
    }
}
