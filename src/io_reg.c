/*
 * io_reg.c - registering an fd in the fd cache (first use) and undoing it.
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
 *    When /proc cannot reopen it (another uid's pipe after a privilege drop such as
 *    `sudo -u` or a daemon's setuid: EACCES; no /proc), O_NONBLOCK is set on the shared
 *    description for the length of each attempt only (REG_TOGGLE: three fcntl calls
 *    more per attempt), so it is never left set while a task waits, nor by a crash
 *    other than one inside that syscall;
 *  - regular files and block devices: nothing (O_NONBLOCK means nothing to them);
 *  - the rest (accept/connect on a blocking socket, an fd /proc cannot reopen such as an
 *    eventfd, a pty master, a character device that clones on open): O_NONBLOCK is set
 *    and cleared again when lrt deregisters the fd (lrt_close, runtime free).
 *
 * It also picks the backend at runtime start (lrt__io_driver_open, the end of the file).
 *
 * Layer: the driver (driver.h) and libc.  State: rt->io, the runtime thread's.
 */
#include "io.h"
#include "trace.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

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
int lrt__io_set_nonblock(struct reg *r)
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

/* REG_TOGGLE: O_NONBLOCK on the shared description for one attempt.  Returns the flags
 * that lrt__io_nb_end restores (read each time: others may change them), or -errno. */
int lrt__io_nb_begin(struct reg *r)
{
    int fl = fcntl(r->fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(r->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return fl;
}

void lrt__io_nb_end(struct reg *r, int fl)
{
    if (!(fl & O_NONBLOCK)) {
        int e = errno;
        fcntl(r->fd, F_SETFL, fl);
        errno = e;
    }
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
        r->flags |= REG_TOGGLE; /* shared with others: never left set (top of the file) */
        return 0;
    }
    return lrt__io_set_nonblock(r);
}

/* Undo what registration did to the caller's fd: close the private description, clear
 * the O_NONBLOCK lrt set (only on the same object: the number may have been closed and
 * reused behind our back). */
void lrt__io_reg_release(struct reg *r)
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
struct reg *lrt__io_reg_register(struct lrt__io *io, int fd, int *err)
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
        lrt__list_init(&r->uops);
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
    r->gen = (r->gen + 1) & 0x7fffffffu; /* 31 bits: reg_key (io.h) */
    if (!r->gen)
        r->gen = 1;
    r->flags = REG_ACTIVE;
    if (S_ISSOCK(st.st_mode)) {
        r->flags |= REG_SOCK;
        if (io->drv->submit)
            r->flags |= REG_COMPL; /* read/write/accept are submitted (io_uring_ops.c) */
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM)
            r->flags |= REG_STREAM;
    } else if (S_ISFIFO(st.st_mode)) {
        r->flags |= REG_STREAM;
    }
    if (S_ISREG(st.st_mode))
        r->flags |= REG_PLAIN;
    int e = io->drv->add(io->d, fd, reg_key(r), false);
    if (e == -EPERM) {
        /* regular files and the like do not poll: they are always ready */
        r->flags |= REG_NOEPOLL;
    } else if (e < 0) {
        r->flags = 0;
        *err = e;
        return NULL;
    }
    if (!(fl & O_NONBLOCK) && (*err = nonblocking_io(r, &st)) < 0) {
        if (!(r->flags & REG_NOEPOLL))
            io->drv->del(io->d, fd);
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

size_t lrt__io_registered(struct lrt_runtime *rt) { return rt->io ? rt->io->registered : 0; }

/* lrt__io_foreach lists @fd among the registered ones */
static bool shown(const struct lrt__io *io, int fd)
{
    const struct reg *r = fd >= 0 && (size_t)fd < io->cap ? io->regs[fd] : NULL;
    return r && ((r->flags & REG_ACTIVE) || r->nreaders || r->nwriters);
}

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
    /* file calls in flight on fds that are not registered (io_uring_file.c): one entry
     * per fd, at its first operation in the list (a snapshot's walk: the quadratic look
     * back is over file calls in flight, one per task at most) */
    for (lrt__link *l = io->fuops.next; l != &io->fuops; l = l->next) {
        int fd = lrt__container_of(l, struct lrt__uop, link)->d.fd;
        if (shown(io, fd))
            continue;
        bool first = true;
        for (lrt__link *k = io->fuops.next; k != l && first; k = k->next)
            first = lrt__container_of(k, struct lrt__uop, link)->d.fd != fd;
        if (first)
            fn(fd, 0, 0, 0, ctx);
    }
}

/* ---- the backend ------------------------------------------------------------------- */

/* LRT_DRIVER from the environment (it overrides the option, so that a deployment can
 * choose without a rebuild), else @opt. */
