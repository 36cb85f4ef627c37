/*
 * diag.h - declarations private to the diagnosis code (src/diag/).
 *
 * diag reads everything in lrt (tasks, timers, registrations, the pool, the clocks);
 * nothing outside src/diag calls into it except through these entry points, declared in
 * src/internal.h ("diag entry points") or include/lrt/lrt.h:
 *  - lrt__agent_safepoint()  the safe point between polls (runtime thread): the agent's
 *                            inbox drain, run by the loop's run_sources();
 *  - lrt__agent_start/stop(), lrt__stall_start/stop()  runtime start and stop hooks;
 *  - lrt__agent_stats()      counters for tests and benchmarks (any thread);
 *  - lrt__dump_deadlock()    the deadlock report (runtime thread);
 *  - lrt_dump_json()         the public snapshot call.
 *
 * Inside diag the calls go one way, bottom first:
 *   json.c  <-  unwind.c  <-  live.c  <-  history.c  <-  stall.c  <-  wait_text.c, objects.c
 *   <-  waitgraph.c  <-  snapshot.c  <-  agent_client.c  <-  agent.c
 *   <-  attach.c
 * (json and unwind are independent of each other; a file may call any file to its left).
 * crash.c (fatal signals) calls unwind.c; sigdump.c (text dump on a signal) calls
 * snapshot.c, live.c and srcline.c (file:line with libdw, a leaf).  flight.c (the
 * flight recorder's snapshot, a leaf) is called by stall.c and attach.c.
 */
#ifndef LRT_DIAG_H
#define LRT_DIAG_H

#include "internal.h"
#include "diag_entry.h"
#include "history.h"

/* ---- json.c: JSON text written into an mmap'd buffer --------------------------------- */
/* No malloc, so the dump agent can write a snapshot while the runtime thread is frozen
 * inside malloc.  On allocation failure w->oom is set and further writes are dropped. */
typedef struct lrt__jw {
    char *buf;
    size_t len, cap;
    int depth, oom;
    uint8_t first[32];
} lrt__jw;

/* One symbolized frame.  module points into the dynamic linker's link map. */
typedef struct lrt__frame {
    uint64_t ip, sym_off, mod_off; /* mod_off: ip - load bias (the ELF virtual address) */
    const char *module;
    char sym[120];
} lrt__frame;

void lrt__jw_free(lrt__jw *w);
void lrt__jw_raw(lrt__jw *w, const char *s, size_t n); /* s copied verbatim */
void lrt__jw_sep(lrt__jw *w, const char *key);        /* separator, then "key": if key */
void lrt__jw_obj(lrt__jw *w, const char *key);        /* key NULL inside arrays */
void lrt__jw_arr(lrt__jw *w, const char *key);
void lrt__jw_end(lrt__jw *w, char close);
void lrt__jw_str(lrt__jw *w, const char *key, const char *v); /* v NULL: null */
void lrt__jw_u64(lrt__jw *w, const char *key, uint64_t v);
void lrt__jw_i64(lrt__jw *w, const char *key, int64_t v);
void lrt__jw_bool(lrt__jw *w, const char *key, bool v);
void lrt__jw_hex(lrt__jw *w, const char *key, uint64_t v); /* "0x..." string */
void lrt__jw_frames(lrt__jw *w, const char *key, const lrt__frame *f, int n);

/* ---- unwind.c: symbols and backtraces ------------------------------------------------ */
#define LRT__MAX_FRAMES 48

/* Where each frame's return address was found, relative to the first frame's sp: lets a
 * later task with the same suspension point be checked instead of unwound (snapshot.c). */
struct lrt__rawtrace {
    uint64_t sp0;
    int n;
    uint64_t ip[LRT__MAX_FRAMES];
    uint32_t off[LRT__MAX_FRAMES];
    bool ok;
};

struct lrt__symcache; /* symbolized ips, mmap'd */

void lrt__sym_init(void);          /* once per process; any thread */
const char *lrt__exe_path(void);   /* /proc/self/exe, after lrt__sym_init() */
/* A fresh cache (free with lrt__symcache_free), or the process's kept one when it is
 * free and still valid (give back with lrt__symcache_put); NULL when out of memory,
 * which unwinds without a cache. */
struct lrt__symcache *lrt__symcache_new(void);
void lrt__symcache_free(struct lrt__symcache *c);
struct lrt__symcache *lrt__symcache_get(void);
void lrt__symcache_put(struct lrt__symcache *c);
uint64_t lrt__symcache_resolved(const struct lrt__symcache *c); /* 0 for NULL */
/* Backtraces, lrt's own frames trimmed (all but the public call the task made); each
 * returns the frame count written to @out (at most @max). */
int lrt__unwind_saved(const struct lrt_task *t, struct lrt__symcache *c, lrt__frame *out, int max,
                      struct lrt__rawtrace *raw);                 /* suspended task */
