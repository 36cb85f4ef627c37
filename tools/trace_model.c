/*
 * trace_model.c - processes, tasks, filters and histograms of lrt-trace (see
 * trace_model.h).  Tasks are keyed by (vpid, task id): ids restart in every process
 * (and in every runtime of a process), so a task is never merged with another
 * process's task of the same id.
 */
#include "trace_model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- histograms --------------------------------------------------------------------- */

static size_t hist_buckets(unsigned sb)
{
    return (size_t)(65 - sb) << sb;
}

void tm_hist_init(struct tm_hist *h, unsigned sub_bits)
{
    memset(h, 0, sizeof(*h));
    h->sub_bits = (uint8_t)sub_bits;
}

static size_t hist_index(unsigned sb, uint64_t v)
{
    if (v < (1ull << sb))
        return (size_t)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v) - sb;
    return ((size_t)(e + 1) << sb) + (size_t)((v >> e) - (1ull << sb));
}

static uint64_t hist_value(unsigned sb, size_t idx)
{
    if (idx < (1u << sb))
        return idx;
    unsigned e = (unsigned)(idx >> sb) - 1;
    uint64_t mant = (idx & ((1u << sb) - 1)) + (1ull << sb);
    uint64_t lo = mant << e;
    return lo + ((1ull << e) >> 1);   /* the middle of the bucket */
}

int tm_hist_add(struct tm_hist *h, uint64_t v)
{
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    if (!h->b && !(h->b = calloc(hist_buckets(h->sub_bits), sizeof(*h->b))))
        return -ENOMEM;
    h->b[hist_index(h->sub_bits, v)]++;
    return 0;
}

uint64_t tm_hist_pct(const struct tm_hist *h, double p)
{
    if (!h->count)
        return 0;
    if (!h->b)
        return h->max;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    size_t n = hist_buckets(h->sub_bits);
    for (size_t i = 0; i < n; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            /* the max's own bucket: the exact max is the better answer */
            if (i == hist_index(h->sub_bits, h->max))
                return h->max;
            uint64_t v = hist_value(h->sub_bits, i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

void tm_hist_free(struct tm_hist *h)
{
    free(h->b);
    h->b = NULL;
}

/* ---- formatting ----------------------------------------------------------------------- */

const char *tm_fmt_ns(int64_t ns, char *buf, size_t len)
{
    if (ns < 0)
        snprintf(buf, len, "-");
    else if (ns < 1000)
        snprintf(buf, len, "%" PRId64 " ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    return buf;
}

int tm_parse_time(const char *s, int64_t *ns, bool *rel)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || v != v)
        return -EINVAL;
    double mult;
    if (*end == 0) {
        /* a bare number is an absolute timestamp: it must be an integer */
        for (const char *p = s; *p; p++)
            if (*p < '0' || *p > '9')
                return -EINVAL;
        *rel = false;
        mult = 1;
    } else if (strcmp(end, "s") == 0) {
        mult = 1e9;
    } else if (strcmp(end, "ms") == 0) {
        mult = 1e6;
    } else if (strcmp(end, "us") == 0) {
        mult = 1e3;
    } else if (strcmp(end, "ns") == 0) {
        mult = 1;
    } else {
        return -EINVAL;
    }
    if (*end)
        *rel = true;
    if (v * mult > 9.2e18)
        return -EINVAL;
    *ns = *end ? (int64_t)(v * mult + 0.5) : (int64_t)strtoll(s, NULL, 10);
    return 0;
}

/* ---- model ------------------------------------------------------------------------------ */

void tm_init(struct tm_model *m, const struct tm_filter *f)
{
    memset(m, 0, sizeof(*m));
    m->filter = *f;
    m->first_ts = m->last_ts = m->pass_first = m->pass_last = -1;
    m->from_abs = INT64_MIN;
    m->to_abs = INT64_MAX;
}

static void task_free(struct tm_task *t)
{
    free(t->name);
    free(t->file);
    free(t->func);
    free(t->state);
    tm_hist_free(&t->wake);
    free(t);
}

void tm_free(struct tm_model *m)
{
    for (size_t i = 0; i < m->n_procs; i++) {
        struct tm_proc *p = m->procs[i];
        for (size_t j = 0; j < p->n_tasks; j++)
            task_free(p->tasks[j]);
        free(p->tasks);
        free(p->procname);
        free(p->driver);
        free(p->driver_reason);
        free(p);
    }
    free(m->procs);
    free(m->tab);
    for (size_t i = 0; i < m->n_lost; i++)
        free(m->lost[i].stream);
    free(m->lost);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < TM_MAX_LABEL; j++)
            free(m->labels[i][j]);
    memset(m, 0, sizeof(*m));
}

bool tm_kind_has_task(enum tr_kind k)
{
    switch (k) {
    case TR_TASK_SPAWN: case TR_TASK_POLL_BEGIN: case TR_REMOTE_SCHEDULE:
    case TR_TASK_POLL_END: case TR_TASK_WAKE: case TR_TASK_TERMINATE: case TR_TIMER_FIRE:
    case TR_IO_SUBMIT: case TR_IO_COMPLETE: case TR_TASK_INFO: case TR_STALL:
        return true;
    default:
        return false;
    }
}

static struct tm_proc *proc_get(struct tm_model *m, int64_t vpid)
{
    /* a handful of processes: a linear scan with the last hit first */
    static size_t last;
    if (last < m->n_procs && m->procs[last]->vpid == vpid)
        return m->procs[last];
    for (size_t i = 0; i < m->n_procs; i++) {
        if (m->procs[i]->vpid == vpid) {
            last = i;
            return m->procs[i];
        }
    }
    if (m->n_procs == m->cap_procs) {
        size_t ncap = m->cap_procs ? m->cap_procs * 2 : 8;
        struct tm_proc **n = realloc(m->procs, ncap * sizeof(*n));
        if (!n)
            return NULL;
        m->procs = n;
        m->cap_procs = ncap;
    }
    struct tm_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->vpid = vpid;
    p->serial = (uint32_t)m->n_procs;
    last = m->n_procs;
    m->procs[m->n_procs++] = p;
    return p;
}

static size_t key_hash(int64_t vpid, uint64_t id, size_t cap)
{
    uint64_t x = ((uint64_t)vpid * 0x9e3779b97f4a7c15ull) ^ (id * 0xc2b2ae3d27d4eb4full);
    x ^= x >> 29;
    return (size_t)x & (cap - 1);
}

static struct tm_task **tab_slot(struct tm_model *m, int64_t vpid, uint64_t id)
{
    size_t h = key_hash(vpid, id, m->tab_cap);
    while (m->tab[h] && !(m->tab[h]->vpid == vpid && m->tab[h]->id == id))
        h = (h + 1) & (m->tab_cap - 1);
    return &m->tab[h];
}

static int tab_grow(struct tm_model *m)
{
    size_t ncap = m->tab_cap ? m->tab_cap * 2 : 256;
    struct tm_task **old = m->tab;
    size_t ocap = m->tab_cap;
    m->tab = calloc(ncap, sizeof(*m->tab));
    if (!m->tab) {
        m->tab = old;
        return -ENOMEM;
    }
    m->tab_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i])
            *tab_slot(m, old[i]->vpid, old[i]->id) = old[i];
    free(old);
    return 0;
}

