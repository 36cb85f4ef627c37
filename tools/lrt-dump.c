/*
 * lrt-dump - show the tasks of a live lrt process: what each waits on, for how long, and
 * where in the code.  Talks to the process's dump agent over its Unix socket; a process
 * started without one (no LRT_DUMP=1, no lrt_options.dump_agent) is asked to start it
 * (attach: src/diag/attach.c has the process's side).  --core reads the same snapshot
 * from a core file by running gdb with tools/lrt-gdb.py (core_snapshot).  See
 * docs/lrt-dump.1.
 *
 * Exit status: 0 success, 1 runtime error (no such process, not an lrt process, permission
 * denied, no answer), 2 usage error.
 */
#include <ctype.h>
#include <dirent.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_conn.h"

#define TIMEOUT_MS 5000 /* default --timeout */

static const char *prog = "lrt-dump";
static bool color;

static struct {
    bool backtrace, tree, json, list, watch, objects, top;
    double watch_sec;
    uint64_t stuck_ns;
    uint64_t timeout_ms;
    const char *socket;
    const char *core; /* --core: read this core file through gdb (core_snapshot) */
    const char *gcore; /* --gcore: write a core of the live PID with its task stacks */
    uint64_t events_id; /* -e: this task's history, 0: none */
} opt = {.watch_sec = 2.0, .timeout_ms = TIMEOUT_MS};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [OPTIONS] PID\n"
            "       %s --list\n"
            "       %s --core=CORE [EXE]   (the same from a core file, read with gdb)\n"
            "Show the tasks of a running lrt process; one started without its dump agent is\n"
            "asked to start it (unless it runs with LRT_DUMP=0).\n"
            "\n"
            "  -b, --backtrace        show each task's backtrace (file:line where debug info exists)\n"
            "  -t, --tree             show tasks as a parent/child tree\n"
            "  -e, --events=ID        show what task ID did last: its history, oldest first\n"
            "  -j, --json             print the raw JSON snapshot (docs/snapshot.schema.json)\n"
            "  -w, --watch[=SEC]      refresh every SEC seconds (default 2) until interrupted\n"
            "  -s, --stuck=DURATION   only tasks waiting or running for at least DURATION\n"
            "                         (e.g. 500ms, 5s, 2m; a bare number is seconds), after\n"
            "                         one sentence per wait-for cycle (deadlock) found\n"
            "      --objects          the sync objects tasks wait on: kind, name, owner,\n"
            "                         length, waiting tasks, creation site\n"
            "  -l, --list             list the live lrt processes of this user\n"
            "      --top              the live full-screen view: runs lrt-top (lrt-top(1))\n"
            "  -S, --socket=PATH      talk to this agent socket instead of finding PID's\n"
            "      --core=CORE        read the tasks from a core file (gcore, a crash) with gdb\n"
            "                         and tools/lrt-gdb.py; EXE defaults to the core's program\n"
            "      --gcore=FILE PID   write a core of the live PID, task stacks included\n"
            "      --timeout=DURATION give up when the agent sends nothing for DURATION, or\n"
            "                         when an agent asked for does not start within it\n"
            "                         (default 5s; a whole reply may take 12 times that)\n"
            "      --color[=WHEN]     colour: auto (default, only on a terminal), always, never\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Exit status: 0 ok, 1 error (no such process, not an lrt process, permission\n"
            "denied, no answer), 2 usage error.\n",
            prog, prog, prog);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

/* "1.5s", "500ms", "2m", "1h", "100us", bare number = seconds. */
static int parse_duration(const char *s, uint64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    double mul = 1e9;
    if (!*end || strcmp(end, "s") == 0)
        mul = 1e9;
    else if (strcmp(end, "ms") == 0)
        mul = 1e6;
    else if (strcmp(end, "us") == 0)
        mul = 1e3;
    else if (strcmp(end, "ns") == 0)
        mul = 1;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        mul = 60e9;
    else if (strcmp(end, "h") == 0)
        mul = 3600e9;
    else
        return -1;
    *ns = (uint64_t)(v * mul);
    return 0;
}

/* ---- talking to the agent (tools/agent_conn.c, shared with lrt-top) --------------- */

static struct agent_conn conn = {.fd = -1};
/* "process N" or "the agent at PATH" (--socket), for messages about the other side */
static char target[600];
/* the agent's socket (conn.path) */
static char agent_path[512];

static uint64_t now_ms(void) { return agent_now_ms(); }
static int connect_to(const char *path) { return agent_connect(path); }
static char *roundtrip(int fd, const char *req, uint64_t timeout_ms, int *err)
{
    return agent_roundtrip(fd, req, timeout_ms, err);
}
static void proc_comm(long pid, char *out, size_t n) { agent_proc_comm(pid, out, n); }

/* The agent socket of @pid (or opt.socket), connected; exits 1 with a one-line reason. */
static int open_agent(long pid, char *path_out, size_t n)
{
    agent_open(&conn, pid, opt.socket, opt.timeout_ms);
    snprintf(path_out, n, "%s", conn.path);
    return conn.fd;
}

/* One snapshot request on *@fdp, checked (agent_request: a busy agent is asked again on
 * a new connection, which replaces *@fdp); exits 1 with the reason. */
static json_t *request(int *fdp, const char *req, char **line_out)
{
    char why[1024];
    int err;
    conn.fd = *fdp;
    json_t *j = agent_request(&conn, req, line_out, why, sizeof why, &err);
    *fdp = conn.fd;
    if (!j)
        die("%s", why);
    return j;
}

/* ---- source lines (libdw) --------------------------------------------------------- */

