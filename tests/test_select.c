/* select.c: lrt_select over channels, fds, joins, notify and oneshot. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "test_util.h"

#define P(i) ((void *)(uintptr_t)(i))
#define I(p) ((uintptr_t)(p))

static void settle(void)
{
    for (int i = 0; i < 4; i++)
        lrt_yield();
}

static void *ret7(void *arg)
{
    (void)arg;
    return P(7);
}

/* ---- every case kind, ready at entry ------------------------------------------------ */

static void *ready_kinds_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(2);
    void *m = NULL;
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(5)), 0);
    lrt_sel_t s[1] = {lrt_sel_recv(c, &m)};
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT_EQUAL(s[0].res, 0);
    CU_ASSERT_EQUAL(I(m), 5);

    s[0] = lrt_sel_send(c, P(6));
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), 0);
    CU_ASSERT_EQUAL(I(m), 6);

    int p[2];
    CU_ASSERT_EQUAL(pipe(p), 0);
    s[0] = lrt_sel_writable(p[1]);
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT(s[0].res & EPOLLOUT);
    CU_ASSERT_EQUAL(write(p[1], "x", 1), 1);
    s[0] = lrt_sel_readable(p[0]);
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT(s[0].res & EPOLLIN);

    lrt_task_t *t = lrt_spawn(ret7, NULL);
    settle();
    m = NULL;
    s[0] = lrt_sel_join(t, &m);
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT_EQUAL(s[0].res, 0);
    CU_ASSERT_EQUAL(I(m), 7);

    lrt_notify_t *n = lrt_notify_new();
    lrt_notify_one(n);
    s[0] = lrt_sel_notify(n);
    CU_ASSERT_EQUAL(lrt_select(s, 1, 0), 0);
    CU_ASSERT_EQUAL(lrt_select(s, 1, 0), -ETIMEDOUT); /* the permit was taken */

    lrt_oneshot_t *o = lrt_oneshot_new();
    CU_ASSERT_EQUAL(lrt_oneshot_send(o, P(9)), 0);
    s[0] = lrt_sel_oneshot(o, &m);
    CU_ASSERT_EQUAL(lrt_select(s, 1, -1), 0);
    CU_ASSERT_EQUAL(I(m), 9);

    CU_ASSERT_EQUAL(lrt_close(p[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(n), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(o), 0);
    return NULL;
}

static void every_case_kind_completes_when_ready_at_entry(void)
{
    lrt_test_run(NULL, ready_kinds_root, NULL);
}

/* ---- every case kind, completed while the select waits ------------------------------ */

struct waited {
    lrt_chan_t *c, *full;
    lrt_notify_t *n;
    lrt_oneshot_t *o;
    int wfd;
    int step;
};

/* Completes one case of the waiting select, chosen by w->step. */
static void *completer(void *arg)
{
    struct waited *w = arg;
    switch (w->step) {
    case 0: lrt_chan_send(w->c, P(11)); break;
    case 1: lrt_chan_try_recv(w->full, NULL); break; /* room for the select's send */
    case 2: CU_ASSERT_EQUAL(write(w->wfd, "x", 1), 1); break;
    case 3: return P(13);                             /* the join case */
    case 4: lrt_notify_one(w->n); break;
    case 5: lrt_oneshot_send(w->o, P(15)); break;
    }
    return NULL;
}

static void *waited_kinds_root(void *arg)
{
    (void)arg;
    struct waited w = {.c = lrt_chan_new(1), .full = lrt_chan_new(1), .n = lrt_notify_new(),
                       .o = lrt_oneshot_new()};
    int p[2];
    CU_ASSERT_EQUAL(pipe(p), 0);
    w.wfd = p[1];
    CU_ASSERT_EQUAL(lrt_chan_send(w.full, P(1)), 0);
    for (w.step = 0; w.step < 6; w.step++) {
        void *m = NULL, *jm = NULL, *om = NULL;
        lrt_task_t *t = lrt_spawn(completer, &w);
        lrt_sel_t s[6] = {lrt_sel_recv(w.c, &m),     lrt_sel_send(w.full, P(12)),
                          lrt_sel_readable(p[0]),    lrt_sel_join(t, &jm),
                          lrt_sel_notify(w.n),       lrt_sel_oneshot(w.o, &om)};
        int r = lrt_select(s, 6, 10000);
        CU_ASSERT_EQUAL(r, w.step);
        if (r >= 0)
            CU_ASSERT_EQUAL(s[r].res, r == 2 ? s[r].res : 0);
        switch (w.step) {
        case 0: CU_ASSERT_EQUAL(I(m), 11); break;
        case 1: CU_ASSERT_EQUAL(lrt_chan_try_recv(w.full, &m), 0); CU_ASSERT_EQUAL(I(m), 12);
                CU_ASSERT_EQUAL(lrt_chan_send(w.full, P(1)), 0); break;
        case 2: CU_ASSERT(s[2].res & EPOLLIN); { char b; CU_ASSERT_EQUAL(read(p[0], &b, 1), 1); } break;
        case 3: CU_ASSERT_EQUAL(I(jm), 13); t = NULL; break;
        case 5: CU_ASSERT_EQUAL(I(om), 15); break;
        }
        if (t)
            CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    }
    CU_ASSERT_EQUAL(lrt_close(p[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(w.c), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(w.full), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(w.n), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(w.o), 0);
    return NULL;
}

static void every_case_kind_completes_a_waiting_select(void)
{
    lrt_test_run(NULL, waited_kinds_root, NULL);
}

/* ---- fairness ----------------------------------------------------------------------- */

static void *fair_root(void *arg)
{
    (void)arg;
    enum { N = 3, ROUNDS = 3000 };
    lrt_chan_t *c[N];
    int wins[N] = {0};
    for (int i = 0; i < N; i++) {
        c[i] = lrt_chan_new(0);
        CU_ASSERT_EQUAL(lrt_chan_send(c[i], P(i)), 0);
    }
    for (int k = 0; k < ROUNDS; k++) {
        void *m[N];
        lrt_sel_t s[N];
        for (int i = 0; i < N; i++)
            s[i] = lrt_sel_recv(c[i], &m[i]);
        int r = lrt_select(s, N, 0);
        CU_ASSERT_FATAL(r >= 0 && r < N);
        wins[r]++;
        CU_ASSERT_EQUAL(lrt_chan_send(c[r], m[r]), 0); /* keep every case ready */
    }
    for (int i = 0; i < N; i++) {
        CU_ASSERT(wins[i] >= ROUNDS / N / 2);
        CU_ASSERT_EQUAL(lrt_chan_len(c[i]), 1);
        lrt_chan_free(c[i]);
    }
    return NULL;
}

static void several_ready_cases_each_win_a_fair_share(void)
{
    lrt_test_run(NULL, fair_root, NULL);
}

/* ---- a losing case takes nothing -------------------------------------------------- */

struct two {
    int phase;
    lrt_chan_t *a, *b;
    lrt_notify_t *na, *nb;
    lrt_oneshot_t *oa, *ob;
};

/* Satisfies both cases of a waiting select in one run slice (no switch in between). */
static void *both_sender(void *arg)
{
    struct two *w = arg;
    if (w->phase == 0) {
        lrt_chan_send(w->a, P(1));
        lrt_chan_send(w->b, P(2));
    } else if (w->phase == 1) {
        lrt_notify_one(w->na);
        lrt_notify_one(w->nb);
    } else {
        lrt_oneshot_send(w->oa, P(3));
        lrt_oneshot_send(w->ob, P(4));
    }
    return NULL;
}

static void *losing_root(void *arg)
{
    (void)arg;
    struct two w = {0, lrt_chan_new(0), lrt_chan_new(0), lrt_notify_new(), lrt_notify_new(),
                    lrt_oneshot_new(), lrt_oneshot_new()};
    void *ma = NULL, *mb = NULL;
    lrt_task_t *t = lrt_spawn(both_sender, &w);
    lrt_sel_t s[2] = {lrt_sel_recv(w.a, &ma), lrt_sel_recv(w.b, &mb)};
    int r = lrt_select(s, 2, 10000);
    CU_ASSERT_EQUAL(r, 0); /* a was sent first and handed straight to the select */
    CU_ASSERT_EQUAL(I(ma), 1);
    CU_ASSERT_EQUAL(lrt_chan_len(w.b), 1); /* the losing case left b's message */
    void *m = NULL;
    CU_ASSERT_EQUAL(lrt_chan_recv(w.b, &m), 0);
    CU_ASSERT_EQUAL(I(m), 2);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);

    /* the same with notify and oneshot: waiting again, woken by both in one slice */
    w.phase = 1;
    t = lrt_spawn(both_sender, &w);
    lrt_sel_t n[2] = {lrt_sel_notify(w.na), lrt_sel_notify(w.nb)};
    CU_ASSERT_EQUAL(lrt_select(n, 2, 10000), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_sel_t z[1] = {lrt_sel_notify(w.nb)};
    CU_ASSERT_EQUAL(lrt_select(z, 1, 0), 0); /* nb's permit is still stored */
    w.phase = 2;
    t = lrt_spawn(both_sender, &w);
    lrt_sel_t o[2] = {lrt_sel_oneshot(w.oa, &ma), lrt_sel_oneshot(w.ob, &mb)};
    CU_ASSERT_EQUAL(lrt_select(o, 2, 10000), 0);
    CU_ASSERT_EQUAL(I(ma), 3);
    CU_ASSERT_EQUAL(lrt_oneshot_recv(w.ob, &m), 0);
    CU_ASSERT_EQUAL(I(m), 4);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(w.a), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(w.b), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(w.na), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(w.nb), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(w.oa), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(w.ob), 0);
    return NULL;
}

static void a_losing_case_consumes_no_message_permit_or_value(void)
{
    lrt_test_run(NULL, losing_root, NULL);
}

/* ---- timeout, abort, close ---------------------------------------------------------- */

static void *timeout_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    lrt_sel_t s[1] = {lrt_sel_recv(c, NULL)};
    CU_ASSERT_EQUAL(lrt_select(s, 1, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_select(s, 1, 20), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0); /* no waiter left behind */
    CU_ASSERT_EQUAL(lrt_select(NULL, 1, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_select(s, 0, 0), -EINVAL);
    s[0] = lrt_sel_recv(NULL, NULL);
    CU_ASSERT_EQUAL(lrt_select(s, 1, 0), -EINVAL);
    s[0].kind = 99;
    CU_ASSERT_EQUAL(lrt_select(s, 1, 0), -EINVAL);
    return NULL;
}

static void select_times_out_and_rejects_bad_input(void)
{
    lrt_test_run(NULL, timeout_root, NULL);
}

static void *selector(void *arg)
{
    lrt_chan_t **c = arg;
    lrt_sel_t s[2] = {lrt_sel_recv(c[0], NULL), lrt_sel_send(c[1], P(1))};
    return P((intptr_t)lrt_select(s, 2, -1) == -ECANCELED);
}

static void *abort_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c[2] = {lrt_chan_new(0), lrt_chan_new(1)};
    CU_ASSERT_EQUAL(lrt_chan_send(c[1], P(0)), 0); /* full: the send case waits */
    lrt_task_t *t = lrt_spawn(selector, c);
    settle();
    lrt_abort(t);
    void *ok = NULL;
    lrt_join(t, &ok);
    CU_ASSERT_PTR_EQUAL(ok, P(1));
    CU_ASSERT_EQUAL(lrt_chan_try_send(c[0], P(2)), 0); /* nobody took it */
    CU_ASSERT_EQUAL(lrt_chan_len(c[0]), 1);
    CU_ASSERT_EQUAL(lrt_chan_len(c[1]), 1);
    CU_ASSERT_EQUAL(lrt_chan_free(c[0]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c[1]), 0);
    return NULL;
}

static void aborted_select_returns_ecanceled_and_leaves_no_waiter(void)
{
    lrt_test_run(NULL, abort_root, NULL);
}

static void *closer(void *arg)
{
    lrt_chan_close(arg);
    return NULL;
}

static void *close_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0), *other = lrt_chan_new(0);
    lrt_task_t *t = lrt_spawn(closer, c);
    lrt_sel_t s[2] = {lrt_sel_recv(other, NULL), lrt_sel_recv(c, NULL)};
    CU_ASSERT_EQUAL(lrt_select(s, 2, 10000), 1);
    CU_ASSERT_EQUAL(s[1].res, -EPIPE);
    CU_ASSERT_EQUAL(lrt_select(s, 2, 10000), 1); /* closed at entry */
    CU_ASSERT_EQUAL(s[1].res, -EPIPE);
    lrt_join(t, NULL);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(other), 0);
    return NULL;
}

