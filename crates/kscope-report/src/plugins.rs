//! The event text trace-cmd 3.1.6 prints instead of `print fmt` for some events: its
//! sched_switch, hrtimer and futex plugins (libtraceevent 1.7.1), the function plugin's
//! `kernel_stack` form, the function plugin's
//! indented `function` form, and trace-cmd's own function-graph output. Written
//! from the observed output and the plugins' documented behaviour.

use std::ops::Range;

use kscope_ftrace::format::{EventFormat, Field, RenderContext, Value};

use crate::num::{push_hex, push_u64, push_u64_right};

/// The rewrite trace-cmd applies to an event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Plugin {
    None,
    SchedSwitch,
    SchedWakeup,
    HrtimerStart,
    HrtimerExpireEntry,
    Futex,
    Function,
    KernelStack,
    FuncgraphEntry,
    FuncgraphExit,
}

impl Plugin {
    /// The plugin for event `name` of `system`.
    pub(crate) fn of(system: &str, name: &str) -> Plugin {
        match (system, name) {
            ("sched", "sched_switch") => Plugin::SchedSwitch,
            ("sched", "sched_wakeup" | "sched_wakeup_new") => Plugin::SchedWakeup,
            ("timer", "hrtimer_start") => Plugin::HrtimerStart,
            ("timer", "hrtimer_expire_entry") => Plugin::HrtimerExpireEntry,
            ("syscalls", "sys_enter_futex") => Plugin::Futex,
            ("ftrace", "function") => Plugin::Function,
            ("ftrace", "kernel_stack") => Plugin::KernelStack,
            ("ftrace", "funcgraph_entry") => Plugin::FuncgraphEntry,
            ("ftrace", "funcgraph_exit") => Plugin::FuncgraphExit,
            _ => Plugin::None,
        }
    }
}

/// A field read as libtraceevent's `tep_get_field_val` reads it: unsigned, of the field's
/// size, in the file's byte order.
pub(crate) fn uint(p: &[u8], f: &Field, ctx: &RenderContext) -> Option<u64> {
    let b = p.get(f.offset..f.offset.checked_add(f.size)?)?;
    let be = ctx.big_endian;
    Some(match f.size {
        1 => u64::from(b[0]),
        2 => {
            let a = [b[0], b[1]];
            u64::from(if be {
                u16::from_be_bytes(a)
            } else {
                u16::from_le_bytes(a)
            })
        }
        4 => {
            let a = [b[0], b[1], b[2], b[3]];
            u64::from(if be {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            })
        }
        8 => {
            let a: [u8; 8] = b.try_into().ok()?;
            if be {
                u64::from_be_bytes(a)
            } else {
                u64::from_le_bytes(a)
            }
        }
        _ => return None,
    })
}

fn field_uint(fmt: &EventFormat, p: &[u8], name: &str, ctx: &RenderContext) -> Option<u64> {
    uint(p, fmt.field(name)?, ctx)
}

/// The name of the function containing `addr`, from the file's kallsyms.
fn function_name(ctx: &RenderContext, addr: u64) -> Option<&str> {
    ctx.symbols.as_ref()?.lookup(addr).map(|s| s.name)
}