struct dwmod {
    char *path;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    GElf_Addr bias;
};
static struct dwmod mods[64];
static int nmods;

static char *debuginfo_path;
static const Dwfl_Callbacks offline_cb = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static struct dwmod *module_for(const char *path)
{
    for (int i = 0; i < nmods; i++)
        if (strcmp(mods[i].path, path) == 0)
            return &mods[i];
    if (nmods == 64)
        return NULL;
    struct dwmod *m = &mods[nmods++];
    m->path = strdup(path);
    m->dwfl = dwfl_begin(&offline_cb);
    if (m->dwfl) {
        m->mod = dwfl_report_offline(m->dwfl, path, path, -1);
        dwfl_report_end(m->dwfl, NULL, NULL);
        if (m->mod) {
            Dwarf_Addr b = 0;
            if (!dwfl_module_getelf(m->mod, &b))
                m->mod = NULL;
            m->bias = b;
        }
    }
    return m;
}

static bool srcline(const char *module, uint64_t mod_off, bool exact, char *out, size_t n)
{
    if (!module || !*module)
        return false;
    struct dwmod *m = module_for(module);
    if (!m || !m->mod)
        return false;
    Dwarf_Addr a = mod_off + m->bias - (exact ? 0 : 1);
    Dwfl_Line *line = dwfl_module_getsrc(m->mod, a);
    if (!line)
        return false;
    int lineno = 0;
    const char *file = dwfl_lineinfo(line, &a, &lineno, NULL, NULL, NULL);
    if (!file)
        return false;
    snprintf(out, n, "%s:%d", file, lineno);
    return true;
}

/* ---- output ----------------------------------------------------------------------- */

#define C_RESET (color ? "\033[0m" : "")
#define C_BOLD (color ? "\033[1m" : "")
#define C_DIM (color ? "\033[2m" : "")
#define C_RED (color ? "\033[1;31m" : "")
#define C_GREEN (color ? "\033[32m" : "")
#define C_YELLOW (color ? "\033[33m" : "")
#define C_CYAN (color ? "\033[36m" : "")

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

static const char *basename_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The state of runtime @r, then its counters. */
static void print_runtime_state(json_t *r)
{
    const char *state = S(r, "state");
    printf("runtime %s%s%s", strcmp(state, "stuck") == 0 ? C_RED : "", state, C_RESET);
    if (strcmp(state, "stuck") == 0) {
        uint64_t cur = U(r, "current_task");
        printf(" (inside a poll of task %" PRIu64 ")", cur);
    }
    printf("\n");
    printf("tasks %" PRIu64 " alive / %" PRIu64 " spawned  polls %" PRIu64 "  forced yields %" PRIu64
           "  fds %" PRIu64 "  timers %" PRIu64 "  remote %" PRIu64 "\n",
           U(r, "alive_tasks"), U(r, "spawned_tasks"), U(r, "polls"), U(r, "forced_yields"),
           U(r, "io_registered"), U(r, "timers_pending"), U(r, "remote_schedules"));
    printf("blocking pool %" PRIu64 " busy / %" PRIu64 " idle, %" PRIu64 " queued  stalls %" PRIu64 "\n",
           U(r, "blocking_threads_busy"), U(r, "blocking_threads_idle"), U(r, "blocking_queue_depth"),
           U(r, "stalls"));
}

/* The process line; with one runtime, that runtime's state on the same line. */
static void print_summary(json_t *snap, bool one_runtime)
{
    json_t *p = json_object_get(snap, "process"), *r = json_object_get(snap, "runtime");
    char up[32];
    fmt_dur(U(r, "uptime_ns"), up, sizeof up);
    printf("%spid %" PRIu64 "%s %s  lrt %s  up %s", C_BOLD, U(p, "pid"), C_RESET, basename_of(S(p, "exe")),
           S(p, "lrt_version"), up);
    if (one_runtime) {
        printf("  ");
        print_runtime_state(r);
    } else {
        printf("  %zu runtimes\n", json_array_size(json_object_get(snap, "runtimes")));
    }
}

static bool selected(json_t *t)
{
    if (!opt.stuck_ns)
        return true;
    const char *st = S(t, "state");
    return strcmp(st, "finished") != 0 && U(t, "state_ns") >= opt.stuck_ns;
}

static void print_frames(json_t *bt, bool live, const char *indent)
{
    size_t i;
    json_t *f;
    json_array_foreach(bt, i, f)
    {
        const char *sym = S(f, "symbol");
        const char *mod = S(f, "module");
        uint64_t off = U(f, "offset");
        char line[512];
        uint64_t mod_off = strtoull(S(f, "module_offset"), NULL, 16);
        bool have_line = srcline(mod, mod_off, live && i == 0, line, sizeof line);
        printf("%s%s#%-2zu%s %s%s%s+0x%" PRIx64 " %s(%s)%s", indent, C_DIM, i, C_RESET, C_CYAN, *sym ? sym : "??",
               C_RESET, off, C_DIM, *mod ? basename_of(mod) : "?", C_RESET);
        if (have_line)
            printf("  %s", line);
        printf("\n");
    }
}

