/* Names and TCP helpers: lrt_getaddrinfo (pool, timeout, abandoned lookups freed in the
 * background, the dump), lrt_tcp_connect (each address in turn, one deadline, refusals,
 * timeouts) and lrt_tcp_listen (ephemeral ports, dual stack).  Lookups use "localhost",
 * answered from /etc/hosts; every wait is bounded. */
#include "test_util.h"
#include "internal.h"
#include "osjob.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_gate.h"

static bool wait_unread(unsigned long want, int ms)
{
    for (int i = 0; i < ms && atomic_load(&lrt__dns_unread) < want; i++)
        lrt_sleep_ms(1);
    return atomic_load(&lrt__dns_unread) >= want;
}

static lrt_options_t one_thread(void)
{
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.max_blocking_threads = 1;
    return o;
}

/* Overwrite a good part of the stack below the caller: a frame the pool wrote into
 * after its call returned would be garbage now (and ASan would see the write). */
static NOINLINE void scribble_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0xa5, sizeof junk);
}

/* The "wait" object of task @id in a snapshot of this runtime (a new reference), or NULL. */
static json_t *wait_of(uint64_t id) { return lrt_test_task_wait(id, "net"); }

/* ---- lrt_getaddrinfo ------------------------------------------------------------- */

static void *resolve_localhost_root(void *arg)
{
    (void)arg;
    uint64_t jobs = lrt_current()->m.blocking_jobs;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", &hints, &res, 5000), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    CU_ASSERT_EQUAL(lrt_current()->m.blocking_jobs, jobs + 1); /* it went to the pool */
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    CU_ASSERT_EQUAL(res->ai_family, AF_INET);
    CU_ASSERT_EQUAL(ntohs(sin->sin_port), 80);
    CU_ASSERT_EQUAL(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    freeaddrinfo(res);
    /* NULL hints are getaddrinfo's defaults */
    res = NULL;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", NULL, NULL, &res, -1), 0);
    CU_ASSERT_PTR_NOT_NULL(res);
    freeaddrinfo(res);
    return NULL;
}

static void getaddrinfo_resolves_localhost_on_the_pool(void)
{
    lrt_test_run(NULL, resolve_localhost_root, NULL);
}

static void *numeric_root(void *arg)
{
    (void)arg;
    uint64_t jobs = lrt_current()->m.blocking_jobs;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("127.0.0.1", "8080", &hints, &res, 0), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res);
    CU_ASSERT_EQUAL(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 8080);
    freeaddrinfo(res);
    res = NULL;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("::1", NULL, &hints, &res, 0), 0);
    CU_ASSERT(res && res->ai_family == AF_INET6);
    freeaddrinfo(res);
    CU_ASSERT_EQUAL(lrt_current()->m.blocking_jobs, jobs); /* no job, no suspension */
    return NULL;
}

static void getaddrinfo_of_a_numeric_host_and_port_needs_no_lookup(void)
{
    lrt_test_run(NULL, numeric_root, NULL);
}

static void *errors_root(void *arg)
{
    (void)arg;
    struct addrinfo *res = (struct addrinfo *)1;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", NULL, NULL, -1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_getaddrinfo(NULL, NULL, NULL, &res, -1), -EINVAL);
    CU_ASSERT_PTR_NULL(res);
    /* 0 = don't wait: a lookup cannot be answered without waiting */
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", NULL, &res, 0), -ETIMEDOUT);
    CU_ASSERT_PTR_NULL(res);
    /* an unknown service name: EAI_SERVICE, from /etc/services (no network) */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "no-such-service-lrt", &hints, &res, 5000), -EINVAL);
    CU_ASSERT_PTR_NULL(res);
    /* bad flags come back as -EINVAL too, not a crash */
    hints.ai_flags = 0x7fff0000;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", &hints, &res, 5000), -EINVAL);
    /* huge and negative timeouts both mean "none" */
    hints.ai_flags = 0;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", &hints, &res, INT64_MAX), 0);
    freeaddrinfo(res);
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", &hints, &res, INT64_MIN), 0);
    freeaddrinfo(res);
    return NULL;
}

