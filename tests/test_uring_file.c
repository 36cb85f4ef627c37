/* File calls on the io_uring backend: lrt_pread/lrt_pwrite/lrt_fsync are submitted
 * operations (IORING_OP_READ/WRITE/FSYNC) on the task's own buffer, with no
 * blocking-pool job (the file suite's test hook counts the jobs), the same results as
 * the syscalls (offsets, short reads at EOF, -EBADF, -ESPIPE on a pipe, a huge length
 * clamped), and the cancellation rule of the socket operations: a task aborted
 * mid-pread returns only once the kernel is done with its buffer, thousands of times.
 * Every test forces io_uring itself (LRT_DRIVER=uring, restored after) and says so
 * when the kernel refuses it. */
#include "uring_util.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void (*lrt__file_test_hook)(void); /* file.c: runs before every pool job */

static int jobs;
static void count_job(void) { __atomic_add_fetch(&jobs, 1, __ATOMIC_RELAXED); }

static unsigned interval = 1;

/* @fn as the root of a runtime on @drv ("uring" or "epoll"); false (and a note on
 * stderr: a skip is never silent) when io_uring is refused here. */
static bool run_on(const char *drv, lrt_fn fn, void *arg)
{
    return lrt_test_run_on(drv, interval, fn, arg, NULL);
}

enum { DATA_LEN = 3 * 4096 + 100 };
static char path[64];

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + 3); }

static int data_file(void)
{
    snprintf(path, sizeof path, "/tmp/lrt-uring-file.%d", (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned char buf[DATA_LEN];
    for (size_t i = 0; i < DATA_LEN; i++)
        buf[i] = pattern(i);
    CU_ASSERT_FATAL(write(fd, buf, DATA_LEN) == DATA_LEN);
    return fd;
}

/* ---- results ------------------------------------------------------------------------ */

static void *round_trip_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    unsigned char in[DATA_LEN + 50];
    memset(in, 0, sizeof in);
    CU_ASSERT_EQUAL(lrt_pread(fd, in, 4096, 4096), 4096);
    int ok = 1;
    for (size_t i = 0; i < 4096; i++)
        ok &= in[i] == pattern(4096 + i);
    CU_ASSERT(ok);
    /* short at EOF, 0 past it */
    CU_ASSERT_EQUAL(lrt_pread(fd, in, sizeof in, 3 * 4096), 100);
    CU_ASSERT_EQUAL(in[99], pattern(3 * 4096 + 99));
    CU_ASSERT_EQUAL(lrt_pread(fd, in, sizeof in, DATA_LEN), 0);
    CU_ASSERT_EQUAL(lrt_pread(fd, in, sizeof in, (off_t)1 << 40), 0);
    CU_ASSERT_EQUAL(lrt_pread(fd, in, 0, 0), 0);
    /* the whole file in one call */
    CU_ASSERT_EQUAL(lrt_pread(fd, in, sizeof in, 0), DATA_LEN);
    ok = 1;
    for (size_t i = 0; i < DATA_LEN; i++)
        ok &= in[i] == pattern(i);
    CU_ASSERT(ok);
    /* writes at offsets, read back by the plain syscall; the file position untouched */
    CU_ASSERT_EQUAL(lrt_pwrite(fd, "hello", 5, 10), 5);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, "tail", 4, DATA_LEN + 10), 4);
    CU_ASSERT_EQUAL(lrt_fsync(fd), 0);
    char back[8] = {0};
    CU_ASSERT_EQUAL(pread(fd, back, 5, 10), 5);
    CU_ASSERT_STRING_EQUAL(back, "hello");
    CU_ASSERT_EQUAL(pread(fd, back, 4, DATA_LEN + 10), 4);
    CU_ASSERT_EQUAL(memcmp(back, "tail", 4), 0);
    CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), DATA_LEN);
    close(fd);
    unlink(path);
    return NULL;
}

static void pread_pwrite_fsync_run_on_the_ring_without_a_pool_job(void)
{
    jobs = 0;
    lrt__file_test_hook = count_job;
    if (run_on("uring", round_trip_root, NULL))
        CU_ASSERT_EQUAL(jobs, 0);
    /* on epoll the same calls are pool jobs (one per call: 9 in round_trip_root) */
    jobs = 0;
    run_on("epoll", round_trip_root, NULL);
    CU_ASSERT_EQUAL(jobs, 9);
    lrt__file_test_hook = NULL;
}