static void print_row(json_t *t, int depth, bool last_child, const char *prefix)
{
    char dur[32], busy[32], name[96], at[160], wait[128];
    const char *state = S(t, "state");
    fmt_dur(U(t, "state_ns"), dur, sizeof dur);
    fmt_dur(U(t, "busy_ns"), busy, sizeof busy);
    if (depth > 0)
        snprintf(name, sizeof name, "%s%s%s", prefix, last_child ? "`-" : "|-", S(t, "name"));
    else
        snprintf(name, sizeof name, "%s", S(t, "name"));
    json_t *sp = json_object_get(t, "spawned_at");
    /* tasks spawned by one line in a loop: which of them (number_sites) */
    uint64_t seq = U(t, "_site_seq");
    char nth[24] = "";
    if (seq)
        snprintf(nth, sizeof nth, "#%" PRIu64, seq);
    snprintf(at, sizeof at, "%s:%" PRIu64 "%s (%s)", basename_of(S(sp, "file")), U(sp, "line"), nth, S(sp, "func"));
    json_t *w = json_object_get(t, "wait");
    const char *obj = json_string_value(json_object_get(w, "object"));
    snprintf(wait, sizeof wait, "%s", obj ? obj : "-");
    const char *sc = "";
    if (strcmp(state, "running") == 0)
        sc = U(t, "state_ns") >= 100000000 ? C_RED : C_GREEN;
    else if (strcmp(state, "runnable") == 0)
        sc = C_YELLOW;
    printf("%-6" PRIu64 " %-24.24s %s%-9s%s %-36.36s %8s %7" PRIu64 " %7s  %s\n", U(t, "id"), name, sc, state,
           C_RESET, wait, dur, U(t, "polls"), busy, at);
    if (opt.backtrace) {
        json_t *bt = json_object_get(t, "backtrace");
        if (json_array_size(bt))
            print_frames(bt, strcmp(state, "running") == 0, "         ");
        else if (bt)
            printf("         %s(no frames)%s\n", C_DIM, C_RESET);
    }
}

static void print_header(void)
{
    printf("%s%-6s %-24s %-9s %-36s %8s %7s %7s  %s%s\n", C_BOLD, "ID", "NAME", "STATE", "WAITING ON", "FOR",
           "POLLS", "BUSY", "SPAWNED AT", C_RESET);
}

static bool task_alive(json_t *tasks, uint64_t id)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) if (U(t, "id") == id) return true;
    return false;
}

/* Tree placement: a group member hangs under its group's line, the line under the task
 * that created the group; any other task under its spawner.  A node of the tree is a
 * task, or a group represented by its first member in the array. */
static uint64_t group_id(json_t *t) { return U(json_object_get(t, "group"), "id"); }
static uint64_t group_parent(json_t *t) { return U(json_object_get(t, "group"), "parent"); }

/* Is @tasks[@i] the first member of its group? */
static bool group_first(json_t *tasks, size_t i)
{
    uint64_t g = group_id(json_array_get(tasks, i));
    for (size_t k = 0; k < i; k++)
        if (group_id(json_array_get(tasks, k)) == g)
            return false;
    return true;
}

/* Does @tasks[@i] start a node under the task @id (0: at the top)? */
static bool tree_child(json_t *tasks, size_t i, uint64_t id)
{
    json_t *c = json_array_get(tasks, i);
    bool grouped = group_id(c) != 0;
    uint64_t parent = grouped ? group_parent(c) : U(c, "parent");
    bool under = id ? parent == id : parent == 0 || !task_alive(tasks, parent);
    return under && (!grouped || group_first(tasks, i));
}

static void print_tree(json_t *tasks, json_t *t, int depth, const char *prefix, bool last);

/* A group line, then its members. */
static void print_group(json_t *tasks, json_t *first, int depth, const char *prefix, bool last)
{
    uint64_t g = group_id(first);
    size_t i, n = 0, k = 0;
    json_t *c;
    json_array_foreach(tasks, i, c) n += group_id(c) == g;
    char name[96], what[48];
    json_t *go = json_object_get(first, "group");
    snprintf(name, sizeof name, "%s%s[group %s]", prefix, depth > 0 ? (last ? "`-" : "|-") : "", S(go, "name"));
    snprintf(what, sizeof what, "group %" PRIu64 ", %zu task%s", g, n, n == 1 ? "" : "s");
    printf("%-6s %-24.24s %s%-9s%s %s\n", "", name, C_DIM, "group", C_RESET, what);
    char pre[96];
    snprintf(pre, sizeof pre, "%s%s", prefix, depth > 0 ? (last ? "  " : "| ") : "");
    json_array_foreach(tasks, i, c)
    {
        if (group_id(c) == g)
            print_tree(tasks, c, depth + 1, pre, ++k == n);
    }
}

static void print_tree(json_t *tasks, json_t *t, int depth, const char *prefix, bool last)
{
    if (selected(t))
        print_row(t, depth, last, prefix);
    char pre[96];
    snprintf(pre, sizeof pre, "%s%s", prefix, depth > 0 ? (last ? "  " : "| ") : "");
    uint64_t id = U(t, "id");
    size_t i, nkids = 0, k = 0;
    json_t *c;
    json_array_foreach(tasks, i, c) nkids += tree_child(tasks, i, id);
    json_array_foreach(tasks, i, c)
    {
        if (!tree_child(tasks, i, id))
            continue;
        k++;
        if (group_id(c))
            print_group(tasks, c, depth + 1, pre, k == nkids);
        else
            print_tree(tasks, c, depth + 1, pre, k == nkids);
    }
}

/* Tasks spawned from the same file:line (a loop, a table of services) get "_site_seq":
 * 1, 2, ... in id order, so the table tells them apart; a site used once gets none. */
