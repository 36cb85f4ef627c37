/* Crash tracebacks (src/diag/crash.c): forked children crash on purpose; each must die
 * by the same signal, after a report naming the task, its spawn line and a frame of the
 * crashing function.  Under ASan nothing is installed (ASan owns the fault signals):
 * every test says so and skips. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test_util.h"

#ifndef LRT__ASAN
enum { NULL_WRITE, OVERFLOW, ABORT, DIV_ZERO, TRAP, CHAINED, DIV_ZERO_BROKEN_LIST };
static int crash_how;
static volatile int zero;

static NOINLINE void null_write(void)
{
    *(volatile int *)(uintptr_t)zero = 42;
}

static NOINLINE int deep_recursion(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n ? deep_recursion(n - 1) + pad[0] : 0;
}

static NOINLINE int divide_by(int d)
{
    return 1000 / d;
}

static NOINLINE void call_abort(void)
{
    abort();
}

static NOINLINE void trap(void)
{
    __builtin_trap();
}

static void *crasher(void *arg)
{
    (void)arg;
    lrt_sleep_ms(5); /* the others park first */
    switch (crash_how) {
    case NULL_WRITE: case CHAINED: null_write(); break;
    case OVERFLOW: deep_recursion(1 << 20); break;
    case ABORT: call_abort(); break;
    case DIV_ZERO: return (void *)(intptr_t)divide_by(zero);
    case DIV_ZERO_BROKEN_LIST: { /* the report's walk of the task list will fault */
        lrt_runtime_t *rt = lrt_current();
        for (lrt__link *l = rt->tasks.next; l != &rt->tasks; l = l->next)
            if (strcmp(lrt__container_of(l, struct lrt_task, all)->name, "teller") == 0) {
                l->next = (lrt__link *)(uintptr_t)0x10;
                break;
            }
        return (void *)(intptr_t)divide_by(zero);
    }
    case TRAP: trap(); break;
    }
    return NULL;
}

static lrt_mutex_t *accounts;

static void *ledger(void *arg)
{
    (void)arg;
    lrt_mutex_lock(accounts);
    lrt_sleep_ms(60000);
    lrt_mutex_unlock(accounts);
    return NULL;
}

static void *teller(void *arg)
{
    (void)arg;
    lrt_mutex_lock(accounts);
    lrt_mutex_unlock(accounts);
    return NULL;
}

/* Spawns the crasher and returns the line of that spawn; with NULL only the line (for
 * the parent's assertions). */
static int spawn_crasher(lrt_task_t **t)
{
    if (t)
        *t = lrt_spawn_named("crasher", crasher, NULL);
    return __LINE__ - 1;
}

static void *crash_root(void *arg)
{
    (void)arg;
    accounts = lrt_mutex_new();
    lrt_mutex_set_name(accounts, "accounts");
    lrt_task_detach(lrt_spawn_named("ledger", ledger, NULL));
    lrt_task_detach(lrt_spawn_named("teller", teller, NULL));
    lrt_task_t *t;
    spawn_crasher(&t);
    lrt_join(t, NULL);
    return NULL;
}

static void app_handler(int sig)
{
    static const char msg[] = "app handler ran\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(40 + sig % 10);
}

static int crash_child(void *arg)
{
    const char *traceback = arg;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the default action still dumps core; not here */
    if (traceback)
        setenv("LRT_TRACEBACK", traceback, 1);
    else
        unsetenv("LRT_TRACEBACK");
    if (crash_how == CHAINED)
        signal(SIGSEGV, app_handler); /* the program's own, installed before lrt's */
    lrt_options_t o = {.stack_size = 64 * 1024};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 3;
    lrt_block_on(rt, crash_root, NULL, NULL);
    return 0;
}

/* Crash a child as @how with LRT_TRACEBACK=@traceback (NULL: unset); its stderr in @out. */
static int run_crash(int how, const char *traceback, char *out, size_t n)
{
    crash_how = how;
    return lrt_test_fork_capture(crash_child, (void *)traceback, out, n);
}

/* The report names the crasher, its spawn line and @frame, and the child died by @sig;
 * else the whole stderr is printed. */
