/*
 * kv - a RESP (Redis protocol) key-value server: a real service on lrt.
 *
 *   build/examples/kv [--idle-timeout=MS] PORT       (PORT 0 = any free port)
 *   redis-cli -p PORT set greeting hello; redis-cli -p PORT get greeting
 *   redis-benchmark -p PORT -t set,get,incr,ping -q
 *
 * Listens on 127.0.0.1:PORT and prints "kv: listening on 127.0.0.1:PORT" (the real port)
 * on stdout once it accepts connections.  Commands: PING [msg], ECHO msg, SET key value
 * [EX s|PX ms] [NX|XX], GET key, INCR key, DEL key..., CONFIG GET save|appendonly (what
 * redis-benchmark asks), QUIT; both the RESP array form and inline commands ("PING" typed
 * into a terminal; words split on blanks, no quoting).  Pipelined commands are answered in
 * one write per read (sooner past 64 KiB of replies).  SIGINT/SIGTERM: stop accepting, close idle connections, give the
 * others 1 s to finish what they read, cut the rest, exit 0.
 *
 * The shape a service takes on lrt: an accept loop task, a task per connection in a
 * group ("connections"), a deadline per idle connection (each read and write waits at most
 * the idle timeout, default 300 s), a task expiring keys every 100 ms, and the root task
 * waiting for a signal.  With LRT_DUMP=1 in the environment, `lrt-dump PID` shows each
 * connection as a task named after its peer, waiting on its socket.
 *
 * Limits against hostile clients (as Redis): one argument ("bulk") at most 512 MiB, one
 * command at most 1 GiB of input and 1M arguments, an inline command at most 64 KiB; a
 * header line of the RESP form at most 24 bytes.  A client breaking them gets "-ERR
 * Protocol error: ..." and is disconnected.  Memory follows the bytes a client really
 * sends, never a length it announces.  Keys expire lazily when touched and, for keys
 * nobody touches, by the 100 ms sweep of a slice of the table.  The table doubles in one
 * go when half full (a pause that grows with the keys present, once per doubling), where
 * Redis rehashes a little at a time.
 */
#include <lrt/lrt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KV_MAX_BULK ((size_t)512 << 20)  /* one argument: Redis's proto-max-bulk-len */
#define KV_MAX_QUERY ((size_t)1 << 30)   /* one command's input: client-query-buffer-limit */
#define KV_MAX_ARGS (1L << 20)
#define KV_MAX_INLINE ((size_t)64 << 10) /* Redis's PROTO_INLINE_MAX_SIZE */
#define KV_HDR_MAX 24                    /* "*<count>\r\n" or "$<length>\r\n" */
#define KV_IBUF ((size_t)16 << 10)       /* a connection's input buffer, grown on demand */
#define KV_OBUF_FLUSH ((size_t)64 << 10) /* replies written before the batch ends */
#define KV_BIG_VALUE ((size_t)16 << 10)  /* GET replies written from the value itself */

/* ---- the store: open addressing, linear probing, backward-shift deletion ----------- */

/* Values are reference counted: a GET of a big value writes it straight from here and may
 * suspend meanwhile, while another connection overwrites or deletes the key. */
struct val {
    uint32_t refs;
    size_t len, cap;
    char data[];
};

struct item {
    struct val *v;
    uint64_t expire_ns; /* lrt_now_ns() clock; 0 = never */
    size_t klen;
    char key[];
};

struct slot {
    uint64_t hash;
    struct item *it; /* NULL = empty */
};

struct store {
    struct slot *slots;
    size_t mask, count, nttl, cursor;
    uint64_t seed; /* per process: keys chosen to collide in one run miss in the next */
};

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull), w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 29);
}

static struct val *val_new(const char *p, size_t n)
{
    size_t cap = n < 24 ? 24 : n; /* room for any INCR result, rewritten in place */
    struct val *v = malloc(sizeof *v + cap);
    if (!v)
        return NULL;
    v->refs = 1;
    v->len = n;
    v->cap = cap;
    memcpy(v->data, p, n);
    return v;
}

static void val_release(struct val *v)
{
    if (--v->refs == 0)
        free(v);
}

static int store_init(struct store *st)
{
    *st = (struct store){.mask = 1023};
    if (getrandom(&st->seed, sizeof st->seed, GRND_NONBLOCK) != sizeof st->seed)
        st->seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    st->slots = calloc(st->mask + 1, sizeof *st->slots);
    return st->slots ? 0 : -ENOMEM;
}

static void store_free(struct store *st)
{
    for (size_t i = 0; i <= st->mask; i++)
        if (st->slots[i].it) {
            val_release(st->slots[i].it->v);
            free(st->slots[i].it);
        }
    free(st->slots);
}