static void *errors_root(void *arg)
{
    (void)arg;
    char buf[256];
    int fd = data_file();
    close(fd);
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_fsync(fd), -EBADF);
    CU_ASSERT_EQUAL(lrt_pread(-1, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_pread(INT_MAX, buf, sizeof buf, 0), -EBADF);
    /* a pipe has no offsets: -ESPIPE as pread(2), not a read that waits for data */
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(lrt_pread(p[0], buf, sizeof buf, 0), -ESPIPE);
    CU_ASSERT_EQUAL(lrt_pwrite(p[1], "x", 1, 0), -ESPIPE);
    CU_ASSERT_EQUAL(lrt_fsync(p[1]), -EINVAL);
    close(p[0]);
    close(p[1]);
    /* a length beyond the ring's 32 bits is clamped as read(2) clamps it: 4 GiB must
     * not wrap to a 0-byte read that looks like EOF (the buffer holds the whole file) */
    fd = data_file();
    unsigned char *big = malloc(DATA_LEN);
    CU_ASSERT_EQUAL(lrt_pread(fd, big, (size_t)1 << 32, 0), DATA_LEN);
    CU_ASSERT_EQUAL(lrt_pread(fd, big, ((size_t)1 << 32) + 5, 4096), DATA_LEN - 4096);
    CU_ASSERT_EQUAL(big[0], pattern(4096));
    free(big);
    /* read-only: EBADF from the kernel, not from a check of ours */
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    CU_ASSERT_EQUAL(lrt_pwrite(ro, "x", 1, 0), -EBADF);
    close(ro);
    close(fd);
    unlink(path);
    return NULL;
}

static void file_calls_on_the_ring_return_the_syscalls_errors(void)
{
    run_on("uring", errors_root, NULL);
    run_on("epoll", errors_root, NULL); /* the same answers on the pool */
}

/* ---- interrupted ---------------------------------------------------------------------- */

#define CANARY 0xa5
enum { ROUNDS = 3000 };

struct reader {
    int fd;
    off_t off;
    ssize_t rc;
    int intact;  /* the buffer still held the canary when lrt_pread returned */
    int matches; /* it held the file's bytes */
};

static NOINLINE void *reader_task(void *arg)
{
    struct reader *r = arg;
    unsigned char buf[4096]; /* on this task's stack: what the kernel writes into */
    memset(buf, CANARY, sizeof buf);
    r->rc = lrt_pread(r->fd, buf, sizeof buf, r->off);
    r->intact = r->matches = 1;
    for (size_t i = 0; i < sizeof buf; i++) {
        r->intact &= buf[i] == CANARY;
        r->matches &= buf[i] == pattern((size_t)r->off + i);
    }
    return NULL;
}

/* Abort a task mid-pread (never ran, queued, in the kernel), thousands of times: it
 * returns either the whole block, correct, or the abort's -ECANCELED with its buffer
 * untouched; never a partial block, and never after its stack went back while the
 * kernel could still write there (the next task's frame is scribbled over and the
 * following reads checked: a late write would corrupt them, ASan would see it). */
static void *abort_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    int bad = 0, whole = 0, cancelled = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct reader r = {.fd = fd, .off = (off_t)(i % 3) * 4096, .rc = 1};
        lrt_task_t *t = lrt_spawn(reader_task, &r);
        for (int y = 0; y < i % 3; y++)
            lrt_yield();
        lrt_abort(t);
        (void)lrt_join(t, NULL);
        lrt_test_scribble_stack();
        if (r.rc == 4096 && r.matches)
            whole++;
        else if ((r.rc == -ECANCELED || r.rc == 1) && (r.rc == 1 || r.intact))
            cancelled++;
        else if (bad++ < 5)
            fprintf(stderr, "\nround %d: pread gave %zd (intact %d, matches %d)\n", i, r.rc,
                    r.intact, r.matches);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(cancelled > 0);
    CU_ASSERT(whole > 0); /* some were in the kernel when aborted: their result kept */
    close(fd);
    unlink(path);
    return NULL;
}

static void tasks_aborted_mid_pread_get_their_block_or_an_untouched_buffer(void)
{
    run_on("uring", abort_root, NULL);
    interval = 0; /* the default: the read and its cancellation reach the kernel together */
    run_on("uring", abort_root, NULL);
    interval = 1;
}

