/*
 * trace_read.c - the libbabeltrace2 graph of lrt-trace: src.ctf.fs (one per CTF trace
 * under the directory) or src.ctf.lttng-live -> flt.utils.muxer -> a simple sink that
 * decodes each lrt event into a struct tr_event.
 *
 * Measured (docs/tracing.md § lrt-trace performance): the CTF decoding inside
 * src.ctf.fs is most of the time; what this file adds is kept small by resolving field
 * positions once per event class (a pointer-keyed hash) and never looking a field up
 * by name per event.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include "trace_read.h"

#include <babeltrace2/babeltrace.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define KIND_NAME(k, name, ...) name,
static const char *const kind_names[] = { TR_KINDS(KIND_NAME) };
#undef KIND_NAME

/* Field names per kind: a NULL-terminated list, TR_KINDS' order. */
#define KIND_FIELDS(k, name, ...) { __VA_ARGS__, NULL },
static const char *const kind_fields[TR_N_KINDS][TR_MAX_FIELDS + 1] = { TR_KINDS(KIND_FIELDS) };
#undef KIND_FIELDS

const char *tr_kind_name(enum tr_kind k)
{
    return (unsigned)k < TR_N_KINDS ? kind_names[k] : "?";
}

enum ftype { F_NONE, F_UINT, F_SINT, F_STRING, F_ARRAY };

#define MAX_LABEL 32

/* What an event class decodes to, resolved at its first event. */
struct ec_info {
    const bt_event_class *ec;
    int kind;                       /* -1: not an lrt event */
    int idx[TR_MAX_FIELDS];         /* payload member index, -1 if absent */
    unsigned char type[TR_MAX_FIELDS];
    const char *labels[TR_MAX_FIELDS][MAX_LABEL]; /* enum labels by value (borrowed) */
    int ctx_vpid, ctx_vtid, ctx_procname;         /* common context member index or -1 */
};

struct reader {
    tr_event_fn ev_fn;
    tr_lost_fn lost_fn;
    void *arg;
    struct tr_info *info;
    int stop;                       /* the callback's nonzero return */
    struct ec_info **tab;           /* open addressing, keyed by event class pointer */
    size_t cap, n;
    uint64_t ips[TR_MAX_IPS];
};

static size_t ptr_hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 20) & (cap - 1);
}

static int tab_insert(struct reader *r, struct ec_info *e)
{
    if ((r->n + 1) * 2 > r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64;
        struct ec_info **nt = calloc(ncap, sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->tab[i])
                continue;
            size_t h = ptr_hash(r->tab[i]->ec, ncap);
            while (nt[h])
                h = (h + 1) & (ncap - 1);
            nt[h] = r->tab[i];
        }
        free(r->tab);
        r->tab = nt;
        r->cap = ncap;
    }
    size_t h = ptr_hash(e->ec, r->cap);
    while (r->tab[h])
        h = (h + 1) & (r->cap - 1);
    r->tab[h] = e;
    r->n++;
    return 0;
}

static struct ec_info *tab_find(struct reader *r, const bt_event_class *ec)
{
    if (!r->cap)
        return NULL;
    size_t h = ptr_hash(ec, r->cap);
    while (r->tab[h]) {
        if (r->tab[h]->ec == ec)
            return r->tab[h];
        h = (h + 1) & (r->cap - 1);
    }
    return NULL;
}

static int member_index(const bt_field_class *sfc, const char *name)
{
    if (!sfc || bt_field_class_get_type(sfc) != BT_FIELD_CLASS_TYPE_STRUCTURE)
        return -1;
    uint64_t n = bt_field_class_structure_get_member_count(sfc);
    for (uint64_t i = 0; i < n; i++) {
        const bt_field_class_structure_member *m =
            bt_field_class_structure_borrow_member_by_index_const(sfc, i);
        if (strcmp(bt_field_class_structure_member_get_name(m), name) == 0)
            return (int)i;
    }
    return -1;
}

static const bt_field_class *member_class(const bt_field_class *sfc, int i)
{
    return bt_field_class_structure_member_borrow_field_class_const(
        bt_field_class_structure_borrow_member_by_index_const(sfc, (uint64_t)i));
}

