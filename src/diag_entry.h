/*
 * diag_entry.h - what the runtime calls in src/diag/ (agent, stall detector, deadlock
 * report, crash handlers, signal dump); the rest of diag is private to it
 * (src/diag/diag.h).  Kept out of internal.h: only runtime.c, the diag files and their
 * tests need it.
 */
#ifndef LRT_DIAG_ENTRY_H
#define LRT_DIAG_ENTRY_H

#include "internal.h"

/* ---- diag entry points (src/diag/; the rest of diag is private: src/diag/diag.h) ----- */
int lrt__agent_start(struct lrt_runtime *rt);
void lrt__agent_safepoint(struct lrt_runtime *rt); /* runtime thread, between polls */
void lrt__agent_stop(struct lrt_runtime *rt);
/* What the dump agent has done so far (tests, bench): snapshots captured (on the runtime
 * thread or from a stuck one), snapshot replies sent, clients evicted to make room,
 * connections dropped because the process was out of file descriptors.  Any thread;
 * all zero when @rt has no agent. */
struct lrt__agent_stats {
    uint64_t captures, replies, evictions, fd_drops;
};
void lrt__agent_stats(struct lrt_runtime *rt, struct lrt__agent_stats *st);
int lrt__stall_start(struct lrt_runtime *rt);
void lrt__stall_stop(struct lrt_runtime *rt);
/* Print the task table with wait reasons to stderr (deadlock report). */
void lrt__dump_deadlock(struct lrt_runtime *rt);
/* LRT_TRACEBACK (diag/crash.c): fatal-signal handlers, once; re-reads the variable. */
void lrt__crash_install(void);
/* LRT_DUMP_SIGNAL (diag/sigdump.c): runtime thread, at runtime_new / shutdown. */
void lrt__sigdump_start(struct lrt_runtime *rt);
void lrt__sigdump_stop(struct lrt_runtime *rt);

#endif
