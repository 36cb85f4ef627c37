/*
 * trace_chrome.h - lrt-trace chrome: Chrome/Perfetto trace-event JSON written while the
 * trace streams (constant memory: per-task state only), plain or gzip (zlib).
 */
#ifndef LRT_TOOLS_TRACE_CHROME_H
#define LRT_TOOLS_TRACE_CHROME_H

#include <jansson.h>
#include <stdbool.h>

#include "trace_model.h"

struct tc_writer;

/* Opens path ("-": standard output) for writing; gzip compresses.  Returns the writer
 * or NULL with errno set. */
struct tc_writer *tc_open(const char *path, bool gzip);

/* Writes what one event (that passed the filters) shows.  Call before ts_event() for
 * the same event (it reads the poll state that ts_event updates).  Returns 0 or a
 * negative errno (write error, ENOMEM). */
int tc_event(struct tc_writer *w, struct tm_model *m, struct tm_proc *p, struct tm_task *t,
             const struct tr_event *ev);

/* Ends the JSON (otherData: source, lost events, warnings) and closes the file.
 * Returns 0 or a negative errno; frees the writer and the per-task state either way. */
int tc_close(struct tc_writer *w, struct tm_model *m, const char *source, json_t *warnings);

#endif
