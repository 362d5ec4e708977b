package selinux

import (
	"fmt"

	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
)

// SetExecLabel makes the calling thread's next execve run with SELinux
// label l (/proc/thread-self/attr/exec). An empty l does nothing; a label
// on a host without SELinux is ErrNotEnabled. The caller must stay on the
// same OS thread until execve (runtime.LockOSThread).
func SetExecLabel(l string) error {
	if l == "" {
		return nil
	}
	if !Enabled() {
		return fmt.Errorf("set exec label %q: %w", l, ErrNotEnabled)
	}
	if err := selinux.SetExecLabel(l); err != nil {
		return fmt.Errorf("set exec label %q: %w", l, err)
	}
	return nil
}

// SetFileLabel sets the SELinux label of path (used for mount points that
// take no context= option, such as mqueue). An empty l does nothing; a
// label on a host without SELinux is ErrNotEnabled.
func SetFileLabel(path, l string) error {
	if l == "" {
		return nil
	}
	if !Enabled() {
		return fmt.Errorf("label %s as %q: %w", path, l, ErrNotEnabled)
	}
	if err := label.SetFileLabel(path, l); err != nil {
		return fmt.Errorf("label %s as %q: %w", path, l, err)
	}
	return nil
}
