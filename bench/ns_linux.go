package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

const nsEnv = "HULL_BENCH_PRIVATE_MNTNS"

// cgroup2Hybrid is where a hybrid host mounts cgroup2 beside the v1
// hierarchies. crun 1.8 refuses to run when that mount lists a controller
// ("cgroups in hybrid mode not supported"; hugetlb sits there on this host).
const cgroup2Hybrid = "/sys/fs/cgroup/unified"

// reexecPrivate re-runs the driver in a new mount namespace (Go's
// Unshareflags does unshare(CLONE_NEWNS) in the child before execve) and
// returns its exit code. The child makes / rprivate and detaches the hybrid
// cgroup2 mount there, so hull, runc and crun all see the same pure v1 layout
// and the host's mounts are untouched.
func reexecPrivate() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "bench: re-exec in a private mount namespace: %v\n", err)
		return 1
	}
	return 0
}

// setupPrivate runs inside the new mount namespace.
func setupPrivate(keepUnified bool) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	if keepUnified {
		return nil
	}
	mounted, err := isMountpoint(cgroup2Hybrid)
	if err != nil {
		return err
	}
	if !mounted {
		return nil
	}
	if err := syscall.Unmount(cgroup2Hybrid, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("umount2 %s MNT_DETACH: %w", cgroup2Hybrid, err)
	}
	return nil
}

func isMountpoint(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && fields[4] == path {
			return true, nil
		}
	}
	return false, s.Err()
}

// setSubreaper makes orphaned container inits our children, so the driver
// can wait4 them (as containerd's shim does) to time "start until exit".
func setSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", errno)
	}
	return nil
}
