package libct

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// selfExe returns an fd of hull's own binary that the container cannot
// write through (CVE-2019-5736): a process of the container could open
// /proc/<init>/exe while `hull init` runs in its namespaces and, once hull
// has exited, reopen it for writing and replace the host's binary.
//
// The fd is a detached, read-only bind mount of the binary (open_tree +
// mount_setattr: a few microseconds, no copy). runc before 1.2 copied the
// binary into a sealed memfd per container (≈70% of its exec time, and
// ~9 MB charged to each container); runc 1.2 and later use a read-only
// overlayfs over the binary instead, with the memfd copy as the fallback.
// Writing through /proc/<pid>/exe of a process started from hull's mount
// fails with EROFS. Where hull may not mount (rootless), it falls back to
// a sealed memfd copy too.
// The caller execs /proc/self/fd/N and closes the fd after the child
// has started.
func selfExe() (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err == nil {
			return os.NewFile(uintptr(fd), "hull-ro"), nil
		}
		unix.Close(fd)
	}
	return sealedCopy()
}

// sealedCopy copies hull's binary into a memfd sealed against every
// change.
func sealedCopy() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("hull", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "hull-memfd")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("copy own binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal own binary: %w", err)
	}
	return f, nil
}
