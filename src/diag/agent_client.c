/*
 * agent_client.c - the dump agent's clients: accepting them (peer uid check, eviction
 * when the table is full, backing off when the process is out of fds), reading request
 * lines and answering them, and the timeouts that drop idle or half-open clients.
 *
 * Client sockets are non-blocking and served by poll(): a request line is at most
 * MAX_LINE bytes (longer: error, then the connection is dropped), a client that sends nothing for idle_timeout_ns or does not
 * read its reply for idle_timeout_ns is dropped, and so is one that leaves a request line
 * incomplete for PARTIAL_TIMEOUT.  At most MAX_CLIENTS are served at once; when the table
 * is full a new client takes the slot of one that has no complete request (those that
 * never completed one first, oldest first; then the one idle longest), so clients that
 * connect and hold half a request cannot lock lrt-dump out.
 *
 * Out of file descriptors: accept4 fails with EMFILE/ENFILE and the listener stays
 * readable, so a poll loop would spin.  The agent keeps one reserved fd (/dev/null): it
 * closes it, takes each pending connection, tells it why and closes it, then takes the
 * reserve back; and it stops watching the listener for ACCEPT_BACKOFF, so it costs no CPU
 * while the process stays out of fds and answers again once fds are free.
 *
 * Layer: the bottom of the agent: calls json.c, jansson (parsing requests) and the clock;
 * it never opens a round (handle_line only marks a client as waiting; agent.c decides).
 * State: the client table in struct lrt__agent (agent.h), agent thread only.
 */
#include "diag/agent.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Here, at the bottom of the agent files, so that all of them may read it. */
struct lrt__agent_reg lrt__agent_reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct reply *lrt__agent_reply_text(const char *text)
{
    struct reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->refs = 1;
    lrt__jw_raw(&r->jw, text, strlen(text));
    lrt__jw_raw(&r->jw, "\n", 1);
    if (r->jw.oom) {
        lrt__jw_free(&r->jw);
        free(r);
        return NULL;
    }
    return r;
}

void lrt__agent_reply_put(struct reply *r)
{
    if (r && --r->refs == 0) {
        lrt__jw_free(&r->jw);
        free(r);
    }
}

void lrt__agent_client_close(struct lrt__agent *ag, struct client *c)
{
    close(c->fd);
    lrt__agent_reply_put(c->out);
    char *in = c->in;
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->in = in;
    ag->nclients--;
}

void lrt__agent_client_send(struct lrt__agent *ag, struct client *c, struct reply *r, int close_after)
{
    if (!r) {
        c->close_after = 1;
        return;
    }
    c->out = r;
    c->out_off = 0;
    c->close_after = close_after;
    c->deadline = lrt__mono_ns() + ag->idle_timeout_ns;
}

void lrt__agent_client_error(struct lrt__agent *ag, struct client *c, const char *msg, int close_after)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    lrt__agent_client_send(ag, c, lrt__agent_reply_text(s ? s : "{\"error\":\"internal error\"}"), close_after);
    free(s);
    json_decref(o);
}

/* ---- requests --------------------------------------------------------------------- */

static void handle_line(struct lrt__agent *ag, struct client *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, 0, &jerr);
    if (!req || !json_is_object(req)) {
        char msg[256];
        snprintf(msg, sizeof msg, "bad request: %s", req ? "not a JSON object" : jerr.text);
        json_decref(req);
        lrt__agent_client_error(ag, c, msg, 0);
        return;
    }
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!cmd) {
        lrt__agent_client_error(ag, c, "bad request: no \"cmd\"", 0);
    } else if (strcmp(cmd, "ping") == 0) {
        char buf[256];
        size_t tasks = 0, runtimes = 0;
        pthread_mutex_lock(&lrt__agent_reg.mu);
        for (struct lrt__agent_rt *r = lrt__agent_reg.list; r; r = r->next, runtimes++)
            tasks += __atomic_load_n(&r->rt->alive, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&lrt__agent_reg.mu);
        snprintf(buf, sizeof buf, "{\"ok\":true,\"pid\":%d,\"lrt_version\":\"%s\",\"tasks\":%zu,\"runtimes\":%zu}",
                 (int)getpid(), LRT_VERSION_STRING, tasks, runtimes);
        lrt__agent_client_send(ag, c, lrt__agent_reply_text(buf), 0);
    } else if (strcmp(cmd, "snapshot") == 0) {
        json_t *bt = json_object_get(req, "backtraces");
        json_t *hi = json_object_get(req, "history");
        if (bt && !json_is_boolean(bt)) {
            lrt__agent_client_error(ag, c, "bad request: \"backtraces\" must be true or false", 0);
        } else if (hi && !json_is_boolean(hi)) {
            lrt__agent_client_error(ag, c, "bad request: \"history\" must be true or false", 0);
        } else {
            c->waiting = 1;
            c->flags = (json_is_true(bt) ? LRT_DUMP_BACKTRACES : 0) | (json_is_true(hi) ? LRT_DUMP_HISTORY : 0);
        }
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown command \"%.64s\" (commands: snapshot, ping)", cmd);
        lrt__agent_client_error(ag, c, msg, 0);
    }
    json_decref(req);
}

