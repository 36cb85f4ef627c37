/*
 * Cycles suite: the wait-for graph (snapshot "cycles", the deadlock report's lead
 * sentences) and the snapshot's "objects" (names, creation sites, owners, waiters).
 *
 * Every test builds its cycle for real with tasks, takes the snapshot through
 * lrt_dump_json from the root task, then aborts the stuck tasks and joins them.  With
 * LRT_TEST_SNAPSHOT_DIR set, every snapshot is written there too (tests/t-dump.sh
 * validates them against docs/snapshot.schema.json).
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define STR_EQ(actual, expected)                                                           \
    do {                                                                                   \
        const char *a_ = (actual);                                                         \
        CU_ASSERT(a_ != NULL && strcmp(a_, (expected)) == 0);                              \
        if (!a_ || strcmp(a_, (expected)))                                                 \
            fprintf(stderr, "\n  got:  %s\n  want: %s\n", a_ ? a_ : "(null)", (expected));  \
    } while (0)

static json_t *snap(const char *tag)
{
    char *text = lrt_dump_json(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    const char *dir = getenv("LRT_TEST_SNAPSHOT_DIR");
    if (dir && *dir) {
        static atomic_int seq;
        char path[512];
        snprintf(path, sizeof path, "%s/cycles-%s-%d.json", dir, tag, atomic_fetch_add(&seq, 1));
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(text, f);
            fclose(f);
        }
    }
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    return j;
}

static json_t *cycles(json_t *s) { return json_object_get(s, "cycles"); }
static const char *cycle_text(json_t *s, size_t i)
{
    return json_string_value(json_object_get(json_array_get(cycles(s), i), "text"));
}
static uint64_t cycle_task(json_t *s, size_t c, size_t i)
{
    return json_integer_value(json_array_get(json_object_get(json_array_get(cycles(s), c), "tasks"), i));
}

static void settle(void)
{
    for (int i = 0; i < 20; i++)
        lrt_yield();
}

/* abort and join every handle in @h (the stuck tasks end with -ECANCELED) */
static void reap(lrt_task_t **h, int n)
{
    for (int i = 0; i < n; i++)
        if (h[i])
            lrt_abort(h[i]);
    for (int i = 0; i < n; i++)
        if (h[i])
            lrt_join(h[i], NULL);
}

/* ---- mutexes: the showcase's ledger and auditor ------------------------------------ */

static lrt_mutex_t *m_accounts, *m_audit, *m_third;

static void *ledger(void *arg)
{
    (void)arg;
    if (lrt_mutex_lock(m_accounts) == 0) {
        lrt_yield();
        if (lrt_mutex_lock(m_audit) == 0)
            lrt_mutex_unlock(m_audit);
        lrt_mutex_unlock(m_accounts);
    }
    return NULL;
}

static void *auditor(void *arg)
{
    lrt_mutex_t *second = arg ? arg : m_accounts;
    if (lrt_mutex_lock(m_audit) == 0) {
        lrt_yield();
        if (lrt_mutex_lock(second) == 0)
            lrt_mutex_unlock(second);
        lrt_mutex_unlock(m_audit);
    }
    return NULL;
}

static void *third(void *arg)
{
    (void)arg;
    if (lrt_mutex_lock(m_third) == 0) {
        lrt_yield();
        if (lrt_mutex_lock(m_accounts) == 0)
            lrt_mutex_unlock(m_accounts);
        lrt_mutex_unlock(m_third);
    }
    return NULL;
}

static void make_mutexes(bool named)
{
    m_accounts = lrt_mutex_new();
    m_audit = lrt_mutex_new();
    m_third = lrt_mutex_new();
    if (named) {
        lrt_mutex_set_name(m_accounts, "accounts");
        lrt_mutex_set_name(m_audit, "audit");
        lrt_mutex_set_name(m_third, "third");
    }
}