static void number_sites(json_t *tasks)
{
    size_t n = json_array_size(tasks), cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    struct site { const char *file; uint64_t line; uint64_t count, next; } *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return;
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *t;
        json_array_foreach(tasks, i, t)
        {
            json_t *sp = json_object_get(t, "spawned_at");
            const char *file = S(sp, "file");
            uint64_t line = U(sp, "line"), h = line * 0x9e3779b97f4a7c15ull;
            for (const char *c = file; *c; c++)
                h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
            size_t k = (size_t)(h >> 20) & (cap - 1);
            while (tab[k].file && (tab[k].line != line || strcmp(tab[k].file, file) != 0))
                k = (k + 1) & (cap - 1);
            tab[k].file = file;
            tab[k].line = line;
            if (pass == 0)
                tab[k].count++;
            else if (tab[k].count > 1 && line > 0)
                json_object_set_new(t, "_site_seq", json_integer((json_int_t)++tab[k].next));
        }
    }
    free(tab);
}

/* The first frame of @bt in the program's own code (not a system library such as libc or
 * a sanitizer runtime, not the vDSO, not lrt), as "crunch_checksum (showcase.c:66)", into
 * @buf; "" when there is none. */
static void where_in_program(json_t *bt, bool live, char *buf, size_t n)
{
    size_t i;
    json_t *f;
    buf[0] = 0;
    json_array_foreach(bt, i, f)
    {
        const char *path = S(f, "module"), *mod = basename_of(path), *sym = S(f, "symbol");
        if (!strncmp(path, "/lib/", 5) || !strncmp(path, "/lib64/", 7) || !strncmp(path, "/usr/lib/", 9) ||
            !strncmp(path, "/usr/lib64/", 11) || !strncmp(mod, "linux-vdso", 10) || !strncmp(mod, "liblrt", 6) ||
            !strncmp(sym, "lrt_", 4))
            continue;
        char line[512];
        uint64_t mod_off = strtoull(S(f, "module_offset"), NULL, 16);
        if (srcline(path, mod_off, live && i == 0, line, sizeof line))
            snprintf(buf, n, "%.160s (%.120s)", *sym ? sym : "??", basename_of(line));
        else
            snprintf(buf, n, "%s", *sym ? sym : "??");
        return;
    }
}

/* The name of task @id in @tasks, or NULL. */
static const char *task_name(json_t *tasks, uint64_t id)
{
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) if (U(t, "id") == id) return S(t, "name");
    return NULL;
}

/* The task table of @tasks (one runtime's), then its blocking jobs and stalls. */
static void print_tasks(json_t *tasks, json_t *blocking, json_t *stalls)
{
    print_header();
    size_t i;
    json_t *t;
    number_sites(tasks);
    if (opt.tree) {
        json_array_foreach(tasks, i, t)
        {
            if (!tree_child(tasks, i, 0))
                continue;
            if (group_id(t))
                print_group(tasks, t, 0, "", true);
            else
                print_tree(tasks, t, 0, "", true);
        }
    } else {
        json_array_foreach(tasks, i, t) if (selected(t)) print_row(t, 0, false, "");
    }
    json_t *jobs = json_object_get(blocking, "jobs");
    if (json_array_size(jobs)) {
        printf("\n%sBLOCKING JOBS%s\n", C_BOLD, C_RESET);
        json_array_foreach(jobs, i, t)
        {
            char d[32];
            fmt_dur(U(t, "state_ns"), d, sizeof d);
            if (opt.stuck_ns && U(t, "state_ns") < opt.stuck_ns)
                continue;
            /* older snapshots have neither fn nor task */
            const char *fn = json_string_value(json_object_get(t, "fn"));
            uint64_t by = U(t, "task");
            const char *bn = by ? task_name(tasks, by) : NULL;
            char from[96] = "";
            if (by)
                snprintf(from, sizeof from, "  from task %" PRIu64 "%s%.40s%s", by, bn ? " '" : "", bn ? bn : "",
                         bn ? "'" : "");
            printf("job %-6" PRIu64 " %-8s for %-7s %s%s\n", U(t, "id"), S(t, "state"), d, fn ? fn : "", from);
        }
    }
    if (json_array_size(stalls)) {
        printf("\n%sRECENT STALLS%s\n", C_BOLD, C_RESET);
        json_array_foreach(stalls, i, t)
        {
            char d[32], age[32];
            fmt_dur(U(t, "duration_ns"), d, sizeof d);
            fmt_dur(U(t, "age_ns"), age, sizeof age);
            json_t *sp = json_object_get(t, "spawned_at");
            char where[300], at[310] = "";
            where_in_program(json_object_get(t, "backtrace"), true, where, sizeof where);
            if (where[0])
                snprintf(at, sizeof at, " in %s", where);
            /* one sentence: who, how long, where, when */
            if (json_is_true(json_object_get(t, "ongoing")))
                printf("task %" PRIu64 " '%s' (spawned at %s:%" PRIu64 ") has been holding the runtime thread "
                       "since its poll began %s ago%s%s\n", U(t, "task"), S(t, "name"), basename_of(S(sp, "file")),
                       U(sp, "line"), age, at[0] ? "," : "", at);
            else
                printf("task %" PRIu64 " '%s' (spawned at %s:%" PRIu64 ") held the runtime thread for %s%s, "
                       "%s ago\n", U(t, "task"), S(t, "name"), basename_of(S(sp, "file")), U(sp, "line"), d, at, age);
            if (opt.backtrace)
                print_frames(json_object_get(t, "backtrace"), true, "    ");
        }
    }
}

/* ---- cycles and objects ------------------------------------------------------------ */

/* Every runtime's "cycles" (a multi-runtime answer keeps each runtime's under runtimes[]). */
static void print_cycles(json_t *snap)
{
    json_t *rts = json_object_get(snap, "runtimes");
    size_t i, k;
    json_t *r, *c;
    bool any = false;
    for (i = 0; i < (json_array_size(rts) > 1 ? json_array_size(rts) : 1); i++) {
        r = json_array_size(rts) > 1 ? json_array_get(rts, i) : snap;
        json_array_foreach(json_object_get(r, "cycles"), k, c)
        {
            printf("%s%s%s\n", C_RED, S(c, "text"), C_RESET);
            any = true;
        }
    }
    if (any)
        printf("\n");
}