/* Read what is there; handle at most one complete line (the next waits for the reply). */
void lrt__agent_client_read(struct lrt__agent *ag, struct client *c)
{
    for (;;) {
        char *nl = memchr(c->in, '\n', c->in_len);
        if (nl) {
            size_t len = (size_t)(nl - c->in);
            handle_line(ag, c, c->in, len);
            memmove(c->in, nl + 1, c->in_len - len - 1);
            c->in_len -= len + 1;
            uint64_t now = lrt__mono_ns();
            c->deadline = now + ag->idle_timeout_ns;
            c->active = now;
            c->served = 1;
            c->partial_since = c->in_len ? now : 0;
            return;
        }
        if (c->in_len == MAX_LINE) {
            lrt__agent_client_error(ag, c, "request too long (limit 65536 bytes)", 1);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, MAX_LINE - c->in_len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            lrt__agent_client_close(ag, c);
            return;
        }
        if (n < 0)
            return;
        if (c->in_len == 0)
            c->partial_since = lrt__mono_ns();
        c->in_len += (size_t)n;
    }
}

void lrt__agent_client_write(struct lrt__agent *ag, struct client *c)
{
    while (c->out && c->out_off < c->out->jw.len) {
        ssize_t n = send(c->fd, c->out->jw.buf + c->out_off, c->out->jw.len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            lrt__agent_client_close(ag, c);
            return;
        }
        c->out_off += (size_t)n;
        c->deadline = lrt__mono_ns() + ag->idle_timeout_ns;
    }
    lrt__agent_reply_put(c->out);
    c->out = NULL;
    if (c->close_after)
        lrt__agent_client_close(ag, c);
    else if (c->in_len)
        c->partial_since = lrt__mono_ns(); /* a pipelined half line: its clock starts now */
}

static uint64_t partial_timeout_ns(const struct lrt__agent *ag)
{
    return ag->idle_timeout_ns < PARTIAL_TIMEOUT_NS ? ag->idle_timeout_ns : PARTIAL_TIMEOUT_NS;
}

/* When @c is to be dropped: silent, not reading its reply, or sitting on half a line
 * (that clock runs only while it is the client's turn to send). */
uint64_t lrt__agent_client_deadline(const struct lrt__agent *ag, const struct client *c)
{
    uint64_t d = c->deadline;
    if (!c->out && c->partial_since && c->partial_since + partial_timeout_ns(ag) < d)
        d = c->partial_since + partial_timeout_ns(ag);
    return d;
}

/* The table is full: free the slot of a client with no complete request, if any. */
static struct client *evict(struct lrt__agent *ag)
{
    struct client *v = NULL;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &ag->clients[i];
        if (c->fd < 0 || c->waiting || c->out)
            continue;
        if (!v || c->served < v->served || (c->served == v->served && c->active < v->active))
            v = c;
    }
    if (!v)
        return NULL;
    static const char msg[] = "{\"error\":\"too many clients: this idle connection was closed to make room\"}\n";
    ssize_t w = send(v->fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    lrt__agent_client_close(ag, v);
    stat_add(&ag->stats.evictions, 1);
    return v;
}

/* accept4 failed with EMFILE/ENFILE (or the kernel is short of memory): see the top of
 * the file. */
static void out_of_fds(struct lrt__agent *ag, uint64_t now)
{
    ag->accept_after = now + ACCEPT_BACKOFF_NS;
    if (ag->reserve_fd < 0)
        return; /* another thread took it: the backlog waits for the next try */
    close(ag->reserve_fd);
    ag->reserve_fd = -1;
    for (int i = 0; i < FD_DROPS_PER_ROUND; i++) {
        int fd = accept4(ag->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        static const char msg[] = "{\"error\":\"the process is out of file descriptors (EMFILE): try again later\"}\n";
        ssize_t w = send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w;
        close(fd);
        stat_add(&ag->stats.fd_drops, 1);
    }
    ag->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void lrt__agent_accept(struct lrt__agent *ag, uint64_t now)
{
    for (;;) {
        int fd = accept4(ag->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                out_of_fds(ag, now);
            return;
        }
        if (ag->reserve_fd < 0) /* given up earlier and not taken back yet */
            ag->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        struct ucred cred;
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            (cred.uid != geteuid() && cred.uid != 0)) {
            char msg[160];
            int k = snprintf(msg, sizeof msg,
                             "{\"error\":\"permission denied: uid %u may not inspect this process (owner uid %u)\"}\n",
                             (unsigned)cred.uid, (unsigned)geteuid());
            ssize_t w = send(fd, msg, (size_t)k, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && !c; i++)
            if (ag->clients[i].fd < 0)
                c = &ag->clients[i];
        if (!c)
            c = evict(ag);
        if (!c) {
            static const char busy[] = "{\"error\":\"too many clients\"}\n";
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->in_len = 0;
        c->deadline = now + ag->idle_timeout_ns;
        c->active = now;
        ag->nclients++;
    }
}

