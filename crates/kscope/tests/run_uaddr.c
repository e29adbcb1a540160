/* Globals for the `kscope run` uaddr() tests (tests/run_uaddr.rs), built twice: as a
 * position-dependent executable and as a PIE.
 *
 *   run_uaddr N   calls bump(1) N times (each adds 1 to global_a), then fires the usdt
 *                 probe kscope:done once.
 */
#include <stdlib.h>
#include <sys/sdt.h>

unsigned int global_a = 0x55555555;
unsigned short global_s = 0x1234;
unsigned char global_c = 0x33;
unsigned long global_l = 0x1122334455667788UL;
char global_str[16] = "hello";

__attribute__((noinline)) int bump(int x)
{
    global_a += x;
    return x + 1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    for (int i = 0; i < n; i++)
        bump(1);
    DTRACE_PROBE(kscope, done);
    return 0;
}
