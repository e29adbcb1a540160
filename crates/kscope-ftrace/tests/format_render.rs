//! Rendering hand-built records of representative events (format files copied from a
//! Linux 6.18 kernel into `tests/data/format/events/`), each checked against exact text.
//!
//! The expected strings follow the kernel's `vsnprintf` and `trace_print_*_seq` helpers;
//! the events that the live differential test (`format_kernel.rs`) also sees were
//! cross-checked there against the kernel's own output.

use std::path::Path;
use std::sync::Arc;

use kscope_ftrace::format::{
    Dialect, EventFormat, FieldKind, HeaderEvent, HeaderPage, Kallsyms, RenderContext, RenderError,
    Value,
};

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/format")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn event(name: &str) -> EventFormat {
    EventFormat::parse(&data(&format!("events/{name}.format"))).unwrap()
}

const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81100000 T do_sys_openat2
ffffffff81100200 T kmem_cache_alloc_noprof
ffffffff81100400 t process_timeout
ffffffff81100480 T hrtimer_wakeup
ffffffff81100500 T smp_call_function_many_cond
ffffffff81100a00 T flush_tlb_func
ffffffff81100b00 T vfs_write
ffffffff82000000 T _etext
ffffffff83000000 B _end
ffffffffc0100000 t e1000_clean\t[e1000]
ffffffffc0100400 t e1000_xmit\t[e1000]
";

