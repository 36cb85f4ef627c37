/*
 * lrt — a single-threaded, stackful async runtime for C, built to be diagnosed.
 *
 * Conventions (every function below follows them unless its comment says otherwise):
 *  - Functions return 0 (or a count) on success and a negative errno on failure.
 *    Constructors return NULL and set errno.  lrt_strerror() maps codes to text.
 *  - "Runtime thread": the thread that created the runtime.  Every function except
 *    lrt_handle_*(), lrt_now_ns() and lrt_strerror() must be called there; from another
 *    thread it fails with -EPERM (or NULL/errno EPERM).
 *  - "Suspension point": a function marked (suspends) may switch to other tasks.  Called
 *    from a task that has been aborted (or during shutdown), it returns -ECANCELED
 *    (not inside lrt_shield_push()); past a deadline scope's deadline (lrt_timeout_push),
 *    -ETIMEDOUT.  docs/guide.md has the table.
 *    Called outside a task (no lrt_block_on running), it returns -EPERM.
 *  - Timeouts and deadlines: a timeout_ms < 0 means "no timeout", 0 means "do not wait".
 *    One saturating rule for every timed call (sleeps, _timeout forms, lrt_sleep_until,
 *    lrt_shutdown_timeout): a timeout or deadline that lies 2^62 ns (146 years) or more
 *    ahead of the clock means "no deadline" -- the call waits until woken or cancelled,
 *    never "already expired", and no arithmetic wraps.
 *  - All types are opaque.
 */
#ifndef LRT_LRT_H
#define LRT_LRT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LRT_EXPORT __attribute__((visibility("default")))
#else
#define LRT_EXPORT
#endif

#define LRT_VERSION_MAJOR 0
#define LRT_VERSION_MINOR 1
#define LRT_VERSION_PATCH 0
#define LRT_VERSION_STRING "0.1.0"

typedef struct lrt_runtime lrt_runtime_t; /* opaque, one thread */
typedef struct lrt_task lrt_task_t;       /* join handle: one owner, given back once */
typedef struct lrt_handle lrt_handle_t;   /* thread-safe, refcounted */
typedef struct lrt_chan lrt_chan_t;       /* channel of void * messages */
typedef struct lrt_oneshot lrt_oneshot_t; /* single value, single use */
typedef struct lrt_notify lrt_notify_t;   /* wake one or all waiters */
typedef struct lrt_mutex lrt_mutex_t;     /* async mutex (owned by a task) */
typedef struct lrt_sem lrt_sem_t;         /* counting semaphore */
typedef struct lrt_watch lrt_watch_t;     /* latest value + version, many readers */
typedef struct lrt_rwlock lrt_rwlock_t;   /* readers/writer lock (owned by tasks) */
typedef struct lrt_barrier lrt_barrier_t; /* n tasks meet, reusable */
typedef struct lrt_interval lrt_interval_t; /* ticks on a fixed grid */
typedef void *(*lrt_fn)(void *arg);

/* Options; a zero-initialised struct means "defaults". */
typedef struct lrt_options {
    size_t stack_size;               /* per task, default 256 KiB virtual; 16 KiB..1 GiB */
    unsigned event_interval;         /* polls between I/O checks, default 61 */
    unsigned max_blocking_threads;   /* default 512 */
    unsigned blocking_keep_alive_ms; /* default 10000 */
    unsigned stall_threshold_ms;     /* 0 = stall detector off (env LRT_STALL_MS) */
    int dump_agent;                  /* 1 = serve lrt-dump from the start (also LRT_DUMP=1
                                        in env; 0 still lets lrt-dump start it on demand,
                                        which LRT_DUMP=0 in env forbids): one thread per
                                        process for all its runtimes, with 4 fds (one kept
                                        in reserve for EMFILE) and one per client (16 at
                                        most); its snapshots take at most 5 % of a runtime
                                        thread (rationed: docs/diagnosis.md) */
    const char *dump_socket_dir;     /* NULL = $LRT_DUMP_DIR, $XDG_RUNTIME_DIR/lrt or
                                        /tmp/lrt-$UID (an agent started on demand always
                                        uses the environment's) */
    /* beyond the core contract */
    int start_paused;                /* 1 = virtual clock starting at 0: time moves only by
                                        lrt_time_advance() or, when every task waits and no
                                        I/O or blocking job is pending, jumps to the next
                                        timer (deterministic tests) */
    unsigned budget;                 /* I/O ops a poll may complete before a forced yield,
                                        default 128 */
    int driver;                      /* I/O backend, an LRT_DRIVER_* (env LRT_DRIVER=auto|
                                        epoll|uring overrides it): AUTO (0) = io_uring
                                        where the kernel lets this process set up a ring,
                                        else epoll (refused by seccomp or
                                        kernel.io_uring_disabled: the dump and the trace
                                        say why); URING = io_uring or lrt_runtime_new fails
                                        (EPERM, ENOSYS...); EPOLL = epoll.  docs/guide.md */
} lrt_options_t;

/* lrt_options_t.driver */
enum { LRT_DRIVER_AUTO = 0, LRT_DRIVER_EPOLL = 1, LRT_DRIVER_URING = 2 };

/* ---- runtime lifecycle ------------------------------------------------------------ */

/*
 * lrt_runtime_new() - create a runtime owned by the calling thread.
 * @opts may be NULL (defaults).  Returns the runtime, or NULL with errno EINVAL (bad
 * option, e.g. an absurd stack size) or ENOMEM / EMFILE.  The caller owns it and must
 * end it with lrt_runtime_free(), lrt_shutdown_timeout() or lrt_shutdown_background().
 */
LRT_EXPORT lrt_runtime_t *lrt_runtime_new(const lrt_options_t *opts);

/*
 * lrt_block_on() - run @fn(@arg) as the root task (named "main") and drive the runtime
 * until it returns.  Other tasks run meanwhile; those still alive stay in the runtime.
 * Returns 0 and stores fn's return value in @result (if not NULL); -EINVAL for NULL
 * @rt/@fn; -EPERM off the runtime thread; -EDEADLK when called from inside a task or
 * nested on the same thread; -ESHUTDOWN after shutdown began; -ENOMEM when the root
 * task's stack cannot be mapped (fn never runs).
 * Deadlock: when the root task can never be woken again, the task table is printed on
 * stderr, the root task is cancelled (its pending suspension point returns -ECANCELED)
 * and lrt_block_on waits for it to unwind and return, then returns -EDEADLK (storing
 * fn's return value in @result too).  So the root task never runs after lrt_block_on
 * returned; the other tasks stay in the runtime.
 */
LRT_EXPORT int lrt_block_on(lrt_runtime_t *rt, lrt_fn fn, void *arg, void **result);

/*
 * lrt_shutdown_timeout() - cancel every task, let them unwind, wait up to @timeout_ms
 * for them and for blocking jobs, then free @rt; returns as soon as no task and no job
 * is left (live lrt_handle_t references do not hold it up).  Tasks that never ran are
 * finished without running (lrt_spawn_with's drop runs).  Returns 0, or -ETIMEDOUT when some
 * task or job outlived the timeout (each is named on stderr; its memory is leaked on
 * purpose, a still-running blocking thread keeps only the pool's shared state alive).
 * -EINVAL for NULL, -EPERM off the runtime thread (rt is then not freed).  A task inside
 * lrt_shield_push() is not interrupted: the timeout is all it gets, and one that stays
 * shielded past it is reported and leaked like a task that never returns.
 */
LRT_EXPORT int lrt_shutdown_timeout(lrt_runtime_t *rt, uint64_t timeout_ms);

/* lrt_shutdown_background() - like lrt_shutdown_timeout(rt, 0) but silent: blocking jobs
 * finish on their own, tasks are cancelled.  Frees rt.  Runtime thread only. */
LRT_EXPORT void lrt_shutdown_background(lrt_runtime_t *rt);

/* lrt_runtime_free() - shut down waiting for everything: tasks and running blocking jobs
 * (queued jobs that never started are dropped; their joiners see -ECANCELED).  Returns as
 * soon as no task and no job is left, whatever lrt_handle_t references still exist.
 * Every lrt_task_t handle of @rt dies with it: using one afterwards is a use-after-free. */
LRT_EXPORT void lrt_runtime_free(lrt_runtime_t *rt);

/* lrt_runtime_driver() - the I/O backend @rt runs on: "io_uring" or "epoll" (static
 * strings), NULL for a NULL @rt; with @why not NULL, *@why is set to a static-lifetime
 * text valid while @rt lives saying why ("auto: io_uring works here", "auto:
 * io_uring_setup: EPERM (refused: seccomp, io_uring_disabled)").  Any thread that owns a
 * reference to @rt (the choice never changes after lrt_runtime_new). */
LRT_EXPORT const char *lrt_runtime_driver(const lrt_runtime_t *rt, const char **why);

