/*
 * lrt-top - a live, full-screen view of the tasks of an lrt process, like top(1): runtime
 * totals, the blocking pool, one row per task with its rates between two snapshots, and
 * lints in a footer.  Snapshots come from the process's dump agent (tools/agent_conn.c,
 * the same client as lrt-dump's; a process without an agent is asked to start one).
 * docs/lrt-top.1 defines every column, key and lint.
 *
 * Exit status: 0 quit with q, 1 runtime error (no agent to talk to), 2 usage error,
 * 3 the target process exited while watched.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <ncurses.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_conn.h"

#define STARVED_NS 1000000000ull   /* runnable this long: the runtime does not get to it */
#define LONG_POLL_NS 10000000ull   /* a poll longer than this holds up every other task */
#define SELF_WAKE_POLLS_S 100.0    /* polls/s of a task that keeps waking itself */
#define SELF_WAKE_SLEEP_NS 1000000 /* a sleep this short is a yield in disguise */
#define MAX_LINTS 6

static const char *prog = "lrt-top";

static struct {
    double delay_s;
    uint64_t timeout_ms;
    const char *socket;
} opt = {.delay_s = 1.0, .timeout_ms = 5000};

static struct agent_conn conn = {.fd = -1};
static bool curses_on;

static void leave_curses(void)
{
    if (curses_on)
        endwin();
    curses_on = false;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [OPTIONS] PID\n"
            "A live view of the tasks of a running lrt process (like top); one started without\n"
            "its dump agent is asked to start it (unless it runs with LRT_DUMP=0).\n"
            "\n"
            "  -d, --delay=SECS       refresh every SECS seconds (default 1, at least 0.1)\n"
            "  -S, --socket=PATH      talk to this agent socket instead of finding PID's\n"
            "      --timeout=MS       give up on one answer after MS milliseconds (default 5000)\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Keys: P B T N I S M sort by polls/s, busy %%, time in state, name, id, state, longest\n"
            "poll; < > previous/next column; r reverse; / filter by name; j k arrows pick a task;\n"
            "Enter its backtrace and history; Esc back; q quit.\n"
            "\n"
            "Exit status: 0 quit, 1 error, 2 usage error, 3 the process exited.\n",
            prog);
}

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

/* ---- numbers and text ------------------------------------------------------------- */

