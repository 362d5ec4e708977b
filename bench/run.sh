#!/bin/bash
# bench/run.sh [driver flags] times hull against runc and crun in one run,
# interleaved round by round, and prints markdown tables of medians and
# pairwise ratios (method and results: bench/RESULTS.md). Needs root.
#
#   ./bench/run.sh                     # default: about 1.5-3 minutes
#   ./bench/run.sh -n 50 -big-n 5      # more rounds
#   ./bench/run.sh -runtimes hull,crun # a subset; the first is compared
#
# Environment: HULL (default ./hull), RUNC, CRUN, ROOTFS (default: built by
# scripts/mkrootfs.sh), GO.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [[ $(id -u) != 0 ]]; then
	echo "bench: needs root (namespaces, cgroups, mounts)" >&2
	exit 1
fi
hull=${HULL:-$repo/hull}
if [[ ! -x $hull ]]; then
	echo "bench: $hull not found; run make hull (or make bench)" >&2
	exit 1
fi
rootfs=${ROOTFS:-$("$repo/scripts/mkrootfs.sh")}

bin="$repo/bench/.bin"
mkdir -p "$bin"
(cd "$repo/bench" && GOFLAGS= ${GO:-go} build -trimpath -o "$bin/bench" .)

exec "$bin/bench" -hull "$hull" -runc "${RUNC:-/usr/sbin/runc}" -crun "${CRUN:-/usr/bin/crun}" \
	-rootfs "$rootfs" "$@"
