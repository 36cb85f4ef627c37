/*
 * signal.c - signals as something a task waits for: lrt_signal_open/recv/close on a
 * signalfd.
 *
 * A signalfd only sees signals that are blocked, so opening one blocks its signals in the
 * calling thread; the kernel then queues a process-directed signal until a thread that
 * does not block it exists or someone reads the fd.  lrt's own threads (ticker, blocking
 * pool, dump agent, stall watchdog) block every signal, so the runtime thread is the one
 * that collects them; the application's other threads must block them too (guide:
 * "Signals"), or the kernel may deliver a SIGTERM to one of them with its default action.
 *
 * Masks are per thread and several lrt_signal_t may cover the same signal (one per
 * subsystem, say), so closing one must not unblock a signal another still covers, nor one
 * the thread blocked itself before lrt looked.  Each thread counts its open references per
 * signal and remembers whether the signal was blocked before the first one; the last close
 * restores exactly that.  Signals pending for a set at its last close are consumed first:
 * unblocking them would run the old disposition for a signal the program asked lrt to
 * collect (a late SIGTERM would kill a process that is shutting down gracefully).
 *
 * Two tasks may wait on the same lrt_signal_t: both wait for the fd to become readable
 * (io.c wakes every reader), each reads, and one signal goes to exactly one of them; the
 * other finds EAGAIN and waits again.
 *
 * Layer: io (lrt__io_wait_as, lrt_close) and libc.  Runtime thread only.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct lrt_signal {
    int fd;              /* signalfd: non-blocking, close-on-exec */
    sigset_t set;        /* what it collects */
    pthread_t thread;    /* whose mask changed; recv and close belong there */
    char text[LRT__WAIT_TEXT]; /* "signal SIGINT,SIGTERM": the dump's wait object */
};

/* Per thread: open lrt_signal_t per signal, and whether the thread blocked the signal
 * itself before the first one (then the last close leaves it blocked). */
static __thread unsigned short sig_refs[_NSIG];
static __thread sigset_t sig_preblocked;

static void describe(lrt_signal_t *s, const int *signos, size_t n)
{
    size_t k = (size_t)snprintf(s->text, sizeof s->text, "signal ");
    for (size_t i = 0; i < n && k < sizeof s->text; i++) {
        const char *ab = sigabbrev_np(signos[i]);
        char num[16];
        if (!ab) {
            snprintf(num, sizeof num, "%d", signos[i]);
            ab = num;
        }
        k += (size_t)snprintf(s->text + k, sizeof s->text - k, "%s%s%s", i ? "," : "",
                              ab == num ? "" : "SIG", ab);
    }
}

lrt_signal_t *lrt_signal_open(const int *signos, size_t n)
{
    sigset_t set, old;
    if (!signos || n == 0) {
        errno = EINVAL;
        return NULL;
    }
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) {
        /* SIGKILL and SIGSTOP cannot be blocked; a signal number out of range is not one */
        if (signos[i] <= 0 || signos[i] >= _NSIG || signos[i] == SIGKILL || signos[i] == SIGSTOP ||
            sigaddset(&set, signos[i]) != 0) {
            errno = EINVAL;
            return NULL;
        }
    }
    lrt_signal_t *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    /* Block first: a signal that arrives between the two calls is then queued for the
     * fd instead of running its default action. */
    int err = pthread_sigmask(SIG_BLOCK, &set, &old);
    if (err) {
        free(s);
        errno = err;
        return NULL;
    }
    s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        int e = errno;
        /* undo only what this call blocked */
        sigset_t undo;
        sigemptyset(&undo);
        for (int sig = 1; sig < _NSIG; sig++)
            if (sigismember(&set, sig) == 1 && sigismember(&old, sig) != 1 && sig_refs[sig] == 0)
                sigaddset(&undo, sig);
        pthread_sigmask(SIG_UNBLOCK, &undo, NULL);
        free(s);
        errno = e;
        return NULL;
    }
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sigismember(&set, sig) != 1)
            continue;
        if (sig_refs[sig]++ == 0) {
            if (sigismember(&old, sig) == 1)
                sigaddset(&sig_preblocked, sig);
            else
                sigdelset(&sig_preblocked, sig);
        }
    }
    s->set = set;
    s->thread = pthread_self();
    describe(s, signos, n);
    return s;
}

int lrt_signal_recv(lrt_signal_t *s, int64_t timeout_ms)
{
    struct lrt_task *t;
    if (!s)
        return -EINVAL;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    /* Only the thread whose mask blocks the signals can collect thread-directed ones,
     * and its runtime owns the fd's registration. */
    if (!pthread_equal(s->thread, pthread_self()))
        return -EXDEV;
    uint64_t deadline = timeout_ms > 0 ? lrt__wait_deadline(t, timeout_ms) : 0;
    int64_t left = timeout_ms;
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t r = read(s->fd, &si, sizeof si);
        if (r == (ssize_t)sizeof si) {
            (void)lrt__budget_spend();
            return (int)si.ssi_signo;
        }
        if (r >= 0)
            return -EIO; /* a signalfd reads whole records */
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        if (deadline) {
            uint64_t now = lrt__rt_now(t->rt);
            if (now >= deadline)
                return -ETIMEDOUT;
            left = (int64_t)((deadline - now + 999999) / 1000000);
        }
        int rc = lrt__io_wait_as(s->fd, LRT__WAIT_SIGNAL, s->text, (uint64_t)s->fd,
                                 LRT__WAKER_SIGNAL, left);
        if (rc == -EBADF)
            return -EPIPE; /* closed by lrt_signal_close while we waited: @s is gone */
        if (rc < 0)
            return rc;
    }
}

void lrt_signal_close(lrt_signal_t *s)
{
    if (!s)
        return;
    sigset_t unblock;
    sigemptyset(&unblock);
    /* another thread's mask cannot be changed from here: it stays as it is */
    bool own = pthread_equal(s->thread, pthread_self());
    for (int sig = 1; own && sig < _NSIG; sig++) {
        if (sigismember(&s->set, sig) != 1 || sig_refs[sig] == 0)
            continue;
        if (--sig_refs[sig] == 0 && sigismember(&sig_preblocked, sig) != 1)
            sigaddset(&unblock, sig);
    }
    if (!sigisemptyset(&unblock)) {
        /* consume what is pending for the signals about to be unblocked (top comment) */
        int dfd = signalfd(-1, &unblock, SFD_NONBLOCK | SFD_CLOEXEC);
        struct signalfd_siginfo si;
        if (dfd >= 0) {
            while (read(dfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
            close(dfd);
        }
    }
    /* wakes a task still waiting on it with -EBADF (recv says -EPIPE) when this is the
     * runtime thread; elsewhere the fd was never registered with this thread's runtime */
    if (lrt_close(s->fd) == -EPERM)
        close(s->fd);
    if (!sigisemptyset(&unblock))
        pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
    free(s);
}
