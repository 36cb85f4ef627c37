/*
 * agent.h - the dump agent's state, shared by agent.c (rounds, thread), agent_client.c
 * (the client table and the request protocol) and attach.c (the runtimes of the process,
 * start/stop, the socket directory, attaching on demand).  Private to those three.
 */
#ifndef LRT_DIAG_AGENT_H
#define LRT_DIAG_AGENT_H

#include "diag/diag.h"

#include <sys/un.h>

#define MAX_CLIENTS 16
#define MAX_LINE (64 * 1024)
#define IDLE_TIMEOUT_NS (5000000000ull)         /* default of ag->idle_timeout_ns */
#define STUCK_AFTER_NS (150000000ull)
#define IDLE_AFTER_NS (1000000000ull)
#define ROUND_TIMEOUT_NS (5000000000ull)
#define PARTIAL_TIMEOUT_NS (1000000000ull)     /* or idle_timeout_ns when that is shorter */
#define CLIENT_SNAP_INTERVAL_NS (100000000ull) /* per client: 10 snapshots/s */
#define MIN_CAPTURE_INTERVAL_NS (50000000ull)  /* overall: 20 captures/s */
#define CAPTURE_DUTY 19                        /* gap >= 19 x pause: <= 5 % of the thread */
#define MAX_CAPTURE_GAP_NS (2000000000ull)     /* ... but well within lrt-dump's 5 s timeout */
#define ACCEPT_BACKOFF_NS (100000000ull)
#define FD_DROPS_PER_ROUND 64

struct reply {
    int refs;
    lrt__jw jw;
};

struct client {
    int fd;
    size_t in_len;
    char *in;              /* MAX_LINE bytes, mmap'd at agent start */
    struct reply *out;     /* being written */
    size_t out_off;
    int waiting;           /* wants the next snapshot */
    unsigned flags;
    int close_after;       /* drop once out is written */
    uint64_t deadline;     /* lrt__mono_ns: drop when passed */
    uint64_t partial_since; /* first byte of an incomplete request line, 0 if none */
    uint64_t active;       /* connected, or last complete request: eviction order */
    uint64_t snap_after;   /* no capture before this answers it (per-client rate) */
    int served;            /* has completed a request: evicted after those that have not */
};

/* One per live runtime of the process (rt->agent), from lrt_runtime_new to its shutdown,
 * whether the agent runs or not: an agent started late (lrt-dump attaching) must find
 * every runtime, and reach each through its inbox, without its thread's help. */
struct lrt__agent_rt {
    struct lrt_runtime *rt;
    struct lrt__agent_rt *next; /* lrt__agent_reg.list */
    unsigned index;             /* the runtime's label in answers: registration order */
    int inbox_id;               /* rt->dump_request is our flag in rt's inbox (notify.c) */
    lrt__notifier *notifier;
    /* under ag->mu: the runtime thread's safe point touches these */
    uint64_t round;             /* the round this runtime is asked to answer */
    int round_open;
    unsigned req_flags;
    lrt__jw result;
    struct lrt__snap_parts result_parts;
    uint64_t result_round;
    uint64_t result_pause;      /* how long the runtime thread took for result */
    /* agent thread, under lrt__agent_reg.mu */
    int asked, answered;        /* in the open round; has its snapshot */
    uint64_t seq_seen, seq_since;
    lrt__jw got;
    struct lrt__snap_parts parts;
    uint64_t got_pause;
};

/* The process's runtimes and its one agent. */
struct lrt__agent_reg {
    pthread_mutex_t mu;          /* list, agent, and the records' agent-thread fields */
    struct lrt__agent_rt *list;  /* oldest first */
    unsigned next_index;
    struct lrt__agent *agent;    /* the running agent, NULL when none */
};
extern struct lrt__agent_reg lrt__agent_reg; /* in agent_client.c; run by attach.c */

struct lrt__agent {
    pthread_t thread;
    int lfd, stop_efd, answer_efd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *inbufs;
    struct client clients[MAX_CLIENTS];
    int nclients;

    pthread_mutex_t mu;   /* the records' round fields (with the safe points) */
    /* agent thread only */
    uint64_t round;       /* number of the current or last round */
    int round_open;
    uint64_t round_start;
    unsigned round_flags;
    uint64_t next_capture; /* no round opens before this */
    uint64_t accept_after; /* the listener is not watched before this (out of fds) */
    int reserve_fd;        /* /dev/null, given up to accept a connection at EMFILE */
    /* IDLE_TIMEOUT_NS, or LRT_DUMP_CLIENT_TIMEOUT_MS at start (a test hook: tests drop
     * silent clients in 300 ms instead of 5 s); set before the thread starts, then read-only */
    uint64_t idle_timeout_ns;
    struct lrt__agent_stats stats; /* written by the agent thread, read anywhere (atomics) */
};

static inline void stat_add(uint64_t *counter, uint64_t n) { __atomic_fetch_add(counter, n, __ATOMIC_RELAXED); }

/* ---- agent_client.c: the agent thread's client table ---------------------------------- */
struct reply *lrt__agent_reply_text(const char *text); /* text + newline; NULL: no memory */
void lrt__agent_reply_put(struct reply *r);             /* drop a reference */
/* Queue @r (a reference the client takes over; NULL: close instead) for @c. */
void lrt__agent_client_send(struct lrt__agent *ag, struct client *c, struct reply *r, int close_after);
void lrt__agent_client_error(struct lrt__agent *ag, struct client *c, const char *msg, int close_after);
void lrt__agent_client_close(struct lrt__agent *ag, struct client *c);
void lrt__agent_client_read(struct lrt__agent *ag, struct client *c);
void lrt__agent_client_write(struct lrt__agent *ag, struct client *c);
/* When @c is to be dropped (lrt__mono_ns). */
uint64_t lrt__agent_client_deadline(const struct lrt__agent *ag, const struct client *c);
/* Accept what the listener has (out of fds: back off, see agent_client.c). */
void lrt__agent_accept(struct lrt__agent *ag, uint64_t now);

/* ---- agent.c: rounds and the thread (attach.c starts and stops it) ---------------------- */
void *lrt__agent_main(void *ag);
/* @r leaves the process's runtimes: forget its part of the open round (reg.mu held). */
void lrt__agent_round_leave(struct lrt__agent *ag, struct lrt__agent_rt *r);
/* The inbox drain of dump requests (registered for every runtime by attach.c). */
size_t lrt__agent_drain(struct lrt_runtime *rt, void *ctx);

#endif
