/*
 * crash.c - fatal-signal tracebacks (LRT_TRACEBACK): when a thread dies of SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL or SIGABRT, say which task crashed (id, name, spawn location)
 * and where (its backtrace), optionally every other task of its runtime with its wait
 * (LRT_TRACEBACK=all), then die by the same signal with the default action, so a core
 * dump is still written and the exit status still names the signal.
 *
 * One handler for the five signals, installed once per process by lrt_runtime_new on the
 * sigaltstack that stack.c gives each runtime thread (a stack overflow leaves no stack to
 * run on).  It took over stack.c's SIGSEGV/SIGBUS handler: a fault that stack.c calls an
 * overflow (lrt__stack_fault_is_overflow) still prints stack.c's one-line report first,
 * whatever LRT_TRACEBACK says.
 *
 * Who owns a fault.  A handler installed before lrt's (a crash reporter, a runtime that
 * resolves faults itself, as a GC's write barrier does) owns every fault but an lrt
 * stack overflow: we call it and print nothing, as the JVM and Go do with the handlers
 * they find (a handler that resolves faults would otherwise print a traceback per fault).
 * A handler installed after ours owns everything; it may chain to ours.  Under ASan
 * (LRT__ASAN) nothing is installed: ASan owns SIGSEGV/SIGBUS/SIGFPE and prints its own
 * report with a stack trace.
 *
 * Async-signal safety, what this relies on:
 *  - no malloc, no stdio: the text is formatted by the put_* helpers below into a static
 *    buffer and written with write(2).  Not snprintf: POSIX does not list it as
 *    async-signal-safe and glibc's may allocate (wide strings, some conversions); the
 *    few conversions needed here (decimal, hex, strings) are simpler written out.
 *  - unwinding: libunwind's local unw_init_local2(UNW_INIT_SIGNAL_FRAME)/unw_step and
 *    unw_get_proc_name are documented signal-safe (their man pages, "THREAD AND SIGNAL
 *    SAFETY": libunwind masks signals around its own locks and caches; it reads the ELF
 *    symtab by mmap, not malloc).  unwind.c is called with no symbol cache (its cache is
 *    process-wide and guarded by a mutex), and its per-thread scratch is mmap'd.  FDEs
 *    are found through dl_iterate_phdr and modules through dladdr, which take the
 *    dynamic linker's locks; both are recursive, so a thread that crashed inside the
 *    dynamic linker re-enters them instead of deadlocking (it may then read a half
 *    updated link map: the report can be wrong, it cannot hang).
 *  - state read without locks: the crashing thread's runtime (its own thread-local
 *    lrt__tls_rt, initial-exec TLS: no allocation) is single-threaded, so a crash inside
 *    a task sees it as that task left it.  A crash in the middle of a list update may
 *    leave a broken task list: the walk is bounded, and a fault while reporting ends
 *    the report and kills the process by the first signal (never a loop).
 *  - one report at a time: the first crashing thread owns the report; another thread
 *    that crashes meanwhile waits (bounded) for the process to die.
 *
 * Layer: calls unwind.c, stack.c's overflow check, the clock.  State: the previous
 * handlers, LRT_TRACEBACK's mode, the report's owner and buffers (static).
 */
#define UNW_LOCAL_ONLY
#include "diag/diag.h"

#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef LRT__ASAN
enum { TB_NONE, TB_SINGLE, TB_ALL };

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NSIGS ((int)(sizeof crash_sigs / sizeof crash_sigs[0]))
static atomic_int tb_mode = TB_SINGLE; /* LRT_TRACEBACK at the last runtime_new */
static struct sigaction prev_act[NSIGS];
static bool installed[NSIGS];
static atomic_int owner;  /* tid of the thread writing the report, 0 when none */
static int first_sig;

/* ---- output: a static buffer, flushed with write(2) ----------------------------------- */
static struct {
    char buf[2048];
    size_t n;
} out;

static void flush(void)
{
    size_t off = 0;
    while (off < out.n) {
        ssize_t w = write(2, out.buf + off, out.n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    out.n = 0;
}

static void put_n(const char *s, size_t max)
{
    for (size_t i = 0; s && i < max && s[i]; i++) {
        if (out.n == sizeof out.buf)
            flush();
        out.buf[out.n++] = s[i];
    }
}

static void put(const char *s)
{
    put_n(s, SIZE_MAX);
}

static void put_u(uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char s[24];
    for (int i = 0; i < n; i++)
        s[i] = tmp[n - 1 - i];
    s[n] = 0;
    put(s);
}

static void put_hex(uint64_t v)
{
    char s[20] = "0x";
    int n = 0;
    char tmp[16];
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    for (int i = 0; i < n; i++)
        s[2 + i] = tmp[n - 1 - i];
    s[2 + n] = 0;
    put(s);
}

/* 850ms, 12.5s, 3m12s */
static void put_dur(uint64_t ns)
{
    uint64_t ms = ns / 1000000u;
    if (ms < 1000) {
        put_u(ms);
        put("ms");
    } else if (ms < 120000) {
        put_u(ms / 1000);
        put(".");
        put_u(ms / 100 % 10);
        put("s");
    } else {
        put_u(ms / 60000);
        put("m");
        put_u(ms / 1000 % 60);
        put("s");
    }
}

/* ---- what happened -------------------------------------------------------------------- */
static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
    }
}

