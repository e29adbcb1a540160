/* Workloads for the kernel-enum tests of `kscope run`:
 *
 *   relo N            calls kenums_relo() N times with a struct laid out as the kernel's
 *                     UAPI `struct bpf_core_relo` {1, 2, 3, BPF_CORE_TYPE_ID_LOCAL (6)},
 *                     then once with {4, 5, 6, 42} (42: no enumerator).
 *   sock N            opens an unconnected TCP socket as fd 100, then calls getppid N
 *                     times.
 *   udp PORT N        named "kenums-udp", sends N one-byte UDP datagrams to 127.0.0.1:PORT
 *                     (a closed port: the kernel frees each with reason
 *                     SKB_DROP_REASON_NO_SOCKET), 20 ms apart.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct relo {
    unsigned int insn_off, type_id, access_str_off;
    int kind;
};

__attribute__((noinline)) int kenums_relo(struct relo *r) {
    __asm__ volatile("" ::: "memory");
    return (int)r->kind;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (!strcmp(argv[1], "relo")) {
        int n = atoi(argv[2]);
        struct relo a = {1, 2, 3, 6}, b = {4, 5, 6, 42};
        for (int i = 0; i < n; i++) kenums_relo(&a);
        kenums_relo(&b);
    } else if (!strcmp(argv[1], "sock")) {
        int s = socket(AF_INET, SOCK_STREAM, 0), n = atoi(argv[2]);
        if (s < 0 || dup2(s, 100) != 100) return 1;
        for (int i = 0; i < n; i++) syscall(SYS_getppid);
    } else if (!strcmp(argv[1], "udp") && argc > 3) {
        prctl(PR_SET_NAME, "kenums-udp");
        struct sockaddr_in to = {0};
        to.sin_family = AF_INET;
        to.sin_port = htons(atoi(argv[2]));
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        int s = socket(AF_INET, SOCK_DGRAM, 0), n = atoi(argv[3]);
        if (s < 0) return 1;
        for (int i = 0; i < n; i++) {
            sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
            usleep(20000);
        }
        close(s);
    }
    return 0;
}