fn enums() -> Vec<(String, i64)> {
    data("enums")
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(' ')?;
            Some((n.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn ctx() -> RenderContext {
    RenderContext::default()
        .with_symbols(Arc::new(Kallsyms::parse(KALLSYMS)))
        .with_enums(enums())
}

fn tracecmd() -> RenderContext {
    ctx().with_dialect(Dialect::TraceCmd)
}

/// Builds a record field by field.
struct Rec<'a> {
    ev: &'a EventFormat,
    buf: Vec<u8>,
}

impl<'a> Rec<'a> {
    fn new(ev: &'a EventFormat) -> Self {
        let size = ev
            .fields
            .iter()
            .map(|f| f.offset + f.size)
            .max()
            .unwrap_or(0);
        let mut r = Rec {
            ev,
            buf: vec![0; size.next_multiple_of(4)],
        };
        r = r.int("common_type", ev.id as i128);
        r.int("common_pid", 4242)
    }

    fn int(mut self, name: &str, v: i128) -> Self {
        let f = self
            .ev
            .field(name)
            .unwrap_or_else(|| panic!("no field {name}"));
        let bytes = (v as u128).to_le_bytes();
        self.buf[f.offset..f.offset + f.size].copy_from_slice(&bytes[..f.size]);
        self
    }

    /// An element of an integer array field.
    fn elem(mut self, name: &str, index: usize, v: u64) -> Self {
        let f = self.ev.field(name).unwrap();
        let FieldKind::Array { elem_size, .. } = f.kind else {
            panic!("{name} is not an array")
        };
        let at = f.offset + index * elem_size;
        self.buf[at..at + elem_size].copy_from_slice(&v.to_le_bytes()[..elem_size]);
        self
    }

    fn bytes(mut self, name: &str, b: &[u8]) -> Self {
        let f = self.ev.field(name).unwrap().clone();
        match f.kind {
            FieldKind::DataLoc { .. } | FieldKind::RelLoc { .. } => {
                let off = self.buf.len();
                self.buf.extend_from_slice(b);
                let rel = matches!(f.kind, FieldKind::RelLoc { .. });
                let off = if rel { off - (f.offset + f.size) } else { off };
                let loc = (off as u32) | ((b.len() as u32) << 16);
                self.buf[f.offset..f.offset + 4].copy_from_slice(&loc.to_le_bytes());
            }
            _ => {
                assert!(b.len() <= f.size, "{name}: {} bytes > {}", b.len(), f.size);
                self.buf[f.offset..f.offset + b.len()].copy_from_slice(b);
            }
        }
        self
    }

    /// A string: NUL-terminated in a `char[N]`, or with its NUL in a dynamic field.
    fn str(self, name: &str, s: &str) -> Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.bytes(name, &b)
    }

    fn render(&self, ctx: &RenderContext) -> String {
        self.ev.render(&self.buf, ctx)
    }
}

#[test]
fn sched_switch_prints_the_task_state_letters() {
    let ev = event("sched-sched_switch");
    let rec = |state: i128| {
        Rec::new(&ev)
            .str("prev_comm", "bash")
            .int("prev_pid", 1234)
            .int("prev_prio", 120)
            .int("prev_state", state)
            .str("next_comm", "swapper/1")
            .int("next_pid", 0)
            .int("next_prio", 120)
            .render(&ctx())
    };
    let line = |s: &str| {
        format!(
            "prev_comm=bash prev_pid=1234 prev_prio=120 prev_state={s} ==> next_comm=swapper/1 next_pid=0 next_prio=120"
        )
    };
    assert_eq!(rec(0), line("R"));
    assert_eq!(rec(1), line("S"));
    assert_eq!(rec(3), line("S|D"));
    assert_eq!(rec(0x80), line("I"));
    assert_eq!(rec(0x100), line("R+"));
    assert_eq!(rec(0x102), line("D+"));
}

#[test]
fn sched_and_irq_events() {
    let ev = event("sched-sched_wakeup");
    let out = Rec::new(&ev)
        .str("comm", "kworker/0:1")
        .int("pid", 42)
        .int("prio", 120)
        .int("target_cpu", 1)
        .render(&ctx());
    assert_eq!(out, "comm=kworker/0:1 pid=42 prio=120 target_cpu=001");

    let ev = event("sched-sched_process_exec");
    let out = Rec::new(&ev)
        .str("filename", "/usr/bin/ls")
        .int("pid", 100)
        .int("old_pid", 100)
        .render(&ctx());
    assert_eq!(out, "filename=/usr/bin/ls pid=100 old_pid=100");

    let ev = event("irq-irq_handler_entry");
    let out = Rec::new(&ev)
        .int("irq", 42)
        .str("name", "virtio3-tx")
        .render(&ctx());
    assert_eq!(out, "irq=42 name=virtio3-tx");

    let ev = event("irq-softirq_entry");
    let vec = |v| Rec::new(&ev).int("vec", v).render(&ctx());
    assert_eq!(vec(7), "vec=7 [action=SCHED]");
    assert_eq!(vec(12), "vec=12 [action=0xc]");
}

#[test]
fn syscall_events() {
    let ev = event("syscalls-sys_enter_openat");
    let out = Rec::new(&ev)
        .int("__syscall_nr", 257)
        .int("dfd", 0xffffff9c)
        .int("filename", 0x7ffd12345678)
        .int("flags", 0x80241)
        .int("mode", 0o666)
        .render(&ctx());
    assert_eq!(
        out,
        "dfd: 0xffffff9c, filename: 0x7ffd12345678, flags: 0x00080241, mode: 0x000001b6"
    );

    let ev = event("syscalls-sys_exit_read");
    let out = Rec::new(&ev).int("ret", -11).render(&ctx());
    assert_eq!(out, "0xfffffffffffffff5");

    // Array indexing: REC->args[i].
    let ev = event("raw_syscalls-sys_enter");
    let out = Rec::new(&ev)
        .int("id", 0)
        .elem("args", 0, 3)
        .elem("args", 1, 0x7ffc0010)
        .elem("args", 2, 0x340)
        .render(&ctx());
    assert_eq!(out, "NR 0 (3, 7ffc0010, 340, 0, 0, 0)");
}

#[test]
fn block_events_need_the_ioprio_enum() {
    let ev = event("block-block_rq_issue");
    let rec = Rec::new(&ev)
        .int("dev", (254 << 20) | 16)
        .int("sector", 2048)
        .int("nr_sector", 8)
        .int("bytes", 4096)
        .int("ioprio", (2 << 13) | (5 << 3) | 4)
        .str("rwbs", "WS")
        .str("comm", "kworker/u8:2")
        .str("cmd", "");
    assert_eq!(
        rec.render(&ctx()),
        "254,16 WS 4096 () 2048 + 8 be,5,4 [kworker/u8:2]"
    );
    // Without the enum values the kernel dialect cannot know `IOPRIO_CLASS_BE`: the event
    // falls back to trace-cmd's field list.
    assert_eq!(
        rec.render(&RenderContext::default()),
        "[FAILED TO PARSE] dev=266338320 sector=2048 nr_sector=8 bytes=4096 ioprio=16428 \
         rwbs=WS comm=kworker/u8:2 cmd="
    );
    assert!(matches!(
        ev.try_render(&rec.buf, &RenderContext::default()),
        Err(RenderError::UnknownIdentifier(name)) if name == "IOPRIO_CLASS_NONE"
    ));
}

#[test]
fn kmalloc_with_gfp_flags_and_a_symbol() {
    let ev = event("kmem-kmalloc");
    let rec = |gfp: i128| {
        Rec::new(&ev)
            .int("call_site", 0xffffffff81100234)
            .int("ptr", 0xffff888100abcd00)
            .int("bytes_req", 100)
            .int("bytes_alloc", 128)
            .int("gfp_flags", gfp)
            .int("node", -1)
    };
    let base = "call_site=kmem_cache_alloc_noprof+0x34/0x200 ptr=ffff888100abcd00 \
                bytes_req=100 bytes_alloc=128";
    assert_eq!(
        rec(0xcc0).render(&ctx()),
        format!("{base} gfp_flags=GFP_KERNEL node=-1 accounted=false")
    );
    assert_eq!(
        rec(0).render(&ctx()),
        format!("{base} gfp_flags=none node=-1 accounted=false")
    );
    assert_eq!(
        rec(0xcc0 | (1 << 22) | (1 << 30)).render(&ctx()),
        format!("{base} gfp_flags=GFP_KERNEL_ACCOUNT|0x40000000 node=-1 accounted=true")
    );
    // trace-cmd: glibc's %p and libtraceevent's %pS (offset only).
    assert_eq!(
        rec(0xcc0).render(&tracecmd()),
        "call_site=kmem_cache_alloc_noprof+0x34 ptr=0xffff888100abcd00 bytes_req=100 \
         bytes_alloc=128 gfp_flags=GFP_KERNEL node=-1 accounted=false"
    );
}

#[test]
fn mm_page_alloc_needs_vmemmap_base_and_falls_back() {
    let ev = event("kmem-mm_page_alloc");
    let rec = Rec::new(&ev)
        .int("pfn", 0x104ab3)
        .int("order", 0)
        .int("gfp_flags", 0xcc0)
        .int("migratetype", 1);
    let expected = "[FAILED TO PARSE] pfn=0x104ab3 order=0 gfp_flags=0xcc0 migratetype=1";
    assert_eq!(rec.render(&ctx()), expected);
    // Even given vmemmap_base, `struct page *` arithmetic needs sizeof(struct page).
    let with_base = ctx().with_enums([("vmemmap_base", 0xffffea0000000000u64 as i64)]);
    assert_eq!(rec.render(&with_base), expected);
    // With pfn == -1 the page is NULL and everything is known.
    let rec = rec.int("pfn", -1);
    assert_eq!(
        rec.render(&ctx()),
        "page=0000000000000000 pfn=0x0 order=0 migratetype=1 gfp_flags=GFP_KERNEL"
    );
}

#[test]
fn rss_stat_and_task_events() {
    let ev = event("kmem-rss_stat");
    let out = Rec::new(&ev)
        .int("mm_id", 5)
        .int("curr", 1)
        .int("member", 1)
        .int("size", 123456)
        .render(&ctx());
    assert_eq!(out, "mm_id=5 curr=1 type=MM_ANONPAGES size=123456B");

    let ev = event("task-task_rename");
    let out = Rec::new(&ev)
        .int("pid", 1234)
        .str("oldcomm", "bash")
        .str("newcomm", "worker")
        .int("oom_score_adj", -1000)
        .render(&ctx());
    assert_eq!(
        out,
        "pid=1234 oldcomm=bash newcomm=worker oom_score_adj=-1000"
    );

    let ev = event("task-task_newtask");
    let out = Rec::new(&ev)
        .int("pid", 77)
        .str("comm", "sh")
        .int("clone_flags", 0x3d0f00)
        .int("oom_score_adj", 0)
        .render(&ctx());
    assert_eq!(out, "pid=77 comm=sh clone_flags=3d0f00 oom_score_adj=0");
}

#[test]
fn cgroup_events_with_dynamic_strings() {
    let ev = event("cgroup-cgroup_mkdir");
    let out = Rec::new(&ev)
        .int("root", 1)
        .int("id", 42)
        .int("level", 2)
        .str("path", "/system.slice/foo.service")
        .render(&ctx());
    assert_eq!(out, "root=1 id=42 level=2 path=/system.slice/foo.service");

    let ev = event("cgroup-cgroup_attach_task");
    let out = Rec::new(&ev)
        .int("dst_root", 1)
        .int("dst_id", 42)
        .int("dst_level", 2)
        .str("dst_path", "/user.slice")
        .int("pid", 1234)
        .str("comm", "bash")
        .render(&ctx());
    assert_eq!(
        out,
        "dst_root=1 dst_id=42 dst_level=2 dst_path=/user.slice pid=1234 comm=bash"
    );
}

#[test]
fn network_addresses() {
    let ev = event("sock-inet_sock_set_state");
    let mapped = |v4: [u8; 4]| {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&v4);
        b
    };
    let out = Rec::new(&ev)
        .int("family", 2)
        .int("protocol", 6)
        .int("sport", 22)
        .int("dport", 50000)
        .bytes("saddr", &[127, 0, 0, 1])
        .bytes("daddr", &[10, 1, 2, 3])
        .bytes("saddr_v6", &mapped([127, 0, 0, 1]))
        .bytes("daddr_v6", &mapped([10, 1, 2, 3]))
        .int("oldstate", 2)
        .int("newstate", 1)
        .render(&ctx());
    assert_eq!(
        out,
        "family=AF_INET protocol=IPPROTO_TCP sport=22 dport=50000 saddr=127.0.0.1 \
         daddr=10.1.2.3 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:10.1.2.3 \
         oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED"
    );

    let ev = event("neigh-neigh_create");
    let v6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4];
    let out = Rec::new(&ev)
        .int("family", 10)
        .str("dev", "eth0")
        .int("entries", 3)
        .int("created", 1)
        .bytes("primary_key4", &[192, 168, 0, 1])
        .bytes("primary_key6", &v6)
        .render(&ctx());
    assert_eq!(
        out,
        "family 10 dev eth0 entries 3 primary_key4 192.168.0.1 primary_key6 fe80::1:2:3:4 \
         created 1 gc_exempt 0"
    );

    let ev = event("bridge-br_mdb_full");
    let grp = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1];
    let out = Rec::new(&ev)
        .str("dev", "br0")
        .int("af", 10)
        .int("vid", 1)
        .bytes("grp", &grp)
        .bytes("grpmac", &[0x33, 0x33, 0xff, 0, 0, 1])
        .render(&ctx());
    assert_eq!(
        out,
        "dev br0 af 10 src :: grp ff02::1:ff00:1/33:33:ff:00:00:01 vid 1"
    );

    let ev = event("fib-fib_table_lookup");
    let out = Rec::new(&ev)
        .int("tb_id", 254)
        .int("iif", 1)
        .int("proto", 6)
        .bytes("src", &[127, 0, 0, 1])
        .bytes("dst", &[127, 0, 0, 1])
        .int("sport", 41234)
        .int("dport", 22)
        .str("name", "lo")
        .render(&ctx());
    assert_eq!(
        out,
        "table 254 oif 0 iif 1 proto 6 127.0.0.1/41234 -> 127.0.0.1/22 tos 0 scope 0 \
         flags 0 ==> dev lo gw 0.0.0.0/:: err 0"
    );
}

