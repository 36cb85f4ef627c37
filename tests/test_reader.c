/* Tests of lrt_read_exact and the buffered reader (src/reader.c). */
#include "test_util.h"

#include "internal.h" /* lrt__io_waiters */

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- peers ------------------------------------------------------------------------ */

/* A peer task that writes @len bytes of @data in @step-byte pieces, yielding after each
 * (sleeping 1 ms every @sleep_every pieces when non-zero), then closes its end unless
 * @keep_open. */
struct peer {
    int fd;
    const char *data;
    size_t len, step;
    int sleep_every;
    int keep_open;
};

static void *peer_fn(void *arg)
{
    struct peer *p = arg;
    size_t pieces = 0;
    for (size_t off = 0; off < p->len; off += p->step, pieces++) {
        size_t k = p->len - off < p->step ? p->len - off : p->step;
        CU_ASSERT_EQUAL(lrt_write_all(p->fd, p->data + off, k), (ssize_t)k);
        if (p->sleep_every && pieces % (size_t)p->sleep_every == 0)
            lrt_sleep_ms(1);
        else
            lrt_yield();
    }
    if (!p->keep_open)
        CU_ASSERT_EQUAL(lrt_close(p->fd), 0);
    return NULL;
}

static void stream_pair(int sv[2])
{
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

/* Expect the next line to be @want (a C string: no NUL inside). */
#define EXPECT_LINE(r, want)                                                             \
    do {                                                                                 \
        char *l_ = (char *)1;                                                            \
        ssize_t n_ = lrt_read_line(r, &l_);                                              \
        CU_ASSERT_EQUAL(n_, (ssize_t)strlen(want));                                      \
        CU_ASSERT(l_ != NULL && n_ >= 0 && strcmp(l_, want) == 0);                       \
    } while (0)

#define EXPECT_EOF(r)                                                                    \
    do {                                                                                 \
        char *l_ = (char *)1;                                                            \
        CU_ASSERT_EQUAL(lrt_read_line(r, &l_), 0);                                       \
        CU_ASSERT_PTR_NULL(l_);                                                          \
    } while (0)

/* ---- lines ------------------------------------------------------------------------- */

static const char DRIP[] = "alpha\nbeta\r\n\n\r\ngamma delta\nlast without newline";

/* lines from a peer writing one byte per yield (every 7th a 1 ms sleep), bufsize @arg */
static void *drip_root(void *arg)
{
    size_t bufsize = (size_t)(uintptr_t)arg;
    int sv[2];
    stream_pair(sv);
    struct peer p = {.fd = sv[1], .data = DRIP, .len = sizeof DRIP - 1, .step = 1, .sleep_every = 7};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], bufsize);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT_LINE(r, "alpha");
    EXPECT_LINE(r, "beta\r"); /* bytes as they came: only the '\n' goes */
    EXPECT_LINE(r, "");       /* an empty line: 0, but a line */
    EXPECT_LINE(r, "\r");
    EXPECT_LINE(r, "gamma delta");
    EXPECT_LINE(r, "last without newline"); /* the peer closed mid-line: the line first */
    EXPECT_EOF(r);
    CU_ASSERT_EQUAL(lrt_reader_buffered(r), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void lines_from_a_peer_writing_one_byte_at_a_time(void)
{
    lrt_test_run(NULL, drip_root, (void *)(uintptr_t)64);
    /* a tiny first buffer that must grow while the bytes trickle in */
    lrt_test_run(NULL, drip_root, (void *)(uintptr_t)20);
    /* a limit far larger than anything sent: the buffer stays small */
    lrt_test_run(NULL, drip_root, (void *)(uintptr_t)((size_t)SSIZE_MAX - 2));
}

/* the same bytes over a pipe, written all at once, with the writer closing first */
static void *pipe_lines_root(void *arg)
{
    (void)arg;
    int p[2];
    CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
    CU_ASSERT_EQUAL(lrt_write_all(p[1], DRIP, sizeof DRIP - 1), (ssize_t)sizeof DRIP - 1);
    CU_ASSERT_EQUAL(lrt_close(p[1]), 0);
    lrt_reader_t *r = lrt_reader_new(p[0], 4096);
    CU_ASSERT_FATAL(r != NULL);
    EXPECT_LINE(r, "alpha");
    EXPECT_LINE(r, "beta\r");
    EXPECT_LINE(r, "");
    EXPECT_LINE(r, "\r");
    EXPECT_LINE(r, "gamma delta");
    EXPECT_LINE(r, "last without newline");
    EXPECT_EOF(r);
    EXPECT_EOF(r); /* and again: a closed pipe stays at EOF */
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(p[0]), 0);
    return NULL;
}

