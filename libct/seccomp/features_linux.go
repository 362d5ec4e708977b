package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features reports the seccomp support of hull and of this kernel, for
// `hull features`: every action, operator, architecture and flag hull
// knows, and the flags the running kernel accepts.
func Features() *features.Seccomp {
	yes := true
	f := &features.Seccomp{Enabled: &yes}
	for a := range knownActions {
		f.Actions = append(f.Actions, string(a))
	}
	for o := range knownOperators {
		f.Operators = append(f.Operators, string(o))
	}
	for a := range knownArchs {
		if archSupported(a) {
			f.Archs = append(f.Archs, string(a))
		}
	}
	for fl := range knownFlags {
		f.KnownFlags = append(f.KnownFlags, string(fl))
		if FlagSupported(fl) == nil {
			f.SupportedFlags = append(f.SupportedFlags, string(fl))
		}
	}
	for _, l := range [][]string{f.Actions, f.Operators, f.Archs, f.KnownFlags, f.SupportedFlags} {
		sort.Strings(l)
	}
	return f
}

// archSupported reports whether the libseccomp hull is linked with knows
// the architecture (2.5.4 lacks loongarch64 and sh, for instance): only
// those may be listed, since a profile naming the others fails.
func archSupported(a specs.Arch) bool {
	sa, ok := archs[a]
	if !ok {
		return false
	}
	_, err := libseccomp.GetSyscallFromNameByArch("read", sa)
	return err == nil
}