static const char *code_text(int sig, int code)
{
    if (code <= 0)
        return sig == SIGABRT ? "abort() or a signal sent to the process" : "sent by a process";
    switch (sig) {
    case SIGSEGV:
        return code == SEGV_MAPERR ? "address not mapped" : code == SEGV_ACCERR ? "invalid permissions" : "fault";
    case SIGBUS:
        return code == BUS_ADRALN ? "misaligned address" : code == BUS_ADRERR ? "no such physical address"
                                                                              : "bus error";
    case SIGFPE:
        return code == FPE_INTDIV ? "integer divide by zero" : code == FPE_INTOVF ? "integer overflow"
                                                                                  : "arithmetic exception";
    case SIGILL:
        return code == ILL_ILLOPC ? "illegal opcode" : code == ILL_PRVOPC ? "privileged opcode" : "illegal instruction";
    default:
        return "";
    }
}

/* " 'name'" of a sync object a task waits on, if named (internal.h: lrt__sync_head). */
static void put_obj_name(const struct lrt_task *t)
{
    switch (t->wait_kind) {
    case LRT__WAIT_MUTEX: case LRT__WAIT_SEM: case LRT__WAIT_WATCH: case LRT__WAIT_RWLOCK:
    case LRT__WAIT_BARRIER: case LRT__WAIT_CHAN_SEND: case LRT__WAIT_CHAN_RECV:
    case LRT__WAIT_ONESHOT: case LRT__WAIT_NOTIFY: {
        const char *nm = lrt__sync_name(t->wait_obj);
        if (nm) {
            put(" '");
            put_n(nm, 31);
            put("'");
        }
        break;
    }
    default:
        break;
    }
}

/* The wait reason, as wait_text.c's lrt__fmt_wait words it, with less detail. */
static void put_wait(const struct lrt_task *t)
{
    int state = t->state & 3, kind = t->wait_kind;
    if (state != LRT__SUSPENDED) {
        put(lrt__state_names[state]);
        if (!(t->flags & LRT__TF_STARTED))
            put(", not started");
        return;
    }
    if (kind < 0 || kind >= LRT__WAIT__COUNT)
        kind = LRT__WAIT_NONE;
    switch (kind) {
    case LRT__WAIT_FD:
        put("fd ");
        put_u(t->wait_aux);
        put((t->wait_aux2 & 0x005) == 0x005 ? " (read+write)" : (t->wait_aux2 & 0x004) ? " (write)" : " (read)");
        return;
    case LRT__WAIT_JOIN:
        put("join of task ");
        put_u(t->wait_aux);
        return;
    case LRT__WAIT_BLOCKING:
        put("blocking job ");
        put_u(t->wait_aux);
        return;
    case LRT__WAIT_MUTEX:
        put("mutex");
        put_obj_name(t);
        put(" (held by task ");
        put_u(t->wait_aux);
        put(")");
        return;
    case LRT__WAIT_CHAN_SEND: case LRT__WAIT_CHAN_RECV:
        put("channel");
        put_obj_name(t);
        put(kind == LRT__WAIT_CHAN_SEND ? " (send, full)" : " (recv, empty)");
        return;
    case LRT__WAIT_GROUP:
        put("group ");
        put_u(t->wait_aux);
        return;
    case LRT__WAIT_SIGNAL: case LRT__WAIT_PROCESS: case LRT__WAIT_DNS: case LRT__WAIT_FILE:
        put_n(t->wait_obj ? (const char *)t->wait_obj : "?", LRT__WAIT_TEXT - 1);
        return;
    default:
        put(lrt__wait_names[kind]);
        put_obj_name(t);
        return;
    }
}

static void put_frames(const lrt__frame *f, int n)
{
    for (int i = 0; i < n; i++) {
        int same = 0; /* a recursion (a stack overflow): one line for the repeats */
        while (i > 0 && i < n && f[i].ip == f[i - 1].ip) {
            same++;
            i++;
        }
        if (same) {
            put("  ... ");
            put_u((uint64_t)same);
            put(" more of the same\n");
            if (i == n)
                break;
        }
        put("  ");
        if (f[i].sym[0]) {
            put_n(f[i].sym, sizeof f[i].sym);
            put("+");
            put_hex(f[i].sym_off);
        } else {
            put("??");
        }
        put(" (");
        if (f[i].module) {
            put(f[i].module);
            put("+");
            put_hex(f[i].mod_off);
        } else {
            put_hex(f[i].ip);
        }
        put(")\n");
        flush(); /* a fault in the next unwind step leaves what was found */
    }
    if (n == 0)
        put("  (no frames)\n");
    else if (n == LRT__MAX_FRAMES)
        put("  ... (deeper frames not shown)\n");
}