static void print_objects(json_t *snap)
{
    json_t *rts = json_object_get(snap, "runtimes");
    printf("%s%-16s %-9s %-20s %-6s %-9s %-20s %s%s\n", C_BOLD, "ADDRESS", "KIND", "NAME", "OWNER", "LEN/CAP",
           "WAITERS", "CREATED AT", C_RESET);
    for (size_t i = 0; i < (json_array_size(rts) > 1 ? json_array_size(rts) : 1); i++) {
        json_t *r = json_array_size(rts) > 1 ? json_array_get(rts, i) : snap;
        size_t k, j;
        json_t *o, *w;
        json_array_foreach(json_object_get(r, "objects"), k, o)
        {
            char owner[24] = "-", len[32] = "-", waiters[128] = "", site[96] = "-";
            json_t *ow = json_object_get(o, "owner");
            if (json_is_integer(ow))
                snprintf(owner, sizeof owner, "%" PRIu64, (uint64_t)json_integer_value(ow));
            if (strcmp(S(o, "kind"), "group") == 0) {
                snprintf(len, sizeof len, "%" PRIu64, U(o, "len")); /* members left */
            } else if (json_is_integer(json_object_get(o, "len"))) {
                json_t *cap = json_object_get(o, "cap");
                if (json_is_integer(cap))
                    snprintf(len, sizeof len, "%" PRIu64 "/%" PRIu64, U(o, "len"), (uint64_t)json_integer_value(cap));
                else
                    snprintf(len, sizeof len, "%" PRIu64 "/inf", U(o, "len"));
            }
            size_t wl = 0;
            json_array_foreach(json_object_get(o, "waiters"), j, w)
            {
                int n = snprintf(waiters + wl, sizeof waiters - wl, "%s%" PRIu64, j ? "," : "",
                                 (uint64_t)json_integer_value(w));
                if (n < 0 || (size_t)n >= sizeof waiters - wl) {
                    snprintf(waiters + sizeof waiters - 5, 5, ",...");
                    break;
                }
                wl += (size_t)n;
            }
            if (!wl)
                snprintf(waiters, sizeof waiters, "-");
            json_t *at = json_object_get(o, "created_at");
            if (json_is_object(at))
                snprintf(site, sizeof site, "%s:%" PRIu64, basename_of(S(at, "file")), U(at, "line"));
            const char *name = S(o, "name");
            printf("%-16s %-9s %-20s %-6s %-9s %-20s %s\n", S(o, "address"), S(o, "kind"), *name ? name : "-",
                   owner, len, waiters, site);
        }
    }
}

static void print_snapshot(json_t *snap)
{
    if (opt.stuck_ns)
        print_cycles(snap);
    if (opt.objects) {
        print_objects(snap);
        return;
    }
    json_t *rts = json_object_get(snap, "runtimes");
    json_t *tasks = json_object_get(snap, "tasks");
    if (json_array_size(rts) <= 1) {
        print_summary(snap, true);
        printf("\n");
        print_tasks(tasks, json_object_get(snap, "blocking"), json_object_get(snap, "stalls"));
        return;
    }
    /* several runtimes: one section each, its tasks alone (task ids and parents are per
     * runtime) */
    print_summary(snap, false);
    size_t i, k;
    json_t *r, *t;
    json_array_foreach(rts, i, r)
    {
        uint64_t index = U(r, "index");
        printf("\n%s== runtime %" PRIu64 "%s  thread %s%s%s (tid %" PRIu64 ")  ", C_BOLD, index, C_RESET, C_CYAN,
               S(r, "thread"), C_RESET, U(r, "tid"));
        print_runtime_state(json_object_get(r, "runtime"));
        printf("\n");
        json_t *mine = json_array();
        json_array_foreach(tasks, k, t)
        {
            json_t *ri = json_object_get(t, "runtime");
            if (json_is_integer(ri) && (uint64_t)json_integer_value(ri) == index)
                json_array_append(mine, t);
        }
        print_tasks(mine, json_object_get(r, "blocking"), json_object_get(r, "stalls"));
        json_decref(mine);
    }
}

/* ---- -e: one task's history -------------------------------------------------------- */

/* The task(s) with @id (one per runtime that has it): which, then each event's time
 * before the snapshot and its words (the "text" the runtime wrote: src/diag/history.c).
 * Returns how many were found. */
static int print_history(json_t *snap, uint64_t id)
{
    json_t *rts = json_object_get(snap, "runtimes");
    size_t i, k;
    json_t *t, *e;
    int found = 0;
    json_array_foreach(json_object_get(snap, "tasks"), i, t)
    {
        if (U(t, "id") != id)
            continue;
        json_t *rt = json_object_get(snap, "runtime");
        json_t *ri = json_object_get(t, "runtime");
        if (json_is_integer(ri) && json_array_size(rts) > 1) {
            json_array_foreach(rts, k, e)
            {
                if (U(e, "index") == (uint64_t)json_integer_value(ri))
                    rt = json_object_get(e, "runtime");
            }
        }
        uint64_t now = U(rt, "uptime_ns");
        json_t *sp = json_object_get(t, "spawned_at");
        char d[32];
        fmt_dur(U(t, "max_poll_ns"), d, sizeof d);
        if (found++)
            printf("\n");
        printf("%stask %" PRIu64 " '%s'%s", C_BOLD, id, S(t, "name"), C_RESET);
        if (json_is_integer(ri) && json_array_size(rts) > 1)
            printf(" (runtime %" PRIu64 ")", (uint64_t)json_integer_value(ri));
        printf(", %s, spawned at %s:%" PRIu64 " in %s; longest poll %s\n", S(t, "state"), basename_of(S(sp, "file")),
               U(sp, "line"), S(sp, "func"), d);
        json_t *h = json_object_get(t, "history");
        if (!json_array_size(h)) {
            printf("  no history (the runtime was built with LRT_HISTORY=0)\n");
            continue;
        }
        json_array_foreach(h, k, e)
        {
            uint64_t at = U(e, "at_ns");
            fmt_dur(now > at ? now - at : 0, d, sizeof d);
            printf("  %10s ago  %s\n", d, S(e, "text"));
        }
    }
    return found;
}

