/*
 * agent.c - the dump agent: a thread serving lrt-dump on a Unix socket; this file has
 * the rounds (snapshot requests to the runtime thread, rationed), the thread, the socket
 * directory and start/stop.
 *
 * Protocol: one JSON object per line each way.  {"cmd":"ping"} and
 * {"cmd":"snapshot","backtraces":true}; a bad request gets {"error":"..."}.
 *
 * Where a snapshot comes from.  The agent posts to the runtime's inbox (notify.c): it
 * sets rt->dump_request, its flag there, and wakes the notifier; the runtime thread runs
 * lrt__agent_safepoint() from its inbox drain between polls (at the next switch, every
 * event_interval polls, and when it parks), writes the snapshot from consistent state
 * into an mmap'd buffer and hands it over (mutex + eventfd).  The pause it takes is the
 * whole snapshot (measured in docs/performance.md).  When no safe point comes within
 * STUCK_AFTER and the runtime thread has been inside the same poll all that time
 * (rt->current set, rt->poll_seq odd and unchanged), the runtime thread is stuck in a
 * task: the agent captures it (lrt__live_capture: from /proc when it is blocked in a
 * system call, else frozen in a signal handler) and writes the snapshot itself, the
 * running task shown "running" for N ms with its live backtrace.  When the runtime is not
 * inside lrt_block_on at all, the agent freezes the thread the same way and answers with
 * an "idle" snapshot.
 *
 * Robustness: the socket lives in a 0700 directory owned by the user (a directory owned
 * by someone else or writable by group/others is refused), is mode 0600, and each peer's
 * uid is checked with SO_PEERCRED (same uid or root); the client table, its timeouts and
 * eviction are in agent_client.c.  None of this touches the runtime thread, which only
 * ever sees dump_request.
 *
 * What snapshots may cost the runtime (docs/diagnosis.md has the contract): each capture
 * pauses the runtime thread (docs/performance.md has the numbers), so captures are
 * rationed.  All clients waiting when a capture is taken share it (a client
 * asking without backtraces may get them); a capture comes at least MIN_CAPTURE_INTERVAL
 * and at least CAPTURE_DUTY times the previous capture's pause after the previous one
 * ended, so the runtime thread spends at most 1/(CAPTURE_DUTY + 1) = 5 % of its time in
 * snapshots whatever the number of clients (and of tasks, up to captures of
 * MAX_CAPTURE_GAP / CAPTURE_DUTY = 105 ms: beyond that a waiting lrt-dump would time out,
 * so the gap stops growing); and one client gets at most one snapshot per
 * CLIENT_SNAP_INTERVAL.  A request that comes too early waits (it is not refused), and its
 * answer is always captured after it arrived: never a stale copy.  Caching a capture for
 * later requests would cost less but answer with a past state, e.g. a "stuck" thread that
 * has moved on; rationing bounds the cost without that.
 *
 * Memory: request lines are parsed with jansson (malloc) on this thread, which binds its
 * own glibc arena at start (glibc gives each thread its own arena up to 8 x cores
 * arenas); between freezing the runtime thread and releasing it the agent calls no
 * malloc at all (lrt__snapshot writes into mmap'd memory).
 *
 * Layer: calls agent_client.c, snapshot.c, live.c, unwind.c, json.c and lrt's notifier
 * and clock.  State: struct lrt__agent (agent.h), owned by the agent thread except the
 * round fields under ag->mu, which the runtime thread's safe point also touches.
 */
#include "diag/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* <pid>.sock is taken by the first live agent of the process; others (several runtimes
 * at once) get <pid>.N.sock. */
static pthread_mutex_t name_mu = PTHREAD_MUTEX_INITIALIZER;
static int main_name_taken, name_seq;

void lrt__agent_stats(struct lrt_runtime *rt, struct lrt__agent_stats *st)
{
    struct lrt__agent *ag = rt->agent;
    memset(st, 0, sizeof *st);
    if (!ag)
        return;
    st->captures = __atomic_load_n(&ag->stats.captures, __ATOMIC_RELAXED);
    st->replies = __atomic_load_n(&ag->stats.replies, __ATOMIC_RELAXED);
    st->evictions = __atomic_load_n(&ag->stats.evictions, __ATOMIC_RELAXED);
    st->fd_drops = __atomic_load_n(&ag->stats.fd_drops, __ATOMIC_RELAXED);
}