static void free_mutexes(void)
{
    CU_ASSERT_EQUAL(lrt_mutex_free(m_accounts), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(m_audit), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(m_third), 0);
}

static void *mutex2_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    lrt_task_t *h[2] = {lrt_spawn_named("ledger", ledger, NULL), lrt_spawn_named("auditor", auditor, NULL)};
    settle();
    json_t *s = snap("mutex2");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    uint64_t a = lrt_task_id(h[0]), b = lrt_task_id(h[1]);
    char want[256];
    snprintf(want, sizeof want,
             "deadlock: task %llu 'ledger' holds mutex 'accounts' and waits for mutex 'audit' held by "
             "task %llu 'auditor', which waits for 'accounts'",
             (unsigned long long)a, (unsigned long long)b);
    STR_EQ(cycle_text(s, 0), want);
    CU_ASSERT_EQUAL(cycle_task(s, 0, 0), a);
    CU_ASSERT_EQUAL(cycle_task(s, 0, 1), b);
    json_t *e = json_array_get(json_object_get(json_array_get(cycles(s), 0), "edges"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "from")), a);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(e, "to")), b);
    STR_EQ(json_string_value(json_object_get(e, "via")), "mutex 'audit'");
    json_decref(s);
    reap(h, 2);
    free_mutexes();
    return NULL;
}

static void a_mutex_cycle_of_two_tasks_is_one_sentence_naming_both_locks(void)
{
    lrt_test_run(NULL, mutex2_root, NULL);
}

static void *mutex3_root(void *arg)
{
    (void)arg;
    make_mutexes(false);
    /* ledger: accounts then audit; auditor: audit then third; third: third then accounts */
    lrt_task_t *h[3] = {lrt_spawn_named("ledger", ledger, NULL), lrt_spawn_named("auditor", auditor, m_third),
                        lrt_spawn_named("third", third, NULL)};
    settle();
    json_t *s = snap("mutex3");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_array_get(cycles(s), 0), "tasks")), 3);
    CU_ASSERT_EQUAL(cycle_task(s, 0, 0), lrt_task_id(h[0]));
    CU_ASSERT_EQUAL(cycle_task(s, 0, 1), lrt_task_id(h[1]));
    CU_ASSERT_EQUAL(cycle_task(s, 0, 2), lrt_task_id(h[2]));
    /* unnamed: the objects are called by their creation site (this file) */
    const char *t = cycle_text(s, 0);
    CU_ASSERT(t && strstr(t, "holds mutex created at test_cycles.c:") != NULL);
    CU_ASSERT(t && strstr(t, "which waits for mutex created at test_cycles.c:") != NULL);
    json_decref(s);
    reap(h, 3);
    free_mutexes();
    return NULL;
}

static void a_mutex_cycle_of_three_unnamed_locks_names_them_by_creation_site(void)
{
    lrt_test_run(NULL, mutex3_root, NULL);
}

/* ---- joins ------------------------------------------------------------------------- */

static lrt_task_t *jh[3];

static void *joiner(void *arg)
{
    int peer = (int)(intptr_t)arg;
    while (!jh[peer])
        lrt_yield();
    lrt_join(jh[peer], NULL);
    return NULL;
}

