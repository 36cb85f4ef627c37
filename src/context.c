/* Initial frame for a task's stack, matching the layout of context_x86_64.S. */
#include "internal.h"

#include <string.h>

void *lrt__ctx_init(void *stack_top, void (*entry)(void *), void *arg)
{
    /* After the switch pops the 64-byte frame the trampoline runs with rsp = top - 16,
     * 16-byte aligned, so its `call` gives the entry function the ABI's rsp % 16 == 8. */
    uintptr_t top = ((uintptr_t)stack_top & ~(uintptr_t)15) - 16;
    uint64_t *f = (uint64_t *)(top - 64);
    memset(f, 0, 64);
    uint32_t mxcsr = 0x1F80;  /* default: all exceptions masked, round to nearest */
    uint16_t fpucw = 0x037F;  /* default x87 control word */
    memcpy((char *)f, &mxcsr, 4);
    memcpy((char *)f + 4, &fpucw, 2);
    f[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    f[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    f[7] = (uint64_t)(uintptr_t)lrt__ctx_entry;
    ((uint64_t *)top)[0] = 0; /* fake return address slot above the trampoline */
    ((uint64_t *)top)[1] = 0;
    return f;
}
