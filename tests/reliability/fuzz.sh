#!/bin/bash
# fuzz.sh runs each of hull's go-fuzz targets for a short fixed time
# (FUZZTIME, default 10s), one after the other, and fails if any finds a
# failing input (go test writes it to the package's testdata/fuzz/).
#
#   tests/reliability/fuzz.sh            all targets, 10s each
#   FUZZTIME=1m tests/reliability/fuzz.sh
#   tests/reliability/fuzz.sh FuzzParseBytes   one target
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH=/usr/local/go/bin:$PATH
fuzztime=${FUZZTIME:-10s}

# package target
targets=(
	". FuzzParseSignal"
	". FuzzParseBytes"
	". FuzzParseUser"
	". FuzzMergeResources"
	"./libct FuzzSyncDecode"
	"./libct FuzzSyncRoundTrip"
	"./libct FuzzDecodeBootstrap"
	"./libct FuzzParseProcStat"
	"./specconv FuzzConvert"
	"./specconv FuzzParseMountOptions"
	"./specconv FuzzSysctlName"
)

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [[ $# -gt 0 && " $* " != *" $name "* ]]; then
		continue
	fi
	echo "=== $name ($pkg, $fuzztime)"
	out=$(mktemp)
	# Go's fuzzing engine sometimes ends a short run with a bare "context
	# deadline exceeded" (the time ran out while a worker was busy, with
	# no failing input): that run is repeated (twice at most). A real failure names
	# its input ("Failing input written to ...") and is never retried.
	for try in 1 2 3; do
		if go test -run "^$name\$" -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; then
			break
		fi
		if ((try < 3)) && grep -q "context deadline exceeded" "$out" && ! grep -q "Failing input written" "$out"; then
			echo "=== $name: the fuzzing engine's deadline, not an input: again"
			continue
		fi
		failed+=("$name")
		break
	done
	rm -f "$out"
done
if ((${#failed[@]})); then
	echo "fuzz.sh: FAILED: ${failed[*]}"
	exit 1
fi
echo "fuzz.sh: ok"
