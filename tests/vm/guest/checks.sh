#!/bin/bash
# checks.sh runs in the guest (tests/vm/run.sh boots it there). It checks what the CI
# host cannot: cgroup v2, the systemd driver, AppArmor and SELinux, each against hull
# and against runc as the reference (a check that fails on runc is a broken check).
#
#   checks.sh MODE PAYLOAD_DIR RESULTS_FILE RUNTIME...
#
# MODE is systemd (cgroup v2 + systemd PID 1 + AppArmor) or selinux (enforcing).
# PAYLOAD_DIR holds hull, rootfs.tar and (optional) conformance.test + checker.
# Env: CHECKS (only these check_* functions), CONFORMANCE_RUN (-test.run of the suite).
# Each result is one line in RESULTS_FILE:
#   PASS|FAIL|SKIP <runtime> <check> [details]
# Exit: 0 when no check failed on hull.
set -uo pipefail

MODE=$1 PAYLOAD=$2 RESULTS=$3
shift 3
RUNTIMES=("$@")
W=/var/lib/hullvm # local disk: exec from 9p is slow
ROOTFS=$W/rootfs
CG=/sys/fs/cgroup
export PATH=$W/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

mkdir -p $W/bin $ROOTFS
cp "$PAYLOAD/hull" $W/bin/hull
tar -C $ROOTFS -xf "$PAYLOAD/rootfs.tar"
echo "hullvm-secret" > $ROOTFS/etc/secret
# Debian's policy has no container_file_t: bin_t is an entrypoint unconfined_t accepts
# (var_lib_t, the default here, is not: "avc: denied { entrypoint }")
selinuxenabled 2>/dev/null && chcon -R -t bin_t $ROOTFS
: > "$RESULTS"

# ---------------------------------------------------------------- helpers ----
RT= RTN= OUT=
log() { echo "  $*"; }
result() { # STATUS CHECK DETAILS...
	local s=$1 c=$2
	shift 2
	local d; d=$(printf '%s' "$*" | tr '\n' ' ')
	printf '%s %s %s %s\n' "$s" "$RTN" "$c" "$d" >> "$RESULTS"
	printf '%-4s %-5s %-28s %s\n' "$s" "$RTN" "$c" "$d"
}
pass() { result PASS "$@"; }
fail() { result FAIL "$@"; }
skip() { result SKIP "$@"; }
# rt ARGS...: the runtime under test with its own state dir (and $RTFLAGS); output in
# $OUT. Output goes through a file, not a pipe: a detached container inherits it.
RTFLAGS=()
rt() {
	timeout 60 "$RT" --root "/run/hullvm-$RTN" "${RTFLAGS[@]}" "$@" > $W/rt.out 2>&1 < /dev/null
	local rc=$?
	OUT=$(tr -d '\0' < $W/rt.out)
	[ $rc = 0 ] || log "$RTN $*: exit $rc: $(echo "$OUT" | tail -3)" >&2
	return $rc
}
# bundle ID JQ-FILTER [JQ-ARGS...]: /run/hullvm-b/ID/config.json from the base spec
bundle() {
	local id=$1 filter=${2:-.} b=/run/hullvm-b/$1
	shift 2
	rm -rf "$b" && mkdir -p "$b"
	jq --arg id "$id" --arg rootfs "$ROOTFS" "$@" "$BASE_FILTER | $filter" $W/base.json > "$b/config.json" ||
		{ echo "bad jq filter for $id: $filter" >&2; return 1; }
	echo "$b"
}
cleanup_ct() { timeout 30 "$RT" --root "/run/hullvm-$RTN" "${RTFLAGS[@]}" delete -f "$1" > /dev/null 2>&1 < /dev/null; }
pid_of() { rt state "$1" >/dev/null && echo "$OUT" | jq -r .pid; }
# readf FILE: a cgroup file's content, or "<missing>"
readf() { if [ -e "$1" ]; then tr '\n' ' ' < "$1" | sed 's/ *$//'; else echo "<missing>"; fi; }
# want CHECK FILE EXPECTED...: pass if FILE's content equals one of EXPECTED
want() {
	local c=$1 f=$2 got e
	shift 2
	got=$(readf "$f")
	for e in "$@"; do [ "$got" = "$e" ] && { pass "$c" "$f=$got"; return 0; }; done
	fail "$c" "$f: got '$got', want $(printf "'%s' " "$@")"
}