static size_t store_find(const struct store *st, const char *k, size_t kl, uint64_t h)
{
    for (size_t i = h & st->mask;; i = (i + 1) & st->mask) {
        const struct item *it = st->slots[i].it;
        if (!it)
            return SIZE_MAX;
        if (st->slots[i].hash == h && it->klen == kl && memcmp(it->key, k, kl) == 0)
            return i;
    }
}

static void store_del_at(struct store *st, size_t i)
{
    struct item *it = st->slots[i].it;
    st->nttl -= it->expire_ns != 0;
    st->count--;
    val_release(it->v);
    free(it);
    /* Backward shift: pull each following entry of the run into the hole unless its home
     * slot lies cyclically in (hole, entry], so every probe still finds it, no tombstones. */
    for (size_t j = (i + 1) & st->mask; st->slots[j].it; j = (j + 1) & st->mask) {
        size_t home = st->slots[j].hash & st->mask;
        if (((j - home) & st->mask) >= ((j - i) & st->mask)) {
            st->slots[i] = st->slots[j];
            i = j;
        }
    }
    st->slots[i].it = NULL;
}

/* The live item of key @k, or NULL; an expired one is deleted on the way. */
static struct item *store_get(struct store *st, const char *k, size_t kl, uint64_t h, size_t *at)
{
    size_t i = store_find(st, k, kl, h);
    if (i == SIZE_MAX)
        return NULL;
    struct item *it = st->slots[i].it;
    if (it->expire_ns && it->expire_ns <= lrt_now_ns()) {
        store_del_at(st, i);
        return NULL;
    }
    if (at)
        *at = i;
    return it;
}

/* Insert a key known to be absent; its value is taken over.  NULL when out of memory. */
static struct item *store_add(struct store *st, const char *k, size_t kl, uint64_t h, struct val *v)
{
    if ((st->count + 1) * 2 > st->mask + 1) { /* load <= 1/2: short probe runs */
        size_t nmask = st->mask * 2 + 1;
        struct slot *ns = calloc(nmask + 1, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i <= st->mask; i++) {
            if (!st->slots[i].it)
                continue;
            size_t j = st->slots[i].hash & nmask;
            while (ns[j].it)
                j = (j + 1) & nmask;
            ns[j] = st->slots[i];
        }
        free(st->slots);
        st->slots = ns;
        st->mask = nmask;
    }
    struct item *it = malloc(sizeof *it + kl);
    if (!it)
        return NULL;
    *it = (struct item){.v = v, .klen = kl};
    memcpy(it->key, k, kl);
    size_t i = h & st->mask;
    while (st->slots[i].it)
        i = (i + 1) & st->mask;
    st->slots[i] = (struct slot){h, it};
    st->count++;
    return it;
}

static void item_set_expire(struct store *st, struct item *it, uint64_t expire_ns)
{
    st->nttl += (expire_ns != 0) - (it->expire_ns != 0);
    it->expire_ns = expire_ns;
}

/* Delete expired keys among the next @budget slots: keys nobody reads again go too. */
static void store_sweep(struct store *st, size_t budget)
{
    uint64_t now = lrt_now_ns();
    for (size_t n = 0; n < budget && st->nttl; n++) {
        size_t i = st->cursor & st->mask;
        struct item *it = st->slots[i].it;
        if (it && it->expire_ns && it->expire_ns <= now)
            store_del_at(st, i); /* a later entry may have shifted into i: look again */
        else
            st->cursor = i + 1;
    }
}

/* ---- connections ----------------------------------------------------------------- */

struct arg {
    size_t off, len; /* from the start of the command, which moves when the buffer does */
};

struct server;

struct conn {
    struct conn *prev, *next; /* the server's list of live connections */
    struct server *srv;
    lrt_task_t *task;   /* kept by the group; ours for lrt_abort() while on the list */
    int fd;
    bool idle;          /* waiting for a new command: shutdown closes it at once */
    char *ibuf;         /* input: [ipos, ilen) not yet executed */
    size_t icap, ilen, ipos;
    size_t scan;        /* parse state of the command at ipos: next byte to look at, */
    long want, argc;    /* arguments announced (0: command not started) and complete, */
    long long bulk;     /* length of the argument being read, -1: its header is next */
    struct arg *argv;
    size_t argcap;
    char *obuf;         /* replies of this batch */
    size_t ocap, olen;
    bool oom;           /* a reply could not be buffered: the connection is cut */
    const char *perr;   /* protocol error */
    char name[40];      /* the task's name ("conn 127.0.0.1:PORT"): freed after its join */
};

