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
start_all=$SECONDS

# step NAME CMD... runs one step and records its result.
step() {
	local name=$1
	shift
	local t0=$SECONDS
	echo
	echo "=== $name: $*"
	if "$@"; then
		results+=("PASS  $name ($((SECONDS - t0))s)")
		return 0
	fi
	results+=("FAIL  $name ($((SECONDS - t0))s)")
	failed=1
	return 1
}

skip() {
	results+=("SKIP  $1 ($2)")
}

summary() {
	echo
	echo "=== summary ($((SECONDS - start_all))s)"
	printf '%s\n' "${results[@]}"
	if ((failed)); then
		echo "test.sh: FAILED"
	else
		echo "test.sh: ok"
	fi
}
trap summary EXIT

unit_packages() {
	go list ./... | grep -v '/tests/integration$'
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

if [[ -f conformance/run.sh ]]; then
	if ((built)); then
		step conformance bash conformance/run.sh "$HULL_BINARY"
	else
		skip conformance "no binary"
	fi
else
	skip conformance "conformance/run.sh not present"
fi

exit $failed