static void name_release(int seq)
{
    pthread_mutex_lock(&name_mu);
    if (seq == 0)
        main_name_taken = 0;
    pthread_mutex_unlock(&name_mu);
}


/* ---- socket directory ------------------------------------------------------------- */

static int socket_dir(const lrt_options_t *o, char *out, size_t n)
{
    const char *d = o->dump_socket_dir;
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

/* Remove sockets of processes that no longer exist. */
static void clean_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || pid <= 0)
            continue;
        if (*end == '.' && end[1] >= '0' && end[1] <= '9')
            strtol(end + 1, &end, 10);
        if (strcmp(end, ".sock") != 0)
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}


/* ---- rounds (snapshot requests to the runtime) ------------------------------------ */

static void round_open(struct lrt__agent *ag, unsigned flags)
{
    uint64_t now = lrt__mono_ns();
    pthread_mutex_lock(&ag->mu);
    ag->round++;
    ag->round_open = 1;
    ag->req_flags = flags;
    pthread_mutex_unlock(&ag->mu);
    ag->round_start = now;
    ag->round_flags = flags;
    ag->seq_seen = __atomic_load_n(&ag->rt->poll_seq, __ATOMIC_ACQUIRE);
    ag->seq_since = now;
    atomic_store(&ag->rt->dump_request, 1);
    lrt__notifier_wake(ag->notifier);
}

/* The round is over: ration the next one (see the top of the file). */
static void round_close(struct lrt__agent *ag, uint64_t pause_ns)
{
    pthread_mutex_lock(&ag->mu);
    ag->round_open = 0;
    pthread_mutex_unlock(&ag->mu);
    uint64_t gap = pause_ns > MIN_CAPTURE_INTERVAL_NS / CAPTURE_DUTY ? pause_ns * CAPTURE_DUTY
                                                                    : MIN_CAPTURE_INTERVAL_NS;
    if (gap > MAX_CAPTURE_GAP_NS)
        gap = MAX_CAPTURE_GAP_NS;
    ag->next_capture = lrt__mono_ns() + gap;
}

/* May this round's capture answer @c?  It asked early enough (its own rate) and for no
 * more than the round captures (backtraces). */
static bool round_serves(const struct lrt__agent *ag, const struct client *c, uint64_t now)
{
    return c->fd >= 0 && c->waiting && now >= c->snap_after && !(c->flags & ~ag->round_flags);
}

/* Hand @jw (a finished snapshot taken in @pause_ns of the runtime's time; ownership
 * taken) to every client it may answer. */
static void round_deliver(struct lrt__agent *ag, lrt__jw *jw, uint64_t pause_ns)
{
    round_close(ag, pause_ns);
    stat_add(&ag->stats.captures, 1);
    uint64_t now = lrt__mono_ns();
    struct reply *r = calloc(1, sizeof *r);
    if (r) {
        r->refs = 1;
        r->jw = *jw;
        lrt__jw_raw(&r->jw, "\n", 1);
        if (r->jw.oom) {
            lrt__jw_free(&r->jw);
            free(r);
            r = NULL;
        }
    } else {
        lrt__jw_free(jw);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &ag->clients[i];
        if (!round_serves(ag, c, now))
            continue;
        c->waiting = 0;
        c->snap_after = now + CLIENT_SNAP_INTERVAL_NS;
        if (r) {
            r->refs++;
            lrt__agent_client_send(ag, c, r, 0);
            stat_add(&ag->stats.replies, 1);
        } else {
            lrt__agent_client_error(ag, c, "out of memory", 0);
        }
    }
    if (r)
        lrt__agent_reply_put(r);
}

static void round_fail(struct lrt__agent *ag, const char *msg)
{
    round_close(ag, 0);
    uint64_t now = lrt__mono_ns();
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &ag->clients[i];
        if (round_serves(ag, c, now)) {
            c->waiting = 0;
            c->snap_after = now + CLIENT_SNAP_INTERVAL_NS;
            lrt__agent_client_error(ag, c, msg, 0);
        }
    }
}

