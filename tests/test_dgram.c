/* Tests of the datagram calls (src/dgram.c): lrt_recvfrom/sendto/recvmsg/sendmsg. */
#include "test_util.h"

#include "internal.h" /* lrt__io_waiters */

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------- */

/* A UDP socket bound to 127.0.0.1 on an ephemeral port, blocking (lrt must not need
 * O_NONBLOCK on it); its address in *@sa. */
static int udp_bound(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t l = sizeof a;
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    if (sa)
        *sa = a;
    return fd;
}

static int is_nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

/* ---- UDP echo over loopback ------------------------------------------------------- */

#define ECHO_N 200

struct echo {
    int sfd, cfd;
    struct sockaddr_in server;
    int served;
    int zero_len_seen;
};

/* The server task: echoes ECHO_N datagrams back to whoever sent them. */
static void *udp_echo_server(void *arg)
{
    struct echo *e = arg;
    char buf[2048];
    for (int i = 0; i < ECHO_N; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t k = lrt_recvfrom(e->sfd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        CU_ASSERT(k >= 0);
        if (k < 0)
            return NULL;
        CU_ASSERT_EQUAL(fl, sizeof(struct sockaddr_in));
        if (k == 0)
            e->zero_len_seen++;
        CU_ASSERT_EQUAL(lrt_sendto(e->sfd, buf, (size_t)k, 0, (struct sockaddr *)&from, fl), k);
        e->served++;
    }
    return NULL;
}

/* The client task: datagram i is i % 1500 bytes of (char)i, so a zero-length one goes
 * every 1500 (i = 0): each echo must come back whole and in order (loopback keeps it). */
static void *udp_echo_client(void *arg)
{
    struct echo *e = arg;
    static char out[1500], in[2048];
    for (int i = 0; i < ECHO_N; i++) {
        size_t len = (size_t)(i * 37) % 1500;
        if (i % 50 == 0)
            len = 0;
        memset(out, (char)i, len);
        CU_ASSERT_EQUAL(lrt_sendto(e->cfd, out, len, 0, (struct sockaddr *)&e->server,
                                   sizeof e->server), (ssize_t)len);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t k = lrt_recvfrom_timeout(e->cfd, in, sizeof in, 0, (struct sockaddr *)&from, &fl, 10000);
        CU_ASSERT_EQUAL(k, (ssize_t)len);
        if (k != (ssize_t)len)
            return NULL;
        CU_ASSERT(memcmp(in, out, len) == 0);
        CU_ASSERT_EQUAL(from.sin_port, e->server.sin_port);
    }
    return NULL;
}

static void *udp_echo_root(void *arg)
{
    (void)arg;
    struct echo e = {0};
    e.sfd = udp_bound(&e.server);
    e.cfd = udp_bound(NULL);
    /* the client first: its first receive suspends before the server ever ran */
    lrt_task_t *c = lrt_spawn(udp_echo_client, &e);
    lrt_task_t *s = lrt_spawn(udp_echo_server, &e);
    CU_ASSERT_EQUAL(lrt_join(c, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(s, NULL), 0);
    CU_ASSERT_EQUAL(e.served, ECHO_N);
    CU_ASSERT_EQUAL(e.zero_len_seen, ECHO_N / 50);
    /* blocking sockets: every attempt used MSG_DONTWAIT, the descriptions stay blocking */
    CU_ASSERT_FALSE(is_nonblocking(e.sfd));
    CU_ASSERT_FALSE(is_nonblocking(e.cfd));
    CU_ASSERT_EQUAL(lrt_close(e.sfd), 0);
    CU_ASSERT_EQUAL(lrt_close(e.cfd), 0);
    return NULL;
}

static void udp_echo_over_loopback_between_a_server_task_and_a_client_task(void)
{
    lrt_test_run(NULL, udp_echo_root, NULL);
}

/* ---- truncation ------------------------------------------------------------------- */

static void *trunc_root(void *arg)
{
    (void)arg;
    struct sockaddr_in sa;
    int r = udp_bound(&sa);
    int w = udp_bound(NULL);
    char big[1000], small[10];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(lrt_sendto(w, big, sizeof big, 0, (struct sockaddr *)&sa, sizeof sa), 1000);
    /* without MSG_TRUNC: cut to the buffer, the rest of the datagram is gone */
    CU_ASSERT_EQUAL(lrt_recvfrom(r, small, sizeof small, 0, NULL, NULL), 10);
    /* with MSG_TRUNC: the real length, though only 10 bytes were stored */
    CU_ASSERT_EQUAL(lrt_recvfrom(r, small, sizeof small, MSG_TRUNC, NULL, NULL), 1000);
    /* recvmsg: the length copied, and MSG_TRUNC in msg_flags */
    struct iovec iov = {.iov_base = small, .iov_len = sizeof small};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    CU_ASSERT_EQUAL(lrt_recvmsg(r, &m, 0), 10);
    CU_ASSERT(m.msg_flags & MSG_TRUNC);
    m.msg_flags = 0;
    CU_ASSERT_EQUAL(lrt_recvmsg(r, &m, MSG_TRUNC), 1000);
    CU_ASSERT(m.msg_flags & MSG_TRUNC);
    /* MSG_PEEK | MSG_TRUNC: the next datagram's size without taking it */
    CU_ASSERT_EQUAL(lrt_sendto(w, big, 123, 0, (struct sockaddr *)&sa, sizeof sa), 123);
    CU_ASSERT_EQUAL(lrt_recvfrom(r, NULL, 0, MSG_PEEK | MSG_TRUNC, NULL, NULL), 123);
    CU_ASSERT_EQUAL(lrt_recvfrom(r, big, sizeof big, 0, NULL, NULL), 123);
    /* a datagram larger than UDP allows */
    static char huge[70000];
    CU_ASSERT_EQUAL(lrt_sendto(w, huge, sizeof huge, 0, (struct sockaddr *)&sa, sizeof sa), -EMSGSIZE);
    CU_ASSERT_EQUAL(lrt_close(r), 0);
    CU_ASSERT_EQUAL(lrt_close(w), 0);
    return NULL;
}

static void msg_trunc_reports_the_real_length_of_a_cut_datagram(void)
{
    lrt_test_run(NULL, trunc_root, NULL);
}

/* ---- ECONNREFUSED ----------------------------------------------------------------- */

struct refused {
    int fd;
    ssize_t rc;
};

static void *refused_receiver(void *arg)
{
    struct refused *rf = arg;
    char c;
    rf->rc = lrt_recvfrom_timeout(rf->fd, &c, 1, 0, NULL, NULL, 10000);
    return NULL;
}

/* A UDP port nobody listens on: bound, then closed (the kernel answers it with ICMP
 * port unreachable, which becomes ECONNREFUSED on a connected socket). */
static struct sockaddr_in closed_udp_port(void)
{
    struct sockaddr_in sa;
    close(udp_bound(&sa));
    return sa;
}

static void *refused_root(void *arg)
{
    (void)arg;
    struct sockaddr_in dead = closed_udp_port();
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(lrt_connect(fd, (struct sockaddr *)&dead, sizeof dead), 0);
    /* a receiver already suspended is woken by the error (EPOLLERR) */
    struct refused rf = {.fd = fd, .rc = 1};
    lrt_task_t *t = lrt_spawn(refused_receiver, &rf);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 1);
    CU_ASSERT_EQUAL(lrt_sendto(fd, "ping", 4, 0, NULL, 0), 4);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(rf.rc, -ECONNREFUSED);
    /* the error is reported once; the next send's answer comes back on the send after */
    CU_ASSERT_EQUAL(lrt_sendto(fd, "ping", 4, 0, NULL, 0), 4);
    ssize_t k = 0;
    for (int i = 0; i < 100 && k >= 0; i++) {
        k = lrt_sendto(fd, "ping", 4, 0, NULL, 0);
        if (k >= 0)
            lrt_sleep_ms(1); /* loopback's ICMP is normally there already */
    }
    CU_ASSERT_EQUAL(k, -ECONNREFUSED);
    /* the same through recvmsg */
    CU_ASSERT_EQUAL(lrt_sendto(fd, "ping", 4, 0, NULL, 0), 4);
    char c;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    CU_ASSERT_EQUAL(lrt_recvmsg_timeout(fd, &m, 0, 10000), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return NULL;
}

static void a_connected_udp_socket_gets_econnrefused_from_a_closed_port(void)
{
    lrt_test_run(NULL, refused_root, NULL);
}

/* ---- unix datagram sockets -------------------------------------------------------- */

#define UNIX_N 3000

struct unix_pair {
    int fds[2];
    int sender_done;
    int first_seen_before_done;
    int received;
};

static void *unix_sender(void *arg)
{
    struct unix_pair *u = arg;
    for (int i = 0; i < UNIX_N; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "dgram %d", i);
        struct iovec iov = {.iov_base = msg, .iov_len = (size_t)len};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        CU_ASSERT_EQUAL(lrt_sendmsg(u->fds[0], &m, 0), len);
    }
    u->sender_done = 1;
    return NULL;
}

static void *unix_receiver(void *arg)
{
    struct unix_pair *u = arg;
    for (int i = 0; i < UNIX_N; i++) {
        char buf[64], want[64];
        ssize_t k = lrt_recvfrom(u->fds[1], buf, sizeof buf - 1, 0, NULL, NULL);
        if (i == 0)
            u->first_seen_before_done = !u->sender_done;
        int len = snprintf(want, sizeof want, "dgram %d", i);
        CU_ASSERT_EQUAL(k, len);
        if (k != len)
            return NULL;
        CU_ASSERT(memcmp(buf, want, (size_t)len) == 0);
        u->received++;
    }
    return NULL;
}

static void *unix_root(void *arg)
{
    (void)arg;
    struct unix_pair u = {0};
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, u.fds) == 0);
    /* a small send buffer: the sender runs out of room long before 3000 datagrams, so
     * it must suspend in lrt_sendmsg until the receiver drains (the receiver only runs
     * once the sender suspends: spawning never switches) */
    int sz = 4096;
    setsockopt(u.fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    lrt_task_t *s = lrt_spawn(unix_sender, &u);
    lrt_task_t *r = lrt_spawn(unix_receiver, &u);
    CU_ASSERT_EQUAL(lrt_join(s, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(r, NULL), 0);
    CU_ASSERT_EQUAL(u.received, UNIX_N);
    CU_ASSERT_EQUAL(u.first_seen_before_done, 1);
    CU_ASSERT_FALSE(is_nonblocking(u.fds[0]));
    CU_ASSERT_EQUAL(lrt_close(u.fds[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(u.fds[1]), 0);
    return NULL;
}

static void a_unix_datagram_sender_suspends_until_the_receiver_drains(void)
{
    lrt_test_run(NULL, unix_root, NULL);
}

/* recvmsg/sendmsg carry ancillary data: an fd passed with SCM_RIGHTS. */
static void *scm_root(void *arg)
{
    (void)arg;
    int sp[2], pp[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) == 0);
    CU_ASSERT_FATAL(pipe2(pp, O_CLOEXEC) == 0);
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    char one = '1';
    struct iovec iov = {.iov_base = &one, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pp[1], sizeof(int));
    CU_ASSERT_EQUAL(lrt_sendmsg(sp[0], &m, 0), 1);

    char got = 0;
    struct iovec riov = {.iov_base = &got, .iov_len = 1};
    memset(&ctl, 0, sizeof ctl);
    struct msghdr rm = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    CU_ASSERT_EQUAL(lrt_recvmsg(sp[1], &rm, MSG_CMSG_CLOEXEC), 1);
    CU_ASSERT_EQUAL(got, '1');
    struct cmsghdr *rc = CMSG_FIRSTHDR(&rm);
    CU_ASSERT_FATAL(rc != NULL && rc->cmsg_type == SCM_RIGHTS);
    int passed;
    memcpy(&passed, CMSG_DATA(rc), sizeof passed);
    /* the passed fd is the pipe's write end */
    CU_ASSERT_EQUAL(lrt_write(passed, "z", 1), 1);
    char z = 0;
    CU_ASSERT_EQUAL(lrt_read(pp[0], &z, 1), 1);
    CU_ASSERT_EQUAL(z, 'z');
    int fds[] = {passed, pp[0], pp[1], sp[0], sp[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        CU_ASSERT_EQUAL(lrt_close(fds[i]), 0);
    return NULL;
}

static void recvmsg_and_sendmsg_carry_an_fd_over_a_unix_socket(void)
{
    lrt_test_run(NULL, scm_root, NULL);
}

/* ---- not waiting, timeouts, cancellation, bad arguments --------------------------- */

static void *dontwait_root(void *arg)
{
    (void)arg;
    struct sockaddr_in sa;
    int fd = udp_bound(&sa);
    char c;
    CU_ASSERT_EQUAL(lrt_recvfrom(fd, &c, 1, MSG_DONTWAIT, NULL, NULL), -EAGAIN);
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    CU_ASSERT_EQUAL(lrt_recvmsg(fd, &m, MSG_DONTWAIT), -EAGAIN);
    CU_ASSERT_EQUAL(lrt_recvfrom_timeout(fd, &c, 1, 0, NULL, NULL, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_recvfrom_timeout(fd, &c, 1, 0, NULL, NULL, 20), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_recvmsg_timeout(fd, &m, 0, 20), -ETIMEDOUT);
    /* ready: MSG_DONTWAIT and a zero timeout take what is there */
    CU_ASSERT_EQUAL(lrt_sendto(fd, "a", 1, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa), 1);
    CU_ASSERT_EQUAL(lrt_sendto_timeout(fd, "b", 1, 0, (struct sockaddr *)&sa, sizeof sa, 0), 1);
    iov.iov_base = "c";
    CU_ASSERT_EQUAL(lrt_sendmsg_timeout(fd, &(struct msghdr){.msg_name = &sa, .msg_namelen = sizeof sa,
                                                          .msg_iov = &iov, .msg_iovlen = 1}, 0, 0), 1);
    iov.iov_base = &c;
    CU_ASSERT_EQUAL(lrt_recvfrom(fd, &c, 1, MSG_DONTWAIT, NULL, NULL), 1);
    CU_ASSERT_EQUAL(c, 'a');
    CU_ASSERT_EQUAL(lrt_recvfrom_timeout(fd, &c, 1, 0, NULL, NULL, 0), 1);
    CU_ASSERT_EQUAL(c, 'b');
    CU_ASSERT_EQUAL(lrt_recvmsg_timeout(fd, &m, 0, 0), 1);
    CU_ASSERT_EQUAL(c, 'c');
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return NULL;
}

static void msg_dontwait_and_timeouts_do_not_suspend_past_their_bound(void)
{
    lrt_test_run(NULL, dontwait_root, NULL);
}

static ssize_t cancel_rc[4];

static void *cancelled_receiver(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    cancel_rc[0] = lrt_recvfrom(fd, &c, 1, 0, NULL, NULL);
    cancel_rc[1] = lrt_recvmsg(fd, &m, 0); /* every later suspension point too */
    return NULL;
}

static void *closed_receiver(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    cancel_rc[3] = lrt_recvfrom(fd, &c, 1, 0, NULL, NULL);
    return NULL;
}

static void *cancel_root(void *arg)
{
    (void)arg;
    struct sockaddr_in sa;
    int fd = udp_bound(&sa);
    CU_ASSERT_EQUAL(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (int i = 0; i < 4; i++)
        cancel_rc[i] = 1;
    lrt_task_t *t = lrt_spawn(cancelled_receiver, (void *)(intptr_t)fd);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(cancel_rc[0], -ECANCELED);
    CU_ASSERT_EQUAL(cancel_rc[1], -ECANCELED);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 0);
    /* lrt_close wakes a waiting receiver with -EBADF */
    t = lrt_spawn(closed_receiver, (void *)(intptr_t)fd);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 1);
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(cancel_rc[3], -EBADF);
    return NULL;
}

static void abort_and_close_wake_a_task_waiting_for_a_datagram(void)
{
    lrt_test_run(NULL, cancel_root, NULL);
}

static void *bad_args_root(void *arg)
{
    (void)arg;
    char c;
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(lrt_recvfrom(-1, &c, 1, 0, NULL, NULL), -EBADF);
    CU_ASSERT_EQUAL(lrt_sendto(987654, &c, 1, 0, NULL, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_recvmsg(p[0], NULL, 0), -EFAULT);
    CU_ASSERT_EQUAL(lrt_sendmsg(p[1], NULL, 0), -EFAULT);
    /* a pipe is not a socket */
    CU_ASSERT_EQUAL(lrt_sendto(p[1], "x", 1, 0, NULL, 0), -ENOTSOCK);
    CU_ASSERT_EQUAL(lrt_recvfrom(p[0], &c, 1, 0, NULL, NULL), -ENOTSOCK);
    /* an unconnected UDP socket without an address */
    int fd = udp_bound(NULL);
    CU_ASSERT_EQUAL(lrt_sendto(fd, "x", 1, 0, NULL, 0), -EDESTADDRREQ);
    /* an address of the wrong size */
    struct sockaddr_in sa = {.sin_family = AF_INET};
    CU_ASSERT_EQUAL(lrt_sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, 3), -EINVAL);
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    CU_ASSERT_EQUAL(lrt_close(p[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    return NULL;
}

static void bad_arguments_give_a_negative_errno(void)
{
    lrt_test_run(NULL, bad_args_root, NULL);
    /* outside a task */
    char c;
    CU_ASSERT_EQUAL(lrt_recvfrom(0, &c, 1, 0, NULL, NULL), -EPERM);
    CU_ASSERT_EQUAL(lrt_sendmsg(1, &(struct msghdr){0}, 0), -EPERM);
}

/* ---- the dump ----------------------------------------------------------------------- */

static void *dump_receiver(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    return (void *)(intptr_t)lrt_recvfrom(fd, &c, 1, 0, NULL, NULL);
}

static void *dump_root(void *arg)
{
    (void)arg;
    int fd = udp_bound(NULL);
    lrt_task_t *t = lrt_spawn_named("udp-rx", dump_receiver, (void *)(intptr_t)fd);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    CU_ASSERT_FATAL(root != NULL);
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != lrt_task_id(t))
            continue;
        json_t *w = json_object_get(it, "wait");
        char want[48];
        /* io_uring: the recvfrom is a submitted IORING_OP_RECVMSG (dgram.c) */
        int ring = !strcmp(lrt_runtime_driver(lrt_current(), NULL), "io_uring");
        snprintf(want, sizeof want, ring ? "recvmsg fd %d (uring)" : "fd %d (read)", fd);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), ring ? "uring" : "fd");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), want);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(w, "fd")), fd);
        found = 1;
    }
    CU_ASSERT(found);
    json_decref(root);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return NULL;
}

