/* sync.c: channel, oneshot, notify, mutex, semaphore. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "test_util.h"

#define P(i) ((void *)(uintptr_t)(i))
#define I(p) ((uintptr_t)(p))

/* Let every other runnable task run until it suspends (a few rounds for chains). */
static void settle(void)
{
    for (int i = 0; i < 4; i++)
        lrt_yield();
}

/* ---- channel ---------------------------------------------------------------------- */

static void *unbounded_fifo_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    CU_ASSERT_PTR_NOT_NULL(c);
    for (uintptr_t i = 0; i < 10000; i++)
        CU_ASSERT_EQUAL(lrt_chan_send(c, i % 7 == 0 ? NULL : P(i)), 0);
    CU_ASSERT_EQUAL(lrt_chan_len(c), 10000);
    int bad = 0;
    for (uintptr_t i = 0; i < 10000; i++) {
        void *m = P(12345);
        if (lrt_chan_recv(c, &m) != 0 || m != (i % 7 == 0 ? NULL : P(i)))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, NULL), -EAGAIN);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void unbounded_channel_keeps_fifo_order_of_10k_messages_including_null(void)
{
    lrt_test_run(NULL, unbounded_fifo_root, NULL);
}

struct prod {
    lrt_chan_t *c;
    int n;
    int sent;
    int rc;
};

static void *producer(void *arg)
{
    struct prod *p = arg;
    for (int i = 0; i < p->n; i++) {
        p->rc = lrt_chan_send(p->c, P(i + 1));
        if (p->rc != 0)
            return NULL;
        p->sent++;
    }
    return NULL;
}

static void *bounded_root(void *arg)
{
    (void)arg;
    struct prod p = {.c = lrt_chan_new(2), .n = 5};
    lrt_task_t *t = lrt_spawn(producer, &p);
    settle();
    CU_ASSERT_EQUAL(p.sent, 2); /* capacity respected: the third send waits */
    CU_ASSERT_EQUAL(lrt_chan_len(p.c), 2);
    CU_ASSERT_EQUAL(lrt_chan_try_send(p.c, P(99)), -EAGAIN);
    void *m;
    CU_ASSERT_EQUAL(lrt_chan_recv(p.c, &m), 0);
    CU_ASSERT_PTR_EQUAL(m, P(1));
    /* the waiting sender's message moved into the ring at once */
    CU_ASSERT_EQUAL(lrt_chan_len(p.c), 2);
    settle();
    CU_ASSERT_EQUAL(p.sent, 3);
    for (int i = 2; i <= 5; i++) {
        CU_ASSERT_EQUAL(lrt_chan_recv(p.c, &m), 0);
        CU_ASSERT_PTR_EQUAL(m, P(i));
    }
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(p.sent, 5);
    CU_ASSERT_EQUAL(lrt_chan_free(p.c), 0);
    return NULL;
}

static void bounded_channel_sender_waits_until_receiver_takes(void)
{
    lrt_test_run(NULL, bounded_root, NULL);
}

#define NSEND 8
#define NRECV 4
#define PER_SENDER 2000

struct mpmc {
    lrt_chan_t *c;
    int seen[NSEND * PER_SENDER];
    int last[NSEND]; /* per sender, per receiver order must increase */
};

struct mpmc_arg {
    struct mpmc *s;
    int id;
    long got;
    int order_bad;
    int rc;
};

static void *mpmc_sender(void *arg)
{
    struct mpmc_arg *a = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        int rc = lrt_chan_send(a->s->c, P(a->id * PER_SENDER + i + 1));
        if (rc != 0) {
            a->rc = rc;
            break;
        }
        if (i % 97 == 0)
            lrt_yield();
    }
    return NULL;
}

static void *mpmc_receiver(void *arg)
{
    struct mpmc_arg *a = arg;
    int last[NSEND];
    for (int i = 0; i < NSEND; i++)
        last[i] = -1;
    void *m;
    int rc;
    while ((rc = lrt_chan_recv(a->s->c, &m)) == 0) {
        int v = (int)I(m) - 1;
        a->s->seen[v]++;
        int snd = v / PER_SENDER, seq = v % PER_SENDER;
        if (seq <= last[snd])
            a->order_bad++;
        last[snd] = seq;
        a->got++;
        if (a->got % 13 == 0)
            lrt_yield();
    }
    a->rc = rc;
    return NULL;
}

static void *mpmc_root(void *arg)
{
    (void)arg;
    struct mpmc *s = calloc(1, sizeof *s);
    s->c = lrt_chan_new(4);
    struct mpmc_arg sa[NSEND], ra[NRECV];
    lrt_task_t *st[NSEND], *rt[NRECV];
    for (int i = 0; i < NRECV; i++) {
        ra[i] = (struct mpmc_arg){.s = s, .id = i};
        rt[i] = lrt_spawn(mpmc_receiver, &ra[i]);
    }
    for (int i = 0; i < NSEND; i++) {
        sa[i] = (struct mpmc_arg){.s = s, .id = i};
        st[i] = lrt_spawn(mpmc_sender, &sa[i]);
    }
    for (int i = 0; i < NSEND; i++) {
        CU_ASSERT_EQUAL(lrt_join(st[i], NULL), 0);
        CU_ASSERT_EQUAL(sa[i].rc, 0);
    }
    lrt_chan_close(s->c);
    long total = 0;
    for (int i = 0; i < NRECV; i++) {
        CU_ASSERT_EQUAL(lrt_join(rt[i], NULL), 0);
        CU_ASSERT_EQUAL(ra[i].rc, -EPIPE);
        CU_ASSERT_EQUAL(ra[i].order_bad, 0);
        CU_ASSERT(ra[i].got > 0); /* every receiver took part */
        total += ra[i].got;
    }
    CU_ASSERT_EQUAL(total, NSEND * PER_SENDER);
    int bad = 0;
    for (int i = 0; i < NSEND * PER_SENDER; i++)
        bad += s->seen[i] != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lrt_chan_free(s->c), 0);
    free(s);
    return NULL;
}

