/*
 * Task stacks.
 *
 * Strategy (see docs/guide.md, "Stacks"):
 *  - A task takes a stack when it first runs and gives it back when it finishes; free
 *    stacks go to a LIFO pool so a recycled stack is warm and costs no page fault.  The
 *    pool never makes a syscall on the hot path: stacks beyond LRT__POOL_WARM are given
 *    back to the kernel (MADV_FREE) in small batches when the runtime parks.
 *  - Stacks come in slabs: one mmap(MAP_PRIVATE|MAP_NORESERVE) per LRT__SLAB_STACKS
 *    stacks, each slot a guard page followed by the stack, MADV_NOHUGEPAGE (only touched
 *    4 KiB pages cost memory).
 *  - Guard pages: MADV_GUARD_INSTALL (Linux 6.13+) turns a page into a guard region
 *    without splitting the mapping, so every stack is guarded whatever
 *    vm.max_map_count says.  On older kernels a guard page is a PROT_NONE mprotect,
 *    which splits the mapping: each guarded stack then costs two of the process's
 *    max_map_count mappings (65530 by default), so only the first max_map_count/4 live
 *    stacks get one (LRT_GUARDED_STACKS_MAX overrides) and the rest get a canary.
 *  - Canary (unguarded stacks only): two words at the stack's lowest bytes, checked
 *    every time its task switches out; a smashed canary is reported like a guard-page
 *    hit, before anything else runs.  Guarded stacks never touch their lowest page, so
 *    an idle task costs one page of stack.
 *  - A stack overflow into a guard page raises SIGSEGV; the fatal-signal handler
 *    (src/diag/crash.c) runs on the sigaltstack installed here, asks
 *    lrt__stack_fault_is_overflow() and prints the task's id, name and spawn location
 *    (lrt__stack_overflow_print) before its traceback; the process dies with SIGSEGV.
 */
#include "internal.h"
#include "history.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define LRT__HAVE_VALGRIND 1
#endif
#endif

#ifdef LRT__ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define LRT__SLAB_STACKS 64
#define LRT__POOL_WARM 1024  /* free stacks kept with their pages */
#define LRT__TRIM_BATCH 64   /* stacks released per park beyond that */
#define LRT__ALTSTACK_SIZE (64 * 1024)
/* Guard region below each stack.  A frame larger than the guard could jump over it and
 * write into the neighbouring task's stack with no fault; code built with
 * -fstack-clash-protection (lrt itself, and applications through pkg-config's Cflags)
 * probes every page of a large frame so any guard catches it, and for code built
 * without it 64 KiB covers the frames C programs reasonably have.  It costs address
 * space only: MADV_GUARD_INSTALL and mprotect guard any length with one call, and an
 * unguarded (canary) slot's gap is never touched. */
#define LRT__GUARD_SIZE (64 * 1024)

struct lrt__slab {
    struct lrt__slab *next;
    void *map;
    size_t map_size;
    lrt__stack stacks[LRT__SLAB_STACKS];
};

static size_t page_size;
static size_t guarded_max;
static int guard_install_ok = -1; /* -1 unknown, 0 no, 1 yes */

static void stack_globals_init(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    long maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        if (fscanf(f, "%ld", &maps) != 1)
            maps = 65530;
        fclose(f);
    }
    guarded_max = maps > 400 ? (size_t)maps / 4 : 100;
    const char *e = getenv("LRT_GUARDED_STACKS_MAX"); /* mprotect fallback / tests */
    if (e && *e) {
        guarded_max = (size_t)strtoul(e, NULL, 10);
        guard_install_ok = 0;
    }
}

static pthread_once_t globals_once = PTHREAD_ONCE_INIT;

int lrt__stacks_init(struct lrt_runtime *rt)
{
    pthread_once(&globals_once, stack_globals_init);
    rt->stack_size = (rt->opts.stack_size + page_size - 1) & ~(page_size - 1);
    rt->guarded_max = guarded_max;
    rt->guard_install = guard_install_ok != 0;
    return 0;
}

static void stack_set_canary(lrt__stack *s)
{
    ((uint64_t *)s->base)[0] = LRT__STACK_CANARY;
    ((uint64_t *)s->base)[1] = LRT__STACK_CANARY ^ (uint64_t)(uintptr_t)s;
}

