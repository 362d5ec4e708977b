#!/bin/bash
# bench/profile.sh [OUTDIR] profiles `run` of /bin/true for hull, runc and
# crun, in the same private mount namespace the bench uses (the hybrid
# cgroup2 mount detached), with the same config.json. It writes:
#   OUTDIR/phases.md     wall-clock milestones of `run` (perf tracepoints:
#                        fork, exec, mount, pivot_root, seccomp, exit),
#                        medians over RUNS runs per runtime, interleaved
#   OUTDIR/cpu-<rt>.txt  where the CPU goes (perf record -g), ms per run,
#                        by process and syscall / page fault / user binary
#   OUTDIR/<rt>.strace   strace -f -c of one run (syscall counts)
# Set HULL to profile another build (an unstripped one names Go functions:
# go build -trimpath -o bench/.bin/hull-sym .). RUNS defaults to 30.
# A benchmark tool: it may use unshare(1); hull itself never does.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/bench/.bin/profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
hull=${HULL:-$repo/hull}
runs=${RUNS:-30}
rootfs=${ROOTFS:-$("$repo/scripts/mkrootfs.sh")}
work=$(mktemp -d /run/hull-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bundle"
/usr/sbin/runc spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" "$rootfs" <<'PY'
import json, sys
p, rootfs = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["root"] = {"path": rootfs, "readonly": True}
json.dump(c, open(p, "w"), indent=1)
PY

# The runtimes' stdin is /dev/null: `run` hands it to the container.
cat >"$work/inner.sh" <<'SH'
set -euo pipefail
hull=$1 work=$2 out=$3 runs=$4
if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then umount -l /sys/fs/cgroup/unified; fi
rts="$hull /usr/sbin/runc /usr/bin/crun"
b=$work/bundle
for rt in $rts; do
	mkdir -p "$work/root-$(basename "$rt")"
	"$rt" --root "$work/root-$(basename "$rt")" run --bundle "$b" warm
	strace -f -c -o "$out/$(basename "$rt").strace" "$rt" --root "$work/root-$(basename "$rt")" run --bundle "$b" strace
done
loop='for i in $(seq 1 '$runs'); do for rt in '$rts'; do $rt --root '$work'/root-$(basename $rt) run --bundle '$b' p$i; done; done'
perf record -q -a -o "$work/sched.data" \
	-e sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit \
	-e syscalls:sys_enter_pivot_root,syscalls:sys_enter_mount,syscalls:sys_enter_fsmount,syscalls:sys_enter_move_mount,syscalls:sys_enter_seccomp \
	-- bash -c "$loop" >/dev/null 2>&1
perf script -i "$work/sched.data" -F comm,pid,tid,time,event,trace >"$work/sched.txt" 2>/dev/null
for rt in $rts; do
	n=$(basename "$rt")
	perf record -q -F 4000 -g -o "$work/cpu-$n.data" -- bash -c \
		'for i in $(seq 1 '$runs'); do '$rt' --root '$work'/root-'$n' run --bundle '$b' c$i; done' >/dev/null 2>&1
done
SH
unshare --mount --propagation private bash "$work/inner.sh" "$hull" "$work" "$out" "$runs" </dev/null
python3 "$repo/bench/phases.py" "$work/sched.txt" "$hull=hull" >"$out/phases.md"
for rt in "$hull" /usr/sbin/runc /usr/bin/crun; do
	n=$(basename "$rt")
	python3 "$repo/bench/cpuprof.py" "$work/cpu-$n.data" "$runs" >"$out/cpu-$n.txt"
done
cat "$out/phases.md"
head -1 "$out"/cpu-*.txt
echo "profile: $out"
