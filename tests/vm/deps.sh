#!/bin/bash
# deps.sh installs (as root, on Debian) the host packages the guest harness needs:
# qemu (TCG), debootstrap, e2fsprogs (mkfs.ext4 -d), cpio + gzip (initramfs),
# busybox-static (initramfs and the container rootfs).
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v cpio >/dev/null || need+=(cpio)
command -v gzip >/dev/null || need+=(gzip)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v flock >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
echo "tests/vm/deps.sh: installing ${need[*]}" >&2
for i in 1 2 3; do apt-get update -qq && break; sleep 5; done
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
	--no-install-recommends "${need[@]}"
