/*
 * trace_model.h - what lrt-trace knows about a trace while streaming it: processes
 * (by vpid, named by procname), their tasks (by (vpid, task id), named by task_spawn or
 * the statedump's task_info), the filters, enum labels, and bounded-memory latency
 * histograms.  Memory grows with the number of processes and tasks, never with the
 * number of events.  Single-threaded.
 */
#ifndef LRT_TOOLS_TRACE_MODEL_H
#define LRT_TOOLS_TRACE_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_read.h"

#define TM_MAX_LABEL 32

/* Log-bucket histogram: 2^sub_bits buckets per power of two (relative error <=
 * 2^-sub_bits), exact count, sum and max.  Buckets allocated at the first value. */
struct tm_hist {
    uint64_t count, sum, max;
    uint32_t *b;
    uint8_t sub_bits;
};
void tm_hist_init(struct tm_hist *h, unsigned sub_bits);
/* Returns 0 or -ENOMEM (the value is then counted in count/sum/max only). */
int tm_hist_add(struct tm_hist *h, uint64_t v);
/* Nearest-rank percentile p (0..100): the middle of its bucket, at most max. 0 if empty. */
uint64_t tm_hist_pct(const struct tm_hist *h, double p);
void tm_hist_free(struct tm_hist *h);

struct tm_task {
    int64_t vpid;
    uint64_t id, parent;
    uint32_t serial;        /* order of appearance in its process (Chrome track) */
    char *name, *file, *func, *state;   /* owned; name "task" until known */
    int line;
    bool named;             /* by task_spawn or task_info */
    bool from_statedump;    /* named by task_info: born before the recording */
    bool matches;           /* passes --task */
    bool terminated;
    int64_t status;
    int64_t spawned_ns;
    int64_t poll_start;     /* -1: not in a poll */
    int64_t pending_wake;   /* first wake since the last poll end, -1: none */
    uint64_t events;        /* that passed the filters */
    uint64_t polls, busy, max_poll;
    struct tm_hist wake;    /* wake -> poll latency; buckets freed at terminate */
    uint64_t wake_p50, wake_p99;        /* kept when the buckets are freed */
    uint32_t results[TM_MAX_LABEL], wakers[TM_MAX_LABEL];
    void *chrome;           /* trace_chrome.c's per-task state */
};

struct tm_proc {
    int64_t vpid;           /* -1: the trace has no vpid context */
    char *procname;         /* owned, NULL until seen */
    uint32_t serial;
    uint64_t events;
    uint64_t counts[TR_N_KINDS];
    struct tm_task **tasks; /* in order of appearance */
    size_t n_tasks, cap_tasks;
    char *driver, *driver_reason;   /* last driver_select */
    void *summary;          /* trace_summary.c's per-process state */
    bool chrome_named;      /* trace_chrome.c wrote its process_name */
};

struct tm_filter {
    int64_t pid;            /* -1: all */
    bool task_set;
    uint64_t task_id;
    const char *task_name;  /* NULL: by id */
    int64_t from, to;       /* absolute ns, or offsets from the first event when *_rel */
    bool from_set, to_set, from_rel, to_rel;
};

/* Discarded events of one stream, summed. */
struct tm_lost_stream {
    char *stream;
    uint64_t events, batches_unknown, packets;
    int64_t begin_ns, end_ns;           /* first and last time covered, -1 unknown */
};

struct tm_model {
    struct tm_filter filter;
    int64_t first_ts, last_ts;          /* of every lrt event read, -1 before the first */
    int64_t from_abs, to_abs;           /* the window, resolved at the first event */
    uint64_t events_read;               /* every lrt event, filters or not */
    uint64_t events;                    /* events that passed the filters */
    int64_t pass_first, pass_last;      /* their first and last timestamps, -1: none */
    struct tm_proc **procs;
    size_t n_procs, cap_procs;
    struct tm_task **tab;               /* (vpid, id) -> latest task of that id */
    size_t tab_cap, tab_n;
    char *labels[3][TM_MAX_LABEL];      /* poll_result, waker_kind, io_op */
    struct tm_lost_stream *lost;
    size_t n_lost;
    uint64_t lost_events, lost_unknown, lost_packets;
    bool oom;
};

enum { TM_LABEL_RESULT, TM_LABEL_WAKER, TM_LABEL_IO_OP };

/* Parses "2.5s", "300ms", "10us", "42ns" (an offset: *rel = true) or "123456789" (an
 * absolute ns timestamp).  Returns 0 or -EINVAL. */
int tm_parse_time(const char *s, int64_t *ns, bool *rel);

void tm_init(struct tm_model *m, const struct tm_filter *f);
void tm_free(struct tm_model *m);

/* Whether the event's kind names a task in v[0]. */
bool tm_kind_has_task(enum tr_kind k);

/* Feeds one event to the model: process and task naming (always, even outside the
 * filters), then returns the process and task it concerns and whether it passes the
 * filters (pid, task, time window).  *task is NULL for events without a task. */
bool tm_feed(struct tm_model *m, const struct tr_event *ev, struct tm_proc **proc,
             struct tm_task **task);

/* The latest task (vpid, id), NULL if unknown. */
struct tm_task *tm_task_find(struct tm_model *m, int64_t vpid, uint64_t id);

/* Records a discarded-events/packets message. */
void tm_lost(struct tm_model *m, const struct tr_lost *l);

/* Label of an enum value (TM_LABEL_*), "?" (or the number in buf) if unknown. */
const char *tm_label(const struct tm_model *m, int which, int64_t v, char *buf, size_t len);

/* ns as "12.3 us" in buf. */
const char *tm_fmt_ns(int64_t ns, char *buf, size_t len);

/* Processes sorted by vpid (for output). */
void tm_sort_procs(struct tm_model *m);

#endif
