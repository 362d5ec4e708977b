package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// finalizer carries what one Finalize needs. After pivot_root everything
// is done by fd with the new mount API (open_tree, move_mount,
// mount_setattr, fsmount): /proc is now the container's, and nothing here
// depends on it.
type finalizer struct {
	sys  sysOps
	c    *configs.Config
	t    dirTree // "/"
	null int     // the verified /dev/null, or -1
	mask int     // the read-only tmpfs masking the first directory, or -1
}

// finalize is Finalize through the seam.
func finalize(s sysOps, c *configs.Config) error {
	root, err := s.openat(unix.AT_FDCWD, "/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	f := &finalizer{sys: s, c: c, t: dirTree{sys: s, root: root, path: "/"}, null: -1, mask: -1}
	defer f.close()

	for _, p := range c.ReadonlyPaths {
		if err := f.readonlyPath(p); err != nil {
			return fmt.Errorf("readonly path %s: %w", p, err)
		}
	}
	for _, p := range c.MaskedPaths {
		if err := f.maskPath(p); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
	}
	for i, mnt := range c.Mounts {
		if !deferReadonly(mnt) {
			continue
		}
		dest, _ := cleanDest(mnt.Destination)
		fd, err := f.t.open(dest, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("mounts[%d]: reopen %s to make it read-only: %w", i, dest, err)
		}
		err = setReadonly(s, fd, false)
		s.close(fd)
		if err != nil {
			return fmt.Errorf("mounts[%d]: make %s read-only: %w", i, dest, err)
		}
	}
	if c.Readonly {
		if err := setReadonly(s, root, false); err != nil {
			return fmt.Errorf("make / read-only: %w", err)
		}
	}
	return nil
}

func (f *finalizer) close() {
	for _, fd := range []int{f.null, f.mask, f.t.root} {
		if fd >= 0 {
			f.sys.close(fd)
		}
	}
}

// setReadonly sets MOUNT_ATTR_RDONLY on the mount at fd. Unlike a
// MS_REMOUNT|MS_BIND|MS_RDONLY remount, mount_setattr changes only the
// asked attribute, so the nosuid/nodev/noexec/atime flags a user namespace
// locks are kept as they are without being restated.
func setReadonly(s sysOps, fd int, recursive bool) error {
	var flags uint = unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := s.mountSetattr(fd, "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// openExisting opens p inside the container, reporting (-1, nil) when it
// does not exist: missing masked and read-only paths are skipped.
func (f *finalizer) openExisting(p string) (int, error) {
	dest, err := cleanDest(p)
	if err != nil {
		return -1, err
	}
	fd, err := f.t.open(dest, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return -1, nil
	}
	return fd, err
}

// readonlyPath bind-mounts p onto itself (recursively) and makes the bind
// read-only, submounts included.
func (f *finalizer) readonlyPath(p string) error {
	fd, err := f.openExisting(p)
	if err != nil || fd < 0 {
		return err
	}
	defer f.sys.close(fd)
	tree, err := f.sys.openTree(fd, "", unix.OPEN_TREE_CLONE|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer f.sys.close(tree)
	if err := setReadonly(f.sys, tree, true); err != nil {
		return err
	}
	if err := f.sys.moveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// maskPath hides p: a file under a bind of /dev/null, a directory under an
// empty read-only tmpfs.
func (f *finalizer) maskPath(p string) error {
	fd, err := f.openExisting(p)
	if err != nil || fd < 0 {
		return err
	}
	defer f.sys.close(fd)
	st, err := fstat(f.sys, fd)
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	var tree int
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		tree, err = f.devNullTree()
	case f.mask < 0:
		// The first directory gets the new tmpfs itself: a detached
		// mount closed without being attached costs an RCU grace
		// period to dissolve.
		tree, err = f.sys.fsmount("tmpfs", "tmpfs", withLabel([]string{"ro"}, f.c.MountLabel),
			unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
		if err != nil {
			return fmt.Errorf("make read-only tmpfs: %w", err)
		}
		f.mask = tree // closed by close(), attached or not
	default:
		tree, err = f.sys.openTree(f.mask, "", unix.OPEN_TREE_CLONE|unix.AT_EMPTY_PATH)
		if err != nil {
			return fmt.Errorf("clone read-only tmpfs: open_tree: %w", err)
		}
	}
	if err != nil {
		return err
	}
	if tree != f.mask {
		defer f.sys.close(tree)
	}
	if err := f.sys.moveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// devNullTree returns a detached bind of the container's /dev/null, after
// checking once that it really is the null device (char 1:3). A /dev/null
// replaced by a symlink or another file would otherwise be bound over the
// masked path and expose, or let the container write, what masking hides
// (CVE-2025-31133).
func (f *finalizer) devNullTree() (int, error) {
	if f.null < 0 {
		fd, err := f.t.open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			return -1, fmt.Errorf("open /dev/null: %w", err)
		}
		st, err := fstat(f.sys, fd)
		if err != nil {
			f.sys.close(fd)
			return -1, fmt.Errorf("stat /dev/null: %w", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
			f.sys.close(fd)
			return -1, fmt.Errorf("refusing to mask with /dev/null: it is not the null device (mode %#o, device %d:%d)",
				st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		f.null = fd
	}
	tree, err := f.sys.openTree(f.null, "", unix.OPEN_TREE_CLONE|unix.AT_EMPTY_PATH)
	if err != nil {
		return -1, fmt.Errorf("bind /dev/null: open_tree: %w", err)
	}
	return tree, nil
}

// ReopenDevNull points the standard fds that are the runtime's /dev/null
// at the container's /dev/null instead, so that no handle on a host file
// is kept. It runs after PivotRoot (once /dev is set up).
func ReopenDevNull() error {
	var null unix.Stat_t
	f, err := os.OpenFile("/dev/null", os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &null); err != nil {
		return fmt.Errorf("stat /dev/null: %w", err)
	}
	if null.Mode&unix.S_IFMT != unix.S_IFCHR {
		return errors.New("reopen /dev/null: it is not a character device")
	}
	for fd := 0; fd < 3; fd++ {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue // closed: nothing to reopen
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev {
			if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
				return fmt.Errorf("reopen /dev/null as fd %d: %w", fd, err)
			}
		}
	}
	return nil
}