/* lrt_enter() - make @rt current on this thread (the runtime thread); returns the
 * previous current runtime, to be given back to lrt_exit(). */
LRT_EXPORT lrt_runtime_t *lrt_enter(lrt_runtime_t *rt);
LRT_EXPORT void lrt_exit(lrt_runtime_t *prev);
/* lrt_current() - the runtime current on this thread, or NULL. */
LRT_EXPORT lrt_runtime_t *lrt_current(void);

/* lrt_strerror() - text for an errno value, negative or positive ("Success" for 0,
 * "Unknown error" for codes the C library does not know); a static string, never freed.
 * Any thread. */
LRT_EXPORT const char *lrt_strerror(int err);

/* ---- tasks ------------------------------------------------------------------------ */

/*
 * Join handles (lrt_task_t, from the spawn functions and lrt_spawn_blocking) have one
 * owner, who gives them back exactly once: lrt_join() (when it returns 0, -ECANCELED or
 * -ENOMEM: the task's own status) or lrt_task_detach().  A handle used after it was given
 * back is detected, never applied to another task (its record may hold a new task by
 * then): lrt_join() returns -EINVAL, lrt_task_is_finished() -EINVAL, lrt_task_id() 0,
 * lrt_abort() and lrt_task_detach() do nothing.  (A handle carries a 16-bit generation
 * of its record: detection fails only if the record was given back a multiple of 65536
 * times in between.)  Handles die with their runtime: using
 * one after lrt_runtime_free()/lrt_shutdown_*() is a use-after-free.
 */

/*
 * lrt_spawn_at() - spawn @fn(@arg) as a task of @rt (NULL = the current runtime), named
 * @name (NULL = "task"), with spawn location @file:@line in @func.  The strings must
 * outlive the task (string literals).  Spawning never switches: the task runs once the
 * spawner suspends or yields.  Returns a join handle owned by the caller (give it back
 * with lrt_join() or lrt_task_detach()), or NULL with errno EINVAL (NULL fn), EPERM
 * (wrong thread, or @rt NULL and no runtime current on this thread), ENOMEM, ESHUTDOWN.
 * @arg stays the caller's business: if the task never runs (aborted before its first
 * poll, or shut down), @fn never sees it -- use lrt_spawn_with() to have it cleaned up.
 * The macros below fill in name and location; the functions of the same names exist
 * too (for function pointers and other languages), with location "?".
 */
LRT_EXPORT lrt_task_t *lrt_spawn_at(lrt_runtime_t *rt, const char *name, lrt_fn fn, void *arg,
                                    const char *file, int line, const char *func);
/* lrt_spawn_local_at() - lrt_spawn_at() on an explicit runtime: NULL @rt fails (EINVAL). */
LRT_EXPORT lrt_task_t *lrt_spawn_local_at(lrt_runtime_t *rt, const char *name, lrt_fn fn, void *arg,
                                          const char *file, int line, const char *func);
LRT_EXPORT lrt_task_t *lrt_spawn_local(lrt_runtime_t *rt, lrt_fn fn, void *arg);
LRT_EXPORT lrt_task_t *lrt_spawn(lrt_fn fn, void *arg);
LRT_EXPORT lrt_task_t *lrt_spawn_named(const char *name, lrt_fn fn, void *arg);
#define lrt_spawn_local(rt, fn, arg) lrt_spawn_local_at((rt), #fn, (fn), (arg), __FILE__, __LINE__, __func__)
#define lrt_spawn(fn, arg) lrt_spawn_at(NULL, #fn, (fn), (arg), __FILE__, __LINE__, __func__)
#define lrt_spawn_named(name, fn, arg) lrt_spawn_at(NULL, (name), (fn), (arg), __FILE__, __LINE__, __func__)

/*
 * lrt_spawn_with() - spawn @fn(@arg) on the current runtime with options; @o may be NULL
 * (same as lrt_spawn) and is not kept.
 *  - name: as lrt_spawn_named (NULL = "task"); must outlive the task.
 *  - drop: if not NULL, drop(@arg) runs exactly when @fn will never run -- the task was
 *    aborted before its first poll, the runtime shut down (or was freed) before it ran,
 *    or no stack could be mapped for it (its join then returns -ENOMEM).  It runs on the
 *    runtime thread, outside any task (a suspension point called from it returns -EPERM),
 *    before the joiner is woken.  Once @fn has started, @arg is @fn's alone.  (A shutdown
 *    that times out leaks the runtime with the tasks it could not finish, drops and
 *    args included.)
 *  - stack_size: 0, or the least stack the task needs.  Every stack of a runtime has the
 *    runtime's size (lrt_options.stack_size): a larger request fails with EINVAL (raise
 *    the runtime's size instead); a smaller one is met by the runtime's size.
 * Returns a join handle as lrt_spawn_at(), or NULL with errno EINVAL (NULL fn, stack_size
 * above the runtime's), EPERM, ENOMEM, ESHUTDOWN.  When spawning fails, drop is not
 * called: @arg is still the caller's.  The macro records the spawn location and names
 * the task after @fn when @o gives no name.
 */
typedef struct lrt_spawn_opts {
    const char *name;
    void (*drop)(void *arg);
    size_t stack_size;
} lrt_spawn_opts_t;
LRT_EXPORT lrt_task_t *lrt_spawn_with(const lrt_spawn_opts_t *o, lrt_fn fn, void *arg);
/* lrt_spawn_with_at() - the function behind the macro; @dflt_name is used when @o has no
 * name. */
LRT_EXPORT lrt_task_t *lrt_spawn_with_at(const lrt_spawn_opts_t *o, lrt_fn fn, void *arg,
                                         const char *dflt_name, const char *file, int line,
                                         const char *func);
#define lrt_spawn_with(o, fn, arg) lrt_spawn_with_at((o), (fn), (arg), #fn, __FILE__, __LINE__, __func__)

/*
 * lrt_join() - (suspends) wait for @t to finish, then release the handle.  @t's status:
 *  - 0, storing @t's return value in @result (if not NULL): @t returned without being
 *    told of an abort -- also when lrt_abort() came while it ran and it returned before
 *    reaching a suspension point (it completed; its result is not lost);
 *  - -ECANCELED, still storing the return value: @t returned after a suspension point
 *    gave it -ECANCELED (it unwound; what it returned is the joiner's to free);
 *  - -ECANCELED, @result untouched: @t never ran (aborted before its first poll, or a
 *    blocking job dropped before a thread took it);
 *  - -ENOMEM, @result untouched: no stack could be mapped for @t, it never ran (a
 *    blocking job: -EAGAIN or -ENOMEM when no pool thread could be started).
 * In these cases the handle is released.  Errors of the call itself, handle kept:
 * -ECANCELED if the *caller* is cancelled while waiting (join again or detach); -EPERM
 * outside a task; -EINVAL for NULL, for joining oneself, for a handle another task is
 * joining, or for a handle already given back (nothing is done).
 */
LRT_EXPORT int lrt_join(lrt_task_t *t, void **result);

/* lrt_join_timeout() - lrt_join() giving up after @timeout_ms with -ETIMEDOUT (handle
 * kept).  */
LRT_EXPORT int lrt_join_timeout(lrt_task_t *t, void **result, int64_t timeout_ms);

/* lrt_abort() - request cancellation: @t's current and every later suspension point
 * returns -ECANCELED.  A task that has not started yet never runs (its lrt_spawn_with
 * drop runs instead).  A task that returns after the abort has its result delivered to
 * lrt_join() as usual.  Does not release the handle.  No-op on finished tasks, blocking
 * jobs that already started, and handles already given back. */
LRT_EXPORT void lrt_abort(lrt_task_t *t);
/* 1 once @t has finished (returned, or never ran), 0 before; -EINVAL for a handle
 * already given back. */
LRT_EXPORT int lrt_task_is_finished(const lrt_task_t *t);
/* lrt_task_detach() - give the handle back; the task runs on.  No-op for NULL, for a
 * handle already given back, and while another task is joining it. */
LRT_EXPORT void lrt_task_detach(lrt_task_t *t);
/* lrt_task_id() - unique id (never reused); for a blocking job, its job id.  0 for NULL
 * or a handle already given back. */
LRT_EXPORT uint64_t lrt_task_id(const lrt_task_t *t);
/* lrt_task_self_id() - id of the running task, 0 outside a task. */
LRT_EXPORT uint64_t lrt_task_self_id(void);
/* lrt_task_set_name() - rename the running task; @name must outlive the task. */
LRT_EXPORT int lrt_task_set_name(const char *name);

/* ---- task groups ------------------------------------------------------------------ */
/*
 * A group holds the join handles of the tasks spawned into it and hands them back in
 * completion order.  Runtime thread only (EPERM / -EPERM elsewhere); a group belongs to
 * the runtime that created it.  Each member shows its group (name, id) in the dump.
 */
