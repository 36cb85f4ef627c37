/*
 * io.c - the epoll driver and the public I/O calls.
 *
 * Every fd is registered once, edge-triggered, for both directions
 * (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET) and its readiness is cached in its registration.
 * An operation tries the syscall while the cache says "maybe ready" and only on EAGAIN
 * clears that direction and suspends; an edge re-arms it.  So a busy fd costs no
 * epoll_ctl at all, and a task never sleeps on an fd that is ready (edge-triggered epoll
 * reports every transition that happens after the EAGAIN).
 *
 * Registrations live in a table indexed by fd.  The table holds pointers, grown with
 * realloc; the registration records themselves never move (wait-queue heads point into
 * them, and a suspended task's wait_obj names one) and are reused when an fd number comes
 * back, so the hot path allocates nothing.
 *
 * Ownership: the caller owns its fds.  lrt_close() is the only call that closes one; an
 * fd that lrt has seen must be closed with lrt_close() (on the runtime thread), or the
 * stale registration would outlive the number.
 *
 * O_NONBLOCK belongs to the file description, which other processes may share: a shell
 * pipeline's stdin, a terminal, an inherited pipe.  Setting it there would make the next
 * program that reads the same stdin get EAGAIN, and a crash could not undo it.  So lrt
 * never sets it on an fd it finds blocking, except as a last resort that it undoes:
 *  - sockets: every read and write is recv/send(MSG_DONTWAIT), a per-call flag;
 *  - pipes, FIFOs and terminals: the syscalls go to a private description of the same
 *    pipe or tty, opened non-blocking through /proc/self/fd/N (r->iofd; epoll watches the
 *    caller's fd, readiness is the object's).  Per-call alternatives fall short:
 *    preadv2(RWF_NOWAIT) works on pipes only on recent kernels and never on ttys, and
 *    poll-then-read blocks when another reader of the shared pipe drained it first;
 *  - regular files and block devices: nothing (O_NONBLOCK means nothing to them);
 *  - the rest (accept/connect on a blocking socket, an fd /proc cannot reopen such as an
 *    eventfd, a pty master, a character device that clones on open): O_NONBLOCK is set
 *    and cleared again when lrt deregisters the fd (lrt_close, runtime free).
 */
#include "waitq.h"
#include "trace.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IO_BATCH 1024
#define IO_INTEREST (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define NOTIFY_KEY 0xffffffffu /* low 32 bits of epoll data for the eventfd */

/* Bits that make a reader / a writer worth retrying. */
#define READ_READY (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)
#define WRITE_READY (EPOLLOUT | EPOLLHUP | EPOLLERR)

enum {
    REG_ACTIVE = 1u << 0,  /* registered (in the table, usually in the epoll set) */
    REG_SOCK = 1u << 1,    /* S_ISSOCK: recv/send(MSG_NOSIGNAL) */
    REG_NOEPOLL = 1u << 2, /* regular file, /dev/null...: always ready, never in epoll */
    REG_PLAIN = 1u << 3,   /* regular file: write cannot raise SIGPIPE */
    REG_STREAM = 1u << 4,  /* stream socket or FIFO: a short read means "drained" */
    REG_NEEDNB = 1u << 5,  /* blocking socket: accept/connect must set O_NONBLOCK first */
    REG_RESTORE = 1u << 6, /* lrt set O_NONBLOCK on the description: clear it at deregister */
};

struct reg {
    int fd;
    int iofd;        /* what the syscalls use: fd, or a private non-blocking description */
    uint32_t flags;
    uint32_t ready;  /* cached readiness (EPOLL* bits); cleared per direction on EAGAIN */
    uint32_t tick;   /* events seen: an EAGAIN clears only if no event came since */
    uint32_t gen;    /* registration generation, in the epoll data (stale events) */
    int nreaders, nwriters, nboth; /* nboth: readers waiting for EPOLLOUT too */
    lrt__link readers; /* EPOLLIN waiters, and wait_fd(IN|OUT) waiters */
    lrt__link writers; /* EPOLLOUT-only waiters */
    dev_t dev;         /* identity, to restore flags only on the same object (io_fini) */
    ino_t ino;
};

