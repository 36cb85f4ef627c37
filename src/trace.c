/*
 * The one translation unit of liblrt that defines the lrt tracepoints.
 *
 * Dynamic linkage (LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE): liblrt.so holds the call
 * sites only and never links liblttng-ust.  The constructors generated here register the
 * call sites with liblttng-ust-tracepoint.so.1 (dlopened, a small library without threads)
 * when it is installed; the probes live in liblrt-tp.so, which LD_PRELOAD brings in or
 * which lrt__trace_init() dlopens when LRT_TRACE=1.  A provider loaded after start-up
 * connects to the call sites already registered.  Without the provider every call site
 * stays one load and a not-taken branch (the hot ones sit behind rt->trace_hot, trace.h).
 */
#if LRT_TRACE_ENABLED || !defined(LRT_TRACE_ENABLED)
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE
#endif
#include "trace.h"

#include "internal.h"
#include "io.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LRT__TP_SONAME "liblrt-tp.so"

#if LRT_TRACE_ENABLED

/* The provider defines this symbol; present = already loaded (LD_PRELOAD, or linked). */
static bool provider_loaded(void)
{
    return dlsym(RTLD_DEFAULT, "lttng_ust_tracepoint_provider_lrt") != NULL;
}

/* liblrt-tp.so in the directory of the object holding this code (liblrt.so, or the
 * executable when linked with liblrt.a).  Returns the handle or NULL. */
static void *load_next_to_self(char *err, size_t errlen)
{
    Dl_info info;
    char path[PATH_MAX];
    const char *slash;
    void *h;
    int n;

    if (!dladdr((void *)&lrt__trace_init, &info) || !info.dli_fname)
        return NULL;
    slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return NULL; /* no directory known: the default search handles it */
    n = snprintf(path, sizeof(path), "%.*s/" LRT__TP_SONAME,
                 (int)(slash - info.dli_fname), info.dli_fname);
    if (n < 0 || (size_t)n >= sizeof(path))
        return NULL;
    h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s", e ? e : path);
    }
    return h;
}

/* Load the provider unless it is there already: 0, or -ENOENT with the reason printed
 * (@why names who asked).  Serialised: the runtime thread at LRT_TRACE=1 and the ticker
 * at an lrt-trace record request may ask at the same time. */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;

/* A fork while the ticker was loading the provider: the child has no such thread. */
static void load_mu_child(void)
{
    pthread_mutex_init(&load_mu, NULL);
}

static int load_provider(const char *why)
{
    pthread_mutex_t *mu = &load_mu;
    char err[PATH_MAX + 256] = "";
    void *h = NULL;
    int rc = 0;

    pthread_mutex_lock(mu);
    if (!provider_loaded()) {
        /* The provider is never dlclosed: call sites may be running probes at any time,
         * and liblttng-ust does not support being unloaded while its threads run. */
        h = load_next_to_self(err, sizeof(err));
        if (!h)
            h = dlopen(LRT__TP_SONAME, RTLD_NOW | RTLD_GLOBAL);
        if (!h) {
            const char *e = dlerror();
            fprintf(stderr, "lrt: %s but %s could not be loaded (%s%s%s); tracing is off\n", why,
                    LRT__TP_SONAME, err, *err ? "; " : "", e ? e : "not found");
            rc = -ENOENT;
        }
    }
    pthread_mutex_unlock(mu);
    return rc;
}

static void trace_init_once(void)
{
    const char *env = getenv("LRT_TRACE");
    char why[64];

    pthread_atfork(NULL, NULL, load_mu_child);
    if (!env || !*env || strcmp(env, "0") == 0)
        return;
    snprintf(why, sizeof(why), "LRT_TRACE=%.32s", env);
    load_provider(why);
}

void lrt__trace_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, trace_init_once);
}

int lrt__trace_load(void)
{
    return load_provider("lrt-trace record asked for tracing");
}