static void getaddrinfo_errors_are_negative_errnos(void)
{
    lrt_test_run(NULL, errors_root, NULL);
    /* the documented mapping */
    CU_ASSERT_EQUAL(lrt__gai_errno(0, 0), 0);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_NONAME, 0), -ENOENT);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_NODATA, 0), -ENOENT);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_ADDRFAMILY, 0), -ENOENT);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_AGAIN, 0), -EAGAIN);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_FAIL, 0), -EIO);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_MEMORY, 0), -ENOMEM);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_FAMILY, 0), -EAFNOSUPPORT);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_SOCKTYPE, 0), -ESOCKTNOSUPPORT);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_SERVICE, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_SYSTEM, EMFILE), -EMFILE);
    CU_ASSERT_EQUAL(lrt__gai_errno(EAI_SYSTEM, 0), -EIO);
    CU_ASSERT_EQUAL(lrt__gai_errno(12345, 0), -EIO);
    /* no task: a numeric answer still works, a lookup is refused */
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    lrt_runtime_t *prev = lrt_enter(rt);
    struct addrinfo *res = NULL;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", NULL, &res, -1), -EPERM);
    CU_ASSERT_EQUAL(lrt_getaddrinfo("127.0.0.1", "80", NULL, &res, -1), 0);
    freeaddrinfo(res);
    lrt_exit(prev);
    lrt_runtime_free(rt);
    CU_ASSERT_EQUAL(lrt_getaddrinfo("127.0.0.1", "80", NULL, &res, -1), -EPERM);
}

/* The only pool thread is busy: the lookup stays queued past its timeout, is dropped
 * from the queue, and never runs. */
static void *queued_timeout_root(void *arg)
{
    (void)arg;
    unsigned long unread = atomic_load(&lrt__dns_unread);
    lrt_task_t *blocker = lrt_spawn_blocking(gated_job, NULL);
    CU_ASSERT_FATAL(blocker != NULL);
    lrt_yield();
    CU_ASSERT_FATAL(wait_for(&gate.entered, 1, 5000));
    struct addrinfo *res = (struct addrinfo *)1;
    CU_ASSERT_EQUAL(lrt_getaddrinfo("localhost", "80", NULL, &res, 30), -ETIMEDOUT);
    CU_ASSERT_PTR_NULL(res);
    size_t queued = 99;
    lrt__pool_stats(lrt_current(), NULL, NULL, &queued);
    CU_ASSERT_EQUAL(queued, 0u); /* dropped, not left for the thread */
    gate_open();
    CU_ASSERT_EQUAL(lrt_join(blocker, NULL), 0);
    lrt_sleep_ms(20);
    /* the lookup never ran: a lookup that ran after its waiter left would count here */
    CU_ASSERT_EQUAL(atomic_load(&lrt__dns_unread), unread);
    return NULL;
}

static void a_lookup_that_times_out_while_queued_is_dropped(void)
{
    gate_reset();
    lrt_options_t o = one_thread();
    lrt_test_run(&o, queued_timeout_root, NULL);
}

/* The lookup is running (held in the test hook) when its waiter gives up: the call
 * returns, the task's stack is reused, then the lookup ends and its answer is freed. */
static NOINLINE int give_up_lookup(void)
{
    struct addrinfo *res = (struct addrinfo *)1;
    int rc = lrt_getaddrinfo("localhost", "80", NULL, &res, 30);
    CU_ASSERT_PTR_NULL(res);
    return rc;
}

static void *background_root(void *arg)
{
    (void)arg;
    unsigned long unread = atomic_load(&lrt__dns_unread);
    CU_ASSERT_EQUAL(give_up_lookup(), -ETIMEDOUT);
    CU_ASSERT_EQUAL(atomic_load(&gate.entered), 1); /* it is running */
    scribble_stack();
    gate_open();
    CU_ASSERT(wait_unread(unread + 1, 5000));
    return NULL;
}

static void a_lookup_whose_waiter_gave_up_finishes_in_the_background_and_is_freed(void)
{
    gate_reset();
    lrt__dns_test_hook = gate_wait;
    lrt_test_run(NULL, background_root, NULL);
    lrt__dns_test_hook = NULL;
}

static void *lookup_task(void *arg)
{
    struct addrinfo *res = (struct addrinfo *)1;
    int rc = lrt_getaddrinfo("localhost", "80", NULL, &res, -1);
    *(int *)arg = rc;
    CU_ASSERT_PTR_NULL(res);
    return NULL;
}

