/*
 * LTTng-UST provider "lrt": every scheduling decision of the runtime.
 *
 * 2.13 API only (LTTNG_UST_TRACEPOINT_*, lttng_ust_field_*), built with
 * -DLTTNG_UST_COMPAT_API_VERSION=1.  The argument lists are the contract of src/trace.h;
 * the field names are the contract of tools/lrt-trace and docs/tracing.md.
 *
 * This header is read several times by lttng/tracepoint-event.h; its include guard must
 * let LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ through.  liblrt.so includes it through
 * src/trace.h (call sites only, dynamic linkage); tracepoints/lrt_tp.c includes it with
 * LTTNG_UST_TRACEPOINT_CREATE_PROBES to build the probes of liblrt-tp.so.
 *
 * Log levels: INFO for lifecycle events (runtime, task spawn/terminate, blocking threads),
 * WARNING for stalls, DEBUG for the hot path (poll, wake, I/O, timers, jobs).
 * The enum labels and values are src/names.h's (enum lrt__poll_result, lrt__waker_kind).
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER lrt

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./lrt_tp.h"

/* The tracepoint definitions (in src/trace.c) stay private to liblrt: call sites read
 * their state PC-relative instead of through the GOT, and nothing lttng is exported. */
#ifndef LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION
#define LTTNG_UST_TRACEPOINT_HIDDEN_DEFINITION
#endif

#if !defined(LRT_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define LRT_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

#include "names.h"

/* ---- enums --------------------------------------------------------------------------- */

/* The labels and values come from src/names.h, as the dump's names do. */
#define LRT__TP_ENUM_POLL(n, str) lttng_ust_field_enum_value(str, LRT__POLL_##n)
#define LRT__TP_ENUM_WAKER(n, str) lttng_ust_field_enum_value(str, LRT__WAKER_##n)
#define LRT__TP_ENUM_IO_OP(n, str) lttng_ust_field_enum_value(str, LRT__IO_##n)

/* Why a poll ended (enum lrt__poll_result). */
LTTNG_UST_TRACEPOINT_ENUM(lrt, poll_result,
    LTTNG_UST_TP_ENUM_VALUES(
        LRT__POLL_RESULTS(LRT__TP_ENUM_POLL)
    )
)

/* Who made a task runnable (enum lrt__waker_kind). */
LTTNG_UST_TRACEPOINT_ENUM(lrt, waker_kind,
    LTTNG_UST_TP_ENUM_VALUES(
        LRT__WAKERS(LRT__TP_ENUM_WAKER)
    )
)

/* What a completion-based I/O operation does (enum lrt__io_op). */
LTTNG_UST_TRACEPOINT_ENUM(lrt, io_op,
    LTTNG_UST_TP_ENUM_VALUES(
        LRT__IO_OPS(LRT__TP_ENUM_IO_OP)
    )
)

/* ---- runtime lifecycle ----------------------------------------------------------------- */

LTTNG_UST_TRACEPOINT_EVENT(lrt, runtime_new,
    LTTNG_UST_TP_ARGS(uint32_t, event_interval, uint64_t, stack_size),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint32_t, event_interval, event_interval)
        lttng_ust_field_integer(uint64_t, stack_size, stack_size)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, runtime_new, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

LTTNG_UST_TRACEPOINT_EVENT(lrt, runtime_shutdown,
    LTTNG_UST_TP_ARGS(uint64_t, alive_tasks, int, status),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, alive_tasks, alive_tasks)
        lttng_ust_field_integer(int, status, status)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, runtime_shutdown, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* ---- tasks ----------------------------------------------------------------------------- */

LTTNG_UST_TRACEPOINT_EVENT(lrt, task_spawn,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, uint64_t, parent_id, const char *, name,
                      const char *, file, int, line, const char *, func),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_integer(uint64_t, parent_id, parent_id)
        lttng_ust_field_string(name, name)
        lttng_ust_field_string(file, file)
        lttng_ust_field_integer(int, line, line)
        lttng_ust_field_string(func, func)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_spawn, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* Events whose only field is a task id. */
