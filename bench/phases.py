#!/usr/bin/env python3
"""phases.py PERF_SCRIPT_OUTPUT: per-runtime timelines of `run` from a
system-wide `perf record` of sched and syscall tracepoints (see profile.sh).

For every runtime process exec'd by the profile loop it follows the process
tree (sched_process_fork) and prints, as medians over the runs, when each
milestone happened relative to the runtime's own exec:

  fork#1        first new process the runtime forks
  init exec     the runtime re-executes itself (hull init, runc init, crun's
                sealed copy); "-" when it does not
  first mount   first mount-family syscall (mount, fsmount, move_mount) in
                the tree after the runtime's exec
  pivot_root    the container's pivot_root
  seccomp       last seccomp() call before the container process execs
  exec true     the container process execs /bin/true
  true exit     /bin/true exits
  end           the runtime's main process exits

Tracepoints cost well under a microsecond, so unlike strace -f the timings
are close to an untraced run.
"""
import collections
import re
import statistics
import sys

LINE = re.compile(r"^\s*(?P<comm>.+?)\s+(?P<pid>-?\d+)/(?P<tid>\d+)\s+(?P<ts>[\d.]+):\s+(?P<ev>\S+):\s*(?P<rest>.*)$")
ROOTS = {"/work/main/hull": "hull", "/usr/sbin/runc": "runc", "/usr/bin/crun": "crun"}


def parse(path):
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if m:
            yield (m["comm"], int(m["pid"]), int(m["tid"]), float(m["ts"]), m["ev"], m["rest"])


def main():
    events = list(parse(sys.argv[1]))
    roots_arg = sys.argv[2:]  # optional extra "binary=name" pairs
    for a in roots_arg:
        b, _, n = a.partition("=")
        ROOTS[b] = n
    parent = {}        # child tid -> parent tgid (processes and threads)
    fork_ts = {}       # child tid -> fork time
    tgid_of = {}
    for comm, pid, tid, ts, ev, rest in events:
        tgid_of[tid] = pid
        if ev == "sched:sched_process_fork":
            m = re.search(r"child_pid=(\d+)", rest)
            if m:
                c = int(m[1])
                parent[c] = pid
                fork_ts[c] = ts
    # Root runs: exec of a runtime binary by a process whose parent is not
    # itself a runtime (runc's /proc/self/exe and crun's re-exec are children).
    runs = []
    run_of = {}  # tgid -> run index
    for comm, pid, tid, ts, ev, rest in events:
        if ev == "sched:sched_process_exec":
            fn = re.search(r"filename=(\S+)", rest)[1]
            if fn in ROOTS and parent.get(pid) not in run_of and pid not in run_of:
                run_of[pid] = len(runs)
                runs.append({"rt": ROOTS[fn], "root": pid, "t0": ts, "m": {}})
                continue
        if pid not in run_of:
            p = parent.get(pid)
            if p in run_of and tgid_of.get(pid, pid) == pid or (p in run_of and pid not in tgid_of):
                run_of[pid] = run_of[p]
        if pid not in run_of and tid != pid and tgid_of.get(tid) in run_of:
            pass
        if pid not in run_of:
            continue
        r = runs[run_of[pid]]
        t = (ts - r["t0"]) * 1000
        m = r["m"]
        if ev == "sched:sched_process_fork":
            c = int(re.search(r"child_pid=(\d+)", rest)[1])
            # A new process (not a thread) shows up later with tgid == tid.
            r.setdefault("forks", []).append((c, t))
        elif ev == "sched:sched_process_exec":
            fn = re.search(r"filename=(\S+)", rest)[1]
            if fn == "/bin/true":
                m.setdefault("exec true", t)
                r["true_pid"] = pid
            elif pid != r["root"]:
                m.setdefault("init exec", t)
        elif ev == "sched:sched_process_exit":
            if pid == r.get("true_pid") and tid == pid:
                m.setdefault("true exit", t)
            if pid == r["root"] and tid == pid:
                m["end"] = t
        elif ev in ("syscalls:sys_enter_mount", "syscalls:sys_enter_fsmount", "syscalls:sys_enter_move_mount"):
            m.setdefault("first mount", t)
        elif ev == "syscalls:sys_enter_pivot_root":
            m.setdefault("pivot_root", t)
        elif ev == "syscalls:sys_enter_seccomp" and "exec true" not in m:
            m["seccomp"] = t
    for r in runs:
        procs = [t for c, t in r.get("forks", []) if tgid_of.get(c, c) == c]
        if procs:
            r["m"]["fork#1"] = min(procs)
    order = ["fork#1", "init exec", "first mount", "pivot_root", "seccomp", "exec true", "true exit", "end"]
    by_rt = collections.OrderedDict()
    for r in runs:
        if "exec true" in r["m"]:
            by_rt.setdefault(r["rt"], []).append(r["m"])
    print("| milestone (ms after exec) | " + " | ".join(f"{k} (n={len(v)})" for k, v in by_rt.items()) + " |")
    print("|---|" + "---|" * len(by_rt))
    for k in order:
        cells = []
        for rt, ms in by_rt.items():
            xs = [m[k] for m in ms if k in m]
            cells.append(f"{statistics.median(xs):.2f}" if len(xs) * 2 >= len(ms) else "–")
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