struct server {
    struct store st;
    lrt_group_t *conns;
    struct conn *live; /* connections whose task has not returned */
    int lfd, reserve_fd;
    int64_t idle_ms;
    bool draining;
};

static void ob_add(struct conn *c, const void *p, size_t n)
{
    if (c->ocap - c->olen < n) {
        size_t cap = c->ocap ? c->ocap : KV_IBUF;
        while (cap - c->olen < n)
            cap *= 2;
        char *b = realloc(c->obuf, cap);
        if (!b) {
            c->oom = true;
            return;
        }
        c->obuf = b;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, p, n);
    c->olen += n;
}

#define OB_LIT(c, s) ob_add((c), s, sizeof s - 1)

static size_t fmt_ll(char *out, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        tmp[n++] = '-';
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* ":<v>\r\n", "$<v>\r\n", "*<v>\r\n" */
static void ob_num(struct conn *c, char type, long long v)
{
    char b[32];
    b[0] = type;
    size_t n = 1 + fmt_ll(b + 1, v);
    b[n++] = '\r';
    b[n++] = '\n';
    ob_add(c, b, n);
}

static void ob_bulk(struct conn *c, const char *p, size_t n)
{
    ob_num(c, '$', (long long)n);
    ob_add(c, p, n);
    OB_LIT(c, "\r\n");
}

/* Write @n bytes, waiting at most the idle timeout for each bit of progress: a client
 * that stops reading its replies is cut off like one that stops sending. */
static int write_all(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t k = lrt_write_timeout(c->fd, p, n, c->srv->idle_ms);
        if (k < 0)
            return (int)k;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush(struct conn *c)
{
    int rc = write_all(c, c->obuf, c->olen);
    c->olen = 0;
    return rc;
}

/* Strict decimal (no blanks, sign only '-', no leading zeros): what Redis accepts. */
static bool parse_ll(const char *p, size_t n, long long *out)
{
    if (n == 0 || n > 20)
        return false;
    size_t i = p[0] == '-';
    if (i == n || (p[i] == '0' && n > i + 1))
        return false;
    unsigned long long u = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9 || __builtin_mul_overflow(u, 10, &u) || __builtin_add_overflow(u, d, &u))
            return false;
    }
    if (p[0] != '-') {
        if (u > LLONG_MAX)
            return false;
        *out = (long long)u;
    } else {
        if (u > (unsigned long long)LLONG_MAX + 1)
            return false;
        *out = u == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)u;
    }
    return true;
}

/* ---- RESP parsing: incremental, one command at a time, nothing copied --------------- */

static bool arg_push(struct conn *c, size_t off, size_t len)
{
    if ((size_t)c->argc == c->argcap) {
        size_t cap = c->argcap ? c->argcap * 2 : 16;
        struct arg *a = realloc(c->argv, cap * sizeof *a);
        if (!a)
            return false;
        c->argv = a;
        c->argcap = cap;
    }
    c->argv[c->argc++] = (struct arg){off, len};
    return true;
}

/* The header line at @at ("*3\r\n", "$5\r\n"): its length with the number in *@n, 0 while
 * incomplete, -1 when malformed (not "-"?digits CRLF within KV_HDR_MAX bytes, more than
 * 18 digits, a leading zero).  One pass over the bytes: every argument has a header, so
 * this is the parser's inner loop. */
static long header(const struct conn *c, size_t at, long long *n)
{
    const char *p = c->ibuf + at;
    size_t avail = c->ilen - at;
    const char *e = p + (avail < KV_HDR_MAX ? avail : KV_HDR_MAX);
    const char *q = p + 1;
    bool neg = q < e && *q == '-';
    q += neg;
    const char *d0 = q;
    unsigned long long u = 0; /* at most 18 digits: no overflow */
    for (; q < e && (unsigned)(*q - '0') <= 9; q++) {
        if (q - d0 == 18)
            return -1;
        u = u * 10 + (unsigned)(*q - '0');
    }
    if (q == e) /* the digits may go on */
        return avail < KV_HDR_MAX ? 0 : -1;
    if (q == d0 || (*d0 == '0' && q - d0 > 1) || q[0] != '\r')
        return -1;
    if (q + 1 == e)
        return avail < KV_HDR_MAX ? 0 : -1;
    if (q[1] != '\n')
        return -1;
    *n = neg ? -(long long)u : (long long)u;
    return q + 2 - p;
}