struct lrt__io {
    int epfd;
    lrt__notifier *notifier;
    struct reg **regs; /* indexed by fd */
    size_t cap;
    size_t registered;
    size_t waiters;
    int no_pwait2;
    sigset_t pipe_set; /* {SIGPIPE} */
    struct epoll_event events[IO_BATCH];
};

/* ---- registrations ---------------------------------------------------------------- */

static int table_grow(struct lrt__io *io, int fd)
{
    size_t cap = io->cap ? io->cap : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    struct reg **n = realloc(io->regs, cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    memset(n + io->cap, 0, (cap - io->cap) * sizeof *n);
    io->regs = n;
    io->cap = cap;
    return 0;
}

/* Set O_NONBLOCK on @r's shared description (the last resort, see the top of the file);
 * deregistration clears it again. */
static int set_nonblock(struct reg *r)
{
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK)) {
        if (fcntl(r->fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
        r->flags |= REG_RESTORE;
    }
    r->flags &= ~(uint32_t)REG_NEEDNB;
    return 0;
}

/* Objects that /proc/self/fd/N reopens as themselves: pipes and FIFOs, and terminals other
 * than a pty master (opening that path again would create a new pty). */
static bool reopens_as_itself(int fd, const struct stat *st)
{
    int n;
    if (S_ISFIFO(st->st_mode))
        return true;
    return S_ISCHR(st->st_mode) && isatty(fd) && ioctl(fd, TIOCGPTN, &n) < 0;
}

/* A private non-blocking description of the pipe or tty behind @fd, or -1. */
static int open_private(int fd, const struct stat *st)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_ACCMODE)
        return -1;
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    /* the same access mode: an extra reader of a pipe opened O_RDWR would also count as a
     * writer, and the pipe would never report EOF */
    int p = open(path, (fl & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (p < 0)
        return -1;
    struct stat ps;
    if (fstat(p, &ps) < 0 || ps.st_dev != st->st_dev || ps.st_ino != st->st_ino ||
        (ps.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
        close(p);
        return -1;
    }
    return p;
}

/* First use of an fd whose description is blocking: make every attempt non-blocking
 * without leaving O_NONBLOCK on a description others may share (top of the file). */
static int nonblocking_io(struct reg *r, const struct stat *st)
{
    if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode) || (r->flags & REG_NOEPOLL))
        return 0; /* always ready: the flag would change nothing */
    if (r->flags & REG_SOCK) {
        r->flags |= REG_NEEDNB; /* recv/send take MSG_DONTWAIT */
        return 0;
    }
    if (reopens_as_itself(r->fd, st)) {
        int p = open_private(r->fd, st);
        if (p >= 0) {
            r->iofd = p;
            return 0;
        }
    }
    return set_nonblock(r);
}

/* Undo what registration did to the caller's fd: close the private description, clear
 * the O_NONBLOCK lrt set (only on the same object: the number may have been closed and
 * reused behind our back). */