static const char *S(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static uint64_t U(json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

/* ---- the model: one row per task, rates from the previous snapshot ---------------- */

struct row {
    unsigned rt;
    uint64_t id;
    const char *name, *state, *wait, *wait_kind; /* point into the current snapshot */
    uint64_t state_ns, polls, busy_ns, now_ns;
    double polls_s, busy_pct; /* < 0: no previous snapshot of this task */
    int64_t max_poll_ns;      /* < 0: the snapshot has no max_poll_ns */
    json_t *task;
};

/* what a row needs from the previous snapshot */
struct prev {
    unsigned rt;
    uint64_t id, polls, busy_ns, now_ns;
};

static struct row *rows;
static size_t nrows;
static struct prev *prevs;
static size_t nprevs;
static json_t *snap; /* the current snapshot, owned */

/* totals over every runtime; *_s are per-second rates (< 0 before two snapshots) */
static struct {
    uint64_t now_ns, polls, parks;
    double polls_s, parks_s;
} tot, tot_prev;

static int cmp_prev(const void *a, const void *b)
{
    const struct prev *x = a, *y = b;
    if (x->rt != y->rt)
        return x->rt < y->rt ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const struct prev *find_prev(unsigned rt, uint64_t id)
{
    struct prev key = {.rt = rt, .id = id};
    return nprevs ? bsearch(&key, prevs, nprevs, sizeof *prevs, cmp_prev) : NULL;
}

/* the runtime object a task belongs to (runtimes[rt].runtime, else the top-level one) */
static json_t *runtime_of(unsigned rt)
{
    json_t *rts = json_object_get(snap, "runtimes");
    json_t *r = json_object_get(json_array_get(rts, rt), "runtime");
    return r ? r : json_object_get(snap, "runtime");
}

/* Take @s (owned) as the current snapshot: the old one's counters become the baseline. */
static void take_snapshot(json_t *s)
{
    /* the baseline: the rows of the snapshot being replaced */
    free(prevs);
    prevs = calloc(nrows ? nrows : 1, sizeof *prevs);
    nprevs = 0;
    for (size_t i = 0; prevs && i < nrows; i++)
        prevs[nprevs++] = (struct prev){rows[i].rt, rows[i].id, rows[i].polls, rows[i].busy_ns, rows[i].now_ns};
    if (nprevs)
        qsort(prevs, nprevs, sizeof *prevs, cmp_prev);
    tot_prev = tot;
    json_decref(snap);
    snap = s;

    json_t *tasks = json_object_get(snap, "tasks");
    free(rows);
    nrows = 0;
    rows = calloc(json_array_size(tasks) + 1, sizeof *rows);
    if (!rows)
        agent_die("out of memory");
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        struct row *r = &rows[nrows++];
        r->task = t;
        r->rt = (unsigned)U(t, "runtime");
        r->id = U(t, "id");
        r->name = S(t, "name");
        r->state = S(t, "state");
        json_t *w = json_object_get(t, "wait");
        r->wait = json_is_string(json_object_get(w, "object")) ? S(w, "object") : "";
        r->wait_kind = S(w, "kind");
        r->state_ns = U(t, "state_ns");
        r->polls = U(t, "polls");
        r->busy_ns = U(t, "busy_ns");
        r->now_ns = U(runtime_of(r->rt), "now_ns");
        json_t *mp = json_object_get(t, "max_poll_ns");
        r->max_poll_ns = json_is_integer(mp) ? (int64_t)json_integer_value(mp) : -1;
        const struct prev *p = find_prev(r->rt, r->id);
        r->polls_s = r->busy_pct = -1;
        if (p && r->now_ns > p->now_ns) {
            double dt = (double)(r->now_ns - p->now_ns);
            r->polls_s = r->polls >= p->polls ? (double)(r->polls - p->polls) * 1e9 / dt : 0;
            r->busy_pct = r->busy_ns >= p->busy_ns ? (double)(r->busy_ns - p->busy_ns) * 100.0 / dt : 0;
            if (r->busy_pct > 100)
                r->busy_pct = 100; /* busy_ns is sampled at 4 ms: a short window can overshoot */
        }
    }

    memset(&tot, 0, sizeof tot);
    json_t *rts = json_object_get(snap, "runtimes");
    size_t nrt = json_is_array(rts) ? json_array_size(rts) : 1;
    for (size_t k = 0; k < nrt; k++) {
        json_t *r = runtime_of((unsigned)k);
        tot.polls += U(r, "polls");
        tot.parks += U(r, "parks");
    }
    tot.now_ns = U(runtime_of(0), "now_ns");
    tot.polls_s = tot.parks_s = -1;
    if (tot_prev.now_ns && tot.now_ns > tot_prev.now_ns) {
        double dt = (double)(tot.now_ns - tot_prev.now_ns);
        tot.polls_s = tot.polls >= tot_prev.polls ? (double)(tot.polls - tot_prev.polls) * 1e9 / dt : 0;
        tot.parks_s = tot.parks >= tot_prev.parks ? (double)(tot.parks - tot_prev.parks) * 1e9 / dt : 0;
    }
}

/* ---- lints -------------------------------------------------------------------------- */

static char lints[MAX_LINTS][256];
static int nlints, lints_more;

static void lint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lint(const char *fmt, ...)
{
    if (nlints == MAX_LINTS) {
        lints_more++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lints[nlints++], sizeof lints[0], fmt, ap);
    va_end(ap);
}

/* the longest stall on record of task @id of runtime @rt (0 if none) */
static uint64_t stall_of(unsigned rt, uint64_t id)
{
    json_t *rts = json_object_get(snap, "runtimes");
    json_t *stalls = json_is_array(rts) ? json_object_get(json_array_get(rts, rt), "stalls")
                                        : json_object_get(snap, "stalls");
    uint64_t worst = 0;
    size_t i;
    json_t *s;
    json_array_foreach(stalls, i, s) {
        if (U(s, "task") == id && U(s, "duration_ns") > worst)
            worst = U(s, "duration_ns");
    }
    return worst;
}

/* Is the object @t waits on closed?  The wait text says so, or the snapshot's "objects"
 * entry for its address does. */
static bool waits_on_closed(const struct row *r)
{
    if (strncmp(r->wait_kind, "chan_", 5) != 0 && strcmp(r->wait_kind, "oneshot") != 0)
        return false;
    if (strstr(r->wait, "closed"))
        return true;
    const char *addr = S(json_object_get(r->task, "wait"), "address");
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(snap, "objects"), i, o) {
        if (*addr && strcmp(S(o, "address"), addr) == 0)
            return json_is_true(json_object_get(o, "closed"));
    }
    return false;
}

static void compute_lints(void)
{
    nlints = lints_more = 0;
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        char d[32];
        /* a deadline long past is as good as runnable: the timer is due, nobody fires it */
        json_t *rem = json_object_get(json_object_get(r->task, "wait"), "remaining_ns");
        uint64_t overdue = json_is_integer(rem) && json_integer_value(rem) < 0
                               ? (uint64_t)(-json_integer_value(rem)) : 0;
        uint64_t ready = strcmp(r->state, "runnable") == 0 ? r->state_ns : overdue;
        if (ready >= STARVED_NS) {
            fmt_dur(ready, d, sizeof d);
            lint("task %" PRIu64 " '%s' has been runnable for %s: the runtime is starved", r->id, r->name, d);
        }
        uint64_t longest = r->max_poll_ns > 0 ? (uint64_t)r->max_poll_ns : 0;
        uint64_t stalled = stall_of(r->rt, r->id);
        if (stalled > longest)
            longest = stalled;
        if (strcmp(r->state, "running") == 0 && r->state_ns > longest)
            longest = r->state_ns; /* a poll still going on */
        if (longest > LONG_POLL_NS) {
            fmt_dur(longest, d, sizeof d);
            lint("task %" PRIu64 " '%s' polls for > 10 ms (longest %s): it holds up every other task", r->id,
                 r->name, d);
        }
        if (waits_on_closed(r))
            lint("task %" PRIu64 " '%s' waits on a closed channel", r->id, r->name);
        json_t *lw = json_object_get(r->task, "last_waker");
        bool woke_itself = strcmp(S(lw, "kind"), "task") == 0 && U(lw, "task") == r->id;
        json_t *w = json_object_get(r->task, "wait");
        bool no_wait = strcmp(r->wait_kind, "yield") == 0 ||
                       (strcmp(r->wait_kind, "sleep") == 0 && json_object_get(w, "remaining_ns") &&
                        json_integer_value(json_object_get(w, "remaining_ns")) <= SELF_WAKE_SLEEP_NS);
        if (r->polls_s >= SELF_WAKE_POLLS_S && strcmp(r->state, "finished") != 0 && (woke_itself || no_wait))
            lint("task %" PRIu64 " '%s' wakes itself in a loop (%.0f polls/s, %s): it spins instead of waiting",
                 r->id, r->name, r->polls_s, woke_itself ? "its own waker" : "yield/zero sleep");
    }
}

