/*
 * live.c - the live capture: the registers of the runtime thread where it is now, when it
 * is stuck inside a poll (dump agent) or stalled (stall detector).
 *
 * When the thread is blocked in a system call, its sp/pc come from /proc without stopping
 * it.  Otherwise it is frozen in a signal handler (a small state machine on a futex:
 * requested, capturing, captured, released, done) while the caller reads the runtime's
 * structures, which are quiescent meanwhile.  The caller must not take a lock the frozen
 * thread may hold: the snapshot is written without malloc (json.c), symbols come from
 * mmap'd memory (unwind.c).  The locks it still depends on: the dynamic linker's
 * (dladdr, and libunwind's dl_iterate_phdr) and the blocking pool's mutex; the freeze
 * times out after 2 s, so a thread frozen while holding one of them delays a dump but
 * cannot deadlock it.
 *
 * Layer: calls unwind.c.  State: one capture at a time per process (live_mu, held from
 * freeze to release by the capturing thread).
 */
#include "diag/diag.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* SIGURG: its default action is "ignore", so a late or stray one is harmless; an
 * application handler installed before ours still gets the signals not meant for us. */
#define LIVE_SIG SIGURG
#define FREEZE_MAX_NS (2000000000ull)

enum { L_IDLE = 0, L_REQUESTED, L_CAPTURING, L_CAPTURED, L_RELEASED, L_DONE };

static struct {
    atomic_int state;
    atomic_int target; /* tid the request is for */
    uint64_t gregs[NGREG];
} live;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t live_once = PTHREAD_ONCE_INIT;
static struct sigaction live_prev;
static int live_installed;

static long futex(atomic_int *a, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, (int *)a, op, val, ts, NULL, 0);
}


static void live_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;
    int expect = L_REQUESTED;
    if (atomic_load(&live.target) != (int)syscall(SYS_gettid) ||
        !atomic_compare_exchange_strong(&live.state, &expect, L_CAPTURING)) {
        errno = saved;
        if (live_prev.sa_flags & SA_SIGINFO) {
            if (live_prev.sa_sigaction)
                live_prev.sa_sigaction(sig, si, uctx);
        } else if (live_prev.sa_handler != SIG_DFL && live_prev.sa_handler != SIG_IGN) {
            live_prev.sa_handler(sig);
        }
        return;
    }
    const ucontext_t *uc = uctx;
    for (int i = 0; i < NGREG; i++)
        live.gregs[i] = (uint64_t)uc->uc_mcontext.gregs[i];
    atomic_store(&live.state, L_CAPTURED);
    futex(&live.state, FUTEX_WAKE_PRIVATE, 1, NULL);
    /* Frozen until the inspector is done, bounded: a dead inspector cannot hang us. */
    uint64_t deadline = lrt__mono_ns() + FREEZE_MAX_NS;
    while (atomic_load(&live.state) == L_CAPTURED) {
        uint64_t now = lrt__mono_ns();
        if (now >= deadline)
            break;
        struct timespec ts = {0, 10000000};
        futex(&live.state, FUTEX_WAIT_PRIVATE, L_CAPTURED, &ts);
    }
    atomic_store(&live.state, L_DONE);
    futex(&live.state, FUTEX_WAKE_PRIVATE, 1, NULL);
    errno = saved;
}

static void live_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = live_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(LIVE_SIG, &sa, &live_prev) == 0)
        live_installed = 1;
}

/* Wait while state == @val, up to @until_ns; returns the state. */
static int live_wait(int val, uint64_t until_ns)
{
    int s;
    while ((s = atomic_load(&live.state)) == val) {
        uint64_t now = lrt__mono_ns();
        if (now >= until_ns)
            break;
        uint64_t left = until_ns - now;
        struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        futex(&live.state, FUTEX_WAIT_PRIVATE, val, &ts);
    }
    return s;
}