static void a_task_waiting_for_a_datagram_shows_its_fd_in_the_dump(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_dgram[] = {
    {"udp_echo_over_loopback_between_a_server_task_and_a_client_task",
     udp_echo_over_loopback_between_a_server_task_and_a_client_task},
    {"msg_trunc_reports_the_real_length_of_a_cut_datagram", msg_trunc_reports_the_real_length_of_a_cut_datagram},
    {"a_connected_udp_socket_gets_econnrefused_from_a_closed_port",
     a_connected_udp_socket_gets_econnrefused_from_a_closed_port},
    {"a_unix_datagram_sender_suspends_until_the_receiver_drains",
     a_unix_datagram_sender_suspends_until_the_receiver_drains},
    {"recvmsg_and_sendmsg_carry_an_fd_over_a_unix_socket", recvmsg_and_sendmsg_carry_an_fd_over_a_unix_socket},
    {"msg_dontwait_and_timeouts_do_not_suspend_past_their_bound",
     msg_dontwait_and_timeouts_do_not_suspend_past_their_bound},
    {"abort_and_close_wake_a_task_waiting_for_a_datagram", abort_and_close_wake_a_task_waiting_for_a_datagram},
    {"bad_arguments_give_a_negative_errno", bad_arguments_give_a_negative_errno},
    {"a_task_waiting_for_a_datagram_shows_its_fd_in_the_dump", a_task_waiting_for_a_datagram_shows_its_fd_in_the_dump},
    CU_TEST_INFO_NULL,
};