/* ---- sorting and filtering ---------------------------------------------------------- */

enum col { C_ID, C_NAME, C_STATE, C_WAIT, C_TIME, C_POLLS, C_BUSY, C_MAXPOLL, NCOLS };
static const struct {
    const char *title;
    int width; /* 0: the rest of the line */
    bool numeric;
} cols[NCOLS] = {
    [C_ID] = {"ID", 6, true},         [C_NAME] = {"NAME", 18, false},      [C_STATE] = {"STATE", 10, false},
    [C_WAIT] = {"WAIT", 0, false},    [C_TIME] = {"IN STATE", 9, true},    [C_POLLS] = {"POLLS/S", 8, true},
    [C_BUSY] = {"BUSY%", 6, true},    [C_MAXPOLL] = {"MAX POLL", 9, true},
};
static enum col sort_col = C_ID;
static bool sort_rev;
static char name_filter[64];

static int cmp_num(double a, double b) { return a < b ? -1 : a > b; }

static int cmp_rows(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = 0;
    switch (sort_col) {
    case C_ID: c = x->rt != y->rt ? cmp_num(x->rt, y->rt) : cmp_num((double)x->id, (double)y->id); break;
    case C_NAME: c = strcmp(x->name, y->name); break;
    case C_STATE: c = strcmp(x->state, y->state); break;
    case C_WAIT: c = strcmp(x->wait, y->wait); break;
    case C_TIME: c = cmp_num((double)x->state_ns, (double)y->state_ns); break;
    case C_POLLS: c = cmp_num(x->polls_s, y->polls_s); break;
    case C_BUSY: c = cmp_num(x->busy_pct, y->busy_pct); break;
    case C_MAXPOLL: c = cmp_num((double)x->max_poll_ns, (double)y->max_poll_ns); break;
    default: break;
    }
    /* numbers read best largest first (like top), text A to Z; r turns either around */
    if (sort_col < NCOLS && cols[sort_col].numeric && sort_col != C_ID)
        c = -c;
    if (sort_rev)
        c = -c;
    if (c == 0)
        c = x->rt != y->rt ? cmp_num(x->rt, y->rt) : cmp_num((double)x->id, (double)y->id);
    return c;
}