/* The task (vpid, id); a new one when fresh (a spawn) and the known one terminated:
 * ids restart in each runtime of a process. */
static struct tm_task *task_get(struct tm_model *m, struct tm_proc *p, uint64_t id, bool fresh)
{
    if ((m->tab_n + 1) * 2 > m->tab_cap && tab_grow(m) < 0)
        return NULL;
    struct tm_task **slot = tab_slot(m, p->vpid, id);
    if (*slot && !(fresh && (*slot)->terminated))
        return *slot;
    if (p->n_tasks == p->cap_tasks) {
        size_t ncap = p->cap_tasks ? p->cap_tasks * 2 : 16;
        struct tm_task **n = realloc(p->tasks, ncap * sizeof(*n));
        if (!n)
            return NULL;
        p->tasks = n;
        p->cap_tasks = ncap;
    }
    struct tm_task *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup("task"))) {
        free(t);
        return NULL;
    }
    t->vpid = p->vpid;
    t->id = id;
    t->serial = (uint32_t)p->n_tasks;
    t->poll_start = t->pending_wake = t->spawned_ns = -1;
    tm_hist_init(&t->wake, 3);
    const struct tm_filter *f = &m->filter;
    t->matches = !f->task_set || (!f->task_name && f->task_id == id);
    p->tasks[p->n_tasks++] = t;
    if (!*slot)
        m->tab_n++;
    *slot = t;
    return t;
}

struct tm_task *tm_task_find(struct tm_model *m, int64_t vpid, uint64_t id)
{
    return m->tab_cap ? *tab_slot(m, vpid, id) : NULL;
}

static void set_str(char **dst, const char *src)
{
    char *n = strdup(src ? src : "?");
    if (n) {
        free(*dst);
        *dst = n;
    }
}

static void name_task(struct tm_model *m, struct tm_task *t, const struct tr_event *ev)
{
    set_str(&t->name, ev->s[2]);
    set_str(&t->file, ev->s[3]);
    set_str(&t->func, ev->s[5]);
    t->parent = (uint64_t)ev->v[1];
    t->line = (int)ev->v[4];
    t->named = true;
    const struct tm_filter *f = &m->filter;
    if (f->task_set && f->task_name)
        t->matches = strcmp(t->name, f->task_name) == 0;
}

static void learn_labels(struct tm_model *m, const struct tr_event *ev)
{
    int which = -1, field = 1;
    if (ev->kind == TR_TASK_POLL_END)
        which = TM_LABEL_RESULT;
    else if (ev->kind == TR_TASK_WAKE)
        which = TM_LABEL_WAKER;
    else if (ev->kind == TR_IO_SUBMIT || ev->kind == TR_IO_COMPLETE)
        which = TM_LABEL_IO_OP;
    if (which < 0 || !ev->label[field] || ev->v[field] < 0 || ev->v[field] >= TM_MAX_LABEL)
        return;
    char **l = &m->labels[which][ev->v[field]];
    if (!*l)
        *l = strdup(ev->label[field]);
}

