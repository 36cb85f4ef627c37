/*
 * select.h — io.c's hooks for select.c (the channel/notify/oneshot hooks are in sync.h).
 * Layer: beside io; runtime thread only.
 */
#ifndef LRT_SELECT_H
#define LRT_SELECT_H

#include "waitq.h"

/* @fd's ready events for @events now (> 0), or a negative errno; 0 = not ready, and then
 * @w (when not NULL) is linked on @fd's readers or writers for the running task @t. */
int lrt__io_sel_poll(struct lrt_task *t, int fd, uint32_t events, lrt__waiter *w);
/* Unlink @w if the waker did not (and uncount it). */
void lrt__io_sel_leave(struct lrt_task *t, lrt__waiter *w);

#endif