static struct row **shown; /* the rows that pass the filter, sorted */
static size_t nshown;
static uint64_t picked_id; /* the picked task, kept across refreshes */
static unsigned picked_rt;
static size_t picked;      /* its index in shown */
static size_t scroll_top;

static void arrange(void)
{
    qsort(rows, nrows, sizeof *rows, cmp_rows);
    free(shown);
    shown = calloc(nrows + 1, sizeof *shown);
    if (!shown)
        agent_die("out of memory");
    nshown = 0;
    for (size_t i = 0; i < nrows; i++)
        if (!*name_filter || strstr(rows[i].name, name_filter))
            shown[nshown++] = &rows[i];
    picked = 0;
    for (size_t i = 0; i < nshown; i++)
        if (shown[i]->id == picked_id && shown[i]->rt == picked_rt)
            picked = i;
    if (nshown) {
        picked_id = shown[picked]->id;
        picked_rt = shown[picked]->rt;
    }
}

/* ---- drawing ------------------------------------------------------------------------ */

static char status[600]; /* the latest trouble talking to the agent, "" when fine */
static bool editing;     /* typing the filter */
static char comm[64];

static void put(int y, int x, int attr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(int y, int x, int attr, const char *fmt, ...)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    attron(attr);
    mvaddnstr(y, x, buf, COLS - x);
    attroff(attr);
}

static void rate(char *buf, size_t n, double v, const char *fmt)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
}

static int draw_header(void)
{
    json_t *rts = json_object_get(snap, "runtimes");
    size_t nrt = json_is_array(rts) ? json_array_size(rts) : 1;
    char up[32];
    fmt_dur(U(runtime_of(0), "uptime_ns"), up, sizeof up);
    put(0, 0, A_BOLD, "lrt-top - %s (%s)  %zu runtime%s  up %s  every %.1fs  sort %s%s%s%s", conn.target, comm,
        nrt, nrt == 1 ? "" : "s", up, opt.delay_s, cols[sort_col].title, sort_rev ? " (reversed)" : "",
        *name_filter ? "  filter: " : "", name_filter);
    size_t by[4] = {0};
    static const char *states[4] = {"running", "runnable", "suspended", "finished"};
    for (size_t i = 0; i < nrows; i++)
        for (int k = 0; k < 4; k++)
            by[k] += strcmp(rows[i].state, states[k]) == 0;
    uint64_t timers = 0, io = 0, threads = 0, busy = 0, idle = 0, queued = 0, stalls = 0;
    for (size_t k = 0; k < nrt; k++) {
        json_t *r = runtime_of((unsigned)k);
        timers += U(r, "timers_pending");
        io += U(r, "io_waiters");
        busy += U(r, "blocking_threads_busy");
        idle += U(r, "blocking_threads_idle");
        queued += U(r, "blocking_queue_depth");
        stalls += U(r, "stalls");
        json_t *b = json_is_array(rts) ? json_object_get(json_array_get(rts, k), "blocking")
                                       : json_object_get(snap, "blocking");
        threads += U(b, "threads");
    }
    char ps[32], pk[32];
    rate(ps, sizeof ps, tot.polls_s, "%.1f/s");
    rate(pk, sizeof pk, tot.parks_s, "%.1f/s");
    put(1, 0, 0, "Tasks: %zu total, %zu running, %zu runnable, %zu suspended  |  polls %s  parks %s  timers %" PRIu64
                 "  io waiters %" PRIu64,
        nrows, by[0], by[1], by[2], ps, pk, timers, io);
    put(2, 0, 0, "Blocking pool: %" PRIu64 " threads (%" PRIu64 " busy, %" PRIu64 " idle), %" PRIu64
                 " queued, %" PRIu64 " jobs running  |  stalls %" PRIu64,
        threads, busy, idle, queued, busy, stalls);
    return 4;
}