typedef struct lrt_group lrt_group_t;
/* lrt_group_new() - an empty group named @name (copied; NULL = "group").  Free it with
 * lrt_group_free().  NULL with errno EPERM off a runtime thread, ENOMEM. */
LRT_EXPORT lrt_group_t *lrt_group_new(const char *name);
/* lrt_group_spawn() - lrt_spawn() into @g (a macro: records the name and location).
 * The group keeps the handle: the caller may use it for lrt_task_id(), lrt_abort() and
 * lrt_task_is_finished() until lrt_group_join_next() returns the task, but must not join
 * or detach it (lrt_join() on it returns -EINVAL, lrt_task_detach() is a no-op).  NULL
 * with errno as lrt_spawn_at(), or EINVAL for a NULL @g, EPERM for another runtime's. */
LRT_EXPORT lrt_task_t *lrt_group_spawn(lrt_group_t *g, lrt_fn fn, void *arg);
/* lrt_group_spawn_at() - the function behind the macro; @name as lrt_spawn_at(). */
LRT_EXPORT lrt_task_t *lrt_group_spawn_at(lrt_group_t *g, const char *name, lrt_fn fn, void *arg,
                                          const char *file, int line, const char *func);
#define lrt_group_spawn(g, fn, arg) lrt_group_spawn_at((g), #fn, (fn), (arg), __FILE__, __LINE__, __func__)
/* lrt_group_join_next() - (suspends) the next member to finish, in completion order: its
 * id in @task_id and its result in @result (each if not NULL, as lrt_join() delivers
 * them), and its own join status (0, -ECANCELED, -ENOMEM as lrt_join()); its handle is
 * released.  Else, nothing taken: -ECHILD when the group is empty, -ETIMEDOUT after
 * @timeout_ms (< 0: none, 0: poll), -ECANCELED if the caller is aborted while waiting (a
 * member that finished meanwhile stays in the group), -EPERM outside a task, -EINVAL for
 * a NULL group or another runtime's. */
LRT_EXPORT int lrt_group_join_next(lrt_group_t *g, uint64_t *task_id, void **result, int64_t timeout_ms);
/* lrt_group_abort_all() - lrt_abort() every member that has not finished.  Does not
 * wait; members spawned later are not affected.  No-op for NULL. */
LRT_EXPORT void lrt_group_abort_all(lrt_group_t *g);
/* lrt_group_len() - members not yet returned by lrt_group_join_next() (running or
 * finished); 0 for NULL. */
LRT_EXPORT size_t lrt_group_len(const lrt_group_t *g);
/* lrt_group_free() - (suspends) abort every member left, wait until each has finished
 * (also one that ignores the abort for a while), release them (their results are
 * dropped: free what they own before, via join_next), then free @g.  An abort of the
 * caller does not cut the wait short: it is kept for its next suspension point.  Returns
 * 0 (also for NULL), -EPERM outside a task, -EINVAL for another runtime's group, -EBUSY
 * while a task waits in lrt_group_join_next() on @g, -EDEADLK when called by a member of
 * @g (nothing done in these three). */
LRT_EXPORT int lrt_group_free(lrt_group_t *g);

/* lrt_yield() - (suspends) let every other runnable task run once, then continue.
 * Returns 0, or -ECANCELED / -ETIMEDOUT (scope) / -EPERM as a suspension point. */
LRT_EXPORT int lrt_yield(void);

/* ---- time ------------------------------------------------------------------------- */

/* lrt_sleep_ms() / lrt_sleep_ns() / lrt_sleep_until() - (suspend) never wake early.
 * 0, -ECANCELED, or -EPERM outside a task or off the runtime thread. */
LRT_EXPORT int lrt_sleep_ms(uint64_t ms);
LRT_EXPORT int lrt_sleep_ns(uint64_t ns);
LRT_EXPORT int lrt_sleep_until(uint64_t deadline_ns);
/* lrt_now_ns() - the current runtime's clock (CLOCK_MONOTONIC ns, or the virtual clock
 * with start_paused); CLOCK_MONOTONIC on threads without a runtime. */
LRT_EXPORT uint64_t lrt_now_ns(void);
/* lrt_time_advance() - move a start_paused runtime's clock forward by @ns and fire the
 * timers that became due.  -EINVAL if the runtime is not paused. */
LRT_EXPORT int lrt_time_advance(uint64_t ns);

/* ---- deadline and shield scopes (per task, nestable; running task only) ----------- */

/*
 * lrt_deadline_push() - until the matching pop, every suspension point of the running
 * task (I/O waits, joins, channels, sync, sleeps, yields) returns -ETIMEDOUT once
 * @deadline_ns (lrt_now_ns() clock) has passed: a wait in progress is woken at the
 * deadline (a sleep too, which on its own deadline returns 0), and one entered after it
 * goes through the scheduler once and returns -ETIMEDOUT at once.  A wait that was handed
 * its resource first keeps it (0); one that timed out took nothing.  Nested scopes: the
 * earliest deadline wins.  A deadline at or beyond the horizon (UINT64_MAX) is no
 * deadline.  A cancelled task gets -ECANCELED rather than -ETIMEDOUT.
 * Returns a token >= 0 for lrt_deadline_pop, -ENOMEM, -EPERM outside a task.
 * lrt_timeout_push() - the same with now + @ms (< 0 or huge: no deadline, never "already
 * expired"; 0: expired now).
 * lrt_deadline_pop() - pops the scope of @token and every scope pushed after it
 * (deadline or shield); 0, -EINVAL if @token is not a deadline scope on this task's
 * stack (already popped, a shield's, another task's), -EPERM outside a task.
 * Scopes still pushed when the task returns are freed with it.
 */
LRT_EXPORT int lrt_deadline_push(uint64_t deadline_ns);
LRT_EXPORT int lrt_timeout_push(int64_t ms);
LRT_EXPORT int lrt_deadline_pop(int token);
/*
 * lrt_shield_push() - until the matching pop, lrt_abort() and shutdown do not interrupt
 * the running task's waits, so it can flush, say goodbye and close after a cancel; the
 * cancellation stays pending and takes effect (-ECANCELED) at the first suspension point
 * after the last shield is popped.  Pushed after the task was cancelled, it suspends the
 * cancellation the same way.  Deadline scopes still apply inside.  A task that stays
 * shielded forever also outlives lrt_shutdown_timeout(): it is reported as a task that
 * did not finish, and -ETIMEDOUT is returned.  A deadlocked lrt_block_on task (-EDEADLK)
 * is cancelled through its shields: nothing could ever complete the waits they protect.
 * Returns a token >= 0, -ENOMEM, -EPERM outside a task.
 * lrt_shield_pop() - pops the shield of @token and every scope pushed after it; 0,
 * -EINVAL if @token is not a shield on this task's stack, -EPERM outside a task.
 */
LRT_EXPORT int lrt_shield_push(void);
LRT_EXPORT int lrt_shield_pop(int token);

/* ---- I/O (suspends; the fd is registered on first use) ------------------------------ */

/*
 * lrt_read() / lrt_write() - one read or write that suspends the task, never the thread,
 * until the fd is ready.  Return the byte count (0 = EOF), or -errno (-EBADF bad/closed
 * fd, -ECANCELED, -ECONNRESET, ...).  Sockets never raise SIGPIPE (-EPIPE instead).
 * Task only (-EPERM elsewhere).  The caller keeps owning @fd; close it with lrt_close().
 *
 * File status flags: lrt does not leave O_NONBLOCK on a file description it found
 * blocking, so stdin/stdout/stderr, inherited pipes and terminals stay as the next
 * program sharing them expects.  A blocking socket is read and written with MSG_DONTWAIT;
 * a blocking pipe, FIFO or terminal through a private non-blocking description of the
 * same object (one extra fd, close-on-exec, closed by lrt_close() or at runtime free);
 * regular files are left alone (they are always ready).  A pipe or terminal that /proc
 * cannot reopen (another uid's, after a privilege drop such as `sudo -u`) gets
 * O_NONBLOCK only for the length of each read or write syscall.  Only where none works
 * (lrt_accept()/lrt_connect() on a blocking socket, a blocking eventfd, a pty master,
 * other character devices) lrt sets O_NONBLOCK and clears it again in lrt_close() and at
 * runtime free: a process killed before that leaves it set, so create such fds with
 * SOCK_NONBLOCK / EFD_NONBLOCK / O_NONBLOCK.  A write to a full pipe whose reader is slow
 * suspends the task until the reader makes room; the thread keeps running other tasks.
 */
LRT_EXPORT ssize_t lrt_read(int fd, void *buf, size_t n);
LRT_EXPORT ssize_t lrt_write(int fd, const void *buf, size_t n);
/* lrt_write_all() - write all @n bytes; returns @n or -errno.  On an error (a deadline
 * scope's -ETIMEDOUT, -ECANCELED, ...) a prefix of @buf may already have been written and
 * its length is not reported: the stream is cut mid-message.  Loop on lrt_write() to
 * know how much went out. */
