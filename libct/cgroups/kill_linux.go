package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Signal sends sig to every process of the cgroup (`kill --all`). The cgroup
// is frozen meanwhile where it can be, so that a process forking in a loop
// cannot put a child out of the list's reach between the read and the
// kill.
func Signal(m Manager, sig unix.Signal) error {
	if sig == unix.SIGKILL {
		if ok, err := cgroupKill(m); ok || err != nil {
			return err
		}
	}
	frozen := false
	if err := m.Freeze(); err == nil {
		frozen = true
	} else if !errors.Is(err, ErrNotSupported) {
		return fmt.Errorf("signal cgroup: %w", err)
	}
	pids, err := m.Pids()
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("signal cgroup: %w", err))
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d with %s: %w", pid, unix.SignalName(sig), err))
		}
	}
	if frozen {
		// A SIGKILLed task of a frozen v1 cgroup only dies once thawed.
		// After a kill the cgroup may be gone already (systemd removes
		// an empty scope's): nothing is left to thaw then.
		if err := m.Thaw(); err != nil && !(sig == unix.SIGKILL && errors.Is(err, os.ErrNotExist)) {
			errs = append(errs, fmt.Errorf("signal cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// cgroupKill kills the cgroup's processes at once through cgroup.kill
// (kernel v5.14, cgroup v2). ok is false when the manager is not a v2 one
// or the file does not exist. On a hybrid host the v1 hierarchies, not the
// unified one, are authoritative: a process could have moved itself in the
// unified tree only.
func cgroupKill(m Manager) (bool, error) {
	if sd, ok := m.(*systemdManager); ok {
		// The systemd driver's cgroup is written by its fs manager.
		m = sd.fs
	}
	v2, isV2 := m.(*v2Manager)
	if !isV2 {
		return false, nil
	}
	dir := v2.dir
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return false, nil
	}
	if err := writeFile(dir, "cgroup.kill", "1"); err != nil {
		return true, fmt.Errorf("kill cgroup: %w", err)
	}
	return true, nil
}

// KillAll sends SIGKILL to every process of the cgroup and waits (up to
// timeout) until the cgroup is empty, so that Destroy can remove it.
func KillAll(m Manager, timeout time.Duration) error {
	// The usual case on delete: init is dead and took the rest with it.
	// An empty cgroup cannot fill itself again (nothing in it can fork,
	// and exec joins under the container's lock, which delete holds), so
	// the freeze, kill and thaw are skipped.
	if pids, err := m.Pids(); err == nil && len(pids) == 0 {
		return nil
	} else if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := Signal(m, unix.SIGKILL); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		pids, err := m.Pids()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("kill cgroup: %w", err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup: processes %v still there after %s", pids, timeout)
		}
		time.Sleep(delay)
		if delay < 20*time.Millisecond {
			delay *= 2
		}
	}
}
