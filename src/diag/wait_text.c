/*
 * wait_text.c - a suspended task's wait reason in words and as the snapshot's "wait"
 * object: "mutex 'accounts' 0x... (held by task 5)", "signal SIGINT,SIGTERM", ...  Shared
 * by the snapshot, the deadlock report and the signal dump, so they cannot word a wait
 * differently.
 *
 * Called between polls or with the runtime thread frozen (snapshot.c's top comment): no
 * malloc, no locks; pointers into the waiting task's stack (select cases, OS wait texts)
 * are valid while it is suspended.
 *
 * Layer: reads the task record and sync headers; writes with json.c.
 */
#include "diag/diag.h"
#include "group.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A duration as people read it: 850ns, 12us, 40ms, 1.3s, 59m58s, 2h05m, 3d04h (lrt-dump
 * and tools/lrt-gdb.py word durations the same way). */
void lrt__fmt_dur(uint64_t ns, char *buf, size_t n)
{
    const uint64_t s = 1000000000u;
    if (ns < 1000)
        snprintf(buf, n, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf(buf, n, "%" PRIu64 "us", ns / 1000);
    else if (ns < s)
        snprintf(buf, n, "%" PRIu64 "ms", ns / 1000000);
    else if (ns < 100 * s)
        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "s", ns / s, ns / (s / 10) % 10);
    else if (ns < 7200 * s)
        snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", ns / (60 * s), ns / s % 60);
    else if (ns < 172800 * s)
        snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m", ns / (3600 * s), ns / (60 * s) % 60);
    else
        snprintf(buf, n, "%" PRIu64 "d%02" PRIu64 "h", ns / (86400 * s), ns / (3600 * s) % 24);
}

static const char *interest_name(uint32_t interest)
{
    bool r = interest & 0x001, wr = interest & 0x004;
    return r && wr ? "read+write" : wr ? "write" : "read";
}


/* "select (2 cases: recv chan 0x..., fd 7 read)": the cases are on the waiting task's
 * stack, valid while it is suspended (the dump runs between polls or with the thread
 * frozen). */
static void fmt_select(const lrt_sel_t *c, size_t count, char *buf, size_t n)
{
    static const char *const what[] = {"?", "recv chan", "send chan", "fd", "fd", "join",
                                       "notify", "oneshot"};
    int k = snprintf(buf, n, "select (%zu cases", count);
    for (size_t i = 0; i < count && k > 0 && (size_t)k < n; i++) {
        int kind = (unsigned)c[i].kind < sizeof what / sizeof *what ? c[i].kind : 0;
        if (kind == LRT_SEL_READABLE || kind == LRT_SEL_WRITABLE)
            k += snprintf(buf + k, n - (size_t)k, "%s fd %d %s", i ? "," : ":", c[i].fd,
                          kind == LRT_SEL_READABLE ? "read" : "write");
        else
            k += snprintf(buf + k, n - (size_t)k, "%s %s %p", i ? "," : ":", what[kind], c[i].obj);
    }
    if (k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ")");
}

/* The wait kinds whose object is a sync object (internal.h: struct lrt__sync_head). */
static bool sync_kind(int kind)
{
    switch (kind) {
    case LRT__WAIT_MUTEX: case LRT__WAIT_SEM: case LRT__WAIT_WATCH: case LRT__WAIT_RWLOCK:
    case LRT__WAIT_BARRIER: case LRT__WAIT_CHAN_SEND: case LRT__WAIT_CHAN_RECV:
    case LRT__WAIT_ONESHOT: case LRT__WAIT_NOTIFY:
        return true;
    default:
        return false;
    }
}

/* " 'name'" for a named sync object, else "" (into @nb). */
static const char *quoted_name(const struct lrt_task *t, char *nb, size_t n)
{
    const char *name = sync_kind(t->wait_kind) ? lrt__sync_name(t->wait_obj) : NULL;
    if (!name)
        return "";
    snprintf(nb, n, " '%.31s'", name);
    return nb;
}