LRT_EXPORT ssize_t lrt_write_all(int fd, const void *buf, size_t n);
/* Same with a timeout (<0 = none): -ETIMEDOUT when nothing could be done in time. */
LRT_EXPORT ssize_t lrt_read_timeout(int fd, void *buf, size_t n, int64_t timeout_ms);
LRT_EXPORT ssize_t lrt_write_timeout(int fd, const void *buf, size_t n, int64_t timeout_ms);
/* lrt_accept() - new connection fd (non-blocking, close-on-exec) or -errno. */
LRT_EXPORT int lrt_accept(int fd, struct sockaddr *sa, socklen_t *len);
LRT_EXPORT int lrt_accept_timeout(int fd, struct sockaddr *sa, socklen_t *len, int64_t timeout_ms);
/* lrt_connect() - 0 once connected, or -errno (-ECONNREFUSED, ...). */
LRT_EXPORT int lrt_connect(int fd, const struct sockaddr *sa, socklen_t len);
LRT_EXPORT int lrt_connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms);
/* lrt_wait_fd() - wait for EPOLLIN/EPOLLOUT on @fd; returns the ready events mask (>0,
 * may include EPOLLHUP/EPOLLERR/EPOLLRDHUP), -ETIMEDOUT, -EBADF, -ECANCELED.
 * @timeout_ms < 0 = none. */
LRT_EXPORT int lrt_wait_fd(int fd, uint32_t events, int64_t timeout_ms);
/* lrt_close() - deregister @fd (close lrt's private description of it, clear the
 * O_NONBLOCK lrt set on it, see lrt_read()), wake its waiters with -EBADF, close it.
 * 0 or -errno.  Also usable on fds lrt never saw. */
LRT_EXPORT int lrt_close(int fd);

/* ---- datagrams (suspends; the socket is registered on first use, like lrt_read) ---- */

/*
 * lrt_recvfrom() / lrt_sendto() / lrt_recvmsg() / lrt_sendmsg() - recvfrom(2), sendto(2),
 * recvmsg(2), sendmsg(2) that suspend the task, never the thread, until the socket is
 * ready.  Return what the syscall returns (bytes; 0 is a zero-length datagram on a
 * datagram socket, EOF on a stream socket) or -errno: -ECONNREFUSED on a connected UDP
 * socket after an earlier datagram met a closed port (the error is reported once, by
 * the next receive or send), -EMSGSIZE, -ENOTSOCK, -EBADF, -ECANCELED, -ETIMEDOUT (the
 * _timeout forms, deadline scopes).  @flags are the syscall's: MSG_TRUNC makes the
 * receive return the datagram's real length even when it was cut to @n (recvmsg also
 * sets MSG_TRUNC in m->msg_flags); MSG_PEEK, MSG_ERRQUEUE, MSG_CMSG_CLOEXEC work as
 * documented there; MSG_DONTWAIT means "do not suspend" (-EAGAIN when not ready); lrt
 * adds MSG_DONTWAIT to every attempt and MSG_NOSIGNAL to sends (no SIGPIPE, -EPIPE),
 * so MSG_WAITALL has no effect (use lrt_read_exact()).  @buf, @sa, @len and @m are the
 * caller's and must stay valid until the call returns (-EFAULT for a NULL @m).  Task on
 * the runtime thread only (-EPERM elsewhere); @fd stays the caller's: lrt_close() it.
 */
LRT_EXPORT ssize_t lrt_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len);
LRT_EXPORT ssize_t lrt_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len);
LRT_EXPORT ssize_t lrt_recvmsg(int fd, struct msghdr *m, int flags);
LRT_EXPORT ssize_t lrt_sendmsg(int fd, const struct msghdr *m, int flags);
/* Same with a timeout (<0 = none): -ETIMEDOUT when nothing could be done in time. */
LRT_EXPORT ssize_t lrt_recvfrom_timeout(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len, int64_t timeout_ms);
LRT_EXPORT ssize_t lrt_sendto_timeout(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms);
LRT_EXPORT ssize_t lrt_recvmsg_timeout(int fd, struct msghdr *m, int flags, int64_t timeout_ms);
LRT_EXPORT ssize_t lrt_sendmsg_timeout(int fd, const struct msghdr *m, int flags, int64_t timeout_ms);

/* ---- exact and buffered reads (suspends) --------------------------------------------- */

/*
 * lrt_read_exact() - read exactly @n bytes from @fd (repeated lrt_read()).  Returns @n,
 * -EPIPE when EOF comes first, or another -errno (-ECANCELED, -ETIMEDOUT, ...).  On an
 * error after a partial read the bytes received are in @buf[0 .. k) but k is not
 * reported: the stream is cut mid-message (the exact read of a lrt_reader_t keeps them
 * instead).  @n == 0 returns 0 at once; -EINVAL beyond SSIZE_MAX.  Task on the runtime
 * thread only.
 * The _timeout form bounds the whole call (one deadline over all its reads).
 */
LRT_EXPORT ssize_t lrt_read_exact(int fd, void *buf, size_t n);
LRT_EXPORT ssize_t lrt_read_exact_timeout(int fd, void *buf, size_t n, int64_t timeout_ms);

typedef struct lrt_reader lrt_reader_t; /* buffered reader over an fd (one task at a time) */

/*
 * lrt_reader_new() - a buffered reader over @fd whose lines may be up to @bufsize bytes
 * long (not counting the '\n').  The buffer starts at 4 KiB (less for a smaller
 * @bufsize) and grows only as far as a long line or exact read needs, up to @bufsize + 1
 * bytes.  The reader does not own @fd: lrt_reader_free() leaves it open, close it
 * with lrt_close().  NULL with errno EINVAL (@fd < 0, @bufsize 0 or beyond SSIZE_MAX - 2)
 * or ENOMEM.  Any thread; the reads below: a task on the runtime thread, one task at a
 * time per reader (a second task calling while the first is suspended in it gets -EBUSY).
 * lrt_reader_free(NULL) does nothing.
 */
LRT_EXPORT lrt_reader_t *lrt_reader_new(int fd, size_t bufsize);
LRT_EXPORT void lrt_reader_free(lrt_reader_t *r);

/*
 * lrt_read_line() - the next line, without its '\n'.  Returns its length and sets *@line
 * to it, NUL-terminated (the length counts any NUL inside), in the reader's buffer, valid
 * until the next call on @r; the caller may change its n + 1 bytes in place (split it
 * into words, put the '\n' back before writing it out).  Every other byte is kept as it came: a "\r\n" line ends in
 * '\r' (drop it with `if (n > 0 && line[n-1] == '\r') line[--n] = 0;`).
 *  - 0 with *@line NULL at EOF.  An empty line also returns 0, with *@line pointing at
 *    "": test *@line, not the count, for EOF.  A last line without '\n' is returned
 *    as a line before EOF is.  EOF is reported once (a terminal may deliver more).
 *  - -EMSGSIZE when the line is longer than the reader's @bufsize.  Nothing is consumed:
 *    the next lrt_read_line() discards that line up to and including its '\n' (reading
 *    as far as it must) and returns the line after it; or lrt_reader_read() takes the
 *    over-long line's bytes as they are.
 *  - -ETIMEDOUT (the _timeout form, one deadline over the whole call; deadline scopes),
 *    -ECANCELED, -ENOMEM, a read error (-ECONNRESET, -EBADF, ...): *@line is NULL and the
 *    bytes already read stay in the reader, so the next call goes on where this one
 *    stopped.  -EBUSY, -EINVAL (NULL @r or @line).
 */
LRT_EXPORT ssize_t lrt_read_line(lrt_reader_t *r, char **line);
LRT_EXPORT ssize_t lrt_read_line_timeout(lrt_reader_t *r, char **line, int64_t timeout_ms);
/*
 * lrt_reader_read() - like lrt_read() on the reader: the buffered bytes first (no
 * syscall while there are any), then one read.  Returns 1..@n, 0 at EOF, -errno.
 * A protocol that mixes lines and raw bytes (a RESP bulk body, an HTTP body) reads both
 * through the same reader, never from the fd directly (bytes may be buffered).
 */
LRT_EXPORT ssize_t lrt_reader_read(lrt_reader_t *r, void *buf, size_t n);
LRT_EXPORT ssize_t lrt_reader_read_timeout(lrt_reader_t *r, void *buf, size_t n, int64_t timeout_ms);
/*
 * lrt_reader_read_exact() - exactly @n bytes: returns @n, -EPIPE when EOF comes first,
 * or -errno.  When @n <= the reader's @bufsize the bytes gather in the reader's buffer
 * (reads ahead, so a pipelining peer's next request usually comes in the same read) and
 * on any error nothing is consumed: lrt_reader_buffered() says how many bytes arrived
 * and the next call sees them again.  A larger @n copies the buffered bytes, then reads
 * the rest straight into @buf (one copy fewer), and an error loses the count like
 * lrt_read_exact().  The _timeout form bounds the whole call.
 */
