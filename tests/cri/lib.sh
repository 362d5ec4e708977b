# lib.sh: helpers shared by run.sh and scenarios.sh (sourced, not run).
# The CRI_* variables are exported by run.sh.

PAUSE_IMAGE=localhost/hull-cri/pause:1
BUSYBOX_IMAGE=localhost/hull-cri/busybox:1

# kubelet's defaults for an unprivileged container (crictl sends none).
MASKED_PATHS='["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware","/sys/devices/virtual/powercap"]'
READONLY_PATHS='["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]'

# mkoci OUT NAME LAYER CONFIG ARCH writes an OCI image layout tar holding one
# image named NAME (io.containerd.image.name, which `ctr images import`
# reads): the uncompressed LAYER tar and an image config whose .config is
# the JSON object CONFIG.
mkoci() {
	local out=$1 name=$2 layer=$3 config=$4 arch=$5 d
	d=$(mktemp -d "$out.XXXXXX") || return 1
	mkdir -p "$d/blobs/sha256"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
	local ld cd md ls cs ms
	ld=$(sha256sum "$layer" | cut -d' ' -f1)
	ls=$(stat -c %s "$layer")
	cp "$layer" "$d/blobs/sha256/$ld"
	jq -cn --arg arch "$arch" --arg diff "sha256:$ld" --argjson c "$config" \
		'{architecture: $arch, os: "linux", config: $c, rootfs: {type: "layers", diff_ids: [$diff]}}' >"$d/config"
	cd=$(sha256sum "$d/config" | cut -d' ' -f1)
	cs=$(stat -c %s "$d/config")
	mv "$d/config" "$d/blobs/sha256/$cd"
	jq -cn --arg cd "sha256:$cd" --argjson cs "$cs" --arg ld "sha256:$ld" --argjson ls "$ls" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
		  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' >"$d/manifest"
	md=$(sha256sum "$d/manifest" | cut -d' ' -f1)
	ms=$(stat -c %s "$d/manifest")
	mv "$d/manifest" "$d/blobs/sha256/$md"
	jq -cn --arg md "sha256:$md" --argjson ms "$ms" --arg name "$name" \
		'{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
		  annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": ($name | split(":") | last)}}]}' >"$d/index.json"
	tar --numeric-owner --owner=0 --group=0 -C "$d" -cf "$out" oci-layout index.json blobs || return 1
	rm -rf "$d"
}

# cc runs crictl inside containerd's network namespace (the streaming
# server for exec/attach listens on that namespace's loopback).
cc() {
	timeout -k 5 "${CC_TIMEOUT:-60}" nsenter --net="/proc/$CRI_CTRD_PID/ns/net" \
		"$CRI_CRICTL" --config "$CRI_WORK/crictl.yaml" "$@"
}