#[test]
fn tcp_probe_prints_sockaddrs_with_ports() {
    let ev = event("tcp-tcp_probe");
    let mut sin6 = [0u8; 28];
    sin6[0..2].copy_from_slice(&10u16.to_le_bytes());
    sin6[2..4].copy_from_slice(&8080u16.to_be_bytes());
    sin6[23] = 1; // ::1
    let mut sin = [0u8; 28];
    sin[0..2].copy_from_slice(&2u16.to_le_bytes());
    sin[2..4].copy_from_slice(&443u16.to_be_bytes());
    sin[4..8].copy_from_slice(&[10, 0, 0, 1]);
    let rec = Rec::new(&ev)
        .bytes("saddr", &sin6)
        .bytes("daddr", &sin)
        .int("family", 10)
        .int("mark", 0)
        .int("data_len", 1448)
        .int("snd_nxt", 0x1234)
        .int("snd_una", 0x1000)
        .int("snd_cwnd", 10)
        .int("ssthresh", 0x7fffffff)
        .int("snd_wnd", 65535)
        .int("srtt", 80)
        .int("rcv_wnd", 65483)
        .int("sock_cookie", 0x2a)
        .int("skbaddr", 0)
        .int("skaddr", 0xffff888104d0c000);
    assert_eq!(
        rec.render(&ctx()),
        "family=AF_INET6 src=[::1]:8080 dest=10.0.0.1:443 mark=0x0 data_len=1448 \
         snd_nxt=0x1234 snd_una=0x1000 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65535 \
         srtt=80 rcv_wnd=65483 sock_cookie=2a skbaddr=0000000000000000 skaddr=ffff888104d0c000"
    );
    // glibc prints `%#x` of 0 as `0` and `%p` of NULL as `(nil)`.
    assert_eq!(
        rec.render(&tracecmd()),
        "family=AF_INET6 src=[::1]:8080 dest=10.0.0.1:443 mark=0 data_len=1448 \
         snd_nxt=0x1234 snd_una=0x1000 snd_cwnd=10 ssthresh=2147483647 snd_wnd=65535 \
         srtt=80 rcv_wnd=65483 sock_cookie=2a skbaddr=(nil) skaddr=0xffff888104d0c000"
    );
}

