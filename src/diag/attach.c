/*
 * attach.c - the dump agent's life: the runtimes of the process, the socket directory,
 * start and stop, and attaching on demand (lrt-dump PID with no opt-in).
 *
 * One agent per process serves every runtime (agent.c puts them in one answer).  Every
 * runtime registers here at lrt_runtime_new (struct lrt__agent_rt: its inbox source for
 * dump requests, its index) whether an agent runs or not, so an agent started later
 * reaches it without its thread's help.  The agent starts with the first runtime that
 * asks for it (dump_agent, LRT_DUMP=1: socket in that runtime's directory), or on
 * demand; it stops when the last runtime of the process shuts down.
 *
 * Attaching on demand, as the JVM does: lrt-dump creates the empty file
 * <dir>/.lrt-attach-<pid>, where <dir> is what the process's *environment* gives
 * (LRT_DUMP_DIR, $XDG_RUNTIME_DIR/lrt if that is a directory, /tmp/lrt-<euid>; read by
 * the lrt_runtime_new that finds no other runtime alive; lrt-dump reads the same from
 * /proc/PID/environ).  The
 * ticker thread, which every lrt process runs while a runtime exists, calls
 * attach_check() about every 200 ms (ticker.c's slow hook): one lstat() of that path.
 * When the file is there, is a regular file and belongs to our euid or to root (so
 * nobody else can make us start anything), the ticker removes it and starts the agent
 * itself: the runtime threads take no part, so this works while one is stuck in a busy
 * loop or a blocking system call.  The socket then goes to the same directory, with the
 * usual checks (0700 directory of our uid, socket 0600, SO_PEERCRED).  LRT_DUMP=0 in the
 * environment at that time turns the check off entirely (not even the lstat); lrt-dump
 * sees it in /proc/PID/environ and says so.  Cost: docs/performance.md.
 *
 * The same check serves `lrt-trace record -p PID` (trace_check: load the tracing
 * provider, tell the flight recorder its session).
 *
 * Locks: life_mu serialises start, stop and attach (a stop joins the thread before a new
 * agent may bind the same path); lrt__agent_reg.mu (agent.c) guards the list; taken in
 * that order.
 *
 * Layer: calls agent.c, agent_client.c, unwind.c, lrt's notifier/inbox and the ticker's
 * hook.  State: the registry (lrt__agent_reg), the attach settings below.
 */
#include "diag/agent.h"
#include "trace.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ATTACH_PREFIX ".lrt-attach-"
#define TRACE_PREFIX ".lrt-trace-"
#define ATTACH_CHECK_NS (200000000ull) /* how often the ticker looks for a request */

static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;

/* Where lrt-dump's request is looked for: set by the lrt_runtime_new that finds no other
 * runtime alive (under life_mu), read by the ticker under life_mu too. */
