/* The io_uring backend: the choice of backend (auto, explicit, refused by a seccomp
 * filter), completion-based I/O interrupted at every point (abort, timeouts, close,
 * shutdown) without a byte or a connection lost and without the kernel writing into a
 * stack that was given back, and the dump of an operation in flight.  Every test forces
 * the io_uring backend itself (LRT_DRIVER=uring, restored after), whatever driver the
 * rest of the run uses. */
#include "uring_util.h"

#include <fcntl.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* A runtime on io_uring with every poll followed by an I/O check (event_interval 1), so
 * an operation a task queued reaches the kernel before the test interrupts it. */
static unsigned interval = 1;

/* Whether io_uring works here; says so on stderr when it does not (a skip is never
 * silent): a kernel without it, or a sandbox refusing it, runs the suite on epoll. */
static bool uring_here(void)
{
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.driver = LRT_DRIVER_URING;
    lrt_test_force_driver(NULL);
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    int e = errno;
    lrt_test_restore_driver();
    if (rt) {
        lrt_runtime_free(rt);
        return true;
    }
    fprintf(stderr, "[skipped: io_uring unavailable here: %s] ", strerror(e));
    return false;
}

static void *run_uring(lrt_fn fn, void *arg)
{
    void *res = NULL;
    if (uring_here())
        lrt_test_run_on("uring", interval, fn, arg, &res);
    return res;
}

static void stream_pair(int sv[2])
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
}

static int listen_loopback(struct sockaddr_in *a) { return lrt_test_listen_loopback(a, 4096, SOCK_NONBLOCK); }

/* ---- the choice of backend ---------------------------------------------------------- */

static void auto_picks_io_uring_where_the_kernel_allows_it(void)
{
    if (!uring_here())
        return;
    lrt_test_force_driver(NULL);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    const char *why = NULL;
    CU_ASSERT_STRING_EQUAL(lrt_runtime_driver(rt, &why), "io_uring");
    CU_ASSERT_PTR_NOT_NULL_FATAL(why);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "auto"));
    lrt_runtime_free(rt);
    /* the option, and the environment over it */
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.driver = LRT_DRIVER_EPOLL;
    rt = lrt_runtime_new(&o);
    CU_ASSERT_STRING_EQUAL(lrt_runtime_driver(rt, NULL), "epoll");
    lrt_runtime_free(rt);
    setenv("LRT_DRIVER", "uring", 1);
    rt = lrt_runtime_new(&o);
    CU_ASSERT_STRING_EQUAL(lrt_runtime_driver(rt, &why), "io_uring");
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "LRT_DRIVER"));
    lrt_runtime_free(rt);
    o.driver = 7;
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_runtime_new(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(lrt_runtime_driver(NULL, NULL));
    lrt_test_restore_driver();
}

/* Echo one message through a socketpair on the current runtime: the program works. */
static void *echo_root(void *arg)
{
    (void)arg;
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    char buf[8] = {0};
    ssize_t w = lrt_write(sv[0], "ping", 4);
    ssize_t r = lrt_read(sv[1], buf, sizeof buf);
    lrt_close(sv[0]);
    lrt_close(sv[1]);
    return (void *)(intptr_t)(w == 4 && r == 4 && !memcmp(buf, "ping", 4));
}

/* In a child: a seccomp filter answers io_uring_setup with @arg's errno, as a container
 * runtime's default profile does.  Exit status: the number of failed checks. */
