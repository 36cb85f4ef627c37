/* Internal declarations shared by the subsystems.  Names: lrt__ (non-static). */
#ifndef LRT_INTERNAL_H
#define LRT_INTERNAL_H

#include "lrt/lrt.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define LRT__LIKELY(x) __builtin_expect(!!(x), 1)
#define LRT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LRT__TLS __thread __attribute__((tls_model("initial-exec")))
/* LRT__NOTAIL(call): @call's value, with the call kept out of tail position.  A public
 * function that may suspend and forwards to another (lrt_read -> lrt_read_timeout) thus
 * keeps its frame, and a backtrace starts with the call the user made (diag/unwind.c trims
 * at the outermost lrt frame).  Costs a stack adjustment and a return: docs/performance.md. */
#define LRT__NOTAIL(call)                                                                  \
    ({                                                                                     \
        __typeof__(call) lrt__notail_ = (call);                                            \
        __asm__ volatile("" : "+r"(lrt__notail_));                                         \
        lrt__notail_;                                                                      \
    })

#if defined(__SANITIZE_ADDRESS__)
#define LRT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LRT__ASAN 1
#endif
#endif

/* ---- intrusive doubly-linked list ------------------------------------------------- */
typedef struct lrt__link {
    struct lrt__link *next, *prev;
} lrt__link;

static inline void lrt__list_init(lrt__link *h) { h->next = h->prev = h; }
static inline bool lrt__list_empty(const lrt__link *h) { return h->next == h; }
static inline void lrt__list_push(lrt__link *h, lrt__link *n) /* at the tail */
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}
static inline void lrt__list_del(lrt__link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}
static inline bool lrt__linked(const lrt__link *n) { return n->next != NULL; }
#define lrt__container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Singly-linked FIFO of tasks through t->next_run (run queues, pool lists). */
struct lrt_task;
static inline void lrt__tq_push(struct lrt_task **head, struct lrt_task **tail, struct lrt_task *t);

/* Every sync object (channel, oneshot, notify, mutex, semaphore, rwlock, watch, barrier)
 * and every group starts with this header, so the dump can name any object a task waits
 * on from its wait object alone.  The name is copied (lrt_*_set_name), truncated to 31
 * bytes; "" = unnamed.  file/line: where the constructor macro was expanded
 * (lrt_sync_created_at; NULL for a call through the plain function). */
struct lrt__sync_head {
    char name[32];
    const char *file;
    int line;
};
static inline const char *lrt__sync_name(const void *obj)
{
    const struct lrt__sync_head *h = obj;
    return h && h->name[0] ? h->name : NULL;
}
int lrt__sync_set_name(void *obj, const char *name); /* sync.c: 0, -EINVAL, -EPERM */

/* ---- enums shared with tracing and dumps: src/names.h --------------------------------- */
#include "names.h"

/* ---- timers (wheel.c, timer.c) ---------------------------------------------------- */
/* A timer lives on the stack of the task that waits (lrt__suspend's frame): only
 * sleeping tasks pay for one, and the task record stays small. */
typedef struct lrt__timer {
    lrt__link link;
    uint64_t deadline_ns; /* never fire before this */
    uint64_t when;        /* wheel grain: ceil(deadline / grain) */
    struct lrt_task *task;
    uint8_t level, slot;
} lrt__timer;

#define LRT__WHEEL_LEVELS 6
#define LRT__WHEEL_SLOTS 64
#define LRT__WHEEL_GRAIN_SHIFT 15 /* 32.8 us: the wheel's resolution */

typedef struct lrt__wheel {
    uint64_t elapsed; /* grains processed */
    uint64_t occupied[LRT__WHEEL_LEVELS];
    lrt__link slots[LRT__WHEEL_LEVELS][LRT__WHEEL_SLOTS];
    size_t count;
} lrt__wheel;

/* ---- stacks (stack.c) ------------------------------------------------------------- */
typedef struct lrt__stack {
    void *base;    /* lowest usable byte (above the guard page) */
    size_t size;   /* usable bytes */
    struct lrt__stack *next_free;
    struct lrt__slab *slab; /* slab stacks: owning slab */
    uint16_t guarded;  /* 0 canary, 1 MADV_GUARD_INSTALL, 2 mprotect, 0xffff not set up */
    uint16_t in_use;
    uint32_t valgrind_id;
    uint32_t color;    /* bytes left unused at the top: spreads stack tops over cache sets */
} lrt__stack;

#define LRT__STACK_CANARY 0x6c72742d63616e61ULL /* "lrt-cana" */

/* ---- tasks (task.c) --------------------------------------------------------------- */
struct lrt_runtime;

