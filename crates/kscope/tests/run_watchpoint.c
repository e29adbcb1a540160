/* The workload of run_watchpoint.rs (built position-dependent, so the addresses are the
   symbol table's): `count N` writes kscope_watched N times, reads it N/2 times and calls
   kscope_hit N/4 times; `spin` writes it every millisecond for up to 10 s. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Initialised, so in .data: exec's clearing of .bss would count as writes. */
volatile long kscope_watched = -1;
volatile long kscope_sink;

__attribute__((noinline)) void kscope_hit(void) { __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "spin")) {
        for (int i = 0; i < 10000; i++) {
            kscope_watched = i;
            usleep(1000);
        }
        return 0;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    for (int i = 0; i < n; i++) kscope_watched = i;
    for (int i = 0; i < n / 2; i++) kscope_sink = kscope_watched;
    for (int i = 0; i < n / 4; i++) kscope_hit();
    return 0;
}