static int refused_child(void *arg)
{
    int err = (int)(intptr_t)arg;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return 100;
    int bad = 0;
    unsetenv("LRT_DRIVER");
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 101;
    const char *why = NULL;
    const char *d = lrt_runtime_driver(rt, &why);
    bad += strcmp(d, "epoll") != 0;
    bad += !strstr(why, err == EPERM ? "EPERM" : "ENOSYS");
    fprintf(stderr, "driver %s: %s\n", d, why);
    void *ok = NULL;
    bad += lrt_block_on(rt, echo_root, NULL, &ok) != 0 || ok != (void *)1;
    char *js = lrt_dump_json(rt, 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    json_t *r = json_object_get(root, "runtime");
    bad += !r || strcmp(json_string_value(json_object_get(r, "driver")), "epoll") != 0;
    bad += !r || !strstr(json_string_value(json_object_get(r, "driver_reason")), "io_uring_setup");
    json_decref(root);
    free(js);
    lrt_runtime_free(rt);
    /* asked for explicitly, io_uring that cannot work is an error, not a silent epoll */
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.driver = LRT_DRIVER_URING;
    errno = 0;
    bad += lrt_runtime_new(&o) != NULL || errno != err;
    setenv("LRT_DRIVER", "uring", 1);
    errno = 0;
    bad += lrt_runtime_new(NULL) != NULL || errno != err;
    return bad;
}

static void a_refused_io_uring_falls_back_to_epoll_and_says_why(void)
{
    static const int errs[] = {EPERM, ENOSYS};
    for (size_t i = 0; i < 2; i++) {
        char out[2048];
        int st = lrt_test_fork_capture(refused_child, (void *)(intptr_t)errs[i], out, sizeof out);
        CU_ASSERT_TRUE(WIFEXITED(st));
        CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "driver epoll: auto: io_uring_setup: "));
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "io_uring requested"));
        if (WEXITSTATUS(st))
            fprintf(stderr, "child said: %s\n", out);
    }
}

/* ---- interrupted operations --------------------------------------------------------- */

enum { ROUNDS = 2000 };

struct rd {
    int fd;
    int64_t timeout;
    char got[64];
};

static void *reader_task(void *arg)
{
    struct rd *r = arg;
    char buf[64]; /* on this task's stack: what the kernel would write into */
    ssize_t k = lrt_read_timeout(r->fd, buf, sizeof buf, r->timeout);
    if (k > 0)
        memcpy(r->got, buf, (size_t)k);
    return (void *)(intptr_t)k;
}

/* Abort a task in recv, in flight or only queued, thousands of times; each time write
 * a message after the abort: it is either the task's result or still in the socket. */
static void *abort_mid_recv_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    int lost = 0, taken = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct rd r = {.fd = sv[0], .timeout = -1};
        lrt_task_t *t = lrt_spawn(reader_task, &r);
        /* 0: never ran; 1: queued; 2: in the kernel; 3: in the kernel, the message sent
         * before the abort (the kernel may be copying it while the task is woken) */
        int phase = i % 4;
        for (int y = 0; y < (phase < 3 ? phase : 2); y++)
            lrt_yield();
        char msg[16];
        int n = snprintf(msg, sizeof msg, "m%d", i);
        if (phase == 3)
            CU_ASSERT_EQUAL(send(sv[1], msg, (size_t)n, 0), n);
        lrt_abort(t);
        if (phase != 3)
            CU_ASSERT_EQUAL(send(sv[1], msg, (size_t)n, 0), n);
        void *res = (void *)(intptr_t)-ECANCELED; /* kept when it never ran */
        int jr = lrt_join(t, &res);
        CU_ASSERT(jr == 0 || jr == -ECANCELED);
        lrt_test_scribble_stack();
        ssize_t k = (ssize_t)(intptr_t)res;
        char left[64];
        ssize_t m = recv(sv[0], left, sizeof left, MSG_DONTWAIT);
        taken += k > 0;
        int bad = lrt_test_abort_round_bad(k, r.got, m, left, msg, n);
        if (bad && lost < 5)
            fprintf(stderr, "\nround %d (phase %d): task got %zd, %zd left in the socket\n", i, phase, k, m);
        lost += bad;
    }
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT(taken < ROUNDS);
    lrt_close(sv[0]);
    lrt_close(sv[1]);
    return NULL;
}

static void tasks_aborted_mid_recv_lose_nothing_and_never_write_into_a_dead_stack(void)
{
    run_uring(abort_mid_recv_root, NULL);
    /* the default interval: an operation the task queued is still queued when it is
     * aborted, and reaches the kernel with its cancellation, behind the message: the
     * kernel copies the message into the buffer before it sees the cancellation */
    interval = 0;
    run_uring(abort_mid_recv_root, NULL);
    interval = 1;
}

