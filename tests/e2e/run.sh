#!/bin/bash
# run.sh [RUNTIME] runs the end-to-end suite: Podman and containerd, from
# Debian, driving RUNTIME (default: the repo's ./hull) as root and offline.
# Exits non-zero if any scenario fails or anything is left behind.
#
# Environment:
#   E2E_RUN      passed to `go test -run` (e.g. 'TestPodman/oom')
#   E2E_KEEP     keep the work dir (engine state, logs) for inspection
#   E2E_TIMEOUT  go test -timeout (default 9m)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH

# shellcheck source=tests/lib/workdir.sh
source "$repo/tests/lib/workdir.sh"
runtime=$(resolve_runtime e2e "${1:-}" "$repo/hull") || exit 1

if [[ $(id -u) != 0 ]]; then
	echo "e2e: must run as root" >&2
	exit 1
fi
"$here/deps.sh" || exit 1

work=$(mktemp -d /tmp/hull-e2e.XXXXXX) || exit 1
chmod 0755 "$work"
export E2E_WORKDIR=$work

# cleanup is the safety net for a suite that died (panic, -timeout, a
# signal) before its own teardown: it stops containerd and every process
# started from the work dir by pid, unmounts what is left there, removes it.
cleanup() {
	local pid
	if [[ -f $work/containerd.pid ]]; then
		pid=$(<"$work/containerd.pid")
		if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$work"; then
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	kill_workdir_procs e2e "$work"
	umount_workdir "$work"
	if [[ -z ${E2E_KEEP:-} ]]; then
		rm -rf "$work"
	else
		echo "e2e: kept $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$repo" || exit 1
start=$SECONDS
go test -tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-9m}" ${E2E_RUN:+-run "$E2E_RUN"} ./tests/e2e/ -args -runtime="$runtime"
rc=$?
echo "e2e: $runtime: $([[ $rc == 0 ]] && echo PASS || echo FAIL) in $((SECONDS - start))s"
exit $rc
