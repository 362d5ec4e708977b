# scenarios.sh: the CRI scenarios (sourced). Each sc_NAME runs in its own
# process under timeout(1), prints what it checked, and fails with the
# reason. SCENARIOS lists NAME:TIMEOUT_SECONDS in run order.

SCENARIOS=(
	lifecycle:60
	hostnet:60
	host_pid_ipc:60
	cni_pair:90
	exec:60
	tty_container:60
	logs:60
	stats:60
	exit_codes:60
	stop_graceful_then_kill:60
	update:60
	oom:60
	shared_pid:60
	security_context:60
	privileged:60
	bind_mounts:60
	sysctls:60
	teardown:90
)

SLEEP='["sleep","3600"]'

# A pod with one container: create -> CREATED, start -> RUNNING, stop ->
# EXITED, rm -> gone from crictl and from the runtime's state; then the
# container is created again (attempt 1, as kubelet restarts it) in the
# same, long-lived sandbox.
sc_lifecycle() {
	local podf pod ctrf id
	podf=$(pod_config life)
	pod=$(runp "$podf")
	expect "pod state" "$(cc inspectp "$pod" | jq -r .status.state)" SANDBOX_READY
	ctrf=$(ctr_config life "$podf" "$SLEEP")
	id=$(create "$pod" "$ctrf" "$podf")
	expect "state after create" "$(status "$id")" CONTAINER_CREATED
	cc start "$id" >/dev/null || fail "crictl start $id"
	expect "state after start" "$(status "$id")" CONTAINER_RUNNING
	local pid
	pid=$(cc inspect "$id" | jq -r .info.pid)
	expect_match "container pid" "$pid" '^[0-9]+$'
	expect "container pid's cgroup" "$(awk -F: '$2 == "memory" {print $3}' "/proc/$pid/cgroup")" "$CRI_CGPARENT/$id"
	expect "hostname" "$(cexec "$id" hostname)" life
	cc stop -t 5 "$id" >/dev/null || fail "crictl stop $id"
	expect "state after stop" "$(status "$id")" CONTAINER_EXITED
	[[ -d /proc/$pid ]] && fail "process $pid still alive after stop"
	cc rm "$id" >/dev/null || fail "crictl rm $id"
	[[ -z $(cc ps -a -q --pod "$pod") ]] || fail "crictl ps -a still lists a container after rm: $(cc ps -a --pod "$pod")"
	[[ -e $CRI_RTROOT/k8s.io/$id ]] && fail "runtime state $CRI_RTROOT/k8s.io/$id left after rm"
	[[ -d $(cgdir memory "$id") ]] && fail "cgroup $(cgdir memory "$id") left after rm"
	id=$(run_ctr "$pod" "$(ctr_config life "$podf" "$SLEEP" '.metadata.attempt = 1')" "$podf")
	expect "restarted container (attempt 1)" "$(status "$id")" CONTAINER_RUNNING
	expect "restarted container's hostname" "$(cexec "$id" hostname)" life
	cc stopp "$pod" >/dev/null || fail "crictl stopp"
	cc rmp "$pod" >/dev/null || fail "crictl rmp"
	echo "ok: create/start/stop/rm"
}

