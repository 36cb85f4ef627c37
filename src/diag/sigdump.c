/*
 * sigdump.c - the text dump on a signal (LRT_DUMP_SIGNAL=SIGQUIT, a name or a number):
 * every runtime of the process writes its task table with backtraces, Go-style, to
 * stderr or to LRT_DUMP_FILE (appended), and the process keeps running.  For containers
 * where the log is all there is.
 *
 * The handler only sets a flag (`pending`): it may run on any thread, at any moment,
 * with any lock held.  The ticker thread polls that flag at its existing rate (1 ms
 * while runtimes are busy, up to 64 ms when idle; lrt__ticker_watch) and starts a
 * short-lived dump thread, so a dump never holds up the switch clock.  That thread takes
 * each runtime's snapshot the way the dump agent does (agent.c, round_stuck): it posts a
 * request to the runtime's inbox and the runtime thread writes the snapshot at its next
 * safe point (consistent state); when the runtime thread stays inside one poll for
 * STUCK_AFTER, the dump thread captures it where it is (live.c: from /proc in a system
 * call, else frozen in a signal handler) and writes the snapshot itself ("stuck", the
 * running task with its live backtrace), and a runtime outside lrt_block_on is frozen
 * the same way ("idle").  The snapshot is the JSON of lrt__snapshot (one code path
 * with lrt-dump, its memoised unwinding and its symbols), read back with jansson once
 * the runtime thread runs again and rendered as text, frames with file:line when libdw
 * is there (srcline.c).
 *
 * Lifetime: each runtime registers at lrt_runtime_new (when the variable names a
 * signal) and leaves at shutdown; a runtime being dumped is `busy`, and its shutdown
 * waits for the dump to be done with it, serving the dump's request itself if the dump
 * waits for its safe point (so shutdown is not delayed until the stuck fallback).
 *
 * Layer: calls snapshot.c, live.c, srcline.c, unwind.c (thread exit), the inbox and the
 * ticker.
 * State: the registry of runtimes and the dump's request, under `mu`.
 */
#include "diag/diag.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define STUCK_AFTER_NS (150000000ull)   /* as the agent: a poll this long is stuck */
#define IDLE_AFTER_NS (1000000000ull)   /* in lrt_block_on but no safe point: freeze it */
#define CAPTURE_TIMEOUT_NS (3000000000ull)

