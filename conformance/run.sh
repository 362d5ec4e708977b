#!/bin/sh
# run.sh RUNTIME [test flags...]: build the OCI conformance suite and run it
# against RUNTIME (a path or a name in PATH), e.g.
#   ./run.sh /usr/sbin/runc
#   ./run.sh ../hull -test.run 'TestLifecycle|TestHooks' -report /tmp/hull.json
# Needs root (it creates containers), Go, and /bin/busybox (busybox-static).
set -eu
if [ $# -lt 1 ]; then
	echo "usage: $0 RUNTIME [test flags...]" >&2
	exit 2
fi
runtime=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
case $runtime in
	/*) ;;
	*/*) runtime=$(cd "$(dirname "$runtime")" && pwd)/$(basename "$runtime") ;;
esac
cd "$here"
# The suite builds its in-container checker with go at start-up; pass the
# absolute path, sudo's secure_path may not contain it.
gotool=$(command -v go)
go test -c -o conformance.test .
if [ "$(id -u)" -ne 0 ]; then
	exec sudo ./conformance.test -go "$gotool" -runtime "$runtime" "$@"
fi
exec ./conformance.test -go "$gotool" -runtime "$runtime" "$@"