static struct ec_info *resolve(struct reader *r, const bt_event_class *ec)
{
    struct ec_info *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ec = ec;
    e->kind = -1;
    const char *name = bt_event_class_get_name(ec);
    const char *short_name = NULL;
    if (name && strncmp(name, "lrt:", 4) == 0)
        short_name = name + 4;
    else if (name && strcmp(name, "lttng_ust_statedump:bin_info") == 0)
        short_name = "bin_info";
    for (int k = 0; short_name && k < TR_N_KINDS; k++) {
        if (strcmp(kind_names[k], short_name) == 0) {
            e->kind = k;
            break;
        }
    }
    if (e->kind >= 0) {
        const bt_field_class *pfc = bt_event_class_borrow_payload_field_class_const(ec);
        for (int f = 0; f < TR_MAX_FIELDS; f++) {
            const char *fname = kind_fields[e->kind][f];
            e->idx[f] = fname ? member_index(pfc, fname) : -1;
            if (e->idx[f] < 0)
                continue;
            const bt_field_class *fc = member_class(pfc, e->idx[f]);
            bt_field_class_type t = bt_field_class_get_type(fc);
            if (bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_UNSIGNED_INTEGER))
                e->type[f] = F_UINT;
            else if (bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_SIGNED_INTEGER))
                e->type[f] = F_SINT;
            else if (t == BT_FIELD_CLASS_TYPE_STRING)
                e->type[f] = F_STRING;
            else if (bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_ARRAY))
                e->type[f] = F_ARRAY;
            else
                e->idx[f] = -1;
            if (!bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_ENUMERATION))
                continue;
            for (int v = 0; v < MAX_LABEL; v++) {
                bt_field_class_enumeration_mapping_label_array labels = NULL;
                uint64_t count = 0;
                bt_field_class_enumeration_get_mapping_labels_for_value_status st =
                    e->type[f] == F_UINT
                        ? bt_field_class_enumeration_unsigned_get_mapping_labels_for_value(
                              fc, (uint64_t)v, &labels, &count)
                        : bt_field_class_enumeration_signed_get_mapping_labels_for_value(
                              fc, v, &labels, &count);
                if (st == BT_FIELD_CLASS_ENUMERATION_GET_MAPPING_LABELS_BY_VALUE_STATUS_OK &&
                    count > 0)
                    e->labels[f][v] = labels[0];
            }
        }
    }
    const bt_stream_class *sc = bt_event_class_borrow_stream_class_const(ec);
    const bt_field_class *cfc = bt_stream_class_borrow_event_common_context_field_class_const(sc);
    e->ctx_vpid = member_index(cfc, "vpid");
    e->ctx_vtid = member_index(cfc, "vtid");
    e->ctx_procname = member_index(cfc, "procname");
    if (tab_insert(r, e) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

static int64_t int_value(const bt_field *f, unsigned char type)
{
    return type == F_UINT ? (int64_t)bt_field_integer_unsigned_get_value(f)
                          : bt_field_integer_signed_get_value(f);
}

static int64_t ctx_int(const bt_field *ctx, int idx)
{
    if (!ctx || idx < 0)
        return -1;
    const bt_field *f = bt_field_structure_borrow_member_field_by_index_const(ctx, (uint64_t)idx);
    bt_field_class_type t = bt_field_get_class_type(f);
    return bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_UNSIGNED_INTEGER)
               ? (int64_t)bt_field_integer_unsigned_get_value(f)
               : bt_field_integer_signed_get_value(f);
}

