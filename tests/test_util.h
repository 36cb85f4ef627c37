/* Shared helpers for the CUnit suites. */
#ifndef LRT_TEST_UTIL_H
#define LRT_TEST_UTIL_H
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lrt/lrt.h"

/* Run @fn as the root task of a fresh runtime (options @opts), assert it returned 0,
 * free the runtime; returns the root's result. */
static inline void *lrt_test_run(const lrt_options_t *opts, lrt_fn fn, void *arg)
{
    lrt_runtime_t *rt = lrt_runtime_new(opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    void *res = NULL;
    int rc = lrt_block_on(rt, fn, arg, &res);
    CU_ASSERT_EQUAL(rc, 0);
    lrt_runtime_free(rt);
    return res;
}

static inline void *lrt_test_run_paused(lrt_fn fn, void *arg)
{
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.start_paused = 1;
    return lrt_test_run(&o, fn, arg);
}

#define NOINLINE __attribute__((noinline))

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A TCP socket listening on 127.0.0.1 (a free port, the address in *@a), with
 * @backlog and extra socket(2) @flags (SOCK_NONBLOCK...). */
static inline int lrt_test_listen_loopback(struct sockaddr_in *a, int backlog, int flags)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    CU_ASSERT_FATAL(l >= 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(l, (struct sockaddr *)a, sizeof *a) == 0);
    socklen_t al = sizeof *a;
    CU_ASSERT_FATAL(getsockname(l, (struct sockaddr *)a, &al) == 0);
    CU_ASSERT_FATAL(listen(l, backlog) == 0);
    return l;
}

/* Open fds of this process (entries of /proc/self/fd, "." and ".." included), -1 if
 * unreadable: compare two counts, never one with a constant. */
static inline int lrt_test_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

#include <sys/wait.h>
#include <unistd.h>

/* Run @child(@arg) in a forked child whose stderr goes to @out (NUL-terminated); the
 * child ends with _exit(its return value), or by SIGALRM after 120 s.  Returns the child's
 * wait status.  For tests
 * whose subject kills the process or leaks on purpose. */
static inline int lrt_test_fork_capture(int (*child)(void *), void *arg, char *out, size_t outlen)
{
    int p[2];
    CU_ASSERT_FATAL(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(120); /* a hung child dies (SIGALRM) and fails its test instead of hanging CI */
        dup2(p[1], 2);
        close(p[0]);
        _exit(child(arg));
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outlen && (r = read(p[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

/* ---- snapshots ----------------------------------------------------------------------- */
#include <jansson.h>
#include <stdlib.h>

/* With LRT_TEST_SNAPSHOT_DIR set, save snapshot @text there as @save_as.json, for
 * tests/t-dump.sh's check against docs/snapshot.schema.json (NULL @save_as: not saved). */
static inline void lrt_test_save_snapshot(const char *save_as, const char *text)
{
    const char *dir = getenv("LRT_TEST_SNAPSHOT_DIR");
    if (!text || !save_as || !dir || !*dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, save_as);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A snapshot of the current runtime, parsed (the caller json_decref()s it), or NULL.  With
 * LRT_TEST_SNAPSHOT_DIR set, its text is also saved there as @save_as.json (NULL: not
 * saved), for tests/t-dump.sh's check against docs/snapshot.schema.json. */
static inline json_t *lrt_test_snapshot(const char *save_as)
{
    char *js = lrt_dump_json(lrt_current(), 0);
    lrt_test_save_snapshot(save_as, js);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    return root;
}

/* Task @id's member @key of a snapshot (borrowed from @root), or NULL. */
static inline json_t *lrt_test_task_get(json_t *root, uint64_t id, const char *key)
{
    json_t *it;
    size_t i;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) == id)
            return json_object_get(it, key);
    }
    return NULL;
}

/* Task @id's "wait" object in a new snapshot (a new reference), or NULL; saved as
 * @save_as.json (see lrt_test_snapshot). */
static inline json_t *lrt_test_task_wait(uint64_t id, const char *save_as)
{
    json_t *root = lrt_test_snapshot(save_as);
    json_t *w = json_incref(lrt_test_task_get(root, id, "wait"));
    json_decref(root);
    return w;
}

/* ---- valgrind ------------------------------------------------------------------------ */
#include <stdio.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Whether to skip @test because valgrind cannot give what it checks (@why); says so on
 * stderr, so a skip is never silent. */
static inline int lrt_test_skip_under_valgrind(const char *test, const char *why)
{
    if (RUNNING_ON_VALGRIND)
        fprintf(stderr, "[skipped under valgrind: %s needs %s] ", test, why);
    return RUNNING_ON_VALGRIND;
}

/* ---- talking to a dump agent (tests of diag) ------------------------------------- */
#include <poll.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t lrt_test_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Read one line (malloc'd) within @ms, or NULL on EOF/timeout. */
static inline char *lrt_test_read_line(int fd, int ms)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    uint64_t until = lrt_test_mono_ms() + (uint64_t)ms;
    for (;;) {
        char *nl = len ? memchr(buf, '\n', len) : NULL;
        if (nl) {
            *nl = 0;
            return buf;
        }
        uint64_t now = lrt_test_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= until || poll(&p, 1, (int)(until - now)) <= 0)
            break;
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    free(buf);
    return NULL;
}

static inline char *lrt_test_ask(int fd, const char *req, int ms)
{
    size_t n = strlen(req);
    if (write(fd, req, n) != (ssize_t)n)
        return NULL;
    return lrt_test_read_line(fd, ms);
}
#endif
