/* Workloads for the BTF tests of `kscope run`: kernel state whose values are known.
 *
 *   thread FACTS N M  a thread named "ksbtf-thread" writes "TID PID PPID" to FACTS, calls
 *                     getppid N times, then sets SCHED_RESET_ON_FORK, makes the process
 *                     a child subreaper and sets TCP_NODELAY on the TCP socket at fd 100,
 *                     and calls getppid M times.
 *   fork FACTS K      forks K children (each exits at once) and writes "PID C1 C2 ..."
 *                     to FACTS.
 *   write FACTS K     writes "kscope-btf" K times to /dev/null opened as fd 101.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

static const char *facts;
static int n_before, n_after;

static void *thread_main(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "ksbtf-thread");
    FILE *f = fopen(facts, "w");
    if (!f) exit(3);
    fprintf(f, "%ld %d %d\n", (long)syscall(SYS_gettid), getpid(), getppid());
    fclose(f);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || dup2(s, 100) != 100) exit(4);
    for (int i = 0; i < n_before; i++) syscall(SYS_getppid);
    struct sched_param p = {0};
    if (sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &p)) exit(5);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1)) exit(6);
    int one = 1;
    if (setsockopt(100, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) exit(7);
    for (int i = 0; i < n_after; i++) syscall(SYS_getppid);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    facts = argv[2];
    if (!strcmp(argv[1], "thread")) {
        if (argc < 5) return 2;
        n_before = atoi(argv[3]);
        n_after = atoi(argv[4]);
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, NULL)) return 3;
        pthread_join(t, NULL);
    } else if (!strcmp(argv[1], "write")) {
        int k = atoi(argv[3]);
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0 || dup2(fd, 101) != 101) return 3;
        for (int i = 0; i < k; i++)
            if (write(101, "kscope-btf", 10) != 10) return 4;
    } else if (!strcmp(argv[1], "fork")) {
        int k = atoi(argv[3]);
        FILE *f = fopen(facts, "w");
        if (!f) return 3;
        fprintf(f, "%d", getpid());
        for (int i = 0; i < k; i++) {
            pid_t c = fork();
            if (c == 0) _exit(0);
            if (c < 0) return 4;
            fprintf(f, " %d", c);
            waitpid(c, NULL, 0);
        }
        fprintf(f, "\n");
        fclose(f);
    }
    return 0;
}