#[test]
fn timers() {
    let ev = event("timer-timer_start");
    let rec = |expires: i128, now: i128, flags: i128| {
        Rec::new(&ev)
            .int("timer", 0xffffc9000007fdf8)
            .int("function", 0xffffffff81100400)
            .int("expires", expires)
            .int("bucket_expiry", expires + 1)
            .int("now", now)
            .int("flags", flags)
            .render(&ctx())
    };
    assert_eq!(
        rec(4295361839, 4295361838, 1 | (48 << 22)),
        "timer=ffffc9000007fdf8 function=process_timeout expires=4295361839 [timeout=1] \
         bucket_expiry=4295361840 cpu=1 idx=48 flags="
    );
    assert_eq!(
        rec(100, 105, 0x40000 | 0x100000),
        "timer=ffffc9000007fdf8 function=process_timeout expires=100 [timeout=-5] \
         bucket_expiry=101 cpu=0 idx=0 flags=M|P"
    );

    let ev = event("timer-hrtimer_start");
    let rec = Rec::new(&ev)
        .int("hrtimer", 0xffffc90007513b60)
        .int("function", 0xffffffff81100480)
        .int("expires", 1878617561690)
        .int("softexpires", 1878617511690)
        .int("mode", 1);
    assert_eq!(
        rec.render(&ctx()),
        "hrtimer=ffffc90007513b60 function=hrtimer_wakeup expires=1878617561690 \
         softexpires=1878617511690 mode=REL was_armed=0"
    );
    // trace-cmd does not know the enum and prints the value.
    assert_eq!(
        rec.render(&RenderContext::default().with_dialect(Dialect::TraceCmd)),
        "hrtimer=0xffffc90007513b60 function=0xffffffff81100480 expires=1878617561690 \
         softexpires=1878617511690 mode=0x1 was_armed=0"
    );

    let ev = event("timer-hrtimer_expire_entry");
    let out = Rec::new(&ev)
        .int("hrtimer", 0xffff88813bd1f9e0)
        .int("now", 1878617561690)
        .int("function", 0xffffffffc0100010)
        .render(&ctx());
    assert_eq!(
        out,
        "hrtimer=ffff88813bd1f9e0 function=e1000_clean [e1000] now=1878617561690"
    );
}

