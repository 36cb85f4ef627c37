/*
 * dump.c - snapshots of the runtime state: JSON (schema docs/snapshot.schema.json),
 * backtraces of suspended tasks, the live capture of the runtime thread, and the
 * deadlock report.
 *
 * Who calls and what may be touched:
 *  - lrt_dump_json() and the agent's safe point run on the runtime thread between polls
 *    (or inside the calling task's poll): every structure is consistent.
 *  - When the runtime thread is stuck inside a poll, the dump agent freezes it in a
 *    signal handler (lrt__live_freeze) and writes the snapshot itself: the structures are
 *    quiescent while the thread waits in the handler.  That path must not take a lock
 *    the frozen thread may hold, so the JSON is written into an mmap'd buffer by a small
 *    writer of our own instead of jansson (which mallocs per node), symbols are cached in
 *    mmap'd memory, and numbers are formatted by hand.  The locks it still depends on:
 *    the dynamic linker's (dladdr, and libunwind's dl_iterate_phdr) and the blocking
 *    pool's mutex; the freeze times out after 2 s, so a thread frozen while holding one
 *    of them delays a dump but cannot deadlock it.
 *
 * Backtraces: a suspended task's registers are in the switch frame at t->sp (layout in
 * context_x86_64.S); they seed a libunwind cursor (unw_context_t is a ucontext_t on
 * x86-64).  Unwinding ends at lrt__ctx_entry (.cfi_undefined rip).  The innermost run of
 * lrt frames (by address: is_lrt_frame) is dropped except its outermost frame, which is
 * the public call the task made (lrt_read, lrt_sleep_ms: public functions that forward
 * keep their frame, LRT__NOTAIL), and so are lrt__task_main / lrt__ctx_entry at the
 * bottom: the last frame is the task's function.  Symbols are resolved once per distinct
 * ip and kept across snapshots (unw_get_proc_name reads the ELF symtab, so static
 * functions resolve too; see symcache_get).
 */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <libunwind.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/futex.h>

#define MAX_FRAMES 48

/* ---- JSON writer ------------------------------------------------------------------ */

void lrt__jw_free(lrt__jw *w)
{
    if (w->buf)
        munmap(w->buf, w->cap);
    memset(w, 0, sizeof *w);
}

static void jw_put(lrt__jw *w, const char *s, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 64 * 1024;
        while (cap < w->len + n)
            cap *= 2;
        void *p = w->buf ? mremap(w->buf, w->cap, cap, MREMAP_MAYMOVE)
                         : mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            w->oom = 1;
            return;
        }
        w->buf = p;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

void lrt__jw_raw(lrt__jw *w, const char *s, size_t n) { jw_put(w, s, n); }

static void jw_c(lrt__jw *w, char c) { jw_put(w, &c, 1); }
static void jw_lit(lrt__jw *w, const char *s) { jw_put(w, s, strlen(s)); }

static void jw_sep(lrt__jw *w, const char *key)
{
    if (w->depth > 0) {
        if (!w->first[w->depth])
            jw_c(w, ',');
        w->first[w->depth] = 0;
    }
    if (key) { /* keys are ASCII literals: no escaping */
        jw_c(w, '"');
        jw_lit(w, key);
        jw_put(w, "\":", 2);
    }
}

void lrt__jw_obj(lrt__jw *w, const char *key)
{
    jw_sep(w, key);
    jw_c(w, '{');
    if (w->depth < 31)
        w->depth++;
    w->first[w->depth] = 1;
}

void lrt__jw_arr(lrt__jw *w, const char *key)
{
    jw_sep(w, key);
    jw_c(w, '[');
    if (w->depth < 31)
        w->depth++;
    w->first[w->depth] = 1;
}

void lrt__jw_end(lrt__jw *w, char close)
{
    jw_c(w, close);
    if (w->depth > 0)
        w->depth--;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static void jw_strval(lrt__jw *w, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)v;
    jw_c(w, '"');
    while (*s) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        jw_put(w, (const char *)run, (size_t)(s - run));
        if (!*s)
            break;
        if (*s == '"' || *s == '\\') {
            char e[2] = {'\\', (char)*s};
            jw_put(w, e, 2);
            s++;
        } else if (*s < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 15]};
            jw_put(w, e, 6);
            s++;
        } else {
            int n = utf8_len(s);
            if (n == 0) { /* not UTF-8: JSON parsers would reject the whole snapshot */
                jw_c(w, '?');
                s++;
            } else {
                jw_put(w, (const char *)s, (size_t)n);
                s += n;
            }
        }
    }
    jw_c(w, '"');
}

void lrt__jw_str(lrt__jw *w, const char *key, const char *v)
{
    jw_sep(w, key);
    if (v)
        jw_strval(w, v);
    else
        jw_lit(w, "null");
}

