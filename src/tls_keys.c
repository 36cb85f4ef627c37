/*
 * tls_keys.c — task-local storage keys and the task-end destructor pass.  Layer: bottom
 * (core.c calls lrt__tls_run_dtors; this file calls nothing of the runtime, so it stays
 * below core); the accessors are in tls.c.
 *
 * Keys are process-wide (a key made once serves every runtime, like pthread keys) and
 * never deleted; LRT__TLS_KEYS of them, -EAGAIN beyond.  lrt_tls_key_new may be called
 * from any thread: a key's destructor is published before its number is handed out.
 * A task's values live in t->tls, an array of LRT__TLS_KEYS pointers malloc'd by its
 * first lrt_tls_set and freed when it ends, so tasks that never use TLS pay one pointer.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>

static void (*_Atomic dtors[LRT__TLS_KEYS])(void *);
static atomic_int nkeys;

int lrt_tls_key_new(void (*dtor)(void *))
{
    int k = atomic_load(&nkeys);
    do {
        if (k >= LRT__TLS_KEYS)
            return -EAGAIN;
    } while (!atomic_compare_exchange_weak(&nkeys, &k, k + 1));
    atomic_store(&dtors[k], dtor);
    return k;
}

int lrt__tls_key_count(void)
{
    return atomic_load(&nkeys);
}

/* Called in @t's own context right after its function returned (it still runs, so a
 * destructor may use the runtime; a cancelled task's suspension points give
 * -ECANCELED).  Like pthreads: a destructor that sets a value again gets another pass,
 * up to 4; the array is freed afterwards, values left are dropped. */
void lrt__tls_run_dtors(struct lrt_task *t)
{
    for (int pass = 0; pass < 4 && t->tls; pass++) {
        int again = 0;
        for (int k = 0; k < LRT__TLS_KEYS; k++) {
            void *v = t->tls[k];
            if (!v)
                continue;
            t->tls[k] = NULL;
            void (*d)(void *) = atomic_load(&dtors[k]);
            if (d) {
                d(v);
                again = 1;
            }
        }
        if (!again)
            break;
    }
    free(t->tls);
    t->tls = NULL;
}
