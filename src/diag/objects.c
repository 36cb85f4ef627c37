/*
 * objects.c - the sync objects of a snapshot as first-class entries ("objects": name,
 * kind, creation site, owner, length/capacity, waiting tasks), and the words every dump
 * uses for one object ("mutex 'accounts'", "channel created at app.c:42").
 *
 * Which objects: lrt keeps no registry of live objects (a list link in every object
 * would cost two stores at new/free and a lock, since objects may be made before any
 * runtime exists), so the snapshot finds them from the tasks: every object some task
 * waits on (select cases included), with every task waiting on it.  A mutex's or rwlock's
 * owner is read from the object, so a held lock appears whenever someone waits for it.
 * An object nobody waits on does not appear, named or not.
 *
 * Called between polls or with the runtime thread frozen (snapshot.c's top comment): no
 * malloc (the scratch is mmap'd), no locks.
 *
 * Layer: reads task records and sync objects (through sync.h's readers); writes with
 * json.c.
 */
#include "diag/diag.h"
#include "group.h"
#include "sync.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

const char *lrt__obj_kind_name(int wait_kind)
{
    switch (wait_kind) {
    case LRT__WAIT_MUTEX: return "mutex";
    case LRT__WAIT_RWLOCK: return "rwlock";
    case LRT__WAIT_SEM: return "semaphore";
    case LRT__WAIT_CHAN_SEND: case LRT__WAIT_CHAN_RECV: return "channel";
    case LRT__WAIT_ONESHOT: return "oneshot";
    case LRT__WAIT_NOTIFY: return "notify";
    case LRT__WAIT_WATCH: return "watch";
    case LRT__WAIT_BARRIER: return "barrier";
    case LRT__WAIT_GROUP: return "group";
    default: return NULL;
    }
}

/* The object's name (a group's is its own string), NULL when unnamed. */
static const char *obj_name(int kind, const void *obj)
{
    if (kind == LRT__WAIT_GROUP)
        return ((const struct lrt_group *)obj)->name;
    return lrt__sync_name(obj);
}

static const char *base_name(const char *file)
{
    const char *s = file ? strrchr(file, '/') : NULL;
    return s ? s + 1 : file;
}

void lrt__obj_label(int kind, const void *obj, char *buf, size_t n)
{
    const char *k = lrt__obj_kind_name(kind);
    const char *name = obj_name(kind, obj);
    const struct lrt__sync_head *h = obj;
    if (name)
        snprintf(buf, n, "%s '%.31s'", k, name);
    else if (h->file)
        snprintf(buf, n, "%s created at %s:%d", k, base_name(h->file), h->line);
    else
        snprintf(buf, n, "%s %p", k, obj);
}

void lrt__obj_short_label(int kind, const void *obj, char *buf, size_t n)
{
    const char *name = obj_name(kind, obj);
    if (name)
        snprintf(buf, n, "'%.31s'", name);
    else
        lrt__obj_label(kind, obj, buf, n);
}

/* ---- the "objects" array ------------------------------------------------------------ */

struct obj {
    const void *p;
    int kind;          /* a wait kind; CHAN_SEND stands for both channel kinds */
    uint32_t first, last; /* waiter entries + 1, 0: none */
};
struct waiter {
    uint64_t task;
    uint32_t next;     /* next entry + 1 */
};
struct objset {
    struct obj *obj;
    uint32_t *slot;    /* hash of p -> obj index + 1 */
    struct waiter *wt;
    size_t nobj, nwt, cap_obj, cap_wt, mask;
};

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull >> 20);
}

static void add(struct objset *s, int kind, const void *p, uint64_t waiter)
{
    if (!p)
        return;
    if (kind == LRT__WAIT_CHAN_RECV)
        kind = LRT__WAIT_CHAN_SEND;
    size_t h = ptr_hash(p) & s->mask;
    while (s->slot[h] && s->obj[s->slot[h] - 1].p != p)
        h = (h + 1) & s->mask;
    if (!s->slot[h]) {
        if (s->nobj == s->cap_obj)
            return;
        s->obj[s->nobj] = (struct obj){.p = p, .kind = kind};
        s->slot[h] = (uint32_t)++s->nobj;
    }
    struct obj *o = &s->obj[s->slot[h] - 1];
    if (!waiter || s->nwt == s->cap_wt)
        return;
    /* appended at the tail: waiters listed in task order */
    s->wt[s->nwt] = (struct waiter){.task = waiter};
    uint32_t k = (uint32_t)++s->nwt;
    if (o->last)
        s->wt[o->last - 1].next = k;
    else
        o->first = k;
    o->last = k;
}

static void add_select(struct objset *s, const struct lrt_task *t)
{
    const lrt_sel_t *c = t->wait_obj;
    for (uint64_t i = 0; c && i < t->wait_aux && i < 64; i++) {
        switch (c[i].kind) {
        case LRT_SEL_RECV: add(s, LRT__WAIT_CHAN_RECV, c[i].obj, t->id); break;
        case LRT_SEL_SEND: add(s, LRT__WAIT_CHAN_SEND, c[i].obj, t->id); break;
        case LRT_SEL_NOTIFY: add(s, LRT__WAIT_NOTIFY, c[i].obj, t->id); break;
        case LRT_SEL_ONESHOT: add(s, LRT__WAIT_ONESHOT, c[i].obj, t->id); break;
        default: break;
        }
    }
}

