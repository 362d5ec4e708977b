#!/bin/bash
# image.sh builds (once, cached) the guest the VM tests boot: Debian's stock kernel,
# a tiny busybox initramfs and a Debian bookworm ext4 image with systemd, AppArmor,
# SELinux policy, libseccomp2, runc and crun (the references), criu and podman (checkpoint/restore).
#
#   tests/vm/image.sh            prints the cache directory (builds first if needed)
#   HULL_VM_REBUILD=1            throws the cache away first
#   HULL_VM_CACHE=DIR            cache location (default /var/cache/hull-vm: outside the
#                                repository, so tools copying the tree skip its 3 GB image)
#
# Cache layout: kernel/{vmlinuz,kver,deb}, base/ (debootstrap output), rootfs.img,
# initrd.img, *.stamp. image.stamp holds the sha256 of this file: editing the recipe
# rebuilds the image on the next run; base.stamp covers only the debootstrap step
# (suite + package list), so most edits skip the slow part.
# Nothing is installed on the host: the kernel .deb is only unpacked (dpkg -x), the
# image is made with mkfs.ext4 -d (no loop mount). Needs root (debootstrap, chroot).
set -euo pipefail

CACHE=${HULL_VM_CACHE:-/var/cache/hull-vm}
SUITE=bookworm
GUEST_PKGS=systemd,systemd-sysv,dbus,udev,kmod,apparmor,apparmor-utils,busybox-static,iproute2,procps,selinux-policy-default,selinux-utils,policycoreutils,libseccomp2,runc,crun,jq,criu,podman,containernetworking-plugins

log() { echo "vm-image: $*" >&2; }
die() { echo "vm-image: error: $*" >&2; exit 1; }

debian_mirror() { # the host's Debian mirror (deb822 or one-line sources), else deb.debian.org
	local m
	m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
	[ -n "$m" ] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -1 || true)
	echo "${m:-http://deb.debian.org/debian}"
}

build_kernel() { # -> $CACHE/kernel/{vmlinuz,kver,deb}; the modules go into the image
	local d=$CACHE/kernel pkg deb i
	rm -rf "$d.tmp" && mkdir -p "$d.tmp" "$CACHE/debs"
	for i in 1 2 3; do apt-get update -qq >&2 && break; sleep 5; done
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	[ -n "$pkg" ] || die "cannot resolve the package linux-image-amd64 depends on"
	(cd "$CACHE/debs" && apt-get download "$pkg" >&2 2>/dev/null) || die "apt-get download $pkg failed"
	deb=$(ls -t "$CACHE/debs/${pkg}"_*.deb | head -1)
	dpkg -x "$deb" "$d.tmp/x"
	cp "$d.tmp"/x/boot/vmlinuz-* "$d.tmp/vmlinuz"
	ls "$d.tmp/x/lib/modules" > "$d.tmp/kver"
	echo "$deb" > "$d.tmp/deb"
	rm -rf "$d.tmp/x" "$d" && mv "$d.tmp" "$d"
	log "kernel $pkg ($(cat "$d/kver"))"
}

build_base() { # debootstrap -> $CACHE/base
	local b=$CACHE/base
	rm -rf "$b.tmp" && mkdir -p "$b.tmp" "$CACHE/debs"
	log "debootstrap --variant=minbase $SUITE (a few minutes)"
	debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$GUEST_PKGS" \
		"$SUITE" "$b.tmp" "$(debian_mirror)" > "$CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
	rm -rf "$b" && mv "$b.tmp" "$b"
}