static void a_peer_that_closes_mid_line_gives_the_partial_line_then_eof(void)
{
    lrt_test_run(NULL, pipe_lines_root, NULL);
}

/* embedded NULs count in the length; a line ending exactly at EOF with its '\n' gives
 * no extra empty line */
static void *nul_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "a\0b\nend\n", 8), 8);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    lrt_reader_t *r = lrt_reader_new(sv[0], 16);
    char *line;
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), 3);
    CU_ASSERT(memcmp(line, "a\0b", 4) == 0); /* NUL-terminated after the 3 bytes */
    EXPECT_LINE(r, "end");
    EXPECT_EOF(r);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void a_line_counts_its_nul_bytes_and_eof_after_a_newline_is_just_eof(void)
{
    lrt_test_run(NULL, nul_root, NULL);
}

/* ---- the length limit -------------------------------------------------------------- */

/* bufsize 8: "12345678" fits exactly, "123456789" does not; after -EMSGSIZE the next
 * call returns the line after the long one, whatever the write pattern */
static void *limit_root(void *arg)
{
    size_t step = (size_t)(uintptr_t)arg;
    static const char data[] = "12345678\n123456789\nnext\nway too long a line, longer than the "
                               "buffer twice over\n\nafter\n0123456789abcdef";
    int sv[2];
    stream_pair(sv);
    struct peer p = {.fd = sv[1], .data = data, .len = sizeof data - 1, .step = step};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], 8);
    CU_ASSERT_FATAL(r != NULL);
    char *line = (char *)1;
    EXPECT_LINE(r, "12345678");
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EMSGSIZE);
    CU_ASSERT_PTR_NULL(line);
    EXPECT_LINE(r, "next");
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EMSGSIZE);
    EXPECT_LINE(r, "");
    EXPECT_LINE(r, "after");
    /* over-long and cut by EOF: refused, then EOF */
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EMSGSIZE);
    EXPECT_EOF(r);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void an_over_long_line_gives_emsgsize_and_the_next_call_returns_the_next_line(void)
{
    lrt_test_run(NULL, limit_root, (void *)(uintptr_t)1);   /* one byte per write */
    lrt_test_run(NULL, limit_root, (void *)(uintptr_t)5);   /* pieces across lines */
    lrt_test_run(NULL, limit_root, (void *)(uintptr_t)500); /* all at once */
}

/* After -EMSGSIZE, lrt_reader_read takes the over-long line's bytes as they came. */
static void *long_raw_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    static const char data[] = "short\nthis line is too long\nok\n";
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], data, sizeof data - 1), (ssize_t)sizeof data - 1);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    lrt_reader_t *r = lrt_reader_new(sv[0], 10);
    char *line;
    EXPECT_LINE(r, "short");
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EMSGSIZE);
    /* nothing consumed: the whole long line (and what follows) is still there */
    char all[64] = {0};
    size_t got = 0;
    ssize_t k;
    while ((k = lrt_reader_read(r, all + got, sizeof all - 1 - got)) > 0)
        got += (size_t)k;
    CU_ASSERT_EQUAL(k, 0);
    CU_ASSERT_STRING_EQUAL(all, "this line is too long\nok\n");
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void after_emsgsize_the_raw_reads_get_the_long_lines_bytes(void)
{
    lrt_test_run(NULL, long_raw_root, NULL);
}