static void *join_root(void *arg)
{
    int n = (int)(intptr_t)arg;
    memset(jh, 0, sizeof jh);
    lrt_task_t *h[3] = {0};
    for (int i = 0; i < n; i++)
        h[i] = lrt_spawn_named(i == 0 ? "a" : i == 1 ? "b" : "c", joiner, (void *)(intptr_t)((i + 1) % n));
    /* the tasks hold the join handles; the root keeps copies to abort them */
    for (int i = 0; i < n; i++)
        jh[i] = h[i];
    settle();
    json_t *s = snap("join");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    char want[256];
    if (n == 2)
        snprintf(want, sizeof want, "deadlock: task %llu 'a' joins task %llu 'b', which joins task %llu 'a'",
                 (unsigned long long)lrt_task_id(h[0]), (unsigned long long)lrt_task_id(h[1]),
                 (unsigned long long)lrt_task_id(h[0]));
    else
        snprintf(want, sizeof want,
                 "deadlock: task %llu 'a' joins task %llu 'b', which joins task %llu 'c', which joins task %llu 'a'",
                 (unsigned long long)lrt_task_id(h[0]), (unsigned long long)lrt_task_id(h[1]),
                 (unsigned long long)lrt_task_id(h[2]), (unsigned long long)lrt_task_id(h[0]));
    STR_EQ(cycle_text(s, 0), want);
    json_decref(s);
    /* each task's join of its peer was the peer's only join: cancel them, then let them
     * finish; their handles were given to a cancelled join, still the root's to detach */
    for (int i = 0; i < n; i++)
        lrt_abort(h[i]);
    settle();
    for (int i = 0; i < n; i++)
        lrt_task_detach(h[i]);
    return NULL;
}

static void join_cycles_of_two_and_three_tasks_are_reported(void)
{
    lrt_test_run(NULL, join_root, (void *)(intptr_t)2);
    lrt_test_run(NULL, join_root, (void *)(intptr_t)3);
}

/* ---- channels ---------------------------------------------------------------------- */

static lrt_chan_t *ch[3];

/* send one message downstream, take one, then wait for a second that never comes */
static void *relay(void *arg)
{
    int i = (int)(intptr_t)arg;
    lrt_chan_send(ch[(i + 1) % 3], NULL);
    void *m;
    if (lrt_chan_recv(ch[i], &m) == 0)
        lrt_chan_recv(ch[i], &m);
    return NULL;
}

static void *chan3_root(void *arg)
{
    (void)arg;
    static const char *const names[] = {"to-a", "to-b", "to-c"};
    for (int i = 0; i < 3; i++) {
        ch[i] = lrt_chan_new(4);
        lrt_chan_set_name(ch[i], names[i]);
    }
    lrt_task_t *h[3] = {lrt_spawn_named("a", relay, (void *)0), lrt_spawn_named("b", relay, (void *)1),
                        lrt_spawn_named("c", relay, (void *)2)};
    settle();
    json_t *s = snap("chan3");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    char want[400];
    snprintf(want, sizeof want,
             "deadlock: task %llu 'a' waits to receive from channel 'to-a', last sent to by task %llu 'c', "
             "which waits to receive from channel 'to-c', last sent to by task %llu 'b', which waits to "
             "receive from 'to-b'",
             (unsigned long long)lrt_task_id(h[0]), (unsigned long long)lrt_task_id(h[2]),
             (unsigned long long)lrt_task_id(h[1]));
    STR_EQ(cycle_text(s, 0), want);
    /* the objects: three channels, each with its waiter, length 0 of 4 */
    json_t *objs = json_object_get(s, "objects");
    CU_ASSERT_EQUAL(json_array_size(objs), 3);
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        STR_EQ(json_string_value(json_object_get(o, "kind")), "channel");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "cap")), 4);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "len")), 0);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(o, "waiters")), 1);
    }
    json_decref(s);
    reap(h, 3);
    for (int k = 0; k < 3; k++)
        CU_ASSERT_EQUAL(lrt_chan_free(ch[k]), 0);
    return NULL;
}

static void a_channel_cycle_of_three_tasks_points_at_the_last_senders(void)
{
    lrt_test_run(NULL, chan3_root, NULL);
}

/* two tasks: each sends to the other once, then waits for a reply that never comes */
static void *pinger(void *arg)
{
    int i = (int)(intptr_t)arg;
    lrt_chan_send(ch[1 - i], NULL);
    void *m;
    if (lrt_chan_recv(ch[i], &m) == 0)
        lrt_chan_recv(ch[i], &m);
    return NULL;
}

