/* Datagram calls and lrt_connect on the io_uring backend: lrt_recvmsg/lrt_sendmsg/
 * lrt_recvfrom/lrt_sendto are submitted IORING_OP_RECVMSG/SENDMSG and lrt_connect an
 * IORING_OP_CONNECT, with the socket operations' guarantees: an abort mid-recvmsg loses
 * no datagram, a timeout leaves the datagram for the next call, lrt_close gives -EBADF.
 * Every test forces io_uring (LRT_DRIVER=uring, restored after) and says so when the
 * kernel refuses it. */
#include "uring_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned interval = 1;

static bool run_uring(lrt_fn fn, void *arg)
{
    return lrt_test_run_on("uring", interval, fn, arg, NULL);
}

/* A UDP socket on 127.0.0.1, its address in *@a. */
static int udp_bound(struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t l = sizeof sa;
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &l) == 0);
    if (a)
        *a = sa;
    return fd;
}

/* ---- results ------------------------------------------------------------------------ */

static void *results_root(void *arg)
{
    (void)arg;
    struct sockaddr_in ra, sa;
    int rx = udp_bound(&ra), tx = udp_bound(&sa);
    /* sendto / recvfrom with the sender's address */
    CU_ASSERT_EQUAL(lrt_sendto(tx, "hello", 5, 0, (struct sockaddr *)&ra, sizeof ra), 5);
    char buf[64];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    CU_ASSERT_EQUAL(lrt_recvfrom(rx, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 5);
    CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
    CU_ASSERT_EQUAL(fl, sizeof(struct sockaddr_in));
    CU_ASSERT_EQUAL(((struct sockaddr_in *)&from)->sin_port, sa.sin_port);
    /* a datagram of 0 bytes is a datagram */
    CU_ASSERT_EQUAL(lrt_sendto(tx, "", 0, 0, (struct sockaddr *)&ra, sizeof ra), 0);
    CU_ASSERT_EQUAL(lrt_recvfrom(rx, buf, sizeof buf, 0, NULL, NULL), 0);
    /* sendmsg / recvmsg: boundaries, MSG_TRUNC in msg_flags, the name */
    struct iovec iov = {.iov_base = "0123456789", .iov_len = 10};
    struct msghdr m = {.msg_name = &ra, .msg_namelen = sizeof ra, .msg_iov = &iov, .msg_iovlen = 1};
    CU_ASSERT_EQUAL(lrt_sendmsg(tx, &m, 0), 10);
    char small[4];
    struct iovec riov = {.iov_base = small, .iov_len = sizeof small};
    struct sockaddr_in f2;
    struct msghdr rm = {.msg_name = &f2, .msg_namelen = sizeof f2, .msg_iov = &riov, .msg_iovlen = 1};
    CU_ASSERT_EQUAL(lrt_recvmsg(rx, &rm, 0), 4);
    CU_ASSERT_EQUAL(memcmp(small, "0123", 4), 0);
    CU_ASSERT(rm.msg_flags & MSG_TRUNC);
    CU_ASSERT_EQUAL(rm.msg_namelen, sizeof f2);
    CU_ASSERT_EQUAL(f2.sin_port, sa.sin_port);
    /* a timeout leaves the next datagram for the next call */
    CU_ASSERT_EQUAL(lrt_recvfrom_timeout(rx, buf, sizeof buf, 0, NULL, NULL, 20), -ETIMEDOUT);
    CU_ASSERT_EQUAL(sendto(tx, "late", 4, 0, (struct sockaddr *)&ra, sizeof ra), 4);
    CU_ASSERT_EQUAL(lrt_recvfrom_timeout(rx, buf, sizeof buf, 0, NULL, NULL, 2000), 4);
    /* MSG_DONTWAIT: one attempt */
    CU_ASSERT_EQUAL(lrt_recvfrom(rx, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL), -EAGAIN);
    lrt_close(rx);
    lrt_close(tx);
    return NULL;
}

static void datagram_calls_on_the_ring_keep_boundaries_addresses_and_timeouts(void)
{
    run_uring(results_root, NULL);
}

/* ---- interrupted ---------------------------------------------------------------------- */

enum { ROUNDS = 2000 };

struct rx {
    int fd;
    char got[32];
};

static NOINLINE void *recvmsg_task(void *arg)
{
    struct rx *r = arg;
    char buf[32]; /* on this task's stack */
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t k = lrt_recvmsg(r->fd, &m, 0);
    if (k > 0)
        memcpy(r->got, buf, (size_t)k);
    return (void *)(intptr_t)k;
}

/* Abort a task in recvmsg (never ran, queued, in the kernel, the datagram sent before
 * the abort) thousands of times: each datagram is the task's result or still queued. */
static void *abort_root(void *arg)
{
    (void)arg;
    struct sockaddr_in ra;
    int rx = udp_bound(&ra), tx = udp_bound(NULL);
    CU_ASSERT_FATAL(connect(tx, (struct sockaddr *)&ra, sizeof ra) == 0);
    int lost = 0, taken = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct rx r = {.fd = rx};
        lrt_task_t *t = lrt_spawn(recvmsg_task, &r);
        int phase = i % 4;
        for (int y = 0; y < (phase < 3 ? phase : 2); y++)
            lrt_yield();
        char msg[16];
        int n = snprintf(msg, sizeof msg, "d%d", i);
        if (phase == 3)
            CU_ASSERT_EQUAL(send(tx, msg, (size_t)n, 0), n);
        lrt_abort(t);
        if (phase != 3)
            CU_ASSERT_EQUAL(send(tx, msg, (size_t)n, 0), n);
        void *res = (void *)(intptr_t)-ECANCELED;
        (void)lrt_join(t, &res);
        lrt_test_scribble_stack();
        ssize_t k = (ssize_t)(intptr_t)res;
        char left[32];
        ssize_t m = recv(rx, left, sizeof left, MSG_DONTWAIT);
        taken += k > 0;
        int bad = lrt_test_abort_round_bad(k, r.got, m, left, msg, n);
        if (bad && lost < 5)
            fprintf(stderr, "\nround %d (phase %d): task got %zd, %zd left\n", i, phase, k, m);
        lost += bad;
    }
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT(taken < ROUNDS);
    lrt_close(rx);
    lrt_close(tx);
    return NULL;
}