static int decode(struct reader *r, const bt_message *msg)
{
    const bt_event *event = bt_message_event_borrow_event_const(msg);
    const bt_event_class *ec = bt_event_borrow_class_const(event);
    struct ec_info *e = tab_find(r, ec);
    if (!e && !(e = resolve(r, ec)))
        return -ENOMEM;
    if (e->kind < 0) {
        if (r->info)
            r->info->other_events++;
        return 0;
    }
    struct tr_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = (enum tr_kind)e->kind;
    const bt_clock_snapshot *cs = bt_message_event_borrow_default_clock_snapshot_const(msg);
    if (bt_clock_snapshot_get_ns_from_origin(cs, &ev.ts) != BT_CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK)
        ev.ts = (int64_t)bt_clock_snapshot_get_value(cs);
    const bt_field *ctx = bt_event_borrow_common_context_field_const(event);
    ev.vpid = ctx_int(ctx, e->ctx_vpid);
    ev.vtid = ctx_int(ctx, e->ctx_vtid);
    if (ctx && e->ctx_procname >= 0)
        ev.procname = bt_field_string_get_value(
            bt_field_structure_borrow_member_field_by_index_const(ctx, (uint64_t)e->ctx_procname));
    if (r->info) {
        if (e->ctx_vpid < 0)
            r->info->events_without_vpid++;
        if (e->ctx_procname < 0)
            r->info->events_without_procname++;
    }
    const bt_field *payload = bt_event_borrow_payload_field_const(event);
    for (int f = 0; f < TR_MAX_FIELDS && payload; f++) {
        if (e->idx[f] < 0)
            continue;
        const bt_field *fld =
            bt_field_structure_borrow_member_field_by_index_const(payload, (uint64_t)e->idx[f]);
        switch (e->type[f]) {
        case F_UINT:
        case F_SINT:
            ev.v[f] = int_value(fld, e->type[f]);
            if (ev.v[f] >= 0 && ev.v[f] < MAX_LABEL)
                ev.label[f] = e->labels[f][ev.v[f]];
            break;
        case F_STRING:
            ev.s[f] = bt_field_string_get_value(fld);
            break;
        case F_ARRAY: {
            uint64_t n = bt_field_array_get_length(fld);
            if (n > TR_MAX_IPS)
                n = TR_MAX_IPS;
            for (uint64_t i = 0; i < n; i++) {
                const bt_field *el = bt_field_array_borrow_element_field_by_index_const(fld, i);
                bt_field_class_type t = bt_field_get_class_type(el);
                r->ips[i] = bt_field_class_type_is(t, BT_FIELD_CLASS_TYPE_INTEGER)
                                ? bt_field_integer_unsigned_get_value(el) : 0;
            }
            ev.ips = r->ips;
            ev.n_ips = (unsigned)n;
            break;
        }
        default:
            break;
        }
    }
    return r->ev_fn(&ev, r->arg);
}

static void lost(struct reader *r, const bt_message *msg, bool packets)
{
    const bt_stream *stream;
    const bt_stream_class *sc;
    struct tr_lost l = { .count = -1, .packets = packets, .begin_ns = -1, .end_ns = -1 };
    uint64_t count = 0;
    const bt_clock_snapshot *b = NULL, *e = NULL;
    if (packets) {
        stream = bt_message_discarded_packets_borrow_stream_const(msg);
        sc = bt_stream_borrow_class_const(stream);
        if (bt_message_discarded_packets_get_count(msg, &count) == BT_PROPERTY_AVAILABILITY_AVAILABLE)
            l.count = (int64_t)count;
        if (bt_stream_class_discarded_packets_have_default_clock_snapshots(sc)) {
            b = bt_message_discarded_packets_borrow_beginning_default_clock_snapshot_const(msg);
            e = bt_message_discarded_packets_borrow_end_default_clock_snapshot_const(msg);
        }
    } else {
        stream = bt_message_discarded_events_borrow_stream_const(msg);
        sc = bt_stream_borrow_class_const(stream);
        if (bt_message_discarded_events_get_count(msg, &count) == BT_PROPERTY_AVAILABILITY_AVAILABLE)
            l.count = (int64_t)count;
        if (bt_stream_class_discarded_events_have_default_clock_snapshots(sc)) {
            b = bt_message_discarded_events_borrow_beginning_default_clock_snapshot_const(msg);
            e = bt_message_discarded_events_borrow_end_default_clock_snapshot_const(msg);
        }
    }
    if (b && bt_clock_snapshot_get_ns_from_origin(b, &l.begin_ns) != BT_CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK)
        l.begin_ns = -1;
    if (e && bt_clock_snapshot_get_ns_from_origin(e, &l.end_ns) != BT_CLOCK_SNAPSHOT_GET_NS_FROM_ORIGIN_STATUS_OK)
        l.end_ns = -1;
    char name[64];
    l.stream = bt_stream_get_name(stream);
    if (!l.stream) {
        snprintf(name, sizeof(name), "stream %llu", (unsigned long long)bt_stream_get_id(stream));
        l.stream = name;
    }
    if (r->lost_fn)
        r->lost_fn(&l, r->arg);
}