static void many_senders_and_receivers_exchange_every_message_exactly_once(void)
{
    lrt_test_run(NULL, mpmc_root, NULL);
}

struct rx {
    lrt_chan_t *c;
    int rc;
    void *m;
    int n;
    void *all[8];
};

static void *receiver_once(void *arg)
{
    struct rx *r = arg;
    r->m = P(777);
    r->rc = lrt_chan_recv(r->c, &r->m);
    return NULL;
}

static void *receiver_drain(void *arg)
{
    struct rx *r = arg;
    void *m;
    while ((r->rc = lrt_chan_recv(r->c, &m)) == 0 && r->n < 8)
        r->all[r->n++] = m;
    return NULL;
}

static void *close_chan_root(void *arg)
{
    (void)arg;
    /* buffered messages are drained after close, then -EPIPE */
    lrt_chan_t *c = lrt_chan_new(4);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(1)), 0);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(2)), 0);
    lrt_chan_close(c);
    lrt_chan_close(c); /* idempotent */
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(3)), -EPIPE);
    CU_ASSERT_EQUAL(lrt_chan_try_send(c, P(3)), -EPIPE);
    struct rx r = {.c = c};
    lrt_task_t *t = lrt_spawn(receiver_drain, &r);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(r.n, 2);
    CU_ASSERT_PTR_EQUAL(r.all[0], P(1));
    CU_ASSERT_PTR_EQUAL(r.all[1], P(2));
    CU_ASSERT_EQUAL(r.rc, -EPIPE);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, NULL), -EPIPE);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);

    /* a waiting receiver wakes with -EPIPE; a waiting sender too, its message not sent */
    c = lrt_chan_new(1);
    struct rx r1 = {.c = c};
    lrt_task_t *tr = lrt_spawn(receiver_once, &r1);
    settle();
    lrt_chan_close(c);
    CU_ASSERT_EQUAL(lrt_join(tr, NULL), 0);
    CU_ASSERT_EQUAL(r1.rc, -EPIPE);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);

    c = lrt_chan_new(1);
    struct prod p = {.c = c, .n = 3};
    lrt_task_t *tp = lrt_spawn(producer, &p);
    settle();
    CU_ASSERT_EQUAL(p.sent, 1);
    lrt_chan_close(c);
    CU_ASSERT_EQUAL(lrt_join(tp, NULL), 0);
    CU_ASSERT_EQUAL(p.rc, -EPIPE);
    CU_ASSERT_EQUAL(p.sent, 1);
    void *m;
    CU_ASSERT_EQUAL(lrt_chan_recv(c, &m), 0);
    CU_ASSERT_PTR_EQUAL(m, P(1));
    CU_ASSERT_EQUAL(lrt_chan_recv(c, &m), -EPIPE);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void closed_channel_lets_receivers_drain_then_fails_with_epipe(void)
{
    lrt_test_run(NULL, close_chan_root, NULL);
}

static void *abort_recv_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(1);
    struct rx r1 = {.c = c}, r2 = {.c = c};
    lrt_task_t *t1 = lrt_spawn(receiver_once, &r1);
    lrt_task_t *t2 = lrt_spawn(receiver_once, &r2);
    settle();
    /* abort while waiting: the receiver gets nothing */
    lrt_abort(t1);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(5)), 0);
    CU_ASSERT_EQUAL(lrt_join(t1, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(r1.rc, -ECANCELED);
    CU_ASSERT_PTR_EQUAL(r1.m, P(777));
    CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
    CU_ASSERT_EQUAL(r2.rc, 0);
    CU_ASSERT_PTR_EQUAL(r2.m, P(5));

    /* a message handed to a receiver right before its abort is not lost */
    r1 = (struct rx){.c = c};
    r2 = (struct rx){.c = c};
    t1 = lrt_spawn(receiver_once, &r1);
    t2 = lrt_spawn(receiver_once, &r2);
    settle();
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(6)), 0);
    lrt_abort(t1);
    /* a task that got its wake-up before the abort and returned never learnt of the
     * abort: it completed, so its join says 0 */
    int jr298 = lrt_join(t1, NULL);
    CU_ASSERT_EQUAL(jr298, r1.rc == 0 ? 0 : -ECANCELED);
    if (r1.rc == 0) {
        /* the hand-off completed before the abort: r1 owns the message, r2 still waits */
        CU_ASSERT_PTR_EQUAL(r1.m, P(6));
        CU_ASSERT_EQUAL(lrt_chan_send(c, P(8)), 0);
        CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
        CU_ASSERT_PTR_EQUAL(r2.m, P(8));
    } else {
        CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
        CU_ASSERT_EQUAL(r1.rc, -ECANCELED);
        CU_ASSERT_EQUAL(r2.rc, 0);
        CU_ASSERT_PTR_EQUAL(r2.m, P(6));
    }
    CU_ASSERT_EQUAL(lrt_chan_len(c), 0);

    /* ... and with no other receiver it goes back into the channel */
    r1 = (struct rx){.c = c};
    t1 = lrt_spawn(receiver_once, &r1);
    settle();
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(7)), 0);
    lrt_abort(t1);
    /* a task that got its wake-up before the abort and returned never learnt of the
     * abort: it completed, so its join says 0 */
    int jr319 = lrt_join(t1, NULL);
    CU_ASSERT_EQUAL(jr319, r1.rc == 0 ? 0 : -ECANCELED);
    if (r1.rc != 0) {
        CU_ASSERT_EQUAL(r1.rc, -ECANCELED);
        void *m = NULL;
        CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), 0);
        CU_ASSERT_PTR_EQUAL(m, P(7));
    }
    CU_ASSERT_EQUAL(lrt_chan_len(c), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void aborted_receiver_gets_ecanceled_and_no_message_is_lost(void)
{
    lrt_test_run(NULL, abort_recv_root, NULL);
}

static void *abort_send_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(1);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(1)), 0);
    struct prod p1 = {.c = c, .n = 1}, p2 = {.c = c, .n = 1};
    lrt_task_t *t1 = lrt_spawn(producer, &p1);
    lrt_task_t *t2 = lrt_spawn(producer, &p2);
    settle();
    lrt_abort(t1);
    CU_ASSERT_EQUAL(lrt_join(t1, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(p1.rc, -ECANCELED);
    CU_ASSERT_EQUAL(p1.sent, 0);
    void *m;
    CU_ASSERT_EQUAL(lrt_chan_recv(c, &m), 0);
    CU_ASSERT_PTR_EQUAL(m, P(1));
    CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0); /* p2 moved up, its message is in */
    CU_ASSERT_EQUAL(p2.rc, 0);
    CU_ASSERT_EQUAL(lrt_chan_len(c), 1);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), 0);
    CU_ASSERT_PTR_EQUAL(m, P(1)); /* producer sends i + 1 = 1 */
    CU_ASSERT_EQUAL(lrt_chan_try_recv(c, &m), -EAGAIN);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void aborted_sender_gets_ecanceled_and_its_message_is_not_sent(void)
{
    lrt_test_run(NULL, abort_send_root, NULL);
}

