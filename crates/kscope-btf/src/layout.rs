//! Type layout: typedef and modifier chains, sizes and alignment, struct and union members
//! (through anonymous members, with bitfields), arrays, enumerators and function
//! prototypes, including the raw tracepoint prototypes `btf_trace_<name>`.

use crate::{Btf, BtfError, Kind};
use std::cell::Cell;
use std::sync::atomic::Ordering;

/// How long a chain of typedefs/modifiers or a nesting of members may be before the BTF
/// is taken to be corrupt (a loop).
const MAX_DEPTH: u32 = 64;
/// How many types one walk (alignment, member search, printing) may visit before the BTF
/// is taken to be corrupt: a crafted blob can nest anonymous members so that a walk would
/// otherwise take exponential time.
pub(crate) const MAX_STEPS: u32 = 100_000;
/// The budget of one walk, counted down.
pub(crate) type Steps = Cell<u32>;

/// Takes one step from the budget; false when it is spent.
pub(crate) fn take(steps: &Steps) -> bool {
    let left = steps.get();
    steps.set(left.saturating_sub(1));
    left > 0
}

/// The size of a pointer: BTF does not record it; the kernels kscope runs on are 64-bit.
pub const POINTER_SIZE: u64 = 8;

/// A member of a struct or union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// Its name (`""` for an anonymous struct or union member).
    pub name: &'a str,
    /// Its type.
    pub type_id: u32,
    /// Bits from the start of the outermost struct it was looked up in.
    pub bit_offset: u64,
    /// Width of a bitfield in bits; 0 for an ordinary member.
    pub bitfield_size: u8,
}

impl Member<'_> {
    /// The byte holding the member's first bit.
    pub fn byte_offset(&self) -> u64 {
        self.bit_offset / 8
    }

    /// Whether it is a bitfield.
    pub fn is_bitfield(&self) -> bool {
        self.bitfield_size != 0
    }
}

/// An array type's element, index type and element count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array {
    /// The element type.
    pub elem: u32,
    /// The index type (an int).
    pub index: u32,
    /// The number of elements (0 for a flexible array member).
    pub count: u32,
}

/// One enumerator of an ENUM or ENUM64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its value, sign-extended when the enum is signed (`kind_flag`).
    pub value: i128,
}

/// A parameter of a function prototype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Its name (`""` when the BTF has none, as in prototypes of function pointers).
    pub name: &'a str,
    /// Its type.
    pub type_id: u32,
}

/// A function prototype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncProto<'a> {
    /// The return type (0: `void`).
    pub ret: u32,
    /// The parameters, without the final `...` of a variadic function.
    pub params: Vec<Param<'a>>,
    /// Whether it ends with `...`.
    pub variadic: bool,
}

/// An integer's encoding (`BTF_KIND_INT`'s trailing word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntEncoding {
    /// Width in bits (may be less than the size for old-style bitfield types).
    pub bits: u8,
    /// Bit offset of the value within its storage (old-style bitfield types).
    pub offset: u8,
    /// `BTF_INT_SIGNED`.
    pub signed: bool,
    /// `BTF_INT_CHAR`.
    pub char: bool,
    /// `BTF_INT_BOOL`.
    pub bool: bool,
}