static bool waits(const struct lrt_task *t, const struct lrt_runtime *rt)
{
    return t->state == LRT__SUSPENDED && t != rt->current;
}

static void write_obj(lrt__jw *w, const struct obj *o, const struct objset *s)
{
    const struct lrt__sync_head *h = o->p;
    lrt__jw_obj(w, NULL);
    lrt__jw_hex(w, "address", (uint64_t)(uintptr_t)o->p);
    lrt__jw_str(w, "kind", lrt__obj_kind_name(o->kind));
    const char *name = obj_name(o->kind, o->p);
    char nb[32];
    if (name && o->kind != LRT__WAIT_GROUP) { /* a sync name is a fixed buffer: bounded copy */
        snprintf(nb, sizeof nb, "%.31s", name);
        name = nb;
    }
    lrt__jw_str(w, "name", name);
    if (h->file) {
        lrt__jw_obj(w, "created_at");
        lrt__jw_str(w, "file", h->file);
        lrt__jw_i64(w, "line", h->line);
        lrt__jw_end(w, '}');
    } else {
        lrt__jw_str(w, "created_at", NULL);
    }
    const struct lrt_task *owner = NULL;
    if (o->kind == LRT__WAIT_MUTEX) {
        owner = lrt__mutex_owner(o->p);
    } else if (o->kind == LRT__WAIT_RWLOCK) {
        struct lrt_task *const *rd;
        size_t nrd;
        owner = lrt__rwlock_holders(o->p, &rd, &nrd);
        lrt__jw_arr(w, "readers");
        for (size_t i = 0; i < nrd && i < 1024; i++)
            lrt__jw_u64(w, NULL, rd[i]->id);
        lrt__jw_end(w, ']');
    }
    if (owner) /* every kind has the key (the agreed shape): null when not held or unknown */
        lrt__jw_u64(w, "owner", owner->id);
    else
        lrt__jw_str(w, "owner", NULL);
    if (o->kind == LRT__WAIT_CHAN_SEND) {
        struct lrt__chan_info ci;
        lrt__chan_info(o->p, &ci);
        lrt__jw_u64(w, "len", ci.len);
        if (ci.cap == SIZE_MAX)
            lrt__jw_str(w, "cap", NULL); /* unbounded */
        else
            lrt__jw_u64(w, "cap", ci.cap);
        lrt__jw_bool(w, "closed", ci.closed);
        lrt__jw_u64(w, "last_sender", ci.last_sender);
        lrt__jw_u64(w, "last_receiver", ci.last_receiver);
    }
    if (o->kind == LRT__WAIT_GROUP) {
        const struct lrt_group *g = o->p;
        lrt__jw_u64(w, "id", g->id);
        lrt__jw_u64(w, "len", g->len);
    }
    lrt__jw_arr(w, "waiters");
    for (uint32_t k = o->first; k; k = s->wt[k - 1].next)
        lrt__jw_u64(w, NULL, s->wt[k - 1].task);
    lrt__jw_end(w, ']');
    lrt__jw_end(w, '}');
}

int lrt__objects_json(struct lrt_runtime *rt, lrt__jw *w)
{
    /* sizes first: one object and one waiter entry per waited-on object, select cases
     * counted each */
    size_t nwait = 0, guard = rt->alive + 16;
    for (lrt__link *n = rt->tasks.next; n && n != &rt->tasks && guard--; n = n->next) {
        const struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        if (waits(t, rt))
            nwait += t->wait_kind == LRT__WAIT_SELECT ? (t->wait_aux < 64 ? t->wait_aux : 64) : 1;
    }
    struct objset s = {0};
    size_t slots = 16;
    while (slots < 2 * nwait)
        slots <<= 1;
    size_t bytes = nwait * (sizeof *s.obj + sizeof *s.wt) + slots * sizeof *s.slot + 64;
    char *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    lrt__jw_arr(w, "objects");
    if (mem == MAP_FAILED) {
        lrt__jw_end(w, ']');
        return -ENOMEM;
    }
    s.obj = (struct obj *)mem;
    s.wt = (struct waiter *)(s.obj + nwait);
    s.slot = (uint32_t *)(s.wt + nwait);
    s.cap_obj = s.cap_wt = nwait;
    s.mask = slots - 1;
    guard = rt->alive + 16;
    for (lrt__link *n = rt->tasks.next; n && n != &rt->tasks && guard--; n = n->next) {
        const struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        if (!waits(t, rt))
            continue;
        if (t->wait_kind == LRT__WAIT_SELECT)
            add_select(&s, t);
        else if (lrt__obj_kind_name(t->wait_kind))
            add(&s, t->wait_kind, t->wait_obj, t->id);
    }
    for (size_t i = 0; i < s.nobj; i++)
        write_obj(w, &s.obj[i], &s);
    lrt__jw_end(w, ']');
    munmap(mem, bytes);
    return 0;
}