static void *chan2_root(void *arg)
{
    (void)arg;
    ch[0] = lrt_chan_new(0); /* unnamed, unbounded */
    ch[1] = lrt_chan_new(0);
    lrt_task_t *h[2] = {lrt_spawn_named("ping", pinger, (void *)0), lrt_spawn_named("pong", pinger, (void *)1)};
    settle();
    json_t *s = snap("chan2");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    const char *t = cycle_text(s, 0);
    CU_ASSERT(t && strstr(t, "waits to receive from channel created at test_cycles.c:") != NULL);
    json_t *o = json_array_get(json_object_get(s, "objects"), 0);
    CU_ASSERT(json_is_null(json_object_get(o, "cap"))); /* unbounded */
    CU_ASSERT(json_is_null(json_object_get(o, "name")));
    json_decref(s);
    reap(h, 2);
    CU_ASSERT_EQUAL(lrt_chan_free(ch[0]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(ch[1]), 0);
    return NULL;
}

static void a_channel_cycle_of_two_unnamed_channels_is_reported(void)
{
    lrt_test_run(NULL, chan2_root, NULL);
}

/* ---- mixed: a mutex, a join and a channel ------------------------------------------ */

static lrt_task_t *mixed_b;

static void *mixed_a(void *arg) /* holds accounts, joins b */
{
    (void)arg;
    lrt_mutex_lock(m_accounts);
    while (!mixed_b)
        lrt_yield();
    lrt_join(mixed_b, NULL);
    lrt_mutex_unlock(m_accounts);
    return NULL;
}

static void *mixed_bfn(void *arg) /* waits on a channel that c fed once */
{
    (void)arg;
    void *m;
    if (lrt_chan_recv(ch[0], &m) == 0)
        lrt_chan_recv(ch[0], &m);
    return NULL;
}

static void *mixed_c(void *arg) /* feeds b once, then wants accounts */
{
    (void)arg;
    lrt_chan_send(ch[0], NULL);
    lrt_yield();
    if (lrt_mutex_lock(m_accounts) == 0)
        lrt_mutex_unlock(m_accounts);
    return NULL;
}

static void *mixed_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    ch[0] = lrt_chan_new(1);
    lrt_chan_set_name(ch[0], "jobs");
    mixed_b = NULL;
    lrt_task_t *a = lrt_spawn_named("a", mixed_a, NULL);
    lrt_task_t *b = lrt_spawn_named("b", mixed_bfn, NULL);
    lrt_task_t *c = lrt_spawn_named("c", mixed_c, NULL);
    mixed_b = b;
    settle();
    json_t *s = snap("mixed");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    char want[400];
    snprintf(want, sizeof want,
             "deadlock: task %llu 'a' holds mutex 'accounts' and joins task %llu 'b', which waits to receive "
             "from channel 'jobs', last sent to by task %llu 'c', which waits for 'accounts'",
             (unsigned long long)lrt_task_id(a), (unsigned long long)lrt_task_id(b),
             (unsigned long long)lrt_task_id(c));
    STR_EQ(cycle_text(s, 0), want);
    json_decref(s);
    lrt_abort(a);
    lrt_abort(b);
    lrt_abort(c);
    settle();
    lrt_task_detach(b); /* a's cancelled join left it joinable: the root gives it back */
    lrt_join(a, NULL);
    lrt_join(c, NULL);
    CU_ASSERT_EQUAL(lrt_chan_free(ch[0]), 0);
    free_mutexes();
    return NULL;
}

static void a_mixed_cycle_of_mutex_join_and_channel_is_one_sentence(void)
{
    lrt_test_run(NULL, mixed_root, NULL);
}

/* ---- a cycle beside healthy tasks -------------------------------------------------- */

