//! User space side of the layouts in [`crate::plan`]: map keys and values into the
//! printer's [`MapData`], ring buffer records into printf text.

use kscope_bpf::Map;
use kscope_lang::output::{
    BuildIdFrame, Cell, Frame, MapData, Primitive, StackMode, ValueKind, combine_avg,
    combine_buckets, combine_min_max, combine_sum, sema_bridge,
};

use crate::plan::{
    ArrayElem, JOIN_MAX, JOIN_SIZE, Layout, Message, Plan, STACK_DEPTH, STACK_MODE_BUILD_ID,
    STACK_MODE_PERF, STACK_MODE_RAW, STR_SIZE, Scalar, StackMap, StackWord, UserMap, ValueLayout,
};
use crate::ustack::{Spelling, UserSymbols};

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

/// Turns `kstack`/`ustack` words into symbolised stacks and `ksym`/`usym` addresses into
/// names: the stack trace maps, the kernel's symbols (read from /proc/kallsyms on first
/// use) and the user symbolizer ([`UserSymbols`], by pid).
pub struct Stacks<'a> {
    map: Option<&'a Map>,
    maps: Vec<(StackMap, &'a Map)>,
    ksyms: std::cell::OnceCell<Option<kscope_bpf::ksym::KernelSymbols>>,
    users: UserSymbols,
    /// The `strftime()` formats.
    timestamps: Vec<String>,
    /// The `cgroup_path()` hierarchy filters.
    cgroup_filters: Vec<String>,
    /// The program's enums (their enumerators name enum values).
    enums: kscope_lang::cdefs::EnumTable,
    /// uid → user name, from /etc/passwd on first use.
    users_by_uid: std::cell::OnceCell<std::collections::HashMap<u64, String>>,
    /// Unix time minus boot time, in nanoseconds, when the run started (upstream's
    /// conversion of `nsecs` to wall-clock time).
    boot_to_unix_ns: i128,
}

