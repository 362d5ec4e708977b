// Package selinux applies a container's SELinux labels: process.selinuxLabel
// as the exec label of the container process (a container_t / lxc_t style
// type such as "system_u:system_r:container_t:s0:c1,c2") and
// linux.mountLabel as the context= of the filesystems hull mounts for it.
// It wraps github.com/opencontainers/selinux (go-selinux), whose procfs
// writes go through a verified procfs handle (pathrs-lite), so a container
// mount over /proc/thread-self/attr/exec cannot redirect them
// (CVE-2025-52881, CVE-2019-16884).
package selinux

import (
	"errors"

	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
)

// ErrNotEnabled is returned when a label is requested on a host whose
// kernel does not run SELinux.
var ErrNotEnabled = errors.New("selinux label is set in config, but SELinux is not enabled on this host")

// Enabled reports whether the host kernel runs SELinux (a selinuxfs is
// mounted and the policy is loaded).
func Enabled() bool {
	return selinux.GetEnabled()
}

// Check is the create-time validation of process.selinuxLabel and
// linux.mountLabel: any label on a host without SELinux is an error, as in
// runc's validator, never silently ignored.
func Check(processLabel, mountLabel string) error {
	return check(processLabel, mountLabel, Enabled())
}

func check(processLabel, mountLabel string, enabled bool) error {
	if (processLabel != "" || mountLabel != "") && !enabled {
		return ErrNotEnabled
	}
	return nil
}

// FormatMountLabel returns the mount data opts with context="label"
// appended (comma-separated); opts unchanged when label is empty. The
// label is quoted because MLS ranges contain commas ("s0:c1,c2").
// Use it for the filesystems MountTakesContext accepts.
func FormatMountLabel(opts, label string) string {
	return formatMountLabel(opts, label)
}

func formatMountLabel(opts, mountLabel string) string {
	return label.FormatMountLabel(opts, mountLabel)
}

// MountTakesContext reports whether hull labels a mount of filesystem type
// fstype with context=: the in-memory filesystems hull creates for the
// container (tmpfs, devpts, ramfs). Bind mounts keep their source's labels;
// proc, sysfs and cgroup filesystems refuse context=; mqueue is relabelled
// after mounting instead (SetFileLabel), as some kernels refuse context= on
// it (runc does the same).
func MountTakesContext(fstype string) bool {
	switch fstype {
	case "tmpfs", "devpts", "ramfs":
		return true
	}
	return false
}
