/* Accepting connections, on both backends: io_uring's multishot accept keeps a queue of
 * connections it took from the backlog (src/io_uring_accept.c), so every way a
 * connection can leave that queue is checked to hand it to exactly one lrt_accept, or
 * to close it: a burst with its peer addresses, the queue's bound and restart, the
 * one-attempt accept, running out of fds, closing the listener, shutdown.  Each test
 * runs on io_uring and again on epoll, which must behave the same. */
#include "uring_util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BURST = 300 }; /* over the multishot queue's bound (128) */

static int listen_on(struct sockaddr_in *a) { return lrt_test_listen_loopback(a, 4096, 0); }

/* A client connected to @a (the kernel completes the handshake without an accept);
 * its local port in *@port. */
static int client(const struct sockaddr_in *a, int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_FATAL(connect(s, (const struct sockaddr *)a, sizeof *a) == 0);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    CU_ASSERT_FATAL(getsockname(s, (struct sockaddr *)&me, &ml) == 0);
    if (port)
        *port = ntohs(me.sin_port);
    return s;
}

static int count_fds(void) { return lrt_test_count_fds(); }

/* A listener on which one connection (client *@c0, accepted as *@s0) was accepted: on
 * io_uring its multishot accept is armed from then on. */
static int listen_armed(struct sockaddr_in *a, int *c0, int *s0)
{
    int l = listen_on(a);
    *c0 = client(a, NULL);
    *s0 = lrt_accept(l, NULL, NULL);
    CU_ASSERT_FATAL(*s0 >= 0);
    return l;
}

/* Both backends: the same behaviour is asserted on each. */
static void on_both(lrt_fn fn)
{
    lrt_test_run_on("uring", 1, fn, NULL, NULL);
    lrt_test_run_on("epoll", 1, fn, NULL, NULL);
}

/* ---- a burst, with addresses -------------------------------------------------------- */

struct burst {
    int l;
    int n;
    int ports[BURST];
    int fds[BURST];
};

static void *acceptor(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < BURST; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        int c = lrt_accept(b->l, (struct sockaddr *)&peer, &pl);
        if (c < 0)
            return (void *)(intptr_t)c;
        CU_ASSERT_EQUAL(pl, sizeof peer);
        CU_ASSERT_EQUAL(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        b->fds[b->n] = c;
        b->ports[b->n++] = ntohs(peer.sin_port);
    }
    return NULL;
}

static void *burst_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    struct burst *b = calloc(1, sizeof *b);
    b->l = listen_on(&a);
    lrt_task_t *t = lrt_spawn(acceptor, b);
    lrt_yield(); /* waiting: io_uring's multishot accept is armed */
    static int cs[BURST], ports[BURST];
    for (int i = 0; i < BURST; i++) {
        cs[i] = client(&a, &ports[i]);
        if (i % 50 == 0)
            lrt_yield();
    }
    void *res;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_PTR_NULL(res);
    CU_ASSERT_EQUAL(b->n, BURST);
    /* each client accepted exactly once, with its own address */
    int matched = 0;
    for (int i = 0; i < BURST; i++)
        for (int j = 0; j < b->n; j++)
            matched += ports[i] == b->ports[j];
    CU_ASSERT_EQUAL(matched, BURST);
    /* and the accepted fd is that client's: a byte goes through */
    for (int j = 0; j < b->n; j += 37) {
        int i = 0;
        while (i < BURST && ports[i] != b->ports[j])
            i++;
        CU_ASSERT_FATAL(i < BURST);
        CU_ASSERT_EQUAL(write(cs[i], "k", 1), 1);
        char c = 0;
        CU_ASSERT_EQUAL(lrt_read(b->fds[j], &c, 1), 1);
        CU_ASSERT_EQUAL(c, 'k');
    }
    CU_ASSERT_EQUAL(lrt_accept_timeout(b->l, NULL, NULL, 0), -ETIMEDOUT);
    for (int i = 0; i < b->n; i++)
        lrt_close(b->fds[i]);
    for (int i = 0; i < BURST; i++)
        close(cs[i]);
    lrt_close(b->l);
    free(b);
    return NULL;
}

static void a_burst_is_accepted_once_each_with_its_peer_address(void) { on_both(burst_root); }

/* ---- the queue's bound, the one-attempt accept, and the restart --------------------- */