struct entry {
    struct entry *next;
    struct lrt_runtime *rt;
    atomic_int request;      /* inbox flag: the dump waits for a safe point */
    int inbox_id;
    lrt__notifier *notifier;
    /* under mu */
    int busy;                /* the dump thread reads this runtime */
    bool want, have;         /* a safe-point snapshot is wanted / is in result */
    lrt__jw result;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static struct entry *entries;
static bool dumping, again;
static int dump_sig;                 /* the signal with our handler, 0 = none */
static char dump_file[512];          /* LRT_DUMP_FILE at the last runtime's start */
/* STUCK_AFTER_NS, or LRT_DUMP_STUCK_MS at the last runtime's start (a test hook: a test
 * that needs the safe point, never the fallback, makes it long) */
static uint64_t stuck_after_ns = STUCK_AFTER_NS;
static struct sigaction prev_act;
static atomic_int pending;           /* set by the handler, taken by kick() */

static void cv_make(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

/* A child forked during a dump has no dump thread, and mu may have been held. */
static void fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
    cv_make();
    dumping = again = false;
}

static void cv_init(void)
{
    cv_make();
    pthread_atfork(NULL, NULL, fork_child);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    atomic_store(&pending, 1);
    /* a handler the program had for this signal still runs */
    if (prev_act.sa_flags & SA_SIGINFO) {
        if (prev_act.sa_sigaction)
            prev_act.sa_sigaction(sig, si, uc);
    } else if (prev_act.sa_handler != SIG_DFL && prev_act.sa_handler != SIG_IGN) {
        prev_act.sa_handler(sig);
    }
    errno = saved;
}

/* "SIGQUIT", "quit", "3" -> 3; -1 when it is no signal that can be caught for this
 * (SIGKILL/SIGSTOP cannot; the crash signals are crash.c's, SIGURG is live.c's). */
static int parse_signal(const char *s)
{
    int sig = -1;
    if (*s >= '0' && *s <= '9') {
        char *end;
        long v = strtol(s, &end, 10);
        if (!*end && v > 0 && v < NSIG)
            sig = (int)v;
    } else {
        const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (int i = 1; i < NSIG && sig < 0; i++) {
            const char *a = sigabbrev_np(i);
            if (a && strcasecmp(a, n) == 0)
                sig = i;
        }
    }
    switch (sig) {
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGABRT:
    case SIGURG:
        return -1;
    default:
        return sig;
    }
}

/* ---- the safe point (runtime thread) --------------------------------------------------- */
static void serve(struct entry *e)
{
    pthread_mutex_lock(&mu);
    bool want = e->want && !e->have;
    pthread_mutex_unlock(&mu);
    if (!want)
        return;
    lrt__jw jw = {0};
    lrt__snapshot(e->rt, LRT_DUMP_BACKTRACES, LRT__SNAP_SAFEPOINT, NULL, &jw);
    pthread_mutex_lock(&mu);
    if (e->want && !e->have) {
        e->result = jw;
        e->have = true;
        jw.buf = NULL;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    lrt__jw_free(&jw);
}

static size_t drain(struct lrt_runtime *rt, void *ctx)
{
    (void)rt;
    struct entry *e = ctx;
    atomic_store(&e->request, 0);
    serve(e);
    return 1;
}

/* ---- capture (dump thread) -------------------------------------------------------------- */
/* The runtime thread answered no safe point: snapshot it from here if it is stuck in a
 * poll or outside lrt (agent.c's round_stuck).  Returns true with @jw written. */
static bool capture_stuck(struct entry *e, uint64_t start, uint64_t *seq_seen, uint64_t *seq_since,
                          uint64_t stuck_after, lrt__jw *jw)
{
    struct lrt_runtime *rt = e->rt;
    uint64_t now = lrt__mono_ns();
    uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE);
    struct lrt_task *cur = __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
    if (seq != *seq_seen) {
        *seq_seen = seq;
        *seq_since = now;
    }
    if (now - start < stuck_after || now - *seq_since < stuck_after)
        return false;
    bool in_poll = (seq & 1) && cur;
    uint64_t idle_after = stuck_after > IDLE_AFTER_NS ? stuck_after : IDLE_AFTER_NS;
    if (!in_poll && __atomic_load_n(&rt->in_block_on, __ATOMIC_RELAXED) && now - start < idle_after)
        return false;
    lrt__live lv;
    if (in_poll)
        lrt__live_capture(rt->tid, &lv, 200);
    else
        lrt__live_freeze(rt->tid, &lv, 200);
    if (__atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq) {
        lrt__live_release(&lv); /* it moved on: a safe point will come */
        return false;
    }
    int err = lrt__snapshot(rt, LRT_DUMP_BACKTRACES, in_poll ? LRT__SNAP_STUCK : LRT__SNAP_IDLE, &lv, jw);
    bool unfrozen = !lv.have;
    lrt__live_release(&lv);
    if (err || (unfrozen && __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq)) {
        lrt__jw_free(jw); /* out of memory, or the thread came back while we read */
        return false;
    }
    return true;
}

/* A snapshot of @e's runtime into @jw: 0, or -ETIMEDOUT. */
static int capture(struct entry *e, uint64_t stuck_after, lrt__jw *jw)
{
    struct lrt_runtime *rt = e->rt;
    uint64_t start = lrt__mono_ns();
    uint64_t seq_seen = __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE), seq_since = start;
    pthread_mutex_lock(&mu);
    e->want = true;
    e->have = false;
    pthread_cond_broadcast(&cv); /* a runtime waiting in lrt__sigdump_stop serves it */
    pthread_mutex_unlock(&mu);
    lrt__inbox_post(e->notifier, &e->request);
    int rc = -ETIMEDOUT;
    for (;;) {
        pthread_mutex_lock(&mu);
        if (!e->have) {
            uint64_t until = lrt__mono_ns() + 20000000u;
            struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
            pthread_cond_timedwait(&cv, &mu, &ts);
        }
        if (e->have) {
            *jw = e->result;
            memset(&e->result, 0, sizeof e->result);
            e->have = false;
            rc = 0;
        }
        if (rc == 0 || lrt__mono_ns() - start > CAPTURE_TIMEOUT_NS + stuck_after) {
            e->want = false;
            pthread_mutex_unlock(&mu);
            break;
        }
        pthread_mutex_unlock(&mu); /* never held while the runtime thread is frozen */
        if (capture_stuck(e, start, &seq_seen, &seq_since, stuck_after, jw)) {
            pthread_mutex_lock(&mu);
            e->want = false;
            if (e->have) /* the safe point came too, meanwhile */
                lrt__jw_free(&e->result);
            e->have = false;
            pthread_mutex_unlock(&mu);
            rc = 0;
            break;
        }
    }
    return rc;
}