impl Btf {
    fn chain(&self, id: u32, typedefs: bool) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            let t = self.raw_type(cur)?;
            match t.kind {
                Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {}
                Kind::Typedef if typedefs => {}
                _ => return Ok(cur),
            }
            cur = t.size_or_type;
        }
        Err(BtfError::TooDeep {
            id,
            limit: MAX_DEPTH,
        })
    }

    /// Follows typedefs, `const`, `volatile`, `restrict` and type tags to the underlying
    /// type (which may be `void`, 0).
    pub fn resolve(&self, id: u32) -> Result<u32, BtfError> {
        self.chain(id, true)
    }

    /// Follows `const`, `volatile`, `restrict` and type tags, but stops at a typedef.
    pub fn strip_modifiers(&self, id: u32) -> Result<u32, BtfError> {
        self.chain(id, false)
    }

    fn wrong(&self, id: u32, want: &'static str) -> BtfError {
        match self.kind(id) {
            Ok(found) => BtfError::WrongKind { id, found, want },
            Err(e) => e,
        }
    }

    /// The encoding of an integer type (after resolving typedefs and modifiers).
    pub fn int_encoding(&self, id: u32) -> Result<IntEncoding, BtfError> {
        let id = self.resolve(id)?;
        if self.kind(id)? != Kind::Int {
            return Err(self.wrong(id, "an integer"));
        }
        let w = self.trailing_u32(id, 0)?;
        let enc = (w >> 24) & 0x0f;
        Ok(IntEncoding {
            bits: w as u8,
            offset: (w >> 16) as u8,
            signed: enc & 1 != 0,
            char: enc & 2 != 0,
            bool: enc & 4 != 0,
        })
    }

    /// The size in bytes of a type (pointers are [`POINTER_SIZE`]).
    pub fn size_of(&self, id: u32) -> Result<u64, BtfError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: u32) -> Result<u64, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_DEPTH,
            });
        }
        let rid = self.resolve(id)?;
        let t = self.raw_type(rid)?;
        match t.kind {
            Kind::Int
            | Kind::Enum
            | Kind::Enum64
            | Kind::Struct
            | Kind::Union
            | Kind::Float
            | Kind::Datasec => Ok(t.size_or_type as u64),
            Kind::Ptr => Ok(POINTER_SIZE),
            Kind::Array => {
                let a = self.array(rid)?;
                self.size_of_depth(a.elem, depth + 1)?
                    .checked_mul(a.count as u64)
                    .ok_or_else(|| self.wrong(rid, "an array whose size fits in 64 bits"))
            }
            Kind::Var => self.size_of_depth(t.size_or_type, depth + 1),
            _ => Err(self.wrong(rid, "a type with a size")),
        }
    }

    /// The alignment in bytes of a type, as the compiler laid it out: 1 for a packed
    /// struct (a member off its natural alignment, or a size not a multiple of it).
    pub fn align_of(&self, id: u32) -> Result<u64, BtfError> {
        self.align_of_depth(id, 0, &Cell::new(MAX_STEPS))
    }

    fn align_of_depth(&self, id: u32, depth: u32, steps: &Steps) -> Result<u64, BtfError> {
        if depth > MAX_DEPTH || !take(steps) {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_DEPTH,
            });
        }
        let rid = self.resolve(id)?;
        let t = self.raw_type(rid)?;
        match t.kind {
            Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float => {
                Ok((t.size_or_type as u64).clamp(1, POINTER_SIZE))
            }
            Kind::Ptr => Ok(POINTER_SIZE),
            Kind::Array => self.align_of_depth(self.array(rid)?.elem, depth + 1, steps),
            Kind::Struct | Kind::Union => {
                let mut max = 1;
                for m in self.members(rid)? {
                    if m.is_bitfield() {
                        continue;
                    }
                    let a = self.align_of_depth(m.type_id, depth + 1, steps)?;
                    if m.bit_offset % (a * 8) != 0 {
                        return Ok(1);
                    }
                    max = max.max(a);
                }
                if !(t.size_or_type as u64).is_multiple_of(max) {
                    return Ok(1);
                }
                Ok(max)
            }
            _ => Err(self.wrong(rid, "a type with an alignment")),
        }
    }

    /// The direct members of a struct or union (typedefs and modifiers resolved), with
    /// bit offsets from its start. Bitfields are decoded both ways the BTF can hold them:
    /// in the member's offset word (`kind_flag`), or in the member's int type encoding.
    pub fn members(&self, id: u32) -> Result<Vec<Member<'_>>, BtfError> {
        let rid = self.resolve(id)?;
        let t = self.raw_type(rid)?;
        if !matches!(t.kind, Kind::Struct | Kind::Union) {
            return Err(self.wrong(rid, "a struct or union"));
        }
        let mut out = Vec::with_capacity(t.vlen as usize);
        for i in 0..t.vlen as usize {
            let name = self.string_at(self.trailing_u32(rid, 3 * i)?)?;
            let type_id = self.trailing_u32(rid, 3 * i + 1)?;
            let off = self.trailing_u32(rid, 3 * i + 2)?;
            let (mut bit_offset, mut bitfield_size) = if t.kind_flag {
                ((off & 0x00ff_ffff) as u64, (off >> 24) as u8)
            } else {
                (off as u64, 0)
            };
            if !t.kind_flag
                && let Ok(enc) = self.int_encoding(type_id)
            {
                let size = self.size_of(type_id)?;
                if enc.offset != 0 || (enc.bits as u64) < size * 8 {
                    bit_offset += enc.offset as u64;
                    bitfield_size = enc.bits;
                }
            }
            out.push(Member {
                name,
                type_id,
                bit_offset,
                bitfield_size,
            });
        }
        Ok(out)
    }

    /// The member `name` of a struct or union, looking inside anonymous struct and union
    /// members as C does; its `bit_offset` counts from the start of `id`.
    pub fn find_member(&self, id: u32, name: &str) -> Result<Option<Member<'_>>, BtfError> {
        self.find_member_depth(id, name, 0, 0, &Cell::new(MAX_STEPS))
    }

    fn find_member_depth(
        &self,
        id: u32,
        name: &str,
        base: u64,
        depth: u32,
        steps: &Steps,
    ) -> Result<Option<Member<'_>>, BtfError> {
        if depth > MAX_DEPTH || !take(steps) {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_DEPTH,
            });
        }
        let members = self.members(id)?;
        if let Some(m) = members.iter().find(|m| m.name == name && !name.is_empty()) {
            return Ok(Some(Member {
                bit_offset: base + m.bit_offset,
                ..*m
            }));
        }
        for m in members.iter().filter(|m| m.name.is_empty()) {
            if self.is_aggregate(m.type_id)?
                && let Some(found) =
                    self.find_member_depth(m.type_id, name, base + m.bit_offset, depth + 1, steps)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn is_aggregate(&self, id: u32) -> Result<bool, BtfError> {
        Ok(matches!(
            self.kind(self.resolve(id)?)?,
            Kind::Struct | Kind::Union
        ))
    }

    /// The names that can follow `.` on a struct or union: its named members and those of
    /// its anonymous members, recursively (for suggestions).
    pub fn member_names(&self, id: u32) -> Result<Vec<&str>, BtfError> {
        let mut out = Vec::new();
        self.member_names_into(id, &mut out, 0, &Cell::new(MAX_STEPS))?;
        Ok(out)
    }

    fn member_names_into<'a>(
        &'a self,
        id: u32,
        out: &mut Vec<&'a str>,
        depth: u32,
        steps: &Steps,
    ) -> Result<(), BtfError> {
        if depth > MAX_DEPTH || !take(steps) {
            return Err(BtfError::TooDeep {
                id,
                limit: MAX_DEPTH,
            });
        }
        for m in self.members(id)? {
            if !m.name.is_empty() {
                out.push(m.name);
            } else if self.is_aggregate(m.type_id)? {
                self.member_names_into(m.type_id, out, depth + 1, steps)?;
            }
        }
        Ok(())
    }

    /// An array type's element type, index type and count (typedefs resolved).
    pub fn array(&self, id: u32) -> Result<Array, BtfError> {
        let rid = self.resolve(id)?;
        if self.kind(rid)? != Kind::Array {
            return Err(self.wrong(rid, "an array"));
        }
        Ok(Array {
            elem: self.trailing_u32(rid, 0)?,
            index: self.trailing_u32(rid, 1)?,
            count: self.trailing_u32(rid, 2)?,
        })
    }

    /// The enumerators of an ENUM or ENUM64 (typedefs resolved), in order.
    pub fn enumerators(&self, id: u32) -> Result<Vec<Enumerator<'_>>, BtfError> {
        let rid = self.resolve(id)?;
        let t = self.raw_type(rid)?;
        (0..t.vlen as u32)
            .map(|i| self.enumerator(rid, i))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|v| {
                if matches!(t.kind, Kind::Enum | Kind::Enum64) {
                    Ok(v)
                } else {
                    Err(self.wrong(rid, "an enum"))
                }
            })
    }

    /// Enumerator `i` of enum `id` (already resolved).
    fn enumerator(&self, id: u32, i: u32) -> Result<Enumerator<'_>, BtfError> {
        let t = self.raw_type(id)?;
        let i = i as usize;
        let (name_off, value) = match t.kind {
            Kind::Enum => {
                let v = self.trailing_u32(id, 2 * i + 1)?;
                let value = if t.kind_flag {
                    v as i32 as i128
                } else {
                    v as i128
                };
                (self.trailing_u32(id, 2 * i)?, value)
            }
            Kind::Enum64 => {
                let lo = self.trailing_u32(id, 3 * i + 1)? as u64;
                let hi = self.trailing_u32(id, 3 * i + 2)? as u64;
                let v = (hi << 32) | lo;
                let value = if t.kind_flag {
                    v as i64 as i128
                } else {
                    v as i128
                };
                (self.trailing_u32(id, 3 * i)?, value)
            }
            _ => return Err(self.wrong(id, "an enum")),
        };
        Ok(Enumerator {
            name: self.string_at(name_off)?,
            value,
        })
    }

    /// The enum type and value of the enumerator `name` (such as `TASK_COMM_LEN`), from
    /// any ENUM or ENUM64, lowest type id first. Like [`Btf::find_by_name`], the first
    /// lookups scan and later ones use an index of every enumerator.
    pub fn enum_value(&self, name: &str) -> Option<(u32, i128)> {
        if let Some(base) = self.base()
            && let Some(found) = base.enum_value(name)
        {
            return Some(found);
        }
        if self.inner.enumerators.get().is_none()
            && self.inner.enum_scans.fetch_add(1, Ordering::Relaxed) < crate::SCANS_BEFORE_INDEX
        {
            return self.scan_enum_value(name);
        }
        let index = self.inner.enumerators.get_or_init(|| {
            let ids = self.first_id()..=self.type_count();
            crate::index::EnumIndex::build(ids.flat_map(|id| {
                (0..self.enum_len(id)).filter_map(move |i| {
                    let e = self.enumerator(id, i).ok()?;
                    Some((e.name.as_bytes(), id, i))
                })
            }))
        });
        index.candidates(name.as_bytes()).find_map(|(id, i)| {
            let e = self.enumerator(id, i).ok()?;
            (e.name == name).then_some((id, e.value))
        })
    }

    /// The number of enumerators of `id`, 0 if it is not an enum.
    fn enum_len(&self, id: u32) -> u32 {
        match self.raw_type(id) {
            Ok(t) if matches!(t.kind, Kind::Enum | Kind::Enum64) => t.vlen as u32,
            _ => 0,
        }
    }

    /// [`Btf::enum_value`] over this blob's own types by one scan.
    fn scan_enum_value(&self, name: &str) -> Option<(u32, i128)> {
        let offs = self.string_offsets(name.as_bytes());
        if offs.is_empty() {
            return None;
        }
        for id in self.first_id()..=self.type_count() {
            let n = self.enum_len(id);
            if n == 0 {
                continue;
            }
            let words = if self.kind(id).ok()? == Kind::Enum {
                2
            } else {
                3
            };
            for i in 0..n {
                let off = self.trailing_u32(id, (i * words) as usize).ok()?;
                if offs.binary_search(&off).is_ok() {
                    let e = self.enumerator(id, i).ok()?;
                    return Some((id, e.value));
                }
            }
        }
        None
    }

    /// The prototype of a FUNC, a FUNC_PROTO, or a (typedef of a) pointer to one.
    pub fn func_proto(&self, id: u32) -> Result<FuncProto<'_>, BtfError> {
        let mut cur = self.resolve(id)?;
        for _ in 0..3 {
            match self.kind(cur)? {
                Kind::Func | Kind::Ptr => cur = self.resolve(self.raw_type(cur)?.size_or_type)?,
                _ => break,
            }
        }
        let t = self.raw_type(cur)?;
        if t.kind != Kind::FuncProto {
            return Err(self.wrong(cur, "a function prototype"));
        }
        let mut params = Vec::with_capacity(t.vlen as usize);
        let mut variadic = false;
        for i in 0..t.vlen as usize {
            let name = self.string_at(self.trailing_u32(cur, 2 * i)?)?;
            let type_id = self.trailing_u32(cur, 2 * i + 1)?;
            if type_id == 0 && name.is_empty() && i + 1 == t.vlen as usize {
                variadic = true;
            } else {
                params.push(Param { name, type_id });
            }
        }
        Ok(FuncProto {
            ret: t.size_or_type,
            params,
            variadic,
        })
    }

    /// The prototype of the kernel function `name` (its FUNC), for fentry/fexit `args`;
    /// `None` when BTF has no such function.
    pub fn func_args(&self, name: &str) -> Result<Option<FuncProto<'_>>, BtfError> {
        match self.find_by_name(Kind::Func, name) {
            Some(id) => self.func_proto(id).map(Some),
            None => Ok(None),
        }
    }

    /// The arguments of the raw tracepoint `tp` (such as `sched_switch`): the kernel
    /// declares each as a typedef `btf_trace_<tp>`, a pointer to a prototype whose first
    /// parameter is the BPF context (`void *`); the rest are the tracepoint's arguments.
    /// That prototype has no parameter names, so they come from the function with the same
    /// prototype that the kernel defines per event, `__probestub_<tp>` (Linux ≥ 6.4), or
    /// per event class, `__bpf_trace_<tp>`; without either, names are `""`.
    /// `None` when there is no such typedef.
    pub fn raw_tracepoint_args(&self, tp: &str) -> Result<Option<Vec<Param<'_>>>, BtfError> {
        let Some(id) = self.find_by_name(Kind::Typedef, &format!("btf_trace_{tp}")) else {
            return Ok(None);
        };
        let proto = self.func_proto(id)?;
        let mut params: Vec<Param<'_>> = proto.params.into_iter().skip(1).collect();
        for prefix in ["__probestub_", "__bpf_trace_"] {
            let Some(func) = self.find_by_name(Kind::Func, &format!("{prefix}{tp}")) else {
                continue;
            };
            let named = self.func_proto(func)?;
            let same = named.params.len() == params.len() + 1
                && named.params[1..]
                    .iter()
                    .zip(&params)
                    .all(|(n, p)| n.type_id == p.type_id);
            if same {
                for (p, n) in params.iter_mut().zip(&named.params[1..]) {
                    p.name = n.name;
                }
                break;
            }
        }
        Ok(Some(params))
    }

    /// The type of bpftrace's `curtask`, `struct task_struct` (`curtask` is a pointer to
    /// it); `None` when this BTF has no such struct.
    pub fn curtask(&self) -> Option<u32> {
        self.find_by_name(Kind::Struct, "task_struct")
    }

    /// The names of all raw tracepoints (typedefs `btf_trace_*`), for suggestions.
    pub fn raw_tracepoint_names(&self) -> Vec<&str> {
        let mut out = match self.base() {
            Some(b) => b.raw_tracepoint_names(),
            None => Vec::new(),
        };
        for id in self.first_id()..=self.type_count() {
            if let Ok(t) = self.raw_type(id)
                && t.kind == Kind::Typedef
                && let Ok(name) = self.string_at(t.name_off)
                && let Some(tp) = name.strip_prefix("btf_trace_")
            {
                out.push(tp);
            }
        }
        out
    }
}
