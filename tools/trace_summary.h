/*
 * trace_summary.h - lrt-trace summary: per process, per task statistics in bounded
 * memory (histograms, a top-N heap of the longest polls), printed as text or JSON.
 */
#ifndef LRT_TOOLS_TRACE_SUMMARY_H
#define LRT_TOOLS_TRACE_SUMMARY_H

#include <jansson.h>
#include <stdio.h>

#include "trace_model.h"

/* Accounts one event that passed the filters (proc/task from tm_feed).  top = how many
 * longest polls to keep per process.  Returns 0 or -ENOMEM. */
int ts_event(struct tm_model *m, struct tm_proc *p, struct tm_task *t, const struct tr_event *ev,
             unsigned top);

/* The report as a new JSON object (caller owns it); source = what was read; warnings =
 * a JSON array of strings (borrowed).  NULL when out of memory. */
json_t *ts_json(struct tm_model *m, const char *source, json_t *warnings);

/* The report as text on out. */
void ts_print(FILE *out, struct tm_model *m, json_t *warnings);

/* Frees what ts_event allocated (before tm_free). */
void ts_free(struct tm_model *m);

/* The lost-events part of the report (JSON object, caller owns) and the one-paragraph
 * explanation of what they make uncertain. */
json_t *ts_lost_json(const struct tm_model *m);
const char *ts_lost_uncertain(void);

#endif
