package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp profile: the classic BPF program libseccomp
// generated and the seccomp(2) flags to load it with. It is plain data
// (JSON-encodable), so the parent can compile and the container's init
// load it; loading needs no libseccomp.
type Filter struct {
	// Program is the struct sock_filter array in host byte order, exactly
	// as seccomp_export_bpf(3) writes it.
	Program []byte `json:"program"`
	// Flags are SECCOMP_FILTER_FLAG_* bits from the profile's flags, with
	// NEW_LISTENER when a rule notifies. They are derived from the
	// profile on every Compile, never read from the cache.
	Flags uint `json:"flags"`
}

// Notify reports whether loading the filter yields a listener fd.
func (f *Filter) Notify() bool { return f.Flags&filterFlagNewListener != 0 }

// Compile validates s and builds its BPF program. With a non-empty
// cacheDir, a program compiled before for the same profile (same rules,
// libseccomp version, kernel API level and architecture) is read from
// cacheDir instead, and a new one is stored there; cache problems never
// fail Compile, they only cost a compilation. cacheDir should be a
// directory only the caller can write that goes away with what the filter
// is for, such as the container's state directory (a cache that outlives
// its containers is a file left behind): cache files not owned by the
// current user or writable by others are ignored.
//
// Compile does not need to run in the container; it should run before
// pivot_root (the cache lives on the host) and long before Load.
func Compile(s *specs.LinuxSeccomp, cacheDir string) (*Filter, error) {
	if s == nil {
		return nil, errNilProfile
	}
	if err := Validate(s); err != nil {
		return nil, err
	}
	flags, err := filterFlags(s)
	if err != nil {
		return nil, err
	}
	var key string
	if cacheDir != "" {
		key, err = cacheKey(s)
		if err != nil {
			return nil, err
		}
		if prog, ok := readCache(cacheDir, key); ok {
			return &Filter{Program: prog, Flags: flags}, nil
		}
	}
	prog, err := compile(s)
	if err != nil {
		return nil, err
	}
	if cacheDir != "" {
		writeCache(cacheDir, key, prog)
	}
	return &Filter{Program: prog, Flags: flags}, nil
}

// Load compiles s without a cache and loads it into the calling process;
// see Filter.Load.
func Load(s *specs.LinuxSeccomp) (notifyFd int, err error) {
	f, err := Compile(s, "")
	if err != nil {
		return -1, err
	}
	return f.Load()
}

// cacheFormat changes whenever what is cached, or how it is compiled, does.
const cacheFormat = "hull seccomp bpf cache v2 (enosys stub)"

