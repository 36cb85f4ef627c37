/*
 * agent.c - the dump agent: one thread per process serving lrt-dump on a Unix socket;
 * this file has the rounds (snapshot requests to the runtime threads, rationed), the
 * answer that puts every runtime of the process together, and the thread.  Which
 * runtimes exist, the socket directory, start/stop and attaching on demand: attach.c.
 *
 * Every runtime in one answer.  A round asks every runtime of the process (each through
 * its own inbox) and waits until each has answered at its safe point or has been
 * captured stuck; the answer is the first runtime's snapshot with the tasks of all of
 * them (each task labelled "runtime": its index) and a "runtimes" array (index, thread,
 * and each one's runtime/io/timers/blocking/stalls).  The snapshots are spliced as text
 * (lrt__snapshot_ex records where each part is): no parse, no copy of the tasks of the
 * first runtime beyond one memcpy.  The runtimes are not paused together: each answers
 * at its own safe point, within the round (milliseconds apart); within one runtime the
 * snapshot is consistent as before.
 *
 * Protocol: one JSON object per line each way.  {"cmd":"ping"} and
 * {"cmd":"snapshot","backtraces":true,"history":true} (both optional: each task's
 * backtrace, each task's history); a bad request gets {"error":"..."}.
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
 * and clock.  State: struct lrt__agent (agent.h), owned by the agent thread; the records
 * of the runtimes (struct lrt__agent_rt) under lrt__agent_reg.mu, except their round
 * fields under ag->mu, which the runtime threads' safe points also touch.
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


void lrt__agent_stats(struct lrt_runtime *rt, struct lrt__agent_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&lrt__agent_reg.mu);
    struct lrt__agent *ag = rt->agent ? lrt__agent_reg.agent : NULL;
    if (ag) {
        st->captures = __atomic_load_n(&ag->stats.captures, __ATOMIC_RELAXED);
        st->replies = __atomic_load_n(&ag->stats.replies, __ATOMIC_RELAXED);
        st->evictions = __atomic_load_n(&ag->stats.evictions, __ATOMIC_RELAXED);
        st->fd_drops = __atomic_load_n(&ag->stats.fd_drops, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&lrt__agent_reg.mu);
}


/* ---- rounds (snapshot requests to the runtimes) ----------------------------------- */

/* Ask every runtime of the process (reg.mu held). */
static void round_open(struct lrt__agent *ag, unsigned flags)
{
    uint64_t now = lrt__mono_ns();
    ag->round++;
    ag->round_open = 1;
    ag->round_start = now;
    ag->round_flags = flags;
    for (struct lrt__agent_rt *r = lrt__agent_reg.list; r; r = r->next) {
        pthread_mutex_lock(&ag->mu);
        r->round = ag->round;
        r->round_open = 1;
        r->req_flags = flags;
        pthread_mutex_unlock(&ag->mu);
        r->asked = 1;
        r->answered = 0;
        r->seq_seen = __atomic_load_n(&r->rt->poll_seq, __ATOMIC_ACQUIRE);
        r->seq_since = now;
        atomic_store(&r->rt->dump_request, 1);
        lrt__notifier_wake(r->notifier);
    }
}

/* Forget @r's part of the round: the request, an answer not taken yet, the one taken. */
static void round_forget(struct lrt__agent *ag, struct lrt__agent_rt *r)
{
    pthread_mutex_lock(&ag->mu);
    r->round_open = 0;
    lrt__jw_free(&r->result);
    pthread_mutex_unlock(&ag->mu);
    lrt__jw_free(&r->got);
    r->asked = r->answered = 0;
}

void lrt__agent_round_leave(struct lrt__agent *ag, struct lrt__agent_rt *r)
{
    round_forget(ag, r);
}

