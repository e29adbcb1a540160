/* Workload for kscope-codegen's kernel tests. Each batch waits for one byte on stdin (so
 * the test can attach first), does its work, then prints "done".
 *   getppid N [BATCHES]   N getppid calls per batch
 *   write V1,V2,...       write(100, buf, Vi) to /dev/null, Vi repeated i+1 times
 *   strwrite N            write(100, "msg-<i>", len+1) for i in 0..N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[1 << 20];

static void wait_go(void)
{
	char c;
	if (read(0, &c, 1) != 1)
		exit(3);
}

static void done(void)
{
	printf("done\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	prctl(PR_SET_NAME, "kscope-cg-work");
	int null = open("/dev/null", O_WRONLY);
	if (null < 0 || dup2(null, 100) != 100)
		return 4;
	if (!strcmp(argv[1], "getppid")) {
		long n = atol(argv[2]);
		int batches = argc > 3 ? atoi(argv[3]) : 1;
		for (int b = 0; b < batches; b++) {
			wait_go();
			for (long i = 0; i < n; i++)
				syscall(SYS_getppid);
			done();
		}
		return 0;
	}
	if (!strcmp(argv[1], "write")) {
		wait_go();
		char *s = argv[2];
		for (int i = 0; *s; i++) {
			unsigned long long v = strtoull(s, &s, 10);
			for (int k = 0; k <= i; k++)
				syscall(SYS_write, 100, buf, v);
			if (*s == ',')
				s++;
		}
		done();
		return 0;
	}
	if (!strcmp(argv[1], "strwrite")) {
		long n = atol(argv[2]);
		wait_go();
		for (long i = 0; i < n; i++) {
			char msg[32];
			int len = snprintf(msg, sizeof msg, "msg-%ld", i);
			syscall(SYS_write, 100, msg, len + 1);
		}
		done();
		return 0;
	}
	return 2;
}
