//! User space side of the layouts in [`crate::plan`]: map keys and values into the
//! printer's [`MapData`], ring buffer records into printf text.

use kscope_bpf::Map;
use kscope_lang::output::{
    Cell, Frame, MapData, Primitive, StackMode, ValueKind, combine_avg, combine_buckets,
    combine_min_max, combine_sum, sema_bridge,
};

use crate::plan::{Message, STR_SIZE, Scalar, UserMap, ValueLayout};

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

/// Turns `kstack` ids into symbolised stacks: the stack trace map and the kernel's
/// symbols (read from /proc/kallsyms on first use).
pub struct Stacks<'a> {
    map: Option<&'a Map>,
    ksyms: std::cell::OnceCell<Option<kscope_bpf::ksym::KernelSymbols>>,
}

impl<'a> Stacks<'a> {
    /// Stacks from `map` (the plan's stack trace map, if any).
    pub fn new(map: Option<&'a Map>) -> Stacks<'a> {
        Stacks {
            map,
            ksyms: std::cell::OnceCell::new(),
        }
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

    fn kernel(&self, id: i64) -> Primitive {
        let addrs = match (self.map, u32::try_from(id)) {
            (Some(m), Ok(id)) => kscope_bpf::stack::stack_addresses(m, id)
                .ok()
                .flatten()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let ksyms = self.ksyms();
        let frames: Vec<Frame> = addrs
            .into_iter()
            .map(|addr| Frame {
                addr,
                symbol: ksyms.and_then(|k| {
                    k.resolve(addr).map(|(s, off)| {
                        if off == 0 {
                            s.name.clone()
                        } else {
                            format!("{}+{off}", s.name)
                        }
                    })
                }),
            })
            .collect();
        Primitive::stack(&frames, StackMode::Bpftrace)
    }
}

/// One stored scalar as a printable value.
pub fn scalar(bytes: &[u8], sc: Scalar, stacks: &Stacks<'_>) -> Primitive {
    match sc {
        Scalar::Kstack => stacks.kernel(u64_at(bytes, 0) as i64),
        Scalar::Ksym => stacks.symbol(u64_at(bytes, 0)),
        Scalar::Int { signed: true } => Primitive::Int(u64_at(bytes, 0) as i64),
        Scalar::Int { signed: false } => Primitive::Uint(u64_at(bytes, 0)),
        Scalar::Str => Primitive::from_c_bytes(&bytes[..bytes.len().min(STR_SIZE as usize)]),
    }
}

fn key(bytes: &[u8], m: &UserMap, stacks: &Stacks<'_>) -> Primitive {
    let mut parts = Vec::new();
    let mut off = 0usize;
    for sc in &m.keys {
        let n = sc.size() as usize;
        parts.push(scalar(bytes.get(off..off + n).unwrap_or(&[]), *sc, stacks));
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
    let mut entries = Vec::new();
    for (k, v) in map.entries()? {
        if m.is_array() && !array_present(m, map, &v) {
            continue;
        }
        let cell = match &m.value {
            ValueLayout::Plain(sc) => match sc {
                Scalar::Int { .. } => Cell::Int(u64_at(&v, 0)),
                Scalar::Str | Scalar::Kstack | Scalar::Ksym => Cell::Value(scalar(&v, *sc, stacks)),
            },
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
                    ValueLayout::Plain(_) => unreachable!("handled above"),
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
    let (Message::Printf { format, args } | Message::System { format, args }) = msg else {
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
