/* Child processes: pipes that work with lrt_read/lrt_write, exit and signal statuses,
 * timeouts, aborted waits, what the child inherits (fds, signal mask, blocking pipe
 * ends), errors (ENOENT, EINVAL, EMFILE without leaks), the dump's "process" wait, and
 * no zombie ever left: after free of a running child, an aborted wait, a runtime free.
 * Waits are bounded; children that would run long are killed or freed. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* valgrind 3.19 runs posix_spawn's CLONE_VFORK child as a fork that cannot hand its
 * exec or file-action error back: posix_spawn "succeeds" and the child exits 127.  Nor
 * does it apply seccomp filters.  Tests of those answers skip there, saying so. */
static int skip_under_valgrind(const char *test)
{
    return lrt_test_skip_under_valgrind(test, "posix_spawn's error or seccomp");
}

#define STDIO(i, o, e) (&(lrt_process_opts_t){.stdin_mode = (i), .stdout_mode = (o), .stderr_mode = (e)})
#define P LRT_STDIO_PIPE
#define I LRT_STDIO_INHERIT
#define N LRT_STDIO_NULL

/* 1 once @pid is no child of ours any more (reaped), within 20 s; 0 if it stays a
 * zombie or keeps running that long.  WNOWAIT: looking does not reap. */
static int reaped_soon(pid_t pid)
{
    uint64_t end = lrt_test_mono_ms() + 20000;
    while (lrt_test_mono_ms() < end) {
        siginfo_t si;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
            return 1;
        usleep(5000);
    }
    return 0;
}

/* Read @fd to EOF into @buf (NUL-terminated); returns the byte count (even past @cap). */
static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char tmp[16384];
    for (;;) {
        ssize_t r = lrt_read(fd, tmp, sizeof tmp);
        CU_ASSERT(r >= 0);
        if (r <= 0)
            break;
        if (buf && n < cap - 1)
            memcpy(buf + n, tmp, (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n);
        n += (size_t)r;
    }
    if (buf)
        buf[n < cap - 1 ? n : cap - 1] = 0;
    return n;
}

static int exit_code(lrt_process_t *p)
{
    int st = -1;
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, 20000), 0);
    CU_ASSERT(WIFEXITED(st));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- pipes -------------------------------------------------------------------------- */

static void *cat_root(void *unused)
{
    (void)unused;
    char *argv[] = {"cat", NULL};
    lrt_process_t *p = lrt_process_spawn("/bin/cat", argv, STDIO(P, P, I));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(lrt_process_stdin(p) >= 0);
    CU_ASSERT(lrt_process_stdout(p) >= 0);
    CU_ASSERT_EQUAL(lrt_process_stderr(p), -1);
    CU_ASSERT(lrt_process_pid(p) > 0);
    for (int i = 0; i < 3; i++) { /* a conversation: each line comes back before the next */
        char line[32], back[32];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        CU_ASSERT_EQUAL(lrt_write_all(lrt_process_stdin(p), line, (size_t)n), n);
        ssize_t got = 0;
        while (got < n) {
            ssize_t r = lrt_read_timeout(lrt_process_stdout(p), back + got, sizeof back - (size_t)got, 20000);
            CU_ASSERT_FATAL(r > 0);
            got += r;
        }
        CU_ASSERT_EQUAL(got, n);
        CU_ASSERT_NSTRING_EQUAL(back, line, n);
    }
    /* EOF on its stdin ends cat; free() must leave a number we closed ourselves alone */
    int in = lrt_process_stdin(p);
    CU_ASSERT_EQUAL(lrt_close(in), 0);
    int other_pipe[2]; /* another pipe, as the next spawn would make */
    CU_ASSERT_EQUAL_FATAL(pipe2(other_pipe, O_CLOEXEC), 0);
    int other = other_pipe[0];
    CU_ASSERT_EQUAL(other, in); /* the lowest free number */
    CU_ASSERT_EQUAL(read_all(lrt_process_stdout(p), NULL, 0), 0);
    CU_ASSERT_EQUAL(exit_code(p), 0);
    CU_ASSERT_EQUAL(lrt_process_wait(p, NULL, 0), -ECHILD); /* reaped once */
    CU_ASSERT_EQUAL(lrt_process_kill(p, SIGTERM), -ESRCH);
    lrt_process_free(p);
    CU_ASSERT(fcntl(other, F_GETFD) >= 0); /* still ours */
    close(other);
    close(other_pipe[1]);
    return NULL;
}

