#!/bin/bash
# run.sh is `make test-vm`: it proves in a qemu guest (Debian bookworm, Debian's 6.1
# kernel) what the CI host cannot: cgroup v2 (fs and systemd drivers), the eBPF device
# filter, AppArmor and SELinux enforcing. Each check also runs against the guest's runc
# as the reference. Needs root; host packages come from tests/vm/deps.sh.
#
#   tests/vm/run.sh                      both boots, hull and runc
#   HULL=path/to/hull                    the binary under test (default ./hull, built by make)
#   HULL_VM_MODES="systemd selinux"      which boots
#   HULL_VM_RUNTIMES="hull runc"         which runtimes (crun works too)
#   HULL_VM_CONFORMANCE=REGEX|all|0      conformance/ tests run on hull in the systemd boot
#                                        (default: the cgroup, device and lifecycle tests,
#                                        the ones cgroup v2 changes; all: the whole suite)
#   HULL_VM_CHECKS="systemd apparmor"    only these checks (names: check_* in guest/checks.sh)
#   HULL_VM_CACHE, HULL_VM_REBUILD       see image.sh
#
# Output: the guest's check lines as they run, then a summary; results are also left in
# $HULL_VM_RESULTS (default tests/vm/.cache/results.txt), one line per check:
#   PASS|FAIL|SKIP <runtime> <check> <details>
# Exit: 0 when every boot completed and no check failed on hull; 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
MODES=${HULL_VM_MODES:-systemd selinux}
RUNTIMES=${HULL_VM_RUNTIMES:-hull runc}
HULL=${HULL:-$repo/hull}
t0=$SECONDS

[ "$(id -u)" = 0 ] || { echo "tests/vm: must run as root (debootstrap, qemu 9p passthrough)" >&2; exit 1; }
"$here/deps.sh"
if [ ! -x "$HULL" ]; then make -C "$repo" hull; fi
# the guest is Debian bookworm: hull's shared libraries must be ones it has
ldd "$HULL" | grep -v -E 'linux-vdso|ld-linux|libc\.so|libseccomp\.so|libpthread|libresolv|libdl' | grep '=>' &&
	echo "tests/vm: warning: $HULL links a library the guest may lack" >&2

share=$(mktemp -d /tmp/hull-vm.XXXXXX)
trap 'rm -rf "$share"' EXIT
cp "$HULL" "$share/hull"
cp "$here/guest/checks.sh" "$share/checks.sh"
cp "$here/guest/criu.sh" "$share/criu.sh"
# the console socket of criu.sh's terminal checks (static: the guest has no Go)
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$share/recvtty" ./tests/vm/recvtty)
cp "$here/guest/rootless.sh" "$share/rootless.sh"
rootfs=$("$repo/scripts/mkrootfs.sh")
tar -C "$rootfs" -cf "$share/rootfs.tar" .
mkdir -p "$share/results"
[ -z "${HULL_VM_CHECKS:-}" ] || export HULL_VM_GUEST_CHECKS=$HULL_VM_CHECKS
# hull's AppArmor and SELinux unit tests, run in the guest where those LSMs are on
# (check_lsm_units); static test binaries: the guest has no Go
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$share/apparmor.test" ./apparmor &&
	CGO_ENABLED=0 go test -c -o "$share/selinux.test" ./selinux)
CONFORMANCE=${HULL_VM_CONFORMANCE:-TestCgroupResources|TestCgroupsPath|TestCgroupUnified|TestBlockIOThrottle|TestDevices|TestDeviceCgroupOrder|TestLifecycle|TestDeleteResources|TestKillSignal}
if [ "$CONFORMANCE" != 0 ]; then
	# static test binary + in-container checker, built here: the guest has no Go
	(cd "$repo/conformance" && CGO_ENABLED=0 go test -c -o "$share/conformance.test" . &&
		CGO_ENABLED=0 go build -trimpath -o "$share/checker" ./checker)
	[ "$CONFORMANCE" = all ] && CONFORMANCE=.
	export HULL_VM_GUEST_CONFORMANCE_RUN=$CONFORMANCE
fi

CACHE=$("$here/image.sh")
echo "tests/vm: image ready after $((SECONDS - t0))s (cache $CACHE)"
RESULTS=${HULL_VM_RESULTS:-$CACHE/results.txt}
: > "$RESULTS"

status=0
for mode in $MODES; do
	m0=$SECONDS
	echo "tests/vm: ==== boot $mode: checks on $RUNTIMES"
	set +e
	"$here/vm.sh" --mode="$mode" --timeout=900 "$share" \
		"bash /mnt/share/checks.sh $mode /mnt/share /mnt/share/results/$mode.txt $RUNTIMES"
	rc=$?
	set -e
	[ -f "$share/results/$mode.txt" ] && sed "s/^\([A-Z]*\) /\1 [$mode] /" "$share/results/$mode.txt" >> "$RESULTS"
	echo "tests/vm: boot $mode done in $((SECONDS - m0))s (exit $rc)"
	case $rc in
	0) ;;
	1) status=1 ;; # a check failed on hull
	*) echo "tests/vm: boot $mode did not complete (exit $rc)"; status=1 ;;
	esac
done

echo
echo "tests/vm: ==== summary ($((SECONDS - t0))s) ===="
for r in $RUNTIMES; do
	printf '%-5s pass %3d  fail %3d  skip %3d\n' "$r" \
		"$(grep -c "^PASS \[[a-z]*\] $r " "$RESULTS")" "$(grep -c "^FAIL \[[a-z]*\] $r " "$RESULTS")" \
		"$(grep -c "^SKIP \[[a-z]*\] $r " "$RESULTS")" || true
done
if grep -q '^FAIL' "$RESULTS"; then
	echo "failures:"
	grep '^FAIL' "$RESULTS" | cut -c1-400
fi
# a check that fails on the reference while passing on hull is a broken check
for r in $RUNTIMES; do
	[ "$r" = hull ] && continue
	# (grep finds nothing when the reference passes everything: not an error)
	{ grep "^FAIL \[[a-z]*\] $r " "$RESULTS" || true; } | awk '{print $2, $4}' | while read -r m c; do
		echo "tests/vm: note: $c $m fails on the reference $r: the check or the guest may be wrong"
	done
done
echo "results: $RESULTS"
exit $status