static void *bound_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int c0, s0;
    int l = listen_armed(&a, &c0, &s0); /* then a burst with nobody accepting */
    static int cs[BURST];
    for (int i = 0; i < BURST; i++)
        cs[i] = client(&a, NULL);
    lrt_sleep_ms(20); /* the loop takes what the kernel accepted, up to the bound */
    /* one attempt each: first the queued ones, then the backlog's */
    int got = 0;
    for (int tries = 0; got < BURST && tries < 100 * BURST; tries++) {
        int s = lrt_accept_timeout(l, NULL, NULL, 0);
        if (s >= 0) {
            got++;
            lrt_close(s);
        } else {
            CU_ASSERT_EQUAL(s, -ETIMEDOUT);
            lrt_sleep_ms(1);
        }
    }
    CU_ASSERT_EQUAL(got, BURST);
    CU_ASSERT_EQUAL(lrt_accept_timeout(l, NULL, NULL, 0), -ETIMEDOUT);
    /* accepting starts again on demand */
    int c1 = client(&a, NULL);
    int s1 = lrt_accept_timeout(l, NULL, NULL, 5000);
    CU_ASSERT(s1 >= 0);
    CU_ASSERT_EQUAL(lrt_accept_timeout(l, NULL, NULL, 10), -ETIMEDOUT);
    lrt_close(s1);
    lrt_close(s0);
    close(c1);
    close(c0);
    for (int i = 0; i < BURST; i++)
        close(cs[i]);
    lrt_close(l);
    return NULL;
}

static void the_queue_is_bounded_and_one_attempt_accepts_take_from_it(void) { on_both(bound_root); }

/* ---- closing the listener ----------------------------------------------------------- */

static void *accept_one(void *arg)
{
    return (void *)(intptr_t)lrt_accept(*(int *)arg, NULL, NULL);
}

/* A client that connects 5 ms from now (its fd as the result). */
static void *connect_later(void *arg)
{
    lrt_sleep_ms(5);
    return (void *)(intptr_t)client(arg, NULL);
}

static void *close_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = listen_on(&a);
    int before = count_fds();
    int c0 = client(&a, NULL);
    int s0 = lrt_accept(l, NULL, NULL);
    CU_ASSERT_FATAL(s0 >= 0);
    enum { N = 40 };
    int cs[N];
    for (int i = 0; i < N; i++)
        cs[i] = client(&a, NULL);
    lrt_sleep_ms(20); /* on io_uring: accepted into the queue, unclaimed */
    /* a second listener with an acceptor waiting on it when it is closed */
    struct sockaddr_in a2;
    int l2 = listen_on(&a2);
    lrt_task_t *w = lrt_spawn(accept_one, &l2);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(lrt_close(l2), 0);
    void *res;
    CU_ASSERT_EQUAL(lrt_join(w, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EBADF);
    CU_ASSERT_EQUAL(lrt_close(l), 0);
    /* no longer listening the moment lrt_close returns, with no loop turn in between: on
     * io_uring the cancelled accept let go of the socket before close(2) */
    int late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(connect(late, (struct sockaddr *)&a, sizeof a), -1);
    CU_ASSERT_EQUAL(errno, ECONNREFUSED);
    close(late);
    /* every unclaimed connection was closed: its client reads EOF or a reset */
    int ended = 0;
    for (int i = 0; i < N; i++) {
        char c;
        ssize_t k = lrt_read_timeout(cs[i], &c, 1, 5000);
        ended += k == 0 || k == -ECONNRESET;
        lrt_close(cs[i]);
    }
    CU_ASSERT_EQUAL(ended, N);
    lrt_close(s0);
    close(c0);
    CU_ASSERT_EQUAL(count_fds(), before - 1); /* l is closed too */
    return NULL;
}

static void closing_a_listener_closes_its_unclaimed_connections(void) { on_both(close_root); }

/* The listener closed after its acceptor was woken (for a connection, or for the end of
 * a shut-down listener) but before that acceptor ran: it must get the connection or
 * -EBADF, and never look at the listener's record, freed by then (ASan sees it). */
static void *close_after_wake_root(void *arg)
{
    (void)arg;
    int fds_or_ebadf = 0;
    for (int i = 0; i < 200; i++) {
        struct sockaddr_in a;
        int l = listen_on(&a);
        lrt_task_t *w = lrt_spawn(accept_one, &l);
        lrt_yield(); /* it waits: the listener's accept is armed */
        int c = -1;
        if (i % 2)
            c = client(&a, NULL); /* a connection for it */
        else
            shutdown(l, SHUT_RDWR); /* or the accept's end, an error for it */
        for (int y = 0; y < (i / 2) % 4; y++)
            lrt_yield(); /* the completion is reaped at some point in here */
        CU_ASSERT_EQUAL(lrt_close(l), 0);
        void *res;
        CU_ASSERT_EQUAL(lrt_join(w, &res), 0);
        intptr_t r = (intptr_t)res;
        CU_ASSERT(r >= 0 || r == -EBADF || r == -EINVAL);
        fds_or_ebadf += r >= 0 || r == -EBADF;
        if (r >= 0)
            lrt_close((int)r);
        if (c >= 0)
            close(c);
    }
    CU_ASSERT(fds_or_ebadf > 0);
    return NULL;
}