int lrt__unwind_current(struct lrt__symcache *c, lrt__frame *out, int max); /* this thread */
int lrt__unwind_regs(const uint64_t *gregs, struct lrt__symcache *c, lrt__frame *out, int max,
                     bool *complete);                             /* registers of a live capture */

/* Registers of the runtime thread captured by the live-capture signal (live.c). */
typedef struct lrt__live {
    int have;        /* 1: regs valid, the thread is frozen in the signal handler */
    int in_syscall;  /* captured from /proc/self/task/TID/syscall, thread not frozen */
    uint64_t gregs[23];
} lrt__live;

/* Backtrace of a live capture (lrt's frames trimmed); returns the frame count. */
int lrt__unwind_live(const lrt__live *lv, lrt__frame *out, int max);
/* The symbol of the function at @ip (no stepping): a blocking job's fn. */
void lrt__symbolize_ip(uint64_t ip, struct lrt__symcache *c, lrt__frame *out);
/* Warm libunwind and the symbol tables (the first unwind is slow); any thread. */
void lrt__unwind_warm(void);
/* crash.c, at the start of a crash report: unwind without the fork lock from now on
 * (unwind.c's top comment); async-signal-safe. */
void lrt__unwind_crashing(void);
/* Around a direct use of libunwind outside unwind.c: returns whether the lock was taken,
 * to give to lrt__unwind_leave. */
bool lrt__unwind_enter(void);
void lrt__unwind_leave(bool taken);
void lrt__unwind_thread_exit(void); /* agent/stall threads: free the unwind scratch */

/* ---- srcline.c: file:line with libdw, when the system has it (dlopen'd) -------------- */
struct lrt__srclines; /* the modules opened for one dump; NULL: libdw unavailable */
struct lrt__srclines *lrt__srclines_new(void);
void lrt__srclines_free(struct lrt__srclines *s);
/* "file:line" of @mod_off in @module into @out (@exact: not a return address). */
bool lrt__srcline(struct lrt__srclines *s, const char *module, uint64_t mod_off, bool exact, char *out, size_t n);

/* ---- live.c: capture the runtime thread where it is ---------------------------------- */
/* Freeze the thread @tid (the runtime thread) in a signal handler and copy its registers
 * into @live; lrt__live_release() lets it go.  Serialised process-wide.  Returns 0,
 * -ETIMEDOUT (the thread did not take the signal within @timeout_ms) or -errno. */
int lrt__live_freeze(pid_t tid, lrt__live *live, unsigned timeout_ms);
void lrt__live_release(lrt__live *lv);
/* Registers of @tid without stopping it when it is blocked in a system call and its
 * stack unwinds from sp/pc alone (in_syscall), else lrt__live_freeze().  Release with
 * lrt__live_release() in both cases. */
int lrt__live_capture(pid_t tid, lrt__live *lv, unsigned timeout_ms);

/* ---- flight.c: the flight recorder (lrt-trace record --flight) ------------------------ */
/* Read LRT_FLIGHT_SESSION (once per process): the stall detector's start, runtime thread. */
void lrt__flight_init(void);
/* The snapshot session to use from now on ("" or NULL: none).  Any thread (the ticker,
 * at an lrt-trace record request). */
void lrt__flight_set_session(const char *name);
/* After a stall report, on the watchdog thread: snapshot the flight recorder session if
 * one was asked for.  Writes one line for the report into @msg ("" when nobody asked).
 * Returns 1 (saved), 0 (nobody asked), -EBUSY (rate limit), -ENOENT (no liblttng-ctl),
 * -ESRCH (no such session), -EIO (the session daemon refused). */
int lrt__flight_snapshot(uint64_t task_id, char *msg, size_t n);

/* ---- stall.c: what the snapshot shows of the stall detector --------------------------- */
/* Stall records for the snapshot; writes the "stalls" array. */
void lrt__stall_json(struct lrt_runtime *rt, lrt__jw *w);
/* stalls reported, and of those not printed (rate limit): one consistent pair */
void lrt__stall_counts(struct lrt_runtime *rt, uint64_t *stalls, uint64_t *suppressed);

/* ---- history.c: a task's history ring in words and as the snapshot's "history" ------ */
/* A copy of a task's ring, oldest first (so the stall watchdog can render it after it
 * let the frozen thread go). */
struct lrt__hist_copy {
    int n;
    struct lrt__hev ev[LRT__HIST_LEN];
    uint64_t max_poll_ns;
    /* the task now: a wake after its last entry is shown from these */
    uint8_t state, last_waker;
    uint64_t last_waker_id, state_since;
};
void lrt__hist_read(const struct lrt_task *t, struct lrt__hist_copy *out);
uint64_t lrt__hist_max_poll(const struct lrt_task *t); /* longest poll so far, ns */
/* "history": [...] with at_ns relative to @start_ns (the runtime's start); @cur_wait:
 * the task's current wait in words if it is suspended (NULL if not). */
void lrt__hist_json(lrt__jw *w, const struct lrt__hist_copy *h, uint64_t start_ns, const char *cur_wait);
/* One line per event, "<indent>  12.3 ms ago  woken by task 5 (chan_recv) after 2.1 ms",
 * @now on the switch clock; returns the length written into @buf (NUL-terminated). */