/* The runtime thread did not answer: take the snapshot from here if it is stuck in a
 * poll (or outside lrt).  Returns true when the round was answered. */
static bool round_stuck(struct lrt__agent *ag, uint64_t now)
{
    struct lrt_runtime *rt = ag->rt;
    uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE);
    struct lrt_task *cur = __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
    if (seq != ag->seq_seen) {
        ag->seq_seen = seq;
        ag->seq_since = now;
    }
    if (now - ag->round_start < STUCK_AFTER_NS || now - ag->seq_since < STUCK_AFTER_NS)
        return false;
    bool in_poll = (seq & 1) && cur;
    int in_block_on = __atomic_load_n(&rt->in_block_on, __ATOMIC_RELAXED);
    if (!in_poll && in_block_on && now - ag->round_start < IDLE_AFTER_NS)
        return false;
    lrt__live lv;
    uint64_t t0 = lrt__mono_ns();
    int rc = in_poll ? lrt__live_capture(rt->tid, &lv, 200) : lrt__live_freeze(rt->tid, &lv, 200);
    if (__atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq) {
        lrt__live_release(&lv); /* it moved on: a safe point will come */
        return false;
    }
    lrt__jw jw = {0};
    unsigned flags;
    pthread_mutex_lock(&ag->mu);
    flags = ag->req_flags;
    pthread_mutex_unlock(&ag->mu);
    (void)rc;
    int err = lrt__snapshot(rt, flags, in_poll ? LRT__SNAP_STUCK : LRT__SNAP_IDLE, &lv, &jw);
    bool unfrozen = !lv.have;
    lrt__live_release(&lv);
    /* only a frozen thread lost time to us (one blocked in a syscall was read from /proc) */
    uint64_t pause = unfrozen ? 0 : lrt__mono_ns() - t0;
    if (unfrozen && __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq) {
        lrt__jw_free(&jw); /* the thread came back while we read: try again */
        return false;
    }
    if (err) {
        lrt__jw_free(&jw);
        round_fail(ag, "out of memory");
        return true;
    }
    round_deliver(ag, &jw, pause);
    return true;
}

void lrt__agent_safepoint(struct lrt_runtime *rt)
{
    atomic_store(&rt->dump_request, 0);
    struct lrt__agent *ag = rt->agent;
    if (!ag)
        return;
    pthread_mutex_lock(&ag->mu);
    int open = ag->round_open && !ag->result.buf;
    uint64_t round = ag->round;
    unsigned flags = ag->req_flags;
    pthread_mutex_unlock(&ag->mu);
    if (!open)
        return;
    lrt__jw jw = {0};
    uint64_t t0 = lrt__mono_ns();
    lrt__snapshot(rt, flags, LRT__SNAP_SAFEPOINT, NULL, &jw);
    uint64_t pause = lrt__mono_ns() - t0;
    rt->last_snapshot_pause_ns = pause;
    pthread_mutex_lock(&ag->mu);
    if (ag->round == round && ag->round_open && !ag->result.buf) {
        ag->result = jw;
        ag->result_round = round;
        ag->result_pause = pause;
        jw.buf = NULL;
    }
    pthread_mutex_unlock(&ag->mu);
    if (jw.buf)
        lrt__jw_free(&jw);
    uint64_t one = 1;
    ssize_t n = write(ag->answer_efd, &one, sizeof one);
    (void)n;
}

/* The inbox drain of dump requests. */
static size_t agent_drain(struct lrt_runtime *rt, void *ctx)
{
    (void)ctx;
    lrt__agent_safepoint(rt);
    return 1;
}

