/* Files on the blocking pool: lrt_open/pread/pwrite/fsync/stat round trips, short reads,
 * errors, the dump, and the rule that a waiting task never returns while a pool thread
 * may still write into its buffer (abort, deadline scope, shutdown).  Jobs are held
 * deterministically: a saturated pool (one thread, busy) keeps a job queued, the test
 * hook (lrt__file_test_hook) keeps a running job from reaching its syscall. */
#include "test_util.h"
#include "internal.h"
#include "osjob.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_gate.h"

/* A temporary file holding 4 KiB + 100 bytes of a known pattern; its fd (O_RDWR). */
#define DATA_LEN 4196
static char tmp_path[64];

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + 3);
}

static int data_file(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/lrt-test-file-XXXXXX");
    int fd = mkstemp(tmp_path);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned char buf[DATA_LEN];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    CU_ASSERT_FATAL(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
    return fd;
}

static json_t *wait_of(uint64_t id) { return lrt_test_task_wait(id, "file"); }

static lrt_options_t one_thread(void)
{
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.max_blocking_threads = 1;
    return o;
}

/* ---- round trips and errors ------------------------------------------------------- */

static void *round_trip_root(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/lrt-test-rt-%d", (int)getpid());
    int fd = lrt_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* always close-on-exec */
    static char out[8192], in[8192];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)pattern(i);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, out, 4096, 0), 4096);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, out + 4096, 4096, 4096), 4096);
    CU_ASSERT_EQUAL(lrt_fsync(fd), 0);
    struct stat st;
    CU_ASSERT_EQUAL(lrt_stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 8192);
    CU_ASSERT(S_ISREG(st.st_mode));
    memset(in, 0, sizeof in);
    CU_ASSERT_EQUAL(lrt_pread(fd, in, sizeof in, 0), 8192);
    CU_ASSERT_EQUAL(memcmp(in, out, sizeof in), 0);
    /* at an offset, and nothing happens to the file position */
    CU_ASSERT_EQUAL(lrt_pread(fd, in, 10, 5000), 10);
    CU_ASSERT_EQUAL(memcmp(in, out + 5000, 10), 0);
    CU_ASSERT_EQUAL(lseek(fd, 0, SEEK_CUR), 0);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, "", 0, 0), 0);
    close(fd);
    unlink(path);
    return NULL;
}

static void file_data_written_with_pwrite_reads_back_with_pread(void)
{
    lrt_test_run(NULL, round_trip_root, NULL);
}

static void *eof_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    char buf[4096];
    /* 100 bytes left after 4 KiB: a short read, then 0 at and past the end */
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, 4096), 100);
    CU_ASSERT_EQUAL((unsigned char)buf[0], pattern(4096));
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, DATA_LEN), 0);
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, 1 << 30), 0);
    close(fd);
    unlink(tmp_path);
    return NULL;
}

static void pread_is_short_at_the_end_of_a_file_and_zero_past_it(void)
{
    lrt_test_run(NULL, eof_root, NULL);
}