enum {
    LRT__TF_CANCELLED = 1u << 0, /* abort requested: suspension points return -ECANCELED */
    LRT__TF_DETACHED = 1u << 1,  /* no join handle */
    LRT__TF_ROOT = 1u << 3,      /* block_on's task */
    LRT__TF_STARTED = 1u << 4,   /* has run at least once */
    LRT__TF_TIMER = 1u << 6,     /* timer armed */
    LRT__TF_CANARY = 1u << 8,     /* on a slab stack (no guard page): check its canary */
    LRT__TF_CANCEL_SEEN = 1u << 9, /* a suspension point returned (or was woken to return)
                                     -ECANCELED: the task knows it was aborted */
    /* scope.c: a deadline scope with a finite deadline is pushed (t->scopes->deadline) */
    LRT__TF_DEADLINE = 1u << 12,
    LRT__TF_SHIELD = 1u << 13,         /* scope.c: a shield is pushed */
    LRT__TF_CANCEL_PENDING = 1u << 14, /* aborted while shielded: CANCELLED at the last pop */
    LRT__TF_UNSHIELDED = 1u << 15,     /* deadlocked root: shields no longer hold a cancel */
};
/* What makes a suspension point leave its fast path (one test in lrt__suspend). */
#define LRT__TF_INTERRUPT (LRT__TF_CANCELLED | LRT__TF_DEADLINE)

/* What a join handle reaches: a task (task.c) or a blocking job (blocking.c). */
enum lrt__join_kind { LRT__JOIN_TASK = 0, LRT__JOIN_JOB, LRT__JOIN__KINDS };

/*
 * The join header: the first fields of every record a join handle can point at, all
 * that lrt_join/lrt_abort/lrt_task_detach/lrt_task_id/lrt_task_is_finished and the
 * joiner's wake-up need.  Every field belongs to the runtime thread, except that a
 * blocking job's arg (read at pick) and result (written at completion) are touched by
 * a pool thread under the pool mutex while the job is queued or running (blocking.c).
 * Written once as a macro so that struct lrt_task can overlay it with its own names
 * (t->state, t->wake_result, ...) and keep its layout; @b0 and @b1 name two bytes the
 * embedding record uses as it likes (they would be padding otherwise).
 */
#define LRT__JOIN_HEADER(b0, b1)                                                         \
    struct lrt_runtime *rt;                                                              \
    uint32_t flags;      /* LRT__TF_* (a job: only DETACHED) */                          \
    uint8_t state;       /* enum lrt__state */                                           \
    uint8_t b0;                                                                          \
    uint8_t b1;                                                                          \
    uint8_t refs;        /* 1 for the runtime while alive + 1 for the handle */          \
    int wake_result;     /* task: what the suspension point returns; at the end: status */ \
    uint8_t kind;        /* enum lrt__join_kind: picks the abort/free of join_ops */     \
    uint8_t hist_pos;    /* task: its history ring's next slot (history.h) */            \
    uint16_t gen;        /* handle generation: bumped when the handle is given back   \
                            (kept across recycling; see lrt__join_handle) */             \
    struct lrt_task *joiner; /* task suspended in lrt_join on us */                      \
    union {                                                                              \
        void *arg;       /* until the task (or job) starts */                            \
        void *result;    /* once it returned */                                          \
    };                                                                                   \
    uint64_t id          /* task id, or job id (a separate sequence) */

struct lrt__join {
    LRT__JOIN_HEADER(owner_byte0_, owner_byte1_);
};

/* Per kind other than LRT__JOIN_TASK, registered by its owner (lrt__join_register):
 * task.c dispatches through it and so never calls the owner's code by name. */
struct lrt__join_ops {
    void (*abort)(struct lrt__join *j); /* lrt_abort on an unfinished record */
    void (*free)(struct lrt__join *j);  /* the last reference is gone */
};

struct lrt_task {
    /* line 1: everything a poll touches (switch, queue, state, accounting); the join
     * header keeps rt..wake_result where the hot paths have always found them */
    void *sp;                    /* saved stack pointer while not running */
    struct lrt_task *next_run;   /* run queue link */
    union {
        struct lrt__join join;
        struct {
            LRT__JOIN_HEADER(wait_kind,   /* enum lrt__wait_kind */
                             last_waker); /* enum lrt__waker_kind */
        };
    };
    uint32_t wait_aux2;          /* fd interest; file wait: the fd (int32_t), -1 for none */
    int line;
    uint64_t polls;
    uint64_t busy_ns;
    uint64_t state_since;        /* coarse ns when it entered its state */
    /* line 2: start, wait */
    lrt__stack *stack;
    lrt_fn fn;
    const void *wait_obj;
    uint64_t wait_aux;           /* fd / deadline / task id / job id */
    uint64_t last_waker_id;
    /* cold: identity and lists */
    uint64_t parent_id;
    const char *name;
    const char *file;
    const char *func;
    lrt__link all;               /* registry of live tasks */
    lrt__timer *timer;           /* armed sleep / timeout (on the task's stack) */
    uint64_t timer_deadline;     /* its deadline while armed, else 0 (for dumps) */
    void (*drop)(void *arg);     /* lrt_spawn_with: run on arg if fn never runs */
    struct lrt__gmember *gm;     /* group membership (group.h), NULL if none */
    void **tls;                  /* task-local values (LRT__TLS_KEYS), or NULL (tls_keys.c) */
    struct lrt__scopes *scopes;  /* scope.c: deadline and shield stack, NULL until a push */
    struct lrt__hist *hist;      /* history.h: its ring, at its stack's top once started */
#ifdef LRT__ASAN
    void *asan_fake;
#endif
};