static void *late_sender(void *arg)
{
    lrt_sleep_ms(50);
    lrt_chan_send(arg, P(42));
    return NULL;
}

static void *recv_timeout_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    void *m = P(1);
    uint64_t t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, 100), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 100 * 1000000ull);
    CU_ASSERT_PTR_EQUAL(m, P(1));
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, 0), -ETIMEDOUT);
    lrt_task_t *t = lrt_spawn(late_sender, c);
    t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, 1000), 0);
    CU_ASSERT_PTR_EQUAL(m, P(42));
    CU_ASSERT(lrt_now_ns() - t0 < 1000 * 1000000ull);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    /* the timed-out waiter left no trace: the next message is buffered */
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(43)), 0);
    CU_ASSERT_EQUAL(lrt_chan_len(c), 1);
    CU_ASSERT_EQUAL(lrt_chan_recv_timeout(c, &m, -1), 0);
    CU_ASSERT_PTR_EQUAL(m, P(43));
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    return NULL;
}

static void channel_recv_timeout_returns_etimedout_when_nothing_arrives(void)
{
    lrt_test_run_paused(recv_timeout_root, NULL);
}

struct pp {
    lrt_chan_t *a, *b;
    int n;
    int bad;
};

static void *pong(void *arg)
{
    struct pp *p = arg;
    void *m;
    while (lrt_chan_recv(p->a, &m) == 0)
        if (lrt_chan_send(p->b, (void *)(I(m) + 1)) != 0)
            p->bad++;
    return NULL;
}

static void *ping_pong_root(void *arg)
{
    struct pp *p = arg;
    p->a = lrt_chan_new(1);
    p->b = lrt_chan_new(1);
    lrt_task_t *t = lrt_spawn(pong, p);
    for (uintptr_t i = 0; i < (uintptr_t)p->n; i++) {
        void *m;
        if (lrt_chan_send(p->a, P(i)) != 0 || lrt_chan_recv(p->b, &m) != 0 || I(m) != i + 1)
            p->bad++;
    }
    lrt_chan_close(p->a);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(p->a), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(p->b), 0);
    return NULL;
}

static void ping_pong_through_two_bounded_channels_completes_100k_round_trips(void)
{
    struct pp p = {.n = 100000};
    lrt_test_run(NULL, ping_pong_root, &p);
    CU_ASSERT_EQUAL(p.bad, 0);
}

/* ---- oneshot ---------------------------------------------------------------------- */

struct osr {
    lrt_oneshot_t *o;
    int rc;
    void *v;
};

static void *oneshot_receiver(void *arg)
{
    struct osr *r = arg;
    r->v = P(777);
    r->rc = lrt_oneshot_recv(r->o, &r->v);
    return NULL;
}