static void *errors_root(void *arg)
{
    (void)arg;
    char buf[16] = {0};
    struct stat st;
    int fd = dup(0);
    close(fd); /* a number that is surely not open now */
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_pwrite(fd, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_fsync(fd), -EBADF);
    CU_ASSERT_EQUAL(lrt_pread(-1, buf, sizeof buf, 0), -EBADF);
    CU_ASSERT_EQUAL(lrt_fsync(-5), -EBADF);
    CU_ASSERT_EQUAL(lrt_open("/nonexistent/lrt/file", O_RDONLY, 0), -ENOENT);
    CU_ASSERT_EQUAL(lrt_stat("/nonexistent/lrt/file", &st), -ENOENT);
    CU_ASSERT_EQUAL(lrt_open(NULL, O_RDONLY, 0), -EINVAL);
    CU_ASSERT_EQUAL(lrt_stat(NULL, &st), -EINVAL);
    CU_ASSERT_EQUAL(lrt_stat("/", NULL), -EINVAL);
    int d = data_file();
    CU_ASSERT_EQUAL(lrt_pread(d, buf, sizeof buf, -1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_pread(d, buf, (size_t)SSIZE_MAX + 1, 0), -EINVAL);
    /* a directory opened for writing */
    CU_ASSERT_EQUAL(lrt_open("/", O_WRONLY, 0), -EISDIR);
    close(d);
    unlink(tmp_path);
    return NULL;
}

static void file_calls_return_negative_errnos(void)
{
    lrt_test_run(NULL, errors_root, NULL);
    /* outside a task */
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    lrt_runtime_t *prev = lrt_enter(rt);
    char b;
    CU_ASSERT_EQUAL(lrt_pread(0, &b, 1, 0), -EPERM);
    CU_ASSERT_EQUAL(lrt_open("/", O_RDONLY, 0), -EPERM);
    lrt_exit(prev);
    lrt_runtime_free(rt);
}

/* ---- the buffer stays valid --------------------------------------------------------- */

#define CANARY 0x5a
struct reader {
    int fd;
    ssize_t rc;        /* lrt_pread's return */
    int after;         /* the next suspension point's return */
    int intact;        /* the buffer still held the canary when lrt_pread returned */
    int matches;       /* the buffer held the file's bytes when lrt_pread returned */
    unsigned char *heap; /* NULL: read into the task's own stack */
};

static NOINLINE void *reader_task(void *arg)
{
    struct reader *r = arg;
    unsigned char stack_buf[4096];
    unsigned char *buf = r->heap ? r->heap : stack_buf;
    memset(buf, CANARY, 4096);
    r->rc = lrt_pread(r->fd, buf, 4096, 0);
    r->intact = r->matches = 1;
    for (size_t i = 0; i < 4096; i++) {
        r->intact &= buf[i] == CANARY;
        r->matches &= buf[i] == pattern(i);
    }
    r->after = lrt_yield();
    return NULL;
}

/* The pread's job is running (held in the hook) when the task is aborted: the task goes
 * on waiting, and returns only after the job wrote its buffer, with the real count; the
 * abort comes at its next suspension point. */
static void *abort_running_root(void *arg)
{
    (void)arg;
    struct reader r = {.fd = data_file(), .rc = 1};
    lrt_task_t *t = lrt_spawn(reader_task, &r);
    CU_ASSERT_FATAL(wait_for(&gate.entered, 1, 5000));
    json_t *w = wait_of(lrt_task_id(t));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    char expect[64];
    snprintf(expect, sizeof expect, "file pread fd %d", r.fd);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), "file");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), expect);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(w, "fd")), r.fd);
    CU_ASSERT(json_integer_value(json_object_get(w, "job")) > 0);
    json_decref(w);
    lrt_abort(t);
    lrt_sleep_ms(20);
    /* still waiting for its job, parked (not spinning through cancelled waits) */
    CU_ASSERT_EQUAL(lrt_task_is_finished(t), 0);
    CU_ASSERT_EQUAL(r.rc, 1);
    w = wait_of(lrt_task_id(t));
    CU_ASSERT(w && strcmp(json_string_value(json_object_get(w, "kind")), "file") == 0);
    json_decref(w);
    gate_open();
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(r.rc, 4096);
    CU_ASSERT(r.matches);
    CU_ASSERT_EQUAL(r.after, -ECANCELED);
    close(r.fd);
    unlink(tmp_path);
    return NULL;
}

/* The tests that hold a pread's pool job run on epoll: on io_uring pread is a submitted
 * operation, no job (its interruptions are tested in the uring_file suite). */
static char *pool_saved;
static void pool_driver(void)
{
    const char *v = getenv("LRT_DRIVER");
    pool_saved = v ? strdup(v) : NULL;
    setenv("LRT_DRIVER", "epoll", 1);
}
static void pool_driver_end(void)
{
    if (pool_saved)
        setenv("LRT_DRIVER", pool_saved, 1);
    else
        unsetenv("LRT_DRIVER");
    free(pool_saved);
    pool_saved = NULL;
}

static void an_aborted_pread_waits_for_its_running_job_and_returns_its_result(void)
{
    gate_reset();
    pool_driver();
    lrt__file_test_hook = gate_wait;
    lrt_test_run(NULL, abort_running_root, NULL);
    lrt__file_test_hook = NULL;
    pool_driver_end();
}

/* The only pool thread is busy: the pread stays queued; the abort drops it, the task
 * returns -ECANCELED at once with its buffer untouched, and nothing writes into that
 * buffer later. */
