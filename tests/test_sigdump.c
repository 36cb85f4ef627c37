/* The text dump on a signal (LRT_DUMP_SIGNAL, src/diag/sigdump.c): forked children with
 * parked or busy tasks get the signal; the dump must list every task with its wait and
 * frames, and the child must keep running and exit normally. */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

enum { PARKED, BUSY };

struct scene {
    int mode;
    int ctl;               /* child: read end of the parent's control pipe */
    lrt_mutex_t *accounts;
};
static struct scene sc;
static atomic_int stop_spin, stop_second, second_up;

static void *ledger(void *arg)
{
    (void)arg;
    lrt_mutex_lock(sc.accounts);
    lrt_sleep_ms(60000); /* until aborted */
    lrt_mutex_unlock(sc.accounts);
    return NULL;
}

static void *teller(void *arg)
{
    (void)arg;
    if (lrt_mutex_lock(sc.accounts) == 0)
        lrt_mutex_unlock(sc.accounts);
    return NULL;
}

static NOINLINE void spin_once(void)
{
    for (volatile int i = 0; i < 1000; i++) {
    }
}

static void *spinner(void *arg)
{
    (void)arg;
    fprintf(stderr, "ready\n"); /* from here on the thread is stuck in this poll */
    while (!atomic_load(&stop_spin))
        spin_once(); /* the runtime thread never gets back: no safe point */
    return NULL;
}

/* The busy child's way out: a plain thread waits for the parent's word. */
static void *unstick(void *arg)
{
    (void)arg;
    char c;
    ssize_t n = read(sc.ctl, &c, 1);
    (void)n;
    atomic_store(&stop_spin, 1);
    return NULL;
}

static void *auditor(void *arg)
{
    (void)arg;
    atomic_store(&second_up, 1);
    while (!atomic_load(&stop_second))
        lrt_sleep_ms(10);
    return NULL;
}

static void *second_root(void *arg)
{
    (void)arg;
    lrt_join(lrt_spawn_named("auditor", auditor, NULL), NULL);
    return NULL;
}

static void *second_thread(void *arg)
{
    (void)arg;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return NULL;
    lrt_block_on(rt, second_root, NULL, NULL);
    lrt_runtime_free(rt);
    return NULL;
}

static void *scene_root(void *arg)
{
    (void)arg;
    sc.accounts = lrt_mutex_new();
    lrt_mutex_set_name(sc.accounts, "accounts");
    lrt_task_t *l = lrt_spawn_named("ledger", ledger, NULL);
    lrt_task_t *t = lrt_spawn_named("teller", teller, NULL);
    lrt_sleep_ms(1); /* both park */
    pthread_t th;
    if (sc.mode == BUSY) {
        pthread_create(&th, NULL, unstick, NULL);
        lrt_task_t *s = lrt_spawn_named("spinner", spinner, NULL);
        lrt_join(s, NULL);
        pthread_join(th, NULL);
    } else {
        /* the second runtime exists and parks its task before the parent signals */
        for (int i = 0; i < 20000 && !atomic_load(&second_up); i++)
            lrt_sleep_ms(1);
        fprintf(stderr, "ready\n");
        char c;
        lrt_read(sc.ctl, &c, 1); /* the parent's word */
    }
    lrt_abort(l);
    lrt_join(l, NULL);
    lrt_join(t, NULL);
    lrt_mutex_free(sc.accounts);
    return NULL;
}

static int scene_child(int mode, int ctl)
{
    sc.mode = mode;
    sc.ctl = ctl;
    pthread_t second;
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    if (mode == PARKED)
        pthread_create(&second, NULL, second_thread, NULL);
    int rc = lrt_block_on(rt, scene_root, NULL, NULL);
    if (mode == PARKED) {
        atomic_store(&stop_second, 1);
        pthread_join(second, NULL);
    }
    lrt_runtime_free(rt);
    return rc == 0 ? 0 : 4;
}

struct child {
    pid_t pid;
    int err, ctl;
    char out[65536];
    size_t len;
};

/* Read the child's stderr until @needle appears after @from, or @ms pass, or EOF;
 * returns the needle's position or NULL. */