/* the text of column @c of @r, fitted to @w characters (w 0: as is) */
static void cell(const struct row *r, enum col c, char *buf, size_t n)
{
    switch (c) {
    case C_ID: snprintf(buf, n, "%" PRIu64, r->id); break;
    case C_NAME: snprintf(buf, n, "%s", r->name); break;
    case C_STATE: snprintf(buf, n, "%s", r->state); break;
    case C_WAIT: snprintf(buf, n, "%s", r->wait); break;
    case C_TIME: fmt_dur(r->state_ns, buf, n); break;
    case C_POLLS: rate(buf, n, r->polls_s, "%.1f"); break;
    case C_BUSY: rate(buf, n, r->busy_pct, "%.1f"); break;
    case C_MAXPOLL:
        if (r->max_poll_ns < 0)
            snprintf(buf, n, "-");
        else if (r->max_poll_ns == 0) /* the switch clock ticks every 1-4 ms: 0 = within a tick */
            snprintf(buf, n, "<4ms");
        else
            fmt_dur((uint64_t)r->max_poll_ns, buf, n);
        break;
    default: buf[0] = 0; break;
    }
}

/* the columns in screen order: WAIT, the widest, last */
static const enum col order[NCOLS] = {C_ID, C_NAME, C_STATE, C_TIME, C_POLLS, C_BUSY, C_MAXPOLL, C_WAIT};

static void draw_line(int y, const struct row *r, int attr)
{
    char line[1024] = "", buf[512];
    size_t len = 0;
    for (int k = 0; k < NCOLS; k++) {
        enum col c = order[k];
        if (r)
            cell(r, c, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "%s", cols[c].title);
        int w = cols[c].width;
        if (w && (int)strlen(buf) > w)
            buf[w] = 0;
        if (w)
            len += (size_t)snprintf(line + len, sizeof line - len, cols[c].numeric ? "%*s " : "%-*s ", w, buf);
        else
            len += (size_t)snprintf(line + len, sizeof line - len, " %s", buf);
        if (len >= sizeof line)
            break;
    }
    if (attr & A_REVERSE) /* the bar spans the screen */
        for (size_t l = strlen(line); l < (size_t)COLS && l + 1 < sizeof line; l++)
            line[l] = ' ', line[l + 1] = 0;
    put(y, 0, attr, "%s", line);
}

static void draw_list(void)
{
    erase();
    int y = draw_header();
    int footer = (nlints ? nlints + (lints_more ? 1 : 0) + 1 : 0) + 1;
    draw_line(y++, NULL, A_BOLD | A_UNDERLINE);
    int room = LINES - y - footer;
    if (room < 1)
        room = 1;
    if (picked < scroll_top)
        scroll_top = picked;
    if (picked >= scroll_top + (size_t)room)
        scroll_top = picked - (size_t)room + 1;
    if (scroll_top > nshown)
        scroll_top = 0;
    for (size_t i = scroll_top; i < nshown && y < LINES - footer; i++)
        draw_line(y++, shown[i], i == picked ? A_REVERSE : 0);
    if (!nshown)
        put(y, 0, 0, *name_filter ? "(no task name contains '%s')" : "(no tasks)", name_filter);
    int fy = LINES - footer;
    if (nlints) {
        put(fy++, 0, A_BOLD, "Lints:");
        for (int i = 0; i < nlints; i++)
            put(fy++, 0, 0, "  %s", lints[i]);
        if (lints_more)
            put(fy++, 0, 0, "  (%d more)", lints_more);
    }
    if (editing)
        put(LINES - 1, 0, A_BOLD, "filter by name: %s_   (Enter: apply, Esc: clear)", name_filter);
    else if (*status)
        put(LINES - 1, 0, A_BOLD, "%s", status);
    else
        put(LINES - 1, 0, A_DIM, "P B T N I S M sort  < > column  r reverse  / filter  j k pick  Enter details  q quit");
    refresh();
}

