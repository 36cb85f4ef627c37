/*
 * Clocks and the thread's current runtime: the bottom layer, everything may call it and
 * it calls only libc.
 *
 * lrt__mono_ns is CLOCK_MONOTONIC (vDSO, no syscall; inline in internal.h, like
 * lrt__rt_now, because timed waits read it on their path); lrt__coarse_ns the same epoch
 * at the kernel tick's resolution.  lrt__rt_now is a runtime's clock:
 * monotonic, or the virtual clock of a start_paused runtime (timer.c advances it).
 * The thread-locals live here, with the clock that reads them, so that every layer can
 * reach them without an upward edge.  State: thread-local, or none.
 */
#include "internal.h"

LRT__TLS struct lrt_runtime *lrt__tls_rt;
LRT__TLS int lrt__tls_in_block_on;

uint64_t lrt__coarse_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return lrt__timespec_ns(&ts);
}

uint64_t lrt_now_ns(void)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    return rt ? lrt__rt_now(rt) : lrt__mono_ns();
}
