package specconv

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var seccompActions = []specs.LinuxSeccompAction{
	specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
	specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
}

var seccompOps = []specs.LinuxSeccompOperator{
	specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
	specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual,
}

var seccompArches = []specs.Arch{
	specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64,
	specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32, specs.ArchMIPSEL,
	specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC, specs.ArchPPC64,
	specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X, specs.ArchPARISC,
	specs.ArchPARISC64, specs.ArchRISCV64, specs.ArchLOONGARCH64, specs.ArchM68K,
	specs.ArchSH, specs.ArchSHEB,
}

var seccompFlags = []specs.LinuxSeccompFlag{
	"SECCOMP_FILTER_FLAG_TSYNC",
	specs.LinuxSeccompFlagLog,
	specs.LinuxSeccompFlagSpecAllow,
	specs.LinuxSeccompFlagWaitKillableRecv,
}

// seccompArgsMax: a system call has at most six arguments.
const seccompArgsMax = 6

// ValidateSeccomp checks linux.seccomp's names (actions, operators,
// architectures, flags) and the rules between its fields. System call names
// are not checked: a name unknown to this kernel is skipped when the filter
// is built, as libseccomp-based runtimes do. Field names in errors are
// relative to linux.seccomp.
func ValidateSeccomp(s *specs.LinuxSeccomp) error {
	if s.DefaultAction == "" {
		return fieldErr("defaultAction", "required")
	}
	if !slices.Contains(seccompActions, s.DefaultAction) {
		return fieldErr("defaultAction", "unknown action %q", s.DefaultAction)
	}
	if s.DefaultAction == specs.ActNotify {
		// Init still has to write() to hand over the listener fd.
		return fieldErr("defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
	}
	if s.DefaultErrnoRet != nil && !takesErrno(s.DefaultAction) {
		return fieldErr("defaultErrnoRet", "%s takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE)", s.DefaultAction)
	}
	for i, a := range s.Architectures {
		if !slices.Contains(seccompArches, a) {
			return fieldErr(idx("architectures", i), "unknown architecture %q", a)
		}
	}
	for i, f := range s.Flags {
		if !slices.Contains(seccompFlags, f) {
			return fieldErr(idx("flags", i), "unknown flag %q", f)
		}
	}
	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		return fieldErr("listenerMetadata", "set without listenerPath")
	}
	for i, sc := range s.Syscalls {
		if err := checkSyscallRule(sc, s.ListenerPath); err != nil {
			return wrapField(idx("syscalls", i), err)
		}
	}
	return nil
}

func checkSyscallRule(sc specs.LinuxSyscall, listener string) error {
	if len(sc.Names) == 0 {
		return fieldErr("names", "at least one entry is required")
	}
	for j, n := range sc.Names {
		if n == "" {
			return fieldErr(idx("names", j), "empty system call name")
		}
	}
	if sc.Action == "" {
		return fieldErr("action", "required")
	}
	if !slices.Contains(seccompActions, sc.Action) {
		return fieldErr("action", "unknown action %q", sc.Action)
	}
	if sc.ErrnoRet != nil && !takesErrno(sc.Action) {
		return fieldErr("errnoRet", "%s takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE)", sc.Action)
	}
	if sc.Action == specs.ActNotify {
		if slices.Contains(sc.Names, "write") {
			// Init write()s the listener fd to its parent after loading
			// the filter: it would wait on itself.
			return fieldErr("action", "SCMP_ACT_NOTIFY cannot be used for write")
		}
		if listener == "" {
			return fieldErr("action", "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath")
		}
	}
	if len(sc.Args) > seccompArgsMax {
		return fieldErr("args", "%d conditions, a system call has only %d arguments", len(sc.Args), seccompArgsMax)
	}
	for j, a := range sc.Args {
		if a.Index >= seccompArgsMax {
			return fieldErr(idx("args", j), "index %d out of range 0-5", a.Index)
		}
		if !slices.Contains(seccompOps, a.Op) {
			return fieldErr(idx("args", j), "unknown operator %q", a.Op)
		}
	}
	return nil
}

func takesErrno(a specs.LinuxSeccompAction) bool {
	return a == specs.ActErrno || a == specs.ActTrace
}
