/*
 * agent_conn - the client side of the dump agent's protocol, shared by lrt-dump and
 * lrt-top (agent_conn.h says what each function does).  Moved here from lrt-dump.c.
 */
#include "agent_conn.h"

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *agent_prog = "lrt-dump";
void (*agent_before_die)(void);

void agent_die(const char *fmt, ...)
{
    if (agent_before_die)
        agent_before_die();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", agent_prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* As src/diag/wait_text.c's lrt__fmt_dur: 850ns, 12us, 40ms, 1.3s, 59m58s, 2h05m, 3d04h. */
void fmt_dur(uint64_t ns, char *buf, size_t n)
{
    const uint64_t s = 1000000000u;
    if (ns < 1000)
        snprintf(buf, n, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf(buf, n, "%" PRIu64 "us", ns / 1000);
    else if (ns < s)
        snprintf(buf, n, "%" PRIu64 "ms", ns / 1000000);
    else if (ns < 100 * s)
        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "s", ns / s, ns / (s / 10) % 10);
    else if (ns < 7200 * s)
        snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", ns / (60 * s), ns / s % 60);
    else if (ns < 172800 * s)
        snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m", ns / (3600 * s), ns / (60 * s) % 60);
    else
        snprintf(buf, n, "%" PRIu64 "d%02" PRIu64 "h", ns / (86400 * s), ns / (3600 * s) % 24);
}

const char *human_ms(uint64_t ms)
{
    static char buf[32];
    fmt_dur(ms * 1000000u, buf, sizeof buf);
    return buf;
}

/* ---- talking to the agent --------------------------------------------------------- */

/* Candidate socket paths of @pid, in the order the agent would choose them: the
 * directory of the target's environment (@dir, may be empty) first. */
static int socket_candidates(long pid, const char *dir, char out[][256], int max)
{
    int n = 0;
    if (*dir && n < max)
        snprintf(out[n++], 256, "%s/%ld.sock", dir, pid);
    const char *d = getenv("LRT_DUMP_DIR");
    if (d && *d && n < max)
        snprintf(out[n++], 256, "%s/%ld.sock", d, pid);
    const char *x = getenv("XDG_RUNTIME_DIR");
    if (x && *x && n < max)
        snprintf(out[n++], 256, "%s/lrt/%ld.sock", x, pid);
    if (n < max)
        snprintf(out[n++], 256, "/tmp/lrt-%u/%ld.sock", (unsigned)geteuid(), pid);
    char proc[64];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%ld", pid);
    if (stat(proc, &st) == 0 && st.st_uid != geteuid() && n < max) {
        snprintf(out[n++], 256, "/tmp/lrt-%u/%ld.sock", (unsigned)st.st_uid, pid);
        if (n < max)
            snprintf(out[n++], 256, "/run/user/%u/lrt/%ld.sock", (unsigned)st.st_uid, pid);
    }
    return n;
}

/* Connect; on failure returns -errno. */
int agent_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

uint64_t agent_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int wait_fd(int fd, short ev, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = agent_now_ms();
        if (now >= deadline_ms)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, (int)(deadline_ms - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* Send @req (one line) and read one reply line.  Returns the malloc'd line or NULL with
 * *err set: -ETIMEDOUT when the agent sends nothing for @timeout_ms, -ETIME when the
 * whole reply takes more than AGENT_REPLY_TIMEOUTS times that (a peer dripping bytes), -E2BIG
 * past AGENT_MAX_REPLY bytes. */
char *agent_roundtrip(int fd, const char *req, uint64_t timeout_ms, int *err)
{
    uint64_t start = agent_now_ms();
    uint64_t deadline = start + timeout_ms;
    uint64_t hard_deadline = start + timeout_ms * AGENT_REPLY_TIMEOUTS;
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                if ((*err = wait_fd(fd, POLLOUT, deadline)) != 0)
                    return NULL;
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET)
                break; /* the agent hung up: its reason may be waiting to be read */
            *err = -errno;
            return NULL;
        }
        off += (size_t)n;
    }
    size_t cap = 1 << 16, have = 0, scanned = 0;
    char *buf = malloc(cap);
    if (!buf) {
        *err = -ENOMEM;
        return NULL;
    }
    for (;;) {
        /* only the bytes not searched yet: a reply streamed without a newline stays linear */
        char *nl = have > scanned ? memchr(buf + scanned, '\n', have - scanned) : NULL;
        scanned = have;
        if (nl) {
            *nl = 0;
            return buf;
        }
        if (agent_now_ms() >= hard_deadline) {
            free(buf);
            *err = -ETIME;
            return NULL;
        }
        if (have + 1 >= cap) {
            if (cap >= AGENT_MAX_REPLY) {
                free(buf);
                *err = -E2BIG;
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                *err = -ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        ssize_t n = recv(fd, buf + have, cap - have - 1, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t)n;
            deadline = agent_now_ms() + timeout_ms; /* progress: the idle clock restarts */
            continue;
        }
        if (n == 0) {
            free(buf);
            *err = -ECONNRESET;
            return NULL;
        }
        if (errno != EAGAIN && errno != EINTR) {
            *err = -errno;
            free(buf);
            return NULL;
        }
        if ((*err = wait_fd(fd, POLLIN, deadline < hard_deadline ? deadline : hard_deadline)) != 0) {
            if (*err == -ETIMEDOUT && agent_now_ms() >= hard_deadline)
                *err = -ETIME;
            free(buf);
            return NULL;
        }
    }
}

void agent_proc_comm(long pid, char *out, size_t n)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/comm", pid);
    FILE *f = fopen(p, "r");
    out[0] = 0;
    if (f) {
        if (fgets(out, (int)n, f))
            out[strcspn(out, "\n")] = 0;
        fclose(f);
    }
    if (!out[0])
        snprintf(out, n, "?");
}

