#!/usr/bin/env python3
"""cpuprof.py PERF_DATA RUNS [HZ]: where a runtime's CPU time goes, from
`perf record -g` of a loop of RUNS calls (see profile.sh). Each sample is
charged to its process name and to one bucket: the syscall it was in
(outermost __x64_sys_* frame), a page fault, exec, exit, or user space by
binary; printed as ms per run."""
import collections
import re
import subprocess
import sys

data, runs = sys.argv[1], int(sys.argv[2])
hz = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym,dso"],
                     capture_output=True, text=True).stdout
buckets = collections.Counter()
comms = collections.Counter()
comm = None
frames = []


def flush():
    if comm is None:
        return
    b = None
    for sym, dso in reversed(frames):  # outermost first
        m = re.match(r"__(?:x64|do)_sys_(\w+)", sym)
        if m:
            b = "sys_" + m[1]
            break
        if sym in ("asm_exc_page_fault", "exc_page_fault"):
            b = "page fault"
            break
    if b is None and frames:
        sym, dso = frames[0]
        if "kernel" in dso:
            outer = frames[-1][0]
            b = "kernel: " + ("ret_from_fork" if "ret_from_fork" in [s for s, _ in frames] else outer)
        else:
            b = "user: " + dso.rsplit("/", 1)[-1]
    buckets[(comm, b)] += 1
    comms[comm] += 1


for line in out.splitlines():
    if not line.strip():
        continue
    if not line.startswith(("\t", " ")) or re.match(r"^\S", line):
        flush()
        comm = line.split()[0] if line.split() else "?"
        frames = []
        continue
    m = re.match(r"\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$", line)
    if m:
        sym = re.sub(r"\+0x[0-9a-f]+$", "", m[2])
        frames.append((sym, m[3]))
flush()
scale = 1000.0 / hz / runs
total = sum(comms.values())
print(f"total {total * scale:.2f} ms CPU per run ({total} samples, {runs} runs, {hz} Hz)")
for c, n in comms.most_common():
    if n * scale < 0.1:
        continue
    print(f"\n{c}: {n * scale:.2f} ms/run")
    for (cc, b), k in buckets.most_common():
        if cc == c and k * scale >= 0.08:
            print(f"  {k * scale:6.2f}  {b}")