static void closing_a_listener_whose_acceptor_was_just_woken_is_safe(void)
{
    on_both(close_after_wake_root);
}

/* A socket closed while a task reads it: its peer sees the end at once, not at the loop's
 * next turn (io_uring: the cancelled receive held the socket open until then). */
static void *read_one(void *arg)
{
    char c;
    return (void *)(intptr_t)lrt_read(*(int *)arg, &c, 1);
}

static void *close_reading_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = listen_on(&a);
    int c = client(&a, NULL);
    int s = lrt_accept(l, NULL, NULL);
    CU_ASSERT_FATAL(s >= 0);
    lrt_task_t *rd = lrt_spawn(read_one, &s);
    lrt_sleep_ms(2);
    CU_ASSERT_EQUAL(lrt_close(s), 0);
    struct pollfd p = {.fd = c, .events = POLLIN};
    CU_ASSERT_EQUAL(poll(&p, 1, 0), 1); /* the FIN is there already */
    char ch;
    CU_ASSERT_EQUAL(recv(c, &ch, 1, MSG_DONTWAIT), 0);
    void *res;
    CU_ASSERT_EQUAL(lrt_join(rd, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EBADF);
    close(c);
    lrt_close(l);
    return NULL;
}

static void closing_a_socket_mid_read_ends_it_for_the_peer_at_once(void) { on_both(close_reading_root); }

/* ---- readiness of a listener -------------------------------------------------------- */

/* Waiting for a listener to be readable, then a one-attempt accept (an event-loop habit,
 * and a select over a listener and a channel): on io_uring the connection may already
 * sit in the listener's queue, taken from the kernel's backlog, so readiness must count
 * that queue, before the wait and while waiting. */
static void *readiness_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int c0, s0;
    int l = listen_armed(&a, &c0, &s0);
    for (int round = 0; round < 6; round++) {
        int c = -1;
        if (round % 2 == 0) { /* the connection is there before the wait ... */
            c = client(&a, NULL);
            lrt_sleep_ms(5);
        }
        lrt_task_t *late = NULL;
        if (c < 0) /* ... or comes while it waits */
            late = lrt_spawn(connect_later, &a);
        int ev;
        if (round < 4) {
            ev = lrt_wait_fd(l, EPOLLIN, 5000);
            CU_ASSERT(ev > 0 && (ev & EPOLLIN));
        } else {
            lrt_sel_t cs[1] = {lrt_sel_readable(l)};
            ev = lrt_select(cs, 1, 5000);
            CU_ASSERT_EQUAL(ev, 0);
        }
        int s = lrt_accept_timeout(l, NULL, NULL, 0);
        CU_ASSERT(s >= 0);
        if (s >= 0)
            lrt_close(s);
        if (late) {
            void *res;
            CU_ASSERT_EQUAL(lrt_join(late, &res), 0);
            c = (int)(intptr_t)res;
        }
        close(c);
    }
    lrt_close(s0);
    close(c0);
    lrt_close(l);
    return NULL;
}

static void a_listener_is_readable_while_its_queue_holds_a_connection(void) { on_both(readiness_root); }

/* ---- two runtimes on one listener --------------------------------------------------- */

enum { SHARED_N = 400 };

struct shared {
    int l;
    int seen[SHARED_N];   /* connections that brought each id, over both runtimes */
    int taken;            /* accepted so far, both runtimes (atomic) */
    int mine[2];          /* accepted by each runtime */
    int fds[2][SHARED_N]; /* closed by the test once both runtimes are done */
};

struct side {
    struct shared *sh;
    int me;
};