/* ---- attaching to a process without an agent ------------------------------------- */

/* The target as the process itself sees it (src/diag/attach.c): its effective uid, its
 * LRT_DUMP, and the directory its environment gives. */
struct target_env {
    bool known;            /* /proc/PID/environ was readable */
    bool forbidden;        /* LRT_DUMP=0 */
    uid_t uid;
    gid_t gid;
    char dir[200];
};

static void read_target_env(long pid, struct target_env *te)
{
    memset(te, 0, sizeof *te);
    char p[64], line[256];
    te->uid = (uid_t)-1;
    snprintf(p, sizeof p, "/proc/%ld/status", pid);
    FILE *f = fopen(p, "r");
    if (f) {
        unsigned r, e;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "Uid: %u %u", &r, &e) == 2)
                te->uid = e;
            if (sscanf(line, "Gid: %u %u", &r, &e) == 2)
                te->gid = e;
        }
        fclose(f);
    }
    snprintf(p, sizeof p, "/proc/%ld/environ", pid);
    f = fopen(p, "r");
    if (!f)
        return;
    te->known = true;
    char *var = NULL, dump_dir[190] = "", xdg[190] = "";
    size_t cap = 0;
    while (getdelim(&var, &cap, 0, f) > 0) {
        if (strcmp(var, "LRT_DUMP=0") == 0)
            te->forbidden = true;
        else if (strncmp(var, "LRT_DUMP_DIR=", 13) == 0)
            snprintf(dump_dir, sizeof dump_dir, "%s", var + 13);
        else if (strncmp(var, "XDG_RUNTIME_DIR=", 16) == 0)
            snprintf(xdg, sizeof xdg, "%s", var + 16);
    }
    free(var);
    fclose(f);
    struct stat st;
    if (*dump_dir)
        snprintf(te->dir, sizeof te->dir, "%s", dump_dir);
    else if (*xdg && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(te->dir, sizeof te->dir, "%s/lrt", xdg);
    else if (te->uid != (uid_t)-1)
        snprintf(te->dir, sizeof te->dir, "/tmp/lrt-%u", (unsigned)te->uid);
}

/* Does @path (an ELF file) hold liblrt's code?  The build puts all of it in a section
 * named lrt_text, in liblrt.so and in a program linked with liblrt.a alike. */