static void reg_release(struct reg *r)
{
    if (r->iofd != r->fd) {
        close(r->iofd);
        r->iofd = r->fd;
    }
    if (r->flags & REG_RESTORE) {
        struct stat st;
        int fl;
        if (fstat(r->fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino &&
            (fl = fcntl(r->fd, F_GETFL)) >= 0 && (fl & O_NONBLOCK))
            fcntl(r->fd, F_SETFL, fl & ~O_NONBLOCK);
        r->flags &= ~(uint32_t)REG_RESTORE;
    }
}

/* Slow path of reg_get: first use of @fd (or first use since lrt_close). */
static struct reg *reg_register(struct lrt__io *io, int fd, int *err)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = -EBADF;
        return NULL;
    }
    if ((size_t)fd >= io->cap && (*err = table_grow(io, fd)) < 0)
        return NULL;
    struct reg *r = io->regs[fd];
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) {
            *err = -ENOMEM;
            return NULL;
        }
        lrt__list_init(&r->readers);
        lrt__list_init(&r->writers);
        io->regs[fd] = r;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        *err = -errno;
        return NULL;
    }
    r->fd = fd;
    r->iofd = fd;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->gen++;
    r->flags = REG_ACTIVE;
    if (S_ISSOCK(st.st_mode)) {
        r->flags |= REG_SOCK;
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM)
            r->flags |= REG_STREAM;
    } else if (S_ISFIFO(st.st_mode)) {
        r->flags |= REG_STREAM;
    }
    if (S_ISREG(st.st_mode))
        r->flags |= REG_PLAIN;
    struct epoll_event ev = {.events = IO_INTEREST,
                             .data.u64 = (uint32_t)fd | ((uint64_t)r->gen << 32)};
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        /* EEXIST: a previous incarnation of the number closed behind our back while a
         * dup kept it in the set; take it over. */
        if (e == EEXIST && epoll_ctl(io->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
            /* ok */
        } else if (e == EPERM) {
            /* regular files and the like do not poll: they are always ready */
            r->flags |= REG_NOEPOLL;
        } else {
            r->flags = 0;
            *err = -e;
            return NULL;
        }
    }
    if (!(fl & O_NONBLOCK) && (*err = nonblocking_io(r, &st)) < 0) {
        if (!(r->flags & REG_NOEPOLL))
            epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
        r->flags = 0;
        return NULL;
    }
    /* Assume ready: the first operation tries the syscall and learns the truth. */
    r->ready = EPOLLIN | EPOLLOUT;
    r->tick = 0;
    io->registered++;
    LRT__TP(io_register, fd, (uint32_t)IO_INTEREST);
    return r;
}

static inline struct reg *reg_get(struct lrt__io *io, int fd, int *err)
{
    if (LRT__LIKELY((size_t)(unsigned)fd < io->cap)) {
        struct reg *r = io->regs[fd];
        if (LRT__LIKELY(r && (r->flags & REG_ACTIVE)))
            return r;
    }
    return reg_register(io, fd, err);
}

/* ---- waiting ---------------------------------------------------------------------- */

static void waiter_uncount(struct lrt__io *io, struct reg *r, uint32_t interest)
{
    io->waiters--;
    if (interest & (EPOLLIN | EPOLLRDHUP)) {
        r->nreaders--;
        if (interest & EPOLLOUT)
            r->nboth--;
    } else {
        r->nwriters--;
    }
}

/* Wake the waiters of @q (those interested in @need, or all when @need is 0). */
static void wake_queue(struct lrt__io *io, struct reg *r, lrt__link *q, uint32_t need, int result)
{
    lrt__link *l = q->next;
    while (l != q) {
        lrt__link *next = l->next;
        lrt__waiter *w = lrt__container_of(l, lrt__waiter, link);
        uint32_t interest = w->task->wait_aux2;
        if (!need || (interest & need)) {
            lrt__list_del(l); /* the waker unlinks (waitq.h) */
            waiter_uncount(io, r, interest);
            /* lrt_close by a task names that task; readiness comes from the driver */
            if (result == -EBADF)
                lrt__wake(w->task, result, LRT__WAKER_TASK);
            else
                lrt__wake_by(w->task, result, LRT__WAKER_IO, 0);
        }
        l = next;
    }
}

/* Suspend the running task until @r has an event for @interest, the deadline passes
 * (-ETIMEDOUT), the task is cancelled (-ECANCELED) or the fd is closed (-EBADF). */
static inline __attribute__((always_inline)) int wait_on(struct lrt__io *io, struct reg *r,
        struct lrt_task *t, uint32_t interest, uint64_t deadline)
{
    lrt__waiter w; /* the interest stays in t->wait_aux2, where dumps read it */
    lrt__link *q = &r->writers;
    if (interest & (EPOLLIN | EPOLLRDHUP)) {
        q = &r->readers;
        r->nreaders++;
        if (interest & EPOLLOUT)
            r->nboth++;
    } else {
        r->nwriters++;
    }
    io->waiters++;
    t->wait_aux2 = interest;
    int rc = lrt__waitq_suspend(q, &w, t, LRT__WAIT_FD, r, (uint64_t)r->fd, deadline);
    if (lrt__waitq_leave(&w, rc))
        waiter_uncount(io, r, interest);
    return rc;
}

