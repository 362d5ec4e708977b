#!/bin/bash
# bench/profile.sh [OUTDIR] traces one `run` of /bin/true per runtime (hull,
# runc, crun) in the same private mount namespace the bench uses (the hybrid
# cgroup2 mount detached), and writes per runtime:
#   OUTDIR/<rt>.summary   strace -f -c (syscall counts and kernel time)
#   OUTDIR/<rt>.trace     strace -f -tt -T (every call, timestamped, per pid)
#   OUTDIR/<rt>.phases    gaps and milestones extracted from the trace
# A benchmark tool: it may use unshare(1); hull itself never does.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/bench/.bin/profile}
mkdir -p "$out"
out=$(cd "$out" && pwd)
hull=${HULL:-$repo/hull}
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

unshare --mount --propagation private bash -s -- "$hull" "$work" "$out" <<'SH'
set -euo pipefail
hull=$1 work=$2 out=$3
if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then umount -l /sys/fs/cgroup/unified; fi
for rt in "hull:$hull" runc:/usr/sbin/runc crun:/usr/bin/crun; do
	name=${rt%%:*} bin=${rt#*:}
	root=$work/root-$name
	mkdir -p "$root"
	"$bin" --root "$root" run --bundle "$work/bundle" warm-$name
	strace -f -c -o "$out/$name.summary" "$bin" --root "$root" run --bundle "$work/bundle" c-$name
	strace -f -tt -T -s 96 -o "$out/$name.trace" "$bin" --root "$root" run --bundle "$work/bundle" t-$name
done
SH
for rt in hull runc crun; do
	python3 "$repo/bench/phases.py" "$out/$rt.trace" >"$out/$rt.phases"
done
echo "profile: $out"
