/*
 * Tasks: records, ids, names, spawn locations, join/abort/detach, the registry of live
 * tasks.  Task records come from per-runtime chunks and a free list: spawning allocates
 * nothing once the pool is warm.  A record is referenced by the runtime while the task
 * is alive and by its join handle until joined or detached.
 *
 * Layer: calls the scheduler core (wake, suspend, enqueue) and nothing above it.  Join
 * handles also reach records of other kinds (blocking jobs): their owners register
 * struct lrt__join_ops here, and the join/abort/detach calls dispatch through it, so
 * this file never names their code.  All state belongs to the runtime thread.
 */
#include "internal.h"
#include "group.h"
#include "osjob.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Task records come in chunks: the first few small (malloc), then 2 MiB mappings, each
 * faulted in ahead by the ticker thread while the previous one fills.  No MADV_HUGEPAGE:
 * with the kernel's default defrag policy a huge-page fault compacts memory inline when
 * no free 2 MiB page is at hand, a stall of the runtime thread that depends on what ran
 * before.  Measured (spawn_many 1M, ns per task, medians of 5): huge pages 116 run after
 * run of the same program but 186 right after Go and Tokio runs and 262 on a first run;
 * 4 KiB pages 161, 164 and 142. */
#define SMALL_CHUNK_TASKS 256
#define SMALL_CHUNKS 4
#define BIG_CHUNK (2u << 20)

struct chunk {
    struct chunk *next;
    size_t bytes;  /* 0 = malloc'd small chunk, else mmap'd size */
    bool foreign;  /* lrt__records_alloc's: not task records */
    struct lrt_task tasks[];
};

static size_t chunk_count(const struct lrt_runtime *rt)
{
    size_t n = 0;
    for (const struct chunk *c = rt->task_chunks; c && n <= SMALL_CHUNKS; c = c->next)
        n += !c->foreign;
    return n;
}

/* True when every address in [p, p + bytes) leaves the top bits free for the handle
 * generation (a 57-bit address space could hand out high addresses unasked). */
static bool taggable(const void *p, size_t bytes)
{
    return (((uintptr_t)p + bytes) & ~LRT__HANDLE_MASK) == 0;
}

void *lrt__records_alloc(struct lrt_runtime *rt, size_t bytes)
{
    struct chunk *c = malloc(sizeof *c + bytes);
    if (!c)
        return NULL;
    if (LRT__UNLIKELY(!taggable(c, sizeof *c + bytes))) {
        free(c);
        return NULL;
    }
    c->bytes = 0;
    c->foreign = true;
    c->next = rt->task_chunks;
    rt->task_chunks = c;
    return c->tasks;
}

