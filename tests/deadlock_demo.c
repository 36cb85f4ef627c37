/*
 * deadlock_demo - a process for tests/t-cycles.sh: two tasks deadlocked on two named
 * mutexes (the ledger and the auditor), one more pair on two unnamed channels, and a
 * healthy task that keeps the runtime alive (it sleeps in a loop), so the runtime never
 * sees a global deadlock and only the wait-for graph can tell.  The dump agent is on.
 * Prints "ready" on stdout once the cycles are in place; exits by itself after 60 s.
 */
#include <lrt/lrt.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lrt_mutex_t *accounts, *audit;
static lrt_chan_t *ping, *pong;

static void *ledger(void *arg)
{
    (void)arg;
    lrt_mutex_lock(accounts);
    lrt_yield();
    lrt_mutex_lock(audit);
    return NULL;
}

static void *auditor(void *arg)
{
    (void)arg;
    lrt_mutex_lock(audit);
    lrt_yield();
    lrt_mutex_lock(accounts);
    return NULL;
}

static void *player(void *arg)
{
    bool first = arg != NULL;
    void *m;
    lrt_chan_send(first ? pong : ping, NULL);
    lrt_chan_recv(first ? ping : pong, &m);
    lrt_chan_recv(first ? ping : pong, &m);
    return NULL;
}

static void *root(void *arg)
{
    (void)arg;
    accounts = lrt_mutex_new();
    audit = lrt_mutex_new();
    lrt_mutex_set_name(accounts, "accounts");
    lrt_mutex_set_name(audit, "audit");
    ping = lrt_chan_new(0);
    pong = lrt_chan_new(0);
    lrt_task_detach(lrt_spawn_named("ledger", ledger, NULL));
    lrt_task_detach(lrt_spawn_named("auditor", auditor, NULL));
    lrt_task_detach(lrt_spawn_named("ping", player, (void *)1));
    lrt_task_detach(lrt_spawn_named("pong", player, NULL));
    for (int i = 0; i < 10; i++)
        lrt_yield();
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 600; i++) /* healthy: the runtime is never globally stuck */
        lrt_sleep_ms(100);
    _exit(0); /* the deadlocked tasks cannot be joined: leave without tearing down */
}

int main(void)
{
    alarm(120);
    lrt_options_t o;
    memset(&o, 0, sizeof o);
    o.dump_agent = 1;
    lrt_runtime_t *rt = lrt_runtime_new(&o);
    if (!rt)
        return 1;
    return lrt_block_on(rt, root, NULL, NULL) == 0 ? 0 : 1;
}
