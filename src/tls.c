/*
 * tls.c — task-local storage accessors (keys and destructors: tls_keys.c).  Layer: beside
 * io (reads the running task); runtime thread only.
 */
#include "internal.h"

#include <stdlib.h>

void *lrt_tls_get(int key)
{
    struct lrt_task *t = lrt__current();
    if (t == NULL || t->tls == NULL || key < 0 || key >= LRT__TLS_KEYS)
        return NULL;
    return t->tls[key];
}

int lrt_tls_set(int key, void *value)
{
    struct lrt_task *t = lrt__current();
    if (t == NULL)
        return -EPERM;
    if (key < 0 || key >= lrt__tls_key_count())
        return -EINVAL;
    if (t->tls == NULL) {
        if (value == NULL)
            return 0;
        t->tls = calloc(LRT__TLS_KEYS, sizeof *t->tls);
        if (t->tls == NULL)
            return -ENOMEM;
    }
    t->tls[key] = value;
    return 0;
}