static void *chunk_map(void)
{
    void *m = mmap(NULL, BIG_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

static struct chunk *chunk_new(struct lrt_runtime *rt, size_t *ntasks)
{
    struct chunk *c;
    if (chunk_count(rt) < SMALL_CHUNKS) {
        /* zeroed: a record's handle generation (gen) is read before spawn writes it */
        c = calloc(1, sizeof *c + SMALL_CHUNK_TASKS * sizeof(struct lrt_task));
        if (!c)
            return NULL;
        c->bytes = 0;
        *ntasks = SMALL_CHUNK_TASKS;
        return c;
    }
    /* One chunk is mapped ahead and faulted in by the ticker thread on the other CPU
     * (MADV_POPULATE_WRITE) while this one fills up: a burst of spawns then finds its
     * next 2 MiB already backed instead of paying the first-touch faults inline. */
    void *m = rt->task_chunk_ahead;
    rt->task_chunk_ahead = NULL;
    if (!m && (m = chunk_map()) == NULL)
        return NULL;
    void *ahead = chunk_map();
    if (ahead) {
        rt->task_chunk_ahead = ahead;
        lrt__prefault_async(ahead, BIG_CHUNK, 0, 1);
    }
    c = m;
    c->bytes = BIG_CHUNK;
    *ntasks = (BIG_CHUNK - sizeof *c) / sizeof(struct lrt_task);
    return c;
}

/* A record, uninitialised: a freed one first, else the next never-used one of the newest
 * chunk (bump allocation: a new chunk is not walked ahead of use, so each record is first
 * touched by the spawn that initialises it). */
__attribute__((noinline, cold)) static struct lrt_task *task_take_slow(struct lrt_runtime *rt)
{
    size_t n;
    struct chunk *c = chunk_new(rt, &n);
    if (!c)
        return NULL;
    if (LRT__UNLIKELY(!taggable(c->tasks, n * sizeof(struct lrt_task)))) {
        /* no room for the handle generation: refuse rather than hand out handles that
         * cannot be checked */
        if (c->bytes)
            munmap(c, c->bytes);
        else
            free(c);
        return NULL;
    }
    c->next = rt->task_chunks;
    rt->task_chunks = c;
    rt->task_bump = &c->tasks[1];
    rt->task_bump_end = &c->tasks[n];
    return &c->tasks[0];
}

static inline struct lrt_task *task_take(struct lrt_runtime *rt)
{
    struct lrt_task *t = rt->task_free;
    if (t) {
        rt->task_free = t->next_run;
        return t;
    }
    if (LRT__LIKELY(rt->task_bump != rt->task_bump_end))
        return rt->task_bump++;
    return task_take_slow(rt);
}

void lrt__task_free(struct lrt_runtime *rt, struct lrt_task *t)
{
    t->next_run = rt->task_free;
    t->state = LRT__FINISHED;
    t->refs = 0;
    rt->task_free = t;
}

void lrt__tasks_free_all(struct lrt_runtime *rt)
{
    struct chunk *c = rt->task_chunks;
    while (c) {
        struct chunk *n = c->next;
        if (c->bytes)
            munmap(c, c->bytes);
        else
            free(c);
        c = n;
    }
    rt->task_chunks = NULL;
    if (rt->task_chunk_ahead) {
        lrt__prefault_cancel(rt->task_chunk_ahead);
        munmap(rt->task_chunk_ahead, BIG_CHUNK);
        rt->task_chunk_ahead = NULL;
    }
    rt->task_free = NULL;
    rt->task_bump = rt->task_bump_end = NULL;
}

/* Join ops of the kinds other than LRT__JOIN_TASK.  Process-wide: each owner registers
 * the same constant table from every runtime's init (before any record of its kind
 * exists on that thread), so relaxed atomics are enough. */
static const struct lrt__join_ops *join_ops[LRT__JOIN__KINDS];

void lrt__join_register(int kind, const struct lrt__join_ops *ops)
{
    __atomic_store_n(&join_ops[kind], ops, __ATOMIC_RELAXED);
}

static inline const struct lrt__join_ops *ops_of(const struct lrt__join *j)
{
    return __atomic_load_n(&join_ops[j->kind], __ATOMIC_RELAXED);
}

/* Drop one reference; the record is freed (its kind's way) at 0.  Inlined: it is on
 * every task's spawn-to-reap path (detach, finish). */
static inline __attribute__((always_inline)) void join_release(struct lrt__join *j)
{
    if (--j->refs != 0)
        return;
    if (LRT__LIKELY(j->kind == LRT__JOIN_TASK))
        lrt__task_free(j->rt, lrt__task_of_join(j));
    else
        ops_of(j)->free(j);
}

static inline __attribute__((always_inline)) void join_handle_release(struct lrt__join *j)
{
    j->flags |= LRT__TF_DETACHED;
    j->gen++;
    join_release(j);
}

void lrt__handle_release(struct lrt_task *t)
{
    join_handle_release(&t->join);
}

/* The end of any joinable record, on the runtime thread: wake the joiner (naming the
 * record as its waker), drop the runtime's reference. */
void lrt__join_finished(struct lrt__join *j, int waker_kind)
{
    j->state = LRT__FINISHED;
    if (j->joiner) {
        struct lrt_task *w = j->joiner;
        j->joiner = NULL;
        lrt__wake_by(w, 0, waker_kind, j->id);
    }
    join_release(j);
}


struct lrt_runtime *lrt__rt_check(struct lrt_runtime *rt, int *err)
{
    struct lrt_runtime *cur = lrt__tls_rt;
    /* the thread-local runtime is only ever set on its own thread */
    if (LRT__LIKELY(cur && (!rt || rt == cur)))
        return cur;
    if (!rt) {
        *err = -EINVAL;
        return NULL;
    }
    if (!pthread_equal(rt->thread, pthread_self())) {
        *err = -EPERM;
        return NULL;
    }
    return rt;
}

/* Called on the runtime thread once a task returned (or was dropped before running):
 * wake the joiner, leave the registry, drop the runtime's reference.  The stack was
 * already given back. */
void lrt__task_finished(struct lrt_task *t)
{
    struct lrt_runtime *rt = t->rt;
    t->state = LRT__FINISHED;
    t->wait_kind = LRT__WAIT_NONE;
    lrt__list_del(&t->all);
    rt->alive--;
    if (LRT__UNLIKELY(t->scopes != NULL))
        lrt__scopes_free(t);
    LRT__TP_HOT(rt, task_terminate, t->id, t->wake_result);
    /* a group member has no joiner: its group queues it for lrt_group_join_next */
    if (LRT__UNLIKELY(t->gm))
        lrt__group_member_finished(t);
    if (t->joiner) {
        struct lrt_task *j = t->joiner;
        t->joiner = NULL;
        lrt__wake_by(j, 0, LRT__WAKER_TASK, t->id);
    }
    /* join_release without the kind test: this is a task */
    if (--t->refs == 0)
        lrt__task_free(rt, t);
}

/* Spawn on @rt, or on the current runtime when @rt is NULL; @drop as in lrt_spawn_with. */
static inline __attribute__((always_inline)) lrt_task_t *
spawn(lrt_runtime_t *rt, const char *name, lrt_fn fn, void *arg, void (*drop)(void *),
      const char *file, int line, const char *func)
{
    int err = 0;
    struct lrt_runtime *in = rt;
    rt = lrt__rt_check(rt, &err);
    if (LRT__UNLIKELY(!rt)) {
        /* no runtime current on this thread (a foreign thread): EPERM, as every other
         * runtime-thread-only call says */
        errno = !in ? EPERM : -err;
        return NULL;
    }
    if (LRT__UNLIKELY(!fn)) {
        errno = EINVAL;
        return NULL;
    }
    if (LRT__UNLIKELY(rt->shutting_down)) {
        errno = ESHUTDOWN;
        return NULL;
    }
    struct lrt_task *t = task_take(rt);
    if (LRT__UNLIKELY(!t)) {
        errno = ENOMEM;
        return NULL;
    }
    /* Every field, explicitly (cheaper than clearing 200+ bytes and writing again); gen
     * is kept: it outlives the record's previous task; so is kind (below). */
    struct lrt_task *cur = rt->current;
    uint64_t parent = cur ? cur->id : 0;
    t->sp = NULL;
    t->rt = rt;
    t->flags = 0;
    /* kind stays LRT__JOIN_TASK (0) from the zeroed chunk: task records hold only tasks */
    t->state = LRT__RUNNABLE;
    t->wait_kind = LRT__WAIT_NONE;
    t->last_waker = LRT__WAKER_SPAWN;
    t->refs = 2;
    t->wake_result = 0;
    t->wait_aux2 = 0;
    t->polls = 0;
    t->busy_ns = 0;
    t->state_since = rt->clock_cache;
    t->stack = NULL;
    t->fn = fn;
    t->arg = arg;
    t->joiner = NULL;
    t->wait_obj = NULL;
    t->wait_aux = 0;
    t->id = ++rt->next_task_id;
    t->last_waker_id = parent;
    t->parent_id = parent;
    t->name = name ? name : "task";
    t->file = file ? file : "?";
    t->func = func ? func : "?";
    t->line = line;
    t->timer = NULL;
    t->timer_deadline = 0;
    t->drop = drop;
    t->gm = NULL;
    t->tls = NULL;
    t->scopes = NULL;
#ifdef LRT__ASAN
    t->asan_fake = NULL;
#endif
    lrt__list_push(&rt->tasks, &t->all);
    rt->alive++;
    rt->m.spawned++;
    LRT__TP_HOT(rt, task_spawn, t->id, t->parent_id, t->name, t->file, line, t->func);
    lrt__enqueue(rt, t);
    return lrt__handle_of(t);
}

lrt_task_t *lrt_spawn_at(lrt_runtime_t *rt, const char *name, lrt_fn fn, void *arg,
                         const char *file, int line, const char *func)
{
    return spawn(rt, name, fn, arg, NULL, file, line, func);
}

lrt_task_t *lrt_spawn_local_at(lrt_runtime_t *rt, const char *name, lrt_fn fn, void *arg,
                               const char *file, int line, const char *func)
{
    if (!rt) {
        errno = EINVAL;
        return NULL;
    }
    return spawn(rt, name, fn, arg, NULL, file, line, func);
}

lrt_task_t *lrt_spawn_with_at(const lrt_spawn_opts_t *o, lrt_fn fn, void *arg,
                              const char *dflt_name, const char *file, int line, const char *func)
{
    if (!o)
        return spawn(NULL, dflt_name, fn, arg, NULL, file, line, func);
    /* Every stack of a runtime comes from one pool of one size (stack.c): a task can be
     * given at least o->stack_size bytes only when the runtime's size covers it. */
    struct lrt_runtime *rt = lrt__tls_rt;
    if (o->stack_size && rt && o->stack_size > rt->stack_size) {
        errno = EINVAL;
        return NULL;
    }
    return spawn(NULL, o->name ? o->name : dflt_name, fn, arg, o->drop, file, line, func);
}

/* The plain functions behind the spawn macros (for function pointers and FFI). */
#undef lrt_spawn_local
#undef lrt_spawn
#undef lrt_spawn_named
#undef lrt_spawn_with
lrt_task_t *lrt_spawn_local(lrt_runtime_t *rt, lrt_fn fn, void *arg)
{
    return lrt_spawn_local_at(rt, NULL, fn, arg, NULL, 0, NULL);
}

lrt_task_t *lrt_spawn(lrt_fn fn, void *arg)
{
    return lrt_spawn_at(NULL, NULL, fn, arg, NULL, 0, NULL);
}

lrt_task_t *lrt_spawn_named(const char *name, lrt_fn fn, void *arg)
{
    return lrt_spawn_at(NULL, name, fn, arg, NULL, 0, NULL);
}

lrt_task_t *lrt_spawn_with(const lrt_spawn_opts_t *o, lrt_fn fn, void *arg)
{
    return lrt_spawn_with_at(o, fn, arg, NULL, NULL, 0, NULL);
}

static int join_wait(struct lrt_task *cur, struct lrt__join *t, int64_t timeout_ms, uint64_t deadline)
{
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    t->joiner = cur;
    int kind = t->kind == LRT__JOIN_TASK ? LRT__WAIT_JOIN : LRT__WAIT_BLOCKING;
    /* wait_obj: the task record (dumps read its name), or the job */
    const void *obj = t->kind == LRT__JOIN_TASK ? (const void *)lrt__task_of_join(t) : t;
    int rc = lrt__suspend(kind, obj, t->id, deadline);
    if (t->joiner == cur)
        t->joiner = NULL;
    return rc;
}

int lrt_join_timeout(lrt_task_t *h, void **result, int64_t timeout_ms)
{
    if (!h)
        return -EINVAL;
    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    struct lrt__join *t = lrt__join_of(h);
    if (LRT__UNLIKELY(!lrt__handle_valid(h, t)) || t == &cur->join || t->rt != cur->rt || t->joiner ||
        LRT__UNLIKELY(lrt__join_grouped(t)))
        return -EINVAL;
    /* one deadline for the whole wait, however often the task is woken early */
    uint64_t deadline = lrt__wait_deadline(cur, timeout_ms);
    while (t->state != LRT__FINISHED) {
        int rc = join_wait(cur, t, timeout_ms, deadline);
        if (rc && t->state != LRT__FINISHED)
            return rc;
    }
    int status = t->wake_result;
    /* a task's function returned (started and finished): its result is delivered even
     * with -ECANCELED, or memory it owns would be lost */
    if (result && (status == 0 || (t->flags & LRT__TF_STARTED)))
        *result = t->result;
    join_handle_release(t);
    return status;
}

int lrt_join(lrt_task_t *t, void **result)
{
    return LRT__NOTAIL(lrt_join_timeout(t, result, -1));
}

/*
 * The OS surfaces built on the pool (dns.c, file.c) wait for their job with their own
 * wait reason, so the dump says "dns example.com" rather than "blocking job 7".  The
 * handle is kept: the caller collects with lrt_join(), which then does not suspend.
 * With @hold the task waits for the job whatever happens: a running job writes into
 * memory of the waiting task, which must not return (and free or reuse its stack)
 * before.  Cancellation and deadline scopes are set aside for the wait (a cancelled
 * task's waits return at once, which would spin; group.c's lrt_group_free does the
 * same) and restored afterwards, an abort that came meanwhile included, so the next
 * suspension point reports them: the first wake wins, as in waitq.h.
 */
int lrt__join_wait_as(lrt_task_t *h, int kind, const void *obj, uint64_t aux, uint32_t aux2,
                      int64_t timeout_ms, bool hold)
{
    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    struct lrt__join *j = h ? lrt__join_of(h) : NULL;
    if (!j || !lrt__handle_valid(h, j) || j == &cur->join || j->rt != cur->rt || j->joiner ||
        lrt__join_grouped(j))
        return -EINVAL;
    uint64_t deadline = hold ? 0 : lrt__wait_deadline(cur, timeout_ms);
    uint32_t aside = hold ? (LRT__TF_CANCELLED | LRT__TF_DEADLINE) : 0;
    uint32_t saved = cur->flags & (aside | LRT__TF_CANCEL_SEEN);
    int rc = 0;
    while (j->state != LRT__FINISHED) {
        if (timeout_ms == 0 && !hold) {
            rc = -ETIMEDOUT;
            break;
        }
        cur->flags &= ~aside;
        j->joiner = cur;
        cur->wait_aux2 = aux2;
        rc = lrt__suspend(kind, obj, aux, deadline);
        if (j->joiner == cur)
            j->joiner = NULL;
        if (hold) {
            saved |= cur->flags & LRT__TF_CANCELLED; /* aborted while held: kept for later */
            rc = 0;
        } else if (rc && j->state != LRT__FINISHED) {
            break;
        } else {
            rc = 0;
        }
    }
    if (hold) /* the wake of a held abort told the task nothing: CANCEL_SEEN as before */
        cur->flags = (cur->flags & ~(aside | LRT__TF_CANCEL_SEEN)) | saved;
    return rc;
}

/* The record behind a handle the calling thread may use, or NULL: NULL handle, wrong
 * thread, or a handle already given back. */
static struct lrt__join *handle_check(const lrt_task_t *h)
{
    int err;
    if (!h)
        return NULL;
    struct lrt__join *t = lrt__join_of(h);
    if (!lrt__rt_check(t->rt, &err) || !lrt__handle_valid(h, t))
        return NULL;
    return t;
}

void lrt_abort(lrt_task_t *h)
{
    struct lrt__join *j = handle_check(h);
    if (!j || j->state == LRT__FINISHED)
        return;
    if (j->kind != LRT__JOIN_TASK) {
        ops_of(j)->abort(j);
        return;
    }
    lrt__cancel(lrt__task_of_join(j));
}

int lrt_task_is_finished(const lrt_task_t *h)
{
    if (!h)
        return 0;
    const struct lrt__join *t = lrt__join_of(h);
    if (!lrt__handle_valid(h, t))
        return -EINVAL;
    return t->state == LRT__FINISHED;
}

void lrt_task_detach(lrt_task_t *h)
{
    struct lrt__join *t = handle_check(h);
    /* a handle some task is joining stays with that join; a group's stays with it */
    if (!t || t->joiner || lrt__join_grouped(t))
        return;
    join_handle_release(t);
}

uint64_t lrt_task_id(const lrt_task_t *h)
{
    if (!h)
        return 0;
    const struct lrt__join *t = lrt__join_of(h);
    return lrt__handle_valid(h, t) ? t->id : 0;
}

uint64_t lrt_task_self_id(void)
{
    struct lrt_task *t = lrt__current();
    return t ? t->id : 0;
}

int lrt_task_set_name(const char *name)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    if (!name)
        return -EINVAL;
    t->name = name;
    return 0;
}
