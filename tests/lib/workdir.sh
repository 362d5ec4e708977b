# workdir.sh: shell helpers shared by the engine suites (tests/e2e/run.sh,
# tests/cri/run.sh) for their safety-net cleanup of a private work dir.
# Source it; it defines functions only.

# resolve_runtime LABEL ARG DEFAULT prints the absolute path of the runtime
# under test: ARG as a path, or looked up on PATH when it has no slash;
# DEFAULT when ARG is empty.
resolve_runtime() {
	local label=$1 arg=$2 def=$3 rt
	rt=${arg:-$def}
	if [[ $rt != */* ]]; then
		rt=$(command -v "$rt") || { echo "$label: runtime $arg not found" >&2; return 1; }
	fi
	realpath -e "$rt" 2>/dev/null || { echo "$label: runtime ${arg:-$def} not found (make hull)" >&2; return 1; }
}

# kill_workdir_procs LABEL WORK kills every process whose command line
# names WORK (engines, shims, conmon, containers' helpers), except this
# shell.
kill_workdir_procs() {
	local label=$1 work=$2 f pid cl
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		cl=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
		[[ $cl == *"$work"* ]] || continue
		echo "$label: killing leftover process $pid: $cl" >&2
		kill -KILL "$pid" 2>/dev/null
	done
}

# umount_workdir WORK lazily unmounts everything mounted at or below WORK,
# deepest first, in up to three passes (an unmount can uncover another).
umount_workdir() {
	local work=$1 mps mp
	for _ in 1 2 3; do
		mps=$(awk -v w="$work" '$5 == w || index($5, w "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
		[[ -z $mps ]] && break
		for mp in $mps; do
			umount -l "$mp" 2>/dev/null
		done
	done
}