bool lrt__stack_canary_ok(const lrt__stack *s)
{
    return ((const uint64_t *)s->base)[0] == LRT__STACK_CANARY &&
           ((const uint64_t *)s->base)[1] == (LRT__STACK_CANARY ^ (uint64_t)(uintptr_t)s);
}

/* Task frames that never returned leave redzone poison in the shadow memory; clear it
 * before the range goes back to the kernel, or a later mmap at the same address
 * inherits it. */
static void unmap(void *addr, size_t len)
{
#ifdef LRT__ASAN
    __asan_unpoison_memory_region(addr, len);
#endif
    munmap(addr, len);
}

/* Stack tops are page aligned and a power-of-two-ish size apart, so every task's saved
 * frame would map to the same few cache sets: with 1000 tasks yielding in turn, the
 * switch missed in L1 and L2 on every resume.  Each stack's first frame starts at one of
 * 32 offsets, 64 bytes apart (within the first page: no extra RSS). */
static uint32_t next_color(struct lrt_runtime *rt)
{
    /* above the colour: the task's history ring (history.h), in the same first page */
    return ((rt->stacks_made++ * 13u) % 32u) * 64u + (uint32_t)LRT__HIST_BYTES;
}

static void stack_register(lrt__stack *s)
{
#ifdef LRT__HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->base, (char *)s->base + s->size);
#else
    (void)s;
#endif
}

static void stack_deregister(lrt__stack *s)
{
#ifdef LRT__HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#else
    (void)s;
#endif
}

/* Make the region below @s->base a guard: MADV_GUARD_INSTALL if the kernel has it, else
 * mprotect while the mapping budget allows, else leave it to the canary. */
static void stack_guard(struct lrt_runtime *rt, lrt__stack *s)
{
    void *g = (char *)s->base - LRT__GUARD_SIZE;
    if (rt->guard_install) {
        if (madvise(g, LRT__GUARD_SIZE, MADV_GUARD_INSTALL) == 0) {
            s->guarded = 1;
            guard_install_ok = 1;
            return;
        }
        rt->guard_install = false; /* EINVAL: kernel before 6.13 */
        guard_install_ok = 0;
    }
    if (rt->guarded_live < rt->guarded_max && mprotect(g, LRT__GUARD_SIZE, PROT_NONE) == 0) {
        s->guarded = 2; /* costs mappings: counted */
        rt->guarded_live++;
    }
}

/* Map a slab and describe its stacks; not yet in rt->slabs.  Guards are set up stack by
 * stack as they are handed out (a guard costs a syscall). */
static struct lrt__slab *slab_map(struct lrt_runtime *rt)
{
    struct lrt__slab *sl = malloc(sizeof *sl);
    if (!sl)
        return NULL;
    size_t stride = rt->stack_size + LRT__GUARD_SIZE;
    size_t map_size = stride * LRT__SLAB_STACKS;
    void *m = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        free(sl);
        return NULL;
    }
    madvise(m, map_size, MADV_NOHUGEPAGE);
    memset(sl, 0, sizeof *sl);
    sl->map = m;
    sl->map_size = map_size;
    for (int i = 0; i < LRT__SLAB_STACKS; i++) {
        lrt__stack *s = &sl->stacks[i];
        s->base = (char *)m + (size_t)i * stride + LRT__GUARD_SIZE;
        s->size = rt->stack_size;
        s->slab = sl;
        s->guarded = 0xffff; /* not yet decided */
        s->color = next_color(rt);
        stack_register(s);
    }
    rt->slabs_made++;
    return sl;
}

static void slab_unmap(struct lrt__slab *sl)
{
    for (int i = 0; i < LRT__SLAB_STACKS; i++)
        stack_deregister(&sl->stacks[i]);
    unmap(sl->map, sl->map_size);
    free(sl);
}

/* Take a slab into use: stacks 1..63 go to the pool, stack 0 is returned.  Once a runtime
 * needs more than one slab, the next one is mapped ahead and the top page of each of its
 * stacks (where a task's frames live) is faulted in by the ticker thread on another CPU:
 * 100k tasks that all start and park (timers, idle connections) would otherwise take a
 * first-touch fault each, inline (their cost: docs/performance.md, timers). */
