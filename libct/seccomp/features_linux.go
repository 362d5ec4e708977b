package seccomp

import (
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
		f.Archs = append(f.Archs, string(a))
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
