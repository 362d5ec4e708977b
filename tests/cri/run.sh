#!/bin/bash
# run.sh [RUNTIME] proves RUNTIME (default: the repo's ./hull) on the
# Kubernetes path: kubelet's part is played by crictl, talking CRI v1 to a
# private containerd 1.6 whose runtime handler `hull` (io.containerd.runc.v2,
# options.BinaryName) runs RUNTIME. Everything runs as root and offline:
# containerd lives in a fresh network namespace (only lo, then the CNI
# bridge), crictl enters it with nsenter, the pause and busybox images are
# built here and imported with ctr. Each scenario runs under its own timeout;
# a failure prints crictl's output, containerd's log and the runtime calls
# (with the runtime's --log JSON lines) that the scenario caused.
# Exits non-zero if any scenario fails or anything is left behind.
#
# Environment:
#   CRI_RUN   extended regexp selecting scenarios by name (default: all)
#   CRI_KEEP  keep the work dir (containerd state and logs) for inspection
#   CRI_VERBOSE  print what passing scenarios checked, too
#   CRI_NO_TRACE  BinaryName is RUNTIME itself, not the tracing wrapper
#                 (no runtime_calls check, no per-call log in failures)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/sbin:/sbin:$PATH

# The scenarios live in scenarios.sh; `run.sh --scenario NAME` is how the
# driver below runs one of them under timeout(1).
if [[ ${1:-} == --scenario ]]; then
	# shellcheck source=tests/cri/lib.sh
	source "$here/lib.sh"
	# shellcheck source=tests/cri/scenarios.sh
	source "$here/scenarios.sh"
	"sc_$2"
	exit $?
fi

# shellcheck source=tests/lib/workdir.sh
source "$repo/tests/lib/workdir.sh"
runtime=$(resolve_runtime cri "${1:-}" "$repo/hull") || exit 1
if [[ $(id -u) != 0 ]]; then
	echo "cri: must run as root" >&2
	exit 1
fi
crictl=$("$here/deps.sh") || exit 1
rootfs=$("$repo/scripts/mkrootfs.sh") || exit 1

start=$SECONDS
work=$(mktemp -d /tmp/hull-cri.XXXXXX) || exit 1
chmod 0755 "$work"
cgroot=/sys/fs/cgroup
# The pods' cgroup parent, made here with limits as kubelet makes
# kubepods: nested under our own memory cgroup (as runc nests a relative
# path), in every v1 hierarchy. It must survive every container's delete.
cgparent=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
cgparent=${cgparent%/}/hull-cri-$$
ctrd_pid=
export CRI_WORK=$work CRI_CRICTL=$crictl CRI_RUNTIME=$runtime CRI_CGPARENT=$cgparent CRI_CGROOT=$cgroot
export CRI_NETNAME=hull-cri-$$ CRI_RTROOT=$work/runtime-root CRI_STATE=$work/state CRI_TRACE=$work/runtime-calls.log

