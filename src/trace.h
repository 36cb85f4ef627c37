/*
 * Thin internal macros over the LTTng-UST provider in tracepoints/lrt_tp.h.
 *
 * LRT__TP(event, args...) fires tracepoint lrt:event.  With tracing compiled in
 * (LRT_TRACE_ENABLED=1, the default) a disabled tracepoint costs one load and a branch;
 * with `make TRACE=0` every macro compiles to nothing.
 * LRT__TP_ENABLED(event) guards arguments that are costly to compute; then use
 * LRT__TP_DO(event, args...).
 *
 * Event signatures (the contract with tracepoints/lrt_tp.h):
 *   task_spawn(uint64_t task_id, uint64_t parent_id, const char *name, const char *file,
 *              int line, const char *func)
 *   task_poll_begin(uint64_t task_id)
 *   task_poll_end(uint64_t task_id, int result)            enum lrt__poll_result
 *     (its cold probe takes the task's enum lrt__state and derives the result)
 *   task_wake(uint64_t task_id, int waker, uint64_t waker_task_id)   enum lrt__waker_kind
 *   task_terminate(uint64_t task_id, int status)            0 or -ECANCELED
 *   io_register(int fd, uint32_t interest)
 *   io_deregister(int fd, uint32_t interest)
 *   io_ready(int fd, uint32_t events)
 *   driver_park_begin(int64_t timeout_ns)                   -1 = infinite
 *   driver_park_end(int64_t timeout_ns, int n_events)
 *   timer_fire(uint64_t task_id, uint64_t deadline_ns, uint64_t late_ns)
 *   blocking_submit(uint64_t job_id, uint64_t queue_depth)
 *   blocking_begin(uint64_t job_id, uint64_t queue_ns)
 *   blocking_end(uint64_t job_id, uint64_t run_ns)
 *   blocking_thread_spawn(uint32_t threads)                  threads alive after
 *   blocking_thread_exit(uint32_t threads)
 *   remote_schedule(uint64_t task_id)
 *   stall(uint64_t task_id, uint64_t duration_ns, const uint64_t *ips, unsigned n_ips)
 *   runtime_new(uint32_t event_interval, uint64_t stack_size)
 *   runtime_shutdown(uint64_t alive_tasks, int status)
 *   io_submit(uint64_t task_id, int op, int fd, uint64_t len)           enum lrt__io_op
 *   io_complete(uint64_t task_id, int op, int fd, int64_t result, uint64_t latency_ns)
 *   driver_select(const char *driver, const char *reason)
 *   task_info(uint64_t task_id, uint64_t parent_id, const char *name, const char *file,
 *             int line, const char *func, const char *state, const char *wait,
 *             uint64_t wait_since_ns)                        statedump at session start
 */
#ifndef LRT_TRACE_H
#define LRT_TRACE_H

#ifndef LRT_TRACE_ENABLED
#define LRT_TRACE_ENABLED 1
#endif

#if LRT_TRACE_ENABLED
#include "internal.h" /* enum lrt__state, for task_poll_end */
#include "lrt_tp.h"
#define LRT__TP(ev, ...) lttng_ust_tracepoint(lrt, ev, __VA_ARGS__)
#define LRT__TP_ENABLED(ev) lttng_ust_tracepoint_enabled(lrt, ev)
#define LRT__TP_DO(ev, ...) lttng_ust_do_tracepoint(lrt, ev, __VA_ARGS__)

/*
 * Hot-path events (spawn, wake, poll begin/end, terminate) are gated: the runtime keeps
 * rt->trace_hot, set while any of them is enabled (lrt__trace_refresh, run by the
 * runtime thread at start, at every I/O check and after every park: an event enabled by
 * a session takes effect within one event interval).  A hot site costs one compare of
 * that int, in the runtime's first cache line, and a branch; schedule() makes a single
 * check for both poll events.  The probe call lives in an out-of-line cold function
 * that checks the event's own state, so the caller stays a leaf when nobody traces (an
 * inlined probe call made GCC save six registers in lrt__wake on every wake-up).
 */
#define LRT__TP_GATE(rt) LRT__UNLIKELY((rt)->trace_hot)
#define LRT__TP_COLD_FN(ev, params, args)                                                  \
    static __attribute__((noinline, cold, unused)) void lrt__tp_##ev params                \
    {                                                                                      \
        if (lttng_ust_tracepoint_enabled(lrt, ev))                                         \
            lttng_ust_do_tracepoint(lrt, ev, args);                                        \
    }
#define LRT__TP_ARGS(...) __VA_ARGS__
LRT__TP_COLD_FN(task_spawn,
                (uint64_t id, uint64_t parent, const char *name, const char *file, int line,
                 const char *func),
                LRT__TP_ARGS(id, parent, name, file, line, func))
LRT__TP_COLD_FN(task_poll_begin, (uint64_t id), LRT__TP_ARGS(id))
/* task_poll_end takes the task's state and derives the result here, off the hot path. */
static __attribute__((noinline, cold, unused)) void lrt__tp_task_poll_end(uint64_t id, int state)
{
    int result = state == LRT__FINISHED   ? LRT__POLL_FINISHED
                 : state == LRT__RUNNABLE ? LRT__POLL_YIELDED
                                          : LRT__POLL_SUSPENDED;
    if (lttng_ust_tracepoint_enabled(lrt, task_poll_end))
        lttng_ust_do_tracepoint(lrt, task_poll_end, id, result);
}
LRT__TP_COLD_FN(task_terminate, (uint64_t id, int status), LRT__TP_ARGS(id, status))
LRT__TP_COLD_FN(task_wake, (uint64_t id, int waker, uint64_t waker_id),
                LRT__TP_ARGS(id, waker, waker_id))
/* In schedule()'s traced variant: the poll events without a gate of their own. */
#define LRT__TP_POLL_BEGIN(t) lrt__tp_task_poll_begin((t)->id)
#define LRT__TP_POLL_END(t) lrt__tp_task_poll_end((t)->id, (t)->state)
/* LRT__TP_HOT(rt, ev, args...): a gated hot event. */
#define LRT__TP_HOT(rt, ev, ...)                                                            \
    do {                                                                                   \
        if (LRT__TP_GATE(rt))                                                              \
            lrt__tp_##ev(__VA_ARGS__);                                                     \
    } while (0)
#else
#define LRT__TP(ev, ...) do { } while (0)
#define LRT__TP_ENABLED(ev) 0
#define LRT__TP_DO(ev, ...) do { } while (0)
#define LRT__TP_GATE(rt) 0
#define LRT__TP_HOT(rt, ev, ...) do { } while (0)
#define LRT__TP_POLL_BEGIN(t) do { } while (0)
#define LRT__TP_POLL_END(t) do { } while (0)
#endif

/* trace.c: loads liblrt-tp.so when LRT_TRACE=1 (never unloaded). */
void lrt__trace_init(void);
/* trace.c: loads liblrt-tp.so now, whatever LRT_TRACE says (an lrt-trace record request,
 * diag/attach.c): 0 (also when it was loaded already), -ENOENT (the reason is printed on
 * stderr), -ENOTSUP when tracing is compiled out.  Any thread. */
int lrt__trace_load(void);
/* trace.c: recompute rt->trace_hot from the hot events' states.  Runtime thread only. */
struct lrt_runtime;
void lrt__trace_refresh(struct lrt_runtime *rt);

#endif
