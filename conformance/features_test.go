package conformance

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func requireFeatures(t *testing.T, clause string) *features.Features {
	t.Helper()
	requireSuite(t)
	if suite.features == nil {
		skipClause(t, clause, "the runtime has no usable features output: %v", suite.featErr)
	}
	return suite.features
}

// semverLess compares two SemVer strings by major.minor.patch, then treats a
// pre-release as lower than the release.
func semverLess(a, b string) bool {
	pa, pb := semverParts(a), semverParts(b)
	for i := 0; i < 3; i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	preA, preB := strings.Contains(a, "-"), strings.Contains(b, "-")
	return preA && !preB
}

func semverParts(v string) [3]int {
	v, _, _ = strings.Cut(v, "+")
	v, _, _ = strings.Cut(v, "-")
	var out [3]int
	for i, p := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(p)
	}
	return out
}

func TestFeaturesDocument(t *testing.T) {
	f := requireFeatures(t, "FEAT-NO-UNKNOWN")
	rt := newRuntime(t)
	raw, err := rt.Features()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var strict features.Features
	err = dec.Decode(&strict)
	record(t, "FEAT-NO-UNKNOWN", err == nil, "features output decoded strictly against runtime-spec v1.3.0: %v", err)
	record(t, "FEAT-OCIVERSION-ORDER", semver.MatchString(f.OCIVersionMin) && semver.MatchString(f.OCIVersionMax) &&
		!semverLess(f.OCIVersionMax, f.OCIVersionMin), "ociVersionMin %q, ociVersionMax %q", f.OCIVersionMin, f.OCIVersionMax)
	var bad []string
	for k := range f.Annotations {
		if k == "" {
			bad = append(bad, "empty key")
		}
	}
	var rawMap map[string]json.RawMessage
	json.Unmarshal(raw, &rawMap)
	if a, ok := rawMap["annotations"]; ok {
		var m map[string]string
		if err := json.Unmarshal(a, &m); err != nil {
			bad = append(bad, err.Error())
		}
	}
	var data []string
	for _, o := range f.MountOptions {
		if strings.Contains(o, "=") {
			data = append(data, o)
		}
	}
	record(t, "FEAT-MOUNT-OPTIONS-NO-DATA", len(data) == 0, "mountOptions with filesystem data (key=value): %v", data)
	record(t, "FEAT-ANNOTATIONS", len(bad) == 0, "annotations are a string map with non-empty keys: %v", bad)
}

func TestFeaturesOCIVersions(t *testing.T) {
	f := requireFeatures(t, "FEAT-OCIVERSION-ACCEPT")
	for _, v := range []string{f.OCIVersionMin, f.OCIVersionMax} {
		t.Run(v, func(t *testing.T) {
			rt := newRuntime(t)
			b := newBundle(t)
			b.Spec.Version = v
			b.Spec.Process.Args = []string{"/checker", "process"}
			c := newCtr(t, rt, b)
			res := c.create()
			record(t, "FEAT-OCIVERSION-ACCEPT", res.OK(), "config with ociVersion %q: %v %s", v, res.Err, trim(res.Stderr))
		})
	}
}

func TestFeaturesCapabilities(t *testing.T) {
	f := requireFeatures(t, "FEAT-LINUX-CAPABILITIES")
	if f.Linux == nil || len(f.Linux.Capabilities) == 0 {
		skipClause(t, "FEAT-LINUX-CAPABILITIES", "features lists no capabilities")
	}
	// Only capabilities the runtime itself holds: asking for others is
	// the warning case of TestUngrantableCapability.
	hostBnd, _ := statusField("/proc/self/status", "CapBnd")
	var caps []string
	for _, c := range f.Linux.Capabilities {
		if n, ok := capIndex[c]; !ok || capMaskHas(hostBnd, n) {
			caps = append(caps, c)
		}
	}
	b := newBundle(t)
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Permitted: caps, Effective: caps}
	ok := runChecker(t, b, "caps")
	record(t, "FEAT-LINUX-CAPABILITIES", ok, "a container with the %d listed capabilities the runtime holds ran", len(caps))
}