/* bufsize 1: lines of at most one byte */
static void *one_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "a\n\nbc\nd", 7), 7);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    lrt_reader_t *r = lrt_reader_new(sv[0], 1);
    CU_ASSERT_FATAL(r != NULL);
    char *line;
    EXPECT_LINE(r, "a");
    EXPECT_LINE(r, "");
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EMSGSIZE);
    EXPECT_LINE(r, "d");
    EXPECT_EOF(r);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void bufsize_edge_values_give_einval_or_work(void)
{
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_reader_new(0, 0));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_reader_new(0, SIZE_MAX));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_reader_new(0, (size_t)SSIZE_MAX));
    CU_ASSERT_EQUAL(errno, EINVAL);
    errno = 0;
    CU_ASSERT_PTR_NULL(lrt_reader_new(-1, 64));
    CU_ASSERT_EQUAL(errno, EINVAL);
    /* the largest limit allocates only the first 4 KiB */
    lrt_reader_t *r = lrt_reader_new(0, (size_t)SSIZE_MAX - 2);
    CU_ASSERT_PTR_NOT_NULL(r);
    lrt_reader_free(r);
    lrt_reader_free(NULL);
    CU_ASSERT_EQUAL(lrt_reader_buffered(NULL), 0);
    lrt_test_run(NULL, one_root, NULL);
}

/* A 1 MiB line through a reader whose buffer starts at 4 KiB: it grows to fit. */
static void *big_line_root(void *arg)
{
    (void)arg;
    enum { BIG = 1 << 20 };
    int sv[2];
    stream_pair(sv);
    char *data = malloc(BIG + 8);
    CU_ASSERT_FATAL(data != NULL);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)('a' + i % 26);
    memcpy(data + BIG, "\nend\n", 5);
    struct peer p = {.fd = sv[1], .data = data, .len = BIG + 5, .step = 65536};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], BIG);
    char *line;
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), BIG);
    CU_ASSERT(memcmp(line, data, BIG) == 0);
    EXPECT_LINE(r, "end");
    EXPECT_EOF(r);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    free(data);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void a_line_as_long_as_the_limit_grows_the_buffer_to_fit(void)
{
    lrt_test_run(NULL, big_line_root, NULL);
}

/* 20000 numbered lines of varying length written in odd-sized pieces: every line comes
 * back once, in order (the buffer's compaction and read-ahead at work). */
static void *many_root(void *arg)
{
    (void)arg;
    enum { N = 20000 };
    size_t cap = (size_t)N * 48, len = 0;
    char *data = malloc(cap);
    CU_ASSERT_FATAL(data != NULL);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(data + len, cap - len, "%d %.*s\n", i, i % 37, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    int sv[2];
    stream_pair(sv);
    struct peer p = {.fd = sv[1], .data = data, .len = len, .step = 1021};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], 64);
    int i = 0, bad = 0;
    char *line;
    ssize_t n;
    while ((n = lrt_read_line(r, &line)) >= 0 && line) {
        char want[64];
        int wl = snprintf(want, sizeof want, "%d %.*s", i, i % 37, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        if (n != wl || memcmp(line, want, (size_t)wl) != 0)
            bad++;
        i++;
    }
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(i, N);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    free(data);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void many_lines_in_odd_sized_pieces_come_back_in_order(void)
{
    lrt_test_run(NULL, many_root, NULL);
}

/* ---- exact reads ------------------------------------------------------------------- */

static void *exact_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    static const char data[] = "0123456789abcdefghij";
    struct peer p = {.fd = sv[1], .data = data, .len = 20, .step = 1, .sleep_every = 5};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    char buf[32] = {0};
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, 0), 0);
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, 12), 12);
    CU_ASSERT(memcmp(buf, "0123456789ab", 12) == 0);
    /* 8 left, 10 asked: EOF first; the 8 bytes are in buf */
    memset(buf, 0, sizeof buf);
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, 10), -EPIPE);
    CU_ASSERT(memcmp(buf, "cdefghij", 8) == 0);
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, 1), -EPIPE);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, (size_t)SSIZE_MAX + 1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_read_exact(sv[0], buf, 1), -EBADF);
    return NULL;
}

static void read_exact_gathers_a_dripping_peer_and_gives_epipe_at_eof(void)
{
    lrt_test_run(NULL, exact_root, NULL);
    char c;
    CU_ASSERT_EQUAL(lrt_read_exact(0, &c, 1), -EPERM);
}