static void cat_echoes_its_stdin_pipe_to_its_stdout_pipe_through_lrt_read_and_write(void)
{
    lrt_test_run(NULL, cat_root, NULL);
}

static void *bulk_root(void *unused)
{
    (void)unused;
    /* five times a pipe's 64 KiB: the child blocks on a full pipe until we read */
    char *argv[] = {"head", "-c", "327680", "/dev/zero", NULL};
    lrt_process_t *p = lrt_process_spawn("head", argv, STDIO(N, P, I));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(lrt_process_stdin(p), -1);
    CU_ASSERT_EQUAL(read_all(lrt_process_stdout(p), NULL, 0), 327680);
    CU_ASSERT_EQUAL(exit_code(p), 0);
    lrt_process_free(p);
    return NULL;
}

static void a_child_writing_more_than_a_pipe_holds_is_read_whole_while_it_runs(void)
{
    lrt_test_run(NULL, bulk_root, NULL);
}

static void *stderr_root(void *unused)
{
    (void)unused;
    char *argv[] = {"sh", "-c", "echo to-out; echo to-err >&2; read x; echo \"read=$?\"; exit 3", NULL};
    lrt_process_t *p = lrt_process_spawn("/bin/sh", argv, STDIO(N, P, P));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char out[64], err[64];
    read_all(lrt_process_stderr(p), err, sizeof err);
    read_all(lrt_process_stdout(p), out, sizeof out);
    CU_ASSERT_STRING_EQUAL(err, "to-err\n");
    CU_ASSERT_STRING_EQUAL(out, "to-out\nread=1\n"); /* /dev/null stdin: EOF at once */
    CU_ASSERT_EQUAL(exit_code(p), 3);
    lrt_process_free(p);
    return NULL;
}

static void stderr_pipe_and_dev_null_stdin_reach_the_child_and_the_exit_code_comes_back(void)
{
    lrt_test_run(NULL, stderr_root, NULL);
}

