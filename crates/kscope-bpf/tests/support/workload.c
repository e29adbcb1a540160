/* Test workload for kscope-bpf's kernel tests. Every mode waits for one byte on stdin
 * per batch (so the test can attach first), does its work, then prints "done". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) int kscope_uprobe_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

static void wait_go(void)
{
	char c;
	if (read(0, &c, 1) != 1)
		exit(3);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	if (!strcmp(argv[1], "getppid")) {
		int batches = argc > 3 ? atoi(argv[3]) : 1;
		for (int b = 0; b < batches; b++) {
			wait_go();
			for (long i = 0; i < n; i++)
				syscall(SYS_getppid);
			printf("done\n");
			fflush(stdout);
		}
		return 0;
	}
	if (!strcmp(argv[1], "call")) {
		volatile int acc = 0;
		wait_go();
		for (long i = 0; i < n; i++)
			acc += kscope_uprobe_target((int)i);
		printf("done\n");
		fflush(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "spin")) {
		struct timespec s, t;
		wait_go();
		clock_gettime(CLOCK_MONOTONIC, &s);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - s.tv_sec) * 1000 + (t.tv_nsec - s.tv_nsec) / 1000000 < n);
		printf("done\n");
		fflush(stdout);
		return 0;
	}
	return 2;
}
