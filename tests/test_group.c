/* Task groups: completion order, timeouts, first-error cancel, a free that never leaks
 * (also with tasks that ignore the first abort), handles the caller cannot join, and the
 * group in the dump.  Completion order comes from yield counts and the paused clock,
 * never from the machine's speed. */
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

/* A member that yields *arg times, then returns arg. */
static void *yielder(void *arg)
{
    for (intptr_t i = 0; i < *(intptr_t *)arg; i++)
        lrt_yield();
    return arg;
}

static void *completion_order_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("order");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    /* spawned in this order, finishing in the order 1, 2, 0 */
    static intptr_t yields[3] = {6, 1, 3};
    uint64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = lrt_task_id(lrt_group_spawn(g, yielder, &yields[i]));
    CU_ASSERT_EQUAL(lrt_group_len(g), 3);
    const int expect[3] = {1, 2, 0};
    for (int k = 0; k < 3; k++) {
        uint64_t id = 0;
        void *res = NULL;
        CU_ASSERT_EQUAL(lrt_group_join_next(g, &id, &res, -1), 0);
        CU_ASSERT_EQUAL(id, ids[expect[k]]);
        CU_ASSERT_PTR_EQUAL(res, &yields[expect[k]]);
        CU_ASSERT_EQUAL(lrt_group_len(g), (size_t)(2 - k));
    }
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, NULL, -1), -ECHILD);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void group_join_next_returns_tasks_in_completion_order(void)
{
    lrt_test_run(NULL, completion_order_root, NULL);
}

static void *empty_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_EQUAL(lrt_group_len(g), 0);
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, NULL, -1), -ECHILD); /* never waits */
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, NULL, 0), -ECHILD);
    CU_ASSERT_EQUAL(lrt_group_join_next(NULL, NULL, NULL, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_group_len(NULL), 0);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    CU_ASSERT_EQUAL(lrt_group_free(NULL), 0);
    return NULL;
}

static void an_empty_group_answers_echild_and_calls_outside_a_task_eperm(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_group_new("no runtime"));
    CU_ASSERT_EQUAL(errno, EPERM);
    lrt_test_run(NULL, empty_root, NULL);
}

static void *sleeper(void *arg)
{
    int rc = lrt_sleep_ms((uint64_t)(uintptr_t)arg);
    return (void *)(intptr_t)rc;
}

static void *timeout_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("slow");
    lrt_group_spawn(g, sleeper, (void *)(uintptr_t)1000);
    uint64_t t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, NULL, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, NULL, 10), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 10000000u);
    CU_ASSERT(lrt_now_ns() - t0 < 1000000000u); /* virtual clock: exact, no machine load */
    CU_ASSERT_EQUAL(lrt_group_len(g), 1); /* nothing taken */
    void *res = (void *)1;
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, &res, -1), 0);
    CU_ASSERT_PTR_NULL(res); /* the sleep returned 0 */
    CU_ASSERT(lrt_now_ns() - t0 >= 1000000000u);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void group_join_next_times_out_without_taking_anything(void)
{
    lrt_test_run_paused(timeout_root, NULL);
}

/* ---- first error cancels the rest ---------------------------------------------------- */

static void *worker(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n == 3) {
        lrt_yield();
        return (void *)(intptr_t)-EIO; /* the failure */
    }
    return (void *)(intptr_t)lrt_sleep_ms(60000);
}

static void *first_error_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("fanout");
    for (intptr_t i = 0; i < 10; i++)
        CU_ASSERT_PTR_NOT_NULL(lrt_group_spawn(g, worker, (void *)i));
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, &res, 30000), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EIO);
    lrt_group_abort_all(g);
    int cancelled = 0;
    int rc;
    while ((rc = lrt_group_join_next(g, NULL, &res, 30000)) != -ECHILD) {
        /* each unwound from its sleep: status -ECANCELED, its own return value delivered */
        CU_ASSERT_EQUAL(rc, -ECANCELED);
        CU_ASSERT_EQUAL((intptr_t)res, -ECANCELED);
        if (rc != -ECANCELED)
            break;
        cancelled++;
    }
    CU_ASSERT_EQUAL(cancelled, 9);
    CU_ASSERT_EQUAL(lrt_group_len(g), 0);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void first_error_then_abort_all_gives_every_other_task_ecanceled(void)
{
    lrt_test_run(NULL, first_error_root, NULL);
}