/* ---- text (dump thread, the runtime threads running again) ----------------------------- */
#define S(o, k) json_string_value(json_object_get((o), (k)))
#define U(o, k) ((uint64_t)json_integer_value(json_object_get((o), (k))))

/* as lrt__fmt_dur words it (crash.c's put_dur, async-signal-safe, likewise) */
static void fmt_dur(FILE *f, uint64_t ns)
{
    char b[24];
    lrt__fmt_dur(ns, b, sizeof b);
    fputs(b, f);
}

/* "  teller (tests/bank.c:37)", or without libdw "  teller+0x10 (/path/bank+0x1510)" */
static void render_frames(FILE *f, json_t *bt, bool live, struct lrt__srclines *sl)
{
    size_t i;
    json_t *fr;
    json_array_foreach(bt, i, fr) {
        const char *sym = S(fr, "symbol"), *mod = S(fr, "module"), *mo = S(fr, "module_offset");
        char where[512];
        /* every frame but a live capture's first is a return address */
        if (mod && mo && lrt__srcline(sl, mod, strtoull(mo, NULL, 16), live && i == 0, where, sizeof where)) {
            fprintf(f, "  %s (%s)\n", sym && *sym ? sym : "??", where);
            continue;
        }
        fputs("  ", f);
        if (sym && *sym)
            fprintf(f, "%s+0x%" PRIx64, sym, U(fr, "offset"));
        else
            fputs("??", f);
        if (mod && mo)
            fprintf(f, " (%s+%s)\n", mod, mo);
        else
            fprintf(f, " (%s)\n", S(fr, "ip") ? S(fr, "ip") : "?");
    }
}

/* "task 5 'ledger' [mutex 'accounts' 0x... (held by task 6), 3m12s]:" and its frames */
static void render_task(FILE *f, json_t *t, struct lrt__srclines *sl)
{
    const char *state = S(t, "state");
    json_t *wait = json_object_get(t, "wait");
    const char *obj = S(wait, "object");
    fprintf(f, "task %" PRIu64 " '%s' [", U(t, "id"), S(t, "name") ? S(t, "name") : "?");
    const char *addr = obj && json_object_get(wait, "name") ? strstr(obj, " 0x") : NULL;
    if (state && strcmp(state, "suspended") == 0 && addr) /* named: the name, not the address */
        fprintf(f, "%.*s%s", (int)(addr - obj), obj, addr + 3 + strspn(addr + 3, "0123456789abcdef"));
    else if (state && strcmp(state, "suspended") == 0 && obj)
        fputs(obj, f);
    else
        fputs(state ? state : "?", f);
    if (!json_is_true(json_object_get(t, "started")))
        fputs(", not started", f);
    if (json_is_true(json_object_get(t, "cancelled")))
        fputs(", cancelled", f);
    fputs(", ", f);
    fmt_dur(f, U(t, "state_ns"));
    fputs("]:\n", f);
    json_t *bt = json_object_get(t, "backtrace");
    if (bt && json_array_size(bt))
        render_frames(f, bt, state && strcmp(state, "running") == 0, sl);
    else if (json_is_true(json_object_get(t, "started")) && state && strcmp(state, "finished") != 0)
        fputs("  (no backtrace)\n", f);
    json_t *sp = json_object_get(t, "spawned_at");
    if (json_is_true(json_object_get(t, "root")) || !S(sp, "file"))
        fprintf(f, "  root task of %s\n\n", S(sp, "func") ? S(sp, "func") : "lrt_block_on");
    else
        fprintf(f, "  spawned at %s:%" PRIu64 " (in %s)\n\n", S(sp, "file"), U(sp, "line"),
                S(sp, "func") ? S(sp, "func") : "?");
}