static lrt__stack *stack_new_slab(struct lrt_runtime *rt)
{
    struct lrt__slab *sl = rt->slab_ahead;
    rt->slab_ahead = NULL;
    if (!sl && !(sl = slab_map(rt)))
        return NULL;
    if (rt->slabs_made >= 2) {
        struct lrt__slab *n = slab_map(rt);
        if (n) {
            rt->slab_ahead = n;
            lrt__prefault_async((char *)n->stacks[0].base + rt->stack_size - page_size, page_size,
                                rt->stack_size + LRT__GUARD_SIZE, LRT__SLAB_STACKS);
        }
    }
    sl->next = rt->slabs;
    rt->slabs = sl;
    for (int i = LRT__SLAB_STACKS - 1; i > 0; i--) {
        lrt__stack *s = &sl->stacks[i];
        s->next_free = rt->stack_pool;
        rt->stack_pool = s;
        rt->stack_pool_len++;
    }
    return &sl->stacks[0];
}

lrt__stack *lrt__stack_get(struct lrt_runtime *rt)
{
    lrt__stack *s = rt->stack_pool;
    if (LRT__LIKELY(s != NULL)) {
        rt->stack_pool = s->next_free;
        rt->stack_pool_len--;
    } else if ((s = rt->stack_cold) != NULL) {
        rt->stack_cold = s->next_free;
    } else if (!(s = stack_new_slab(rt))) {
        return NULL;
    }
    if (LRT__UNLIKELY(s->guarded == 0xffff)) {
        s->guarded = 0;
        stack_guard(rt, s);
        if (!s->guarded)
            stack_set_canary(s);
    }
    s->in_use = 1;
    return s;
}

void lrt__stack_put(struct lrt_runtime *rt, lrt__stack *s)
{
    s->in_use = 0;
    s->next_free = rt->stack_pool;
    rt->stack_pool = s;
    rt->stack_pool_len++;
}

/* Called when the runtime parks: give the pages of stacks beyond the warm pool back to
 * the kernel, a batch at a time (a task burst of 100k leaves 100k free stacks). */
void lrt__stacks_trim(struct lrt_runtime *rt)
{
    for (int i = 0; i < LRT__TRIM_BATCH && rt->stack_pool_len > LRT__POOL_WARM; i++) {
        lrt__stack *s = rt->stack_pool;
        rt->stack_pool = s->next_free;
        rt->stack_pool_len--;
        /* keep an unguarded stack's canary page: it is rewritten only at creation */
        size_t keep = s->guarded ? 0 : page_size;
        madvise((char *)s->base + keep, s->size - keep, MADV_FREE);
        s->next_free = rt->stack_cold;
        rt->stack_cold = s;
    }
}

void lrt__stacks_fini(struct lrt_runtime *rt)
{
    /* Slabs without a stack in use are released: a task leaked by a shutdown timeout
     * keeps its stack (and its slab). */
    rt->stack_pool = NULL;
    rt->stack_cold = NULL;
    rt->stack_pool_len = 0;
    struct lrt__slab **pp = &rt->slabs;
    while (*pp) {
        struct lrt__slab *sl = *pp;
        bool busy = false;
        for (int i = 0; i < LRT__SLAB_STACKS; i++)
            busy |= sl->stacks[i].in_use;
        if (busy) {
            pp = &sl->next;
            continue;
        }
        *pp = sl->next;
        slab_unmap(sl);
    }
    if (rt->slab_ahead) {
        lrt__prefault_cancel((char *)rt->slab_ahead->stacks[0].base + rt->stack_size - page_size);
        slab_unmap(rt->slab_ahead);
        rt->slab_ahead = NULL;
    }
}

/* ---- overflow reports ------------------------------------------------------------ */



static void put_str(char *buf, size_t *len, size_t cap, const char *s)
{
    while (s && *s && *len < cap)
        buf[(*len)++] = *s++;
}

static void put_u64(char *buf, size_t *len, size_t cap, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && *len < cap)
        buf[(*len)++] = tmp[--n];
}

