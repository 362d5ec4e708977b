#!/bin/bash
# mkrootfs.sh [DIR] builds a minimal busybox root filesystem from Debian's
# busybox-static (/bin/busybox), with no image pulls.
#
# DIR defaults to tests/.cache/rootfs (gitignored). The result is cached: it is
# rebuilt only when /bin/busybox (or this script) changes, tracked by a stamp
# file next to DIR. Prints DIR on stdout. Safe to run concurrently (flock).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$repo/tests/.cache/rootfs}
busybox=${BUSYBOX:-/bin/busybox}

if [[ ! -x $busybox ]]; then
	echo "mkrootfs: $busybox not found (apt-get install busybox-static)" >&2
	exit 1
fi
if ! "$busybox" --list >/dev/null 2>&1; then
	echo "mkrootfs: $busybox is not a busybox binary" >&2
	exit 1
fi

mkdir -p "$(dirname "$dir")"
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
stamp=$dir.stamp
want=$(cat "$busybox" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)

exec 9>"$dir.lock"
flock 9

if [[ -d $dir && -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "$dir"
	exit 0
fi

tmp=$(mktemp -d "$dir.new.XXXXXX")
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/user,run,var/tmp,mnt}
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 0700 "$tmp/root"
install -m 0755 "$busybox" "$tmp/bin/busybox"

# One symlink per applet, in bin/ (busybox finds the applet by argv[0]).
while read -r applet; do
	[[ $applet == busybox ]] && continue
	ln -sf busybox "$tmp/bin/$applet"
done < <("$busybox" --list)

cat >"$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$tmp/etc/group" <<'GROUP'
root:x:0:
user:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$tmp/home/user"
: >"$tmp/etc/hosts"
: >"$tmp/etc/resolv.conf"
echo rootfs >"$tmp/etc/hostname"

rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$want" >"$stamp"
echo "$dir"
