#!/bin/bash
# deps.sh installs (as root, on Debian 12) what the end-to-end tests need:
# Podman 4.3 with conmon, containerd 1.6 with ctr, runc (the reference
# runtime), busybox-static (the test image's rootfs) and uidmap. Idempotent:
# it runs apt-get only when a package is missing, and `apt-get update` only
# when apt cannot find one.
set -euo pipefail

pkgs=(podman conmon containerd runc crun busybox-static uidmap fuse-overlayfs catatonit)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "e2e deps: missing ${missing[*]}; run as root to install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
