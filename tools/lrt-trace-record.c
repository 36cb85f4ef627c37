/*
 * lrt-trace-record - `lrt-trace record`: record one lrt process with LTTng, in one
 * command, like `perf record`.
 *
 *   lrt-trace record [-o DIR] [--duration S] [--flight] -p PID
 *   lrt-trace record [-o DIR] [--duration S] [--flight] -- CMD [ARGS...]
 *
 * Starts its own lttng-sessiond when none runs (and stops it, by pid, at the end), creates
 * a session with lrt's channel (docs/tracing.md has the arithmetic of its size), enables
 * lrt:*, adds the vpid/vtid/procname contexts, tracks only the one process, starts,
 * waits (--duration, the process's exit, or SIGINT/SIGTERM/SIGHUP), stops, destroys the
 * session and prints `lrt-trace summary DIR`.
 *  - `-- CMD`: the child is forked first and waits on a pipe until its pid is tracked and
 *    the session started, then execs CMD with LRT_TRACE=1: its first event is recorded.
 *  - `-p PID` of a process started without LRT_TRACE=1: the request file
 *    <dir>/.lrt-trace-PID (src/diag/attach.c; the directory lrt-dump's attach request uses)
 *    makes its ticker thread load liblrt-tp.so; the file disappears once that is done.
 *  - `--flight`: a snapshot-mode session named lrt-flight-PID (an in-memory ring, nothing
 *    written until asked); the process learns the name (LRT_FLIGHT_SESSION for CMD, the
 *    request file for -p) and its stall detector asks for a snapshot at each stall
 *    (src/diag/flight.c), saved under DIR/stall-*.  At the end the summary of each.
 *
 * The lttng CLI is run (fork/exec, output captured and shown when a step fails) rather
 * than liblttng-ctl linked: the CLI's messages are the ones users search for, the
 * tracker/channel options are spelt as in LTTng's documentation, and lrt's tools need no
 * LTTng development package (Debian ships no liblttng-ctl headers in lttng-tools).
 *
 * A's `lrt-trace` runs this program for `lrt-trace record` (its sibling binary).  The
 * summary comes from the sibling `lrt-trace` (same directory as this program), else the
 * one in $PATH; LRT_TRACE_TOOL overrides it.
 */
#include "agent_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "lrt-trace record"
/* The channel for ~80k requests/s x ~5 events of ~60 bytes with vpid/vtid/procname:
 * 16 MiB per CPU holds ~0.6 s of that rate, three times the consumer's 200 ms read
 * period (docs/tracing.md, "Channel size"). */
#define DEF_SUBBUF "1M"
#define DEF_NUM_SUBBUF "16"
#define REQUEST_TIMEOUT_MS 10000 /* the ticker looks every 200 ms; loading takes a moment */

static struct {
    const char *out_dir;
    double duration; /* 0 = until the process exits or a signal */
    bool flight, no_summary;
    const char *subbuf, *num_subbuf;
    long pid;     /* target (-p) or child (-- CMD) */
    bool child;   /* -- CMD */
    char session[64];
    bool session_made;
    pid_t sessiond; /* ours to stop, or 0 */
    char dir[PATH_MAX];
    char request[PATH_MAX]; /* -p: the request file while it exists */
} g = {.subbuf = DEF_SUBBUF, .num_subbuf = DEF_NUM_SUBBUF};

static volatile sig_atomic_t got_signal;

static void cleanup(void);

/* "lrt-trace record: MESSAGE" on stderr: every message of this program. */
static void vnote(const char *fmt, va_list ap)
{
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

/* A failure: the message, then undo what was started (session, daemon), exit 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
    cleanup();
    exit(1);
}

/* A bad argument: as die, exit status 2 (nothing was started yet). */
static void usage_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
    exit(2);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks at got_signal */
}

