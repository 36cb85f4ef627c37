/*
 * flight.c - the flight recorder: when the stall detector reports a stall, ask LTTng for a
 * snapshot of an in-memory (snapshot-mode) session, so the trace of the seconds *before*
 * the stall is saved to disk, and the stall report says where.
 *
 * Who asks for it: `lrt-trace record --flight` creates the snapshot session
 * lrt-flight-<pid> and tells the process its name, through LRT_FLIGHT_SESSION in the
 * environment of a command it starts (read once, at the first stall detector's start), or
 * through its request file for a running process (`flight=NAME`, read by the ticker:
 * attach.c, lrt__flight_request).  A process nobody asked never loads anything here.
 *
 * liblrt does not link LTTng: liblttng-ctl.so.0 is dlopened the first time a snapshot is
 * wanted, on the stall watchdog thread (never the runtime thread, which is stuck anyway),
 * and never closed.  The snapshot goes to <session output>/stall-<pid>-<n>/ (LTTng adds a
 * snapshot-* directory below it).  At most one snapshot per FLIGHT_GAP_NS: a stall storm
 * would otherwise write the same ring again and again; a skipped one says so.  A missing
 * library, a session that is gone, a refusal from the session daemon: one line in the
 * stall report, no snapshot, never a crash.
 *
 * Layer: libc and libdl only; called by stall.c (the watchdog) and attach.c (the ticker).
 * State: `fl`, under fl.mu.
 */
#include "diag/diag.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLIGHT_LIB "liblttng-ctl.so.0"
#define FLIGHT_GAP_NS (10ull * 1000000000ull) /* at most one snapshot per 10 s */

/* liblttng-ctl's snapshot API (lttng/snapshot.h of lttng-tools 2.x; a stable ABI):
 * declared here because liblrt is built without LTTng's control headers. */
struct lttng_snapshot_output;
struct lttng_snapshot_output_list;
struct ctl_api {
    int (*record)(const char *session, struct lttng_snapshot_output *out, int wait);
    struct lttng_snapshot_output *(*out_create)(void);
    void (*out_destroy)(struct lttng_snapshot_output *out);
    int (*out_set_local_path)(const char *path, struct lttng_snapshot_output *out);
    int (*list)(const char *session, struct lttng_snapshot_output_list **list);
    struct lttng_snapshot_output *(*list_next)(struct lttng_snapshot_output_list *list);
    void (*list_destroy)(struct lttng_snapshot_output_list *list);
    const char *(*out_ctrl_url)(const struct lttng_snapshot_output *out);
    const char *(*strerror)(int code);
};

static struct {
    pthread_mutex_t mu;
    bool env_read;
    char session[128]; /* "" = nobody asked for a flight recorder */
    int lib_state;     /* 0 not tried, 1 loaded, -1 failed (reason in lib_err) */
    char lib_err[200];
    struct ctl_api api;
    uint64_t last_ns; /* lrt__mono_ns of the last snapshot asked for */
    unsigned seq;
} fl = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A fork while a watchdog thread was taking a snapshot: the child has no such thread. */
static void flight_child(void)
{
    pthread_mutex_init(&fl.mu, NULL);
}

static void flight_once(void)
{
    pthread_atfork(NULL, NULL, flight_child);
}

void lrt__flight_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, flight_once);
    pthread_mutex_lock(&fl.mu);
    if (!fl.env_read) {
        fl.env_read = true;
        const char *s = getenv("LRT_FLIGHT_SESSION");
        if (s && *s && !fl.session[0])
            snprintf(fl.session, sizeof fl.session, "%s", s);
    }
    pthread_mutex_unlock(&fl.mu);
}

void lrt__flight_set_session(const char *name)
{
    pthread_mutex_lock(&fl.mu);
    snprintf(fl.session, sizeof fl.session, "%s", name ? name : "");
    pthread_mutex_unlock(&fl.mu);
}

