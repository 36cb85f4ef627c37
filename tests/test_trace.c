/*
 * The statedump (src/trace.c) without a session daemon: the test plays LTTng-UST's part.
 * It enables lrt:task_info and lrt:driver_select the way liblttng-ust-tracepoint does
 * (the tracepoint's state, and its probe array with one probe per session) with a probe
 * of its own, and checks what the runtime emits: one task_info per live task with its
 * spawn site, state and wait, at the off->on edge and when the probe array changes (a
 * second session), nothing in between.  t-record.sh checks the same against a real
 * session.  Needs liblttng-ust-tracepoint.so.1 (liblrt's constructor loads it when
 * installed: the probe call goes through its RCU); with TRACE=0 there is nothing to test.
 */
#include <lttng/tracepoint-types.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"

/* liblrt's tracepoint definitions (src/trace.c; hidden, reachable in a static link) */
extern struct lttng_ust_tracepoint lttng_ust_tracepoint_lrt___task_info __attribute__((weak));
extern struct lttng_ust_tracepoint lttng_ust_tracepoint_lrt___driver_select __attribute__((weak));

#define MAXREC 64
static struct rec {
    uint64_t id, parent, since;
    char name[32], file[64], state[16], wait[16];
    int line;
} recs[MAXREC];
static int nrec, ndriver, nprobe_b;
static char driver[32];

static void info_probe(void *data, uint64_t task_id, uint64_t parent_id, const char *name, const char *file,
                       int line, const char *func, const char *state, const char *wait, uint64_t wait_since_ns)
{
    (void)func;
    if (data == (void *)2)
        nprobe_b++;
    if (nrec >= MAXREC)
        return;
    struct rec *r = &recs[nrec++];
    r->id = task_id;
    r->parent = parent_id;
    r->since = wait_since_ns;
    r->line = line;
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->file, sizeof r->file, "%s", file);
    snprintf(r->state, sizeof r->state, "%s", state);
    snprintf(r->wait, sizeof r->wait, "%s", wait);
}

static void driver_probe(void *data, const char *drv, const char *reason)
{
    (void)data;
    if (strncmp(reason, "statedump: ", 11) == 0) /* then the reason of the choice */
        ndriver++;
    snprintf(driver, sizeof driver, "%s", drv);
}

/* One probe per "session", as liblttng-ust publishes them (NULL-terminated arrays). */
static struct lttng_ust_tracepoint_probe session_a[2], session_b[3], drv_probes[2];

static void set_task_info(int on, struct lttng_ust_tracepoint_probe *probes)
{
    __atomic_store_n(&lttng_ust_tracepoint_lrt___task_info.probes, probes, __ATOMIC_RELEASE);
    __atomic_store_n(&lttng_ust_tracepoint_lrt___task_info.state, on, __ATOMIC_RELEASE);
}

static void *sleeper(void *arg)
{
    (void)arg;
    lrt_sleep_ms(3600 * 1000);
    return NULL;
}

static void *receiver(void *arg)
{
    void *m;
    lrt_chan_recv(arg, &m);
    return NULL;
}

static const struct rec *find(const char *name, int from)
{
    for (int i = from; i < nrec; i++)
        if (strcmp(recs[i].name, name) == 0)
            return &recs[i];
    return NULL;
}

static void *dump_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    lrt_task_t *s = lrt_spawn_named("old_sleeper", sleeper, NULL);
    lrt_task_t *r = lrt_spawn_named("old_receiver", receiver, c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    lrt_sleep_ms(2); /* both run and suspend; nobody traces yet */
    CU_ASSERT_EQUAL(nrec, 0);

    /* a session starts: the next refresh (after this park) dumps */
    set_task_info(1, session_a);
    __atomic_store_n(&lttng_ust_tracepoint_lrt___driver_select.probes, drv_probes, __ATOMIC_RELEASE);
    __atomic_store_n(&lttng_ust_tracepoint_lrt___driver_select.state, 1, __ATOMIC_RELEASE);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(nrec, 3); /* main, old_sleeper, old_receiver */
    CU_ASSERT_EQUAL(ndriver, 1);
    CU_ASSERT_STRING_EQUAL(driver, lrt_runtime_driver(lrt_current(), NULL)); /* the backend in use */
    const struct rec *rs = find("old_sleeper", 0), *rr = find("old_receiver", 0), *rm = find("main", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rr);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rm);
    CU_ASSERT_EQUAL(rs->id, lrt_task_id(s));
    CU_ASSERT_EQUAL(rs->parent, rm->id);
    CU_ASSERT_PTR_NOT_NULL(strstr(rs->file, "test_trace.c"));
    CU_ASSERT(rs->line > 0);
    CU_ASSERT_STRING_EQUAL(rs->state, "suspended");
    CU_ASSERT_STRING_EQUAL(rs->wait, "sleep");
    CU_ASSERT(rs->since > 0);
    CU_ASSERT_STRING_EQUAL(rr->wait, "chan_recv");
    /* main dumps from inside its own park: suspended on its sleep, like the others */
    CU_ASSERT_STRING_EQUAL(rm->state, "suspended");

    /* the same session goes on: no second dump */
    lrt_sleep_ms(2);
    lrt_yield();
    CU_ASSERT_EQUAL(nrec, 3);

    /* a second session starts while the first records: a new probe array, a new dump
     * (into both sessions: both probes are called) */
    set_task_info(1, session_b);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(nrec, 3 + 2 * 3);
    CU_ASSERT_EQUAL(nprobe_b, 3);
    CU_ASSERT_EQUAL(ndriver, 2);
    CU_ASSERT_PTR_NOT_NULL(find("old_receiver", 3));

    /* every session stops, then one starts again with the same array: the edge dumps */
    set_task_info(0, NULL);
    lrt_sleep_ms(2);
    int before = nrec;
    set_task_info(1, session_a);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(nrec, before + 3);

    /* a finished task is not dumped */
    lrt_abort(s);
    CU_ASSERT_EQUAL(lrt_join(s, NULL), -ECANCELED);
    set_task_info(0, NULL);
    lrt_sleep_ms(2);
    before = nrec;
    set_task_info(1, session_a);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(nrec, before + 2);
    CU_ASSERT_PTR_NULL(find("old_sleeper", before));

    set_task_info(0, NULL);
    __atomic_store_n(&lttng_ust_tracepoint_lrt___driver_select.state, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&lttng_ust_tracepoint_lrt___driver_select.probes, NULL, __ATOMIC_RELEASE);
    lrt_chan_close(c);
    CU_ASSERT_EQUAL(lrt_join(r, NULL), 0);
    lrt_chan_free(c);
    return NULL;
}

static void statedump_names_every_live_task_when_a_session_starts(void)
{
    if (!&lttng_ust_tracepoint_lrt___task_info)
        return; /* TRACE=0: no tracepoints to dump through */
    CU_ASSERT_FATAL(lttng_ust_tracepoint_lrt___task_info.state == 0); /* nobody traces this runner */
    session_a[0].func = (void (*)(void))info_probe;
    session_a[0].data = (void *)1;
    session_b[0] = session_a[0];
    session_b[1].func = (void (*)(void))info_probe;
    session_b[1].data = (void *)2;
    drv_probes[0].func = (void (*)(void))driver_probe;
    nrec = ndriver = nprobe_b = 0;
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_trace[] = {
    {"statedump_names_every_live_task_when_a_session_starts",
     statedump_names_every_live_task_when_a_session_starts},
    CU_TEST_INFO_NULL,
};
