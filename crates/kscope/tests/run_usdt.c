/* USDT sites for the `kscope run` usdt tests (tests/run_usdt.rs); the semaphore-gated
 * probe is in run_usdt_sem.c (a file's probes either all have semaphores or none).
 *
 *   run_usdt N [MS]   waits MS milliseconds (for a tracer to attach by pid), fires every
 *                     probe N times with arguments that depend on i % 2 and i % 3, then
 *                     prints how often the semaphore-gated probe was enabled.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <unistd.h>

/* Read by `-4@kscope_global(%rip)`-style arguments at -O0. */
int32_t kscope_global;

int kscope_gated(int i); /* run_usdt_sem.c */

/* One probe, two sites: `usdt:BIN:kscope:twice` attaches two uprobes. */
__attribute__((noinline)) void kscope_site_a(int i) { DTRACE_PROBE2(kscope, twice, 1, i); }
__attribute__((noinline)) void kscope_site_b(int i) { DTRACE_PROBE2(kscope, twice, 2, i); }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2)
    usleep((useconds_t)atoi(argv[2]) * 1000);
  static const char *words[] = {"alpha", "beta"};
  int gated = 0;
  /* Touch the strings first: a probe cannot fault their page in. */
  const char *volatile first = words[0], *volatile second = words[1];
  size_t letters = strlen(first) + strlen(second);
  for (int i = 0; i < n; i++) {
    int8_t s8 = -(int8_t)(i % 3);           /* 0, -1, -2 */
    uint8_t u8 = (uint8_t)(200 + i % 2);    /* 200, 201 */
    int16_t s16 = (int16_t)(-1000 - i % 2); /* -1000, -1001 */
    uint16_t u16 = (uint16_t)(60000 + i % 2);
    int32_t s32 = -100000 * (1 + i % 2);
    uint64_t u64 = 0x100000000ULL + (uint64_t)(i % 2);
    kscope_global = 7 + i % 2;
    STAP_PROBE6(kscope, ints, s8, u8, s16, u16, s32, u64);
    STAP_PROBE3(kscope, str, i % 2, kscope_global, words[i % 2]);
    STAP_PROBE2(kscope, consts, 42, -7);
    kscope_site_a(i);
    kscope_site_b(i);
    gated += kscope_gated(i);
  }
  printf("gated %d letters %zu\n", gated, letters);
  return 0;
}
