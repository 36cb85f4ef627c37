/* Snapshots of the runtime state: the deadlock report (text). */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>

static void fmt_wait(const struct lrt_task *t, char *buf, size_t n)
{
    switch (t->wait_kind) {
    case LRT__WAIT_FD:
        snprintf(buf, n, "fd %" PRIu64 " (%s)", t->wait_aux,
                 (t->wait_aux2 & 0x004) ? "write" : "read");
        break;
    case LRT__WAIT_SLEEP:
        snprintf(buf, n, "sleep until %" PRIu64 " ns", t->wait_aux);
        break;
    case LRT__WAIT_JOIN:
        snprintf(buf, n, "join of task %" PRIu64, t->wait_aux);
        break;
    case LRT__WAIT_BLOCKING:
        snprintf(buf, n, "blocking job %" PRIu64, t->wait_aux);
        break;
    case LRT__WAIT_NONE:
        snprintf(buf, n, "-");
        break;
    default:
        snprintf(buf, n, "%s %p", lrt__wait_names[t->wait_kind], t->wait_obj);
        break;
    }
}

void lrt__dump_deadlock(struct lrt_runtime *rt)
{
    uint64_t now = lrt__coarse_ns();
    fprintf(stderr, "%-6s %-20s %-10s %-32s %10s  %s\n", "ID", "NAME", "STATE", "WAITING ON", "FOR",
            "SPAWNED AT");
    for (lrt__link *n = rt->tasks.next; n != &rt->tasks; n = n->next) {
        const struct lrt_task *t = lrt__container_of(n, struct lrt_task, all);
        char wait[64];
        fmt_wait(t, wait, sizeof wait);
        double ms = now > t->state_since ? (double)(now - t->state_since) / 1e6 : 0.0;
        fprintf(stderr, "%-6" PRIu64 " %-20.20s %-10s %-32.32s %8.0fms  %s:%d (%s)\n", t->id, t->name,
                lrt__state_names[t->state], wait, ms, t->file, t->line, t->func);
    }
}