static void render(FILE *f, const lrt__jw *jw, int idx, int n, struct lrt__srclines *sl)
{
    json_error_t err;
    json_t *root = json_loadb(jw->buf, jw->len, 0, &err);
    if (!root) {
        fprintf(f, "runtime %d of %d: unreadable snapshot (%s)\n\n", idx, n, err.text);
        return;
    }
    json_t *r = json_object_get(root, "runtime"), *tasks = json_object_get(root, "tasks");
    const char *src = S(r, "source");
    fprintf(f, "runtime %d of %d: thread %" PRIu64 ", %s, %" PRIu64 " task(s), %s\n\n", idx, n,
            U(json_object_get(root, "process"), "runtime_tid"), S(r, "state") ? S(r, "state") : "?",
            (uint64_t)json_array_size(tasks),
            !src ? "?"
            : strcmp(src, "stuck") == 0 ? "stuck in a poll: captured where it runs, the rest may be mid-update"
            : strcmp(src, "idle") == 0  ? "outside lrt_block_on: captured from another thread"
                                        : "captured at a safe point");
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
        render_task(f, t, sl);
    json_decref(root);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void dump_once(void)
{
    pthread_mutex_lock(&mu);
    int n = 0, sig = dump_sig;
    for (struct entry *e = entries; e; e = e->next)
        n++;
    struct entry **list = calloc((size_t)n + 1, sizeof *list);
    n = 0;
    for (struct entry *e = entries; e && list; e = e->next) {
        e->busy++;
        list[n++] = e;
    }
    char path[sizeof dump_file];
    memcpy(path, dump_file, sizeof path);
    uint64_t stuck_after = stuck_after_ns;
    pthread_mutex_unlock(&mu);
    if (!list)
        return;

    int fd = 2;
    if (path[0] && (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "lrt: LRT_DUMP_FILE=%s: %s; task dump on stderr\n", path, strerror(errno));
        fd = 2;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f) {
        time_t now = time(NULL);
        struct tm tm;
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        const char *abbrev = sigabbrev_np(sig); /* NULL for real-time signals */
        if (abbrev)
            fprintf(f, "lrt: task dump on SIG%s, pid %d, %s, %d runtime(s)\n\n", abbrev, (int)getpid(), when, n);
        else
            fprintf(f, "lrt: task dump on signal %d, pid %d, %s, %d runtime(s)\n\n", sig, (int)getpid(), when, n);
        fflush(f);
        write_all(fd, text, len); /* the header at once: a slow capture shows it began */
        rewind(f);
        struct lrt__srclines *sl = lrt__srclines_new();
        for (int i = 0; i < n; i++) {
            lrt__jw jw = {0};
            if (capture(list[i], stuck_after, &jw) == 0)
                render(f, &jw, i + 1, n, sl);
            else
                fprintf(f, "runtime %d of %d: thread %d gave no snapshot within %llu s\n\n", i + 1, n,
                        (int)list[i]->rt->tid, (CAPTURE_TIMEOUT_NS + stuck_after) / 1000000000ull);
            lrt__jw_free(&jw);
            fflush(f);
            write_all(fd, text, (size_t)ftell(f));
            rewind(f);
        }
        lrt__srclines_free(sl);
        fprintf(f, "lrt: end of task dump\n");
        fflush(f);
        write_all(fd, text, (size_t)ftell(f));
        fclose(f);
        free(text);
    }
    if (fd != 2)
        close(fd);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n; i++)
        list[i]->busy--;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    free(list);
}

static void *dump_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "lrt-sigdump");
    for (;;) {
        dump_once();
        pthread_mutex_lock(&mu);
        bool more = again;
        again = false;
        dumping = more;
        pthread_mutex_unlock(&mu);
        if (!more)
            break;
    }
    lrt__unwind_thread_exit();
    return NULL;
}

/* The ticker thread saw the flag: start the dump thread (or ask the running one for
 * another round: a signal during a dump is served after it, never dropped). */
