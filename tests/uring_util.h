/*
 * uring_util.h - what the io_uring suites (test_uring.c, test_uring_file.c,
 * test_uring_dgram.c) share: running a root task on a chosen backend, and overwriting the
 * stack where an aborted task's frame was.
 */
#ifndef LRT_URING_UTIL_H
#define LRT_URING_UTIL_H

#include "test_util.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *lrt_test_saved_driver;

/* LRT_DRIVER=@d (NULL: unset) until lrt_test_restore_driver(). */
static inline void lrt_test_force_driver(const char *d)
{
    const char *v = getenv("LRT_DRIVER");
    free(lrt_test_saved_driver);
    lrt_test_saved_driver = v ? strdup(v) : NULL;
    if (d)
        setenv("LRT_DRIVER", d, 1);
    else
        unsetenv("LRT_DRIVER");
}

static inline void lrt_test_restore_driver(void)
{
    if (lrt_test_saved_driver)
        setenv("LRT_DRIVER", lrt_test_saved_driver, 1);
    else
        unsetenv("LRT_DRIVER");
    free(lrt_test_saved_driver);
    lrt_test_saved_driver = NULL;
}

/* @fn as the root of a runtime on @drv ("uring" or "epoll") whose event interval is
 * @interval (1: every poll is followed by an I/O check, so an operation a task queued
 * reaches the kernel before the test interrupts it); its result in *@res (may be NULL).
 * false, with a note on stderr (a skip is never silent), when the backend is refused
 * here: a kernel without io_uring, or a sandbox refusing it, runs the suites on epoll. */
static inline bool lrt_test_run_on(const char *drv, unsigned interval, lrt_fn fn, void *arg,
                                   void **res)
{
    lrt_test_force_driver(drv);
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.event_interval = interval;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt) {
        fprintf(stderr, "[skipped: %s unavailable here: %s] ", drv, strerror(errno));
        lrt_test_restore_driver();
        return false;
    }
    CU_ASSERT_STRING_EQUAL(lrt_runtime_driver(rt, NULL), strcmp(drv, "uring") ? "epoll" : "io_uring");
    CU_ASSERT_EQUAL(lrt_block_on(rt, fn, arg, res), 0);
    lrt_runtime_free(rt);
    lrt_test_restore_driver();
    return true;
}

/* Operations @op by task @task listed in the snapshot @root's "io" entry of @fd. */
static inline int lrt_test_snapshot_ops(json_t *root, int fd, const char *op, uint64_t task)
{
    int n = 0;
    size_t i, j;
    json_t *it, *o;
    json_array_foreach(json_object_get(root, "io"), i, it)
    {
        if (json_integer_value(json_object_get(it, "fd")) != fd)
            continue;
        json_array_foreach(json_object_get(it, "ops"), j, o)
        {
            n += strcmp(json_string_value(json_object_get(o, "op")), op) == 0 &&
                 (uint64_t)json_integer_value(json_object_get(o, "task")) == task;
        }
    }
    return n;
}

/* Overwrite the stack below the caller, where an aborted task's frame was: an operation
 * left in flight would now write into this (or into the next task's frame). */
static NOINLINE __attribute__((unused)) void lrt_test_scribble_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0x5a, sizeof junk);
}

/* One round of an abort-mid-receive test: the aborted task returned @k (bytes into @got,
 * or -ECANCELED), then @m bytes (into @left) were still waiting in the socket; the peer
 * had sent @msg, @n bytes.  Whether the round lost or duplicated data: the message must
 * be in exactly one place, whole. */
static inline bool lrt_test_abort_round_bad(ssize_t k, const char *got, ssize_t m,
                                            const char *left, const char *msg, ssize_t n)
{
    if (k > 0)
        return k != n || memcmp(got, msg, (size_t)n) != 0 || m != -1;
    return k != -ECANCELED || m != n || memcmp(left, msg, (size_t)n) != 0;
}

#endif