static bt_graph_simple_sink_component_consume_func_status consume(bt_message_iterator *it, void *data)
{
    struct reader *r = data;
    bt_message_array_const msgs;
    uint64_t count;
    switch (bt_message_iterator_next(it, &msgs, &count)) {
    case BT_MESSAGE_ITERATOR_NEXT_STATUS_OK:
        break;
    case BT_MESSAGE_ITERATOR_NEXT_STATUS_END:
        return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_END;
    case BT_MESSAGE_ITERATOR_NEXT_STATUS_AGAIN:
        return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_AGAIN;
    case BT_MESSAGE_ITERATOR_NEXT_STATUS_MEMORY_ERROR:
        return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_MEMORY_ERROR;
    default:
        return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_ERROR;
    }
    int rc = 0;
    for (uint64_t i = 0; i < count; i++) {
        const bt_message *m = msgs[i];
        if (rc == 0) {
            switch (bt_message_get_type(m)) {
            case BT_MESSAGE_TYPE_EVENT:
                rc = decode(r, m);
                break;
            case BT_MESSAGE_TYPE_DISCARDED_EVENTS:
                lost(r, m, false);
                break;
            case BT_MESSAGE_TYPE_DISCARDED_PACKETS:
                lost(r, m, true);
                break;
            default:
                break;
            }
        }
        bt_message_put_ref(m);
    }
    if (rc != 0) {
        r->stop = rc;
        return rc == -ENOMEM ? BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_MEMORY_ERROR
                             : BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_ERROR;
    }
    return BT_GRAPH_SIMPLE_SINK_COMPONENT_CONSUME_FUNC_STATUS_OK;
}

/* The root cause of the current thread's libbabeltrace2 error on one line (cause 0, the
 * first appended, deepest: "Failed to index CTF stream file ..."), or fallback; clears the error. */
static void bt_message_of_error(char *buf, size_t len, const char *fallback)
{
    const bt_error *err = bt_current_thread_take_error();
    const char *m = NULL;
    if (err && bt_error_get_cause_count(err) > 0)
        m = bt_error_cause_get_message(bt_error_borrow_cause_by_index(err, 0));
    snprintf(buf, len, "%s", m && *m ? m : fallback);
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    if (err)
        bt_error_release(err);
}

/* ---- CTF traces under a directory ---------------------------------------------------- */

static char **found_dirs;
static size_t n_found, cap_found;

static int find_metadata(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type != FTW_F || strcmp(path + ftw->base, "metadata") != 0)
        return 0;
    if (n_found == cap_found) {
        size_t ncap = cap_found ? cap_found * 2 : 8;
        char **n = realloc(found_dirs, ncap * sizeof(*n));
        if (!n)
            return -1;
        found_dirs = n;
        cap_found = ncap;
    }
    found_dirs[n_found] = strndup(path, (size_t)ftw->base ? (size_t)ftw->base - 1 : 0);
    if (!found_dirs[n_found])
        return -1;
    n_found++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_found(void)
{
    for (size_t i = 0; i < n_found; i++)
        free(found_dirs[i]);
    free(found_dirs);
    found_dirs = NULL;
    n_found = cap_found = 0;
}

/* libbabeltrace2 2.0.4 loops forever (fwrite of 0 bytes) on a packetized metadata file
 * whose last packet is cut short: check every packet fits in the file first.  Packet
 * header (CTF 1.8 § 7.1): magic, uuid[16], checksum, content_size, packet_size (bits),
 * 5 one-byte fields = 37 bytes.  Returns 0 or -1 with the reason in why. */