/* An inline command: 1 parsed, 0 incomplete, 2 empty line skipped, -1 too long. */
static int parse_inline(struct conn *c)
{
    const char *p = c->ibuf + c->ipos;
    size_t avail = c->ilen - c->ipos;
    const char *nl = memchr(p, '\n', avail < KV_MAX_INLINE ? avail : KV_MAX_INLINE);
    if (!nl) {
        if (avail < KV_MAX_INLINE)
            return 0;
        c->perr = "too big inline request";
        return -1;
    }
    const char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    c->argc = 0;
    for (const char *q = p; q < e;) {
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        const char *s = q;
        while (q < e && *q != ' ' && *q != '\t')
            q++;
        if (q > s && !arg_push(c, (size_t)(s - p), (size_t)(q - s))) {
            c->perr = "out of memory";
            return -1;
        }
    }
    c->scan = (size_t)(nl + 1 - c->ibuf);
    if (c->argc == 0) {
        c->ipos = c->scan;
        return 2;
    }
    c->want = c->argc;
    return 1;
}

/* The next command of the buffer: 1 complete (argv set), 0 incomplete (state kept, so the
 * next read continues where this one stopped), -1 protocol error (perr set). */
static int parse(struct conn *c)
{
    while (c->want == 0) {
        if (c->ipos == c->ilen)
            return 0;
        if (c->ibuf[c->ipos] != '*') {
            int r = parse_inline(c);
            if (r == 2)
                continue;
            return r;
        }
        long long n;
        long h = header(c, c->ipos, &n);
        if (h <= 0 || n > KV_MAX_ARGS) {
            c->perr = "invalid multibulk length";
            return h == 0 ? 0 : -1;
        }
        c->scan = c->ipos + (size_t)h;
        if (n <= 0) { /* "*0" / "*-1": nothing to do, as Redis */
            c->ipos = c->scan;
            continue;
        }
        c->want = (long)n;
        c->argc = 0;
        c->bulk = -1;
    }
    while (c->argc < c->want) {
        if (c->bulk < 0) {
            if (c->scan == c->ilen)
                return 0;
            if (c->ibuf[c->scan] != '$') {
                c->perr = "expected '$'";
                return -1;
            }
            long long n;
            long h = header(c, c->scan, &n);
            if (h == 0)
                return 0;
            if (h < 0 || n < 0 || (size_t)n > KV_MAX_BULK) {
                c->perr = "invalid bulk length";
                return -1;
            }
            c->bulk = n;
            c->scan += (size_t)h;
        }
        size_t b = (size_t)c->bulk;
        if (c->ilen - c->scan < b + 2)
            return 0;
        if (c->ibuf[c->scan + b] != '\r' || c->ibuf[c->scan + b + 1] != '\n') {
            c->perr = "bulk data not followed by CRLF";
            return -1;
        }
        if (!arg_push(c, c->scan - c->ipos, b)) {
            c->perr = "out of memory";
            return -1;
        }
        c->scan += b + 2;
        c->bulk = -1;
    }
    return 1;
}

/* ---- commands --------------------------------------------------------------------- */

#define ARG(c, i) ((c)->ibuf + (c)->ipos + (c)->argv[i].off)
#define LEN(c, i) ((c)->argv[i].len)

/* Argument @i is @word (lower-case letters) in any case.  Setting bit 5 maps exactly
 * 'A'-'Z' and 'a'-'z' onto 'a'-'z': no other byte can match a letter that way. */
static bool arg_is(const struct conn *c, long i, const char *word)
{
    const char *a = ARG(c, i);
    size_t n = LEN(c, i), k = 0;
    for (; k < n && word[k]; k++)
        if ((a[k] | 0x20) != word[k])
            return false;
    return k == n && !word[k];
}

static int arity(struct conn *c, const char *cmd)
{
    OB_LIT(c, "-ERR wrong number of arguments for '");
    ob_add(c, cmd, strlen(cmd));
    OB_LIT(c, "' command\r\n");
    return 0;
}

static int cmd_get(struct conn *c)
{
    if (c->argc != 2)
        return arity(c, "get");
    struct store *st = &c->srv->st;
    struct item *it = store_get(st, ARG(c, 1), LEN(c, 1), hash_bytes(ARG(c, 1), LEN(c, 1), st->seed), NULL);
    if (!it) {
        OB_LIT(c, "$-1\r\n");
        return 0;
    }
    struct val *v = it->v;
    if (v->len <= KV_BIG_VALUE) {
        ob_bulk(c, v->data, v->len);
        return 0;
    }
    /* Not copied: our reference keeps it alive while the write suspends. */
    ob_num(c, '$', (long long)v->len);
    if (c->oom)
        return -ENOMEM;
    v->refs++;
    int rc = flush(c);
    if (rc == 0)
        rc = write_all(c, v->data, v->len);
    val_release(v);
    OB_LIT(c, "\r\n");
    return rc;
}

