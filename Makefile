# lrt — plain Makefile.  `make demo`, `make test`, `make bench`, `make install`.
# Options: V=1 (show commands), SANITIZE=address,undefined, TRACE=0 (tracepoints compiled
# out), CFLAGS=..., PREFIX=/usr/local, DESTDIR=.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/lrt
DATADIR ?= $(PREFIX)/share/lrt
CC      ?= gcc
CFLAGS  ?= -O2 -g
TRACE   ?= 1
SANITIZE ?=

ifneq ($(SANITIZE),)
BUILD ?= build/sanitize
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(TRACE),0)
BUILD ?= build/notrace
else
BUILD ?= build
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes
# A frame larger than a page must probe each page, or it can step over a task stack's
# guard page into the neighbouring stack unnoticed (gcc 12 does not do it by default).
# lrt is built with it and lrt.pc hands it to applications, whose frames run on the same
# stacks.  Every gcc >= 8 and clang >= 11 has it; the probe keeps other compilers working.
STACK_CLASH := $(shell $(CC) -fstack-clash-protection -E -x c /dev/null >/dev/null 2>&1 \
                 && echo -fstack-clash-protection)
CPPFLAGS += -Iinclude -Isrc -Itracepoints -D_GNU_SOURCE -DLTTNG_UST_COMPAT_API_VERSION=1 \
            -DLRT_TRACE_ENABLED=$(TRACE)
ALLCFLAGS = -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden -MMD -MP
LDLIBS   := -lunwind -ljansson -luring -lpthread -ldl