/* ---- --list ----------------------------------------------------------------------- */

static int list_dir(const char *dir, int *found, bool *header)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || pid <= 0 || !strstr(end, ".sock"))
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = connect_to(path);
        if (fd < 0)
            continue;
        int err = 0;
        char *line = roundtrip(fd, "{\"cmd\":\"ping\"}\n", 1000, &err);
        close(fd);
        json_t *j = line ? json_loads(line, 0, NULL) : NULL;
        free(line);
        if (!j || !json_is_true(json_object_get(j, "ok"))) {
            json_decref(j);
            continue;
        }
        if (!*header) {
            printf("%s%-8s %-16s %6s  %s%s\n", C_BOLD, "PID", "COMMAND", "TASKS", "SOCKET", C_RESET);
            *header = true;
        }
        char comm[64];
        proc_comm(pid, comm, sizeof comm);
        printf("%-8ld %-16s %6" PRIu64 "  %s\n", pid, comm, U(j, "tasks"), path);
        json_decref(j);
        (*found)++;
    }
    closedir(d);
    return 0;
}

static int do_list(void)
{
    char dirs[3][256];
    int n = 0, found = 0;
    bool header = false;
    const char *d = getenv("LRT_DUMP_DIR");
    if (d && *d)
        snprintf(dirs[n++], 256, "%s", d);
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && *x)
        snprintf(dirs[n++], 256, "%s/lrt", x);
    snprintf(dirs[n++], 256, "/tmp/lrt-%u", (unsigned)geteuid());
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int k = 0; k < i; k++)
            dup |= strcmp(dirs[i], dirs[k]) == 0;
        if (!dup)
            list_dir(dirs[i], &found, &header);
    }
    if (!found) {
        fprintf(stderr, "%s: no live lrt process with a dump agent found\n", prog);
        return 1;
    }
    return 0;
}

/* ---- --core ----------------------------------------------------------------------- */

/* lrt-gdb.py: $LRT_GDB_SCRIPT, else next to this program as built and as installed
 * (BUILD/tools/lrt-dump and BUILD/share/lrt/; PREFIX/bin/lrt-dump and PREFIX/share/lrt/). */
static bool gdb_script(char *out, size_t n)
{
    const char *e = getenv("LRT_GDB_SCRIPT");
    if (e && *e) {
        snprintf(out, n, "%s", e);
        return access(out, R_OK) == 0;
    }
    char self[512];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0)
        return false;
    self[k] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = 0;
    snprintf(out, n, "%s/../share/lrt/lrt-gdb.py", self);
    return access(out, R_OK) == 0;
}

/* Run gdb with @argv (argv[0] "gdb"); with @err_fd >= 0 its stdin/stdout go to /dev/null
 * and its stderr to @err_fd.  Bounded like a live reply: AGENT_REPLY_TIMEOUTS x --timeout
 * (60 s by default), then killed (gdb detaches from a process it is killed in: ptrace
 * ends).  Returns gdb's wait status, or -1 when it was killed at the bound. */
static int run_gdb(const char *const *argv, int err_fd)
{
    fflush(stdout);
    pid_t g = fork();
    if (g < 0)
        die("fork: %s", strerror(errno));
    if (g == 0) {
        if (err_fd >= 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            dup2(err_fd, 2);
        }
        execvp("gdb", (char *const *)argv);
        dprintf(2, "cannot run gdb: %s (Debian: apt-get install gdb)\n", strerror(errno));
        _exit(127);
    }
    int st = 0;
    uint64_t give_up = now_ms() + opt.timeout_ms * AGENT_REPLY_TIMEOUTS;
    for (;;) {
        pid_t r = waitpid(g, &st, WNOHANG);
        if (r == g || (r < 0 && errno != EINTR))
            return st;
        if (now_ms() > give_up) {
            kill(g, SIGKILL);
            waitpid(g, &st, 0);
            return -1;
        }
        poll(NULL, 0, 20);
    }
}

/* --gcore FILE PID: a core of the live process @pid with its task stacks (plain gcore
 * loses stacks that have lrt's guard regions in their mapping: docs/diagnosis.md), by
 * `lrt gcore` of lrt-gdb.py in gdb attached for a moment.  Returns the exit status. */
static int do_gcore(const char *file, long pid)
{
    char script[600], src[700], cmd[700], spid[24];
    if (!gdb_script(script, sizeof script))
        die("lrt-gdb.py not found (looked for %s; set LRT_GDB_SCRIPT)", script);
    snprintf(src, sizeof src, "source %s", script);
    snprintf(cmd, sizeof cmd, "lrt gcore %s", file);
    snprintf(spid, sizeof spid, "%ld", pid);
    const char *argv[] = {"gdb", "-batch", "-nx", "-p", spid, "-ex", src, "-ex", cmd, NULL};
    int st = run_gdb(argv, -1);
    if (st == -1)
        die("gdb did not write %s within %s", file, human_ms(opt.timeout_ms * AGENT_REPLY_TIMEOUTS));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || access(file, R_OK) != 0) {
        fprintf(stderr, "lrt-dump: gdb could not write a core of process %ld to %s\n", pid, file);
        return 1;
    }
    return 0;
}