/* Blocked in a system call?  /proc/self/task/TID/syscall reads "running" otherwise. */
static int live_syscall_regs(pid_t tid, uint64_t *sp, uint64_t *pc)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    if (buf[0] < '0' || buf[0] > '9')
        return -1; /* "running", or "-1 sp pc" (in the kernel, not in a syscall) */
    /* "nr a1 a2 a3 a4 a5 a6 sp pc" */
    char *p = buf;
    uint64_t v[9];
    for (int i = 0; i < 9; i++) {
        char *end;
        v[i] = strtoull(p, &end, i == 0 ? 10 : 16);
        if (end == p)
            return -1;
        p = end;
    }
    *sp = v[7];
    *pc = v[8];
    return 0;
}

int lrt__live_freeze(pid_t tid, lrt__live *lv, unsigned timeout_ms)
{
    pthread_once(&live_once, live_install);
    memset(lv, 0, sizeof *lv);
    if (!live_installed)
        return -ENOSYS;
    pthread_mutex_lock(&live_mu);
    atomic_store(&live.target, (int)tid);
    atomic_store(&live.state, L_REQUESTED);
    if (syscall(SYS_tgkill, getpid(), tid, LIVE_SIG) != 0) {
        int e = errno;
        atomic_store(&live.state, L_IDLE);
        atomic_store(&live.target, 0);
        pthread_mutex_unlock(&live_mu);
        return -e;
    }
    int s = live_wait(L_REQUESTED, lrt__mono_ns() + (uint64_t)timeout_ms * 1000000u);
    if (s == L_REQUESTED) {
        int expect = L_REQUESTED;
        if (atomic_compare_exchange_strong(&live.state, &expect, L_IDLE)) {
            atomic_store(&live.target, 0);
            pthread_mutex_unlock(&live_mu);
            return -ETIMEDOUT; /* signal blocked, or the thread cannot run */
        }
    }
    s = live_wait(L_CAPTURING, lrt__mono_ns() + 1000000000u);
    if (s != L_CAPTURED) {
        atomic_store(&live.target, 0);
        atomic_store(&live.state, L_IDLE);
        pthread_mutex_unlock(&live_mu);
        return -ETIMEDOUT;
    }
    memcpy(lv->gregs, live.gregs, sizeof lv->gregs);
    lv->have = 1;
    return 0; /* live_mu stays held until lrt__live_release */
}

int lrt__live_capture(pid_t tid, lrt__live *lv, unsigned timeout_ms)
{
    uint64_t sp, pc;
    lrt__sym_init();
    memset(lv, 0, sizeof *lv);
    if (live_syscall_regs(tid, &sp, &pc) == 0) {
        /* Blocked in a system call: unwind from the sp/pc the kernel reports, without a
         * signal (which would end a sleep or poll early with EINTR).  Other registers are
         * unknown, so this only counts when the unwind reaches the task's entry frame
         * (code without frame pointers); otherwise fall back to the signal. */
        lv->gregs[REG_RSP] = sp;
        lv->gregs[REG_RIP] = pc;
        lrt__frame f[8];
        bool complete = false;
        lrt__unwind_regs(lv->gregs, NULL, f, 8, &complete);
        uint64_t sp2, pc2;
        if (complete && live_syscall_regs(tid, &sp2, &pc2) == 0 && sp2 == sp && pc2 == pc) {
            lv->in_syscall = 1;
            return 0;
        }
        memset(lv->gregs, 0, sizeof lv->gregs);
    }
    return lrt__live_freeze(tid, lv, timeout_ms);
}

void lrt__live_release(lrt__live *lv)
{
    lv->in_syscall = 0;
    if (!lv->have)
        return;
    lv->have = 0;
    atomic_store(&live.state, L_RELEASED);
    futex(&live.state, FUTEX_WAKE_PRIVATE, 1, NULL);
    live_wait(L_RELEASED, lrt__mono_ns() + 100000000u);
    atomic_store(&live.target, 0);
    atomic_store(&live.state, L_IDLE);
    pthread_mutex_unlock(&live_mu);
}
