/* Workloads for the `kscope run` tests: deterministic system calls and user functions. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/mman.h>

__attribute__((noinline)) int kscope_target(int i) {
    __asm__ volatile("" ::: "memory");
    return i * 2;
}

/* One loopback TCP connection of family `af` to `addr` port `port`: listen, connect,
 * accept, close. */
static int tcp_once(int af, const char *addr, int port) {
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, addr, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        len = sizeof *a;
    }
    int one = 1, l = socket(af, SOCK_STREAM, 0), c = socket(af, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 1)) return 1;
    if (connect(c, (struct sockaddr *)&ss, len)) return 1;
    int a = accept(l, NULL, NULL);
    close(c);
    close(a);
    close(l);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[2]);
    if (!strcmp(argv[1], "getppid")) {
        for (int i = 0; i < n; i++) getppid();
    } else if (!strcmp(argv[1], "call")) {
        int s = 0;
        for (int i = 0; i < n; i++) s += kscope_target(i);
        return s == -1;
    } else if (!strcmp(argv[1], "write")) {
        /* write(2) of sizes 0..n-1 to /dev/null, size i written i % 7 + 1 times */
        int fd = open("/dev/null", O_WRONLY);
        static char buf[1 << 16];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i % 7 + 1; k++) write(fd, buf, (size_t)i * 37);
        close(fd);
    } else if (!strcmp(argv[1], "touch")) {
        /* one page fault on each of n fresh anonymous pages */
        volatile char *p = mmap(0, (size_t)n * 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        /* no transparent huge pages: where THP is "always" (Debian's 6.1) a huge page
         * would take 512 of the faults */
        madvise((void *)p, (size_t)n * 4096, MADV_NOHUGEPAGE);
        for (int i = 0; i < n; i++) p[(size_t)i * 4096] = 1;
    } else if (!strcmp(argv[1], "open")) {
        /* openat of n distinct missing paths, path i opened i % 3 + 1 times */
        char path[64];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i % 3 + 1; k++) {
                snprintf(path, sizeof path, "/nonexistent/kscope-%d", i % 5);
                open(path, O_RDONLY);
            }
    } else if (!strcmp(argv[1], "bpf")) {
        /* bpf(1111, attr, 2222): attr's tail past the kernel's union bpf_attr is not
         * zero, so each call fails with -E2BIG (fentry/fexit argument layout tests) */
        static unsigned char attr[4096];
        memset(attr, 0xff, sizeof attr);
        for (int i = 0; i < n; i++) syscall(321, 1111, attr, 2222);
    } else if (!strcmp(argv[1], "tcp") && argc > 3) {
        /* n IPv4 connections to 127.0.0.77:PORT, then n IPv6 ones to [::1]:PORT */
        int port = atoi(argv[3]);
        for (int i = 0; i < n; i++)
            if (tcp_once(AF_INET, "127.0.0.77", port)) return 1;
        for (int i = 0; i < n; i++)
            if (tcp_once(AF_INET6, "::1", port)) return 1;
    }
    return 0;
}