/* Join handles.  A handle is the join header's address with the record's generation in
 * the top 16 bits (user-space addresses fit in 47).  Giving the handle back (join,
 * detach) bumps the generation, and records keep it when recycled, so a handle used
 * again after it was given back no longer matches its record -- even when the record
 * now holds another task or job -- and is refused instead of acting on it.  Records
 * are never unmapped while the runtime lives, so reading the generation through a stale
 * handle is safe.  A stale handle goes unnoticed only if its record was given back a
 * multiple of 65536 times since. */
#define LRT__HANDLE_SHIFT 48
#define LRT__HANDLE_MASK (((uintptr_t)1 << LRT__HANDLE_SHIFT) - 1)
static inline lrt_task_t *lrt__join_handle(const struct lrt__join *j)
{
    return (lrt_task_t *)((uintptr_t)j | (uintptr_t)j->gen << LRT__HANDLE_SHIFT);
}
static inline struct lrt__join *lrt__join_of(const lrt_task_t *h)
{
    return (struct lrt__join *)((uintptr_t)h & LRT__HANDLE_MASK);
}
static inline bool lrt__handle_valid(const lrt_task_t *h, const struct lrt__join *j)
{
    return j->gen == (uint16_t)((uintptr_t)h >> LRT__HANDLE_SHIFT);
}
/* The task of a join header of kind LRT__JOIN_TASK. */
static inline struct lrt_task *lrt__task_of_join(struct lrt__join *j)
{
    return lrt__container_of(j, struct lrt_task, join);
}
/* Is @j a task whose handle its group holds (lrt_group_spawn)?  Its caller may not join
 * or detach it. */
static inline bool lrt__join_grouped(struct lrt__join *j)
{
    return j->kind == LRT__JOIN_TASK && lrt__task_of_join(j)->gm;
}
static inline lrt_task_t *lrt__handle_of(const struct lrt_task *t)
{
    return lrt__join_handle(&t->join);
}
/* The task behind a handle known to be a task's (spawn's own result). */
static inline struct lrt_task *lrt__task_of(const lrt_task_t *h)
{
    return lrt__task_of_join(lrt__join_of(h));
}

static inline void lrt__tq_push(struct lrt_task **head, struct lrt_task **tail, struct lrt_task *t)
{
    t->next_run = NULL;
    if (*tail)
        (*tail)->next_run = t;
    else
        *head = t;
    *tail = t;
}

/* ---- tracing hooks (trace.h is included by the .c files) -------------------------- */

/* ---- runtime (runtime.c) ---------------------------------------------------------- */
struct lrt__io;
struct lrt__pool;
struct lrt__remote;
struct lrt__agent_rt;
struct lrt__stall;

typedef struct lrt__metrics {
    uint64_t spawned, polls, forced_yields, io_ready, remote_schedules, parks;
    uint64_t timers_fired, blocking_jobs, stalls;
    /* Histograms, log2 buckets of ~microseconds (ns >> 10): bucket i >= 1 counts
     * [2^(i-1), 2^i) us, bucket 15 everything above; durations come from the 4 ms coarse
     * clock.  Bucket 0 (< 1 us, i.e. within one clock tick) is not stored: it is the
     * poll count minus the other buckets (diag/snapshot.c, hist()). */
    uint64_t poll_hist[16];    /* poll duration */
    uint64_t sched_hist[16];   /* wake -> poll latency */
} lrt__metrics;