/* The not-ready path shared by every I/O call: -ETIMEDOUT for a zero timeout, else wait
 * for an edge (the deadline is fixed at the first wait, in *@deadline); -EBADF when the
 * fd was closed (and maybe its number reused) while the task waited or was runnable. */
static int wait_edge(struct lrt__io *io, struct reg *r, struct lrt_task *t, uint32_t interest,
                     uint32_t gen, int64_t timeout_ms, uint64_t *deadline)
{
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    if (!*deadline && timeout_ms > 0)
        *deadline = lrt__deadline_in_ms(lrt__rt_now(t->rt), timeout_ms);
    int rc = wait_on(io, r, t, interest, *deadline);
    if (rc < 0)
        return rc;
    if (!(r->flags & REG_ACTIVE) || r->gen != gen)
        return -EBADF;
    return 0;
}

/* ---- syscalls --------------------------------------------------------------------- */

/*
 * The system calls of an I/O attempt.  glibc's recv/send/read/write/accept4 are thread
 * cancellation points: each wraps the call in pthread_enable/disable_asynccancel, 3 % of
 * the echo server's profile at 1000 connections, and a runtime thread must not be a
 * cancellation point anyway (cancellation would unwind the scheduler from inside a
 * task's stack).  syscall(2) is neither.  Sanitizer builds keep the libc calls, whose
 * interceptors check the caller's buffers.
 */
#ifdef LRT__ASAN
#define sys_recv(fd, buf, n, fl) recv(fd, buf, n, fl)
#define sys_send(fd, buf, n, fl) send(fd, buf, n, fl)
#define sys_read(fd, buf, n) read(fd, buf, n)
#define sys_write(fd, buf, n) write(fd, buf, n)
#define sys_accept4(fd, sa, len, fl) accept4(fd, sa, len, fl)
#else
#define sys_recv(fd, buf, n, fl) syscall(SYS_recvfrom, fd, buf, n, fl, NULL, NULL)
#define sys_send(fd, buf, n, fl) syscall(SYS_sendto, fd, buf, n, fl, NULL, 0)
#define sys_read(fd, buf, n) syscall(SYS_read, fd, buf, n)
#define sys_write(fd, buf, n) syscall(SYS_write, fd, buf, n)
#define sys_accept4(fd, sa, len, fl) (int)syscall(SYS_accept4, fd, sa, len, fl)
#endif

/* write() to a non-socket with SIGPIPE blocked, consuming the SIGPIPE it raised, so a
 * closed pipe gives EPIPE instead of killing the process (libuv / OpenSSL). */