/* RESP: a line, then an exact bulk body and its CRLF, through one reader, pipelined. */
static void *resp_root(void *arg)
{
    size_t step = (size_t)(uintptr_t)arg;
    static const char data[] = "*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$11\r\nhello\nworld\r\n"
                               "*1\r\n$4\r\nPING\r\n";
    int sv[2];
    stream_pair(sv);
    struct peer p = {.fd = sv[1], .data = data, .len = sizeof data - 1, .step = step};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], 16);
    char *line;
    const char *want[] = {"SET", "hello", "hello\nworld", "PING"};
    int w = 0;
    for (int cmd = 0; cmd < 2; cmd++) {
        ssize_t n = lrt_read_line(r, &line);
        CU_ASSERT_FATAL(n > 1 && line[0] == '*' && line[n - 1] == '\r');
        int argc = atoi(line + 1);
        for (int i = 0; i < argc; i++) {
            n = lrt_read_line(r, &line);
            CU_ASSERT_FATAL(n > 1 && line[0] == '$');
            size_t blen = (size_t)atol(line + 1);
            char body[64] = {0};
            /* the body and its "\r\n" in one exact read: no line scan over binary data */
            CU_ASSERT_EQUAL(lrt_reader_read_exact(r, body, blen + 2), (ssize_t)blen + 2);
            CU_ASSERT_EQUAL(blen, strlen(want[w]));
            CU_ASSERT(memcmp(body, want[w], blen) == 0 && memcmp(body + blen, "\r\n", 2) == 0);
            w++;
        }
    }
    EXPECT_EOF(r);
    CU_ASSERT_EQUAL(w, 4);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void a_resp_parser_mixes_lines_and_exact_reads_on_one_reader(void)
{
    lrt_test_run(NULL, resp_root, (void *)(uintptr_t)1);
    lrt_test_run(NULL, resp_root, (void *)(uintptr_t)3);
    lrt_test_run(NULL, resp_root, (void *)(uintptr_t)1000); /* all buffered at once */
}

/* Exact reads through the buffer keep the bytes on EOF; larger than the limit they go
 * straight to the caller's buffer. */
static void *reader_exact_root(void *arg)
{
    (void)arg;
    enum { BIG = 100000 };
    int sv[2];
    stream_pair(sv);
    char *data = malloc(BIG + 16);
    CU_ASSERT_FATAL(data != NULL);
    memcpy(data, "hdr\n", 4);
    for (size_t i = 4; i < BIG + 4; i++)
        data[i] = (char)(i * 7);
    memcpy(data + BIG + 4, "tail", 4);
    struct peer p = {.fd = sv[1], .data = data, .len = BIG + 8, .step = 4000};
    lrt_task_t *t = lrt_spawn(peer_fn, &p);
    lrt_reader_t *r = lrt_reader_new(sv[0], 64);
    EXPECT_LINE(r, "hdr");
    char *big = malloc(BIG);
    CU_ASSERT_EQUAL(lrt_reader_read_exact(r, big, BIG), BIG); /* > limit: direct */
    CU_ASSERT(memcmp(big, data + 4, BIG) == 0);
    char small[8] = {0};
    /* 4 bytes left before EOF, 6 asked: -EPIPE, and the 4 stay in the reader */
    CU_ASSERT_EQUAL(lrt_reader_read_exact(r, small, 6), -EPIPE);
    CU_ASSERT_EQUAL(lrt_reader_buffered(r), 4);
    CU_ASSERT_EQUAL(lrt_reader_read(r, small, sizeof small), 4);
    CU_ASSERT(memcmp(small, "tail", 4) == 0);
    CU_ASSERT_EQUAL(lrt_reader_read(r, small, sizeof small), 0);
    CU_ASSERT_EQUAL(lrt_reader_read_exact(r, small, 0), 0);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    lrt_reader_free(r);
    free(big);
    free(data);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void reader_exact_reads_keep_the_bytes_on_eof_and_bypass_the_buffer_when_large(void)
{
    lrt_test_run(NULL, reader_exact_root, NULL);
}

/* ---- timeouts, cancellation, sharing ---------------------------------------------- */

static void *late_rest(void *arg)
{
    int fd = (int)(intptr_t)arg;
    lrt_sleep_ms(30);
    CU_ASSERT_EQUAL(lrt_write_all(fd, "lo world\n", 9), 9);
    return NULL;
}

static void *timeout_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    lrt_reader_t *r = lrt_reader_new(sv[0], 64);
    char *line = (char *)1;
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, 0), -ETIMEDOUT);
    CU_ASSERT_PTR_NULL(line);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "hel", 3), 3);
    /* half a line, then the deadline: the half stays in the reader */
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_reader_buffered(r), 3);
    char buf[16];
    CU_ASSERT_EQUAL(lrt_reader_read_exact_timeout(r, buf, 5, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_reader_buffered(r), 3);
    CU_ASSERT_EQUAL(lrt_reader_read_timeout(r, buf, 0, 0), 0);
    lrt_task_t *t = lrt_spawn(late_rest, (void *)(intptr_t)sv[1]);
    /* one deadline over the whole call, however many reads it takes */
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, 10000), 11);
    CU_ASSERT_STRING_EQUAL(line, "hello world");
    CU_ASSERT_EQUAL(lrt_join(t, NULL), 0);
    CU_ASSERT_EQUAL(lrt_read_exact_timeout(sv[0], buf, 4, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_reader_read_timeout(r, buf, 4, 10), -ETIMEDOUT);
    /* negative and huge timeouts mean "none": ready data is taken, no overflow */
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "a\nb\ncd\nefgh", 12), 12);
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, INT64_MAX), 1);
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, -5), 1);
    CU_ASSERT_EQUAL(lrt_reader_read_exact_timeout(r, buf, 3, INT64_MAX), 3);
    CU_ASSERT_EQUAL(lrt_reader_read_timeout(r, buf, 1, INT64_MIN), 1);
    CU_ASSERT_EQUAL(lrt_reader_read_exact_timeout(r, buf, 3, -1), 3);
    CU_ASSERT(memcmp(buf, "fgh", 3) == 0);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void a_timeout_mid_line_loses_nothing(void)
{
    lrt_test_run(NULL, timeout_root, NULL);
}