struct lrt_runtime {
    /* scheduler hot state */
    struct lrt_task *rq_head, *rq_tail;   /* run queue: new tasks and yields, FIFO */
    struct lrt_task *wk_head, *wk_tail;   /* woken tasks, FIFO, served first */
    struct lrt_task *rq_last;             /* the run queue's turn (core.c): up to this task */
    unsigned rq_left;                     /* ... or this many more picks; 0: no turn */
    int pool_flush, pool_spin; /* jobs submitted, not yet published; just published: spin */
    int trace_hot;                        /* a hot-path lrt event is enabled (trace.h) */
    struct lrt_task *current;     /* running task, NULL in the scheduler */
    void *sched_sp;               /* scheduler context while a task runs */
    unsigned event_interval;
    unsigned polls_since_sources; /* polls since the wake-up sources were last checked */
    unsigned budget, budget_left;
    uint64_t poll_seq;            /* incremented at every poll begin and end (diag/stall.c) */
    uint64_t poll_start;          /* coarse ns when the running task got the CPU */
    uint64_t clock_cache;         /* switch clock at the last switch (wake timestamps) */
    const struct lrt__core_hooks *hooks; /* loop.c's, set by lrt__run */
    lrt__link ticker_link;        /* in the ticker's list of runtimes */
    uint64_t ticker_seen;         /* ticker thread only: poll_seq at its last wake-up */
    struct lrt_task *dead;        /* finished on its own stack, reaped after the switch */
    struct lrt_task *run_until;   /* lrt__run's target: returns to the scheduler when done */
    int stop;                     /* run deadline passed: return to the scheduler */
    uint64_t run_deadline;        /* lrt__mono_ns() deadline of lrt__run, 0 = none */
#ifdef LRT__ASAN
    void *asan_sched_bottom;
    size_t asan_sched_size;
#endif
    lrt__metrics m;

    pthread_t thread;
    lrt_options_t opts;
    size_t alive;                 /* live tasks (not blocking jobs) */
    uint64_t next_task_id;
    uint64_t next_job_id;
    lrt__link tasks;              /* registry (task.all) */
    int in_block_on;
    /* trace.c's statedump: lrt:task_info's state and probes at the last refresh */
    int trace_info_on;
    const void *trace_info_probes;
    int shutting_down;
    struct lrt_task *root;

    /* time */
    int paused;
    uint64_t virt_now;
    lrt__wheel wheel;

    /* stacks */
    size_t stack_size;
    lrt__stack *stack_pool;       /* free stacks, LIFO */
    size_t stack_pool_len;
    lrt__stack *stack_cold;       /* free stacks whose pages went back to the kernel */
    struct lrt__slab *slab_ahead; /* next slab, top pages being faulted in ahead */
    unsigned slabs_made;
    size_t guarded_live;          /* stacks guarded by mprotect (they cost mappings) */
    size_t guarded_max;           /* mprotect budget; beyond it, canaries */
    bool guard_install;           /* MADV_GUARD_INSTALL works */
    unsigned stacks_made;         /* stack colouring counter */
    struct lrt__slab *slabs;
    struct lrt_task *task_free;   /* free task records */
    struct lrt_task *task_bump, *task_bump_end; /* never-used records of the newest chunk */
    void *task_chunks;            /* chunks of task records */
    void *task_chunk_ahead;       /* next chunk, being faulted in by the ticker thread */
    void *sigstack;               /* sigaltstack for overflow reports */

    struct lrt__io *io;
    struct lrt__pool *pool;
    struct lrt__remote *remote;
    struct lrt__agent_rt *agent;  /* diag: this runtime's record with the dump agent */
    struct lrt__stall *stall;

    /* dump bookkeeping shared with the agent thread: the agent sets dump_request and
     * wakes the notifier; the runtime thread answers at its next safe point (between
     * polls: loop.c's run_sources) with lrt__agent_safepoint(). */
    atomic_int dump_request;
    uint64_t start_ns;
    /* diagnosis (src/diag/): the runtime thread's kernel tid (signals and
     * /proc), the duration of the last snapshot taken on the runtime thread. */
    pid_t tid;
    uint64_t last_snapshot_pause_ns;
    struct lrt__notifier *notifier; /* the inbox (notify.c) */
};

extern LRT__TLS struct lrt_runtime *lrt__tls_rt;   /* current runtime of this thread */
extern LRT__TLS int lrt__tls_in_block_on;

static inline void lrt__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ volatile("" ::: "memory");
#endif
}

/* ---- clocks (clock.c) ------------------------------------------------------------- */
static inline uint64_t lrt__timespec_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}
static inline uint64_t lrt__mono_ns(void) /* CLOCK_MONOTONIC (vDSO) */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return lrt__timespec_ns(&ts);
}
uint64_t lrt__coarse_ns(void); /* CLOCK_MONOTONIC_COARSE: same epoch, 4 ms steps, ~5 ns */
/* The runtime's clock: monotonic, or virtual with start_paused (inline: every sleep and
 * timed wait reads it). */
static inline uint64_t lrt__rt_now(struct lrt_runtime *rt)
{
    return rt->paused ? rt->virt_now : lrt__mono_ns();
}