/* The round is over: ration the next one (see the top of the file). reg.mu held. */
static void round_close(struct lrt__agent *ag, uint64_t pause_ns)
{
    ag->round_open = 0;
    for (struct lrt__agent_rt *r = lrt__agent_reg.list; r; r = r->next)
        round_forget(ag, r);
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

/* Hand @jw (a finished answer; ownership taken) to every client it may answer. */
static void round_deliver(struct lrt__agent *ag, lrt__jw *jw)
{
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

/* @r's runtime thread did not answer: take its snapshot from here if it is stuck in a
 * poll (or outside lrt).  Returns true when @r was answered (r->got; on error an oom
 * writer).  reg.mu held, which keeps the runtime alive meanwhile. */
static bool round_stuck(struct lrt__agent *ag, struct lrt__agent_rt *r, uint64_t now)
{
    struct lrt_runtime *rt = r->rt;
    uint64_t seq = __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE);
    struct lrt_task *cur = __atomic_load_n(&rt->current, __ATOMIC_RELAXED);
    if (seq != r->seq_seen) {
        r->seq_seen = seq;
        r->seq_since = now;
    }
    if (now - ag->round_start < STUCK_AFTER_NS || now - r->seq_since < STUCK_AFTER_NS)
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
    (void)rc;
    int err = lrt__snapshot_ex(rt, ag->round_flags, in_poll ? LRT__SNAP_STUCK : LRT__SNAP_IDLE, &lv,
                               (int)r->index, &r->parts, &jw);
    bool unfrozen = !lv.have;
    lrt__live_release(&lv);
    /* only a frozen thread lost time to us (one blocked in a syscall was read from /proc) */
    uint64_t pause = unfrozen ? 0 : lrt__mono_ns() - t0;
    if (unfrozen && __atomic_load_n(&rt->poll_seq, __ATOMIC_ACQUIRE) != seq) {
        lrt__jw_free(&jw); /* the thread came back while we read: try again */
        return false;
    }
    if (err)
        jw.oom = 1;
    r->got = jw;
    r->got_pause = pause;
    return true;
}

static void read_comm(pid_t tid, char *out, size_t n)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/task/%d/comm", (int)tid);
    out[0] = 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t k = read(fd, out, n - 1);
        out[k > 0 ? k : 0] = 0;
        out[strcspn(out, "\n")] = 0;
        close(fd);
    }
}

static void raw_part(lrt__jw *w, const struct lrt__agent_rt *r, int which)
{
    lrt__jw_raw(w, r->got.buf + r->parts.off[which], r->parts.len[which]);
}

/* Every asked runtime has answered: splice their snapshots into one answer (top of the
 * file) in @out.  reg.mu held. */
static void round_merge(struct lrt__agent_rt *first, lrt__jw *out)
{
    static const char *const keys[] = {"runtime", "tasks", "io", "timers", "blocking", "stalls",
                                       "cycles", "objects"};
    lrt__jw tail = {0};
    tail.depth = 1; /* inside the top-level object: the array comes after a comma */
    lrt__jw_arr(&tail, "runtimes");
    for (struct lrt__agent_rt *r = first; r; r = r->next) {
        if (!r->asked)
            continue;
        char comm[32];
        read_comm(r->rt->tid, comm, sizeof comm);
        lrt__jw_obj(&tail, NULL);
        lrt__jw_u64(&tail, "index", r->index);
        lrt__jw_i64(&tail, "tid", r->rt->tid);
        lrt__jw_str(&tail, "thread", comm);
        for (int k = 0; k < LRT__PART__COUNT; k++) {
            if (k == LRT__PART_TASKS)
                continue;
            lrt__jw_sep(&tail, keys[k]);
            raw_part(&tail, r, k);
        }
        lrt__jw_end(&tail, '}');
    }
    lrt__jw_end(&tail, ']');
    lrt__jw_raw(&tail, "}", 1);

    /* the first snapshot up to its tasks' closing bracket, every other runtime's tasks,
     * the rest of the first snapshot without its closing brace, then the tail */
    const lrt__jw *f = &first->got;
    size_t tasks_end = first->parts.off[LRT__PART_TASKS] + first->parts.len[LRT__PART_TASKS] - 1;
    bool empty = first->parts.len[LRT__PART_TASKS] <= 2;
    lrt__jw_raw(out, f->buf, tasks_end);
    for (struct lrt__agent_rt *r = first->next; r; r = r->next) {
        if (!r->asked || r->parts.len[LRT__PART_TASKS] <= 2)
            continue;
        if (!empty)
            lrt__jw_raw(out, ",", 1);
        empty = false;
        lrt__jw_raw(out, r->got.buf + r->parts.off[LRT__PART_TASKS] + 1, r->parts.len[LRT__PART_TASKS] - 2);
    }
    lrt__jw_raw(out, f->buf + tasks_end, f->len - tasks_end - 1);
    lrt__jw_raw(out, tail.buf, tail.len);
    if (tail.oom)
        out->oom = 1;
    lrt__jw_free(&tail);
}

