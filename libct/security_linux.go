package libct

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/apparmor"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
	"github.com/hullrt/hull/libct/seccomp"
	"github.com/hullrt/hull/selinux"
)

// checkLSM fails early, before anything is created, when the process asks
// for an LSM label that this host cannot apply, or for Landlock rights its
// kernel lacks with disableBestEffort (without it, they are warned about
// here and dropped by init).
func checkLSM(cfg *configs.Config, p *configs.Process) error {
	notes, err := landlock.Check(p.Landlock)
	if err != nil {
		return err
	}
	for _, n := range notes {
		logrus.Warn(n)
	}
	if p.ApparmorProfile != "" {
		if err := apparmor.Check(p.ApparmorProfile); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: %w", p.ApparmorProfile, err)
		}
	}
	if p.SelinuxLabel != "" || cfg.MountLabel != "" {
		if err := selinux.Check(p.SelinuxLabel, cfg.MountLabel); err != nil {
			return fmt.Errorf("selinux label: %w", err)
		}
	}
	return nil
}

// compileSeccomp compiles the container's seccomp profile in the parent
// (init is already in the container's mount namespace); the BPF travels to
// init with its config. dir is the container's state directory, which
// holds the compiled program for later execs and goes with the container;
// "" compiles without a cache (create, before the directory exists). A
// cache shared under the state root outlived every container and grew by
// one file per distinct profile (issue 20).
func compileSeccomp(dir string, s *specs.LinuxSeccomp) (*seccomp.Filter, error) {
	if s == nil {
		return nil, nil
	}
	f, err := seccomp.Compile(s, dir)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	return f, nil
}

// applyLSMLabel sets the AppArmor profile or SELinux label (lsm) that the
// kernel applies at execve, through verified procfs handles.
func applyLSMLabel(lsm, label string) error {
	switch lsm {
	case "apparmor":
		return stage("apparmor", apparmor.ApplyProfile(label))
	case "selinux":
		return stage("selinux", selinux.SetExecLabel(label))
	}
	return fmt.Errorf("unknown LSM %q", lsm)
}

// loadSeccomp loads a compiled filter. A filter with SCMP_ACT_NOTIFY
// returns a listener fd that the parent must hand to the seccomp agent
// before the process runs: the parent takes it with pidfd_getfd.
func loadSeccomp(in *initProc, f *seccomp.Filter) error {
	fd, err := f.Load()
	if err != nil {
		return stage("seccomp", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if err := in.pipe.send(syncMsg{Type: syncSeccompFd, Fd: fd}); err != nil {
		return stage("seccomp", err)
	}
	m, err := in.pipe.recv()
	if err != nil {
		return stage("seccomp", err)
	}
	if m.Type != syncSeccompFdDone {
		return stage("seccomp", fmt.Errorf("send listener fd: %s", m.Err))
	}
	return nil
}

// takeSeccompFd copies the listener fd out of the child (pidfd_getfd) and
// sends it with the container state to linux.seccomp.listenerPath.
func takeSeccompFd(pid, fd int, s *specs.LinuxSeccomp, state *specs.State) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	own, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return fmt.Errorf("pidfd_getfd: %w", err)
	}
	defer unix.Close(own)
	if err := seccomp.SendNotifyFd(s.ListenerPath, own, state, s.ListenerMetadata); err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath %s: %w", s.ListenerPath, err)
	}
	return nil
}