static int cmd_set(struct conn *c)
{
    if (c->argc < 3)
        return arity(c, "set");
    uint64_t ttl_ns = 0;
    bool nx = false, xx = false;
    for (long i = 3; i < c->argc; i++) {
        bool ex = arg_is(c, i, "ex");
        if (arg_is(c, i, "nx")) {
            nx = true;
        } else if (arg_is(c, i, "xx")) {
            xx = true;
        } else if ((ex || arg_is(c, i, "px")) && i + 1 < c->argc && !ttl_ns) {
            long long t;
            if (!parse_ll(ARG(c, i + 1), LEN(c, i + 1), &t)) {
                OB_LIT(c, "-ERR value is not an integer or out of range\r\n");
                return 0;
            }
            /* under 2^62 ns: lrt_now_ns() + ttl never wraps */
            if (t <= 0 || (uint64_t)t > (ex ? 4611686018ull : 4611686018427ull)) {
                OB_LIT(c, "-ERR invalid expire time in 'set' command\r\n");
                return 0;
            }
            ttl_ns = (uint64_t)t * (ex ? 1000000000ull : 1000000ull);
            i++;
        } else {
            OB_LIT(c, "-ERR syntax error\r\n");
            return 0;
        }
    }
    if (nx && xx) {
        OB_LIT(c, "-ERR syntax error\r\n");
        return 0;
    }
    struct store *st = &c->srv->st;
    uint64_t h = hash_bytes(ARG(c, 1), LEN(c, 1), st->seed);
    struct item *it = store_get(st, ARG(c, 1), LEN(c, 1), h, NULL);
    if ((nx && it) || (xx && !it)) {
        OB_LIT(c, "$-1\r\n");
        return 0;
    }
    struct val *v = val_new(ARG(c, 2), LEN(c, 2));
    if (v && !it && !(it = store_add(st, ARG(c, 1), LEN(c, 1), h, v))) {
        free(v);
        v = NULL;
    }
    if (!v) {
        OB_LIT(c, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
        return 0;
    }
    if (it->v != v) {
        val_release(it->v);
        it->v = v;
    }
    item_set_expire(st, it, ttl_ns ? lrt_now_ns() + ttl_ns : 0); /* plain SET drops a TTL */
    OB_LIT(c, "+OK\r\n");
    return 0;
}

static int cmd_incr(struct conn *c)
{
    if (c->argc != 2)
        return arity(c, "incr");
    struct store *st = &c->srv->st;
    uint64_t h = hash_bytes(ARG(c, 1), LEN(c, 1), st->seed);
    struct item *it = store_get(st, ARG(c, 1), LEN(c, 1), h, NULL);
    long long n = 0;
    if (it && !parse_ll(it->v->data, it->v->len, &n)) {
        OB_LIT(c, "-ERR value is not an integer or out of range\r\n");
        return 0;
    }
    if (n == LLONG_MAX) {
        OB_LIT(c, "-ERR increment or decrement would overflow\r\n");
        return 0;
    }
    char b[24];
    size_t bl = fmt_ll(b, ++n);
    if (it && it->v->refs == 1) { /* nobody is writing it out: rewrite in place (cap >= 24) */
        memcpy(it->v->data, b, bl);
        it->v->len = bl;
    } else {
        struct val *v = val_new(b, bl);
        if (v && !it && !store_add(st, ARG(c, 1), LEN(c, 1), h, v)) {
            free(v);
            v = NULL;
        }
        if (!v) {
            OB_LIT(c, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
            return 0;
        }
        if (it) { /* the key keeps its TTL, as in Redis */
            val_release(it->v);
            it->v = v;
        }
    }
    ob_num(c, ':', n);
    return 0;
}

static int cmd_del(struct conn *c)
{
    if (c->argc < 2)
        return arity(c, "del");
    struct store *st = &c->srv->st;
    long long n = 0;
    for (long i = 1; i < c->argc; i++) {
        size_t at;
        if (store_get(st, ARG(c, i), LEN(c, i), hash_bytes(ARG(c, i), LEN(c, i), st->seed), &at)) {
            store_del_at(st, at);
            n++;
        }
    }
    ob_num(c, ':', n);
    return 0;
}

/* CONFIG GET for the two parameters redis-benchmark reads before it runs. */
static int cmd_config(struct conn *c)
{
    if (c->argc < 2 || !arg_is(c, 1, "get")) {
        OB_LIT(c, "-ERR unknown subcommand or wrong number of arguments for 'config'\r\n");
        return 0;
    }
    if (c->argc < 3)
        return arity(c, "config|get");
    static const char *const params[][2] = {{"save", ""}, {"appendonly", "no"}};
    long long pairs = 0;
    for (size_t p = 0; p < 2; p++)
        for (long i = 2; i < c->argc; i++)
            if (arg_is(c, i, params[p][0])) {
                pairs++;
                break;
            }
    ob_num(c, '*', 2 * pairs);
    for (size_t p = 0; p < 2; p++)
        for (long i = 2; i < c->argc; i++)
            if (arg_is(c, i, params[p][0])) {
                ob_bulk(c, params[p][0], strlen(params[p][0]));
                ob_bulk(c, params[p][1], strlen(params[p][1]));
                break;
            }
    return 0;
}

static int cmd_unknown(struct conn *c)
{
    char name[64];
    size_t n = LEN(c, 0) < sizeof name ? LEN(c, 0) : sizeof name;
    for (size_t i = 0; i < n; i++) { /* the reply is one line: no CR/LF from the client */
        unsigned char ch = (unsigned char)ARG(c, 0)[i];
        name[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    OB_LIT(c, "-ERR unknown command '");
    ob_add(c, name, n);
    OB_LIT(c, "'\r\n");
    return 0;
}

/* Run the parsed command: 0 go on, 1 close after the replies (QUIT), < 0 I/O error. */
static int exec(struct conn *c)
{
    switch (LEN(c, 0)) {
    case 3:
        if (arg_is(c, 0, "get"))
            return cmd_get(c);
        if (arg_is(c, 0, "set"))
            return cmd_set(c);
        if (arg_is(c, 0, "del"))
            return cmd_del(c);
        break;
    case 4:
        if (arg_is(c, 0, "ping")) {
            if (c->argc > 2)
                return arity(c, "ping");
            if (c->argc == 2)
                ob_bulk(c, ARG(c, 1), LEN(c, 1));
            else
                OB_LIT(c, "+PONG\r\n");
            return 0;
        }
        if (arg_is(c, 0, "incr"))
            return cmd_incr(c);
        if (arg_is(c, 0, "echo")) {
            if (c->argc != 2)
                return arity(c, "echo");
            ob_bulk(c, ARG(c, 1), LEN(c, 1));
            return 0;
        }
        if (arg_is(c, 0, "quit")) {
            OB_LIT(c, "+OK\r\n");
            return 1;
        }
        break;
    case 6:
        if (arg_is(c, 0, "config"))
            return cmd_config(c);
        break;
    }
    return cmd_unknown(c);
}

/* Execute every complete command in the buffer, replies into obuf: 0 read on, 1 close
 * once the replies are out (QUIT, protocol error), < 0 close now. */
static int process(struct conn *c)
{
    for (;;) {
        int r = parse(c);
        if (r == 0)
            return 0;
        if (r < 0) {
            OB_LIT(c, "-ERR Protocol error: ");
            ob_add(c, c->perr, strlen(c->perr));
            OB_LIT(c, "\r\n");
            return 1;
        }
        r = exec(c);
        c->ipos = c->scan;
        c->want = c->argc = 0;
        if (c->oom)
            return -ENOMEM;
        if (r != 0)
            return r;
        if (c->olen >= KV_OBUF_FLUSH && flush(c) < 0)
            return -EPIPE;
    }
}

/* Room to read into: move the unexecuted part to the front, else grow (up to a command
 * of KV_MAX_QUERY).  -1 when one command would exceed that. */
static int make_room(struct conn *c)
{
    if (c->ipos > 0) {
        memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
        c->ilen -= c->ipos;
        c->scan -= c->ipos;
        c->ipos = 0;
        if (c->ilen < c->icap)
            return 0;
    }
    if (c->icap >= KV_MAX_QUERY)
        return -1;
    char *b = realloc(c->ibuf, c->icap * 2);
    if (!b)
        return -1;
    c->ibuf = b;
    c->icap *= 2;
    return 0;
}

/* Drop the memory a big command or reply left behind once the connection is idle. */
static void shrink(struct conn *c)
{
    if (c->icap > KV_IBUF) {
        char *b = malloc(KV_IBUF);
        if (b) {
            free(c->ibuf);
            c->ibuf = b;
            c->icap = KV_IBUF;
        }
    }
    if (c->ocap > 4 * KV_OBUF_FLUSH) {
        free(c->obuf);
        c->obuf = NULL;
        c->ocap = 0;
    }
    if (c->argcap > 1024) {
        free(c->argv);
        c->argv = NULL;
        c->argcap = 0;
    }
}

static void *conn_task(void *arg)
{
    struct conn *c = arg;
    struct server *s = c->srv;
    for (;;) {
        /* shutting down: an idle connection ends here, a busy one once it has answered
         * what it read (the root task cuts it after 1 s) */
        if (s->draining && c->ipos == c->ilen)
            break;
        if (c->ilen == c->icap && make_room(c) < 0) {
            OB_LIT(c, "-ERR Protocol error: too big request\r\n");
            (void)flush(c);
            break;
        }
        /* At most KV_IBUF of commands per read, or what the argument being read still
         * lacks: a buffer grown for a big value must not let one read bring megabytes of
         * small commands that would hold the thread for one poll. */
        size_t room = c->icap - c->ilen, want = KV_IBUF;
        if (c->want && c->bulk >= 0 && c->ilen - c->scan < (size_t)c->bulk + 2 &&
            (size_t)c->bulk + 2 - (c->ilen - c->scan) > want)
            want = (size_t)c->bulk + 2 - (c->ilen - c->scan);
        c->idle = c->ipos == c->ilen;
        ssize_t n = lrt_read_timeout(c->fd, c->ibuf + c->ilen, room < want ? room : want, s->idle_ms);
        c->idle = false;
        if (n <= 0)
            break; /* EOF, idle timeout, reset, cancelled */
        c->ilen += (size_t)n;
        int r = process(c);
        if (r < 0 || (c->olen && flush(c) < 0) || r > 0)
            break;
        if (c->ipos == c->ilen) {
            c->ipos = c->ilen = c->scan = 0;
            shrink(c);
        }
    }
    lrt_close(c->fd);
    free(c->ibuf);
    free(c->obuf);
    free(c->argv);
    c->ibuf = c->obuf = NULL;
    c->argv = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    return c; /* freed by whoever joins it: the task's name lives in it */
}

static struct conn *conn_new(struct server *s, int fd, const struct sockaddr_in *peer)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c || !(c->ibuf = malloc(KV_IBUF))) {
        free(c);
        return NULL;
    }
    c->srv = s;
    c->fd = fd;
    c->icap = KV_IBUF;
    c->bulk = -1;
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof ip);
    snprintf(c->name, sizeof c->name, "conn %s:%u", ip, ntohs(peer->sin_port));
    c->next = s->live;
    if (s->live)
        s->live->prev = c;
    s->live = c;
    return c;
}

static void conn_unlist_free(struct server *s, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->ibuf);
    free(c);
}

