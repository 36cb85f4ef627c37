/*
 * lrt_strerror: the text of an lrt error code.  Bottom layer (calls only libc, no
 * state), so that remote.c and the diagnosis code reach it without depending on the
 * runtime's lifecycle.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

const char *lrt_strerror(int err)
{
    /* strerrordesc_np, not strerror: the text of an unknown code would live in a
     * per-thread buffer that the next strerror() call overwrites. */
    if (err == INT_MIN)
        return "Unknown error"; /* -INT_MIN overflows */
    if (err < 0)
        err = -err;
    if (err == 0)
        return "Success";
    const char *s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}