static void a_closed_channel_completes_its_case_with_epipe(void)
{
    lrt_test_run(NULL, close_root, NULL);
}

static void *fd_closer(void *arg)
{
    lrt_close((int)(intptr_t)arg);
    return NULL;
}

static void *fd_close_root(void *arg)
{
    (void)arg;
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    lrt_chan_t *c = lrt_chan_new(0);
    lrt_task_t *t = lrt_spawn(fd_closer, P(p[0]));
    lrt_sel_t s[2] = {lrt_sel_recv(c, NULL), lrt_sel_readable(p[0])};
    CU_ASSERT_EQUAL(lrt_select(s, 2, 10000), 1);
    CU_ASSERT_EQUAL(s[1].res, -EBADF);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void an_fd_closed_while_its_case_waits_completes_it_with_ebadf(void)
{
    lrt_test_run(NULL, fd_close_root, NULL);
}

/* ---- 100k selects against a concurrent sender -------------------------------------- */

enum { MANY = 100000 };

static void *alt_sender(void *arg)
{
    lrt_chan_t **c = arg;
    for (uintptr_t i = 1; i <= MANY; i++)
        if (lrt_chan_send(c[i & 1], P(i)) != 0)
            return P(1);
    return NULL;
}

static void *many_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c[2] = {lrt_chan_new(1), lrt_chan_new(3)};
    lrt_task_t *t = lrt_spawn(alt_sender, c);
    uint64_t count = 0, sum = 0;
    uintptr_t last[2] = {0, 0};
    int order_bad = 0;
    while (count < MANY) {
        void *m[2];
        lrt_sel_t s[2] = {lrt_sel_recv(c[0], &m[0]), lrt_sel_recv(c[1], &m[1])};
        int r = lrt_select(s, 2, 10000);
        CU_ASSERT_FATAL(r == 0 || r == 1);
        CU_ASSERT_FATAL(s[r].res == 0);
        count++;
        sum += I(m[r]);
        if (I(m[r]) <= last[r])
            order_bad++; /* per channel FIFO, and no duplicate */
        last[r] = I(m[r]);
        if (count % 7 == 0)
            lrt_yield();
    }
    CU_ASSERT_EQUAL(order_bad, 0);
    CU_ASSERT_EQUAL(sum, (uint64_t)MANY * (MANY + 1) / 2);
    CU_ASSERT_PTR_NULL(lrt_join(t, NULL) == 0 ? NULL : P(1));
    CU_ASSERT_EQUAL(lrt_chan_len(c[0]) + lrt_chan_len(c[1]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c[0]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c[1]), 0);
    return NULL;
}