#[test]
fn workqueue_events() {
    let ev = event("workqueue-workqueue_queue_work");
    let out = Rec::new(&ev)
        .int("work", 0xffff888100001000)
        .int("function", 0xffffffff81100b00)
        .str("workqueue", "events")
        .int("req_cpu", 8192)
        .int("cpu", 1)
        .render(&ctx());
    assert_eq!(
        out,
        "work struct=ffff888100001000 function=vfs_write workqueue=events req_cpu=8192 cpu=1"
    );
    let ev = event("workqueue-workqueue_execute_start");
    let out = Rec::new(&ev)
        .int("work", 0xffff888100001000)
        .int("function", 0xffff888000000000) // not a symbol
        .render(&ctx());
    assert_eq!(
        out,
        "work struct ffff888100001000: function 0xffff888000000000"
    );
}

#[test]
fn writeback_flags_from_enums() {
    let ev = event("writeback-writeback_dirty_inode");
    let out = Rec::new(&ev)
        .str("name", "254:0")
        .int("ino", 10010694)
        .int("state", 0x40)
        .int("flags", 0x70)
        .render(&ctx());
    assert_eq!(
        out,
        "bdi 254:0: ino=10010694 state=I_DIRTY_PAGES flags=I_DIRTY_SYNC|I_DIRTY_DATASYNC|I_DIRTY_PAGES"
    );
    // `jiffies` is kernel state no record holds.
    let ev = event("writeback-writeback_single_inode");
    let out = Rec::new(&ev).str("name", "254:0").render(&ctx());
    assert!(
        out.starts_with("[FAILED TO PARSE] name=254:0 ino=0 state=0x0"),
        "{out}"
    );
}