static int check_metadata(const char *dir, const char **why)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/metadata", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = "cannot open the metadata file";
        return -1;
    }
    int rc = 0;
    unsigned char h[37];
    long off = 0;
    *why = NULL;
    for (;;) {
        size_t n = fread(h, 1, sizeof(h), f);
        if (n == 0)
            break;
        uint32_t magic = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        bool le = magic == 0x75D11D57u, be = magic == 0x571DD175u;
        if (!le && !be)
            break;  /* plain-text metadata (or garbage): the CTF parser judges it */
        if (n < sizeof(h)) {
            rc = -1;
            break;
        }
#define U32(p) (le ? ((uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | (uint32_t)(p)[2] << 16 | (uint32_t)(p)[3] << 24) \
                   : ((uint32_t)(p)[3] | (uint32_t)(p)[2] << 8 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[0] << 24))
        uint32_t content = U32(h + 24), packet = U32(h + 28);
#undef U32
        if (packet % 8 || content > packet || content < sizeof(h) * 8 || packet / 8 > 1u << 30) {
            rc = -1;
            break;
        }
        off += (long)(packet / 8);
        if (fseek(f, off, SEEK_SET) != 0) {
            rc = -1;
            break;
        }
        /* the packet must be entirely in the file */
        int c = off > 0 ? (fseek(f, off - 1, SEEK_SET), fgetc(f)) : 0;
        if (c == EOF) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc < 0)
        *why = "the metadata file is cut short or corrupt (a metadata packet extends past its end)";
    return rc;
}

/* ---- the graph ------------------------------------------------------------------------ */

static int add_source(bt_graph *g, const bt_component_class_source *cc, const char *name,
                      const char *input, bool live, const bt_component_filter *mux)
{
    bt_value *params = bt_value_map_create();
    bt_value *inputs = bt_value_array_create();
    int rc = -1;
    const bt_component_source *src = NULL;
    if (!params || !inputs || bt_value_array_append_string_element(inputs, input) ||
        bt_value_map_insert_entry(params, "inputs", inputs))
        goto out;
    if (live && bt_value_map_insert_string_entry(params, "session-not-found-action", "end"))
        goto out;
    if (bt_graph_add_source_component(g, cc, name, params, BT_LOGGING_LEVEL_NONE, &src) !=
        BT_GRAPH_ADD_COMPONENT_STATUS_OK)
        goto out;
    uint64_t n = bt_component_source_get_output_port_count(src);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t nin = bt_component_filter_get_input_port_count(mux);
        const bt_port_input *in = bt_component_filter_borrow_input_port_by_index_const(mux, nin - 1);
        if (bt_graph_connect_ports(g, bt_component_source_borrow_output_port_by_index_const(src, i),
                                   in, NULL) != BT_GRAPH_CONNECT_PORTS_STATUS_OK)
            goto out;
    }
    rc = 0;
out:
    bt_value_put_ref(inputs);
    bt_value_put_ref(params);
    return rc;
}

int tr_read(const char *source, bool live, tr_event_fn ev_fn, tr_lost_fn lost_fn, void *arg,
            struct tr_info *info, char *err, size_t errlen)
{
    struct reader r = { .ev_fn = ev_fn, .lost_fn = lost_fn, .arg = arg, .info = info };
    const bt_plugin *ctf = NULL, *utils = NULL;
    bt_graph *g = NULL;
    int rc = -1;

