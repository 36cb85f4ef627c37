/*
 * reader.c - lrt_read_exact and the buffered reader (lrt_reader_t): lines with a length
 * limit, and exact reads that drain the buffer first, for protocol parsers (a RESP
 * server reads a line, then an exact bulk body).
 *
 * The buffer holds buf[start, end): bytes read from the fd and not yet handed out.  It
 * starts small and grows (doubling) up to what the limit needs, so a reader per
 * connection costs a few KiB however large its limit.  `scanned` counts the bytes after
 * `start` already searched for '\n', so a line that arrives one byte at a time is
 * searched once (linear, not quadratic).  Space is made by moving the unread bytes to
 * the front only when the end is full.
 *
 * Nothing is lost on an error: every syscall result lands in the buffer before a call
 * returns, so -ETIMEDOUT, -ECANCELED, -EMSGSIZE or a read error leave the unread bytes
 * for the next call.  The one exception is documented in lrt.h: an exact read larger
 * than the limit reads its tail straight into the caller's buffer.
 *
 * Layer: the public I/O calls (io.c) and the clock.  Runtime thread, from a task; a
 * reader is used by one task at a time (-EBUSY for a second one while the first is
 * suspended in it: the first still owns the buffer's free space).
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define READER_FIRST 4096 /* first allocation (smaller if the limit is) */

struct lrt_reader {
    int fd;
    bool busy;     /* a task is inside a call (maybe suspended in lrt_read) */
    bool skip;     /* -EMSGSIZE was returned: the next lrt_read_line drops that line */
    bool eof;      /* the last read returned 0 (cleared once EOF has been reported) */
    size_t limit;  /* longest line, not counting its '\n' */
    size_t cap;    /* buf has cap + 1 bytes: the +1 holds the NUL after a final line */
    size_t start, end, scanned;
    char *buf;
};

lrt_reader_t *lrt_reader_new(int fd, size_t bufsize)
{
    /* a line's length must fit the ssize_t result, and limit + 1 must not wrap */
    if (fd < 0 || bufsize == 0 || bufsize > (size_t)SSIZE_MAX - 2) {
        errno = EINVAL;
        return NULL;
    }
    lrt_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->fd = fd;
    r->limit = bufsize;
    r->cap = bufsize + 1 < READER_FIRST ? bufsize + 1 : READER_FIRST;
    r->buf = malloc(r->cap + 1);
    if (!r->buf) {
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    return r;
}

void lrt_reader_free(lrt_reader_t *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

size_t lrt_reader_buffered(const lrt_reader_t *r) { return r ? r->end - r->start : 0; }

/* ---- deadlines --------------------------------------------------------------------- */

/* One deadline over a whole call, however many reads it takes (0 = none). */
static uint64_t call_deadline(int64_t timeout_ms)
{
    return timeout_ms < 0 ? 0 : lrt__deadline_in_ms(lrt_now_ns(), timeout_ms);
}

/* What is left of @deadline for the next read, in the _timeout calls' milliseconds
 * (rounded up: a read never gives up before the deadline). */
static int64_t left_ms(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = lrt_now_ns();
    return now >= deadline ? 0 : (int64_t)((deadline - now + 999999) / 1000000);
}

/* ---- lrt_read_exact ---------------------------------------------------------------- */

static ssize_t read_exact(int fd, char *buf, size_t n, uint64_t deadline)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = lrt_read_timeout(fd, buf + got, n - got, left_ms(deadline));
        if (k < 0)
            return k;
        if (k == 0)
            return -EPIPE;
        got += (size_t)k;
    }
    return (ssize_t)n;
}

ssize_t lrt_read_exact_timeout(int fd, void *buf, size_t n, int64_t timeout_ms)
{
    if (n > (size_t)SSIZE_MAX)
        return -EINVAL;
    if (n == 0)
        return 0;
    return read_exact(fd, buf, n, call_deadline(timeout_ms));
}

ssize_t lrt_read_exact(int fd, void *buf, size_t n)
{
    return LRT__NOTAIL(lrt_read_exact_timeout(fd, buf, n, -1));
}

/* ---- the buffer --------------------------------------------------------------------- */

/* Room for at least @want unread bytes and a free end (@want <= limit + 1, more than
 * the unread bytes): the unread bytes move to the front (at most a partial line: cheap
 * next to the read that follows), and the buffer grows if that is not enough.  0 or
 * -ENOMEM. */
static int make_room(lrt_reader_t *r, size_t want)
{
    size_t have = r->end - r->start;
    if (r->start) {
        memmove(r->buf, r->buf + r->start, have);
        r->start = 0;
        r->end = have;
    }
    if (r->cap >= want)
        return 0;
    size_t ncap = r->cap;
    while (ncap < want)
        ncap = ncap > (r->limit + 1) / 2 ? r->limit + 1 : ncap * 2;
    char *nb = realloc(r->buf, ncap + 1);
    if (!nb)
        return -ENOMEM;
    r->buf = nb;
    r->cap = ncap;
    return 0;
}

/* One read into the free end of the buffer: > 0 bytes added, 0 at EOF (r->eof set), or
 * -errno. */
static ssize_t fill(lrt_reader_t *r, uint64_t deadline)
{
    ssize_t k = lrt_read_timeout(r->fd, r->buf + r->end, r->cap - r->end, left_ms(deadline));
    if (k > 0)
        r->end += (size_t)k;
    else if (k == 0)
        r->eof = true;
    return k;
}

static ssize_t enter(lrt_reader_t *r)
{
    if (!r)
        return -EINVAL;
    if (r->busy)
        return -EBUSY;
    r->busy = true;
    return 0;
}

/* ---- lines ------------------------------------------------------------------------- */