/// Renders `p` with its plugin into `out`. Returns false when the plugin does not apply
/// (a field is missing), and the caller prints `print fmt` instead, as trace-cmd does;
/// `learned` gets the (pid, byte range of the comm in `out`) the sched plugin learns.
pub(crate) fn render(
    plugin: Plugin,
    fmt: &EventFormat,
    p: &[u8],
    ctx: &RenderContext,
    out: &mut Vec<u8>,
    learned: &mut Option<(i32, Range<usize>)>,
) -> bool {
    use std::io::Write as _;
    let get = |name: &str| fmt.field(name).map(|f| fmt.field_value_with(p, f, ctx));
    let signed = |name: &str| match get(name) {
        Some(Value::Signed(v)) => Some(v),
        Some(Value::Unsigned(v)) => Some(v as i64),
        _ => None,
    };
    let string = |name: &str| match get(name) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    };
    let num = |name: &str| field_uint(fmt, p, name, ctx);
    let func =
        |out: &mut Vec<u8>, addr: u64| match ctx.symbols.as_ref().and_then(|s| s.lookup(addr)) {
            Some(sym) => {
                let _ = write!(out, "{}/0x{:x}", sym.name, sym.start.wrapping_sub(addr));
            }
            None => {
                out.extend_from_slice(b"0x");
                push_hex(out, addr, 8);
            }
        };
    match plugin {
        Plugin::None | Plugin::Function | Plugin::FuncgraphEntry | Plugin::FuncgraphExit => false,
        Plugin::SchedSwitch => {
            let (Some(pc), Some(pp), Some(ppr), Some(st), Some(nc), Some(np), Some(npr)) = (
                string("prev_comm"),
                signed("prev_pid"),
                signed("prev_prio"),
                signed("prev_state"),
                string("next_comm"),
                signed("next_pid"),
                signed("next_prio"),
            ) else {
                return false;
            };
            let _ = write!(out, "{pc}:{pp} [{ppr}] ");
            const STATES: &[u8] = b"SDTtZXxW";
            let mut found = false;
            for (i, c) in STATES.iter().enumerate() {
                if st & (1 << i) != 0 {
                    if found {
                        out.push(b'|');
                    }
                    found = true;
                    out.push(*c);
                }
            }
            if !found {
                out.push(b'R');
            }
            out.extend_from_slice(b" ==> ");
            let at = out.len();
            out.extend_from_slice(nc.as_bytes());
            *learned = Some((np as i32, at..out.len()));
            let _ = write!(out, ":{np} [{npr}]");
            true
        }
        Plugin::SchedWakeup => {
            let (Some(c), Some(pid), Some(prio)) = (string("comm"), signed("pid"), signed("prio"))
            else {
                return false;
            };
            let at = out.len();
            out.extend_from_slice(c.as_bytes());
            *learned = Some((pid as i32, at..out.len()));
            let _ = write!(out, ":{pid} [{prio}]");
            if let Some(s) = signed("success") {
                let _ = write!(out, " success={s}");
            }
            if let Some(t) = signed("target_cpu") {
                let _ = write!(out, " CPU:{t:03}");
            }
            true
        }
        Plugin::HrtimerStart => {
            let (Some(h), Some(f), Some(e), Some(s)) = (
                num("hrtimer"),
                num("function"),
                num("expires"),
                num("softexpires"),
            ) else {
                return false;
            };
            let _ = write!(out, "hrtimer=0x{h:x} function=");
            func(out, f);
            let _ = write!(out, " expires={e} softexpires={s}");
            true
        }
        Plugin::HrtimerExpireEntry => {
            let (Some(h), Some(now), Some(f)) = (num("hrtimer"), num("now"), num("function"))
            else {
                return false;
            };
            let _ = write!(out, "hrtimer=0x{h:x} now={now} function=");
            func(out, f);
            true
        }
        Plugin::Futex => futex(fmt, p, ctx, out),
        Plugin::KernelStack => kernel_stack(fmt, p, ctx, out),
    }
}

/// `FUTEX_*` commands by number (`op & FUTEX_CMD_MASK`): name, then whether `val`,
/// `utime`/`val2`, `uaddr2` and `val3` are shown, and how.
struct FutexOp {
    name: &'static str,
    val: Arg,
    utime: Arg,
    uaddr2: bool,
    val3: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    /// Decimal (`val=`, `val2=`).
    Dec,
    /// Eight-digit hex (`val=0x…`, `utime=0x…`).
    Hex,
}

