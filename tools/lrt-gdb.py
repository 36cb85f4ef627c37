# lrt-gdb.py - lrt's tasks in gdb: from a core file (`gdb EXE CORE`) or a live process
# (`gdb -p PID`).  Load it with `source lrt-gdb.py` (installed as $PREFIX/share/lrt/lrt-gdb.py).
#
#   lrt tasks               every task of every runtime: id, state, wait, for how long, spawn line
#   lrt bt ID [RUNTIME]     a task's backtrace (gdb's frames: file:line, arguments)
#   lrt json [-b] [--core NAME] [--out FILE]
#                           the snapshot as lrt-dump --json prints it (docs/snapshot.schema.json),
#                           runtime.source "core"; what `lrt-dump --core` runs in batch mode
#
# How it reads a process it cannot ask: the dump agent's registry (lrt__agent_reg, every
# runtime registers at lrt_runtime_new) lists the runtimes; each runtime's task list
# (rt->tasks, linked through task->all) gives the task records, read in one block each with
# the field offsets taken once from the debug info.  A suspended task's registers are in its
# switch frame at task->sp (src/context_x86_64.S: mxcsr, r15, r14, r13, r12, rbx, rbp,
# return address); gdb cannot write registers of a core, so a Python unwinder hands them to
# gdb as the caller of the selected thread's innermost frame, and gdb's own DWARF unwinder
# walks the task's stack from there (scylla-gdb and Delve do the same trick for fibers and
# goroutines).  The running task is the runtime thread's own stack.  Frames are trimmed like
# src/diag/unwind.c: of the lrt frames on top only the outermost (the public call) is kept,
# lrt__task_main/lrt__ctx_entry at the bottom are dropped.
#
# Time: durations are measured against lrt__switch_clock_ns, the CLOCK_MONOTONIC_COARSE
# time the ticker thread stores every millisecond while runtimes are busy (every 64 ms
# when they are idle): the process's own idea of "now" at the moment of the dump.
#
# Cost: 10,000 tasks parked at the same line unwind once (the memo of snapshot.c: key =
# saved ip, depth below the stack top, rbp relative to sp; a hit is verified by reading the
# return addresses where the first unwind found them); symbols are looked up once per ip.
import gdb
import json
import re
import struct
import sys
import time

MAX_FRAMES = 32
_u64 = struct.Struct("<Q")


