/*
 * waitgraph.c - who waits for whom, and the cycles in it: the snapshot's "cycles", the
 * lead sentences of `lrt-dump --stuck` and of the deadlock report.
 *
 * An edge A -> B says "only B can end A's wait":
 *  - join: A joins B;
 *  - mutex: B owns the mutex A waits for; rwlock: B is the writer, or (no writer) every
 *    read holder is an edge;
 *  - channel: lrt has no sender handles, so it cannot know every task that could still
 *    send.  A channel remembers the last task that sent and the last that received; a
 *    receive on an empty channel points at the last sender, a send on a full channel at
 *    the last receiver.  A cycle through a channel is therefore "the task that fed this
 *    channel is itself stuck", not a proof: another task might still send;
 *  - group: join_next and free wait for the members still running (any of them);
 *  - select: every case (any of them).
 * Semaphores, notifies, watches, oneshots and barriers record no holder or sender, so a
 * wait on them has no edge: lrt cannot tell who would post, notify, set, send or arrive.
 *
 * A task is stuck when it is suspended without a timer and every way out of its wait is
 * an edge to a stuck task (greatest fixpoint: a wait with any unknown way out - an fd, a
 * timeout, a semaphore case - is not stuck).  Following edges from a stuck task stays
 * among stuck tasks, so it ends on a cycle; each cycle is reported once, from its lowest
 * task id.  Tasks elsewhere may still run: the cycle is reported all the same.
 *
 * Built only when a snapshot or a deadlock report asks, in mmap'd scratch (no malloc: the
 * runtime thread may be frozen, snapshot.c's top comment), in time linear in tasks+edges.
 *
 * Layer: reads task records, groups and sync objects; calls objects.c (labels), json.c.
 */
#include "diag/diag.h"
#include "group.h"
#include "sync.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

struct edge {
    uint32_t to;
    uint8_t kind;          /* the wait kind behind it (JOIN, MUTEX, RWLOCK, CHAN_*, GROUP) */
    uint8_t in_select;
    const void *obj;       /* the object (JOIN: none) */
};

struct lrt__wg {
    size_t bytes;          /* of this mapping */
    size_t n, nedges, ncycles;
    const struct lrt_task **task;
    uint32_t *slot, mask;  /* id hash -> index + 1 */
    uint32_t *first;       /* edges of i: [first[i], first[i+1]) */
    struct edge *e;
    uint32_t *rfirst, *rev; /* predecessors, same layout */
    uint8_t *stuck;
    uint32_t *mark;        /* walk id + 1 that visited the node */
    uint32_t *cyc, *cyc_first; /* cycles' nodes: cycle c is cyc[cyc_first[c] .. cyc_first[c+1]) */
};

static size_t id_hash(uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 32);
}

static int64_t index_of(const struct lrt__wg *g, uint64_t id)
{
    if (!id)
        return -1;
    for (size_t h = id_hash(id) & g->mask; g->slot[h]; h = (h + 1) & g->mask)
        if (g->task[g->slot[h] - 1]->id == id)
            return g->slot[h] - 1;
    return -1;
}

static bool waiting(const struct lrt_task *t, const struct lrt_runtime *rt)
{
    return t->state == LRT__SUSPENDED && t != rt->current;
}

static size_t group_running(const struct lrt_group *g)
{
    size_t k = 0;
    for (const lrt__link *l = g->running.next; l != &g->running && k < g->len; l = l->next)
        k++;
    return k;
}

/* Upper bound of @t's edges. */
static size_t edge_bound(const struct lrt_task *t)
{
    switch (t->wait_kind) {
    case LRT__WAIT_SELECT:
        return t->wait_aux < 64 ? t->wait_aux : 64;
    case LRT__WAIT_GROUP:
        return group_running(t->wait_obj);
    case LRT__WAIT_RWLOCK: {
        struct lrt_task *const *rd;
        size_t n;
        lrt__rwlock_holders(t->wait_obj, &rd, &n);
        return n + 1;
    }
    default:
        return 1;
    }
}

struct build {
    struct lrt__wg *g;
    uint32_t self;
    bool open;             /* a way out that is not an edge */
};

static void edge_to(struct build *b, const struct lrt_task *to, int kind, const void *obj, bool sel)
{
    int64_t i = to ? index_of(b->g, to->id) : -1;
    if (i < 0 || to->state == LRT__FINISHED) {
        b->open = true; /* the holder is gone or unknown: cannot say */
        return;
    }
    b->g->e[b->g->nedges++] = (struct edge){.to = (uint32_t)i, .kind = (uint8_t)kind, .in_select = sel, .obj = obj};
}