/* ---- ticker.c --------------------------------------------------------------------- */
/* Switch clock for per-task bookkeeping: CLOCK_MONOTONIC_COARSE stored every
 * millisecond by the ticker thread; a plain load on the switch path. */
extern uint64_t lrt__switch_clock_ns;
static inline uint64_t lrt__switch_clock(void) { return __atomic_load_n(&lrt__switch_clock_ns, __ATOMIC_RELAXED); }
void lrt__switch_clock_refresh(void);           /* any thread: store the current time */
int lrt__ticker_add(struct lrt_runtime *rt);    /* start ticking for rt (runtime_new) */
void lrt__ticker_remove(struct lrt_runtime *rt); /* shutdown; the last one stops the thread */
/* Call @fn (which clears *@flag) on the ticker thread at a tick that sees *@flag set. */
void lrt__ticker_watch(atomic_int *flag, void (*fn)(void));
/* Ask the ticker thread to fault in (MADV_POPULATE_WRITE), in the background, @count
 * ranges of @len bytes starting at @addr, @stride apart.  Up to 4 pending requests (more
 * are dropped: prefaulting is only a hint).  Cancel forgets a pending request for @addr
 * and waits until it is no longer being populated, before the memory is unmapped. */
void lrt__prefault_async(void *addr, size_t len, size_t stride, size_t count);
void lrt__prefault_cancel(void *addr);
/* Have the ticker thread call @fn about every @every_ns while it runs (diag's check for
 * an attach request; the ticker itself never calls up).  Any thread; NULL: none. */
void lrt__ticker_set_slow_hook(void (*fn)(void), uint64_t every_ns);

/* ---- context switch (context_*.S) ------------------------------------------------- */
void lrt__ctx_switch(void **save_sp, void *to_sp);
void lrt__ctx_entry(void); /* trampoline: calls r13(r12) */
/* A task's first run: save like lrt__ctx_switch, then entry(arg) on the stack at top. */
void lrt__ctx_start(void **save_sp, void *top, void (*entry)(void *), void *arg);

/* ---- stack.c ---------------------------------------------------------------------- */
int lrt__stacks_init(struct lrt_runtime *rt);
void lrt__stacks_fini(struct lrt_runtime *rt);
lrt__stack *lrt__stack_get(struct lrt_runtime *rt);
void lrt__stack_put(struct lrt_runtime *rt, lrt__stack *s);
void lrt__stacks_trim(struct lrt_runtime *rt); /* at park: release excess free stacks */
bool lrt__stack_canary_ok(const lrt__stack *s);
void lrt__stack_overflow_report(struct lrt_task *t, const char *how); /* does not return */
/* diag/crash.c's handler, async-signal-safe: is a fault at @addr, sp @sp an overflow? */
bool lrt__stack_fault_is_overflow(const struct lrt_task *t, const void *addr, const void *sp);
void lrt__stack_overflow_print(struct lrt_task *t);
int lrt__sigaltstack_install(struct lrt_runtime *rt);
void lrt__sigaltstack_remove(struct lrt_runtime *rt);

/* ---- task.c ----------------------------------------------------------------------- */
void lrt__task_free(struct lrt_runtime *rt, struct lrt_task *t);
void lrt__handle_release(struct lrt_task *t); /* give the join handle back (join, detach) */
void lrt__task_finished(struct lrt_task *t); /* wake joiner, unregister, drop runtime ref */
/* Generic join-header helpers, for the owners of other kinds (blocking.c). */
void lrt__join_register(int kind, const struct lrt__join_ops *ops); /* idempotent */
void lrt__join_finished(struct lrt__join *j, int waker_kind); /* finish, wake joiner, unref */
/* Uninitialised memory that lives as long as the runtime's task records (freed with them by
 * lrt__tasks_free_all, leaked with them otherwise): records that stale handles may
 * still reach.  NULL when out of memory or out of handle-taggable addresses. */
void *lrt__records_alloc(struct lrt_runtime *rt, size_t bytes);
void lrt__tasks_free_all(struct lrt_runtime *rt);
/* Check the calling thread / task context; returns rt or NULL with *err set. */
struct lrt_runtime *lrt__rt_check(struct lrt_runtime *rt, int *err);

/* ---- core.c ----------------------------------------------------------------------- */
/* What the core needs from the layers above it, installed by loop.c (lrt__run).  Called
 * only off the hot path: every event interval, when jobs wait to be published, when a
 * task finished. */
