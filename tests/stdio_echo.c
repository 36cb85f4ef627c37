/*
 * stdio_echo - the program tests/t-stdio.sh puts in real shell pipelines: it copies
 * stdin to stdout through lrt (lrt_read + lrt_write_all, or lines through an
 * lrt_reader_t), then ends as told, and checks file status flags.
 *
 *   stdio_echo [--lines] [--exact N] [--end free|exit|abort|kill]
 *   stdio_echo --check FD...    exit 0 if every FD's description is blocking, else
 *                               print "FD: O_NONBLOCK" on stderr and exit 1
 *
 * --exact N copies exactly N bytes (lrt_read_exact: never reads past them, so the rest
 * of a shared stdin is left for the next command).  --lines copies line by line and
 * writes each line back with a '\n' (a final line without one gets one).  --end says how
 * the process ends once the copy is done: lrt_runtime_free then exit 0 (free, the
 * default); exit(0) from inside the task without freeing the runtime (exit); abort();
 * SIGKILL (kill).
 */
#include "lrt/lrt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int lines, end_mode;
static long exact = -1;

enum { END_FREE, END_EXIT, END_ABORT, END_KILL };

static void finish_early(void)
{
    /* lrt's private descriptions and registrations are not undone: whatever the
     * process leaves behind is what the next command of the pipeline sees */
    if (end_mode == END_EXIT)
        exit(0);
    if (end_mode == END_ABORT) {
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    if (end_mode == END_KILL)
        raise(SIGKILL);
}

static void *copy(void *arg)
{
    (void)arg;
    if (exact >= 0) {
        char *buf = malloc((size_t)exact + 1);
        if (!buf)
            return (void *)1;
        ssize_t k = lrt_read_exact(0, buf, (size_t)exact);
        if (k < 0 || lrt_write_all(1, buf, (size_t)exact) < 0) {
            free(buf);
            return (void *)2;
        }
        free(buf);
    } else if (lines) {
        lrt_reader_t *r = lrt_reader_new(0, 4096);
        if (!r)
            return (void *)1;
        char *line;
        ssize_t n;
        while ((n = lrt_read_line(r, &line)) >= 0 && line) {
            line[n] = '\n'; /* the NUL after the line is the reader's: ours until the next call */
            if (lrt_write_all(1, line, (size_t)n + 1) < 0)
                break;
        }
        lrt_reader_free(r);
        if (n < 0)
            return (void *)3;
    } else {
        char buf[4096];
        ssize_t k;
        while ((k = lrt_read(0, buf, sizeof buf)) > 0)
            if (lrt_write_all(1, buf, (size_t)k) < 0)
                return (void *)2;
        if (k < 0)
            return (void *)3;
    }
    finish_early();
    return NULL;
}

static int check(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        int fd = atoi(argv[i]);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0) {
            fprintf(stderr, "%d: %s\n", fd, strerror(errno));
            rc = 1;
        } else if (fl & O_NONBLOCK) {
            fprintf(stderr, "%d: O_NONBLOCK\n", fd);
            rc = 1;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    alarm(60); /* a pipeline that hangs fails its test instead of the CI run */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check"))
            return check(argc - i - 1, argv + i + 1);
        if (!strcmp(argv[i], "--lines")) {
            lines = 1;
        } else if (!strcmp(argv[i], "--exact") && i + 1 < argc) {
            exact = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--end") && i + 1 < argc) {
            const char *m = argv[++i];
            end_mode = !strcmp(m, "exit") ? END_EXIT : !strcmp(m, "abort") ? END_ABORT
                     : !strcmp(m, "kill") ? END_KILL : END_FREE;
        } else {
            fprintf(stderr, "usage: stdio_echo [--lines] [--exact N] [--end free|exit|abort|kill]\n"
                            "       stdio_echo --check FD...\n");
            return 2;
        }
    }
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt) {
        perror("lrt_runtime_new");
        return 1;
    }
    void *res = (void *)1;
    int rc = lrt_block_on(rt, copy, NULL, &res);
    lrt_runtime_free(rt);
    if (rc != 0 || res != NULL) {
        fprintf(stderr, "stdio_echo: copy failed (%d, %ld)\n", rc, (long)(intptr_t)res);
        return 1;
    }
    return 0;
}