struct ac {
    int fd;
};

static void *accept_task(void *arg)
{
    struct ac *a = arg;
    struct sockaddr_storage ss; /* on the stack: the kernel writes the peer here */
    socklen_t len = sizeof ss;
    return (void *)(intptr_t)lrt_accept(a->fd, (struct sockaddr *)&ss, &len);
}

/* Abort a task in accept, then connect: the connection is either the task's result or
 * the next accept's (the listener's multishot accept may already have taken it from the
 * backlog: then it waits in lrt's queue), never accepted into nowhere. */
static void *abort_mid_accept_root(void *arg)
{
    (void)arg;
    struct sockaddr_in a;
    int l = listen_loopback(&a);
    int lost = 0;
    for (int i = 0; i < ROUNDS / 2; i++) {
        struct ac c = {.fd = l};
        lrt_task_t *t = lrt_spawn(accept_task, &c);
        for (int y = 0; y < i % 3; y++)
            lrt_yield();
        lrt_abort(t);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CU_ASSERT_EQUAL(connect(s, (struct sockaddr *)&a, sizeof a), 0);
        void *res = (void *)(intptr_t)-ECANCELED;
        int jr = lrt_join(t, &res);
        CU_ASSERT(jr == 0 || jr == -ECANCELED);
        lrt_test_scribble_stack();
        int k = (int)(intptr_t)res;
        if (k >= 0) {
            lrt_close(k);
        } else {
            int b = lrt_accept_timeout(l, NULL, NULL, 1000);
            lost += k != -ECANCELED || b < 0;
            if (b >= 0)
                lrt_close(b);
        }
        close(s);
    }
    CU_ASSERT_EQUAL(lost, 0);
    lrt_close(l);
    return NULL;
}

static void tasks_aborted_mid_accept_lose_no_connection(void)
{
    run_uring(abort_mid_accept_root, NULL);
}

struct wr {
    int fd;
};

static void *writer_task(void *arg)
{
    struct wr *w = arg;
    char buf[32768]; /* on the stack: the kernel reads it until the send completes */
    memset(buf, 'w', sizeof buf);
    return (void *)(intptr_t)lrt_write(w->fd, buf, sizeof buf);
}

/* Abort a task in a send that cannot complete (the peer's buffer is full): what the
 * task reports sent is exactly what the peer receives beyond what was there. */
static void *abort_mid_write_root(void *arg)
{
    (void)arg;
    int bad = 0;
    for (int i = 0; i < ROUNDS / 4; i++) {
        int sv[2];
        stream_pair(sv);
        int small = 4096;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        char fill[4096];
        memset(fill, 'f', sizeof fill);
        size_t pre = 0;
        ssize_t k;
        while ((k = send(sv[0], fill, sizeof fill, MSG_DONTWAIT)) > 0)
            pre += (size_t)k;
        struct wr w = {.fd = sv[0]};
        lrt_task_t *t = lrt_spawn(writer_task, &w);
        for (int y = 0; y < 1 + i % 2; y++)
            lrt_yield();
        lrt_abort(t);
        void *res = (void *)(intptr_t)-ECANCELED;
        int jr = lrt_join(t, &res);
        CU_ASSERT(jr == 0 || jr == -ECANCELED);
        lrt_test_scribble_stack();
        k = (ssize_t)(intptr_t)res;
        size_t got = 0, ws = 0;
        char in[8192];
        ssize_t m;
        while ((m = recv(sv[1], in, sizeof in, MSG_DONTWAIT)) > 0) {
            for (ssize_t j = 0; j < m; j++)
                ws += in[j] == 'w';
            got += (size_t)m;
        }
        bad += k == -ECANCELED ? got != pre || ws != 0 : k <= 0 || got != pre + (size_t)k || ws != (size_t)k;
        lrt_close(sv[0]);
        lrt_close(sv[1]);
    }
    CU_ASSERT_EQUAL(bad, 0);
    return NULL;
}