/* Drop the rest of the line -EMSGSIZE refused, up to and including its '\n'.  0 when
 * done (r->skip cleared), or what fill() returned: 0 at EOF (r->eof), -errno. */
static ssize_t skip_line(lrt_reader_t *r, uint64_t deadline)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            r->start = (size_t)(nl + 1 - r->buf);
            r->scanned = 0;
            r->skip = false;
            return 0;
        }
        r->start = r->end = r->scanned = 0;
        if (r->eof)
            return 0;
        ssize_t k = fill(r, deadline);
        if (k <= 0)
            return k;
    }
}

static ssize_t read_line(lrt_reader_t *r, char **line, uint64_t deadline)
{
    for (;;) {
        if (r->skip) {
            ssize_t k = skip_line(r, deadline);
            if (k < 0)
                return k;
            if (r->skip) /* EOF inside the over-long line: nothing follows it */
                r->skip = false;
        }
        size_t have = r->end - r->start;
        char *p = r->buf + r->start;
        char *nl = have > r->scanned ? memchr(p + r->scanned, '\n', have - r->scanned) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - p);
            if (len > r->limit)
                goto too_long;
            *nl = 0;
            r->start += len + 1;
            r->scanned = 0;
            *line = p;
            return (ssize_t)len;
        }
        r->scanned = have;
        if (have > r->limit)
            goto too_long;
        if (r->eof) {
            r->eof = false; /* reported once: a terminal can deliver more after ^D */
            r->scanned = 0;
            if (!have)
                return 0;
            p[have] = 0; /* the spare byte after cap */
            r->start = r->end;
            *line = p;
            return (ssize_t)have;
        }
        if (make_room(r, have + 1) < 0)
            return -ENOMEM;
        ssize_t k = fill(r, deadline);
        if (k < 0)
            return k;
    }
too_long:
    /* the unread bytes stay: lrt_reader_read can still take them as they are */
    r->skip = true;
    r->scanned = 0;
    return -EMSGSIZE;
}

ssize_t lrt_read_line_timeout(lrt_reader_t *r, char **line, int64_t timeout_ms)
{
    if (!line)
        return -EINVAL;
    *line = NULL;
    ssize_t e = enter(r);
    if (e < 0)
        return e;
    ssize_t k = read_line(r, line, call_deadline(timeout_ms));
    r->busy = false;
    return k;
}

ssize_t lrt_read_line(lrt_reader_t *r, char **line)
{
    return LRT__NOTAIL(lrt_read_line_timeout(r, line, -1));
}

/* ---- raw bytes --------------------------------------------------------------------- */

/* Hand out up to @n unread bytes; the raw calls take bytes as they are, so a line
 * -EMSGSIZE refused is no longer skipped. */
static size_t take(lrt_reader_t *r, char *buf, size_t n)
{
    size_t have = r->end - r->start;
    if (n > have)
        n = have;
    memcpy(buf, r->buf + r->start, n);
    r->start += n;
    if (r->start == r->end)
        r->start = r->end = 0;
    r->scanned = 0;
    r->skip = false;
    return n;
}

ssize_t lrt_reader_read_timeout(lrt_reader_t *r, void *buf, size_t n, int64_t timeout_ms)
{
    ssize_t k = enter(r);
    if (k < 0)
        return k;
    if (n > (size_t)SSIZE_MAX) {
        k = -EINVAL;
    } else if (r->end > r->start || n == 0) {
        k = (ssize_t)take(r, buf, n); /* no syscall while bytes are buffered */
    } else if (r->eof) {
        r->eof = false;
        k = 0;
    } else if (n >= r->cap) {
        /* as large as the buffer: straight into the caller's, one copy fewer */
        r->skip = false;
        k = lrt_read_timeout(r->fd, buf, n, timeout_ms);
    } else {
        r->start = r->end = 0;
        k = fill(r, call_deadline(timeout_ms));
        if (k > 0)
            k = (ssize_t)take(r, buf, n);
        else if (k == 0)
            r->eof = false;
    }
    r->busy = false;
    return k;
}

ssize_t lrt_reader_read(lrt_reader_t *r, void *buf, size_t n)
{
    return LRT__NOTAIL(lrt_reader_read_timeout(r, buf, n, -1));
}

ssize_t lrt_reader_read_exact_timeout(lrt_reader_t *r, void *buf, size_t n, int64_t timeout_ms)
{
    ssize_t k = enter(r);
    if (k < 0)
        return k;
    uint64_t deadline = call_deadline(timeout_ms);
    if (n > (size_t)SSIZE_MAX) {
        k = -EINVAL;
    } else if (n <= r->limit) {
        /* through the buffer: on any error the bytes stay unread for the next call */
        k = 0;
        while (r->end - r->start < n) {
            if (r->eof) {
                r->eof = false;
                k = -EPIPE;
                break;
            }
            if ((k = make_room(r, n)) < 0 || (k = fill(r, deadline)) < 0)
                break;
        }
        if (k >= 0)
            k = (ssize_t)take(r, buf, n);
    } else {
        /* larger than the limit: the buffered bytes, then the rest straight into @buf */
        size_t got = take(r, buf, n);
        if (got == n) {
            k = (ssize_t)n;
        } else if (r->eof) {
            r->eof = false;
            k = -EPIPE;
        } else {
            k = read_exact(r->fd, (char *)buf + got, n - got, deadline);
            if (k >= 0)
                k = (ssize_t)n;
        }
    }
    r->busy = false;
    return k;
}

ssize_t lrt_reader_read_exact(lrt_reader_t *r, void *buf, size_t n)
{
    return LRT__NOTAIL(lrt_reader_read_exact_timeout(r, buf, n, -1));
}