/* Async-signal-safe: formats by hand and writes with write(2). */
static void report(struct lrt_task *t, const char *how)
{
    char buf[512];
    size_t n = 0, cap = sizeof buf;
    put_str(buf, &n, cap, "lrt: ");
    put_str(buf, &n, cap, how);
    put_str(buf, &n, cap, " in task ");
    put_u64(buf, &n, cap, t->id);
    put_str(buf, &n, cap, " '");
    put_str(buf, &n, cap, t->name ? t->name : "?");
    put_str(buf, &n, cap, "' spawned at ");
    put_str(buf, &n, cap, t->file ? t->file : "?");
    put_str(buf, &n, cap, ":");
    put_u64(buf, &n, cap, (uint64_t)(t->line > 0 ? t->line : 0));
    put_str(buf, &n, cap, " (");
    put_str(buf, &n, cap, t->func ? t->func : "?");
    put_str(buf, &n, cap, "), stack size ");
    put_u64(buf, &n, cap, t->stack ? t->stack->size : 0);
    put_str(buf, &n, cap, " bytes (raise lrt_options.stack_size)\n");
    ssize_t w = write(2, buf, n);
    (void)w;
}

void lrt__stack_overflow_report(struct lrt_task *t, const char *how)
{
    report(t, how);
    abort();
}

void lrt__stack_overflow_print(struct lrt_task *t)
{
    report(t, "stack overflow");
}

/* The fault handler itself is src/diag/crash.c's (one handler for every fatal signal,
 * installed by lrt_runtime_new); it asks this file whether a fault was an overflow. */
bool lrt__stack_fault_is_overflow(const struct lrt_task *t, const void *addr, const void *sp)
{
    if (!t || !t->stack)
        return false;
    uintptr_t a = (uintptr_t)addr, base = (uintptr_t)t->stack->base, s = (uintptr_t)sp;
    /* An overflow: the fault is in the guard region, or the task's own stack pointer has
     * left its stack (a canary stack that ran through its neighbours into unmapped
     * memory, or a frame that jumped the guard).  Integers, so that a stack mapped low
     * (valgrind maps them below 1 GiB) cannot wrap the bounds. */
    uintptr_t guard_lo = base > LRT__GUARD_SIZE ? base - LRT__GUARD_SIZE : 0;
    uintptr_t far_lo = base > (1u << 30) ? base - (1u << 30) : 0;
    bool in_guard = a >= guard_lo && a < base + 256;
    bool sp_below = s && s < base + 256 && s >= far_lo;
    return in_guard || sp_below;
}

/* The alternate signal stack belongs to the thread, not to a runtime: every runtime
 * created on the thread takes a reference, and the last one to go removes it.  (Freeing
 * the runtime that installed it used to leave a second runtime on the same thread with
 * no sigaltstack, so its overflows died with a bare SIGSEGV.)  A sigaltstack the
 * application installed itself is used as it is and never removed. */
static __thread void *altstack_mem;
static __thread unsigned altstack_refs;

int lrt__sigaltstack_install(struct lrt_runtime *rt)
{
#ifdef LRT__ASAN
    (void)rt; /* ASan reports stack overflows itself and owns SIGSEGV */
    return 0;
#else
    if (altstack_refs) { /* ours, installed by another runtime on this thread */
        altstack_refs++;
        rt->sigstack = altstack_mem;
        return 0;
    }
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return 0; /* the application's own */
    void *mem = mmap(NULL, LRT__ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return -ENOMEM;
    stack_t ss = {.ss_sp = mem, .ss_size = LRT__ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        int e = errno;
        munmap(mem, LRT__ALTSTACK_SIZE);
        return -e;
    }
    altstack_mem = mem;
    altstack_refs = 1;
    rt->sigstack = mem;
    return 0;
#endif
}

void lrt__sigaltstack_remove(struct lrt_runtime *rt)
{
    void *mine = rt->sigstack;
    rt->sigstack = NULL;
    /* Runtimes are freed on their own thread; a reference taken elsewhere is not ours. */
    if (!mine || mine != altstack_mem || !altstack_refs)
        return;
    if (--altstack_refs)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(altstack_mem, LRT__ALTSTACK_SIZE);
    altstack_mem = NULL;
}