static void *shared_acceptor(void *arg)
{
    struct side *sd = arg;
    struct shared *sh = sd->sh;
    while (__atomic_load_n(&sh->taken, __ATOMIC_ACQUIRE) < SHARED_N) {
        int c = lrt_accept_timeout(sh->l, NULL, NULL, 20);
        if (c == -ETIMEDOUT)
            continue;
        CU_ASSERT_FATAL(c >= 0);
        uint32_t id;
        CU_ASSERT_EQUAL_FATAL(lrt_read_timeout(c, &id, sizeof id, 5000), (ssize_t)sizeof id);
        CU_ASSERT_FATAL(id < SHARED_N);
        __atomic_add_fetch(&sh->seen[id], 1, __ATOMIC_RELAXED);
        sh->fds[sd->me][sh->mine[sd->me]++] = c;
        __atomic_add_fetch(&sh->taken, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *shared_runtime(void *arg)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_FATAL(rt != NULL);
    CU_ASSERT_EQUAL(lrt_block_on(rt, shared_acceptor, arg, NULL), 0);
    lrt_runtime_free(rt); /* the fds stay open: they are the test's */
    return NULL;
}

/* Each runtime keeps its own queue of the listener's connections: every connection is
 * still accepted exactly once, by one of them, and nothing is left behind. */
static void two_runtimes_accepting_on_one_listener_take_each_connection_once(void)
{
    static struct shared sh;
    memset(&sh, 0, sizeof sh);
    struct sockaddr_in a;
    sh.l = listen_on(&a);
    int before = count_fds();
    struct side sides[2] = {{&sh, 0}, {&sh, 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_FATAL(pthread_create(&th[i], NULL, shared_runtime, &sides[i]) == 0);
    static int cs[SHARED_N];
    for (uint32_t i = 0; i < SHARED_N; i++) {
        cs[i] = client(&a, NULL);
        CU_ASSERT_EQUAL(write(cs[i], &i, sizeof i), (ssize_t)sizeof i);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(sh.mine[0] + sh.mine[1], SHARED_N);
    for (int i = 0; i < SHARED_N; i++)
        CU_ASSERT_EQUAL(sh.seen[i], 1);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < sh.mine[r]; i++)
            close(sh.fds[r][i]);
    for (int i = 0; i < SHARED_N; i++)
        close(cs[i]);
    CU_ASSERT_EQUAL(count_fds(), before); /* neither runtime kept one for itself */
    close(sh.l);
}

/* ---- shutdown ----------------------------------------------------------------------- */

static struct sockaddr_in shut_addr;
static int shut_l, shut_l2, shut_cs[40];

static void *shutdown_root(void *arg)
{
    (void)arg;
    int c0 = client(&shut_addr, NULL);
    int s0 = lrt_accept(shut_l, NULL, NULL); /* io_uring: the multishot accept is armed */
    CU_ASSERT(s0 >= 0);
    lrt_close(s0);
    close(c0);
    lrt_spawn(accept_one, &shut_l2); /* left waiting at shutdown, on another listener */
    for (int i = 0; i < 40; i++)
        shut_cs[i] = client(&shut_addr, NULL);
    lrt_sleep_ms(20); /* io_uring: accepted into the queue, unclaimed */
    return NULL; /* the listeners stay open: the runtime goes away under them */
}

static void shutdown_leaves_no_connection_open_behind(void)
{
    const char *drv[] = {"uring", "epoll"};
    for (int d = 0; d < 2; d++) {
        struct sockaddr_in a2;
        shut_l = listen_on(&shut_addr);
        shut_l2 = listen_on(&a2);
        int before = count_fds();
        lrt_test_run_on(drv[d], 1, shutdown_root, NULL, NULL);
        /* the clients only: nothing the runtime accepted for nobody */
        CU_ASSERT_EQUAL(count_fds(), before + 40);
        for (int i = 0; i < 40; i++)
            close(shut_cs[i]);
        close(shut_l);
        close(shut_l2);
    }
}

/* ---- out of fds --------------------------------------------------------------------- */

static void *emfile_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = listen_on(&a);
    int c0 = client(&a, NULL);
    int c1 = client(&a, NULL);
    struct rlimit old;
    CU_ASSERT_FATAL(getrlimit(RLIMIT_NOFILE, &old) == 0);
    /* every number up to the highest open one is taken: no room for one more */
    int top = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            top = fd;
    int holes[4096], nh = 0;
    for (int fd = 0; fd < top; fd++)
        if (fcntl(fd, F_GETFD) < 0 && nh < 4096)
            holes[nh++] = dup(0) >= 0 ? fd : -1;
    struct rlimit low = {.rlim_cur = (rlim_t)top + 1, .rlim_max = old.rlim_max};
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int e = lrt_accept_timeout(l, NULL, NULL, 2000);
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CU_ASSERT_EQUAL(e, -EMFILE);
    if (e >= 0)
        lrt_close(e);
    for (int i = 0; i < nh; i++)
        if (holes[i] >= 0)
            close(holes[i]);
    /* with room again, both connections are there */
    int s0 = lrt_accept_timeout(l, NULL, NULL, 2000);
    int s1 = lrt_accept_timeout(l, NULL, NULL, 2000);
    CU_ASSERT(s0 >= 0 && s1 >= 0);
    lrt_close(s0);
    lrt_close(s1);
    close(c0);
    close(c1);
    lrt_close(l);
    return NULL;
}

static void out_of_fds_accept_says_emfile_and_recovers(void) { on_both(emfile_root); }

/* ---- the dump ----------------------------------------------------------------------- */

static void *dump_root(void *arg)
{
    const char *drv = arg;
    struct sockaddr_in a;
    int l = listen_on(&a);
    lrt_task_t *t = lrt_spawn_named("acceptor", accept_one, &l);
    lrt_sleep_ms(2);
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    size_t i;
    json_t *it;
    int found = 0;
    char want[40];
    snprintf(want, sizeof want, "accept fd %d (uring)", l);
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != lrt_task_id(t))
            continue;
        json_t *w = json_object_get(it, "wait");
        if (!strcmp(drv, "uring")) {
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), want);
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "op")), "accept");
        }
        found++;
    }
    CU_ASSERT_EQUAL(found, 1);
    CU_ASSERT_EQUAL(lrt_test_snapshot_ops(root, l, "accept", lrt_task_id(t)), strcmp(drv, "uring") ? 0 : 1);
    json_decref(root);
    int c = client(&a, NULL);
    void *res;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT((intptr_t)res >= 0);
    lrt_close((int)(intptr_t)res);
    close(c);
    /* three clients connected, nobody accepting: on io_uring the snapshot counts them in
     * the listener's queue (what a "connected but never served" report needs) */
    int cs[3];
    for (int k = 0; k < 3; k++)
        cs[k] = client(&a, NULL);
    lrt_sleep_ms(5);
    js = lrt_dump_json(lrt_current(), 0);
    root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    int entries = 0;
    json_array_foreach(json_object_get(root, "io"), i, it)
    {
        if (json_integer_value(json_object_get(it, "fd")) != l)
            continue;
        entries++;
        json_t *q = json_object_get(it, "accept_queue");
        if (!strcmp(drv, "uring")) {
            CU_ASSERT_EQUAL(json_integer_value(q), 3);
        } else {
            CU_ASSERT_PTR_NULL(q);
        }
    }
    CU_ASSERT_EQUAL(entries, 1);
    json_decref(root);
    for (int k = 0; k < 3; k++)
        close(cs[k]);
    lrt_close(l);
    return NULL;
}

