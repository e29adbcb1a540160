/* The semaphore-gated probe of tests/run_usdt.c: `kscope:gated` fires only while a
 * tracer has raised its semaphore (the kernel does, given the uprobe's ref_ctr_offset). */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short kscope_gated_semaphore __attribute__((section(".probes")));

/* 1 when the probe was enabled (and fired with argument i), else 0. */
int kscope_gated(int i) {
  if (kscope_gated_semaphore) {
    STAP_PROBE1(kscope, gated, i);
    return 1;
  }
  return 0;
}
