/*
 * request_timeout - one deadline over a whole request: connect, send, read the reply.
 *
 *   build/examples/request_timeout
 *
 * A local server answers two requests: the first quickly, the second dripping its body
 * one byte every 450 ms.  The client wraps each whole request -- every connect, write and
 * read inside it -- in one 2 s deadline scope (lrt_timeout_push / lrt_deadline_pop):
 * whichever call is waiting when the deadline passes returns -ETIMEDOUT, and the client
 * cleans up as usual.  The runtime runs on its virtual clock (start_paused) so the output
 * is the same on every run, however loaded the machine: drop that option for real time.
 */
#include <lrt/lrt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned long ms(void) { return (unsigned long)(lrt_now_ns() / 1000000); }

static void *server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (int n = 0; n < 2; n++) {
        int c = lrt_accept(lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[64];
        ssize_t k = lrt_read(c, req, sizeof req);
        if (k > 0 && strncmp(req, "GET /slow", 9) == 0) {
            lrt_write_all(c, "200 ", 4);
            for (const char *p = "dripping body"; *p && lrt_sleep_ms(450) == 0; p++)
                if (lrt_write_all(c, p, 1) < 0)
                    break;
        } else if (k > 0) {
            lrt_write_all(c, "200 fast body", 13);
        }
        lrt_close(c);
    }
    return NULL;
}

/* The whole request under one deadline; returns the bytes read or -errno. */
static ssize_t get(const struct sockaddr_in *sa, const char *path, char *buf, size_t n)
{
    int scope = lrt_timeout_push(2000);
    ssize_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = lrt_connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    if (rc == 0)
        rc = (int)lrt_write_all(fd, path, strlen(path));
    while (rc >= 0 && (size_t)got < n - 1) {
        ssize_t k = lrt_read(fd, buf + got, n - 1 - (size_t)got);
        if (k <= 0) {
            rc = (int)k;
            break;
        }
        got += k;
    }
    buf[got] = 0;
    lrt_deadline_pop(scope);
    lrt_close(fd);
    return rc < 0 ? rc : got;
}

static void *client(void *arg)
{
    const struct sockaddr_in *sa = arg;
    const char *paths[] = {"GET /fast", "GET /slow"};
    for (int i = 0; i < 2; i++) {
        char buf[64];
        unsigned long t0 = ms();
        ssize_t r = get(sa, paths[i], buf, sizeof buf);
        printf("%s: %s after %lu ms, got \"%s\"\n", paths[i], r < 0 ? lrt_strerror((int)r) : "ok",
               ms() - t0, buf);
    }
    return NULL;
}

static void *run(void *unused)
{
    (void)unused;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 8) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        return (void *)1;
    lrt_task_t *s = lrt_spawn(server, (void *)(intptr_t)lfd);
    lrt_task_t *c = lrt_spawn(client, &sa);
    lrt_join(c, NULL);
    lrt_abort(s);
    lrt_join(s, NULL);
    lrt_close(lfd);
    return NULL;
}

int main(void)
{
    lrt_options_t o = {.start_paused = 1};
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 1;
    void *res = NULL;
    int rc = lrt_block_on(rt, run, NULL, &res);
    lrt_runtime_free(rt);
    return rc == 0 && res == NULL ? 0 : 1;
}