static char *fmt_u64(char *end, uint64_t v) /* writes backwards, returns start */
{
    *--end = 0;
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void lrt__jw_u64(lrt__jw *w, const char *key, uint64_t v)
{
    char b[24];
    jw_sep(w, key);
    jw_lit(w, fmt_u64(b + sizeof b, v));
}

void lrt__jw_i64(lrt__jw *w, const char *key, int64_t v)
{
    char b[24];
    jw_sep(w, key);
    if (v < 0) {
        jw_c(w, '-');
        jw_lit(w, fmt_u64(b + sizeof b, (uint64_t)0 - (uint64_t)v));
    } else {
        jw_lit(w, fmt_u64(b + sizeof b, (uint64_t)v));
    }
}

void lrt__jw_bool(lrt__jw *w, const char *key, bool v)
{
    jw_sep(w, key);
    jw_lit(w, v ? "true" : "false");
}

static void jw_hex(lrt__jw *w, const char *key, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char b[20], *p = b + sizeof b;
    *--p = 0;
    do {
        *--p = hex[v & 15];
        v >>= 4;
    } while (v);
    *--p = 'x';
    *--p = '0';
    jw_sep(w, key);
    jw_c(w, '"');
    jw_lit(w, p);
    jw_c(w, '"');
}

void lrt__jw_frames(lrt__jw *w, const char *key, const lrt__frame *f, int n)
{
    lrt__jw_arr(w, key);
    for (int i = 0; i < n; i++) {
        lrt__jw_obj(w, NULL);
        jw_hex(w, "ip", f[i].ip);
        lrt__jw_str(w, "symbol", f[i].sym[0] ? f[i].sym : NULL);
        lrt__jw_u64(w, "offset", f[i].sym_off);
        lrt__jw_str(w, "module", f[i].module);
        jw_hex(w, "module_offset", f[i].mod_off);
        lrt__jw_end(w, '}');
    }
    lrt__jw_end(w, ']');
}

/* ---- symbols ---------------------------------------------------------------------- */

static char exe_path[512];
static const struct link_map *lrt_map; /* liblrt's link map when it is a shared object */
static pthread_once_t sym_once = PTHREAD_ONCE_INIT;

static void sym_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    Dl_info info;
    struct link_map *lm = NULL;
    if (dladdr1((void *)lrt_dump_json, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm && lm->l_name &&
        lm->l_name[0])
        lrt_map = lm;
}

/* Cache of symbolized ips (open addressing, mmap'd). */
#define SYM_SLOTS 2048
struct symcache {
    lrt__frame slot[SYM_SLOTS];
    const struct link_map *map[SYM_SLOTS];
    size_t used;
    uint64_t resolved; /* ips looked up through libunwind (LRT_DUMP_DEBUG) */
    bool kept;         /* the process's cache (symcache_get), not a fresh one */
};

static struct symcache *symcache_new(void)
{
    void *p = mmap(NULL, sizeof(struct symcache), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void symcache_free(struct symcache *c)
{
    if (c)
        munmap(c, sizeof *c);
}

/* Symbols outlive a snapshot: libunwind's unw_get_proc_name parses /proc/self/maps and
 * maps the ELF file for each ip it resolves (perf: most of a small capture), which a
 * client looping on snapshots paid on every capture.  One cache per process, kept while
 * no shared object is loaded or unloaded (dl_iterate_phdr's adds/subs: an address may
 * then name another symbol) and until half full.  A snapshot that finds it in use
 * (another runtime's, or a thread frozen in the middle of a snapshot) takes a fresh one:
 * never wait for a lock a frozen thread may hold. */
static struct symcache *sym_kept;
static pthread_mutex_t sym_kept_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long sym_kept_gen[2]; /* dlpi_adds, dlpi_subs when it was made */

static int dl_gen(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *gen = arg;
    (void)size;
    gen[0] = info->dlpi_adds;
    gen[1] = info->dlpi_subs;
    return 1;
}

static struct symcache *symcache_get(void)
{
    if (pthread_mutex_trylock(&sym_kept_mu) != 0)
        return symcache_new();
    unsigned long long gen[2] = {0, 0};
    dl_iterate_phdr(dl_gen, gen);
    if (sym_kept && (gen[0] != sym_kept_gen[0] || gen[1] != sym_kept_gen[1] || sym_kept->used >= SYM_SLOTS / 2)) {
        symcache_free(sym_kept);
        sym_kept = NULL;
    }
    if (!sym_kept && (sym_kept = symcache_new()) != NULL) {
        sym_kept->kept = true;
        sym_kept_gen[0] = gen[0];
        sym_kept_gen[1] = gen[1];
    }
    if (!sym_kept)
        pthread_mutex_unlock(&sym_kept_mu);
    return sym_kept;
}

static void symcache_put(struct symcache *c)
{
    if (c && c->kept)
        pthread_mutex_unlock(&sym_kept_mu);
    else
        symcache_free(c);
}

static void resolve_module(lrt__frame *f, const struct link_map **mapp)
{
    Dl_info info;
    struct link_map *lm = NULL;
    f->module = NULL;
    f->mod_off = f->ip;
    *mapp = NULL;
    if (dladdr1((void *)(uintptr_t)f->ip, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
        *mapp = lm;
        f->mod_off = f->ip - lm->l_addr;
        f->module = (lm->l_name && lm->l_name[0]) ? lm->l_name : (exe_path[0] ? exe_path : info.dli_fname);
        if (!f->sym[0] && info.dli_sname && info.dli_saddr) {
            snprintf(f->sym, sizeof f->sym, "%s", info.dli_sname);
            f->sym_off = f->ip - (uint64_t)(uintptr_t)info.dli_saddr;
        }
    }
}

/* Fill f (ip set) from the cache or from the cursor. */
static void symbolize(struct symcache *c, unw_cursor_t *cur, lrt__frame *f, const struct link_map **mapp)
{
    size_t h = (size_t)((f->ip * 0x9e3779b97f4a7c15ull) >> 53) & (SYM_SLOTS - 1);
    if (c) {
        for (size_t i = 0; i < 8; i++) {
            size_t k = (h + i) & (SYM_SLOTS - 1);
            if (c->slot[k].ip == f->ip) {
                *f = c->slot[k];
                *mapp = c->map[k];
                return;
            }
            if (c->slot[k].ip == 0)
                break;
        }
    }
    unw_word_t off = 0;
    f->sym[0] = 0;
    f->sym_off = 0;
    if (c)
        c->resolved++;
    if (cur && unw_get_proc_name(cur, f->sym, sizeof f->sym, &off) == 0)
        f->sym_off = off;
    else
        f->sym[0] = 0;
    resolve_module(f, mapp);
    if (c && c->used < SYM_SLOTS / 2) {
        for (size_t i = 0; i < 8; i++) {
            size_t k = (h + i) & (SYM_SLOTS - 1);
            if (c->slot[k].ip == 0) {
                c->slot[k] = *f;
                c->map[k] = *mapp;
                c->used++;
                break;
            }
        }
    }
}

/* Bounds of liblrt's code.  The build puts every section of code of liblrt's objects,
 * cold parts (.text.unlikely: schedule_traced.cold) included, into one section named
 * lrt_text (Makefile), and the linker defines these for it, in liblrt.so and in a program
 * linked with liblrt.a alike: static functions count with no list of their names, which
 * went stale as soon as one was added or GCC split a new .cold part.  Weak: a liblrt
 * built without that step has neither, and falls back to the link map (shared) or to
 * the lrt_ prefix (static). */
extern const char __start_lrt_text[] __attribute__((weak));
extern const char __stop_lrt_text[] __attribute__((weak));

static bool is_lrt_frame(const lrt__frame *f, const struct link_map *map)
{
    uint64_t lo = (uint64_t)(uintptr_t)__start_lrt_text, hi = (uint64_t)(uintptr_t)__stop_lrt_text;
    if (lo && hi > lo) /* a return address may be the section's end, never its start */
        return f->ip > lo && f->ip <= hi;
    if (lrt_map)
        return map == lrt_map;
    return strncmp(f->sym, "lrt_", 4) == 0;
}

static bool is_entry_frame(const lrt__frame *f)
{
    uint64_t e = (uint64_t)(uintptr_t)lrt__ctx_entry;
    return (f->ip >= e && f->ip < e + 32) || strcmp(f->sym, "lrt__task_main") == 0 ||
           strcmp(f->sym, "lrt__ctx_entry") == 0;
}

/* Where each frame's return address was found, relative to the first frame's sp: lets a
 * later task with the same suspension point be checked instead of unwound (memo). */
struct rawtrace {
    uint64_t sp0;
    int n;
    uint64_t ip[MAX_FRAMES];
    uint32_t off[MAX_FRAMES];
    bool ok;
};

/* Scratch space of one unwind: kept off the stack, because a snapshot taken at a safe
 * point or by lrt_dump_json() runs on a task's stack, which may be as small as 16 KiB. */
struct scratch {
    const struct link_map *maps[MAX_FRAMES];
    lrt__frame tmp[MAX_FRAMES];
};
static LRT__TLS struct scratch *tls_scratch;

static struct scratch *scratch_get(void)
{
    if (!tls_scratch) {
        void *p = mmap(NULL, sizeof(struct scratch), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        tls_scratch = p == MAP_FAILED ? NULL : p; /* one per thread that ever unwinds, never freed */
    }
    return tls_scratch;
}

void lrt__unwind_thread_exit(void)
{
    if (tls_scratch)
        munmap(tls_scratch, sizeof(struct scratch));
    tls_scratch = NULL;
}

/* Unwind from an initialised cursor into out[], then trim lrt's frames: all but the
 * outermost one above the first frame of user code, and the entry frames below. */
static int unwind_cursor(unw_cursor_t *cur, struct symcache *c, lrt__frame *out, int max, bool trim,
                         bool *complete, struct rawtrace *raw)
{
    struct scratch *sc = scratch_get();
    if (!sc)
        return 0;
    const struct link_map **maps = sc->maps;
    lrt__frame *tmp = sc->tmp;
    int n = 0;
    if (max > MAX_FRAMES)
        max = MAX_FRAMES;
    if (raw)
        raw->ok = true;
    do {
        unw_word_t ip = 0, sp = 0;
        if (unw_get_reg(cur, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        if (raw) {
            unw_get_reg(cur, UNW_REG_SP, &sp);
            raw->ip[n] = ip;
            /* the return address that led here sits just below this frame's sp */
            if (n > 0 && sp >= raw->sp0 + 8 && sp - 8 - raw->sp0 < UINT32_MAX)
                raw->off[n] = (uint32_t)(sp - 8 - raw->sp0);
            else if (n > 0)
                raw->ok = false;
        }
        tmp[n].ip = ip;
        symbolize(c, cur, &tmp[n], &maps[n]);
        n++;
    } while (n < MAX_FRAMES && unw_step(cur) > 0);
    if (raw)
        raw->n = n;
    int first = 0, last = n;
    if (complete)
        *complete = n > 0 && n < MAX_FRAMES && is_entry_frame(&tmp[n - 1]);
    if (trim) {
        int i = 0;
        while (i < n && is_lrt_frame(&tmp[i], maps[i]))
            i++;
        if (i < n)
            first = i > 0 ? i - 1 : 0;
        while (last > first + 1 && is_entry_frame(&tmp[last - 1]))
            last--;
    }
    int k = 0;
    for (int i = first; i < last && k < max; i++)
        out[k++] = tmp[i];
    return k;
}

static void regs_to_uc(ucontext_t *uc, const uint64_t *g)
{
    memset(&uc->uc_mcontext, 0, sizeof uc->uc_mcontext);
    for (int i = 0; i < NGREG; i++)
        uc->uc_mcontext.gregs[i] = (greg_t)g[i];
}

static int unwind_saved(const struct lrt_task *t, struct symcache *c, lrt__frame *out, int max,
                        struct rawtrace *raw)
{
    const uint64_t *sp = t->sp;
    uint64_t g[NGREG] = {0};
    g[REG_R15] = sp[1];
    g[REG_R14] = sp[2];
    g[REG_R13] = sp[3];
    g[REG_R12] = sp[4];
    g[REG_RBX] = sp[5];
    g[REG_RBP] = sp[6];
    g[REG_RIP] = sp[7];
    g[REG_RSP] = (uint64_t)(uintptr_t)(sp + 8);
    unw_context_t uc;
    unw_cursor_t cur;
    regs_to_uc(&uc, g);
    if (unw_init_local(&cur, &uc) < 0)
        return 0;
    if (raw)
        raw->sp0 = (uint64_t)(uintptr_t)sp;
    return unwind_cursor(&cur, c, out, max, true, NULL, raw);
}

static int __attribute__((noinline)) unwind_current(struct symcache *c, lrt__frame *out, int max)
{
    unw_context_t uc;
    unw_cursor_t cur;
    unw_getcontext(&uc);
    if (unw_init_local(&cur, &uc) < 0)
        return 0;
    return unwind_cursor(&cur, c, out, max, true, NULL, NULL);
}

static int unwind_live(const uint64_t *gregs, struct symcache *c, lrt__frame *out, int max, bool *complete)
{
    unw_context_t uc;
    unw_cursor_t cur;
    regs_to_uc(&uc, gregs);
    /* the ip is where the thread resumes, not a return address */
    if (unw_init_local2(&cur, &uc, UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    return unwind_cursor(&cur, c, out, max, true, complete, NULL);
}

int lrt__unwind_live(const lrt__live *lv, lrt__frame *out, int max)
{
    pthread_once(&sym_once, sym_init);
    if (!lv->have && !lv->in_syscall)
        return 0;
    return unwind_live(lv->gregs, NULL, out, max, NULL);
}

void lrt__unwind_warm(void)
{
    lrt__frame f[4];
    pthread_once(&sym_once, sym_init);
    unwind_current(NULL, f, 4);
}

/* ---- live capture: freeze the runtime thread in a signal handler ------------------ */

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

static uint64_t mono_ns_raw(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
    uint64_t deadline = mono_ns_raw() + FREEZE_MAX_NS;
    while (atomic_load(&live.state) == L_CAPTURED) {
        uint64_t now = mono_ns_raw();
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
        uint64_t now = mono_ns_raw();
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
    int s = live_wait(L_REQUESTED, mono_ns_raw() + (uint64_t)timeout_ms * 1000000u);
    if (s == L_REQUESTED) {
        int expect = L_REQUESTED;
        if (atomic_compare_exchange_strong(&live.state, &expect, L_IDLE)) {
            atomic_store(&live.target, 0);
            pthread_mutex_unlock(&live_mu);
            return -ETIMEDOUT; /* signal blocked, or the thread cannot run */
        }
    }
    s = live_wait(L_CAPTURING, mono_ns_raw() + 1000000000u);
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
    pthread_once(&sym_once, sym_init);
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
        unwind_live(lv->gregs, NULL, f, 8, &complete);
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
    live_wait(L_RELEASED, mono_ns_raw() + 100000000u);
    atomic_store(&live.target, 0);
    atomic_store(&live.state, L_IDLE);
    pthread_mutex_unlock(&live_mu);
}

/* ---- snapshot --------------------------------------------------------------------- */

static const char *interest_name(uint32_t interest)
{
    bool r = interest & 0x001, wr = interest & 0x004;
    return r && wr ? "read+write" : wr ? "write" : "read";
}

static const char *ready_name(uint32_t ev, char *buf, size_t n)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        {0x001, "in"}, {0x004, "out"}, {0x2000, "rdhup"}, {0x010, "hup"}, {0x008, "err"}, {0x002, "pri"}};
    buf[0] = 0;
    size_t len = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(ev & names[i].bit))
            continue;
        int k = snprintf(buf + len, n - len, "%s%s", len ? "," : "", names[i].name);
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
    return buf;
}

/* Human text for a wait reason (shared by the JSON "object" and the deadlock report). */
static void fmt_wait(uint64_t now, const struct lrt_task *t, char *buf, size_t n)
{
    switch (t->wait_kind) {
    case LRT__WAIT_FD:
        snprintf(buf, n, "fd %" PRIu64 " (%s)", t->wait_aux, interest_name(t->wait_aux2));
        break;
    case LRT__WAIT_SLEEP:
        if (t->wait_aux >= LRT__DEADLINE_MAX) /* a huge duration: no timer, until cancelled */
            snprintf(buf, n, "sleep (forever)");
        else if (t->wait_aux > now)
            snprintf(buf, n, "sleep (%" PRIu64 " ms left)", (t->wait_aux - now + 999999) / 1000000);
        else
            snprintf(buf, n, "sleep (due)");
        break;
    case LRT__WAIT_JOIN: {
        const struct lrt_task *j = t->wait_obj;
        if (j && j->id == t->wait_aux && j->name)
            snprintf(buf, n, "join of task %" PRIu64 " '%s'", t->wait_aux, j->name);
        else
            snprintf(buf, n, "join of task %" PRIu64, t->wait_aux);
        break;
    }
    case LRT__WAIT_BLOCKING:
        snprintf(buf, n, "blocking job %" PRIu64, t->wait_aux);
        break;
    case LRT__WAIT_MUTEX:
        snprintf(buf, n, "mutex %p (held by task %" PRIu64 ")", t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_SEM:
        snprintf(buf, n, "semaphore %p (%" PRIu64 " permits)", t->wait_obj, t->wait_aux);
        break;
    case LRT__WAIT_CHAN_SEND:
        snprintf(buf, n, "channel %p (send, full)", t->wait_obj);
        break;
    case LRT__WAIT_CHAN_RECV:
        snprintf(buf, n, "channel %p (recv, empty)", t->wait_obj);
        break;
    case LRT__WAIT_ONESHOT:
        snprintf(buf, n, "oneshot %p", t->wait_obj);
        break;
    case LRT__WAIT_NOTIFY:
        snprintf(buf, n, "notify %p", t->wait_obj);
        break;
    case LRT__WAIT_YIELD:
        snprintf(buf, n, "yield");
        break;
    default:
        snprintf(buf, n, "-");
        break;
    }
}

/* Memo of suspended-task backtraces: 10,000 tasks parked at the same line unwind once.
 * Key: saved ip, depth below the stack top, rbp relative to sp; a hit is verified by
 * reading each return address where the first unwind found it.  The frames' JSON text
 * is kept too, so a hit costs a few loads and a memcpy. */
#define MEMO_SLOTS 512
struct memo {
    uint64_t rip, depth, rbp_rel;
    int n;
    uint64_t ip[MAX_FRAMES];
    uint32_t off[MAX_FRAMES];
    size_t json_off, json_len; /* in snap.frag */
    bool used;
};

struct snap {
    struct memo memo[MEMO_SLOTS];
    lrt__jw frag; /* JSON of memoised backtraces */
    uint64_t memo_hits, memo_misses;
    struct lrt_runtime *rt;
    lrt__jw *w;
    unsigned flags;
    int mode;
    const lrt__live *live;
    struct symcache *sc;
    uint64_t now_coarse, now_rt, now_mono;
    lrt__frame frames[MAX_FRAMES];
    bool self_in_poll; /* API mode called from a task: current runs on this stack */
};

static void write_wait(struct snap *s, const struct lrt_task *t)
{
    lrt__jw *w = s->w;
    char buf[128];
    int kind = t->state == LRT__RUNNING ? LRT__WAIT_NONE : t->wait_kind;
    if (kind >= LRT__WAIT__COUNT)
        kind = LRT__WAIT_NONE;
    lrt__jw_obj(w, "wait");
    lrt__jw_str(w, "kind", lrt__wait_names[kind]);
    if (kind == LRT__WAIT_NONE) {
        lrt__jw_str(w, "object", NULL);
    } else {
        fmt_wait(s->now_rt, t, buf, sizeof buf);
        lrt__jw_str(w, "object", buf);
    }
    switch (kind) {
    case LRT__WAIT_FD:
        lrt__jw_i64(w, "fd", (int64_t)t->wait_aux);
        lrt__jw_str(w, "interest", interest_name(t->wait_aux2));
        break;
    case LRT__WAIT_SLEEP:
        if (t->wait_aux >= LRT__DEADLINE_MAX)
            break; /* no deadline */
        lrt__jw_u64(w, "deadline_ns", t->wait_aux);
        lrt__jw_i64(w, "remaining_ns", (int64_t)(t->wait_aux - s->now_rt));
        break;
    case LRT__WAIT_JOIN:
        lrt__jw_u64(w, "task", t->wait_aux);
        break;
    case LRT__WAIT_BLOCKING:
        lrt__jw_u64(w, "job", t->wait_aux);
        break;
    case LRT__WAIT_MUTEX:
        lrt__jw_u64(w, "owner", t->wait_aux);
        break;
    case LRT__WAIT_SEM:
        lrt__jw_u64(w, "permits", t->wait_aux);
        break;
    default:
        break;
    }
    if (kind >= LRT__WAIT_CHAN_SEND || kind == LRT__WAIT_FD)
        jw_hex(w, "address", (uint64_t)(uintptr_t)t->wait_obj);
    if ((t->flags & LRT__TF_TIMER) && kind != LRT__WAIT_SLEEP) {
        lrt__jw_u64(w, "deadline_ns", t->timer_deadline);
        lrt__jw_i64(w, "remaining_ns", (int64_t)(t->timer_deadline - s->now_rt));
    }
    lrt__jw_end(w, '}');
}

static void backtrace_saved(struct snap *s, const struct lrt_task *t)
{
    const uint64_t *sp = t->sp;
    uint64_t top = (uint64_t)(uintptr_t)t->stack->base + t->stack->size;
    uint64_t spv = (uint64_t)(uintptr_t)sp;
    /* from the task's first frame, below its stack's cache colour: equal for twins */
    uint64_t depth = top - t->stack->color - spv;
    /* rbp matters only as a frame pointer into this stack; otherwise it is any value */
    uint64_t rbp_rel = sp[6] >= spv && sp[6] < top ? sp[6] - spv : UINT64_MAX;
    size_t h = (size_t)(((sp[7] ^ depth * 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull) >> 40) % MEMO_SLOTS;
    struct memo *m = &s->memo[h];
    if (m->used && m->rip == sp[7] && m->depth == depth && m->rbp_rel == rbp_rel) {
        bool same = true;
        for (int i = 1; i < m->n && same; i++)
            same = m->off[i] + 8 <= depth && *(const uint64_t *)(uintptr_t)(spv + m->off[i]) == m->ip[i];
        if (same) {
            s->memo_hits++;
            jw_sep(s->w, "backtrace");
            jw_put(s->w, s->frag.buf + m->json_off, m->json_len);
            return;
        }
    }
    s->memo_misses++;
    struct rawtrace raw;
    int n = unwind_saved(t, s->sc, s->frames, MAX_FRAMES, &raw);
    size_t start = s->w->len;
    lrt__jw_frames(s->w, "backtrace", s->frames, n);
    if (!raw.ok || s->w->oom)
        return;
    /* remember the JSON value (after the key and its separator) */
    const char *v = memchr(s->w->buf + start, '[', s->w->len - start);
    if (!v)
        return;
    size_t vlen = (size_t)(s->w->buf + s->w->len - v);
    size_t off = s->frag.len;
    jw_put(&s->frag, v, vlen);
    if (s->frag.oom)
        return;
    m->used = true;
    m->rip = sp[7];
    m->depth = depth;
    m->rbp_rel = rbp_rel;
    m->n = raw.n;
    memcpy(m->ip, raw.ip, sizeof raw.ip);
    memcpy(m->off, raw.off, sizeof raw.off);
    m->json_off = off;
    m->json_len = vlen;
}

static void snapshot_task(struct snap *s, struct lrt_task *t)
{
    struct lrt_runtime *rt = s->rt;
    lrt__jw *w = s->w;
    bool is_current = t == rt->current;
    int state = t->state;
    if (s->mode == LRT__SNAP_SAFEPOINT && is_current)
        state = state == LRT__RUNNING ? LRT__RUNNABLE : state; /* at a safe point between polls */
    uint64_t since = is_current && state == LRT__RUNNING ? rt->poll_start : t->state_since;
    uint64_t state_ns = s->now_coarse > since ? s->now_coarse - since : 0;
    uint64_t busy = t->busy_ns;
    if (is_current && state == LRT__RUNNING)
        busy += state_ns;
    lrt__jw_obj(w, NULL);
    lrt__jw_u64(w, "id", t->id);
    lrt__jw_str(w, "name", t->name);
    lrt__jw_u64(w, "parent", t->parent_id);
    lrt__jw_str(w, "state", lrt__state_names[state & 3]);
    write_wait(s, t);
    lrt__jw_u64(w, "state_ns", state_ns);
    lrt__jw_u64(w, "polls", t->polls);
    lrt__jw_u64(w, "busy_ns", busy);
    lrt__jw_obj(w, "last_waker");
    lrt__jw_str(w, "kind", lrt__waker_names[t->last_waker & 7]);
    lrt__jw_u64(w, "task", t->last_waker_id);
    lrt__jw_end(w, '}');
    lrt__jw_obj(w, "spawned_at");
    lrt__jw_str(w, "file", t->file);
    lrt__jw_i64(w, "line", t->line);
    lrt__jw_str(w, "func", t->func);
    lrt__jw_end(w, '}');
    lrt__jw_bool(w, "root", (t->flags & LRT__TF_ROOT) != 0);
    lrt__jw_bool(w, "cancelled", (t->flags & LRT__TF_CANCELLED) != 0);
    lrt__jw_bool(w, "started", (t->flags & LRT__TF_STARTED) != 0);
    if (s->flags & LRT_DUMP_BACKTRACES) {
        int n = -1;
        if (is_current && s->mode == LRT__SNAP_STUCK && s->live && (s->live->have || s->live->in_syscall))
            n = unwind_live(s->live->gregs, s->sc, s->frames, MAX_FRAMES, NULL);
        else if (is_current && (s->mode == LRT__SNAP_SAFEPOINT || s->self_in_poll))
            n = unwind_current(s->sc, s->frames, MAX_FRAMES);
        else if ((t->flags & LRT__TF_STARTED) && t->stack && t->sp && state != LRT__FINISHED &&
                 !(is_current && state == LRT__RUNNING)) {
            backtrace_saved(s, t);
            n = -1;
        }
        if (n >= 0)
            lrt__jw_frames(w, "backtrace", s->frames, n);
    }
    lrt__jw_end(w, '}');
}

static void io_cb(int fd, uint32_t ready, int readers, int writers, void *ctx)
{
    struct snap *s = ctx;
    char buf[64];
    lrt__jw_obj(s->w, NULL);
    lrt__jw_i64(s->w, "fd", fd);
    lrt__jw_str(s->w, "ready", ready_name(ready, buf, sizeof buf));
    lrt__jw_i64(s->w, "readers", readers);
    lrt__jw_i64(s->w, "writers", writers);
    lrt__jw_end(s->w, '}');
}

static void timer_cb(struct lrt_task *t, void *ctx)
{
    struct snap *s = ctx;
    lrt__jw_obj(s->w, NULL);
    lrt__jw_u64(s->w, "task", t->id);
    lrt__jw_str(s->w, "kind", t->wait_kind == LRT__WAIT_SLEEP ? "sleep" : "timeout");
    lrt__jw_u64(s->w, "deadline_ns", t->timer_deadline);
    lrt__jw_i64(s->w, "remaining_ns", (int64_t)(t->timer_deadline - s->now_rt));
    lrt__jw_end(s->w, '}');
}

static void job_cb(uint64_t id, int running, uint64_t since_ns, void *ctx)
{
    struct snap *s = ctx;
    lrt__jw_obj(s->w, NULL);
    lrt__jw_u64(s->w, "id", id);
    lrt__jw_str(s->w, "state", running ? "running" : "queued");
    lrt__jw_u64(s->w, "state_ns", s->now_mono > since_ns ? s->now_mono - since_ns : 0);
    lrt__jw_end(s->w, '}');
}

static void hist(lrt__jw *w, const char *key, const uint64_t *h, uint64_t samples)
{
    uint64_t rest = 0;
    for (int i = 1; i < 16; i++)
        rest += h[i];
    lrt__jw_arr(w, key);
    lrt__jw_u64(w, NULL, samples > rest ? samples - rest : 0); /* bucket 0 is implicit */
    for (int i = 1; i < 16; i++)
        lrt__jw_u64(w, NULL, h[i]);
    lrt__jw_end(w, ']');
}

/* Process start as Unix time (s), from /proc/self/stat and CLOCK_BOOTTIME. */
static uint64_t process_start_unix(void)
{
    static uint64_t cached;
    if (cached)
        return cached;
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* field 3 is the state right after ") "; starttime is field 22 */
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    uint64_t ticks = strtoull(p, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec boot, real;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    clock_gettime(CLOCK_REALTIME, &real);
    double since_boot = (double)ticks / (double)(hz > 0 ? hz : 100);
    double start = (double)real.tv_sec - ((double)boot.tv_sec - since_boot);
    cached = start > 0 ? (uint64_t)start : 0;
    return cached;
}

static const char *mode_name(int mode)
{
    static const char *const names[] = {"api", "safepoint", "stuck", "idle"};
    return names[mode & 3];
}

int lrt__snapshot(struct lrt_runtime *rt, unsigned flags, int mode, const lrt__live *lv, lrt__jw *w)
{
    pthread_once(&sym_once, sym_init);
    struct snap *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -ENOMEM;
    s->rt = rt;
    s->w = w;
    s->flags = flags;
    s->mode = mode;
    s->live = lv;
    s->sc = (flags & LRT_DUMP_BACKTRACES) ? symcache_get() : NULL;
    uint64_t resolved0 = s->sc ? s->sc->resolved : 0;
    s->now_coarse = lrt__coarse_ns();
    s->now_rt = lrt__rt_now(rt);
    s->now_mono = lrt__mono_ns();
    s->self_in_poll = mode == LRT__SNAP_API && rt->current && rt->current->state == LRT__RUNNING;

    unsigned threads = 0, idle = 0;
    size_t queued = 0;
    lrt__pool_stats(rt, &threads, &idle, &queued);
    const char *state;
    if (mode == LRT__SNAP_STUCK)
        state = "stuck";
    else if (mode == LRT__SNAP_IDLE)
        state = "idle";
    else if (rt->shutting_down)
        state = "shutting_down";
    else
        state = rt->in_block_on ? "running" : "idle";

    lrt__jw_obj(w, NULL);
    lrt__jw_u64(w, "version", 1);
    lrt__jw_obj(w, "process");
    lrt__jw_i64(w, "pid", getpid());
    lrt__jw_str(w, "exe", exe_path);
    lrt__jw_u64(w, "start_time", process_start_unix());
    lrt__jw_str(w, "lrt_version", LRT_VERSION_STRING);
    lrt__jw_i64(w, "runtime_tid", rt->tid);
    lrt__jw_end(w, '}');

    lrt__jw_obj(w, "runtime");
    lrt__jw_str(w, "state", state);
    lrt__jw_str(w, "source", mode_name(mode));
    lrt__jw_bool(w, "consistent", mode != LRT__SNAP_IDLE && !(mode == LRT__SNAP_STUCK && !(lv && lv->have)));
    lrt__jw_u64(w, "uptime_ns", s->now_mono - rt->start_ns);
    lrt__jw_u64(w, "now_ns", s->now_rt);
    lrt__jw_bool(w, "paused_clock", rt->paused != 0);
    lrt__jw_u64(w, "current_task", rt->current && rt->current->state == LRT__RUNNING ? rt->current->id : 0);
    lrt__jw_u64(w, "alive_tasks", rt->alive);
    lrt__jw_u64(w, "spawned_tasks", rt->m.spawned);
    lrt__jw_u64(w, "polls", rt->m.polls);
    lrt__jw_u64(w, "forced_yields", rt->m.forced_yields);
    lrt__jw_u64(w, "io_ready_events", rt->m.io_ready);
    lrt__jw_u64(w, "io_registered", lrt__io_registered(rt));
    lrt__jw_u64(w, "io_waiters", lrt__io_waiters(rt));
    lrt__jw_u64(w, "timers_pending", rt->wheel.count);
    lrt__jw_u64(w, "timers_fired", rt->m.timers_fired);
    lrt__jw_u64(w, "remote_schedules", rt->m.remote_schedules);
    lrt__jw_u64(w, "parks", rt->m.parks);
    lrt__jw_u64(w, "blocking_jobs", rt->m.blocking_jobs);
    lrt__jw_u64(w, "blocking_threads_busy", threads >= idle ? threads - idle : 0);
    lrt__jw_u64(w, "blocking_threads_idle", idle);
    lrt__jw_u64(w, "blocking_queue_depth", queued);
    uint64_t stalls, suppressed;
    lrt__stall_counts(rt, &stalls, &suppressed);
    lrt__jw_u64(w, "stalls", stalls);
    lrt__jw_u64(w, "stalls_suppressed", suppressed);
    lrt__jw_u64(w, "event_interval", rt->event_interval);
    lrt__jw_u64(w, "budget", rt->budget);
    lrt__jw_u64(w, "stall_threshold_ms", rt->opts.stall_threshold_ms);
    lrt__jw_u64(w, "last_snapshot_pause_ns", rt->last_snapshot_pause_ns);
    hist(w, "poll_time_hist", rt->m.poll_hist, rt->m.polls);
    hist(w, "sched_latency_hist", rt->m.sched_hist, rt->m.polls);
    lrt__jw_end(w, '}');

    lrt__jw_arr(w, "tasks");
    size_t guard = rt->alive + 16;
    for (lrt__link *n = rt->tasks.next; n && n != &rt->tasks && guard--; n = n->next)
        snapshot_task(s, lrt__container_of(n, struct lrt_task, all));
    lrt__jw_end(w, ']');

    lrt__jw_arr(w, "io");
    lrt__io_foreach(rt, io_cb, s);
    lrt__jw_end(w, ']');

    lrt__jw_arr(w, "timers");
    lrt__timers_foreach(rt, timer_cb, s);
    lrt__jw_end(w, ']');

    lrt__jw_obj(w, "blocking");
    lrt__jw_u64(w, "threads", threads);
    lrt__jw_u64(w, "idle", idle);
    lrt__jw_u64(w, "queued", queued);
    lrt__jw_u64(w, "max_threads", rt->opts.max_blocking_threads);
    lrt__jw_arr(w, "jobs");
    lrt__pool_foreach(rt, job_cb, s);
    lrt__jw_end(w, ']');
    lrt__jw_end(w, '}');

    lrt__stall_json(rt, w);
    lrt__jw_end(w, '}');

    if (getenv("LRT_DUMP_DEBUG"))
        fprintf(stderr,
                "lrt: snapshot: %zu bytes, memo %" PRIu64 " hits %" PRIu64 " misses, %" PRIu64
                " symbols resolved, %.1f ms\n",
                w->len, s->memo_hits, s->memo_misses, s->sc ? s->sc->resolved - resolved0 : 0,
                (double)(lrt__mono_ns() - s->now_mono) / 1e6);
    symcache_put(s->sc);
    lrt__jw_free(&s->frag);
    munmap(s, sizeof *s);
    return w->oom ? -ENOMEM : 0;
}

char *lrt_dump_json(lrt_runtime_t *rt, unsigned flags)
{
    int err = 0;
    rt = lrt__rt_check(rt, &err);
    if (!rt) {
        errno = -err;
        return NULL;
    }
    lrt__jw w = {0};
    uint64_t t0 = lrt__mono_ns();
    err = lrt__snapshot(rt, flags, LRT__SNAP_API, NULL, &w);
    rt->last_snapshot_pause_ns = lrt__mono_ns() - t0;
    char *out = NULL;
    if (!err) {
        out = malloc(w.len + 1);
        if (out) {
            memcpy(out, w.buf, w.len);
            out[w.len] = 0;
        }
    }
    lrt__jw_free(&w);
    if (!out)
        errno = ENOMEM;
    return out;
}

/* ---- deadlock report -------------------------------------------------------------- */

static void fmt_dur(uint64_t ns, char *buf, size_t n)
{
    if (ns < 1000000000ull)
        snprintf(buf, n, "%" PRIu64 "ms", ns / 1000000);
    else if (ns < 120000000000ull)
        snprintf(buf, n, "%.1fs", (double)ns / 1e9);
    else
        snprintf(buf, n, "%" PRIu64 "m", (uint64_t)(ns / 60000000000ull));
}

void lrt__dump_deadlock(struct lrt_runtime *rt)
{
    pthread_once(&sym_once, sym_init);
    uint64_t now = lrt__coarse_ns();
    struct symcache *sc = symcache_new();
    lrt__frame f[MAX_FRAMES];
    fprintf(stderr, "lrt: %zu task(s) alive, all asleep:\n", rt->alive);
    fprintf(stderr, "  %-6s %-18s %-10s %-40s %8s  %s\n", "ID", "NAME", "STATE", "WAITING ON", "FOR",
            "SPAWNED AT / WAITS IN");
    for (lrt__link *n = rt->tasks.next; n != &rt->tasks; n = n->next) {
        const struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        char wait[96], dur[24];
        if (t->state == LRT__SUSPENDED || t->wait_kind == LRT__WAIT_YIELD)
            fmt_wait(lrt__rt_now(rt), t, wait, sizeof wait);
        else
            snprintf(wait, sizeof wait, "-");
        fmt_dur(now > t->state_since ? now - t->state_since : 0, dur, sizeof dur);
        fprintf(stderr, "  %-6" PRIu64 " %-18.18s %-10s %-40.40s %8s  %s:%d (%s)\n", t->id, t->name,
                lrt__state_names[t->state & 3], wait, dur, t->file, t->line, t->func);
        if ((t->flags & LRT__TF_STARTED) && t->stack && t->sp && t->state != LRT__FINISHED) {
            int k = unwind_saved(t, sc, f, MAX_FRAMES, NULL);
            for (int i = 0; i < k && i < 4; i++)
                fprintf(stderr, "  %6s   #%d %s+0x%" PRIx64 "\n", "", i, f[i].sym[0] ? f[i].sym : "??",
                        f[i].sym_off);
        }
    }
    symcache_free(sc);
}