static void hundred_thousand_selects_against_a_sender_lose_and_duplicate_nothing(void)
{
    lrt_test_run(NULL, many_root, NULL);
}

/* ---- join ------------------------------------------------------------------------- */

static void *send_then_finish(void *arg)
{
    lrt_chan_send(arg, P(21));
    return P(22);
}

static void *join_lost_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    void *jm = NULL, *m = NULL;
    /* ready at entry: the channel wins, the finished task is not joined */
    lrt_task_t *t = lrt_spawn(ret7, NULL);
    settle();
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(1)), 0);
    lrt_sel_t s[2] = {lrt_sel_recv(c, &m), lrt_sel_join(t, &jm)};
    int wins_recv = 0;
    for (int k = 0; k < 2 && !wins_recv; k++) { /* the rotating start may pick the join */
        int r = lrt_select(s, 2, 0);
        if (r == 0) {
            wins_recv = 1;
        } else {
            CU_ASSERT_EQUAL(r, 1);
            t = lrt_spawn(ret7, NULL);
            settle();
            s[1] = lrt_sel_join(t, &jm);
        }
    }
    CU_ASSERT_EQUAL(wins_recv, 1);
    CU_ASSERT_EQUAL(lrt_join(t, &jm), 0);
    CU_ASSERT_EQUAL(I(jm), 7);

    /* waiting: the task hands a message to the select, then finishes before it runs */
    t = lrt_spawn(send_then_finish, c);
    jm = NULL;
    s[0] = lrt_sel_recv(c, &m);
    s[1] = lrt_sel_join(t, &jm);
    CU_ASSERT_EQUAL(lrt_select(s, 2, 10000), 0);
    CU_ASSERT_EQUAL(I(m), 21);
    CU_ASSERT_PTR_NULL(jm);
    CU_ASSERT_EQUAL(lrt_join(t, &jm), 0);
    CU_ASSERT_EQUAL(I(jm), 22);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void a_select_whose_join_case_lost_leaves_the_task_joinable(void)
{
    lrt_test_run(NULL, join_lost_root, NULL);
}

