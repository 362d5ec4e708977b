// Package seccomp turns an OCI linux.seccomp profile into a seccomp BPF
// program (with libseccomp) and loads it with seccomp(2).
//
// The work is split so that the expensive part happens early and the
// syscall-sensitive part happens last:
//
//   - Validate checks a profile without compiling it (specconv, at create).
//   - Compile builds the BPF program, through a cache keyed by the profile's
//     hash, into a Filter: plain data that can cross the parent/init sync
//     pipe and needs no libseccomp to load.
//   - Filter.Load installs it with seccomp(SECCOMP_SET_MODE_FILTER) right
//     before execve, and returns the SCMP_ACT_NOTIFY listener fd, if any.
//   - SendNotifyFd hands that fd to the seccomp agent at listenerPath.
//
// Semantics follow runc where the spec is silent: SCMP_ACT_KILL is
// SCMP_ACT_KILL_THREAD, syscall names unknown to libseccomp are skipped, a
// rule whose action equals the default action is skipped, SCMP_ACT_NOTIFY
// may neither be the default action nor apply to write(2). Within one
// syscalls[] entry, conditions on the same argument index are OR'd and
// conditions on different indexes AND'd: the entry is expanded into one
// libseccomp rule per combination. (runc ORs every condition as soon as one
// index repeats; both agree when all conditions share one index, the only
// repeated-index shape in common profiles.) Also as runc, a profile with a
// denying default action gets ENOSYS, not its default errno, for syscalls
// numbered above the highest one it names, so that libc falls back from
// syscalls newer than the profile (clone3 -> clone).
package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// flagTsync is accepted for compatibility: hull always synchronises the
// filter to all threads of the calling process (see Filter.Load).
const flagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// Kernel SECCOMP_FILTER_FLAG_* bits (include/uapi/linux/seccomp.h).
const (
	filterFlagTsync            = 1 << 0
	filterFlagLog              = 1 << 1
	filterFlagSpecAllow        = 1 << 2
	filterFlagNewListener      = 1 << 3
	filterFlagTsyncESRCH       = 1 << 4
	filterFlagWaitKillableRecv = 1 << 5
)

// knownFlags maps the spec's flag names to seccomp(2) flag bits.
var knownFlags = map[specs.LinuxSeccompFlag]uint{
	flagTsync:                              filterFlagTsync,
	specs.LinuxSeccompFlagLog:              filterFlagLog,
	specs.LinuxSeccompFlagSpecAllow:        filterFlagSpecAllow,
	specs.LinuxSeccompFlagWaitKillableRecv: filterFlagWaitKillableRecv,
}

// knownActions are the spec's action names; takesErrno marks those whose
// return data is an errno (errnoRet/defaultErrnoRet allowed).
var knownActions = map[specs.LinuxSeccompAction]struct{ takesErrno bool }{
	specs.ActKill:        {},
	specs.ActKillProcess: {},
	specs.ActKillThread:  {},
	specs.ActTrap:        {},
	specs.ActErrno:       {takesErrno: true},
	specs.ActTrace:       {takesErrno: true},
	specs.ActAllow:       {},
	specs.ActLog:         {},
	specs.ActNotify:      {},
}

var knownOperators = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}

var knownArchs = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true,
	specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true,
	specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true,
	specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true,
	specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

// maxArgs is how many arguments a syscall has (struct seccomp_data.args).
const maxArgs = 6

// maxErrno is the largest value SECCOMP_RET_DATA holds.
const maxErrno = 0xffff