static bool elf_has_lrt(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    size_t shstrndx;
    if (e && elf_kind(e) == ELF_K_ELF && elf_getshdrstrndx(e, &shstrndx) == 0) {
        Elf_Scn *scn = NULL;
        GElf_Shdr sh;
        while (!found && (scn = elf_nextscn(e, scn)) != NULL) {
            const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
            found = name && strcmp(name, "lrt_text") == 0;
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return found;
}

/* 1: @pid has liblrt's code mapped, 0: it has not, -errno: its maps are not readable. */
static int uses_lrt(long pid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/maps", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -errno;
    elf_version(EV_CURRENT);
    char line[1024], seen[32][256];
    int nseen = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char perms[8] = "";
        int off = 0;
        if (sscanf(line, "%*s %7s %*s %*s %*s %n", perms, &off) < 1 || perms[2] != 'x' || !off)
            continue;
        char *path = line + off;
        path[strcspn(path, "\n")] = 0;
        if (path[0] != '/')
            continue;
        bool dup = false;
        for (int i = 0; i < nseen && !dup; i++)
            dup = strcmp(seen[i], path) == 0;
        if (dup)
            continue;
        if (nseen < 32)
            snprintf(seen[nseen++], sizeof seen[0], "%s", path);
        /* the file as the process sees it (right also in another mount namespace), else
         * as we do */
        char via_root[1100];
        snprintf(via_root, sizeof via_root, "/proc/%ld/root%s", pid, path);
        found = elf_has_lrt(via_root) || elf_has_lrt(path);
    }
    fclose(f);
    return found;
}

/* How long to wait for an agent asked for (the timeout), and how often to say so. */
#define ATTACH_POLL_MS 20
#define ATTACH_PROGRESS_MS 1000

/* Ask @pid (an lrt process without an agent) to start its agent, wait for its socket
 * and connect (src/diag/attach.c has the other side).  Exits 1 with a reason. */
static int attach(long pid, const char *comm, const struct target_env *te, uint64_t timeout_ms, char *path_out,
                  size_t n)
{
    const char *dir = te->dir;
    bool root_for_other = geteuid() == 0 && te->uid != 0;
    if (mkdir(dir, 0700) == 0) {
        if (root_for_other && chown(dir, te->uid, te->gid) != 0)
            agent_die("cannot give %s to uid %u: %s", dir, (unsigned)te->uid, strerror(errno));
    } else if (errno != EEXIST) {
        agent_die("cannot create %s to ask process %ld (%s) for its dump agent: %s", dir, pid, comm,
                  strerror(errno));
    }
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != te->uid || (st.st_mode & 022))
        agent_die("%s is not a private directory of uid %u: process %ld (%s) would refuse it", dir, (unsigned)te->uid,
            pid, comm);
    char trigger[300], sock[300];
    snprintf(trigger, sizeof trigger, "%s/.lrt-attach-%ld", dir, pid);
    snprintf(sock, sizeof sock, "%s/%ld.sock", dir, pid);
    int fd = open(trigger, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        agent_die("cannot create %s: %s", trigger, strerror(errno));
    close(fd);
    fprintf(stderr, "%s: process %ld (%s) has no dump agent: asking it to start one\n", agent_prog, pid, comm);
    uint64_t start = agent_now_ms(), next_note = start + ATTACH_PROGRESS_MS;
    for (;;) {
        int c = agent_connect(sock);
        if (c >= 0) {
            unlink(trigger); /* normally gone already: the process removes it */
            snprintf(path_out, n, "%s", sock);
            uint64_t took = agent_now_ms() - start;
            if (took >= ATTACH_PROGRESS_MS)
                fprintf(stderr, "%s: process %ld started its dump agent after %s\n", agent_prog, pid, human_ms(took));
            return c;
        }
        uint64_t now = agent_now_ms();
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
            unlink(trigger);
            agent_die("process %ld exited while asked for its dump agent", pid);
        }
        if (now - start >= timeout_ms) {
            unlink(trigger);
            agent_die("process %ld (%s) did not start its dump agent within %s (no lrt runtime alive in it, or "
                "the agent could not start: its standard error says why)",
                pid, comm, human_ms(timeout_ms));
        }
        if (now >= next_note) {
            fprintf(stderr, "%s: still waiting for process %ld (%s so far)\n", agent_prog, pid, human_ms(now - start));
            next_note += ATTACH_PROGRESS_MS;
        }
        poll(NULL, 0, ATTACH_POLL_MS);
    }
}

/* Open the agent socket of @pid (or @socket); exits 1 with a one-line reason. */
static int open_agent(long pid, const char *socket, uint64_t timeout_ms, char *path_out, size_t n)
{
    if (socket) {
        int fd = agent_connect(socket);
        if (fd == -ENOENT)
            agent_die("%s: no such socket", socket);
        if (fd == -EACCES || fd == -EPERM)
            agent_die("permission denied: %s belongs to another user", socket);
        if (fd == -ECONNREFUSED)
            agent_die("%s: nobody listens there (stale socket of a process that is gone)", socket);
        if (fd < 0)
            agent_die("%s: %s", socket, strerror(-fd));
        snprintf(path_out, n, "%s", socket);
        return fd;
    }
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        agent_die("no process with pid %ld", pid);
    struct target_env te;
    read_target_env(pid, &te);
    char cand[7][256];
    int k = socket_candidates(pid, te.dir, cand, 7);
    int denied = 0;
    for (int i = 0; i < k; i++) {
        int fd = agent_connect(cand[i]);
        if (fd >= 0) {
            snprintf(path_out, n, "%.255s", cand[i]);
            return fd;
        }
        if (fd == -EACCES || fd == -EPERM)
            denied = 1;
    }
    char comm[64];
    agent_proc_comm(pid, comm, sizeof comm);
    if (denied)
        agent_die("permission denied: process %ld (%s) belongs to another user", pid, comm);
    int lrt = uses_lrt(pid);
    if (lrt == -EACCES || lrt == -EPERM || (lrt > 0 && !te.known))
        agent_die("permission denied: process %ld (%s) belongs to another user", pid, comm);
    if (lrt < 0)
        agent_die("process %ld (%s): cannot read its memory map: %s", pid, comm, strerror(-lrt));
    if (lrt == 0)
        agent_die("process %ld (%s) is not an lrt process", pid, comm);
    if (te.forbidden)
        agent_die("process %ld (%s) does not allow attaching: it runs with LRT_DUMP=0", pid, comm);
    if (geteuid() != 0 && geteuid() != te.uid)
        agent_die("permission denied: process %ld (%s) belongs to another user", pid, comm);
    if (!te.dir[0])
        agent_die("process %ld (%s): cannot tell its dump directory", pid, comm);
    return attach(pid, comm, &te, timeout_ms, path_out, n);
}

