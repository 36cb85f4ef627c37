/*
 * osjob.h - the OS surfaces that run as blocking-pool jobs (dns.c: lookups and TCP
 * helpers; file.c: file syscalls), what task.c provides for them, and their test hooks.
 * Private to those files and their tests.
 */
#ifndef LRT_OSJOB_H
#define LRT_OSJOB_H

#include "internal.h"

/* task.c: wait until the record behind @h finished, suspended with the caller's own
 * wait reason (@kind, @obj, @aux; @aux2 into wait_aux2 for the dump) instead of
 * join/blocking; the handle is kept (collect with lrt_join, which then does not
 * suspend).  0 once finished; -ETIMEDOUT after @timeout_ms (< 0: none, 0: don't wait);
 * -ECANCELED or a deadline scope's -ETIMEDOUT; -EINVAL, -EPERM.  @hold: wait for the
 * end whatever happens (@timeout_ms ignored, always 0): abort, shutdown and deadline
 * scopes are set aside during the wait and seen by the next suspension point. */
int lrt__join_wait_as(lrt_task_t *h, int kind, const void *obj, uint64_t aux, uint32_t aux2,
                      int64_t timeout_ms, bool hold);

/* io_uring_file.c: on a completion backend, run file call @op (LRT__IO_PREAD, PWRITE,
 * FSYNC) as a submitted operation, its result or -errno in *@res, and return 1; 0 on a
 * backend without operations (the caller uses the blocking pool).  Runtime thread, in
 * task @t, whose interruptions the caller has already checked. */
int lrt__uop_file(struct lrt_task *t, int op, int fd, void *buf, size_t n, uint64_t off,
                  ssize_t *res);

/* dns.c: EAI_* (and errno for EAI_SYSTEM) as a negative errno (lrt.h, lrt_getaddrinfo). */
int lrt__gai_errno(int eai, int sys_errno);
/* dns.c: connect to each address of @ai in turn under one deadline (0 = none): the fd
 * or the last error (lrt_tcp_connect after its lookup). */
struct addrinfo;
int lrt__tcp_connect_list(const struct addrinfo *ai, uint64_t deadline);

/* Tests: called on the pool thread before each lookup / file syscall (NULL = none), to
 * hold a job while it runs; and the count of lookups whose answer was freed unread
 * (their waiter had given up). */
extern void (*lrt__dns_test_hook)(void);
extern void (*lrt__file_test_hook)(void);
extern atomic_ulong lrt__dns_unread;

#endif