static void kick(void)
{
    if (!atomic_exchange(&pending, 0))
        return;
    pthread_mutex_lock(&mu);
    if (dumping || !entries) {
        again = dumping;
        pthread_mutex_unlock(&mu);
        return;
    }
    dumping = true;
    pthread_mutex_unlock(&mu);
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* born with every signal blocked */
    int err = pthread_create(&th, &a, dump_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (err) {
        fprintf(stderr, "lrt: task dump: no thread for it (%s)\n", strerror(err));
        pthread_mutex_lock(&mu);
        dumping = false;
        pthread_mutex_unlock(&mu);
    }
}

/* ---- start / stop ----------------------------------------------------------------------- */
static bool warned;

void lrt__sigdump_start(struct lrt_runtime *rt)
{
    /* read at every runtime's start, not once per process: a forked child may set it
     * before its own first runtime */
    const char *v = getenv("LRT_DUMP_SIGNAL");
    if (!v || !*v)
        return;
    int sig = parse_signal(v);
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&mu);
    if (sig < 0 && !warned) {
        warned = true;
        fprintf(stderr, "lrt: LRT_DUMP_SIGNAL=%.32s: not a signal name or number lrt can use "
                        "(e.g. SIGQUIT, SIGUSR2, 3); no task dump on a signal\n", v);
    }
    if (sig > 0 && sig != dump_sig) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (dump_sig) /* another signal than before: give the old one back */
            sigaction(dump_sig, &prev_act, NULL);
        if (sigaction(sig, &sa, &old) == 0) {
            prev_act = old;
            dump_sig = sig;
            lrt__ticker_watch(&pending, kick);
        }
    }
    const char *file = getenv("LRT_DUMP_FILE"), *stuck = getenv("LRT_DUMP_STUCK_MS");
    if (file && strlen(file) >= sizeof dump_file) { /* never a truncated path: stderr */
        fprintf(stderr, "lrt: LRT_DUMP_FILE is longer than %zu bytes; task dumps go to stderr\n",
                sizeof dump_file - 1);
        file = NULL;
    }
    snprintf(dump_file, sizeof dump_file, "%s", file ? file : "");
    long ms = stuck ? strtol(stuck, NULL, 10) : 0;
    stuck_after_ns = ms > 0 && ms <= 3600000 ? (uint64_t)ms * 1000000u : STUCK_AFTER_NS;
    pthread_mutex_unlock(&mu);
    if (sig <= 0)
        return;
    struct entry *e = calloc(1, sizeof *e);
    if (!e) {
        fprintf(stderr, "lrt: LRT_DUMP_SIGNAL: out of memory; this runtime is left out of task dumps\n");
        return;
    }
    e->rt = rt;
    e->inbox_id = lrt__inbox_register(rt, &e->request, drain, e);
    if (e->inbox_id < 0) {
        fprintf(stderr, "lrt: LRT_DUMP_SIGNAL: %s; this runtime is left out of task dumps\n", strerror(-e->inbox_id));
        free(e);
        return;
    }
    e->notifier = lrt__notifier_get(rt);
    pthread_mutex_lock(&mu);
    if (!entries)
        atomic_store(&pending, 0); /* a signal while no runtime existed: nothing to show then */
    e->next = entries;
    entries = e;
    pthread_mutex_unlock(&mu);
}

void lrt__sigdump_stop(struct lrt_runtime *rt)
{
    pthread_mutex_lock(&mu);
    struct entry **pp = &entries;
    while (*pp && (*pp)->rt != rt)
        pp = &(*pp)->next;
    struct entry *e = *pp;
    if (!e) {
        pthread_mutex_unlock(&mu);
        return;
    }
    *pp = e->next;
    while (e->busy) {
        if (e->want && !e->have) { /* the dump waits for our safe point: this is one */
            pthread_mutex_unlock(&mu);
            serve(e);
            pthread_mutex_lock(&mu);
            continue;
        }
        pthread_cond_wait(&cv, &mu);
    }
    lrt__jw_free(&e->result);
    pthread_mutex_unlock(&mu);
    lrt__inbox_unregister(rt, e->inbox_id);
    lrt__notifier_put(e->notifier);
    free(e);
}
