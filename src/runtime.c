/* Runtime lifecycle: new, block_on, enter/exit, shutdown. */
#include "internal.h"
#include "diag_entry.h"
#include "trace.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_STACK (256u * 1024u)
#define MIN_STACK (16u * 1024u)
#define MAX_STACK (1024u * 1024u * 1024u)

static unsigned env_uint(const char *name, unsigned dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end || x > 1000000000ul) {
        fprintf(stderr, "lrt: ignoring %s=%s (not a number)\n", name, v);
        return dflt;
    }
    return (unsigned)x;
}

static int fill_options(lrt_options_t *o, const lrt_options_t *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->stack_size == 0)
        o->stack_size = DEFAULT_STACK;
    if (o->stack_size < MIN_STACK || o->stack_size > MAX_STACK)
        return -EINVAL;
    if (o->event_interval == 0)
        o->event_interval = 61;
    if (o->max_blocking_threads == 0)
        o->max_blocking_threads = 512;
    if (o->max_blocking_threads > 65536)
        return -EINVAL;
    if (o->blocking_keep_alive_ms == 0)
        o->blocking_keep_alive_ms = 10000;
    if (o->budget == 0)
        o->budget = 128;
    if (o->driver < LRT_DRIVER_AUTO || o->driver > LRT_DRIVER_URING)
        return -EINVAL;
    o->stall_threshold_ms = env_uint("LRT_STALL_MS", o->stall_threshold_ms);
    if (env_uint("LRT_DUMP", 0))
        o->dump_agent = 1;
    return 0;
}

lrt_runtime_t *lrt_runtime_new(const lrt_options_t *opts)
{
    lrt_options_t o;
    int err = fill_options(&o, opts);
    if (err) {
        errno = -err;
        return NULL;
    }
    struct lrt_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        errno = ENOMEM;
        return NULL;
    }
    rt->opts = o;
    rt->thread = pthread_self();
    rt->event_interval = o.event_interval;
    rt->budget = o.budget;
    rt->paused = o.start_paused != 0;
    rt->start_ns = lrt__mono_ns();
    lrt__list_init(&rt->tasks);
    lrt__wheel_init(&rt->wheel, lrt__rt_now(rt));
    lrt__trace_init();
    lrt__trace_refresh(rt);
    if ((err = lrt__stacks_init(rt)) != 0)
        goto err_free;
    if ((err = lrt__sigaltstack_install(rt)) != 0)
        goto err_free;
    lrt__crash_install(); /* diag hook: fatal-signal tracebacks (LRT_TRACEBACK) */
    if ((err = lrt__ticker_add(rt)) != 0)
        goto err_altstack;
    if ((err = lrt__io_init(rt)) != 0)
        goto err_ticker;
    if ((err = lrt__remote_init(rt)) != 0)
        goto err_io;
    if ((err = lrt__pool_init(rt)) != 0)
        goto err_remote;
    rt->tid = gettid(); /* diag hook: signals and /proc of the runtime thread */
    if (o.stall_threshold_ms && (err = lrt__stall_start(rt)) != 0)
        goto err_pool;
    if ((err = lrt__agent_start(rt)) != 0) /* diag hook: every runtime (an agent may attach) */
        goto err_stall;
    lrt__sigdump_start(rt); /* diag hook: LRT_DUMP_SIGNAL */
    LRT__TP(runtime_new, o.event_interval, (uint64_t)o.stack_size);
    return rt;
err_stall:
    lrt__stall_stop(rt);
err_pool:
    lrt__pool_shutdown(rt, 0, false);
err_remote:
    lrt__remote_shutdown(rt);
    lrt__remote_fini(rt);
err_io:
    lrt__io_fini(rt);
err_ticker:
    lrt__ticker_remove(rt);
err_altstack:
    lrt__sigaltstack_remove(rt);
err_free:
    lrt__stacks_fini(rt);
    free(rt);
    errno = -err;
    return NULL;
}

int lrt_block_on(lrt_runtime_t *rt, lrt_fn fn, void *arg, void **result)
{
    if (!rt || !fn)
        return -EINVAL;
    if (!pthread_equal(rt->thread, pthread_self()))
        return -EPERM;
    if (lrt__tls_in_block_on || rt->in_block_on)
        return -EDEADLK;
    if (rt->shutting_down)
        return -ESHUTDOWN;
    struct lrt_runtime *prev = lrt__tls_rt;
    lrt__tls_rt = rt;
    lrt_task_t *h = lrt_spawn_at(rt, "main", fn, arg, "?", 0, "lrt_block_on");
    if (!h) {
        lrt__tls_rt = prev;
        return -errno;
    }
    struct lrt_task *root = lrt__task_of(h);
    root->flags |= LRT__TF_ROOT;
    rt->root = root;
    lrt__tls_in_block_on = 1;
    rt->in_block_on = 1;
    int rc = lrt__run(rt, root, 0);
    if (rc != 0) {
        /* -EDEADLK: nothing can ever wake the root task.  Cancel it and let it unwind
         * here, before returning: once lrt_block_on returns, the caller may free what
         * the root task uses, so it must not run again later (in lrt_runtime_free).
         * Cancelled, every suspension point returns at once, so only a root that loops
         * on its errors forever can keep this from returning (as it would a shutdown). */
        fprintf(stderr, "lrt: deadlock: lrt_block_on's task can never be woken: no runnable task, "
                        "no fd waiter, no timer, no blocking job, no live handle\n");
        lrt__dump_deadlock(rt);
        /* through its shields too: nothing can complete the waits they protect */
        root->flags |= LRT__TF_UNSHIELDED;
        lrt_abort(h);
        lrt__run(rt, root, 0); /* cancelled, the root is runnable until it returns */
    }
    /* The root returned (0, or -ECANCELED after a deadlock cancelled it: its result
     * either way) or never ran (-ENOMEM: no stack). */
    int status = root->wake_result;
    if (result && (root->flags & LRT__TF_STARTED))
        *result = root->result;
    rc = rc ? -EDEADLK : status;
    rt->root = NULL;
    lrt__handle_release(root);
    rt->in_block_on = 0;
    lrt__tls_in_block_on = 0;
    lrt__tls_rt = prev;
    return rc;
}