static void *agent_main(void *arg)
{
    struct lrt__agent *ag = arg;
    free(malloc(64)); /* bind this thread's malloc arena now, while nothing is stuck */
    lrt__unwind_warm();
    struct pollfd pfd[3 + MAX_CLIENTS];
    int idx[MAX_CLIENTS];
    for (;;) {
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = ag->stop_efd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = ag->answer_efd, .events = POLLIN};
        int waiting = 0, lidx = -1;
        unsigned flags = 0;
        uint64_t now = lrt__mono_ns(), next = now + 1000000000ull;
        if (now >= ag->accept_after) {
            lidx = n;
            pfd[n++] = (struct pollfd){.fd = ag->lfd, .events = POLLIN};
        } else if (ag->accept_after < next) {
            next = ag->accept_after;
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &ag->clients[i];
            idx[i] = -1;
            if (c->fd < 0)
                continue;
            if (c->waiting) {
                if (now >= c->snap_after) {
                    waiting = 1;
                    flags |= c->flags;
                } else if (c->snap_after < next) {
                    next = c->snap_after;
                }
                continue; /* read no further request until answered */
            }
            if (lrt__agent_client_deadline(ag, c) < next)
                next = lrt__agent_client_deadline(ag, c);
            idx[i] = n;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = c->out ? POLLOUT : POLLIN};
        }
        int open;
        pthread_mutex_lock(&ag->mu);
        open = ag->round_open;
        pthread_mutex_unlock(&ag->mu);
        if (waiting && !open) {
            if (now >= ag->next_capture) {
                round_open(ag, flags);
                open = 1;
            } else if (ag->next_capture < next) {
                next = ag->next_capture;
            }
        }
        int timeout;
        if (open)
            timeout = 20; /* watch for a stuck runtime thread */
        else
            timeout = next > now ? (int)((next - now) / 1000000u) + 1 : 0;
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        now = lrt__mono_ns();
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            ssize_t k = read(ag->answer_efd, &v, sizeof v);
            (void)k;
        }
        lrt__jw res = {0};
        uint64_t pause = 0;
        pthread_mutex_lock(&ag->mu);
        if (ag->result.buf) {
            pause = ag->result_pause;
            if (ag->round_open && ag->result_round == ag->round)
                res = ag->result;
            else
                lrt__jw_free(&ag->result);
            memset(&ag->result, 0, sizeof ag->result);
        }
        pthread_mutex_unlock(&ag->mu);
        if (res.buf)
            round_deliver(ag, &res, pause);
        else if (open && !round_stuck(ag, now) && now - ag->round_start > ROUND_TIMEOUT_NS)
            round_fail(ag, "timeout: the runtime thread reached no safe point");
        if (lidx >= 0 && (pfd[lidx].revents & POLLIN))
            lrt__agent_accept(ag, now);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &ag->clients[i];
            if (c->fd < 0)
                continue;
            if (idx[i] >= 0 && pfd[idx[i]].revents) {
                if (c->out)
                    lrt__agent_client_write(ag, c);
                else
                    lrt__agent_client_read(ag, c);
            }
            if (c->fd >= 0 && c->out && idx[i] < 0)
                lrt__agent_client_write(ag, c); /* a reply that just arrived: try at once */
            if (c->fd >= 0 && !c->waiting && now > lrt__agent_client_deadline(ag, c))
                lrt__agent_client_close(ag, c); /* silent, not reading its reply, or half a line */
        }
    }
    lrt__unwind_thread_exit();
    return NULL;
}

/* ---- start / stop ----------------------------------------------------------------- */