static int driver_wanted(int opt, const char **src)
{
    const char *v = getenv("LRT_DRIVER");
    *src = "option";
    if (!v || !*v)
        return opt;
    *src = "LRT_DRIVER";
    if (!strcmp(v, "auto"))
        return LRT_DRIVER_AUTO;
    if (!strcmp(v, "epoll"))
        return LRT_DRIVER_EPOLL;
    if (!strcmp(v, "uring") || !strcmp(v, "io_uring"))
        return LRT_DRIVER_URING;
    fprintf(stderr, "lrt: ignoring LRT_DRIVER=%s (auto, epoll or uring)\n", v);
    *src = "option";
    return opt;
}

/* kernel.io_uring_disabled: 0 allowed, 1 only for the io_uring_group, 2 refused to all
 * (Linux 6.6); -1 when the knob does not exist. */
static int uring_sysctl(void)
{
    FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
    if (!f)
        return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/*
 * Start the backend: io_uring when asked or, in auto mode, when the kernel lets this
 * process set up a ring (not disabled by kernel.io_uring_disabled, not refused by a
 * seccomp filter with EPERM/ENOSYS as container runtimes install); else epoll, saying
 * why in io->driver_why (the snapshot, lrt:driver_select).  An explicit io_uring that
 * cannot work is an error (a negative errno from lrt_runtime_new), not a silent epoll.
 */
int lrt__io_driver_open(struct lrt__io *io, int want)
{
    const char *src;
    want = driver_wanted(want, &src);
    int e;
    if (want == LRT_DRIVER_AUTO && RUNNING_ON_VALGRIND) {
        /* valgrind does not model the ring: io_uring_enter is not treated as a blocking
         * call (the other threads never run while the runtime parks in it) nor are the
         * kernel's writes through the ring; seen: every pool job hung, then a crash */
        snprintf(io->driver_why, sizeof io->driver_why, "auto: epoll under valgrind");
    } else if (want != LRT_DRIVER_EPOLL) {
        int sys = uring_sysctl();
        e = sys == 2 ? -EPERM : lrt__driver_uring.init(&io->d);
        if (e == 0) {
            io->drv = &lrt__driver_uring;
            snprintf(io->driver_why, sizeof io->driver_why, "%s: io_uring works here",
                     want == LRT_DRIVER_AUTO ? "auto" : src);
            goto out;
        }
        const char *name = strerrorname_np(-e);
        if (sys == 2)
            snprintf(io->driver_why, sizeof io->driver_why,
                     "auto: io_uring disabled (kernel.io_uring_disabled=2)");
        else
            snprintf(io->driver_why, sizeof io->driver_why, "auto: io_uring_setup: %s%s",
                     name ? name : "error",
                     e == -EPERM || e == -ENOSYS ? " (refused: seccomp, io_uring_disabled)" : "");
        if (want == LRT_DRIVER_URING) {
            fprintf(stderr, "lrt: io_uring requested (%s) but unavailable: %s\n", src,
                    io->driver_why + 6);
            return e;
        }
    } else {
        snprintf(io->driver_why, sizeof io->driver_why, "%s: epoll", src);
    }
    io->drv = &lrt__driver_epoll;
    if ((e = io->drv->init(&io->d)) < 0)
        return e;
out:
    LRT__TP(driver_select, io->drv->name, io->driver_why);
    return 0;
}

const char *lrt_runtime_driver(const lrt_runtime_t *rt, const char **why)
{
    if (!rt || !rt->io)
        return NULL;
    if (why)
        *why = rt->io->driver_why;
    return rt->io->drv->name;
}

long lrt__io_accept_queue(struct lrt_runtime *rt, int fd)
{
    struct lrt__io *io = rt->io;
    if (!io || fd < 0 || (size_t)fd >= io->cap || !io->regs[fd] || !io->regs[fd]->macc)
        return -1;
    return (long)lrt__macc_queued(io->regs[fd]->macc);
}

void lrt__io_ops_foreach(struct lrt_runtime *rt, int fd,
                         void (*fn)(int op, uint64_t task_id, uint64_t start_ns, void *ctx), void *ctx)
{
    struct lrt__io *io = rt->io;
    if (!io || fd < 0)
        return;
    for (lrt__link *l = io->fuops.next; l != &io->fuops; l = l->next) {
        struct lrt__uop *u = lrt__container_of(l, struct lrt__uop, link);
        if (u->d.fd == fd)
            fn(u->d.op, u->task->id, u->start_ns, ctx);
    }
    if ((size_t)fd >= io->cap || !io->regs[fd])
        return;
    struct reg *r = io->regs[fd];
    for (lrt__link *l = r->uops.next; l != &r->uops; l = l->next) {
        struct lrt__uop *u = lrt__container_of(l, struct lrt__uop, link);
        fn(u->d.op, u->task->id, u->start_ns, ctx);
    }
    lrt__io_accepts_foreach(io, fd, fn, ctx);
}