static void *abort_queued_root(void *arg)
{
    (void)arg;
    static unsigned char heap[4096];
    struct reader r = {.fd = data_file(), .rc = 1, .heap = heap};
    lrt_task_t *blocker = lrt_spawn_blocking(gated_job, NULL);
    lrt_yield();
    CU_ASSERT_FATAL(wait_for(&gate.entered, 1, 5000));
    lrt_task_t *t = lrt_spawn(reader_task, &r);
    lrt_yield();
    lrt_yield();
    json_t *w = wait_of(lrt_task_id(t));
    CU_ASSERT(w && strcmp(json_string_value(json_object_get(w, "kind")), "file") == 0);
    json_decref(w);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(r.rc, -ECANCELED);
    CU_ASSERT(r.intact);
    gate_open();
    CU_ASSERT_EQUAL(lrt_join(blocker, NULL), 0);
    lrt_sleep_ms(10);
    size_t queued = 99;
    lrt__pool_stats(lrt_current(), NULL, NULL, &queued);
    CU_ASSERT_EQUAL(queued, 0u);
    CU_ASSERT_EQUAL(heap[0], CANARY);
    CU_ASSERT_EQUAL(heap[4095], CANARY);
    close(r.fd);
    unlink(tmp_path);
    return NULL;
}

static void an_aborted_pread_whose_job_is_still_queued_returns_at_once_untouched(void)
{
    gate_reset();
    lrt_options_t o = one_thread();
    pool_driver();
    lrt_test_run(&o, abort_queued_root, NULL);
    pool_driver_end();
}

/* A deadline scope: a queued job is dropped (-ETIMEDOUT), a running one waited out. */
static void *scope_root(void *arg)
{
    (void)arg;
    int fd = data_file();
    char buf[64];
    lrt_task_t *blocker = lrt_spawn_blocking(gated_job, NULL);
    lrt_yield();
    CU_ASSERT_FATAL(wait_for(&gate.entered, 1, 5000));
    int tok = lrt_timeout_push(20);
    CU_ASSERT_EQUAL(lrt_pread(fd, buf, sizeof buf, 0), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    gate_open();
    CU_ASSERT_EQUAL(lrt_join(blocker, NULL), 0);
    close(fd);
    unlink(tmp_path);
    return NULL;
}

static void a_deadline_scope_drops_a_queued_file_job(void)
{
    gate_reset();
    lrt_options_t o = one_thread();
    pool_driver();
    lrt_test_run(&o, scope_root, NULL);
    pool_driver_end();
}

struct open_arg {
    int rc;
    const char *path;
};

static void *open_task(void *arg)
{
    struct open_arg *o = arg;
    o->rc = lrt_open(o->path, O_RDONLY, 0);
    return NULL;
}

static void *dump_paths_root(void *arg)
{
    (void)arg;
    /* a long path: the text is cut to fit the 96-byte wait text */
    static char longpath[300];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[0] = '/';
    struct open_arg a = {.rc = 1, .path = "/etc/hosts"}, b = {.rc = 1, .path = longpath};
    lrt_task_t *ta = lrt_spawn(open_task, &a);
    lrt_task_t *tb = lrt_spawn(open_task, &b);
    CU_ASSERT_FATAL(wait_for(&gate.entered, 2, 5000));
    json_t *w = wait_of(lrt_task_id(ta));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), "file open /etc/hosts");
    CU_ASSERT_PTR_NULL(json_object_get(w, "fd")); /* no fd yet */
    json_decref(w);
    w = wait_of(lrt_task_id(tb));
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    const char *obj = json_string_value(json_object_get(w, "object"));
    CU_ASSERT(obj && strncmp(obj, "file open /ppp", 14) == 0 && strlen(obj) == LRT__WAIT_TEXT - 1);
    json_decref(w);
    gate_open();
    CU_ASSERT_EQUAL(lrt_join(ta, NULL), 0);
    CU_ASSERT_EQUAL(lrt_join(tb, NULL), 0);
    CU_ASSERT(a.rc >= 0);
    CU_ASSERT_EQUAL(b.rc, -ENAMETOOLONG);
    if (a.rc >= 0)
        close(a.rc);
    return NULL;
}

static void the_dump_shows_a_file_wait_with_its_path(void)
{
    gate_reset();
    lrt__file_test_hook = gate_wait;
    lrt_test_run(NULL, dump_paths_root, NULL);
    lrt__file_test_hook = NULL;
}

/* Shutdown cancels the task while its job runs: runtime_free waits for the job, and the
 * task returns the real result before its stack goes. */
static struct reader shut_reader;

static void *opener_thread(void *arg)
{
    (void)arg;
    usleep(50000);
    gate_open();
    return NULL;
}

