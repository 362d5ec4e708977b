package rootfs

import (
	"errors"

	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openTreeCloexec is OPEN_TREE_CLOEXEC (the kernel defines it as O_CLOEXEC).
const openTreeCloexec = unix.O_CLOEXEC

// sysOps is the thin seam between this package's logic and the kernel: every
// syscall the logic makes goes through it, so that tests can record the
// operations without root. File descriptors are plain ints; the caller
// closes what it opens.
type sysOps interface {
	mount(source, target, fstype string, flags uintptr, data string) error
	unmount(target string, flags int) error
	openTree(dirfd int, path string, flags uint) (int, error)
	moveMount(fromfd int, fromPath string, tofd int, toPath string, flags int) error
	mountSetattr(fd int, path string, flags uint, attr *unix.MountAttr) error
	// fsmount creates a detached mount of a new filesystem (fsopen,
	// fsconfig of source and of each option, fsmount with the given
	// MOUNT_ATTR_* attributes). Its errors are *fsError.
	fsmount(fstype, source string, options []string, attrs uint64) (int, error)
	// reconfigure gives options to the filesystem mounted at fd (fspick,
	// fsconfig, FSCONFIG_CMD_RECONFIGURE). Its errors are *fsError.
	reconfigure(fd int, options []string) error

	// openInRoot is openat2(root, path, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS):
	// the kernel resolves path, symlinks included, as if root were "/",
	// so the result can never be outside root (CVE-2021-30465).
	openInRoot(root int, path string, flags int) (int, error)
	// openBeneath is openat2(dir, name, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
	// RESOLVE_NO_XDEV): one step down, never through a symlink.
	openBeneath(dir int, name string, flags int) (int, error)
	openat(dirfd int, path string, flags int, mode uint32) (int, error)
	mkdirat(dirfd int, path string, mode uint32) error
	mknodat(dirfd int, path string, mode uint32, dev int) error
	fchownat(dirfd int, path string, uid, gid, flags int) error
	symlinkat(target string, dirfd int, name string) error
	unlinkat(dirfd int, path string, flags int) error
	fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error
	fstatfs(fd int, st *unix.Statfs_t) error
	fsetxattr(fd int, name string, value []byte) error
	statfs(path string, st *unix.Statfs_t) error
	access(path string) error
	umask(mask int) int
	close(fd int) error

	pivotRoot(newroot, putold string) error
	chroot(path string) error
	chdir(path string) error
	fchdir(fd int) error

	// readFile reads a small file (/proc/thread-self/cgroup).
	readFile(path string) ([]byte, error)
	// mounts parses /proc/thread-self/mountinfo.
	mounts(filter mountinfo.FilterFunc) ([]*mountinfo.Info, error)
	// usernsFd returns an fd of a new user namespace with these mappings,
	// for MOUNT_ATTR_IDMAP.
	usernsFd(uid, gid []specs.LinuxIDMapping) (int, error)
}

// realSys is sysOps on the running kernel.
type realSys struct{}

func retryEINTR(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (realSys) mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

func (realSys) unmount(target string, flags int) error {
	return retryEINTR(func() error { return unix.Unmount(target, flags) })
}

func (realSys) openTree(dirfd int, path string, flags uint) (int, error) {
	return unix.OpenTree(dirfd, path, flags|openTreeCloexec)
}

func (realSys) moveMount(fromfd int, fromPath string, tofd int, toPath string, flags int) error {
	return unix.MoveMount(fromfd, fromPath, tofd, toPath, flags)
}

func (realSys) mountSetattr(fd int, path string, flags uint, attr *unix.MountAttr) error {
	return unix.MountSetattr(fd, path, flags, attr)
}

// openat2 retries the races the kernel reports for scoped lookups (a rename
// or mount during a ".." walk returns EAGAIN rather than risk an escape).
func openat2(dir int, path string, how *unix.OpenHow) (int, error) {
	var err error
	for range 64 {
		var fd int
		fd, err = unix.Openat2(dir, path, how)
		if err == nil || !(errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			return fd, err
		}
	}
	return -1, err
}

func (realSys) openInRoot(root int, path string, flags int) (int, error) {
	return openat2(root, path, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

func (realSys) openBeneath(dir int, name string, flags int) (int, error) {
	return openat2(dir, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
}

func (realSys) openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = unix.Openat(dirfd, path, flags|unix.O_CLOEXEC, mode)
		return err
	})
	return fd, err
}

func (realSys) mkdirat(dirfd int, path string, mode uint32) error {
	return unix.Mkdirat(dirfd, path, mode)
}

func (realSys) mknodat(dirfd int, path string, mode uint32, dev int) error {
	return unix.Mknodat(dirfd, path, mode, dev)
}

func (realSys) fchownat(dirfd int, path string, uid, gid, flags int) error {
	return unix.Fchownat(dirfd, path, uid, gid, flags)
}

func (realSys) symlinkat(target string, dirfd int, name string) error {
	return unix.Symlinkat(target, dirfd, name)
}

func (realSys) unlinkat(dirfd int, path string, flags int) error {
	return unix.Unlinkat(dirfd, path, flags)
}

func (realSys) fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	return unix.Fstatat(dirfd, path, st, flags)
}

func (realSys) fstatfs(fd int, st *unix.Statfs_t) error { return unix.Fstatfs(fd, st) }

func (realSys) fsetxattr(fd int, name string, value []byte) error {
	return unix.Fsetxattr(fd, name, value, 0)
}

func (realSys) statfs(path string, st *unix.Statfs_t) error { return unix.Statfs(path, st) }

func (realSys) access(path string) error { return unix.Access(path, unix.F_OK) }

func (realSys) umask(mask int) int { return unix.Umask(mask) }

func (realSys) close(fd int) error { return unix.Close(fd) }

func (realSys) pivotRoot(newroot, putold string) error { return unix.PivotRoot(newroot, putold) }

func (realSys) chroot(path string) error { return unix.Chroot(path) }

func (realSys) chdir(path string) error { return unix.Chdir(path) }

func (realSys) fchdir(fd int) error { return unix.Fchdir(fd) }

func (realSys) readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// mounts reads the mount table of the calling thread's mount namespace
// (thread-self, not self: a locked thread may have unshared CLONE_NEWNS).
func (realSys) mounts(filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	f, err := os.Open("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountinfo.GetMountsFromReader(f, filter)
}

// usernsFd makes a user namespace holding the given mappings: it starts a
// child in a new user namespace that stops before running anything (ptrace
// stop at execve), takes a handle on its namespace, and kills it. The handle
// keeps the namespace alive.
func (realSys) usernsFd(uid, gid []specs.LinuxIDMapping) (int, error) {
	toSys := func(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
		out := make([]syscall.SysProcIDMap, len(ms))
		for i, m := range ms {
			out[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
		}
		return out
	}
	// ptrace ties the child to this thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	pidfd := -1
	proc, err := os.StartProcess("/proc/self/exe", []string{"hull-idmap"}, &os.ProcAttr{
		Sys: &syscall.SysProcAttr{
			Cloneflags:  unix.CLONE_NEWUSER,
			UidMappings: toSys(uid),
			GidMappings: toSys(gid),
			Ptrace:      true,
			Pdeathsig:   unix.SIGKILL,
			PidFD:       &pidfd,
		},
	})
	if err != nil {
		return -1, err
	}
	defer func() {
		_ = proc.Kill()
		_, _ = proc.Wait()
		if pidfd >= 0 {
			_ = unix.Close(pidfd)
		}
	}()
	if pidfd >= 0 {
		// PIDFD_GET_USER_NAMESPACE (Linux 6.11) needs no /proc, which
		// before pivot_root is the host's and may show another pid
		// namespace than ours.
		fd, err := unix.IoctlRetInt(pidfd, unix.PIDFD_GET_USER_NAMESPACE)
		if err == nil {
			unix.CloseOnExec(fd)
			return fd, nil
		}
	}
	// Fall back to /proc, but only if its pids are ours.
	if self, err := os.Readlink("/proc/self"); err != nil || self != strconv.Itoa(os.Getpid()) {
		return -1, errors.New("open user namespace of the idmap helper: /proc shows another pid namespace")
	}
	return unix.Open("/proc/"+strconv.Itoa(proc.Pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}
