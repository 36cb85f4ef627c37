/*
 * snapshot.c - snapshots of the runtime state: the JSON of lrt_dump_json() and of the
 * dump agent (schema docs/snapshot.schema.json), and the deadlock report's task table.
 *
 * Who calls and what may be touched:
 *  - lrt_dump_json() and the agent's safe point run on the runtime thread between polls
 *    (or inside the calling task's poll): every structure is consistent.
 *  - When the runtime thread is stuck inside a poll, the dump agent freezes it (live.c)
 *    and writes the snapshot itself: the structures are quiescent while the thread waits
 *    in the handler, and nothing here may malloc or take a lock the frozen thread may
 *    hold (the JSON goes to mmap'd memory, json.c).
 *
 * Layer: reads everything in lrt; calls json.c, unwind.c and stall.c.  No state of its
 * own beyond one snapshot's scratch (mmap'd per call).
 */
#include "diag/diag.h"
#include "group.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *ready_name(uint32_t ev, char *buf, size_t n)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        {0x001, "in"}, {0x004, "out"}, {0x2000, "rdhup"}, {0x010, "hup"}, {0x008, "err"}, {0x002, "pri"}};
    buf[0] = 0;
    size_t len = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(ev & names[i].bit))
            continue;
        int k = snprintf(buf + len, n - len, "%s%s", len ? "," : "", names[i].name);
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
    return buf;
}

/* Memo of suspended-task backtraces: 10,000 tasks parked at the same line unwind once.
 * Key: saved ip, depth below the stack top, rbp relative to sp; a hit is verified by
 * reading each return address where the first unwind found it.  The frames' JSON text
 * is kept too, so a hit costs a few loads and a memcpy. */
#define MEMO_SLOTS 512
struct memo {
    uint64_t rip, depth, rbp_rel;
    int n;
    uint64_t ip[LRT__MAX_FRAMES];
    uint32_t off[LRT__MAX_FRAMES];
    size_t json_off, json_len; /* in snap.frag */
    bool used;
};

struct snap {
    struct memo memo[MEMO_SLOTS];
    lrt__jw frag; /* JSON of memoised backtraces */
    uint64_t memo_hits, memo_misses;
    struct lrt_runtime *rt;
    lrt__jw *w;
    unsigned flags;
    int mode;
    const lrt__live *live;
    struct lrt__symcache *sc;
    uint64_t now_coarse, now_rt, now_mono;
    lrt__frame frames[LRT__MAX_FRAMES];
    bool self_in_poll; /* API mode called from a task: current runs on this stack */
    /* blocking jobs' function names: jobs share a few functions, and symbolizing one
     * reads ELF symbol tables, under the pool's mutex */
    struct { uint64_t fn; char name[64]; } fnmemo[8];
    unsigned fnmemo_n;
    int index;         /* the runtime's label written in each task, -1: none */
};