const char *tm_label(const struct tm_model *m, int which, int64_t v, char *buf, size_t len)
{
    if (v >= 0 && v < TM_MAX_LABEL && m->labels[which][v])
        return m->labels[which][v];
    snprintf(buf, len, "%" PRId64, v);
    return buf;
}

bool tm_feed(struct tm_model *m, const struct tr_event *ev, struct tm_proc **procp,
             struct tm_task **taskp)
{
    *procp = NULL;
    *taskp = NULL;
    if (ev->kind != TR_BIN_INFO) {
        if (m->first_ts < 0) {
            m->first_ts = ev->ts;
            const struct tm_filter *f = &m->filter;
            if (f->from_set)
                m->from_abs = f->from_rel ? ev->ts + f->from : f->from;
            if (f->to_set)
                m->to_abs = f->to_rel ? ev->ts + f->to : f->to;
        }
        m->last_ts = ev->ts;
        m->events_read++;
    }
    if (m->filter.pid >= 0 && ev->vpid != m->filter.pid)
        return false;
    struct tm_proc *p = proc_get(m, ev->vpid);
    if (!p) {
        m->oom = true;
        return false;
    }
    *procp = p;
    /* the statedump comes from lttng-ust's listener thread ("NAME-ust"), pool threads
     * may be renamed: the name of the thread that runs the runtime wins */
    if (ev->procname && ev->kind != TR_BIN_INFO &&
        (!p->procname || ev->kind == TR_RUNTIME_NEW || ev->kind == TR_TASK_SPAWN) &&
        (!p->procname || strcmp(p->procname, ev->procname) != 0))
        set_str(&p->procname, ev->procname);
    learn_labels(m, ev);
    struct tm_task *t = NULL;
    if (tm_kind_has_task(ev->kind)) {
        t = task_get(m, p, (uint64_t)ev->v[0], ev->kind == TR_TASK_SPAWN);
        if (!t) {
            m->oom = true;
            return false;
        }
        *taskp = t;
    }
    /* naming: always, so a window or a task filter still shows names */
    switch (ev->kind) {
    case TR_TASK_SPAWN:
        name_task(m, t, ev);
        t->spawned_ns = ev->ts;
        break;
    case TR_TASK_INFO:
        if (!t->named) {
            name_task(m, t, ev);
            t->from_statedump = true;
        }
        set_str(&t->state, ev->s[6]);
        break;
    case TR_DRIVER_SELECT:
        set_str(&p->driver, ev->s[0]);
        set_str(&p->driver_reason, ev->s[1]);
        break;
    default:
        break;
    }
    if (ev->kind == TR_BIN_INFO)
        return true;
    if (ev->ts < m->from_abs || ev->ts > m->to_abs)
        return false;
    if (t && !t->matches)
        return false;
    if (!t && m->filter.task_set && ev->kind == TR_TASK_INFO)
        return false;
    p->events++;
    p->counts[ev->kind]++;
    m->events++;
    if (m->pass_first < 0)
        m->pass_first = ev->ts;
    m->pass_last = ev->ts;
    return true;
}

static int cmp_proc(const void *a, const void *b)
{
    const struct tm_proc *x = *(struct tm_proc *const *)a, *y = *(struct tm_proc *const *)b;
    return (x->vpid > y->vpid) - (x->vpid < y->vpid);
}

void tm_sort_procs(struct tm_model *m)
{
    if (m->n_procs > 1)
        qsort(m->procs, m->n_procs, sizeof(*m->procs), cmp_proc);
}

void tm_lost(struct tm_model *m, const struct tr_lost *l)
{
    if (l->packets)
        m->lost_packets += l->count > 0 ? (uint64_t)l->count : 1;
    else if (l->count >= 0)
        m->lost_events += (uint64_t)l->count;
    else
        m->lost_unknown++;
    struct tm_lost_stream *s = NULL;
    for (size_t i = 0; i < m->n_lost; i++)
        if (strcmp(m->lost[i].stream, l->stream) == 0)
            s = &m->lost[i];
    if (!s) {
        struct tm_lost_stream *n = realloc(m->lost, (m->n_lost + 1) * sizeof(*n));
        if (!n) {
            m->oom = true;
            return;
        }
        m->lost = n;
        s = &m->lost[m->n_lost];
        memset(s, 0, sizeof(*s));
        s->begin_ns = s->end_ns = -1;
        if (!(s->stream = strdup(l->stream))) {
            m->oom = true;
            return;
        }
        m->n_lost++;
    }
    if (l->packets)
        s->packets += l->count > 0 ? (uint64_t)l->count : 1;
    else if (l->count >= 0)
        s->events += (uint64_t)l->count;
    else
        s->batches_unknown++;
    if (l->begin_ns >= 0 && (s->begin_ns < 0 || l->begin_ns < s->begin_ns))
        s->begin_ns = l->begin_ns;
    if (l->end_ns > s->end_ns)
        s->end_ns = l->end_ns;
}