static volatile int stop_spinner;
static void *spinner(void *arg) { (void)arg; while (!stop_spinner) lrt_yield(); return NULL; }
static void *sleeper(void *arg) { (void)arg; lrt_sleep_ms(3600 * 1000); return NULL; }
static void *consumer(void *arg) /* waits on a channel its producer (the spinner's peer) still feeds */
{
    (void)arg;
    void *m;
    lrt_chan_recv(ch[1], &m);
    return NULL;
}
static void *timed_locker(void *arg) /* waits for accounts with a timeout: not stuck */
{
    (void)arg;
    if (lrt_mutex_lock_timeout(m_accounts, 3600 * 1000) == 0)
        lrt_mutex_unlock(m_accounts);
    return NULL;
}
static lrt_sem_t *sem;
static void *sem_waiter(void *arg) { (void)arg; if (lrt_sem_acquire(sem, 1) == 0) lrt_sem_release(sem, 1); return NULL; }

static void *beside_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    ch[1] = lrt_chan_new(0);
    sem = lrt_sem_new(0);
    stop_spinner = 0;
    lrt_task_t *h[7] = {
        lrt_spawn_named("spinner", spinner, NULL), lrt_spawn_named("sleeper", sleeper, NULL),
        lrt_spawn_named("consumer", consumer, NULL), lrt_spawn_named("ledger", ledger, NULL),
        lrt_spawn_named("auditor", auditor, NULL), lrt_spawn_named("timed", timed_locker, NULL),
        lrt_spawn_named("sem", sem_waiter, NULL)};
    settle();
    lrt_chan_send(ch[1], NULL); /* the root feeds the consumer's channel: it runs again */
    lrt_task_t *h2 = lrt_spawn_named("consumer2", consumer, NULL);
    settle();
    json_t *s = snap("beside");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_array_get(cycles(s), 0), "tasks")), 2);
    CU_ASSERT_EQUAL(cycle_task(s, 0, 0), lrt_task_id(h[3]));
    CU_ASSERT_EQUAL(cycle_task(s, 0, 1), lrt_task_id(h[4]));
    /* the mutex both wait on shows its owner and both waiters */
    size_t i;
    json_t *o, *accounts = NULL;
    json_array_foreach(json_object_get(s, "objects"), i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n && strcmp(n, "accounts") == 0)
            accounts = o;
    }
    CU_ASSERT_PTR_NOT_NULL(accounts); /* no _FATAL in a task: its longjmp would skip the runtime */
    STR_EQ(json_string_value(json_object_get(accounts, "kind")), "mutex");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(accounts, "owner")), lrt_task_id(h[3]));
    CU_ASSERT_EQUAL(json_array_size(json_object_get(accounts, "waiters")), 2);
    json_t *site = json_object_get(accounts, "created_at");
    CU_ASSERT(strstr(json_string_value(json_object_get(site, "file")) ?: "", "test_cycles.c") != NULL);
    CU_ASSERT(json_integer_value(json_object_get(site, "line")) > 0);
    json_decref(s);
    stop_spinner = 1;
    lrt_task_t *all[8] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h2};
    reap(all, 8);
    CU_ASSERT_EQUAL(lrt_chan_free(ch[1]), 0);
    CU_ASSERT_EQUAL(lrt_sem_free(sem), 0);
    free_mutexes();
    return NULL;
}

static void a_cycle_beside_healthy_and_timed_waits_is_the_only_one_reported(void)
{
    lrt_test_run(NULL, beside_root, NULL);
}


/* ---- select, group, rwlock --------------------------------------------------------- */

static lrt_task_t *sel_b;
static lrt_notify_t *sel_n;
static volatile int b_ready;

static void *sel_bfn(void *arg) /* fed the channel once (took it back), then wants accounts */
{
    (void)arg;
    lrt_chan_send(ch[0], NULL);
    void *m;
    lrt_chan_try_recv(ch[0], &m);
    b_ready = 1;
    if (lrt_mutex_lock(m_accounts) == 0)
        lrt_mutex_unlock(m_accounts);
    return NULL;
}