/* @name found in $PATH (or a path with a slash that is executable). */
static bool in_path(const char *name, char *out, size_t n)
{
    if (strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return access(name, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    while (*path) {
        size_t len = strcspn(path, ":");
        if ((size_t)snprintf(out, n, "%.*s/%s", (int)len, path, name) < n && access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/* ---- running lttng ---------------------------------------------------------------------- */

/* Run argv (NULL-terminated) with stdout and stderr captured into @out; returns the
 * exit status (0 = success), or -errno when it could not run. */
static int run_capture(char *const argv[], char *out, size_t n)
{
    int p[2];
    out[0] = 0;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0)
            dup2(fd, 0);
        signal(SIGINT, SIG_IGN); /* a Ctrl-C stops us, and we stop the session cleanly */
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    for (;;) {
        char buf[1024];
        ssize_t k = read(p[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        /* keep the end: lttng's error is its last line */
        if (len + (size_t)k >= n) {
            size_t drop = len + (size_t)k - n + 1;
            if (drop > len)
                drop = len;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        size_t take = (size_t)k < n - 1 - len ? (size_t)k : n - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last non-empty line of @s, trimmed, into a static buffer. */
static const char *last_line(const char *s)
{
    static char line[512];
    const char *end = s + strlen(s);
    while (end > s && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    const char *b = end;
    while (b > s && b[-1] != '\n')
        b--;
    snprintf(line, sizeof line, "%.*s", (int)(end - b), b);
    return line[0] ? line : "(no message)";
}

/* lttng ARGS...; dies with lttng's own message when it fails (unless @may_fail). */
static int lttng(bool may_fail, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    argv[n++] = "lttng";
    va_start(ap, may_fail);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char out[4096];
    int rc = run_capture(argv, out, sizeof out);
    if (rc != 0 && !may_fail) {
        char cmd[256] = "";
        size_t len = 0;
        for (int i = 0; i < n && len < sizeof cmd; i++)
            len += (size_t)snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", argv[i]);
        die("`%s` failed: %s", cmd, rc < 0 ? strerror(-rc) : last_line(out));
    }
    return rc;
}

/* ---- the session daemon ------------------------------------------------------------------ */

static bool alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static pid_t read_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

static bool in_tracing_group(void)
{
    struct group *gr = getgrnam("tracing");
    if (!gr)
        return false;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gr->gr_gid)
            return true;
    return getegid() == gr->gr_gid;
}

/* The session daemon lttng will talk to: root's (root, or the tracing group), else the
 * user's own ($LTTNG_HOME or $HOME, /.lttng).  Start one when none runs. */
static void ensure_sessiond(void)
{
    char pidfile[PATH_MAX];
    const char *global = "/var/run/lttng/lttng-sessiond.pid";
    if (geteuid() == 0 || in_tracing_group()) {
        if (alive(read_pidfile(global)))
            return;
    }
    if (geteuid() == 0) {
        snprintf(pidfile, sizeof pidfile, "%s", global);
    } else {
        const char *home = getenv("LTTNG_HOME");
        if (!home || !*home)
            home = getenv("HOME");
        if (!home || !*home)
            die("neither LTTNG_HOME nor HOME is set: cannot tell where the session daemon lives");
        snprintf(pidfile, sizeof pidfile, "%s/.lttng/lttng-sessiond.pid", home);
        if (alive(read_pidfile(pidfile)))
            return;
    }
    char path[PATH_MAX];
    if (!in_path("lttng-sessiond", path, sizeof path))
        die("lttng-sessiond is not installed (Debian: apt-get install lttng-tools)");
    char *argv[] = {"lttng-sessiond", "--daemonize", "--no-kernel", NULL};
    char out[4096];
    int rc = run_capture(argv, out, sizeof out);
    pid_t pid = read_pidfile(pidfile);
    char why[600];
    if (rc < 0)
        snprintf(why, sizeof why, "%s", strerror(-rc));
    else if (out[strspn(out, " \n")])
        snprintf(why, sizeof why, "%s", last_line(out));
    else
        snprintf(why, sizeof why, "it exited with status %d and no message (too few file descriptors? "
                 "ulimit -n is %ld)", rc, sysconf(_SC_OPEN_MAX));
    if (rc != 0 || !alive(pid))
        die("could not start lttng-sessiond: %s%s", why,
            geteuid() ? " (not root: a session daemon of your own traces only your own processes; "
                        "run as root, or join the tracing group and start root's)"
                      : "");
    g.sessiond = pid;
    note("started lttng-sessiond (pid %d); it is stopped at the end", (int)pid);
}

static void stop_sessiond(void)
{
    if (!g.sessiond)
        return;
    kill(g.sessiond, SIGTERM);
    for (int i = 0; i < 100 && alive(g.sessiond); i++)
        sleep_ms(50);
    if (alive(g.sessiond))
        kill(g.sessiond, SIGKILL);
    g.sessiond = 0;
}

static void cleanup(void)
{
    if (g.request[0]) {
        unlink(g.request);
        g.request[0] = 0;
    }
    if (g.session_made) {
        g.session_made = false;
        lttng(true, "destroy", g.session, NULL);
    }
    stop_sessiond();
}

/* ---- the target ---------------------------------------------------------------------------- */

/* Is @path's basename mapped in @pid? */
static bool maps_have(long pid, const char *name)
{
    char p[64], line[1024];
    snprintf(p, sizeof p, "/proc/%ld/maps", pid);
    FILE *f = fopen(p, "r");
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof line, f)) {
        const char *slash = strrchr(line, '/');
        found = slash && strncmp(slash + 1, name, strlen(name)) == 0;
    }
    fclose(f);
    return found;
}

/* Does @pid run a thread named @comm (lrt-stall: the stall detector)? */
static bool has_thread(long pid, const char *comm)
{
    char p[96], name[64];
    snprintf(p, sizeof p, "/proc/%ld/task/*/comm", pid);
    glob_t gl;
    bool found = false;
    if (glob(p, 0, NULL, &gl) != 0)
        return false;
    for (size_t i = 0; i < gl.gl_pathc && !found; i++) {
        FILE *f = fopen(gl.gl_pathv[i], "r");
        if (f) {
            found = fgets(name, sizeof name, f) && strncmp(name, comm, strlen(comm)) == 0;
            fclose(f);
        }
    }
    globfree(&gl);
    return found;
}

/* A process that is gone or a zombie. */
static bool target_gone(long pid)
{
    char p[64], buf[512];
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return true;
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return true;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static void check_target(long pid, char *comm, size_t n)
{
    if (kill((pid_t)pid, 0) != 0) {
        if (errno == ESRCH)
            die("no process with pid %ld", pid);
        die("process %ld belongs to another user: %s (run as root or as its user)", pid, strerror(errno));
    }
    agent_proc_comm(pid, comm, n);
    int lrt = agent_uses_lrt(pid);
    if (lrt < 0)
        die("process %ld (%s): cannot read its memory map: %s", pid, comm, strerror(-lrt));
    if (lrt == 0)
        die("process %ld (%s) is not an lrt process", pid, comm);
}

/* -p: make the process load the provider (and learn the flight session), through the
 * request file its ticker looks for (src/diag/attach.c). */
static void request_tracing(long pid, const char *comm)
{
    bool loaded = maps_have(pid, "liblrt-tp.so");
    if (loaded && !g.flight)
        return;
    char dir[256];
    bool forbidden;
    uid_t uid;
    gid_t gid;
    if (!agent_target_dir(pid, dir, sizeof dir, &forbidden, &uid, &gid))
        die("process %ld (%s): cannot read its environment (another user's process? run as root)", pid, comm);
    if (forbidden)
        die("process %ld (%s) runs with LRT_DUMP=0, which turns requests off: start it with LRT_TRACE=1%s", pid,
            comm, g.flight ? " LRT_FLIGHT_SESSION=lrt-flight-PID" : "");
    if (!dir[0])
        die("process %ld (%s): cannot tell its request directory", pid, comm);
    if (mkdir(dir, 0700) == 0) {
        if (geteuid() == 0 && uid != 0 && chown(dir, uid, gid) != 0)
            die("cannot give %s to uid %u: %s", dir, (unsigned)uid, strerror(errno));
    } else if (errno != EEXIST) {
        die("cannot create %s: %s", dir, strerror(errno));
    }
    snprintf(g.request, sizeof g.request, "%s/.lrt-trace-%ld", dir, pid);
    int fd = open(g.request, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        g.request[0] = 0;
        die("cannot create the request file in %s: %s", dir, strerror(errno));
    }
    if (g.flight)
        dprintf(fd, "flight=%s\n", g.session);
    else
        dprintf(fd, "trace\n");
    close(fd);
    if (geteuid() == 0 && uid != 0 && chown(g.request, uid, gid) != 0)
        (void)0; /* root's file is accepted too (attach.c) */
    uint64_t start = now_ms();
    struct stat st;
    while (lstat(g.request, &st) == 0) {
        if (target_gone(pid))
            die("process %ld exited before it started tracing", pid);
        if (now_ms() - start > REQUEST_TIMEOUT_MS)
            die("process %ld (%s) did not answer within %d s (no lrt runtime alive in it?)", pid, comm,
                REQUEST_TIMEOUT_MS / 1000);
        if (got_signal)
            die("interrupted");
        sleep_ms(20);
    }
    g.request[0] = 0;
    if (!maps_have(pid, "liblrt-tp.so"))
        die("process %ld (%s) could not load liblrt-tp.so (its standard error says why)", pid, comm);
}

/* ---- -- CMD ------------------------------------------------------------------------------- */

static int go_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};

/* Fork the child: it waits until we say go, then execs with LRT_TRACE=1. */
static pid_t fork_child(char **argv)
{
    if (pipe2(go_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(go_pipe[1]);
        close(err_pipe[0]);
        char c;
        ssize_t k;
        while ((k = read(go_pipe[0], &c, 1)) < 0 && errno == EINTR)
            ;
        if (k != 1)
            _exit(127); /* the recorder gave up: never run untraced */
        setenv("LRT_TRACE", "1", 1);
        if (g.flight) { /* the parent names the session after our pid, after the fork */
            char name[64];
            snprintf(name, sizeof name, "lrt-flight-%d", (int)getpid());
            setenv("LRT_FLIGHT_SESSION", name, 1);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(err_pipe[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(go_pipe[0]);
    close(err_pipe[1]);
    return pid;
}

static void release_child(const char *cmd)
{
    char c = 'g';
    if (write(go_pipe[1], &c, 1) != 1)
        die("cannot start %s: %s", cmd, strerror(errno));
    close(go_pipe[1]);
    int e = 0;
    ssize_t k;
    while ((k = read(err_pipe[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(err_pipe[0]);
    if (k == (ssize_t)sizeof e) {
        waitpid((pid_t)g.pid, NULL, 0);
        g.pid = 0;
        die("cannot run %s: %s", cmd, strerror(e));
    }
}

/* ---- main -------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    got_signal = sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lrt-trace record [-o DIR] [--duration S] [--flight] [--no-summary]\n"
               "                        [--subbuf-size SIZE] [--num-subbuf N] (-p PID | -- CMD [ARGS...])\n"
               "Records one lrt process with LTTng (its own lttng-sessiond if none runs), then prints\n"
               "`lrt-trace summary DIR`.  --flight: an in-memory ring; each stall the process's stall\n"
               "detector (LRT_STALL_MS) reports saves the trace before it under DIR/stall-*.\n"
               "Default DIR: ./lrt-trace-YYYYMMDD-HHMMSS.  docs/tracing.md, lrt-trace(1).\n");
}

/* The sibling lrt-trace, else the one in $PATH, or $LRT_TRACE_TOOL. */
static void summary_tool(char *out, size_t n)
{
    const char *env = getenv("LRT_TRACE_TOOL");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k > 0) {
        self[k] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, n, "%s/lrt-trace", self) < n && access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "lrt-trace");
}

static int print_summary(const char *dir)
{
    char tool[PATH_MAX];
    summary_tool(tool, sizeof tool);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        execlp(tool, tool, "summary", dir, (char *)NULL);
        fprintf(stderr, PROG ": cannot run %s: %s\n", tool, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void parse_duration(const char *s)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(d) || d <= 0 || d > 366.0 * 86400)
        usage_die("--duration %s: expected seconds, > 0 and at most a year (e.g. 10 or 0.5)", s);
    g.duration = d;
}

static bool size_arg_ok(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || v == 0 || s[0] == '-')
        return false;
    return !*end || ((*end == 'k' || *end == 'K' || *end == 'M' || *end == 'G') && !end[1]);
}

int main(int argc, char **argv)
{
    enum { O_DURATION = 1000, O_FLIGHT, O_SUBBUF, O_NUMSUB, O_NOSUM };
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},  {"pid", required_argument, NULL, 'p'},
        {"duration", required_argument, NULL, O_DURATION}, {"flight", no_argument, NULL, O_FLIGHT},
        {"subbuf-size", required_argument, NULL, O_SUBBUF}, {"num-subbuf", required_argument, NULL, O_NUMSUB},
        {"no-summary", no_argument, NULL, O_NOSUM}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    agent_prog = PROG;
    const char *pid_arg = NULL;
    int c;
    /* "+": stop at the first non-option, so CMD's own options stay CMD's */
    while ((c = getopt_long(argc, argv, "+o:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': g.out_dir = optarg; break;
        case 'p': pid_arg = optarg; break;
        case O_DURATION: parse_duration(optarg); break;
        case O_FLIGHT: g.flight = true; break;
        case O_SUBBUF:
            if (!size_arg_ok(optarg))
                usage_die("--subbuf-size %s: expected a size such as 1M or 262144", optarg);
            g.subbuf = optarg;
            break;
        case O_NUMSUB:
            if (!size_arg_ok(optarg) || strpbrk(optarg, "kKMG"))
                usage_die("--num-subbuf %s: expected a count (a power of two, >= 2)", optarg);
            g.num_subbuf = optarg;
            break;
        case O_NOSUM: g.no_summary = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char **cmd = argv + optind;
    bool have_cmd = optind < argc;
    if (!pid_arg == !have_cmd) {
        usage(stderr);
        fprintf(stderr, PROG ": give either -p PID or -- CMD\n");
        return 2;
    }
    char comm[64] = "";
    if (pid_arg) {
        char *end;
        errno = 0;
        long pid = strtol(pid_arg, &end, 10);
        if (errno || end == pid_arg || *end || pid <= 0 || pid > INT_MAX)
            usage_die("-p %s: not a process id", pid_arg);
        g.pid = pid;
        check_target(pid, comm, sizeof comm);
        if (g.flight && !has_thread(pid, "lrt-stall"))
            note("warning: process %ld (%s) runs no stall detector (LRT_STALL_MS=N at its start): "
                 "nothing will trigger the flight recorder", pid, comm);
    }
    char tool[PATH_MAX];
    if (!in_path("lttng", tool, sizeof tool))
        die("lttng is not installed (Debian: apt-get install lttng-tools)");

    /* the output directory: absolute (the session daemon has its own cwd), new or empty */
    char rel[PATH_MAX];
    if (g.out_dir) {
        snprintf(rel, sizeof rel, "%s", g.out_dir);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(rel, sizeof rel, "lrt-trace-%Y%m%d-%H%M%S", &tm);
    }
    if (rel[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            die("getcwd: %s", strerror(errno));
        if ((size_t)snprintf(g.dir, sizeof g.dir, "%s/%s", cwd, rel) >= sizeof g.dir)
            die("%s: path too long", rel);
    } else {
        snprintf(g.dir, sizeof g.dir, "%s", rel);
    }
    if (mkdir(g.dir, 0755) != 0) {
        if (errno != EEXIST)
            die("cannot create %s: %s", g.dir, strerror(errno));
        char probe[PATH_MAX + 16];
        snprintf(probe, sizeof probe, "%s/ust", g.dir);
        struct stat st;
        if (stat(g.dir, &st) != 0 || !S_ISDIR(st.st_mode))
            die("%s exists and is not a directory", g.dir);
        if (lstat(probe, &st) == 0)
            die("%s already holds a trace: choose another directory with -o", g.dir);
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    ensure_sessiond();
    if (have_cmd) {
        g.child = true;
        g.pid = fork_child(cmd); /* waits for us before it execs */
        snprintf(comm, sizeof comm, "%.63s", strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1 : cmd[0]);
    }
    if (g.flight)
        snprintf(g.session, sizeof g.session, "lrt-flight-%ld", g.pid);
    else
        snprintf(g.session, sizeof g.session, "lrt-record-%ld-%d", g.pid, (int)getpid());
    char pidstr[24], subbuf[40], numsub[40];
    snprintf(pidstr, sizeof pidstr, "%ld", g.pid);
    snprintf(subbuf, sizeof subbuf, "--subbuf-size=%s", g.subbuf);
    snprintf(numsub, sizeof numsub, "--num-subbuf=%s", g.num_subbuf);

    if (g.flight)
        lttng(false, "create", g.session, "--snapshot", "-o", g.dir, NULL);
    else
        lttng(false, "create", g.session, "-o", g.dir, NULL);
    g.session_made = true;
    lttng(false, "enable-channel", "-u", "-s", g.session, subbuf, numsub, "lrt", NULL);
    lttng(false, "enable-event", "-u", "-s", g.session, "-c", "lrt", "lrt:*", NULL);
    lttng(false, "add-context", "-u", "-s", g.session, "-c", "lrt", "-t", "vpid", "-t", "vtid", "-t", "procname",
          NULL);
    lttng(false, "track", "-u", "-s", g.session, "--vpid", pidstr, NULL);
    lttng(false, "start", g.session, NULL);

    if (g.child)
        release_child(cmd[0]);
    else
        request_tracing(g.pid, comm);
    note("recording %s %ld (%s) into %s%s; %s", g.child ? "command" : "process", g.pid, comm, g.dir,
         g.flight ? " (flight recorder: snapshots at stalls)" : "",
         g.duration > 0 ? "until the duration ends, the process exits or Ctrl-C" : "until it exits or Ctrl-C");

    /* wait: the duration, the process's end, or a signal */
    uint64_t deadline = g.duration > 0 ? now_ms() + (uint64_t)(g.duration * 1000.0 + 0.5) : 0;
    int status = -1;
    const char *why = "";
    for (;;) {
        if (got_signal) {
            why = strsignal(got_signal);
            break;
        }
        if (g.child) {
            int st;
            pid_t r = waitpid((pid_t)g.pid, &st, WNOHANG);
            if (r == (pid_t)g.pid) {
                status = st;
                g.pid = 0;
                why = "the command exited";
                break;
            }
        } else if (target_gone(g.pid)) {
            why = "the process exited";
            break;
        }
        if (deadline && now_ms() >= deadline) {
            why = "the duration ended";
            break;
        }
        sleep_ms(50);
    }
    lttng(false, "stop", g.session, NULL);
    g.session_made = false;
    lttng(false, "destroy", g.session, NULL);
    note("recording stopped (%s)", why);

    if (g.child && g.pid) {
        /* the duration ended or we were told to stop: the command stops too (a Ctrl-C
         * reached it already, through the terminal) */
        int sig = got_signal && got_signal != SIGINT ? got_signal : SIGTERM;
        if (!(got_signal == SIGINT))
            kill((pid_t)g.pid, sig);
        int st;
        uint64_t until = now_ms() + 5000;
        pid_t r;
        while ((r = waitpid((pid_t)g.pid, &st, WNOHANG)) == 0 && now_ms() < until)
            sleep_ms(20);
        if (r == 0) {
            kill((pid_t)g.pid, SIGKILL);
            waitpid((pid_t)g.pid, &st, 0);
        }
        status = st;
    }
    if (status != -1) {
        if (WIFEXITED(status))
            note("%s exited with status %d", comm, WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            note("%s was killed by %s", comm, strsignal(WTERMSIG(status)));
    }
    stop_sessiond();

    int rc = 0;
    if (g.flight) {
        char pat[PATH_MAX + 16];
        snprintf(pat, sizeof pat, "%s/stall-*", g.dir);
        glob_t gl;
        int n = 0;
        if (glob(pat, GLOB_ONLYDIR, NULL, &gl) == 0) {
            for (size_t i = 0; i < gl.gl_pathc; i++, n++) {
                printf("flight recorder: snapshot %s\n", gl.gl_pathv[i]);
                if (!g.no_summary && print_summary(gl.gl_pathv[i]) != 0)
                    rc = 1;
            }
            globfree(&gl);
        }
        if (!n)
            printf("flight recorder: no stall, no snapshot (%s)\n", g.dir);
    } else {
        printf("trace: %s\n", g.dir);
        if (!g.no_summary) {
            int s = print_summary(g.dir);
            if (s) {
                note("lrt-trace summary failed (status %d); the trace is in %s", s, g.dir);
                rc = 1;
            }
        }
    }
    return rc;
}