static ssize_t write_nosigpipe(struct lrt__io *io, int fd, const void *buf, size_t n)
{
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &io->pipe_set, &old);
    ssize_t k;
    do
        k = sys_write(fd, buf, n);
    while (k < 0 && errno == EINTR);
    int e = errno;
    if (!sigismember(&old, SIGPIPE)) {
        /* SIGPIPE was not blocked before, so a pending one is ours */
        if (k < 0 && e == EPIPE) {
            static const struct timespec zero = {0, 0};
            while (sigtimedwait(&io->pipe_set, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return k < 0 ? -e : k;
}

enum op { OP_READ, OP_WRITE, OP_ACCEPT };

struct op_args {
    void *buf;
    size_t n;
    struct sockaddr *sa;
    socklen_t *len;
};

/* One non-blocking attempt: the result or -errno (-EAGAIN: not ready). */
static ssize_t op_try(struct lrt__io *io, struct reg *r, int op, struct op_args *a)
{
    int fd = r->iofd;
    ssize_t k;
    switch (op) {
    case OP_READ:
        if (r->flags & REG_SOCK) {
            do
                k = sys_recv(fd, a->buf, a->n, MSG_DONTWAIT);
            while (k < 0 && errno == EINTR);
            if (k >= 0 || errno != ENOTSOCK)
                return k < 0 ? -errno : k;
            r->flags &= ~REG_SOCK;
        }
        do
            k = sys_read(fd, a->buf, a->n);
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
    case OP_WRITE:
        if (r->flags & REG_SOCK) {
            do
                k = sys_send(fd, a->buf, a->n, MSG_NOSIGNAL | MSG_DONTWAIT);
            while (k < 0 && errno == EINTR);
            if (k >= 0 || errno != ENOTSOCK)
                return k < 0 ? -errno : k;
            r->flags &= ~REG_SOCK;
        }
        if (r->flags & REG_PLAIN) {
            do
                k = sys_write(fd, a->buf, a->n);
            while (k < 0 && errno == EINTR);
            return k < 0 ? -errno : k;
        }
        return write_nosigpipe(io, fd, a->buf, a->n);
    case OP_ACCEPT:
        if (LRT__UNLIKELY(r->flags & REG_NEEDNB) && (k = set_nonblock(r)) < 0)
            return k;
        for (;;) {
            k = sys_accept4(fd, a->sa, a->len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (k >= 0)
                return k;
            /* a connection that died in the backlog is not the listener's error */
            if (errno != EINTR && errno != ECONNABORTED)
                return -errno;
        }
    }
    return -EINVAL;
}

/* The calling task and @fd's registration (registered on first use); NULL with *err
 * (-EPERM outside a task, -EBADF, ...). */
static struct reg *task_reg(int fd, struct lrt_task **t, int *err)
{
    *err = lrt__task_ctx(t);
    return *err ? NULL : reg_get((*t)->rt->io, fd, err);
}

/*
 * The shape of every I/O call: try while the cache says maybe-ready; on EAGAIN clear
 * the direction (unless an event arrived meanwhile: the tick check) and wait for an edge.
 */
static ssize_t io_run(int fd, uint32_t interest, int op, struct op_args *a, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err;
    struct reg *r = task_reg(fd, &t, &err);
    if (!r)
        return err;
    struct lrt__io *io = t->rt->io;
    uint32_t gen = r->gen;
    uint32_t mask = interest == EPOLLIN ? READ_READY : WRITE_READY;
    uint32_t clear = interest == EPOLLIN ? (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)
                                         : (EPOLLOUT | EPOLLHUP | EPOLLERR);
    uint64_t deadline = 0;
    bool suspended = false;
    for (;;) {
        if (timeout_ms == 0 || (r->ready & mask)) {
            uint32_t tick = r->tick;
            ssize_t k = op_try(io, r, op, a);
            if (k != -EAGAIN || (r->flags & REG_NOEPOLL)) {
                /* A short read from a stream socket or a pipe drained it (Tokio does the
                 * same): the next read waits for an edge instead of paying a recv that
                 * would fail with EAGAIN.  Only if no event arrived meanwhile. */
                if (op == OP_READ && k > 0 && (size_t)k < a->n && (r->flags & REG_STREAM) &&
                    r->tick == tick)
                    r->ready &= ~(uint32_t)EPOLLIN;
                /* A completed op counts against the budget; a cancellation noticed
                 * here must not lose the bytes just moved: the next suspension point
                 * reports it. */
                if (!suspended)
                    (void)lrt__budget_spend();
                return k;
            }
            if (r->tick == tick)
                r->ready &= ~clear;
            if (r->ready & mask)
                continue;
        }
        int rc = wait_edge(io, r, t, interest, gen, timeout_ms, &deadline);
        if (rc < 0)
            return rc;
        suspended = true;
    }
}

/* ---- public I/O calls ------------------------------------------------------------- */

ssize_t lrt_read_timeout(int fd, void *buf, size_t n, int64_t timeout_ms)
{
    struct op_args a = {.buf = buf, .n = n};
    return io_run(fd, EPOLLIN, OP_READ, &a, timeout_ms);
}

ssize_t lrt_write_timeout(int fd, const void *buf, size_t n, int64_t timeout_ms)
{
    struct op_args a = {.buf = (void *)buf, .n = n};
    return io_run(fd, EPOLLOUT, OP_WRITE, &a, timeout_ms);
}

ssize_t lrt_read(int fd, void *buf, size_t n) { return LRT__NOTAIL(lrt_read_timeout(fd, buf, n, -1)); }

ssize_t lrt_write(int fd, const void *buf, size_t n) { return LRT__NOTAIL(lrt_write_timeout(fd, buf, n, -1)); }

ssize_t lrt_write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    do {
        ssize_t k = lrt_write_timeout(fd, (const char *)buf + done, n - done, -1);
        if (k < 0)
            return k;
        done += (size_t)k;
    } while (done < n);
    return (ssize_t)n;
}

int lrt_accept_timeout(int fd, struct sockaddr *sa, socklen_t *len, int64_t timeout_ms)
{
    struct op_args a = {.sa = sa, .len = len};
    return (int)io_run(fd, EPOLLIN, OP_ACCEPT, &a, timeout_ms);
}

int lrt_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    return LRT__NOTAIL(lrt_accept_timeout(fd, sa, len, -1));
}

int lrt_connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err;
    struct reg *r = task_reg(fd, &t, &err);
    if (!r)
        return err;
    struct lrt__io *io = t->rt->io;
    uint32_t gen = r->gen;
    if ((r->flags & REG_NEEDNB) && (err = set_nonblock(r)) < 0)
        return err;
    int rc = connect(fd, sa, len);
    int e = rc < 0 ? errno : 0;
    if (e == EINTR)
        e = EINPROGRESS; /* the handshake goes on asynchronously */
    if (e != EINPROGRESS) {
        (void)lrt__budget_spend();
        return -e;
    }
    /* In progress: whatever the cache says about writability predates the connection
     * (an unconnected TCP socket polls as EPOLLOUT|EPOLLHUP). */
    r->ready &= ~(uint32_t)(EPOLLOUT | EPOLLHUP | EPOLLERR);
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    uint64_t deadline = lrt__deadline_in_ms(lrt__rt_now(t->rt), timeout_ms);
    for (;;) {
        rc = wait_on(io, r, t, EPOLLOUT, deadline);
        if (rc < 0)
            return rc;
        if (!(r->flags & REG_ACTIVE) || r->gen != gen)
            return -EBADF;
        uint32_t tick = r->tick;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -errno;
        if (soerr)
            return -soerr;
        struct sockaddr_storage peer;
        socklen_t pl = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
            return 0;
        if (errno != ENOTCONN)
            return -errno;
        /* woken before the handshake finished: wait for the next edge */
        if (r->tick == tick)
            r->ready &= ~(uint32_t)(EPOLLOUT | EPOLLHUP | EPOLLERR);
    }
}

int lrt_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    return LRT__NOTAIL(lrt_connect_timeout(fd, sa, len, -1));
}