/* ---- group_free never leaks ------------------------------------------------------------ */

struct member_log {
    atomic_int ran, ended;
    int stubborn_cancels; /* -ECANCELED seen by the task that ignores them */
};

/* Owns heap memory it frees on the way out: ASan reports it if the task never ends. */
static void *owning_sleeper(void *arg)
{
    struct member_log *log = arg;
    char *mine = malloc(64);
    log->ran++;
    lrt_sleep_ms(60000);
    free(mine);
    log->ended++;
    return NULL;
}

static void *quick(void *arg)
{
    struct member_log *log = arg;
    log->ran++;
    log->ended++;
    return NULL;
}

/* Ignores the abort: keeps yielding through five -ECANCELED before it returns. */
static void *stubborn(void *arg)
{
    struct member_log *log = arg;
    char *mine = malloc(64);
    log->ran++;
    while (log->stubborn_cancels < 5)
        if (lrt_yield() == -ECANCELED)
            log->stubborn_cancels++;
    free(mine);
    log->ended++;
    return NULL;
}

static void *free_root(void *arg)
{
    struct member_log *log = arg;
    lrt_group_t *g = lrt_group_new("doomed");
    lrt_group_spawn(g, owning_sleeper, log);
    lrt_group_spawn(g, quick, log);
    lrt_group_spawn(g, stubborn, log);
    lrt_yield(); /* all three start; quick finishes, not joined */
    lrt_yield();
    CU_ASSERT_EQUAL(log->ran, 3);
    CU_ASSERT_EQUAL(log->ended, 1);
    CU_ASSERT_EQUAL(lrt_group_len(g), 3); /* finished-not-joined still counts */
    lrt_group_spawn(g, quick, log);       /* never starts: aborted before its first poll */
    CU_ASSERT_EQUAL(lrt_group_len(g), 4);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    /* free returned only once every member had finished */
    CU_ASSERT_EQUAL(log->ran, 3);
    CU_ASSERT_EQUAL(log->ended, 3);
    CU_ASSERT_EQUAL(log->stubborn_cancels, 5);
    return NULL;
}

static void group_free_aborts_and_joins_running_finished_unstarted_and_stubborn_tasks(void)
{
    struct member_log log = {0};
    lrt_test_run(NULL, free_root, &log);
}

/* The task calling lrt_group_free is aborted while it waits: the wait goes on until the
 * stubborn member ended, and the caller sees the abort at its next suspension point. */
static void *freeing_task(void *arg)
{
    struct member_log *log = arg;
    lrt_group_t *g = lrt_group_new("freed under abort");
    lrt_group_spawn(g, stubborn, log);
    lrt_yield();
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    CU_ASSERT_EQUAL(log->ended, 1);
    CU_ASSERT_EQUAL(lrt_yield(), -ECANCELED);
    return NULL;
}

/* The wait kind of task @id in a snapshot of this runtime (malloc'd), or NULL. */
static char *wait_kind_of(uint64_t id)
{
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    char *kind = NULL;
    json_t *it;
    size_t i;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) == id)
            kind = strdup(json_string_value(json_object_get(json_object_get(it, "wait"), "kind")));
    }
    json_decref(root);
    return kind;
}

static void *abort_freer_root(void *arg)
{
    lrt_task_t *t = lrt_spawn(freeing_task, arg);
    lrt_yield();
    lrt_yield(); /* in lrt_group_free, the stubborn member on its first cancel */
    lrt_abort(t);
    lrt_yield();
    /* still parked on the group, not spinning through cancelled suspension points */
    char *kind = wait_kind_of(lrt_task_id(t));
    CU_ASSERT(kind && strcmp(kind, "group") == 0);
    free(kind);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    return NULL;
}