LRT_EXPORT ssize_t lrt_reader_read_exact(lrt_reader_t *r, void *buf, size_t n);
LRT_EXPORT ssize_t lrt_reader_read_exact_timeout(lrt_reader_t *r, void *buf, size_t n, int64_t timeout_ms);
/*
 * lrt_reader_buffered() - bytes read from the fd and not handed out yet (0 for NULL).
 * A pipelining server answers every request already buffered, then flushes its replies
 * in one write when this is 0 (the next read would suspend).  Buffered bytes do not make
 * the fd readable: check this before waiting on the fd itself (lrt_wait_fd(),
 * lrt_sel_readable()).  Any thread that owns @r.
 */
LRT_EXPORT size_t lrt_reader_buffered(const lrt_reader_t *r);

/* ---- blocking pool ---------------------------------------------------------------- */

/*
 * lrt_spawn_blocking() - run @fn(@arg) on a pool thread.  Returns a join handle (join it
 * with lrt_join() from a task, or detach it); NULL with errno EINVAL/EPERM/ENOMEM/
 * ESHUTDOWN.  Runtime thread only.  Jobs are handed to the threads when the submitting
 * task next yields or suspends (one lock for a burst of submits).  lrt_abort() on a job
 * no thread has taken yet drops it (-ECANCELED on join).  If no pool thread can be
 * started at all, join returns -EAGAIN or -ENOMEM.
 *
 * @arg must stay valid until @fn returns, whoever stops waiting for it: a running job
 * cannot be interrupted, so after lrt_abort() of the job or of the task joining it (its
 * lrt_join() returns -ECANCELED), after lrt_task_detach(), and after a shutdown that gave
 * up on it, @fn still runs and still reads and writes @arg.  An @arg on the joining
 * task's stack is then a use-after-free in a stack that another task already reuses:
 * give such jobs heap memory, with lrt_spawn_blocking_owned().
 */
LRT_EXPORT lrt_task_t *lrt_spawn_blocking(lrt_fn fn, void *arg);

/*
 * lrt_spawn_blocking_owned() - lrt_spawn_blocking() for a job that owns @arg: @drop(@arg)
 * runs exactly once when the job ends, however it ends:
 *  - on the pool thread right after @fn returns (also when the joiner was aborted, the
 *    handle detached, or the runtime shut down and gave up waiting: then possibly after
 *    the runtime was freed);
 *  - on the runtime thread when the job never runs: lrt_abort() before a thread took it
 *    (inside lrt_abort()), queued jobs dropped by shutdown, no pool thread could start;
 *  - before this call returns when it fails (NULL with errno as lrt_spawn_blocking(),
 *    EINVAL for a NULL @fn, ENOMEM), on the calling thread.
 * Only a process that exits while @fn runs skips it.  @drop may thus run on any thread
 * and must not call runtime-thread-only lrt functions.  A NULL @drop makes this
 * lrt_spawn_blocking().
 *
 * The result: @fn's return value goes to lrt_join() as for lrt_spawn_blocking(); lrt
 * never frees it.  When nobody joins (detached, or the joiner was aborted and detached
 * the handle) it is discarded unread; a job that never ran has no result (join gives
 * -ECANCELED / -EAGAIN / -ENOMEM).  So return values that own memory only from jobs that
 * are always joined; otherwise put the output in @arg, shared with the joiner under a
 * reference count that @drop releases (the job's reference) and the joiner releases
 * after reading it (tests/test_blocking.c, owned_*).
 */
LRT_EXPORT lrt_task_t *lrt_spawn_blocking_owned(lrt_fn fn, void *arg, void (*drop)(void *arg));

/* ---- child processes (posix_spawn + pidfd; no SIGCHLD handler) -------------------- */

/* What a child's stdin/stdout/stderr is: the parent's (INHERIT, the default), /dev/null
 * (NULL), or a new pipe whose parent end lrt_process_stdin/stdout/stderr() returns. */
enum { LRT_STDIO_INHERIT = 0, LRT_STDIO_NULL, LRT_STDIO_PIPE };
/* Options of lrt_process_spawn(); zero-initialise, then set what differs.  @envp: the
 * child's environment (NULL = the parent's environ); @cwd: its working directory (NULL =
 * the parent's; a relative @path is then looked up from @cwd). */
typedef struct lrt_process_opts {
    char *const *envp;
    const char *cwd;
    int stdin_mode, stdout_mode, stderr_mode;
} lrt_process_opts_t;
typedef struct lrt_process lrt_process_t;

/*
 * lrt_process_spawn() - start @path with @argv (NULL-terminated; NULL = { @path, NULL })
 * and options @o (NULL = inherit everything).  A @path without '/' is searched in the
 * parent's PATH.
 * Returns the process, owned by the caller until lrt_process_free(); NULL with errno:
 * EINVAL (NULL @path, empty @argv, a bad mode), ENOENT/EACCES/... (posix_spawn's answer:
 * no such program, a bad @cwd), EMFILE/ENFILE (out of fds: nothing is left open and no
 * child survives), ENOMEM.  Any thread: it does not suspend (posix_spawn returns once the
 * child has exec'd, well under a millisecond).
 *
 * The child gets its stdio as @o says and no other fd (any fd 3 and up is closed in the
 * child, close-on-exec or not), an empty signal mask and default dispositions for every
 * signal (also those the parent ignores or blocks for lrt_signal_open()).  A pipe's
 * parent end is non-blocking and close-on-exec, an ordinary fd for lrt_read()/
 * lrt_write()/lrt_wait_fd(); the child's end is blocking, and closed in the parent.
 */
LRT_EXPORT lrt_process_t *lrt_process_spawn(const char *path, char *const argv[], const lrt_process_opts_t *o);
/* lrt_process_stdin() / _stdout() / _stderr() - the parent's end of that pipe, or -1
 * (not a pipe, or NULL @p).  Owned by @p: lrt_process_free() closes it; to signal EOF to
 * the child earlier, lrt_close() it yourself and do not use it again.  Any thread. */
LRT_EXPORT int lrt_process_stdin(const lrt_process_t *p);
LRT_EXPORT int lrt_process_stdout(const lrt_process_t *p);
LRT_EXPORT int lrt_process_stderr(const lrt_process_t *p);
/* lrt_process_pid() - the child's pid (-1 for NULL).  Any thread.  Signal it with
 * lrt_process_kill(), not kill(2): the pid may be reused once the child is reaped. */
LRT_EXPORT pid_t lrt_process_pid(const lrt_process_t *p);
/*
 * lrt_process_wait() - wait for the child to exit and reap it (suspends; the dump shows
 * "process <pid> <argv0>").  Returns 0 with *@wstatus (may be NULL) in waitpid's encoding
 * (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG), -ETIMEDOUT after @timeout_ms (< 0 =
 * none, 0 = just look), -ECANCELED, -ECHILD once it was reaped (by an earlier wait, or by
 * someone else: SIGCHLD set to SIG_IGN, a waitpid(-1) elsewhere), -EINVAL for NULL @p,
 * -EPERM outside a task.  After -ETIMEDOUT or -ECANCELED the child is not reaped and may
 * be waited for again.  Several tasks may wait at once; one gets the status, the others
 * -ECHILD.  Task only.
 */
LRT_EXPORT int lrt_process_wait(lrt_process_t *p, int *wstatus, int64_t timeout_ms);
/* lrt_process_kill() - send @sig to the child (pidfd_send_signal: never to a process that
 * reused its pid).  0, -ESRCH once reaped, -EINVAL (bad @sig, NULL @p), -EPERM.  Any
 * thread. */
LRT_EXPORT int lrt_process_kill(lrt_process_t *p, int sig);
/*
 * lrt_process_free() - close the pipes and release @p (NULL is a no-op).  Never leaves a
 * zombie, never blocks and never kills: a child that still runs is handed to lrt's
 * reaper thread (process-wide, alive only while it has children to reap), which reaps it
 * when it exits, also after the runtime was freed.  To stop the child, lrt_process_kill()
 * then lrt_process_wait() first.  Call it where the runtime whose tasks used @p is
 * current (in a task, or between lrt_enter() and lrt_exit()): its fds may be registered
 * there and are closed with lrt_close(); or on any thread when no runtime used them or
 * that runtime was freed.  Never while a task still waits on @p.
 */
LRT_EXPORT void lrt_process_free(lrt_process_t *p);

/* ---- names and TCP helpers (lookups off the runtime thread) ------------------------ */

struct addrinfo; /* <netdb.h> */

