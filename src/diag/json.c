/*
 * json.c - the JSON writer of snapshots (lrt__jw_*): text appended to an mmap'd buffer.
 *
 * Why not jansson (the project's JSON library, used by the agent to parse requests):
 * the dump agent writes a snapshot while the runtime thread is frozen in a signal
 * handler (live.c), possibly inside malloc holding the arena lock.  jansson mallocs per
 * node, so building the snapshot with it could deadlock the agent on that lock.  This
 * writer allocates with mmap only, formats numbers by hand and takes no lock, which also
 * lets the safe-point snapshot run on a small task stack.  It writes, never parses.
 *
 * Layer: the bottom of src/diag; calls libc only.  No state of its own: a writer belongs
 * to whichever thread is writing it.
 */
#include "diag/diag.h"

#include <string.h>
#include <sys/mman.h>


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

void lrt__jw_sep(lrt__jw *w, const char *key)
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
    lrt__jw_sep(w, key);
    jw_c(w, '{');
    if (w->depth < 31)
        w->depth++;
    w->first[w->depth] = 1;
}

void lrt__jw_arr(lrt__jw *w, const char *key)
{
    lrt__jw_sep(w, key);
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
    lrt__jw_sep(w, key);
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
    lrt__jw_sep(w, key);
    jw_lit(w, fmt_u64(b + sizeof b, v));
}

void lrt__jw_i64(lrt__jw *w, const char *key, int64_t v)
{
    char b[24];
    lrt__jw_sep(w, key);
    if (v < 0) {
        jw_c(w, '-');
        jw_lit(w, fmt_u64(b + sizeof b, (uint64_t)0 - (uint64_t)v));
    } else {
        jw_lit(w, fmt_u64(b + sizeof b, (uint64_t)v));
    }
}

void lrt__jw_bool(lrt__jw *w, const char *key, bool v)
{
    lrt__jw_sep(w, key);
    jw_lit(w, v ? "true" : "false");
}

void lrt__jw_hex(lrt__jw *w, const char *key, uint64_t v)
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
    lrt__jw_sep(w, key);
    jw_c(w, '"');
    jw_lit(w, p);
    jw_c(w, '"');
}

void lrt__jw_frames(lrt__jw *w, const char *key, const lrt__frame *f, int n)
{
    lrt__jw_arr(w, key);
    for (int i = 0; i < n; i++) {
        lrt__jw_obj(w, NULL);
        lrt__jw_hex(w, "ip", f[i].ip);
        lrt__jw_str(w, "symbol", f[i].sym[0] ? f[i].sym : NULL);
        lrt__jw_u64(w, "offset", f[i].sym_off);
        lrt__jw_str(w, "module", f[i].module);
        lrt__jw_hex(w, "module_offset", f[i].mod_off);
        lrt__jw_end(w, '}');
    }
    lrt__jw_end(w, ']');
}