static void group_free_still_waits_for_every_member_when_its_caller_is_aborted(void)
{
    struct member_log log = {0};
    lrt_test_run(NULL, abort_freer_root, &log);
    CU_ASSERT_EQUAL(log.stubborn_cancels, 5);
}

/* ---- a cancelled join_next loses nothing --------------------------------------------- */

struct cancel_ctx {
    lrt_group_t *g;
    int rc;
};

static void *next_waiter(void *arg)
{
    struct cancel_ctx *c = arg;
    c->rc = lrt_group_join_next(c->g, NULL, NULL, -1);
    return NULL;
}

static void *cancel_root(void *unused)
{
    (void)unused;
    struct cancel_ctx c = {lrt_group_new("kept"), 1};
    static intptr_t two = 2;
    uint64_t member = lrt_task_id(lrt_group_spawn(c.g, yielder, &two));
    lrt_task_t *w = lrt_spawn(next_waiter, &c);
    lrt_yield(); /* w waits in join_next, the member yields */
    CU_ASSERT_EQUAL(lrt_group_free(c.g), -EBUSY); /* a task waits on it: nothing done */
    lrt_abort(w);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(c.rc, -ECANCELED);
    CU_ASSERT_EQUAL(lrt_group_len(c.g), 1);
    uint64_t id = 0;
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_group_join_next(c.g, &id, &res, -1), 0);
    CU_ASSERT_EQUAL(id, member);
    CU_ASSERT_PTR_EQUAL(res, &two);
    CU_ASSERT_EQUAL(lrt_group_free(c.g), 0);
    return NULL;
}

static void a_cancelled_join_next_leaves_the_finished_task_in_the_group(void)
{
    lrt_test_run(NULL, cancel_root, NULL);
}

/* ---- handles stay the group's ------------------------------------------------------- */

static void *handle_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("owner");
    static intptr_t one = 1;
    lrt_task_t *h = lrt_group_spawn(g, yielder, &one);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    uint64_t id = lrt_task_id(h);
    CU_ASSERT(id != 0);
    CU_ASSERT_EQUAL(lrt_join(h, NULL), -EINVAL);
    CU_ASSERT_EQUAL(lrt_join_timeout(h, NULL, 0), -EINVAL);
    lrt_task_detach(h); /* no-op */
    CU_ASSERT_EQUAL(lrt_task_id(h), id);
    lrt_sel_t sel = lrt_sel_join(h, NULL); /* nor can a select take it */
    CU_ASSERT_EQUAL(lrt_select(&sel, 1, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_task_id(h), id);
    uint64_t got = 0;
    CU_ASSERT_EQUAL(lrt_group_join_next(g, &got, NULL, -1), 0);
    CU_ASSERT_EQUAL(got, id);
    CU_ASSERT_EQUAL(lrt_task_id(h), 0); /* released by join_next */
    CU_ASSERT_EQUAL(lrt_group_spawn(NULL, yielder, &one), NULL);
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void *self_freeing_member(void *arg)
{
    return (void *)(intptr_t)lrt_group_free(arg);
}

static void *self_free_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("self");
    lrt_group_spawn(g, self_freeing_member, g);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_group_join_next(g, NULL, &res, 30000), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EDEADLK);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void a_member_freeing_its_own_group_gets_edeadlk_instead_of_waiting_for_itself(void)
{
    lrt_test_run(NULL, self_free_root, NULL);
}

static void a_group_members_handle_cannot_be_joined_or_detached_by_the_caller(void)
{
    lrt_test_run(NULL, handle_root, NULL);
}

/* ---- the dump ------------------------------------------------------------------------- */