// cacheKey hashes everything that decides the BPF program: the rules (not
// flags or listener settings), libseccomp's version and API level (it may
// generate different code or resolve syscall names differently) and the
// native architecture.
func cacheKey(s *specs.LinuxSeccomp) (string, error) {
	rules := struct {
		DefaultAction   specs.LinuxSeccompAction `json:"defaultAction"`
		DefaultErrnoRet *uint                    `json:"defaultErrnoRet"`
		Architectures   []specs.Arch             `json:"architectures"`
		Syscalls        []specs.LinuxSyscall     `json:"syscalls"`
	}{s.DefaultAction, s.DefaultErrnoRet, s.Architectures, s.Syscalls}
	b, err := json.Marshal(rules)
	if err != nil {
		return "", fmt.Errorf("hash seccomp profile: %w", err)
	}
	major, minor, micro := libseccomp.GetLibraryVersion()
	api, _ := libseccomp.GetAPI() // 0 when unknown: still a stable key
	h := sha256.New()
	fmt.Fprintf(h, "%s\nlibseccomp %d.%d.%d api %d\n%s\n", cacheFormat, major, minor, micro, api, runtime.GOARCH)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// action converts a spec action to libseccomp's; errnoRet defaults to EPERM
// for ERRNO and TRACE, as the spec says.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	ret := int16(unix.EPERM)
	if errnoRet != nil {
		ret = int16(uint16(*errnoRet))
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(ret), nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(ret), nil
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	case specs.ActNotify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unknown action %q", a)
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var archs = map[specs.Arch]libseccomp.ScmpArch{
	specs.ArchX86: libseccomp.ArchX86, specs.ArchX86_64: libseccomp.ArchAMD64, specs.ArchX32: libseccomp.ArchX32,
	specs.ArchARM: libseccomp.ArchARM, specs.ArchAARCH64: libseccomp.ArchARM64,
	specs.ArchMIPS: libseccomp.ArchMIPS, specs.ArchMIPS64: libseccomp.ArchMIPS64, specs.ArchMIPS64N32: libseccomp.ArchMIPS64N32,
	specs.ArchMIPSEL: libseccomp.ArchMIPSEL, specs.ArchMIPSEL64: libseccomp.ArchMIPSEL64, specs.ArchMIPSEL64N32: libseccomp.ArchMIPSEL64N32,
	specs.ArchPPC: libseccomp.ArchPPC, specs.ArchPPC64: libseccomp.ArchPPC64, specs.ArchPPC64LE: libseccomp.ArchPPC64LE,
	specs.ArchS390: libseccomp.ArchS390, specs.ArchS390X: libseccomp.ArchS390X,
	specs.ArchPARISC: libseccomp.ArchPARISC, specs.ArchPARISC64: libseccomp.ArchPARISC64,
	specs.ArchRISCV64: libseccomp.ArchRISCV64, specs.ArchLOONGARCH64: libseccomp.ArchLOONGARCH64,
	specs.ArchM68K: libseccomp.ArchM68K, specs.ArchSH: libseccomp.ArchSH, specs.ArchSHEB: libseccomp.ArchSHEB,
}

// maxRulesPerEntry bounds the expansion of one syscalls[] entry into
// libseccomp rules (the product of the condition counts per index).
const maxRulesPerEntry = 256

// compile builds the BPF program with libseccomp. s is already validated.
func compile(s *specs.LinuxSeccomp) ([]byte, error) {
	defAct, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	filter, err := libseccomp.NewFilter(defAct)
	if err != nil {
		return nil, fmt.Errorf("seccomp_init: %w", err)
	}
	defer filter.Release()
	for i, a := range s.Architectures {
		if err := filter.AddArch(archs[a]); err != nil {
			return nil, fmt.Errorf("linux.seccomp.architectures[%d]: add %s: %w", i, a, err)
		}
	}
	names := 0
	for _, sc := range s.Syscalls {
		names += len(sc.Names)
	}
	// A binary tree makes long allow lists O(log n) per syscall. libseccomp
	// up to 2.5.4 misbehaves with it on an empty rule set, hence the bound
	// (runc uses the same threshold).
	if names > 32 {
		_ = filter.SetOptimize(2) // not available before libseccomp 2.5: fine
	}
	for i, sc := range s.Syscalls {
		if err := addRules(filter, defAct, i, &sc); err != nil {
			return nil, err
		}
	}
	prog, err := exportBPF(filter)
	if err != nil {
		return nil, err
	}
	if prog, err = prependENOSYS(s, prog); err != nil {
		return nil, err
	}
	if err := checkProgram(prog); err != nil {
		return nil, fmt.Errorf("seccomp program with ENOSYS stub: %w", err)
	}
	return prog, nil
}

// addRules adds the rules of syscalls[i] to filter.
func addRules(filter *libseccomp.ScmpFilter, defAct libseccomp.ScmpAction, i int, sc *specs.LinuxSyscall) error {
	sp := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
	act, err := action(sc.Action, sc.ErrnoRet)
	if err != nil {
		return fmt.Errorf("%s.action: %w", sp, err)
	}
	if act == defAct {
		return nil // redundant; libseccomp would refuse it
	}
	combos, err := conditionSets(sc.Args)
	if err != nil {
		return fmt.Errorf("%s.args: %w", sp, err)
	}
	for _, name := range sc.Names {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			// Not a syscall on this architecture or unknown to this
			// libseccomp: skipped, as runc does, so one profile serves
			// several architectures and kernels.
			continue
		}
		if len(combos) == 0 {
			if err := filter.AddRule(nr, act); err != nil {
				return fmt.Errorf("%s: add rule for %s: %w", sp, name, err)
			}
			continue
		}
		for _, conds := range combos {
			if err := filter.AddRuleConditional(nr, act, conds); err != nil {
				return fmt.Errorf("%s: add rule for %s: %w", sp, name, err)
			}
		}
	}
	return nil
}

// conditionSets expands args into the rules that implement "same index:
// OR, different index: AND": one condition per index in each rule, one rule
// per combination.
func conditionSets(args []specs.LinuxSeccompArg) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var byIndex [maxArgs][]libseccomp.ScmpCondition
	var order []uint
	for j, a := range args {
		op, ok := operators[a.Op]
		if !ok {
			return nil, fmt.Errorf("[%d].op: unknown operator %q", j, a.Op)
		}
		values := []uint64{a.Value}
		if op == libseccomp.CompareMaskedEqual {
			// (arg & value) == valueTwo
			values = append(values, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, values...)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", j, err)
		}
		if len(byIndex[a.Index]) == 0 {
			order = append(order, a.Index)
		}
		byIndex[a.Index] = append(byIndex[a.Index], c)
	}
	combos := [][]libseccomp.ScmpCondition{nil}
	for _, idx := range order {
		next := make([][]libseccomp.ScmpCondition, 0, len(combos)*len(byIndex[idx]))
		for _, prefix := range combos {
			for _, c := range byIndex[idx] {
				rule := append(append([]libseccomp.ScmpCondition(nil), prefix...), c)
				next = append(next, rule)
			}
		}
		if len(next) > maxRulesPerEntry {
			return nil, fmt.Errorf("expand to more than %d rules", maxRulesPerEntry)
		}
		combos = next
	}
	return combos, nil
}

// exportBPF returns the filter's BPF program, through a memfd
// (seccomp_export_bpf_mem needs libseccomp 2.6).
func exportBPF(filter *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("hull-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create for seccomp export: %w", err)
	}
	f := os.NewFile(uintptr(fd), "hull-seccomp-bpf")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, fmt.Errorf("seccomp_export_bpf: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read exported seccomp program: %w", err)
	}
	prog, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read exported seccomp program: %w", err)
	}
	if err := checkProgram(prog); err != nil {
		return nil, fmt.Errorf("exported seccomp program: %w", err)
	}
	return prog, nil
}