const fn op(name: &'static str, val: Arg, utime: Arg, uaddr2: bool, val3: bool) -> FutexOp {
    FutexOp {
        name,
        val,
        utime,
        uaddr2,
        val3,
    }
}

// For commands that take a second count, `utime` is printed as `val2` in decimal.
const FUTEX_OPS: [FutexOp; 13] = [
    op("FUTEX_WAIT", Arg::Hex, Arg::Hex, false, false),
    op("FUTEX_WAKE", Arg::Dec, Arg::No, false, false),
    op("FUTEX_FD", Arg::Dec, Arg::No, false, false),
    op("FUTEX_REQUEUE", Arg::Dec, Arg::Dec, true, false),
    op("FUTEX_CMP_REQUEUE", Arg::Dec, Arg::Dec, true, true),
    op("FUTEX_WAKE_OP", Arg::Dec, Arg::Dec, true, true),
    op("FUTEX_LOCK_PI", Arg::No, Arg::Hex, false, false),
    op("FUTEX_UNLOCK_PI", Arg::No, Arg::No, false, false),
    op("FUTEX_TRYLOCK_PI", Arg::No, Arg::No, false, false),
    op("FUTEX_WAIT_BITSET", Arg::Hex, Arg::Hex, false, true),
    op("FUTEX_WAKE_BITSET", Arg::Dec, Arg::No, false, true),
    op("FUTEX_WAIT_REQUEUE_PI", Arg::Hex, Arg::Hex, true, true),
    op("FUTEX_CMP_REQUEUE_PI", Arg::Dec, Arg::Dec, true, true),
];

const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// `op=FUTEX_WAIT|FUTEX_PRIVATE_FLAG uaddr=0x… val=0x… utime=0x…`.
fn futex(fmt: &EventFormat, p: &[u8], ctx: &RenderContext, out: &mut Vec<u8>) -> bool {
    let get = |n: &str| field_uint(fmt, p, n, ctx);
    let (Some(uaddr), Some(opv), Some(val), Some(utime), Some(uaddr2), Some(val3)) = (
        get("uaddr"),
        get("op"),
        get("val"),
        get("utime"),
        get("uaddr2"),
        get("val3"),
    ) else {
        return false;
    };
    let cmd = opv & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let Some(fop) = FUTEX_OPS.get(cmd as usize) else {
        return false;
    };
    out.extend_from_slice(b"op=");
    out.extend_from_slice(fop.name.as_bytes());
    if opv & FUTEX_PRIVATE_FLAG != 0 {
        out.extend_from_slice(b"|FUTEX_PRIVATE_FLAG");
    }
    if opv & FUTEX_CLOCK_REALTIME != 0 {
        out.extend_from_slice(b"|FUTEX_CLOCK_REALTIME");
    }
    let hex = |out: &mut Vec<u8>, label: &[u8], v: u64| {
        out.extend_from_slice(label);
        out.extend_from_slice(b"=0x");
        push_hex(out, v, 8);
    };
    let dec = |out: &mut Vec<u8>, label: &[u8], v: u64| {
        out.extend_from_slice(label);
        out.push(b'=');
        push_u64(out, v);
    };
    hex(out, b" uaddr", uaddr);
    match fop.val {
        Arg::Hex => hex(out, b" val", val),
        Arg::Dec => dec(out, b" val", val),
        Arg::No => {}
    }
    match fop.utime {
        Arg::Hex => hex(out, b" utime", utime),
        Arg::Dec => dec(out, b" val2", utime),
        Arg::No => {}
    }
    if fop.uaddr2 {
        hex(out, b" uaddr2", uaddr2);
    }
    if fop.val3 {
        hex(out, b" val3", val3);
    }
    true
}

/// The function plugin's per-CPU memory of call chains, which indents a `function` event
/// by 3 columns per level of its parent in the chain last seen on that CPU.
#[derive(Debug, Default)]
pub(crate) struct FunctionIndent {
    /// Per CPU: the chain (a slot is overwritten, never cleared, as the plugin does).
    stacks: Vec<Vec<String>>,
}