static void *sel_afn(void *arg) /* holds accounts, selects on the channel and b's end */
{
    bool with_notify = arg != NULL;
    lrt_mutex_lock(m_accounts);
    while (!b_ready)
        lrt_yield();
    void *m;
    lrt_sel_t c[3] = {lrt_sel_recv(ch[0], &m), lrt_sel_join(sel_b, NULL), lrt_sel_notify(sel_n)};
    lrt_select(c, with_notify ? 3 : 2, -1);
    lrt_mutex_unlock(m_accounts);
    return NULL;
}

static void *select_root(void *arg)
{
    make_mutexes(true);
    ch[0] = lrt_chan_new(1);
    lrt_chan_set_name(ch[0], "replies");
    sel_n = lrt_notify_new();
    b_ready = 0;
    lrt_task_t *a = lrt_spawn_named("a", sel_afn, arg); /* first: takes accounts first */
    sel_b = lrt_spawn_named("b", sel_bfn, NULL);
    settle();
    json_t *s = snap("select");
    if (arg) { /* a notify case: someone might notify, so a is not stuck */
        CU_ASSERT_EQUAL(json_array_size(cycles(s)), 0);
    } else {
        CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
        char want[400];
        snprintf(want, sizeof want,
                 "deadlock: task %llu 'a' holds mutex 'accounts' and waits in a select to receive from channel "
                 "'replies', last sent to by task %llu 'b', which waits for 'accounts'",
                 (unsigned long long)lrt_task_id(a), (unsigned long long)lrt_task_id(sel_b));
        STR_EQ(cycle_text(s, 0), want);
    }
    json_decref(s);
    lrt_abort(sel_b); /* b ends: a's join case wins and gives b's handle back */
    CU_ASSERT_EQUAL(lrt_join(a, NULL), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(ch[0]), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(sel_n), 0);
    free_mutexes();
    return NULL;
}

static void a_select_whose_every_case_leads_back_is_a_cycle_and_a_notify_case_is_not(void)
{
    lrt_test_run(NULL, select_root, NULL);
    lrt_test_run(NULL, select_root, (void *)1);
}

static lrt_task_t *member;
static void *fetch(void *arg) { (void)arg; if (lrt_mutex_lock(m_accounts) == 0) lrt_mutex_unlock(m_accounts); return NULL; }
static void *crawler(void *arg)
{
    (void)arg;
    lrt_group_t *g = lrt_group_new("fetchers");
    lrt_mutex_lock(m_accounts);
    member = lrt_group_spawn(g, fetch, NULL);
    uint64_t id;
    CU_ASSERT_EQUAL(lrt_group_join_next(g, &id, NULL, -1), -ECANCELED); /* the member was aborted */
    lrt_mutex_unlock(m_accounts);
    CU_ASSERT_EQUAL(lrt_group_free(g), 0);
    return NULL;
}

static void *group_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    member = NULL;
    lrt_task_t *a = lrt_spawn_named("crawler", crawler, NULL);
    settle();
    json_t *s = snap("group");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    char want[400];
    snprintf(want, sizeof want,
             "deadlock: task %llu 'crawler' holds mutex 'accounts' and waits for group 'fetchers' whose member is "
             "task %llu 'fetch', which waits for 'accounts'",
             (unsigned long long)lrt_task_id(a), (unsigned long long)lrt_task_id(member));
    STR_EQ(cycle_text(s, 0), want);
    json_t *o;
    size_t i;
    bool group_seen = false;
    json_array_foreach(json_object_get(s, "objects"), i, o)
        if (strcmp(json_string_value(json_object_get(o, "kind")), "group") == 0) {
            group_seen = true;
            STR_EQ(json_string_value(json_object_get(o, "name")), "fetchers");
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "len")), 1);
        }
    CU_ASSERT(group_seen);
    json_decref(s);
    lrt_abort(member);
    CU_ASSERT_EQUAL(lrt_join(a, NULL), 0);
    free_mutexes();
    return NULL;
}

static void a_group_waiting_on_a_member_that_waits_for_it_is_a_cycle(void)
{
    lrt_test_run(NULL, group_root, NULL);
}