LIB_SRCS := $(wildcard src/*.c src/diag/*.c) src/context_x86_64.S
LIB_OBJS := $(patsubst src/%,$(BUILD)/obj/%.o,$(LIB_SRCS))
TP_OBJ   := $(BUILD)/obj/tp/lrt_tp.c.o
TEST_SRCS := $(wildcard tests/test_*.c) tests/runner.c
TEST_OBJS := $(patsubst tests/%,$(BUILD)/obj/tests/%.o,$(TEST_SRCS))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# tools/agent_conn.c is not a program: the dump agent's client, linked into each tool
TOOL_LIB := tools/agent_conn.c
# tools/trace_*.c are lrt-trace's modules (trace_record* belongs to lrt-trace-record)
TRACE_SRCS := $(filter-out tools/trace_record%,$(wildcard tools/trace_*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/tools/%,$(filter-out $(TOOL_LIB) tools/trace_%.c,$(wildcard tools/*.c)))

SO   := $(BUILD)/liblrt.so
A    := $(BUILD)/liblrt.a
TPSO := $(BUILD)/liblrt-tp.so
RUNNER := $(BUILD)/tests/lrt-tests
# programs the shell tests run (tests/t-*.sh), not part of the CUnit runner
TEST_PROGS := $(BUILD)/tests/stdio_echo $(BUILD)/tests/deadlock_demo $(BUILD)/tests/core_victim \
              $(BUILD)/tests/trace_fake

.PHONY: all deps deps-check demo test check-unit check-scripts check-exports check-layering check-valgrind bench bench-trace \
        bench-trace-analysis \
        install uninstall clean
all: $(SO) $(A) $(TPSO) $(TOOLS) $(EXAMPLES) $(RUNNER) $(TEST_PROGS)

# ---- dependencies --------------------------------------------------------------------
# `make deps` (and demo, test) installs missing Debian packages when run as root.  Every
# other build checks first (one dpkg-query, ~12 ms) and stops with the exact apt-get line
# before compiling anything: deps-check is an order-only prerequisite of everything that
# is compiled.  It checks for all that the goals on the command line need, so that one
# line names every missing package; a plain `make install` never asks for test packages.
deps:
	$(Q)tools/setup-deps.sh

DEPS_GOALS := $(or $(MAKECMDGOALS),all)
DEPS_TIERS := lib \
    $(if $(filter all install demo $(TOOLS),$(DEPS_GOALS)),tools) \
    $(if $(filter all test check-unit check-scripts $(RUNNER) $(TEST_OBJS),$(DEPS_GOALS)),tests)
deps-check:
	$(Q)tools/setup-deps.sh --check $(DEPS_TIERS)


# liblrt's code goes into one section, lrt_text, whose bounds (__start_lrt_text,
# __stop_lrt_text) tell the backtrace trimming which frames are lrt's, with no list of
# names, in liblrt.so and in a program linked with liblrt.a alike (src/diag/unwind.c).
# src/diag/*.c compile to $(BUILD)/obj/diag/ through the same rule, lrt_text included.
# One recipe line, the object removed on failure: when another job fails make starts no
# further line, and an object compiled but not renamed would look up to date (its code
# then counted as the user's by the trimming).
LRT_TEXT = objcopy $$(objdump -h $@ | awk '$$2 ~ /^\.text/ {printf " --rename-section %s=lrt_text", $$2}') $@

$(BUILD)/obj/%.c.o: src/%.c | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $< && $(LRT_TEXT) || { rm -f $@; exit 1; }

$(BUILD)/obj/%.S.o: src/%.S | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $< && $(LRT_TEXT) || { rm -f $@; exit 1; }

$(SO): $(LIB_OBJS) src/lrt.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) $(SANFLAGS) -Wl,-soname,liblrt.so.0 -Wl,--version-script=src/lrt.map \
	    -o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf liblrt.so $(BUILD)/liblrt.so.0

$(A): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(TP_OBJ): tracepoints/lrt_tp.c tracepoints/lrt_tp.h | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(TPSO): $(TP_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) -o $@ $< -Wl,--no-as-needed -llttng-ust -ldl

$(BUILD)/obj/tests/%.c.o: tests/%.c | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -fvisibility=default -c -o $@ $<

$(RUNNER): $(TEST_OBJS) $(A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -rdynamic -o $@ $(TEST_OBJS) $(A) -lcunit $(LDLIBS)

$(TEST_PROGS): $(BUILD)/tests/%: tests/%.c $(A) | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ $< \
	    $(A) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(SO) | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ $< \
	    -L$(BUILD) -llrt -Wl,-rpath,'$$ORIGIN/..:$$ORIGIN/../lib'

# lrt-trace reads traces with libbabeltrace2 and writes gzip with zlib (the tools tier of
# setup-deps.sh); it does not link liblrt
$(BUILD)/tools/lrt-trace: tools/lrt-trace.c $(TRACE_SRCS) $(wildcard tools/trace_*.h) | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ \
	    tools/lrt-trace.c $(TRACE_SRCS) -lbabeltrace2 -ljansson -lz

# lrt-top draws with ncurses (libncurses-dev, the tools tier of setup-deps.sh)
$(BUILD)/tools/lrt-top: TOOL_LDLIBS := -lncurses
$(BUILD)/tools/%: tools/%.c $(TOOL_LIB) tools/agent_conn.h $(SO) | deps-check
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(STACK_CLASH) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ $< \
	    $(TOOL_LIB) -L$(BUILD) -llrt -ljansson -ldw -lelf $(TOOL_LDLIBS) -Wl,-rpath,'$$ORIGIN/..:$$ORIGIN/../lib'

# lrt-dump --core runs gdb with lrt-gdb.py, found at ../share/lrt/ from lrt-dump's own
# directory: here in the build tree, $(DATADIR) once installed.
GDB_PY := $(BUILD)/share/lrt/lrt-gdb.py
$(BUILD)/tools/lrt-dump: $(GDB_PY)
$(GDB_PY): tools/lrt-gdb.py
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

# ---- main job and tests ------------------------------------------------------------
# The demo needs the library, lrt-dump and the showcase: not the test packages.
demo:
	$(Q)tools/setup-deps.sh lib tools
	$(Q)$(MAKE) --no-print-directory $(SO) $(TOOLS) $(EXAMPLES)
	$(Q)BUILD=$(BUILD) tools/demo.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory check-exports check-layering check-unit check-scripts
	$(Q)[ -n "$(SANITIZE)" ] || $(MAKE) --no-print-directory check-valgrind

check-exports: $(SO)
	$(Q)BUILD=$(BUILD) tests/check-exports.sh

# No cycle between source files, no source file over 700 lines (docs/CONTRIBUTING-internal.md).
check-layering: $(LIB_OBJS)
	$(Q)BUILD=$(BUILD) tests/check-layering.sh

# Every test step is bounded, so a hang fails `make test` with a message instead of
# eating CI's 90 minutes: the CUnit suite 10 minutes, each script 5 (KILL 10 s later).
# The whole suite runs on the default backend (auto: io_uring where the kernel allows it),
# then the I/O suites again on epoll: both backends every time (issue 15).  The uring
# suite forces io_uring itself (and says it skipped where the kernel refuses it).
IO_SUITES := io net dgram reader select signal process file
check-unit: $(RUNNER)
	$(Q)timeout -k 10 600 $(RUNNER) || { rc=$$?; [ $$rc = 124 ] && echo "check-unit: timed out after 600 s"; exit $$rc; }
	$(Q)echo "check-unit: the I/O suites again with LRT_DRIVER=epoll"
	$(Q)LRT_DRIVER=epoll timeout -k 10 600 $(RUNNER) $(IO_SUITES) || { rc=$$?; [ $$rc = 124 ] && echo "check-unit: timed out after 600 s"; exit $$rc; }

# The OS surfaces (signals, processes, lookups, files, datagrams, buffered reads) under
# valgrind: leaks and invalid accesses in the code that hands buffers to other threads
# and processes.  Not with SANITIZE (ASan and valgrind exclude each other).  On epoll:
# valgrind does not model io_uring (with LRT_DRIVER=uring every pool job hung, then a
# crash; auto picks epoll under valgrind by itself); ASan runs both backends.
VALGRIND_SUITES := signal process net file dgram reader
check-valgrind: $(RUNNER)
	$(Q)LRT_DRIVER=epoll timeout -k 10 600 valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=9 --child-silent-after-fork=yes --suppressions=tests/valgrind.supp \
	    $(RUNNER) $(VALGRIND_SUITES) >$(BUILD)/valgrind.log 2>&1 || \
	    { rc=$$?; tail -40 $(BUILD)/valgrind.log; echo "check-valgrind: failed ($$rc), log in $(BUILD)/valgrind.log"; exit 1; }
	$(Q)grep -E "^ +tests " $(BUILD)/valgrind.log | sed 's/^ */check-valgrind: $(VALGRIND_SUITES): /'

check-scripts: all
	$(Q)set -e; for t in tests/t-*.sh; do [ -e "$$t" ] || continue; \
	    echo "== $$t"; BUILD=$(BUILD) SANITIZE=$(SANITIZE) timeout -k 10 300 $$t || \
	    { rc=$$?; [ $$rc = 124 ] && echo "$$t: timed out after 300 s"; exit $$rc; }; done

# ---- benchmarks (never part of test) -----------------------------------------------
bench: deps-check
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-lib CFLAGS="-O2 -g" build/bench-lib/liblrt.a
	$(Q)mkdir -p build/bench
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g -o build/bench/lrt-bench bench/lrt_bench.c \
	    build/bench-lib/liblrt.a $(LDLIBS)
	@echo "built build/bench/lrt-bench"
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-nobook CFLAGS="-O2 -g -DLRT_BOOKKEEPING=0" \
	    build/bench-nobook/liblrt.a
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g -o build/bench-nobook/lrt-bench bench/lrt_bench.c \
	    build/bench-nobook/liblrt.a $(LDLIBS)
	@echo "built build/bench-nobook/lrt-bench (per-task time bookkeeping compiled out, for comparison)"
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-nt CFLAGS="-O2 -g" TRACE=0 build/bench-nt/liblrt.a
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g -o build/bench-nt/lrt-bench bench/lrt_bench.c \
	    build/bench-nt/liblrt.a $(LDLIBS)
	@echo "built build/bench-nt/lrt-bench (tracepoints compiled out, for comparison; bench/overhead.sh)"
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-nohist CFLAGS="-O2 -g -DLRT_HISTORY=0" \
	    build/bench-nohist/liblrt.a
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g -o build/bench-nohist/lrt-bench bench/lrt_bench.c \
	    build/bench-nohist/liblrt.a $(LDLIBS)
	@echo "built build/bench-nohist/lrt-bench (task history ring compiled out, for comparison)"
	$(Q)$(MAKE) --no-print-directory bench-trace
	@echo "bench/drivers.sh: file reads and the echo on epoll and on io_uring, side by side (issue 15)"
	$(Q)bench/drivers.sh
	@echo "bench/agent_load.sh: what a client looping on snapshots costs the echo server (docs/performance.md)"
	$(Q)bench/agent_load.sh
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g -o build/bench/attach_cost bench/attach_cost.c \
	    build/bench-lib/liblrt.a $(LDLIBS)
	@echo "bench/attach_cost.c: what attaching on demand costs a process nobody attaches to"
	$(Q)build/bench/attach_cost check
	$(Q)build/bench/attach_cost idle 3
	$(Q)LRT_DUMP=0 build/bench/attach_cost idle 3

# Tracepoint cost: the same program against liblrt with tracing compiled in and out.
bench-trace: deps-check
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-trace build/bench-trace/liblrt.so build/bench-trace/liblrt-tp.so
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-notrace TRACE=0 build/bench-notrace/liblrt.so
	$(Q)for b in build/bench-trace build/bench-notrace; do $(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g \
	    -o $$b/trace_cost bench/trace_cost.c -L$$b -llrt -Wl,-rpath,'$$ORIGIN'; done
	@echo "built build/bench-trace/trace_cost and build/bench-notrace/trace_cost (see docs/tracing.md)"
	$(Q)$(MAKE) --no-print-directory bench-trace-analysis

# lrt-trace on a 5.6M-event trace recorded by trace_cost (docs/tracing.md § lrt-trace speed)
bench-trace-analysis: deps-check $(BUILD)/tools/lrt-trace
	$(Q)BENCH_BUILD=build/bench-trace BUILD=$(BUILD) bench/trace_analysis.sh

# ---- install -----------------------------------------------------------------------
# Only what is installed is built: no test runner, so no test-only packages.  lrt.pc is
# written here, so it always names the PREFIX of this install.  Static linking pulls the
# dependencies' own static needs (libunwind's -llzma) through Requires.private.
# The man page link pages (`man lrt_join`) are generated from the header, one per public
# function: the list cannot go stale (tests/t-install.sh checks lrt.3 covers it too).
INSTALL_BIN := $(SO) $(A) $(TPSO) $(TOOLS)
MAN_PAGES   := docs/lrt.3 docs/lrt-dump.1 docs/lrt-trace.1 docs/lrt-top.1
DOC_FILES   := docs/guide.md docs/sync.md docs/diagnosis.md docs/tracing.md \
               docs/performance.md docs/snapshot.schema.json
API_NAMES = $(shell tools/api-names.sh include/lrt/lrt.h)
install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(INCDIR)/lrt $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 include/lrt/lrt.h $(DESTDIR)$(INCDIR)/lrt/
	install -m 755 $(SO) $(DESTDIR)$(LIBDIR)/liblrt.so.0
	ln -sf liblrt.so.0 $(DESTDIR)$(LIBDIR)/liblrt.so
	install -m 644 $(A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(TPSO) $(DESTDIR)$(LIBDIR)/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	    'Name: lrt' \
	    'Description: single-threaded stackful async runtime for C, built to be diagnosed' \
	    'Version: 0.1.0' 'Requires.private: libunwind jansson liburing' \
	    'Libs: -L$${libdir} -llrt' 'Libs.private: -lpthread -ldl' \
	    'Cflags: -I$${includedir} $(STACK_CLASH)' > $(DESTDIR)$(LIBDIR)/pkgconfig/lrt.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/lrt.pc
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	install -d $(DESTDIR)$(DATADIR)
	install -m 644 tools/lrt-gdb.py $(DESTDIR)$(DATADIR)/
	install -d $(DESTDIR)$(DOCDIR)
	install -m 644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	@# The man pages name the installed files under the default prefix, /usr/local.
	$(Q)for m in $(MAN_PAGES); do sec=$${m##*.}; \
	    sed 's|/usr/local/|$(PREFIX)/|g' $$m > $(DESTDIR)$(MANDIR)/man$$sec/$${m##*/}; \
	    chmod 644 $(DESTDIR)$(MANDIR)/man$$sec/$${m##*/}; done
	$(Q)for n in $(API_NAMES); do echo '.so man3/lrt.3' > $(DESTDIR)$(MANDIR)/man3/$$n.3; done
	@# Without ldconfig the loader does not know the new liblrt.so.0 (a system install only:
	@# a DESTDIR is staged for a package, whose own scripts run ldconfig).
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; \
	    ldconfig -p | grep -qF '$(LIBDIR)/liblrt.so.0' || echo "note: $(LIBDIR) is not in the \
	loader's path: add it to /etc/ld.so.conf.d/ and run ldconfig, or use LD_LIBRARY_PATH"; fi

uninstall:
	rm -rf $(DESTDIR)$(INCDIR)/lrt $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)
	rm -f $(DESTDIR)$(LIBDIR)/liblrt.so $(DESTDIR)$(LIBDIR)/liblrt.so.0 $(DESTDIR)$(LIBDIR)/liblrt.a \
	    $(DESTDIR)$(LIBDIR)/liblrt-tp.so $(DESTDIR)$(LIBDIR)/pkgconfig/lrt.pc \
	    $(DESTDIR)$(BINDIR)/lrt-dump $(DESTDIR)$(BINDIR)/lrt-trace $(DESTDIR)$(BINDIR)/lrt-top \
	    $(DESTDIR)$(BINDIR)/lrt-trace-record \
	    $(DESTDIR)$(MANDIR)/man1/lrt-dump.1 $(DESTDIR)$(MANDIR)/man1/lrt-trace.1 \
	    $(DESTDIR)$(MANDIR)/man1/lrt-top.1 \
	    $(DESTDIR)$(MANDIR)/man3/lrt.3 $(DESTDIR)$(MANDIR)/man3/lrt_*.3
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