func TestFeaturesSeccomp(t *testing.T) {
	f := requireFeatures(t, "FEAT-LINUX-SECCOMP-ACTIONS")
	if f.Linux == nil || f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled {
		skipClause(t, "FEAT-LINUX-SECCOMP-ACTIONS", "features says seccomp is not enabled")
	}
	sc := f.Linux.Seccomp
	type tc struct {
		clause, name string
		seccomp      specs.LinuxSeccomp
	}
	var cases []tc
	for _, a := range sc.Actions {
		if a == string(specs.ActNotify) {
			continue // needs a seccomp agent at listenerPath; not exercised
		}
		cases = append(cases, tc{"FEAT-LINUX-SECCOMP-ACTIONS", a, specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.LinuxSeccompAction(a)}}}})
	}
	for _, op := range sc.Operators {
		cases = append(cases, tc{"FEAT-LINUX-SECCOMP-OPERATORS", op, specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, ValueTwo: 1, Op: specs.LinuxSeccompOperator(op)}}}}}})
	}
	for _, arch := range sc.Archs {
		cases = append(cases, tc{"FEAT-LINUX-SECCOMP-ARCHS", arch, specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.Arch(arch)},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActErrno}}}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bigEndianArchs[c.name] && littleEndianHost() {
				skipClause(t, c.clause, "a seccomp filter cannot mix %s with this little-endian host's native architecture (libseccomp EDOM; host probe)", c.name)
			}
			rt := newRuntime(t)
			b := newBundle(t)
			s := c.seccomp
			b.Spec.Linux.Seccomp = &s
			sleeper(b)
			ct := newCtr(t, rt, b)
			res := ct.create()
			record(t, c.clause, res.OK(), "seccomp profile using listed %s: %v %s", c.name, res.Err, trim(res.Stderr))
		})
	}
}

var capIndex = map[string]uint{"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
	"CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40}

func capMaskHas(hex string, n uint) bool {
	v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
	return err == nil && v&(1<<n) != 0
}

// bigEndianArchs are the libseccomp architectures of big-endian ABIs.
var bigEndianArchs = map[string]bool{
	"SCMP_ARCH_MIPS": true, "SCMP_ARCH_MIPS64": true, "SCMP_ARCH_MIPS64N32": true,
	"SCMP_ARCH_PPC": true, "SCMP_ARCH_PPC64": true, "SCMP_ARCH_S390": true, "SCMP_ARCH_S390X": true,
	"SCMP_ARCH_PARISC": true, "SCMP_ARCH_PARISC64": true, "SCMP_ARCH_M68K": true,
}

func littleEndianHost() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

func TestFeaturesSeccompFlags(t *testing.T) {
	f := requireFeatures(t, "FEAT-LINUX-SECCOMP-SUPPORTED-FLAGS")
	if f.Linux == nil || f.Linux.Seccomp == nil || len(f.Linux.Seccomp.SupportedFlags)+len(f.Linux.Seccomp.KnownFlags) == 0 {
		skipClause(t, "FEAT-LINUX-SECCOMP-SUPPORTED-FLAGS", "features lists no seccomp flags")
	}
	sc := f.Linux.Seccomp
	all := append(append([]string(nil), sc.SupportedFlags...), sc.KnownFlags...)
	seen := map[string]bool{}
	for _, flag := range all {
		if seen[flag] {
			continue
		}
		seen[flag] = true
		t.Run(flag, func(t *testing.T) {
			if !contains(sc.SupportedFlags, flag) {
				skipClause(t, "FEAT-LINUX-SECCOMP-KNOWN-FLAGS", "%s is known but not supported: recognition without support is not observable", flag)
			}
			b := newBundle(t)
			b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Flags:    []specs.LinuxSeccompFlag{specs.LinuxSeccompFlag(flag)},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: uintp(42)}}}
			ok := runChecker(t, b, "seccomp")
			record(t, "FEAT-LINUX-SECCOMP-SUPPORTED-FLAGS", ok, "seccomp filter with supported flag %s works", flag)
			if contains(sc.KnownFlags, flag) {
				record(t, "FEAT-LINUX-SECCOMP-KNOWN-FLAGS", ok, "known flag %s accepted", flag)
			}
		})
	}
}

func TestFeaturesMemoryPolicy(t *testing.T) {
	f := requireFeatures(t, "FEAT-LINUX-MEMPOLICY-MODES")
	if f.Linux == nil || f.Linux.MemoryPolicy == nil {
		skipClause(t, "FEAT-LINUX-MEMPOLICY-MODES", "features lists no memoryPolicy")
	}
	type tc struct {
		clause, name string
		pol          specs.LinuxMemoryPolicy
	}
	var cases []tc
	for _, m := range f.Linux.MemoryPolicy.Modes {
		nodes := "0"
		if m == "MPOL_DEFAULT" || m == "MPOL_LOCAL" {
			nodes = ""
		}
		cases = append(cases, tc{"FEAT-LINUX-MEMPOLICY-MODES", m, specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(m), Nodes: nodes}})
	}
	for _, fl := range f.Linux.MemoryPolicy.Flags {
		cases = append(cases, tc{"FEAT-LINUX-MEMPOLICY-FLAGS", fl, specs.LinuxMemoryPolicy{Mode: "MPOL_BIND", Nodes: "0",
			Flags: []specs.MemoryPolicyFlagType{specs.MemoryPolicyFlagType(fl)}}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBundle(t)
			p := c.pol
			b.Spec.Linux.MemoryPolicy = &p
			ok := runChecker(t, b, "mempolicy")
			record(t, c.clause, ok, "memoryPolicy %+v from the features list applied", p)
		})
	}
}