# The base config: runc's default spec shape, rootfs read-only + a tmpfs /tmp.
cat > $W/base.json <<'JSON'
{
 "ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
  "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], "cwd": "/",
  "capabilities": {
   "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"],
   "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"],
   "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID"]},
  "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
  "noNewPrivileges": true},
 "root": {"path": "rootfs", "readonly": true},
 "hostname": "hullvm",
 "mounts": [
  {"destination": "/proc", "type": "proc", "source": "proc"},
  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
  {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
  {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
  {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
  {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
  {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
  {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}],
 "linux": {
  "resources": {"devices": [{"allow": false, "access": "rwm"}]},
  "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
  "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
  "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}
}
JSON
BASE_FILTER='.root.path = $rootfs | .linux.cgroupsPath = "/hullvm/" + $id'

# ---------------------------------------------------------------- checks ----
check_features() {
	if rt features && echo "$OUT" | jq -e . >/dev/null 2>&1; then
		pass features "$(echo "$OUT" | jq -c '{ociVersionMax, cgroup: .linux.cgroup, apparmor: .linux.apparmor, selinux: .linux.selinux, seccomp: (.linux.seccomp.enabled)}' 2>/dev/null)"
	else
		fail features "exit or JSON: $(echo "$OUT" | head -3)"
	fi
	[ "$RTN" = hull ] || return 0
	echo "  --- hull features (guest) ---"; echo "$OUT" | jq -c . 2>/dev/null | cut -c1-2000
	if ! rt check --format json; then
		fail check "exit: $(echo "$OUT" | head -3)"
		return 0
	fi
	# hull check must describe this guest as it is: what the kernel has
	# here is what the host lacks (issue 10).
	st() { echo "$OUT" | jq -r --arg n "$1" '.checks[] | select(.name == $n) | .status + " " + .detail'; }
	local bad=""
	if [ "$MODE" = systemd ]; then
		[[ $(st "cgroup layout") == "ok v2"* ]] || bad+=" cgroup layout: $(st "cgroup layout");"
		[[ $(st apparmor) == ok* ]] || bad+=" apparmor: $(st apparmor);"
		[[ $(st systemd) == ok* ]] || bad+=" systemd: $(st systemd);"
	else
		[[ $(st selinux) == ok* ]] || bad+=" selinux: $(st selinux);"
	fi
	[ "$(echo "$OUT" | jq -r .canRun)" = true ] || bad+=" canRun false;"
	if [ -z "$bad" ]; then
		pass check "reports this guest: $(echo "$OUT" | jq -c '[.checks[] | select(.name == "cgroup layout" or .name == "apparmor" or .name == "selinux" or .name == "systemd") | .name + "=" + .status]')"
	else
		fail check "does not report this guest as it is:$bad"
	fi
}

check_cgroup_files() {
	local id=$RTN-files b dev pid cg hp="" ctl
	dev=$(cat /sys/block/vda/dev)
	ctl=$(cat $CG/cgroup.controllers)
	case " $ctl " in *" hugetlb "*) [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] && hp=1 ;; esac
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.resources += {
		memory: {limit: 67108864, swap: 100663296, reservation: 33554432},
		cpu: {shares: 1024, quota: 50000, period: 100000, cpus: "0-1", mems: "0"},
		blockIO: {weight: 500, throttleReadBpsDevice: [{major: ($dev|split(":")[0]|tonumber), minor: ($dev|split(":")[1]|tonumber), rate: 1048576}]},
		pids: {limit: 50},
		unified: {"memory.high": "104857600", "memory.oom.group": "1"}}
		| if $hp == "1" then .linux.resources.hugepageLimits = [{pageSize: "2MB", limit: 4194304}] else . end' \
		--arg dev "$dev" --arg hp "$hp")
	if ! rt run -d -b "$b" "$id"; then fail cgv2-create "run -d: $OUT"; return; fi
	cg=$CG/hullvm/$id
	pid=$(pid_of "$id")
	if [ "$(cat /proc/"$pid"/cgroup)" = "0::/hullvm/$id" ]; then pass cgv2-placement "init in 0::/hullvm/$id"
	else fail cgv2-placement "init's /proc/$pid/cgroup: $(cat /proc/"$pid"/cgroup)"; fi
	want memory.max "$cg/memory.max" 67108864
	want memory.swap.max "$cg/memory.swap.max" 33554432
	want memory.low "$cg/memory.low" 33554432
	want cpu.max "$cg/cpu.max" "50000 100000"
	# shares 1024: runc <= 1.2 maps linearly (39), runc >= 1.3 and crun quadratically (100)
	want cpu.weight "$cg/cpu.weight" 39 100
	want cpuset.cpus "$cg/cpuset.cpus" 0-1
	want cpuset.mems "$cg/cpuset.mems" 0
	# blkio weight 500 -> io.weight 1+(500-10)*9999/990 = 4950 (io.bfq.weight takes 500)
	if [ -e "$cg/io.bfq.weight" ]; then want io.bfq.weight "$cg/io.bfq.weight" "default 500" "default 4950"
	else want io.weight "$cg/io.weight" "default 4950"; fi
	want io.max "$cg/io.max" "$dev rbps=1048576 wbps=max riops=max wiops=max"
	want pids.max "$cg/pids.max" 50
	if [ -n "$hp" ]; then want hugetlb.2MB.max "$cg/hugetlb.2MB.max" 4194304
	else skip hugetlb.2MB.max "guest kernel has no hugetlb controller or 2MB pages"; fi
	want unified.memory.high "$cg/memory.high" 104857600
	want unified.memory.oom.group "$cg/memory.oom.group" 1
	# subtree_control of every parent enables what the leaf uses
	local p missing=""
	for p in $CG $CG/hullvm; do
		for ctl in cpu cpuset io memory pids; do
			grep -qw $ctl "$p/cgroup.subtree_control" || missing+=" $p:$ctl"
		done
	done
	[ -z "$missing" ] && pass cgv2-subtree_control "cpu cpuset io memory pids enabled in / and /hullvm" ||
		fail cgv2-subtree_control "not enabled:$missing"

	# events --stats
	if rt events --stats "$id"; then
		local s
		s=$(echo "$OUT" | jq -c '{type, mem: .data.memory.usage.usage, memlimit: .data.memory.usage.limit, pids: .data.pids.current, pidslimit: .data.pids.limit, cpu: .data.cpu.usage.total}' 2>&1)
		if echo "$OUT" | jq -e '.type == "stats" and .data.memory.usage.usage > 0 and .data.pids.current >= 1 and .data.pids.limit == 50 and .data.memory.usage.limit == 67108864' >/dev/null 2>&1; then
			pass events-stats "$s"
		else fail events-stats "want type stats, memory usage > 0 limit 67108864, pids current >= 1 limit 50; got $s; raw: $(echo "$OUT" | head -c 600)"; fi
	else fail events-stats "exit: $OUT"; fi

	# update
	if rt update --memory 134217728 --memory-swap 268435456 --pids-limit 77 --cpu-quota 20000 --cpu-period 100000 "$id"; then
		want update.memory.max "$cg/memory.max" 134217728
		want update.memory.swap.max "$cg/memory.swap.max" 134217728
		want update.pids.max "$cg/pids.max" 77
		want update.cpu.max "$cg/cpu.max" "20000 100000"
	else fail update "exit: $OUT"; fi
	printf '{"pids": {"limit": 66}, "unified": {"memory.high": "209715200"}}' > "$b/res.json"
	if rt update -r "$b/res.json" "$id"; then
		want update-r.pids.max "$cg/pids.max" 66
		want update-r.unified.memory.high "$cg/memory.high" 209715200
	else fail update-r "exit: $OUT"; fi

	# delete removes the cgroup
	rt delete -f "$id" || fail delete "exit: $OUT"
	[ -e "$cg" ] && fail cgv2-removed-on-delete "$cg still exists after delete -f" || pass cgv2-removed-on-delete "$cg gone"
}

check_nested() {
	local id=$RTN-nested b cg p missing=""
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = "/hullvm/a/b/c/" + $id | .linux.resources += {memory: {limit: 50331648}, pids: {limit: 20}}')
	if ! rt run -d -b "$b" "$id"; then fail cgv2-nested "run -d: $OUT"; return; fi
	cg=$CG/hullvm/a/b/c/$id
	want cgv2-nested.memory.max "$cg/memory.max" 50331648
	want cgv2-nested.pids.max "$cg/pids.max" 20
	for p in $CG/hullvm $CG/hullvm/a $CG/hullvm/a/b $CG/hullvm/a/b/c; do
		grep -qw memory "$p/cgroup.subtree_control" && grep -qw pids "$p/cgroup.subtree_control" || missing+=" $p"
	done
	[ -z "$missing" ] && pass cgv2-nested.subtree_control "memory+pids in every parent" ||
		fail cgv2-nested.subtree_control "memory/pids missing in subtree_control of:$missing"
	rt delete -f "$id"
	[ -e "$cg" ] && fail cgv2-nested.removed "$cg left after delete" || pass cgv2-nested.removed "leaf gone"
	rmdir $CG/hullvm/a/b/c $CG/hullvm/a/b $CG/hullvm/a 2>/dev/null
}

# a relative cgroupsPath nests beside the caller's own cgroup, under its parent (here
# /system.slice, the runner being in /system.slice/hullvm-run.service): on v2 a cgroup
# with processes cannot have children with controllers, so runc uses the parent
check_relative() {
	local id=$RTN-rel b own cg
	own=$(dirname "$(sed -n 's/^0:://p' /proc/self/cgroup)")
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = "hullvm-rel/" + $id | .linux.resources += {pids: {limit: 30}}')
	if ! rt run -d -b "$b" "$id"; then fail cgv2-relative "run -d with cgroupsPath hullvm-rel/$id (caller in $own): $OUT"; return; fi
	local pid; pid=$(pid_of "$id")
	cg=$(sed -n 's/^0:://p' /proc/"$pid"/cgroup)
	if [ "$cg" = "$own/hullvm-rel/$id" ]; then pass cgv2-relative "init in $cg, pids.max $(readf "$CG$cg/pids.max")"
	else fail cgv2-relative "init in '$cg', want $own/hullvm-rel/$id"; fi
	cleanup_ct "$id"
	rmdir "$CG$own/hullvm-rel" 2>/dev/null
}

check_oom() {
	local id=$RTN-oom b cg ev
	# dd's 128 MB buffer is touched by the read from /dev/zero: far over memory.max 32 MB
	b=$(bundle "$id" '.process.args = ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=128M count=1 2>/tmp/dd; echo $? > /tmp/rc; sleep 1000"] | .linux.resources += {memory: {limit: 33554432, swap: 33554432}}')
	if ! rt run -d -b "$b" "$id"; then fail oom-kill "run -d: $OUT"; return; fi
	cg=$CG/hullvm/$id
	local pid i; pid=$(pid_of "$id")
	for i in $(seq 30); do [ -s /proc/"$pid"/root/tmp/rc ] && break; sleep 1; done
	ev=$(readf "$cg/memory.events")
	local rc; rc=$(cat /proc/"$pid"/root/tmp/rc 2>&1)
	if [[ $ev =~ oom_kill\ ([1-9][0-9]*) ]] && [ "$rc" = 137 ]; then
		pass oom-kill "dd killed (exit $rc) under memory.max 32M; memory.events: $ev"
	else fail oom-kill "want dd OOM-killed (exit 137, memory.events oom_kill >= 1); dd exit '$rc', memory.events: $ev"; fi
	cleanup_ct "$id"
}

check_pids() {
	local id=$RTN-pids b cg rc cur ev
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.resources += {pids: {limit: 12}}')
	if ! rt run -d -b "$b" "$id"; then fail pids-enforced "run -d: $OUT"; return; fi
	cg=$CG/hullvm/$id
	# ash gives up at the first fork that fails (EAGAIN from pids.max): a fork loop of 40
	# (the sleeps let go of the exec's stdio: a runtime may wait for it to close)
	rt exec "$id" sh -c 'i=0; while [ $i -lt 40 ]; do sleep 300 > /dev/null 2>&1 & i=$((i+1)); done; echo all-forked'; rc=$?
	cur=$(readf "$cg/pids.current"); ev=$(readf "$cg/pids.events")
	if [ $rc != 0 ] && echo "$OUT" | grep -q "can't fork" && ! echo "$OUT" | grep -q all-forked && [ "$cur" -le 12 ] && [ "$ev" != "max 0" ]; then
		pass pids-enforced "fork loop stopped: pids.current $cur, pids.events '$ev', sh: $(echo "$OUT" | tail -1)"
	else fail pids-enforced "exec exit $rc, pids.current $cur, pids.events '$ev', output: $(echo "$OUT" | tr '\n' ' ')"; fi
	cleanup_ct "$id"
}

check_freeze() {
	local id=$RTN-freeze b pid cg a1 a2 a3 st
	# a loop appending to a file in the container's /tmp: its size shows progress
	b=$(bundle "$id" '.process.args = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; done > /tmp/c"]')
	if ! rt run -d -b "$b" "$id"; then fail freeze "run -d: $OUT"; return; fi
	pid=$(pid_of "$id"); cg=$CG/hullvm/$id
	sleep 1
	if ! rt pause "$id"; then fail freeze "pause: $OUT"; cleanup_ct "$id"; return; fi
	st=$(rt state "$id" && echo "$OUT" | jq -r .status)
	a1=$(stat -c %s /proc/"$pid"/root/tmp/c); sleep 2; a2=$(stat -c %s /proc/"$pid"/root/tmp/c)
	if [ -n "$a1" ] && [ "$a1" = "$a2" ] && [ "$st" = paused ] && [ "$(readf "$cg/cgroup.freeze")" = 1 ] && grep -q 'frozen 1' "$cg/cgroup.events"; then
		pass freeze "paused: output stayed at $a1 bytes for 2 s, cgroup.freeze=1, cgroup.events frozen 1, status $st"
	else fail freeze "output $a1 -> $a2 bytes while paused, status '$st', cgroup.freeze=$(readf "$cg/cgroup.freeze"), events: $(readf "$cg/cgroup.events")"; fi
	if rt resume "$id"; then
		sleep 1; a3=$(stat -c %s /proc/"$pid"/root/tmp/c)
		st=$(rt state "$id" && echo "$OUT" | jq -r .status)
		if [ -n "$a3" ] && [ "$a3" -gt "$a2" ] && [ "$st" = running ]; then pass thaw "resumed: output $a2 -> $a3 bytes, status $st"
		else fail thaw "output $a2 -> $a3 bytes after resume, status '$st'"; fi
	else fail thaw "resume: $OUT"; fi
	cleanup_ct "$id"
}

check_devices() {
	local id b tag
	# /dev/kmsg's numbers (c 1:11) as /dev/testdev: writable without capabilities
	local dev='{path: "/dev/testdev", type: "c", major: 1, minor: 11, fileMode: 438, uid: 0, gid: 0}'
	local t
	for t in deny allow readonly; do
		id=$RTN-dev-$t tag="hullvm-$RTN-$t-$RANDOM"
		case $t in
		deny) b=$(bundle "$id" ".linux.devices = [$dev]") ;;
		allow) b=$(bundle "$id" ".linux.devices = [$dev] | .linux.resources.devices += [{allow: true, type: \"c\", major: 1, minor: 11, access: \"w\"}]") ;;
		readonly) b=$(bundle "$id" ".linux.devices = [$dev] | .linux.resources.devices += [{allow: true, type: \"c\", major: 1, minor: 11, access: \"r\"}]") ;;
		esac
		jq --arg tag "$tag" '.process.args = ["sh", "-c", "if { echo \($tag) > /dev/testdev; } 2>/tmp/e; then echo wrote; else echo denied: $(cat /tmp/e); fi; echo x > /dev/null && echo null-ok"]' \
			"$b/config.json" > "$b/c.json" && mv "$b/c.json" "$b/config.json"
		rt run -b "$b" "$id"
		cleanup_ct "$id"
		local o; o=$(echo "$OUT" | tr '\n' ' ')
		case $t in
		allow) if echo "$OUT" | grep -qx wrote && dmesg | grep -q "$tag"; then pass devices.allow "allow c 1:11 w: write reached the kernel log; $o"
			else fail devices.allow "allow c 1:11 w: want the write to succeed: $o"; fi ;;
		*) if echo "$OUT" | grep -q '^denied: .*Operation not permitted' && echo "$OUT" | grep -q "Operation not permitted" && ! dmesg | grep -q "$tag"; then pass "devices.$t" "write to c 1:11 refused: $o"
			else fail "devices.$t" "want 'Operation not permitted' writing c 1:11 ($t): $o"; fi ;;
		esac
		echo "$OUT" | grep -q null-ok || fail "devices.$t.default" "/dev/null not writable (default allow list): $o"
	done
}

