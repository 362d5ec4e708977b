#!/bin/bash
# test.sh runs every test hull has, in order: build, go vet, unit tests,
# integration tests (against ./hull), then the conformance suite if present.
# Every step runs even if an earlier one failed (except those that need the
# binary); a summary is printed at the end and the exit status is non-zero if
# any step failed.
#
# Environment:
#   HULL_BINARY   runtime binary for the integration tests (default ./hull)
#   TEST_RUN      passed to `go test -run` for the integration tests
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export PATH=/usr/local/go/bin:$PATH
export HULL_BINARY=${HULL_BINARY:-$repo/hull}

results=()
failed=0
failed_steps=()
start_all=$SECONDS
# Each step's output is also kept here, so that the digest at the very end
# (which is all a CI log's tail may show) can say why a step failed.
logdir=$(mktemp -d /tmp/hull-test.XXXXXX)

# step NAME CMD... runs one step and records its result.
step() {
	local name=$1
	shift
	local t0=$SECONDS rc
	echo
	echo "=== $name: $*"
	# A process substitution, not a pipe: a daemon a step leaves holding
	# its stdout must not make test.sh wait for it.
	"$@" > >(tee "$logdir/$name.log") 2>&1
	rc=$?
	if ((rc == 0)); then
		results+=("PASS  $name ($((SECONDS - t0))s)")
		return 0
	fi
	results+=("FAIL  $name ($((SECONDS - t0))s, exit $rc)")
	failed=1
	failed_steps+=("$name")
	return 1
}

# digest prints, for each failed step, the lines of its output that say
# what failed (go test's FAIL/panic lines, the suites' FAIL and error
# lines), at most 12 per step, so the reason is in the last lines printed.
digest() {
	local name lines
	for name in "${failed_steps[@]}"; do
		lines=$(grep -a -E -- '--- FAIL|^FAIL|FAIL:|panic:|[Ee]rror|timed out|not found|cannot|LEFT BEHIND|fail [1-9]' "$logdir/$name.log" |
			grep -a -v -E '^\s*(ok|PASS)\b' | tail -n 12 | cut -c1-300)
		[[ -z $lines ]] && lines=$(tail -n 8 "$logdir/$name.log" | cut -c1-300)
		echo "--- why $name failed:"
		printf '%s\n' "$lines" | sed 's/^/    /'
	done
}

skip() {
	results+=("SKIP  $1 ($2)")
}

summary() {
	echo
	echo "=== summary ($((SECONDS - start_all))s)"
	printf '%s\n' "${results[@]}"
	if ((failed)); then
		digest
		echo "test.sh: FAILED (step logs in $logdir)"
	else
		rm -rf "$logdir"
		echo "test.sh: ok"
	fi
}
trap summary EXIT

unit_packages() {
	go list ./... | grep -v -e '/tests/integration$' -e '/tests/readme$'
}

built=0
if [[ $HULL_BINARY == "$repo/hull" ]]; then
	step build make hull && built=1
else
	skip build "HULL_BINARY=$HULL_BINARY"
	built=1
fi

step vet go vet ./...

pkgs=$(unit_packages)
if [[ -n $pkgs ]]; then
	# shellcheck disable=SC2086
	step unit go test -count=1 -timeout 10m $pkgs
else
	skip unit "no packages"
fi

if ((built)); then
	step rootfs ./scripts/mkrootfs.sh
	step integration go test -count=1 -timeout 20m ${TEST_RUN:+-run "$TEST_RUN"} ./tests/integration/
else
	skip integration "no binary"
fi

# optional_step NAME SCRIPT ARGS...: a suite that lives in its own
# directory; a missing script is reported, never silently passed.
optional_step() {
	local name=$1 script=$2
	shift 2
	if [[ ! -f $script ]]; then
		skip "$name" "$script not present"
	elif ((built)); then
		step "$name" bash "$script" "$@"
	else
		skip "$name" "no binary"
	fi
}

if ((built)); then
	step readme go test -count=1 -timeout 10m ./tests/readme/
fi
# The conformance suite and the engine scenarios prove themselves on
# Debian's runc first: a check that fails there is a broken check (runc's
# documented deviations, conformance/DEVIATIONS.md, are reported, not
# failed). hull runs strictly: every failure fails the step except the
# reviewed rows of its own allow-list, each with its reason.
optional_step conformance-runc conformance/run.sh /usr/sbin/runc
optional_step conformance conformance/run.sh "$HULL_BINARY" -strict -allow "$repo/conformance/HULL-ALLOW.md"
optional_step e2e-runc tests/e2e/run.sh /usr/sbin/runc
optional_step e2e tests/e2e/run.sh "$HULL_BINARY"
optional_step cri-runc tests/cri/run.sh /usr/sbin/runc
optional_step cri tests/cri/run.sh "$HULL_BINARY"
# 200 create/start/delete cycles with the leak check (issue 4's count);
# `make soak` runs 1000 and 200 execs.
export SOAK_CYCLES=${SOAK_CYCLES:-200}
optional_step reliability tests/reliability/run.sh
# Each fuzz target for a short fixed time (FUZZTIME; longer by hand).
export FUZZTIME=${FUZZTIME:-5s}
optional_step fuzz tests/reliability/fuzz.sh
# Last, the slowest: a qemu guest with cgroup v2, systemd, AppArmor and
# SELinux for what this host cannot show (its image is cached).
optional_step vm tests/vm/run.sh

exit $failed
