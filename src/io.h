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
    REG_COMPL = 1u << 8,   /* socket on a completion backend: read/write/accept are
                              submitted operations (io_uring_ops.c), not readiness waits */
    REG_DRAINED = 1u << 9, /* REG_COMPL: the last recv was short (the socket is empty):
                              the next one asks the kernel to wait for data first */
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
    lrt__link uops;    /* completion-based operations in flight on this fd (lrt__uop) */
    struct lrt__macc *macc; /* a listener's multishot accept (io_uring_accept.c), or NULL */
    dev_t dev;         /* identity, to restore flags only on the same object (io_fini) */
    ino_t ino;
};

/*
 * A completion-based operation of a task (io_uring_ops.c): on the task's stack, like a
 * waiter, and valid until its completion came back (the task never returns before: a
 * cancelled operation is waited for).  Linked on its registration's uops for lrt_close
 * (cancel, -EBADF) and the snapshot.
 */
struct lrt__uop {
    struct lrt__driver_op d; /* first: the driver reports its address */
    lrt__link link;          /* in reg->uops (io->fuops: a file call) */
    struct lrt_task *task;
    uint64_t start_ns;       /* lrt__mono_ns at submit (latency, the dump's age) */
    bool done;               /* completion arrived: d.res is the result */
    bool closed;             /* lrt_close cancelled it: the task gets -EBADF */
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
    size_t uops;       /* completion-based operations in flight */
    lrt__link fuops;   /* ... of which file calls, on unregistered fds (io_uring_file.c) */
    lrt__link maccs;   /* every multishot accept record, closed listeners' included */
    bool macc_off;     /* the backend cannot: accept one connection per operation */
    char driver_why[80]; /* why this backend (lrt:driver_select, the snapshot) */
    struct lrt__driver_event events[IO_BATCH];
};

/* What an I/O attempt does (io.c's op_try) and its arguments. */
enum op { OP_READ, OP_WRITE, OP_ACCEPT, OP_CALL,
          OP_RECVMSG, OP_SENDMSG, OP_CONNECT }; /* the last three: submitted only
                                                  (io_uring_ops.c, buf = msghdr/addr) */

struct op_args {
    void *buf;
    size_t n;
    union { /* no wider than before: lrt_read/lrt_write zero-fill it */
        struct {
            struct sockaddr *sa; /* OP_ACCEPT */
            socklen_t *len;
        };
        struct {
            lrt__io_try_fn *fn; /* OP_CALL: another file's attempt (lrt__io_run) */
            void *ctx;
        };
    };
};

/* The driver key of @r's registration: fd, and the generation (31 bits: the io_uring
 * backend keeps a tag bit below it, uring.c) for stale events. */
static inline uint64_t reg_key(const struct reg *r)
{
    return (uint32_t)r->fd | (uint64_t)r->gen << 32;
}

/* io_reg.c */
struct reg *lrt__io_reg_register(struct lrt__io *io, int fd, int *err); /* first use of @fd */
void lrt__io_reg_release(struct reg *r); /* undo what registration did to the fd */
int lrt__io_set_nonblock(struct reg *r); /* the last resort (io_reg.c's top comment) */
int lrt__io_nb_begin(struct reg *r);     /* REG_TOGGLE: set O_NONBLOCK, the flags to restore */
void lrt__io_nb_end(struct reg *r, int fl); /* ... and restore them (errno kept) */
int lrt__io_driver_open(struct lrt__io *io, int want); /* pick and start the backend */

/* io_uring_ops.c */
ssize_t lrt__uop_io(struct lrt__io *io, struct reg *r, struct lrt_task *t, int op,
                    struct op_args *a, int64_t timeout_ms); /* read/write/accept, submitted */
void lrt__uop_done(struct lrt__io *io, struct lrt__uop *u);  /* its completion came */
void lrt__uop_close(struct lrt__io *io, struct reg *r);     /* lrt_close: cancel, -EBADF */
/* wait for @u's completion whatever wakes the task (interruptions kept for later) */
void lrt__uop_hold(struct lrt_task *t, struct lrt__uop *u, int fd);
/* io_uring_file.c: lrt_close(@fd) cancels the file calls in flight on it (-EBADF) */
void lrt__uop_file_close(struct lrt__io *io, int fd);

/* io_uring_accept.c: accept through @r's multishot accept (started on first use): the
 * fd or -errno; where the backend cannot, it sets io->macc_off (then accept one per
 * operation) */
ssize_t lrt__macc_accept(struct lrt__io *io, struct reg *r, struct lrt_task *t,
                         struct op_args *a, int64_t timeout_ms);
/* .wait's event for a multishot accept: the listener's registration when it now has a
 * connection (or an error) for an acceptor, for io.c to report it readable; else NULL */
struct reg *lrt__macc_event(struct lrt__io *io, struct lrt__driver_op *op, uint32_t ev);
/* @r's queue holds a connection or an error: readable, whatever the kernel says (the
 * multishot accept empties the backlog poll(2) looks at) */
bool lrt__macc_readable(const struct reg *r);
size_t lrt__macc_queued(const struct lrt__macc *m); /* unclaimed connections (snapshot) */
void lrt__macc_close(struct lrt__io *io, struct reg *r); /* lrt_close: drop it (if any), -EBADF */
void lrt__macc_fini(struct lrt__io *io); /* io_fini, before the backend's fini */
void lrt__macc_free(struct lrt__io *io); /* io_fini, after it */
/* the snapshot: @fd's acceptors waiting on its multishot accept */
void lrt__io_accepts_foreach(struct lrt__io *io, int fd,
                             void (*fn)(int op, uint64_t task_id, uint64_t start_ns, void *ctx), void *ctx);

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