check_systemd() {
	local id=$RTN-sd b unit pid cg
	unit=hull-$id.scope
	# /dev/testdev (c 1:11, writable without capabilities) is allowed by the spec but not
	# by systemd's defaults: the device policy systemd rebuilds on daemon-reload must keep it
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = "system.slice:hull:" + $id | .linux.resources += {memory: {limit: 104857600}, pids: {limit: 60}, cpu: {quota: 50000, period: 100000}}
		| .linux.devices = [{path: "/dev/testdev", type: "c", major: 1, minor: 11, fileMode: 438, uid: 0, gid: 0}]
		| .linux.resources.devices += [{allow: true, type: "c", major: 1, minor: 11, access: "rwm"}]')
	RTFLAGS=(--systemd-cgroup)
	if ! rt run -d -b "$b" "$id"; then
		fail systemd-driver "--systemd-cgroup run -d: $(echo "$OUT" | tail -3)"; RTFLAGS=(); return
	fi
	pid=$(pid_of "$id")
	cg=$CG/system.slice/$unit
	local props; props=$(systemctl show "$unit" -p ActiveState -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec 2>&1 | tr '\n' ' ')
	if [ "$(cat /proc/"$pid"/cgroup)" = "0::/system.slice/$unit" ] && systemctl is-active -q "$unit"; then
		pass systemd-scope "init in active $unit"
	else fail systemd-scope "init's cgroup $(cat /proc/"$pid"/cgroup 2>&1), unit: $props"; fi
	if echo "$props" | grep -q 'MemoryMax=104857600' && echo "$props" | grep -q 'TasksMax=60' && echo "$props" | grep -q 'CPUQuotaPerSecUSec=500ms'; then
		pass systemd-properties "$props"
	else fail systemd-properties "want MemoryMax=104857600 TasksMax=60 CPUQuotaPerSecUSec=500ms; got: $props"; fi
	want systemd.memory.max "$cg/memory.max" 104857600
	want systemd.pids.max "$cg/pids.max" 60
	# runc#4568: daemon-reload must not reset the scope's device policy
	systemctl daemon-reload
	sleep 1
	if rt exec "$id" sh -c 'echo x > /dev/null && head -c 4 /dev/urandom | wc -c && echo hullvm-sd-reload > /dev/testdev && echo testdev-ok'; then
		if [ "$(echo "$OUT" | sed -n 1p | tr -d ' ')" = 4 ] && echo "$OUT" | grep -qx testdev-ok; then
			pass systemd-daemon-reload "/dev/null, /dev/urandom and the spec-allowed c 1:11 still usable after daemon-reload"
		else fail systemd-daemon-reload "after daemon-reload: $(echo "$OUT" | tr '\n' ' ')"; fi
	else fail systemd-daemon-reload "exec after daemon-reload (want /dev/null, /dev/urandom and c 1:11 usable): $(echo "$OUT" | tr '\n' ' ')"; fi
	if rt update --memory 209715200 "$id"; then
		want systemd.update.memory.max "$cg/memory.max" 209715200
		local mm; mm=$(systemctl show "$unit" -p MemoryMax)
		[ "$mm" = MemoryMax=209715200 ] && pass systemd.update.property "$mm" || fail systemd.update.property "unit says $mm after update --memory 209715200"
	else fail systemd.update "exit: $OUT"; fi
	rt delete -f "$id" || fail systemd-delete "delete -f: $OUT"
	RTFLAGS=()
	sleep 0.5
	local ls; ls=$(systemctl show "$unit" -p LoadState -p ActiveState | tr '\n' ' ')
	if [ ! -e "$cg" ] && ! systemctl is-active -q "$unit"; then pass systemd-removed "$cg gone, unit $ls"
	else fail systemd-removed "after delete: cgroup exists=$([ -e "$cg" ] && echo yes || echo no), unit $ls"; fi
}