impl FunctionIndent {
    /// The indent level of `func` called from `parent` on `cpu`, remembering the call.
    fn level(&mut self, cpu: u32, parent: &str, func: Option<&str>) -> usize {
        let cpu = cpu as usize;
        if self.stacks.len() <= cpu {
            self.stacks.resize_with(cpu + 1, Vec::new);
        }
        let stack = &mut self.stacks[cpu];
        let set = |stack: &mut Vec<String>, pos: usize, name: Option<&str>| {
            let Some(name) = name else { return };
            if pos < stack.len() {
                stack[pos] = name.to_string();
            } else {
                stack.push(name.to_string());
            }
        };
        if let Some(i) = stack.iter().position(|s| s == parent) {
            set(stack, i + 1, func);
            return i;
        }
        set(stack, 0, Some(parent));
        set(stack, 1, func);
        0
    }

    /// The function tracer's `function` event as trace-cmd 3.1.6 prints it (its
    /// libtraceevent function plugin, default options): indent, then the function's name
    /// (`0x…` when kallsyms has none); the parent is not printed.
    pub(crate) fn render(
        &mut self,
        out: &mut Vec<u8>,
        ctx: &RenderContext,
        cpu: u32,
        ip: u64,
        parent: u64,
    ) {
        let func = function_name(ctx, ip);
        let level = match function_name(ctx, parent) {
            Some(p) => self.level(cpu, p, func),
            None => 0,
        };
        out.resize(out.len() + level * 3, b' ');
        match func {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            None => {
                out.extend_from_slice(b"0x");
                push_hex(out, ip, 0);
            }
        }
    }
}

/// `kernel_stack`: `<stack trace >` and one `=> func (addr)` line per caller, up to the
/// end of the record or the first -1.
fn kernel_stack(fmt: &EventFormat, p: &[u8], ctx: &RenderContext, out: &mut Vec<u8>) -> bool {
    let Some(field) = fmt.field("caller") else {
        return false;
    };
    out.extend_from_slice(b"<stack trace >\n");
    let long = if ctx.long_size == 4 { 4 } else { 8 };
    let mut at = field.offset;
    while at < p.len() {
        let Some(b) = p.get(at..at + long) else {
            break;
        };
        let addr = match (long, ctx.big_endian) {
            (8, false) => u64::from_le_bytes(b.try_into().unwrap_or_default()),
            (8, true) => u64::from_be_bytes(b.try_into().unwrap_or_default()),
            (_, false) => u64::from(u32::from_le_bytes(b.try_into().unwrap_or_default())),
            (_, true) => u64::from(u32::from_be_bytes(b.try_into().unwrap_or_default())),
        };
        if addr == u64::MAX || addr as u32 == u32::MAX {
            break;
        }
        out.extend_from_slice(b"=> ");
        match function_name(ctx, addr) {
            Some(name) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b" (");
                push_hex(out, addr, 0);
                out.extend_from_slice(b")\n");
            }
            None => {
                push_hex(out, addr, 0);
                out.push(b'\n');
            }
        }
        at += long;
    }
    true
}

/// What the merging thread needs of the events whose text depends on the records around
/// them: `function` (indent from the CPU's earlier calls), `funcgraph_entry` (leaf or
/// nested, depending on the next record) and `funcgraph_exit` (which a leaf swallows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Graph {
    /// None of those (or one missing its fields).
    No,
    /// A `function` event.
    Function { ip: u64, parent: u64 },
    /// An entry: the function and the depth.
    Entry { func: u64, depth: u64 },
    /// A return: the function, the depth and the duration (rettime - calltime).
    Exit {
        func: u64,
        depth: u64,
        duration: u64,
    },
}

