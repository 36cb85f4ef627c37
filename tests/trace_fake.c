/*
 * trace_fake - emits lrt tracepoints by hand, for tests/t-trace.sh: what lrt-trace does
 * with events that no lrt code emits in this tree yet (the statedump's task_info, the
 * io_uring backend's driver_select / io_submit / io_complete), until their emitters
 * land.  Run it with LD_PRELOAD=liblrt-tp.so inside a session recording lrt:*.
 *
 * Task 7 "accept_loop" exists only through task_info (born before the recording): it is
 * then woken, polled once, and submits a read that completes, and one that fails.
 */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE
#include "lrt_tp.h"

#include <stdio.h>

int main(void)
{
    if (!lttng_ust_tracepoint_enabled(lrt, task_info)) {
        fprintf(stderr, "trace_fake: lrt:task_info is not enabled (provider loaded? session?)\n");
        return 1;
    }
    lttng_ust_tracepoint(lrt, driver_select, "io_uring", "test: fake");
    lttng_ust_tracepoint(lrt, task_info, 7, 1, "accept_loop", "server.c", 42, "serve",
                         "suspended", "io", 0);
    lttng_ust_tracepoint(lrt, task_wake, 7, LRT__WAKER_IO, 0);
    lttng_ust_tracepoint(lrt, task_poll_begin, 7);
    lttng_ust_tracepoint(lrt, io_submit, 7, LRT__IO_READ, 3, 100);
    lttng_ust_tracepoint(lrt, io_submit, 7, LRT__IO_READ, 4, 100);
    lttng_ust_tracepoint(lrt, task_poll_end, 7, LRT__POLL_SUSPENDED);
    lttng_ust_tracepoint(lrt, io_complete, 7, LRT__IO_READ, 3, 100, 5000);
    lttng_ust_tracepoint(lrt, io_complete, 7, LRT__IO_READ, 4, -104, 9000);
    puts("ok");
    return 0;
}
