/*
 * Probes of the "lrt" provider: built into liblrt-tp.so, which links liblttng-ust.
 * liblrt.so only holds the call sites (dynamic linkage, src/trace.c); load this library
 * with LD_PRELOAD=liblrt-tp.so, or let lrt dlopen it when LRT_TRACE=1.
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "lrt_tp.h"