static void *env_root(void *unused)
{
    (void)unused;
    char *argv[] = {"sh", "-c", "echo \"$LRT_TEST_VAR\"; pwd", NULL};
    char *envp[] = {"LRT_TEST_VAR=from-envp", "PATH=/usr/bin:/bin", NULL};
    lrt_process_opts_t o = {.envp = envp, .cwd = "/", .stdout_mode = P};
    lrt_process_t *p = lrt_process_spawn("/bin/sh", argv, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char out[64];
    read_all(lrt_process_stdout(p), out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "from-envp\n/\n");
    CU_ASSERT_EQUAL(exit_code(p), 0);
    lrt_process_free(p);
    /* NULL envp: the parent's environ */
    setenv("LRT_TEST_VAR", "inherited", 1);
    p = lrt_process_spawn("/bin/sh", argv, STDIO(I, P, I));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    read_all(lrt_process_stdout(p), out, sizeof out);
    unsetenv("LRT_TEST_VAR");
    CU_ASSERT_NSTRING_EQUAL(out, "inherited\n", 10);
    CU_ASSERT_EQUAL(exit_code(p), 0);
    lrt_process_free(p);
    return NULL;
}

static void envp_and_cwd_reach_the_child_and_null_envp_inherits_environ(void)
{
    lrt_test_run(NULL, env_root, NULL);
}

static void *epipe_root(void *unused)
{
    (void)unused;
    lrt_process_t *p = lrt_process_spawn("/bin/true", NULL, STDIO(P, I, I));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(exit_code(p), 0); /* gone without reading its stdin */
    static char big[1 << 17];
    CU_ASSERT_EQUAL(lrt_write_all(lrt_process_stdin(p), big, sizeof big), -EPIPE);
    lrt_process_free(p);
    return NULL;
}

static void writing_to_a_child_that_exited_gives_epipe_not_a_sigpipe_death(void)
{
    lrt_test_run(NULL, epipe_root, NULL);
}

/* ---- statuses, timeouts, kill, abort ----------------------------------------------- */

static void *signal_root(void *unused)
{
    (void)unused;
    char *argv[] = {"sleep", "60", NULL};
    lrt_process_t *p = lrt_process_spawn("sleep", argv, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int st = 0;
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, 0), -ETIMEDOUT); /* just a look */
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, 30), -ETIMEDOUT);
    int tok = lrt_timeout_push(20); /* a deadline scope ends the wait like a timeout */
    CU_ASSERT(tok >= 0);
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, -1), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, -5), -ETIMEDOUT); /* and stays past it */
    CU_ASSERT_EQUAL(lrt_deadline_pop(tok), 0);
    CU_ASSERT_EQUAL(lrt_process_kill(p, 0), 0); /* still there */
    CU_ASSERT_EQUAL(lrt_process_kill(p, 12345), -EINVAL);
    CU_ASSERT_EQUAL(lrt_process_kill(p, SIGKILL), 0);
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, 20000), 0);
    CU_ASSERT(WIFSIGNALED(st));
    CU_ASSERT_EQUAL(WTERMSIG(st), SIGKILL);
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, -1), -ECHILD);
    CU_ASSERT_EQUAL(lrt_process_kill(p, SIGKILL), -ESRCH);
    lrt_process_free(p);
    /* a huge timeout is "none", not an overflow into the past */
    p = lrt_process_spawn("sleep", (char *[]){"sleep", "0.05", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(lrt_process_wait(p, &st, INT64_MAX), 0);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    lrt_process_free(p);
    return NULL;
}

static void wait_times_out_then_a_killed_child_reports_wifsignaled_and_is_reaped_once(void)
{
    lrt_test_run(NULL, signal_root, NULL);
}

/* Returns the wait's result; a status other than "killed by SIGTERM or SIGKILL" is 1000. */
static void *waiter(void *arg)
{
    int st = 0, rc = lrt_process_wait(arg, &st, -1);
    if (rc == 0 && !(WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGKILL)))
        rc = 1000;
    return (void *)(intptr_t)rc;
}