LTTNG_UST_TRACEPOINT_EVENT_CLASS(lrt, task_id_class,
    LTTNG_UST_TP_ARGS(uint64_t, task_id),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
    )
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, task_id_class, lrt, task_poll_begin,
    LTTNG_UST_TP_ARGS(uint64_t, task_id))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_poll_begin, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* A task was handed to the runtime from another thread (lrt_handle_spawn). */
LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, task_id_class, lrt, remote_schedule,
    LTTNG_UST_TP_ARGS(uint64_t, task_id))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, remote_schedule, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT(lrt, task_poll_end,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, int, result),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_enum(lrt, poll_result, int, result, result)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_poll_end, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT(lrt, task_wake,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, int, waker, uint64_t, waker_task_id),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_enum(lrt, waker_kind, int, waker, waker)
        lttng_ust_field_integer(uint64_t, waker_task_id, waker_task_id)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_wake, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT(lrt, task_terminate,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, int, status),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_integer(int, status, status)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_terminate, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* ---- I/O driver ------------------------------------------------------------------------ */

/* fd registration changes; interest is an EPOLL* mask. */
LTTNG_UST_TRACEPOINT_EVENT_CLASS(lrt, io_interest_class,
    LTTNG_UST_TP_ARGS(int, fd, uint32_t, interest),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int, fd, fd)
        lttng_ust_field_integer_hex(uint32_t, interest, interest)
    )
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, io_interest_class, lrt, io_register,
    LTTNG_UST_TP_ARGS(int, fd, uint32_t, interest))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, io_register, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, io_interest_class, lrt, io_deregister,
    LTTNG_UST_TP_ARGS(int, fd, uint32_t, interest))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, io_deregister, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT(lrt, io_ready,
    LTTNG_UST_TP_ARGS(int, fd, uint32_t, events),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int, fd, fd)
        lttng_ust_field_integer_hex(uint32_t, events, events)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, io_ready, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* timeout_ns: -1 = wait without timeout, 0 = poll only. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, driver_park_begin,
    LTTNG_UST_TP_ARGS(int64_t, timeout_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, timeout_ns, timeout_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, driver_park_begin, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

LTTNG_UST_TRACEPOINT_EVENT(lrt, driver_park_end,
    LTTNG_UST_TP_ARGS(int64_t, timeout_ns, int, n_events),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, timeout_ns, timeout_ns)
        lttng_ust_field_integer(int, n_events, n_events)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, driver_park_end, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* ---- timers ---------------------------------------------------------------------------- */

LTTNG_UST_TRACEPOINT_EVENT(lrt, timer_fire,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, uint64_t, deadline_ns, uint64_t, late_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_integer(uint64_t, deadline_ns, deadline_ns)
        lttng_ust_field_integer(uint64_t, late_ns, late_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, timer_fire, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* ---- blocking pool --------------------------------------------------------------------- */

/* On the runtime thread: queue_depth = jobs waiting for a thread after this one. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, blocking_submit,
    LTTNG_UST_TP_ARGS(uint64_t, job_id, uint64_t, queue_depth),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, job_id, job_id)
        lttng_ust_field_integer(uint64_t, queue_depth, queue_depth)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, blocking_submit, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* On the pool thread: queue_ns = time from submit to start. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, blocking_begin,
    LTTNG_UST_TP_ARGS(uint64_t, job_id, uint64_t, queue_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, job_id, job_id)
        lttng_ust_field_integer(uint64_t, queue_ns, queue_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, blocking_begin, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* On the pool thread: run_ns = time the job's function ran. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, blocking_end,
    LTTNG_UST_TP_ARGS(uint64_t, job_id, uint64_t, run_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, job_id, job_id)
        lttng_ust_field_integer(uint64_t, run_ns, run_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, blocking_end, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* Pool size changes: threads = threads alive after the change. */
LTTNG_UST_TRACEPOINT_EVENT_CLASS(lrt, blocking_threads_class,
    LTTNG_UST_TP_ARGS(uint32_t, threads),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint32_t, threads, threads)
    )
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, blocking_threads_class, lrt, blocking_thread_spawn,
    LTTNG_UST_TP_ARGS(uint32_t, threads))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, blocking_thread_spawn, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(lrt, blocking_threads_class, lrt, blocking_thread_exit,
    LTTNG_UST_TP_ARGS(uint32_t, threads))
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, blocking_thread_exit, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* ---- completion-based I/O (the io_uring backend) ----------------------------------------- */

/* An operation submitted on behalf of a task (op: enum lrt__io_op); len = bytes asked. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, io_submit,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, int, op, int, fd, uint64_t, len),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_enum(lrt, io_op, int, op, op)
        lttng_ust_field_integer(int, fd, fd)
        lttng_ust_field_integer(uint64_t, len, len)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, io_submit, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* Its completion: result = bytes or -errno, latency_ns = time since the submit. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, io_complete,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, int, op, int, fd, int64_t, result, uint64_t, latency_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_enum(lrt, io_op, int, op, op)
        lttng_ust_field_integer(int, fd, fd)
        lttng_ust_field_integer(int64_t, result, result)
        lttng_ust_field_integer(uint64_t, latency_ns, latency_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, io_complete, LTTNG_UST_TRACEPOINT_LOGLEVEL_DEBUG)

/* Which I/O backend a runtime uses and why ("io_uring", "auto: io_uring works here";
 * "epoll", "auto: io_uring_setup: EPERM"); at runtime start and in every statedump. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, driver_select,
    LTTNG_UST_TP_ARGS(const char *, driver, const char *, reason),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_string(driver, driver)
        lttng_ust_field_string(reason, reason)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, driver_select, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* ---- statedump --------------------------------------------------------------------------- */

/* One per live task when a tracing session starts (so tasks born before the recording are
 * named): spawn site, state ("runnable", "suspended", ...), what it waits for (a wait kind
 * of src/names.h, "none" when it does not) and since when (CLOCK_MONOTONIC ns, 0: none). */
LTTNG_UST_TRACEPOINT_EVENT(lrt, task_info,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, uint64_t, parent_id, const char *, name,
                      const char *, file, int, line, const char *, func,
                      const char *, state, const char *, wait, uint64_t, wait_since_ns),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_integer(uint64_t, parent_id, parent_id)
        lttng_ust_field_string(name, name)
        lttng_ust_field_string(file, file)
        lttng_ust_field_integer(int, line, line)
        lttng_ust_field_string(func, func)
        lttng_ust_field_string(state, state)
        lttng_ust_field_string(wait, wait)
        lttng_ust_field_integer(uint64_t, wait_since_ns, wait_since_ns)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, task_info, LTTNG_UST_TRACEPOINT_LOGLEVEL_INFO)

/* ---- stall detector -------------------------------------------------------------------- */

/* A poll ran longer than the threshold; ips = the task's backtrace, innermost first. */
LTTNG_UST_TRACEPOINT_EVENT(lrt, stall,
    LTTNG_UST_TP_ARGS(uint64_t, task_id, uint64_t, duration_ns, const uint64_t *, ips,
                      unsigned, n_ips),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, task_id, task_id)
        lttng_ust_field_integer(uint64_t, duration_ns, duration_ns)
        lttng_ust_field_sequence_hex(uint64_t, ips, ips, unsigned int, n_ips)
    )
)
LTTNG_UST_TRACEPOINT_LOGLEVEL(lrt, stall, LTTNG_UST_TRACEPOINT_LOGLEVEL_WARNING)

#endif /* LRT_TP_H */

#include <lttng/tracepoint-event.h>