# cleanup stops containerd (which stops no pods: the shims outlive it), then
# every process started from the work dir, by pid; unmounts what is left
# there, removes the cgroup parent and the work dir.
cleanup() {
	local pid
	if [[ -n $ctrd_pid ]] && [[ -d /proc/$ctrd_pid ]]; then
		kill -TERM "$ctrd_pid" 2>/dev/null
		for _ in $(seq 50); do [[ -d /proc/$ctrd_pid ]] || break; sleep 0.1; done
		kill -KILL "$ctrd_pid" 2>/dev/null
	fi
	kill_workdir_procs cri "$work"
	umount_workdir "$work"
	local d
	for d in "$cgroot"/*/; do
		[[ -d $d${cgparent#/} ]] || continue
		while read -r pid; do
			echo "cri: killing leftover process $pid in $d${cgparent#/}" >&2
			kill -KILL "$pid" 2>/dev/null
		done < <(find "$d${cgparent#/}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
	done
	sleep 0.2
	for d in "$cgroot"/*/; do
		[[ -d $d${cgparent#/} ]] || continue
		find "$d${cgparent#/}" -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null
		rmdir "$d${cgparent#/}" 2>/dev/null || echo "cri: cannot remove cgroup $d${cgparent#/}" >&2
	done
	if [[ -z ${CRI_KEEP:-} ]]; then
		rm -rf "$work"
	else
		echo "cri: kept $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/cri/lib.sh
source "$here/lib.sh"

# --- the cgroup parent ---------------------------------------------------
for d in "$cgroot"/*/; do
	c=$(basename "$d")
	[[ $c == unified ]] && continue
	[[ -L ${d%/} ]] && continue
	mkdir -p "$d${cgparent#/}" || { echo "cri: mkdir cgroup $d${cgparent#/}" >&2; exit 1; }
	if [[ $c == cpuset ]]; then
		# v1 cpuset children start empty: walk down from the root.
		p=$d
		for part in ${cgparent//\// }; do
			p=$p$part/
			cat "$(dirname "$p")/cpuset.cpus" >"${p}cpuset.cpus"
			cat "$(dirname "$p")/cpuset.mems" >"${p}cpuset.mems"
		done
	fi
done
echo $((2 << 30)) >"$cgroot/memory${cgparent}/memory.limit_in_bytes" || exit 1
echo 4096 >"$cgroot/pids${cgparent}/pids.max" || exit 1

# --- images -----------------------------------------------------------------
arch=$(go env GOARCH)
mkdir -p "$work/img/pause" "$work/bin" "$work/logs" "$work/cni/net.d" "$work/share"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/img/pause/pause" ./tests/cri/pause) ||
	{ echo "cri: build the pause program" >&2; exit 1; }
tar --numeric-owner --owner=0 --group=0 -C "$work/img/pause" -cf "$work/img/pause.layer" pause || exit 1
tar --numeric-owner -C "$rootfs" -cf "$work/img/busybox.layer" . || exit 1
mkoci "$work/img/pause.tar" "$PAUSE_IMAGE" "$work/img/pause.layer" '{"Entrypoint":["/pause"]}' "$arch" || exit 1
mkoci "$work/img/busybox.tar" "$BUSYBOX_IMAGE" "$work/img/busybox.layer" \
	'{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]}' "$arch" || exit 1

# --- the runtime under test, traced ----------------------------------------
# The shim runs this wrapper: it runs the runtime with the shim's exact argv,
# stdin and stdio, then appends the call, its exit code and, on failure, the
# runtime's last --log lines to runtime-calls.log.
cat >"$work/bin/runtime" <<WRAPPER
#!/bin/bash
log=
prev=
for a in "\$@"; do [[ \$prev == --log ]] && log=\$a; prev=\$a; done
$(printf '%q' "$runtime") "\$@"
rc=\$?
{
	printf '%s rc=%d %s\n' "\$(date +%T.%N)" "\$rc" "\$*"
	if [[ \$rc != 0 && -n \$log && -f \$log ]]; then tail -n 3 "\$log" | sed 's/^/    log: /'; fi
} >>$(printf '%q' "$CRI_TRACE")
exit \$rc
WRAPPER
chmod 0755 "$work/bin/runtime"
: >"$CRI_TRACE"
binary=$work/bin/runtime
[[ -n ${CRI_NO_TRACE:-} ]] && binary=$runtime

# --- containerd -------------------------------------------------------------
cat >"$work/cni/net.d/10-hull-cri.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CRI_NETNAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "hullcri0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.88.77.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$work/cni/ipam"
      }
    }
  ]
}
EOF
cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[debug]
  address = "$work/debug.sock"
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "hull"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull.options]
        BinaryName = "$binary"
        Root = "$CRI_RTROOT"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/cni/net.d"
    max_conf_num = 1
EOF
cat >"$work/crictl.yaml" <<EOF
runtime-endpoint: unix://$work/containerd.sock
image-endpoint: unix://$work/containerd.sock
timeout: 30
pull-image-on-create: false
disable-pull-on-run: true
EOF

# containerd gets a fresh network namespace with only lo up: the CNI bridge,
# the veths and every pod stay inside it (unshare execs, so $! is containerd).
unshare --net -- /bin/sh -c 'ip link set lo up && exec containerd --config "$1"' sh "$work/config.toml" \
	>"$work/containerd.log" 2>&1 &
ctrd_pid=$!
export CRI_CTRD_PID=$ctrd_pid
ok=
for _ in $(seq 100); do
	[[ -d /proc/$ctrd_pid ]] || break
	if ctr --address "$work/containerd.sock" version >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.2
done
if [[ -z $ok ]]; then
	echo "cri: containerd did not start:" >&2
	tail -n 40 "$work/containerd.log" >&2
	exit 1
fi
for img in pause busybox; do
	if ! out=$(timeout 120 ctr --address "$work/containerd.sock" -n k8s.io images import "$work/img/$img.tar" 2>&1); then
		echo "cri: ctr images import $img: $out" >&2
		exit 1
	fi
done
for _ in $(seq 50); do
	cc images 2>/dev/null | grep -q hull-cri/busybox && break
	sleep 0.2
done
if ! cc info >"$work/cri-info.json" 2>&1; then
	echo "cri: crictl info:" >&2
	cat "$work/cri-info.json" >&2
	exit 1
fi
if ! jq -e '.status.conditions[] | select(.type == "NetworkReady") | .status' "$work/cri-info.json" | grep -q true; then
	echo "cri: CNI network not ready:" >&2
	jq '.status' "$work/cri-info.json" >&2
	exit 1
fi
echo "cri: containerd $(containerd --version | awk '{print $3}') pid $ctrd_pid in its own netns, runtime $runtime, setup $((SECONDS - start))s"

# short abbreviates the work dir to $W and 64-hex ids to 12 characters.
short() {
	sed -E "s|$work|\$W|g; s/([0-9a-f]{12})[0-9a-f]{52}/\1/g"
}
echo "cri: work dir \$W = $work"

# --- scenarios ----------------------------------------------------------------
# shellcheck source=tests/cri/scenarios.sh
source "$here/scenarios.sh"
passed=()
failed=()
for entry in "${SCENARIOS[@]}"; do
	name=${entry%%:*}
	budget=${entry#*:}
	if [[ -n ${CRI_RUN:-} ]] && ! [[ $name =~ $CRI_RUN ]]; then
		continue
	fi
	ctrd_mark=$(wc -l <"$work/containerd.log")
	trace_mark=$(wc -l <"$CRI_TRACE")
	t0=$SECONDS
	timeout -k 5 "$budget" "$here/run.sh" --scenario "$name" >"$work/sc-$name.out" 2>&1
	rc=$?
	if [[ $rc == 124 || $rc == 137 ]]; then
		echo "timed out after ${budget}s" >>"$work/sc-$name.out"
	fi
	if [[ $rc == 0 ]]; then
		passed+=("$name")
		echo "--- PASS $name ($((SECONDS - t0))s)"
		[[ -n ${CRI_VERBOSE:-} ]] && sed 's/^/    /' "$work/sc-$name.out"
	else
		failed+=("$name")
		echo "--- FAIL $name ($((SECONDS - t0))s)"
		sed 's/^/    /' "$work/sc-$name.out"
		echo "    == runtime calls ($runtime):"
		tail -n +"$((trace_mark + 1))" "$CRI_TRACE" | tail -n 40 | short | sed 's/^/    /'
		echo "    == containerd log (warnings and errors):"
		tail -n +"$((ctrd_mark + 1))" "$work/containerd.log" | grep -E 'level=(warning|error|fatal)' | grep -v 'starting signal loop' | tail -n 20 | cut -c1-1500 | short | sed 's/^/    /'
		for f in "$CRI_STATE"/io.containerd.runtime.v2.task/k8s.io/*/log.json; do
			[[ -s $f ]] || continue
			grep -q '"level":"\(error\|warning\|fatal\)"' "$f" || continue
			echo "    == $(echo "$f" | short):"
			tail -n 5 "$f" | short | sed 's/^/    /'
		done
	fi
	# Between scenarios: every pod goes (what a failed scenario left, too).
	cc rmp -fa >/dev/null 2>&1 || cc rmp -fa >/dev/null 2>&1
done

# --- the shim's runtime calls ----------------------------------------------
# Every call the shim made must have succeeded (runc's do), except the
# create of the exit_codes scenario's missing command. A failed call is
# listed with the runtime's --log lines; containerd's errors around it show
# what it cost.
if ((${#passed[@]} + ${#failed[@]} > 0)) && [[ -z ${CRI_NO_TRACE:-} ]]; then
	bad=$(awk '
		/^[0-9]/ { if (cur != "" && !expected) print cur; cur = ""; expected = 0; if ($2 != "rc=0") cur = $0; next }
		/no\/such\/binary/ { expected = 1 }
		{ if (cur != "") cur = cur "\n" $0 }
		END { if (cur != "" && !expected) print cur }' "$CRI_TRACE")
	if [[ -n $bad ]]; then
		failed+=(runtime_calls)
		echo "--- FAIL runtime_calls: $(grep -c '^[0-9]' <<<"$bad") failed runtime calls from the shim"
		short <<<"$bad" | head -n 40 | sed 's/^/    /'
		echo "    == containerd errors:"
		grep 'level=error' "$work/containerd.log" | short | cut -c1-600 | sort -u -k3 | head -n 10 | sed 's/^/    /'
	else
		passed+=(runtime_calls)
		echo "--- PASS runtime_calls ($(grep -c '^[0-9]' "$CRI_TRACE") calls)"
	fi
fi

# --- nothing left -------------------------------------------------------------
leftover=()
pods=$(cc pods -q 2>&1)
[[ -n $pods ]] && leftover+=("pods still listed: $pods")
if ((${#passed[@]} + ${#failed[@]} > 0)); then
	kill -TERM "$ctrd_pid"
	for _ in $(seq 100); do [[ -d /proc/$ctrd_pid ]] || break; sleep 0.1; done
	[[ -d /proc/$ctrd_pid ]] && leftover+=("containerd $ctrd_pid ignored SIGTERM for 10s")
	ctrd_pid=
	while read -r line; do leftover+=("$line"); done < <(leftovers)
fi
for l in "${leftover[@]}"; do echo "cri: LEFT BEHIND: $l"; done

total=${#passed[@]}
total=$((total + ${#failed[@]}))
echo "cri: $runtime: ${#passed[@]}/$total scenarios passed in $((SECONDS - start))s${failed:+; failed: ${failed[*]}}"
((${#failed[@]} == 0 && ${#leftover[@]} == 0))
