# lrt — plain Makefile.  `make demo`, `make test`, `make bench`, `make install`.
# Options: V=1 (show commands), SANITIZE=address,undefined, TRACE=0 (tracepoints compiled
# out), CFLAGS=..., PREFIX=/usr/local, DESTDIR=.

PREFIX  ?= /usr/local
DESTDIR ?=
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
CPPFLAGS += -Iinclude -Isrc -Itracepoints -D_GNU_SOURCE -DLTTNG_UST_COMPAT_API_VERSION=1 \
            -DLRT_TRACE_ENABLED=$(TRACE)
ALLCFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -fPIC -fvisibility=hidden -MMD -MP
LDLIBS   := -lunwind -ljansson -lpthread -ldl

LIB_SRCS := $(wildcard src/*.c) src/context_x86_64.S
LIB_OBJS := $(patsubst src/%,$(BUILD)/obj/%.o,$(LIB_SRCS))
TP_OBJ   := $(BUILD)/obj/tp/lrt_tp.c.o
TEST_SRCS := $(wildcard tests/test_*.c) tests/runner.c
TEST_OBJS := $(patsubst tests/%,$(BUILD)/obj/tests/%.o,$(TEST_SRCS))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/tools/%,$(wildcard tools/*.c))

SO   := $(BUILD)/liblrt.so
A    := $(BUILD)/liblrt.a
TPSO := $(BUILD)/liblrt-tp.so
RUNNER := $(BUILD)/tests/lrt-tests

.PHONY: all deps demo test check-unit check-scripts check-exports bench bench-trace install uninstall clean
all: $(SO) $(A) $(TPSO) $(TOOLS) $(EXAMPLES) $(RUNNER) $(BUILD)/lrt.pc

deps:
	$(Q)tools/setup-deps.sh

# liblrt's code goes into one section, lrt_text, whose bounds (__start_lrt_text,
# __stop_lrt_text) tell the backtrace trimming which frames are lrt's, with no list of
# names, in liblrt.so and in a program linked with liblrt.a alike (src/dump.c).
LRT_TEXT = objcopy $$(objdump -h $@ | awk '$$2 ~ /^\.text/ {printf " --rename-section %s=lrt_text", $$2}') $@

$(BUILD)/obj/%.c.o: src/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $<
	$(Q)$(LRT_TEXT)

$(BUILD)/obj/%.S.o: src/%.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -c -o $@ $<
	$(Q)$(LRT_TEXT)

$(SO): $(LIB_OBJS) src/lrt.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) $(SANFLAGS) -Wl,-soname,liblrt.so.0 -Wl,--version-script=src/lrt.map \
	    -o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf liblrt.so $(BUILD)/liblrt.so.0

$(A): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(TP_OBJ): tracepoints/lrt_tp.c tracepoints/lrt_tp.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(TPSO): $(TP_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared $(CFLAGS) -o $@ $< -Wl,--no-as-needed -llttng-ust -ldl

$(BUILD)/obj/tests/%.c.o: tests/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALLCFLAGS) -fvisibility=default -c -o $@ $<

$(RUNNER): $(TEST_OBJS) $(A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(SANFLAGS) -rdynamic -o $@ $(TEST_OBJS) $(A) -lcunit $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ $< \
	    -L$(BUILD) -llrt -Wl,-rpath,'$$ORIGIN/..:$$ORIGIN/../lib'

$(BUILD)/tools/%: tools/%.c $(SO)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP -o $@ $< \
	    -L$(BUILD) -llrt -ljansson -ldw -Wl,-rpath,'$$ORIGIN/..:$$ORIGIN/../lib'

$(BUILD)/lrt.pc: Makefile
	@mkdir -p $(dir $@)
	$(Q)printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: lrt\nDescription: single-threaded stackful async runtime for C, built to be diagnosed\nVersion: 0.1.0\nLibs: -L$${libdir} -llrt\nLibs.private: -lunwind -ljansson -lpthread -ldl\nCflags: -I$${includedir}\n' '$(PREFIX)' > $@

# ---- main job and tests ------------------------------------------------------------
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) tools/demo.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory check-exports check-unit check-scripts

check-exports: $(SO)
	$(Q)BUILD=$(BUILD) tests/check-exports.sh

# Every test step is bounded, so a hang fails `make test` with a message instead of
# eating CI's 90 minutes: the CUnit suite 10 minutes, each script 5 (KILL 10 s later).
check-unit: $(RUNNER)
	$(Q)timeout -k 10 600 $(RUNNER) || { rc=$$?; [ $$rc = 124 ] && echo "check-unit: timed out after 600 s"; exit $$rc; }

check-scripts: all
	$(Q)set -e; for t in tests/t-*.sh; do [ -e "$$t" ] || continue; \
	    echo "== $$t"; BUILD=$(BUILD) SANITIZE=$(SANITIZE) timeout -k 10 300 $$t || \
	    { rc=$$?; [ $$rc = 124 ] && echo "$$t: timed out after 300 s"; exit $$rc; }; done

# ---- benchmarks (never part of test) -----------------------------------------------
bench: deps
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
	$(Q)$(MAKE) --no-print-directory bench-trace

# Tracepoint cost: the same program against liblrt with tracing compiled in and out.
bench-trace:
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-trace build/bench-trace/liblrt.so build/bench-trace/liblrt-tp.so
	$(Q)$(MAKE) --no-print-directory BUILD=build/bench-notrace TRACE=0 build/bench-notrace/liblrt.so
	$(Q)for b in build/bench-trace build/bench-notrace; do $(CC) $(CPPFLAGS) -std=gnu11 $(WARN) -O2 -g \
	    -o $$b/trace_cost bench/trace_cost.c -L$$b -llrt -Wl,-rpath,'$$ORIGIN'; done
	@echo "built build/bench-trace/trace_cost and build/bench-notrace/trace_cost (see docs/tracing.md)"

# ---- install -----------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/include/lrt $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 include/lrt/lrt.h $(DESTDIR)$(PREFIX)/include/lrt/
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/liblrt.so.0
	ln -sf liblrt.so.0 $(DESTDIR)$(PREFIX)/lib/liblrt.so
	install -m 644 $(A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(TPSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/lrt.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(TOOLS) tools/lrt-trace $(DESTDIR)$(PREFIX)/bin/
	$(if $(wildcard docs/*.1),install -m 644 $(wildcard docs/*.1) $(DESTDIR)$(PREFIX)/share/man/man1/)
	install -m 644 docs/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/lrt
	rm -f $(DESTDIR)$(PREFIX)/lib/liblrt.so* $(DESTDIR)$(PREFIX)/lib/liblrt.a \
	    $(DESTDIR)$(PREFIX)/lib/liblrt-tp.so $(DESTDIR)$(PREFIX)/lib/pkgconfig/lrt.pc \
	    $(DESTDIR)$(PREFIX)/bin/lrt-dump $(DESTDIR)$(PREFIX)/bin/lrt-trace \
	    $(DESTDIR)$(PREFIX)/share/man/man1/lrt-dump.1 $(DESTDIR)$(PREFIX)/share/man/man3/lrt.3

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