struct shared {
    lrt_reader_t *r;
    ssize_t rc;
};

static void *line_waiter(void *arg)
{
    struct shared *s = arg;
    char *line;
    s->rc = lrt_read_line(s->r, &line);
    return NULL;
}

static void *exact_waiter(void *arg)
{
    struct shared *s = arg;
    char buf[8];
    s->rc = lrt_reader_read_exact(s->r, buf, 8);
    return NULL;
}

static void *cancel_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    lrt_reader_t *r = lrt_reader_new(sv[0], 64);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "par", 3), 3);
    lrt_fn fns[] = {line_waiter, exact_waiter};
    for (int i = 0; i < 2; i++) {
        struct shared s = {.r = r, .rc = 1}, s2 = {.r = r, .rc = 1};
        lrt_task_t *t = lrt_spawn(fns[i], &s);
        CU_ASSERT_EQUAL(lrt_yield(), 0);
        CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 1);
        /* a second task on the same reader while the first is suspended in it */
        lrt_task_t *t2 = lrt_spawn(line_waiter, &s2);
        CU_ASSERT_EQUAL(lrt_join(t2, NULL), 0);
        CU_ASSERT_EQUAL(s2.rc, -EBUSY);
        lrt_abort(t);
        CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
        CU_ASSERT_EQUAL(s.rc, -ECANCELED);
        CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 0);
        CU_ASSERT_EQUAL(lrt_reader_buffered(r), 3); /* nothing lost */
    }
    /* the reader works on after the aborts */
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "tial\n", 5), 5);
    EXPECT_LINE(r, "partial");
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void an_aborted_reader_task_loses_nothing_and_a_second_task_gets_ebusy(void)
{
    lrt_test_run(NULL, cancel_root, NULL);
}

static ssize_t fd_exact_rc;

static void *fd_exact_waiter(void *arg)
{
    char buf[8];
    fd_exact_rc = lrt_read_exact(*(int *)arg, buf, sizeof buf);
    return NULL;
}

static void *fd_exact_cancel_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "abc", 3), 3);
    fd_exact_rc = 1;
    lrt_task_t *t = lrt_spawn(fd_exact_waiter, &sv[0]);
    CU_ASSERT_EQUAL(lrt_yield(), 0); /* took "abc", waits for 5 more */
    CU_ASSERT_EQUAL(lrt__io_waiters(lrt_current()), 1);
    lrt_abort(t);
    CU_ASSERT_EQUAL(lrt_join(t, NULL), -ECANCELED);
    CU_ASSERT_EQUAL(fd_exact_rc, -ECANCELED);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void an_aborted_read_exact_returns_ecanceled(void)
{
    lrt_test_run(NULL, fd_exact_cancel_root, NULL);
}

