/*
 * lrt-trace - analyse LTTng traces of lrt programs (provider "lrt"), streaming.
 *
 *   lrt-trace summary [FILTERS] [--json] [--top N] TRACE_DIR | --live URL
 *   lrt-trace chrome  [FILTERS] [-o FILE[.gz]] [--gzip] TRACE_DIR | --live URL
 *   lrt-trace record ...            runs lrt-trace-record from the same directory
 *
 * FILTERS: --pid PID, --task ID|NAME, --from T, --to T (T: 2.5s, 300ms, 10us, 42ns from
 * the first event, or an absolute timestamp in ns).  Every figure is per process (vpid);
 * lost events are reported, never fatal.  Exit: 0 ok, 1 error, 2 usage.
 * See docs/lrt-trace.1 and docs/tracing.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_chrome.h"
#include "trace_model.h"
#include "trace_read.h"
#include "trace_summary.h"

static const char usage_text[] =
    "usage: lrt-trace summary [OPTIONS] TRACE_DIR | --live URL\n"
    "       lrt-trace chrome  [OPTIONS] [-o FILE[.gz]] [--gzip] TRACE_DIR | --live URL\n"
    "       lrt-trace record  ...   (record a trace: lrt-trace record --help)\n"
    "\n"
    "Analyse LTTng traces of lrt programs (events lrt:*), one process at a time.\n"
    "  summary          per process and per task: polls, busy time, wake->poll latency,\n"
    "                   longest polls, timers, blocking pool, I/O backend and operations\n"
    "  chrome           Chrome/Perfetto trace-event JSON (ui.perfetto.dev), streamed\n"
    "  record           run lrt-trace-record (installed next to lrt-trace)\n"
    "Options:\n"
    "  --pid PID        only the process PID (its vpid)\n"
    "  --task ID|NAME   only the task(s) with that id or name (process-wide figures\n"
    "                   such as parks and the blocking pool stay)\n"
    "  --from T, --to T time window: 2.5s, 300ms, 10us, 42ns after the first event, or\n"
    "                   an absolute timestamp in ns\n"
    "  --top N          longest polls listed per process (default 10)\n"
    "  --json           summary: one JSON object\n"
    "  -o, --output F   chrome: output file (default: standard output); F.gz is gzip\n"
    "  --gzip           chrome: compress (zlib) whatever the name\n"
    "  --live URL       read net://RELAYD[:PORT]/host/HOSTNAME/SESSION through\n"
    "                   lttng-relayd; ends when the session is destroyed\n"
    "Lost events are reported (stderr and the report), never fatal.\n"
    "Exit status: 0 ok, 1 error, 2 usage.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "lrt-trace: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(lrt-trace --help for usage)\n");
    return 2;
}

/* exec lrt-trace-record from the directory of this executable, with our remaining args */
static int run_record(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 32);
    if (n <= 0) {
        fprintf(stderr, "lrt-trace: error: cannot find my own path: %s\n", strerror(errno));
        return 1;
    }
    self[n] = 0;
    char *slash = strrchr(self, '/');
    strcpy(slash ? slash + 1 : self, "lrt-trace-record");
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (!args) {
        fprintf(stderr, "lrt-trace: error: out of memory\n");
        return 1;
    }
    args[0] = "lrt-trace-record";
    for (int i = 1; i < argc; i++)
        args[i] = argv[i];
    execv(self, args);
    fprintf(stderr, "lrt-trace: error: cannot run %s: %s\n", self, strerror(errno));
    free(args);
    return 1;
}

struct run {
    struct tm_model m;
    struct tc_writer *chrome;
    unsigned top;
    int err;
};

static int on_event(const struct tr_event *ev, void *arg)
{
    struct run *r = arg;
    struct tm_proc *p;
    struct tm_task *t;
    if (!tm_feed(&r->m, ev, &p, &t))
        return r->m.oom ? -ENOMEM : 0;
    if (r->chrome && (r->err = tc_event(r->chrome, &r->m, p, t, ev)) < 0)
        return r->err;
    if ((r->err = ts_event(&r->m, p, t, ev, r->top)) < 0)
        return r->err;
    return 0;
}

static void on_lost(const struct tr_lost *l, void *arg)
{
    struct run *r = arg;
    tm_lost(&r->m, l);
}