static void cancel_all(struct lrt_runtime *rt)
{
    for (lrt__link *n = rt->tasks.next; n != &rt->tasks; n = n->next) {
        lrt__cancel(lrt__container_of(n, struct lrt_task, all));
    }
}

static void report_survivors(struct lrt_runtime *rt)
{
    for (lrt__link *n = rt->tasks.next; n != &rt->tasks; n = n->next) {
        struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        fprintf(stderr, "lrt: shutdown: task %llu '%s' (spawned at %s:%d in %s) did not finish: %s",
                (unsigned long long)t->id, t->name, t->file, t->line, t->func,
                lrt__state_names[t->state]);
        if (t->state == LRT__SUSPENDED)
            fprintf(stderr, " on %s", lrt__wait_names[t->wait_kind]);
        fputc('\n', stderr);
    }
}

static uint64_t remaining(uint64_t deadline)
{
    if (deadline == 0)
        return UINT64_MAX;
    uint64_t now = lrt__mono_ns();
    return deadline > now ? deadline - now : 0;
}

/* timeout_ns: beyond the deadline horizon (UINT64_MAX) = wait for everything. */
static int shutdown_impl(struct lrt_runtime *rt, uint64_t timeout_ns, bool report)
{
    if (!rt)
        return -EINVAL;
    if (!pthread_equal(rt->thread, pthread_self()))
        return -EPERM;
    if (rt->in_block_on)
        return -EDEADLK; /* called from one of its own tasks */
    struct lrt_runtime *prev = lrt__tls_rt;
    lrt__tls_rt = rt;
    rt->shutting_down = 1;
    lrt__remote_shutdown(rt);
    lrt__agent_stop(rt); /* diag hook: before tasks are cancelled */
    lrt__sigdump_stop(rt); /* diag hook */
    uint64_t now = lrt__mono_ns();
    uint64_t deadline = lrt__deadline_in_ns(now, timeout_ns); /* huge: wait for everything */
    /* Cancelled tasks return from every suspension point at once, so unwinding them
     * takes one pass; even a zero timeout grants them 10 ms to do it. */
    uint64_t task_deadline = deadline && timeout_ns < 10000000 ? now + 10000000 : deadline;
    cancel_all(rt);
    if (rt->alive)
        lrt__run(rt, NULL, task_deadline);
    size_t jobs = lrt__pool_shutdown(rt, remaining(deadline), report);
    if (rt->alive) /* completions delivered by the pool may have woken joiners */
        lrt__run(rt, NULL, lrt__mono_ns() + 1000000);
    int rc = 0;
    if (rt->alive || jobs) {
        rc = -ETIMEDOUT;
        if (report) {
            fprintf(stderr, "lrt: shutdown: %zu task(s) and %zu blocking job(s) outlived the %s\n",
                    rt->alive, jobs, deadline ? "timeout" : "shutdown");
            report_survivors(rt);
        }
    }
    LRT__TP(runtime_shutdown, (uint64_t)rt->alive, rc);
    lrt__stall_stop(rt); /* diag hook */
    lrt__remote_fini(rt);
    lrt__io_fini(rt);
    lrt__ticker_remove(rt);
    lrt__stacks_fini(rt);
    if (rt->alive == 0)
        lrt__tasks_free_all(rt); /* else: leaked on purpose, their tasks never returned */
    lrt__sigaltstack_remove(rt);
    bool leak = rt->alive != 0;
    if (!leak)
        free(rt);
    lrt__tls_rt = prev == rt ? NULL : prev;
    return rc;
}

int lrt_shutdown_timeout(lrt_runtime_t *rt, uint64_t timeout_ms)
{
    uint64_t ns = timeout_ms >= LRT__DEADLINE_MAX / 1000000u ? UINT64_MAX : timeout_ms * 1000000u;
    return shutdown_impl(rt, ns, true);
}

void lrt_shutdown_background(lrt_runtime_t *rt)
{
    shutdown_impl(rt, 0, false);
}

void lrt_runtime_free(lrt_runtime_t *rt)
{
    shutdown_impl(rt, UINT64_MAX, true);
}

lrt_runtime_t *lrt_enter(lrt_runtime_t *rt)
{
    struct lrt_runtime *prev = lrt__tls_rt;
    if (rt && !pthread_equal(rt->thread, pthread_self())) {
        errno = EPERM;
        return prev;
    }
    lrt__tls_rt = rt;
    return prev;
}

void lrt_exit(lrt_runtime_t *prev)
{
    lrt__tls_rt = prev;
}

lrt_runtime_t *lrt_current(void)
{
    return lrt__tls_rt;
}