static void *abort_root(void *unused)
{
    (void)unused;
    lrt_process_t *p = lrt_process_spawn("sleep", (char *[]){"sleep", "60", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    lrt_task_t *a = lrt_spawn(waiter, p), *b = lrt_spawn(waiter, p);
    lrt_yield(); /* both suspend on the pidfd */
    lrt_abort(a);
    CU_ASSERT_EQUAL(lrt_join(a, NULL), -ECANCELED);
    /* the aborted wait reaped nothing: the child runs, the other waiter gets it */
    CU_ASSERT_EQUAL(lrt_process_kill(p, 0), 0);
    CU_ASSERT_EQUAL(lrt_process_kill(p, SIGTERM), 0);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(b, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, 0);
    CU_ASSERT_EQUAL(lrt_process_wait(p, NULL, 20000), -ECHILD);
    pid_t pid = lrt_process_pid(p);
    lrt_process_free(p);
    CU_ASSERT(reaped_soon(pid));
    return NULL;
}

static void an_aborted_wait_leaves_the_child_running_and_waitable_by_another_task(void)
{
    lrt_test_run(NULL, abort_root, NULL);
}

static void *ign_root(void *unused)
{
    (void)unused;
    /* SIGCHLD ignored: the kernel reaps children itself, so the status is lost */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGCHLD, &ign, &old);
    /* a child that may be gone before the spawn has its pidfd (often, not always: 30
     * times) still gives a process, which answers as a reaped one */
    int failed = 0, other = 0;
    for (int i = 0; i < 30; i++) {
        lrt_process_t *p = lrt_process_spawn("/bin/true", NULL, NULL);
        if (!p) {
            failed++;
            continue;
        }
        int st = 12345;
        other += lrt_process_wait(p, &st, 20000) != -ECHILD || st != 12345 ||
                 lrt_process_kill(p, SIGTERM) != -ESRCH;
        lrt_process_free(p);
    }
    sigaction(SIGCHLD, &old, NULL);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(other, 0);
    return NULL;
}

static void with_sigchld_ignored_wait_answers_echild_instead_of_hanging(void)
{
    lrt_test_run(NULL, ign_root, NULL);
}

/* ---- no zombie ---------------------------------------------------------------------- */

struct owner {
    pid_t pid;
    lrt_process_t *keep; /* the test frees it after the runtime is gone */
};

/* Waits on its own child; on -ECANCELED frees it while it still runs (the reaper's job). */
static void *owning_waiter(void *arg)
{
    struct owner *o = arg;
    lrt_process_t *p = lrt_process_spawn("sleep", (char *[]){"sleep", "0.3", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    o->pid = lrt_process_pid(p);
    int rc = lrt_process_wait(p, NULL, -1);
    CU_ASSERT_EQUAL(rc, -ECANCELED);
    lrt_process_free(p);
    return NULL;
}

static void *zombie_root(void *arg)
{
    struct owner *o = arg;
    /* 1. free while it runs, blocked on its stdin pipe (closing it ends cat) */
    lrt_process_t *p = lrt_process_spawn("/bin/cat", NULL, STDIO(P, N, I));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid_t pid = lrt_process_pid(p);
    CU_ASSERT_EQUAL(lrt_process_wait(p, NULL, 20), -ETIMEDOUT); /* registers the pidfd */
    lrt_process_free(p);
    CU_ASSERT(reaped_soon(pid));
    /* 2. free while it runs a while longer, nothing to close */
    p = lrt_process_spawn("sleep", (char *[]){"sleep", "0.2", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid = lrt_process_pid(p);
    lrt_process_free(p);
    CU_ASSERT(reaped_soon(pid));
    /* 3. the waiting task is aborted and frees its child in its cleanup */
    struct owner a = {0};
    lrt_task_t *t = lrt_spawn(owning_waiter, &a);
    lrt_yield();
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT(a.pid > 0 && reaped_soon(a.pid));
    /* 4. left waiting when the runtime is freed (checked by the caller) */
    lrt_task_detach(lrt_spawn(owning_waiter, o));
    /* 5. one the caller frees only after the runtime is gone (its pidfd was registered) */
    o->keep = lrt_process_spawn("sleep", (char *[]){"sleep", "0.2", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o->keep);
    CU_ASSERT_EQUAL(lrt_process_wait(o->keep, NULL, 0), -ETIMEDOUT);
    lrt_yield();
    return NULL;
}

static void no_zombie_after_free_of_a_running_child_an_aborted_wait_or_runtime_free(void)
{
    struct owner o = {0};
    lrt_test_run(NULL, zombie_root, &o);
    CU_ASSERT(o.pid > 0 && reaped_soon(o.pid));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o.keep);
    pid_t pid = lrt_process_pid(o.keep);
    lrt_process_free(o.keep);
    CU_ASSERT(reaped_soon(pid));
}

static void more_children_freed_while_running_than_the_reaper_polls_at_once_are_all_reaped(void)
{
    enum { NKIDS = 80 }; /* the reaper polls 64 pidfds at once, and ticks for the rest */
    pid_t pids[NKIDS];
    for (int i = 0; i < NKIDS; i++) { /* no runtime: spawn and free work on any thread */
        lrt_process_t *p = lrt_process_spawn("sleep", (char *[]){"sleep", "0.3", NULL}, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        pids[i] = lrt_process_pid(p);
        lrt_process_free(p);
    }
    int reaped = 0;
    for (int i = 0; i < NKIDS; i++)
        reaped += reaped_soon(pids[i]);
    CU_ASSERT_EQUAL(reaped, NKIDS);
}

/* ---- what the child inherits -------------------------------------------------------- */

static int fd_flag(pid_t pid, int fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int flags = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %o", &flags) == 1)
            break;
    fclose(f);
    return flags;
}

static unsigned long long status_mask(pid_t pid, const char *key)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    unsigned long long v = ~0ull;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0)
            v = strtoull(line + kl, NULL, 16);
    if (f)
        fclose(f);
    return v;
}

static void *inherit_root(void *unused)
{
    (void)unused;
    /* an fd the application forgot to make close-on-exec: not passed on either */
    int leaky = open("/dev/null", O_RDONLY);
    CU_ASSERT_FATAL(leaky >= 3);
    /* a runtime thread that blocks and ignores signals (as lrt_signal_open would) */
    sigset_t blk, old;
    sigemptyset(&blk);
    sigaddset(&blk, SIGTERM);
    sigaddset(&blk, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blk, &old);
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr1, old_pipe;
    sigaction(SIGUSR1, &ign, &old_usr1);
    sigaction(SIGPIPE, &ign, &old_pipe);
    lrt_process_t *p = lrt_process_spawn("/bin/cat", NULL, STDIO(P, P, I));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    close(leaky);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    pid_t pid = lrt_process_pid(p);
    /* one line there and back: cat is past its start-up and blocked in read(0) */
    CU_ASSERT_EQUAL(lrt_write_all(lrt_process_stdin(p), "x\n", 2), 2);
    char c[2];
    CU_ASSERT_EQUAL(lrt_read_timeout(lrt_process_stdout(p), c, 2, 20000), 2);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    int seen[3] = {0}, extra = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd < 3)
            seen[fd] = 1;
        else
            extra++, fprintf(stderr, "the child has fd %d\n", fd);
    }
    closedir(d);
    CU_ASSERT(seen[0] && seen[1] && seen[2]);
    CU_ASSERT_EQUAL(extra, 0);
    /* the child's pipe ends are blocking, the parent's non-blocking and close-on-exec */
    CU_ASSERT(fd_flag(pid, 0) >= 0);
    CU_ASSERT_EQUAL(fd_flag(pid, 0) & O_NONBLOCK, 0);
    CU_ASSERT_EQUAL(fd_flag(pid, 1) & O_NONBLOCK, 0);
    for (int i = 0; i < 2; i++) {
        int fd = i ? lrt_process_stdout(p) : lrt_process_stdin(p);
        CU_ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
        CU_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    }
    /* an empty signal mask and no signal ignored, but glibc's own two below SIGRTMIN
     * (32, 33), which its posix_spawn ignores in every child and sigfillset() cannot name */
    CU_ASSERT_EQUAL(status_mask(pid, "SigBlk:"), 0);
    unsigned long long glibc = 0;
    for (int s = 32; s < SIGRTMIN; s++)
        glibc |= 1ull << (s - 1);
    CU_ASSERT_EQUAL(status_mask(pid, "SigIgn:") & ~glibc, 0);
    CU_ASSERT_EQUAL(lrt_close(lrt_process_stdin(p)), 0);
    CU_ASSERT_EQUAL(exit_code(p), 0);
    lrt_process_free(p);
    return NULL;
}

static void the_child_gets_only_its_stdio_blocking_pipe_ends_and_no_signal_mask(void)
{
    lrt_test_run(NULL, inherit_root, NULL);
}

static void *cloexec_root(void *unused)
{
    (void)unused;
    lrt_process_t *p = lrt_process_spawn("/bin/true", NULL, STDIO(P, P, P));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(lrt_process_wait(p, NULL, 20000), 0);
    return p; /* freed by the caller, after the scan */
}

static void every_fd_lrt_opens_is_close_on_exec(void)
{
    char before[1024];
    for (int fd = 0; fd < 1024; fd++)
        before[fd] = fcntl(fd, F_GETFD) >= 0;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    void *p = NULL;
    CU_ASSERT_EQUAL(lrt_block_on(rt, cloexec_root, NULL, &p), 0);
    int mine = 0;
    for (int fd = 0; fd < 1024; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || before[fd])
            continue;
        mine++;
        if (!(fl & FD_CLOEXEC))
            fprintf(stderr, "fd %d is not close-on-exec\n", fd);
        CU_ASSERT(fl & FD_CLOEXEC);
    }
    CU_ASSERT(mine >= 6); /* epoll, eventfd, the pidfd, three pipe ends */
    lrt_runtime_t *prev = lrt_enter(rt); /* its fds are registered there */
    lrt_process_free(p);
    lrt_exit(prev);
    lrt_runtime_free(rt);
}

/* ---- errors -------------------------------------------------------------------------- */

static int open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

static void bad_arguments_and_missing_programs_fail_cleanly_leaving_nothing_open(void)
{
    if (skip_under_valgrind(__func__))
        return;
    int before = open_fds();
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/nonexistent/lrt-no-such-program", NULL, NULL));
    CU_ASSERT_EQUAL(errno, ENOENT);
    CU_ASSERT_PTR_NULL(lrt_process_spawn("lrt-no-such-program-in-path", NULL, STDIO(P, P, P)));
    CU_ASSERT_EQUAL(errno, ENOENT);
    lrt_process_opts_t bad_cwd = {.cwd = "/nonexistent/dir", .stdout_mode = P};
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/bin/true", NULL, &bad_cwd));
    CU_ASSERT_EQUAL(errno, ENOENT);
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/etc/passwd", NULL, STDIO(P, N, P)));
    CU_ASSERT_EQUAL(errno, EACCES);
    CU_ASSERT_PTR_NULL(lrt_process_spawn(NULL, NULL, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/bin/true", (char *[]){NULL}, NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/bin/true", NULL, STDIO(3, I, I)));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NULL(lrt_process_spawn("/bin/true", NULL, STDIO(I, I, -1)));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(open_fds(), before);
    /* NULL handles, and a wait outside a task */
    CU_ASSERT_EQUAL(lrt_process_wait(NULL, NULL, 0), -EPERM);
    CU_ASSERT_EQUAL(lrt_process_kill(NULL, SIGTERM), -EINVAL);
    CU_ASSERT_EQUAL(lrt_process_stdin(NULL), -1);
    CU_ASSERT_EQUAL(lrt_process_stdout(NULL), -1);
    CU_ASSERT_EQUAL(lrt_process_stderr(NULL), -1);
    CU_ASSERT_EQUAL(lrt_process_pid(NULL), -1);
    lrt_process_free(NULL);
    lrt_process_t *p = lrt_process_spawn("/bin/true", NULL, NULL); /* no runtime needed */
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(lrt_process_wait(p, NULL, 0), -EPERM);
    pid_t pid = lrt_process_pid(p);
    lrt_process_free(p);
    CU_ASSERT(reaped_soon(pid));
    CU_ASSERT_EQUAL(open_fds(), before);
}

static void *emfile_task(void *unused)
{
    (void)unused;
    CU_ASSERT_EQUAL(lrt_process_wait(NULL, NULL, 0), -EINVAL);
    /* the lowest free number: a limit there leaves no fd at all, each one more frees one */
    int low = dup(0);
    close(low);
    struct rlimit old;
    getrlimit(RLIMIT_NOFILE, &old);
    int failed = 0, ok = 0;
    for (int k = 0; k <= 12; k++) {
        int before = open_fds();
        struct rlimit rl = {.rlim_cur = (rlim_t)(low + k), .rlim_max = old.rlim_max};
        setrlimit(RLIMIT_NOFILE, &rl);
        errno = 0;
        lrt_process_t *p = lrt_process_spawn("/bin/true", NULL, STDIO(P, P, N));
        int e = errno;
        setrlimit(RLIMIT_NOFILE, &old);
        if (!p) {
            if (e != EMFILE)
                return (void *)(intptr_t)(100 + k);
            failed++;
        } else {
            int st = -1;
            if (lrt_process_wait(p, &st, 20000) != 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                return (void *)(intptr_t)(200 + k);
            lrt_process_free(p);
            ok++;
        }
        if (open_fds() != before)
            return (void *)(intptr_t)(300 + k);
        siginfo_t si;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) == 0 || errno != ECHILD)
            return (void *)(intptr_t)(400 + k); /* a child left behind */
    }
    return (void *)(intptr_t)(failed >= 2 && ok >= 1 ? 0 : 500 + failed);
}

