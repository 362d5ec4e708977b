package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// Sources are mount sources opened outside the container, by index in
// Config.Mounts: detached mount trees (open_tree) made by OpenSources in
// the runtime's own namespaces and handed to init. MountAllFrom uses them
// instead of opening the source itself. The caller keeps ownership.
type Sources map[int]*os.File

// Prepare readies the mount namespace for the container's mounts: it sets
// the propagation of / to c.RootPropagation (MS_SLAVE|MS_REC when 0, as
// runc), makes the rootfs's parent mount private when it could be shared
// (pivot_root refuses a shared parent, and the rootfs bind must not
// propagate to the host), and bind-mounts c.Rootfs onto itself
// (MS_BIND|MS_REC) so that it is a mount point pivot_root can use.
func Prepare(c *configs.Config) error { return prepare(realSys{}, c) }

// MountAll performs every entry of c.Mounts in order, inside c.Rootfs, then
// sets up /dev (device nodes and the standard symlinks) unless /dev is a
// bind mount. It runs before PivotRoot, after Prepare.
func MountAll(c *configs.Config) error { return mountAll(realSys{}, c, nil) }

// MountAllFrom is MountAll using sources already opened by OpenSources for
// the mounts that have one.
func MountAllFrom(c *configs.Config, src Sources) error { return mountAll(realSys{}, c, src) }

// PivotRoot makes c.Rootfs the root of the mount namespace: pivot_root(".",
// ".") then a lazy unmount of the old root, or with c.NoPivotRoot an
// MS_MOVE of the rootfs onto / and chroot. The working directory is / on
// return.
func PivotRoot(c *configs.Config) error { return pivotRoot(realSys{}, c) }

// Finalize runs after PivotRoot: it makes c.ReadonlyPaths read-only, masks
// c.MaskedPaths, remounts read-only the tmpfs mounts (and /dev) that asked
// for it (they stay writable until now so that devices and hooks can write
// to them), and remounts / read-only when c.Readonly.
func Finalize(c *configs.Config) error { return finalize(realSys{}, c) }

// prepare is Prepare through the seam.
func prepare(s sysOps, c *configs.Config) error {
	// rslave unless the config wants the rootfs shared (then / must be
	// shared for mounts to flow back to the host). An "unbindable" or
	// "private" rootfsPropagation is applied to the new / after the
	// pivot (applyRootPropagation): an unbindable / here would make the
	// rootfs bind below fail with EINVAL.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if c.RootPropagation&unix.MS_SHARED != 0 {
		prop = c.RootPropagation
	}
	if err := s.mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("set propagation of / to %#x: %w", prop, err)
	}
	// A recursive slave/private/unbindable / leaves no shared mount: the
	// parent of the rootfs cannot be shared, so there is no need to read
	// the mount table.
	if prop&unix.MS_REC == 0 || prop&(unix.MS_SLAVE|unix.MS_PRIVATE|unix.MS_UNBINDABLE) == 0 {
		if err := parentMountPrivate(s, c.Rootfs); err != nil {
			return err
		}
	}
	if err := s.mount(c.Rootfs, c.Rootfs, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s onto itself: %w", c.Rootfs, err)
	}
	return nil
}

// parentMountPrivate makes the mount holding rootfs private if it is
// shared. pivot_root(2) fails with EINVAL when the new root's parent mount
// is shared, and the rootfs bind would otherwise propagate to the host.
func parentMountPrivate(s sysOps, rootfs string) error {
	// The mount table shows resolved paths. (A rootfs that cannot be
	// resolved fails in the bind that follows.)
	real, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		real = rootfs
	}
	infos, err := s.mounts(mountinfo.ParentsFilter(real))
	if err != nil {
		return fmt.Errorf("find parent mount of rootfs %s: %w", rootfs, err)
	}
	var parent *mountinfo.Info
	for _, mi := range infos {
		if parent == nil || len(mi.Mountpoint) >= len(parent.Mountpoint) {
			parent = mi
		}
	}
	if parent == nil {
		return fmt.Errorf("find parent mount of rootfs %s: none", rootfs)
	}
	for _, opt := range strings.Fields(parent.Optional) {
		if strings.HasPrefix(opt, "shared:") {
			if err := s.mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make parent mount %s of rootfs private: %w", parent.Mountpoint, err)
			}
			return nil
		}
	}
	return nil
}

