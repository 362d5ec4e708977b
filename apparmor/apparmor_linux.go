package apparmor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// IsEnabled reports whether the host kernel runs AppArmor: securityfs has
// it and /sys/module/apparmor/parameters/enabled says Y.
//
// Ask it on the host side (create, exec), before entering the container:
// the container's own /sys may be missing or fake.
func IsEnabled() bool {
	return isEnabled("/sys")
}

func isEnabled(sysfs string) bool {
	if _, err := os.Stat(filepath.Join(sysfs, "kernel/security/apparmor")); err != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join(sysfs, "module/apparmor/parameters/enabled"))
	return err == nil && bytes.HasPrefix(b, []byte("Y"))
}

// Check is the create-time validation of process.apparmorProfile: a
// profile requested on a host without AppArmor is an error, not silence.
func Check(profile string) error {
	return check(profile, IsEnabled())
}

func check(profile string, enabled bool) error {
	if profile != "" && !enabled {
		return fmt.Errorf("apparmor profile %q requested, but AppArmor is not enabled on this host", profile)
	}
	return nil
}

// ApplyProfile makes the calling thread's next execve switch to profile
// by writing "exec <profile>" to /proc/thread-self/attr/apparmor/exec (or
// attr/exec on kernels before 5.1, which lack the per-LSM directory). An
// empty profile does nothing.
//
// The file is opened through a verified procfs handle, never by path: a
// container mount over /proc/thread-self/attr/... must not be able to
// swallow or redirect the write (CVE-2025-52881, and CVE-2019-16884 where
// a fake procfs made runc skip the profile). The caller must stay on the
// same OS thread until execve (runtime.LockOSThread).
func ApplyProfile(profile string) error {
	if profile == "" {
		return nil
	}
	return applyProfile(openProcAttr, profile)
}

// attrOpener opens /proc/thread-self/<subpath> for writing; done is called
// when the caller is finished with the file.
type attrOpener func(subpath string) (f *os.File, done func(), err error)

// attr files, preferred first.
var execAttrs = []string{"attr/apparmor/exec", "attr/exec"}

func applyProfile(open attrOpener, profile string) error {
	for i, sub := range execAttrs {
		f, done, err := open(sub)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && i < len(execAttrs)-1 {
				continue // kernel before 5.1: no per-LSM directory
			}
			return fmt.Errorf("apparmor profile %q: open /proc/thread-self/%s: %w", profile, sub, err)
		}
		// One write: the kernel parses the whole buffer as one command.
		_, err = f.Write([]byte("exec " + profile))
		f.Close()
		done()
		if err != nil {
			if errors.Is(err, unix.EINVAL) && sub == "attr/exec" {
				return fmt.Errorf("apparmor profile %q: write /proc/thread-self/%s: %w (is AppArmor enabled in this kernel?)", profile, sub, err)
			}
			return fmt.Errorf("apparmor profile %q: write /proc/thread-self/%s: %w", profile, sub, err)
		}
		return nil
	}
	return nil // not reached: the last entry always returns
}

// openProcAttr opens /proc/thread-self/<subpath> through pathrs-lite's
// procfs handle: a fresh, unmasked procfs instance (fsopen/open_tree) when
// the kernel allows, otherwise the mounted /proc checked to be procfs and
// walked without crossing mounts or following symlinks.
func openProcAttr(subpath string) (*os.File, func(), error) {
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return nil, nil, fmt.Errorf("open procfs: %w", err)
	}
	defer proc.Close()
	handle, done, err := proc.OpenThreadSelf(subpath)
	if err != nil {
		return nil, nil, err
	}
	defer handle.Close()
	f, err := pathrs.Reopen(handle, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		done()
		return nil, nil, err
	}
	return f, done, nil
}