static int emfile_child(void *unused)
{
    (void)unused;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 90;
    void *res = NULL;
    if (lrt_block_on(rt, emfile_task, NULL, &res) != 0)
        return 91;
    lrt_runtime_free(rt);
    return (int)(intptr_t)res;
}

static void out_of_fds_spawn_fails_with_emfile_and_leaks_no_fd_and_no_child(void)
{
    if (skip_under_valgrind(__func__))
        return;
    char out[4096];
    int st = lrt_test_fork_capture(emfile_child, NULL, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "emfile child: status %#x (code %d = 100+k unexpected errno, 200+k bad "
                "wait, 300+k fd leak, 400+k child left, 500+n too few failures)\n%s\n",
                st, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- without pidfds (old kernels, seccomp, valgrind 3.19) ----------------------------- */

/* Each step returns 0 or its own code, for the parent to print. */
static void *no_pidfd_task(void *unused)
{
    (void)unused;
    if (syscall(SYS_pidfd_open, getpid(), 0) >= 0 || errno != ENOSYS)
        return (void *)1; /* the filter did not take */
    /* a conversation with cat, then EOF and its exit status */
    lrt_process_t *p = lrt_process_spawn("/bin/cat", NULL, STDIO(P, P, N));
    if (!p)
        return (void *)2;
    char buf[8];
    if (lrt_write_all(lrt_process_stdin(p), "ping", 4) != 4 ||
        lrt_read_timeout(lrt_process_stdout(p), buf, sizeof buf, 20000) != 4 || memcmp(buf, "ping", 4))
        return (void *)3;
    lrt_close(lrt_process_stdin(p));
    int st = -1;
    if (lrt_process_wait(p, &st, 20000) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return (void *)4;
    if (lrt_process_wait(p, &st, 0) != -ECHILD || lrt_process_kill(p, SIGTERM) != -ESRCH)
        return (void *)5;
    lrt_process_free(p);
    /* a timeout, then kill: WIFSIGNALED */
    p = lrt_process_spawn("sleep", (char *[]){"sleep", "60", NULL}, NULL);
    if (!p || lrt_process_wait(p, &st, 20) != -ETIMEDOUT || lrt_process_kill(p, SIGKILL) != 0)
        return (void *)6;
    if (lrt_process_wait(p, &st, 20000) != 0 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        return (void *)7;
    lrt_process_free(p);
    /* freed while it runs, after a wait registered its exit fd: reaped all the same */
    p = lrt_process_spawn("sleep", (char *[]){"sleep", "0.2", NULL}, NULL);
    if (!p || lrt_process_wait(p, NULL, 10) != -ETIMEDOUT)
        return (void *)8;
    pid_t pid = lrt_process_pid(p);
    lrt_process_free(p);
    if (!reaped_soon(pid))
        return (void *)9;
    return NULL;
}

static int no_pidfd_child(void *unused)
{
    (void)unused;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return 80;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 90;
    void *res = NULL;
    if (lrt_block_on(rt, no_pidfd_task, NULL, &res) != 0)
        return 91;
    lrt_runtime_free(rt);
    return (int)(intptr_t)res;
}

static void without_pidfd_open_a_watcher_thread_gives_the_same_waits_kills_and_reaping(void)
{
    if (skip_under_valgrind(__func__))
        return;
    char out[4096];
    int st = lrt_test_fork_capture(no_pidfd_child, NULL, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "no-pidfd child: status %#x (code %d: the step that failed)\n%s\n", st,
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- the dump ------------------------------------------------------------------------ */

static void *dump_root(void *unused)
{
    (void)unused;
    lrt_process_t *p = lrt_process_spawn("sleep", (char *[]){"sleep", "60", NULL}, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    lrt_task_t *w = lrt_spawn_named("child_waiter", waiter, p);
    lrt_yield();
    char *js = lrt_dump_json(lrt_current(), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(js);
    lrt_test_save_snapshot("process", js); /* t-dump.sh checks it against the schema */
    json_t *root = json_loads(js, 0, NULL);
    free(js);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_t *tasks = json_object_get(root, "tasks"), *it;
    size_t i;
    int seen = 0;
    char want[64];
    snprintf(want, sizeof want, "process %d sleep", (int)lrt_process_pid(p));
    json_array_foreach(tasks, i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != lrt_task_id(w))
            continue;
        json_t *wt = json_object_get(it, "wait");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(wt, "kind")), "process");
        const char *obj = json_string_value(json_object_get(wt, "object"));
        CU_ASSERT(obj && strcmp(obj, want) == 0);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(wt, "pid")), lrt_process_pid(p));
        seen = 1;
    }
    CU_ASSERT(seen);
    json_decref(root);
    CU_ASSERT_EQUAL(lrt_process_kill(p, SIGKILL), 0);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(w, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, 0);
    lrt_process_free(p);
    return NULL;
}

static void a_task_waiting_on_a_child_shows_process_pid_argv0_in_the_dump(void)
{
    lrt_test_run(NULL, dump_root, NULL);
}

CU_TestInfo lrt_test_process[] = {
    {"cat_echoes_its_stdin_pipe_to_its_stdout_pipe_through_lrt_read_and_write",
     cat_echoes_its_stdin_pipe_to_its_stdout_pipe_through_lrt_read_and_write},
    {"a_child_writing_more_than_a_pipe_holds_is_read_whole_while_it_runs",
     a_child_writing_more_than_a_pipe_holds_is_read_whole_while_it_runs},
    {"stderr_pipe_and_dev_null_stdin_reach_the_child_and_the_exit_code_comes_back",
     stderr_pipe_and_dev_null_stdin_reach_the_child_and_the_exit_code_comes_back},
    {"envp_and_cwd_reach_the_child_and_null_envp_inherits_environ",
     envp_and_cwd_reach_the_child_and_null_envp_inherits_environ},
    {"writing_to_a_child_that_exited_gives_epipe_not_a_sigpipe_death",
     writing_to_a_child_that_exited_gives_epipe_not_a_sigpipe_death},
    {"wait_times_out_then_a_killed_child_reports_wifsignaled_and_is_reaped_once",
     wait_times_out_then_a_killed_child_reports_wifsignaled_and_is_reaped_once},
    {"an_aborted_wait_leaves_the_child_running_and_waitable_by_another_task",
     an_aborted_wait_leaves_the_child_running_and_waitable_by_another_task},
    {"with_sigchld_ignored_wait_answers_echild_instead_of_hanging",
     with_sigchld_ignored_wait_answers_echild_instead_of_hanging},
    {"no_zombie_after_free_of_a_running_child_an_aborted_wait_or_runtime_free",
     no_zombie_after_free_of_a_running_child_an_aborted_wait_or_runtime_free},
    {"more_children_freed_while_running_than_the_reaper_polls_at_once_are_all_reaped",
     more_children_freed_while_running_than_the_reaper_polls_at_once_are_all_reaped},
    {"the_child_gets_only_its_stdio_blocking_pipe_ends_and_no_signal_mask",
     the_child_gets_only_its_stdio_blocking_pipe_ends_and_no_signal_mask},
    {"every_fd_lrt_opens_is_close_on_exec", every_fd_lrt_opens_is_close_on_exec},
    {"bad_arguments_and_missing_programs_fail_cleanly_leaving_nothing_open",
     bad_arguments_and_missing_programs_fail_cleanly_leaving_nothing_open},
    {"out_of_fds_spawn_fails_with_emfile_and_leaks_no_fd_and_no_child",
     out_of_fds_spawn_fails_with_emfile_and_leaks_no_fd_and_no_child},
    {"without_pidfd_open_a_watcher_thread_gives_the_same_waits_kills_and_reaping",
     without_pidfd_open_a_watcher_thread_gives_the_same_waits_kills_and_reaping},
    {"a_task_waiting_on_a_child_shows_process_pid_argv0_in_the_dump",
     a_task_waiting_on_a_child_shows_process_pid_argv0_in_the_dump},
    CU_TEST_INFO_NULL,
};