/* lrt_close on the fd while a pread is in flight: the reader gets -EBADF (its
 * completion waited for), as a socket reader does. */
struct closer {
    int fd;
};

static void *closer_task(void *arg)
{
    return (void *)(intptr_t)lrt_close(((struct closer *)arg)->fd);
}

static void *close_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    struct reader r = {.fd = fd, .rc = 1};
    struct closer c = {.fd = fd};
    /* both queued: the reader submits and suspends, then the closer runs before the
     * loop next enters the kernel (interval 61) */
    lrt_task_t *t = lrt_spawn(reader_task, &r);
    lrt_task_t *k = lrt_spawn(closer_task, &c);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(k, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(r.rc, -EBADF);
    unlink(path);
    return NULL;
}

static void closing_a_file_mid_pread_gives_ebadf(void)
{
    interval = 0;
    run_on("uring", close_root, NULL);
    interval = 1;
}

/* ---- diagnosis ------------------------------------------------------------------------ */

struct dumper {
    uint64_t reader, reader2;
    int fd;
    int found;
    int io_entries; /* the snapshot's io entries for fd */
    int io_ops;     /* their pread operations, by either reader */
};

static void *dumper_task(void *arg)
{
    struct dumper *d = arg;
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != d->reader)
            continue;
        json_t *w = json_object_get(it, "wait");
        char want[40];
        snprintf(want, sizeof want, "pread fd %d (uring)", d->fd);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), "uring");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), want);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "op")), "pread");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(w, "fd")), d->fd);
        d->found++;
    }
    /* the fd is not registered: still an io entry of its own, with both reads in flight */
    json_array_foreach(json_object_get(root, "io"), i, it)
    {
        if (json_integer_value(json_object_get(it, "fd")) != d->fd)
            continue;
        d->io_entries++;
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(it, "ready")), "");
        size_t j;
        json_t *op;
        json_array_foreach(json_object_get(it, "ops"), j, op)
        {
            uint64_t task = (uint64_t)json_integer_value(json_object_get(op, "task"));
            d->io_ops += strcmp(json_string_value(json_object_get(op, "op")), "pread") == 0 &&
                         (task == d->reader || task == d->reader2);
        }
    }
    json_decref(root);
    return NULL;
}

static void *dump_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    struct reader r = {.fd = fd, .rc = 1};
    struct reader r2 = {.fd = fd, .off = 4096, .rc = 1};
    lrt_task_t *t = lrt_spawn_named("file-reader", reader_task, &r);
    lrt_task_t *t2 = lrt_spawn_named("file-reader-2", reader_task, &r2);
    struct dumper d = {.reader = lrt_task_id(t), .reader2 = lrt_task_id(t2), .fd = fd};
    lrt_task_t *k = lrt_spawn(dumper_task, &d);
    CU_ASSERT_EQUAL(lrt_join(k, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
    CU_ASSERT_EQUAL(d.found, 1);
    CU_ASSERT_EQUAL(d.io_entries, 1);
    CU_ASSERT_EQUAL(d.io_ops, 2);
    CU_ASSERT_EQUAL(r2.rc, 4096);
    CU_ASSERT_EQUAL(r.rc, 4096);
    CU_ASSERT(r.matches);
    close(fd);
    unlink(path);
    return NULL;
}

static void a_pread_in_flight_shows_in_the_dump_and_the_snapshot_io(void)
{
    interval = 0;
    run_on("uring", dump_root, NULL);
    interval = 1;
}

CU_TestInfo lrt_test_uring_file[] = {
    {"pread_pwrite_fsync_run_on_the_ring_without_a_pool_job", pread_pwrite_fsync_run_on_the_ring_without_a_pool_job},
    {"file_calls_on_the_ring_return_the_syscalls_errors", file_calls_on_the_ring_return_the_syscalls_errors},
    {"tasks_aborted_mid_pread_get_their_block_or_an_untouched_buffer",
     tasks_aborted_mid_pread_get_their_block_or_an_untouched_buffer},
    {"closing_a_file_mid_pread_gives_ebadf", closing_a_file_mid_pread_gives_ebadf},
    {"a_pread_in_flight_shows_in_the_dump_and_the_snapshot_io",
     a_pread_in_flight_shows_in_the_dump_and_the_snapshot_io},
    CU_TEST_INFO_NULL,
};