impl<'a> Stacks<'a> {
    /// Stacks from `map` (the plan's default kernel stack trace map, if any).
    pub fn new(map: Option<&'a Map>) -> Stacks<'a> {
        Stacks {
            map,
            maps: Vec::new(),
            ksyms: std::cell::OnceCell::new(),
            users: UserSymbols::new(),
            timestamps: Vec::new(),
            cgroup_filters: Vec::new(),
            enums: Default::default(),
            users_by_uid: std::cell::OnceCell::new(),
            boot_to_unix_ns: 0,
        }
    }

    /// Stacks from every stack trace map of `plan` (`maps` indexed by map id).
    pub fn for_plan(plan: &Plan, maps: &'a [Map]) -> Stacks<'a> {
        let mut s = Stacks::new(plan.stacks.and_then(|m| maps.get(m.0 as usize)));
        s.maps = plan
            .stack_maps
            .iter()
            .filter_map(|m| Some((*m, maps.get(m.id.0 as usize)?)))
            .collect();
        s.cgroup_filters = plan.cgroup_path_filters.clone();
        s.enums = plan.enums.clone();
        if !plan.timestamp_formats.is_empty() {
            s.timestamps = plan.timestamp_formats.clone();
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128);
            s.boot_to_unix_ns = unix - i128::from(kscope_sys::process::boottime_ns());
        }
        s
    }

    /// A value of enum `id`: the name of its enumerator (compared in the enum's C
    /// size), else the number, as upstream prints it.
    fn enum_value(&self, v: u64, id: u32) -> Primitive {
        let name = self
            .enums
            .get(id)
            .and_then(|e| e.variant_name(v, e.size() * 8));
        Primitive::enum_value(name, v)
    }

    /// `username`'s text: the first /etc/passwd entry with uid `uid` (empty when there
    /// is none, as upstream prints).
    fn username(&self, uid: u64) -> Primitive {
        let names = self.users_by_uid.get_or_init(|| {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let mut m = std::collections::HashMap::new();
            for line in passwd.lines() {
                let f: Vec<&str> = line.split(':').collect();
                if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|u| u.parse())) {
                    m.entry(id).or_insert_with(|| name.to_string());
                }
            }
            m
        });
        Primitive::Str(names.get(&uid).cloned().unwrap_or_default())
    }

    /// `cgroup_path()`'s text: `NAME:PATH` of every mounted hierarchy the filter numbered
    /// `filter` matches that holds cgroup `id` (cgroup2 first, as `unified`), joined by
    /// commas.
    fn cgroup_path(&self, id: u64, filter: u32) -> Primitive {
        let filter = self
            .cgroup_filters
            .get(filter as usize)
            .map_or("*", String::as_str);
        Primitive::Str(crate::cgroup::paths_text(id, filter))
    }

    /// `strftime()`'s text: `boot_ns` (nanoseconds since boot) as local time in the
    /// format numbered `format`.
    fn timestamp(&self, boot_ns: u64, format: u32) -> Primitive {
        let fmt = self
            .timestamps
            .get(format as usize)
            .map_or("", String::as_str);
        let unix = self.boot_to_unix_ns + i128::from(boot_ns);
        Primitive::Str(kscope_lang::output::time::strftime_local(fmt, unix))
    }

    /// The user symbolizer (to [`UserSymbols::remember`] processes early).
    pub fn users(&self) -> &UserSymbols {
        &self.users
    }

    fn ksyms(&self) -> Option<&kscope_bpf::ksym::KernelSymbols> {
        self.ksyms
            .get_or_init(|| kscope_bpf::ksym::KernelSymbols::load().ok())
            .as_ref()
    }

    /// `ksym(addr)`: the name of the kernel symbol containing `addr` (no offset).
    fn symbol(&self, addr: u64) -> Primitive {
        let name = self
            .ksyms()
            .and_then(|k| k.resolve(addr))
            .map(|(s, _)| s.name.clone());
        Primitive::symbol(name.as_deref(), addr)
    }

    /// `usym(addr)` of process `pid`: the symbol's name, or `0x<hex>`.
    fn user_symbol(&self, addr: u64, pid: u32) -> Primitive {
        let name = self
            .users
            .resolve(pid, &[addr], Spelling::Name)
            .pop()
            .flatten();
        Primitive::symbol(name.as_deref(), addr)
    }

    /// The stack trace map of a word's kind, depth and (user stacks) build ids.
    fn map_of(&self, user: bool, w: StackWord) -> Option<&'a Map> {
        let depth = w.depth();
        let build_id = user && w.mode == STACK_MODE_BUILD_ID;
        if !user && depth == STACK_DEPTH && self.map.is_some() {
            return self.map;
        }
        self.maps
            .iter()
            .find(|(m, _)| m.user == user && m.depth == depth && m.build_id == build_id)
            .map(|(_, m)| *m)
    }

    /// The addresses of the stack a word names, from the map of its kind and depth.
    fn addresses(&self, user: bool, w: StackWord) -> Vec<u64> {
        match self.map_of(user, w) {
            Some(m) => kscope_bpf::stack::stack_addresses(m, w.id)
                .ok()
                .flatten()
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    fn kernel(&self, word: u64) -> Primitive {
        let w = StackWord::decode(word);
        let addrs = self.addresses(false, w);
        let ksyms = self.ksyms();
        let frames: Vec<Frame> = addrs
            .into_iter()
            .map(|addr| Frame {
                addr,
                symbol: ksyms
                    .and_then(|k| k.resolve(addr).map(|(s, off)| format!("{}+{off}", s.name))),
            })
            .collect();
        Primitive::stack(&frames, stack_mode(w.mode))
    }

    fn user(&self, word: u64, pid: u32) -> Primitive {
        let w = StackWord::decode(word);
        if w.mode == STACK_MODE_BUILD_ID {
            return Primitive::build_id_stack(&self.build_ids(w));
        }
        let addrs = self.addresses(true, w);
        let mode = stack_mode(w.mode);
        let spelling = match mode {
            StackMode::Perf => Spelling::PerfFrame,
            _ => Spelling::Frame,
        };
        let names = match mode {
            StackMode::Raw => vec![None; addrs.len()],
            _ => self.users.resolve(pid, &addrs, spelling),
        };
        let frames: Vec<Frame> = addrs
            .into_iter()
            .zip(names)
            .map(|(addr, symbol)| Frame {
                addr,
                symbol: match (symbol, mode) {
                    (None, StackMode::Perf) => Some(format!("0x{addr:x} ([unknown])")),
                    (s, _) => s,
                },
            })
            .collect();
        Primitive::stack(&frames, mode)
    }

    /// The frames of a `ustack(build_id)` word, from its `BPF_F_STACK_BUILD_ID` map.
    fn build_ids(&self, w: StackWord) -> Vec<BuildIdFrame> {
        use kscope_bpf::stack::{BUILD_ID_VALID, stack_build_ids};
        let Some(map) = self.map_of(true, w) else {
            return Vec::new();
        };
        stack_build_ids(map, w.id)
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .map(|f| match f.status {
                BUILD_ID_VALID => BuildIdFrame::Valid {
                    build_id: f.build_id,
                    offset: f.offset_or_ip,
                },
                _ => BuildIdFrame::Ip(f.offset_or_ip),
            })
            .collect()
    }
}

fn stack_mode(m: u8) -> StackMode {
    match m {
        STACK_MODE_PERF => StackMode::Perf,
        STACK_MODE_RAW => StackMode::Raw,
        _ => StackMode::Bpftrace,
    }
}

/// One stored scalar as a printable value.
pub fn scalar(bytes: &[u8], sc: Scalar, stacks: &Stacks<'_>) -> Primitive {
    match sc {
        Scalar::Kstack => stacks.kernel(u64_at(bytes, 0)),
        Scalar::Ksym => stacks.symbol(u64_at(bytes, 0)),
        Scalar::Ustack => stacks.user(u64_at(bytes, 0), u64_at(bytes, 8) as u32),
        Scalar::Usym => stacks.user_symbol(u64_at(bytes, 0), u64_at(bytes, 8) as u32),
        Scalar::Int { signed: true } => Primitive::Int(u64_at(bytes, 0) as i64),
        Scalar::Int { signed: false } => Primitive::Uint(u64_at(bytes, 0)),
        Scalar::Bool => Primitive::Bool(u64_at(bytes, 0) != 0),
        Scalar::Ptr => Primitive::pointer(u64_at(bytes, 0)),
        Scalar::Timestamp(f) => stacks.timestamp(u64_at(bytes, 0), f),
        Scalar::CgroupPath(f) => stacks.cgroup_path(u64_at(bytes, 0), f),
        Scalar::Username => stacks.username(u64_at(bytes, 0)),
        Scalar::Enum(id) => stacks.enum_value(u64_at(bytes, 0), id),
        Scalar::Str => Primitive::from_c_bytes(&bytes[..bytes.len().min(STR_SIZE as usize)]),
        Scalar::Inet => Primitive::Str(inet_text(bytes)),
        Scalar::Buf => {
            let n = (u64_at(bytes, 0) as usize).min(kscope_lang::sema::BUF_MAX as usize);
            Primitive::Buffer(bytes.get(8..8 + n).unwrap_or(&[]).to_vec())
        }
        Scalar::Array { elem, dims } => array_value(bytes, elem, dims.lens()),
    }
}

/// An array's elements (little-endian, in C's order) as upstream prints them:
/// `[1,2,3,4]`, `[[5,6],[7,8]]`, `[true,false]`; `lens` are its dimensions, outermost
/// first.
fn array_value(bytes: &[u8], elem: ArrayElem, lens: &[u8]) -> Primitive {
    let Some((&n, inner)) = lens.split_first() else {
        return array_elem(bytes, elem);
    };
    let stride = elem.size() as usize * inner.iter().map(|&l| usize::from(l)).product::<usize>();
    let items = (0..usize::from(n))
        .map(|i| array_value(bytes.get(i * stride..).unwrap_or(&[]), elem, inner))
        .collect();
    Primitive::Array(items)
}

/// One innermost element of an array, at the start of `bytes` (0 past their end).
fn array_elem(bytes: &[u8], elem: ArrayElem) -> Primitive {
    let size = (elem.size() as usize).clamp(1, 8);
    let mut w = [0u8; 8];
    let have = bytes.len().min(size);
    w[..have].copy_from_slice(&bytes[..have]);
    let v = u64::from_le_bytes(w);
    match elem {
        ArrayElem::Int { signed: true, .. } => {
            let shift = 64 - 8 * size as u32;
            Primitive::Int(((v << shift) as i64) >> shift)
        }
        ArrayElem::Int { signed: false, .. } => Primitive::Uint(v),
        ArrayElem::Bool => Primitive::Bool(v != 0),
        ArrayElem::Ptr => Primitive::pointer(v),
    }
}

/// The text of an `ntop()` value: dotted quad for `AF_INET`, RFC 5952 form for
/// `AF_INET6` (as inet_ntop(3)), empty for another family (as upstream).
pub fn inet_text(bytes: &[u8]) -> String {
    const AF_INET: u64 = 2;
    const AF_INET6: u64 = 10;
    let addr = bytes.get(8..24).unwrap_or(&[]);
    match u64_at(bytes, 0) {
        AF_INET => <[u8; 4]>::try_from(addr.get(..4).unwrap_or(&[]))
            .map(|a| std::net::Ipv4Addr::from(a).to_string())
            .unwrap_or_default(),
        AF_INET6 => <[u8; 16]>::try_from(addr)
            .map(|a| std::net::Ipv6Addr::from(a).to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A stored value of layout `l` (a tuple or record decodes element by element).
pub fn layout_value(bytes: &[u8], l: &Layout, stacks: &Stacks<'_>) -> Primitive {
    match l {
        Layout::Scalar(sc) => scalar(bytes, *sc, stacks),
        Layout::Tuple(items) => {
            let mut off = 0usize;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                let n = it.size() as usize;
                out.push(layout_value(
                    bytes.get(off..off + n).unwrap_or(&[]),
                    it,
                    stacks,
                ));
                off += n;
            }
            Primitive::Tuple(out)
        }
        Layout::Record(fields) => {
            let mut off = 0usize;
            let mut out = Vec::with_capacity(fields.len());
            for (name, it) in fields {
                let n = it.size() as usize;
                let v = layout_value(bytes.get(off..off + n).unwrap_or(&[]), it, stacks);
                out.push((name.clone(), v));
                off += n;
            }
            Primitive::Record(out)
        }
    }
}

/// The text of a `join()` record (`rec` after its 8-byte id): the element count, then
/// [`JOIN_MAX`] slots of [`JOIN_SIZE`] bytes, joined with `sep`.
pub fn join_text(rec: &[u8], sep: &str) -> String {
    let n = (u64_at(rec, 0) as usize).min(JOIN_MAX as usize);
    let size = JOIN_SIZE as usize;
    (0..n)
        .map(|i| {
            let at = 8 + i * size;
            match Primitive::from_c_bytes(rec.get(at..at + size).unwrap_or(&[])) {
                Primitive::Str(s) => s,
                _ => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

fn key(bytes: &[u8], m: &UserMap, stacks: &Stacks<'_>) -> Primitive {
    let mut parts = Vec::new();
    let mut off = 0usize;
    for l in &m.keys {
        let n = l.size() as usize;
        parts.push(layout_value(
            bytes.get(off..off + n).unwrap_or(&[]),
            l,
            stacks,
        ));
        off += n;
    }
    match parts.len() {
        0 => Primitive::None,
        1 => parts.remove(0),
        _ => Primitive::Tuple(parts),
    }
}

/// Reads map `m` (whose kernel map is `map`) into printable form.
pub fn read_map(
    m: &UserMap,
    map: &Map,
    stacks: &Stacks<'_>,
) -> Result<MapData, kscope_bpf::BpfError> {
    if let ValueLayout::Tseries { agg, signed, .. } = m.value {
        return read_tseries(m, map, stacks, agg, signed);
    }
    let mut entries = Vec::new();
    for (k, v) in map.entries()? {
        if m.is_array() && !array_present(m, map, &v) {
            continue;
        }
        let cell = match &m.value {
            ValueLayout::Plain(sc) => match sc {
                Scalar::Int { .. } => Cell::Int(u64_at(&v, 0)),
                Scalar::Str
                | Scalar::Bool
                | Scalar::Ptr
                | Scalar::Inet
                | Scalar::Buf
                | Scalar::Array { .. }
                | Scalar::Timestamp(_)
                | Scalar::CgroupPath(_)
                | Scalar::Username
                | Scalar::Enum(_)
                | Scalar::Kstack
                | Scalar::Ksym
                | Scalar::Ustack
                | Scalar::Usym => Cell::Value(scalar(&v, *sc, stacks)),
            },
            ValueLayout::Tuple(l) => Cell::Value(layout_value(&v, l, stacks)),
            layout => {
                let cpus = map.split_percpu(&v);
                match layout {
                    ValueLayout::Sum => {
                        combine_sum(&cpus.iter().map(|c| u64_at(c, 0)).collect::<Vec<_>>())
                    }
                    ValueLayout::MinMax { max, signed } => combine_min_max(
                        &cpus
                            .iter()
                            .map(|c| (u64_at(c, 0), u64_at(c, 8)))
                            .collect::<Vec<_>>(),
                        *max,
                        *signed,
                    ),
                    // The BPF value is {count, sum}; the printer takes (total, count).
                    ValueLayout::AvgStats => combine_avg(
                        &cpus
                            .iter()
                            .map(|c| (u64_at(c, 8), u64_at(c, 0)))
                            .collect::<Vec<_>>(),
                    ),
                    ValueLayout::Buckets { n, .. } => combine_buckets(
                        &cpus
                            .iter()
                            .map(|c| (0..*n as usize).map(|i| u64_at(c, i * 8)).collect())
                            .collect::<Vec<_>>(),
                    ),
                    ValueLayout::Plain(_) | ValueLayout::Tuple(_) | ValueLayout::Tseries { .. } => {
                        unreachable!("handled above")
                    }
                }
            }
        };
        entries.push((key(&k, m, stacks), cell));
    }
    let mut info = sema_bridge::map_info(&m.name, &m.info);
    if let (ValueLayout::Plain(Scalar::Int { signed }), ValueKind::Other { .. }) =
        (&m.value, &info.value)
    {
        info.value = ValueKind::Int { signed: *signed };
    }
    Ok(MapData { info, entries })
}

/// Reads a `tseries` map: its entries (key, bucket) grouped by key, each bucket's CPUs
/// reduced to `(epoch, value)`; keys in the order of their bytes (as upstream's
/// `std::map` of keys prints them).
fn read_tseries(
    m: &UserMap,
    map: &Map,
    stacks: &Stacks<'_>,
    agg: kscope_lang::sema::TseriesAgg,
    signed: bool,
) -> Result<MapData, kscope_bpf::BpfError> {
    use kscope_lang::output::tseries::{self, Slot};
    let prefix = m.user_key_size() as usize;
    let mut by_key: std::collections::BTreeMap<Vec<u8>, Vec<(u64, u64)>> = Default::default();
    for (k, v) in map.entries()? {
        let cpus: Vec<Slot> = map
            .split_percpu(&v)
            .iter()
            .map(|c| Slot::from_bytes(c))
            .collect();
        let reduced = tseries::reduce(&cpus, agg, signed);
        let buckets = by_key
            .entry(k.get(..prefix).unwrap_or(&k).to_vec())
            .or_default();
        // One bucket per epoch: the first read is kept (upstream's `emplace`).
        if !buckets.iter().any(|b| b.0 == reduced.0) {
            buckets.push(reduced);
        }
    }
    let entries = by_key
        .into_iter()
        .map(|(k, b)| (key(&k, m, stacks), Cell::Tseries(b)))
        .collect();
    Ok(MapData {
        info: sema_bridge::map_info(&m.name, &m.info),
        entries,
    })
}

/// Whether any CPU's copy of an array map's value ([`UserMap::is_array`]) has its
/// "present" word set: the entry was written since the start or the last `clear()`.
fn array_present(m: &UserMap, map: &Map, value: &[u8]) -> bool {
    let off = m.present_offset() as usize;
    map.split_percpu(value).iter().any(|c| u64_at(c, off) != 0)
}

/// `clear(@m)` (`zero == false`: the entries go) or `zero(@m)` (they stay, holding 0)
/// from user space. A per-CPU array's entry cannot be deleted: `clear` zeroes every
/// CPU's copy including the "present" word, `zero` keeps the word of a present entry.
pub fn clear_map(m: &UserMap, map: &Map, zero: bool) -> Result<(), kscope_bpf::BpfError> {
    if !m.is_array() {
        // A key another CPU deletes meanwhile is no error.
        for k in map.keys()? {
            if zero {
                let z = vec![0u8; map.value_len()];
                let _ = map.update(&k, &z, kscope_bpf::UpdateFlags::Exist);
            } else {
                let _ = map.delete(&k);
            }
        }
        return Ok(());
    }
    let key = 0u32.to_ne_bytes();
    let mut value = vec![0u8; map.value_len()];
    let present = zero && map.lookup(&key)?.is_some_and(|v| array_present(m, map, &v));
    if present {
        // The first CPU's copy carries the word; the sum over CPUs is what prints.
        let off = m.present_offset() as usize;
        value[off..off + 8].copy_from_slice(&1u64.to_ne_bytes());
    }
    map.update(&key, &value, kscope_bpf::UpdateFlags::Any)
}

/// The text of a printf or system record (`rec` after its 8-byte id).
pub fn printf_text(msg: &Message, rec: &[u8], stacks: &Stacks<'_>) -> Option<String> {
    let (Message::Printf { format, args }
    | Message::System { format, args }
    | Message::Cat { format, args }
    | Message::Report { format, args, .. }) = msg
    else {
        return None;
    };
    let mut off = 0usize;
    let mut values = Vec::with_capacity(args.len());
    for sc in args {
        let n = sc.size() as usize;
        values.push(scalar(rec.get(off..off + n).unwrap_or(&[]), *sc, stacks));
        off += n;
    }
    Some(format.format(&values))
}