static void *oneshot_root(void *arg)
{
    (void)arg;
    /* receiver waits for the value */
    struct osr r = {.o = lrt_oneshot_new()};
    lrt_task_t *t = lrt_spawn(oneshot_receiver, &r);
    settle();
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_EQUAL(r.v, P(777)); /* still waiting */
    struct osr r2 = {.o = r.o};
    lrt_task_t *t2 = lrt_spawn(oneshot_receiver, &r2);
    CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
    CU_ASSERT_EQUAL(r2.rc, -EBUSY); /* one receiver */
    CU_ASSERT_EQUAL(lrt_oneshot_send(r.o, NULL), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_send(r.o, P(2)), -EALREADY);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(r.rc, 0);
    CU_ASSERT_PTR_EQUAL(r.v, NULL);
    void *v;
    CU_ASSERT_EQUAL(lrt_oneshot_recv(r.o, &v), -EALREADY);
    CU_ASSERT_EQUAL(lrt_oneshot_free(r.o), 0);

    /* value sent before recv, and before close: still delivered */
    lrt_oneshot_t *o = lrt_oneshot_new();
    CU_ASSERT_EQUAL(lrt_oneshot_send(o, P(9)), 0);
    lrt_oneshot_close(o);
    CU_ASSERT_EQUAL(lrt_oneshot_recv(o, &v), 0);
    CU_ASSERT_PTR_EQUAL(v, P(9));
    CU_ASSERT_EQUAL(lrt_oneshot_free(o), 0);

    /* closed without a value: the waiting receiver gets -EPIPE, send too */
    r = (struct osr){.o = lrt_oneshot_new()};
    t = lrt_spawn(oneshot_receiver, &r);
    settle();
    lrt_oneshot_close(r.o);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(r.rc, -EPIPE);
    CU_ASSERT_EQUAL(lrt_oneshot_send(r.o, P(1)), -EPIPE);
    CU_ASSERT_EQUAL(lrt_oneshot_recv(r.o, &v), -EPIPE);
    CU_ASSERT_EQUAL(lrt_oneshot_free(r.o), 0);

    /* an aborted receiver leaves the value for the next one */
    r = (struct osr){.o = lrt_oneshot_new()};
    t = lrt_spawn(oneshot_receiver, &r);
    settle();
    CU_ASSERT_EQUAL(lrt_oneshot_send(r.o, P(3)), 0);
    lrt_abort(t);
    /* a task that got its wake-up before the abort and returned never learnt of the
     * abort: it completed, so its join says 0 */
    int jr509 = lrt_join(t, NULL);
    CU_ASSERT_EQUAL(jr509, r.rc == 0 ? 0 : -ECANCELED);
    if (r.rc != 0) {
        CU_ASSERT_EQUAL(r.rc, -ECANCELED);
        CU_ASSERT_EQUAL(lrt_oneshot_recv(r.o, &v), 0);
        CU_ASSERT_PTR_EQUAL(v, P(3));
    } else {
        CU_ASSERT_PTR_EQUAL(r.v, P(3));
    }
    CU_ASSERT_EQUAL(lrt_oneshot_free(r.o), 0);
    return NULL;
}

static void oneshot_delivers_one_value_and_refuses_a_second_send(void)
{
    lrt_test_run(NULL, oneshot_root, NULL);
}

/* ---- notify ----------------------------------------------------------------------- */

struct nw {
    lrt_notify_t *n;
    int rc;
    int woke;
};

static void *notify_waiter(void *arg)
{
    struct nw *w = arg;
    w->rc = lrt_notify_wait(w->n);
    w->woke = 1;
    return NULL;
}

static void *notify_root(void *arg)
{
    (void)arg;
    lrt_notify_t *n = lrt_notify_new();
    /* a permit stored before the wait makes it return at once, only once */
    lrt_notify_one(n);
    lrt_notify_one(n);
    CU_ASSERT_EQUAL(lrt_notify_wait(n), 0);
    struct nw a = {.n = n};
    lrt_task_t *ta = lrt_spawn(notify_waiter, &a);
    settle();
    CU_ASSERT_EQUAL(a.woke, 0);
    lrt_notify_one(n);
    CU_ASSERT_EQUAL(lrt_join(ta, NULL), 0);
    CU_ASSERT_EQUAL(a.woke, 1);
    CU_ASSERT_EQUAL(a.rc, 0);

    /* notify_all wakes the current waiters only and stores no permit */
    struct nw w[3] = {{.n = n}, {.n = n}, {.n = n}};
    lrt_task_t *tw[3];
    for (int i = 0; i < 2; i++)
        tw[i] = lrt_spawn(notify_waiter, &w[i]);
    settle();
    lrt_notify_all(n);
    tw[2] = lrt_spawn(notify_waiter, &w[2]);
    settle();
    CU_ASSERT_EQUAL(w[0].woke + w[1].woke, 2);
    CU_ASSERT_EQUAL(w[2].woke, 0);
    CU_ASSERT_EQUAL(lrt_notify_free(n), -EBUSY);

    /* an aborted waiter does not swallow a notify_one */
    struct nw b = {.n = n};
    lrt_task_t *tb = lrt_spawn(notify_waiter, &b);
    settle();
    lrt_abort(tw[2]); /* w[2] waits first, b behind it */
    lrt_notify_one(n);
    CU_ASSERT_EQUAL(lrt_join(tw[2], NULL), -ECANCELED);
    CU_ASSERT_EQUAL(lrt_join(tb, NULL), 0);
    CU_ASSERT_EQUAL(w[2].rc, -ECANCELED);
    CU_ASSERT_EQUAL(b.rc, 0);

    /* close wakes every waiter with -EPIPE */
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(lrt_join(tw[i], NULL), 0);
        w[i] = (struct nw){.n = n};
        tw[i] = lrt_spawn(notify_waiter, &w[i]);
    }
    settle();
    lrt_notify_close(n);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(lrt_join(tw[i], NULL), 0);
        CU_ASSERT_EQUAL(w[i].rc, -EPIPE);
    }
    lrt_notify_one(n);
    CU_ASSERT_EQUAL(lrt_notify_wait(n), -EPIPE);
    CU_ASSERT_EQUAL(lrt_notify_free(n), 0);
    return NULL;
}

static void notify_stores_one_permit_and_notify_all_wakes_only_current_waiters(void)
{
    lrt_test_run(NULL, notify_root, NULL);
}

/* ---- mutex ------------------------------------------------------------------------ */

struct mx {
    lrt_mutex_t *m;
    int *order;
    int *pos;
    int id;
    int rc;
    int inside;
};

