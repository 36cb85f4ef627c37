/* Tests of the epoll driver and the I/O calls (src/io.c). */
#include "test_util.h"

#include "internal.h" /* lrt__io_registered / lrt__io_foreach / lrt__io_waiters */

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------- */

/* A listening TCP socket on 127.0.0.1, ephemeral port (blocking: lrt makes it
 * non-blocking on first use). */
static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CU_ASSERT_FATAL(listen(fd, 256) == 0);
    socklen_t l = sizeof sa;
    CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &l) == 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct sockaddr_in loopback_addr(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return sa;
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
}

static int connect_loopback(uint16_t port)
{
    int fd = tcp_socket();
    struct sockaddr_in sa = loopback_addr(port);
    int rc = lrt_connect(fd, (struct sockaddr *)&sa, sizeof sa);
    CU_ASSERT_EQUAL(rc, 0);
    return fd;
}

static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* ---- echo over loopback ----------------------------------------------------------- */

#define ECHO_CLIENTS 100
#define ECHO_BYTES 16384

struct echo {
    int lfd;
    uint16_t port;
    int accepted;
    int flags_ok;
};

struct echo_client {
    struct echo *e;
    int id;
};

static void *echo_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = lrt_read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        if (lrt_write_all(fd, buf, (size_t)n) != n)
            break;
    }
    lrt_close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        int c = lrt_accept(e->lfd, NULL, NULL);
        if (c < 0)
            return (void *)(intptr_t)c;
        int fl = fcntl(c, F_GETFL), fdfl = fcntl(c, F_GETFD);
        if ((fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC))
            e->flags_ok++;
        e->accepted++;
        lrt_task_t *h = lrt_spawn(echo_handler, (void *)(intptr_t)c);
        CU_ASSERT_PTR_NOT_NULL(h);
        if (h)
            lrt_task_detach(h);
    }
}

static void *echo_client_fn(void *arg)
{
    struct echo_client *c = arg;
    unsigned char out[ECHO_BYTES], in[ECHO_BYTES];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)(c->id * 31 + i * 7);
    int fd = connect_loopback(c->e->port);
    if (lrt_write_all(fd, out, sizeof out) != (ssize_t)sizeof out)
        return (void *)0;
    shutdown(fd, SHUT_WR); /* the handler sees EOF after the data, closes, we see EOF */
    size_t got = 0;
    for (;;) {
        ssize_t n = lrt_read(fd, in + got, sizeof in - got);
        if (n < 0)
            return (void *)0;
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == sizeof in) {
            char extra;
            if (lrt_read(fd, &extra, 1) != 0)
                return (void *)0;
            break;
        }
    }
    int ok = got == sizeof in && memcmp(in, out, sizeof in) == 0;
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return (void *)(intptr_t)ok;
}

static void *echo_root(void *arg)
{
    (void)arg;
    struct echo e = {0};
    e.lfd = listen_loopback(&e.port);
    lrt_task_t *srv = lrt_spawn(echo_server, &e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
    static struct echo_client cl[ECHO_CLIENTS];
    lrt_task_t *t[ECHO_CLIENTS];
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        cl[i] = (struct echo_client){&e, i};
        t[i] = lrt_spawn(echo_client_fn, &cl[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t[i]);
    }
    int ok = 0;
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        void *res = NULL;
        CU_ASSERT_EQUAL(lrt_join(t[i], &res), 0);
        ok += (int)(intptr_t)res;
    }
    CU_ASSERT_EQUAL(ok, ECHO_CLIENTS);
    CU_ASSERT_EQUAL(e.accepted, ECHO_CLIENTS);
    CU_ASSERT_EQUAL(e.flags_ok, ECHO_CLIENTS);
    /* closing the listener wakes the accept loop with -EBADF */
    CU_ASSERT_EQUAL(lrt_close(e.lfd), 0);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(srv, &res), 0);
    CU_ASSERT_EQUAL((int)(intptr_t)res, -EBADF);
    return NULL;
}

static void echo_over_loopback_with_many_tasks(void) { lrt_test_run(NULL, echo_root, NULL); }

/* ---- pipes ------------------------------------------------------------------------ */

static void *pipe_eof_reader(void *arg)
{
    int fd = *(int *)arg;
    char buf[16];
    ssize_t n = lrt_read(fd, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT(n == 2 && memcmp(buf, "hi", 2) == 0);
    n = lrt_read(fd, buf, sizeof buf);
    CU_ASSERT_EQUAL(n, 0);
    return (void *)1;
}

static void *pipe_eof_root(void *arg)
{
    (void)arg;
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    lrt_task_t *r = lrt_spawn(pipe_eof_reader, &fds[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0); /* the reader now waits in lrt_read */
    CU_ASSERT_EQUAL(lrt_write(fds[1], "hi", 2), 2);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(r, &res), 0);
    CU_ASSERT_PTR_EQUAL(res, (void *)1);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    return NULL;
}

static void pipe_read_returns_zero_after_the_writer_closes(void)
{
    lrt_test_run(NULL, pipe_eof_root, NULL);
}

#define BULK_BYTES (1u << 20)

static void *bulk_writer(void *arg)
{
    int fd = *(int *)arg;
    unsigned char *buf = malloc(BULK_BYTES);
    for (size_t i = 0; i < BULK_BYTES; i++)
        buf[i] = (unsigned char)(i * 13 + (i >> 11));
    ssize_t n = lrt_write_all(fd, buf, BULK_BYTES);
    CU_ASSERT_EQUAL(n, (ssize_t)BULK_BYTES);
    free(buf);
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return NULL;
}

static void *bulk_root(void *arg)
{
    (void)arg;
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    lrt_task_t *w = lrt_spawn(bulk_writer, &fds[1]);
    size_t got = 0, bad = 0;
    unsigned char buf[3000];
    for (;;) {
        ssize_t n = lrt_read(fds[0], buf, sizeof buf);
        CU_ASSERT(n >= 0);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++, got++)
            bad += buf[i] != (unsigned char)(got * 13 + (got >> 11));
    }
    CU_ASSERT_EQUAL(got, BULK_BYTES);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    return NULL;
}