static const char *read_until(struct child *c, size_t from, const char *needle, int ms)
{
    uint64_t until = lrt_test_mono_ms() + (uint64_t)ms;
    for (;;) {
        const char *p = c->len > from ? strstr(c->out + from, needle) : NULL;
        if (p)
            return p;
        uint64_t now = lrt_test_mono_ms();
        struct pollfd pf = {.fd = c->err, .events = POLLIN};
        if (now >= until || poll(&pf, 1, (int)(until - now)) <= 0 || c->len + 1 >= sizeof c->out)
            return NULL;
        ssize_t n = read(c->err, c->out + c->len, sizeof c->out - 1 - c->len);
        if (n <= 0)
            return NULL;
        c->len += (size_t)n;
        c->out[c->len] = 0;
    }
}

/* Fork the scene with LRT_DUMP_SIGNAL=@sig (and LRT_DUMP_FILE=@file unless NULL); wait
 * for it to be ready. */
static void start(struct child *c, int mode, const char *sig, const char *file)
{
    int err[2], ctl[2];
    CU_ASSERT_FATAL(pipe(err) == 0 && pipe(ctl) == 0);
    memset(c, 0, sizeof *c);
    c->pid = fork();
    if (c->pid == 0) {
        alarm(60);
        dup2(err[1], 2);
        close(err[0]);
        close(ctl[1]);
        setenv("LRT_DUMP_SIGNAL", sig, 1);
        if (file)
            setenv("LRT_DUMP_FILE", file, 1);
        else
            unsetenv("LRT_DUMP_FILE");
        _exit(scene_child(mode, ctl[0]));
    }
    close(err[1]);
    close(ctl[0]);
    c->err = err[0];
    c->ctl = ctl[1];
    CU_ASSERT_PTR_NOT_NULL(read_until(c, 0, "ready\n", 20000));
}

/* Tell the child to finish; returns its wait status. */
static int finish(struct child *c)
{
    ssize_t w = write(c->ctl, "q", 1);
    (void)w;
    close(c->ctl);
    read_until(c, c->len, "\x01never", 20000); /* to EOF */
    close(c->err);
    int st = 0;
    waitpid(c->pid, &st, 0);
    return st;
}

static bool alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

static void expect_in(const char *text, const char *const *want, size_t n, const char *all)
{
    for (size_t i = 0; i < n; i++) {
        bool found = text && strstr(text, want[i]);
        if (!found)
            printf("\n  missing: %s\n%s\n", want[i], all);
        CU_ASSERT_TRUE(found);
    }
}

static void a_dump_signal_lists_every_runtime_and_task_with_frames_and_the_process_runs_on(void)
{
    struct child c;
    start(&c, PARKED, "SIGUSR2", NULL);
    size_t from = c.len;
    CU_ASSERT_EQUAL(kill(c.pid, SIGUSR2), 0);
    const char *head = read_until(&c, from, "lrt: task dump on SIGUSR2, pid ", 20000);
    const char *end = read_until(&c, from, "lrt: end of task dump\n", 20000);
    CU_ASSERT_PTR_NOT_NULL(head);
    CU_ASSERT_PTR_NOT_NULL(end);
    const char *want[] = {
        ", 2 runtime(s)", "runtime 1 of 2: thread ", "runtime 2 of 2: thread ", "captured at a safe point",
        "task 1 'main' [fd ", "  lrt_read", "  scene_root",
        "task 2 'ledger' [sleep (", "  lrt_sleep_ms", "  ledger", "spawned at tests/test_sigdump.c:",
        "task 3 'teller' [mutex 'accounts' (held by task 2), ", "  lrt_mutex_lock", "  teller",
        "task 2 'auditor' [", "  auditor", "  root task of lrt_block_on\n"};
    expect_in(head, want, sizeof want / sizeof *want, c.out);
    void *dw = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (dw) { /* with libdw, frames say file:line */
        const char *lines[] = {"  ledger (", "test_sigdump.c:", "  lrt_sleep_ms ("};
        expect_in(head, lines, sizeof lines / sizeof *lines, c.out);
        dlclose(dw);
    } else {
        printf("(libdw.so.1 not found: frames are symbol+offset (module+offset)) ");
    }
    CU_ASSERT_TRUE(alive(c.pid)); /* the dump did not kill it */
    /* a second signal, a second dump */
    from = c.len;
    kill(c.pid, SIGUSR2);
    CU_ASSERT_PTR_NOT_NULL(read_until(&c, from, "lrt: end of task dump\n", 20000));
    CU_ASSERT_TRUE(alive(c.pid));
    int st = finish(&c);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        printf("\n  status %#x\n%s\n", st, c.out);
}