static void *mutex_worker(void *arg)
{
    struct mx *x = arg;
    x->rc = lrt_mutex_lock(x->m);
    if (x->rc != 0)
        return NULL;
    x->order[(*x->pos)++] = x->id;
    lrt_yield(); /* hold it across a suspension */
    lrt_mutex_unlock(x->m);
    return NULL;
}

static void *mutex_unlocker(void *arg)
{
    struct mx *x = arg;
    x->rc = lrt_mutex_unlock(x->m);
    return NULL;
}

static void *mutex_root(void *arg)
{
    (void)arg;
    lrt_mutex_t *m = lrt_mutex_new();
    int order[5], pos = 0;
    CU_ASSERT_EQUAL(lrt_mutex_lock(m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_lock(m), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_mutex_trylock(m), -EDEADLK);
    CU_ASSERT_EQUAL(lrt_mutex_free(m), -EBUSY);

    /* only the owner may unlock */
    struct mx u = {.m = m};
    lrt_task_t *tu = lrt_spawn(mutex_unlocker, &u);
    CU_ASSERT_EQUAL(lrt_join(tu, NULL), 0);
    CU_ASSERT_EQUAL(u.rc, -EPERM);

    struct mx x[5];
    lrt_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        x[i] = (struct mx){.m = m, .order = order, .pos = &pos, .id = i};
        t[i] = lrt_spawn(mutex_worker, &x[i]);
    }
    settle();
    lrt_abort(t[2]); /* waiting: must not get the lock */
    CU_ASSERT_EQUAL(lrt_mutex_unlock(m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_unlock(m), -EPERM);
    /* handed to worker 0: no barging by the unlocker */
    CU_ASSERT_EQUAL(lrt_mutex_trylock(m), -EAGAIN);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), i == 2 ? -ECANCELED : 0);
    CU_ASSERT_EQUAL(x[2].rc, -ECANCELED);
    CU_ASSERT_EQUAL(pos, 4);
    CU_ASSERT_EQUAL(order[0], 0);
    CU_ASSERT_EQUAL(order[1], 1);
    CU_ASSERT_EQUAL(order[2], 3);
    CU_ASSERT_EQUAL(order[3], 4);
    CU_ASSERT_EQUAL(lrt_mutex_trylock(m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_unlock(m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(m), 0);
    return NULL;
}

static void mutex_hands_off_in_fifo_order_and_rejects_relock_and_foreign_unlock(void)
{
    lrt_test_run(NULL, mutex_root, NULL);
}

static void *mutex_abort_handoff_root(void *arg)
{
    (void)arg;
    lrt_mutex_t *m = lrt_mutex_new();
    int order[4], pos = 0;
    struct mx x[2];
    lrt_task_t *t[2];
    CU_ASSERT_EQUAL(lrt_mutex_lock(m), 0);
    for (int i = 0; i < 2; i++) {
        x[i] = (struct mx){.m = m, .order = order, .pos = &pos, .id = i};
        t[i] = lrt_spawn(mutex_worker, &x[i]);
    }
    settle();
    CU_ASSERT_EQUAL(lrt_mutex_unlock(m), 0); /* handed to worker 0 ... */
    lrt_abort(t[0]);                          /* ... which is aborted before it runs */
    CU_ASSERT_EQUAL(lrt_join(t[0], NULL), -ECANCELED);
    CU_ASSERT_EQUAL(lrt_join(t[1], NULL), 0);
    CU_ASSERT_EQUAL(x[1].rc, 0); /* the lock was passed on, not lost */
    CU_ASSERT(x[0].rc == 0 || x[0].rc == -ECANCELED);
    CU_ASSERT_EQUAL(pos, x[0].rc == 0 ? 2 : 1);
    CU_ASSERT_EQUAL(lrt_mutex_free(m), 0);
    return NULL;
}

static void mutex_handed_to_an_aborted_task_passes_to_the_next_waiter(void)
{
    lrt_test_run(NULL, mutex_abort_handoff_root, NULL);
}

/* ---- hand-off, then abort ---------------------------------------------------------- */

/* waitq.h's rule "the first wake wins": a task handed something (message, value,
 * notification, lock, permits) and aborted before it ran returns 0 and owns it; the
 * cancellation waits for its next suspension point.  This is why sync.c has no give-back
 * paths: if it ever failed, a resource would be lost. */
enum { H_CHAN, H_CHAN_TIMEOUT, H_ONESHOT, H_NOTIFY, H_MUTEX, H_SEM, H__COUNT };

struct handed {
    int kind;
    void *obj;
    int rc;
    void *v;
};

static void *handed_waiter(void *arg)
{
    struct handed *h = arg;
    h->v = P(777);
    switch (h->kind) {
    case H_CHAN:
        h->rc = lrt_chan_recv(h->obj, &h->v);
        break;
    case H_CHAN_TIMEOUT:
        h->rc = lrt_chan_recv_timeout(h->obj, &h->v, 1);
        break;
    case H_ONESHOT:
        h->rc = lrt_oneshot_recv(h->obj, &h->v);
        break;
    case H_NOTIFY:
        h->rc = lrt_notify_wait(h->obj);
        break;
    case H_MUTEX:
        if ((h->rc = lrt_mutex_lock(h->obj)) == 0)
            lrt_mutex_unlock(h->obj);
        break;
    case H_SEM:
        if ((h->rc = lrt_sem_acquire(h->obj, 2)) == 0)
            lrt_sem_release(h->obj, 2);
        break;
    }
    return NULL;
}

static void *handoff_abort_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(1);
    lrt_oneshot_t *o = lrt_oneshot_new();
    lrt_notify_t *n = lrt_notify_new();
    lrt_mutex_t *m = lrt_mutex_new();
    lrt_sem_t *s = lrt_sem_new(0);
    void *objs[H__COUNT] = {c, c, o, n, m, s};
    CU_ASSERT_EQUAL(lrt_mutex_lock(m), 0);
    for (int k = 0; k < H__COUNT; k++) {
        struct handed h = {.kind = k, .obj = objs[k]};
        lrt_task_t *t = lrt_spawn(handed_waiter, &h);
        settle();
        switch (k) {
        case H_CHAN:
        case H_CHAN_TIMEOUT:
            CU_ASSERT_EQUAL(lrt_chan_send(c, P(10 + k)), 0);
            break;
        case H_ONESHOT:
            CU_ASSERT_EQUAL(lrt_oneshot_send(o, P(10 + k)), 0);
            break;
        case H_NOTIFY:
            lrt_notify_one(n);
            break;
        case H_MUTEX:
            CU_ASSERT_EQUAL(lrt_mutex_unlock(m), 0);
            break;
        case H_SEM:
            lrt_sem_release(s, 2);
            break;
        }
        lrt_abort(t);
        if (k == H_CHAN_TIMEOUT) {
            /* let its 1 ms deadline pass too before it runs */
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
        CU_ASSERT_EQUAL(h.rc, 0);
        if (k == H_CHAN || k == H_CHAN_TIMEOUT || k == H_ONESHOT)
            CU_ASSERT_PTR_EQUAL(h.v, P(10 + k));
    }
    /* nothing was given back or lost: the objects are as the waiters left them */
    CU_ASSERT_EQUAL(lrt_chan_len(c), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(n), 0);
    CU_ASSERT_EQUAL(lrt_sem_available(s), 2);
    CU_ASSERT_EQUAL(lrt_mutex_trylock(m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_unlock(m), 0);
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(o), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(m), 0);
    CU_ASSERT_EQUAL(lrt_sem_free(s), 0);
    return NULL;
}

static void a_task_handed_a_resource_then_aborted_before_it_runs_keeps_it(void)
{
    lrt_test_run(NULL, handoff_abort_root, NULL);
}

/* ---- semaphore -------------------------------------------------------------------- */

struct sa {
    lrt_sem_t *s;
    size_t n;
    int rc;
    int got;
    int *order;
    int *pos;
    int id;
};

static void *sem_worker(void *arg)
{
    struct sa *a = arg;
    a->rc = lrt_sem_acquire(a->s, a->n);
    if (a->rc == 0) {
        a->got = 1;
        if (a->order)
            a->order[(*a->pos)++] = a->id;
    }
    return NULL;
}

static void *sem_root(void *arg)
{
    (void)arg;
    lrt_sem_t *s = lrt_sem_new(2);
    int order[4], pos = 0;
    CU_ASSERT_EQUAL(lrt_sem_acquire(s, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_sem_acquire(s, SIZE_MAX), -EINVAL);
    CU_ASSERT_EQUAL(lrt_sem_try_acquire(s, 3), -EAGAIN);
    /* big (3) waits first; small (1) must not overtake it although 2 are free */
    struct sa big = {.s = s, .n = 3, .order = order, .pos = &pos, .id = 0};
    struct sa small = {.s = s, .n = 1, .order = order, .pos = &pos, .id = 1};
    lrt_task_t *tb = lrt_spawn(sem_worker, &big);
    lrt_task_t *ts = lrt_spawn(sem_worker, &small);
    settle();
    CU_ASSERT_EQUAL(big.got + small.got, 0);
    CU_ASSERT_EQUAL(lrt_sem_try_acquire(s, 1), -EAGAIN); /* FIFO for try too */
    lrt_sem_release(s, 1);
    CU_ASSERT_EQUAL(lrt_join(tb, NULL), 0);
    settle();
    CU_ASSERT_EQUAL(big.got, 1);
    CU_ASSERT_EQUAL(small.got, 0);
    CU_ASSERT_EQUAL(lrt_sem_available(s), 0);
    lrt_sem_release(s, 4);
    CU_ASSERT_EQUAL(lrt_join(ts, NULL), 0);
    CU_ASSERT_EQUAL(small.got, 1);
    CU_ASSERT_EQUAL(order[0], 0);
    CU_ASSERT_EQUAL(order[1], 1);
    CU_ASSERT_EQUAL(lrt_sem_available(s), 3);

    /* aborting the large waiter at the head lets the small ones behind it through */
    big = (struct sa){.s = s, .n = 10};
    small = (struct sa){.s = s, .n = 2};
    tb = lrt_spawn(sem_worker, &big);
    ts = lrt_spawn(sem_worker, &small);
    settle();
    CU_ASSERT_EQUAL(small.got, 0);
    lrt_abort(tb);
    CU_ASSERT_EQUAL(lrt_join(tb, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(lrt_join(ts, NULL), 0);
    CU_ASSERT_EQUAL(big.rc, -ECANCELED);
    CU_ASSERT_EQUAL(small.got, 1);
    CU_ASSERT_EQUAL(lrt_sem_available(s), 1);

    /* permits granted to a task aborted before it ran go back */
    big = (struct sa){.s = s, .n = 3};
    tb = lrt_spawn(sem_worker, &big);
    settle();
    lrt_sem_release(s, 2);
    lrt_abort(tb);
    /* a task that got its wake-up before the abort and returned never learnt of the
     * abort: it completed, so its join says 0 */
    int jr785 = lrt_join(tb, NULL);
    CU_ASSERT_EQUAL(jr785, big.rc == 0 ? 0 : -ECANCELED);
    CU_ASSERT_EQUAL(lrt_sem_available(s), big.rc == 0 ? 0 : 3);

    /* close wakes waiters with -EPIPE */
    big = (struct sa){.s = s, .n = 100};
    tb = lrt_spawn(sem_worker, &big);
    settle();
    CU_ASSERT_EQUAL(lrt_sem_free(s), -EBUSY);
    lrt_sem_close(s);
    CU_ASSERT_EQUAL(lrt_join(tb, NULL), 0);
    CU_ASSERT_EQUAL(big.rc, -EPIPE);
    CU_ASSERT_EQUAL(lrt_sem_acquire(s, 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_sem_try_acquire(s, 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_sem_free(s), 0);
    return NULL;
}

static void semaphore_is_fifo_and_a_large_acquire_is_not_overtaken(void)
{
    lrt_test_run(NULL, sem_root, NULL);
}

/* ---- free, threads, context ------------------------------------------------------- */

static void *free_busy_root(void *arg)
{
    (void)arg;
    lrt_chan_t *c = lrt_chan_new(0);
    struct rx r = {.c = c};
    lrt_task_t *t = lrt_spawn(receiver_once, &r);
    settle();
    CU_ASSERT_EQUAL(lrt_chan_free(c), -EBUSY);
    CU_ASSERT_EQUAL(lrt_chan_send(c, P(1)), 0); /* still usable: nothing was freed */
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_PTR_EQUAL(r.m, P(1));
    CU_ASSERT_EQUAL(lrt_chan_free(c), 0);

    struct osr o = {.o = lrt_oneshot_new()};
    t = lrt_spawn(oneshot_receiver, &o);
    settle();
    CU_ASSERT_EQUAL(lrt_oneshot_free(o.o), -EBUSY);
    lrt_oneshot_close(o.o);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(o.o), 0);

    struct mx x = {.m = lrt_mutex_new()};
    int order[1], pos = 0;
    x.order = order;
    x.pos = &pos;
    CU_ASSERT_EQUAL(lrt_mutex_lock(x.m), 0);
    t = lrt_spawn(mutex_worker, &x);
    settle();
    CU_ASSERT_EQUAL(lrt_mutex_unlock(x.m), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(x.m), -EBUSY); /* handed to the worker */
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(x.m), 0);

    CU_ASSERT_EQUAL(lrt_chan_free(NULL), 0);
    return NULL;
}

static void freeing_an_object_a_task_waits_on_fails_with_ebusy(void)
{
    lrt_test_run(NULL, free_busy_root, NULL);
}

struct foreign {
    lrt_chan_t *c;
    lrt_mutex_t *m;
    lrt_sem_t *s;
    lrt_notify_t *n;
    lrt_oneshot_t *o;
    int rc[12];
    int new_ok;
};

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    void *v;
    f->rc[0] = lrt_chan_send(f->c, NULL);
    f->rc[1] = lrt_chan_recv(f->c, &v);
    f->rc[2] = lrt_chan_try_send(f->c, NULL);
    f->rc[3] = lrt_chan_try_recv(f->c, &v);
    f->rc[4] = lrt_mutex_lock(f->m);
    f->rc[5] = lrt_mutex_trylock(f->m);
    f->rc[6] = lrt_mutex_unlock(f->m);
    f->rc[7] = lrt_sem_acquire(f->s, 1);
    f->rc[8] = lrt_sem_try_acquire(f->s, 1);
    f->rc[9] = lrt_notify_wait(f->n);
    f->rc[10] = lrt_oneshot_send(f->o, NULL);
    f->rc[11] = lrt_chan_try_recv(f->c, &v);
    /* new/free touch no runtime: fine on a thread without a current runtime */
    lrt_chan_t *own = lrt_chan_new(1);
    f->new_ok = own != NULL && lrt_chan_free(own) == 0;
    return NULL;
}

static void *foreign_root(void *arg)
{
    struct foreign *f = arg;
    pthread_t th;
    CU_ASSERT_EQUAL(pthread_create(&th, NULL, foreign_thread, f), 0);
    pthread_join(th, NULL);
    return NULL;
}

static void sync_calls_off_the_runtime_thread_fail_with_eperm(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    struct foreign f;
    memset(&f, 0, sizeof f);
    lrt_runtime_t *prev = lrt_enter(rt);
    f.c = lrt_chan_new(1);
    f.m = lrt_mutex_new();
    f.s = lrt_sem_new(5);
    f.n = lrt_notify_new();
    f.o = lrt_oneshot_new();
    CU_ASSERT_PTR_NOT_NULL(f.c);
    CU_ASSERT_PTR_NOT_NULL(f.o);
    /* on the runtime thread but outside a task: suspending calls refuse, try_* work */
    void *v;
    CU_ASSERT_EQUAL(lrt_chan_send(f.c, P(1)), -EPERM);
    CU_ASSERT_EQUAL(lrt_chan_recv(f.c, &v), -EPERM);
    CU_ASSERT_EQUAL(lrt_mutex_lock(f.m), -EPERM);
    CU_ASSERT_EQUAL(lrt_sem_acquire(f.s, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_notify_wait(f.n), -EPERM);
    CU_ASSERT_EQUAL(lrt_oneshot_recv(f.o, &v), -EPERM);
    CU_ASSERT_EQUAL(lrt_chan_try_send(f.c, P(1)), 0);
    CU_ASSERT_EQUAL(lrt_chan_try_recv(f.c, &v), 0);
    CU_ASSERT_EQUAL(lrt_sem_try_acquire(f.s, 1), 0);
    void *res;
    CU_ASSERT_EQUAL(lrt_block_on(rt, foreign_root, &f, &res), 0);
    for (int i = 0; i < 12; i++) {
        if (f.rc[i] != -EPERM)
            fprintf(stderr, "foreign call %d returned %d\n", i, f.rc[i]);
        CU_ASSERT_EQUAL(f.rc[i], -EPERM);
    }
    CU_ASSERT_EQUAL(f.new_ok, 1);
    CU_ASSERT_EQUAL(lrt_sem_available(f.s), 4);
    CU_ASSERT_EQUAL(lrt_chan_free(f.c), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(f.m), 0);
    CU_ASSERT_EQUAL(lrt_sem_free(f.s), 0);
    CU_ASSERT_EQUAL(lrt_notify_free(f.n), 0);
    CU_ASSERT_EQUAL(lrt_oneshot_free(f.o), 0);
    lrt_exit(prev);
    lrt_runtime_free(rt);
}

/* An aborted task's suspension points return -ECANCELED even when they need not wait;
 * non-suspending calls (try_*, unlock, release, notify) still work for its cleanup. */
struct cancelled {
    lrt_chan_t *c;
    lrt_mutex_t *m;
    int rc[5];
};

static void *cancelled_task(void *arg)
{
    struct cancelled *x = arg;
    lrt_mutex_lock(x->m);
    lrt_sleep_ms(1000000); /* aborted here */
    void *v;
    x->rc[0] = lrt_chan_recv(x->c, &v);
    x->rc[1] = lrt_chan_send(x->c, NULL);
    x->rc[2] = lrt_chan_try_send(x->c, P(2));
    x->rc[3] = lrt_mutex_unlock(x->m);
    x->rc[4] = lrt_mutex_lock(x->m);
    return NULL;
}

static void *cancel_ctx_root(void *arg)
{
    (void)arg;
    struct cancelled x = {.c = lrt_chan_new(0), .m = lrt_mutex_new()};
    CU_ASSERT_EQUAL(lrt_chan_send(x.c, P(1)), 0);
    lrt_task_t *t = lrt_spawn(cancelled_task, &x);
    settle();
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(x.rc[0], -ECANCELED);
    CU_ASSERT_EQUAL(x.rc[1], -ECANCELED);
    CU_ASSERT_EQUAL(x.rc[2], 0);
    CU_ASSERT_EQUAL(x.rc[3], 0);
    CU_ASSERT_EQUAL(x.rc[4], -ECANCELED);
    CU_ASSERT_EQUAL(lrt_chan_len(x.c), 2);
    CU_ASSERT_EQUAL(lrt_chan_free(x.c), 0);
    CU_ASSERT_EQUAL(lrt_mutex_free(x.m), 0);
    return NULL;
}

static void aborted_task_gets_ecanceled_from_sync_waits_but_can_still_clean_up(void)
{
    lrt_test_run_paused(cancel_ctx_root, NULL);
}

CU_TestInfo lrt_test_sync[] = {
    {"unbounded_channel_keeps_fifo_order_of_10k_messages_including_null",
     unbounded_channel_keeps_fifo_order_of_10k_messages_including_null},
    {"bounded_channel_sender_waits_until_receiver_takes",
     bounded_channel_sender_waits_until_receiver_takes},
    {"many_senders_and_receivers_exchange_every_message_exactly_once",
     many_senders_and_receivers_exchange_every_message_exactly_once},
    {"closed_channel_lets_receivers_drain_then_fails_with_epipe",
     closed_channel_lets_receivers_drain_then_fails_with_epipe},
    {"aborted_receiver_gets_ecanceled_and_no_message_is_lost",
     aborted_receiver_gets_ecanceled_and_no_message_is_lost},
    {"aborted_sender_gets_ecanceled_and_its_message_is_not_sent",
     aborted_sender_gets_ecanceled_and_its_message_is_not_sent},
    {"channel_recv_timeout_returns_etimedout_when_nothing_arrives",
     channel_recv_timeout_returns_etimedout_when_nothing_arrives},
    {"ping_pong_through_two_bounded_channels_completes_100k_round_trips",
     ping_pong_through_two_bounded_channels_completes_100k_round_trips},
    {"oneshot_delivers_one_value_and_refuses_a_second_send",
     oneshot_delivers_one_value_and_refuses_a_second_send},
    {"notify_stores_one_permit_and_notify_all_wakes_only_current_waiters",
     notify_stores_one_permit_and_notify_all_wakes_only_current_waiters},
    {"mutex_hands_off_in_fifo_order_and_rejects_relock_and_foreign_unlock",
     mutex_hands_off_in_fifo_order_and_rejects_relock_and_foreign_unlock},
    {"mutex_handed_to_an_aborted_task_passes_to_the_next_waiter",
     mutex_handed_to_an_aborted_task_passes_to_the_next_waiter},
    {"semaphore_is_fifo_and_a_large_acquire_is_not_overtaken",
     semaphore_is_fifo_and_a_large_acquire_is_not_overtaken},
    {"freeing_an_object_a_task_waits_on_fails_with_ebusy",
     freeing_an_object_a_task_waits_on_fails_with_ebusy},
    {"sync_calls_off_the_runtime_thread_fail_with_eperm",
     sync_calls_off_the_runtime_thread_fail_with_eperm},
    {"aborted_task_gets_ecanceled_from_sync_waits_but_can_still_clean_up",
     aborted_task_gets_ecanceled_from_sync_waits_but_can_still_clean_up},
    {"a_task_handed_a_resource_then_aborted_before_it_runs_keeps_it",
     a_task_handed_a_resource_then_aborted_before_it_runs_keeps_it},
    CU_TEST_INFO_NULL,
};
