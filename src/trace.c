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

#include <dlfcn.h>
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

static void trace_init_once(void)
{
    const char *env = getenv("LRT_TRACE");
    char err[PATH_MAX + 256] = "";
    void *h;

    if (!env || !*env || strcmp(env, "0") == 0)
        return;
    if (provider_loaded())
        return;
    /* The provider is never dlclosed: call sites may be running probes at any time, and
     * liblttng-ust does not support being unloaded while its threads run. */
    h = load_next_to_self(err, sizeof(err));
    if (!h)
        h = dlopen(LRT__TP_SONAME, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *e = dlerror();
        fprintf(stderr, "lrt: LRT_TRACE=%s but %s could not be loaded (%s%s%s); "
                "tracing is off\n", env, LRT__TP_SONAME, err, *err ? "; " : "",
                e ? e : "not found");
    }
}

void lrt__trace_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, trace_init_once);
}

void lrt__trace_refresh(struct lrt_runtime *rt)
{
    rt->trace_hot = lttng_ust_tracepoint_enabled(lrt, task_spawn) ||
                    lttng_ust_tracepoint_enabled(lrt, task_poll_begin) ||
                    lttng_ust_tracepoint_enabled(lrt, task_poll_end) ||
                    lttng_ust_tracepoint_enabled(lrt, task_wake) ||
                    lttng_ust_tracepoint_enabled(lrt, task_terminate);
}


#else /* !LRT_TRACE_ENABLED: tracepoints compiled out */

void lrt__trace_init(void)
{
}

void lrt__trace_refresh(struct lrt_runtime *rt)
{
    rt->trace_hot = 0;
}

#endif