static void tasks_aborted_mid_recvmsg_lose_no_datagram(void)
{
    run_uring(abort_root, NULL);
    interval = 0;
    run_uring(abort_root, NULL);
    interval = 1;
}

static void *close_root(void *arg)
{
    (void)arg;
    int rx = udp_bound(NULL);
    struct rx r = {.fd = rx};
    lrt_task_t *t = lrt_spawn(recvmsg_task, &r);
    lrt_sleep_ms(5); /* in the kernel */
    CU_ASSERT_EQUAL(lrt_close(rx), 0);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, -EBADF);
    return NULL;
}

static void closing_a_socket_mid_recvmsg_gives_ebadf(void)
{
    run_uring(close_root, NULL);
}

/* ---- connect ------------------------------------------------------------------------ */

static void *connect_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = lrt_test_listen_loopback(&a, 16, 0);
    /* a blocking socket: the ring needs no O_NONBLOCK */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(lrt_connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = lrt_accept(l, NULL, NULL);
    CU_ASSERT(s >= 0);
    CU_ASSERT_EQUAL(lrt_write(c, "hi", 2), 2);
    char buf[4];
    CU_ASSERT_EQUAL(lrt_read(s, buf, sizeof buf), 2);
    lrt_close(s);
    lrt_close(c);
    /* nobody listening: refused */
    lrt_close(l);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(lrt_connect(c, (struct sockaddr *)&a, sizeof a), -ECONNREFUSED);
    lrt_close(c);
    /* bad arguments: the kernel's answers */
    CU_ASSERT_EQUAL(lrt_connect(-1, (struct sockaddr *)&a, sizeof a), -EBADF);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(lrt_connect(c, (struct sockaddr *)&a, 3), -EINVAL);
    lrt_close(c);
    return NULL;
}

static void connect_on_the_ring_connects_and_reports_refusal(void)
{
    run_uring(connect_root, NULL);
}

/* ---- aborts mid-connect and mid-sendmsg --------------------------------------------- */

enum { ABORT_ROUNDS = 300 };

struct conn_try {
    const struct sockaddr_in *a;
    int rc;
};

static NOINLINE void *connect_task(void *arg)
{
    struct conn_try *c = arg;
    struct sockaddr_in a = *c->a; /* on this task's stack: the operation points at it */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c->rc = lrt_connect(fd, (struct sockaddr *)&a, sizeof a);
    lrt_close(fd);
    return NULL;
}

/* A listener whose accept queue is full drops further SYNs, so each connect stays in
 * flight (the kernel retries after a second) until the abort cancels it. */
static void *abort_connect_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = lrt_test_listen_loopback(&a, 0, 0);
    int fill[4];
    for (int i = 0; i < 4; i++) { /* never accepted: the queue stays full */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    int cancelled = 0, odd = 0;
    for (int i = 0; i < ABORT_ROUNDS; i++) {
        struct conn_try c = {.a = &a, .rc = 1};
        lrt_task_t *t = lrt_spawn(connect_task, &c);
        for (int y = 0; y < i % 3; y++)
            lrt_yield();
        lrt_abort(t);
        int j = lrt_join(t, NULL);
        CU_ASSERT(j == 0 || j == -ECANCELED); /* -ECANCELED: it never got past its call */
        lrt_test_scribble_stack(); /* a late write into the dead frame would show here */
        cancelled += c.rc == -ECANCELED;
        odd += c.rc != -ECANCELED && c.rc != 1; /* 1: aborted before it ran */
    }
    CU_ASSERT(cancelled > 0);
    CU_ASSERT_EQUAL(odd, 0);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(l);
    return NULL;
}