/* Free the records of connections that have finished (their task returned its conn):
 * the accept loop does it before each new connection, so a finished connection costs
 * its record (~200 bytes, no stack, no buffers) until then. */
static void reap(struct server *s, int64_t timeout_ms)
{
    for (;;) {
        uint64_t id = 0;
        void *res = NULL;
        lrt_group_join_next(s->conns, &id, &res, timeout_ms);
        if (id == 0)
            return;
        free(res); /* NULL for a task that never ran: its conn is still on the list */
    }
}

static void *acceptor(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = lrt_accept(s->lfd, (struct sockaddr *)&peer, &len);
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            /* out of fds: turn the waiting client away with the reserved fd instead of
             * spinning on a listener that stays ready (docs/guide.md, EMFILE) */
            if (s->reserve_fd >= 0) {
                close(s->reserve_fd);
                int k = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (k >= 0)
                    close(k);
                s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            if (lrt_sleep_ms(100) < 0)
                break;
            continue;
        }
        if (fd < 0)
            break; /* -ECANCELED: shutdown */
        reap(s, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = conn_new(s, fd, &peer);
        if (c && !(c->task = lrt_group_spawn_at(s->conns, c->name, conn_task, c, __FILE__, __LINE__, __func__))) {
            conn_unlist_free(s, c);
            c = NULL;
        }
        if (!c)
            lrt_close(fd);
    }
    return NULL;
}