static struct {
    bool forbidden;        /* LRT_DUMP=0 */
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char trigger[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
    char trace_trigger[sizeof(((struct sockaddr_un *)0)->sun_path) + 32]; /* lrt-trace record */
} attach;

/* ---- socket directory ------------------------------------------------------------- */

/* @o's dump_socket_dir (NULL: none), else the one of the environment. */
static int socket_dir(const lrt_options_t *o, char *out, size_t n)
{
    const char *d = o ? o->dump_socket_dir : NULL;
    if (!d || !*d)
        d = getenv("LRT_DUMP_DIR");
    if (d && *d) {
        if ((size_t)snprintf(out, n, "%s", d) >= n)
            return -ENAMETOOLONG;
        return 0;
    }
    const char *x = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (x && *x && stat(x, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(out, n, "%s/lrt", x) >= n)
            return -ENAMETOOLONG;
        return 0;
    }
    if ((size_t)snprintf(out, n, "/tmp/lrt-%u", (unsigned)geteuid()) >= n)
        return -ENAMETOOLONG;
    return 0;
}

static int check_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (lstat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lrt: dump agent: %s is not a directory: agent not started\n", dir);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid()) {
        fprintf(stderr, "lrt: dump agent: %s belongs to uid %u, not to us: agent not started\n", dir,
                (unsigned)st.st_uid);
        return -EPERM;
    }
    if (st.st_mode & 022) {
        fprintf(stderr, "lrt: dump agent: %s is writable by group or others (mode %03o): agent not started\n",
                dir, (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    return 0;
}

/* Remove sockets (and attach requests) of processes that no longer exist. */
static void clean_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        const char *name = e->d_name;
        bool trigger = strncmp(name, ATTACH_PREFIX, strlen(ATTACH_PREFIX)) == 0;
        if (trigger)
            name += strlen(ATTACH_PREFIX);
        else if ((trigger = strncmp(name, TRACE_PREFIX, strlen(TRACE_PREFIX)) == 0))
            name += strlen(TRACE_PREFIX);
        long pid = strtol(name, &end, 10);
        if (end == name || pid <= 0)
            continue;
        if (!trigger && *end == '.' && end[1] >= '0' && end[1] <= '9')
            strtol(end + 1, &end, 10);
        if (strcmp(end, trigger ? "" : ".sock") != 0)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}



/* ---- start / stop of the agent thread -------------------------------------------- */

static void agent_free(struct lrt__agent *ag)
{
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (ag->clients[i].fd >= 0)
            lrt__agent_client_close(ag, &ag->clients[i]);
    if (ag->lfd >= 0)
        close(ag->lfd);
    if (ag->stop_efd >= 0)
        close(ag->stop_efd);
    if (ag->answer_efd >= 0)
        close(ag->answer_efd);
    if (ag->reserve_fd >= 0)
        close(ag->reserve_fd);
    if (ag->inbufs)
        munmap(ag->inbufs, (size_t)MAX_CLIENTS * MAX_LINE);
    pthread_mutex_destroy(&ag->mu);
    free(ag);
}

/* Start the agent with its socket in @dir (life_mu held).  Any thread: the ticker's
 * included. */
static int agent_launch(const char *dir)
{
    int err = check_dir(dir);
    if (err)
        return err;
    clean_stale(dir);
    struct lrt__agent *ag = calloc(1, sizeof *ag);
    if (!ag)
        return -ENOMEM;
    ag->lfd = ag->stop_efd = ag->answer_efd = ag->reserve_fd = -1;
    const char *to = getenv("LRT_DUMP_CLIENT_TIMEOUT_MS");
    ag->idle_timeout_ns = to && atoi(to) > 0 ? (uint64_t)atoi(to) * 1000000u : IDLE_TIMEOUT_NS;
    pthread_mutex_init(&ag->mu, NULL);
    for (int i = 0; i < MAX_CLIENTS; i++)
        ag->clients[i].fd = -1;
    int k = snprintf(ag->path, sizeof ag->path, "%s/%d.sock", dir, (int)getpid());
    if (k < 0 || (size_t)k >= sizeof ag->path) {
        agent_free(ag);
        return -ENAMETOOLONG;
    }
    ag->inbufs = mmap(NULL, (size_t)MAX_CLIENTS * MAX_LINE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ag->inbufs == MAP_FAILED) {
        ag->inbufs = NULL;
        agent_free(ag);
        return -ENOMEM;
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        ag->clients[i].in = ag->inbufs + (size_t)i * MAX_LINE;
    ag->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ag->answer_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ag->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ag->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ag->stop_efd < 0 || ag->answer_efd < 0 || ag->lfd < 0 || ag->reserve_fd < 0) {
        err = -errno;
        agent_free(ag);
        return err;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, ag->path, strlen(ag->path) + 1);
    unlink(ag->path); /* a stale one of an earlier process with our pid */
    if (bind(ag->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(ag->path, 0600) != 0 ||
        listen(ag->lfd, 64) != 0) {
        err = -errno;
        unlink(ag->path);
        agent_free(ag);
        return err;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&lrt__agent_reg.mu);
    __atomic_store_n(&lrt__agent_reg.agent, ag, __ATOMIC_RELEASE);
    err = -pthread_create(&ag->thread, NULL, lrt__agent_main, ag);
    if (err)
        __atomic_store_n(&lrt__agent_reg.agent, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lrt__agent_reg.mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        unlink(ag->path);
        agent_free(ag);
        return err;
    }
    pthread_setname_np(ag->thread, "lrt-dump-agent");
    return 0;
}

/* Stop @ag, already taken out of the registry (life_mu held). */
static void agent_halt(struct lrt__agent *ag)
{
    uint64_t one = 1;
    ssize_t n = write(ag->stop_efd, &one, sizeof one);
    (void)n;
    pthread_join(ag->thread, NULL);
    unlink(ag->path);
    agent_free(ag);
}

/* ---- attaching on demand ----------------------------------------------------------- */

/* `lrt-trace record -p PID` of a process started without LRT_TRACE=1: the same kind of
 * request, <dir>/.lrt-trace-<pid> (same directory, same owner rule), makes the ticker
 * load the tracing provider (trace.c) and, when the file says `flight=NAME`, tells the
 * flight recorder its session (flight.c).  The file is removed once that is done, so
 * lrt-trace record waits for it to disappear and then finds liblrt-tp.so in our maps.
 * Cost: one more lstat() per check. */
static void trace_check(void)
{
    char path[sizeof attach.trace_trigger], text[200] = "";
    pthread_mutex_lock(&life_mu);
    memcpy(path, attach.trace_trigger, sizeof path);
    pthread_mutex_unlock(&life_mu);
    struct stat st;
    if (!path[0] || lstat(path, &st) != 0)
        return;
    if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0)) {
        unlink(path); /* not a request we may act on */
        return;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t k = read(fd, text, sizeof text - 1);
        text[k > 0 ? k : 0] = 0;
        close(fd);
    }
    const char *f = strstr(text, "flight=");
    char name[128] = "";
    if (f) {
        f += strlen("flight=");
        snprintf(name, sizeof name, "%.*s", (int)strcspn(f, "\n"), f);
        lrt__flight_set_session(name);
    }
    int err = lrt__trace_load(); /* the provider's registration with the session daemon
                                  * happens in there: the request is served once it returns */
    unlink(path);
    if (!err)
        fprintf(stderr, "lrt: tracing on, asked for by lrt-trace record%s%s\n",
                name[0] ? "; flight recorder session " : "", name);
    else if (err == -ENOTSUP)
        fprintf(stderr, "lrt: lrt-trace record asked for tracing, but this liblrt was built without "
                        "tracepoints (make TRACE=0)\n");
}

/* The ticker thread, about every ATTACH_CHECK_NS while a runtime exists. */
static void attach_check(void)
{
    trace_check();
    if (__atomic_load_n(&lrt__agent_reg.agent, __ATOMIC_RELAXED))
        return; /* serving already: lrt-dump connects and removes its request itself */
    pthread_mutex_lock(&life_mu);
    struct stat st;
    int err = 1; /* nothing asked */
    /* only a regular file of our uid or root: nobody else can make us start anything */
    if (attach.trigger[0] && lstat(attach.trigger, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_uid == geteuid() || st.st_uid == 0)) {
        unlink(attach.trigger);
        err = lrt__agent_reg.agent || !lrt__agent_reg.list ? 1 : agent_launch(attach.dir);
        if (err <= 0) {
            const char *why = err ? strerrordesc_np(-err) : NULL;
            if (err)
                fprintf(stderr, "lrt: lrt-dump asked for the dump agent; not started (%s)\n",
                        why ? why : "Unknown error");
            else
                fprintf(stderr, "lrt: dump agent started on request (lrt-dump): %s\n",
                        lrt__agent_reg.agent->path);
        }
    }
    pthread_mutex_unlock(&life_mu);
}

/* The settings of the environment, read when the first runtime (again) registers:
 * life_mu held, runtime thread (getenv). */
static void attach_config(void)
{
    const char *env = getenv("LRT_DUMP");
    attach.forbidden = env && strcmp(env, "0") == 0;
    attach.trigger[0] = 0;
    if (!attach.forbidden && socket_dir(NULL, attach.dir, sizeof attach.dir) == 0 &&
        (size_t)snprintf(attach.trigger, sizeof attach.trigger, "%s/" ATTACH_PREFIX "%d", attach.dir,
                         (int)getpid()) >= sizeof attach.trigger)
        attach.trigger[0] = 0;
    attach.trace_trigger[0] = 0;
    if (attach.trigger[0] &&
        (size_t)snprintf(attach.trace_trigger, sizeof attach.trace_trigger, "%s/" TRACE_PREFIX "%d", attach.dir,
                         (int)getpid()) >= sizeof attach.trace_trigger)
        attach.trace_trigger[0] = 0;
    /* forbidden: not even the lstat */
    lrt__ticker_set_slow_hook(attach.trigger[0] ? attach_check : NULL, ATTACH_CHECK_NS);
}

/* A forked child has no agent thread and none of the parent's runtimes; its first
 * runtime reads the settings again (another pid: another request file).  Our copy of the
 * parent's agent is left alone: fork() may have caught its thread in the middle of any
 * change, so freeing it or closing its fds could hurt the child; it is only kept
 * reachable (and its fds close at exec, CLOEXEC). */
static struct lrt__agent *volatile inherited_agent; /* written only: volatile keeps the store */
static void agent_child(void)
{
    pthread_mutex_init(&life_mu, NULL);
    pthread_mutex_init(&lrt__agent_reg.mu, NULL);
    if (lrt__agent_reg.agent)
        inherited_agent = lrt__agent_reg.agent;
    lrt__agent_reg.list = NULL;
    lrt__agent_reg.agent = NULL;
    attach.trigger[0] = 0;
    attach.trace_trigger[0] = 0;
}

static void agent_once(void) { pthread_atfork(NULL, NULL, agent_child); }

/* ---- the runtime hooks --------------------------------------------------------------- */

int lrt__agent_start(struct lrt_runtime *rt)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, agent_once);
    struct lrt__agent_rt *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->rt = rt;
    r->inbox_id = lrt__inbox_register(rt, &rt->dump_request, lrt__agent_drain, NULL);
    if (r->inbox_id < 0) {
        int err = r->inbox_id;
        free(r);
        return err;
    }
    r->notifier = lrt__notifier_get(rt);
    pthread_mutex_lock(&life_mu);
    if (!lrt__agent_reg.list)
        attach_config();
    pthread_mutex_lock(&lrt__agent_reg.mu);
    r->index = lrt__agent_reg.next_index++;
    struct lrt__agent_rt **tail = &lrt__agent_reg.list;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    rt->agent = r;
    bool running = lrt__agent_reg.agent != NULL;
    pthread_mutex_unlock(&lrt__agent_reg.mu);
    int err = 0;
    if (rt->opts.dump_agent && !running) {
        char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
        err = socket_dir(&rt->opts, dir, sizeof dir);
        if (!err)
            err = agent_launch(dir);
    }
    pthread_mutex_unlock(&life_mu);
    if (err) {
        /* Started by LRT_DUMP=1 rather than asked for in the options: a failure must not
         * stop the program, only be reported. */
        const char *env = getenv("LRT_DUMP");
        if (env && *env && strcmp(env, "0") != 0) {
            /* strerrordesc_np, as lrt_strerror does: lrt_strerror lives in runtime.c,
             * which calls this function (a call back up would close a cycle). */
            const char *why = strerrordesc_np(-err);
            fprintf(stderr, "lrt: dump agent not started (%s); the program runs without it\n",
                    why ? why : "Unknown error");
            return 0;
        }
        lrt__agent_stop(rt);
    }
    return err;
}

