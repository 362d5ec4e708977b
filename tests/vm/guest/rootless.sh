# rootless.sh: rootless --systemd-cgroup in a user's systemd instance (issue 16.2,
# 16.3), sourced by checks.sh (systemd boot). A user gets a running user@UID.service
# with a user bus; as that user (runuser, from this system service: outside the user's
# instance) the runtime runs a user-namespaced container (`hull spec --rootless`) with
# --systemd-cgroup. The scope must be under user@UID.service with the spec's limits,
# `update` must reach it, an exec'd process must land in the container's cgroup (hull
# cannot write cgroup.procs from here: the common ancestor is root's, so systemd moves it,
# AttachProcessesToUnit), and delete must remove the unit.

RL_USER=hullrl RL_UID=1500

# rl_setup: the user, the user bus (what dbus-user-session would install: the image has
# dbus but not that package, and systemd --user exposes its API only on a bus it has a
# dbus.socket unit for) and the user's systemd instance, started once.
rl_setup() {
	[ -S /run/user/$RL_UID/bus ] && return 0
	id -u $RL_USER >/dev/null 2>&1 || useradd -u $RL_UID -m -s /bin/sh $RL_USER || return 1
	mkdir -p /etc/systemd/user/sockets.target.wants
	cat > /etc/systemd/user/dbus.socket <<'UNIT'
[Unit]
Description=user bus socket (hull VM tests)
[Socket]
ListenStream=%t/bus
[Install]
WantedBy=sockets.target
UNIT
	cat > /etc/systemd/user/dbus.service <<'UNIT'
[Unit]
Description=user bus (hull VM tests)
Requires=dbus.socket
[Service]
ExecStart=/usr/bin/dbus-daemon --session --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only
UNIT
	ln -sf /etc/systemd/user/dbus.socket /etc/systemd/user/sockets.target.wants/dbus.socket
	# pam_systemd sets XDG_RUNTIME_DIR from logind, which this image masks (boot time)
	mkdir -p /etc/systemd/system/user@.service.d
	printf '[Service]\nEnvironment=XDG_RUNTIME_DIR=/run/user/%%i\n' > /etc/systemd/system/user@.service.d/hullvm.conf
	systemctl daemon-reload
	systemctl start user@$RL_UID.service || return 1
	local i
	for i in $(seq 100); do [ -S /run/user/$RL_UID/bus ] && return 0; sleep 0.2; done
	return 1
}

# as_user CMD...: CMD as the user, with the user's runtime dir; output in $OUT
as_user() {
	timeout 60 runuser -u $RL_USER -- env XDG_RUNTIME_DIR=/run/user/$RL_UID HOME=/home/$RL_USER "$@" > $W/rl.out 2>&1 < /dev/null
	local rc=$?
	OUT=$(tr -d '\0' < $W/rl.out)
	return $rc
}
urt() { as_user "$RT" --root /run/user/$RL_UID/state-$RTN --systemd-cgroup "$@"; }

