package libct

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Closing fds before the process runs (CVE-2024-21626).
//
// execve resolves args[0] before it closes the close-on-exec fds, so an
// open directory fd lets args[0] = /proc/self/fd/N/prog run a program from
// wherever that directory is. Two steps keep every such fd out:
//
//   - the nsenter constructor closes every fd above the ones the parent
//     placed (bootstrap.Fds) before anything else: whatever hull inherited
//     from its caller, never passed on purpose;
//   - the final program's close-fds step (closeExtraFds) closes every fd
//     from the first non-preserved one on except the few that init still
//     needs (neededFds: the sync socket until ready, the exec FIFO and
//     err.fifo until execve; never a directory) and the Go runtime's own
//     (anonymous inodes: epoll, eventfd), which are close-on-exec.
//
// Init also marks every fd it inherited close-on-exec as soon as it starts
// (inheritedCloseOnExec), so that the hooks it runs (createContainer,
// startContainer) get stdio and nothing else; the preserved fds
// (--preserve-fds, LISTEN_FDS) lose close-on-exec only right before
// execve (passPreserved).

// inheritedCloseOnExec marks every fd from 3 on close-on-exec.
func inheritedCloseOnExec() error {
	const closeRangeCloexec = 1 << 2
	if err := unix.CloseRange(3, ^uint(0), closeRangeCloexec); err == nil {
		return nil
	}
	fds, err := openFds(3)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	return nil
}

// passPreserved clears close-on-exec on the process's fds 3..3+n-1, right
// before execve.
func passPreserved(n int) error {
	for fd := 3; fd < 3+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return fmt.Errorf("preserved fd %d: %w", fd, err)
		}
	}
	return nil
}

// neededFds are the fds init still uses after the close-fds step.
func (in *initProc) neededFds() []int {
	var keep []int
	if !in.ready {
		keep = append(keep, int(in.sock.Fd()))
	}
	for _, fd := range []int{in.fifoFd, in.errFd} {
		if fd >= 0 {
			keep = append(keep, fd)
		}
	}
	return keep
}

// closeExtraFds closes every fd from first on but keep and the Go
// runtime's, and marks those close-on-exec. A kept fd that is a directory
// is an error. The preserved fds 3..first-1 are left alone.
func closeExtraFds(first int, keep []int) error {
	fds, err := openFds(first)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			continue
		}
		kind := st.Mode & unix.S_IFMT
		if slices.Contains(keep, fd) {
			if kind == unix.S_IFDIR {
				return errnoMsg{fmt.Sprintf("fd %d that init keeps until execve is a directory", fd), unix.EISDIR}
			}
			continue
		}
		// An anonymous inode (no file type) is the runtime's epoll or
		// eventfd, or a pidfd: close-on-exec, and no path leads through
		// it. Everything else goes.
		if kind == 0 {
			continue
		}
		if err := unix.Close(fd); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("close fd %d: %w", fd, err)
		}
	}
	// What is left (kept, the runtime's, any fd opened since) must not
	// reach the process.
	const closeRangeCloexec = 1 << 2
	if err := unix.CloseRange(uint(first), ^uint(0), closeRangeCloexec); err != nil {
		for fd := first; fd < first+len(fds)+64; fd++ {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// openFds lists the calling process's open fds from first on, through a
// verified procfs handle (the container's /proc may be a fake: see
// writeProcFile), or, where that cannot be had, by asking the kernel about
// each number up to the fd limit.
func openFds(first int) ([]int, error) {
	if fds, err := procFds(); err == nil {
		out := fds[:0]
		for _, fd := range fds {
			if fd >= first {
				out = append(out, fd)
			}
		}
		return out, nil
	}
	var lim unix.Rlimit
	max := 1 << 16
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(max) {
		max = int(lim.Cur)
	}
	var fds []int
	for fd := first; fd < max; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// procFds reads /proc/thread-self/fd, opened beneath a verified /proc.
func procFds() ([]int, error) {
	root, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(root, &sfs); err != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		return nil, errors.New("/proc is not procfs")
	}
	dfd, err := unix.Openat2(root, "thread-self/fd", &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(dfd), "fd")
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd != dfd {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}
