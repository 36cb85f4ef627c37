/*
 * io.h - private to io.c and io_reg.c: the fd cache (one registration per fd, readiness
 * cached in it) and the runtime's I/O state.  Runtime thread only.
 */
#ifndef LRT_IO_H
#define LRT_IO_H

#include "driver.h"
#include "waitq.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>

/* what every fd is watched for (the driver does this; the tracepoints name it) */
#define IO_INTEREST (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define IO_BATCH 1024 /* events taken per wait */
#define NOTIFY_KEY 0xffffffffu /* low 32 bits of the driver key for the notifier's eventfd */


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
    REG_TOGGLE = 1u << 7,  /* pipe/tty /proc could not reopen: O_NONBLOCK around each attempt */
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
    const struct lrt__driver_ops *drv;
    struct lrt__driver *d;
    lrt__notifier *notifier;
    struct reg **regs; /* indexed by fd */
    size_t cap;
    size_t registered;
    size_t waiters;
    sigset_t pipe_set; /* {SIGPIPE} */
    struct lrt__driver_event events[IO_BATCH];
};

/* io_reg.c */
struct reg *lrt__io_reg_register(struct lrt__io *io, int fd, int *err); /* first use of @fd */
void lrt__io_reg_release(struct reg *r); /* undo what registration did to the fd */
int lrt__io_set_nonblock(struct reg *r); /* the last resort (io_reg.c's top comment) */
int lrt__io_nb_begin(struct reg *r);     /* REG_TOGGLE: set O_NONBLOCK, the flags to restore */
void lrt__io_nb_end(struct reg *r, int fl); /* ... and restore them (errno kept) */

/* @fd's registration, registered on first use; NULL with *err (-EBADF, ...). */
static inline struct reg *reg_get(struct lrt__io *io, int fd, int *err)
{
    if (LRT__LIKELY((size_t)(unsigned)fd < io->cap)) {
        struct reg *r = io->regs[fd];
        if (LRT__LIKELY(r && (r->flags & REG_ACTIVE)))
            return r;
    }
    return lrt__io_reg_register(io, fd, err);
}

#endif