check_rootless_systemd() {
	local id=rl-$RTN b unit scope pid cg ecg props
	if ! rl_setup; then
		fail rootless-sd-setup "user@$RL_UID.service or its bus did not come up: $(systemctl status user@$RL_UID.service 2>&1 | tail -5)"
		return
	fi
	unit=$RTN-$id.scope
	scope=/user.slice/user-$RL_UID.slice/user@$RL_UID.service/user.slice/$unit
	cg=$CG$scope
	b=/home/$RL_USER/b-$RTN
	rm -rf "$b"
	as_user mkdir -p "$b" && as_user sh -c "cd $b && $W/bin/hull spec --rootless" || { fail rootless-sd-spec "hull spec --rootless: $OUT"; return; }
	jq --arg rootfs "$ROOTFS" --arg cgp "user.slice:$RTN:$id" '.root.path = $rootfs | .process.terminal = false
		| .process.args = ["sleep", "1000"] | .linux.cgroupsPath = $cgp
		| .linux.resources = {memory: {limit: 104857600}, pids: {limit: 60}}' "$b/config.json" > $W/rl.json &&
		cp $W/rl.json "$b/config.json" && chown $RL_USER "$b/config.json"
	if ! urt run -d -b "$b" "$id"; then
		fail rootless-sd-run "--systemd-cgroup run -d as uid $RL_UID: $(echo "$OUT" | tail -3)"
		return
	fi
	urt state "$id" && pid=$(echo "$OUT" | jq -r .pid)
	if [ "$(cat /proc/"$pid"/cgroup 2>&1)" = "0::$scope" ]; then
		pass rootless-sd-scope "init in $scope"
	else fail rootless-sd-scope "init's cgroup: $(cat /proc/"$pid"/cgroup 2>&1), want 0::$scope"; fi
	as_user systemctl --user show "$unit" -p ActiveState -p MemoryMax -p TasksMax
	props=$(echo "$OUT" | tr '\n' ' ')
	if echo "$props" | grep -q 'ActiveState=active' && echo "$props" | grep -q 'MemoryMax=104857600' && echo "$props" | grep -q 'TasksMax=60'; then
		pass rootless-sd-properties "$props"
	else fail rootless-sd-properties "want active, MemoryMax=104857600 TasksMax=60; got: $props"; fi
	want rootless-sd.memory.max "$cg/memory.max" 104857600
	want rootless-sd.pids.max "$cg/pids.max" 60
	# exec, from outside the user's instance (this is a system service)
	local epid
	if urt exec -d "$id" sleep 777; then
		epid=$(pgrep -u $RL_UID -fx 'sleep 777' | head -1)
		ecg=$(cat /proc/"$epid"/cgroup 2>&1)
		if [ -n "$epid" ] && [ "$ecg" = "0::$scope" ]; then
			pass rootless-sd-exec "exec'd pid $epid in $scope"
		elif [ "$RTN" = hull ]; then
			fail rootless-sd-exec "exec'd pid ${epid:-?} in '$ecg', want 0::$scope"
		else skip rootless-sd-exec "$RTN leaves the exec'd process in '$ecg' (hull: in the scope)"; fi
	else fail rootless-sd-exec "exec -d: $(echo "$OUT" | tail -3)"; fi
	# exec --cgroup into a sub-cgroup the user made in the delegated scope
	if [ "$RTN" != hull ]; then
		skip rootless-sd-exec-sub "runc 1.1 has no exec --cgroup"
	elif as_user mkdir "$cg/sub" && urt exec -d --cgroup sub "$id" sleep 778; then
		epid=$(pgrep -u $RL_UID -fx 'sleep 778' | head -1)
		ecg=$(cat /proc/"$epid"/cgroup 2>&1)
		[ -n "$epid" ] && [ "$ecg" = "0::$scope/sub" ] && pass rootless-sd-exec-sub "exec'd pid $epid in $scope/sub" ||
			fail rootless-sd-exec-sub "exec --cgroup sub: pid ${epid:-?} in '$ecg', want 0::$scope/sub"
	else fail rootless-sd-exec-sub "mkdir $cg/sub or exec -d --cgroup sub: $(echo "$OUT" | tail -3)"; fi
	if urt update --memory 209715200 "$id"; then
		want rootless-sd.update.memory.max "$cg/memory.max" 209715200
	else fail rootless-sd-update "update --memory: $(echo "$OUT" | tail -3)"; fi
	urt delete -f "$id" || fail rootless-sd-delete "delete -f: $(echo "$OUT" | tail -3)"
	sleep 0.5
	as_user systemctl --user is-active "$unit"
	if [ ! -e "$cg" ] && [ "$OUT" != active ]; then pass rootless-sd-removed "$cg gone, unit $OUT"
	else fail rootless-sd-removed "after delete: cgroup exists=$([ -e "$cg" ] && echo yes || echo no), unit $OUT"; fi
}