/* "task 5 'ledger' [mutex 'accounts' (held by task 6), 3m12s]:" */
static void put_task_head(const struct lrt_task *t, uint64_t now, bool crashed)
{
    put("task ");
    put_u(t->id);
    put(" '");
    put_n(t->name ? t->name : "?", 64);
    put("' [");
    if (crashed)
        put("running");
    else
        put_wait(t);
    put(", ");
    put_dur(now > t->state_since ? now - t->state_since : 0);
    put("]:\n");
}

static void put_spawned(const struct lrt_task *t)
{
    if ((t->flags & LRT__TF_ROOT) || !t->file) {
        put("  root task of ");
        put_n(t->func ? t->func : "lrt_block_on", 128);
        put("\n");
        return;
    }
    put("  spawned at ");
    put_n(t->file ? t->file : "?", 256);
    put(":");
    put_u((uint64_t)(t->line > 0 ? t->line : 0));
    put(" (in ");
    put_n(t->func ? t->func : "?", 128);
    put(")\n");
}

static lrt__frame frames[LRT__MAX_FRAMES];

/* Every other task of @rt: wait and backtrace from the saved registers. */
static void report_others(struct lrt_runtime *rt, const struct lrt_task *crashed, uint64_t now)
{
    put("\nother tasks of this runtime (LRT_TRACEBACK=all):\n");
    size_t guard = rt->alive + 16;
    for (lrt__link *l = rt->tasks.next; l && l != &rt->tasks && guard--; l = l->next) {
        const struct lrt_task *t = lrt__container_of(l, struct lrt_task, all);
        if (t == crashed)
            continue;
        put("\n");
        put_task_head(t, now, false);
        if ((t->flags & LRT__TF_STARTED) && t->stack && t->sp && (t->state & 3) != LRT__FINISHED &&
            t != rt->current) {
            flush();
            put_frames(frames, lrt__unwind_saved(t, NULL, frames, LRT__MAX_FRAMES, NULL));
        }
        put_spawned(t);
        flush();
    }
}