int lrt__agent_start(struct lrt_runtime *rt)
{
    /* Started by LRT_DUMP=1 rather than asked for in the options: a failure must not
     * stop the program, only be reported. */
    const char *env = getenv("LRT_DUMP");
    bool soft = env && *env && strcmp(env, "0") != 0;
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int err = socket_dir(&rt->opts, dir, sizeof dir);
    if (!err)
        err = check_dir(dir);
    if (err)
        goto fail;
    clean_stale(dir);

    struct lrt__agent *ag = calloc(1, sizeof *ag);
    if (!ag) {
        err = -ENOMEM;
        goto fail;
    }
    ag->rt = rt;
    ag->lfd = ag->stop_efd = ag->answer_efd = ag->reserve_fd = -1;
    const char *to = getenv("LRT_DUMP_CLIENT_TIMEOUT_MS");
    ag->idle_timeout_ns = to && atoi(to) > 0 ? (uint64_t)atoi(to) * 1000000u : IDLE_TIMEOUT_NS;
    pthread_mutex_init(&ag->mu, NULL);
    for (int i = 0; i < MAX_CLIENTS; i++)
        ag->clients[i].fd = -1;
    pthread_mutex_lock(&name_mu);
    int seq = main_name_taken ? ++name_seq : 0;
    main_name_taken = 1;
    pthread_mutex_unlock(&name_mu);
    ag->name_seq = seq;
    int k = seq ? snprintf(ag->path, sizeof ag->path, "%s/%d.%d.sock", dir, (int)getpid(), seq)
                : snprintf(ag->path, sizeof ag->path, "%s/%d.sock", dir, (int)getpid());
    if (k < 0 || (size_t)k >= sizeof ag->path) {
        err = -ENAMETOOLONG;
        goto err_free;
    }
    ag->inbufs = mmap(NULL, (size_t)MAX_CLIENTS * MAX_LINE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ag->inbufs == MAP_FAILED) {
        ag->inbufs = NULL;
        err = -ENOMEM;
        goto err_free;
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        ag->clients[i].in = ag->inbufs + (size_t)i * MAX_LINE;
    ag->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ag->answer_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ag->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ag->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ag->stop_efd < 0 || ag->answer_efd < 0 || ag->lfd < 0 || ag->reserve_fd < 0) {
        err = -errno;
        goto err_close;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, ag->path, strlen(ag->path) + 1);
    unlink(ag->path); /* a stale one of an earlier process with our pid */
    if (bind(ag->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(ag->path, 0600) != 0 ||
        listen(ag->lfd, 64) != 0) {
        err = -errno;
        unlink(ag->path);
        goto err_close;
    }
    ag->inbox_id = lrt__inbox_register(rt, &rt->dump_request, agent_drain, NULL);
    if (ag->inbox_id < 0) {
        err = ag->inbox_id;
        unlink(ag->path);
        goto err_close;
    }
    ag->notifier = lrt__notifier_get(rt);
    lrt__unwind_warm();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rt->agent = ag;
    err = -pthread_create(&ag->thread, NULL, agent_main, ag);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        rt->agent = NULL;
        lrt__inbox_unregister(rt, ag->inbox_id);
        lrt__notifier_put(ag->notifier);
        unlink(ag->path);
        goto err_close;
    }
    pthread_setname_np(ag->thread, "lrt-dump-agent");
    return 0;

err_close:
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
err_free:
    name_release(ag->name_seq);
    pthread_mutex_destroy(&ag->mu);
    free(ag);
fail:
    if (soft) {
        /* strerrordesc_np, as lrt_strerror does: lrt_strerror lives in runtime.c, which
         * calls this function (a call back up would close a cycle). */
        const char *why = strerrordesc_np(-err);
        fprintf(stderr, "lrt: dump agent not started (%s); the program runs without it\n",
                why ? why : "Unknown error");
        return 0;
    }
    return err;
}

void lrt__agent_stop(struct lrt_runtime *rt)
{
    struct lrt__agent *ag = rt->agent;
    if (!ag)
        return;
    uint64_t one = 1;
    ssize_t n = write(ag->stop_efd, &one, sizeof one);
    (void)n;
    pthread_join(ag->thread, NULL);
    lrt__inbox_unregister(rt, ag->inbox_id);
    rt->agent = NULL;
    unlink(ag->path);
    name_release(ag->name_seq);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (ag->clients[i].fd >= 0)
            lrt__agent_client_close(ag, &ag->clients[i]);
    close(ag->lfd);
    close(ag->stop_efd);
    close(ag->answer_efd);
    if (ag->reserve_fd >= 0)
        close(ag->reserve_fd);
    lrt__jw_free(&ag->result);
    lrt__notifier_put(ag->notifier);
    munmap(ag->inbufs, (size_t)MAX_CLIENTS * MAX_LINE);
    pthread_mutex_destroy(&ag->mu);
    free(ag);
    atomic_store(&rt->dump_request, 0);
}
