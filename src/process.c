/*
 * process.c - child processes: posix_spawn, a pidfd per child, pipes that are ordinary
 * lrt fds, a wait that suspends on the pidfd.
 *
 * Why a pidfd and no SIGCHLD handler: a handler is process-wide state a library must not
 * take (the application or another library may own SIGCHLD), and waitpid(-1) would steal
 * other code's children.  A pidfd is readable once its child has exited, so the wait is
 * an ordinary fd wait (lrt__io_wait_as: its own wait kind and waker), and
 * waitid(P_PIDFD) and pidfd_send_signal name exactly this child even after its pid has
 * been reused.  The pidfd is opened right after posix_spawn returns: the child cannot be
 * reaped in between (nobody else waits for it), so its pid cannot have been reused yet.
 *
 * What the child gets: stdin/stdout/stderr as asked and no other fd (closefrom(3) after
 * the dup2s, as Python's close_fds and Go's os/exec do).  Close-on-exec alone is not
 * enough: every fd lrt opens has it, but libunwind (the dump agent's thread) opens
 * /proc/self/maps and ELF files without it, and so may any library or the application
 * (a listening socket kept open by a child is the classic).  The child's signal mask is
 * empty and every disposition the default: a runtime thread may block signals for
 * lrt_signal_open(), and an application that ignores SIGPIPE must not pass that on to
 * `cat`.  Its pipe ends are blocking (O_NONBLOCK belongs to the file description, so
 * only the parent's ends carry it).
 *
 * Freeing a running child: lrt does not kill it (Tokio's kill_on_drop(false)); the
 * reaper (process_reaper.c) reaps it whenever it exits, also after the runtime is gone.
 *
 * Layer: io (lrt__io_wait_as, lrt_close), the reaper.  Thread: see lrt.h per call.
 */
#include "internal.h"
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Close @fd the way lrt must when a runtime may have registered it (lrt_close on its
 * thread), else plainly: off the runtime thread, or after the runtime was freed. */
static void close_fd(int fd)
{
    if (fd >= 0 && lrt_close(fd) == -EPERM)
        close(fd);
}

/* A pipe for child stream @target (0, 1, 2): the parent's end non-blocking, the child's
 * end blocking and at 3 or above (so no dup2 of a later stream can overwrite it when
 * the parent runs with 0/1/2 closed), both close-on-exec. */
static int make_pipe(int target, int *parent, int *child)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    int pi = target == 0 ? 1 : 0; /* the parent writes the child's stdin */
    *parent = p[pi];
    *child = p[!pi];
    if (fcntl(*parent, F_SETFL, O_NONBLOCK) < 0)
        goto err;
    if (*child < 3) {
        int c = fcntl(*child, F_DUPFD_CLOEXEC, 3);
        if (c < 0)
            goto err;
        close(*child);
        *child = c;
    }
    return 0;
err:;
    int e = -errno;
    close(p[0]);
    close(p[1]);
    *parent = *child = -1;
    return e;
}

