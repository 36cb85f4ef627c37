/* Names for sync objects: shown wherever a task waits on the object. */
#include <jansson.h>
#include <stdlib.h>

#include "internal.h"
#include "test_util.h"

struct objs {
    lrt_chan_t *chan;
    lrt_mutex_t *mutex;
    lrt_sem_t *sem;
    lrt_notify_t *notify;
    lrt_oneshot_t *oneshot;
    lrt_rwlock_t *rwlock;
    lrt_watch_t *watch;
    lrt_barrier_t *barrier;
};

enum { W_CHAN, W_MUTEX, W_SEM, W_NOTIFY, W_ONESHOT, W_RWLOCK, W_WATCH, W_BARRIER, W_N };
static const char *const expect[W_N] = {"jobs", "accounts", "slots", "wakeup", "reply", "table", "config",
                                        "start"};
static uint64_t ids[W_N];

struct waiter { struct objs *o; int which; };

static void *waiter(void *arg)
{
    struct waiter *w = arg;
    void *m;
    uint64_t seen = 0;
    ids[w->which] = lrt_task_self_id();
    switch (w->which) {
    case W_CHAN: lrt_chan_recv(w->o->chan, &m); break;
    case W_MUTEX: lrt_mutex_lock(w->o->mutex); break;
    case W_SEM: lrt_sem_acquire(w->o->sem, 1); break;
    case W_NOTIFY: lrt_notify_wait(w->o->notify); break;
    case W_ONESHOT: lrt_oneshot_recv(w->o->oneshot, &m); break;
    case W_RWLOCK: lrt_rwlock_rdlock(w->o->rwlock); break;
    case W_WATCH: lrt_watch_get(w->o->watch, &seen); lrt_watch_changed(w->o->watch, &seen, -1); break;
    case W_BARRIER: lrt_barrier_wait(w->o->barrier); break;
    }
    return NULL;
}

static void *names_root(void *unused)
{
    (void)unused;
    struct objs o = {lrt_chan_new(0), lrt_mutex_new(), lrt_sem_new(0), lrt_notify_new(), lrt_oneshot_new(),
                     lrt_rwlock_new(), lrt_watch_new(NULL), lrt_barrier_new(2)};
    CU_ASSERT_EQUAL(lrt_chan_set_name(o.chan, "jobs"), 0);
    CU_ASSERT_EQUAL(lrt_mutex_set_name(o.mutex, "accounts"), 0);
    CU_ASSERT_EQUAL(lrt_sem_set_name(o.sem, "slots"), 0);
    CU_ASSERT_EQUAL(lrt_notify_set_name(o.notify, "wakeup"), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_set_name(o.oneshot, "reply"), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_set_name(o.rwlock, "table"), 0);
    CU_ASSERT_EQUAL(lrt_watch_set_name(o.watch, "config"), 0);
    CU_ASSERT_EQUAL(lrt_barrier_set_name(o.barrier, "start"), 0);
    CU_ASSERT_EQUAL(lrt_chan_set_name(NULL, "x"), -EINVAL);
    CU_ASSERT_EQUAL(lrt_mutex_lock(o.mutex), 0);   /* held: the waiter queues */
    CU_ASSERT_EQUAL(lrt_rwlock_wrlock(o.rwlock), 0);
    struct waiter w[W_N];
    lrt_task_t *t[W_N];
    for (int i = 0; i < W_N; i++) {
        w[i] = (struct waiter){&o, i};
        t[i] = lrt_spawn(waiter, &w[i]);
    }
    lrt_yield();
    lrt_yield();
    char *js = lrt_dump_json(lrt_current(), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(js);
    json_t *root = json_loads(js, 0, NULL);
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int seen = 0;
    size_t k;
    json_t *task;
    json_array_foreach(json_object_get(root, "tasks"), k, task) {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(task, "id"));
        for (int i = 0; i < W_N; i++) {
            if (id != ids[i])
                continue;
            json_t *wait = json_object_get(task, "wait");
            const char *name = json_string_value(json_object_get(wait, "name"));
            const char *obj = json_string_value(json_object_get(wait, "object"));
            CU_ASSERT_PTR_NOT_NULL(name);
            CU_ASSERT_PTR_NOT_NULL(obj);
            if (name && obj) {
                CU_ASSERT_STRING_EQUAL(name, expect[i]);
                char q[48];
                snprintf(q, sizeof q, "'%s'", expect[i]);
                CU_ASSERT_PTR_NOT_NULL(strstr(obj, q));
            }
            seen++;
        }
    }
    CU_ASSERT_EQUAL(seen, W_N);
    json_decref(root);
    /* a long name is cut at 31 bytes; NULL or "" removes it */
    CU_ASSERT_EQUAL(lrt_chan_set_name(o.chan, "0123456789012345678901234567890123456789"), 0);
    CU_ASSERT_EQUAL(strlen(lrt__sync_name(o.chan)), 31u);
    CU_ASSERT_EQUAL(lrt_chan_set_name(o.chan, NULL), 0);
    CU_ASSERT_PTR_NULL(lrt__sync_name(o.chan));
    for (int i = 0; i < W_N; i++)
        lrt_abort(t[i]);
    for (int i = 0; i < W_N; i++)
        lrt_join(t[i], NULL);
    lrt_mutex_unlock(o.mutex);
    lrt_rwlock_unlock(o.rwlock);
    CU_ASSERT_EQUAL(lrt_chan_free(o.chan), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(o.mutex), 0);
    CU_ASSERT_EQUAL(lrt_sem_free(o.sem), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(o.notify), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(o.oneshot), 0);
    CU_ASSERT_EQUAL(lrt_rwlock_free(o.rwlock), 0);
    CU_ASSERT_EQUAL(lrt_watch_free(o.watch), 0);
    CU_ASSERT_EQUAL(lrt_barrier_free(o.barrier), 0);
    return NULL;
}

static void named_sync_objects_show_their_name_where_a_task_waits_on_them(void)
{
    lrt_test_run(NULL, names_root, NULL);
}

CU_TestInfo lrt_test_names[] = {
    {"named_sync_objects_show_their_name_where_a_task_waits_on_them",
     named_sync_objects_show_their_name_where_a_task_waits_on_them},
    CU_TEST_INFO_NULL,
};
