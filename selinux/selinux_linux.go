package selinux

import (
	"fmt"

	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
)

// SetExecLabel makes the calling thread's next execve run with SELinux
// label l (/proc/thread-self/attr/exec). An empty l does nothing. The
// caller must stay on the same OS thread until execve
// (runtime.LockOSThread).
//
// Whether SELinux is enabled is decided by Check, in the runtime's own
// namespaces at create time: the container's init asks after pivot_root
// (or, for exec, from inside the container's mount namespace), where no
// selinuxfs is mounted and go-selinux would wrongly conclude "disabled".
func SetExecLabel(l string) error {
	if l == "" {
		return nil
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