#[test]
fn bitmasks_and_cpumasks() {
    let ev = event("ipi-ipi_send_cpumask");
    let rec = Rec::new(&ev)
        .bytes("cpumask", &[0x03, 0, 0, 0, 0, 0, 0, 0])
        .int("callsite", 0xffffffff811006a4)
        .int("callback", 0xffffffff81100a00);
    assert_eq!(
        rec.render(&ctx()),
        "cpumask=00000000,00000003 callsite=smp_call_function_many_cond+0x1a4/0x500 \
         callback=flush_tlb_func+0x0/0x100"
    );
    assert_eq!(
        rec.render(&tracecmd()),
        "cpumask=0-1 callsite=smp_call_function_many_cond+0x1a4 callback=flush_tlb_func+0x0"
    );
    // trace-cmd's fallback prints a `__data_loc cpumask_t` (no `[]`) as its raw u32.
    let f = ev.render_failed(&rec.buf, &ctx());
    assert!(
        f.starts_with("[FAILED TO PARSE] cpumask=524320 callsite=0xffffffff811006a4"),
        "{f}"
    );

    let ev = event("sched-sched_skip_cpuset_numa");
    let out = Rec::new(&ev)
        .str("comm", "a")
        .int("pid", 1)
        .int("tgid", 1)
        .elem("mem_allowed", 0, 0b1101)
        .elem("mem_allowed", 1, 1 << 1)
        .render(&ctx());
    assert_eq!(out, "comm=a pid=1 tgid=1 ngid=0 mem_nodes_allowed=0,2-3,65");
}