/*
 * lrt_getaddrinfo() - (suspends) getaddrinfo(3) run on the blocking pool, waiting at
 * most @timeout_ms (< 0 or huge: no timeout; 0: fail at once unless no lookup is
 * needed).  @node or @service may be NULL (not both); @hints as getaddrinfo's (only
 * ai_flags/family/socktype/protocol are read, NULL = its defaults).  Returns 0 and the
 * list in *@res (the caller's: free it with freeaddrinfo()), else *@res = NULL and:
 *  - -ENOENT: no such name, or no address of the asked family (EAI_NONAME, EAI_NODATA,
 *    EAI_ADDRFAMILY); -EAGAIN: temporary failure, try again (EAI_AGAIN); -EIO: the name
 *    server failed for good (EAI_FAIL, and any code unknown to lrt); -EINVAL: unknown
 *    service or bad flags (EAI_SERVICE, EAI_BADFLAGS); -EAFNOSUPPORT (EAI_FAMILY);
 *    -ESOCKTNOSUPPORT (EAI_SOCKTYPE); -ENOMEM (EAI_MEMORY); the system error for
 *    EAI_SYSTEM.  lrt_strerror() has the text.
 *  - -ETIMEDOUT after @timeout_ms, -ECANCELED when aborted (or a deadline scope's
 *    -ETIMEDOUT).  The lookup then goes on in the background on its pool thread (a
 *    running getaddrinfo cannot be stopped; one still queued is dropped) and its answer
 *    is freed when it ends: nothing is ever written into the caller's memory once the
 *    call returned.  An answer that arrived before the task ran again is delivered
 *    (0) even so.
 *  - -EINVAL for a NULL @res or both @node and @service NULL, -EPERM off the runtime
 *    thread or (when a lookup is needed) outside a task, -ESHUTDOWN, -EAGAIN/-ENOMEM
 *    when no pool thread can start.
 * A numeric host (or NULL) with a numeric port (or NULL) needs no lookup: answered at
 * once without the pool or a suspension.  While it waits the dump shows "dns <node>".
 */
LRT_EXPORT int lrt_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res, int64_t timeout_ms);

/*
 * lrt_tcp_connect() - (suspends) resolve @host:@port (lrt_getaddrinfo, any family) and
 * connect to each address in turn until one accepts, all within @timeout_ms (< 0: none;
 * 0: -ETIMEDOUT at once).  Each attempt gets an equal share of the time left, at least
 * 2 s when that much is left (as Go's dialer), so one silent address does not use up
 * the budget of the others.  Returns the connected socket (non-blocking, close-on-exec;
 * the caller's, close it with lrt_close()), or: -ETIMEDOUT once the time is up, the
 * last address's error otherwise (-ECONNREFUSED, -ENETUNREACH, ...), the lookup's error
 * (lrt_getaddrinfo), -ECANCELED, -EINVAL for NULL @host/@port, -EPERM outside a task.
 */
LRT_EXPORT int lrt_tcp_connect(const char *host, const char *port, int64_t timeout_ms);

/*
 * lrt_tcp_listen() - a listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR)
 * on @host:@port, the caller's (lrt_close() it).  @host NULL = every address: one
 * dual-stack socket on "::" (IPv4 clients too), or 0.0.0.0 where the kernel has no IPv6;
 * else the first of @host's addresses that binds.  @port "0" picks a free port (read it
 * with getsockname()).  @backlog < 0 = SOMAXCONN.  Returns the fd, the error of the
 * last address tried (-EADDRINUSE, -EACCES, ...), a lookup error as lrt_getaddrinfo()
 * (suspends only when @host or @port is a name, in a task), -EINVAL for a NULL @port.
 * Runtime thread.
 */
LRT_EXPORT int lrt_tcp_listen(const char *host, const char *port, int backlog);

/* ---- files (on the blocking pool; the task waits for the job, even when aborted) --- */

struct stat; /* <sys/stat.h> */

/*
 * lrt_open() / lrt_pread() / lrt_pwrite() / lrt_fsync() / lrt_stat() - (suspend) the
 * syscall of the same name run on the blocking pool, so a slow disk stalls a pool
 * thread, not the runtime.  Results as the syscall's, as a negative errno: lrt_open the
 * new fd (O_CLOEXEC is always added) or -ENOENT, -EACCES, ...; lrt_pread the bytes
 * read (short at end of file, 0 past it), lrt_pwrite the bytes written (may be short),
 * lrt_fsync and lrt_stat 0 (*@st filled); -EBADF for a bad fd, -EINVAL for a NULL path
 * or @st, a count above SSIZE_MAX or a negative offset.  In a task only (-EPERM).
 *
 * Buffers stay valid: @buf, @path and @st are used by a pool thread while the task
 * waits, and the task does not return before that job has ended -- also when it is
 * aborted, hits a deadline scope or its runtime shuts down meanwhile.  If the job had
 * not started it is dropped and the call returns -ECANCELED (or -ETIMEDOUT) having done
 * nothing; if it had, the call returns its real result and the abort is seen at the
 * task's next suspension point (the first wake wins).  No timeout: a file operation
 * runs to its end (use a deadline scope to bound the wait for a pool thread).  While
 * it waits the dump shows "file pread fd 5", "file open /etc/hosts".
 */
LRT_EXPORT int lrt_open(const char *path, int flags, mode_t mode);
LRT_EXPORT ssize_t lrt_pread(int fd, void *buf, size_t n, off_t off);
LRT_EXPORT ssize_t lrt_pwrite(int fd, const void *buf, size_t n, off_t off);
LRT_EXPORT int lrt_fsync(int fd);
LRT_EXPORT int lrt_stat(const char *path, struct stat *st);

/* ---- cross-thread handle ---------------------------------------------------------- */

/* lrt_runtime_handle() - new reference to @rt's handle (runtime thread).  NULL/errno. */
LRT_EXPORT lrt_handle_t *lrt_runtime_handle(lrt_runtime_t *rt);
/* lrt_handle_spawn() - any thread: run @fn(@arg) as a detached task of the runtime.
 * 0, -EINVAL, -ENOMEM, or -ESHUTDOWN once the runtime shut down. */
LRT_EXPORT int lrt_handle_spawn(lrt_handle_t *h, lrt_fn fn, void *arg);
/* lrt_handle_clone() / lrt_handle_release() - any thread. */
LRT_EXPORT lrt_handle_t *lrt_handle_clone(lrt_handle_t *h);
LRT_EXPORT void lrt_handle_release(lrt_handle_t *h);

/* ---- sync (task side suspends; all objects belong to one runtime's thread) -------- */

/*
 * Channel of void * messages (NULL is a valid message), FIFO, multi-producer
 * multi-consumer on the runtime thread.  capacity 0 = unbounded (send never suspends).
 * lrt_chan_send: 0, -EPIPE if closed, -ECANCELED.
 * lrt_chan_recv: 0, -EPIPE when closed and drained, -ECANCELED.
 * lrt_chan_try_send / try_recv: -EAGAIN instead of suspending.
 * lrt_chan_close: idempotent; waiting senders get -EPIPE, receivers drain what is left,
 * then get -EPIPE.  lrt_chan_free: close + free; -EBUSY if a task still waits on it.
 */
LRT_EXPORT lrt_chan_t *lrt_chan_new(size_t capacity);
LRT_EXPORT int lrt_chan_send(lrt_chan_t *c, void *msg);
/* lrt_chan_send_timeout() - send, waiting at most @timeout_ms for room (< 0 or huge: no
 * timeout; 0: never wait).  -ETIMEDOUT when it expired: the message was not sent and is
 * still the caller's.  Otherwise as lrt_chan_send. */
LRT_EXPORT int lrt_chan_send_timeout(lrt_chan_t *c, void *msg, int64_t timeout_ms);
LRT_EXPORT int lrt_chan_recv(lrt_chan_t *c, void **msg);
LRT_EXPORT int lrt_chan_recv_timeout(lrt_chan_t *c, void **msg, int64_t timeout_ms);
LRT_EXPORT int lrt_chan_try_send(lrt_chan_t *c, void *msg);
LRT_EXPORT int lrt_chan_try_recv(lrt_chan_t *c, void **msg);
LRT_EXPORT void lrt_chan_close(lrt_chan_t *c);
LRT_EXPORT size_t lrt_chan_len(const lrt_chan_t *c);
LRT_EXPORT int lrt_chan_free(lrt_chan_t *c);

/*
 * Oneshot: one value, sent once.  send: 0, -EALREADY if already sent, -EPIPE if closed.
 * recv: 0 with the value, -EPIPE if closed without a value, -ECANCELED, -EALREADY if the
 * value was already received, -EBUSY if another task is already waiting in recv (one
 * receiver).
 * close: wakes the receiver with -EPIPE if nothing was sent.  free: -EBUSY if waited on.
 */
LRT_EXPORT lrt_oneshot_t *lrt_oneshot_new(void);
LRT_EXPORT int lrt_oneshot_send(lrt_oneshot_t *o, void *value);
LRT_EXPORT int lrt_oneshot_recv(lrt_oneshot_t *o, void **value);
/* lrt_oneshot_recv_timeout() - recv, waiting at most @timeout_ms (< 0 or huge: no
 * timeout); -ETIMEDOUT leaves a value sent later in the oneshot. */
