#!/bin/bash
# deps.sh installs (as root, on Debian 12) what building and testing hull need.
# Idempotent and fast when everything is present: it asks dpkg-query first and
# only runs apt-get (and apt-get update) for what is missing.
set -euo pipefail

packages=(
	gcc
	libseccomp-dev
	pkg-config
	# make hull links against musl (Makefile: LIBC)
	musl-tools
	busybox-static
	runc
	crun
	go-md2man
	time
	strace
	iproute2
	nftables iptables # hull network's NAT, both tested (tests/integration/network_test.go)
	procps
	util-linux # (conformance's fake resctrl mounts FUSE with mount(2) as root: /dev/fuse only, no fuse3)
	# tests/rootless: a real user with subordinate ids (useradd, setpriv,
	# newuidmap/newgidmap); bash completion test
	passwd
	uidmap
	bash
	# libct/cgroups: the systemd-driver unit tests run a private bus
	# (dbus-daemon with its session.conf, from dbus-session-bus-common)
	dbus-daemon
	# checkpoint/restore: tests/integration checks hull's errors against
	# this host's criu (tests/vm checks a real round trip in the guest)
	criu
	# the engines (Podman, containerd, crictl) and the qemu guest are
	# installed by tests/e2e/deps.sh, tests/cri/deps.sh, tests/vm/deps.sh
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ $status != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
	echo "deps: must run as root to install: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
	apt-get install -y --no-install-recommends "${missing[@]}"
}
# Refresh the package lists only when needed: fresh images ship with none,
# and stale lists make the install fail to find a version.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt-get update
fi
if ! apt_install; then
	apt-get update
	apt_install
fi