struct lrt__core_hooks {
    void (*between_polls)(struct lrt_runtime *rt); /* check the wake-up sources */
    void (*flush)(struct lrt_runtime *rt);         /* publish submitted blocking jobs */
    void (*finished)(struct lrt_task *t);          /* lrt__task_finished */
};
static inline bool lrt__runnable(const struct lrt_runtime *rt)
{
    return rt->wk_head || rt->rq_head;
}
/* Suspend the running task with wait reason (kind, obj, aux).  deadline_ns != 0 arms
 * the task's timer: on expiry the task wakes with -ETIMEDOUT (sleeps map that to 0).
 * Returns the wake result: 0, -ECANCELED, -ETIMEDOUT, or what lrt__wake passed.
 * If the task is already cancelled it yields once and returns -ECANCELED. */
int lrt__suspend(int kind, const void *obj, uint64_t aux, uint64_t deadline_ns);
/* Make a suspended task runnable with @result (no-op unless suspended). */
void lrt__wake(struct lrt_task *t, int result, int waker_kind);
/* Same, naming the waker explicitly (a finished task or job wakes its joiner after it
 * stopped running). */
void lrt__wake_by(struct lrt_task *t, int result, int waker_kind, uint64_t waker_id);
void lrt__enqueue(struct lrt_runtime *rt, struct lrt_task *t); /* run queue tail */
/* Task-local storage (tls_keys.c): process-wide keys; destructors run in the task's own
 * context when its function returned, then t->tls is freed. */
#define LRT__TLS_KEYS 16
int lrt__tls_key_count(void);
void lrt__tls_run_dtors(struct lrt_task *t);
/* The running task (NULL outside a task, or on a foreign thread). */
static inline struct lrt_task *lrt__current(void)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    return rt ? rt->current : NULL;
}
/* Resolve the running task, or -EPERM off the runtime thread or outside a task.  The
 * thread-local current runtime is only ever set on its own thread (lrt_enter and
 * lrt_block_on check), so no pthread_self() comparison is needed here. */
static inline int lrt__task_ctx(struct lrt_task **out)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (LRT__UNLIKELY(!rt || !rt->current))
        return -EPERM;
    *out = rt->current;
    return 0;
}
/* Count one completed I/O operation against the budget; forces a yield when spent. */
int lrt__budget_spend(void);
/* A task that is cancelled (-ECANCELED) or whose scope deadline has passed (-ETIMEDOUT)
 * goes through the scheduler once and gets that error; 0 otherwise (no switch). */
int lrt__interrupted(struct lrt_task *t);
/* lrt_abort / shutdown: cancel @t, waking it from its wait unless it is shielded. */
void lrt__cancel(struct lrt_task *t);

/* ---- scope.c (deadline and shield scopes) ------------------------------------------ */
struct lrt__scope_entry {
    uint64_t deadline; /* UINT64_MAX: none (a shield, or a huge deadline) */
    int token;
    bool shield;
};
struct lrt__scopes {
    uint64_t deadline; /* earliest of the entries' */
    uint32_t n, cap, shields;
    int next_token;
    struct lrt__scope_entry *e;
};
/* The task ended: its scopes go (a function may return without popping). */
void lrt__scopes_free(struct lrt_task *t);
/* The next task to run, or NULL (queues empty, or the run must stop); may check the
 * wake-up sources (hooks) first.  For loop.c, on the scheduler stack. */
struct lrt_task *lrt__pick_next(struct lrt_runtime *rt);
/* From the scheduler stack: run @t (and whatever it switches to) until the queues run
 * dry or block_on's task finished. */
void lrt__switch_in(struct lrt_runtime *rt, struct lrt_task *t);
void lrt__task_main(void *task);

/* ---- loop.c ----------------------------------------------------------------------- */
/* Run the scheduler until @until finished (or, with until NULL, until nothing can run
 * and no wake-up source remains / the deadline passes).  Returns 0 or -EDEADLK. */
int lrt__run(struct lrt_runtime *rt, struct lrt_task *until, uint64_t deadline_ns);
/* Does anything remain that could wake a task (fd waiters, timers, jobs, handles)? */
bool lrt__wakeup_sources(struct lrt_runtime *rt);

/* ---- deadlines (here, inline), wheel.c, timer.c ------------------------------------- */
/* Deadlines: the one rule every timed call follows (sleeps, _timeout and _until forms).
 * A deadline is an lrt__rt_now() time in ns; 0 means "no deadline".  Arithmetic
 * saturates and never wraps; a deadline at or beyond LRT__DEADLINE_MAX (2^62 ns, 146
 * years of CLOCK_MONOTONIC) means "no deadline" — huge timeouts wait until woken or
 * cancelled, never "already expired".  A timeout < 0 means no deadline; 0 is "now". */