static lrt_rwlock_t *rw;
static void *writer(void *arg) /* writes the table, then wants accounts */
{
    (void)arg;
    lrt_rwlock_wrlock(rw);
    lrt_yield();
    if (lrt_mutex_lock(m_accounts) == 0)
        lrt_mutex_unlock(m_accounts);
    lrt_rwlock_unlock(rw);
    return NULL;
}
static void *reader(void *arg) /* holds accounts, wants to read the table */
{
    (void)arg;
    lrt_mutex_lock(m_accounts);
    lrt_yield();
    if (lrt_rwlock_rdlock(rw) == 0)
        lrt_rwlock_unlock(rw);
    lrt_mutex_unlock(m_accounts);
    return NULL;
}

static void *rwlock_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    rw = lrt_rwlock_new();
    lrt_rwlock_set_name(rw, "table");
    lrt_task_t *h[2] = {lrt_spawn_named("writer", writer, NULL), lrt_spawn_named("reader", reader, NULL)};
    settle();
    json_t *s = snap("rwlock");
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 1);
    char want[400];
    snprintf(want, sizeof want,
             "deadlock: task %llu 'writer' holds rwlock 'table' and waits for mutex 'accounts' held by task %llu "
             "'reader', which waits for 'table'",
             (unsigned long long)lrt_task_id(h[0]), (unsigned long long)lrt_task_id(h[1]));
    STR_EQ(cycle_text(s, 0), want);
    json_decref(s);
    reap(h, 2);
    CU_ASSERT_EQUAL(lrt_rwlock_free(rw), 0);
    free_mutexes();
    return NULL;
}

static void an_rwlock_writer_and_a_mutex_owner_waiting_on_each_other_is_a_cycle(void)
{
    lrt_test_run(NULL, rwlock_root, NULL);
}

/* ---- the deadlock report at block_on ----------------------------------------------- */

static void *report_root(void *arg)
{
    (void)arg;
    make_mutexes(true);
    lrt_task_t *a = lrt_spawn_named("ledger", ledger, NULL);
    lrt_task_t *b = lrt_spawn_named("auditor", auditor, NULL);
    lrt_join(a, NULL); /* never returns: the runtime finds nothing can wake anyone */
    lrt_join(b, NULL);
    return NULL;
}

static int report_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    int rc = lrt_block_on(rt, report_root, NULL, NULL);
    return rc == -EDEADLK ? 0 : 1;
}

static void deadlock_report_leads_with_the_cycle_sentence(void)
{
    char out[16384];
    int st = lrt_test_fork_capture(report_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *s = strstr(out, "lrt: deadlock: task 2 'ledger' holds mutex 'accounts' and waits for mutex "
                                "'audit' held by task 3 'auditor', which waits for 'accounts'\n");
    CU_ASSERT_PTR_NOT_NULL(s);
    const char *table = strstr(out, "all asleep");
    CU_ASSERT(s && table && s < table); /* the sentence comes first */
    if (!s)
        fprintf(stderr, "%s", out);
}

/* ---- objects ------------------------------------------------------------------------ */

static void *objects_root(void *arg)
{
    (void)arg;
    make_mutexes(false);
    lrt_mutex_t *plain = (lrt_mutex_new)(); /* the function, not the macro: no site */
    lrt_mutex_set_name(plain, "plain");
    CU_ASSERT_EQUAL(lrt_mutex_lock(plain), 0); /* the root holds it */
    lrt_task_t *h[2] = {lrt_spawn_named("ledger", ledger, NULL), lrt_spawn_named("auditor", auditor, plain)};
    settle(); /* ledger waits for audit (unnamed), auditor for plain (named, no site) */
    json_t *s = snap("objects");
    json_t *objs = json_object_get(s, "objects");
    CU_ASSERT_EQUAL(json_array_size(objs), 2);
    size_t i;
    json_t *o;
    int seen = 0;
    json_array_foreach(objs, i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n && strcmp(n, "plain") == 0) {
            CU_ASSERT(json_is_null(json_object_get(o, "created_at")));
            CU_ASSERT(json_integer_value(json_object_get(o, "owner")) > 0);
            CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(o, "waiters"), 0)), lrt_task_id(h[1]));
            seen |= 1;
        } else {
            CU_ASSERT(json_is_null(json_object_get(o, "name")));
            CU_ASSERT(json_is_object(json_object_get(o, "created_at")));
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "owner")), lrt_task_id(h[1]));
            CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(o, "waiters"), 0)), lrt_task_id(h[0]));
            seen |= 2;
        }
    }
    CU_ASSERT_EQUAL(seen, 3);
    CU_ASSERT_EQUAL(json_array_size(cycles(s)), 0); /* the root holds plain, and runs */
    json_decref(s);
    lrt_mutex_unlock(plain);
    lrt_join(h[0], NULL);
    lrt_join(h[1], NULL);
    CU_ASSERT_EQUAL(lrt_mutex_free(plain), 0);
    free_mutexes();
    return NULL;
}