    if (info)
        memset(info, 0, sizeof(*info));
    if (!live) {
        struct stat st;
        if (stat(source, &st) < 0) {
            snprintf(err, errlen, "cannot open trace %s: %s", source, strerror(errno));
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot open trace %s: not a directory (give the trace "
                     "directory that lttng wrote)", source);
            return -1;
        }
        if (nftw(source, find_metadata, 32, FTW_PHYS) != 0) {
            snprintf(err, errlen, "cannot read %s: %s", source, strerror(errno ? errno : ENOMEM));
            free_found();
            return -1;
        }
        if (n_found == 0) {
            snprintf(err, errlen, "cannot open trace %s: no CTF trace in it (no metadata file)",
                     source);
            free_found();
            return -1;
        }
        qsort(found_dirs, n_found, sizeof(*found_dirs), cmp_str);
        for (size_t i = 0; i < n_found; i++) {
            const char *why;
            if (check_metadata(found_dirs[i], &why) < 0) {
                snprintf(err, errlen, "cannot open trace %s: %s", found_dirs[i], why);
                free_found();
                return -1;
            }
        }
    }
    if (bt_plugin_find("ctf", BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, BT_FALSE, &ctf) != BT_PLUGIN_FIND_STATUS_OK ||
        bt_plugin_find("utils", BT_TRUE, BT_TRUE, BT_TRUE, BT_TRUE, BT_FALSE, &utils) != BT_PLUGIN_FIND_STATUS_OK) {
        bt_message_of_error(err, errlen, "");
        snprintf(err, errlen, "cannot load the babeltrace2 plugins ctf and utils (install babeltrace2)");
        goto out;
    }
    const bt_component_class_source *src_cc =
        bt_plugin_borrow_source_component_class_by_name_const(ctf, live ? "lttng-live" : "fs");
    const bt_component_class_filter *mux_cc =
        bt_plugin_borrow_filter_component_class_by_name_const(utils, "muxer");
    const bt_component_filter *mux = NULL;
    const bt_component_sink *sink = NULL;
    g = bt_graph_create(0);
    if (!src_cc || !mux_cc || !g) {
        snprintf(err, errlen, "cannot set up libbabeltrace2 (missing ctf/utils components)");
        goto out;
    }
    if (bt_graph_add_filter_component(g, mux_cc, "muxer", NULL, BT_LOGGING_LEVEL_NONE, &mux) !=
        BT_GRAPH_ADD_COMPONENT_STATUS_OK) {
        bt_message_of_error(err, errlen, "cannot create the muxer");
        goto out;
    }
    if (live) {
        if (add_source(g, src_cc, "live", source, true, mux) < 0) {
            char m[512];
            bt_message_of_error(m, sizeof(m), "cannot connect");
            snprintf(err, errlen, "cannot open %s: %s", source, m);
            goto out;
        }
    } else {
        for (size_t i = 0; i < n_found; i++) {
            char name[32];
            snprintf(name, sizeof(name), "src%zu", i);
            if (add_source(g, src_cc, name, found_dirs[i], false, mux) < 0) {
                char m[512];
                bt_message_of_error(m, sizeof(m), "not a readable CTF trace");
                snprintf(err, errlen, "cannot open trace %s: %s", found_dirs[i], m);
                goto out;
            }
        }
    }
    if (bt_graph_add_simple_sink_component(g, "lrt-trace", NULL, consume, NULL, &r, &sink) !=
            BT_GRAPH_ADD_COMPONENT_STATUS_OK ||
        bt_graph_connect_ports(g, bt_component_filter_borrow_output_port_by_index_const(mux, 0),
                               bt_component_sink_borrow_input_port_by_index_const(sink, 0),
                               NULL) != BT_GRAPH_CONNECT_PORTS_STATUS_OK) {
        bt_message_of_error(err, errlen, "cannot connect the graph");
        goto out;
    }
    for (;;) {
        bt_graph_run_status st = bt_graph_run(g);
        if (st == BT_GRAPH_RUN_STATUS_OK)
            break;
        if (st == BT_GRAPH_RUN_STATUS_AGAIN) {
            struct timespec ts = { 0, 50 * 1000000 };
            nanosleep(&ts, NULL);
            continue;
        }
        if (r.stop && r.stop != -ENOMEM) {
            bt_current_thread_clear_error();
            rc = r.stop;
            goto out;
        }
        char m[512];
        bt_message_of_error(m, sizeof(m), st == BT_GRAPH_RUN_STATUS_MEMORY_ERROR ? "out of memory" : "error");
        snprintf(err, errlen, "cannot read trace %s: %s", source, m);
        goto out;
    }
    rc = 0;
out:
    bt_graph_put_ref(g);
    bt_plugin_put_ref(ctf);
    bt_plugin_put_ref(utils);
    for (size_t i = 0; i < r.cap; i++)
        free(r.tab[i]);
    free(r.tab);
    free_found();
    return rc;
}
