/*
 * agent_conn - the client side of the dump agent's protocol, shared by lrt-dump and
 * lrt-top: find a process's agent socket (or ask a process without an agent to start one:
 * attach, src/diag/attach.c has the process's side), send a request line and read the
 * reply line with bounded waits, retry while the agent's client slots are all busy.
 * docs/diagnosis.md describes the protocol.
 */
#ifndef LRT_TOOLS_AGENT_CONN_H
#define LRT_TOOLS_AGENT_CONN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>

#define AGENT_MAX_REPLY (512u << 20)
/* A duration as lrt's tools word it (850ns, 40ms, 1.3s, 59m58s, 2h05m, 3d04h), into @buf. */
void fmt_dur(uint64_t ns, char *buf, size_t n);
/* fmt_dur of a millisecond count, in a static buffer (for messages; not thread-safe). */
const char *human_ms(uint64_t ms);
#define AGENT_REPLY_TIMEOUTS 12 /* a whole reply, however it trickles in: 12 x the timeout */

/* One connection to one agent. */
struct agent_conn {
    int fd;              /* -1 when closed */
    long pid;            /* 0 when given a socket path */
    uint64_t timeout_ms; /* idle limit of a reply; also how long an attach may take */
    char path[512];      /* the agent's socket, to connect again when it is busy */
    char target[600];    /* "process N" or "the agent at PATH", for messages */
};

/* The program's name in messages ("lrt-dump"); set by main. */
extern const char *agent_prog;
/* Called by agent_die before it prints (lrt-top leaves curses mode there); may be NULL. */
extern void (*agent_before_die)(void);

/* Print "PROG: MESSAGE" on stderr and exit 1. */
void agent_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t agent_now_ms(void);

/* Connect to the Unix socket @path; returns the fd or -errno. */
int agent_connect(const char *path);

/* Send @req (one line) on @fd and read one reply line.  Returns the malloc'd line or NULL
 * with *err set: -ETIMEDOUT when the agent sends nothing for @timeout_ms, -ETIME when the
 * whole reply takes more than AGENT_REPLY_TIMEOUTS times that (a peer dripping bytes),
 * -E2BIG past AGENT_MAX_REPLY bytes, -ECONNRESET when the agent hung up. */
char *agent_roundtrip(int fd, const char *req, uint64_t timeout_ms, int *err);

/* /proc/PID/comm into @out ("?" when unreadable). */
void agent_proc_comm(long pid, char *out, size_t n);

/* Connect @c to the agent of @pid, or to @socket when not NULL (then @pid may be 0);
 * a process without an agent is asked to start one.  Exits 1 (agent_die) with a
 * one-line reason when there is no agent to talk to. */
void agent_open(struct agent_conn *c, long pid, const char *socket, uint64_t timeout_ms);

/* One request and its reply, checked: JSON, not an {"error":...}, and shaped like a
 * snapshot (process and runtime objects, a tasks array).  An agent with all its client
 * slots busy is asked again for up to 2 s, on a new connection.  Returns the parsed reply
 * (the raw line too in *@line_out when given; the caller frees both), or NULL with a
 * one-line reason in @why and *@err: -EBUSY (still busy), -ETIMEDOUT, -ETIME, -E2BIG,
 * -ECONNRESET or another -errno (connection lost: @c->fd is then closed, -1),
 * -EPROTO (not JSON, not a snapshot), -EACCES / -EINVAL (the agent's error). */
json_t *agent_request(struct agent_conn *c, const char *req, char **line_out, char *why, size_t n, int *err);

/* Close @c's connection (idempotent). */
void agent_close(struct agent_conn *c);

/* For lrt-trace record.  1: @pid has liblrt's code mapped, 0: it has not, -errno: its
 * maps are not readable. */
int agent_uses_lrt(long pid);
/* The directory @pid looks for requests in (its LRT_DUMP_DIR, $XDG_RUNTIME_DIR/lrt or
 * /tmp/lrt-UID; "" when unknown), whether it runs with LRT_DUMP=0, its effective uid and
 * gid.  false when its environment is not readable (another user's process). */
bool agent_target_dir(long pid, char *dir, size_t n, bool *forbidden, uid_t *uid, gid_t *gid);

#endif