size_t lrt__hist_text(const struct lrt__hist_copy *h, uint64_t now, const char *cur_wait, const char *indent,
                      char *buf, size_t n);
void lrt__fmt_human_ns(uint64_t ns, char *buf, size_t n); /* "40 µs", "2.1 ms", "1.3 s", "59m58s" */

/* ---- wait_text.c: a wait reason in words and as the snapshot's "wait" object ---------- */
/* A duration as people read it: 850ns, 12us, 40ms, 1.3s, 59m58s, 2h05m, 3d04h. */
void lrt__fmt_dur(uint64_t ns, char *buf, size_t n);
/* "mutex 'accounts' 0x... (held by task 5)" for @t's wait at time @now (into @buf). */
void lrt__fmt_wait(uint64_t now, const struct lrt_task *t, char *buf, size_t n);
/* The task's "wait" object (kind, object text, name and the kind's own keys). */
void lrt__write_wait(lrt__jw *w, uint64_t now_rt, const struct lrt_task *t);

/* ---- objects.c: the snapshot's "objects", and the words for one object ------------ */
/* "mutex", "channel", ... for a sync wait kind (or GROUP); NULL for other kinds. */
const char *lrt__obj_kind_name(int wait_kind);
/* "mutex 'accounts'", "channel created at app.c:42" or "mutex 0x..." (into @buf). */
void lrt__obj_label(int wait_kind, const void *obj, char *buf, size_t n);
/* "'accounts'" when named, else as lrt__obj_label. */
void lrt__obj_short_label(int wait_kind, const void *obj, char *buf, size_t n);
/* Write the "objects" array: every object a task waits on, with its waiters.  0 or
 * -ENOMEM (an empty array written). */
int lrt__objects_json(struct lrt_runtime *rt, lrt__jw *w);

/* ---- waitgraph.c: who waits for whom, and the cycles ------------------------------ */
struct lrt__wg;
/* The wait-for graph of @rt's tasks (mmap'd; free with lrt__wg_free), NULL when out of
 * memory.  Same callers and rules as the snapshot. */
struct lrt__wg *lrt__wg_build(struct lrt_runtime *rt);
void lrt__wg_free(struct lrt__wg *g);
size_t lrt__wg_cycles(const struct lrt__wg *g); /* 0 for NULL */
/* Cycle @c in one sentence: "deadlock: task 5 'ledger' holds mutex 'accounts' and waits
 * for mutex 'audit' held by task 6 'auditor', which waits for 'accounts'". */
void lrt__wg_cycle_text(const struct lrt__wg *g, size_t c, char *buf, size_t n);
/* Write the "cycles" array (empty for NULL). */
void lrt__wg_json(const struct lrt__wg *g, lrt__jw *w);

/* ---- snapshot.c ----------------------------------------------------------------------- */
enum { LRT__SNAP_API = 0, LRT__SNAP_SAFEPOINT, LRT__SNAP_STUCK, LRT__SNAP_IDLE };
/* Where some top-level values sit in a snapshot's text (offset and length in w->buf), so
 * that the agent can splice the snapshots of several runtimes into one answer. */
enum { LRT__PART_RUNTIME, LRT__PART_TASKS, LRT__PART_IO, LRT__PART_TIMERS, LRT__PART_BLOCKING,
       LRT__PART_STALLS, LRT__PART_CYCLES, LRT__PART_OBJECTS, LRT__PART__COUNT };
struct lrt__snap_parts {
    size_t off[LRT__PART__COUNT], len[LRT__PART__COUNT];
};
/* Write a snapshot of @rt as JSON into @w, each task labelled "runtime": @index when
 * @index >= 0, the parts recorded in @parts when not NULL.  Runtime thread (API,
 * SAFEPOINT), or another thread while the runtime thread is frozen or outside lrt (STUCK
 * with @live, IDLE).  Returns 0 or -ENOMEM. */
int lrt__snapshot_ex(struct lrt_runtime *rt, unsigned flags, int mode, const lrt__live *lv, int index,
                     struct lrt__snap_parts *parts, lrt__jw *w);
static inline int lrt__snapshot(struct lrt_runtime *rt, unsigned flags, int mode, const lrt__live *lv, lrt__jw *w)
{
    return lrt__snapshot_ex(rt, flags, mode, lv, -1, NULL, w);
}

/* io_reg.c (declared here, its only caller's header, to keep internal.h under 700
 * lines): the completion-based operations in flight on @fd, for the snapshot's "io" */
void lrt__io_ops_foreach(struct lrt_runtime *rt, int fd,
                         void (*fn)(int op, uint64_t task_id, uint64_t start_ns, void *ctx), void *ctx);
/* io_reg.c: connections @fd's multishot accept took and nobody accepted yet (io_uring), or
 * -1 when @fd has no such accept */
long lrt__io_accept_queue(struct lrt_runtime *rt, int fd);

#endif