/* Human text for a wait reason (shared by the JSON "object" and the deadlock report). */
void lrt__fmt_wait(uint64_t now, const struct lrt_task *t, char *buf, size_t n)
{
    char nb[40];
    const char *nm = quoted_name(t, nb, sizeof nb);
    switch (t->wait_kind) {
    case LRT__WAIT_FD:
        snprintf(buf, n, "fd %" PRIu64 " (%s)", t->wait_aux, interest_name(t->wait_aux2));
        break;
    case LRT__WAIT_SLEEP:
        if (t->wait_aux >= LRT__DEADLINE_MAX) /* a huge duration: no timer, until cancelled */
            snprintf(buf, n, "sleep (forever)");
        else if (t->wait_aux > now)
        {
            char d[24];
            lrt__fmt_dur(t->wait_aux - now, d, sizeof d);
            snprintf(buf, n, "sleep (%s left)", d);
        }
        else
            snprintf(buf, n, "sleep (due)");
        break;
    case LRT__WAIT_JOIN: {
        const struct lrt_task *j = t->wait_obj;
        if (j && j->id == t->wait_aux && j->name)
            snprintf(buf, n, "join of task %" PRIu64 " '%s'", t->wait_aux, j->name);
        else
            snprintf(buf, n, "join of task %" PRIu64, t->wait_aux);
        break;
    }
    case LRT__WAIT_BLOCKING:
        snprintf(buf, n, "blocking job %" PRIu64, t->wait_aux);
        break;
    case LRT__WAIT_MUTEX:
        snprintf(buf, n, "mutex%s %p (held by task %" PRIu64 ")", nm, t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_SEM:
        snprintf(buf, n, "semaphore%s %p (%" PRIu64 " permits)", nm, t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_WATCH:
        snprintf(buf, n, "watch%s %p (past version %" PRIu64 ")", nm, t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_RWLOCK:
        if (t->wait_aux)
            snprintf(buf, n, "rwlock%s %p (written by task %" PRIu64 ")", nm, t->wait_obj, t->wait_aux);
        else
            snprintf(buf, n, "rwlock%s %p (read-held or queued)", nm, t->wait_obj);
        break;
    case LRT__WAIT_BARRIER:
        snprintf(buf, n, "barrier%s %p (%" PRIu64 " more to arrive)", nm, t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_CHAN_SEND:
        snprintf(buf, n, "channel%s %p (send, full)", nm, t->wait_obj);
        break;
    case LRT__WAIT_CHAN_RECV:
        snprintf(buf, n, "channel%s %p (recv, empty)", nm, t->wait_obj);
        break;
    case LRT__WAIT_ONESHOT:
        snprintf(buf, n, "oneshot%s %p", nm, t->wait_obj);
        break;
    case LRT__WAIT_NOTIFY:
        snprintf(buf, n, "notify%s %p", nm, t->wait_obj);
        break;
    case LRT__WAIT_GROUP: {
        /* the group outlives this wait (free refuses while join_next waits; free's own
         * wait ends before it frees) */
        const struct lrt_group *g = t->wait_obj;
        snprintf(buf, n, "group %" PRIu64 " '%s' (%zu left)", t->wait_aux, g->name, g->len);
        break;
    }
    case LRT__WAIT_YIELD:
        snprintf(buf, n, "yield");
        break;
    case LRT__WAIT_SELECT:
        fmt_select(t->wait_obj, (size_t)t->wait_aux, buf, n);
        break;
    case LRT__WAIT_SIGNAL: case LRT__WAIT_PROCESS: case LRT__WAIT_DNS: case LRT__WAIT_FILE:
        /* the waiting call's own text (names.h), bounded: a reader on another thread
         * must not run past it even if it were not terminated */
        snprintf(buf, n, "%.*s", LRT__WAIT_TEXT - 1, t->wait_obj ? (const char *)t->wait_obj : "?");
        break;
    case LRT__WAIT_URING: /* "recv fd 7 (uring)": the operation in flight, by its fd */
        snprintf(buf, n, "%s fd %" PRIu64 " (uring)",
                 t->wait_aux2 < LRT__IO__COUNT ? lrt__io_op_names[t->wait_aux2] : "op", t->wait_aux);
        break;
    default:
        snprintf(buf, n, "-");
        break;
    }
}

void lrt__write_wait(lrt__jw *w, uint64_t now_rt, const struct lrt_task *t)
{
    char buf[128];
    int kind = t->state == LRT__RUNNING ? LRT__WAIT_NONE : t->wait_kind;
    if (kind >= LRT__WAIT__COUNT)
        kind = LRT__WAIT_NONE;
    lrt__jw_obj(w, "wait");
    lrt__jw_str(w, "kind", lrt__wait_names[kind]);
    if (kind == LRT__WAIT_NONE) {
        lrt__jw_str(w, "object", NULL);
    } else {
        lrt__fmt_wait(now_rt, t, buf, sizeof buf);
        lrt__jw_str(w, "object", buf);
        const char *name = sync_kind(kind) ? lrt__sync_name(t->wait_obj) : NULL;
        if (name) {
            char nm[32];
            snprintf(nm, sizeof nm, "%.31s", name);
            lrt__jw_str(w, "name", nm);
        }
    }
    switch (kind) {
    case LRT__WAIT_FD:
        lrt__jw_i64(w, "fd", (int64_t)t->wait_aux);
        lrt__jw_str(w, "interest", interest_name(t->wait_aux2));
        break;
    case LRT__WAIT_SLEEP:
        if (t->wait_aux >= LRT__DEADLINE_MAX)
            break; /* no deadline */
        lrt__jw_u64(w, "deadline_ns", t->wait_aux);
        lrt__jw_i64(w, "remaining_ns", (int64_t)(t->wait_aux - now_rt));
        break;
    case LRT__WAIT_JOIN:
        lrt__jw_u64(w, "task", t->wait_aux);
        break;
    case LRT__WAIT_BLOCKING:
        lrt__jw_u64(w, "job", t->wait_aux);
        break;
    case LRT__WAIT_MUTEX:
        lrt__jw_u64(w, "owner", t->wait_aux);
        break;
    case LRT__WAIT_SEM:
        lrt__jw_u64(w, "permits", t->wait_aux);
        break;
    case LRT__WAIT_GROUP:
        lrt__jw_u64(w, "group", t->wait_aux);
        break;
    case LRT__WAIT_WATCH:
        lrt__jw_u64(w, "version", t->wait_aux);
        break;
    case LRT__WAIT_RWLOCK:
        if (t->wait_aux)
            lrt__jw_u64(w, "owner", t->wait_aux);
        break;
    case LRT__WAIT_BARRIER:
        lrt__jw_u64(w, "missing", t->wait_aux);
        break;
    case LRT__WAIT_SIGNAL:
        lrt__jw_i64(w, "fd", (int64_t)t->wait_aux);
        break;
    case LRT__WAIT_PROCESS:
        lrt__jw_i64(w, "pid", (int64_t)t->wait_aux);
        break;
    case LRT__WAIT_DNS:
        lrt__jw_u64(w, "job", t->wait_aux);
        break;
    case LRT__WAIT_FILE:
        lrt__jw_u64(w, "job", t->wait_aux);
        if ((int32_t)t->wait_aux2 >= 0)
            lrt__jw_i64(w, "fd", (int32_t)t->wait_aux2);
        break;
    case LRT__WAIT_URING:
        lrt__jw_i64(w, "fd", (int64_t)t->wait_aux);
        lrt__jw_str(w, "op", t->wait_aux2 < LRT__IO__COUNT ? lrt__io_op_names[t->wait_aux2] : "?");
        break;
    default:
        break;
    }
    if ((kind >= LRT__WAIT_CHAN_SEND && kind < LRT__WAIT_SIGNAL) || kind == LRT__WAIT_FD)
        lrt__jw_hex(w, "address", (uint64_t)(uintptr_t)t->wait_obj);
    if ((t->flags & LRT__TF_TIMER) && kind != LRT__WAIT_SLEEP) {
        lrt__jw_u64(w, "deadline_ns", t->timer_deadline);
        lrt__jw_i64(w, "remaining_ns", (int64_t)(t->timer_deadline - now_rt));
    }
    lrt__jw_end(w, '}');
}