static void backtrace_saved(struct snap *s, const struct lrt_task *t)
{
    const uint64_t *sp = t->sp;
    uint64_t top = (uint64_t)(uintptr_t)t->stack->base + t->stack->size;
    uint64_t spv = (uint64_t)(uintptr_t)sp;
    /* from the task's first frame, below its stack's cache colour: equal for twins */
    uint64_t depth = top - t->stack->color - spv;
    /* rbp matters only as a frame pointer into this stack; otherwise it is any value */
    uint64_t rbp_rel = sp[6] >= spv && sp[6] < top ? sp[6] - spv : UINT64_MAX;
    size_t h = (size_t)(((sp[7] ^ depth * 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull) >> 40) % MEMO_SLOTS;
    struct memo *m = &s->memo[h];
    if (m->used && m->rip == sp[7] && m->depth == depth && m->rbp_rel == rbp_rel) {
        bool same = true;
        for (int i = 1; i < m->n && same; i++)
            same = m->off[i] + 8 <= depth && *(const uint64_t *)(uintptr_t)(spv + m->off[i]) == m->ip[i];
        if (same) {
            s->memo_hits++;
            lrt__jw_sep(s->w, "backtrace");
            lrt__jw_raw(s->w, s->frag.buf + m->json_off, m->json_len);
            return;
        }
    }
    s->memo_misses++;
    struct lrt__rawtrace raw;
    int n = lrt__unwind_saved(t, s->sc, s->frames, LRT__MAX_FRAMES, &raw);
    size_t start = s->w->len;
    lrt__jw_frames(s->w, "backtrace", s->frames, n);
    if (!raw.ok || s->w->oom)
        return;
    /* remember the JSON value (after the key and its separator) */
    const char *v = memchr(s->w->buf + start, '[', s->w->len - start);
    if (!v)
        return;
    size_t vlen = (size_t)(s->w->buf + s->w->len - v);
    size_t off = s->frag.len;
    lrt__jw_raw(&s->frag, v, vlen);
    if (s->frag.oom)
        return;
    m->used = true;
    m->rip = sp[7];
    m->depth = depth;
    m->rbp_rel = rbp_rel;
    m->n = raw.n;
    memcpy(m->ip, raw.ip, sizeof raw.ip);
    memcpy(m->off, raw.off, sizeof raw.off);
    m->json_off = off;
    m->json_len = vlen;
}

static void snapshot_task(struct snap *s, struct lrt_task *t)
{
    struct lrt_runtime *rt = s->rt;
    lrt__jw *w = s->w;
    bool is_current = t == rt->current;
    int state = t->state;
    if (s->mode == LRT__SNAP_SAFEPOINT && is_current)
        state = state == LRT__RUNNING ? LRT__RUNNABLE : state; /* at a safe point between polls */
    uint64_t since = is_current && state == LRT__RUNNING ? rt->poll_start : t->state_since;
    uint64_t state_ns = s->now_coarse > since ? s->now_coarse - since : 0;
    uint64_t busy = t->busy_ns;
    if (is_current && state == LRT__RUNNING)
        busy += state_ns;
    lrt__jw_obj(w, NULL);
    lrt__jw_u64(w, "id", t->id);
    if (s->index >= 0)
        lrt__jw_u64(w, "runtime", (uint64_t)s->index);
    lrt__jw_str(w, "name", t->name);
    lrt__jw_u64(w, "parent", t->parent_id);
    if (t->gm) { /* a member until join_next returns it; the group outlives its members */
        lrt__jw_obj(w, "group");
        lrt__jw_u64(w, "id", t->gm->g->id);
        lrt__jw_str(w, "name", t->gm->g->name);
        lrt__jw_u64(w, "parent", t->gm->g->parent_id);
        lrt__jw_end(w, '}');
    }
    lrt__jw_str(w, "state", lrt__state_names[state & 3]);
    lrt__write_wait(s->w, s->now_rt, t);
    lrt__jw_u64(w, "state_ns", state_ns);
    lrt__jw_u64(w, "polls", t->polls);
    lrt__jw_u64(w, "busy_ns", busy);
    uint64_t max_poll = lrt__hist_max_poll(t);
    if (is_current && state == LRT__RUNNING && state_ns > max_poll) /* the poll going on */
        max_poll = state_ns;
    lrt__jw_u64(w, "max_poll_ns", max_poll);
    lrt__jw_obj(w, "last_waker");
    lrt__jw_str(w, "kind", t->last_waker < LRT__WAKER__COUNT ? lrt__waker_names[t->last_waker] : "none");
    lrt__jw_u64(w, "task", t->last_waker_id);
    lrt__jw_end(w, '}');
    lrt__jw_obj(w, "spawned_at");
    lrt__jw_str(w, "file", t->file);
    lrt__jw_i64(w, "line", t->line);
    lrt__jw_str(w, "func", t->func);
    lrt__jw_end(w, '}');
    lrt__jw_bool(w, "root", (t->flags & LRT__TF_ROOT) != 0);
    lrt__jw_bool(w, "cancelled", (t->flags & (LRT__TF_CANCELLED | LRT__TF_CANCEL_PENDING)) != 0);
    lrt__jw_bool(w, "started", (t->flags & LRT__TF_STARTED) != 0);
    if (s->flags & LRT_DUMP_BACKTRACES) {
        int n = -1;
        if (is_current && s->mode == LRT__SNAP_STUCK && s->live && (s->live->have || s->live->in_syscall))
            n = lrt__unwind_regs(s->live->gregs, s->sc, s->frames, LRT__MAX_FRAMES, NULL);
        else if (is_current && (s->mode == LRT__SNAP_SAFEPOINT || s->self_in_poll))
            n = lrt__unwind_current(s->sc, s->frames, LRT__MAX_FRAMES);
        else if ((t->flags & LRT__TF_STARTED) && t->stack && t->sp && state != LRT__FINISHED &&
                 !(is_current && state == LRT__RUNNING)) {
            backtrace_saved(s, t);
            n = -1;
        }
        if (n >= 0)
            lrt__jw_frames(w, "backtrace", s->frames, n);
    }
    if (s->flags & LRT_DUMP_HISTORY) {
        struct lrt__hist_copy h;
        char wait[160];
        lrt__hist_read(t, &h);
        if (state == LRT__SUSPENDED)
            lrt__fmt_wait(s->now_rt, t, wait, sizeof wait);
        lrt__hist_json(w, &h, rt->start_ns, state == LRT__SUSPENDED ? wait : NULL);
    }
    lrt__jw_end(w, '}');
}

/* a completion-based operation in flight (io_uring): what, whose, for how long */
static void uop_cb(int op, uint64_t task_id, uint64_t start_ns, void *ctx)
{
    struct snap *s = ctx;
    lrt__jw_obj(s->w, NULL);
    lrt__jw_str(s->w, "op", op >= 0 && op < LRT__IO__COUNT ? lrt__io_op_names[op] : "?");
    lrt__jw_u64(s->w, "task", task_id);
    lrt__jw_u64(s->w, "age_ns", s->now_mono > start_ns ? s->now_mono - start_ns : 0);
    lrt__jw_end(s->w, '}');
}

static void io_cb(int fd, uint32_t ready, int readers, int writers, void *ctx)
{
    struct snap *s = ctx;
    char buf[64];
    lrt__jw_obj(s->w, NULL);
    lrt__jw_i64(s->w, "fd", fd);
    lrt__jw_str(s->w, "ready", ready_name(ready, buf, sizeof buf));
    lrt__jw_i64(s->w, "readers", readers);
    lrt__jw_i64(s->w, "writers", writers);
    lrt__jw_arr(s->w, "ops");
    lrt__io_ops_foreach(s->rt, fd, uop_cb, s);
    lrt__jw_end(s->w, ']');
    long q = lrt__io_accept_queue(s->rt, fd);
    if (q >= 0) /* a listener on io_uring: connected clients nobody has accepted yet */
        lrt__jw_i64(s->w, "accept_queue", q);
    lrt__jw_end(s->w, '}');
}

static void timer_cb(struct lrt_task *t, void *ctx)
{
    struct snap *s = ctx;
    lrt__jw_obj(s->w, NULL);
    lrt__jw_u64(s->w, "task", t->id);
    lrt__jw_str(s->w, "kind", t->wait_kind == LRT__WAIT_SLEEP ? "sleep" : "timeout");
    lrt__jw_u64(s->w, "deadline_ns", t->timer_deadline);
    lrt__jw_i64(s->w, "remaining_ns", (int64_t)(t->timer_deadline - s->now_rt));
    lrt__jw_end(s->w, '}');
}

static void job_cb(const struct lrt__job_view *v, void *ctx)
{
    struct snap *s = ctx;
    const char *name = NULL;
    for (unsigned i = 0; i < s->fnmemo_n && !name; i++)
        if (s->fnmemo[i].fn == (uint64_t)(uintptr_t)v->fn)
            name = s->fnmemo[i].name;
    if (!name) {
        lrt__frame f;
        lrt__symbolize_ip((uint64_t)(uintptr_t)v->fn, s->sc, &f);
        unsigned k = s->fnmemo_n < 8 ? s->fnmemo_n++ : (unsigned)(v->id % 8);
        s->fnmemo[k].fn = (uint64_t)(uintptr_t)v->fn;
        snprintf(s->fnmemo[k].name, sizeof s->fnmemo[k].name, "%.63s", f.sym[0] ? f.sym : "?");
        name = s->fnmemo[k].name;
    }
    lrt__jw_obj(s->w, NULL);
    lrt__jw_u64(s->w, "id", v->id);
    lrt__jw_str(s->w, "state", v->running ? "running" : "queued");
    lrt__jw_u64(s->w, "state_ns", s->now_mono > v->since_ns ? s->now_mono - v->since_ns : 0);
    lrt__jw_str(s->w, "fn", name);
    lrt__jw_u64(s->w, "task", v->task);
    lrt__jw_end(s->w, '}');
}

static void hist(lrt__jw *w, const char *key, const uint64_t *h, uint64_t samples)
{
    uint64_t rest = 0;
    for (int i = 1; i < 16; i++)
        rest += h[i];
    lrt__jw_arr(w, key);
    lrt__jw_u64(w, NULL, samples > rest ? samples - rest : 0); /* bucket 0 is implicit */
    for (int i = 1; i < 16; i++)
        lrt__jw_u64(w, NULL, h[i]);
    lrt__jw_end(w, ']');
}

/* Process start as Unix time (s), from /proc/self/stat and CLOCK_BOOTTIME. */
static uint64_t process_start_unix(void)
{
    static uint64_t cached;
    if (cached)
        return cached;
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* field 3 is the state right after ") "; starttime is field 22 */
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    uint64_t ticks = strtoull(p, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec boot, real;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    clock_gettime(CLOCK_REALTIME, &real);
    double since_boot = (double)ticks / (double)(hz > 0 ? hz : 100);
    double start = (double)real.tv_sec - ((double)boot.tv_sec - since_boot);
    cached = start > 0 ? (uint64_t)start : 0;
    return cached;
}

static const char *mode_name(int mode)
{
    static const char *const names[] = {"api", "safepoint", "stuck", "idle"};
    return names[mode & 3];
}

/* Record where the value just written (from @from to the end) starts and ends. */
static void part(struct lrt__snap_parts *p, int which, const lrt__jw *w, size_t from, char open)
{
    if (!p || !w->buf)
        return;
    const char *v = memchr(w->buf + from, open, w->len - from);
    p->off[which] = v ? (size_t)(v - w->buf) : w->len;
    p->len[which] = w->len - p->off[which];
}

int lrt__snapshot_ex(struct lrt_runtime *rt, unsigned flags, int mode, const lrt__live *lv, int index,
                     struct lrt__snap_parts *parts, lrt__jw *w)
{
    lrt__sym_init();
    struct snap *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -ENOMEM;
    s->rt = rt;
    s->w = w;
    s->flags = flags;
    s->mode = mode;
    s->live = lv;
    s->index = index;
    s->sc = (flags & LRT_DUMP_BACKTRACES) ? lrt__symcache_get() : NULL;
    uint64_t resolved0 = lrt__symcache_resolved(s->sc);
    s->now_coarse = lrt__coarse_ns();
    s->now_rt = lrt__rt_now(rt);
    s->now_mono = lrt__mono_ns();
    s->self_in_poll = mode == LRT__SNAP_API && rt->current && rt->current->state == LRT__RUNNING;

    unsigned threads = 0, idle = 0;
    size_t queued = 0;
    lrt__pool_stats(rt, &threads, &idle, &queued);
    const char *state;
    if (mode == LRT__SNAP_STUCK)
        state = "stuck";
    else if (mode == LRT__SNAP_IDLE)
        state = "idle";
    else if (rt->shutting_down)
        state = "shutting_down";
    else
        state = rt->in_block_on ? "running" : "idle";

    lrt__jw_obj(w, NULL);
    lrt__jw_u64(w, "version", 1);
    lrt__jw_obj(w, "process");
    lrt__jw_i64(w, "pid", getpid());
    lrt__jw_str(w, "exe", lrt__exe_path());
    lrt__jw_u64(w, "start_time", process_start_unix());
    lrt__jw_str(w, "lrt_version", LRT_VERSION_STRING);
    lrt__jw_i64(w, "runtime_tid", rt->tid);
    lrt__jw_end(w, '}');

    size_t from = w->len;
    lrt__jw_obj(w, "runtime");
    lrt__jw_str(w, "state", state);
    lrt__jw_str(w, "source", mode_name(mode));
    lrt__jw_bool(w, "consistent", mode != LRT__SNAP_IDLE && !(mode == LRT__SNAP_STUCK && !(lv && lv->have)));
    lrt__jw_u64(w, "uptime_ns", s->now_mono - rt->start_ns);
    lrt__jw_u64(w, "now_ns", s->now_rt);
    lrt__jw_bool(w, "paused_clock", rt->paused != 0);
    lrt__jw_u64(w, "current_task", rt->current && rt->current->state == LRT__RUNNING ? rt->current->id : 0);
    lrt__jw_u64(w, "alive_tasks", rt->alive);
    lrt__jw_u64(w, "spawned_tasks", rt->m.spawned);
    lrt__jw_u64(w, "polls", rt->m.polls);
    lrt__jw_u64(w, "forced_yields", rt->m.forced_yields);
    lrt__jw_u64(w, "io_ready_events", rt->m.io_ready);
    lrt__jw_u64(w, "io_registered", lrt__io_registered(rt));
    const char *why = NULL, *drv = lrt_runtime_driver(rt, &why);
    lrt__jw_str(w, "driver", drv ? drv : "none");
    lrt__jw_str(w, "driver_reason", why ? why : "");
    lrt__jw_u64(w, "io_waiters", lrt__io_waiters(rt));
    lrt__jw_u64(w, "timers_pending", rt->wheel.count);
    lrt__jw_u64(w, "timers_fired", rt->m.timers_fired);
    lrt__jw_u64(w, "remote_schedules", rt->m.remote_schedules);
    lrt__jw_u64(w, "parks", rt->m.parks);
    lrt__jw_u64(w, "blocking_jobs", rt->m.blocking_jobs);
    lrt__jw_u64(w, "blocking_threads_busy", threads >= idle ? threads - idle : 0);
    lrt__jw_u64(w, "blocking_threads_idle", idle);
    lrt__jw_u64(w, "blocking_queue_depth", queued);
    uint64_t stalls, suppressed;
    lrt__stall_counts(rt, &stalls, &suppressed);
    lrt__jw_u64(w, "stalls", stalls);
    lrt__jw_u64(w, "stalls_suppressed", suppressed);
    lrt__jw_u64(w, "event_interval", rt->event_interval);
    lrt__jw_u64(w, "budget", rt->budget);
    lrt__jw_u64(w, "stall_threshold_ms", rt->opts.stall_threshold_ms);
    lrt__jw_u64(w, "last_snapshot_pause_ns", rt->last_snapshot_pause_ns);
    hist(w, "poll_time_hist", rt->m.poll_hist, rt->m.polls);
    hist(w, "sched_latency_hist", rt->m.sched_hist, rt->m.polls);
    lrt__jw_end(w, '}');
    part(parts, LRT__PART_RUNTIME, w, from, '{');

    from = w->len;
    lrt__jw_arr(w, "tasks");
    size_t guard = rt->alive + 16;
    for (lrt__link *n = rt->tasks.next; n && n != &rt->tasks && guard--; n = n->next)
        snapshot_task(s, lrt__container_of(n, struct lrt_task, all));
    lrt__jw_end(w, ']');
    part(parts, LRT__PART_TASKS, w, from, '[');

    from = w->len;
    lrt__jw_arr(w, "io");
    lrt__io_foreach(rt, io_cb, s);
    lrt__jw_end(w, ']');
    part(parts, LRT__PART_IO, w, from, '[');

    from = w->len;
    lrt__jw_arr(w, "timers");
    lrt__timers_foreach(rt, timer_cb, s);
    lrt__jw_end(w, ']');
    part(parts, LRT__PART_TIMERS, w, from, '[');

    from = w->len;
    lrt__jw_obj(w, "blocking");
    lrt__jw_u64(w, "threads", threads);
    lrt__jw_u64(w, "idle", idle);
    lrt__jw_u64(w, "queued", queued);
    lrt__jw_u64(w, "max_threads", rt->opts.max_blocking_threads);
    lrt__jw_arr(w, "jobs");
    lrt__pool_foreach(rt, job_cb, s);
    lrt__jw_end(w, ']');
    lrt__jw_end(w, '}');
    part(parts, LRT__PART_BLOCKING, w, from, '{');

    from = w->len;
    lrt__stall_json(rt, w);
    part(parts, LRT__PART_STALLS, w, from, '[');

    /* the wait-for graph is built here only, per snapshot (waitgraph.c) */
    from = w->len;
    struct lrt__wg *wg = lrt__wg_build(rt);
    lrt__wg_json(wg, w);
    lrt__wg_free(wg);
    part(parts, LRT__PART_CYCLES, w, from, '[');
    from = w->len;
    lrt__objects_json(rt, w);
    part(parts, LRT__PART_OBJECTS, w, from, '[');
    lrt__jw_end(w, '}');

    if (getenv("LRT_DUMP_DEBUG"))
        fprintf(stderr,
                "lrt: snapshot: %zu bytes, memo %" PRIu64 " hits %" PRIu64 " misses, %" PRIu64
                " symbols resolved, %.1f ms\n",
                w->len, s->memo_hits, s->memo_misses, lrt__symcache_resolved(s->sc) - resolved0,
                (double)(lrt__mono_ns() - s->now_mono) / 1e6);
    lrt__symcache_put(s->sc);
    lrt__jw_free(&s->frag);
    munmap(s, sizeof *s);
    return w->oom ? -ENOMEM : 0;
}

char *lrt_dump_json(lrt_runtime_t *rt, unsigned flags)
{
    int err = 0;
    rt = lrt__rt_check(rt, &err);
    if (!rt) {
        errno = -err;
        return NULL;
    }
    lrt__jw w = {0};
    uint64_t t0 = lrt__mono_ns();
    err = lrt__snapshot(rt, flags, LRT__SNAP_API, NULL, &w);
    rt->last_snapshot_pause_ns = lrt__mono_ns() - t0;
    char *out = NULL;
    if (!err) {
        out = malloc(w.len + 1);
        if (out) {
            memcpy(out, w.buf, w.len);
            out[w.len] = 0;
        }
    }
    lrt__jw_free(&w);
    if (!out)
        errno = ENOMEM;
    return out;
}

/* ---- deadlock report -------------------------------------------------------------- */

void lrt__dump_deadlock(struct lrt_runtime *rt)
{
    lrt__sym_init();
    uint64_t now = lrt__coarse_ns();
    struct lrt__symcache *sc = lrt__symcache_new();
    lrt__frame f[LRT__MAX_FRAMES];
    struct lrt__wg *wg = lrt__wg_build(rt);
    char text[1024];
    for (size_t c = 0; c < lrt__wg_cycles(wg); c++) {
        lrt__wg_cycle_text(wg, c, text, sizeof text);
        fprintf(stderr, "lrt: %s\n", text);
    }
    lrt__wg_free(wg);
    fprintf(stderr, "lrt: %zu task(s) alive, all asleep:\n", rt->alive);
    fprintf(stderr, "  %-6s %-18s %-10s %-40s %8s  %s\n", "ID", "NAME", "STATE", "WAITING ON", "FOR",
            "SPAWNED AT / WAITS IN");
    for (lrt__link *n = rt->tasks.next; n != &rt->tasks; n = n->next) {
        const struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        char wait[96], dur[24];
        if (t->state == LRT__SUSPENDED || t->wait_kind == LRT__WAIT_YIELD)
            lrt__fmt_wait(lrt__rt_now(rt), t, wait, sizeof wait);
        else
            snprintf(wait, sizeof wait, "-");
        lrt__fmt_dur(now > t->state_since ? now - t->state_since : 0, dur, sizeof dur);
        fprintf(stderr, "  %-6" PRIu64 " %-18.18s %-10s %-40.40s %8s  %s:%d (%s)\n", t->id, t->name,
                lrt__state_names[t->state & 3], wait, dur, t->file, t->line, t->func);
        if ((t->flags & LRT__TF_STARTED) && t->stack && t->sp && t->state != LRT__FINISHED) {
            int k = lrt__unwind_saved(t, sc, f, LRT__MAX_FRAMES, NULL);
            for (int i = 0; i < k && i < 4; i++)
                fprintf(stderr, "  %6s   #%d %s+0x%" PRIx64 "\n", "", i, f[i].sym[0] ? f[i].sym : "??",
                        f[i].sym_off);
        }
        /* how it got there: its last events (history.c) */
        struct lrt__hist_copy h;
        char htext[LRT__HIST_LEN * 2 * 200];
        lrt__hist_read(t, &h);
        if (h.n > 6) { /* the last few: the table stays readable with many tasks */
            memmove(h.ev, h.ev + h.n - 6, 6 * sizeof h.ev[0]);
            h.n = 6;
        }
        /* the row above words its current wait: the history names the kinds only */
        if (lrt__hist_text(&h, now, NULL, "         ", htext, sizeof htext))
            fprintf(stderr, "  %6s   history, oldest first:\n%s", "", htext);
    }
    lrt__symcache_free(sc);
}
