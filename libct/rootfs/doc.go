// Package rootfs builds a container's filesystem view. It is called by the
// container's init, which already runs as root in its new mount namespace
// (and the others), in this order:
//
//  1. Prepare: propagation of / (linux.rootfsPropagation, rslave by
//     default), the rootfs's parent mount made private if it could be
//     shared, and the rootfs bound onto itself so that it is a mount point.
//  2. MountAll (or MountAllFrom): every linux mount in order, then, unless
//     /dev is a bind mount (as runc), /dev: the default devices and
//     linux.devices (mknod, or binds of the host's nodes in a user
//     namespace), /dev/fd, /dev/std{in,out,err}, /dev/core, and /dev/ptmx ->
//     pts/ptmx when a devpts is on /dev/pts. createContainer hooks run after
//     this, before the pivot.
//  3. PivotRoot: pivot_root(".", ".") and a lazy unmount of the old root,
//     or MS_MOVE and chroot with --no-pivot.
//  4. BindConsole (with a terminal), ReopenDevNull, sysctls, the cwd.
//  5. Finalize: read-only paths, masked paths, the read-only bit of tmpfs
//     mounts and /dev (held back so /dev could be filled and hooks could
//     write), and a read-only /.
//
// In a user namespace without its own network namespace, where the kernel
// refuses to mount sysfs, /sys is a recursive bind of the runtime's /sys
// with the mount's attributes, on its submounts too (as crun; runc
// fails). Where cgroup2 cannot be mounted, the hierarchy is bound: the
// container's own cgroup with a cgroup namespace, otherwise the whole
// hierarchy, read-only (recursively) unless the mount says "rw".
//
// Every mount of a config entry is made by fd with the new mount API: a
// filesystem with fsopen, one fsconfig(2) per option (so that the option a
// filesystem refuses is named, with the kernel's reason) and fsmount, a
// bind with open_tree; the attributes (MOUNT_ATTR_*, the one vocabulary of
// configs.Mount) are set on the detached mount by fsmount or
// mount_setattr, and move_mount attaches it on the destination's handle.
// Nothing relies on /proc/self/fd or on the container's /proc. mount(2)
// is left for the propagation of / and the rootfs's bind onto itself.
// Linux 5.12 or later is needed (openat2, the new mount API,
// mount_setattr).
//
// Guards, by the class of attack they stop:
//
//   - CVE-2021-30465 (symlink-exchange mount escape): every path inside the
//     rootfs is resolved by the kernel with openat2(RESOLVE_IN_ROOT), so a
//     symlink in the image (evil -> /) resolves inside the rootfs; a path
//     that does not exist yet is resolved with securejoin.SecureJoin (which
//     follows a dangling symlink inside the rootfs, as runc) and created one
//     component at a time, each re-opened with RESOLVE_NO_SYMLINKS; the mount
//     lands on the opened handle, never on a path looked up again. A
//     destination with ".." is refused.
//   - CVE-2019-16884, CVE-2019-19921 (hiding /proc): only procfs may be
//     mounted on /proc, and nothing inside it but the files lxcfs emulates,
//     checked on the real filesystem of the destination too; procfs and
//     sysfs go on an ordinary directory only, never through a symlink.
//   - CVE-2025-52565 and its class (device and console nodes through
//     symlinks): device nodes are made with mknodat in a directory handle;
//     what was at the name is unlinked, never opened or followed; ownership
//     is set through a handle checked to be the new node. /dev/console is
//     created as a regular file by fd and a symlink there is refused; the
//     pty is checked to be a character device on a devpts.
//   - CVE-2025-31133 (masking with a fake /dev/null): the /dev/null bound
//     over masked files is checked to be the character device 1:3.
//   - Locked mount flags in a user namespace: read-only is set with
//     mount_setattr, which changes only that attribute, and a bind whose
//     source has locked nosuid/nodev/noexec keeps them instead of failing.
//     Read-only paths are read-only recursively (runc leaves their
//     submounts writable).
//   - --no-pivot: full procfs and sysfs mounts of the host are detached
//     first, as the kernel would otherwise let the container mount new ones.
package rootfs