/* An agent with all its client slots busy answers {"error":"too many clients..."}: a
 * slot frees within milliseconds (an answered client, or one the agent evicts), so try
 * again for this long, backing off from 20 to 200 ms. */
#define BUSY_RETRY_MS 2000

void agent_open(struct agent_conn *c, long pid, const char *socket, uint64_t timeout_ms)
{
    c->pid = pid;
    c->timeout_ms = timeout_ms;
    c->fd = open_agent(pid, socket, timeout_ms, c->path, sizeof c->path);
    if (pid)
        snprintf(c->target, sizeof c->target, "process %ld", pid);
    else
        snprintf(c->target, sizeof c->target, "the agent at %s", c->path);
}

void agent_close(struct agent_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

json_t *agent_request(struct agent_conn *c, const char *req, char **line_out, char *why, size_t n, int *err)
{
    uint64_t give_up = agent_now_ms() + BUSY_RETRY_MS;
    unsigned backoff_ms = 20;
    *err = 0;
    if (line_out)
        *line_out = NULL;
    for (;;) {
        if (c->fd < 0 && (c->fd = agent_connect(c->path)) < 0) {
            *err = c->fd;
            c->fd = -1;
            snprintf(why, n, "lost the connection to %s: %s", c->target, strerror(-*err));
            return NULL;
        }
        char *line = agent_roundtrip(c->fd, req, c->timeout_ms, err);
        if (!line) {
            if (*err == -ETIMEDOUT)
                snprintf(why, n, "%s did not answer within %s", c->target, human_ms(c->timeout_ms));
            else if (*err == -ETIME)
                snprintf(why, n, "%s took more than %s to send its reply", c->target,
                         human_ms(c->timeout_ms * AGENT_REPLY_TIMEOUTS));
            else if (*err == -E2BIG)
                snprintf(why, n, "%s sent a reply larger than %u MiB", c->target, AGENT_MAX_REPLY >> 20);
            else
                snprintf(why, n, "lost the connection to %s: %s", c->target, strerror(-*err));
            /* a reply cut short leaves the stream mid-line: only a new connection is usable */
            agent_close(c);
            return NULL;
        }
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) {
            free(line);
            snprintf(why, n, "%s sent a reply that is not JSON: %s", c->target, je.text);
            *err = -EPROTO;
            return NULL;
        }
        const char *e = json_string_value(json_object_get(j, "error"));
        if (e && strncmp(e, "too many clients", 16) == 0) {
            snprintf(why, n, "%s: %s", c->target, e);
            json_decref(j);
            free(line);
            agent_close(c);
            if (agent_now_ms() + backoff_ms >= give_up) {
                *err = -EBUSY;
                return NULL;
            }
            poll(NULL, 0, (int)backoff_ms);
            backoff_ms = backoff_ms * 2 > 200 ? 200 : backoff_ms * 2;
            continue;
        }
        if (e) {
            if (strncmp(e, "permission denied", 17) == 0) {
                snprintf(why, n, "%s", e);
                *err = -EACCES;
            } else {
                snprintf(why, n, "%s: %s", c->target, e);
                *err = -EINVAL;
            }
            json_decref(j);
            free(line);
            return NULL;
        }
        if (!json_is_object(json_object_get(j, "process")) || !json_is_object(json_object_get(j, "runtime")) ||
            !json_is_array(json_object_get(j, "tasks"))) {
            json_decref(j);
            free(line);
            snprintf(why, n, "%s sent JSON that is not an lrt snapshot (no process/runtime objects or tasks array)",
                     c->target);
            *err = -EPROTO;
            return NULL;
        }
        if (line_out)
            *line_out = line;
        else
            free(line);
        return j;
    }
}

/* ---- for lrt-trace record (its request file goes where lrt-dump's goes) --------------- */

int agent_uses_lrt(long pid)
{
    return uses_lrt(pid);
}

bool agent_target_dir(long pid, char *dir, size_t n, bool *forbidden, uid_t *uid, gid_t *gid)
{
    struct target_env te;
    read_target_env(pid, &te);
    snprintf(dir, n, "%s", te.dir);
    *forbidden = te.forbidden;
    *uid = te.uid;
    *gid = te.gid;
    return te.known;
}
