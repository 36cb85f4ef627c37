/*
 * group.h — task groups (group.c): the records, and the one hook task.c calls when a
 * member finishes.  The hook is inline so that task.c (below group.c) names no symbol of
 * group.c.  Runtime thread only.
 */
#ifndef LRT_GROUP_H
#define LRT_GROUP_H

#include "internal.h"
#include "waitq.h"

/* One per member, malloc'd by lrt_group_spawn: a link in the group's running list, then
 * (once the task finished) in its done list, in completion order, until join_next
 * returns it.  The task record points here (t->gm) while the group holds its handle. */
struct lrt__gmember {
    lrt__link link;
    struct lrt_group *g;
    lrt_task_t *h;
};

struct lrt_group {
    struct lrt__sync_head head_; /* first, like a sync object's: creation site (diag) */
    struct lrt_runtime *rt;
    char *name;
    uint64_t id;
    uint64_t parent_id; /* task that created the group (0: none); the dump's tree */
    size_t len;         /* members not yet returned by join_next */
    lrt__link running;  /* members whose task has not finished */
    lrt__link done;     /* finished, not yet returned: completion order */
    lrt__link waiters;  /* tasks in join_next / free (waitq.h) */
};

/* From lrt__task_finished: @t, a member, finished; queue it for join_next and wake one
 * waiter (handing nothing: the waiter takes the head of the done list itself). */
static inline void lrt__group_member_finished(struct lrt_task *t)
{
    struct lrt__gmember *m = t->gm;
    lrt__list_del(&m->link);
    lrt__list_push(&m->g->done, &m->link);
    lrt__waitq_wake_one(&m->g->waiters, NULL, 0, LRT__WAKER_TASK);
}

#endif
