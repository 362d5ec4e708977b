#!/bin/bash
# deps.sh installs (as root, on Debian 12) what the CRI suite needs:
# containerd 1.6 (with ctr and containerd-shim-runc-v2), the CNI plugins
# (/usr/lib/cni), iproute2, util-linux (unshare, nsenter, script), jq,
# busybox-static (the busybox image) and runc (the reference runtime); and
# crictl, which Debian does not ship, built from the Go module proxy (the
# version pinned, with its dependencies' hashes, by tests/cri/crictl/go.mod
# and go.sum) into a cache dir outside the repo. Idempotent: apt-get runs only when a package is
# missing (apt-get update only when apt cannot find one), go install only
# when the cached crictl is missing. Prints the crictl path on stdout.
#
# Environment: HULL_CRI_CACHE (default /var/cache/hull-cri) holds bin/crictl.
set -euo pipefail

export PATH=/usr/local/go/bin:$PATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${HULL_CRI_CACHE:-/var/cache/hull-cri}
# The version is the one tests/cri/crictl/go.mod requires.
crictl_version=$(awk '$1 == "require" && $2 == "sigs.k8s.io/cri-tools" {print $3}' "$here/crictl/go.mod")

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
	# From the pinned module tests/cri/crictl, whose go.sum holds every
	# dependency's hash: only the module proxy is needed (a plain
	# `go install crictl@version` also asks the checksum database).
	if ! (cd "$here/crictl" && GOFLAGS=-mod=readonly go build -trimpath -o "$cache/bin/crictl.new" \
		-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" \
		sigs.k8s.io/cri-tools/cmd/crictl) >&2; then
		echo "cri deps: cannot build crictl $crictl_version from tests/cri/crictl (go env GOPROXY: $(go env GOPROXY))" >&2
		rm -f "$cache/bin/crictl.new"
		exit 1
	fi
	mv "$cache/bin/crictl.new" "$crictl"
fi
echo "$crictl"