/*
 * The statedump: one lrt:task_info per live task and one lrt:driver_select, emitted when
 * a session starts recording lrt:task_info, so that tasks born before the recording (an
 * accept loop, long-lived connections) are named in the trace, the way LTTng dumps the
 * kernel's state at session start.
 *
 * A session "starts" for us when the event's tracepoint goes from disabled to enabled,
 * or, while it is enabled, when its probe array changes: LTTng-UST 2.13 registers one
 * probe per session recording the event (lttng_ust_tracepoint.probes, part of its base
 * ABI) and publishes a new array whenever a session starts or stops recording it.  So a
 * second session started while a first one records also gets its dump; the first one
 * then holds the same tasks twice (task_info is a description, not a lifecycle event:
 * readers keep the latest).  A session that stops while another records makes a dump
 * too (the array changed); harmless for the same reason.
 *
 * Runs on the runtime thread inside lrt__trace_refresh (at start, at every I/O check and
 * after every park), so a runtime parked with nothing to do dumps at its next wake-up.
 * Cost when nobody traces: the refresh reads the event's state once more (one load and
 * a not-taken branch every event interval and every park); nothing on the poll path.
 * Cost of a dump: one event per live task, on the runtime thread, in one go: a million
 * tasks make a million events at once, which a channel sized for the steady load may
 * not hold (the lost events are reported by lrt-trace).
 */
/* The backend and why it was chosen, as at lrt_runtime_new, prefixed "statedump: " so a
 * reader can tell the dump from the choice (a session started later sees only the dump). */
static void lrt__tp_driver_statedump(struct lrt_runtime *rt)
{
    /* the fields, not lrt_runtime_driver(): io_reg.c fires tracepoints defined here */
    char reason[sizeof rt->io->driver_why + 16];
    snprintf(reason, sizeof reason, "statedump: %s", rt->io->driver_why);
    lttng_ust_do_tracepoint(lrt, driver_select, rt->io->drv->name, reason);
}

static __attribute__((noinline, cold)) void statedump(struct lrt_runtime *rt)
{
    if (rt->io && rt->io->drv && lttng_ust_tracepoint_enabled(lrt, driver_select))
        lrt__tp_driver_statedump(rt);
    for (lrt__link *l = rt->tasks.next; l != &rt->tasks; l = l->next) {
        const struct lrt_task *t = lrt__container_of(l, struct lrt_task, all);
        unsigned st = t->state, wk = t->wait_kind;
        if (st == LRT__FINISHED)
            continue;
        /* the event may be disabled by the session ending while we write */
        if (!lttng_ust_tracepoint_enabled(lrt, task_info))
            break;
        lttng_ust_do_tracepoint(lrt, task_info, t->id, t->parent_id, t->name ? t->name : "task",
                                t->file ? t->file : "?", t->line, t->func ? t->func : "?",
                                st < LRT__STATE__COUNT ? lrt__state_names[st] : "?",
                                wk < LRT__WAIT__COUNT ? lrt__wait_names[wk] : "?",
                                wk != LRT__WAIT_NONE ? t->state_since : 0);
    }
}

static __attribute__((noinline, cold)) void task_info_changed(struct lrt_runtime *rt, int on)
{
    const void *probes = on ? CMM_LOAD_SHARED(lttng_ust_tracepoint_lrt___task_info.probes) : NULL;
    bool dump = on && (!rt->trace_info_on || probes != rt->trace_info_probes);
    rt->trace_info_on = on;
    rt->trace_info_probes = probes;
    if (dump)
        statedump(rt);
}

void lrt__trace_refresh(struct lrt_runtime *rt)
{
    rt->trace_hot = lttng_ust_tracepoint_enabled(lrt, task_spawn) ||
                    lttng_ust_tracepoint_enabled(lrt, task_poll_begin) ||
                    lttng_ust_tracepoint_enabled(lrt, task_poll_end) ||
                    lttng_ust_tracepoint_enabled(lrt, task_wake) ||
                    lttng_ust_tracepoint_enabled(lrt, task_terminate);
    /* the statedump's edge: off -> on, or another session (a new probe array) */
    int on = lttng_ust_tracepoint_enabled(lrt, task_info);
    if (LRT__UNLIKELY(on != rt->trace_info_on) ||
        (LRT__UNLIKELY(on) &&
         CMM_LOAD_SHARED(lttng_ust_tracepoint_lrt___task_info.probes) != rt->trace_info_probes))
        task_info_changed(rt, on);
}


#else /* !LRT_TRACE_ENABLED: tracepoints compiled out */

void lrt__trace_init(void)
{
}

int lrt__trace_load(void)
{
    return -ENOTSUP;
}

void lrt__trace_refresh(struct lrt_runtime *rt)
{
    rt->trace_hot = 0;
}

#endif