static void a_dump_of_a_runtime_stuck_in_a_busy_loop_shows_the_running_task_where_it_runs(void)
{
    struct child c;
    start(&c, BUSY, "12", NULL); /* a number: SIGUSR2 on x86-64 Linux */
    size_t from = c.len;
    CU_ASSERT_EQUAL(kill(c.pid, SIGUSR2), 0);
    const char *head = read_until(&c, from, "lrt: task dump on SIGUSR2", 20000);
    CU_ASSERT_PTR_NOT_NULL(read_until(&c, from, "lrt: end of task dump\n", 20000));
    const char *want[] = {"stuck in a poll", "task 4 'spinner' [running, ", "  spinner",
                          "task 3 'teller' [mutex 'accounts' (held by task 2), ", "  teller"};
    expect_in(head, want, sizeof want / sizeof *want, c.out);
    CU_ASSERT_TRUE(alive(c.pid));
    int st = finish(&c);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void the_dump_file_is_appended_to_one_dump_per_signal(void)
{
    char path[] = "/tmp/lrt-sigdump-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "before\n", 7), 7);
    close(fd);
    struct child c;
    start(&c, PARKED, "usr2", path);
    char buf[65536];
    for (int round = 1; round <= 2; round++) {
        kill(c.pid, SIGUSR2);
        int ends = 0;
        for (int i = 0; i < 1000 && ends < round; i++) { /* up to 20 s */
            usleep(20000);
            int f = open(path, O_RDONLY);
            ssize_t n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
            if (f >= 0)
                close(f);
            buf[n > 0 ? n : 0] = 0;
            ends = 0;
            for (const char *p = buf; (p = strstr(p, "lrt: end of task dump\n")); p++)
                ends++;
        }
        CU_ASSERT_EQUAL(ends, round);
    }
    CU_ASSERT_EQUAL(strncmp(buf, "before\n", 7), 0); /* appended, not truncated */
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "task 3 'teller' [mutex 'accounts'"));
    CU_ASSERT_PTR_NULL(strstr(c.out, "lrt: task dump")); /* not on stderr */
    CU_ASSERT_TRUE(alive(c.pid));
    int st = finish(&c);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(path);
}

/* Until the dump's footer is in @fd (a file), at most 20 s. */
static void *wait_for_footer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    for (int i = 0; i < 2000; i++) {
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        if (strstr(buf, "lrt: end of task dump\n"))
            break;
        lrt_sleep_ms(10);
    }
    return NULL;
}

static int bad_file_child(void *arg)
{
    (void)arg;
    setenv("LRT_DUMP_SIGNAL", "SIGUSR2", 1);
    setenv("LRT_DUMP_FILE", "/nonexistent-dir/dump.txt", 1);
    /* stderr to a file this child can read back, then to the parent's pipe */
    char path[] = "/tmp/lrt-sigdump-err-XXXXXX";
    int tf = mkstemp(path), pipe_fd = dup(2);
    if (tf < 0 || pipe_fd < 0)
        return 5;
    unlink(path);
    dup2(tf, 2);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    raise(SIGUSR2);
    lrt_block_on(rt, wait_for_footer, (void *)(intptr_t)tf, NULL);
    lrt_runtime_free(rt);
    char buf[65536];
    ssize_t n = pread(tf, buf, sizeof buf, 0);
    if (n > 0 && write(pipe_fd, buf, (size_t)n) != n)
        return 6;
    return 0;
}

static void a_dump_file_that_cannot_be_opened_sends_the_dump_to_stderr_with_a_warning(void)
{
    char out[65536];
    int st = lrt_test_fork_capture(bad_file_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: LRT_DUMP_FILE=/nonexistent-dir/dump.txt: No such file or directory; "
                                       "task dump on stderr\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: end of task dump\n"));
}

/* The dump waits for a runtime's safe point while that runtime shuts down (outside
 * lrt_block_on): the shutdown serves the request itself, from consistent state, rather
 * than waiting for the dump's fallback to freeze it from another thread. */
