/*
 * trace_read.h - stream the lrt events of an LTTng trace through libbabeltrace2.
 *
 * One pass, in time order (src.ctf.fs or src.ctf.lttng-live -> flt.utils.muxer -> a
 * simple sink), each lrt event decoded into a small struct tr_event handed to a callback.
 * Field positions are resolved once per event class and context positions once per
 * stream class: no lookup by name per event.  Discarded events and packets go to a
 * second callback; they never stop the reading.
 *
 * Single-threaded: one tr_read() at a time per thread, pointers inside a tr_event are
 * valid during the callback only.
 */
#ifndef LRT_TOOLS_TRACE_READ_H
#define LRT_TOOLS_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The events lrt-trace understands: tracepoints/lrt_tp.h, plus the statedump's bin_info
 * (maps stall addresses to modules).  Each kind's fields, in TR_FIELDS order. */
#define TR_KINDS(X)                                                                       \
    X(RUNTIME_NEW, "runtime_new", "event_interval", "stack_size")                         \
    X(RUNTIME_SHUTDOWN, "runtime_shutdown", "alive_tasks", "status")                      \
    X(TASK_SPAWN, "task_spawn", "task_id", "parent_id", "name", "file", "line", "func")   \
    X(TASK_POLL_BEGIN, "task_poll_begin", "task_id")                                      \
    X(REMOTE_SCHEDULE, "remote_schedule", "task_id")                                      \
    X(TASK_POLL_END, "task_poll_end", "task_id", "result")                                \
    X(TASK_WAKE, "task_wake", "task_id", "waker", "waker_task_id")                        \
    X(TASK_TERMINATE, "task_terminate", "task_id", "status")                              \
    X(IO_REGISTER, "io_register", "fd", "interest")                                       \
    X(IO_DEREGISTER, "io_deregister", "fd", "interest")                                   \
    X(IO_READY, "io_ready", "fd", "events")                                               \
    X(DRIVER_PARK_BEGIN, "driver_park_begin", "timeout_ns")                               \
    X(DRIVER_PARK_END, "driver_park_end", "timeout_ns", "n_events")                       \
    X(TIMER_FIRE, "timer_fire", "task_id", "deadline_ns", "late_ns")                      \
    X(BLOCKING_SUBMIT, "blocking_submit", "job_id", "queue_depth")                        \
    X(BLOCKING_BEGIN, "blocking_begin", "job_id", "queue_ns")                             \
    X(BLOCKING_END, "blocking_end", "job_id", "run_ns")                                   \
    X(BLOCKING_THREAD_SPAWN, "blocking_thread_spawn", "threads")                          \
    X(BLOCKING_THREAD_EXIT, "blocking_thread_exit", "threads")                            \
    X(IO_SUBMIT, "io_submit", "task_id", "op", "fd", "len")                               \
    X(IO_COMPLETE, "io_complete", "task_id", "op", "fd", "result", "latency_ns")          \
    X(DRIVER_SELECT, "driver_select", "driver", "reason")                                 \
    X(TASK_INFO, "task_info", "task_id", "parent_id", "name", "file", "line", "func",     \
      "state", "wait", "wait_since_ns")                                                   \
    X(STALL, "stall", "task_id", "duration_ns", "ips")                                    \
    X(BIN_INFO, "bin_info", "baddr", "memsz", "path")

#define TR_KIND_ENUM(k, ...) TR_##k,
enum tr_kind { TR_KINDS(TR_KIND_ENUM) TR_N_KINDS };
#undef TR_KIND_ENUM

#define TR_MAX_FIELDS 9
#define TR_MAX_IPS 64

/* One decoded event.  v[k] / s[k] / label[k]: the k-th field of the kind's list; an
 * integer or enum field sets v (label: the enum's label, NULL if none), a string field
 * sets s (v stays 0), a missing field is 0 / NULL.  vpid/vtid are -1 and procname NULL
 * when the trace lacks those contexts. */
struct tr_event {
    enum tr_kind kind;
    int64_t ts;            /* ns from the clock's origin */
    int64_t vpid, vtid;
    const char *procname;
    int64_t v[TR_MAX_FIELDS];
    const char *s[TR_MAX_FIELDS];
    const char *label[TR_MAX_FIELDS];
    const uint64_t *ips;   /* stall backtrace */
    unsigned n_ips;
};

/* Events the tracer discarded (buffers full): count < 0 when the trace does not say
 * how many (a lost packet: packets = 1).  stream = the stream's name (the file path
 * for src.ctf.fs) or "stream N"; begin/end in ns from origin, -1 when unknown. */
struct tr_lost {
    const char *stream;
    int64_t count;
    bool packets;
    int64_t begin_ns, end_ns;
};

/* The callbacks of tr_read(): ev returns 0 to go on, anything else stops the reading
 * (tr_read then returns it). */
typedef int (*tr_event_fn)(const struct tr_event *ev, void *arg);
typedef void (*tr_lost_fn)(const struct tr_lost *lost, void *arg);

/* Whether the events seen so far had the vpid / procname contexts (for the warning). */
struct tr_info {
    uint64_t events_without_vpid;
    uint64_t events_without_procname;
    uint64_t other_events;  /* events of other providers, skipped */
};

/* Reads source (a directory holding CTF traces, or an lttng-live URL when live) and
 * calls ev for every lrt event in time order, lost for every discarded-events/packets
 * message.  Returns 0, the nonzero value an ev callback returned, or -1 with a one-line
 * message in err (errlen bytes, caller's buffer).  info (may be NULL) is filled. */
int tr_read(const char *source, bool live, tr_event_fn ev, tr_lost_fn lost, void *arg,
            struct tr_info *info, char *err, size_t errlen);

/* The kind's name ("task_spawn"). */
const char *tr_kind_name(enum tr_kind k);

#endif
