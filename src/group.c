/*
 * Task groups: a set of tasks whose handles the group holds, joined in completion order
 * (lrt_group_join_next), aborted together, and never leaked (lrt_group_free aborts and
 * joins what is left).
 *
 * Layer: above task.c (spawns, aborts and releases handles through it); task.c calls back
 * only through the inline hook in group.h.  A member's record points at its group entry
 * (t->gm) from spawn until join_next returns it, so a finished member leaves the
 * registry of live tasks but stays in the group's done list: nothing finished is lost
 * when a join_next times out or is cancelled.  Runtime thread only.
 */
#include "group.h"

#include <stdlib.h>
#include <string.h>

/* Group ids: process-wide, never reused (a dump names a group by id and name). */
static uint64_t next_group_id;

lrt_group_t *(lrt_group_new)(const char *name)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (!rt) {
        errno = EPERM;
        return NULL;
    }
    struct lrt_group *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(name ? name : "group"))) {
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    g->rt = rt;
    g->id = __atomic_add_fetch(&next_group_id, 1, __ATOMIC_RELAXED);
    g->parent_id = rt->current ? rt->current->id : 0;
    lrt__list_init(&g->running);
    lrt__list_init(&g->done);
    lrt__waitq_init(&g->waiters);
    return g;
}

lrt_task_t *lrt_group_spawn_at(lrt_group_t *g, const char *name, lrt_fn fn, void *arg,
                               const char *file, int line, const char *func)
{
    if (!g) {
        errno = EINVAL;
        return NULL;
    }
    if (g->rt != lrt__tls_rt) {
        errno = EPERM;
        return NULL;
    }
    struct lrt__gmember *m = malloc(sizeof *m);
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    lrt_task_t *h = lrt_spawn_at(NULL, name, fn, arg, file, line, func);
    if (!h) {
        free(m);
        return NULL;
    }
    m->g = g;
    m->h = h;
    lrt__task_of(h)->gm = m;
    lrt__list_push(&g->running, &m->link);
    g->len++;
    return h;
}

#undef lrt_group_spawn
lrt_task_t *lrt_group_spawn(lrt_group_t *g, lrt_fn fn, void *arg)
{
    return lrt_group_spawn_at(g, NULL, fn, arg, NULL, 0, NULL);
}

/* Take the first finished member: its status, id and result (as lrt_join delivers them),
 * then give its handle back. */
static int take_done(struct lrt_group *g, uint64_t *task_id, void **result)
{
    struct lrt__gmember *m = lrt__container_of(g->done.next, struct lrt__gmember, link);
    struct lrt_task *t = lrt__task_of(m->h);
    lrt__list_del(&m->link);
    g->len--;
    int status = t->wake_result;
    if (task_id)
        *task_id = t->id;
    /* a function that returned delivers its result even when cancelled (lrt_join's rule) */
    if (result && (status == 0 || (t->flags & LRT__TF_STARTED)))
        *result = t->result;
    t->gm = NULL;
    lrt__handle_release(t);
    free(m);
    return status;
}

static int group_ctx(const struct lrt_group *g, struct lrt_task **cur)
{
    int err = lrt__task_ctx(cur);
    if (err)
        return err;
    if (!g || g->rt != (*cur)->rt)
        return -EINVAL;
    return 0;
}

int lrt_group_join_next(lrt_group_t *g, uint64_t *task_id, void **result, int64_t timeout_ms)
{
    struct lrt_task *cur;
    int err = group_ctx(g, &cur);
    if (err)
        return err;
    /* one deadline for the whole wait, however often the task is woken early (another
     * caller may take the member whose finish woke this one) */
    uint64_t deadline = lrt__wait_deadline(cur, timeout_ms);
    for (;;) {
        if (!lrt__list_empty(&g->done))
            return take_done(g, task_id, result);
        if (g->len == 0)
            return -ECHILD;
        if (timeout_ms == 0)
            return -ETIMEDOUT;
        lrt__waiter w = {.msg = NULL};
        int rc = lrt__waitq_wait(&g->waiters, &w, cur, LRT__WAIT_GROUP, g, g->id, deadline);
        if (rc)
            return rc; /* -ETIMEDOUT / -ECANCELED: finished members stay in the group */
    }
}

void lrt_group_abort_all(lrt_group_t *g)
{
    if (!g || g->rt != lrt__tls_rt)
        return;
    /* aborting never switches, so the list does not change under the walk */
    for (lrt__link *l = g->running.next; l != &g->running; l = l->next)
        lrt_abort(lrt__container_of(l, struct lrt__gmember, link)->h);
}

size_t lrt_group_len(const lrt_group_t *g)
{
    return g ? g->len : 0;
}

int lrt_group_free(lrt_group_t *g)
{
    struct lrt_task *cur;
    if (!g)
        return 0;
    int err = group_ctx(g, &cur);
    if (err)
        return err;
    /* a member waiting for the group's members would wait for itself */
    if (cur->gm && cur->gm->g == g)
        return -EDEADLK;
    /* (a waiter cancelled but not yet run is stale: dropped here, not counted) */
    if (lrt__waitq_first(&g->waiters))
        return -EBUSY;
    lrt_group_abort_all(g);
    /* Wait out every member, even if the caller itself is aborted meanwhile: its
     * cancellation is set aside while it waits (a cancelled task's waits return at once,
     * which would spin) and restored afterwards, so its next suspension point sees it. */
    uint32_t cancel = LRT__TF_CANCELLED | LRT__TF_CANCEL_SEEN;
    uint32_t saved = 0;
    while (g->len) {
        while (!lrt__list_empty(&g->done))
            take_done(g, NULL, NULL);
        if (!g->len)
            break;
        saved |= cur->flags & cancel;
        cur->flags &= ~cancel;
        lrt__waiter w = {.msg = NULL};
        lrt__waitq_wait(&g->waiters, &w, cur, LRT__WAIT_GROUP, g, g->id, 0);
    }
    cur->flags |= saved;
    free(g->name);
    free(g);
    return 0;
}