def fmt_dur(ns):
    """A duration as src/diag/wait_text.c's lrt__fmt_dur words it."""
    s = 1000000000
    if ns < 1000:
        return "%dns" % ns
    if ns < 1000000:
        return "%dus" % (ns // 1000)
    if ns < s:
        return "%dms" % (ns // 1000000)
    if ns < 100 * s:
        return "%d.%ds" % (ns // s, ns // (s // 10) % 10)
    if ns < 7200 * s:
        return "%dm%02ds" % (ns // (60 * s), ns // s % 60)
    if ns < 172800 * s:
        return "%dh%02dm" % (ns // (3600 * s), ns // (60 * s) % 60)
    return "%dd%02dh" % (ns // (86400 * s), ns // (3600 * s) % 24)


def _inf():
    return gdb.selected_inferior()


def _read(addr, n):
    return bytes(_inf().read_memory(addr, n))


def _rq(addr):
    return _u64.unpack(_read(addr, 8))[0]


class _Fields:
    """Byte offsets and sizes of a struct's fields, anonymous members flattened."""

    def __init__(self, tname):
        self.t = gdb.lookup_type(tname)
        self.size = self.t.sizeof
        self.off = {}
        self._walk(self.t, 0)

    def _walk(self, t, base):
        for f in t.strip_typedefs().fields():
            if not hasattr(f, "bitpos"):
                continue
            off = base + f.bitpos // 8
            if f.name is None:  # anonymous struct/union
                self._walk(f.type, off)
            elif f.name not in self.off:
                self.off[f.name] = (off, f.type.strip_typedefs().sizeof)

    def get(self, buf, name, signed=False):
        off, size = self.off[name]
        return int.from_bytes(buf[off:off + size], "little", signed=signed)


class _Strings:
    def __init__(self):
        self.memo = {}

    def get(self, addr, limit=256):
        if not addr:
            return None
        s = self.memo.get((addr, limit))
        if s is None:
            try:
                s = gdb.Value(addr).cast(gdb.lookup_type("char").pointer()).string(
                    "utf-8", "replace", limit)
            except gdb.MemoryError:
                s = "?"
            s = s.split("\0", 1)[0]
            self.memo[(addr, limit)] = s
        return s


def _names(sym, enum_type, prefix):
    """The name array of src/names.h (static in each file: take a copy that was kept),
    else the enum's constants in lower case."""
    for s in gdb.lookup_static_symbols(sym):
        try:
            v = s.value()
            n = v.type.range()[1] + 1
            out = [v[i].string() for i in range(n)]
            return out
        except (gdb.error, RuntimeError):
            continue
    t = gdb.lookup_type(enum_type)
    out = []
    for f in t.fields():
        if "__COUNT" not in f.name:
            out.append(f.name[len(prefix):].lower())
    return out


# ---- unwinding a suspended task: gdb's unwinder seeded with the switch frame ---------

try:
    from gdb.unwinder import Unwinder, register_unwinder
except ImportError:  # gdb without the Python unwinder API
    Unwinder = object
    register_unwinder = None


class _TaskUnwinder(Unwinder):
    """While `regs` is set, the selected thread's innermost frame gets the task's saved
    registers as its caller's, so frame 1 is the task's first frame."""

    def __init__(self):
        super().__init__("lrt-task")
        self.regs = None

    def __call__(self, pending):
        if self.regs is None or pending.level() != 0:
            return None
        regs = self.regs
        # frame 0's id is placed on the task's stack, below its first frame, so gdb's
        # "previous frame inner to this frame" check sees a stack growing down
        fid = _FrameId(regs["rsp"] - 16, pending.read_register("rip"))
        info = pending.create_unwind_info(fid)
        for r, v in regs.items():
            info.add_saved_register(r, gdb.Value(v).cast(_u64t()))
        return info


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = gdb.Value(sp).cast(_u64t())
        self.pc = pc


_u64t_cache = []


def _u64t():
    if not _u64t_cache:
        _u64t_cache.append(gdb.lookup_type("unsigned long"))
    return _u64t_cache[0]


_unwinder = _TaskUnwinder()
if register_unwinder:
    register_unwinder(None, _unwinder, replace=True)


class _Sym:
    """ip -> (symbol, offset, section, module), memoised: `info symbol` once per ip."""

    _re = re.compile(r"^(\S+)(?: \+ (\d+))? in section (\S+)(?: of (.*))?$")

    def __init__(self, exe):
        self.memo = {}
        self.hint = {}  # ip -> (name, offset) from gdb's frames, for symbols without an ELF entry
        self.exe = exe
        self.maps = _link_maps()

    def get(self, ip):
        r = self.memo.get(ip)
        if r is None:
            sym, off, sec, mod = None, 0, None, None
            try:
                # C symbols: "lrt__task_main" must not be read as a mangled name
                gdb.execute("set print demangle off", to_string=True)
                out = gdb.execute("info symbol 0x%x" % ip, to_string=True).strip().splitlines()[0]
                m = self._re.match(out)
                if m:
                    sym, off, sec, mod = m.group(1), int(m.group(2) or 0), m.group(3), m.group(4)
            except gdb.error:
                pass
            if mod is None:
                try:
                    mod = gdb.current_progspace().solib_name(ip)
                except gdb.error:
                    mod = None
            if mod is None:
                mod = self.exe
            if sym is None:  # a local symbol `info symbol` does not know: the frame's name
                sym, off = self.hint.get(ip, (None, 0))
            if sym is None:
                sym, off = _debug_function(ip)
            bias = self.maps.get(mod, 0)
            r = (sym, off, sec, mod, ip - bias if ip >= bias else ip)
            self.memo[ip] = r
        return r


def _debug_function(ip):
    """(name, ip - start) of the function (not an inlined one) containing ip."""
    try:
        b = gdb.block_for_pc(ip)
    except (gdb.error, RuntimeError):
        b = None
    fn = None
    while b is not None:
        if b.function is not None:
            fn = b
        b = b.superblock
    if fn is None:
        return None, 0
    return fn.function.name, ip - fn.start


def _link_maps():
    """Module path -> load bias, from the dynamic linker's list (_r_debug.r_map)."""
    out = {}
    try:
        rd = int(gdb.parse_and_eval("(unsigned long)&_r_debug"))
        lm = _rq(rd + 8)
        strs = _Strings()
        for _ in range(4096):
            if not lm:
                break
            addr, name = _rq(lm), strs.get(_rq(lm + 8), 4096)
            out[name or ""] = addr
            lm = _rq(lm + 24)
    except (gdb.error, gdb.MemoryError):
        pass
    # the program's own entry has an empty name (and a PIE's l_addr is not always there):
    # its bias is where gdb says its entry point is, minus the entry in its ELF header
    out.pop("", None)
    out.pop("?", None)
    try:
        exe = gdb.current_progspace().filename
        m = re.search(r"Entry point: (0x[0-9a-f]+)", gdb.execute("info files", to_string=True))
        with open(exe, "rb") as f:
            e_entry = struct.unpack_from("<Q", f.read(32), 0x18)[0]
        if m:
            out[exe] = int(m.group(1), 16) - e_entry
    except (gdb.error, OSError, struct.error, TypeError):
        pass
    return out


def _frame_json(sym, ip):
    s, off, _sec, mod, moff = sym.get(ip)
    return {"ip": "0x%x" % ip, "symbol": s, "offset": off, "module": mod,
            "module_offset": "0x%x" % moff}


def _is_lrt(sym, ip):
    s, _off, sec, _mod, _moff = sym.get(ip)
    if sec is not None:
        return sec == "lrt_text"
    return bool(s) and s.startswith("lrt_")


def _is_entry(sym, ip):
    s = sym.get(ip)[0]
    return s in ("lrt__task_main", "lrt__ctx_entry")


def _trim(sym, ips):
    n = len(ips)
    first, last = 0, n
    i = 0
    while i < n and _is_lrt(sym, ips[i]):
        i += 1
    if i < n:
        first = i - 1 if i > 0 else 0
    while last > first + 1 and _is_entry(sym, ips[last - 1]):
        last -= 1
    return ips[first:last]


_hint = None  # the _Sym of the snapshot being taken


def _walk(frame, sp0=None):
    """ips of @frame and its callers; with @sp0, also each return address's offset from
    sp0 (where the frame's caller found it: just below the frame's sp)."""
    ips, offs = [], []
    f = frame
    while f is not None and len(ips) < MAX_FRAMES:
        try:
            pc = f.pc()
        except gdb.error:
            break
        if pc == 0:
            break
        if f.type() == gdb.INLINE_FRAME:  # one frame per return address, as libunwind
            f = f.older()
            continue
        ips.append(pc)
        if _hint is not None and pc not in _hint.hint:
            try:
                fn = f.function()
                _hint.hint[pc] = (f.name(), pc - int(fn.value().address) if fn else 0)
            except (gdb.error, RuntimeError):
                pass
        if sp0 is not None:
            try:
                sp = int(f.read_register("rsp"))
                offs.append(sp - 8 - sp0 if len(ips) > 1 else 0)
            except gdb.error:
                offs.append(None)
        try:
            f = f.older()
        except gdb.error:
            break
    return ips, offs


def _unwind_saved(sp, regs):
    """ips of a suspended task, unwound by gdb from its switch frame."""
    _unwinder.regs = regs
    gdb.invalidate_cached_frames()
    try:
        newest = gdb.newest_frame()
        first = newest.older()
        return _walk(first, sp)
    except gdb.error:
        return [], []
    finally:
        _unwinder.regs = None
        gdb.invalidate_cached_frames()


def _load_exe(core):
    """`gdb -c CORE` without the program: load the one the core names (AT_EXECFN), then
    the core again so that gdb finds its shared libraries."""
    if gdb.current_progspace().filename:
        return
    try:
        aux = gdb.execute("info auxv", to_string=True)
        m = re.search(r"AT_EXECFN\s.*?0x[0-9a-f]+\s+\"(.*)\"", aux)
        if m:
            gdb.execute("file %s" % m.group(1), to_string=True)
            if core:
                gdb.execute("core-file %s" % core, to_string=True)
    except gdb.error as e:
        raise gdb.GdbError("lrt: the core does not name its program (%s): give it (gdb EXE CORE)" % e)


class Snapshot:
    def __init__(self, backtraces=False):
        self.bt = backtraces
        try:
            self.T = _Fields("struct lrt_task")
        except gdb.error:
            raise gdb.GdbError(
                "lrt: no debug information for liblrt (struct lrt_task is unknown to gdb): "
                "build lrt with -g (the default CFLAGS) or give gdb its debug symbols")
        self.S = _Fields("lrt__stack")
        self.strs = _Strings()
        self.state_names = _names("lrt__state_names", "enum lrt__state", "LRT__")
        self.wait_names = _names("lrt__wait_names", "enum lrt__wait_kind", "LRT__WAIT_")
        self.waker_names = _names("lrt__waker_names", "enum lrt__waker_kind", "LRT__WAKER_")
        self.io_op_names = _names("lrt__io_op_names", "enum lrt__io_op", "LRT__IO_")
        self.all_off = self.T.off["all"][0]
        self.memo = {}
        self.memo_hits = self.memo_misses = 0
        self.warned = False
        prog = gdb.current_progspace().filename
        self.exe = prog or "?"
        self.sym = _Sym(self.exe) if backtraces else None
        global _hint
        _hint = self.sym
        self.now_coarse = int(gdb.parse_and_eval("lrt__switch_clock_ns"))
        self.threads = {}
        for th in _inf().threads():
            self.threads[th.ptid[1]] = th

    # -- one task --
    def wait_text(self, kind, t, now_rt):
        T, g = self.T, self.T.get
        aux, aux2, obj = g(t, "wait_aux"), g(t, "wait_aux2"), g(t, "wait_obj")
        name = None
        if kind in ("mutex", "semaphore", "watch", "rwlock", "barrier", "chan_send", "chan_recv",
                    "oneshot", "notify") and obj:
            n = self.strs.get(obj, 32)
            name = n[:31] if n and n != "?" else None
        nm = " '%s'" % name if name else ""
        p = "0x%x" % obj if obj else "(nil)"
        interest = "read+write" if (aux2 & 1 and aux2 & 4) else "write" if aux2 & 4 else "read"
        if kind == "fd":
            s = "fd %d (%s)" % (aux, interest)
        elif kind == "sleep":
            if aux >= 1 << 62:
                s = "sleep (forever)"
            elif aux > now_rt:
                s = "sleep (%s left)" % fmt_dur(aux - now_rt)
            else:
                s = "sleep (due)"
        elif kind == "join":
            s = "join of task %d" % aux
            try:
                jb = _read(obj, T.size) if obj else None
                if jb and g(jb, "id") == aux and g(jb, "name"):
                    s += " '%s'" % self.strs.get(g(jb, "name"))
            except gdb.MemoryError:
                pass
        elif kind == "blocking":
            s = "blocking job %d" % aux
        elif kind == "mutex":
            s = "mutex%s %s (held by task %d)" % (nm, p, aux)
        elif kind == "semaphore":
            s = "semaphore%s %s (%d permits)" % (nm, p, aux)
        elif kind == "watch":
            s = "watch%s %s (past version %d)" % (nm, p, aux)
        elif kind == "rwlock":
            s = ("rwlock%s %s (written by task %d)" % (nm, p, aux) if aux
                 else "rwlock%s %s (read-held or queued)" % (nm, p))
        elif kind == "barrier":
            s = "barrier%s %s (%d more to arrive)" % (nm, p, aux)
        elif kind == "chan_send":
            s = "channel%s %s (send, full)" % (nm, p)
        elif kind == "chan_recv":
            s = "channel%s %s (recv, empty)" % (nm, p)
        elif kind == "oneshot":
            s = "oneshot%s %s" % (nm, p)
        elif kind == "notify":
            s = "notify%s %s" % (nm, p)
        elif kind == "group":
            try:
                gv = gdb.Value(obj).cast(gdb.lookup_type("struct lrt_group").pointer()).dereference()
                s = "group %d '%s' (%d left)" % (aux, self.strs.get(int(gv["name"])), int(gv["len"]))
            except (gdb.error, gdb.MemoryError):
                s = "group %d" % aux
        elif kind == "yield":
            s = "yield"
        elif kind == "select":
            s = self.select_text(obj, aux)
        elif kind in ("signal", "process", "dns", "file"):
            s = self.strs.get(obj, 95) if obj else "?"
        elif kind == "uring":  # src/diag/wait_text.c: "recv fd 7 (uring)"
            op = self.io_op_names[aux2] if aux2 < len(self.io_op_names) else "op"
            s = "%s fd %d (uring)" % (op, aux)
        else:
            s = "-"
        w = {"kind": kind, "object": s}
        if name:
            w["name"] = name
        if kind == "fd":
            w["fd"] = aux
            w["interest"] = interest
        elif kind == "sleep":
            if aux < 1 << 62:
                w["deadline_ns"] = aux
                w["remaining_ns"] = aux - now_rt
        elif kind in ("join",):
            w["task"] = aux
        elif kind in ("blocking", "dns"):
            w["job"] = aux
        elif kind == "mutex":
            w["owner"] = aux
        elif kind == "semaphore":
            w["permits"] = aux
        elif kind == "group":
            w["group"] = aux
        elif kind == "watch":
            w["version"] = aux
        elif kind == "rwlock" and aux:
            w["owner"] = aux
        elif kind == "barrier":
            w["missing"] = aux
        elif kind == "signal":
            w["fd"] = aux
        elif kind == "process":
            w["pid"] = aux
        elif kind == "file":
            w["job"] = aux
            if aux2 < 1 << 31:
                w["fd"] = aux2
        elif kind == "uring":
            w["fd"] = aux
            w["op"] = self.io_op_names[aux2] if aux2 < len(self.io_op_names) else "?"
        if kind in ("chan_send", "chan_recv", "oneshot", "notify", "mutex", "semaphore", "group",
                    "select", "watch", "rwlock", "barrier", "fd"):
            w["address"] = "0x%x" % obj
        if g(t, "flags") & (1 << 6) and kind != "sleep":
            d = g(t, "timer_deadline")
            w["deadline_ns"] = d
            w["remaining_ns"] = d - now_rt
        return w

    def select_text(self, obj, count):
        what = ["?", "recv chan", "send chan", "fd", "fd", "join", "notify", "oneshot"]
        try:
            st = gdb.lookup_type("lrt_sel_t")
            parts = []
            cases = gdb.Value(obj).cast(st.pointer())
            for i in range(min(count, 64)):
                c = cases[i]
                k = int(c["kind"])
                k = k if 0 <= k < len(what) else 0
                if k in (3, 4):
                    parts.append("fd %d %s" % (int(c["fd"]), "read" if k == 3 else "write"))
                else:
                    parts.append("%s 0x%x" % (what[k], int(c["obj"])))
            return "select (%d cases%s)" % (count, "".join(
                (": " if i == 0 else ", ") + p for i, p in enumerate(parts)))
        except (gdb.error, gdb.MemoryError):
            return "select (%d cases)" % count

    def backtrace_saved(self, t):
        g = self.T.get
        sp = g(t, "sp")
        try:
            fr = _read(sp, 64)
            sb = _read(g(t, "stack"), self.S.size)
        except gdb.MemoryError:
            return []
        w = struct.unpack("<8Q", fr)
        if not any(w):
            if not self.warned:
                self.warned = True
                sys.stderr.write(
                    "lrt: warning: task stacks are missing from this core (zeros at a saved stack "
                    "pointer): gdb's gcore stops reading a mapping at lrt's guard pages "
                    "(MADV_GUARD_INSTALL); take cores of live processes with `lrt gcore FILE`\n")
            return []
        top = self.S.get(sb, "base") + self.S.get(sb, "size")
        depth = top - self.S.get(sb, "color") - sp
        rbp_rel = w[6] - sp if sp <= w[6] < top else None
        key = (w[7], depth, rbp_rel)
        m = self.memo.get(key)
        if m is not None:
            offs, ips, frames = m
            try:
                if all(o is not None and o + 8 <= depth and _rq(sp + o) == ip
                       for o, ip in zip(offs[1:], ips[1:])):
                    self.memo_hits += 1
                    return frames
            except gdb.MemoryError:
                pass
        self.memo_misses += 1
        regs = {"rip": w[7], "rsp": sp + 64, "rbp": w[6], "rbx": w[5], "r12": w[4], "r13": w[3],
                "r14": w[2], "r15": w[1]}
        ips, offs = _unwind_saved(sp, regs)
        frames = [_frame_json(self.sym, ip) for ip in _trim(self.sym, ips)]
        if ips and None not in offs:
            self.memo[key] = (offs, ips, frames)
        return frames

    def thread_in_lrt(self, tid):
        """Was the runtime thread stopped inside lrt's own code (below a signal frame, if
        any)?  Then its structures may be half-updated: the runtime is not consistent."""
        th = self.threads.get(tid)
        if th is None:
            return False
        cur = gdb.selected_thread()
        try:
            th.switch()
            gdb.invalidate_cached_frames()
            f = gdb.newest_frame()
            g = f
            while g is not None:
                if g.type() == gdb.SIGTRAMP_FRAME:
                    f = g.older() or f
                    break
                g = g.older()
            sym = self.sym or _Sym(self.exe)
            return _is_lrt(sym, f.pc())
        except gdb.error:
            return False
        finally:
            if cur is not None:
                cur.switch()

    def backtrace_thread(self, tid):
        """The runtime thread's own stack (its running task), from the registers the core
        holds; a crash's signal frame and what lies above it (the handler) are skipped."""
        th = self.threads.get(tid)
        if th is None:
            return []
        cur = gdb.selected_thread()
        try:
            th.switch()
            gdb.invalidate_cached_frames()
            f = gdb.newest_frame()
            frames, fr = [], f
            while fr is not None and len(frames) < 64:
                frames.append(fr)
                fr = fr.older()
            for i, fr in enumerate(frames):
                if fr.type() == gdb.SIGTRAMP_FRAME and i + 1 < len(frames):
                    f = frames[i + 1]
                    break
            ips, _ = _walk(f)
        except gdb.error:
            ips = []
        finally:
            if cur is not None:
                cur.switch()
        return [_frame_json(self.sym, ip) for ip in _trim(self.sym, ips)]

    def task(self, addr, rt, index, now_rt):
        T = self.T
        g = T.get
        t = _read(addr, T.size)
        state = g(t, "state") & 3
        sname = self.state_names[state] if state < len(self.state_names) else "?"
        running = addr == rt["current"] and sname == "running"
        since = rt["poll_start"] if running else g(t, "state_since")
        state_ns = max(0, self.now_coarse - since)
        busy = g(t, "busy_ns") + (state_ns if running else 0)
        kind = g(t, "wait_kind")
        kname = "none" if sname == "running" or kind >= len(self.wait_names) else self.wait_names[kind]
        flags = g(t, "flags")
        lw = g(t, "last_waker")
        o = {"id": g(t, "id"), "runtime": index, "name": self.strs.get(g(t, "name")) or "",
             "parent": g(t, "parent_id")}
        gm = g(t, "gm")
        if gm:
            try:
                gv = gdb.Value(gm).cast(gdb.lookup_type("struct lrt__gmember").pointer())["g"].dereference()
                o["group"] = {"id": int(gv["id"]), "name": self.strs.get(int(gv["name"])) or "",
                              "parent": int(gv["parent_id"])}
            except (gdb.error, gdb.MemoryError):
                pass
        o["state"] = sname
        o["wait"] = ({"kind": "none", "object": None} if kname == "none"
                     else self.wait_text(kname, t, now_rt))
        o["state_ns"] = state_ns
        o["polls"] = g(t, "polls")
        o["busy_ns"] = busy
        o["last_waker"] = {"kind": self.waker_names[lw] if lw < len(self.waker_names) else "none",
                           "task": g(t, "last_waker_id")}
        o["spawned_at"] = {"file": self.strs.get(g(t, "file")) or "", "line": max(0, g(t, "line", True)),
                           "func": self.strs.get(g(t, "func")) or ""}
        o["root"] = bool(flags & (1 << 3))
        o["cancelled"] = bool(flags & ((1 << 0) | (1 << 14)))
        o["started"] = bool(flags & (1 << 4))
        if self.bt:
            if running:
                o["backtrace"] = self.backtrace_thread(rt["tid"])
            elif o["started"] and g(t, "stack") and g(t, "sp") and sname != "finished":
                o["backtrace"] = self.backtrace_saved(t)
        return o

    # -- one runtime --
    def runtime(self, rtv, index):
        def f(v, *path):
            try:
                for p in path:
                    v = v[p]
                return int(v)
            except (gdb.error, gdb.MemoryError):
                return 0

        rt = {"current": f(rtv, "current"), "poll_start": f(rtv, "poll_start"), "tid": f(rtv, "tid")}
        paused = f(rtv, "paused")
        now_rt = f(rtv, "virt_now") if paused else self.now_coarse
        tasks = []
        head = int(rtv["tasks"].address)
        n = int(rtv["tasks"]["next"])
        guard = f(rtv, "alive") + 16
        while n and n != head and guard > 0:
            guard -= 1
            addr = n - self.all_off
            try:
                tasks.append(self.task(addr, rt, index, now_rt))
                n = _rq(n)
            except gdb.MemoryError:
                break
        cur_running = any(t["state"] == "running" for t in tasks)
        io = rtv["io"]
        pool = rtv["pool"]
        threads = f(pool, "threads") if int(pool) else 0
        idle = f(pool, "idle") if int(pool) else 0
        queued = (f(pool, "queued") + f(pool, "batched")) if int(pool) else 0
        hists = {}
        for h in ("poll_hist", "sched_hist"):
            vals = [f(rtv, "m", h, i) for i in range(16)]
            polls = f(rtv, "m", "polls")
            rest = sum(vals[1:])
            vals[0] = polls - rest if polls > rest else 0
            hists[h] = vals
        state = ("shutting_down" if f(rtv, "shutting_down") else
                 "running" if f(rtv, "in_block_on") else "idle")
        r = {
            "state": state, "source": "core", "consistent": not self.thread_in_lrt(rt["tid"]),
            "uptime_ns": max(0, self.now_coarse - f(rtv, "start_ns")), "now_ns": now_rt,
            "paused_clock": paused != 0,
            "current_task": next((t["id"] for t in tasks if t["state"] == "running"), 0) if cur_running else 0,
            "alive_tasks": f(rtv, "alive"), "spawned_tasks": f(rtv, "m", "spawned"),
            "polls": f(rtv, "m", "polls"), "forced_yields": f(rtv, "m", "forced_yields"),
            "io_ready_events": f(rtv, "m", "io_ready"),
            "io_registered": f(io, "registered") if int(io) else 0,
            "io_waiters": f(io, "waiters") if int(io) else 0,
            "timers_pending": f(rtv, "wheel", "count"), "timers_fired": f(rtv, "m", "timers_fired"),
            "remote_schedules": f(rtv, "m", "remote_schedules"), "parks": f(rtv, "m", "parks"),
            "blocking_jobs": f(rtv, "m", "blocking_jobs"),
            "blocking_threads_busy": max(0, threads - idle), "blocking_threads_idle": idle,
            "blocking_queue_depth": queued, "stalls": f(rtv, "m", "stalls"), "stalls_suppressed": 0,
            "event_interval": max(1, f(rtv, "event_interval")), "budget": max(1, f(rtv, "budget")),
            "stall_threshold_ms": f(rtv, "opts", "stall_threshold_ms"),
            "last_snapshot_pause_ns": f(rtv, "last_snapshot_pause_ns"),
            "poll_time_hist": hists["poll_hist"], "sched_latency_hist": hists["sched_hist"],
        }
        timers = [{"task": t["id"], "kind": "sleep" if t["wait"]["kind"] == "sleep" else "timeout",
                   "deadline_ns": t["wait"]["deadline_ns"], "remaining_ns": t["wait"]["remaining_ns"]}
                  for t in tasks if t["state"] == "suspended" and "deadline_ns" in t["wait"]]
        blocking = {"threads": threads, "idle": idle, "queued": queued,
                    "max_threads": max(1, f(rtv, "opts", "max_blocking_threads")), "jobs": []}
        th = self.threads.get(rt["tid"])
        # a core has no thread names (only the process's command, in NT_PRPSINFO)
        name = th.name if th is not None and th.name else "?"
        return {"index": index, "tid": rt["tid"], "thread": name or "", "runtime": r, "io": [],
                "timers": timers, "blocking": blocking, "stalls": []}, tasks

    def take(self, core_name=None):
        t0 = time.monotonic()
        reg = gdb.parse_and_eval("lrt__agent_reg")
        runtimes, tasks = [], []
        n = reg["list"]
        guard = 4096
        while int(n) and guard:
            guard -= 1
            r, ts = self.runtime(n["rt"].dereference(), int(n["index"]))
            runtimes.append(r)
            tasks.extend(ts)
            n = n["next"]
        if not runtimes:
            raise gdb.GdbError("lrt: no runtime registered in this process (lrt__agent_reg.list is empty)")
        first = runtimes[0]
        snap = {
            "version": 1,
            "process": {"pid": max(1, _inf().pid), "exe": self.exe, "start_time": 0,
                        "lrt_version": self._version(), "runtime_tid": first["tid"]},
            "runtime": first["runtime"], "tasks": tasks, "io": first["io"], "timers": first["timers"],
            "blocking": first["blocking"], "stalls": first["stalls"], "runtimes": runtimes,
            "core": {"file": core_name or "", "clock": "lrt__switch_clock_ns",
                     "clock_ns": self.now_coarse},
        }
        self.seconds = time.monotonic() - t0
        return snap

    def _version(self):
        # LRT_VERSION_STRING is a macro: not in the debug info of a -g build
        return "?"


# ---- commands -------------------------------------------------------------------------

def _fmt_dur(ns):
    if ns < 1000000000:
        return "%dms" % (ns // 1000000)
    if ns < 120000000000:
        return "%.1fs" % (ns / 1e9)
    return "%dm" % (ns // 60000000000)


class LrtPrefix(gdb.Command):
    """lrt tasks | lrt bt ID [RUNTIME] | lrt json [-b] [--core NAME] [--out FILE]"""

    def __init__(self):
        super().__init__("lrt", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class LrtTasks(gdb.Command):
    """lrt tasks: every task of every runtime of the process: state, wait, for how long,
spawn location (from a core or a stopped live process)."""

    def __init__(self):
        super().__init__("lrt tasks", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        snap = Snapshot(False).take()
        out = ["%-4s %-6s %-20s %-9s %-40s %8s  %s" % ("RT", "ID", "NAME", "STATE", "WAITING ON", "FOR",
                                                        "SPAWNED AT")]
        for t in snap["tasks"]:
            sp = t["spawned_at"]
            out.append("%-4d %-6d %-20.20s %-9s %-40.40s %8s  %s:%d (%s)" % (
                t["runtime"], t["id"], t["name"], t["state"], t["wait"]["object"] or "-",
                _fmt_dur(t["state_ns"]), sp["file"], sp["line"], sp["func"]))
        gdb.write("\n".join(out) + "\n")


class LrtBt(gdb.Command):
    """lrt bt ID [RUNTIME]: the backtrace of task ID (of runtime index RUNTIME, default 0),
with gdb's own frame printing (file:line, arguments)."""

    def __init__(self):
        super().__init__("lrt bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        a = arg.split()
        if not a:
            raise gdb.GdbError("usage: lrt bt ID [RUNTIME]")
        want, want_rt = int(a[0]), int(a[1]) if len(a) > 1 else 0
        s = Snapshot(False)
        reg = gdb.parse_and_eval("lrt__agent_reg")
        n = reg["list"]
        while int(n):
            if int(n["index"]) == want_rt:
                break
            n = n["next"]
        if not int(n):
            raise gdb.GdbError("lrt: no runtime %d" % want_rt)
        rtv = n["rt"].dereference()
        head = int(rtv["tasks"].address)
        p = int(rtv["tasks"]["next"])
        while p and p != head:
            addr = p - s.all_off
            t = _read(addr, s.T.size)
            if s.T.get(t, "id") == want:
                break
            p = _rq(p)
        else:
            raise gdb.GdbError("lrt: no task %d in runtime %d" % (want, want_rt))
        state = s.T.get(t, "state") & 3
        if addr == int(rtv["current"]) and s.state_names[state] == "running":
            th = s.threads.get(int(rtv["tid"]))
            if th:
                th.switch()
            gdb.execute("bt")
            return
        sp = s.T.get(t, "sp")
        if not sp or not s.T.get(t, "stack") or s.state_names[state] == "finished":
            raise gdb.GdbError("lrt: task %d has no saved stack (not started or finished)" % want)
        w = struct.unpack("<8Q", _read(sp, 64))
        _unwinder.regs = {"rip": w[7], "rsp": sp + 64, "rbp": w[6], "rbx": w[5], "r12": w[4],
                          "r13": w[3], "r14": w[2], "r15": w[1]}
        gdb.invalidate_cached_frames()
        try:
            f = gdb.newest_frame().older()
            i = 0
            while f is not None and i < 64:
                sal = f.find_sal()
                where = ("%s:%d" % (sal.symtab.filename, sal.line)) if sal.symtab else (
                    gdb.current_progspace().solib_name(f.pc()) or "?")
                gdb.write("#%-2d 0x%016x in %s () at %s\n" % (i, f.pc(), f.name() or "??", where))
                f = f.older()
                i += 1
        finally:
            _unwinder.regs = None
            gdb.invalidate_cached_frames()


class LrtJson(gdb.Command):
    """lrt json [-b] [--core NAME] [--out FILE]: the snapshot as one JSON line (schema:
docs/snapshot.schema.json, runtime.source "core"); -b adds backtraces.  Between the
lines LRT-JSON-BEGIN and LRT-JSON-END on stdout, or into FILE."""

    def __init__(self):
        super().__init__("lrt json", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        a = gdb.string_to_argv(arg)
        bt, core, out = False, None, None
        i = 0
        while i < len(a):
            if a[i] == "-b":
                bt = True
            elif a[i] == "--core" and i + 1 < len(a):
                core = a[i + 1]
                i += 1
            elif a[i] == "--out" and i + 1 < len(a):
                out = a[i + 1]
                i += 1
            else:
                raise gdb.GdbError("usage: lrt json [-b] [--core NAME] [--out FILE]")
            i += 1
        _load_exe(core)
        s = Snapshot(bt)
        snap = s.take(core.rsplit("/", 1)[-1] if core else None)
        text = json.dumps(snap, separators=(",", ":"))
        if out:
            with open(out, "w") as f:
                f.write(text + "\n")
        else:
            gdb.write("LRT-JSON-BEGIN\n" + text + "\nLRT-JSON-END\n")
        if bt:
            sys.stderr.write("lrt-gdb: %d tasks, %.2f s, memo %d hits %d misses\n" % (
                len(snap["tasks"]), s.seconds, s.memo_hits, s.memo_misses))


class LrtGcore(gdb.Command):
    """lrt gcore FILE: gcore for a live lrt process (`gdb -p PID`), with every task's stack.
gdb's gcore reads memory 1 MiB at a time and gives up on the rest of a mapping at the
first page it cannot read; on Linux >= 6.13 lrt guards task stacks with
MADV_GUARD_INSTALL, which /proc/PID/mem refuses, so a plain gcore holds zeros where the
task stacks are.  This runs gcore, then reads each task's stack (from its saved stack
pointer, or the thread's for the running task, to its top: never a guard page) and writes
it into the core where it belongs."""

    def __init__(self):
        super().__init__("lrt gcore", gdb.COMMAND_FILES)

    def invoke(self, arg, from_tty):
        a = gdb.string_to_argv(arg)
        if len(a) != 1:
            raise gdb.GdbError("usage: lrt gcore FILE")
        path = a[0]
        s = Snapshot(False)
        ranges = []
        reg = gdb.parse_and_eval("lrt__agent_reg")
        n = reg["list"]
        while int(n):
            rtv = n["rt"].dereference()
            head = int(rtv["tasks"].address)
            cur, tid = int(rtv["current"]), int(rtv["tid"])
            p = int(rtv["tasks"]["next"])
            guard = int(rtv["alive"]) + 16
            while p and p != head and guard > 0:
                guard -= 1
                addr = p - s.all_off
                t = _read(addr, s.T.size)
                st, sp = s.T.get(t, "stack"), s.T.get(t, "sp")
                if st and (s.T.get(t, "flags") & (1 << 4)):
                    sb = _read(st, s.S.size)
                    lo, top = s.S.get(sb, "base"), s.S.get(sb, "base") + s.S.get(sb, "size")
                    low = sp
                    if addr == cur and tid in s.threads:
                        th, old = s.threads[tid], gdb.selected_thread()
                        th.switch()
                        low = min(low, int(gdb.parse_and_eval("$rsp")) - 128)
                        old.switch()
                    if lo <= low < top:
                        ranges.append((low & ~4095, top))
                p = _rq(p)
            n = n["next"]
        gdb.execute("gcore %s" % path, to_string=not from_tty)
        loads = []
        with open(path, "r+b") as f:
            hdr = f.read(64)
            phoff = struct.unpack_from("<Q", hdr, 0x20)[0]
            phent, phnum = struct.unpack_from("<HH", hdr, 0x36)
            f.seek(phoff)
            ph = f.read(phent * phnum)
            for i in range(phnum):
                typ, _fl, off, vaddr, _pa, filesz, _memsz, _al = struct.unpack_from("<IIQQQQQQ", ph, i * phent)
                if typ == 1 and filesz:
                    loads.append((vaddr, vaddr + filesz, off))
            patched = 0
            for lo, hi in ranges:
                for v0, v1, off in loads:
                    a0, a1 = max(lo, v0), min(hi, v1)
                    if a0 >= a1:
                        continue
                    try:
                        data = _read(a0, a1 - a0)
                    except gdb.MemoryError:
                        continue
                    f.seek(off + a0 - v0)
                    f.write(data)
                    patched += a1 - a0
        gdb.write("lrt gcore: %s, %d task stacks written (%d KiB)\n" % (path, len(ranges), patched // 1024))


LrtPrefix()
LrtTasks()
LrtBt()
LrtJson()
LrtGcore()