static void pipe_carries_a_megabyte_between_two_tasks(void) { lrt_test_run(NULL, bulk_root, NULL); }

/* ---- hang-ups and resets ---------------------------------------------------------- */

static void *hup_reader(void *arg)
{
    int fd = *(int *)arg;
    char c;
    return (void *)(intptr_t)lrt_read(fd, &c, 1);
}

static void *hup_root(void *arg)
{
    (void)arg;
    /* Unix stream pair: the peer closes while we wait */
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    lrt_task_t *r = lrt_spawn(hup_reader, &sv[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    void *res = (void *)-1;
    CU_ASSERT_EQUAL(lrt_join(r, &res), 0);
    CU_ASSERT_EQUAL((int)(intptr_t)res, 0);
    CU_ASSERT_EQUAL(lrt_write(sv[0], "x", 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);

    /* TCP: the peer resets the connection (SO_LINGER 0) */
    uint16_t port;
    int lfd = listen_loopback(&port);
    int c = connect_loopback(port);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int s = lrt_accept(lfd, (struct sockaddr *)&peer, &plen);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_EQUAL(plen, sizeof peer);
    CU_ASSERT_EQUAL(peer.sin_family, AF_INET);
    CU_ASSERT_EQUAL(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CU_ASSERT(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    r = lrt_spawn(hup_reader, &c);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt_close(s), 0);
    res = NULL;
    CU_ASSERT_EQUAL(lrt_join(r, &res), 0);
    CU_ASSERT_EQUAL((int)(intptr_t)res, -ECONNRESET);
    ssize_t n = lrt_write(c, "x", 1);
    CU_ASSERT(n == -EPIPE || n == -ECONNRESET);
    CU_ASSERT_EQUAL(lrt_close(c), 0);
    CU_ASSERT_EQUAL(lrt_close(lfd), 0);

    /* pipe whose reader is gone: write() would raise SIGPIPE */
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "x", 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_write_all(fds[1], "xy", 2), -EPIPE);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);

    sigset_t pending;
    sigpending(&pending);
    CU_ASSERT(!sigismember(&pending, SIGPIPE));
    return NULL;
}

static void peer_hangup_gives_eof_and_epipe_without_sigpipe(void)
{
    /* The runner ignores SIGPIPE; restore the default (terminate) so a stray SIGPIPE
     * would kill the test instead of passing unnoticed. */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, &old);
    lrt_test_run(NULL, hup_root, NULL);
    sigaction(SIGPIPE, &old, NULL);
}

/* ---- timeouts --------------------------------------------------------------------- */

static void *timeout_root(void *arg)
{
    (void)arg;
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    char buf[8];
    uint64_t t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], buf, sizeof buf, 50), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 50000000u);
    /* timeout 0: one try */
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], buf, sizeof buf, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(write(fds[1], "ab", 2), 2);
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], buf, sizeof buf, 0), 2);
    CU_ASSERT_EQUAL(write(fds[1], "c", 1), 1);
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], buf, sizeof buf, 1000), 1);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);

    /* a full socket: writes time out */
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    static char big[65536];
    ssize_t n;
    size_t total = 0;
    while ((n = lrt_write_timeout(sv[0], big, sizeof big, 0)) > 0)
        total += (size_t)n;
    CU_ASSERT_EQUAL(n, -ETIMEDOUT);
    CU_ASSERT(total > 0);
    t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt_write_timeout(sv[0], big, 1, 20), -ETIMEDOUT);
    CU_ASSERT(lrt_now_ns() - t0 >= 20000000u);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);

    /* accept with nobody connecting */
    uint16_t port;
    int lfd = listen_loopback(&port);
    CU_ASSERT_EQUAL(lrt_accept_timeout(lfd, NULL, NULL, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_accept_timeout(lfd, NULL, NULL, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_close(lfd), 0);
    return NULL;
}

static void read_write_and_accept_time_out_with_etimedout(void)
{
    lrt_test_run_paused(timeout_root, NULL);
}

/* ---- lrt_wait_fd ------------------------------------------------------------------ */

static void *late_writer(void *arg)
{
    int fd = *(int *)arg;
    CU_ASSERT_EQUAL(lrt_sleep_ms(1), 0);
    CU_ASSERT_EQUAL(write(fd, "x", 1), 1);
    return NULL;
}

static void *wait_fd_root(void *arg)
{
    (void)arg;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int r = lrt_wait_fd(sv[0], EPOLLOUT, -1);
    CU_ASSERT(r > 0 && (r & EPOLLOUT) && !(r & EPOLLIN));
    CU_ASSERT_EQUAL(lrt_wait_fd(sv[0], EPOLLIN, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_wait_fd(sv[0], 0, -1), -EINVAL);

    lrt_task_t *w = lrt_spawn(late_writer, &sv[1]);
    r = lrt_wait_fd(sv[0], EPOLLIN, -1);
    CU_ASSERT(r > 0 && (r & EPOLLIN) && !(r & EPOLLOUT));
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    r = lrt_wait_fd(sv[0], EPOLLIN | EPOLLOUT, 100);
    CU_ASSERT(r > 0 && (r & EPOLLIN) && (r & EPOLLOUT));

    /* drained behind lrt's back: wait_fd asks the kernel, not the cache */
    char c;
    CU_ASSERT_EQUAL(read(sv[0], &c, 1), 1);
    CU_ASSERT_EQUAL(lrt_wait_fd(sv[0], EPOLLIN, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_wait_fd(sv[0], EPOLLIN, 5), -ETIMEDOUT);

    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    r = lrt_wait_fd(sv[0], EPOLLIN | EPOLLRDHUP, -1);
    CU_ASSERT(r > 0 && (r & EPOLLIN) && (r & EPOLLRDHUP) && (r & EPOLLHUP));
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void wait_fd_returns_the_ready_events_mask(void) { lrt_test_run(NULL, wait_fd_root, NULL); }

static int woken_readers;

static void *mask_waiter(void *arg)
{
    int fd = *(int *)arg;
    int r = lrt_wait_fd(fd, EPOLLIN, -1);
    if (r > 0 && (r & EPOLLIN))
        woken_readers++;
    return NULL;
}

static void *both_waiter(void *arg)
{
    int fd = *(int *)arg;
    int r = lrt_wait_fd(fd, EPOLLIN | EPOLLRDHUP, -1);
    if (r > 0 && (r & EPOLLIN))
        woken_readers++;
    return NULL;
}

static void *many_waiters_root(void *arg)
{
    (void)arg;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    woken_readers = 0;
    lrt_task_t *t[5];
    for (int i = 0; i < 4; i++)
        t[i] = lrt_spawn(mask_waiter, &sv[0]);
    t[4] = lrt_spawn(both_waiter, &sv[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 5);
    CU_ASSERT_EQUAL(lrt_write(sv[1], "x", 1), 1);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(lrt_join(t[i], NULL), 0);
    CU_ASSERT_EQUAL(woken_readers, 5);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void every_task_waiting_on_one_fd_wakes(void) { lrt_test_run(NULL, many_waiters_root, NULL); }

/* ---- close, bad fds, wrong contexts ----------------------------------------------- */

static ssize_t close_read_rc, close_wait_rc, close_write_rc;

static void *close_reader(void *arg)
{
    char c;
    close_read_rc = lrt_read(*(int *)arg, &c, 1);
    return NULL;
}

static void *close_fd_waiter(void *arg)
{
    close_wait_rc = lrt_wait_fd(*(int *)arg, EPOLLIN, -1);
    return NULL;
}

static void *close_writer(void *arg)
{
    static char big[1 << 16];
    ssize_t n;
    while ((n = lrt_write(*(int *)arg, big, sizeof big)) > 0) {
    }
    close_write_rc = n;
    return NULL;
}

static void *close_root(void *arg)
{
    (void)arg;
    int fds[2], sv[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    close_read_rc = close_wait_rc = close_write_rc = 1;
    lrt_task_t *a = lrt_spawn(close_reader, &fds[0]);
    lrt_task_t *b = lrt_spawn(close_fd_waiter, &fds[0]);
    lrt_task_t *c = lrt_spawn(close_writer, &sv[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 3);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_join(a, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(b, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(c, NULL), 0);
    CU_ASSERT_EQUAL(close_read_rc, -EBADF);
    CU_ASSERT_EQUAL(close_wait_rc, -EBADF);
    CU_ASSERT_EQUAL(close_write_rc, -EBADF);
    CU_ASSERT(!fd_is_open(fds[0]));
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void close_wakes_the_tasks_waiting_on_the_fd_with_ebadf(void)
{
    lrt_test_run(NULL, close_root, NULL);
}

static void *bad_fd_root(void *arg)
{
    (void)arg;
    char c = 0;
    struct sockaddr_in sa = loopback_addr(1);
    CU_ASSERT_EQUAL(lrt_read(-1, &c, 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_write(-1, &c, 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_write_all(-1, &c, 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_read_timeout(-1, &c, 1, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_accept(-1, NULL, NULL), -EBADF);
    CU_ASSERT_EQUAL(lrt_connect(-1, (struct sockaddr *)&sa, sizeof sa), -EBADF);
    CU_ASSERT_EQUAL(lrt_wait_fd(-3, EPOLLIN, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_close(-1), -EBADF);
    CU_ASSERT_EQUAL(lrt_read(1 << 20, &c, 1), -EBADF); /* beyond the table */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd); /* never seen by lrt */
    CU_ASSERT_EQUAL(lrt_read(fd, &c, 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_wait_fd(fd, EPOLLOUT, -1), -EBADF);
    /* closing twice */
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0); /* never registered: just closed */
    CU_ASSERT_EQUAL(lrt_close(fds[0]), -EBADF);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "x", 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "x", 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), -EBADF);
    return NULL;
}

static void bad_or_closed_fds_give_ebadf(void) { lrt_test_run(NULL, bad_fd_root, NULL); }

static void io_outside_a_task_gives_eperm(void)
{
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    char c = 'x';
    struct sockaddr_in sa = loopback_addr(1);
    /* no runtime at all */
    CU_ASSERT_EQUAL(lrt_read(fds[0], &c, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_write(fds[1], &c, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), -EPERM);
    /* a runtime, but no task */
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_read(fds[0], &c, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], &c, 1, 0), -EPERM);
    CU_ASSERT_EQUAL(lrt_write(fds[1], &c, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_write_all(fds[1], &c, 1), -EPERM);
    CU_ASSERT_EQUAL(lrt_accept(fds[0], NULL, NULL), -EPERM);
    CU_ASSERT_EQUAL(lrt_connect(fds[0], (struct sockaddr *)&sa, sizeof sa), -EPERM);
    CU_ASSERT_EQUAL(lrt_wait_fd(fds[0], EPOLLIN, 0), -EPERM);
    lrt_runtime_free(rt);
    /* nothing was done to the fds */
    CU_ASSERT(fd_is_open(fds[0]) && fd_is_open(fds[1]));
    CU_ASSERT_EQUAL(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
    close(fds[0]);
    close(fds[1]);
}

struct thread_calls {
    int fd;
    ssize_t read_rc, write_rc;
    int wait_rc, close_rc, accept_rc;
};

static void *foreign_thread(void *arg)
{
    struct thread_calls *tc = arg;
    char c = 'x';
    tc->read_rc = lrt_read(tc->fd, &c, 1);
    tc->write_rc = lrt_write(tc->fd, &c, 1);
    tc->wait_rc = lrt_wait_fd(tc->fd, EPOLLIN, 0);
    tc->accept_rc = lrt_accept(tc->fd, NULL, NULL);
    tc->close_rc = lrt_close(tc->fd);
    return NULL;
}

static void *thread_root(void *arg)
{
    (void)arg;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    struct thread_calls tc = {.fd = sv[0]};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, foreign_thread, &tc) == 0);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(tc.read_rc, -EPERM);
    CU_ASSERT_EQUAL(tc.write_rc, -EPERM);
    CU_ASSERT_EQUAL(tc.wait_rc, -EPERM);
    CU_ASSERT_EQUAL(tc.accept_rc, -EPERM);
    CU_ASSERT_EQUAL(tc.close_rc, -EPERM);
    CU_ASSERT(fd_is_open(sv[0]));
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void io_from_another_thread_gives_eperm(void) { lrt_test_run(NULL, thread_root, NULL); }

/* ---- cancellation ----------------------------------------------------------------- */

static ssize_t abort_rc1, abort_rc2;
static int abort_close_rc;

static void *abortable_reader(void *arg)
{
    int fd = *(int *)arg;
    char c;
    abort_rc1 = lrt_read(fd, &c, 1);
    abort_rc2 = lrt_read(fd, &c, 1); /* every later suspension point too */
    abort_close_rc = lrt_close(fd);  /* clean-up still works in a cancelled task */
    return NULL;
}

static void *abort_root(void *arg)
{
    (void)arg;
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    abort_rc1 = abort_rc2 = 1;
    abort_close_rc = 1;
    lrt_task_t *t = lrt_spawn(abortable_reader, &fds[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 1);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(abort_rc1, -ECANCELED);
    CU_ASSERT_EQUAL(abort_rc2, -ECANCELED);
    CU_ASSERT_EQUAL(abort_close_rc, 0);
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 0);
    CU_ASSERT(!fd_is_open(fds[0]));
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);
    return NULL;
}

static void abort_of_a_task_waiting_in_read_returns_ecanceled(void)
{
    lrt_test_run(NULL, abort_root, NULL);
}

/* ---- connect ---------------------------------------------------------------------- */

static void *refused_root(void *arg)
{
    (void)arg;
    /* a bound socket that does not listen: the port stays ours and refuses */
    int b = tcp_socket();
    struct sockaddr_in sa = loopback_addr(0);
    CU_ASSERT_FATAL(bind(b, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t l = sizeof sa;
    CU_ASSERT_FATAL(getsockname(b, (struct sockaddr *)&sa, &l) == 0);
    int c = tcp_socket();
    CU_ASSERT_EQUAL(lrt_connect(c, (struct sockaddr *)&sa, sizeof sa), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt_close(c), 0);
    c = tcp_socket();
    CU_ASSERT_EQUAL(lrt_connect_timeout(c, (struct sockaddr *)&sa, sizeof sa, 1000), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt_close(c), 0);
    close(b);
    return NULL;
}

static void connect_to_a_closed_port_gives_econnrefused(void)
{
    lrt_test_run(NULL, refused_root, NULL);
}

/* ---- budget ----------------------------------------------------------------------- */

static int other_ran;

static void *spin_dev_zero(void *arg)
{
    (void)arg;
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    char b[64];
    int i;
    for (i = 0; i < 100000 && !other_ran; i++)
        if (lrt_read(fd, b, sizeof b) != (ssize_t)sizeof b)
            break;
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return (void *)(intptr_t)i;
}

static void *spin_socket(void *arg)
{
    (void)arg;
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    char b[16] = {0};
    int i;
    /* always ready: each write makes the next read succeed */
    for (i = 0; i < 100000 && !other_ran; i++) {
        if (lrt_write(sv[0], b, sizeof b) != (ssize_t)sizeof b)
            break;
        if (lrt_read(sv[1], b, sizeof b) != (ssize_t)sizeof b)
            break;
    }
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return (void *)(intptr_t)i;
}

static void *set_flag(void *arg)
{
    (void)arg;
    other_ran = 1;
    return NULL;
}

static void *budget_root(void *arg)
{
    int limit = (int)(intptr_t)arg;
    lrt_fn spinners[2] = {spin_dev_zero, spin_socket};
    for (int k = 0; k < 2; k++) {
        other_ran = 0;
        lrt_task_t *s = lrt_spawn(spinners[k], NULL);
        lrt_task_t *f = lrt_spawn(set_flag, NULL);
        void *res = NULL;
        CU_ASSERT_EQUAL(lrt_join(s, &res), 0);
        CU_ASSERT_EQUAL(lrt_join(f, NULL), 0);
        CU_ASSERT(other_ran);
        CU_ASSERT((int)(intptr_t)res <= limit);
    }
    return NULL;
}

static void a_task_whose_fd_is_always_ready_still_lets_others_run(void)
{
    lrt_test_run(NULL, budget_root, (void *)(intptr_t)1000); /* default budget 128 */
    lrt_options_t o = {.budget = 4};
    lrt_test_run(&o, budget_root, (void *)(intptr_t)8);
}

/* ---- regular files ---------------------------------------------------------------- */

static void *regular_file_root(void *arg)
{
    (void)arg;
    int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        printf("(skipped: no O_TMPFILE in /tmp) ");
        return NULL;
    }
    CU_ASSERT_EQUAL(lrt_write(fd, "abc", 3), 3);
    CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_SET), 0);
    char buf[8];
    CU_ASSERT_EQUAL(lrt_read(fd, buf, sizeof buf), 3);
    CU_ASSERT_EQUAL(lrt_read(fd, buf, sizeof buf), 0);
    CU_ASSERT_EQUAL(lrt_read_timeout(fd, buf, sizeof buf, 0), 0);
    int r = lrt_wait_fd(fd, EPOLLIN | EPOLLOUT, -1);
    CU_ASSERT(r > 0 && (r & EPOLLIN) && (r & EPOLLOUT));
    CU_ASSERT_EQUAL(lrt_close(fd), 0);
    return NULL;
}

static void regular_files_are_always_ready(void) { lrt_test_run(NULL, regular_file_root, NULL); }

/* ---- registrations ---------------------------------------------------------------- */

struct seen {
    int fd, readers, writers, found;
};

static void seen_fn(int fd, uint32_t ready, int readers, int writers, void *ctx)
{
    (void)ready;
    struct seen *s = ctx;
    if (fd == s->fd) {
        s->found = 1;
        s->readers = readers;
        s->writers = writers;
    }
}

static void *registration_root(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_current();
    size_t base = lrt__io_registered(rt);
    int fds[2];
    CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "x", 1), 1);
    CU_ASSERT_EQUAL(lrt__io_registered(rt), base + 1);
    /* the caller's description stays as it was (see fd_flags tests below) */
    CU_ASSERT_EQUAL(fcntl(fds[1], F_GETFL) & O_NONBLOCK, 0);
    char c;
    CU_ASSERT_EQUAL(lrt_read(fds[0], &c, 1), 1);
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[0], &c, 1, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt__io_registered(rt), base + 2);

    lrt_task_t *r = lrt_spawn(pipe_eof_reader, &fds[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    struct seen s = {.fd = fds[0]};
    lrt__io_foreach(rt, seen_fn, &s);
    CU_ASSERT(s.found && s.readers == 1 && s.writers == 0);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "hi", 2), 2);
    CU_ASSERT_EQUAL(lrt_close(fds[1]), 0);
    CU_ASSERT_EQUAL(lrt__io_registered(rt), base + 1);
    CU_ASSERT_EQUAL(lrt_join(r, NULL), 0);
    CU_ASSERT_EQUAL(lrt_close(fds[0]), 0);
    CU_ASSERT_EQUAL(lrt__io_registered(rt), base);
    s = (struct seen){.fd = fds[0]};
    lrt__io_foreach(rt, seen_fn, &s);
    CU_ASSERT(!s.found);
    return NULL;
}

static void fds_register_on_first_use_and_deregister_on_close(void)
{
    lrt_test_run(NULL, registration_root, NULL);
}

/* ---- O_NONBLOCK stays off the caller's file descriptions ------------------------------ */

/* Open fds of this process, to see that lrt closed what it opened. */
static int count_fds(void) { return lrt_test_count_fds(); }

static int is_nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

struct pipe_case {
    int fds[2];
    int dup_rd; /* a dup of the read end, deregistered with lrt_close */
};

static void *late_pipe_writer(void *arg)
{
    struct pipe_case *pc = arg;
    lrt_sleep_ms(5);
    CU_ASSERT_EQUAL(lrt_write(pc->fds[1], "hello", 5), 5);
    return NULL;
}

static void *inherited_pipe_root(void *arg)
{
    struct pipe_case *pc = arg;
    char buf[16];
    /* empty: the attempt must not block the thread although the description does */
    CU_ASSERT_EQUAL(lrt_read_timeout(pc->fds[0], buf, sizeof buf, 20), -ETIMEDOUT);
    lrt_task_t *w = lrt_spawn(late_pipe_writer, pc);
    CU_ASSERT_EQUAL(lrt_read(pc->fds[0], buf, sizeof buf), 5);
    CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
    CU_ASSERT_EQUAL(lrt_join(w, NULL), 0);
    CU_ASSERT_FALSE(is_nonblocking(pc->fds[0]));
    CU_ASSERT_FALSE(is_nonblocking(pc->fds[1]));
    /* the deregistration path: lrt_close of a dup leaves the shared description alone */
    CU_ASSERT_EQUAL(write(pc->fds[1], "x", 1), 1);
    CU_ASSERT_EQUAL(lrt_read(pc->dup_rd, buf, 1), 1);
    CU_ASSERT_EQUAL(lrt_close(pc->dup_rd), 0);
    CU_ASSERT_FALSE(is_nonblocking(pc->fds[0]));
    return NULL;
}

static void an_inherited_pipe_stays_blocking_while_lrt_reads_and_writes_it(void)
{
    struct pipe_case pc;
    CU_ASSERT_FATAL(pipe2(pc.fds, O_CLOEXEC) == 0);
    pc.dup_rd = dup(pc.fds[0]);
    CU_ASSERT_FATAL(pc.dup_rd >= 0);
    int before = count_fds();
    lrt_test_run(NULL, inherited_pipe_root, &pc);
    /* the private descriptions went with the runtime; the dup went with lrt_close */
    CU_ASSERT_EQUAL(count_fds(), before - 1);
    CU_ASSERT_FALSE(is_nonblocking(pc.fds[0]));
    CU_ASSERT_FALSE(is_nonblocking(pc.fds[1]));
    /* still a plain blocking pipe for whoever uses it next */
    CU_ASSERT_EQUAL(write(pc.fds[1], "z", 1), 1);
    char c = 0;
    CU_ASSERT_EQUAL(read(pc.fds[0], &c, 1), 1);
    CU_ASSERT_EQUAL(c, 'z');
    close(pc.fds[0]);
    close(pc.fds[1]);
}

/* Reads stdin to EOF (arg 0), or dies by SIGKILL in the middle of reading (arg 1). */
static void *stdin_reader(void *arg)
{
    char buf[64];
    size_t total = 0;
    ssize_t k;
    while ((k = lrt_read(0, buf, sizeof buf)) > 0) {
        total += (size_t)k;
        if (arg)
            raise(SIGKILL); /* a crash cannot undo anything: nothing must need undoing */
    }
    return (void *)(uintptr_t)(k == 0 && total == 10 ? 0 : 1);
}

/* A child whose stdin is a pipe, as in `producer | child | next`.  Exit 0 = read all of
 * stdin and saw it blocking. */
static int stdin_child(int crash, int rd)
{
    alarm(20);
    if (dup2(rd, 0) < 0)
        return 10;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 11;
    void *res = (void *)1;
    int rc = lrt_block_on(rt, stdin_reader, (void *)(intptr_t)crash, &res);
    if (is_nonblocking(0))
        return 13; /* checked with the runtime alive too */
    lrt_runtime_free(rt);
    if (rc != 0 || res != NULL)
        return 12;
    return is_nonblocking(0) ? 14 : 0;
}

static void run_stdin_child(int crash)
{
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        _exit(stdin_child(crash, p[0]));
    }
    /* the parent keeps its copy of the read end: it shares the child's description, as
     * the next command of a pipeline shares the shell's stdin */
    CU_ASSERT_EQUAL(write(p[1], "0123456789", 10), 10);
    close(p[1]);
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    if (crash) {
        CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    } else {
        CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CU_ASSERT_FALSE(is_nonblocking(p[0]));
    close(p[0]);
}

static void a_childs_pipe_stdin_stays_blocking_for_the_next_reader(void) { run_stdin_child(0); }

static void a_child_killed_while_reading_stdin_leaves_it_blocking(void) { run_stdin_child(1); }

/* A child whose stdout is a pipe to a slow reader (`child | slow`): lrt_write_all of
 * 256 KiB to fd 1 (four pipefuls) waits for the reader, and stdout stays blocking. */
static void *stdout_writer(void *arg)
{
    (void)arg;
    enum { N = 256 << 10 };
    char *data = malloc(N);
    if (!data)
        return (void *)1;
    memset(data, 'o', N);
    ssize_t k = lrt_write_all(1, data, N);
    free(data);
    return (void *)(uintptr_t)(k == N ? 0 : 1);
}

static int stdout_child(int wr)
{
    alarm(20);
    if (dup2(wr, 1) < 0)
        return 10;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 11;
    void *res = (void *)1;
    int rc = lrt_block_on(rt, stdout_writer, NULL, &res);
    lrt_runtime_free(rt);
    if (rc != 0 || res != NULL)
        return 12;
    return is_nonblocking(1) ? 13 : 0;
}

static void a_childs_pipe_stdout_stays_blocking_with_a_slow_reader(void)
{
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
    fflush(stdout);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        _exit(stdout_child(p[1]));
    }
    /* the parent keeps the write end: it shares the child's stdout description */
    size_t got = 0;
    char buf[8192];
    ssize_t k;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    int st = 0;
    for (;;) {
        /* the parent's own write end means no EOF: never wait without a bound */
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        if (poll(&pf, 1, 10000) <= 0)
            break;
        k = read(p[0], buf, sizeof buf);
        if (k > 0)
            got += (size_t)k;
        if (got >= (256u << 10) || k <= 0)
            break;
        nanosleep(&ts, NULL); /* slow: 8 KiB per ms */
    }
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_EQUAL(got, 256u << 10);
    CU_ASSERT_FALSE(is_nonblocking(p[1]));
    close(p[0]);
    close(p[1]);
}

struct slow_pipe {
    int fds[2];
    size_t got;
    atomic_int writing;
    int ticks;
};

/* A reader slower than the writer: 16 KiB, then a 2 ms pause. */
static void *slow_reader_thread(void *arg)
{
    struct slow_pipe *sp = arg;
    static char buf[16384];
    ssize_t k;
    while ((k = read(sp->fds[0], buf, sizeof buf)) > 0) {
        sp->got += (size_t)k;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *ticker(void *arg)
{
    struct slow_pipe *sp = arg;
    while (atomic_load(&sp->writing)) {
        lrt_sleep_ms(1);
        sp->ticks++;
    }
    return NULL;
}

static void *slow_pipe_root(void *arg)
{
    struct slow_pipe *sp = arg;
    enum { N = 1 << 20 };
    char *data = malloc(N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    memset(data, 'q', N);
    atomic_store(&sp->writing, 1);
    lrt_task_t *t = lrt_spawn(ticker, sp);
    CU_ASSERT_EQUAL(lrt_write_all(sp->fds[1], data, N), N);
    atomic_store(&sp->writing, 0);
    CU_ASSERT_FALSE(is_nonblocking(sp->fds[1]));
    CU_ASSERT_EQUAL(lrt_close(sp->fds[1]), 0); /* the reader sees EOF */
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    free(data);
    return NULL;
}

static void a_slow_reader_of_a_blocking_pipe_does_not_block_the_runtime(void)
{
    struct slow_pipe sp = {.got = 0, .writing = 0, .ticks = 0};
    CU_ASSERT_FATAL(pipe2(sp.fds, O_CLOEXEC) == 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, slow_reader_thread, &sp) == 0);
    lrt_test_run(NULL, slow_pipe_root, &sp);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(sp.got, 1u << 20);
    /* the writer waited for the reader ~64 times, 2 ms each: the other task ran meanwhile */
    CU_ASSERT(sp.ticks > 0);
    close(sp.fds[0]);
}

static void *tty_root(void *arg)
{
    int *fds = arg; /* master, slave */
    char buf[16];
    CU_ASSERT_EQUAL(lrt_read_timeout(fds[1], buf, sizeof buf, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(write(fds[0], "hi\n", 3), 3);
    CU_ASSERT_EQUAL(lrt_read(fds[1], buf, sizeof buf), 3);
    CU_ASSERT_EQUAL(lrt_write(fds[1], "ok\n", 3), 3);
    CU_ASSERT_FALSE(is_nonblocking(fds[1]));
    return NULL;
}

static void a_terminal_stays_blocking_while_lrt_reads_and_writes_it(void)
{
    int fds[2];
    if (openpty(&fds[0], &fds[1], NULL, NULL, NULL) < 0) {
        printf("skipped: openpty: %s ", strerror(errno));
        return;
    }
    lrt_test_run(NULL, tty_root, fds);
    CU_ASSERT_FALSE(is_nonblocking(fds[1]));
    close(fds[0]);
    close(fds[1]);
}

static void *blocking_socket_root(void *arg)
{
    int *sv = arg;
    char buf[8];
    CU_ASSERT_EQUAL(lrt_read_timeout(sv[0], buf, sizeof buf, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_write(sv[1], "abc", 3), 3);
    CU_ASSERT_EQUAL(lrt_read(sv[0], buf, sizeof buf), 3);
    CU_ASSERT_FALSE(is_nonblocking(sv[0]));
    CU_ASSERT_FALSE(is_nonblocking(sv[1]));
    return NULL;
}

static void a_blocking_socket_is_read_and_written_without_o_nonblock(void)
{
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    lrt_test_run(NULL, blocking_socket_root, sv);
    CU_ASSERT_FALSE(is_nonblocking(sv[0]));
    CU_ASSERT_FALSE(is_nonblocking(sv[1]));
    close(sv[0]);
    close(sv[1]);
}

struct last_resort {
    int listener, efd, efd_dup;
};

static void *last_resort_root(void *arg)
{
    struct last_resort *lr = arg;
    /* accept needs the flag on the listener itself (epoll; io_uring accepts without it) */
    CU_ASSERT_EQUAL(lrt_accept_timeout(lr->listener, NULL, NULL, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(is_nonblocking(lr->listener), !strcmp(lrt_runtime_driver(lrt_current(), NULL), "epoll"));
    /* /proc cannot reopen an eventfd */
    uint64_t v;
    CU_ASSERT_EQUAL(lrt_read_timeout(lr->efd_dup, &v, sizeof v, 10), -ETIMEDOUT);
    CU_ASSERT_TRUE(is_nonblocking(lr->efd));
    CU_ASSERT_EQUAL(lrt_close(lr->efd_dup), 0);
    CU_ASSERT_FALSE(is_nonblocking(lr->efd));
    return NULL;
}

static void o_nonblock_set_as_a_last_resort_is_cleared_at_deregistration(void)
{
    struct last_resort lr;
    uint16_t port;
    lr.listener = listen_loopback(&port);
    lr.efd = eventfd(0, EFD_CLOEXEC);
    CU_ASSERT_FATAL(lr.efd >= 0);
    lr.efd_dup = dup(lr.efd);
    CU_ASSERT_FATAL(lr.efd_dup >= 0);
    lrt_test_run(NULL, last_resort_root, &lr);
    CU_ASSERT_FALSE(is_nonblocking(lr.listener)); /* cleared at runtime free */
    CU_ASSERT_FALSE(is_nonblocking(lr.efd));
    close(lr.listener);
    close(lr.efd);
}

/* ---- a pipe lrt cannot reopen ------------------------------------------------------ */

/* After a privilege drop (sudo -u, a daemon's setuid) the inherited pipe belongs to
 * another uid: /proc/self/fd/N cannot be reopened (EACCES); out of fds (EMFILE) it cannot
 * either.  So lrt has no private description: O_NONBLOCK must then be on the shared
 * description only for the length of each attempt, not while the task waits, and not
 * after a SIGKILL. */
enum { CANNOT_REOPEN_UID, CANNOT_REOPEN_EMFILE };

struct drop_case {
    int data[2], ready[2];
    int how;
};

static void *dropped_waiter(void *arg)
{
    char c;
    return (void *)(intptr_t)lrt_read(*(int *)arg, &c, 1);
}

static void *dropped_root(void *arg)
{
    struct drop_case *dc = arg;
    if (dc->how == CANNOT_REOPEN_EMFILE) {
        /* the lowest free number becomes the limit: no new fd from here on */
        int probe = dup(0);
        close(probe);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)probe;
        if (probe < 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0 || dup(0) >= 0)
            return (void *)1;
    }
    char buf[8] = {0};
    /* "hello" is there: read through the flag toggled around the attempt */
    ssize_t k = lrt_read(dc->data[0], buf, 5);
    char report = k == 5 && memcmp(buf, "hello", 5) == 0 ? 'r' : 'f';
    /* then a task suspended on the empty pipe while the parent looks at the flag */
    lrt_task_t *t = lrt_spawn(dropped_waiter, &dc->data[0]);
    lrt_yield();
    if (write(dc->ready[1], &report, 1) != 1)
        return (void *)1;
    lrt_sleep_ms(20000); /* killed here */
    lrt_abort(t);
    lrt_join(t, NULL);
    return NULL;
}

static int dropped_child(void *arg)
{
    struct drop_case *dc = arg;
    if (dc->how == CANNOT_REOPEN_UID &&
        (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0))
        return 10;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 11;
    lrt_block_on(rt, dropped_root, dc, NULL);
    lrt_runtime_free(rt);
    return 0;
}

static void run_cannot_reopen(int how)
{
    struct drop_case dc = {.how = how};
    CU_ASSERT_FATAL(pipe2(dc.data, O_CLOEXEC) == 0);
    CU_ASSERT_FATAL(pipe2(dc.ready, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(write(dc.data[1], "hello", 5), 5);
    fflush(stdout);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        alarm(30);
        _exit(dropped_child(&dc));
    }
    close(dc.ready[1]);
    struct pollfd pf = {.fd = dc.ready[0], .events = POLLIN};
    char report = 0;
    CU_ASSERT(poll(&pf, 1, 20000) == 1 && read(dc.ready[0], &report, 1) == 1);
    CU_ASSERT_EQUAL(report, 'r');
    /* the child's task waits in lrt_read on the shared description */
    CU_ASSERT_FALSE(is_nonblocking(dc.data[0]));
    kill(pid, SIGKILL);
    int st = 0;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CU_ASSERT_FALSE(is_nonblocking(dc.data[0]));
    close(dc.data[0]);
    close(dc.data[1]);
    close(dc.ready[0]);
}

static void a_pipe_lrt_cannot_reopen_is_nonblocking_only_during_each_attempt(void)
{
    if (geteuid() != 0) {
        printf("\n    skipped: needs root to drop privileges (setresuid)\n");
        return;
    }
    run_cannot_reopen(CANNOT_REOPEN_UID);
}

static void a_pipe_registered_while_out_of_fds_is_nonblocking_only_during_each_attempt(void)
{
    run_cannot_reopen(CANNOT_REOPEN_EMFILE);
}

CU_TestInfo lrt_test_io[] = {
    {"echo_over_loopback_with_many_tasks", echo_over_loopback_with_many_tasks},
    {"pipe_read_returns_zero_after_the_writer_closes", pipe_read_returns_zero_after_the_writer_closes},
    {"pipe_carries_a_megabyte_between_two_tasks", pipe_carries_a_megabyte_between_two_tasks},
    {"peer_hangup_gives_eof_and_epipe_without_sigpipe", peer_hangup_gives_eof_and_epipe_without_sigpipe},
    {"read_write_and_accept_time_out_with_etimedout", read_write_and_accept_time_out_with_etimedout},
    {"wait_fd_returns_the_ready_events_mask", wait_fd_returns_the_ready_events_mask},
    {"every_task_waiting_on_one_fd_wakes", every_task_waiting_on_one_fd_wakes},
    {"close_wakes_the_tasks_waiting_on_the_fd_with_ebadf", close_wakes_the_tasks_waiting_on_the_fd_with_ebadf},
    {"bad_or_closed_fds_give_ebadf", bad_or_closed_fds_give_ebadf},
    {"io_outside_a_task_gives_eperm", io_outside_a_task_gives_eperm},
    {"io_from_another_thread_gives_eperm", io_from_another_thread_gives_eperm},
    {"abort_of_a_task_waiting_in_read_returns_ecanceled", abort_of_a_task_waiting_in_read_returns_ecanceled},
    {"connect_to_a_closed_port_gives_econnrefused", connect_to_a_closed_port_gives_econnrefused},
    {"a_task_whose_fd_is_always_ready_still_lets_others_run", a_task_whose_fd_is_always_ready_still_lets_others_run},
    {"fds_register_on_first_use_and_deregister_on_close", fds_register_on_first_use_and_deregister_on_close},
    {"regular_files_are_always_ready", regular_files_are_always_ready},
    {"an_inherited_pipe_stays_blocking_while_lrt_reads_and_writes_it", an_inherited_pipe_stays_blocking_while_lrt_reads_and_writes_it},
    {"a_childs_pipe_stdin_stays_blocking_for_the_next_reader", a_childs_pipe_stdin_stays_blocking_for_the_next_reader},
    {"a_child_killed_while_reading_stdin_leaves_it_blocking", a_child_killed_while_reading_stdin_leaves_it_blocking},
    {"a_childs_pipe_stdout_stays_blocking_with_a_slow_reader", a_childs_pipe_stdout_stays_blocking_with_a_slow_reader},
    {"a_slow_reader_of_a_blocking_pipe_does_not_block_the_runtime", a_slow_reader_of_a_blocking_pipe_does_not_block_the_runtime},
    {"a_terminal_stays_blocking_while_lrt_reads_and_writes_it", a_terminal_stays_blocking_while_lrt_reads_and_writes_it},
    {"a_blocking_socket_is_read_and_written_without_o_nonblock", a_blocking_socket_is_read_and_written_without_o_nonblock},
    {"o_nonblock_set_as_a_last_resort_is_cleared_at_deregistration", o_nonblock_set_as_a_last_resort_is_cleared_at_deregistration},
    {"a_pipe_lrt_cannot_reopen_is_nonblocking_only_during_each_attempt",
     a_pipe_lrt_cannot_reopen_is_nonblocking_only_during_each_attempt},
    {"a_pipe_registered_while_out_of_fds_is_nonblocking_only_during_each_attempt",
     a_pipe_registered_while_out_of_fds_is_nonblocking_only_during_each_attempt},
    CU_TEST_INFO_NULL,
};