static void edge_to_id(struct build *b, uint64_t id, int kind, const void *obj, bool sel)
{
    int64_t i = index_of(b->g, id);
    if (i < 0 || (uint32_t)i == b->self) {
        b->open = true;
        return;
    }
    edge_to(b, b->g->task[i], kind, obj, sel);
}

static void chan_edge(struct build *b, const void *c, bool send, bool sel)
{
    struct lrt__chan_info ci;
    lrt__chan_info(c, &ci);
    if (ci.closed) {
        b->open = true;
        return;
    }
    edge_to_id(b, send ? ci.last_receiver : ci.last_sender, send ? LRT__WAIT_CHAN_SEND : LRT__WAIT_CHAN_RECV, c, sel);
}

static const struct lrt_task *join_target(const lrt_task_t *h)
{
    struct lrt__join *j = lrt__join_of(h);
    if (!j || !lrt__handle_valid(h, j) || j->kind != LRT__JOIN_TASK)
        return NULL;
    return lrt__task_of_join(j);
}

static void task_edges(struct build *b, const struct lrt_task *t)
{
    switch (t->wait_kind) {
    case LRT__WAIT_JOIN: {
        const struct lrt_task *j = t->wait_obj;
        if (j && j->id == t->wait_aux)
            edge_to(b, j, LRT__WAIT_JOIN, NULL, false);
        else
            b->open = true;
        break;
    }
    case LRT__WAIT_MUTEX:
        edge_to(b, lrt__mutex_owner(t->wait_obj), LRT__WAIT_MUTEX, t->wait_obj, false);
        break;
    case LRT__WAIT_RWLOCK: {
        struct lrt_task *const *rd;
        size_t n;
        const struct lrt_task *wr = lrt__rwlock_holders(t->wait_obj, &rd, &n);
        if (wr)
            edge_to(b, wr, LRT__WAIT_RWLOCK, t->wait_obj, false);
        else if (n == 0)
            b->open = true; /* queued behind another waiter only */
        for (size_t i = 0; !wr && i < n; i++)
            edge_to(b, rd[i], LRT__WAIT_RWLOCK, t->wait_obj, false);
        break;
    }
    case LRT__WAIT_CHAN_RECV: case LRT__WAIT_CHAN_SEND:
        chan_edge(b, t->wait_obj, t->wait_kind == LRT__WAIT_CHAN_SEND, false);
        break;
    case LRT__WAIT_GROUP: {
        const struct lrt_group *g = t->wait_obj;
        size_t k = 0;
        for (const lrt__link *l = g->running.next; l != &g->running && k < g->len; l = l->next, k++) {
            const struct lrt__gmember *m = lrt__container_of(l, struct lrt__gmember, link);
            edge_to(b, join_target(m->h), LRT__WAIT_GROUP, g, false);
        }
        if (k == 0)
            b->open = true;
        break;
    }
    case LRT__WAIT_SELECT: {
        const lrt_sel_t *c = t->wait_obj;
        for (uint64_t i = 0; c && i < t->wait_aux && i < 64; i++) {
            if (c[i].kind == LRT_SEL_RECV || c[i].kind == LRT_SEL_SEND)
                chan_edge(b, c[i].obj, c[i].kind == LRT_SEL_SEND, true);
            else if (c[i].kind == LRT_SEL_JOIN)
                edge_to(b, join_target(c[i].obj), LRT__WAIT_JOIN, NULL, true);
            else
                b->open = true; /* fd, notify, oneshot: no known waker */
        }
        break;
    }
    default:
        b->open = true;
        break;
    }
}

void lrt__wg_free(struct lrt__wg *g)
{
    if (g)
        munmap(g, g->bytes);
}

#define TAKE(p, count)                                            \
    do {                                                          \
        (p) = (void *)cur;                                        \
        cur += ((count) * sizeof *(p) + 15) & ~(size_t)15;        \
    } while (0)

struct lrt__wg *lrt__wg_build(struct lrt_runtime *rt)
{
    size_t n = 0, ne = 0, guard = rt->alive + 16;
    for (lrt__link *l = rt->tasks.next; l && l != &rt->tasks && guard--; l = l->next, n++) {
        const struct lrt_task *t = lrt__container_of(l, struct lrt_task, all);
        if (waiting(t, rt))
            ne += edge_bound(t);
    }
    size_t slots = 16;
    while (slots < 2 * n)
        slots <<= 1;
    size_t bytes = 16 * 16 + sizeof(struct lrt__wg) + n * (sizeof(void *) + 4 * sizeof(uint32_t) + 2 + 2 * sizeof(uint32_t)) +
                   slots * sizeof(uint32_t) + ne * (sizeof(struct edge) + sizeof(uint32_t)) + 16 * 16;
    char *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return NULL;
    struct lrt__wg *g = (struct lrt__wg *)mem;
    char *cur = mem + ((sizeof *g + 15) & ~(size_t)15);
    g->bytes = bytes;
    TAKE(g->task, n);
    TAKE(g->slot, slots);
    TAKE(g->first, n + 1);
    TAKE(g->e, ne);
    TAKE(g->rfirst, n + 1);
    TAKE(g->rev, ne);
    TAKE(g->stuck, n);
    TAKE(g->mark, n);
    TAKE(g->cyc, n);
    TAKE(g->cyc_first, n + 1);
    g->mask = (uint32_t)(slots - 1);