void lrt__agent_stop(struct lrt_runtime *rt)
{
    struct lrt__agent_rt *r = rt->agent;
    if (!r)
        return;
    pthread_mutex_lock(&life_mu);
    pthread_mutex_lock(&lrt__agent_reg.mu);
    struct lrt__agent *ag = lrt__agent_reg.agent;
    struct lrt__agent_rt **p = &lrt__agent_reg.list;
    while (*p && *p != r)
        p = &(*p)->next;
    if (*p) { /* else a runtime inherited through fork(): not ours to list */
        *p = r->next;
        if (ag)
            lrt__agent_round_leave(ag, r);
    }
    if (lrt__agent_reg.list)
        ag = NULL; /* others remain: the agent serves them */
    else
        __atomic_store_n(&lrt__agent_reg.agent, NULL, __ATOMIC_RELAXED); /* the ticker peeks */
    rt->agent = NULL;
    pthread_mutex_unlock(&lrt__agent_reg.mu);
    if (ag)
        agent_halt(ag);
    pthread_mutex_unlock(&life_mu);
    lrt__jw_free(&r->result);
    lrt__jw_free(&r->got);
    lrt__inbox_unregister(rt, r->inbox_id);
    lrt__notifier_put(r->notifier);
    free(r);
    atomic_store(&rt->dump_request, 0);
}