#define LRT__DEADLINE_MAX (UINT64_C(1) << 62)
/* @abs_ns as a deadline: 0 when at or beyond LRT__DEADLINE_MAX, else at least 1. */
static inline uint64_t lrt__deadline_at(uint64_t abs_ns)
{
    if (abs_ns >= LRT__DEADLINE_MAX)
        return 0;
    return abs_ns ? abs_ns : 1;
}
/* now + @ns, saturating into "no deadline". */
static inline uint64_t lrt__deadline_in_ns(uint64_t now, uint64_t ns)
{
    return ns >= LRT__DEADLINE_MAX - (now < LRT__DEADLINE_MAX ? now : LRT__DEADLINE_MAX)
               ? 0
               : lrt__deadline_at(now + ns);
}
/* now + @ms milliseconds; @ms < 0 = no deadline. */
static inline uint64_t lrt__deadline_in_ms(uint64_t now, int64_t ms)
{
    if (ms < 0)
        return 0;
    if ((uint64_t)ms >= LRT__DEADLINE_MAX / 1000000u)
        return 0;
    return lrt__deadline_in_ns(now, (uint64_t)ms * 1000000u);
}
/* The deadline of a wait of task @t that gives up after @ms (< 0 or huge: none): the one
 * conversion every _timeout call makes. */
static inline uint64_t lrt__wait_deadline(const struct lrt_task *t, int64_t ms)
{
    return lrt__deadline_in_ms(lrt__rt_now(t->rt), ms);
}
void lrt__wheel_init(lrt__wheel *w, uint64_t now_ns);
void lrt__timer_arm(struct lrt_runtime *rt, struct lrt_task *t, lrt__timer *tm, uint64_t deadline_ns);
void lrt__timer_cancel(struct lrt_runtime *rt, struct lrt_task *t);
/* Take the timers due at @now_ns out of the wheel: a NULL-terminated chain through
 * link.next, in expiry order.  Wakes nobody: lrt__timers_process (timer.c) fires them. */
lrt__link *lrt__wheel_expire(lrt__wheel *w, uint64_t now_ns);
/* Fire due timers (wakes tasks); returns the number fired. */
size_t lrt__timers_process(struct lrt_runtime *rt, uint64_t now_ns);
/* Earliest deadline of the next wheel slot (ns), or UINT64_MAX when none. */
uint64_t lrt__timers_next(struct lrt_runtime *rt);
/* Visit every armed timer (dump). */
void lrt__timers_foreach(struct lrt_runtime *rt, void (*fn)(struct lrt_task *t, void *ctx), void *ctx);

/* ---- notify.c (the cross-thread inbox; any thread may post) ---------------------- */
#define LRT__INBOX_MAX 8
/* Drains one source on the runtime thread (clearing its pending flag under the source's
 * own lock, before it takes the work); returns how many items it handled. */
typedef size_t lrt__inbox_drain_fn(struct lrt_runtime *rt, void *ctx);
/* Refcounted so that a blocking thread that outlives the runtime (shutdown timeout) can
 * still post safely.  refs/parked: any thread; src[]: runtime thread only. */
typedef struct lrt__notifier {
    atomic_int refs;
    atomic_int parked; /* set by the runtime thread around the driver's wait */
    int efd;
    unsigned nsrc;
    struct {
        atomic_int *pending; /* the source's own flag, on its own cache line */
        lrt__inbox_drain_fn *drain;
        void *ctx;
    } src[LRT__INBOX_MAX];
} lrt__notifier;
int lrt__notify_init(struct lrt_runtime *rt);  /* rt->notifier, the runtime's reference */
void lrt__notify_fini(struct lrt_runtime *rt); /* drops it */
lrt__notifier *lrt__notifier_get(struct lrt_runtime *rt); /* new reference; runtime thread */
void lrt__notifier_put(lrt__notifier *n);                   /* any thread; frees at 0 */
/* Any thread, after setting its source's pending flag (seq_cst): writes the eventfd only
 * if the runtime is parked.  The runtime parks with lrt__notifier_park (sets parked,
 * seq_cst, then re-checks every source's flag) and only sleeps when that returned false,
 * so no wake-up is lost. */
void lrt__notifier_wake(lrt__notifier *n);
bool lrt__notifier_park(lrt__notifier *n); /* runtime thread: true = work posted, don't sleep */
void lrt__notifier_unpark(lrt__notifier *n);
void lrt__notifier_clear(lrt__notifier *n); /* runtime thread: consume the eventfd's count */
/* Runtime thread: a new source, its pending flag (set by posters, cleared by @drain) and
 * its drain callback; returns its id or -ENOSPC. */
int lrt__inbox_register(struct lrt_runtime *rt, atomic_int *pending, lrt__inbox_drain_fn *drain,
                        void *ctx);
void lrt__inbox_unregister(struct lrt_runtime *rt, int id);
/* Runtime thread: call the drain of every source whose flag is set, in registration
 * order; returns the items handled. */