static void *expirer(void *arg)
{
    struct server *s = arg;
    lrt_interval_t *iv = lrt_interval_new(100);
    while (iv && lrt_interval_tick(iv) > 0)
        store_sweep(&s->st, 4096);
    lrt_interval_free(iv);
    return NULL;
}

static int listen_on(unsigned port, unsigned *bound)
{
    char p[16];
    snprintf(p, sizeof p, "%u", port);
    int fd = lrt_tcp_listen("127.0.0.1", p, 1024); /* numeric: no lookup, no suspension */
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int err = -errno;
        lrt_close(fd);
        return err;
    }
    if (fd >= 0)
        *bound = ntohs(sa.sin_port);
    return fd;
}

struct config {
    unsigned port;
    int64_t idle_ms;
    lrt_signal_t *stop; /* SIGINT, SIGTERM */
};


static void *serve(void *arg)
{
    const struct config *cfg = arg;
    struct server s = {.lfd = -1, .idle_ms = cfg->idle_ms};
    static char acc_name[40];
    unsigned port = 0;
    intptr_t rc = 1;
    if (store_init(&s.st) < 0) {
        fprintf(stderr, "kv: out of memory\n");
        return (void *)rc;
    }
    s.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s.lfd = listen_on(cfg->port, &port);
    if (s.lfd < 0) {
        fprintf(stderr, "kv: cannot listen on 127.0.0.1:%u: %s\n", cfg->port, lrt_strerror(s.lfd));
        goto out_store;
    }
    if (!(s.conns = lrt_group_new("connections"))) {
        fprintf(stderr, "kv: %s\n", lrt_strerror(-errno));
        goto out_listen;
    }
    snprintf(acc_name, sizeof acc_name, "accept 127.0.0.1:%u", port);
    lrt_task_t *acc = lrt_spawn_with(&(lrt_spawn_opts_t){.name = acc_name}, acceptor, &s);
    lrt_task_t *exp = lrt_spawn_with(&(lrt_spawn_opts_t){.name = "expire keys"}, expirer, &s);
    if (!acc || !exp) {
        fprintf(stderr, "kv: cannot spawn: %s\n", lrt_strerror(-errno));
        lrt_abort(acc);
        lrt_abort(exp);
        lrt_join(acc, NULL);
        lrt_join(exp, NULL);
        goto out_group;
    }
    printf("kv: listening on 127.0.0.1:%u\n", port);
    fflush(stdout);

    int sig = lrt_signal_recv(cfg->stop, -1);
    if (sig > 0)
        fprintf(stderr, "kv: %s: stopping\n", strsignal(sig));

    /* stop accepting: the listener closes, new clients are refused */
    lrt_abort(acc);
    lrt_join(acc, NULL);
    lrt_close(s.lfd);
    s.lfd = -1;
    lrt_abort(exp);
    lrt_join(exp, NULL);

    /* idle connections end now, the others get 1 s to answer what they read */
    s.draining = true;
    for (struct conn *c = s.live; c; c = c->next)
        if (c->idle)
            lrt_abort(c->task);
    int scope = lrt_timeout_push(1000);
    reap(&s, -1);
    lrt_deadline_pop(scope);
    size_t cut = lrt_group_len(s.conns);
    if (cut)
        fprintf(stderr, "kv: cutting %zu connections still busy after 1 s\n", cut);
    lrt_group_abort_all(s.conns);
    reap(&s, -1);
    rc = 0;
out_group:
    lrt_group_free(s.conns);
    while (s.live) { /* spawned but aborted before they ever ran */
        lrt_close(s.live->fd);
        conn_unlist_free(&s, s.live);
    }
out_listen:
    if (s.lfd >= 0)
        lrt_close(s.lfd);
out_store:
    if (s.reserve_fd >= 0)
        close(s.reserve_fd);
    store_free(&s.st);
    return (void *)rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kv [--idle-timeout=MS] PORT\n"
               "  A RESP (Redis protocol) key-value server on 127.0.0.1:PORT (0 = any free port).\n"
               "  --idle-timeout=MS  close a connection that sends nothing, or reads none of\n"
               "                     its replies, for MS milliseconds (default 300000)\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"idle-timeout", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'}, {0}};
    struct config cfg = {.idle_ms = 300000};
    int opt;
    while ((opt = getopt_long(argc, argv, "i:h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'i':
            errno = 0;
            cfg.idle_ms = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || cfg.idle_ms <= 0) {
                fprintf(stderr, "kv: bad --idle-timeout '%s' (milliseconds > 0)\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char *end = "";
    unsigned long port = optind + 1 == argc ? strtoul(argv[optind], &end, 10) : ULONG_MAX;
    if (port > 65535 || *end) {
        usage(stderr);
        return 2;
    }
    cfg.port = (unsigned)port;

    /* one fd per client: take the hard limit (redis-benchmark -c 1000 needs > 1024) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* before any thread exists: every thread of the process then has them blocked */
    static const int stop[] = {SIGINT, SIGTERM};
    if (!(cfg.stop = lrt_signal_open(stop, 2))) {
        fprintf(stderr, "kv: lrt_signal_open: %s\n", lrt_strerror(-errno));
        return 1;
    }
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt) {
        fprintf(stderr, "kv: lrt_runtime_new: %s\n", lrt_strerror(-errno));
        lrt_signal_close(cfg.stop);
        return 1;
    }
    void *res = (void *)1;
    int rc = lrt_block_on(rt, serve, &cfg, &res);
    lrt_runtime_free(rt);
    lrt_signal_close(cfg.stop);
    return rc == 0 && res == NULL ? 0 : 1;
}