/* The picked task's view: its backtrace and its history (from @s, a snapshot with
 * backtraces and histories; NULL while there is none). */
static void draw_detail(json_t *s, const char *why)
{
    erase();
    json_t *t = NULL, *tasks = json_object_get(s, "tasks");
    size_t i;
    json_t *x;
    json_array_foreach(tasks, i, x) {
        if (U(x, "id") == picked_id && U(x, "runtime") == picked_rt)
            t = x;
    }
    int y = 0;
    if (!t) {
        put(y++, 0, A_BOLD, "task %" PRIu64 " (runtime %u)", picked_id, picked_rt);
        put(y + 1, 0, 0, "%s", why && *why ? why : s ? "the task is gone (finished and joined)" : "asking...");
        put(LINES - 1, 0, A_DIM, "Esc/Backspace back  q quit");
        refresh();
        return;
    }
    char d[32], busy[32];
    fmt_dur(U(t, "state_ns"), d, sizeof d);
    fmt_dur(U(t, "busy_ns"), busy, sizeof busy);
    json_t *at = json_object_get(t, "spawned_at");
    put(y++, 0, A_BOLD, "task %" PRIu64 " '%s'  (runtime %u)  %s for %s", picked_id, S(t, "name"), picked_rt,
        S(t, "state"), d);
    put(y++, 0, 0, "waits on: %s", S(json_object_get(t, "wait"), "object"));
    put(y++, 0, 0, "polls %" PRIu64 ", busy %s, spawned at %s:%" PRIu64 " (%s) by task %" PRIu64, U(t, "polls"), busy,
        S(at, "file"), U(at, "line"), S(at, "func"), U(t, "parent"));
    y++;
    put(y++, 0, A_BOLD | A_UNDERLINE, "Backtrace");
    json_t *bt = json_object_get(t, "backtrace");
    if (!json_array_size(bt))
        put(y++, 0, 0, "  (none captured)");
    json_array_foreach(bt, i, x) {
        if (y >= LINES / 2 + 2)
            break;
        const char *mod = S(x, "module"), *base = strrchr(mod, '/');
        put(y++, 0, 0, "  #%-2zu %s+%" PRIu64 "  %s", i, *S(x, "symbol") ? S(x, "symbol") : S(x, "ip"), U(x, "offset"),
            base ? base + 1 : mod);
    }
    y++;
    json_t *h = json_object_get(t, "history");
    put(y++, 0, A_BOLD | A_UNDERLINE, "History%s", json_is_array(h) ? " (newest last)" : "");
    if (!json_is_array(h)) {
        put(y++, 0, 0, "  (this process's snapshots have no task history)");
    } else {
        /* at_ns counts from the runtime's start, like its uptime_ns */
        json_t *sr = json_object_get(json_array_get(json_object_get(s, "runtimes"), picked_rt), "runtime");
        uint64_t up = U(sr ? sr : json_object_get(s, "runtime"), "uptime_ns");
        size_t n = json_array_size(h), room = (size_t)(LINES - 1 - y > 0 ? LINES - 1 - y : 0);
        for (i = n > room ? n - room : 0; i < n; i++) {
            json_t *e = json_array_get(h, i);
            char ago[32] = "?";
            if (json_is_integer(json_object_get(e, "at_ns")) && up >= U(e, "at_ns"))
                fmt_dur(up - U(e, "at_ns"), ago, sizeof ago);
            if (*S(e, "text")) { /* the event in words, as the runtime wrote it */
                put(y++, 0, 0, "  %8s ago  %s", ago, S(e, "text"));
                continue;
            }
            char dur[32] = "", by[48] = "";
            if (json_object_get(e, "duration_ns")) {
                dur[0] = ' ';
                fmt_dur(U(e, "duration_ns"), dur + 1, sizeof dur - 1);
            }
            json_t *wt = json_object_get(e, "wait");
            const char *wtext = json_is_string(wt) ? json_string_value(wt) : S(wt, "object");
            if (json_object_get(e, "by_task"))
                snprintf(by, sizeof by, " by task %" PRIu64, U(e, "by_task"));
            json_t *wk = json_object_get(e, "waker");
            const char *wkt = json_is_string(wk) ? json_string_value(wk) : S(wk, "kind");
            put(y++, 0, 0, "  %8s ago  %-10s%s%s%s%s%s%s", ago, S(e, "event"), dur, *wtext ? "  " : "", wtext,
                *wkt ? "  woken by " : "", wkt, by);
        }
        if (!n)
            put(y++, 0, 0, "  (empty)");
    }
    put(LINES - 1, 0, A_DIM, "%s", why && *why ? why : "Esc/Backspace back  q quit");
    refresh();
}