// pivotRoot is PivotRoot through the seam.
func pivotRoot(s sysOps, c *configs.Config) error {
	var err error
	if c.NoPivotRoot {
		err = moveRoot(s, c.Rootfs)
	} else {
		err = pivotInto(s, c)
	}
	if err != nil {
		return err
	}
	return applyRootPropagation(s, c)
}

// applyRootPropagation sets linux.rootfsPropagation on the container's /
// once it is the root, as runc does: applied before, it would change the
// host's / when that is shared.
func applyRootPropagation(s sysOps, c *configs.Config) error {
	if c.RootPropagation == 0 {
		return nil
	}
	if err := s.mount("", "/", "", c.RootPropagation, ""); err != nil {
		return fmt.Errorf("set rootfsPropagation of / to %#x: %w", c.RootPropagation, err)
	}
	return nil
}

// pivotInto is pivot_root into the rootfs, detaching the old root.
func pivotInto(s sysOps, c *configs.Config) error {
	oldroot, err := s.openat(unix.AT_FDCWD, "/", unix.O_DIRECTORY|unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open old root: %w", err)
	}
	defer s.close(oldroot)
	newroot, err := s.openat(unix.AT_FDCWD, c.Rootfs, unix.O_DIRECTORY|unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open rootfs %s: %w", c.Rootfs, err)
	}
	defer s.close(newroot)
	if err := s.fchdir(newroot); err != nil {
		return fmt.Errorf("pivot_root: chdir to rootfs %s: %w", c.Rootfs, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one,
	// which avoids needing a put_old directory inside the rootfs (the LXC
	// trick runc and crun also use).
	if err := s.pivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", c.Rootfs, err)
	}
	// The kernel promises nothing about "." now: go to the old root
	// explicitly before detaching it.
	if err := s.fchdir(oldroot); err != nil {
		return fmt.Errorf("pivot_root: chdir to old root: %w", err)
	}
	// Make the old root a recursive slave first, so that detaching it
	// cannot propagate unmounts to the host's shared mounts.
	if err := s.mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	if err := s.unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := s.chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

// moveRoot is the --no-pivot path: MS_MOVE the rootfs onto / and chroot.
//
// chroot(2) leaves the host's mounts reachable in the namespace, and the
// kernel lets a process mount procfs or sysfs when a full instance is
// already visible to it. So every full host proc and sysfs mount outside the
// rootfs is detached (or covered with a tmpfs where unmounting is refused)
// before the move, as runc does.
func moveRoot(s sysOps, rootfs string) error {
	infos, err := s.mounts(func(mi *mountinfo.Info) (skip, stop bool) {
		skip = mi.Root != "/" || (mi.FSType != "proc" && mi.FSType != "sysfs") ||
			mi.Mountpoint == rootfs || strings.HasPrefix(mi.Mountpoint, rootfs+"/")
		return skip, false
	})
	if err != nil {
		return fmt.Errorf("no-pivot: read mount table: %w", err)
	}
	for _, mi := range infos {
		p := mi.Mountpoint
		if err := s.mount("", p, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // a parent was already detached
			}
			return fmt.Errorf("no-pivot: make %s rslave: %w", p, err)
		}
		if err := s.unmount(p, unix.MNT_DETACH); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
				return fmt.Errorf("no-pivot: detach %s: %w", p, err)
			}
			if err := s.mount("tmpfs", p, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("no-pivot: cover %s: %w", p, err)
			}
		}
	}
	if err := s.chdir(rootfs); err != nil {
		return fmt.Errorf("no-pivot: chdir to rootfs %s: %w", rootfs, err)
	}
	if err := s.mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("no-pivot: move rootfs %s onto /: %w", rootfs, err)
	}
	if err := s.chroot("."); err != nil {
		return fmt.Errorf("no-pivot: chroot: %w", err)
	}
	if err := s.chdir("/"); err != nil {
		return fmt.Errorf("no-pivot: chdir /: %w", err)
	}
	return nil
}
