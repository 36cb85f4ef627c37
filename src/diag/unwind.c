/*
 * unwind.c - symbols and backtraces: libunwind cursors seeded from a suspended task's
 * switch frame, from this thread, or from registers captured by live.c; symbols resolved
 * once per distinct ip and cached in mmap'd memory; lrt's own frames trimmed.
 *
 * A suspended task's registers are in the switch frame at t->sp (layout in
 * context_x86_64.S); they seed a libunwind cursor (unw_context_t is a ucontext_t on
 * x86-64).  Unwinding ends at lrt__ctx_entry (.cfi_undefined rip).  The innermost run of
 * lrt frames (by address: is_lrt_frame) is dropped except its outermost frame, which is
 * the public call the task made (lrt_read, lrt_sleep_ms: public functions that forward
 * keep their frame, LRT__NOTAIL), and so are lrt__task_main / lrt__ctx_entry at the
 * bottom: the last frame is the task's function.  Symbols are resolved once per distinct
 * ip and kept across snapshots (unw_get_proc_name reads the ELF symtab, so static
 * functions resolve too; see lrt__symcache_get).
 *
 * Fork safety: libunwind keeps process-wide mutexes (its init and caches) that a fork()
 * copies locked when another thread was unwinding at that moment; the child's first
 * unwind (its dump agent warming up, a crash report) then waits forever.  Every unwind
 * here holds fork_lock for reading, and a pthread_atfork handler takes it for writing,
 * so a fork waits until no thread of ours is inside libunwind.  A crash report does not
 * take it (a signal handler must not wait; the process is dying anyway): crash.c says so
 * with lrt__unwind_crashing() first.
 *
 * Layer: calls libunwind, the dynamic linker and lrt__ctx_entry's address; no other diag
 * file.  State: the process-wide symbol cache (taken without waiting, see
 * lrt__symcache_get) and one unwind scratch area per thread that unwinds.
 */
#define UNW_LOCAL_ONLY
#include "diag/diag.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static char exe_path[512];
static const struct link_map *lrt_map; /* liblrt's link map when it is a shared object */
static pthread_once_t sym_once = PTHREAD_ONCE_INIT;

static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static atomic_int crashing;