static void *group_waiter(void *arg)
{
    lrt_group_t *g = arg;
    int rc;
    while ((rc = lrt_group_join_next(g, NULL, NULL, -1)) != -ECHILD)
        CU_ASSERT_EQUAL(rc, -ECANCELED);
    return NULL;
}

static void *dump_root(void *unused)
{
    (void)unused;
    lrt_group_t *g = lrt_group_new("workers");
    uint64_t members[2];
    for (int i = 0; i < 2; i++)
        members[i] = lrt_task_id(lrt_group_spawn(g, sleeper, (void *)(uintptr_t)60000));
    lrt_task_t *w = lrt_spawn(group_waiter, g);
    lrt_yield();
    char *js = lrt_dump_json(lrt_current(), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(js);
    lrt_test_save_snapshot("group", js); /* t-dump.sh checks it against the schema */
    json_t *root = json_loads(js, 0, NULL);
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *tasks = json_object_get(root, "tasks"), *it;
    size_t i;
    int seen_members = 0, seen_waiter = 0;
    uint64_t gid = 0;
    json_array_foreach(tasks, i, it)
    {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(it, "id"));
        json_t *grp = json_object_get(it, "group");
        if (id == members[0] || id == members[1]) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(grp);
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(grp, "name")), "workers");
            CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(grp, "parent")), lrt_task_self_id());
            gid = (uint64_t)json_integer_value(json_object_get(grp, "id"));
            CU_ASSERT(gid != 0);
            seen_members++;
        } else {
            CU_ASSERT_PTR_NULL(grp); /* not a member */
        }
        if (id == lrt_task_id(w)) {
            json_t *wt = json_object_get(it, "wait");
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(wt, "kind")), "group");
            const char *obj = json_string_value(json_object_get(wt, "object"));
            CU_ASSERT(obj && strstr(obj, "'workers' (2 left)"));
            seen_waiter = 1;
        }
    }
    CU_ASSERT_EQUAL(seen_members, 2);
    CU_ASSERT_TRUE(seen_waiter);
    /* the waiter's wait names the members' group */
    json_array_foreach(tasks, i, it) if ((uint64_t)json_integer_value(json_object_get(it, "id")) == lrt_task_id(w))
        CU_ASSERT_EQUAL((uint64_t)json_integer_value(json_object_get(json_object_get(it, "wait"), "group")), gid);
    json_decref(root);
    lrt_group_abort_all(g);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void snapshot_shows_each_members_group_and_the_task_waiting_on_it(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_group[] = {
    {"group_join_next_returns_tasks_in_completion_order", group_join_next_returns_tasks_in_completion_order},
    {"an_empty_group_answers_echild_and_calls_outside_a_task_eperm",
     an_empty_group_answers_echild_and_calls_outside_a_task_eperm},
    {"group_join_next_times_out_without_taking_anything", group_join_next_times_out_without_taking_anything},
    {"first_error_then_abort_all_gives_every_other_task_ecanceled",
     first_error_then_abort_all_gives_every_other_task_ecanceled},
    {"group_free_aborts_and_joins_running_finished_unstarted_and_stubborn_tasks",
     group_free_aborts_and_joins_running_finished_unstarted_and_stubborn_tasks},
    {"group_free_still_waits_for_every_member_when_its_caller_is_aborted",
     group_free_still_waits_for_every_member_when_its_caller_is_aborted},
    {"a_cancelled_join_next_leaves_the_finished_task_in_the_group",
     a_cancelled_join_next_leaves_the_finished_task_in_the_group},
    {"a_group_members_handle_cannot_be_joined_or_detached_by_the_caller",
     a_group_members_handle_cannot_be_joined_or_detached_by_the_caller},
    {"a_member_freeing_its_own_group_gets_edeadlk_instead_of_waiting_for_itself",
     a_member_freeing_its_own_group_gets_edeadlk_instead_of_waiting_for_itself},
    {"snapshot_shows_each_members_group_and_the_task_waiting_on_it",
     snapshot_shows_each_members_group_and_the_task_waiting_on_it},
    CU_TEST_INFO_NULL,
};
