/*
 * dns.c - names and TCP helpers: lrt_getaddrinfo() off the runtime thread with a timeout,
 * lrt_tcp_connect() (each address in turn under one deadline) and lrt_tcp_listen().
 *
 * A lookup runs getaddrinfo(3) as a blocking-pool job.  The waiting task may give up
 * (timeout, abort, a deadline scope) while the job runs, and a running job cannot be
 * stopped, so nothing the job touches lives on the task's stack: the request is one heap
 * block (the strings and hints copied into it) shared by the waiter and the job under a
 * reference count.  The job's reference is dropped by lrt_spawn_blocking_owned()'s drop,
 * which runs exactly once however the job ends (after getaddrinfo on the pool thread,
 * or on the runtime thread when it never ran); the waiter's when it has read the result
 * or given up.  The last one out frees the result list and the block, so a lookup whose
 * waiter left finishes in the background and its answer is freed unread.
 *
 * Numeric hosts and ports (and a NULL host) need no lookup: getaddrinfo() with
 * AI_NUMERICHOST|AI_NUMERICSERV answers them inline without I/O, so lrt_tcp_connect to
 * "127.0.0.1" costs no pool round trip.
 *
 * Layer: beside file.c, above the pool and io (public calls: lrt_spawn_blocking_owned,
 * lrt_connect_timeout, lrt_close) and task.c's lrt__join_wait_as.  Runtime thread.
 */
#include "osjob.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void (*lrt__dns_test_hook)(void);
atomic_ulong lrt__dns_unread;

struct gai_req {
    atomic_int refs;       /* the waiter's and the job's */
    int rc;                /* job: getaddrinfo's EAI_* code */
    int err;               /* job: errno for EAI_SYSTEM */
    struct addrinfo *res;  /* job: the answer, until the waiter takes it */
    const char *node, *service; /* into buf (or NULL) */
    struct addrinfo hints;
    bool has_hints;
    char text[LRT__WAIT_TEXT]; /* the dump's "dns <node>" */
    char buf[];
};

static void req_unref(struct gai_req *q)
{
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (q->res) { /* the waiter never took it: gave up, or the job ran after shutdown */
        freeaddrinfo(q->res);
        atomic_fetch_add_explicit(&lrt__dns_unread, 1, memory_order_relaxed);
    }
    free(q);
}

static void *gai_job(void *arg)
{
    struct gai_req *q = arg;
    void (*hook)(void) = __atomic_load_n(&lrt__dns_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook();
    q->rc = getaddrinfo(q->node, q->service, q->has_hints ? &q->hints : NULL, &q->res);
    q->err = q->rc == EAI_SYSTEM ? errno : 0;
    if (q->rc)
        q->res = NULL;
    return NULL;
}

static void gai_drop(void *arg)
{
    req_unref(arg);
}

int lrt__gai_errno(int eai, int sys_errno)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
        return -ENOENT;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_FAIL:
        return -EIO;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_SOCKTYPE:
        return -ESOCKTNOSUPPORT;
    case EAI_SERVICE:
    case EAI_BADFLAGS:
        return -EINVAL;
    case EAI_OVERFLOW:
        return -EOVERFLOW;
    case EAI_CANCELED:
        return -ECANCELED;
    case EAI_INTR:
        return -EINTR;
    case EAI_SYSTEM:
        return sys_errno > 0 ? -sys_errno : -EIO;
    default:
        return -EIO;
    }
}

/* Answer without a lookup when nothing needs one: a numeric (or NULL) host and a
 * numeric (or NULL) port.  1 = answered (*rc set), 0 = needs the pool. */
static int gai_inline(const char *node, const char *service, const struct addrinfo *hints,
                      struct addrinfo **res, int *rc)
{
    struct addrinfo h = {.ai_family = AF_UNSPEC};
    if (hints) {
        h.ai_flags = hints->ai_flags;
        h.ai_family = hints->ai_family;
        h.ai_socktype = hints->ai_socktype;
        h.ai_protocol = hints->ai_protocol;
    }
    if (h.ai_flags & AI_CANONNAME)
        return 0;
    if (!hints)
        h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG; /* getaddrinfo's default for NULL hints */
    h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
    int eai = getaddrinfo(node, service, &h, res);
    if (eai == EAI_NONAME) { /* a name somewhere: look it up for real */
        *res = NULL;
        return 0;
    }
    *rc = lrt__gai_errno(eai, errno);
    if (eai)
        *res = NULL;
    return 1;
}