/*
 * lrt_wait_fd asks the kernel (poll, timeout 0) rather than the cache: its caller does
 * its own I/O, and an EAGAIN it saw never reached our cache.
 */
int lrt_wait_fd(int fd, uint32_t events, int64_t timeout_ms)
{
    struct lrt_task *t;
    int err = lrt__task_ctx(&t);
    if (err)
        return err;
    events &= EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    if (!events)
        return -EINVAL;
    struct lrt__io *io = t->rt->io;
    struct reg *r = reg_get(io, fd, &err);
    if (!r)
        return err;
    uint32_t gen = r->gen;
    /* bits a waiter on @events cares about (EPOLLHUP/ERR are always reported) */
    uint32_t clear = events | EPOLLHUP | EPOLLERR | ((events & EPOLLIN) ? EPOLLRDHUP : 0);
    uint64_t deadline = 0;
    bool suspended = false;
    for (;;) {
        /* POLLIN/POLLOUT/POLLRDHUP/POLLERR/POLLHUP equal their EPOLL* twins on Linux */
        struct pollfd p = {.fd = fd, .events = (short)events};
        uint32_t tick = r->tick;
        int k = poll(&p, 1, 0);
        if (k < 0 && errno != EINTR)
            return -errno;
        if (k > 0) {
            if (p.revents & POLLNVAL)
                return -EBADF;
            if (!suspended)
                (void)lrt__budget_spend();
            return (int)(uint16_t)p.revents;
        }
        if (r->tick == tick)
            r->ready &= ~clear;
        int rc = wait_edge(io, r, t, events, gen, timeout_ms, &deadline);
        if (rc < 0)
            return rc;
        suspended = true;
    }
}

