# criu.sh: the checkpoint/restore checks (issue 16.1), sourced by checks.sh in the
# systemd boot. The host's kernel is too new for Debian's criu 3.17 (`criu check` fails
# on its vDSO), the guest's Debian 6.1 kernel is not: here a busybox counter is
# checkpointed, restored under a new id and must go on counting from where it was.
# Like every check, each runs on hull and on the guest's runc (the reference).
#
# CRIU keeps a dumped pipe's place for the pipe the restoring runtime is given
# (descriptors.json, inherit_fd), not for files of the host: the counter's stdio are
# pipes, made by process substitution, to a `cat` that appends to a log.

CR_COUNTER='i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done'

# cr_rt ARGS...: the runtime with the container's stdio on pipes: stdin from a
# sleeping writer, stdout and stderr to $CR_LOG.out / $CR_LOG.err. Its own messages
# go to $W/rt.out (read into $OUT), not through the pipes.
cr_rt() {
	local rc
	timeout 120 "$RT" --root "/run/hullvm-$RTN" --log "$W/rt.log" --log-format text "$@" \
		< <(exec sleep 100000) > >(exec cat >> "$CR_LOG.out") 2> >(exec cat >> "$CR_LOG.err")
	rc=$?
	OUT=$(tail -5 "$W/rt.log" 2>/dev/null; tail -3 "$CR_LOG.err" 2>/dev/null)
	: > "$W/rt.log"
	[ $rc = 0 ] || log "$RTN $*: exit $rc: $OUT" >&2
	return $rc
}
# cr_last FILE: the last number the counter wrote there (0 when none); a pty's
# output has \r\n line ends
cr_last() { tr -d '\r' < "$1" 2>/dev/null | grep -E '^[0-9]+$' | tail -1 | grep . || echo 0; }
cr_first() { tr -d '\r' < "$1" 2>/dev/null | grep -E '^[0-9]+$' | head -1 | grep . || echo 0; }
# cr_after FILE N: the first number the counter wrote there after N
cr_after() { tr -d '\r' < "$1" 2>/dev/null | grep -E '^[0-9]+$' | awk -v n="$2" '$1 > n' | head -1; }
# cr_wait_past FILE N: wait (60 s at most) until the counter in FILE is past N
cr_wait_past() {
	local i
	for i in $(seq 300); do
		[ "$(cr_last "$1")" -gt "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
# cr_gone ID [CGROUP]: nothing of container ID is left (state dir, its cgroup
# /hullvm/CGROUP (default ID), criu-root mount)
cr_gone() {
	local left="" cg=${2:-$1}
	[ -e "/run/hullvm-$RTN/$1" ] && left+=" state:/run/hullvm-$RTN/$1"
	[ -e "$CG/hullvm/$cg" ] && left+=" cgroup:$CG/hullvm/$cg"
	grep -q "criu-root" /proc/self/mountinfo && left+=" mount:$(grep criu-root /proc/self/mountinfo | awk '{print $5}' | tr '\n' ' ')"
	ls -a "/run/hullvm-$RTN" 2>/dev/null | grep -q '^\.criu-root' && left+=" dir:.criu-root-*"
	echo "$left"
}

check_criu() {
	if ! command -v criu > /dev/null; then fail criu "no criu in the guest image (tests/vm/image.sh)"; return; fi
	local chk; chk=$(criu check 2>&1)
	if [ $? != 0 ]; then fail criu "criu check fails in the guest: $(echo "$chk" | grep Error | head -2)"; return; fi
	# same: restored under new ids, in the checkpointed container's cgroup path (what
	# runc 1.1, the reference, needs). soft: each new id in a cgroup of its own
	# (cgroupsPath /hullvm/ID), which hull gives criu as cg_root; runc 1.1 restores
	# into the checkpointed cgroup whatever the bundle says, and runc 1.2's way out,
	# --manage-cgroups-mode ignore on both ends (runc-restore(8)), is not in 1.1.
	cr_flow same
	if [ "$RTN" = runc ]; then
		skip criu.soft "runc 1.1 restores into the checkpointed cgroup, not the bundle's (runc-restore(8))"
		skip criu.ignore "runc 1.1 has no --manage-cgroups-mode ignore (runc 1.2 has)"
	else
		cr_flow soft
		cr_flow ignore
	fi
	cr_predump
	cr_tty
	cr_lazy
	cr_netdev
}

# cr_netdev: linux.netDevices on restore. The checkpoint dumps the network
# namespace empty; the kernel destroys the moved veth with it. The host's new
# veth of the same name is moved into the restored namespace (as create does),
# with its address, and the counter goes on. runc 1.1 has no netDevices.
cr_netdev() {
	local p=criu.netdev id1=$RTN-nd-cr1 id2=$RTN-nd-cr2 img=$W/cr-nd-$RTN b1 b2 pid last first a
	if [ "$RTN" != hull ]; then skip $p "runc 1.1 predates linux.netDevices (runtime-spec 1.3)"; return; fi
	rm -rf "$img"
	local f='.process.args = ["sh", "-c", $c] | .linux.netDevices = {"hvcr0": {"name": "ctr0"}}'
	b1=$(bundle "$id1" "$f" --arg c "$CR_COUNTER")
	b2=$(bundle "$id2" "$f"' | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$id1")
	mkveth() { ip link add hvcr0 type veth peer name hvcr0p && ip addr add 10.81.0.1/24 dev hvcr0 && ip link set hvcr0 up; }
	ip link del hvcr0 2>/dev/null
	mkveth || { fail $p "cannot make a veth in the guest"; return; }
	CR_LOG=$W/cr-nd-$RTN.1
	if ! cr_rt run -d --bundle "$b1" "$id1"; then fail $p.run "$OUT"; ip link del hvcr0; return; fi
	cr_wait_past "$CR_LOG.out" 3
	if ! rt checkpoint --image-path "$img" "$id1"; then
		fail $p.checkpoint "$OUT; $(grep -h Error "$img"/dump.log 2>/dev/null | tail -3)"; cleanup_ct "$id1"; return
	fi
	sleep 0.5
	last=$(cr_last "$CR_LOG.out")
	for i in $(seq 50); do ip link show hvcr0p > /dev/null 2>&1 || break; sleep 0.1; done
	mkveth || { fail $p "the checkpointed namespace's veth is still there: $(ip -o link | grep hvcr)"; return; }
	CR_LOG=$W/cr-nd-$RTN.2
	if ! cr_rt restore -d --bundle "$b2" --image-path "$img" "$id2"; then
		fail $p.restore "$OUT; $(grep -h Error "$img"/restore.log 2>/dev/null | tail -3)"; cleanup_ct "$id2"; ip link del hvcr0; return
	fi
	pid=$(pid_of "$id2")
	a=$(nsenter -t "$pid" -n ip -o addr show ctr0 2>&1)
	if cr_wait_past "$CR_LOG.out" $((last + 3)) && first=$(cr_first "$CR_LOG.out") && [ "$first" = $((last + 1)) ] &&
		echo "$a" | grep -q 10.81.0.1/24 && ! ip link show hvcr0 > /dev/null 2>&1; then
		pass $p.restore "hvcr0 moved into the restored namespace: $(echo "$a" | awk '{print $2, $4}'); counted ..$last, then $first.."
	else
		fail $p.restore "counted ..$last, restored from '$first'; ctr0 in the container: $a; host: $(ip -o link | grep hvcr | cut -c1-80)"
	fi
	cleanup_ct "$id2"
	for i in $(seq 50); do ip link show hvcr0p > /dev/null 2>&1 || break; sleep 0.1; done
	if ip link show hvcr0p > /dev/null 2>&1; then fail $p.delete "the veth outlived the restored container"; ip link del hvcr0p; else pass $p.delete "the veth went with the restored namespace"; fi
	pkill -f "sleep 100000" 2>/dev/null
	rm -rf "$img"
}

# cr_predump: checkpoint --pre-dump writes the memory and leaves the container
# running; a checkpoint with --parent-path (relative to its image path, as runc's)
# writes only what changed since, and its images restore: the counter goes on.
cr_predump() {
	local p=criu.predump id1=$RTN-pd-cr1 id2=$RTN-pd-cr2 img=$W/cr-pd-$RTN b1 b2 pid last first
	rm -rf "$img"
	b1=$(bundle "$id1" '.process.args = ["sh", "-c", $c]' --arg c "$CR_COUNTER")
	b2=$(bundle "$id2" '.process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$id1")
	CR_LOG=$W/cr-pd-$RTN.1
	if ! cr_rt run -d --bundle "$b1" "$id1"; then fail $p.run "$OUT"; return; fi
	cr_wait_past "$CR_LOG.out" 3 || { fail $p "the counter does not count"; cleanup_ct "$id1"; return; }
	pid=$(pid_of "$id1")
	if rt checkpoint --pre-dump --image-path "$img/parent" "$id1" && rt state "$id1" &&
		[ "$(echo "$OUT" | jq -r .status)" = running ] && [ "$(echo "$OUT" | jq -r .pid)" = "$pid" ] &&
		ls "$img"/parent/pages-*.img > /dev/null 2>&1; then
		pass $p.pre-dump "images in parent/ ($(du -sk "$img/parent" | cut -f1) KiB), still running as pid $pid"
	else
		fail $p.pre-dump "$OUT; $(grep -h Error "$img"/parent/dump.log 2>/dev/null | tail -3)"
		cleanup_ct "$id1"; return
	fi
	last=$(cr_last "$CR_LOG.out")
	cr_wait_past "$CR_LOG.out" $((last + 2))
	if ! rt checkpoint --parent-path ../parent --image-path "$img/final" "$id1"; then
		fail $p.parent-path "$OUT; $(grep -h Error "$img"/final/dump.log 2>/dev/null | tail -3)"
		cleanup_ct "$id1"; return
	fi
	sleep 0.5
	last=$(cr_last "$CR_LOG.out")
	# CRIU links the parent's images and dumps only the pages dirtied since
	if [ "$(readlink "$img/final/parent")" = ../parent ] && [ -f "$img/final/inventory.img" ]; then
		pass $p.parent-path "final/parent -> $(readlink "$img/final/parent"), final $(du -sk "$img/final" | cut -f1) KiB, counter at $last"
	else
		fail $p.parent-path "final/parent: '$(readlink "$img/final/parent")', files: $(ls "$img/final" | head -5 | tr '\n' ' ')"
	fi
	CR_LOG=$W/cr-pd-$RTN.2
	if ! cr_rt restore -d --bundle "$b2" --image-path "$img/final" "$id2"; then
		fail $p.restore "$OUT; $(grep -h Error "$img"/final/restore.log 2>/dev/null | tail -3)"
		cleanup_ct "$id2"; return
	fi
	if cr_wait_past "$CR_LOG.out" $((last + 3)) && first=$(cr_first "$CR_LOG.out") && [ "$first" = $((last + 1)) ]; then
		pass $p.restore "restored from the incremental images: ..$last before, $first..$(cr_last "$CR_LOG.out") after"
	else
		fail $p.restore "counted ..$last before, restored output: $(head -3 "$CR_LOG.out" | tr '\n' ' ')"
	fi
	cleanup_ct "$id2"
	pkill -f "sleep 100000" 2>/dev/null
	rm -rf "$img"
}

# cr_tty: a container with process.terminal, its pty master held by recvtty
# (built by run.sh) through --console-socket, is checkpointed; restore -d
# --console-socket hands the new master CRIU made (orphan-pts-master) to the same
# recvtty, and the counter goes on in its output, on a pty.
cr_tty() {
	local p=criu.tty id1=$RTN-tty-cr1 id2=$RTN-tty-cr2 img=$W/cr-tty-$RTN b1 b2 sock=$W/tty-$RTN.sock out=$W/tty-$RTN.out rtty pid last first fd1
	if [ ! -x "$PAYLOAD/recvtty" ]; then fail $p "no recvtty in the share (run.sh builds it)"; return; fi
	rm -rf "$img" "$out"
	"$PAYLOAD/recvtty" "$sock" "$out" 2> "$W/recvtty-$RTN.err" &
	rtty=$!
	for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	b1=$(bundle "$id1" '.process.terminal = true | .process.args = ["sh", "-c", $c]' --arg c "$CR_COUNTER")
	b2=$(bundle "$id2" '.process.terminal = true | .process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$id1")
	if ! rt run -d --console-socket "$sock" --bundle "$b1" "$id1"; then fail $p.run "$OUT"; kill $rtty; return; fi
	if ! cr_wait_past "$out" 3; then
		fail $p.run "no output through the pty: $(head -c 200 "$out") $(cat "$W/recvtty-$RTN.err")"; cleanup_ct "$id1"; kill $rtty; return
	fi
	if ! rt checkpoint --image-path "$img" "$id1"; then
		fail $p.checkpoint "$OUT; $(grep -h Error "$img"/dump.log 2>/dev/null | tail -3)"
		cleanup_ct "$id1"; kill $rtty; return
	fi
	sleep 0.5
	last=$(cr_last "$out")
	pass $p.checkpoint "counter at $last on the pty"
	if ! rt restore -d --console-socket "$sock" --bundle "$b2" --image-path "$img" "$id2"; then
		fail $p.restore "$OUT; $(grep -h Error "$img"/restore.log 2>/dev/null | tail -3)"
		cleanup_ct "$id2"; kill $rtty; return
	fi
	pid=$(pid_of "$id2")
	fd1=$(readlink /proc/"$pid"/fd/1 2>/dev/null)
	if cr_wait_past "$out" $((last + 3)) && first=$(cr_after "$out" "$last") && [ "$first" = $((last + 1)) ] &&
		case $fd1 in /dev/pts/*) true ;; *) false ;; esac; then
		pass $p.restore "new master received ($(grep -c 'got the master' "$W/recvtty-$RTN.err") masters), counted ..$last, then $first..$(cr_last "$out"), init's stdout $fd1"
	else
		fail $p.restore "counted ..$last, after restore: '$first' (want $((last + 1))), init's stdout '$fd1'; recvtty: $(tr '\n' ' ' < "$W/recvtty-$RTN.err")"
	fi
	cleanup_ct "$id2"
	kill $rtty 2>/dev/null
	rm -rf "$img"
}

# cr_lazy: checkpoint --lazy-pages --page-server --status-fd (CRIU stays as the
# page server), `criu lazy-pages` in front of it, restore --lazy-pages: the memory
# comes over userfaultfd as the restored counter touches it. Needs userfaultfd in
# the kernel (criu check --feature uffd-noncoop); without it, checkpoint and restore
# must refuse, naming --lazy-pages, before touching the container.
cr_lazy() {
	local p=criu.lazy id1=$RTN-lz-cr1 id2=$RTN-lz-cr2 img=$W/cr-lz-$RTN b1 b2 port=27277 cpt lp last first ready cg=$RTN-lz-cr2
	rm -rf "$img" && mkdir -p "$img"
	# The checkpoint ends, and deletes its container with whatever is in its
	# cgroup, only once the restore has taken every page: hull's restore goes
	# to a cgroup of its own; runc 1.1 restores into the checkpointed one
	# whatever the bundle says, and does not kill what is in it on delete.
	[ "$RTN" = hull ] || cg=$id1
	b1=$(bundle "$id1" '.process.args = ["sh", "-c", $c]' --arg c "$CR_COUNTER")
	b2=$(bundle "$id2" '.process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$cg")
	CR_LOG=$W/cr-lz-$RTN.1
	if ! cr_rt run -d --bundle "$b1" "$id1"; then fail $p.run "$OUT"; return; fi
	cr_wait_past "$CR_LOG.out" 3 || { fail $p "the counter does not count"; cleanup_ct "$id1"; return; }
	if ! criu check --feature uffd-noncoop > "$W/uffd.txt" 2>&1; then
		if rt checkpoint --lazy-pages --image-path "$img" "$id1"; then
			fail $p.refused "criu has no lazy pages here ($(tail -1 "$W/uffd.txt")), yet checkpoint --lazy-pages succeeded"
		elif echo "$OUT" | grep -q -e '--lazy-pages' && rt state "$id1" && [ "$(echo "$OUT" | jq -r .status)" = running ]; then
			pass $p.refused "no userfaultfd ($(tail -1 "$W/uffd.txt")): refused, naming --lazy-pages; the container runs on"
		else
			fail $p.refused "$OUT"
		fi
		cleanup_ct "$id1"; return
	fi
	# --status-fd: the write end of a FIFO (write-only: runc 1.1 takes an
	# O_RDWR fd for not writable); this shell reads the other end
	rm -f "$W/lazy.fifo" && mkfifo "$W/lazy.fifo" && exec 8<> "$W/lazy.fifo" && exec 9> "$W/lazy.fifo"
	timeout 120 "$RT" --root "/run/hullvm-$RTN" checkpoint --lazy-pages --page-server "127.0.0.1:$port" --status-fd 9 \
		--image-path "$img" "$id1" > "$W/lz-cpt.out" 2>&1 < /dev/null 8<&- &
	cpt=$!
	exec 9>&-
	ready=$(timeout 60 dd bs=1 count=1 <&8 2>/dev/null | od -An -c | tr -d ' ')
	exec 8<&-
	if [ "$ready" != '\0' ]; then
		fail $p.checkpoint "no ready byte on --status-fd ('$ready'): $(tail -3 "$W/lz-cpt.out"); $(grep -h Error "$img"/dump.log 2>/dev/null | tail -3)"
		kill $cpt 2>/dev/null; wait $cpt; cleanup_ct "$id1"; return
	fi
	last=$(cr_last "$CR_LOG.out")
	criu lazy-pages --page-server --address 127.0.0.1 --port $port -D "$img" -o lazy-pages.log > /dev/null 2>&1 &
	lp=$!
	sleep 1
	CR_LOG=$W/cr-lz-$RTN.2
	if ! cr_rt restore -d --lazy-pages --bundle "$b2" --image-path "$img" "$id2"; then
		fail $p.restore "$OUT; $(grep -h Error "$img"/restore.log "$img"/lazy-pages.log 2>/dev/null | tail -3)"
		kill $cpt $lp 2>/dev/null; wait $cpt $lp; cleanup_ct "$id1"; cleanup_ct "$id2"; return
	fi
	local crc lrc
	timeout 60 tail --pid=$cpt -f /dev/null; wait $cpt; crc=$?
	timeout 60 tail --pid=$lp -f /dev/null; wait $lp; lrc=$?
	if cr_wait_past "$CR_LOG.out" $((last + 3)) && first=$(cr_first "$CR_LOG.out") && [ "$first" = $((last + 1)) ] && [ $crc = 0 ]; then
		pass $p.restore "lazily restored: ..$last before, $first..$(cr_last "$CR_LOG.out") after; checkpoint exit $crc, lazy-pages exit $lrc"
	else
		fail $p.restore "counted ..$last, restored output '$(head -2 "$CR_LOG.out" | tr '\n' ' ')', checkpoint exit $crc ($(tail -2 "$W/lz-cpt.out" | tr '\n' ' ')), lazy-pages exit $lrc"
	fi
	cleanup_ct "$id1"; cleanup_ct "$id2"
	pkill -f "sleep 100000" 2>/dev/null
	rm -rf "$img"
}

# cr_flow MODE: run, checkpoint, restore under a new id (the counter goes on),
# checkpoint --leave-running, restore that in the foreground, a failing restore.
# MODE: same (cgroup path of the first container for all), soft (CRIU's default
# cgroup mode, a cgroup per id), ignore (--manage-cgroups-mode ignore, one per id).
cr_flow() {
	local m=$1 cgm=() p=criu.$1
	[ "$1" = ignore ] && cgm=(--manage-cgroups-mode ignore)
	local id1=$RTN-$m-cr1 id2=$RTN-$m-cr2 id3=$RTN-$m-cr3 id4=$RTN-$m-cr4 img=$W/cr-img-$RTN-$m b1 b2 b3 b4 pid last first n left st
	local cg2=$id2 cg3=$id3 cg4=$id4
	[ "$m" = same ] && cg2=$id1 cg3=$id1 cg4=$id1
	rm -rf "$img" "$img"-* "$W/cr-$RTN-$m".*
	b1=$(bundle "$id1" '.process.args = ["sh", "-c", $c]' --arg c "$CR_COUNTER")
	b2=$(bundle "$id2" '.process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$cg2")
	b3=$(bundle "$id3" '.process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$cg3")
	b4=$(bundle "$id4" '.process.args = ["sh", "-c", $c] | .linux.cgroupsPath = "/hullvm/" + $cg' --arg c "$CR_COUNTER" --arg cg "$cg4")

	CR_LOG=$W/cr-$RTN-$m.1
	if ! cr_rt run -d --bundle "$b1" "$id1"; then fail $p.run "$OUT"; return; fi
	cr_wait_past "$CR_LOG.out" 5 || { fail $p.run "the counter does not count: $(tail -3 "$CR_LOG.out")"; cleanup_ct "$id1"; return; }

	# checkpoint: the images are written, the container is gone (runc deletes it)
	if ! rt checkpoint "${cgm[@]}" --image-path "$img" "$id1"; then
		fail $p.checkpoint "$OUT; $(grep -h Error "$img"/dump.log 2>/dev/null | tail -3)"
		cleanup_ct "$id1"; return
	fi
	sleep 0.5 # the log's reader drains the pipe
	last=$(cr_last "$CR_LOG.out")
	if rt state "$id1"; then st=$(echo "$OUT" | jq -r .status); else st=gone; fi
	left=$(cr_gone "$id1")
	if [ -f "$img/inventory.img" ] && [ -f "$img/descriptors.json" ] && [ "$st" != running ] && [ -z "$left" ]; then
		pass $p.checkpoint "counter at $last, container $st; images: $(ls "$img" | sed 's/\.img$//' | tr '\n' ' ')"
	else
		fail $p.checkpoint "inventory.img: $(ls "$img" 2>&1 | head -3 | tr '\n' ' '), state: $st, left:$left"
	fi

	# restore under a new id: the counter goes on from where it was
	CR_LOG=$W/cr-$RTN-$m.2
	if ! cr_rt restore -d "${cgm[@]}" --bundle "$b2" --image-path "$img" "$id2"; then
		fail $p.restore "$OUT; $(grep -h Error "$img"/restore.log 2>/dev/null | tail -3)"
		cleanup_ct "$id2"; return
	fi
	pid=$(pid_of "$id2")
	rt state "$id2"; st=$(echo "$OUT" | jq -r .status)
	if cr_wait_past "$CR_LOG.out" $((last + 3)); then
		first=$(cr_first "$CR_LOG.out")
		if [ "$first" = $((last + 1)) ] && [ "$st" = running ]; then
			pass $p.restore "$id2 running (pid $pid): counted ..$last before, $first..$(cr_last "$CR_LOG.out") after"
		else
			fail $p.restore "status $st; counted ..$last before the checkpoint, restored output starts at $first"
		fi
	else
		fail $p.restore "status $st; the restored counter does not go on: $(head -3 "$CR_LOG.out" | tr '\n' ' ') err: $(tail -3 "$CR_LOG.err")"
	fi
	# the restored processes are in the new container's cgroup, which its state records
	if [ -n "$pid" ] && grep -q "/hullvm/$cg2\$" /proc/"$pid"/cgroup &&
		[ "$(cat $CG/hullvm/"$cg2"/cgroup.procs 2>/dev/null | wc -l)" -ge 2 ]; then
		pass $p.restore.cgroup "$(cat /proc/"$pid"/cgroup), $(wc -l < $CG/hullvm/"$cg2"/cgroup.procs) processes"
	else
		fail $p.restore.cgroup "restored init ${pid:-?} in $(cat /proc/"$pid"/cgroup 2>&1), want /hullvm/$cg2"
	fi

	# --leave-running: the dump is written and the container goes on
	n=$(cr_last "$CR_LOG.out")
	if rt checkpoint --leave-running "${cgm[@]}" --image-path "$img-lr" "$id2" && rt state "$id2" &&
		[ "$(echo "$OUT" | jq -r .status)" = running ] && [ "$(echo "$OUT" | jq -r .pid)" = "$pid" ] &&
		cr_wait_past "$CR_LOG.out" $((n + 3)) && [ -f "$img-lr/inventory.img" ]; then
		pass $p.leave-running "still running as pid $pid, counter $n -> $(cr_last "$CR_LOG.out")"
	else
		fail $p.leave-running "$OUT; $(grep -h Error "$img-lr"/dump.log 2>/dev/null | tail -3)"
	fi
	cleanup_ct "$id2"
	sleep 0.5

	# the --leave-running images restore too, in the foreground (restore waits, as run)
	CR_LOG=$W/cr-$RTN-$m.3
	cr_rt restore "${cgm[@]}" --bundle "$b3" --image-path "$img-lr" "$id3" &
	local fg=$!
	if cr_wait_past "$CR_LOG.out" $((n + 2)) && rt state "$id3" && [ "$(echo "$OUT" | jq -r .status)" = running ]; then
		rt kill "$id3" KILL
		wait $fg
		local rc=$?
		left=$(cr_gone "$id3" "$cg3")
		if [ $rc = 137 ] && [ -z "$left" ]; then pass $p.restore.foreground "counted from $(cr_first "$CR_LOG.out"), exit $rc on SIGKILL, nothing left"
		else fail $p.restore.foreground "exit $rc (want 137), left:$left"; fi
	else
		fail $p.restore.foreground "$OUT; $(head -3 "$CR_LOG.out" | tr '\n' ' ')"
		kill $fg 2>/dev/null; cleanup_ct "$id3"
	fi

	# a restore that CRIU fails leaves nothing: no state dir, cgroup or mount
	CR_LOG=$W/cr-$RTN-$m.4
	cp -a "$img" "$img-bad" && rm -f "$img-bad"/inventory.img
	if cr_rt restore -d "${cgm[@]}" --bundle "$b4" --image-path "$img-bad" "$id4"; then
		fail $p.restore.failure "restore without inventory.img succeeded"
		cleanup_ct "$id4"
	else
		left=$(cr_gone "$id4" "$cg4")
		if [ -z "$left" ]; then pass $p.restore.failure "refused, nothing left: $(echo "$OUT" | tail -1 | cut -c1-300)"
		else fail $p.restore.failure "left:$left"; fi
	fi
	cleanup_ct "$id4"
	pkill -f "sleep 100000" 2>/dev/null
	rm -rf "$img" "$img"-*
}

# Podman drives the runtime through checkpoint and restore itself (conmon's pipes,
# its own image and work paths, restore --detach --pid-file ... under the same id).
check_criu_podman() {
	if ! command -v podman > /dev/null; then fail criu.podman "no podman in the guest image"; return; fi
	local name=cr-podman-$RTN conf=$W/containers.conf pm last first out
	if ! podman image exists localhost/hullvm-busybox 2>/dev/null; then
		podman import -q "$PAYLOAD/rootfs.tar" localhost/hullvm-busybox > /dev/null 2>&1 ||
			{ fail criu.podman "podman import of the busybox rootfs failed"; return; }
	fi
	printf '[containers]\nnetns = "none"\n[engine]\nevents_logger = "file"\n' > "$conf"
	pm() { CONTAINERS_CONF=$conf timeout 120 podman "$@" 2>&1; }
	pm rm -f "$name" > /dev/null
	if ! out=$(pm --runtime "$RT" run -d --name "$name" localhost/hullvm-busybox sh -c "$CR_COUNTER"); then
		fail criu.podman "podman run: $out"; return
	fi
	for i in $(seq 100); do [ "$(pm logs "$name" | grep -cE '^[0-9]+$')" -gt 5 ] && break; sleep 0.2; done
	if ! out=$(pm container checkpoint "$name"); then
		fail criu.podman "podman container checkpoint: $(echo "$out" | tail -3)"; pm rm -f "$name" > /dev/null; return
	fi
	last=$(pm logs "$name" | grep -E '^[0-9]+$' | tail -1)
	if ! out=$(pm container restore "$name"); then
		fail criu.podman "podman container restore: $(echo "$out" | tail -3)"; pm rm -f "$name" > /dev/null; return
	fi
	for i in $(seq 100); do [ "$(pm logs "$name" | grep -E '^[0-9]+$' | tail -1)" -gt $((last + 3)) ] && break; sleep 0.2; done
	first=$(pm logs "$name" | grep -E '^[0-9]+$' | awk -v l="$last" '$1 > l' | head -1)
	local gaps; gaps=$(pm logs "$name" | grep -E '^[0-9]+$' | awk 'NR > 1 && $1 != p + 1 {print p "->" $1} {p = $1}' | head -3)
	if [ "$first" = $((last + 1)) ] && [ -z "$gaps" ] && [ "$(pm inspect -f '{{.State.Status}}' "$name")" = running ]; then
		pass criu.podman "podman checkpoint at $last, restored and counting from $first, no gap"
	else
		fail criu.podman "checkpointed at $last, restored from '${first:-nothing}', gaps '$gaps', status $(pm inspect -f '{{.State.Status}}' "$name")"
	fi
	pm rm -f "$name" > /dev/null
}