static int stdio_actions(posix_spawn_file_actions_t *fa, const int mode[3], int parent[3],
                         int child[3])
{
    static const int null_flags[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
    int e;
    for (int i = 0; i < 3; i++) {
        switch (mode[i]) {
        case LRT_STDIO_INHERIT:
            break;
        case LRT_STDIO_NULL:
            if ((e = posix_spawn_file_actions_addopen(fa, i, "/dev/null", null_flags[i], 0)))
                return -e;
            break;
        case LRT_STDIO_PIPE:
            if ((e = make_pipe(i, &parent[i], &child[i])) < 0)
                return e;
            if ((e = posix_spawn_file_actions_adddup2(fa, child[i], i)))
                return -e;
            break;
        }
    }
    return 0;
}

/* The child ran, but no pidfd could be opened (out of fds): it must not outlive a spawn
 * that reports failure, nor stay a zombie.  SIGKILL ends it promptly. */
static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Without pidfds (kernels before 5.3, seccomp, valgrind 3.19): a thread per running
 * child waits for its exit with WNOWAIT, so the zombie keeps the pid from being reused
 * until lrt reaps it, and makes the eventfd readable.  An exit fd thus behaves the same
 * either way: readable once exited, for the wait, the dump and the reaper alike. */
static atomic_bool no_pidfd;

struct watch {
    pid_t pid;
    int fd; /* the watcher's own descriptor of the eventfd: @p may be freed first */
};

static void *watch_main(void *arg)
{
    struct watch *w = arg;
    siginfo_t si;
    /* nobody reaps before the eventfd is written (lrt__process_reap), so the pid is the
     * child's until then */
    while (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    eventfd_write(w->fd, 1);
    close(w->fd);
    free(w);
    return NULL;
}

static int open_exit_fd(struct lrt_process *p)
{
    if (!atomic_load_explicit(&no_pidfd, memory_order_relaxed)) {
        p->exit_fd = pidfd_open(p->pid, PIDFD_NONBLOCK);
        if (p->exit_fd >= 0) {
            p->is_pidfd = true;
            return 0;
        }
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        atomic_store(&no_pidfd, true);
    }
    int e;
    struct watch *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->pid = p->pid;
    if ((p->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        e = -errno;
        goto err_free;
    }
    if ((w->fd = fcntl(p->exit_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        e = -errno;
        goto err_close;
    }
    if ((e = lrt__thread_start_quiet(watch_main, w)) < 0) {
        close(w->fd);
        goto err_close;
    }
    return 0;
err_close:
    close(p->exit_fd);
    p->exit_fd = -1;
err_free:
    free(w);
    return e;
}

lrt_process_t *lrt_process_spawn(const char *path, char *const argv[], const lrt_process_opts_t *o)
{
    static const lrt_process_opts_t inherit = {0};
    if (!o)
        o = &inherit;
    const int mode[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    for (int i = 0; i < 3; i++)
        if (mode[i] < LRT_STDIO_INHERIT || mode[i] > LRT_STDIO_PIPE) {
            errno = EINVAL;
            return NULL;
        }
    if (!path || (argv && !argv[0])) {
        errno = EINVAL;
        return NULL;
    }
    lrt__reaper_sweep();
    char *const own_argv[] = {(char *)path, NULL};
    if (!argv)
        argv = own_argv;

    struct lrt_process *p = calloc(1, sizeof *p);
    if (!p)
        return NULL; /* errno ENOMEM */
    int parent[3] = {-1, -1, -1}, child[3] = {-1, -1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int e;
    if ((e = posix_spawn_file_actions_init(&fa))) {
        e = -e;
        goto err_free;
    }
    if ((e = posix_spawnattr_init(&at))) {
        e = -e;
        goto err_actions;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if ((e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) ||
        (e = posix_spawnattr_setsigmask(&at, &none)) ||
        (e = posix_spawnattr_setsigdefault(&at, &all)) ||
        (o->cwd && (e = posix_spawn_file_actions_addchdir_np(&fa, o->cwd)))) {
        e = -e;
        goto err_pipes;
    }
    if ((e = stdio_actions(&fa, mode, parent, child)) < 0)
        goto err_pipes;
    if ((e = posix_spawn_file_actions_addclosefrom_np(&fa, 3))) {
        e = -e;
        goto err_pipes;
    }
    /* no '/' in @path: search PATH, as execvp and a shell do */
    char *const *envp = o->envp ? o->envp : environ;
    e = strchr(path, '/') ? posix_spawn(&p->pid, path, &fa, &at, argv, envp)
                          : posix_spawnp(&p->pid, path, &fa, &at, argv, envp);
    if (e) {
        e = -e;
        goto err_pipes;
    }
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0)
            close(child[i]); /* before pidfd_open: frees fds for it */
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if ((e = open_exit_fd(p)) == -ESRCH) {
        /* exited and reaped already: SIGCHLD is ignored (the kernel reaps), or the
         * application reaps with waitpid(-1).  Its status is gone: wait says -ECHILD. */
        p->exit_fd = -1;
        p->reaped = true;
    } else if (e < 0) {
        kill_and_reap(p->pid);
        for (int i = 0; i < 3; i++)
            if (parent[i] >= 0)
                close(parent[i]);
        goto err_free;
    }
    memcpy(p->fds, parent, sizeof p->fds);
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (parent[i] >= 0 && fstat(parent[i], &st) == 0)
            p->ino[i] = st.st_ino;
    }
    snprintf(p->text, sizeof p->text, "process %d %s", (int)p->pid, argv[0]);
    return p;

err_pipes:
    for (int i = 0; i < 3; i++) {
        if (parent[i] >= 0)
            close(parent[i]);
        if (child[i] >= 0)
            close(child[i]);
    }
    posix_spawnattr_destroy(&at);
err_actions:
    posix_spawn_file_actions_destroy(&fa);
err_free:
    free(p);
    errno = -e;
    return NULL;
}

int lrt_process_stdin(const lrt_process_t *p) { return p ? p->fds[0] : -1; }
int lrt_process_stdout(const lrt_process_t *p) { return p ? p->fds[1] : -1; }
int lrt_process_stderr(const lrt_process_t *p) { return p ? p->fds[2] : -1; }
pid_t lrt_process_pid(const lrt_process_t *p) { return p ? p->pid : -1; }

int lrt_process_wait(lrt_process_t *p, int *wstatus, int64_t timeout_ms)
{
    struct lrt_task *t;
    int rc = lrt__task_ctx(&t);
    if (rc)
        return rc;
    if (!p)
        return -EINVAL;
    /* A readable pidfd means exited, so the loop runs twice at most; the deadline is
     * fixed once in case it ever runs more (a spurious wake must not restart it). */
    uint64_t end = 0; /* huge timeouts pass through: lrt__io_wait_as saturates them */
    if (timeout_ms > 0 && timeout_ms < (INT64_C(1) << 62) / 1000000)
        end = lrt_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        rc = lrt__process_reap(p, wstatus);
        if (rc != -EAGAIN)
            return rc;
        if (end) {
            uint64_t now = lrt_now_ns();
            timeout_ms = now >= end ? 0 : (int64_t)((end - now + 999999u) / 1000000u);
        }
        rc = lrt__io_wait_as(p->exit_fd, LRT__WAIT_PROCESS, p->text, (uint64_t)p->pid,
                             LRT__WAKER_PROCESS, timeout_ms);
        if (rc < 0)
            return rc;
    }
}

int lrt_process_kill(lrt_process_t *p, int sig)
{
    if (!p)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH; /* the pidfd would still answer for a zombie; there is none */
    /* kill(2) is as exact without a pidfd: the child is not reaped, so its pid is its own */
    int r = p->is_pidfd ? pidfd_send_signal(p->exit_fd, sig, NULL, 0) : kill(p->pid, sig);
    return r < 0 ? -errno : 0;
}

void lrt_process_free(lrt_process_t *p)
{
    if (!p)
        return;
    lrt__reaper_sweep();
    /* the pipes first: a child blocked on its stdin (cat) sees EOF and can exit, and the
     * fds they free serve the reaper's pidfd below */
    for (int i = 0; i < 3; i++) {
        struct stat st;
        /* one the caller closed already (to send EOF) may be another file by now */
        if (p->fds[i] >= 0 && fstat(p->fds[i], &st) == 0 && S_ISFIFO(st.st_mode) &&
            st.st_ino == p->ino[i])
            close_fd(p->fds[i]);
    }
    if (p->reaped || lrt__process_reap(p, NULL) != -EAGAIN) {
        close_fd(p->exit_fd);
        free(p);
        return;
    }
    /* Still running.  The runtime may have registered the pidfd (a wait): lrt_close
     * deregisters it, and the reaper gets its own pidfd for the same child. */
    int fd = fcntl(p->exit_fd, F_DUPFD_CLOEXEC, 3);
    close_fd(p->exit_fd);
    if (fd < 0 && p->is_pidfd)
        fd = pidfd_open(p->pid, PIDFD_NONBLOCK); /* the slot just freed */
    p->exit_fd = fd; /* -1: the reaper polls the pid (unreaped, so not reused) */
    if (fd < 0)
        p->is_pidfd = false;
    lrt__reaper_adopt(p);
}
