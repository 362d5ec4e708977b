#!/bin/bash
# vm.sh boots the cached Debian guest (tests/vm/image.sh) under qemu TCG, runs one
# command in it and exits with that command's exit code.
#
#   tests/vm/vm.sh [--mode=systemd|selinux] [--timeout=SEC] SHARE_DIR COMMAND...
#
# SHARE_DIR is mounted read-write at /mnt/share (virtio-9p) and is COMMAND's cwd.
# COMMAND runs as root under bash -c; its output streams back over a virtio-serial
# port to our stdout. Modes:
#   systemd  systemd is PID 1, cgroup v2 unified, AppArmor is the major LSM (default);
#            the command runs in hullvm-run.service once multi-user.target is reached
#   selinux  security=selinux, labelled image, a minimal shell PID 1 that loads the
#            policy and sets enforcing; the command runs as unconfined_t
# HULL_VM_GUEST_FOO=bar is exported to COMMAND as FOO=bar.
# Exit: COMMAND's code; 124 on timeout; 125 if the guest died without reporting one.
# On 124/125 (or HULL_VM_CONSOLE=1) the guest console tail is printed to stderr.
# The image is booted with snapshot=on: runs never change it and may run concurrently.
# qemu is killed by PID and the control dir removed on every exit path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=systemd
TIMEOUT=${HULL_VM_TIMEOUT:-900}
while [ $# -gt 0 ]; do
	case $1 in
	--mode=*) MODE=${1#--mode=} ;;
	--timeout=*) TIMEOUT=${1#--timeout=} ;;
	--) shift; break ;;
	-*) echo "vm.sh: unknown option $1" >&2; exit 125 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 2 ] || { echo "usage: vm.sh [--mode=systemd|selinux] [--timeout=SEC] SHARE_DIR COMMAND..." >&2; exit 125; }
SHARE=$(cd "$1" && pwd)
shift
CMD="$*"

CACHE=$("$here/image.sh") || { echo "vm.sh: guest image build failed" >&2; exit 125; }

APPEND="console=ttyS0,115200 root=/dev/vda rw panic=-1 loglevel=4 net.ifnames=0 quiet"
case $MODE in
systemd) APPEND+=" apparmor=1 security=apparmor systemd.unified_cgroup_hierarchy=1 systemd.show_status=0" ;;
selinux) APPEND+=" security=selinux selinux=1 apparmor=0 init=/usr/local/sbin/hullvm-init" ;;
*) echo "vm.sh: --mode must be systemd or selinux" >&2; exit 125 ;;
esac

mkdir -p "$CACHE/run"
CTL=$(mktemp -d "$CACHE/run/ctl.XXXXXX")
CONSOLE=$CTL.console.log
QPID=
cleanup() {
	if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null || true; fi
	rm -rf "$CTL" "$CONSOLE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%s\n' "$CMD" > "$CTL/cmd"
for v in $(compgen -e | grep '^HULL_VM_GUEST_' || true); do
	printf 'export %s=%q\n' "${v#HULL_VM_GUEST_}" "${!v}"
done > "$CTL/env"
printf 'export HULLVM_CMD_TIMEOUT=%q HULLVM_MODE=%q\n' "$TIMEOUT" "$MODE" >> "$CTL/env"
: > "$CONSOLE"
: > "$CTL/out"

# shellcheck disable=SC2054 # commas are qemu option syntax
QEMU=(qemu-system-x86_64 -name hullvm -machine pc -accel tcg,thread=multi -cpu max,la57=off
	-m "${HULL_VM_MEM:-2G}" -smp "${HULL_VM_SMP:-2}" -nodefaults -no-user-config -display none -no-reboot
	-kernel "$CACHE/kernel/vmlinuz" -initrd "$CACHE/initrd.img" -append "$APPEND"
	-drive "file=$CACHE/rootfs.img,format=raw,if=virtio,snapshot=on,cache=unsafe"
	-device virtio-rng-pci
	-virtfs "local,path=$CTL,mount_tag=hullvmctl,security_model=none,id=ctl"
	-virtfs "local,path=${SHARE//,/,,},mount_tag=share,security_model=none,id=share,multidevs=remap"
	-serial "file:$CONSOLE"
	-device virtio-serial-pci,id=vser
	-chardev "file,id=out,path=$CTL/out" -device virtserialport,bus=vser.0,chardev=out,name=hullvm.out)

t0=$SECONDS
# qemu gets the command's timeout plus boot time; the guest runner has its own timeout too.
# timeout(1) passes a TERM on to qemu, so killing $QPID stops the guest.
timeout -k 10 $((TIMEOUT + 180)) "${QEMU[@]}" < /dev/null &
QPID=$!
tail -n +1 -s 0.2 -f --pid="$QPID" "$CTL/out" || true
set +e
wait "$QPID"
QRC=$?
set -e
QPID=

tail_console() {
	echo "---- guest console (last ${1} lines) ----" >&2
	tail -n "$1" "$CONSOLE" >&2
	echo "---- end of guest console ----" >&2
}
if [ -f "$CTL/rc" ]; then
	RC=$(cat "$CTL/rc")
	echo "vm.sh: mode=$MODE exit $RC; command started at guest uptime $(cat "$CTL/started")s," \
		"ran $(awk -v s="$(cat "$CTL/started")" -v f="$(cat "$CTL/finished")" 'BEGIN{printf "%.0f", f-s}')s; qemu ran $((SECONDS - t0))s" >&2
	if [ "$RC" = 124 ]; then echo "vm.sh: command timed out in the guest after ${TIMEOUT}s" >&2; fi
	if [ "$RC" != 0 ] || [ "${HULL_VM_CONSOLE:-0}" = 1 ]; then tail_console 40; fi
	exit "$RC"
fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
	echo "vm.sh: timed out (qemu killed after $((SECONDS - t0))s)" >&2; tail_console 60; exit 124
fi
echo "vm.sh: guest ended (qemu exit $QRC) without reporting an exit code" >&2
tail_console 60
exit 125