/* The snapshot of a core file: gdb in batch mode runs `lrt json` of lrt-gdb.py, which
 * writes the JSON into a temporary file (gdb's own chatter goes to /dev/null, its errors
 * are shown when it fails).  Returns the parsed snapshot, the raw text in *@text_out. */
static json_t *core_snapshot(const char *core, const char *exe, char **text_out)
{
    char script[600];
    if (access(core, R_OK) != 0)
        die("cannot read the core file %s: %s", core, strerror(errno));
    if (exe && access(exe, R_OK) != 0)
        die("cannot read the executable %s: %s", exe, strerror(errno));
    if (!gdb_script(script, sizeof script))
        die("lrt-gdb.py not found (looked for %s; set LRT_GDB_SCRIPT)", script);
    char out[] = "/tmp/lrt-dump-core.XXXXXX", err[] = "/tmp/lrt-dump-gdb.XXXXXX";
    int ofd = mkstemp(out), efd = mkstemp(err);
    if (ofd < 0 || efd < 0)
        die("cannot create a temporary file: %s", strerror(errno));
    char src[700], cmd[1400];
    snprintf(src, sizeof src, "source %s", script);
    snprintf(cmd, sizeof cmd, "lrt json%s --core '%s' --out '%s'", opt.backtrace ? " -b" : "", core, out);
    const char *argv[] = {"gdb", "-batch", "-nx", "-ex", src, "-ex", cmd,
                          exe ? exe : "-c", core, NULL};
    int st = run_gdb(argv, efd);
    if (st == -1) {
        unlink(out);
        unlink(err);
        die("gdb did not finish reading %s within %s", core, human_ms(opt.timeout_ms * AGENT_REPLY_TIMEOUTS));
    }
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    if (!j || !json_is_array(json_object_get(j, "tasks"))) {
        char buf[4096];
        ssize_t k = pread(efd, buf, sizeof buf - 1, 0);
        buf[k > 0 ? k : 0] = 0;
        unlink(out);
        unlink(err);
        fprintf(stderr, "%s", buf);
        die("gdb could not read lrt's tasks from %s (gdb exit status %d; a core of an lrt "
            "process, and the program with debug info, are needed)", core,
            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
    lseek(efd, 0, SEEK_SET); /* gdb wrote through the same open file */
    FILE *ef = fdopen(dup(efd), "r");
    char msg[1024];
    while (ef && fgets(msg, sizeof msg, ef)) /* lrt-gdb.py's own warnings */
        if (strncmp(msg, "lrt: ", 5) == 0)
            fprintf(stderr, "%s", msg);
    if (ef)
        fclose(ef);
    if (text_out) { /* the file as gdb wrote it (one line), for --json */
        FILE *jf = fopen(out, "r");
        size_t cap = 0;
        *text_out = NULL;
        if (!jf || getline(text_out, &cap, jf) < 0)
            die("cannot read back %s", out);
        fclose(jf);
        (*text_out)[strcspn(*text_out, "\n")] = 0;
    }
    unlink(out);
    unlink(err);
    close(ofd);
    close(efd);
    return j;
}

/* ---- main ------------------------------------------------------------------------- */

/* --top: become lrt-top (the one next to this program, else the one in PATH), passing on
 * the PID and the options lrt-top shares. */
static void exec_top(long pid)
{
    char self[4096], path[4200], pidbuf[32], ms[32], delay[32];
    char *args[10];
    int n = 0;
    args[n++] = "lrt-top";
    snprintf(ms, sizeof ms, "--timeout=%" PRIu64, opt.timeout_ms);
    args[n++] = ms;
    if (opt.watch) {
        snprintf(delay, sizeof delay, "--delay=%g", opt.watch_sec < 0.1 ? 0.1 : opt.watch_sec);
        args[n++] = delay;
    }
    if (opt.socket) {
        args[n++] = "--socket";
        args[n++] = (char *)opt.socket;
    }
    if (pid) {
        snprintf(pidbuf, sizeof pidbuf, "%ld", pid);
        args[n++] = pidbuf;
    }
    args[n] = NULL;
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l > 0) {
        self[l] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/lrt-top", self);
            if (access(path, X_OK) == 0)
                execv(path, args);
        }
    }
    execvp("lrt-top", args);
    die("--top: cannot run lrt-top: %s", strerror(errno));
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    enum { OPT_COLOR = 256, OPT_TIMEOUT, OPT_OBJECTS, OPT_CORE, OPT_TOP, OPT_GCORE };
    static const struct option longopts[] = {
        {"backtrace", no_argument, 0, 'b'}, {"tree", no_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},      {"watch", optional_argument, 0, 'w'},
        {"stuck", required_argument, 0, 's'}, {"list", no_argument, 0, 'l'},
        {"socket", required_argument, 0, 'S'}, {"color", optional_argument, 0, OPT_COLOR},
        {"colour", optional_argument, 0, OPT_COLOR}, {"help", no_argument, 0, 'h'},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"objects", no_argument, 0, OPT_OBJECTS},
        {"core", required_argument, 0, OPT_CORE},
        {"gcore", required_argument, 0, OPT_GCORE},
        {"events", required_argument, 0, 'e'},
        {"top", no_argument, 0, OPT_TOP},
        {"version", no_argument, 0, 'V'},   {0, 0, 0, 0}};
    int c;
    const char *when = "auto";
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":btjw::s:lS:hVe:", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': opt.backtrace = true; break;
        case 't': opt.tree = true; break;
        case 'j': opt.json = true; break;
        case 'l': opt.list = true; break;
        case 'S': opt.socket = optarg; break;
        case 'e': {
            char *end;
            errno = 0;
            unsigned long long id = strtoull(optarg, &end, 10);
            if (*end || errno || id == 0 || optarg[0] == '-')
                usage_error("--events: not a task id: '%s'", optarg);
            opt.events_id = id;
            break;
        }
        case 'w': {
            opt.watch = true;
            if (optarg) {
                char *end;
                opt.watch_sec = strtod(optarg, &end);
                if (*end || opt.watch_sec <= 0)
                    usage_error("--watch: not a number of seconds: '%s'", optarg);
            }
            break;
        }
        case 's':
            if (parse_duration(optarg, &opt.stuck_ns) != 0)
                usage_error("--stuck: not a duration: '%s' (e.g. 500ms, 5s, 2m)", optarg);
            break;
        case OPT_TIMEOUT: {
            uint64_t ns;
            if (parse_duration(optarg, &ns) != 0 || ns < 1000000u || ns > 3600000000000ull)
                usage_error("--timeout: not a duration between 1ms and 1h: '%s'", optarg);
            opt.timeout_ms = ns / 1000000u;
            break;
        }
        case OPT_COLOR:
            when = optarg ? optarg : "always";
            if (strcmp(when, "auto") && strcmp(when, "always") && strcmp(when, "never"))
                usage_error("--color: expected auto, always or never, not '%s'", when);
            break;
        case OPT_OBJECTS: opt.objects = true; break;
        case OPT_CORE: opt.core = optarg; break;
        case OPT_GCORE: opt.gcore = optarg; break;
        case OPT_TOP: opt.top = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("lrt-dump (lrt) 0.1.0\n"); return 0;
        case ':': usage_error("option '%s' needs an argument", argv[optind - 1]); break;
        default: usage_error("unknown option '%s'", argv[optind - 1]); break;
        }
    }
    color = strcmp(when, "always") == 0 || (strcmp(when, "auto") == 0 && isatty(1) && !getenv("NO_COLOR"));
    if (opt.core) {
        if (opt.watch || opt.socket || opt.list)
            usage_error("%s", "--core cannot be combined with --watch, --socket or --list");
        if (optind + 1 < argc)
            usage_error("unexpected argument '%s'", argv[optind + 1]);
        if (opt.json && opt.tree)
            usage_error("%s", "--json cannot be combined with --tree");
        char *text = NULL;
        json_t *snap = core_snapshot(opt.core, optind < argc ? argv[optind] : NULL, opt.json ? &text : NULL);
        if (opt.json)
            puts(text);
        else {
            printf("core file %s (times as of the dump: the process's switch clock)\n", opt.core);
            print_snapshot(snap);
        }
        free(text);
        json_decref(snap);
        return 0;
    }
    if (opt.gcore) {
        if (opt.core || opt.watch || opt.socket || opt.list || opt.top)
            usage_error("%s", "--gcore cannot be combined with --core, --watch, --socket, --list or --top");
        if (optind + 1 != argc)
            usage_error("%s", "--gcore FILE needs one PID");
        char *end;
        long gp = strtol(argv[optind], &end, 10);
        if (*end || gp <= 0)
            usage_error("not a PID: '%s'", argv[optind]);
        return do_gcore(opt.gcore, gp);
    }
    if (opt.list) {
        if (optind != argc)
            usage_error("--list takes no PID (got '%s')", argv[optind]);
        return do_list();
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
    if (opt.top && (opt.json || opt.tree || opt.backtrace || opt.stuck_ns))
        usage_error("%s", "--top cannot be combined with --json, --tree, --backtrace or --stuck");
    if (opt.json && (opt.tree || opt.watch))
        usage_error("%s", "--json cannot be combined with --tree or --watch");

    if (opt.top)
        exec_top(pid);
    signal(SIGPIPE, SIG_IGN);
    char path[512];
    int fd = open_agent(pid, path, sizeof path);
    snprintf(agent_path, sizeof agent_path, "%s", path);
    if (pid)
        snprintf(target, sizeof target, "process %ld", pid);
    else
        snprintf(target, sizeof target, "the agent at %s", path);
    char req[128];
    snprintf(req, sizeof req, "{\"cmd\":\"snapshot\"%s%s}\n", opt.backtrace ? ",\"backtraces\":true" : "",
             opt.events_id ? ",\"history\":true" : "");
    if (opt.json) {
        char *line = NULL;
        json_decref(request(&fd, req, &line));
        puts(line);
        free(line);
        close(fd);
        return 0;
    }
    if (opt.watch) {
        struct sigaction sa = {.sa_handler = on_int};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    do {
        json_t *snap = request(&fd, req, NULL);
        if (opt.watch && isatty(1))
            printf("\033[H\033[2J");
        int found = opt.events_id ? print_history(snap, opt.events_id) : 1;
        if (!opt.events_id)
            print_snapshot(snap);
        json_decref(snap);
        if (!found) {
            fprintf(stderr, "%s: %s has no task %" PRIu64 " (it may have finished)\n", prog, target, opt.events_id);
            if (!opt.watch)
                return 1;
        }
        fflush(stdout);
        if (!opt.watch)
            break;
        printf("\n");
        fflush(stdout);
        uint64_t until = now_ms() + (uint64_t)(opt.watch_sec * 1000);
        while (!interrupted && now_ms() < until)
            poll(NULL, 0, 50);
    } while (!interrupted);
    close(fd);
    return 0;
}