# A hostNetwork pod: no hostname sent (kubelet sends none), its containers
# share containerd's network and UTS namespaces.
sc_hostnet() {
	local podf pod ctrf id
	podf=$(pod_config hostnet '.linux.security_context.namespace_options.network = 2 | del(.hostname)')
	pod=$(runp "$podf")
	ctrf=$(ctr_config hostnet "$podf" "$SLEEP")
	id=$(run_ctr "$pod" "$ctrf" "$podf")
	expect "net namespace" "$(cexec "$id" readlink /proc/self/ns/net)" "$(readlink "/proc/$CRI_CTRD_PID/ns/net")"
	expect "uts namespace" "$(cexec "$id" readlink /proc/self/ns/uts)" "$(readlink "/proc/$CRI_CTRD_PID/ns/uts")"
	expect "hostname" "$(cexec "$id" hostname)" "$(hostname)"
	local links
	links=$(cexec "$id" cat /proc/net/dev | awk -F: 'NR > 2 {gsub(/ /, "", $1); print $1}' | sort | tr '\n' ' ')
	expect "interfaces" "$links" "$(innet cat /proc/net/dev | awk -F: 'NR > 2 {gsub(/ /, "", $1); print $1}' | sort | tr '\n' ' ')"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# hostPID and hostIPC: the container shares containerd's (the host's) PID
# and IPC namespaces and sees host processes.
sc_host_pid_ipc() {
	local podf pod id
	podf=$(pod_config hostns '.linux.security_context.namespace_options += {pid: 2, ipc: 2}')
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config hostns "$podf" "$SLEEP")" "$podf")
	expect "pid namespace" "$(cexec "$id" readlink /proc/self/ns/pid)" "$(readlink "/proc/$CRI_CTRD_PID/ns/pid")"
	expect "ipc namespace" "$(cexec "$id" readlink /proc/self/ns/ipc)" "$(readlink "/proc/$CRI_CTRD_PID/ns/ipc")"
	expect_match "sees containerd" "$(cexec "$id" cat "/proc/$CRI_CTRD_PID/comm")" '^containerd$'
	[[ $(cexec "$id" readlink /proc/self/ns/net) != "$(readlink "/proc/$CRI_CTRD_PID/ns/net")" ]] || fail "hostPID pod got containerd's network namespace"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Two CNI-networked pods on the bridge: a TCP server (busybox nc) in one,
# a client in the other dialing its pod IP (all inside containerd's network
# namespace). busybox-static's wget segfaults, hence nc.
sc_cni_pair() {
	local podA podB a b ipA ipB ida idb
	podA=$(pod_config net-a)
	podB=$(pod_config net-b)
	a=$(runp "$podA")
	b=$(runp "$podB")
	ipA=$(cc inspectp "$a" | jq -r .status.network.ip)
	ipB=$(cc inspectp "$b" | jq -r .status.network.ip)
	expect_match "pod A IP" "$ipA" '^10\.88\.77\.[0-9]+$'
	expect_match "pod B IP" "$ipB" '^10\.88\.77\.[0-9]+$'
	[[ $ipA != "$ipB" ]] || fail "both pods got $ipA"
	ida=$(run_ctr "$a" "$(ctr_config net-a "$podA" '["nc","-ll","-p","8080","-e","echo","hello-from-a"]')" "$podA")
	idb=$(run_ctr "$b" "$(ctr_config net-b "$podB" "$SLEEP")" "$podB")
	expect "pod B's eth0 address" "$(cexec "$idb" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)" "$ipB"
	local out i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		out=$(cexec "$idb" nc -w 3 "$ipA" 8080 2>&1) && [[ -n $out ]] && break
		sleep 0.5
	done
	expect "B fetches A over the bridge" "$out" hello-from-a
	cc rmp -f "$a" "$b" >/dev/null || fail "crictl rmp -f"
}

# crictl exec: sync with exit code, streaming stdin, and a tty.
sc_exec() {
	local podf pod id out rc
	podf=$(pod_config exec)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config exec "$podf" '["sh","-c","echo \"$GREETING $1\" > /tmp/main; exec sleep 3600","sh","arg1"]' '.envs = [{key: "GREETING", value: "hello world"}] | .working_dir = "/home/user"')" "$podf")
	expect "exec echo" "$(cexec "$id" echo hi)" hi
	expect "main process env and args" "$(cexec "$id" cat /tmp/main)" "hello world arg1"
	expect "exec cwd = working_dir" "$(cexec "$id" pwd)" /home/user
	expect "exec env" "$(cexec "$id" sh -c 'echo $GREETING')" "hello world"
	out=$(cexec "$id" sh -c 'exit 7' 2>&1)
	rc=$?
	expect_match "exec exit code" "rc=$rc $out" 'rc=1 .*command terminated with exit code 7$'

	out=$(printf 'line1\nline2\n' | cc exec -i "$id" sh -c 'cat; echo done') || fail "exec -i: $out"
	expect "exec -i stdin stream" "$(echo "$out" | tr '\n' ' ')" "line1 line2 done "
	# --foreground: timeout must not move crictl out of the tty's
	# foreground process group (it would stop on SIGTTIN and hang). Under
	# bash -c, timeout is the session leader and cannot move; under dash,
	# which script(1) runs when SHELL is unset (as in CI), it could.
	out=$(script -qec "$(printf '%q ' timeout --foreground 30 nsenter --net="/proc/$CRI_CTRD_PID/ns/net" "$CRI_CRICTL" --config "$CRI_WORK/crictl.yaml" exec -it "$id" sh -c 'tty; [ -t 0 ] && echo stdin-is-tty; stty size')" /dev/null </dev/null | tr -d '\r')
	expect_match "exec -it tty" "$out" '/dev/pts/[0-9]+'
	expect_match "exec -it stdin" "$out" 'stdin-is-tty'
	cexec "$id" sh -c 'sleep 300 >/dev/null 2>&1 & echo $! > /tmp/bg' >/dev/null || fail "exec a background process"
	expect_match "sync exec returned while its child runs" "$(cexec "$id" cat /tmp/bg)" '^[0-9]+$'
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# A container with tty and stdin (kubectl run -it): the runtime's create
# gets a --console-socket; the process's stdio is a pty, its output lands in
# the log.
sc_tty_container() {
	local podf pod id out
	podf=$(pod_config ttyc)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config ttyc "$podf" '["sh","-c","tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; exec sleep 3600"]' '.tty = true | .stdin = true')" "$podf")
	for _ in $(seq 25); do
		out=$(cc logs "$id" 2>&1 | tr -d '\r')
		[[ $out == *stdio-is-tty* ]] && break
		sleep 0.2
	done
	expect_match "tty container output" "$out" '^/dev/pts/[0-9]+'$'\n''stdio-is-tty'
	expect "state" "$(status "$id")" CONTAINER_RUNNING
	out=$(cc stop -t 2 "$id" 2>&1) || fail "crictl stop: $out"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Container logs: stdout and stderr lines in the CRI log, split by crictl.
sc_logs() {
	local podf pod id out
	podf=$(pod_config logs)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config logs "$podf" '["sh","-c","echo to-stdout; echo to-stderr >&2; echo again"]')" "$podf")
	wait_state "$id" CONTAINER_EXITED 20
	out=$(cc logs "$id" 2>/dev/null)
	expect "stdout log" "$(echo "$out" | tr '\n' ' ')" "to-stdout again "
	out=$(cc logs "$id" 2>&1 >/dev/null)
	expect "stderr log" "$out" "to-stderr"
	local f
	f=$(cc inspect "$id" | jq -r .status.logPath)
	grep -q ' stderr F to-stderr$' "$f" || fail "CRI log $f lacks the stderr line: $(cat "$f")"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# crictl stats and statsp: CPU and memory of a busy container and its pod.
sc_stats() {
	local podf pod id out mem cpu
	podf=$(pod_config stats)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config stats "$podf" '["sh","-c","x=$(head -c 8000000 /dev/zero | tr \"\\0\" a); while :; do :; done"]')" "$podf")
	sleep 2
	out=$(cc stats -o json --id "$id" 2>&1) || fail "crictl stats: $out"
	mem=$(echo "$out" | jq -r '.stats[0].memory.workingSetBytes.value // 0')
	cpu=$(echo "$out" | jq -r '.stats[0].cpu.usageCoreNanoSeconds.value // 0')
	((mem > 1000000)) || fail "stats: memory workingSetBytes $mem, want > 1 MB: $out"
	((cpu > 100000000)) || fail "stats: cpu usageCoreNanoSeconds $cpu, want > 0.1 s: $out"
	echo "ok: stats memory $mem cpu $cpu"
	out=$(cc statsp -o json --id "$pod" 2>&1) || fail "crictl statsp: $out"
	mem=$(echo "$out" | jq -r '.stats[0].linux.memory.workingSetBytes.value // 0')
	cpu=$(echo "$out" | jq -r '.stats[0].linux.cpu.usageCoreNanoSeconds.value // 0')
	((mem > 1000000)) || fail "statsp: pod memory workingSetBytes $mem, want > 1 MB: $out"
	((cpu > 100000000)) || fail "statsp: pod cpu usageCoreNanoSeconds $cpu, want > 0.1 s: $out"
	expect "statsp: containers" "$(echo "$out" | jq -r '.stats[0].linux.containers | length')" 1
	echo "ok: statsp memory $mem cpu $cpu"
	# The task's process list: the shim runs `RUNTIME ps --format json`.
	local pid
	pid=$(cc inspect "$id" | jq -r .info.pid)
	out=$(timeout 30 ctr --address "$CRI_WORK/containerd.sock" -n k8s.io tasks ps "$id" 2>&1) || fail "ctr tasks ps: $out"
	expect_match "ctr tasks ps lists the container's process $pid" "$(echo "$out" | awk 'NR > 1 {print $1}' | tr '\n' ' ')" "(^| )$pid "
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Exit codes and reasons: 0 Completed, 42 Error, SIGKILL from outside 137
# (PID 1 of a PID namespace cannot SIGKILL itself), a missing command.
sc_exit_codes() {
	local podf pod a b c
	podf=$(pod_config exits)
	pod=$(runp "$podf")
	a=$(run_ctr "$pod" "$(ctr_config exit-0 "$podf" '["true"]')" "$podf")
	b=$(run_ctr "$pod" "$(ctr_config exit-42 "$podf" '["sh","-c","exit 42"]')" "$podf")
	c=$(run_ctr "$pod" "$(ctr_config exit-kill "$podf" "$SLEEP")" "$podf")
	kill -KILL "$(cc inspect "$c" | jq -r .info.pid)" || fail "kill -9 the container's process"
	wait_state "$a" CONTAINER_EXITED 20
	wait_state "$b" CONTAINER_EXITED 20
	wait_state "$c" CONTAINER_EXITED 20
	expect "exit 0 code" "$(status "$a" exitCode)" 0
	expect "exit 0 reason" "$(status "$a" reason)" Completed
	expect "exit 42 code" "$(status "$b" exitCode)" 42
	expect "exit 42 reason" "$(status "$b" reason)" Error
	expect "SIGKILL code" "$(status "$c" exitCode)" 137
	local nf
	nf=$(cc create "$pod" "$(ctr_config nofile "$podf" '["/no/such/binary"]')" "$podf" 2>&1) && {
		cc start "$nf" >/dev/null 2>&1 && fail "starting a container whose command does not exist succeeded"
	}
	echo "ok: a missing command fails create or start"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# crictl stop: SIGTERM first (a trapping process exits 0 in time), then
# SIGKILL after the grace period for one that ignores it.
sc_stop_graceful_then_kill() {
	local podf pod g k t0 el
	podf=$(pod_config stop)
	pod=$(runp "$podf")
	g=$(run_ctr "$pod" "$(ctr_config graceful "$podf" '["sh","-c","trap \"echo got-term; exit 0\" TERM; echo ready; while :; do sleep 0.1; done"]')" "$podf")
	k=$(run_ctr "$pod" "$(ctr_config stubborn "$podf" '["sh","-c","trap \"echo ignored-term\" TERM; echo ready; while :; do sleep 0.1; done"]')" "$podf")
	sleep 1
	t0=$SECONDS
	cc stop -t 20 "$g" >/dev/null || fail "crictl stop $g"
	el=$((SECONDS - t0))
	expect "graceful exit code" "$(status "$g" exitCode)" 0
	((el < 10)) || fail "graceful stop took ${el}s: SIGTERM not delivered?"
	expect_match "graceful log" "$(cc logs "$g" 2>&1)" got-term
	t0=$SECONDS
	cc stop -t 3 "$k" >/dev/null || fail "crictl stop $k"
	el=$((SECONDS - t0))
	expect "killed exit code" "$(status "$k" exitCode)" 137
	((el >= 3)) || fail "stop with a 3s grace killed after ${el}s"
	expect_match "stubborn saw SIGTERM" "$(cc logs "$k" 2>&1)" ignored-term
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# crictl update: cpu quota/period, shares and memory limit land in the
# container's cgroup files; the parent's limit is untouched.
sc_update() {
	local podf pod id out
	podf=$(pod_config update)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config update "$podf" "$SLEEP" '.linux.resources = {memory_limit_in_bytes: 268435456, cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512}')" "$podf")
	expect "initial memory.limit_in_bytes" "$(cat "$(cgdir memory "$id")/memory.limit_in_bytes")" 268435456
	expect "initial cpu.cfs_quota_us" "$(cat "$(cgdir cpu "$id")/cpu.cfs_quota_us")" 50000
	out=$(cc update --memory 134217728 --cpu-period 100000 --cpu-quota 20000 --cpu-share 256 "$id" 2>&1) || fail "crictl update: $out"
	expect "memory.limit_in_bytes" "$(cat "$(cgdir memory "$id")/memory.limit_in_bytes")" 134217728
	expect "cpu.cfs_quota_us" "$(cat "$(cgdir cpu "$id")/cpu.cfs_quota_us")" 20000
	expect "cpu.cfs_period_us" "$(cat "$(cgdir cpu "$id")/cpu.cfs_period_us")" 100000
	expect "cpu.shares" "$(cat "$(cgdir cpu "$id")/cpu.shares")" 256
	expect "inspect memory limit" "$(cc inspect "$id" | jq -r .info.runtimeSpec.linux.resources.memory.limit)" 134217728
	expect "container still running" "$(status "$id")" CONTAINER_RUNNING
	expect "parent memory limit" "$(cat "$CRI_CGROOT/memory$CRI_CGPARENT/memory.limit_in_bytes")" $((2 << 30))
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# A container over its memory limit is OOM-killed and reported OOMKilled.
sc_oom() {
	local podf pod id
	podf=$(pod_config oom)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config oom "$podf" '["sh","-c","echo start; tail /dev/zero"]' '.linux.resources = {memory_limit_in_bytes: 33554432}')" "$podf")
	wait_state "$id" CONTAINER_EXITED 30
	expect "oom reason" "$(status "$id" reason)" OOMKilled
	expect "oom exit code" "$(status "$id" exitCode)" 137
	expect "pod survives" "$(cc inspectp "$pod" | jq -r .status.state)" SANDBOX_READY
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# shareProcessNamespace: the pause process is PID 1 for every container
# of the pod, and containers see each other's processes. When a container's
# main process exits, the children it left (reparented to pause) die with
# it: the shim runs `RUNTIME kill --all ID 9` when init exits in a shared
# PID namespace, and containerd's CRI deletes the exited task at once
# (`RUNTIME delete`, which kills what is left in the cgroup).
sc_shared_pid() {
	local podf pod a b
	podf=$(pod_config sharedpid '.linux.security_context.namespace_options.pid = 0')
	pod=$(runp "$podf")
	a=$(run_ctr "$pod" "$(ctr_config pid-a "$podf" '["sleep","3333"]')" "$podf")
	b=$(run_ctr "$pod" "$(ctr_config pid-b "$podf" "$SLEEP")" "$podf")
	expect "pid 1 in the pod" "$(cexec "$b" cat /proc/1/cmdline | tr '\0' ' ')" "/pause "
	expect_match "b sees a's process" "$(cexec "$b" ps -o args)" 'sleep 3333'
	expect "same pid namespace" "$(cexec "$a" readlink /proc/self/ns/pid)" "$(cexec "$b" readlink /proc/self/ns/pid)"
	local pause ns
	pause=$(cc inspectp "$pod" | jq -r .info.pid)
	for ns in pid net ipc uts; do
		expect "$ns namespace = the pause process's" "$(cexec "$b" readlink /proc/self/ns/$ns)" "$(readlink "/proc/$pause/ns/$ns")"
	done
	[[ $(cexec "$b" readlink /proc/self/ns/mnt) != "$(readlink "/proc/$pause/ns/mnt")" ]] || fail "container shares the pause's mount namespace"
	cc stop -t 2 "$a" >/dev/null || fail "crictl stop $a"
	expect "pod sandbox still ready" "$(cc inspectp "$pod" | jq -r .status.state)" SANDBOX_READY
	expect "b still running" "$(status "$b")" CONTAINER_RUNNING
	local c i left
	c=$(run_ctr "$pod" "$(ctr_config pid-c "$podf" '["sh","-c","sleep 2222 & sleep 2223 & sleep 1"]')" "$podf")
	wait_state "$c" CONTAINER_EXITED 20
	for i in $(seq 25); do
		left=$(cat "$(cgdir memory "$c")/cgroup.procs" 2>/dev/null | tr '\n' ' ')
		[[ -z $left ]] && break
		sleep 0.2
	done
	expect "processes left in the exited container's cgroup" "$left" ""
	expect "c's children seen by b" "$(cexec "$b" ps -o args | grep -c 'sleep 222[23]')" 0
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Security context: run as a user, all capabilities dropped, read-only
# rootfs, no_new_privs, no seccomp by default; and a root container with
# capabilities added, the RuntimeDefault seccomp profile, kubelet's masked
# and read-only paths.
sc_security_context() {
	local podf pod u r out
	podf=$(pod_config secctx)
	pod=$(runp "$podf")
	u=$(run_ctr "$pod" "$(ctr_config user "$podf" "$SLEEP" '.linux.security_context += {run_as_user: {value: 1000}, run_as_group: {value: 1000}, supplemental_groups: [2000], readonly_rootfs: true, no_new_privs: true, capabilities: {drop_capabilities: ["ALL"]}}')" "$podf")
	expect "uid" "$(cexec "$u" id -u)" 1000
	expect "gid" "$(cexec "$u" id -g)" 1000
	expect_match "groups" "$(cexec "$u" id -G)" '(^| )2000( |$)'
	out=$(cexec "$u" grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status | tr -s '\t ' ' ' | tr '\n' ' ')
	expect "capabilities and no_new_privs" "$out" "CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 0000000000000000 NoNewPrivs: 1 "
	out=$(cexec "$u" sh -c 'touch /rootfs-write 2>&1; echo rc=$?')
	expect_match "read-only rootfs" "$out" 'Read-only file system.*rc=1'
	out=$(cexec "$u" sh -c 'touch /tmp/x 2>&1; echo rc=$?')
	expect_match "/tmp on a read-only rootfs (image dir, no volume)" "$out" 'rc=1'
	expect "Seccomp without a profile (CRI's default: unconfined)" "$(cexec "$u" awk '/^Seccomp:/ {print $2}' /proc/self/status)" 0
	r=$(run_ctr "$pod" "$(ctr_config root "$podf" "$SLEEP" '.linux.security_context += {capabilities: {drop_capabilities: ["ALL"], add_capabilities: ["NET_ADMIN", "CHOWN"]}, seccomp: {profile_type: 0}}')" "$podf")
	expect "Seccomp with RuntimeDefault (filter mode)" "$(cexec "$r" awk '/^Seccomp:/ {print $2}' /proc/self/status)" 2
	out=$(cexec "$r" grep '^CapEff:' /proc/self/status | awk '{print $2}')
	expect "CapEff with CHOWN+NET_ADMIN" "$out" 0000000000001001
	out=$(cexec "$r" sh -c 'chown 1000 /tmp && echo chown-ok; mknod /tmp/n c 1 3 2>&1; echo mknod-rc=$?')
	expect_match "CHOWN works, MKNOD dropped" "$out" 'chown-ok.*mknod-rc=1'
	expect_match "masked /proc/keys" "$(cexec "$r" stat -c %t:%T /proc/keys)" '^1:3$'
	out=$(cexec "$r" sh -c 'echo 1 > /proc/sys/kernel/domainname 2>&1; echo rc=$?')
	expect_match "read-only /proc/sys" "$out" 'rc=1'
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# A privileged container: every capability containerd holds, host devices,
# writable /sys and /proc/sys, no masked paths.
sc_privileged() {
	local podf pod id out want
	podf=$(pod_config priv '.linux.security_context.privileged = true')
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config priv "$podf" "$SLEEP" '.linux.security_context.privileged = true | del(.linux.security_context.masked_paths, .linux.security_context.readonly_paths)')" "$podf")
	want=$(awk '/^CapEff:/ {print $2}' "/proc/$CRI_CTRD_PID/status")
	expect "CapEff = containerd's" "$(cexec "$id" grep '^CapEff:' /proc/self/status | awk '{print $2}')" "$want"
	expect_match "host devices" "$(cexec "$id" ls /dev)" 'kmsg'
	local sysopt
	sysopt=$(cc inspect "$id" | jq -r '.info.runtimeSpec.mounts[] | select(.destination == "/sys") | .options | if index("ro") then "ro" else "rw" end')
	# The per-mount flags (mountinfo field 6): the superblock of the pod
	# netns's sysfs is read-only since the unprivileged pause mounted it.
	expect_match "/sys mount flags as the spec says ($sysopt)" "$(cexec "$id" awk '$5 == "/sys" {print $6}' /proc/self/mountinfo)" "^$sysopt,"
	out=$(cexec "$id" sh -c 'cat /proc/sys/kernel/domainname > /tmp/d && cat /tmp/d > /proc/sys/kernel/domainname && echo write-ok')
	expect "/proc/sys writable" "$out" write-ok
	expect_match "/proc/keys not masked" "$(cexec "$id" stat -c %t:%T /proc/keys)" '^0:0$'
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Bind mounts: a read-only and a read-write host directory.
sc_bind_mounts() {
	local podf pod id out dir=$CRI_WORK/share
	mkdir -p "$dir/ro" "$dir/rw"
	echo from-host >"$dir/ro/file"
	podf=$(pod_config binds)
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config binds "$podf" "$SLEEP" ".mounts = [{container_path: \"/data/ro\", host_path: \"$dir/ro\", readonly: true}, {container_path: \"/data/rw\", host_path: \"$dir/rw\"}]")" "$podf")
	expect "read a ro bind" "$(cexec "$id" cat /data/ro/file)" from-host
	out=$(cexec "$id" sh -c 'echo x > /data/ro/new 2>&1; echo rc=$?')
	expect_match "write to a ro bind fails" "$out" 'rc=1'
	cexec "$id" sh -c 'echo from-container > /data/rw/file' || fail "write to the rw bind"
	expect "host sees the write" "$(cat "$dir/rw/file" 2>&1)" from-container
	[[ -e $dir/ro/new ]] && fail "ro bind was written"
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Pod sysctls (namespaced: ipc and net) reach the pod's containers.
sc_sysctls() {
	local podf pod id
	podf=$(pod_config sysctls '.linux.sysctls = {"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "81"}')
	pod=$(runp "$podf")
	id=$(run_ctr "$pod" "$(ctr_config sysctls "$podf" "$SLEEP" '.linux.security_context.namespace_options.ipc = 0')" "$podf")
	expect "kernel.shm_rmid_forced" "$(cexec "$id" cat /proc/sys/kernel/shm_rmid_forced)" 1
	expect "net.ipv4.ip_unprivileged_port_start" "$(cexec "$id" cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" 81
	expect "host's value unchanged" "$(innet cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" 1024
	cc rmp -f "$pod" >/dev/null || fail "crictl rmp -f"
}

# Full pod teardown: a networked pod with a running container, an exited
# one and an exec'd process is stopped and removed; afterwards no process,
# cgroup, mount, network namespace, veth or runtime state of it is left,
# and the cgroup parent survives with its limit.
sc_teardown() {
	local podf pod a b pids=() p
	podf=$(pod_config bye)
	pod=$(runp "$podf")
	a=$(run_ctr "$pod" "$(ctr_config bye-a "$podf" "$SLEEP")" "$podf")
	b=$(run_ctr "$pod" "$(ctr_config bye-b "$podf" '["true"]')" "$podf")
	cexec "$a" sh -c 'sleep 1000 >/dev/null 2>&1 &' || fail "exec a background sleep"
	wait_state "$b" CONTAINER_EXITED 20
	local ids="$pod $a $b"
	pids=$(for d in "$CRI_CGROOT"/memory"$CRI_CGPARENT"/*/; do cat "$d/cgroup.procs"; done | tr '\n' ' ')
	[[ -n $pids ]] || fail "no processes found in the pod's cgroups"
	echo "pod processes: $pids"
	local netns
	netns=$(cc inspectp "$pod" | jq -r '.info.runtimeSpec.linux.namespaces[] | select(.type == "network") | .path')
	[[ -e $netns ]] || fail "pod netns path $netns not found"
	local veths
	veths=$(innet ip -o link show type veth | wc -l)
	((veths >= 1)) || fail "no veth in containerd's netns"
	cc stopp "$pod" >/dev/null || fail "crictl stopp"
	expect "pod state after stopp" "$(cc inspectp "$pod" | jq -r .status.state)" SANDBOX_NOTREADY
	cc rmp "$pod" >/dev/null || fail "crictl rmp"
	for p in $pids; do
		[[ -d /proc/$p ]] && fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) alive after rmp"
	done
	for p in $ids; do
		for d in "$CRI_CGROOT"/*/; do
			[[ -d $d${CRI_CGPARENT#/}/$p ]] && fail "cgroup $d${CRI_CGPARENT#/}/$p left after rmp"
		done
		[[ -e $CRI_RTROOT/k8s.io/$p ]] && fail "runtime state $CRI_RTROOT/k8s.io/$p left after rmp"
		grep -F "$p" /proc/self/mountinfo && fail "mounts of $p left after rmp"
		[[ -e $CRI_STATE/io.containerd.runtime.v2.task/k8s.io/$p ]] && fail "bundle of $p left after rmp"
	done
	[[ -e $netns ]] && fail "pod netns $netns left after rmp"
	expect "veths left in containerd's netns" "$(innet ip -o link show type veth | wc -l)" 0
	expect "cgroup parent's memory limit survives" "$(cat "$CRI_CGROOT/memory$CRI_CGPARENT/memory.limit_in_bytes")" $((2 << 30))
	expect "cgroups below the parent" "$(find "$CRI_CGROOT"/*/"${CRI_CGPARENT#/}" -mindepth 1 -type d | wc -l)" 0
	expect "pods listed" "$(cc pods -q | wc -l)" 0
}