static void expect_report(int st, int sig, const char *out, const char *frame)
{
    char spawned_at[64];
    snprintf(spawned_at, sizeof spawned_at, "test_crash.c:%d", spawn_crasher(NULL));
    bool died = WIFSIGNALED(st) && WTERMSIG(st) == sig;
    bool named = strstr(out, "in task 4 'crasher', spawned at ") != NULL;
    bool line = strstr(out, spawned_at) != NULL;
    bool fr = strstr(out, frame) != NULL;
    if (!died || !named || !line || !fr)
        printf("\n  status %#x (want signal %d), stderr:\n%s\n", st, sig, out);
    CU_ASSERT_TRUE(died);
    CU_ASSERT_TRUE(named);
    CU_ASSERT_TRUE(line);
    CU_ASSERT_TRUE(fr);
}
#endif

#define SKIP_UNDER_ASAN()                                                                          \
    do {                                                                                           \
        printf("skipped: ASan owns SIGSEGV/SIGBUS/SIGFPE and prints its own reports; lrt installs " \
               "no crash handler under ASan ");                                                   \
        return;                                                                                    \
    } while (0)

static void a_null_write_in_a_task_names_the_task_its_spawn_line_and_the_faulting_function(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(NULL_WRITE, NULL, out, sizeof out);
    expect_report(st, SIGSEGV, out, "  null_write+0x");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: fatal signal SIGSEGV (address not mapped, address 0x0)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "task 4 'crasher' [running"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  crasher+0x")); /* the task's function, below */
    CU_ASSERT_PTR_NULL(strstr(out, "other tasks")); /* the default: the crashing task only */
#endif
}

static void a_stack_overflow_in_a_task_keeps_its_one_line_report_and_adds_the_traceback(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(OVERFLOW, NULL, out, sizeof out);
    expect_report(st, SIGSEGV, out, "  deep_recursion");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, " more of the same\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: stack overflow in task 4 'crasher' spawned at "));
#endif
}

static void abort_in_a_task_is_reported_and_the_child_dies_by_sigabrt(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(ABORT, NULL, out, sizeof out);
    expect_report(st, SIGABRT, out, "  call_abort+0x");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: fatal signal SIGABRT"));
#endif
}

static void an_integer_division_by_zero_in_a_task_dies_by_sigfpe_after_the_report(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(DIV_ZERO, NULL, out, sizeof out);
    expect_report(st, SIGFPE, out, "  divide_by+0x");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: fatal signal SIGFPE (integer divide by zero)"));
#endif
}

static void an_illegal_instruction_in_a_task_dies_by_sigill_after_the_report(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(TRAP, NULL, out, sizeof out);
    expect_report(st, SIGILL, out, "  trap+0x");
#endif
}

static void traceback_all_adds_every_other_task_with_its_wait_and_backtrace(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[32768];
    int st = run_crash(NULL_WRITE, "all", out, sizeof out);
    expect_report(st, SIGSEGV, out, "  null_write+0x");
    const char *others = strstr(out, "other tasks of this runtime (LRT_TRACEBACK=all):");
    CU_ASSERT_PTR_NOT_NULL_FATAL(others);
    const char *want[] = {"task 1 'main' [join of task 4", "task 2 'ledger' [sleep", "  ledger+0x",
                          "task 3 'teller' [mutex 'accounts' (held by task 2)", "  lrt_mutex_lock+0x",
                          "  teller+0x", "  crash_root+0x", "  root task of lrt_block_on\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        bool found = strstr(others, want[i]) != NULL;
        if (!found)
            printf("\n  missing after 'other tasks': %s\n%s\n", want[i], out);
        CU_ASSERT_TRUE(found);
    }
#endif
}

static void a_fault_while_reporting_ends_the_report_and_dies_by_the_first_signal(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[32768];
    int st = run_crash(DIV_ZERO_BROKEN_LIST, "all", out, sizeof out);
    /* the crashing task was reported before the walk faulted; SIGFPE, not SIGSEGV */
    expect_report(st, SIGFPE, out, "  divide_by+0x");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "task 3 'teller' [mutex 'accounts'"));
    CU_ASSERT_PTR_NULL(strstr(out, "lrt: the process dies by")); /* the report ended early */
#endif
}

