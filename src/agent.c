/* Dump agent (placeholder until the agent lands: answers nothing). */
#include "internal.h"

void lrt__agent_safepoint(struct lrt_runtime *rt)
{
    atomic_store(&rt->dump_request, 0);
}