LRT_EXPORT int lrt_oneshot_recv_timeout(lrt_oneshot_t *o, void **value, int64_t timeout_ms);
LRT_EXPORT void lrt_oneshot_close(lrt_oneshot_t *o);
LRT_EXPORT int lrt_oneshot_free(lrt_oneshot_t *o);

/*
 * Notify (Tokio's Notify): notify_one stores one permit if nobody waits, so a later
 * wait returns at once; notify_all wakes current waiters only.  wait: 0, -ECANCELED,
 * -EPIPE once closed.  close wakes every waiter with -EPIPE.
 */
LRT_EXPORT lrt_notify_t *lrt_notify_new(void);
LRT_EXPORT int lrt_notify_wait(lrt_notify_t *n);
/* lrt_notify_wait_timeout() - wait, at most @timeout_ms (< 0 or huge: no timeout);
 * -ETIMEDOUT consumes no permit and no notification. */
LRT_EXPORT int lrt_notify_wait_timeout(lrt_notify_t *n, int64_t timeout_ms);
LRT_EXPORT void lrt_notify_one(lrt_notify_t *n);
LRT_EXPORT void lrt_notify_all(lrt_notify_t *n);
LRT_EXPORT void lrt_notify_close(lrt_notify_t *n);
LRT_EXPORT int lrt_notify_free(lrt_notify_t *n);

/*
 * Select: wait for the first of several cases; exactly one takes effect (no message is
 * consumed, no notification or value taken, no task joined by a case that did not win).
 * Build the cases with the lrt_sel_* constructors (plain values, no allocation):
 *   recv(c, out): *out = the message; res 0, or -EPIPE (closed and drained).
 *   send(c, msg): res 0 (the message is in the channel or with a receiver), or -EPIPE.
 *   readable(fd) / writable(fd): res = the ready events (EPOLLIN/OUT/HUP/ERR...), or
 *     -EBADF; readiness only: the caller does its own I/O.
 *   join(t, out): completes when t finished: t is joined and its handle released (as by
 *     lrt_join: res = its status, *out its result); a join case that lost leaves t
 *     joinable.  t must not have another joiner.
 *   notify(n): res 0 (a notification taken), or -EPIPE once closed.
 *   oneshot(o, out): *out = the value; res 0, -EPIPE, -EALREADY, -EBUSY as oneshot_recv.
 * lrt_select returns the index of the case that completed (its .res set), -ETIMEDOUT
 * (timeout_ms: 0 = poll, < 0 = none), -ECANCELED, -EINVAL (no cases, more than 64, a
 * NULL object, a bad join handle), -EPERM outside a task.  When several cases are ready,
 * the one taken rotates (not always the first).  The array is the caller's and must stay
 * valid during the call (dumps read it).  In a task only.
 */
enum { LRT_SEL_RECV = 1, LRT_SEL_SEND, LRT_SEL_READABLE, LRT_SEL_WRITABLE, LRT_SEL_JOIN,
       LRT_SEL_NOTIFY, LRT_SEL_ONESHOT };
typedef struct lrt_sel { int kind; void *obj; int fd; void *msg; void **out; int res; } lrt_sel_t;
LRT_EXPORT lrt_sel_t lrt_sel_recv(lrt_chan_t *c, void **out);
LRT_EXPORT lrt_sel_t lrt_sel_send(lrt_chan_t *c, void *msg);
LRT_EXPORT lrt_sel_t lrt_sel_readable(int fd);
LRT_EXPORT lrt_sel_t lrt_sel_writable(int fd);
LRT_EXPORT lrt_sel_t lrt_sel_join(lrt_task_t *t, void **out);
LRT_EXPORT lrt_sel_t lrt_sel_notify(lrt_notify_t *n);
LRT_EXPORT lrt_sel_t lrt_sel_oneshot(lrt_oneshot_t *o, void **out);
LRT_EXPORT int lrt_select(lrt_sel_t *cases, size_t n, int64_t timeout_ms);

/*
 * Async mutex, FIFO hand-off.  lock: 0, -EDEADLK if the caller already holds it,
 * -ECANCELED (not acquired).  unlock: 0, -EPERM if the caller does not hold it.
 * free: -EBUSY if held or waited on.
 */
LRT_EXPORT lrt_mutex_t *lrt_mutex_new(void);
LRT_EXPORT int lrt_mutex_lock(lrt_mutex_t *m);
/* lrt_mutex_lock_timeout() - lock, waiting at most @timeout_ms (< 0 or huge: no timeout);
 * -ETIMEDOUT: not acquired. */
LRT_EXPORT int lrt_mutex_lock_timeout(lrt_mutex_t *m, int64_t timeout_ms);
LRT_EXPORT int lrt_mutex_trylock(lrt_mutex_t *m);
LRT_EXPORT int lrt_mutex_unlock(lrt_mutex_t *m);
LRT_EXPORT int lrt_mutex_free(lrt_mutex_t *m);

/*
 * Semaphore, FIFO (a large acquire is not overtaken by small ones).
 * acquire(n): 0, -EINVAL if n is 0 or above the maximum, -ECANCELED (nothing taken),
 * -EPIPE once closed.  release(n) adds permits.  close wakes waiters with -EPIPE.
 */
LRT_EXPORT lrt_sem_t *lrt_sem_new(size_t permits);
LRT_EXPORT int lrt_sem_acquire(lrt_sem_t *s, size_t n);
/* lrt_sem_acquire_timeout() - acquire, waiting at most @timeout_ms (< 0 or huge: no
 * timeout); -ETIMEDOUT: nothing taken. */
LRT_EXPORT int lrt_sem_acquire_timeout(lrt_sem_t *s, size_t n, int64_t timeout_ms);
LRT_EXPORT int lrt_sem_try_acquire(lrt_sem_t *s, size_t n);
LRT_EXPORT void lrt_sem_release(lrt_sem_t *s, size_t n);
LRT_EXPORT size_t lrt_sem_available(const lrt_sem_t *s);
LRT_EXPORT void lrt_sem_close(lrt_sem_t *s);
LRT_EXPORT int lrt_sem_free(lrt_sem_t *s);

/*
 * Watch: the latest value and its version (0 for @initial, +1 per set); many readers.
 * Values are not owned (the caller manages what they point to).  Runtime thread only
 * (new/free also with no runtime current).
 * set: 0, -EPIPE once closed; bumps the version and wakes every waiter.
 * get: the current value, its version in *@version (optional); NULL/0 on a thread
 *   whose runtime is not current (like new/free, allowed with no runtime current).
 * changed (suspends): waits until the version differs from *@seen, then stores it in
 *   *@seen and returns 0; a reader that missed several sets sees the latest once.  An
 *   unseen version is reported even after close; then -EPIPE.  -ETIMEDOUT after
 *   @timeout_ms (< 0: none, 0: don't wait), -ECANCELED, -EINVAL (NULL).
 * close wakes every waiter with -EPIPE; set refuses afterwards.
 * free: 0, -EBUSY while a task waits on it (or was woken and has not run yet).
 */
LRT_EXPORT lrt_watch_t *lrt_watch_new(void *initial);
LRT_EXPORT int lrt_watch_set(lrt_watch_t *w, void *value);
LRT_EXPORT void *lrt_watch_get(lrt_watch_t *w, uint64_t *version);
LRT_EXPORT int lrt_watch_changed(lrt_watch_t *w, uint64_t *seen, int64_t timeout_ms);
LRT_EXPORT void lrt_watch_close(lrt_watch_t *w);
LRT_EXPORT int lrt_watch_free(lrt_watch_t *w);

/*
 * Readers/writer lock, owned by tasks, FIFO hand-off: a waiting writer blocks new
 * readers (writers are not starved); a release hands the lock to the head writer, or to
 * every reader at the head up to the first writer.  Runtime thread only.
 * rdlock/wrlock (suspend): 0, -EDEADLK if the caller already holds it (read or write),
 *   -ECANCELED (nothing taken), -ENOMEM (rdlock: no room to remember the reader).
 * _timeout: also -ETIMEDOUT after @timeout_ms (< 0: none, 0: don't wait), nothing taken.
 * unlock: 0, -EPERM if the caller holds neither lock.
 * free: 0, -EBUSY if held or waited on.
 */
LRT_EXPORT lrt_rwlock_t *lrt_rwlock_new(void);
LRT_EXPORT int lrt_rwlock_rdlock(lrt_rwlock_t *l);
LRT_EXPORT int lrt_rwlock_wrlock(lrt_rwlock_t *l);
LRT_EXPORT int lrt_rwlock_rdlock_timeout(lrt_rwlock_t *l, int64_t timeout_ms);
LRT_EXPORT int lrt_rwlock_wrlock_timeout(lrt_rwlock_t *l, int64_t timeout_ms);
LRT_EXPORT int lrt_rwlock_unlock(lrt_rwlock_t *l);
LRT_EXPORT int lrt_rwlock_free(lrt_rwlock_t *l);