#[test]
fn hex_uuid_arrays_and_statement_expressions() {
    let ev = event("kvm-kvm_emulate_insn");
    let rec = |failed| {
        Rec::new(&ev)
            .int("rip", 0xffffffff81000000)
            .int("len", 3)
            .bytes("insn", &[0x0f, 0x01, 0xd9, 0xcc])
            .int("flags", 9)
            .int("failed", failed)
            .render(&ctx())
    };
    assert_eq!(rec(0), "0:ffffffff81000000:0f 01 d9 (prot64)");
    assert_eq!(rec(1), "0:ffffffff81000000:0f 01 d9 (prot64) failed");

    let ev = event("btrfs-add_delayed_ref_head");
    let fsid: Vec<u8> = (0..16).collect();
    let out = Rec::new(&ev)
        .bytes("fsid", &fsid)
        .int("bytenr", 1)
        .int("num_bytes", 2)
        .int("action", 1)
        .render(&ctx());
    assert_eq!(
        out,
        "00010203-0405-0607-0809-0a0b0c0d0e0f: bytenr=1 num_bytes=2 action=ADD_DELAYED_REF is_data=0"
    );

    // min() as a statement expression, __print_array and __print_flags.
    let ev = event("dma-dma_map_sg");
    let u64s = |v: &[u64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let out = Rec::new(&ev)
        .str("device", "0000:00:04.0")
        .int("full_nents", 200)
        .int("full_ents", 3)
        .int("truncated", 1)
        .bytes("dma_addrs", &u64s(&[0x1000, 0x2000]))
        .bytes(
            "lengths",
            &[4096u32, 512]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
        )
        .bytes("phys_addrs", &u64s(&[0x5000, 0x6000]))
        .int("dir", 1)
        .int("attrs", (1 << 1) | (1 << 5))
        .render(&ctx());
    assert_eq!(
        out,
        "0000:00:04.0 dir=TO_DEVICE nents=128/200 ents=3/3 [TRUNCATED] \
         dma_addrs={0x1000,0x2000} sizes={0x1000,0x200} phys_addrs={0x5000,0x6000} \
         attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
    );
}

#[test]
fn events_that_cannot_be_rendered_fall_back_like_trace_cmd() {
    // A statement expression that writes into the kernel's trace_seq.
    let ev = event("kvmmmu-kvm_mmu_get_page");
    let out = Rec::new(&ev)
        .int("mmu_valid_gen", 1)
        .int("gfn", 4096)
        .int("role", 3)
        .int("created", 1)
        .render(&ctx());
    assert_eq!(
        out,
        "[FAILED TO PARSE] mmu_valid_gen=1 gfn=4096 role=3 root_count=0 unsync=0 created=1"
    );
    // jiffies_to_msecs() needs the kernel's HZ.
    let ev = event("jbd2-jbd2_run_stats");
    let out = Rec::new(&ev).int("dev", (254 << 20) | 1).render(&ctx());
    assert!(
        out.starts_with("[FAILED TO PARSE] dev=266338305 tid=0 wait=0x0"),
        "{out}"
    );

    // A `const char *` into the kernel: known through printk_formats, else a fallback.
    let ev = event("rcu-rcu_utilization");
    let rec = Rec::new(&ev).int("s", 0xffffffff8281a8be);
    let with_strings = ctx().with_printk_formats("0xffffffff8281a8be : \"Start scheduler-tick\"\n");
    assert_eq!(rec.render(&with_strings), "Start scheduler-tick");
    assert_eq!(rec.render(&ctx()), "[FAILED TO PARSE] s=0xffffffff8281a8be");
    assert_eq!(rec.render(&tracecmd()), "ffffffff8281a8be");
}

#[test]
fn ftrace_events_with_flexible_arrays() {
    let ev = event("ftrace-print");
    let out = Rec::new(&ev).int("ip", 0xffffffff81100010).render(&ctx());
    assert_eq!(out, "do_sys_openat2: ");
    let mut rec = Rec::new(&ev).int("ip", 0xffffffff81100010);
    rec.buf.extend_from_slice(b"hello world\n\0\0\0");
    assert_eq!(rec.render(&ctx()), "do_sys_openat2: hello world\n");

    let ev = event("ftrace-kernel_stack");
    let out = Rec::new(&ev)
        .int("size", 2)
        .elem("caller", 0, 0xffffffff81100b10)
        .elem("caller", 1, 0xffffffff81100020)
        .render(&ctx());
    assert_eq!(
        out,
        "\t=> vfs_write\n\t=> do_sys_openat2\n\t=> 0x0\n\t=> 0x0\n\t=> 0x0\n\t=> 0x0\n\t=> 0x0\n\t=> 0x0\n"
    );
}

#[test]
fn casts_and_builtins() {
    let ev = event("mmap-vm_unmapped_area");
    let rec = |addr: i128| {
        Rec::new(&ev)
            .int("addr", addr)
            .int("total_vm", 0x10)
            .int("flags", 1)
            .int("length", 0x1000)
            .int("high_limit", 0x7fff00000000)
            .render(&ctx())
    };
    assert_eq!(
        rec(0x7f0000000000),
        "addr=0x7f0000000000 err=0 total_vm=0x10 flags=0x1 len=0x1000 lo=0x0 hi=0x7fff00000000 \
         mask=0x0 ofs=0x0"
    );
    assert_eq!(
        rec(-12),
        "addr=0x0 err=-12 total_vm=0x10 flags=0x1 len=0x1000 lo=0x0 hi=0x7fff00000000 \
         mask=0x0 ofs=0x0"
    );

    let ev = event("ext4-ext4_da_write_begin");
    let out = Rec::new(&ev)
        .int("dev", (254 << 20) | 1)
        .int("ino", 12)
        .int("pos", 4096)
        .int("len", 512)
        .render(&ctx());
    assert_eq!(out, "dev 254,1 ino 12 pos 4096 len 512");

    let ev = event("xfs-xfs_ail_delete");
    let out = Rec::new(&ev)
        .int("dev", (8 << 20) | 3)
        .int("lip", 0xffff888100002000)
        .int("type", 0x1236)
        .int("flags", 0b1001)
        .int("old_lsn", (5 << 32) | 100)
        .int("new_lsn", (6 << 32) | 7)
        .render(&ctx());
    assert_eq!(
        out,
        "dev 8:3 lip ffff888100002000 old lsn 5/100 new lsn 6/7 type XFS_LI_EFI flags IN_AIL|DIRTY"
    );
}

#[test]
fn rel_loc_fields() {
    let ev = event("sample-foo_rel_loc");
    let mut mask = vec![0u8; 8];
    mask[0] = 0x0f;
    mask[4] = 0x01;
    let rec = Rec::new(&ev)
        .str("foo", "hello")
        .int("bar", 7)
        .bytes("bitmask", &mask)
        .bytes("cpumask", &[0b101, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        rec.render(&ctx()),
        "foo_rel_loc hello, 7, 00000001,0000000f, 00000000,00000005"
    );
    assert_eq!(
        ev.field_value_by_name(&rec.buf, "foo"),
        Some(Value::Str("hello".into()))
    );
    assert_eq!(
        rec.render(&tracecmd()),
        "foo_rel_loc hello, 7, 00000001,0000000f, 0,2"
    );
}

#[test]
fn field_values_are_typed() {
    let ev = event("sched-sched_switch");
    let rec = Rec::new(&ev)
        .str("prev_comm", "bash")
        .int("prev_pid", 1234)
        .int("prev_state", -1);
    let v = |n: &str| ev.field_value_by_name(&rec.buf, n).unwrap();
    assert_eq!(v("prev_comm"), Value::Str("bash".into()));
    assert_eq!(v("prev_pid"), Value::Signed(1234));
    assert_eq!(v("prev_state"), Value::Signed(-1));
    assert_eq!(v("common_type"), Value::Unsigned(ev.id as u64));
    assert_eq!(v("common_pid"), Value::Signed(4242));
    assert_eq!(
        ev.field_value_by_name(&rec.buf[..30], "next_pid"),
        Some(Value::Unavailable)
    );

    let ev = event("dma-dma_map_sg");
    let rec = Rec::new(&ev)
        .str("device", "dev")
        .bytes(
            "dma_addrs",
            &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
        )
        .bytes("lengths", &[5, 0, 0, 0]);
    let v = |n: &str| ev.field_value_by_name(&rec.buf, n).unwrap();
    assert_eq!(v("device"), Value::Str("dev".into()));
    assert_eq!(v("dma_addrs"), Value::UnsignedArray(vec![1, 2]));
    assert_eq!(v("lengths"), Value::UnsignedArray(vec![5]));
    assert_eq!(v("phys_addrs"), Value::UnsignedArray(vec![]));

    let ev = event("bridge-br_mdb_full");
    let rec = Rec::new(&ev).bytes("grpmac", &[1, 2, 3, 4, 5, 6]);
    assert_eq!(
        ev.field_value_by_name(&rec.buf, "grpmac"),
        Some(Value::Bytes(vec![1, 2, 3, 4, 5, 6]))
    );
    let ev = event("ftrace-kernel_stack");
    let rec = Rec::new(&ev).elem("caller", 1, 9);
    assert_eq!(
        ev.field_value_by_name(&rec.buf, "caller"),
        Some(Value::UnsignedArray(vec![0, 9, 0, 0, 0, 0, 0, 0]))
    );
}

#[test]
fn the_fallback_has_trace_cmds_shape() {
    let ev = event("sched-sched_switch");
    let rec = Rec::new(&ev)
        .str("prev_comm", "bash")
        .int("prev_pid", 1234)
        .int("prev_prio", 120)
        .int("prev_state", 1)
        .bytes("next_comm", &[0xff, 0x01, 0]);
    assert_eq!(
        ev.render_fields(&rec.buf, &ctx()),
        " prev_comm=bash prev_pid=1234 prev_prio=120 prev_state=1 \
         next_comm=ARRAY[ff, 01, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00] \
         next_pid=0 next_prio=0"
    );
    let ev = event("task-task_rename");
    let rec = Rec::new(&ev).int("oom_score_adj", 5);
    assert!(
        ev.render_failed(&rec.buf, &ctx())
            .ends_with(" oom_score_adj= 5"),
        "a short prints with %2d"
    );
}

#[test]
fn every_representative_format_parses_with_its_fields_classified() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format/events");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let ev =
            EventFormat::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        assert!(ev.common_fields().count() >= 4, "{}", ev.name);
        // An all-zero record never panics, in either dialect.
        let zeros = vec![0u8; 256];
        let _ = ev.render(&zeros, &ctx());
        let _ = ev.render(&zeros, &tracecmd());
        n += 1;
    }
    assert!(n >= 40, "{n} format files");

    let ev = event("sched-sched_switch");
    let f = ev.field("prev_comm").unwrap();
    assert_eq!(
        (f.type_name.as_str(), f.offset, f.size, f.kind),
        ("char[16]", 8, 16, FieldKind::CharArray { len: 16 })
    );
    assert_eq!(
        ev.field("prev_state").unwrap().kind,
        FieldKind::Int {
            size: 8,
            signed: true
        }
    );
    let ev = event("dma-dma_map_sg");
    assert_eq!(
        ev.field("lengths").unwrap().kind,
        FieldKind::DataLoc {
            string: false,
            elem_size: 4
        }
    );
    assert_eq!(ev.field("device").unwrap().type_name, "__data_loc char[]");
    let ev = event("sample-foo_rel_loc");
    assert_eq!(
        ev.field("foo").unwrap().kind,
        FieldKind::RelLoc {
            string: true,
            elem_size: 1
        }
    );
    let ev = event("skb-consume_skb");
    assert_eq!(ev.field("location").unwrap().kind, FieldKind::Pointer);
    let ev = event("ftrace-kernel_stack");
    assert_eq!(
        ev.field("caller").unwrap().kind,
        FieldKind::Array {
            len: 8,
            elem_size: 8,
            elem_signed: false
        }
    );
}

#[test]
fn header_page_and_header_event() {
    let page = HeaderPage::parse(&data("header_page")).unwrap();
    assert_eq!((page.timestamp.offset, page.timestamp.size), (0, 8));
    assert_eq!((page.commit.offset, page.commit.size), (8, 8));
    assert!(page.commit_is_8_bytes());
    assert_eq!((page.data.offset, page.data.size), (16, 4080));
    assert_eq!(page.overwrite.map(|o| o.size), Some(1));

    let ev = HeaderEvent::parse(&data("header_event")).unwrap();
    assert_eq!(
        ev,
        HeaderEvent {
            type_len_bits: 5,
            time_delta_bits: 27,
            array_bits: 32,
            padding: 29,
            time_extend: 30,
            time_stamp: Some(31),
            data_max_type_len: 28,
        }
    );
}