guest_files() { # $1 rootfs: hull-vm's additions (runner, minimal init, trimmed boot)
	local r=$1 u
	echo hullvm > "$r/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 hullvm\n' > "$r/etc/hosts"
	# / is mounted rw by the initramfs; no fstab line for it, so systemd waits for no device
	printf 'tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n' > "$r/etc/fstab"
	chroot "$r" passwd -d root >/dev/null
	# units that only cost boot time under TCG (measured with systemd-analyze blame):
	# nothing here needs logins, udev's coldplug (devtmpfs has every node we use) or
	# the modprobe@ units
	for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
		e2scrub_reap.service fstrim.timer getty@tty1.service serial-getty@ttyS0.service \
		systemd-tmpfiles-clean.timer systemd-timesyncd.service systemd-logind.service \
		systemd-update-utmp.service systemd-update-utmp-runlevel.service \
		systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
		systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service \
		modprobe@drm.service modprobe@efi_pstore.service modprobe@fuse.service \
		modprobe@loop.service modprobe@dm_mod.service systemd-pstore.service \
		systemd-journal-flush.service systemd-random-seed.service; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	mkdir -p "$r/mnt/share"
	# Debian's stock AppArmor profiles only cost boot time under TCG
	for u in "$r"/etc/apparmor.d/*; do
		[ -f "$u" ] && ln -sf "/etc/apparmor.d/${u##*/}" "$r/etc/apparmor.d/disable/${u##*/}"
	done
	# SELinux is off unless booted with security=selinux; the runner then sets enforcing
	sed -i 's/^SELINUX=.*/SELINUX=permissive/' "$r/etc/selinux/config" 2>/dev/null || true

	# hullvm-run: mounts the control and share 9p exports, runs the command with output on
	# the virtio-serial port, stores its exit code, powers off.
	cat > "$r/usr/local/sbin/hullvm-run" <<'RUN'
#!/bin/bash
set -u
modprobe -qa 9p 9pnet_virtio virtio_console 2>/dev/null
mkdir -p /run/hullvm /mnt/share
o=trans=virtio,version=9p2000.L,msize=524288
# under SELinux the 9p files would be unlabeled_t, which enforcing keeps us from writing
selinuxenabled 2>/dev/null && o+=,context=system_u:object_r:tmp_t:s0
mount -t 9p -o $o hullvmctl /run/hullvm || { echo "hullvm-run: no control share"; exit 0; }
mount -t 9p -o $o,cache=none share /mnt/share
out=/dev/console
for p in /sys/class/virtio-ports/*; do
	[ "$(cat "$p/name" 2>/dev/null)" = hullvm.out ] && out=/dev/${p##*/}
done
for i in $(seq 50); do [ -c "$out" ] && break; sleep 0.1; done
cut -d' ' -f1 /proc/uptime > /run/hullvm/started
echo "hullvm-run: command starts at uptime $(cat /run/hullvm/started)s" > /dev/kmsg
cd /mnt/share
[ -f /run/hullvm/env ] && . /run/hullvm/env
if [ "${HULLVM_ENFORCE:-}" = 1 ]; then setenforce 1 || echo "hullvm-run: setenforce 1 failed" > "$out"; fi
timeout -k 5 "${HULLVM_CMD_TIMEOUT:-3600}" bash -c "$(cat /run/hullvm/cmd)" < /dev/null > "$out" 2>&1
rc=$?
echo "hullvm-run: command exited $rc" > /dev/kmsg
cut -d' ' -f1 /proc/uptime > /run/hullvm/finished
echo "$rc" > /run/hullvm/rc.tmp && mv /run/hullvm/rc.tmp /run/hullvm/rc
sync
umount /mnt/share /run/hullvm 2>/dev/null
echo o > /proc/sysrq-trigger
RUN
	chmod 755 "$r/usr/local/sbin/hullvm-run"
	cat > "$r/etc/systemd/system/hullvm-run.service" <<'UNIT'
[Unit]
Description=hull VM tests: run the command handed in by tests/vm/vm.sh
After=basic.target dbus.service apparmor.service systemd-tmpfiles-setup.service
Wants=dbus.service
[Service]
Type=simple
ExecStart=/usr/local/sbin/hullvm-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
UNIT
	ln -sf /etc/systemd/system/hullvm-run.service "$r/etc/systemd/system/multi-user.target.wants/hullvm-run.service"

	# hullvm-init: a minimal PID 1 (no systemd) for the SELinux boot: mounts, cgroup2,
	# policy load, then the runner as unconfined_t (like a root login), which sets enforcing.
	cat > "$r/usr/local/sbin/hullvm-init" <<'INIT'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm; mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=755 tmpfs /run; mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
if [ -d /sys/fs/selinux ] && mount -t selinuxfs selinuxfs /sys/fs/selinux 2>/dev/null; then
	load_policy -i 2>&1 | head -3
	# tmpfs/devtmpfs mounted before the policy load carry no labels; relabel what we use
	restorecon -R /dev /run /tmp 2>/dev/null
	# enforcing is set by the runner once it runs as unconfined_t: kernel_t may not
	# transition there under enforcing
	export HULLVM_ENFORCE=1
fi
ln -sf /proc/self/fd /dev/fd; hostname hullvm; ip link set lo up
for c in cpu cpuset io memory pids hugetlb misc rdma; do
	echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
if selinuxenabled 2>/dev/null; then
	runcon unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 /usr/local/sbin/hullvm-run
else
	/usr/local/sbin/hullvm-run
fi
echo o > /proc/sysrq-trigger; sleep 10
INIT
	chmod 755 "$r/usr/local/sbin/hullvm-init"
}