static void tasks_aborted_mid_write_send_exactly_what_they_report(void)
{
    run_uring(abort_mid_write_root, NULL);
}

static void *writer_later(void *arg)
{
    int *fd = arg;
    for (int i = 0; i < 200; i++) {
        if (i % 7 == 0)
            lrt_sleep_ms(1);
        char c = (char)('a' + i % 26);
        lrt_write(*fd, &c, 1);
    }
    return NULL;
}

/* Reads with a 1-2 ms timeout while a writer sends 200 bytes at odd moments: the bytes
 * read (before timeouts and after) are exactly the bytes written, in order. */
static void *timeouts_mid_read_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    lrt_task_t *w = lrt_spawn(writer_later, &sv[1]);
    char got[256];
    size_t n = 0;
    int timeouts = 0;
    while (n < 200) {
        ssize_t k = lrt_read_timeout(sv[0], got + n, sizeof got - n, 1 + timeouts % 2);
        if (k == -ETIMEDOUT) {
            timeouts++;
            continue;
        }
        CU_ASSERT_FATAL(k > 0);
        n += (size_t)k;
    }
    CU_ASSERT_EQUAL(n, 200);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(got[i], (char)('a' + i % 26));
    CU_ASSERT(timeouts > 0);
    lrt_join(w, NULL);
    lrt_close(sv[0]);
    lrt_close(sv[1]);
    return NULL;
}

static void a_read_timeout_mid_read_loses_no_byte(void)
{
    run_uring(timeouts_mid_read_root, NULL);
}

static void *closer_task(void *arg)
{
    int *fd = arg;
    lrt_sleep_ms(2);
    return (void *)(intptr_t)lrt_close(*fd);
}

static void *close_while_reading_root(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        int sv[2];
        stream_pair(sv);
        struct rd r = {.fd = sv[0], .timeout = -1};
        lrt_task_t *rt = lrt_spawn(reader_task, &r);
        lrt_task_t *ct = lrt_spawn(closer_task, &sv[0]);
        void *res;
        CU_ASSERT_EQUAL(lrt_join(rt, &res), 0);
        CU_ASSERT_EQUAL((ssize_t)(intptr_t)res, -EBADF);
        CU_ASSERT_EQUAL(lrt_join(ct, &res), 0);
        CU_ASSERT_EQUAL((intptr_t)res, 0);
        /* the number may be reused at once: a new registration, a new socket */
        int sv2[2];
        stream_pair(sv2);
        CU_ASSERT_EQUAL(lrt_write(sv2[1], "x", 1), 1);
        char c;
        CU_ASSERT_EQUAL(lrt_read(sv2[0], &c, 1), 1);
        lrt_close(sv2[0]);
        lrt_close(sv2[1]);
        lrt_close(sv[1]);
    }
    return NULL;
}

static void closing_an_fd_wakes_its_reader_with_ebadf(void)
{
    run_uring(close_while_reading_root, NULL);
}

/* Shutdown with operations in flight: every task is cancelled, its operation with it,
 * and lrt_runtime_free returns (no task left, nothing leaked). */
static void *shutdown_root(void *arg)
{
    int *sv = arg;
    static struct rd r[16];
    for (int i = 0; i < 16; i++) {
        r[i].fd = sv[0];
        r[i].timeout = -1;
        lrt_task_detach(lrt_spawn(reader_task, &r[i]));
    }
    lrt_sleep_ms(1);
    return NULL;
}