    guard = rt->alive + 16;
    for (lrt__link *l = rt->tasks.next; l && l != &rt->tasks && guard-- && g->n < n; l = l->next) {
        const struct lrt_task *t = lrt__container_of(l, struct lrt_task, all);
        size_t h = id_hash(t->id) & g->mask;
        while (g->slot[h])
            h = (h + 1) & g->mask;
        g->slot[h] = (uint32_t)(g->n + 1);
        g->task[g->n++] = t;
    }
    n = g->n;
    /* edges; a task with a way out other than an edge is not stuck */
    for (uint32_t i = 0; i < n; i++) {
        const struct lrt_task *t = g->task[i];
        g->first[i] = (uint32_t)g->nedges;
        struct build b = {.g = g, .self = i, .open = !waiting(t, rt) || (t->flags & LRT__TF_TIMER)};
        if (waiting(t, rt) && g->nedges + edge_bound(t) <= ne)
            task_edges(&b, t);
        else
            b.open = true;
        g->stuck[i] = !b.open && g->nedges > g->first[i];
    }
    g->first[n] = (uint32_t)g->nedges;
    /* predecessors (counting sort by target) */
    for (size_t k = 0; k < g->nedges; k++)
        g->rfirst[g->e[k].to + 1]++;
    for (size_t i = 0; i < n; i++)
        g->rfirst[i + 1] += g->rfirst[i];
    for (uint32_t i = 0; i < n; i++) /* mark[] as fill cursors for now */
        g->mark[i] = g->rfirst[i];
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = g->first[i]; k < g->first[i + 1]; k++)
            g->rev[g->mark[g->e[k].to]++] = i;
    /* greatest fixpoint: a task that can go on frees every task waiting only on it;
     * cyc[] is the work list here */
    size_t top = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!g->stuck[i])
            g->cyc[top++] = i;
    while (top) {
        uint32_t x = g->cyc[--top];
        for (uint32_t k = g->rfirst[x]; k < g->rfirst[x + 1]; k++) {
            uint32_t p = g->rev[k];
            if (g->stuck[p]) {
                g->stuck[p] = 0;
                g->cyc[top++] = p;
            }
        }
    }
    /* cycles: walk first edges from each stuck task; a walk that meets itself closed a
     * cycle, one that meets an earlier walk found nothing new */
    memset(g->mark, 0, n * sizeof *g->mark);
    size_t ncyc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!g->stuck[i] || g->mark[i])
            continue;
        uint32_t x = i;
        while (!g->mark[x]) {
            g->mark[x] = i + 1;
            x = g->e[g->first[x]].to; /* stuck: has edges, all to stuck tasks */
        }
        if (g->mark[x] != i + 1)
            continue;
        /* x is on the new cycle: start it at its lowest id */
        uint32_t lo = x;
        for (uint32_t y = g->e[g->first[x]].to; y != x; y = g->e[g->first[y]].to)
            if (g->task[y]->id < g->task[lo]->id)
                lo = y;
        g->cyc_first[g->ncycles++] = (uint32_t)ncyc;
        uint32_t y = lo;
        do {
            g->cyc[ncyc++] = y;
            y = g->e[g->first[y]].to;
        } while (y != lo);
    }
    g->cyc_first[g->ncycles] = (uint32_t)ncyc;
    return g;
}

size_t lrt__wg_cycles(const struct lrt__wg *g)
{
    return g ? g->ncycles : 0;
}

/* ---- words ------------------------------------------------------------------------ */