build_initrd() { # $1 rootfs, $2 kver -> $CACHE/initrd.img: busybox + virtio/ext4 modules
	local r=$1 kver=$2 i=$CACHE/initrd.tmp m
	rm -rf "$i" && mkdir -p "$i"/{bin,proc,sys,dev,newroot,mods}
	cp "$r/bin/busybox" "$i/bin/busybox"
	: > "$i/modules.order"
	for m in $(chroot "$r" modprobe -S "$kver" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 |
		awk '$1=="insmod"{print $2}' | awk '!seen[$0]++'); do
		cp "$r$m" "$i/mods/" && echo "/mods/${m##*/}" >> "$i/modules.order"
	done
	cat > "$i/init" <<'INITRD'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod "$m" 2>/dev/null; done
root=/dev/vda init=/sbin/init
for a in $(cat /proc/cmdline); do
	case $a in root=*) root=${a#root=} ;; init=*) init=${a#init=} ;; esac
done
n=0; while [ ! -b "$root" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
mount -t ext4 -o rw "$root" /newroot || { echo "initrd: cannot mount $root"; exec sh; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot "$init"
INITRD
	chmod 755 "$i/init"
	(cd "$i" && find . | cpio -o -H newc --quiet | gzip -1) > "$CACHE/initrd.img"
	rm -rf "$i"
}

umount_below() { # $1: debootstrap can leave its chroot's /proc mounted; never copy a host's /proc
	local m
	for m in $(awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

build_rootfs() { # base + kernel modules + guest_files + SELinux labels -> rootfs.img
	local r=$CACHE/rootfs.tmp kver
	kver=$(cat "$CACHE/kernel/kver")
	umount_below "$CACHE/base"
	rm -rf "$r" && cp -a --one-file-system "$CACHE/base" "$r"
	mkdir -p "$r/lib/modules"
	rm -rf "$r.kx" && dpkg -x "$(cat "$CACHE/kernel/deb")" "$r.kx"
	mv "$r.kx/lib/modules/$kver" "$r/lib/modules/$kver" && rm -rf "$r.kx"
	rm -rf "$r/lib/modules/$kver/kernel/drivers/"{gpu,media,net/wireless,infiniband,staging,bluetooth,iio,isdn,usb} \
		"$r/lib/modules/$kver/kernel/sound"
	chroot "$r" depmod -a "$kver"
	guest_files "$r"
	chroot "$r" apt-get clean
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/log/*.log
	build_initrd "$r" "$kver"
	# SELinux labels as security.selinux xattrs (stored though the host runs no SELinux;
	# mkfs.ext4 -d copies them); libselinux labels through /proc/self/fd, hence the mount
	mount -t proc proc "$r/proc"
	chroot "$r" setfiles -F -e /proc /etc/selinux/default/contexts/files/file_contexts / \
		> "$CACHE/setfiles.log" 2>&1 || log "warning: setfiles failed (see $CACHE/setfiles.log)"
	umount "$r/proc"
	umount_below "$r"
	rm -f "$CACHE/rootfs.img.tmp"
	mkfs.ext4 -q -F -L hullvm-root -d "$r" "$CACHE/rootfs.img.tmp" 3G >&2
	mv "$CACHE/rootfs.img.tmp" "$CACHE/rootfs.img"
	rm -rf "$r"
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
[ "${HULL_VM_REBUILD:-0}" = 1 ] && rm -rf "$CACHE"/{kernel,base,rootfs.img,initrd.img,*.stamp}
if [ -f "$CACHE/kernel/deb" ] && [ ! -f "$(cat "$CACHE/kernel/deb")" ]; then rm -rf "$CACHE/kernel"; fi
want=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
base_want=$( { echo "$SUITE $GUEST_PKGS"; declare -f build_base; } | sha256sum | cut -c1-16)
if [ "$want" != "$(cat "$CACHE/image.stamp" 2>/dev/null)" ] || [ ! -f "$CACHE/rootfs.img" ] ||
	[ ! -f "$CACHE/initrd.img" ] || [ ! -f "$CACHE/kernel/vmlinuz" ]; then
	t0=$SECONDS
	[ -f "$CACHE/kernel/vmlinuz" ] || build_kernel
	if [ "$base_want" != "$(cat "$CACHE/base.stamp" 2>/dev/null)" ] || [ ! -d "$CACHE/base" ]; then
		build_base && echo "$base_want" > "$CACHE/base.stamp"
	fi
	log "building guest image (recipe $want)"
	build_rootfs
	echo "$want" > "$CACHE/image.stamp"
	log "built in $((SECONDS - t0))s; cache $(du -sh "$CACHE" | cut -f1) in $CACHE"
fi
echo "$CACHE"