/* ---- talking to the agent ------------------------------------------------------------- */

static void target_gone(void)
{
    leave_curses();
    fprintf(stderr, "%s: process %ld (%s) exited\n", prog, conn.pid, comm);
    exit(3);
}

/* A snapshot, or NULL with the reason in @why (then the view keeps the last one).  A
 * connection the agent closed (idle clients are let go after 5 s) is opened again once;
 * a target that is gone ends lrt-top. */
static json_t *fetch(const char *req, char *why, size_t n)
{
    int err = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        json_t *s = agent_request(&conn, req, NULL, why, n, &err);
        if (s)
            return s;
        if (conn.pid && kill((pid_t)conn.pid, 0) != 0 && errno == ESRCH)
            target_gone();
        if (err == -EBUSY) {
            size_t l = strlen(why);
            snprintf(why + l, n - l, " (the dump agent is busy: all its client slots are taken)");
            return NULL;
        }
        if (err != -ECONNRESET && err != -EPIPE && err != -ENOENT && err != -ECONNREFUSED)
            break;
    }
    if (conn.pid && kill((pid_t)conn.pid, 0) != 0 && errno == ESRCH)
        target_gone();
    return NULL;
}

/* ---- main ------------------------------------------------------------------------------ */

static const char *const list_req = "{\"cmd\":\"snapshot\"}\n";
static const char *const detail_req = "{\"cmd\":\"snapshot\",\"backtraces\":true,\"history\":true}\n";

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static bool sort_key(int ch)
{
    static const char keys[] = "INSWTPBM"; /* in enum col order */
    const char *k = ch > 0 && ch < 256 ? strchr(keys, toupper(ch)) : NULL;
    if (!k || !*k)
        return false;
    enum col c = (enum col)(k - keys);
    if (c == sort_col)
        sort_rev = !sort_rev;
    else
        sort_col = c, sort_rev = false;
    return true;
}

/* The detail view until Esc (returns) or q (exits). */
static void detail_loop(void)
{
    char why[400] = "";
    json_t *s = NULL;
    draw_detail(NULL, "");
    uint64_t next = 0;
    for (;;) {
        if (stop)
            break;
        if (agent_now_ms() >= next) {
            json_t *n = fetch(detail_req, why, sizeof why);
            if (n) {
                json_decref(s);
                s = n;
                why[0] = 0;
            }
            next = agent_now_ms() + (uint64_t)(opt.delay_s * 1000);
            draw_detail(s, why);
        }
        int ch = getch();
        if (ch == 'q' || ch == 'Q') {
            stop = 1;
            break;
        }
        if (ch == 27 || ch == KEY_BACKSPACE || ch == 127 || ch == KEY_LEFT || ch == 'h')
            break;
        if (ch == KEY_RESIZE)
            draw_detail(s, why);
    }
    json_decref(s);
}