static void *abort_root(void *arg)
{
    (void)arg;
    unsigned long unread = atomic_load(&lrt__dns_unread);
    int rc = 1;
    lrt_task_t *t = lrt_spawn(lookup_task, &rc);
    CU_ASSERT_FATAL(wait_for(&gate.entered, 1, 5000));
    /* while it waits, the dump names the lookup */
    json_t *w = wait_of(lrt_task_id(t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), "dns");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), "dns localhost");
    CU_ASSERT(json_integer_value(json_object_get(w, "job")) > 0);
    json_decref(w);
    lrt_abort(t);
    /* the task returns at once, with the lookup still held on its thread */
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(rc, -ECANCELED);
    CU_ASSERT_EQUAL(atomic_load(&lrt__dns_unread), unread);
    gate_open();
    CU_ASSERT(wait_unread(unread + 1, 5000));
    return NULL;
}

static void an_aborted_lookup_returns_at_once_and_its_answer_is_freed_later(void)
{
    gate_reset();
    lrt__dns_test_hook = gate_wait;
    lrt_test_run(NULL, abort_root, NULL);
    lrt__dns_test_hook = NULL;
}

/* The runtime shuts down while a lookup runs: its task is cancelled and returns, the
 * pool gives up on the job (no wait), and the thread finishes the lookup after the
 * runtime is gone and frees the answer itself. */
static int shutdown_rc = 1;

static void *shutdown_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn(lookup_task, &shutdown_rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    lrt_task_detach(t);
    CU_ASSERT(wait_for(&gate.entered, 1, 5000));
    return NULL;
}

static void a_lookup_running_at_shutdown_is_freed_by_its_thread(void)
{
    gate_reset();
    lrt__dns_test_hook = gate_wait;
    unsigned long unread = atomic_load(&lrt__dns_unread);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, shutdown_root, NULL, NULL), 0);
    lrt_shutdown_background(rt); /* gives up on the running job at once */
    CU_ASSERT_EQUAL(shutdown_rc, -ECANCELED);
    gate_open();
    for (int i = 0; i < 5000 && atomic_load(&lrt__dns_unread) < unread + 1; i++)
        usleep(1000);
    CU_ASSERT_EQUAL(atomic_load(&lrt__dns_unread), unread + 1);
    lrt__dns_test_hook = NULL;
}

/* ---- TCP --------------------------------------------------------------------------- */

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A socket bound to @ip port 0 but not listening: connections to its port are refused
 * (and nobody else can take the port meanwhile). */
static int closed_port(int family, const char *ip, int *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &s6->sin6_addr);
        sl = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &s4->sin_addr);
        sl = sizeof *s4;
    }
    CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&ss, sl) == 0);
    *port = port_of(fd);
    return fd;
}

static void *listen_connect_root(void *arg)
{
    (void)arg;
    int l = lrt_tcp_listen("127.0.0.1", "0", 16);
    CU_ASSERT_FATAL(l >= 0);
    int port = port_of(l);
    CU_ASSERT(port > 0);
    int one = 0;
    socklen_t sl = sizeof one;
    CU_ASSERT_EQUAL(getsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, &sl), 0);
    CU_ASSERT(one != 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int c = lrt_tcp_connect("localhost", ps, 5000);
    CU_ASSERT_FATAL(c >= 0);
    int a = lrt_accept_timeout(l, NULL, NULL, 5000);
    CU_ASSERT_FATAL(a >= 0);
    CU_ASSERT_EQUAL(lrt_write(c, "x", 1), 1);
    char b = 0;
    CU_ASSERT_EQUAL(lrt_read_timeout(a, &b, 1, 5000), 1);
    CU_ASSERT_EQUAL(b, 'x');
    lrt_close(a);
    lrt_close(c);
    /* the port is taken while l listens */
    CU_ASSERT_EQUAL(lrt_tcp_listen("127.0.0.1", ps, 16), -EADDRINUSE);
    lrt_close(l);
    return NULL;
}

static void tcp_listen_on_port_zero_takes_a_free_port_that_tcp_connect_reaches(void)
{
    lrt_test_run(NULL, listen_connect_root, NULL);
}

static void *dual_stack_root(void *arg)
{
    (void)arg;
    int l = lrt_tcp_listen(NULL, "0", -1);
    CU_ASSERT_FATAL(l >= 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port_of(l));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    CU_ASSERT_EQUAL(getsockname(l, (struct sockaddr *)&ss, &sl), 0);
    const char *hosts[] = {"127.0.0.1", "::1"};
    int n = ss.ss_family == AF_INET6 ? 2 : 1; /* IPv4 only where the kernel has no IPv6 */
    for (int i = 0; i < n; i++) {
        int c = lrt_tcp_connect(hosts[i], ps, 5000);
        CU_ASSERT(c >= 0);
        int a = lrt_accept_timeout(l, NULL, NULL, 5000);
        CU_ASSERT(a >= 0);
        lrt_close(a);
        lrt_close(c);
    }
    lrt_close(l);
    return NULL;
}

