/*
 * lrt test runner: registers every suite, runs all or a filtered subset.
 *   lrt-tests [--list] [SUITE[/TEST]]...
 * Exit status: 0 when every test passed, 1 on failures, 2 on usage errors.
 */
#include <CUnit/Basic.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Suites are weak so the runner links while a subsystem's tests are absent. */
#define SUITES(X) X(core) X(stack) X(time) X(deadline) X(scope) X(io) X(sync) X(blocking) X(remote) X(runtime) X(dump) \
    X(lifecycle) X(agent) X(group) X(select) X(sync2) X(names) X(signal) X(process) X(net) X(file) \
    X(dgram) X(reader) X(uring) X(uring_accept) X(uring_file) X(uring_dgram) X(crash) X(sigdump) X(attach) X(cycles) X(history) X(trace)
#define DECL(s) extern CU_TestInfo lrt_test_##s[] __attribute__((weak));
SUITES(DECL)

struct suite { const char *name; CU_TestInfo *tests; };

static int matches(const char *suite, const char *test, char **filters, int nf)
{
    if (nf == 0)
        return 1;
    for (int i = 0; i < nf; i++) {
        const char *f = filters[i];
        const char *slash = strchr(f, '/');
        size_t sl = slash ? (size_t)(slash - f) : strlen(f);
        if (strlen(suite) != sl || strncmp(suite, f, sl) != 0)
            continue;
        if (!slash || test == NULL || strcmp(slash + 1, test) == 0)
            return 1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: lrt-tests [--list] [SUITE[/TEST]]...\n"
               "  --list   print every suite/test and exit\n"
               "  -h, --help\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"list", no_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int list = 0, c;
    while ((c = getopt_long(argc, argv, "lh", opts, NULL)) != -1) {
        if (c == 'l') list = 1;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    char **filters = argv + optind;
    int nf = argc - optind;
    struct suite suites[] = {
#define ENTRY(s) {#s, lrt_test_##s},
        SUITES(ENTRY)
    };
    signal(SIGPIPE, SIG_IGN);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    int selected = 0;
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (!suites[i].tests || !matches(suites[i].name, NULL, filters, nf))
            continue;
        CU_pSuite s = NULL;
        for (CU_TestInfo *t = suites[i].tests; t->pName; t++) {
            if (!matches(suites[i].name, t->pName, filters, nf))
                continue;
            if (list) { printf("%s/%s\n", suites[i].name, t->pName); continue; }
            if (!s) s = CU_add_suite(suites[i].name, NULL, NULL);
            CU_add_test(s, t->pName, t->pTestFunc);
            selected++;
        }
    }
    if (list) { CU_cleanup_registry(); return 0; }
    if (selected == 0) {
        fprintf(stderr, "lrt-tests: no test matches the filter\n");
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_pRunSummary sum = CU_get_run_summary();
    int bad = failed != 0 || sum->nAssertsFailed != 0;
    CU_cleanup_registry();
    return bad ? 1 : 0;
}