static void tasks_aborted_mid_connect_leave_nothing_in_flight(void)
{
    run_uring(abort_connect_root, NULL);
}

struct send_try {
    int fd;
    int seq;
    ssize_t rc;
};

static NOINLINE void *sendmsg_task(void *arg)
{
    struct send_try *s = arg;
    char dgram[32]; /* on this task's stack: the operation sends from it */
    memset(dgram, 0, sizeof dgram);
    snprintf(dgram, sizeof dgram, "abort-%d", s->seq);
    struct iovec iov = {.iov_base = dgram, .iov_len = sizeof dgram};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    s->rc = lrt_sendmsg(s->fd, &m, 0);
    return NULL;
}

/* A unix datagram socket whose peer's queue is full: each sendmsg waits in flight until
 * it is aborted.  Afterwards the peer drains: a datagram of an aborted task is there,
 * whole and once, exactly when its lrt_sendmsg said it was sent. */
static void *abort_sendmsg_root(void *arg)
{
    (void)arg;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
    char filler[32] = "filler";
    int nfill = 0;
    while (send(sv[0], filler, sizeof filler, MSG_DONTWAIT) == (ssize_t)sizeof filler)
        nfill++;
    CU_ASSERT_FATAL(errno == EAGAIN && nfill > 0);
    static struct send_try tries[ABORT_ROUNDS];
    int cancelled = 0, sent = 0;
    for (int i = 0; i < ABORT_ROUNDS; i++) {
        tries[i] = (struct send_try){.fd = sv[0], .seq = i, .rc = 1};
        lrt_task_t *t = lrt_spawn(sendmsg_task, &tries[i]);
        for (int y = 0; y < i % 3; y++)
            lrt_yield();
        if (i % 50 == 49) { /* now and then room for one: a send that wins the race */
            char b[32];
            CU_ASSERT(recv(sv[1], b, sizeof b, MSG_DONTWAIT) == (ssize_t)sizeof b);
            nfill--;
            lrt_yield();
        }
        lrt_abort(t);
        int j = lrt_join(t, NULL);
        CU_ASSERT(j == 0 || j == -ECANCELED); /* -ECANCELED: it never got past its call */
        lrt_test_scribble_stack();
        cancelled += tries[i].rc == -ECANCELED;
        sent += tries[i].rc == 32;
        CU_ASSERT(tries[i].rc == -ECANCELED || tries[i].rc == 32 || tries[i].rc == 1);
    }
    CU_ASSERT(cancelled > 0);
    CU_ASSERT(sent > 0);
    /* drain: fillers, then each sent datagram once, whole */
    static int seen[ABORT_ROUNDS];
    memset(seen, 0, sizeof seen);
    char b[64];
    ssize_t k;
    int fillers = 0, got = 0;
    while ((k = recv(sv[1], b, sizeof b, MSG_DONTWAIT)) >= 0) {
        CU_ASSERT_EQUAL_FATAL(k, 32);
        int seq;
        if (strcmp(b, "filler") == 0)
            fillers++;
        else if (sscanf(b, "abort-%d", &seq) == 1 && seq >= 0 && seq < ABORT_ROUNDS) {
            seen[seq]++;
            got++;
        } else
            CU_FAIL("a datagram that nobody sent");
    }
    CU_ASSERT_EQUAL(fillers, nfill);
    CU_ASSERT_EQUAL(got, sent);
    for (int i = 0; i < ABORT_ROUNDS; i++)
        CU_ASSERT_EQUAL(seen[i], tries[i].rc == 32 ? 1 : 0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void tasks_aborted_mid_sendmsg_send_exactly_what_they_report(void)
{
    run_uring(abort_sendmsg_root, NULL);
}

CU_TestInfo lrt_test_uring_dgram[] = {
    {"datagram_calls_on_the_ring_keep_boundaries_addresses_and_timeouts",
     datagram_calls_on_the_ring_keep_boundaries_addresses_and_timeouts},
    {"tasks_aborted_mid_recvmsg_lose_no_datagram", tasks_aborted_mid_recvmsg_lose_no_datagram},
    {"closing_a_socket_mid_recvmsg_gives_ebadf", closing_a_socket_mid_recvmsg_gives_ebadf},
    {"tasks_aborted_mid_connect_leave_nothing_in_flight", tasks_aborted_mid_connect_leave_nothing_in_flight},
    {"tasks_aborted_mid_sendmsg_send_exactly_what_they_report",
     tasks_aborted_mid_sendmsg_send_exactly_what_they_report},
    {"connect_on_the_ring_connects_and_reports_refusal", connect_on_the_ring_connects_and_reports_refusal},
    CU_TEST_INFO_NULL,
};