int lrt_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res, int64_t timeout_ms)
{
    if (!res)
        return -EINVAL;
    *res = NULL;
    if (!node && !service)
        return -EINVAL;
    if (!lrt__tls_rt)
        return -EPERM;
    int rc;
    if (gai_inline(node, service, hints, res, &rc))
        return rc;

    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    if (cur->flags & LRT__TF_INTERRUPT) {
        err = lrt__interrupted(cur);
        if (err)
            return err;
    }
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    size_t nl = node ? strlen(node) + 1 : 0, sl = service ? strlen(service) + 1 : 0;
    struct gai_req *q = malloc(sizeof *q + nl + sl);
    if (!q)
        return -ENOMEM;
    atomic_init(&q->refs, 2);
    q->rc = 0;
    q->err = 0;
    q->res = NULL;
    q->node = node ? memcpy(q->buf, node, nl) : NULL;
    q->service = service ? memcpy(q->buf + nl, service, sl) : NULL;
    q->has_hints = hints != NULL;
    memset(&q->hints, 0, sizeof q->hints);
    if (hints) { /* only these four are meaningful in hints; the pointers are not copied */
        q->hints.ai_flags = hints->ai_flags;
        q->hints.ai_family = hints->ai_family;
        q->hints.ai_socktype = hints->ai_socktype;
        q->hints.ai_protocol = hints->ai_protocol;
    }
    if (node)
        snprintf(q->text, sizeof q->text, "dns %s", node);
    else
        snprintf(q->text, sizeof q->text, "dns service %s", service);

    lrt_task_t *h = lrt_spawn_blocking_owned(gai_job, q, gai_drop);
    if (!h) { /* the drop ran: the job's reference is gone */
        err = -errno;
        req_unref(q);
        return err;
    }
    rc = lrt__join_wait_as(h, LRT__WAIT_DNS, q->text, lrt_task_id(h), (uint32_t)-1, timeout_ms,
                           false);
    if (rc) {
        /* Given up (timeout, abort, scope).  A job no thread took yet is dropped now; a
         * running one finishes in the background and the last reference frees its
         * answer.  One that finished before we ran again is delivered all the same. */
        lrt_abort(h);
        if (lrt_task_is_finished(h) != 1) {
            lrt_task_detach(h);
            req_unref(q);
            return rc;
        }
    }
    int st = lrt_join(h, NULL); /* finished: does not suspend */
    if (st == 0) {
        rc = lrt__gai_errno(q->rc, q->err);
        *res = q->res;
        q->res = NULL;
    } else if (!rc) {
        rc = st; /* never ran: no pool thread (-EAGAIN, -ENOMEM), or dropped */
    }
    req_unref(q);
    return rc;
}

/* ---- TCP helpers ------------------------------------------------------------------ */

/* Milliseconds left until @deadline (0 = none: -1), rounded up; 0 once passed. */
static int64_t ms_left(struct lrt_runtime *rt, uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = lrt__rt_now(rt);
    return deadline > now ? (int64_t)((deadline - now + 999999) / 1000000) : 0;
}

static bool scope_expired(const struct lrt_task *t)
{
    return (t->flags & LRT__TF_DEADLINE) && lrt__rt_now(t->rt) >= t->scopes->deadline;
}

/* Connect to each address of @ai in turn until one accepts, under the one @deadline
 * (0 = none).  Each attempt gets an equal share of the time left (as Go's dialSerial:
 * at least 2 s when that much is left), so one silent address does not eat the whole
 * budget.  Returns the connected fd or the last error; -ETIMEDOUT once the deadline has
 * passed; -ECANCELED at once. */
int lrt__tcp_connect_list(const struct addrinfo *ai, uint64_t deadline)
{
    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    size_t left = 0;
    for (const struct addrinfo *a = ai; a; a = a->ai_next)
        left++;
    int last = -ENOENT; /* no address at all */
    for (const struct addrinfo *a = ai; a; a = a->ai_next, left--) {
        int64_t ms = ms_left(cur->rt, deadline);
        if (ms == 0)
            return -ETIMEDOUT;
        if (ms > 0) {
            int64_t share = ms / (int64_t)left;
            ms = share >= 2000 ? share : ms < 2000 ? ms : 2000;
        }
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = -errno;
            continue;
        }
        int rc = lrt_connect_timeout(fd, a->ai_addr, a->ai_addrlen, ms);
        if (rc == 0)
            return fd;
        lrt_close(fd);
        last = rc;
        if (rc == -ECANCELED || (rc == -ETIMEDOUT && scope_expired(cur)))
            return rc;
    }
    if (deadline && ms_left(cur->rt, deadline) == 0)
        return -ETIMEDOUT;
    return last;
}

int lrt_tcp_connect(const char *host, const char *port, int64_t timeout_ms)
{
    if (!host || !port)
        return -EINVAL;
    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    uint64_t deadline = lrt__wait_deadline(cur, timeout_ms);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int64_t ms = ms_left(cur->rt, deadline);
    if (ms == 0)
        return -ETIMEDOUT;
    int rc = lrt_getaddrinfo(host, port, &hints, &ai, ms);
    if (rc)
        return rc;
    rc = lrt__tcp_connect_list(ai, deadline);
    freeaddrinfo(ai);
    return rc;
}

/* A listening socket on @a, or -errno. */
static int listen_on(const struct addrinfo *a, bool dual, int backlog)
{
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) ||
        bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd); /* never seen by lrt: a plain close */
        return -e;
    }
    return fd;
}

int lrt_tcp_listen(const char *host, const char *port, int backlog)
{
    if (!port)
        return -EINVAL;
    if (backlog < 0)
        backlog = SOMAXCONN;
    /* NULL host: one dual-stack socket on "::" takes IPv4 too; IPv4 only where the
     * kernel has no IPv6. */
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM,
                             .ai_family = host ? AF_UNSPEC : AF_INET6};
    struct addrinfo *ai = NULL;
    int rc = lrt_getaddrinfo(host, port, &hints, &ai, -1);
    if (rc)
        return rc;
    int last = -ENOENT;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        last = listen_on(a, !host, backlog);
        if (last >= 0)
            break;
    }
    freeaddrinfo(ai);
    if (last == -EAFNOSUPPORT && !host) {
        hints.ai_family = AF_INET;
        if ((rc = lrt_getaddrinfo(NULL, port, &hints, &ai, -1)) != 0)
            return rc;
        for (const struct addrinfo *a = ai; a; a = a->ai_next)
            if ((last = listen_on(a, false, backlog)) >= 0)
                break;
        freeaddrinfo(ai);
    }
    return last;
}