static void tcp_listen_without_a_host_takes_ipv4_and_ipv6_clients(void)
{
    lrt_test_run(NULL, dual_stack_root, NULL);
}

static void *refused_root(void *arg)
{
    (void)arg;
    int port;
    int b = closed_port(AF_INET, "127.0.0.1", &port);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", ps, 5000), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt_tcp_connect("localhost", ps, -1), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt_tcp_connect("localhost", ps, INT64_MAX), -ECONNREFUSED); /* none */
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", ps, INT64_MIN), -ECONNREFUSED);
    close(b);
    /* bad arguments */
    CU_ASSERT_EQUAL(lrt_tcp_connect(NULL, ps, -1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", NULL, -1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", ps, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_tcp_connect("localhost", "no-such-service-lrt", -1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_tcp_listen("127.0.0.1", NULL, 1), -EINVAL);
    return NULL;
}

static void tcp_connect_to_a_closed_port_is_refused(void)
{
    lrt_test_run(NULL, refused_root, NULL);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", "1", -1), -EPERM);
}

/* Two addresses: the first refuses (an IPv6 port bound but not listening), the second
 * listens. */
static void *next_address_root(void *arg)
{
    (void)arg;
    int l = lrt_tcp_listen("127.0.0.1", "0", 16);
    CU_ASSERT_FATAL(l >= 0);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *first = NULL, *second = NULL;
    int port6;
    int b = closed_port(AF_INET6, "::1", &port6);
    char p6[16], p4[16];
    snprintf(p6, sizeof p6, "%d", port6);
    snprintf(p4, sizeof p4, "%d", port_of(l));
    CU_ASSERT_EQUAL_FATAL(lrt_getaddrinfo("::1", p6, &hints, &first, -1), 0);
    CU_ASSERT_EQUAL_FATAL(lrt_getaddrinfo("127.0.0.1", p4, &hints, &second, -1), 0);
    first->ai_next = second;
    int c = lrt__tcp_connect_list(first, lrt__wait_deadline(lrt__current(), 5000));
    CU_ASSERT(c >= 0);
    int a = lrt_accept_timeout(l, NULL, NULL, 5000);
    CU_ASSERT(a >= 0);
    lrt_close(a);
    lrt_close(c);
    /* every address refuses: the last error */
    second->ai_next = NULL;
    first->ai_next = NULL;
    CU_ASSERT_EQUAL(lrt__tcp_connect_list(first, 0), -ECONNREFUSED);
    CU_ASSERT_EQUAL(lrt__tcp_connect_list(NULL, 0), -ENOENT);
    freeaddrinfo(first);
    freeaddrinfo(second);
    close(b);
    lrt_close(l);
    return NULL;
}

static void tcp_connect_tries_the_next_address_when_the_first_refuses(void)
{
    lrt_test_run(NULL, next_address_root, NULL);
}

/* A listener whose accept queue is full drops new SYNs: a connect to it stays pending
 * (the kernel retries the SYN after 1 s), which is how a silent address behaves. */
struct full_listener {
    int l, port, fill[2];
};

static void full_listener_open(struct full_listener *f)
{
    f->l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(f->l, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(f->l, 0) == 0);
    f->port = port_of(f->l);
    sin.sin_port = htons((uint16_t)f->port);
    for (int i = 0; i < 2; i++) { /* one fills the queue, one more to be sure */
        f->fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)connect(f->fill[i], (struct sockaddr *)&sin, sizeof sin);
    }
    lrt_wait_fd(f->fill[0], EPOLLOUT, 5000);
}

static void full_listener_close(struct full_listener *f)
{
    lrt_close(f->fill[0]);
    lrt_close(f->fill[1]);
    close(f->l);
}

static void *timeout_root(void *arg)
{
    (void)arg;
    struct full_listener f;
    full_listener_open(&f);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", f.port);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", ps, 50), -ETIMEDOUT);
    /* one deadline over every address: three silent ones take the time once, not
     * three times (each attempt gets the time left) */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai[3];
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(lrt_getaddrinfo("127.0.0.1", ps, &hints, &ai[i], -1), 0);
    ai[0]->ai_next = ai[1];
    ai[1]->ai_next = ai[2];
    uint64_t t0 = lrt_now_ns();
    CU_ASSERT_EQUAL(lrt__tcp_connect_list(ai[0], lrt__wait_deadline(lrt__current(), 1000)), -ETIMEDOUT);
    uint64_t ms = (lrt_now_ns() - t0) / 1000000u;
    CU_ASSERT(ms >= 990 && ms < 2500);
    freeaddrinfo(ai[0]); /* the whole chain */
    /* a deadline scope ends the attempt, and the next address is not tried */
    int tok = lrt_timeout_push(30);
    CU_ASSERT(tok >= 0);
    CU_ASSERT_EQUAL(lrt_tcp_connect("127.0.0.1", ps, -1), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    full_listener_close(&f);
    return NULL;
}

