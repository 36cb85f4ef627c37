/*
 * The runtime's enumerations and their names, defined once (X-macros).  The enums are
 * used by the scheduler, the names by the dump and the deadlock report, and the same
 * lists give the LTTng enum types of tracepoints/lrt_tp.h, so a trace, a dump and the
 * code cannot disagree.  tools/lrt-trace reads the labels from the trace's metadata.
 * Plain macros and constants only: tracepoints/lrt_tp.h includes this file too.
 */
#ifndef LRT_NAMES_H
#define LRT_NAMES_H

/* task states */
#define LRT__STATES(X) X(RUNNABLE, "runnable") X(RUNNING, "running") X(SUSPENDED, "suspended") \
    X(FINISHED, "finished")

/* what a suspended task waits for: obj / aux as in the comments */
#define LRT__WAITS(X)                                                                      \
    X(NONE, "none")                                                                        \
    X(YIELD, "yield")         /* runnable after lrt_yield / budget */                      \
    X(FD, "fd")               /* obj = registration, aux = fd, aux2 = interest */          \
    X(SLEEP, "sleep")         /* aux = deadline ns (>= LRT__DEADLINE_MAX: none) */         \
    X(JOIN, "join")           /* obj = joined task, aux = its id */                        \
    X(BLOCKING, "blocking")   /* obj = job, aux = job id */                                \
    X(CHAN_SEND, "chan_send")                                                              \
    X(CHAN_RECV, "chan_recv")                                                              \
    X(ONESHOT, "oneshot")                                                                  \
    X(NOTIFY, "notify")                                                                    \
    X(MUTEX, "mutex")                                                                      \
    X(SEM, "semaphore")                                                                    \
    X(GROUP, "group")         /* obj = group, aux = group id: join_next / free */   \
    X(SELECT, "select")       /* obj = the lrt_sel_t array (on its stack), aux = count */ \
    X(WATCH, "watch")         /* aux = version waited past */                              \
    X(RWLOCK, "rwlock")       /* aux = writer's task id, 0 when readers hold it */         \
    X(BARRIER, "barrier")     /* aux = arrivals still missing */                           \
    /* The OS waits below: obj = the wait's text for the dump (NUL-terminated, at most     \
     * LRT__WAIT_TEXT bytes, owned by the waiting call or its object and valid while the   \
     * task is suspended there): "signal SIGINT,SIGTERM", "process 1234 sleep",            \
     * "dns example.com", "file pread fd 5", "file open /etc/hosts". */                    \
    X(SIGNAL, "signal")       /* aux = the signalfd */                                     \
    X(PROCESS, "process")     /* aux = the child's pid */                                  \
    X(DNS, "dns")             /* aux = the blocking job's id */                            \
    X(FILE, "file")           /* aux = the blocking job's id, aux2 = the fd or -1 */ \
    X(URING, "uring")         /* a completion-based operation in flight (io_uring):       \
                                 obj = its record (io.h), aux = fd, aux2 = enum lrt__io_op */

/* who made a task runnable */
#define LRT__WAKERS(X) X(NONE, "none") X(IO, "io") X(TIMER, "timer") X(TASK, "task") \
    X(REMOTE, "remote") X(BLOCKING, "blocking") X(CANCEL, "cancel") X(SPAWN, "spawn") \
    X(SIGNAL, "signal") X(PROCESS, "process")

/* what a completion-based I/O operation does (the io_uring backend; lrt:io_submit) */
#define LRT__IO_OPS(X) X(READ, "read") X(WRITE, "write") X(ACCEPT, "accept") \
    X(CONNECT, "connect") X(RECVMSG, "recvmsg") X(SENDMSG, "sendmsg") X(PREAD, "pread") \
    X(PWRITE, "pwrite") X(FSYNC, "fsync") X(POLL, "poll") X(CANCEL, "cancel") \
    X(CLOSE, "close") X(RECV, "recv") X(SEND, "send")

/* the size of an OS wait's text (LRT__WAIT_SIGNAL ... LRT__WAIT_FILE), NUL included */
#define LRT__WAIT_TEXT 96

/* why a poll ended */
#define LRT__POLL_RESULTS(X) X(YIELDED, "yielded") X(SUSPENDED, "suspended") X(FINISHED, "finished")

#define LRT__X_STATE(n, s) LRT__##n,
#define LRT__X_WAIT(n, s) LRT__WAIT_##n,
#define LRT__X_WAKER(n, s) LRT__WAKER_##n,
#define LRT__X_POLL(n, s) LRT__POLL_##n,
#define LRT__X_IO_OP(n, s) LRT__IO_##n,
#define LRT__X_NAME(n, s) s,
enum lrt__state { LRT__STATES(LRT__X_STATE) LRT__STATE__COUNT };
enum lrt__wait_kind { LRT__WAITS(LRT__X_WAIT) LRT__WAIT__COUNT };
enum lrt__waker_kind { LRT__WAKERS(LRT__X_WAKER) LRT__WAKER__COUNT };
enum lrt__poll_result { LRT__POLL_RESULTS(LRT__X_POLL) LRT__POLL__COUNT };
enum lrt__io_op { LRT__IO_OPS(LRT__X_IO_OP) LRT__IO__COUNT };

__attribute__((unused)) static const char *const lrt__state_names[] = {LRT__STATES(LRT__X_NAME)};
__attribute__((unused)) static const char *const lrt__wait_names[] = {LRT__WAITS(LRT__X_NAME)};
__attribute__((unused)) static const char *const lrt__waker_names[] = {LRT__WAKERS(LRT__X_NAME)};
__attribute__((unused)) static const char *const lrt__io_op_names[] = {LRT__IO_OPS(LRT__X_NAME)};
#endif