/// Reads the function-graph fields of `p`.
pub(crate) fn graph(plugin: Plugin, fmt: &EventFormat, p: &[u8], ctx: &RenderContext) -> Graph {
    let get = |n: &str| field_uint(fmt, p, n, ctx);
    match plugin {
        Plugin::Function => match (get("ip"), get("parent_ip")) {
            (Some(ip), Some(parent)) => Graph::Function { ip, parent },
            _ => Graph::No,
        },
        Plugin::FuncgraphEntry => match (get("func"), get("depth")) {
            (Some(func), Some(depth)) => Graph::Entry { func, depth },
            _ => Graph::No,
        },
        Plugin::FuncgraphExit => match (get("func"), get("depth"), get("calltime"), get("rettime"))
        {
            (Some(func), Some(depth), Some(c), Some(r)) => Graph::Exit {
                func,
                depth,
                duration: r.wrapping_sub(c),
            },
            _ => Graph::No,
        },
        _ => Graph::No,
    }
}

/// The overhead mark of a duration in ns: `$` over 1 s, `#` over 1 ms, `!` over 100 µs,
/// `+` over 10 µs.
fn overhead(out: &mut Vec<u8>, duration: u64) {
    let mark: &[u8] = match duration {
        d if d > 1_000_000_000 => b"$ ",
        d if d > 1_000_000 => b"# ",
        d if d > 100_000 => b"! ",
        d if d > 10_000 => b"+ ",
        _ => b"  ",
    };
    out.extend_from_slice(mark);
}

/// `12.345 us   |  `: microseconds (with three decimals while it fits in 7 digits),
/// padded to 7 columns.
fn duration_column(out: &mut Vec<u8>, duration: u64) {
    let start = out.len();
    push_u64(out, duration / 1000);
    if out.len() - start < 7 {
        out.push(b'.');
        push_u64_right(out, duration % 1000, 3, b'0');
    }
    let len = out.len() - start;
    out.extend_from_slice(b" us ");
    out.resize(out.len() + 7usize.saturating_sub(len), b' ');
    out.extend_from_slice(b"|  ");
}

fn indent(out: &mut Vec<u8>, depth: u64) {
    let n = depth.saturating_mul(2).min(1 << 16) as usize;
    out.resize(out.len() + n, b' ');
}

fn graph_func(out: &mut Vec<u8>, ctx: &RenderContext, func: u64) {
    match function_name(ctx, func) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => push_hex(out, func, 0),
    }
}

/// An entry whose return is the next record: `  0.123 us    |    func();`.
pub(crate) fn graph_leaf(
    out: &mut Vec<u8>,
    ctx: &RenderContext,
    func: u64,
    depth: u64,
    duration: u64,
) {
    overhead(out, duration);
    duration_column(out, duration);
    indent(out, depth);
    graph_func(out, ctx, func);
    out.extend_from_slice(b"();");
}

/// An entry with calls inside: `           |    func() {`.
pub(crate) fn graph_nested(out: &mut Vec<u8>, ctx: &RenderContext, func: u64, depth: u64) {
    out.extend_from_slice(b"  ");
    out.extend_from_slice(b"           |  ");
    indent(out, depth);
    graph_func(out, ctx, func);
    out.extend_from_slice(b"() {");
}

/// A return: `  1.234 us    |    }`.
pub(crate) fn graph_exit(out: &mut Vec<u8>, depth: u64, duration: u64) {
    overhead(out, duration);
    duration_column(out, duration);
    indent(out, depth);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fill_seven_columns() {
        let mut v = Vec::new();
        duration_column(&mut v, 1234);
        assert_eq!(String::from_utf8(v).unwrap(), "1.234 us   |  ");
        let mut v = Vec::new();
        duration_column(&mut v, 123_456_789_000);
        assert_eq!(String::from_utf8(v).unwrap(), "123456789 us |  ");
        let mut v = Vec::new();
        overhead(&mut v, 20_000);
        assert_eq!(v, b"+ ");
    }
}