static void objects_show_names_sites_owners_and_waiters_with_and_without_names(void)
{
    lrt_test_run(NULL, objects_root, NULL);
}

static void created_at_keeps_null_and_errno_of_a_failed_constructor(void)
{
    errno = EINVAL;
    CU_ASSERT_PTR_NULL(lrt_sync_created_at(NULL, "x.c", 1));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_barrier_new(0)); /* the macro keeps the constructor's error */
    CU_ASSERT_EQUAL(errno, EINVAL);
    lrt_chan_t *c = lrt_chan_new(1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
}

CU_TestInfo lrt_test_cycles[] = {
    {"a_mutex_cycle_of_two_tasks_is_one_sentence_naming_both_locks", a_mutex_cycle_of_two_tasks_is_one_sentence_naming_both_locks},
    {"a_mutex_cycle_of_three_unnamed_locks_names_them_by_creation_site", a_mutex_cycle_of_three_unnamed_locks_names_them_by_creation_site},
    {"join_cycles_of_two_and_three_tasks_are_reported", join_cycles_of_two_and_three_tasks_are_reported},
    {"a_channel_cycle_of_three_tasks_points_at_the_last_senders", a_channel_cycle_of_three_tasks_points_at_the_last_senders},
    {"a_channel_cycle_of_two_unnamed_channels_is_reported", a_channel_cycle_of_two_unnamed_channels_is_reported},
    {"a_mixed_cycle_of_mutex_join_and_channel_is_one_sentence", a_mixed_cycle_of_mutex_join_and_channel_is_one_sentence},
    {"a_cycle_beside_healthy_and_timed_waits_is_the_only_one_reported", a_cycle_beside_healthy_and_timed_waits_is_the_only_one_reported},
    {"a_select_whose_every_case_leads_back_is_a_cycle_and_a_notify_case_is_not", a_select_whose_every_case_leads_back_is_a_cycle_and_a_notify_case_is_not},
    {"a_group_waiting_on_a_member_that_waits_for_it_is_a_cycle", a_group_waiting_on_a_member_that_waits_for_it_is_a_cycle},
    {"an_rwlock_writer_and_a_mutex_owner_waiting_on_each_other_is_a_cycle", an_rwlock_writer_and_a_mutex_owner_waiting_on_each_other_is_a_cycle},
    {"deadlock_report_leads_with_the_cycle_sentence", deadlock_report_leads_with_the_cycle_sentence},
    {"objects_show_names_sites_owners_and_waiters_with_and_without_names", objects_show_names_sites_owners_and_waiters_with_and_without_names},
    {"created_at_keeps_null_and_errno_of_a_failed_constructor", created_at_keeps_null_and_errno_of_a_failed_constructor},
    CU_TEST_INFO_NULL,
};