int main(int argc, char **argv)
{
    enum { OPT_TIMEOUT = 256 };
    static const struct option longopts[] = {
        {"delay", required_argument, 0, 'd'}, {"socket", required_argument, 0, 'S'},
        {"timeout", required_argument, 0, OPT_TIMEOUT}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:S:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': {
            char *end;
            opt.delay_s = strtod(optarg, &end);
            if (*end || !(opt.delay_s >= 0.1 && opt.delay_s <= 3600))
                usage_error("--delay: not a number of seconds between 0.1 and 3600: '%s'", optarg);
            break;
        }
        case 'S': opt.socket = optarg; break;
        case OPT_TIMEOUT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 3600000)
                usage_error("--timeout: not a number of milliseconds between 1 and 3600000: '%s'", optarg);
            opt.timeout_ms = (uint64_t)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("lrt-top (lrt) 0.1.0\n"); return 0;
        case ':': usage_error("option '%s' needs an argument", argv[optind - 1]); break;
        default: usage_error("unknown option '%s'", argv[optind - 1]); break;
        }
    }
    long pid = 0;
    if (optind == argc && !opt.socket)
        usage_error("%s", "missing PID");
    if (optind < argc) {
        char *end;
        pid = strtol(argv[optind], &end, 10);
        if (*end || pid <= 0)
            usage_error("not a process id: '%s'", argv[optind]);
        if (optind + 1 < argc)
            usage_error("unexpected argument '%s'", argv[optind + 1]);
    }
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "%s: needs a terminal (for a one-off listing use lrt-dump)\n", prog);
        return 1;
    }

    agent_prog = prog;
    agent_before_die = leave_curses;
    signal(SIGPIPE, SIG_IGN);
    agent_open(&conn, pid, opt.socket, opt.timeout_ms);
    if (pid)
        agent_proc_comm(pid, comm, sizeof comm);
    else
        snprintf(comm, sizeof comm, "%s", "socket");
    /* the first snapshot before the screen changes: a process that cannot be watched
     * says why on a normal terminal */
    char why[400] = "";
    json_t *first = fetch(list_req, why, sizeof why);
    if (!first)
        agent_die("%s", why);
    take_snapshot(first);

    setlocale(LC_ALL, "");
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    initscr();
    curses_on = true;
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    timeout(100); /* getch waits at most this long: the refresh clock and SIGTERM are seen */

    uint64_t next = agent_now_ms() + (uint64_t)(opt.delay_s * 1000);
    bool dirty = true;
    while (!stop) {
        if (dirty) {
            arrange();
            compute_lints();
            draw_list();
            dirty = false;
        }
        int ch = getch();
        if (ch == ERR) {
            if (agent_now_ms() >= next) {
                json_t *s = fetch(list_req, status, sizeof status);
                if (s) {
                    take_snapshot(s);
                    status[0] = 0;
                } else {
                    size_t l = strlen(status);
                    snprintf(status + l, sizeof status - l, "; showing the last answer, trying again");
                }
                next = agent_now_ms() + (uint64_t)(opt.delay_s * 1000);
                dirty = true;
            }
            continue;
        }
        dirty = true;
        if (editing) {
            size_t l = strlen(name_filter);
            if (ch == '\n' || ch == KEY_ENTER)
                editing = false;
            else if (ch == 27)
                editing = false, name_filter[0] = 0;
            else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && l)
                name_filter[l - 1] = 0;
            else if (ch >= 32 && ch < 127 && l + 1 < sizeof name_filter)
                name_filter[l] = (char)ch, name_filter[l + 1] = 0;
            continue;
        }
        switch (ch) {
        case 'q': case 'Q': stop = 1; break;
        case '/': editing = true; break;
        case 27: name_filter[0] = 0; break;
        case 'j': case KEY_DOWN:
            if (picked + 1 < nshown)
                picked++;
            break;
        case 'k': case KEY_UP:
            if (picked > 0)
                picked--;
            break;
        case KEY_NPAGE: picked = picked + 10 < nshown ? picked + 10 : (nshown ? nshown - 1 : 0); break;
        case KEY_PPAGE: picked = picked > 10 ? picked - 10 : 0; break;
        case KEY_HOME: case 'g': picked = 0; break;
        case KEY_END: case 'G': picked = nshown ? nshown - 1 : 0; break;
        case '<': sort_col = (enum col)((sort_col + NCOLS - 1) % NCOLS), sort_rev = false; break;
        case '>': sort_col = (enum col)((sort_col + 1) % NCOLS), sort_rev = false; break;
        case 'r': case 'R': sort_rev = !sort_rev; break;
        case '\n': case KEY_ENTER:
            if (nshown) {
                detail_loop();
                next = 0; /* back in the list: a fresh snapshot now */
            }
            break;
        case KEY_RESIZE: break;
        default: sort_key(ch); break;
        }
        if (nshown && ch != KEY_RESIZE) {
            picked_id = shown[picked]->id;
            picked_rt = shown[picked]->rt;
        }
    }
    leave_curses();
    agent_close(&conn);
    json_decref(snap);
    free(rows);
    free(prevs);
    free(shown);
    return 0;
}
