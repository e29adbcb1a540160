/* Workloads for the `kscope run` tests: deterministic system calls and user functions. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>

__attribute__((noinline)) int kscope_target(int i) {
    __asm__ volatile("" ::: "memory");
    return i * 2;
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
    } else if (!strcmp(argv[1], "open")) {
        /* openat of n distinct missing paths, path i opened i % 3 + 1 times */
        char path[64];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i % 3 + 1; k++) {
                snprintf(path, sizeof path, "/nonexistent/kscope-%d", i % 5);
                open(path, O_RDONLY);
            }
    }
    return 0;
}