/* A TCP peer that resets the connection mid-line: the reader reports the reset, loses
 * none of the bytes it had read, and ends with EOF. */
static void *reset_root(void *arg)
{
    (void)arg;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 4) == 0);
    socklen_t sl = sizeof sa;
    getsockname(l, (struct sockaddr *)&sa, &sl);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(lrt_connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    int s = lrt_accept(l, NULL, NULL);
    CU_ASSERT_FATAL(s >= 0);
    lrt_reader_t *r = lrt_reader_new(c, 64);
    char *line;
    CU_ASSERT_EQUAL(lrt_read_line_timeout(r, &line, 10), -ETIMEDOUT);
    CU_ASSERT_EQUAL(lrt_write_all(s, "partial", 7), 7);
    lrt_sleep_ms(5);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    CU_ASSERT_EQUAL(lrt_close(s), 0); /* RST */
    /* -ECONNRESET keeps what was read: "partial" comes back once, as a last line
     * before EOF, whichever order the kernel reports the bytes and the reset in */
    int resets = 0, lines = 0, calls = 0;
    ssize_t n;
    while ((n = lrt_read_line_timeout(r, &line, 10000)) == -ECONNRESET ||
           (n == 7 && strcmp(line, "partial") == 0)) {
        if (n == 7)
            lines++;
        else
            resets++;
        if (++calls > 4)
            break;
    }
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_PTR_NULL(line);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT(resets <= 1);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(c), 0);
    CU_ASSERT_EQUAL(lrt_close(l), 0);
    return NULL;
}

static void a_peer_that_resets_mid_line_loses_no_byte_read_and_ends_at_eof(void)
{
    lrt_test_run(NULL, reset_root, NULL);
}

static void *errors_root(void *arg)
{
    (void)arg;
    char *line = (char *)1;
    char c;
    CU_ASSERT_EQUAL(lrt_read_line(NULL, &line), -EINVAL);
    CU_ASSERT_PTR_NULL(line);
    CU_ASSERT_EQUAL(lrt_reader_read(NULL, &c, 1), -EINVAL);
    CU_ASSERT_EQUAL(lrt_reader_read_exact(NULL, &c, 1), -EINVAL);
    /* a reader over an fd that is not open, and one whose peer resets mid-line */
    lrt_reader_t *r = lrt_reader_new(987654, 64);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT_EQUAL(lrt_read_line(r, NULL), -EINVAL);
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EBADF);
    CU_ASSERT_EQUAL(lrt_reader_read(r, &c, 1), -EBADF);
    CU_ASSERT_EQUAL(lrt_reader_read_exact(r, &c, 1), -EBADF);
    lrt_reader_free(r);
    int sv[2];
    stream_pair(sv);
    r = lrt_reader_new(sv[0], 64);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "cut", 3), 3);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    /* a unix stream peer that closes is EOF (no RST on AF_UNIX): the partial line first */
    EXPECT_LINE(r, "cut");
    EXPECT_EOF(r);
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    return NULL;
}

static void bad_arguments_and_closed_fds_give_a_negative_errno(void)
{
    lrt_test_run(NULL, errors_root, NULL);
    lrt_reader_t *r = lrt_reader_new(0, 16);
    char *line;
    CU_ASSERT_EQUAL(lrt_read_line(r, &line), -EPERM); /* outside a task */
    lrt_reader_free(r);
}

/* ---- the dump ----------------------------------------------------------------------- */

static void *dump_line_waiter(void *arg)
{
    char *line;
    return (void *)(intptr_t)lrt_read_line(arg, &line);
}

