/*
 * srcline.c - file:line of a frame (module + offset), for the text dump on a signal
 * (sigdump.c), with libdw when the system has it.
 *
 * libdw is loaded with dlopen at the first use, not linked: most programs never take a
 * text dump and should not load it (nor its compression libraries), and a system without
 * libdw1 still gets frames as symbol+offset (module+offset), which addr2line resolves.
 * Built only where <elfutils/libdwfl.h> exists (libdw-dev); elsewhere every lookup fails.
 * Same method as lrt-dump's: one offline Dwfl per module, ip-1 for return addresses.
 *
 * Not for signal handlers (libdw mallocs): the dump thread only, runtime threads running.
 * Layer: calls nothing of lrt.  State: the dlopen'd functions (once per process); the
 * modules opened during one dump (struct lrt__srclines).
 */
#include "diag/diag.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdwfl.h>
#define HAVE_DWFL 1
#endif
#endif

#ifdef HAVE_DWFL
#define MAX_MODS 32

static struct {
    __typeof__(&dwfl_begin) begin;
    __typeof__(&dwfl_end) end;
    __typeof__(&dwfl_report_offline) report_offline;
    __typeof__(&dwfl_report_end) report_end;
    __typeof__(&dwfl_module_getelf) module_getelf;
    __typeof__(&dwfl_module_getsrc) module_getsrc;
    __typeof__(&dwfl_lineinfo) lineinfo;
    __typeof__(&dwfl_standard_find_debuginfo) find_debuginfo;
    __typeof__(&dwfl_offline_section_address) section_address;
    bool ok;
} dw;
static pthread_once_t dw_once = PTHREAD_ONCE_INIT;
static char *debuginfo_path;
static Dwfl_Callbacks callbacks;

static void dw_load(void)
{
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
#define SYM(field, name) ((dw.field = (__typeof__(dw.field))dlsym(h, name)) != NULL)
    dw.ok = SYM(begin, "dwfl_begin") && SYM(end, "dwfl_end") && SYM(report_offline, "dwfl_report_offline") &&
            SYM(report_end, "dwfl_report_end") && SYM(module_getelf, "dwfl_module_getelf") &&
            SYM(module_getsrc, "dwfl_module_getsrc") && SYM(lineinfo, "dwfl_lineinfo") &&
            SYM(find_debuginfo, "dwfl_standard_find_debuginfo") &&
            SYM(section_address, "dwfl_offline_section_address");
#undef SYM
    callbacks.find_debuginfo = dw.find_debuginfo;
    callbacks.section_address = dw.section_address;
    callbacks.debuginfo_path = &debuginfo_path;
    /* the library stays loaded: its functions may be in use on another thread */
}

struct lrt__srclines {
    int n;
    struct {
        char *path;
        Dwfl *dwfl;
        Dwfl_Module *mod;
        GElf_Addr bias;
    } m[MAX_MODS];
};

struct lrt__srclines *lrt__srclines_new(void)
{
    pthread_once(&dw_once, dw_load);
    return dw.ok ? calloc(1, sizeof(struct lrt__srclines)) : NULL;
}

void lrt__srclines_free(struct lrt__srclines *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        if (s->m[i].dwfl)
            dw.end(s->m[i].dwfl);
        free(s->m[i].path);
    }
    free(s);
}

bool lrt__srcline(struct lrt__srclines *s, const char *module, uint64_t mod_off, bool exact, char *out, size_t n)
{
    if (!s || !module || !*module)
        return false;
    int i = 0;
    while (i < s->n && strcmp(s->m[i].path, module) != 0)
        i++;
    if (i == s->n) {
        if (s->n == MAX_MODS || !(s->m[i].path = strdup(module)))
            return false;
        s->n++;
        if ((s->m[i].dwfl = dw.begin(&callbacks)) != NULL) {
            s->m[i].mod = dw.report_offline(s->m[i].dwfl, module, module, -1);
            dw.report_end(s->m[i].dwfl, NULL, NULL);
            Dwarf_Addr b = 0;
            if (s->m[i].mod && !dw.module_getelf(s->m[i].mod, &b))
                s->m[i].mod = NULL;
            s->m[i].bias = b;
        }
    }
    if (!s->m[i].mod)
        return false;
    Dwarf_Addr a = mod_off + s->m[i].bias - (exact ? 0 : 1); /* a return address: the call */
    Dwfl_Line *line = dw.module_getsrc(s->m[i].mod, a);
    int lineno = 0;
    const char *file = line ? dw.lineinfo(line, &a, &lineno, NULL, NULL, NULL) : NULL;
    if (!file)
        return false;
    snprintf(out, n, "%s:%d", file, lineno);
    return true;
}

#else /* no libdw headers at build time */

struct lrt__srclines *lrt__srclines_new(void)
{
    return NULL;
}

void lrt__srclines_free(struct lrt__srclines *s)
{
    (void)s;
}

bool lrt__srcline(struct lrt__srclines *s, const char *module, uint64_t mod_off, bool exact, char *out, size_t n)
{
    (void)s, (void)module, (void)mod_off, (void)exact, (void)out, (void)n;
    return false;
}
#endif
