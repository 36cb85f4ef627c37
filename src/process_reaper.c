/*
 * process_reaper.c - reaps the children of processes freed while they still ran.
 *
 * lrt_process_free() must never leave a zombie, must not block the runtime thread until
 * the child exits (it may run for days), and the child may outlive the runtime.  So the
 * orphans go to one process-wide thread that exists only while there are orphans: it
 * polls their pidfds, reaps each with waitid(WNOHANG) when it becomes readable, closes
 * the pidfd and frees the record, and ends when the list is empty.  Not a blocking-pool
 * job: a pool thread parked on a child that never exits would also hold up
 * lrt_runtime_free.  An eventfd tells the thread about a new orphan; when it cannot be
 * made, or an orphan has no pidfd (out of fds), the thread polls every 100 ms instead.
 * When not even the thread can be started, every lrt_process_spawn/free sweeps the list.
 *
 * fork(): the lock is taken around it; the child drops the list (not its children) and
 * has no thread.
 *
 * Also here, below process.c: taking a child's status (lrt__process_reap) and starting a
 * quiet thread, which process.c uses too.
 *
 * Layer: libc only.  Any thread.
 */
#include "process.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define POLL_MAX 64          /* pidfds polled at once; the rest wait for the tick */
#define TICK_MS 100

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct lrt_process *orphans; /* under mu */
static bool running;                /* under mu: a reaper thread owns the list */
static int wake_fd = -1;            /* under mu: the running thread's eventfd, or -1 */
static atomic_bool need_sweep;      /* orphans and no thread: spawn/free sweep */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&mu); }
static void fork_parent(void) { pthread_mutex_unlock(&mu); }
/* The orphans are the parent's children, not this process's (and no watcher thread
 * will ever write their eventfds here): drop them.  glibc's fork leaves malloc usable. */
static void fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
    running = false;
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
    while (orphans) {
        struct lrt_process *p = orphans;
        orphans = p->next_orphan;
        if (p->exit_fd >= 0)
            close(p->exit_fd);
        free(p);
    }
    atomic_store(&need_sweep, false);
}

static void init_once(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* waitpid's encoding of a CLD_* code (W_EXITCODE, WIFSIGNALED, WCOREDUMP, WIFSTOPPED) */
static int wait_status(const siginfo_t *si)
{
    switch (si->si_code) {
    case CLD_EXITED:
        return (si->si_status & 0xff) << 8;
    case CLD_DUMPED:
        return (si->si_status & 0x7f) | 0x80;
    default: /* CLD_KILLED; WEXITED reports nothing else */
        return si->si_status & 0x7f;
    }
}

int lrt__process_reap(struct lrt_process *p, int *wstatus)
{
    if (p->reaped)
        return -ECHILD;
    /* Without a pidfd, only once the watcher has seen the exit (its eventfd is readable):
     * reaping earlier could let the pid be reused under the watcher's waitid. */
    struct pollfd pf = {.fd = p->exit_fd, .events = POLLIN};
    if (!p->is_pidfd && p->exit_fd >= 0 && poll(&pf, 1, 0) == 0)
        return -EAGAIN;
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        int r = p->is_pidfd ? waitid(P_PIDFD, (id_t)p->exit_fd, &si, WEXITED | WNOHANG)
                              : waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG);
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == ECHILD)
            p->reaped = true;
        return -errno;
    }
    if (si.si_pid == 0)
        return -EAGAIN;
    p->reaped = true;
    if (wstatus)
        *wstatus = wait_status(&si);
    return 0;
}

/* Reap and free every orphan that has exited (or is not ours). */
static void sweep_locked(void)
{
    struct lrt_process **pp = &orphans;
    while (*pp) {
        struct lrt_process *p = *pp;
        if (lrt__process_reap(p, NULL) == -EAGAIN) {
            pp = &p->next_orphan;
            continue;
        }
        *pp = p->next_orphan;
        if (p->exit_fd >= 0)
            close(p->exit_fd);
        free(p);
    }
}

static void *reaper_main(void *unused)
{
    (void)unused;
    struct pollfd pf[POLL_MAX + 1];
    for (;;) {
        pthread_mutex_lock(&mu);
        sweep_locked();
        if (!orphans) {
            running = false;
            if (wake_fd >= 0)
                close(wake_fd);
            wake_fd = -1;
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        int n = 0, timeout = -1, wfd = wake_fd;
        if (wfd >= 0)
            pf[n++] = (struct pollfd){.fd = wfd, .events = POLLIN};
        else
            timeout = TICK_MS;
        for (struct lrt_process *p = orphans; p; p = p->next_orphan) {
            if (p->exit_fd < 0 || n == POLL_MAX + 1)
                timeout = TICK_MS;
            else
                pf[n++] = (struct pollfd){.fd = p->exit_fd, .events = POLLIN};
        }
        pthread_mutex_unlock(&mu);
        /* The fds stay open meanwhile: only this thread closes them while it runs. */
        if (poll(pf, (nfds_t)n, timeout) > 0 && wfd >= 0 && (pf[0].revents & POLLIN)) {
            eventfd_t v;
            if (eventfd_read(wfd, &v) < 0) { /* EAGAIN: nothing new after all */ }
        }
    }
}

int lrt__thread_start_quiet(void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    int e = pthread_attr_init(&a);
    if (e)
        return -e;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 256 << 10);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    e = pthread_create(&th, &a, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    return -e;
}

static int start_thread_locked(void)
{
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (lrt__thread_start_quiet(reaper_main, NULL) == 0)
        return 0;
    if (wake_fd >= 0)
        close(wake_fd);
    wake_fd = -1;
    return -1;
}

void lrt__reaper_adopt(struct lrt_process *p)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&mu);
    p->next_orphan = orphans;
    orphans = p;
    if (running) {
        if (wake_fd >= 0 && eventfd_write(wake_fd, 1) < 0) { /* full: it is awake anyway */ }
    } else if (start_thread_locked() == 0) {
        running = true;
        atomic_store(&need_sweep, false);
    } else {
        sweep_locked();
        atomic_store(&need_sweep, orphans != NULL);
    }
    pthread_mutex_unlock(&mu);
}

void lrt__reaper_sweep(void)
{
    if (!atomic_load_explicit(&need_sweep, memory_order_relaxed))
        return;
    pthread_mutex_lock(&mu);
    if (!running) {
        sweep_locked();
        atomic_store(&need_sweep, orphans != NULL);
    }
    pthread_mutex_unlock(&mu);
}