static void tcp_connect_times_out_once_over_all_addresses_against_a_full_backlog(void)
{
    lrt_test_run(NULL, timeout_root, NULL);
}

struct conn_arg {
    char port[16];
    int rc;
};

static void *connecting(void *arg)
{
    struct conn_arg *c = arg;
    c->rc = lrt_tcp_connect("127.0.0.1", c->port, -1);
    return NULL;
}

static void *abort_connect_root(void *arg)
{
    (void)arg;
    struct full_listener f;
    full_listener_open(&f);
    struct conn_arg c = {.rc = 1};
    snprintf(c.port, sizeof c.port, "%d", f.port);
    lrt_task_t *t = lrt_spawn(connecting, &c);
    lrt_sleep_ms(10);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(c.rc, -ECANCELED);
    full_listener_close(&f);
    return NULL;
}

static void an_aborted_tcp_connect_returns_ecanceled(void)
{
    lrt_test_run(NULL, abort_connect_root, NULL);
}

static int emfile_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 10;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    /* every fd below the limit taken */
    int last = -1;
    struct rlimit low = {.rlim_cur = 64, .rlim_max = rl.rlim_max};
    setrlimit(RLIMIT_NOFILE, &low);
    while ((last = dup(0)) >= 0)
        ;
    int rc = 0;
    lrt_runtime_t *prev = lrt_enter(rt);
    int l = lrt_tcp_listen("127.0.0.1", "0", 1);
    lrt_exit(prev);
    if (l != -EMFILE)
        rc = 11;
    lrt_runtime_free(rt);
    return rc;
}

static void tcp_helpers_out_of_fds_return_emfile(void)
{
    char out[512];
    int st = lrt_test_fork_capture(emfile_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

CU_TestInfo lrt_test_net[] = {
    {"getaddrinfo_resolves_localhost_on_the_pool", getaddrinfo_resolves_localhost_on_the_pool},
    {"getaddrinfo_of_a_numeric_host_and_port_needs_no_lookup", getaddrinfo_of_a_numeric_host_and_port_needs_no_lookup},
    {"getaddrinfo_errors_are_negative_errnos", getaddrinfo_errors_are_negative_errnos},
    {"a_lookup_that_times_out_while_queued_is_dropped", a_lookup_that_times_out_while_queued_is_dropped},
    {"a_lookup_whose_waiter_gave_up_finishes_in_the_background_and_is_freed",
     a_lookup_whose_waiter_gave_up_finishes_in_the_background_and_is_freed},
    {"an_aborted_lookup_returns_at_once_and_its_answer_is_freed_later",
     an_aborted_lookup_returns_at_once_and_its_answer_is_freed_later},
    {"a_lookup_running_at_shutdown_is_freed_by_its_thread", a_lookup_running_at_shutdown_is_freed_by_its_thread},
    {"tcp_listen_on_port_zero_takes_a_free_port_that_tcp_connect_reaches",
     tcp_listen_on_port_zero_takes_a_free_port_that_tcp_connect_reaches},
    {"tcp_listen_without_a_host_takes_ipv4_and_ipv6_clients", tcp_listen_without_a_host_takes_ipv4_and_ipv6_clients},
    {"tcp_connect_to_a_closed_port_is_refused", tcp_connect_to_a_closed_port_is_refused},
    {"tcp_connect_tries_the_next_address_when_the_first_refuses",
     tcp_connect_tries_the_next_address_when_the_first_refuses},
    {"tcp_connect_times_out_once_over_all_addresses_against_a_full_backlog",
     tcp_connect_times_out_once_over_all_addresses_against_a_full_backlog},
    {"an_aborted_tcp_connect_returns_ecanceled", an_aborted_tcp_connect_returns_ecanceled},
    {"tcp_helpers_out_of_fds_return_emfile", tcp_helpers_out_of_fds_return_emfile},
    CU_TEST_INFO_NULL,
};