# innet runs a host command inside containerd's network namespace.
innet() {
	nsenter --net="/proc/$CRI_CTRD_PID/ns/net" "$@"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect DESC GOT WANT fails unless GOT == WANT.
expect() {
	[[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"
	echo "ok: $1 = '$3'"
}

# expect_match DESC GOT ERE fails unless GOT matches ERE.
expect_match() {
	[[ $2 =~ $3 ]] || fail "$1: got '$2', want a match for /$3/"
	echo "ok: $1 ~ /$3/"
}

# pod_config NAME [JQ] writes a pod sandbox config (as kubelet would send
# it: namespaced pod, own network namespace, per-container PID namespace,
# the suite's cgroup parent), edited by the jq filter JQ; prints its path.
pod_config() {
	local name=$1 filter=${2:-.} f=$CRI_WORK/pod-$1.json
	jq -n --arg n "$name" --arg uid "uid-$name-$$" --arg logdir "$CRI_WORK/logs/$name" --arg cg "$CRI_CGPARENT" '
		{metadata: {name: $n, namespace: "hull-cri", uid: $uid, attempt: 0},
		 hostname: $n, log_directory: $logdir,
		 linux: {cgroup_parent: $cg, security_context: {namespace_options: {network: 0, pid: 1, ipc: 0}}}}' |
		jq "$filter" >"$f" || fail "pod config $name: jq filter $filter"
	echo "$f"
}

# ctr_config NAME PODFILE CMDJSON [JQ] writes a busybox container config
# running CMDJSON (a JSON array), with kubelet's fill-ins: the pod's
# namespace options copied into the container's security context, the
# default masked and read-only paths; edited by JQ; prints its path.
ctr_config() {
	local name=$1 podf=$2 cmd=$3 filter=${4:-.} f=$CRI_WORK/ctr-$1.json
	jq -n --arg n "$name" --arg img "$BUSYBOX_IMAGE" --argjson cmd "$cmd" --slurpfile pod "$podf" \
		--argjson masked "$MASKED_PATHS" --argjson ro "$READONLY_PATHS" '
		{metadata: {name: $n, attempt: 0}, image: {image: $img}, command: $cmd, log_path: ($n + ".log"),
		 linux: {resources: {}, security_context: {namespace_options: $pod[0].linux.security_context.namespace_options,
		   masked_paths: $masked, readonly_paths: $ro}}}' |
		jq "$filter" >"$f" || fail "container config $name: jq filter $filter"
	echo "$f"
}

# runp PODFILE starts a pod sandbox on the hull handler; prints its id.
runp() {
	local out
	out=$(cc runp --runtime hull "$1" 2>&1) || fail "crictl runp $(jq -c .metadata.name "$1"): $out"
	echo "$out"
}

# create POD CTRFILE PODFILE creates a container; prints its id.
create() {
	local out
	out=$(cc create "$1" "$2" "$3" 2>&1) || fail "crictl create $(jq -c .metadata.name "$2"): $out"
	echo "$out"
}

# run_ctr POD CTRFILE PODFILE creates and starts a container; prints its id.
run_ctr() {
	local id out
	id=$(create "$@") || exit 1
	out=$(cc start "$id" 2>&1) || fail "crictl start $(jq -c .metadata.name "$2") ($id): $out"
	echo "$id"
}

# status ID [FIELD] prints a container's status field (default: state).
status() {
	cc inspect "$1" | jq -r ".status.${2:-state}"
}

# wait_state ID STATE SECONDS waits for a container to reach STATE.
wait_state() {
	local i s
	for ((i = 0; i < $3 * 5; i++)); do
		s=$(status "$1")
		[[ $s == "$2" ]] && return 0
		sleep 0.2
	done
	fail "container $1 is $s after $3s, want $2"
}

# cexec ID CMD... runs crictl exec --sync-ish (no stdin) and prints stdout.
cexec() {
	local id=$1
	shift
	cc exec "$id" "$@"
}

# cgdir CONTROLLER ID prints a container's cgroup directory on the host.
cgdir() {
	echo "$CRI_CGROOT/$1$CRI_CGPARENT/$2"
}

# leftovers prints, one a line, what the suite left behind once containerd
# is stopped: processes from the work dir or in the pods' cgroups, cgroups
# below the parent, mounts under the work dir, the runtime's container state,
# CNI results and IP leases.
leftovers() {
	local f pid cl d
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		cl=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
		[[ $cl == *"$CRI_WORK"* ]] && echo "process $pid: $cl"
	done
	for d in "$CRI_CGROOT"/*/; do
		[[ -d $d${CRI_CGPARENT#/} ]] || continue
		while read -r sub; do
			echo "cgroup $sub (procs: $(tr '\n' ' ' <"$sub/cgroup.procs" 2>/dev/null))"
		done < <(find "$d${CRI_CGPARENT#/}" -mindepth 1 -type d)
	done
	awk -v w="$CRI_WORK" '$5 == w || index($5, w "/") == 1 {print "mount " $5 " (" $9 ")"}' /proc/self/mountinfo
	if [[ -d $CRI_RTROOT ]]; then
		# Container state only: a runtime may keep hidden files of its
		# own (locks, caches) under its root.
		find "$CRI_RTROOT" -mindepth 2 -maxdepth 2 ! -name '.*' | sed 's/^/runtime state /'
	fi
	ls -d /var/lib/cni/results/"$CRI_NETNAME"-* 2>/dev/null | sed 's/^/cni result /'
	find "$CRI_WORK/cni/ipam" -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | sed 's/^/ip lease /'
}
