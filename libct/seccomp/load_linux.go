package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	sockFilterSize = 8    // sizeof(struct sock_filter)
	bpfMaxInsns    = 4096 // BPF_MAXINSNS: the kernel refuses longer programs
)

// checkProgram checks that b can be a classic BPF program.
func checkProgram(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("empty program")
	case len(b)%sockFilterSize != 0:
		return fmt.Errorf("%d bytes is not a whole number of instructions", len(b))
	case len(b)/sockFilterSize > bpfMaxInsns:
		return fmt.Errorf("%d instructions, more than the kernel's %d", len(b)/sockFilterSize, bpfMaxInsns)
	}
	return nil
}

// Load installs the filter into the calling process with
// seccomp(SECCOMP_SET_MODE_FILTER) and returns the SCMP_ACT_NOTIFY listener
// fd (close-on-exec), or -1 when the filter does not notify.
//
// The filter is synchronised to every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC, with TSYNC_ESRCH when a listener is asked
// for), so it cannot end up on a Go thread other than the one that calls
// execve. Only on kernels before 5.7 (no TSYNC_ESRCH) does a notifying filter
// land on the calling thread alone; the caller must in any case hold
// runtime.LockOSThread from Load to execve, as it must for capabilities.
//
// The kernel requires no_new_privs or CAP_SYS_ADMIN: with
// process.noNewPrivileges, set it before Load and load last; without it,
// Load before capabilities are dropped. Every syscall the caller makes after
// Load is filtered.
func (f *Filter) Load() (int, error) {
	if err := checkProgram(f.Program); err != nil {
		return -1, fmt.Errorf("load seccomp filter: %w", err)
	}
	insns := make([]unix.SockFilter, len(f.Program)/sockFilterSize)
	if _, err := binary.Decode(f.Program, binary.NativeEndian, insns); err != nil {
		return -1, fmt.Errorf("load seccomp filter: decode program: %w", err)
	}
	prog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}

	flags := f.Flags | filterFlagTsync
	if f.Notify() {
		// TSYNC and NEW_LISTENER both want the return value; TSYNC_ESRCH
		// makes a TSYNC failure an ESRCH so the fd can be returned.
		flags |= filterFlagTsyncESRCH
	}
	r, err := seccompSetModeFilter(flags, &prog)
	if errors.Is(err, unix.EINVAL) && f.Notify() && probeFlags(filterFlagNewListener|filterFlagTsync|filterFlagTsyncESRCH) != nil {
		// Linux 5.0-5.6: listener, but no TSYNC_ESRCH.
		r, err = seccompSetModeFilter(flags&^(filterFlagTsync|filterFlagTsyncESRCH), &prog)
	}
	runtime.KeepAlive(insns)
	if err != nil {
		return -1, loadError(f.Flags, err)
	}
	if !f.Notify() {
		// Plain TSYNC reports a thread it could not synchronise by
		// returning its id, and then installs nothing: never take that
		// for success.
		if r != 0 {
			return -1, fmt.Errorf("load seccomp filter: thread %d could not be synchronised (SECCOMP_FILTER_FLAG_TSYNC); filter not installed", r)
		}
		return -1, nil
	}
	return r, nil
}

// seccompSetModeFilter is seccomp(SECCOMP_SET_MODE_FILTER, flags, prog).
func seccompSetModeFilter(flags uint, prog *unix.SockFprog) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(prog)))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// probeFlags asks the kernel whether it knows flags without installing
// anything: it checks the flags before it reads the (here NULL) program, so
// EFAULT means "known".
func probeFlags(flags uint) error {
	_, err := seccompSetModeFilter(flags, nil)
	if errors.Is(err, unix.EFAULT) {
		return nil
	}
	return err
}

// FlagSupported reports, without loading anything, whether the running
// kernel accepts a spec seccomp flag: nil, or an error naming the flag.
func FlagSupported(flag specs.LinuxSeccompFlag) error {
	bit, ok := knownFlags[flag]
	if !ok {
		return fmt.Errorf("unknown seccomp flag %q", flag)
	}
	if bit == filterFlagWaitKillableRecv {
		bit |= filterFlagNewListener // meaningless, and refused, without it
	}
	if err := probeFlags(bit); err != nil {
		return fmt.Errorf("seccomp flag %s is not supported by this kernel: %w", flag, err)
	}
	return nil
}

// loadError explains a failed seccomp(2).
func loadError(flags uint, err error) error {
	const what = "load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER)"
	switch {
	case errors.Is(err, unix.EACCES):
		return fmt.Errorf("%s: %w (needs no_new_privs or CAP_SYS_ADMIN)", what, err)
	case errors.Is(err, unix.EINVAL):
		for flag, bit := range knownFlags {
			if flags&bit != 0 && FlagSupported(flag) != nil {
				return fmt.Errorf("%s: %w (flag %s is not supported by this kernel)", what, err, flag)
			}
		}
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%s: %w (a listener is already installed in this process)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