# attach_trace on|off|show ID: the kernel's cgroup:cgroup_attach_task tracepoint, which
# fires when a task is moved into a cgroup (a cgroup.procs write), never for a process
# that clone3's CLONE_INTO_CGROUP started in it. "show" prints the moves into
# /hullvm/ID and its sub-cgroups.
TRACING=/sys/kernel/tracing
attach_trace() {
	case $1 in
	on)
		[ -e $TRACING/trace ] || mount -t tracefs nodev $TRACING 2>/dev/null
		[ -e $TRACING/events/cgroup/cgroup_attach_task/enable ] || return 1
		echo 0 > $TRACING/tracing_on && : > $TRACING/trace &&
			echo 1 > $TRACING/events/cgroup/cgroup_attach_task/enable && echo 1 > $TRACING/tracing_on ;;
	off) echo 0 > $TRACING/tracing_on; echo 0 > $TRACING/events/cgroup/cgroup_attach_task/enable ;;
	show) grep -E "dst_path=/hullvm/$2(/[^ ]*)? " $TRACING/trace | sed 's/^ *//' | cut -c1-200 ;;
	esac
}

# CLONE_INTO_CGROUP (issue 16.3): on cgroup v2 hull starts init and exec'd processes in
# their cgroup, so the kernel never moves them; runc 1.1 moves them (cgroup.procs), which
# shows that the probe sees a move
check_clone_into() {
	local id=$RTN-clone b pid cg moves
	if ! attach_trace on; then skip clone-into "no cgroup:cgroup_attach_task tracepoint in $TRACING"; return; fi
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.resources += {pids: {limit: 50}}')
	if ! rt run -d -b "$b" "$id"; then fail clone-into "run -d: $OUT"; attach_trace off; return; fi
	rt exec "$id" cat /proc/self/cgroup; local ex=$OUT
	attach_trace off
	pid=$(pid_of "$id"); cg=$(cat /proc/"$pid"/cgroup)
	moves=$(attach_trace show "$id")
	# (the exec'd process sees its cgroup from the container's cgroup namespace)
	if [ "$cg" != "0::/hullvm/$id" ] || [ "$ex" != "0::/" ]; then
		fail clone-into "init in '$cg', exec'd process in '$ex' (cgroupns), want 0::/hullvm/$id and 0::/"
	elif [ "$RTN" = hull ]; then
		[ -z "$moves" ] && pass clone-into "init and the exec'd process in 0::/hullvm/$id, no cgroup_attach_task into it: started there" ||
			fail clone-into "init and exec'd process moved into their cgroup rather than started there: $(echo "$moves" | head -3 | tr '\n' ';')"
	else
		[ -n "$moves" ] && pass clone-into "reference: $RTN moves them ($(echo "$moves" | wc -l) cgroup_attach_task events: the probe sees moves)" ||
			fail clone-into "no cgroup_attach_task event for $RTN, which moves its processes: the probe is broken"
	fi
	cleanup_ct "$id"
}