static void *shutdown_root(void *arg)
{
    (void)arg;
    lrt_task_t *t = lrt_spawn(reader_task, &shut_reader);
    lrt_task_detach(t);
    CU_ASSERT(wait_for(&gate.entered, 1, 5000));
    return NULL;
}

static void a_shutdown_waits_for_a_running_file_job_before_its_task_returns(void)
{
    gate_reset();
    lrt__file_test_hook = gate_wait;
    shut_reader = (struct reader){.fd = data_file(), .rc = 1};
    pool_driver();
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    pool_driver_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(lrt_block_on(rt, shutdown_root, NULL, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, opener_thread, NULL);
    lrt_runtime_free(rt); /* cancels the reader, which waits for its job */
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(shut_reader.rc, 4096);
    CU_ASSERT(shut_reader.matches);
    CU_ASSERT_EQUAL(shut_reader.after, -ECANCELED);
    close(shut_reader.fd);
    unlink(tmp_path);
    lrt__file_test_hook = NULL;
}

static int emfile_seen = 1;

static void *emfile_root(void *arg)
{
    (void)arg;
    emfile_seen = lrt_open("/etc/hosts", O_RDONLY, 0);
    return NULL;
}

/* open() of a FIFO blocks until a writer comes: on a pool thread, so the runtime goes on
 * running tasks meanwhile (the writer here is the root task itself). */
static void *fifo_root(void *arg)
{
    (void)arg;
    char path[64];
    snprintf(path, sizeof path, "/tmp/lrt-test-fifo-%d", (int)getpid());
    unlink(path);
    CU_ASSERT_FATAL(mkfifo(path, 0600) == 0);
    struct open_arg a = {.rc = 1, .path = path};
    lrt_task_t *t = lrt_spawn(open_task, &a);
    lrt_sleep_ms(20);
    CU_ASSERT_EQUAL(lrt_task_is_finished(t), 0); /* blocked in open(), on its thread */
    int w = -1;
    for (int i = 0; i < 5000 && w < 0; i++) { /* the reader's open must have begun */
        w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (w < 0)
            lrt_sleep_ms(1);
    }
    CU_ASSERT(w >= 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT(a.rc >= 0);
    if (a.rc >= 0)
        close(a.rc);
    close(w);
    unlink(path);
    return NULL;
}

static void a_blocking_open_of_a_fifo_leaves_the_runtime_running(void)
{
    lrt_test_run(NULL, fifo_root, NULL);
}

static int emfile_child(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 10;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit low = {.rlim_cur = 64, .rlim_max = rl.rlim_max};
    setrlimit(RLIMIT_NOFILE, &low);
    while (dup(0) >= 0)
        ;
    int rc = lrt_block_on(rt, emfile_root, NULL, NULL) == 0 && emfile_seen == -EMFILE ? 0 : 11;
    lrt_runtime_free(rt);
    return rc;
}

static void lrt_open_out_of_fds_returns_emfile(void)
{
    char out[512];
    int st = lrt_test_fork_capture(emfile_child, NULL, out, sizeof out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

CU_TestInfo lrt_test_file[] = {
    {"file_data_written_with_pwrite_reads_back_with_pread", file_data_written_with_pwrite_reads_back_with_pread},
    {"pread_is_short_at_the_end_of_a_file_and_zero_past_it", pread_is_short_at_the_end_of_a_file_and_zero_past_it},
    {"file_calls_return_negative_errnos", file_calls_return_negative_errnos},
    {"an_aborted_pread_waits_for_its_running_job_and_returns_its_result",
     an_aborted_pread_waits_for_its_running_job_and_returns_its_result},
    {"an_aborted_pread_whose_job_is_still_queued_returns_at_once_untouched",
     an_aborted_pread_whose_job_is_still_queued_returns_at_once_untouched},
    {"a_deadline_scope_drops_a_queued_file_job", a_deadline_scope_drops_a_queued_file_job},
    {"the_dump_shows_a_file_wait_with_its_path", the_dump_shows_a_file_wait_with_its_path},
    {"a_shutdown_waits_for_a_running_file_job_before_its_task_returns",
     a_shutdown_waits_for_a_running_file_job_before_its_task_returns},
    {"a_blocking_open_of_a_fifo_leaves_the_runtime_running", a_blocking_open_of_a_fifo_leaves_the_runtime_running},
    {"lrt_open_out_of_fds_returns_emfile", lrt_open_out_of_fds_returns_emfile},
    CU_TEST_INFO_NULL,
};