/*
 * lrt_close works in a task (even a cancelled one: cleanup must be able to close) and
 * outside tasks on the runtime thread while the runtime is current.
 */
int lrt_close(int fd)
{
    struct lrt_runtime *rt = lrt__tls_rt;
    if (!rt || !rt->io || !pthread_equal(rt->thread, pthread_self()))
        return -EPERM;
    if (fd < 0)
        return -EBADF;
    struct lrt__io *io = rt->io;
    if ((size_t)fd < io->cap && io->regs[fd] && (io->regs[fd]->flags & REG_ACTIVE)) {
        struct reg *r = io->regs[fd];
        /* DEL before close: a dup of the fd would keep reporting events (epoll(7)) */
        if (!(r->flags & REG_NOEPOLL))
            epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
        /* before close: a description shared with other processes outlives our fd */
        reg_release(r);
        r->flags = 0;
        r->ready = 0;
        io->registered--;
        LRT__TP(io_deregister, fd, (uint32_t)IO_INTEREST);
        wake_queue(io, r, &r->readers, 0, -EBADF);
        wake_queue(io, r, &r->writers, 0, -EBADF);
    }
    if (close(fd) < 0 && errno != EINTR) /* Linux closes the fd even on EINTR */
        return -errno;
    return 0;
}

/* ---- notifier --------------------------------------------------------------------- */

lrt__notifier *lrt__notifier_get(struct lrt_runtime *rt)
{
    lrt__notifier *n = rt->io->notifier;
    atomic_fetch_add(&n->refs, 1);
    return n;
}

void lrt__notifier_put(lrt__notifier *n)
{
    if (!n)
        return;
    if (atomic_fetch_sub(&n->refs, 1) == 1) {
        close(n->efd);
        free(n);
    }
}

void lrt__notifier_wake(lrt__notifier *n)
{
    /* pairs with the seq_cst store of parked + re-check in lrt__io_poll */
    if (atomic_load(&n->parked)) {
        uint64_t one = 1;
        ssize_t k;
        do
            k = write(n->efd, &one, sizeof one);
        while (k < 0 && errno == EINTR);
        /* EAGAIN = counter saturated: the runtime is being woken anyway */
    }
}

/* ---- driver ----------------------------------------------------------------------- */

int lrt__io_init(struct lrt_runtime *rt)
{
    int e;
    struct lrt__io *io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    lrt__notifier *n = calloc(1, sizeof *n);
    if (!n) {
        e = -ENOMEM;
        goto err_free_io;
    }
    atomic_init(&n->refs, 1);
    atomic_init(&n->parked, 0);
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (io->epfd < 0) {
        e = -errno;
        goto err_free_notifier;
    }
    n->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->efd < 0) {
        e = -errno;
        goto err_close_epoll;
    }
    /* level-triggered: each wake-up is drained by one read */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = NOTIFY_KEY};
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, n->efd, &ev) < 0) {
        e = -errno;
        goto err_close_efd;
    }
    sigemptyset(&io->pipe_set);
    sigaddset(&io->pipe_set, SIGPIPE);
    io->notifier = n;
    rt->io = io;
    return 0;

err_close_efd:
    close(n->efd);
err_close_epoll:
    close(io->epfd);
err_free_notifier:
    free(n);
err_free_io:
    free(io);
    return e;
}

void lrt__io_fini(struct lrt_runtime *rt)
{
    struct lrt__io *io = rt->io;
    if (!io)
        return;
    close(io->epfd); /* user fds stay open: they belong to the user */
    for (size_t i = 0; i < io->cap; i++) {
        if (io->regs[i] && (io->regs[i]->flags & REG_ACTIVE))
            reg_release(io->regs[i]); /* ... as lrt found them */
        free(io->regs[i]);
    }
    free(io->regs);
    lrt__notifier_put(io->notifier);
    free(io);
    rt->io = NULL;
}