# exec --cgroup on cgroup v2 (issue 16.2): a sub-cgroup path; the controller:path form
# is v1's; and, without --cgroup, the fallback to init's cgroup when the container's
# refuses processes (EBUSY: it enabled controllers for its children, as systemd inside
# a container does), which an explicit --cgroup turns off
check_exec_cgroup() {
	local id=$RTN-execcg b pid cg
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.resources += {pids: {limit: 50}}')
	if ! rt run -d -b "$b" "$id"; then fail exec-cgroup "run -d: $OUT"; return; fi
	pid=$(pid_of "$id"); cg=$CG/hullvm/$id
	mkdir "$cg/sub"
	# (paths as seen from the container's cgroup namespace, rooted at /hullvm/ID)
	if rt exec --cgroup sub "$id" cat /proc/self/cgroup && [ "$OUT" = "0::/sub" ]; then
		pass exec-cgroup.sub "exec --cgroup sub: $OUT (cgroupns)"
	else fail exec-cgroup.sub "exec --cgroup sub: want 0::/sub (cgroupns), got: $OUT"; fi
	if rt exec --cgroup missing "$id" true; then fail exec-cgroup.missing "exec --cgroup missing (no such sub-cgroup) succeeded"
	elif [ -e "$cg/missing" ]; then fail exec-cgroup.missing "exec --cgroup created the missing sub-cgroup"
	elif ! echo "$OUT" | grep -q "$id/missing"; then fail exec-cgroup.missing "refused, but the error does not name the sub-cgroup: $(echo "$OUT" | tail -1)"
	else pass exec-cgroup.missing "refused: $(echo "$OUT" | tail -1)"; fi
	# the container moves its init to a leaf and enables pids for its children
	mkdir "$cg/init.scope" && echo "$pid" > "$cg/init.scope/cgroup.procs" && echo +pids > "$cg/cgroup.subtree_control"
	attach_trace on
	local joined=""
	if rt exec "$id" cat /proc/self/cgroup && [ "$OUT" = "0::/init.scope" ]; then
		joined=1; pass exec-cgroup.ebusy-fallback "container's cgroup busy (subtree_control '$(readf "$cg/cgroup.subtree_control")'): exec joined init's, $OUT"
	else fail exec-cgroup.ebusy-fallback "want 0::/init.scope (init's cgroup, cgroupns), got: $OUT"; fi
	attach_trace off
	if [ "$RTN" = hull ] && [ -n "$joined" ]; then
		local moves; moves=$(attach_trace show "$id")
		[ -z "$moves" ] && pass exec-cgroup.ebusy-clone-into "the fallback started the process in init's cgroup (no cgroup_attach_task)" ||
			fail exec-cgroup.ebusy-clone-into "moved rather than started there: $(echo "$moves" | head -2 | tr '\n' ';')"
	fi
	if rt exec --cgroup / "$id" true; then fail exec-cgroup.explicit-no-fallback "exec --cgroup / into a busy cgroup succeeded (the fallback must be off)"
	elif ! echo "$OUT" | grep -q "resource busy"; then fail exec-cgroup.explicit-no-fallback "refused, but not with EBUSY: $(echo "$OUT" | tail -1)"
	else pass exec-cgroup.explicit-no-fallback "exec --cgroup / refused: $(echo "$OUT" | tail -1)"; fi
	cleanup_ct "$id"
	[ -e "$cg" ] && fail exec-cgroup.removed "$cg (with sub, init.scope) left after delete" || pass exec-cgroup.removed "$cg and its sub-cgroups removed"
}

