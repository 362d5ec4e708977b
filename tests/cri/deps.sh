#!/bin/bash
# deps.sh installs (as root, on Debian 12) what the CRI suite needs:
# containerd 1.6 (with ctr and containerd-shim-runc-v2), the CNI plugins
# (/usr/lib/cni), iproute2, util-linux (unshare, nsenter, script), jq,
# busybox-static (the busybox image) and runc (the reference runtime); and
# crictl, which Debian does not ship, built from the Go module proxy into a
# cache dir outside the repo. Idempotent: apt-get runs only when a package is
# missing (apt-get update only when apt cannot find one), go install only
# when the cached crictl is missing. Prints the crictl path on stdout.
#
# Environment: HULL_CRI_CACHE (default /var/cache/hull-cri) holds bin/crictl.
set -euo pipefail

export PATH=/usr/local/go/bin:$PATH
cache=${HULL_CRI_CACHE:-/var/cache/hull-cri}
crictl_version=v1.34.0

pkgs=(containerd containernetworking-plugins iproute2 util-linux jq busybox-static runc)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} > 0)); then
	if [[ $(id -u) != 0 ]]; then
		echo "cri deps: missing ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
		apt-get update >&2
		apt-get install -y --no-install-recommends "${missing[@]}" >&2
	fi
fi

crictl=$cache/bin/crictl
if [[ ! -x $crictl ]] || ! "$crictl" --version 2>/dev/null | grep -qF "$crictl_version"; then
	if ! command -v go >/dev/null; then
		echo "cri deps: go not found; it builds crictl" >&2
		exit 1
	fi
	mkdir -p "$cache/bin"
	# Outside the repo's module: GOFLAGS=-mod=mod and a neutral cwd.
	(cd / && GOBIN=$cache/bin GOFLAGS=-mod=mod go install \
		-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" \
		"sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version") >&2
fi
echo "$crictl"
