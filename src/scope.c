/*
 * Deadline and shield scopes: a per-task stack of entries, pushed and popped by the task
 * itself.  A deadline scope makes every suspension point return -ETIMEDOUT once the
 * earliest pushed deadline has passed; a shield keeps abort and shutdown from
 * interrupting the task's waits until the last shield is popped.
 *
 * Tasks without scopes pay nothing but the flag test lrt__suspend already makes
 * (LRT__TF_INTERRUPT): the stack lives off the task record, allocated at the first push,
 * and the earliest deadline is cached in it so a suspension point reads one value.
 * Tokens come from a per-task counter, not the depth, so a token whose scope was popped
 * (with the ones below it reused by later pushes) is refused instead of popping a
 * stranger's scope.
 *
 * Layer: beside sync (calls core's lrt__rt_now and the task record only); runtime thread
 * only, the running task's own scopes only.
 */
#include "internal.h"

#include <stdlib.h>

static void recompute(struct lrt_task *t)
{
    struct lrt__scopes *s = t->scopes;
    uint64_t d = UINT64_MAX;
    uint32_t shields = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->e[i].deadline < d)
            d = s->e[i].deadline;
        shields += s->e[i].shield;
    }
    s->deadline = d;
    s->shields = shields;
    t->flags &= ~(LRT__TF_DEADLINE | LRT__TF_SHIELD);
    if (d != UINT64_MAX)
        t->flags |= LRT__TF_DEADLINE;
    if (shields) {
        t->flags |= LRT__TF_SHIELD;
        /* already cancelled when the shield went up: the cleanup inside it must not be
         * cut short either; the cancellation comes back at the last pop */
        if ((t->flags & (LRT__TF_CANCELLED | LRT__TF_UNSHIELDED)) == LRT__TF_CANCELLED) {
            t->flags &= ~LRT__TF_CANCELLED;
            t->flags |= LRT__TF_CANCEL_PENDING;
        }
    } else if (t->flags & LRT__TF_CANCEL_PENDING) {
        t->flags &= ~LRT__TF_CANCEL_PENDING;
        t->flags |= LRT__TF_CANCELLED;
    }
}

static int push(uint64_t deadline, bool shield)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    struct lrt__scopes *s = t->scopes;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -ENOMEM;
        t->scopes = s;
    }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        struct lrt__scope_entry *e = realloc(s->e, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        s->e = e;
        s->cap = cap;
    }
    int token = s->next_token;
    s->next_token = token == INT32_MAX ? 0 : token + 1;
    s->e[s->n++] = (struct lrt__scope_entry){.deadline = deadline, .token = token, .shield = shield};
    recompute(t);
    return token;
}

static int pop(int token, bool shield)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    struct lrt__scopes *s = t->scopes;
    if (!s || token < 0)
        return -EINVAL;
    for (uint32_t i = s->n; i-- > 0;) {
        if (s->e[i].token != token)
            continue;
        if (s->e[i].shield != shield)
            return -EINVAL;
        s->n = i;
        recompute(t);
        return 0;
    }
    return -EINVAL;
}

int lrt_deadline_push(uint64_t deadline_ns)
{
    return push(deadline_ns >= LRT__DEADLINE_MAX ? UINT64_MAX : deadline_ns, false);
}

int lrt_timeout_push(int64_t ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    uint64_t d = lrt__wait_deadline(t, ms);
    return push(d ? d : UINT64_MAX, false);
}

int lrt_deadline_pop(int token)
{
    return pop(token, false);
}

int lrt_shield_push(void)
{
    return push(UINT64_MAX, true);
}

int lrt_shield_pop(int token)
{
    return pop(token, true);
}

void lrt__scopes_free(struct lrt_task *t)
{
    free(t->scopes->e);
    free(t->scopes);
    t->scopes = NULL;
}