/* fl.mu held. */
static int load_lib(void)
{
    if (fl.lib_state)
        return fl.lib_state;
    void *h = dlopen(FLIGHT_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(fl.lib_err, sizeof fl.lib_err, "%s", e ? e : FLIGHT_LIB " not found");
        return fl.lib_state = -1;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"lttng_snapshot_record", (void **)&fl.api.record},
        {"lttng_snapshot_output_create", (void **)&fl.api.out_create},
        {"lttng_snapshot_output_destroy", (void **)&fl.api.out_destroy},
        {"lttng_snapshot_output_set_local_path", (void **)&fl.api.out_set_local_path},
        {"lttng_snapshot_list_output", (void **)&fl.api.list},
        {"lttng_snapshot_output_list_get_next", (void **)&fl.api.list_next},
        {"lttng_snapshot_output_list_destroy", (void **)&fl.api.list_destroy},
        {"lttng_snapshot_output_get_ctrl_url", (void **)&fl.api.out_ctrl_url},
        {"lttng_strerror", (void **)&fl.api.strerror},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (!*syms[i].slot) {
            snprintf(fl.lib_err, sizeof fl.lib_err, FLIGHT_LIB " has no %s", syms[i].name);
            return fl.lib_state = -1; /* h stays open: harmless, and dlclose is never safe */
        }
    }
    return fl.lib_state = 1;
}

static const char *ctl_err(int code)
{
    const char *s = fl.api.strerror ? fl.api.strerror(code < 0 ? code : -code) : NULL;
    return s ? s : "unknown error";
}

/* The session's default snapshot output as a local directory into @out ("" when it is
 * not local); fl.mu held.  0 or an lttng error code (< 0). */
static int session_dir(const char *session, char *out, size_t n)
{
    struct lttng_snapshot_output_list *list = NULL;
    out[0] = 0;
    int rc = fl.api.list(session, &list);
    if (rc < 0)
        return rc;
    struct lttng_snapshot_output *o = list ? fl.api.list_next(list) : NULL;
    const char *url = o ? fl.api.out_ctrl_url(o) : NULL;
    if (url && strncmp(url, "file://", 7) == 0)
        url += 7;
    if (url && url[0] == '/')
        snprintf(out, n, "%s", url);
    if (list)
        fl.api.list_destroy(list);
    return 0;
}

int lrt__flight_snapshot(uint64_t task_id, char *msg, size_t n)
{
    int ret;
    msg[0] = 0;
    pthread_mutex_lock(&fl.mu);
    if (!fl.session[0]) {
        pthread_mutex_unlock(&fl.mu);
        return 0;
    }
    uint64_t now = lrt__mono_ns();
    if (fl.last_ns && now - fl.last_ns < FLIGHT_GAP_NS) {
        snprintf(msg, n, "flight recorder: no snapshot for this stall (the last one was %" PRIu64
                 " ms ago; at most one per %llu s)", (now - fl.last_ns) / 1000000, FLIGHT_GAP_NS / 1000000000ull);
        pthread_mutex_unlock(&fl.mu);
        return -EBUSY;
    }
    if (load_lib() < 0) {
        snprintf(msg, n, "flight recorder: no snapshot: %s", fl.lib_err);
        pthread_mutex_unlock(&fl.mu);
        return -ENOENT;
    }
    fl.last_ns = now;
    char base[256], dir[320] = "";
    int rc = session_dir(fl.session, base, sizeof base);
    if (rc < 0) {
        snprintf(msg, n, "flight recorder: no snapshot: session '%s': %s", fl.session, ctl_err(rc));
        ret = -ESRCH;
        goto out;
    }
    struct lttng_snapshot_output *o = NULL;
    if (base[0]) {
        snprintf(dir, sizeof dir, "%s/stall-%d-%u-task%" PRIu64, base, (int)getpid(), ++fl.seq, task_id);
        o = fl.api.out_create();
        if (o && fl.api.out_set_local_path(dir, o) < 0) {
            fl.api.out_destroy(o);
            o = NULL;
            dir[0] = 0;
        }
    }
    rc = fl.api.record(fl.session, o, 1);
    if (o)
        fl.api.out_destroy(o);
    if (rc < 0) {
        snprintf(msg, n, "flight recorder: no snapshot: session '%s': %s", fl.session, ctl_err(rc));
        ret = -EIO;
        goto out;
    }
    if (dir[0])
        snprintf(msg, n, "flight recorder: the trace before this stall is saved in %s", dir);
    else
        snprintf(msg, n, "flight recorder: the trace before this stall is saved in the snapshot output of "
                 "session '%s'", fl.session);
    ret = 1;
out:
    pthread_mutex_unlock(&fl.mu);
    return ret;
}