static void shutdown_cancels_operations_in_flight(void)
{
    if (!uring_here())
        return;
    int sv[2];
    stream_pair(sv);
    run_uring(shutdown_root, sv);
    /* nothing was consumed by an operation that outlived its task */
    CU_ASSERT_EQUAL(send(sv[1], "z", 1, 0), 1);
    char c;
    CU_ASSERT_EQUAL(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
    close(sv[0]);
    close(sv[1]);
}

/* A length beyond what one operation can carry (the ring's 32-bit length) is clamped
 * as read(2) clamps it, not truncated: 4 GiB must not become a 0-byte read. */
static void *huge_len_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    CU_ASSERT_EQUAL(send(sv[1], "hello", 5, 0), 5);
    char buf[16];
    CU_ASSERT_EQUAL(lrt_read(sv[0], buf, (size_t)1 << 32), 5);
    CU_ASSERT_EQUAL(send(sv[1], "again", 5, 0), 5);
    CU_ASSERT_EQUAL(lrt_read(sv[0], buf, ((size_t)1 << 32) + 3), 5);
    /* room for nothing: as on epoll (recv(2) of 0 bytes says EAGAIN on an empty socket,
     * so the call waits for data), then 0 once data is there, which stays unread */
    CU_ASSERT_EQUAL(lrt_read_timeout(sv[0], buf, 0, 20), -ETIMEDOUT);
    CU_ASSERT_EQUAL(send(sv[1], "x", 1, 0), 1);
    CU_ASSERT_EQUAL(lrt_read_timeout(sv[0], buf, 0, 2000), 0);
    CU_ASSERT_EQUAL(lrt_read(sv[0], buf, sizeof buf), 1);
    lrt_close(sv[0]);
    lrt_close(sv[1]);
    return NULL;
}

static void a_huge_length_is_clamped_not_truncated(void)
{
    run_uring(huge_len_root, NULL);
}

/* ---- diagnosis ---------------------------------------------------------------------- */

static void *dump_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    struct rd r = {.fd = sv[0], .timeout = -1};
    lrt_task_t *t = lrt_spawn_named("uring-reader", reader_task, &r);
    lrt_sleep_ms(1);
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    lrt_test_save_snapshot("uring", js);
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(root, "runtime"), "driver")),
                           "io_uring");
    size_t i;
    json_t *it;
    int found = 0;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != lrt_task_id(t))
            continue;
        json_t *w = json_object_get(it, "wait");
        char want[40];
        snprintf(want, sizeof want, "recv fd %d (uring)", sv[0]);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), "uring");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), want);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "op")), "recv");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(w, "fd")), sv[0]);
        found = 1;
    }
    CU_ASSERT_EQUAL(found, 1);
    CU_ASSERT_EQUAL(lrt_test_snapshot_ops(root, sv[0], "recv", lrt_task_id(t)), 1);
    json_decref(root);
    CU_ASSERT_EQUAL(lrt_write(sv[1], "hi", 2), 2);
    void *res;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_EQUAL((ssize_t)(intptr_t)res, 2);
    lrt_close(sv[0]);
    lrt_close(sv[1]);
    return NULL;
}

static void an_operation_in_flight_shows_in_the_dump_and_the_snapshot(void)
{
    run_uring(dump_root, NULL);
}

CU_TestInfo lrt_test_uring[] = {
    {"auto_picks_io_uring_where_the_kernel_allows_it", auto_picks_io_uring_where_the_kernel_allows_it},
    {"a_refused_io_uring_falls_back_to_epoll_and_says_why", a_refused_io_uring_falls_back_to_epoll_and_says_why},
    {"tasks_aborted_mid_recv_lose_nothing_and_never_write_into_a_dead_stack",
     tasks_aborted_mid_recv_lose_nothing_and_never_write_into_a_dead_stack},
    {"tasks_aborted_mid_accept_lose_no_connection", tasks_aborted_mid_accept_lose_no_connection},
    {"tasks_aborted_mid_write_send_exactly_what_they_report", tasks_aborted_mid_write_send_exactly_what_they_report},
    {"a_read_timeout_mid_read_loses_no_byte", a_read_timeout_mid_read_loses_no_byte},
    {"closing_an_fd_wakes_its_reader_with_ebadf", closing_an_fd_wakes_its_reader_with_ebadf},
    {"shutdown_cancels_operations_in_flight", shutdown_cancels_operations_in_flight},
    {"a_huge_length_is_clamped_not_truncated", a_huge_length_is_clamped_not_truncated},
    {"an_operation_in_flight_shows_in_the_dump_and_the_snapshot",
     an_operation_in_flight_shows_in_the_dump_and_the_snapshot},
    CU_TEST_INFO_NULL,
};