static int pwait(struct lrt__io *io, uint64_t timeout_ns)
{
    if (!io->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns != UINT64_MAX) {
            ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
            ts.tv_nsec = (long)(timeout_ns % 1000000000u);
            tsp = &ts;
        }
        int n = epoll_pwait2(io->epfd, io->events, IO_BATCH, tsp, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        io->no_pwait2 = 1; /* kernel before 5.11: millisecond sleeps, rounded up */
    }
    int ms;
    if (timeout_ns == UINT64_MAX)
        ms = -1;
    else if (timeout_ns / 1000000u >= INT_MAX)
        ms = INT_MAX;
    else
        ms = (int)((timeout_ns + 999999u) / 1000000u);
    return epoll_wait(io->epfd, io->events, IO_BATCH, ms);
}

int lrt__io_poll(struct lrt_runtime *rt, uint64_t timeout_ns)
{
    struct lrt__io *io = rt->io;
    lrt__notifier *notifier = io->notifier;
    if (timeout_ns != 0) {
        /* Publish "parked" before re-checking the queues: a poster that pushed before
         * our store sees parked=0 and does not write, but then we see its work here. */
        atomic_store(&notifier->parked, 1);
        if (lrt__remote_pending(rt) || lrt__pool_ready(rt) || atomic_load(&rt->dump_request))
            timeout_ns = 0;
    }
    if (timeout_ns != 0)
        LRT__TP(driver_park_begin, timeout_ns == UINT64_MAX ? (int64_t)-1 : (int64_t)timeout_ns);
    int n = pwait(io, timeout_ns);
    int e = errno;
    atomic_store(&notifier->parked, 0);
    if (timeout_ns != 0)
        LRT__TP(driver_park_end, timeout_ns == UINT64_MAX ? (int64_t)-1 : (int64_t)timeout_ns,
                n < 0 ? 0 : n);
    if (n < 0)
        return e == EINTR ? 0 : -e;
    for (int i = 0; i < n; i++) {
        uint64_t key = io->events[i].data.u64;
        uint32_t ev = io->events[i].events;
        uint32_t fd = (uint32_t)key;
        if (fd == NOTIFY_KEY) {
            uint64_t v;
            while (read(notifier->efd, &v, sizeof v) < 0 && errno == EINTR) {
            }
            continue;
        }
        struct reg *r = fd < io->cap ? io->regs[fd] : NULL;
        if (!r || !(r->flags & REG_ACTIVE) || r->gen != (uint32_t)(key >> 32))
            continue; /* an earlier incarnation of the number */
        LRT__TP(io_ready, (int)fd, ev);
        rt->m.io_ready++;
        r->ready |= ev;
        r->tick++;
        if (ev & READ_READY)
            wake_queue(io, r, &r->readers, 0, 0);
        else if (r->nboth && (ev & EPOLLOUT))
            wake_queue(io, r, &r->readers, EPOLLOUT, 0);
        if (ev & WRITE_READY)
            wake_queue(io, r, &r->writers, 0, 0);
    }
    return n;
}

size_t lrt__io_waiters(struct lrt_runtime *rt) { return rt->io ? rt->io->waiters : 0; }

size_t lrt__io_registered(struct lrt_runtime *rt) { return rt->io ? rt->io->registered : 0; }

void lrt__io_foreach(struct lrt_runtime *rt,
                     void (*fn)(int fd, uint32_t ready, int readers, int writers, void *ctx),
                     void *ctx)
{
    struct lrt__io *io = rt->io;
    if (!io)
        return;
    for (size_t i = 0; i < io->cap; i++) {
        struct reg *r = io->regs[i];
        if (r && ((r->flags & REG_ACTIVE) || r->nreaders || r->nwriters))
            fn((int)i, r->ready, r->nreaders, r->nwriters, ctx);
    }
}