APP_PROFILE=hullvm-test
load_apparmor() {
	[ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || return 1
	cat > /etc/apparmor.d/$APP_PROFILE <<'AA'
profile hullvm-test flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  mount,
  umount,
  pivot_root,
  signal,
  ptrace,
  unix,
  audit deny /tmp/deny w,
  audit deny /etc/secret r,
}
AA
	apparmor_parser -r -W /etc/apparmor.d/$APP_PROFILE
}

check_apparmor() {
	local id=$RTN-aa b probe o
	if ! grep -q "^$APP_PROFILE (enforce)" /sys/kernel/security/apparmor/profiles 2>/dev/null; then
		fail apparmor "profile $APP_PROFILE not loaded (apparmor_parser failed?)"; return
	fi
	probe='cat /proc/self/attr/current; echo; { echo x > /tmp/deny; } 2>/dev/null && echo write-ok || echo write-denied; cat /etc/secret 2>/dev/null || echo read-denied'
	# The probe's output goes nowhere: a detached container shares rt's
	# output file, and a late write would land in the next command's
	# output (seen: `state` JSON overwritten, so no pid). What counts is
	# the label of init and the audit records the probe causes.
	b=$(bundle "$id" '.process.args = ["sh", "-c", "{ " + $probe + "; } >/dev/null 2>&1; sleep 1000"] | .process.apparmorProfile = $p' --arg probe "$probe" --arg p "$APP_PROFILE")
	local since; since=$(dmesg | wc -l)
	if ! rt run -d -b "$b" "$id"; then fail apparmor-init "run -d: $OUT"; return; fi
	local pid; pid=$(pid_of "$id")
	sleep 2
	o=$(cat /proc/"$pid"/attr/current 2>&1)
	[ "$o" = "$APP_PROFILE (enforce)" ] && pass apparmor-init.label "init: $o" || fail apparmor-init.label "init's /proc/PID/attr/current: '$o'"
	if rt exec "$id" sh -c "$probe"; then :; fi
	o=$(echo "$OUT" | tr '\n' ' ')
	if echo "$OUT" | grep -q "^$APP_PROFILE (enforce)" && echo "$OUT" | grep -qx write-denied && echo "$OUT" | grep -qx read-denied && ! echo "$OUT" | grep -q hullvm-secret; then
		pass apparmor-exec "exec'd process: $o"
	else fail apparmor-exec "exec'd process, want profile + write-denied + read-denied: $o"; fi
	cleanup_ct "$id"
	# init's own probe: the log is gone with --detach, so ask the kernel's audit log
	local audit; audit=$(dmesg | tail -n +"$since" | grep 'apparmor="DENIED"' | grep "profile=\"$APP_PROFILE\"")
	if echo "$audit" | grep -q 'name="/tmp/deny"' && echo "$audit" | grep -q 'name="/etc/secret"'; then
		pass apparmor-audit "$(echo "$audit" | grep -c DENIED) DENIED records, e.g. $(echo "$audit" | tail -1 | grep -o 'apparmor=.*' | cut -c1-200)"
	else fail apparmor-audit "want DENIED records for /tmp/deny and /etc/secret in dmesg; got: $(echo "$audit" | cut -c1-300)"; fi
	# without a profile: unconfined
	id=$RTN-noaa
	b=$(bundle "$id" '.process.args = ["cat", "/proc/self/attr/current"]')
	rt run -b "$b" "$id"; cleanup_ct "$id"
	[ "$(echo "$OUT" | tr -d '\n')" = unconfined ] && pass apparmor-unconfined "no profile: $OUT" ||
		fail apparmor-unconfined "no profile, want 'unconfined': $OUT"
	# a profile that is not loaded is refused
	id=$RTN-aa-missing
	b=$(bundle "$id" '.process.args = ["true"] | .process.apparmorProfile = "hullvm-not-loaded"')
	if rt run -b "$b" "$id"; then fail apparmor-missing-profile "run with an unloaded profile succeeded"
	else pass apparmor-missing-profile "refused: $(echo "$OUT" | tail -1 | cut -c1-200)"; fi
	cleanup_ct "$id"
}