struct sb {
    char *buf;
    size_t n, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct sb *s, const char *fmt, ...)
{
    if (s->len + 1 >= s->n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(s->buf + s->len, s->n - s->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        s->len = s->len + (size_t)k < s->n ? s->len + (size_t)k : s->n - 1;
}

static void put_task(struct sb *s, const struct lrt_task *t)
{
    if (t->name)
        put(s, "task %" PRIu64 " '%s'", t->id, t->name);
    else
        put(s, "task %" PRIu64, t->id);
}

/* "waits for mutex 'audit' held by task 6 'auditor'"; @back: the target was named at the
 * start of the sentence, so only the object is said ("waits for 'accounts'"). */
static void put_edge(struct sb *s, const struct edge *e, const struct lrt_task *to, bool back)
{
    char lb[96];
    if (e->kind != LRT__WAIT_JOIN) {
        if (back)
            lrt__obj_short_label(e->kind, e->obj, lb, sizeof lb);
        else
            lrt__obj_label(e->kind, e->obj, lb, sizeof lb);
    }
    const char *sel = e->in_select ? "in a select " : "";
    switch (e->kind) {
    case LRT__WAIT_JOIN:
        put(s, "%sjoins ", e->in_select ? "waits in a select and " : "");
        put_task(s, to);
        return;
    case LRT__WAIT_MUTEX: case LRT__WAIT_RWLOCK:
        put(s, "waits for %s", lb);
        if (back)
            return;
        put(s, " held by ");
        break;
    case LRT__WAIT_CHAN_RECV:
        put(s, "waits %sto receive from %s", sel, lb);
        if (back)
            return;
        put(s, ", last sent to by ");
        break;
    case LRT__WAIT_CHAN_SEND:
        put(s, "waits %sto send on full %s", sel, lb);
        if (back)
            return;
        put(s, ", last received from by ");
        break;
    case LRT__WAIT_GROUP:
        put(s, "waits for %s", lb);
        if (back)
            return;
        put(s, " whose member is ");
        break;
    default:
        put(s, "waits for ");
        break;
    }
    put_task(s, to);
}

void lrt__wg_cycle_text(const struct lrt__wg *g, size_t c, char *buf, size_t n)
{
    struct sb s = {buf, n, 0};
    buf[0] = 0;
    const uint32_t *v = g->cyc + g->cyc_first[c];
    size_t k = g->cyc_first[c + 1] - g->cyc_first[c];
    const struct edge *last = &g->e[g->first[v[k - 1]]];
    put(&s, "deadlock: ");
    put_task(&s, g->task[v[0]]);
    if (last->kind == LRT__WAIT_MUTEX || last->kind == LRT__WAIT_RWLOCK) {
        char lb[96];
        lrt__obj_label(last->kind, last->obj, lb, sizeof lb);
        put(&s, " holds %s and", lb);
    }
    for (size_t i = 0; i < k; i++) {
        const struct edge *e = &g->e[g->first[v[i]]];
        put(&s, i ? ", which " : " ");
        /* the way back to the first task, when it can be said by its object alone */
        bool back = i == k - 1 && k > 1 && e->kind != LRT__WAIT_JOIN && e->kind != LRT__WAIT_GROUP;
        if (i == k - 1 && k == 1) /* a task waiting on itself */
            back = false;
        put_edge(&s, e, g->task[e->to], back);
    }
}

void lrt__wg_json(const struct lrt__wg *g, lrt__jw *w)
{
    char text[1024], via[96];
    lrt__jw_arr(w, "cycles");
    for (size_t c = 0; c < lrt__wg_cycles(g); c++) {
        const uint32_t *v = g->cyc + g->cyc_first[c];
        size_t k = g->cyc_first[c + 1] - g->cyc_first[c];
        lrt__jw_obj(w, NULL);
        lrt__jw_arr(w, "tasks");
        for (size_t i = 0; i < k; i++)
            lrt__jw_u64(w, NULL, g->task[v[i]]->id);
        lrt__jw_end(w, ']');
        lrt__wg_cycle_text(g, c, text, sizeof text);
        lrt__jw_str(w, "text", text);
        lrt__jw_arr(w, "edges");
        for (size_t i = 0; i < k; i++) {
            const struct edge *e = &g->e[g->first[v[i]]];
            lrt__jw_obj(w, NULL);
            lrt__jw_u64(w, "from", g->task[v[i]]->id);
            lrt__jw_u64(w, "to", g->task[e->to]->id);
            if (e->kind == LRT__WAIT_JOIN)
                snprintf(via, sizeof via, "join");
            else
                lrt__obj_label(e->kind, e->obj, via, sizeof via);
            lrt__jw_str(w, "via", via);
            lrt__jw_str(w, "wait", lrt__wait_names[e->kind]);
            if (e->obj)
                lrt__jw_hex(w, "address", (uint64_t)(uintptr_t)e->obj);
            lrt__jw_end(w, '}');
        }
        lrt__jw_end(w, ']');
        lrt__jw_end(w, '}');
    }
    lrt__jw_end(w, ']');
}