/* Collect what the runtimes answered; deliver once all have, or fail the round. */
static void round_collect(struct lrt__agent *ag, uint64_t now)
{
    pthread_mutex_lock(&lrt__agent_reg.mu);
    struct lrt__agent_rt *first = NULL;
    bool all = true, oom = false;
    uint64_t pause = 0;
    for (struct lrt__agent_rt *r = lrt__agent_reg.list; r; r = r->next) {
        if (!r->asked)
            continue; /* born after the round opened */
        if (!r->answered) {
            pthread_mutex_lock(&ag->mu);
            if (r->result.buf && r->result_round == ag->round) {
                r->got = r->result;
                r->parts = r->result_parts;
                r->got_pause = r->result_pause;
                memset(&r->result, 0, sizeof r->result);
                r->answered = 1;
            }
            pthread_mutex_unlock(&ag->mu);
            if (!r->answered && round_stuck(ag, r, now))
                r->answered = 1;
        }
        if (!first)
            first = r;
        all &= r->answered != 0;
        oom |= r->answered && (r->got.oom || !r->got.buf);
        if (r->got_pause > pause)
            pause = r->got_pause;
    }
    if (!first) {
        round_fail(ag, "no runtime in the process any more");
    } else if (all && oom) {
        round_fail(ag, "out of memory");
    } else if (all) {
        lrt__jw out = {0};
        round_merge(first, &out);
        round_close(ag, pause);
        if (out.oom) {
            lrt__jw_free(&out);
            round_fail(ag, "out of memory");
        } else {
            round_deliver(ag, &out);
        }
    } else if (now - ag->round_start > ROUND_TIMEOUT_NS) {
        round_fail(ag, "timeout: the runtime thread reached no safe point");
    }
    pthread_mutex_unlock(&lrt__agent_reg.mu);
}

void lrt__agent_safepoint(struct lrt_runtime *rt)
{
    atomic_store(&rt->dump_request, 0);
    struct lrt__agent_rt *r = rt->agent;
    /* set before the request that brought us here; stays while rt is registered */
    struct lrt__agent *ag = __atomic_load_n(&lrt__agent_reg.agent, __ATOMIC_ACQUIRE);
    if (!r || !ag)
        return;
    pthread_mutex_lock(&ag->mu);
    int open = r->round_open && !r->result.buf;
    uint64_t round = r->round;
    unsigned flags = r->req_flags;
    pthread_mutex_unlock(&ag->mu);
    if (!open)
        return;
    lrt__jw jw = {0};
    struct lrt__snap_parts parts;
    uint64_t t0 = lrt__mono_ns();
    lrt__snapshot_ex(rt, flags, LRT__SNAP_SAFEPOINT, NULL, (int)r->index, &parts, &jw);
    uint64_t pause = lrt__mono_ns() - t0;
    rt->last_snapshot_pause_ns = pause;
    pthread_mutex_lock(&ag->mu);
    if (r->round == round && r->round_open && !r->result.buf) {
        r->result = jw;
        r->result_parts = parts;
        r->result_round = round;
        r->result_pause = pause;
        jw.buf = NULL;
    }
    pthread_mutex_unlock(&ag->mu);
    if (jw.buf)
        lrt__jw_free(&jw);
    uint64_t one = 1;
    ssize_t n = write(ag->answer_efd, &one, sizeof one);
    (void)n;
}

size_t lrt__agent_drain(struct lrt_runtime *rt, void *ctx)
{
    (void)ctx;
    lrt__agent_safepoint(rt);
    return 1;
}

void *lrt__agent_main(void *arg)
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
        int open = ag->round_open;
        if (waiting && !open) {
            if (now >= ag->next_capture) {
                pthread_mutex_lock(&lrt__agent_reg.mu);
                round_open(ag, flags);
                pthread_mutex_unlock(&lrt__agent_reg.mu);
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
        if (open)
            round_collect(ag, now);
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