static int shutdown_child(void *arg)
{
    (void)arg;
    setenv("LRT_DUMP_SIGNAL", "SIGUSR2", 1);
    unsetenv("LRT_DUMP_FILE");
    /* the dump's fallback (freeze the thread from outside) must not come first, however
     * slow this machine (valgrind): only the safe point may answer */
    setenv("LRT_DUMP_STUCK_MS", "60000", 1);
    char path[] = "/tmp/lrt-sigdump-err-XXXXXX";
    int tf = mkstemp(path), pipe_fd = dup(2);
    if (tf < 0 || pipe_fd < 0)
        return 5;
    unlink(path);
    dup2(tf, 2);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    raise(SIGUSR2);
    char buf[65536];
    ssize_t n = 0;
    for (int i = 0; i < 2000; i++) { /* until the dump has begun: 20 s at most */
        n = pread(tf, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        if (strstr(buf, "lrt: task dump on SIGUSR2"))
            break;
        usleep(10000);
    }
    lrt_runtime_free(rt); /* the dump waits for this runtime's safe point meanwhile */
    n = pread(tf, buf, sizeof buf, 0);
    if (n > 0 && write(pipe_fd, buf, (size_t)n) != n)
        return 6;
    return 0;
}

static void a_runtime_shutting_down_during_a_dump_serves_it_and_does_not_wait_for_it(void)
{
    char out[65536];
    int st = lrt_test_fork_capture(shutdown_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *want[] = {"lrt: task dump on SIGUSR2", "runtime 1 of 1: thread ", ", shutting_down, ",
                          "captured at a safe point", "lrt: end of task dump\n"};
    expect_in(out, want, sizeof want / sizeof *want, out);
}

static int bad_value_child(void *arg)
{
    setenv("LRT_DUMP_SIGNAL", (const char *)arg, 1);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    lrt_runtime_t *rt2 = lrt_runtime_new(NULL); /* warned once, not per runtime */
    lrt_runtime_free(rt2);
    lrt_runtime_free(rt);
    return 0;
}

static void a_bad_signal_value_is_one_warning_line_and_the_program_runs(void)
{
    const char *bad[] = {"SIGBOGUS", "SIGKILL", "SIGSEGV", "0", "65", "12x", "SIGURG"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char out[4096], want[160];
        int st = lrt_test_fork_capture(bad_value_child, (void *)bad[i], out, sizeof out);
        snprintf(want, sizeof want,
                 "lrt: LRT_DUMP_SIGNAL=%s: not a signal name or number lrt can use (e.g. SIGQUIT, SIGUSR2, 3); "
                 "no task dump on a signal\n", bad[i]);
        CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CU_ASSERT_STRING_EQUAL(out, want);
    }
}

static int no_runtime_child(void *arg)
{
    (void)arg;
    setenv("LRT_DUMP_SIGNAL", "SIGUSR2", 1);
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    lrt_runtime_free(rt);
    raise(SIGUSR2); /* no runtime left: nothing to dump, and no death either */
    usleep(100000);
    return 0;
}

static void the_signal_with_no_runtime_left_neither_dumps_nor_kills(void)
{
    char out[4096];
    int st = lrt_test_fork_capture(no_runtime_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_STRING_EQUAL(out, "");
}

CU_TestInfo lrt_test_sigdump[] = {
    {"a_dump_signal_lists_every_runtime_and_task_with_frames_and_the_process_runs_on",
     a_dump_signal_lists_every_runtime_and_task_with_frames_and_the_process_runs_on},
    {"a_dump_of_a_runtime_stuck_in_a_busy_loop_shows_the_running_task_where_it_runs",
     a_dump_of_a_runtime_stuck_in_a_busy_loop_shows_the_running_task_where_it_runs},
    {"the_dump_file_is_appended_to_one_dump_per_signal", the_dump_file_is_appended_to_one_dump_per_signal},
    {"a_bad_signal_value_is_one_warning_line_and_the_program_runs",
     a_bad_signal_value_is_one_warning_line_and_the_program_runs},
    {"the_signal_with_no_runtime_left_neither_dumps_nor_kills", the_signal_with_no_runtime_left_neither_dumps_nor_kills},
    {"a_dump_file_that_cannot_be_opened_sends_the_dump_to_stderr_with_a_warning",
     a_dump_file_that_cannot_be_opened_sends_the_dump_to_stderr_with_a_warning},
    {"a_runtime_shutting_down_during_a_dump_serves_it_and_does_not_wait_for_it",
     a_runtime_shutting_down_during_a_dump_serves_it_and_does_not_wait_for_it},
    CU_TEST_INFO_NULL,
};
