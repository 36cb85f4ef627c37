/*
 * child_dns_file - run a child process and read its output, resolve a name, write and
 * read a file: the three OS surfaces a service touches, none of them blocking the
 * runtime thread.
 *
 *   build/examples/child_dns_file
 *
 * Before lrt_process_spawn / lrt_getaddrinfo / lrt_open this took ~148 lines of
 * posix_spawn + pipes + pidfd_open + lrt_wait_fd + waitid, and lrt_spawn_blocking with
 * heap arguments and a reference count (a lookup must not write into the stack of a task
 * that gave up).  The three functions below are the whole program now; each step is a
 * few lines, like the same program on Tokio (Command::output, lookup_host, tokio::fs).
 */
#include <lrt/lrt.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int child(void)
{
    char *const argv[] = {"echo", "hello from a child", NULL};
    lrt_process_opts_t o = {.stdout_mode = LRT_STDIO_PIPE};
    lrt_process_t *p = lrt_process_spawn("echo", argv, &o);
    if (!p)
        return -errno;
    char out[256];
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof out - 1 && (r = lrt_read(lrt_process_stdout(p), out + n, sizeof out - 1 - (size_t)n)) > 0)
        n += r;
    int status = 0, rc = lrt_process_wait(p, &status, 5000);
    lrt_process_free(p);
    if (rc < 0)
        return rc;
    out[n > 0 && out[n - 1] == '\n' ? n - 1 : n] = 0;
    printf("child said '%s', exit status %d\n", out, WEXITSTATUS(status));
    return 0;
}

static int dns(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    int rc = lrt_getaddrinfo("localhost", "80", &hints, &res, 2000);
    if (rc < 0)
        return rc;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
    printf("localhost is %s\n", ip);
    freeaddrinfo(res);
    return 0;
}

static int file(void)
{
    char path[] = "/tmp/lrt-example-XXXXXX";
    int tmp = mkstemp(path); /* a unique name; the I/O below goes through lrt */
    if (tmp < 0)
        return -errno;
    close(tmp);
    static const char text[] = "written and read back on the blocking pool\n";
    char back[64] = {0};
    struct stat st;
    int fd = lrt_open(path, O_RDWR | O_TRUNC, 0600);
    ssize_t rc = fd;
    if (fd >= 0 && (rc = lrt_pwrite(fd, text, sizeof text - 1, 0)) >= 0 && (rc = lrt_fsync(fd)) == 0 &&
        (rc = lrt_stat(path, &st)) == 0 && (rc = lrt_pread(fd, back, sizeof back - 1, 0)) >= 0)
        printf("file: %lld bytes: %s", (long long)st.st_size, back);
    if (fd >= 0)
        lrt_close(fd);
    unlink(path);
    return rc < 0 ? (int)rc : 0;
}

static void *run(void *unused)
{
    (void)unused;
    int rc;
    if ((rc = child()) < 0 || (rc = dns()) < 0 || (rc = file()) < 0)
        fprintf(stderr, "child_dns_file: %s\n", lrt_strerror(rc));
    return (void *)(intptr_t)rc;
}

int main(void)
{
    lrt_runtime_t *rt = lrt_runtime_new(NULL);
    if (!rt)
        return 1;
    void *res = NULL;
    int rc = lrt_block_on(rt, run, NULL, &res);
    lrt_runtime_free(rt);
    return rc == 0 && !res ? 0 : 1;
}