SE_OK=unconfined_u:unconfined_r:unconfined_t:s0:c1,c2
SE_BAD=system_u:system_r:svirt_t:s0:c1,c2
SE_MOUNT=system_u:object_r:tmpfs_t:s0:c1,c2
check_selinux() {
	local id=$RTN-se b o pid
	[ "$(getenforce)" = Enforcing ] || { fail selinux "getenforce says $(getenforce), want Enforcing"; return; }
	# process label on init and on exec'd processes
	# (noNewPrivileges off: the policy has no nnp_transition to a narrower MLS range)
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .process.noNewPrivileges = false | .process.selinuxLabel = $l' --arg l "$SE_OK")
	if rt run -d -b "$b" "$id"; then
		pid=$(pid_of "$id")
		o=$(tr -d '\0' < /proc/"$pid"/attr/current)
		[ "$o" = "$SE_OK" ] && pass selinux-init.label "init: $o" || fail selinux-init.label "init's label '$o', want $SE_OK"
		if rt exec "$id" cat /proc/self/attr/current; then
			o=$(echo "$OUT" | tr -d '\0\n')
			[ "$o" = "$SE_OK" ] && pass selinux-exec.label "exec'd: $o" || fail selinux-exec.label "exec'd process label '$o', want $SE_OK"
		else fail selinux-exec.label "exec: $OUT"; fi
	else fail selinux-init.label "run -d with selinuxLabel $SE_OK: $OUT"; fi
	cleanup_ct "$id"

	# linux.mountLabel on the filesystems the runtime mounts for the container
	id=$RTN-se-mnt
	b=$(bundle "$id" '.process.args = ["sleep", "1000"] | .linux.mountLabel = $m' --arg m "$SE_MOUNT")
	if rt run -d -b "$b" "$id"; then
		local m lbl bad=""
		pid=$(pid_of "$id")
		for m in /tmp /dev/mqueue /dev/pts /dev/shm; do
			lbl=$(stat -c %C "/proc/$pid/root$m" 2>&1)
			[ "$lbl" = "$SE_MOUNT" ] || bad+=" $m=$lbl"
		done
		[ -z "$bad" ] && pass selinux-mount-label "/tmp /dev/mqueue /dev/pts /dev/shm labelled $SE_MOUNT" ||
			fail selinux-mount-label "want $SE_MOUNT; got:$bad"
	else fail selinux-mount-label "run -d with mountLabel $SE_MOUNT: $OUT"; fi
	cleanup_ct "$id"

	# a label the policy forbids
	id=$RTN-se-bad
	local since; since=$(dmesg | wc -l)
	b=$(bundle "$id" '.process.args = ["cat", "/proc/self/attr/current"] | .process.noNewPrivileges = false | .process.selinuxLabel = $l' --arg l "$SE_BAD")
	if rt run -b "$b" "$id"; then fail selinux-forbidden "run with $SE_BAD succeeded: $OUT"
	else
		# refused by the policy, not by the runtime for some other reason: an AVC names svirt_t
		local avc; avc=$(dmesg | tail -n +"$since" | grep 'avc:  denied' | grep -m1 svirt_t | grep -o 'avc:.*')
		if [ -n "$avc" ]; then pass selinux-forbidden "refused: $(echo "$OUT" | tail -1 | cut -c1-200); $avc"
		else fail selinux-forbidden "refused, but no AVC denial for svirt_t was logged (not the policy's refusal): $(echo "$OUT" | tail -1)"; fi
	fi
	cleanup_ct "$id"
}