/*
 * Barrier of @n tasks (n >= 1; NULL with errno EINVAL for 0), reusable.  Runtime thread
 * only.  wait (suspends): 1 for exactly one task per generation (the leader: the n-th to
 * arrive), 0 for the others; -ECANCELED for an aborted waiter: if the generation had not
 * completed it leaves it (the count drops back, the generation waits for another
 * arrival; nobody is stranded), else it had counted and the others go on.
 * free: 0, -EBUSY while waited on.
 */
LRT_EXPORT lrt_barrier_t *lrt_barrier_new(size_t n);
LRT_EXPORT int lrt_barrier_wait(lrt_barrier_t *b);
LRT_EXPORT int lrt_barrier_free(lrt_barrier_t *b);

/*
 * Interval: boundaries at start + k * @period_ms (start: lrt_interval_new's time when a
 * runtime is current, else the first tick's), so there is no drift.  NULL with errno
 * EINVAL for a period of 0 or above 2^62 ns.  Runtime thread only.
 * tick (suspends, a sleep in the dump): waits for the next boundary and returns the
 *   number of periods since the last tick: 1 on time, > 1 at once after missed
 *   boundaries (one late return, never a burst); -ECANCELED, -EBUSY if another task
 *   is ticking it.
 * free: 0, -EBUSY while a task ticks it.
 */
LRT_EXPORT lrt_interval_t *lrt_interval_new(uint64_t period_ms);
LRT_EXPORT int lrt_interval_tick(lrt_interval_t *iv);
LRT_EXPORT int lrt_interval_free(lrt_interval_t *iv);

/*
 * Task-local storage.  Keys are process-wide (any runtime, any thread may make one),
 * never deleted, at most 16: lrt_tls_key_new returns the key (>= 0) or -EAGAIN; @dtor may
 * be NULL.  get: the running task's value for @key, NULL when unset, outside a task or
 * for an invalid key.  set: 0, -EPERM outside a task, -EINVAL for a key not made,
 * -ENOMEM.  Values are owned by the caller; when a task's function returned (aborted
 * tasks too), the dtor of each key runs on each non-NULL value, once, in the task's own
 * context (on its stack and thread, before it is reaped and its joiner woken).  A dtor
 * that sets a value again gets another pass, up to 4.
 */
LRT_EXPORT int lrt_tls_key_new(void (*dtor)(void *));
LRT_EXPORT void *lrt_tls_get(int key);
LRT_EXPORT int lrt_tls_set(int key, void *value);

/* ---- signals ---------------------------------------------------------------------- */

typedef struct lrt_signal lrt_signal_t;

/*
 * lrt_signal_open() - collect the @n signals of @signos (each 1..64, not SIGKILL or
 * SIGSTOP) through a signalfd, so a task can wait for them with lrt_signal_recv()
 * instead of a signal handler.  Blocks them in the calling thread's mask (that is what
 * lets the signalfd see them).  lrt's own threads block every signal; the application's
 * other threads must block these too (create them after this call from this thread, or
 * pthread_sigmask() in each), else the kernel may deliver the signal to one of them.
 * Several handles may cover the same signal; one signal is read by one of them.
 * Returns the handle (the caller owns it; lrt_signal_close() frees it) or NULL with errno
 * EINVAL (NULL @signos, @n == 0, a bad number), EMFILE, ENOMEM.  Any thread; the thread
 * that runs the runtime whose tasks receive (signals directed at a thread go to that
 * thread).
 */
LRT_EXPORT lrt_signal_t *lrt_signal_open(const int *signos, size_t n);
/*
 * lrt_signal_recv() - wait for one of @s's signals; returns its number (> 0),
 * -ETIMEDOUT (@timeout_ms >= 0 passed; < 0 = none), -ECANCELED (aborted, shutdown),
 * -EPIPE (@s was closed while waiting), -EINVAL (NULL), -EXDEV (not the thread that
 * opened @s), -EPERM (not in a task).  Two tasks may wait on the same @s: each signal
 * wakes one of them.  Signals of the same number that arrive before a receive are merged
 * into one (standard signals are not queued).  Dump: "signal SIGINT,SIGTERM".  Task on
 * the runtime thread that opened @s.
 */
LRT_EXPORT int lrt_signal_recv(lrt_signal_t *s, int64_t timeout_ms);
/*
 * lrt_signal_close() - free @s (NULL: nothing).  On the thread that opened it, restores
 * the thread's mask for each signal no other open handle covers and that the thread had
 * not blocked before: such signals still pending are consumed first, so a late one
 * cannot run the old disposition.  A task still waiting in lrt_signal_recv() on @s gets
 * -EPIPE.  Call on the thread that opened @s (elsewhere the mask is left as it is).
 */
LRT_EXPORT void lrt_signal_close(lrt_signal_t *s);

/* ---- introspection ---------------------------------------------------------------- */

#define LRT_DUMP_BACKTRACES 0x1u
/* each task's "history": its last 16 scheduling events, oldest first (spawned, polled,
 * suspended, yielded, woken, finished; docs/diagnosis.md) */
#define LRT_DUMP_HISTORY 0x2u

/*
 * lrt_chan_set_name() and the same for every sync object - give @obj a name the dump
 * shows wherever a task waits on it ("mutex 'accounts' 0x... (held by task 5)", and a
 * "name" in the snapshot's wait object).  @name is copied (at most 31 bytes kept; NULL or
 * "" removes it).  Returns 0, -EINVAL for a NULL object, -EPERM from a thread whose
 * runtime is not current.  Any time between new and free.
 */
LRT_EXPORT int lrt_chan_set_name(lrt_chan_t *c, const char *name);
LRT_EXPORT int lrt_oneshot_set_name(lrt_oneshot_t *o, const char *name);
LRT_EXPORT int lrt_notify_set_name(lrt_notify_t *n, const char *name);
LRT_EXPORT int lrt_mutex_set_name(lrt_mutex_t *m, const char *name);
LRT_EXPORT int lrt_sem_set_name(lrt_sem_t *s, const char *name);
LRT_EXPORT int lrt_rwlock_set_name(lrt_rwlock_t *l, const char *name);
LRT_EXPORT int lrt_watch_set_name(lrt_watch_t *w, const char *name);
LRT_EXPORT int lrt_barrier_set_name(lrt_barrier_t *b, const char *name);

/*
 * lrt_sync_created_at() - record @file:@line as where the sync object or group @obj was
 * created; the dump shows it ("created_at" in the snapshot's objects, `lrt-dump
 * --objects`) and names an unnamed object by it ("mutex created at ledger.c:42").  The
 * constructors lrt_chan_new() ... lrt_group_new() are macros that call it with the
 * caller's __FILE__ and __LINE__; the functions of the same names (still exported, called
 * as `(lrt_mutex_new)()` or through a pointer) record no site.  @file must outlive the
 * object (a string literal).  Returns @obj; NULL stays NULL and errno is untouched, so the
 * macros keep the constructors' errors.  Any thread that may use @obj.
 */
LRT_EXPORT void *lrt_sync_created_at(void *obj, const char *file, int line);
#define LRT__SITED(type, call) ((type *)lrt_sync_created_at((call), __FILE__, __LINE__))
#define lrt_chan_new(capacity) LRT__SITED(lrt_chan_t, lrt_chan_new(capacity))
#define lrt_oneshot_new() LRT__SITED(lrt_oneshot_t, lrt_oneshot_new())
#define lrt_notify_new() LRT__SITED(lrt_notify_t, lrt_notify_new())
#define lrt_mutex_new() LRT__SITED(lrt_mutex_t, lrt_mutex_new())
#define lrt_sem_new(permits) LRT__SITED(lrt_sem_t, lrt_sem_new(permits))
#define lrt_watch_new(initial) LRT__SITED(lrt_watch_t, lrt_watch_new(initial))
#define lrt_rwlock_new() LRT__SITED(lrt_rwlock_t, lrt_rwlock_new())
#define lrt_barrier_new(n) LRT__SITED(lrt_barrier_t, lrt_barrier_new(n))
#define lrt_group_new(name) LRT__SITED(lrt_group_t, lrt_group_new(name))

/*
 * lrt_dump_json() - snapshot of @rt as a JSON text (schema: docs/snapshot.schema.json).
 * @flags: LRT_DUMP_BACKTRACES adds each task's backtrace, LRT_DUMP_HISTORY its history;
 * other bits are ignored.  Returns a malloc'd string the caller frees with free(), or NULL with errno.  Runtime
 * thread only (the dump agent takes snapshots from its own thread safely).
 */
LRT_EXPORT char *lrt_dump_json(lrt_runtime_t *rt, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* LRT_LRT_H */