static void warn(json_t *warnings, const char *msg)
{
    fprintf(stderr, "lrt-trace: warning: %s\n", msg);
    json_array_append_new(warnings, json_string(msg));
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "record"))
        return run_record(argc - 1, argv + 1);
    bool chrome = !strcmp(cmd, "chrome");
    if (!chrome && strcmp(cmd, "summary"))
        return usage_error("unknown command '%s' (summary, chrome, record)", cmd);

    enum { O_PID = 256, O_TASK, O_FROM, O_TO, O_TOP, O_JSON, O_GZIP, O_LIVE, O_ALLOW_LOST };
    static const struct option opts[] = {
        { "pid", required_argument, NULL, O_PID },
        { "task", required_argument, NULL, O_TASK },
        { "from", required_argument, NULL, O_FROM },
        { "to", required_argument, NULL, O_TO },
        { "top", required_argument, NULL, O_TOP },
        { "json", no_argument, NULL, O_JSON },
        { "gzip", no_argument, NULL, O_GZIP },
        { "live", required_argument, NULL, O_LIVE },
        { "allow-lost", no_argument, NULL, O_ALLOW_LOST },   /* the old flag: now the default */
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct tm_filter f = { .pid = -1 };
    const char *live = NULL, *output = "-";
    bool json = false, gzip = false;
    unsigned long top = 10;
    int c;
    char *end;
    while ((c = getopt_long(argc - 1, argv + 1, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case O_PID:
            errno = 0;
            f.pid = strtoll(optarg, &end, 10);
            if (errno || *end || !all_digits(optarg) || f.pid <= 0 || f.pid > INT32_MAX)
                return usage_error("--pid: not a process id: '%s'", optarg);
            break;
        case O_TASK:
            f.task_set = true;
            if (all_digits(optarg)) {
                errno = 0;
                f.task_id = strtoull(optarg, &end, 10);
                if (errno)
                    return usage_error("--task: id out of range: '%s'", optarg);
            } else {
                f.task_name = optarg;
            }
            break;
        case O_FROM:
            if (tm_parse_time(optarg, &f.from, &f.from_rel) < 0)
                return usage_error("--from: not a time (2.5s, 300ms, 10us, 42ns or ns): '%s'", optarg);
            f.from_set = true;
            break;
        case O_TO:
            if (tm_parse_time(optarg, &f.to, &f.to_rel) < 0)
                return usage_error("--to: not a time (2.5s, 300ms, 10us, 42ns or ns): '%s'", optarg);
            f.to_set = true;
            break;
        case O_TOP:
            errno = 0;
            top = strtoul(optarg, &end, 10);
            if (errno || *end || !all_digits(optarg) || top > 100000)
                return usage_error("--top: a number from 0 to 100000, not '%s'", optarg);
            break;
        case O_JSON:
            json = true;
            break;
        case O_GZIP:
            gzip = true;
            break;
        case O_LIVE:
            live = optarg;
            break;
        case O_ALLOW_LOST:
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            return 2;
        }
    }
    int rest = argc - 1 - optind;
    if ((rest == 1) == (live != NULL) || rest > 1)
        return usage_error("%sgive exactly one of TRACE_DIR and --live URL", "");
    if (json && chrome)
        return usage_error("%s--json is for summary", "");
    if (!chrome && (gzip || strcmp(output, "-")))
        return usage_error("%s-o and --gzip are for chrome", "");
    if (f.from_set && f.to_set && f.from_rel == f.to_rel && f.to < f.from)
        return usage_error("%s--to is before --from", "");
    const char *source = live ? live : argv[1 + optind];
    size_t olen = strlen(output);
    if (olen > 3 && !strcmp(output + olen - 3, ".gz"))
        gzip = true;

    struct run r = { .top = (unsigned)top };
    tm_init(&r.m, &f);
    json_t *warnings = json_array();
    int status = 1;
    if (!warnings) {
        fprintf(stderr, "lrt-trace: error: out of memory\n");
        return 1;
    }
    if (chrome && !(r.chrome = tc_open(output, gzip))) {
        fprintf(stderr, "lrt-trace: error: cannot write %s: %s\n", output, strerror(errno));
        goto out;
    }
    char err[1024];
    struct tr_info info;
    int rc = tr_read(source, live != NULL, on_event, on_lost, &r, &info, err, sizeof(err));
    if (rc != 0) {
        if (rc == -1)
            fprintf(stderr, "lrt-trace: error: %s\n", err);
        else
            fprintf(stderr, "lrt-trace: error: %s\n", rc == -ENOMEM ? "out of memory" : strerror(-rc));
        goto out;
    }
    if (r.m.events_read == 0) {
        fprintf(stderr, "lrt-trace: error: no lrt:* events in %s (was the provider liblrt-tp.so "
                "loaded? run the program with LRT_TRACE=1 or LD_PRELOAD=liblrt-tp.so, and enable "
                "the events with: lttng enable-event -u 'lrt:*')\n", source);
        goto out;
    }
    char msg[1024];
    if (info.events_without_vpid) {
        snprintf(msg, sizeof(msg), "%" PRIu64 " event(s) without the vpid context: the tasks of "
                 "every process are shown as one process (pid -1) and may be merged; record with "
                 "'lttng add-context -u -t vpid -t vtid -t procname'", info.events_without_vpid);
        warn(warnings, msg);
    } else if (info.events_without_procname) {
        snprintf(msg, sizeof(msg), "%" PRIu64 " event(s) without the procname context: processes "
                 "are not named; record with 'lttng add-context -u -t procname'",
                 info.events_without_procname);
        warn(warnings, msg);
    }
    if (r.m.n_lost) {
        snprintf(msg, sizeof(msg), "the trace lost %" PRIu64 " event(s)%s%s in %zu stream(s) (the "
                 "tracer's buffers were full): %s", r.m.lost_events,
                 r.m.lost_unknown ? " and batches of unknown size" : "",
                 r.m.lost_packets ? " and packets" : "", r.m.n_lost, ts_lost_uncertain());
        warn(warnings, msg);
    }
    if (r.m.events == 0)
        warn(warnings, "no event matched the filters");
    if (chrome) {
        int cr = tc_close(r.chrome, &r.m, source, warnings);
        r.chrome = NULL;
        if (cr < 0) {
            fprintf(stderr, "lrt-trace: error: writing %s: %s\n", output, strerror(-cr));
            goto out;
        }
    } else if (json) {
        json_t *s = ts_json(&r.m, source, warnings);
        if (!s || json_dumpf(s, stdout, JSON_INDENT(1)) < 0 || fputc('\n', stdout) == EOF ||
            fflush(stdout) == EOF) {
            json_decref(s);
            fprintf(stderr, "lrt-trace: error: cannot write the report\n");
            goto out;
        }
        json_decref(s);
    } else {
        ts_print(stdout, &r.m, warnings);
        if (fflush(stdout) == EOF) {
            fprintf(stderr, "lrt-trace: error: cannot write the report: %s\n", strerror(errno));
            goto out;
        }
    }
    status = 0;
out:
    if (r.chrome)
        tc_close(r.chrome, &r.m, source, warnings);
    ts_free(&r.m);
    tm_free(&r.m);
    json_decref(warnings);
    return status;
}