static void a_waiting_acceptor_shows_in_the_dump_and_the_snapshot(void)
{
    lrt_test_run_on("uring", 1, dump_root, "uring", NULL);
    lrt_test_run_on("epoll", 1, dump_root, "epoll", NULL);
}

CU_TestInfo lrt_test_uring_accept[] = {
    {"a_burst_is_accepted_once_each_with_its_peer_address", a_burst_is_accepted_once_each_with_its_peer_address},
    {"the_queue_is_bounded_and_one_attempt_accepts_take_from_it",
     the_queue_is_bounded_and_one_attempt_accepts_take_from_it},
    {"closing_a_listener_closes_its_unclaimed_connections", closing_a_listener_closes_its_unclaimed_connections},
    {"closing_a_listener_whose_acceptor_was_just_woken_is_safe",
     closing_a_listener_whose_acceptor_was_just_woken_is_safe},
    {"closing_a_socket_mid_read_ends_it_for_the_peer_at_once",
     closing_a_socket_mid_read_ends_it_for_the_peer_at_once},
    {"a_listener_is_readable_while_its_queue_holds_a_connection",
     a_listener_is_readable_while_its_queue_holds_a_connection},
    {"two_runtimes_accepting_on_one_listener_take_each_connection_once",
     two_runtimes_accepting_on_one_listener_take_each_connection_once},
    {"shutdown_leaves_no_connection_open_behind", shutdown_leaves_no_connection_open_behind},
    {"out_of_fds_accept_says_emfile_and_recovers", out_of_fds_accept_says_emfile_and_recovers},
    {"a_waiting_acceptor_shows_in_the_dump_and_the_snapshot", a_waiting_acceptor_shows_in_the_dump_and_the_snapshot},
    CU_TEST_INFO_NULL,
};