/* ---- dump ------------------------------------------------------------------------- */

static void *dumped(void *arg)
{
    lrt_chan_t *c = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    lrt_sel_t s[2] = {lrt_sel_recv(c, NULL), lrt_sel_readable(fd)};
    return P((intptr_t)lrt_select(s, 2, -1));
}

static void *dump_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    void *args[2] = {c, P(p[0])};
    lrt_task_t *t = lrt_spawn(dumped, args);
    settle();
    char *d = lrt_dump_json(NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char want[64];
    snprintf(want, sizeof want, ", fd %d read)", p[0]);
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "\"kind\":\"select\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, "select (2 cases: recv chan 0x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d, want));
    free(d);
    CU_ASSERT_EQUAL(lrt_chan_send(c, NULL), 0);
    void *r = P(9);
    lrt_join(t, &r);
    CU_ASSERT_PTR_EQUAL(r, P(0));
    CU_ASSERT_EQUAL(lrt_close(p[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void a_task_in_select_shows_wait_kind_select_with_its_cases_in_the_dump(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_select[] = {
    {"every_case_kind_completes_when_ready_at_entry", every_case_kind_completes_when_ready_at_entry},
    {"every_case_kind_completes_a_waiting_select", every_case_kind_completes_a_waiting_select},
    {"several_ready_cases_each_win_a_fair_share", several_ready_cases_each_win_a_fair_share},
    {"a_losing_case_consumes_no_message_permit_or_value",
     a_losing_case_consumes_no_message_permit_or_value},
    {"select_times_out_and_rejects_bad_input", select_times_out_and_rejects_bad_input},
    {"aborted_select_returns_ecanceled_and_leaves_no_waiter",
     aborted_select_returns_ecanceled_and_leaves_no_waiter},
    {"a_closed_channel_completes_its_case_with_epipe", a_closed_channel_completes_its_case_with_epipe},
    {"an_fd_closed_while_its_case_waits_completes_it_with_ebadf",
     an_fd_closed_while_its_case_waits_completes_it_with_ebadf},
    {"hundred_thousand_selects_against_a_sender_lose_and_duplicate_nothing",
     hundred_thousand_selects_against_a_sender_lose_and_duplicate_nothing},
    {"a_select_whose_join_case_lost_leaves_the_task_joinable",
     a_select_whose_join_case_lost_leaves_the_task_joinable},
    {"a_task_in_select_shows_wait_kind_select_with_its_cases_in_the_dump",
     a_task_in_select_shows_wait_kind_select_with_its_cases_in_the_dump},
    CU_TEST_INFO_NULL,
};