static void report(int sig, const siginfo_t *si, const ucontext_t *uc)
{
    lrt__unwind_crashing(); /* no lock in a dying process: a fork can't be waiting on us */
    struct lrt_runtime *rt = lrt__tls_rt;
    struct lrt_task *t = rt ? rt->current : NULL;
    const char *sp = (const char *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    /* in a task: its stack pointer is on its stack (or up to 1 GiB below: an overflow);
     * integers, not pointers: a stack mapped below 1 GiB (valgrind) must not wrap */
    if (t && t->stack) {
        uintptr_t base = (uintptr_t)t->stack->base, lo = base > (1u << 30) ? base - (1u << 30) : 0;
        if ((uintptr_t)sp < lo || (uintptr_t)sp > base + t->stack->size)
            t = NULL;
    } else {
        t = NULL;
    }
    uint64_t now = lrt__coarse_ns();
    put("lrt: fatal signal ");
    put(sig_name(sig));
    put(" (");
    put(code_text(sig, si->si_code));
    if ((sig == SIGSEGV || sig == SIGBUS) && si->si_code > 0) {
        put(", address ");
        put_hex((uint64_t)(uintptr_t)si->si_addr);
    }
    put(")");
    char tname[17] = {0};
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (t) {
        put(" in task ");
        put_u(t->id);
        put(" '");
        put_n(t->name ? t->name : "?", 64);
        if (!(t->flags & LRT__TF_ROOT) && t->file) {
            put("', spawned at ");
            put_n(t->file, 256);
            put(":");
            put_u((uint64_t)(t->line > 0 ? t->line : 0));
            put("\n");
        } else {
            put("', the root task\n");
        }
        put_task_head(t, now, true);
    } else {
        prctl(PR_GET_NAME, tname, 0, 0, 0);
        put(" on thread ");
        put_u((uint64_t)tid);
        put(" '");
        put(tname);
        put(rt ? "', runtime thread outside any task\n" : "', no runtime entered on this thread\n");
        put("thread ");
        put_u((uint64_t)tid);
        put(":\n");
    }
    flush();
    uint64_t g[NGREG];
    for (int i = 0; i < NGREG; i++)
        g[i] = (uint64_t)uc->uc_mcontext.gregs[i];
    put_frames(frames, lrt__unwind_regs(g, NULL, frames, LRT__MAX_FRAMES, NULL));
    if (t)
        put_spawned(t);
    flush();
    if (atomic_load_explicit(&tb_mode, memory_order_relaxed) == TB_ALL && rt)
        report_others(rt, t, now);
    put("lrt: the process dies by ");
    put(sig_name(sig));
    put(" (frames: symbol+offset (module+offset); `addr2line -f -i -e MODULE OFFSET` gives file:line)\n");
    flush();
}

/* ---- dying by the same signal --------------------------------------------------------- */
static void set_default(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
}

/* Die now, by @sig (a fault inside the report, or a second crashing thread). */
static void die_now(int sig)
{
    set_default(sig);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
    _exit(128 + sig); /* not reached */
}

/* Make the return from the handler kill the process by @sig: a fault raised by an
 * instruction runs it again and faults again, now with the default action (the core
 * dump then shows the faulting instruction, not this handler); a signal that was sent
 * (abort's raise, kill) is sent again, and is delivered as the handler returns. */
static void die_on_return(int sig, const siginfo_t *si, ucontext_t *uc)
{
    set_default(sig);
    sigdelset(&uc->uc_sigmask, sig);
    if (si->si_code <= 0 || sig == SIGABRT)
        syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

static bool chain(int i, int sig, siginfo_t *si, void *uctx)
{
    const struct sigaction *p = &prev_act[i];
    if (p->sa_flags & SA_SIGINFO) {
        if (!p->sa_sigaction)
            return false;
        p->sa_sigaction(sig, si, uctx);
        return true;
    }
    if (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN)
        return false;
    p->sa_handler(sig);
    return true;
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;
    ucontext_t *uc = uctx;
    int i = 0;
    while (i < NSIGS - 1 && crash_sigs[i] != sig)
        i++;
    int me = (int)syscall(SYS_gettid);
    if (atomic_load(&owner) == me)
        die_now(first_sig); /* a fault while reporting: end it, by the first signal */
    struct lrt_runtime *rt = lrt__tls_rt;
    struct lrt_task *t = rt ? rt->current : NULL;
    const void *sp = (const void *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    bool overflow = (sig == SIGSEGV || sig == SIGBUS) && lrt__stack_fault_is_overflow(t, si->si_addr, sp);
    if (!overflow && chain(i, sig, si, uctx)) {
        errno = saved;
        return;
    }
    int expect = 0;
    if (!atomic_compare_exchange_strong(&owner, &expect, me)) {
        /* another thread is reporting and will kill the process: don't interleave */
        for (int k = 0; k < 1000; k++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        die_now(sig);
    }
    first_sig = sig;
    if (overflow)
        lrt__stack_overflow_print(t);
    if (atomic_load_explicit(&tb_mode, memory_order_relaxed) != TB_NONE && installed[i])
        report(sig, si, uc);
    die_on_return(sig, si, uc);
    errno = saved;
}

/* Read at every runtime's start, not once per process: a forked child may set it
 * before its own first runtime. */
static void read_mode(void)
{
    static atomic_int warned;
    const char *e = getenv("LRT_TRACEBACK");
    int mode = TB_SINGLE;
    if (!e || !*e || strcmp(e, "single") == 0 || strcmp(e, "1") == 0)
        mode = TB_SINGLE;
    else if (strcmp(e, "all") == 0 || strcmp(e, "2") == 0)
        mode = TB_ALL;
    else if (strcmp(e, "none") == 0 || strcmp(e, "0") == 0)
        mode = TB_NONE;
    else if (!atomic_exchange(&warned, 1))
        fprintf(stderr, "lrt: LRT_TRACEBACK=%.32s: expected none, single or all; using single\n", e);
    atomic_store(&tb_mode, mode);
}

static void crash_once(void)
{
    /* libunwind's lazy set-up (tdep_init, its caches) runs here, not in a handler; not
     * lrt__unwind_warm, whose symbol lookups cost ~1 ms per process and keep nothing */
    lrt__sym_init();
    unw_context_t uc;
    unw_cursor_t cur;
    unw_getcontext(&uc);
    bool lk = lrt__unwind_enter(); /* a fork meanwhile must not copy libunwind's locks held */
    if (unw_init_local(&cur, &uc) == 0)
        for (int i = 0; i < 4 && unw_step(&cur) > 0; i++) {
        }
    lrt__unwind_leave(lk);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask); /* a fault while reporting re-enters: see die_now */
    /* all five whatever the mode, which may change at the next runtime_new; with none
     * the handler prints only stack.c's overflow line, as before tracebacks existed */
    for (int i = 0; i < NSIGS; i++)
        installed[i] = sigaction(crash_sigs[i], &sa, &prev_act[i]) == 0;
}
#endif /* !LRT__ASAN */

void lrt__crash_install(void)
{
#ifndef LRT__ASAN
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    read_mode();
    pthread_once(&once, crash_once);
#endif
}