# hull's own LSM unit tests (apparmor/, selinux/: built on the host with go test -c)
# where the LSM is on: apparmor.test in the systemd boot, selinux.test in the selinux
# boot. One line per top-level test; the overmounted-attr test (CVE-2025-52881) must
# run and pass here, not skip. hull's code, not a runtime check: nothing for runc.
# (Debian's policy denies unconfined_t "mounton" its own attr files, which blocks the
# attack's set-up: the selinux test binds its decoy permissively, then enforces again.)
check_lsm_units() {
	[ "$RTN" = hull ] || return 0
	local bin=apparmor must=TestOvermountedAttr envs=("HULL_APPARMOR_TEST_PROFILE=$APP_PROFILE")
	if [ "$MODE" = selinux ]; then
		bin=selinux must=TestOvermountedExecAttr envs=("HULL_SELINUX_TEST_LABEL=$SE_OK" HULL_SELINUX_TEST_PERMISSIVE_SETUP=1)
	fi
	if [ ! -x "$PAYLOAD/$bin.test" ]; then fail "$bin-unit" "no $bin.test in the payload"; return; fi
	cp "$PAYLOAD/$bin.test" $W/bin/
	selinuxenabled 2>/dev/null && chcon -t bin_t $W/bin/$bin.test
	local out rc st name mustSeen=""
	out=$(cd $W && env "${envs[@]}" timeout 300 $W/bin/$bin.test -test.v -test.count=1 2>&1); rc=$?
	while read -r st name; do
		case $st in
		PASS) pass "$bin-unit/$name" ;;
		FAIL) fail "$bin-unit/$name" "$(echo "$out" | awk -v n="$name" '$0 == "=== RUN   " n {on=1} on && /_test\.go:/ {print} $0 ~ "^--- FAIL: " n " " {exit}' | head -5)" ;;
		SKIP) skip "$bin-unit/$name" "$(echo "$out" | awk -v n="$name" '$0 == "=== RUN   " n {on=1} on && /_test\.go:/ {sub(/^ +/, ""); print} $0 ~ "^--- SKIP: " n " " {exit}' | head -2)" ;;
		esac
		[ "$name" = "$must" ] && mustSeen=$st
	done < <(echo "$out" | sed -n 's/^--- \(PASS\|FAIL\|SKIP\): \([^ ]*\) .*/\1 \2/p')
	[ "$mustSeen" = PASS ] || fail "$bin-unit/$must" "must run and pass where the LSM is on, got '${mustSeen:-nothing}'"
	[ $rc = 0 ] || fail "$bin-unit" "exit $rc: $(echo "$out" | tail -5)"
	echo "$out" | grep -E "decoy over" | sed 's/^ */  /'
}

# the conformance suite (conformance/), its cgroup v2 relevant part by default; on
# runc too, as the reference (the suite tolerates runc 1.1's documented deviations)
check_conformance() {
	if [ ! -x "$PAYLOAD/conformance.test" ] || [ -z "${CONFORMANCE_RUN:-}" ]; then return 0; fi
	cp "$PAYLOAD/conformance.test" "$PAYLOAD/checker" $W/
	local rc sum
	# TMPDIR on the ext4 disk: the guest's /tmp is nodev, so device nodes in bundles
	# there would fail with EACCES whatever the device cgroup says
	mkdir -p $W/tmp
	(cd $W && TMPDIR=$W/tmp timeout 900 ./conformance.test -runtime "$RT" -checker $W/checker -busybox /bin/busybox \
		-test.run "$CONFORMANCE_RUN" -report $W/conformance.json > $W/conformance.log 2>&1); rc=$?
	sum=$(jq -c .counts $W/conformance.json 2>/dev/null)
	if [ $rc = 0 ]; then pass conformance "-test.run '$CONFORMANCE_RUN': $sum"
	else
		fail conformance "-test.run '$CONFORMANCE_RUN': exit $rc, counts $sum; failed: $(jq -r '.results[] | select(.result == "FAIL") | "\(.test) [\(.clause)] \(.message)"' $W/conformance.json 2>/dev/null | sort -u | head -15 | tr '\n' ';')"
		grep -E -- '--- FAIL|FAIL' $W/conformance.log | head -20
		[ -s $W/conformance.json ] || tail -20 $W/conformance.log
	fi
}

# checkpoint/restore (check_criu, check_criu_podman): a script of their own
[ -f "$PAYLOAD/criu.sh" ] && . "$PAYLOAD/criu.sh"
# rootless --systemd-cgroup in a user's systemd instance (check_rootless_systemd)
[ -f "$PAYLOAD/rootless.sh" ] && . "$PAYLOAD/rootless.sh"

# ---------------------------------------------------------------- main ----
echo "guest: $(uname -r), mode $MODE, $(nproc) cpus, cgroup $(stat -fc %T $CG), LSMs $(cat /sys/kernel/security/lsm 2>/dev/null)"
[ "$MODE" = systemd ] && { load_apparmor || echo "AppArmor: cannot load $APP_PROFILE"; }
for RTN in "${RUNTIMES[@]}"; do
	case $RTN in hull) RT=$W/bin/hull ;; *) RT=$(command -v "$RTN") || { echo "no $RTN in the guest"; continue; } ;; esac
	echo "== $RTN ($("$RT" --version 2>&1 | head -1))"
	t0=$SECONDS
	if [ "$MODE" = systemd ]; then
		checks=(features cgroup_files nested relative oom pids freeze devices clone_into exec_cgroup systemd rootless_systemd apparmor lsm_units conformance criu criu_podman)
	else
		checks=(features selinux lsm_units)
	fi
	# CHECKS (HULL_VM_CHECKS on the host) picks some, e.g. "systemd apparmor"
	if [ -n "${CHECKS:-}" ]; then
		sel=()
		for c in "${checks[@]}"; do [[ " $CHECKS " == *" $c "* ]] && sel+=("$c"); done
		checks=("${sel[@]}")
	fi
	for c in "${checks[@]}"; do
		c0=$SECONDS
		"check_$c"
		echo "  ($c: $((SECONDS - c0))s)"
	done
	echo "== $RTN done in $((SECONDS - t0))s"
done
rmdir $CG/hullvm 2>/dev/null
! grep -q '^FAIL hull ' "$RESULTS"
