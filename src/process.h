/*
 * process.h - shared by process.c (spawn, wait, kill, free) and process_reaper.c (the
 * reaper of children freed while they still ran).  Private to those two files.
 */
#ifndef LRT_PROCESS_H
#define LRT_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "names.h"

struct lrt_process {
    pid_t pid;
    int exit_fd; /* readable once the child has exited: its pidfd (PIDFD_NONBLOCK,
                    close-on-exec) or, without pidfds, an eventfd that a watcher thread
                    writes (process.c); -1 only on the reaper's last resort */
    bool is_pidfd; /* exit_fd is a pidfd: waitid(P_PIDFD), pidfd_send_signal */
    int fds[3];  /* the parent's ends of the stdin/stdout/stderr pipes, or -1 */
    ino_t ino[3]; /* their pipes' inodes: the caller may lrt_close() one first */
    bool reaped; /* waitid took the status (ours, or someone else's: ECHILD) */
    struct lrt_process *next_orphan;         /* the reaper's list */
    char text[LRT__WAIT_TEXT];               /* "process <pid> <argv0>": the dump's text */
};

/* Take the status of @p's child if it has exited (never blocks): 0 and *@wstatus (may be
 * NULL) in waitpid's encoding; -EAGAIN while it runs; -ECHILD when it was reaped before
 * (by us, or by someone else: SIGCHLD ignored, a waitpid(-1) elsewhere).  Any thread. */
int lrt__process_reap(struct lrt_process *p, int *wstatus);

/* Give @p (pipes closed, child still running, pidfd not known to any runtime) to the
 * reaper, which reaps the child when it exits, closes the pidfd and frees @p.  Any
 * thread; never fails: without a thread it is reaped by the next spawn or free. */
void lrt__reaper_adopt(struct lrt_process *p);
/* Start a detached thread running @fn(@arg) with every signal blocked (lrt's threads
 * take no signals) and a small stack; 0 or -errno. */
int lrt__thread_start_quiet(void *(*fn)(void *), void *arg);
/* Without a reaper thread (it could not be started): reap what has exited. */
void lrt__reaper_sweep(void);

#endif