static void *reader_dump_root(void *arg)
{
    (void)arg;
    int sv[2];
    stream_pair(sv);
    lrt_reader_t *r = lrt_reader_new(sv[0], 64);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "half a li", 9), 9);
    lrt_task_t *t = lrt_spawn_named("line-reader", dump_line_waiter, r);
    CU_ASSERT_EQUAL(lrt_yield(), 0);
    char *js = lrt_dump_json(lrt_current(), 0);
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    free(js);
    CU_ASSERT_FATAL(root != NULL);
    int found = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "tasks"), i, it)
    {
        if ((uint64_t)json_integer_value(json_object_get(it, "id")) != lrt_task_id(t))
            continue;
        json_t *w = json_object_get(it, "wait");
        char want[32];
        bool uring = !strcmp(lrt_runtime_driver(lrt_current(), NULL), "io_uring");
        snprintf(want, sizeof want, uring ? "recv fd %d (uring)" : "fd %d (read)", sv[0]);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "kind")), uring ? "uring" : "fd");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(w, "object")), want);
        found = 1;
    }
    CU_ASSERT(found);
    json_decref(root);
    CU_ASSERT_EQUAL(lrt_write_all(sv[1], "ne\n", 3), 3);
    void *res = NULL;
    CU_ASSERT_EQUAL(lrt_join(t, &res), 0);
    CU_ASSERT_EQUAL((intptr_t)res, 11); /* "half a line" */
    lrt_reader_free(r);
    CU_ASSERT_EQUAL(lrt_close(sv[0]), 0);
    CU_ASSERT_EQUAL(lrt_close(sv[1]), 0);
    return NULL;
}

static void a_task_waiting_for_a_line_shows_its_fd_in_the_dump(void)
{
    lrt_test_run(NULL, reader_dump_root, NULL);
}

CU_TestInfo lrt_test_reader[] = {
    {"lines_from_a_peer_writing_one_byte_at_a_time", lines_from_a_peer_writing_one_byte_at_a_time},
    {"a_peer_that_closes_mid_line_gives_the_partial_line_then_eof",
     a_peer_that_closes_mid_line_gives_the_partial_line_then_eof},
    {"a_line_counts_its_nul_bytes_and_eof_after_a_newline_is_just_eof",
     a_line_counts_its_nul_bytes_and_eof_after_a_newline_is_just_eof},
    {"an_over_long_line_gives_emsgsize_and_the_next_call_returns_the_next_line",
     an_over_long_line_gives_emsgsize_and_the_next_call_returns_the_next_line},
    {"after_emsgsize_the_raw_reads_get_the_long_lines_bytes", after_emsgsize_the_raw_reads_get_the_long_lines_bytes},
    {"bufsize_edge_values_give_einval_or_work", bufsize_edge_values_give_einval_or_work},
    {"a_line_as_long_as_the_limit_grows_the_buffer_to_fit", a_line_as_long_as_the_limit_grows_the_buffer_to_fit},
    {"many_lines_in_odd_sized_pieces_come_back_in_order", many_lines_in_odd_sized_pieces_come_back_in_order},
    {"read_exact_gathers_a_dripping_peer_and_gives_epipe_at_eof",
     read_exact_gathers_a_dripping_peer_and_gives_epipe_at_eof},
    {"a_resp_parser_mixes_lines_and_exact_reads_on_one_reader", a_resp_parser_mixes_lines_and_exact_reads_on_one_reader},
    {"reader_exact_reads_keep_the_bytes_on_eof_and_bypass_the_buffer_when_large",
     reader_exact_reads_keep_the_bytes_on_eof_and_bypass_the_buffer_when_large},
    {"a_timeout_mid_line_loses_nothing", a_timeout_mid_line_loses_nothing},
    {"an_aborted_reader_task_loses_nothing_and_a_second_task_gets_ebusy",
     an_aborted_reader_task_loses_nothing_and_a_second_task_gets_ebusy},
    {"an_aborted_read_exact_returns_ecanceled", an_aborted_read_exact_returns_ecanceled},
    {"a_peer_that_resets_mid_line_loses_no_byte_read_and_ends_at_eof",
     a_peer_that_resets_mid_line_loses_no_byte_read_and_ends_at_eof},
    {"bad_arguments_and_closed_fds_give_a_negative_errno", bad_arguments_and_closed_fds_give_a_negative_errno},
    {"a_task_waiting_for_a_line_shows_its_fd_in_the_dump", a_task_waiting_for_a_line_shows_its_fd_in_the_dump},
    CU_TEST_INFO_NULL,
};