// Validate checks a profile without compiling it: every action, flag,
// architecture and operator must be known, errnoRet only on actions that
// return an errno, argument indexes below 6, NOTIFY only where it can work.
// Unknown syscall names are not an error (they are skipped at Compile, as
// runc does). Errors name the offending field as a JSON path, e.g.
// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
// A nil profile is valid (no seccomp).
func Validate(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	const p = "linux.seccomp"
	if err := validateAction(p+".defaultAction", s.DefaultAction, p+".defaultErrnoRet", s.DefaultErrnoRet); err != nil {
		return err
	}
	// A notifying default would also catch the write(2) that hands the
	// listener fd over, and the agent would never get it (runc's rule).
	if s.DefaultAction == specs.ActNotify {
		return fmt.Errorf("%s.defaultAction: %s cannot be the default action", p, specs.ActNotify)
	}
	for i, a := range s.Architectures {
		if !knownArchs[a] {
			return fmt.Errorf("%s.architectures[%d]: unknown architecture %q", p, i, a)
		}
	}
	for i, f := range s.Flags {
		if _, ok := knownFlags[f]; !ok {
			return fmt.Errorf("%s.flags[%d]: unknown flag %q", p, i, f)
		}
	}
	notify := false
	for i, sc := range s.Syscalls {
		sp := fmt.Sprintf("%s.syscalls[%d]", p, i)
		if len(sc.Names) == 0 {
			return fmt.Errorf("%s.names: must name at least one syscall", sp)
		}
		for j, n := range sc.Names {
			if n == "" {
				return fmt.Errorf("%s.names[%d]: empty syscall name", sp, j)
			}
		}
		if err := validateAction(sp+".action", sc.Action, sp+".errnoRet", sc.ErrnoRet); err != nil {
			return err
		}
		if sc.Action == specs.ActNotify {
			notify = true
			for j, n := range sc.Names {
				if n == "write" {
					return fmt.Errorf("%s.names[%d]: %s cannot be used for write", sp, j, specs.ActNotify)
				}
			}
		}
		for j, a := range sc.Args {
			ap := fmt.Sprintf("%s.args[%d]", sp, j)
			if a.Index >= maxArgs {
				return fmt.Errorf("%s.index: %d is not a syscall argument (0 to %d)", ap, a.Index, maxArgs-1)
			}
			if !knownOperators[a.Op] {
				return fmt.Errorf("%s.op: unknown operator %q", ap, a.Op)
			}
		}
	}
	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		return fmt.Errorf("%s.listenerMetadata: set without listenerPath", p)
	}
	if notify && s.ListenerPath == "" {
		return fmt.Errorf("%s.listenerPath: required when a syscall uses %s", p, specs.ActNotify)
	}
	return nil
}

func validateAction(path string, a specs.LinuxSeccompAction, errnoPath string, errnoRet *uint) error {
	info, ok := knownActions[a]
	if !ok {
		if a == "" {
			return fmt.Errorf("%s: missing", path)
		}
		return fmt.Errorf("%s: unknown action %q", path, a)
	}
	if errnoRet != nil {
		if !info.takesErrno {
			return fmt.Errorf("%s: action %s takes no errno", errnoPath, a)
		}
		if *errnoRet > maxErrno {
			return fmt.Errorf("%s: %d is out of range (0 to %d)", errnoPath, *errnoRet, maxErrno)
		}
	}
	return nil
}

// UsesNotify reports whether any rule of the profile uses SCMP_ACT_NOTIFY,
// i.e. whether loading it yields a listener fd that must go to the agent.
func UsesNotify(s *specs.LinuxSeccomp) bool {
	if s == nil {
		return false
	}
	for _, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return true
		}
	}
	return false
}

// filterFlags returns the seccomp(2) flags the profile asks for, plus
// SECCOMP_FILTER_FLAG_NEW_LISTENER when it notifies. WAIT_KILLABLE_RECV
// only means something with a listener (the kernel rejects it otherwise), so
// it is dropped from profiles that do not notify.
func filterFlags(s *specs.LinuxSeccomp) (uint, error) {
	var flags uint
	for i, f := range s.Flags {
		bit, ok := knownFlags[f]
		if !ok {
			return 0, fmt.Errorf("linux.seccomp.flags[%d]: unknown flag %q", i, f)
		}
		flags |= bit
	}
	if UsesNotify(s) {
		flags |= filterFlagNewListener
	} else {
		flags &^= filterFlagWaitKillableRecv
	}
	return flags, nil
}

// errNilProfile is returned when compiling a nil profile.
var errNilProfile = errors.New("seccomp: no profile")
