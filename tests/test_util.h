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
#endif