size_t lrt__inbox_drain(struct lrt_runtime *rt);
/* Runtime thread: has any source posted? */
bool lrt__inbox_pending(struct lrt_runtime *rt);
/* Any thread, after publishing work where the source's drain will find it: flag it and
 * wake the runtime if it is parked. */
static inline void lrt__inbox_post(lrt__notifier *n, atomic_int *pending)
{
    atomic_store(pending, 1);
    lrt__notifier_wake(n);
}

/* ---- io.c (the fd cache and the public I/O calls; the driver is behind driver.h) ---- */
int lrt__io_init(struct lrt_runtime *rt);
void lrt__io_fini(struct lrt_runtime *rt);
/* Wait for events up to timeout_ns (0 = poll, UINT64_MAX = forever), wake the tasks
 * whose fds became ready; returns the number of events.  Consumes the notifier's eventfd.
 * Before sleeping (timeout != 0) it parks the notifier and does not sleep when the inbox
 * has work; the loop then drains the inbox (lrt__inbox_drain). */
int lrt__io_poll(struct lrt_runtime *rt, uint64_t timeout_ns);
/* Number of tasks waiting on fds (wake-up sources for deadlock detection). */
size_t lrt__io_waiters(struct lrt_runtime *rt);
/* io.c: an OS wait on a readable fd, with its own wait reason and waker (signal.c,
 * process.c); 0 once readable, -ETIMEDOUT, -ECANCELED, -EBADF.  Runtime thread, task. */
int lrt__io_wait_as(int fd, int kind, const void *obj, uint64_t aux, int waker, int64_t timeout_ms);
/* io.c: another file's I/O call (dgram.c) run like lrt_read: @fn tries once on @iofd
 * (-EAGAIN: not ready), retried after each edge of @interest; lrt_read's results. */
typedef ssize_t lrt__io_try_fn(int iofd, void *ctx);
ssize_t lrt__io_run(int fd, uint32_t interest, lrt__io_try_fn *fn, void *ctx, int64_t timeout_ms);
/* io_uring_ops.c: LRT__IO_RECVMSG/SENDMSG (@obj msghdr, @arg MSG_ flags), LRT__IO_CONNECT
 * (@obj address, @arg length) submitted; -EAGAIN: not here (epoll...): use readiness. */
ssize_t lrt__io_submitted(int fd, int op, void *obj, size_t arg, int64_t timeout_ms);
size_t lrt__io_registered(struct lrt_runtime *rt);
/* Visit each registration, then each unregistered fd with file calls in flight (dump). */
void lrt__io_foreach(struct lrt_runtime *rt,
                     void (*fn)(int fd, uint32_t ready, int readers, int writers, void *ctx),
                     void *ctx);

/* ---- blocking.c ------------------------------------------------------------------- */
int lrt__pool_init(struct lrt_runtime *rt);
/* Stop accepting jobs; drop queued ones (their joiners get -ECANCELED); wait up to
 * timeout_ns (UINT64_MAX = forever) for running jobs; print the ones still running on
 * stderr when report; returns how many still run (their threads finish on their own and
 * free the shared state).  Then frees the runtime side. */
size_t lrt__pool_shutdown(struct lrt_runtime *rt, uint64_t timeout_ns, bool report);
bool lrt__pool_ready(struct lrt_runtime *rt);     /* completions waiting (atomic load) */
size_t lrt__pool_drain(struct lrt_runtime *rt);   /* runtime thread: deliver completions */
void lrt__pool_flush(struct lrt_runtime *rt);     /* publish submitted jobs (rt->pool_flush) */
size_t lrt__pool_pending(struct lrt_runtime *rt); /* submitted, not yet delivered */
void lrt__pool_stats(struct lrt_runtime *rt, unsigned *threads, unsigned *idle, size_t *queued);
/* A job for the dump: running or queued since when, the caller's fn (not an owned job's
 * wrapper), the task that submitted it (0: none). */
struct lrt__job_view { uint64_t id, since_ns, task; lrt_fn fn; int running; };
void lrt__pool_foreach(struct lrt_runtime *rt, void (*fn)(const struct lrt__job_view *v, void *ctx), void *ctx);

/* ---- remote.c --------------------------------------------------------------------- */
int lrt__remote_init(struct lrt_runtime *rt);
void lrt__remote_shutdown(struct lrt_runtime *rt); /* later handle_spawn -> -ESHUTDOWN */
void lrt__remote_fini(struct lrt_runtime *rt);
size_t lrt__remote_drain(struct lrt_runtime *rt);   /* spawn injected tasks */
bool lrt__remote_live_handles(struct lrt_runtime *rt); /* handles besides the runtime's */

/* ---- diag entry points: src/diag_entry.h ----------------------------------------- */

#endif
