#!/bin/bash
# run.sh runs hull's reliability suite (tests/reliability) as root against
# a hull binary: fault injection (strace), concurrency, bad input, and a
# short soak. `make test` calls it with the default counts (a few minutes);
# `make soak` with SOAK_CYCLES=1000 SOAK_EXECS=200.
#
# Environment:
#   HULL_BINARY   hull to test (default: <repo>/hull)
#   SOAK_CYCLES   create/start/delete cycles of the soak (default 100)
#   SOAK_EXECS    execs of the soak (default 50)
#   SOAK_REPORT   file that receives the soak's numbers (default: none)
#   CONCURRENCY   parallel lifecycles in TestConcurrentDistinct (default 16)
#   RACE_ROUNDS   rounds of each same-id race (default 5)
#   TEST_RUN      passed to -run (e.g. TestSoak for `make soak`)
#   TIMEOUT       go test -timeout (default 20m)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD
export PATH=/usr/local/go/bin:$PATH
export HULL_BINARY=${HULL_BINARY:-$repo/hull}

if [[ $(id -u) != 0 ]]; then
	echo "reliability: needs root" >&2
	exit 1
fi
if [[ ! -x $HULL_BINARY ]]; then
	echo "reliability: $HULL_BINARY not found (make hull)" >&2
	exit 1
fi
if ! command -v strace >/dev/null; then
	echo "reliability: strace not installed: the syscall fault-injection cases will skip (apt-get install strace)" >&2
fi

go vet -tags reliability ./tests/reliability/
exec go test -tags reliability -count=1 -timeout "${TIMEOUT:-20m}" ${TEST_RUN:+-run "$TEST_RUN"} ${VERBOSE:+-v} ./tests/reliability/
