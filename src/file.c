/*
 * file.c - lrt_open/lrt_pread/lrt_pwrite/lrt_fsync/lrt_stat: the syscall runs as a
 * blocking-pool job while the task waits (regular files are always "ready" for epoll,
 * so waiting for readiness would block the runtime thread on the disk).  On the io_uring
 * backend pread/pwrite/fsync are submitted operations instead (io_uring_file.c): no
 * pool thread, no job; open and stat stay jobs (IORING_OP_OPENAT/STATX would need the
 * path copied off the stack and gain little: they are not per-block calls).
 *
 * The request, the caller's buffer and path stay on the caller's side: the task does not
 * return before the job has ended, even when it is aborted or its runtime shuts down
 * (lrt__join_wait_as with hold), so nothing is allocated per call and a pool thread never
 * writes into a stack that was reused.  An interruption while the job is still queued
 * drops it (nothing was done: the interruption's error is returned); once a thread runs
 * it, the task waits for it and returns the real result, and the interruption stays
 * pending for its next suspension point -- the first wake wins (src/waitq.h).  A runtime
 * that shuts down with a timeout shorter than the job leaks the task, its stack with it,
 * so the late write still lands in mapped memory.
 *
 * Layer: beside dns.c, above the pool (lrt_spawn_blocking) and task.c's
 * lrt__join_wait_as.  Runtime thread, in a task.
 */
#include "osjob.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void (*lrt__file_test_hook)(void);

enum { OP_OPEN, OP_PREAD, OP_PWRITE, OP_FSYNC, OP_STAT };
static const char *const op_names[] = {"open", "pread", "pwrite", "fsync", "stat"};

struct file_req {
    int op;
    int fd;          /* or -1 (open, stat) */
    int flags;
    mode_t mode;
    const char *path;
    void *buf;
    size_t n;
    off_t off;
    struct stat *st;
    ssize_t res;     /* written by the job: the syscall's result or -errno */
};

static void *file_job(void *arg)
{
    struct file_req *q = arg;
    void (*hook)(void) = __atomic_load_n(&lrt__file_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook();
    ssize_t r;
    do {
        switch (q->op) {
        case OP_OPEN:
            r = open(q->path, q->flags | O_CLOEXEC, q->mode);
            break;
        case OP_PREAD:
            r = pread(q->fd, q->buf, q->n, q->off);
            break;
        case OP_PWRITE:
            r = pwrite(q->fd, q->buf, q->n, q->off);
            break;
        case OP_FSYNC:
            r = fsync(q->fd);
            break;
        default:
            r = stat(q->path, q->st);
            break;
        }
    } while (r < 0 && errno == EINTR);
    q->res = r < 0 ? -errno : r;
    return NULL;
}

/* "file pread fd 5", "file open /etc/hosts" (cut to fit): by hand, as snprintf cost a
 * measurable part of a call that does no I/O on this thread. */
static void wait_text(char *text, const struct file_req *q)
{
    char *p = text, *end = text + LRT__WAIT_TEXT - 1;
    memcpy(p, "file ", 5);
    p += 5;
    size_t l = strlen(op_names[q->op]);
    memcpy(p, op_names[q->op], l);
    p += l;
    if (q->path) {
        *p++ = ' ';
        for (const char *s = q->path; *s && p < end; s++)
            *p++ = *s;
    } else {
        memcpy(p, " fd ", 4);
        p += 4;
        char digits[12];
        int n = 0;
        unsigned v = (unsigned)q->fd; /* fd >= 0 here */
        do
            digits[n++] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        while (n > 0)
            *p++ = digits[--n];
    }
    *p = '\0';
}

static ssize_t file_run(struct file_req *q)
{
    struct lrt_task *cur;
    int err = lrt__task_ctx(&cur);
    if (err)
        return err;
    if (cur->flags & LRT__TF_INTERRUPT) {
        err = lrt__interrupted(cur);
        if (err)
            return err;
    }
    /* io_uring: a submitted operation on the caller's buffer, no pool job */
    static const int uring_op[] = {[OP_PREAD] = LRT__IO_PREAD, [OP_PWRITE] = LRT__IO_PWRITE,
                                   [OP_FSYNC] = LRT__IO_FSYNC};
    if (q->op == OP_PREAD || q->op == OP_PWRITE || q->op == OP_FSYNC) {
        ssize_t res;
        if (lrt__uop_file(cur, uring_op[q->op], q->fd, q->buf, q->n, (uint64_t)q->off, &res))
            return res;
    }
    char text[LRT__WAIT_TEXT];
    wait_text(text, q);
    lrt_task_t *h = lrt_spawn_blocking(file_job, q);
    if (!h)
        return -errno;
    uint32_t seen = cur->flags & LRT__TF_CANCEL_SEEN;
    uint64_t id = lrt_task_id(h);
    int rc = lrt__join_wait_as(h, LRT__WAIT_FILE, text, id, (uint32_t)q->fd, -1, false);
    if (rc) {
        lrt_abort(h); /* still queued: dropped, the buffer untouched */
        (void)lrt__join_wait_as(h, LRT__WAIT_FILE, text, id, (uint32_t)q->fd, -1, true);
    }
    int st = lrt_join(h, NULL); /* finished: does not suspend */
    if (st)
        return rc ? rc : st; /* never ran: dropped, or no pool thread (-EAGAIN, -ENOMEM) */
    if (rc) /* it ran: its result, the interruption is for the next suspension point */
        cur->flags = (cur->flags & ~LRT__TF_CANCEL_SEEN) | seen;
    return q->res;
}

int lrt_open(const char *path, int flags, mode_t mode)
{
    if (!path)
        return -EINVAL;
    struct file_req q = {.op = OP_OPEN, .fd = -1, .flags = flags, .mode = mode, .path = path};
    return (int)LRT__NOTAIL(file_run(&q));
}

ssize_t lrt_pread(int fd, void *buf, size_t n, off_t off)
{
    if (fd < 0)
        return -EBADF;
    if (n > SSIZE_MAX || off < 0)
        return -EINVAL;
    struct file_req q = {.op = OP_PREAD, .fd = fd, .buf = buf, .n = n, .off = off};
    return LRT__NOTAIL(file_run(&q));
}

ssize_t lrt_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fd < 0)
        return -EBADF;
    if (n > SSIZE_MAX || off < 0)
        return -EINVAL;
    struct file_req q = {.op = OP_PWRITE, .fd = fd, .buf = (void *)buf, .n = n, .off = off};
    return LRT__NOTAIL(file_run(&q));
}

int lrt_fsync(int fd)
{
    if (fd < 0)
        return -EBADF;
    struct file_req q = {.op = OP_FSYNC, .fd = fd};
    return (int)LRT__NOTAIL(file_run(&q));
}

int lrt_stat(const char *path, struct stat *st)
{
    if (!path || !st)
        return -EINVAL;
    struct file_req q = {.op = OP_STAT, .fd = -1, .path = path, .st = st};
    return (int)LRT__NOTAIL(file_run(&q));
}