static void traceback_none_prints_no_traceback_but_still_dies_by_the_signal(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(NULL_WRITE, "none", out, sizeof out);
    CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NULL(strstr(out, "fatal signal"));
    CU_ASSERT_PTR_NULL(strstr(out, "null_write"));
    /* an overflow keeps its one-line report (the behaviour from before tracebacks) */
    st = run_crash(OVERFLOW, "none", out, sizeof out);
    CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: stack overflow in task 4 'crasher'"));
    CU_ASSERT_PTR_NULL(strstr(out, "fatal signal"));
#endif
}

static void an_unknown_traceback_value_warns_once_and_reports_the_crashing_task(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(NULL_WRITE, "everything", out, sizeof out);
    expect_report(st, SIGSEGV, out, "  null_write+0x");
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "lrt: LRT_TRACEBACK=everything: expected none, single or all; using single\n"));
    CU_ASSERT_PTR_NULL(strstr(out, "other tasks"));
#endif
}

static void a_handler_the_program_installed_first_owns_the_fault(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = run_crash(CHAINED, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 41);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "app handler ran"));
    CU_ASSERT_PTR_NULL(strstr(out, "fatal signal"));
#endif
}

#ifndef LRT__ASAN
static void *thread_null_write(void *arg)
{
    (void)arg;
    null_write();
    return NULL;
}

static int thread_crash_child(void *arg)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    unsetenv("LRT_TRACEBACK");
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 3;
    if (arg) { /* on the runtime's own thread, entered, outside any task */
        lrt_enter(rt);
        null_write();
        return 0;
    }
    pthread_t th;
    pthread_create(&th, NULL, thread_null_write, NULL);
    pthread_join(th, NULL);
    return 0;
}
#endif

static void a_crash_outside_any_task_names_the_thread_and_dies_the_same_way(void)
{
#ifdef LRT__ASAN
    SKIP_UNDER_ASAN();
#else
    char out[16384];
    int st = lrt_test_fork_capture(thread_crash_child, NULL, out, sizeof out);
    CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "', no runtime entered on this thread\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  null_write+0x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  thread_null_write+0x"));
    st = lrt_test_fork_capture(thread_crash_child, "main", out, sizeof out);
    CU_ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "', runtime thread outside any task\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "  thread_crash_child+0x"));
    if (!strstr(out, "thread_crash_child"))
        printf("\n%s\n", out);
#endif
}

CU_TestInfo lrt_test_crash[] = {
    {"a_null_write_in_a_task_names_the_task_its_spawn_line_and_the_faulting_function",
     a_null_write_in_a_task_names_the_task_its_spawn_line_and_the_faulting_function},
    {"a_stack_overflow_in_a_task_keeps_its_one_line_report_and_adds_the_traceback",
     a_stack_overflow_in_a_task_keeps_its_one_line_report_and_adds_the_traceback},
    {"abort_in_a_task_is_reported_and_the_child_dies_by_sigabrt", abort_in_a_task_is_reported_and_the_child_dies_by_sigabrt},
    {"an_integer_division_by_zero_in_a_task_dies_by_sigfpe_after_the_report",
     an_integer_division_by_zero_in_a_task_dies_by_sigfpe_after_the_report},
    {"an_illegal_instruction_in_a_task_dies_by_sigill_after_the_report",
     an_illegal_instruction_in_a_task_dies_by_sigill_after_the_report},
    {"traceback_all_adds_every_other_task_with_its_wait_and_backtrace",
     traceback_all_adds_every_other_task_with_its_wait_and_backtrace},
    {"a_fault_while_reporting_ends_the_report_and_dies_by_the_first_signal",
     a_fault_while_reporting_ends_the_report_and_dies_by_the_first_signal},
    {"traceback_none_prints_no_traceback_but_still_dies_by_the_signal",
     traceback_none_prints_no_traceback_but_still_dies_by_the_signal},
    {"an_unknown_traceback_value_warns_once_and_reports_the_crashing_task",
     an_unknown_traceback_value_warns_once_and_reports_the_crashing_task},
    {"a_handler_the_program_installed_first_owns_the_fault", a_handler_the_program_installed_first_owns_the_fault},
    {"a_crash_outside_any_task_names_the_thread_and_dies_the_same_way",
     a_crash_outside_any_task_names_the_thread_and_dies_the_same_way},
    CU_TEST_INFO_NULL,
};