static void fork_prepare(void) { pthread_rwlock_wrlock(&fork_lock); }
static void fork_parent(void) { pthread_rwlock_unlock(&fork_lock); }
static void fork_child(void) { pthread_rwlock_init(&fork_lock, NULL); }
static void fork_register(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* Around every use of libunwind (top comment); false: not taken (a crash report). */
bool lrt__unwind_enter(void)
{
    if (atomic_load_explicit(&crashing, memory_order_relaxed))
        return false;
    pthread_once(&fork_once, fork_register);
    pthread_rwlock_rdlock(&fork_lock);
    return true;
}

void lrt__unwind_leave(bool taken)
{
    if (taken)
        pthread_rwlock_unlock(&fork_lock);
}

void lrt__unwind_crashing(void) { atomic_store(&crashing, 1); }

static void sym_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    Dl_info info;
    struct link_map *lm = NULL;
    /* any address inside liblrt names its link map: this file's own, not a call upward */
    if (dladdr1((void *)sym_init, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm && lm->l_name &&
        lm->l_name[0])
        lrt_map = lm;
}

void lrt__sym_init(void)
{
    pthread_once(&sym_once, sym_init);
}

const char *lrt__exe_path(void)
{
    return exe_path;
}

/* Cache of symbolized ips (open addressing, mmap'd). */
#define SYM_SLOTS 2048
struct lrt__symcache {
    lrt__frame slot[SYM_SLOTS];
    const struct link_map *map[SYM_SLOTS];
    size_t used;
    uint64_t resolved; /* ips looked up through libunwind (LRT_DUMP_DEBUG) */
    bool kept;         /* the process's cache (symcache_get), not a fresh one */
};

struct lrt__symcache *lrt__symcache_new(void)
{
    void *p = mmap(NULL, sizeof(struct lrt__symcache), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void lrt__symcache_free(struct lrt__symcache *c)
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
uint64_t lrt__symcache_resolved(const struct lrt__symcache *c)
{
    return c ? c->resolved : 0;
}

static struct lrt__symcache *sym_kept;
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

struct lrt__symcache *lrt__symcache_get(void)
{
    if (pthread_mutex_trylock(&sym_kept_mu) != 0)
        return lrt__symcache_new();
    unsigned long long gen[2] = {0, 0};
    dl_iterate_phdr(dl_gen, gen);
    if (sym_kept && (gen[0] != sym_kept_gen[0] || gen[1] != sym_kept_gen[1] || sym_kept->used >= SYM_SLOTS / 2)) {
        lrt__symcache_free(sym_kept);
        sym_kept = NULL;
    }
    if (!sym_kept && (sym_kept = lrt__symcache_new()) != NULL) {
        sym_kept->kept = true;
        sym_kept_gen[0] = gen[0];
        sym_kept_gen[1] = gen[1];
    }
    if (!sym_kept)
        pthread_mutex_unlock(&sym_kept_mu);
    return sym_kept;
}

void lrt__symcache_put(struct lrt__symcache *c)
{
    if (c && c->kept)
        pthread_mutex_unlock(&sym_kept_mu);
    else
        lrt__symcache_free(c);
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
            /* a bounded copy, not snprintf: this runs in crash.c's signal handler too */
            size_t k = 0;
            while (k + 1 < sizeof f->sym && info.dli_sname[k]) {
                f->sym[k] = info.dli_sname[k];
                k++;
            }
            f->sym[k] = 0;
            f->sym_off = f->ip - (uint64_t)(uintptr_t)info.dli_saddr;
        }
    }
}

/* Fill f (ip set) from the cache or from the cursor. */
static void symbolize(struct lrt__symcache *c, unw_cursor_t *cur, lrt__frame *f, const struct link_map **mapp)
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

/* Scratch space of one unwind: kept off the stack, because a snapshot taken at a safe
 * point or by lrt_dump_json() runs on a task's stack, which may be as small as 16 KiB. */
struct scratch {
    const struct link_map *maps[LRT__MAX_FRAMES];
    lrt__frame tmp[LRT__MAX_FRAMES];
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
static int unwind_cursor_unlocked(unw_cursor_t *cur, struct lrt__symcache *c, lrt__frame *out, int max,
                                  bool trim, bool *complete, struct lrt__rawtrace *raw)
{
    struct scratch *sc = scratch_get();
    if (!sc)
        return 0;
    const struct link_map **maps = sc->maps;
    lrt__frame *tmp = sc->tmp;
    int n = 0;
    if (max > LRT__MAX_FRAMES)
        max = LRT__MAX_FRAMES;
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
    } while (n < LRT__MAX_FRAMES && unw_step(cur) > 0);
    if (raw)
        raw->n = n;
    int first = 0, last = n;
    if (complete)
        *complete = n > 0 && n < LRT__MAX_FRAMES && is_entry_frame(&tmp[n - 1]);
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

/* Seed a cursor from @uc (@flags: unw_init_local2's) and walk it, under fork_lock. */
static int unwind_from(unw_context_t *uc, int flags, struct lrt__symcache *c, lrt__frame *out, int max,
                       bool *complete, struct lrt__rawtrace *raw)
{
    unw_cursor_t cur;
    bool lk = lrt__unwind_enter();
    int n = 0;
    if (unw_init_local2(&cur, uc, flags) == 0)
        n = unwind_cursor_unlocked(&cur, c, out, max, true, complete, raw);
    lrt__unwind_leave(lk);
    return n;
}

static void regs_to_uc(ucontext_t *uc, const uint64_t *g)
{
    memset(&uc->uc_mcontext, 0, sizeof uc->uc_mcontext);
    for (int i = 0; i < NGREG; i++)
        uc->uc_mcontext.gregs[i] = (greg_t)g[i];
}

int lrt__unwind_saved(const struct lrt_task *t, struct lrt__symcache *c, lrt__frame *out, int max,
                        struct lrt__rawtrace *raw)
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
    regs_to_uc(&uc, g);
    if (raw)
        raw->sp0 = (uint64_t)(uintptr_t)sp;
    return unwind_from(&uc, 0, c, out, max, NULL, raw);
}

int __attribute__((noinline)) lrt__unwind_current(struct lrt__symcache *c, lrt__frame *out, int max)
{
    unw_context_t uc;
    unw_getcontext(&uc); /* here: the frames above are this function's callers */
    return unwind_from(&uc, 0, c, out, max, NULL, NULL);
}

int lrt__unwind_regs(const uint64_t *gregs, struct lrt__symcache *c, lrt__frame *out, int max, bool *complete)
{
    unw_context_t uc;
    regs_to_uc(&uc, gregs);
    /* the ip is where the thread resumes, not a return address */
    return unwind_from(&uc, UNW_INIT_SIGNAL_FRAME, c, out, max, complete, NULL);
}

/* The symbol at @ip (a function's address: a blocking job's fn), as a frame: a cursor set
 * at @ip on a scratch stack, symbolized without stepping (no memory of the program is
 * read beyond its ELF images). */
void lrt__symbolize_ip(uint64_t ip, struct lrt__symcache *c, lrt__frame *out)
{
    uint64_t scratch[4] = {0};
    uint64_t g[NGREG] = {0};
    g[REG_RIP] = ip;
    g[REG_RSP] = (uint64_t)(uintptr_t)scratch;
    unw_context_t uc;
    unw_cursor_t cur;
    const struct link_map *map = NULL;
    regs_to_uc(&uc, g);
    memset(out, 0, sizeof *out);
    out->ip = ip;
    bool lk = lrt__unwind_enter();
    symbolize(c, unw_init_local2(&cur, &uc, UNW_INIT_SIGNAL_FRAME) == 0 ? &cur : NULL, out, &map);
    lrt__unwind_leave(lk);
}

int lrt__unwind_live(const lrt__live *lv, lrt__frame *out, int max)
{
    pthread_once(&sym_once, sym_init);
    if (!lv->have && !lv->in_syscall)
        return 0;
    return lrt__unwind_regs(lv->gregs, NULL, out, max, NULL);
}

void lrt__unwind_warm(void)
{
    lrt__frame f[4];
    pthread_once(&sym_once, sym_init);
    lrt__unwind_current(NULL, f, 4);
}
