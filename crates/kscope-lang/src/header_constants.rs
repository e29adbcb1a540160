//! The integer macros of kernel and libc headers that bpftrace scripts `#include` for
//! their constants (`AF_INET`, `TASK_RUNNING`). bpftrace 0.17 ran such headers through
//! clang; kscope has no headers at run time, and these values are stable ABI, so the
//! ones scripts use come from this table. Struct types never do: they come from BTF.

/// `AF_*` address families (include/linux/socket.h).
const ADDRESS_FAMILIES: &[(&str, u64)] = &[
    ("AF_UNSPEC", 0),
    ("AF_UNIX", 1),
    ("AF_LOCAL", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("AF_NETLINK", 16),
    ("AF_PACKET", 17),
    ("AF_VSOCK", 40),
    ("AF_XDP", 44),
    ("PF_UNSPEC", 0),
    ("PF_UNIX", 1),
    ("PF_LOCAL", 1),
    ("PF_INET", 2),
    ("PF_INET6", 10),
    ("PF_NETLINK", 16),
    ("PF_PACKET", 17),
];

/// Task states of `task_struct.__state` (include/linux/sched.h, unchanged since 4.14).
const TASK_STATES: &[(&str, u64)] = &[
    ("TASK_RUNNING", 0),
    ("TASK_INTERRUPTIBLE", 1),
    ("TASK_UNINTERRUPTIBLE", 2),
    ("__TASK_STOPPED", 4),
    ("__TASK_TRACED", 8),
    ("EXIT_DEAD", 16),
    ("EXIT_ZOMBIE", 32),
];

/// The constants `#include <header>` makes available (empty for other headers).
pub fn constants(header: &str) -> &'static [(&'static str, u64)] {
    match header {
        "linux/socket.h" | "sys/socket.h" | "bits/socket.h" | "net/sock.h" | "linux/net.h"
        | "net/inet_sock.h" | "linux/tcp.h" | "net/tcp.h" => ADDRESS_FAMILIES,
        "linux/sched.h" => TASK_STATES,
        "errno.h"
        | "linux/errno.h"
        | "asm/errno.h"
        | "asm-generic/errno.h"
        | "asm-generic/errno-base.h"
        | "sys/errno.h" => crate::kernel_names::ERRNO_CONSTANTS,
        "signal.h"
        | "linux/signal.h"
        | "asm/signal.h"
        | "sys/signal.h"
        | "bits/signum.h"
        | "bits/signum-generic.h" => crate::kernel_names::SIGNAL_CONSTANTS,
        "syscall.h" | "sys/syscall.h" | "asm/unistd.h" | "asm/unistd_64.h" | "linux/unistd.h" => {
            crate::kernel_names::SYSCALL_CONSTANTS
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::constants;

    #[test]
    fn socket_headers_give_address_families() {
        for h in ["linux/socket.h", "sys/socket.h", "net/sock.h"] {
            let c = constants(h);
            assert!(
                c.contains(&("AF_INET", 2)) && c.contains(&("AF_INET6", 10)),
                "{h}"
            );
        }
        assert!(constants("linux/sched.h").contains(&("TASK_RUNNING", 0)));
        assert!(constants("linux/fs.h").is_empty());
        assert!(constants("errno.h").contains(&("EWOULDBLOCK", 11)));
        assert!(constants("signal.h").contains(&("SIGINT", 2)));
        assert!(constants("sys/syscall.h").contains(&("__NR_getppid", 110)));
        assert!(constants("syscall.h").contains(&("SYS_openat", 257)));
    }
}
