package conformance

import (
	"slices"
	"strings"
	"testing"
)

// recordRefusal judges a create that failed where the spec lets a runtime
// refuse what it does not support ("Valid values", or an error before the
// program runs). A refusal is a pass of clause only when
//   - the error names the field (one of names, case-insensitive): an
//     unrelated failure is no refusal of the feature; and
//   - the runtime's features document does not claim the feature (claim
//     says what it claims, "" for nothing): features.md wants everything
//     listed there accepted.
func recordRefusal(t *testing.T, clause string, res Result, what, claim string, names ...string) {
	t.Helper()
	if claim != "" {
		record(t, clause, false, "create refused %s although the runtime's features %s: %v %s", what, claim, res.Err, trim(res.Stderr))
		return
	}
	record(t, clause, errorNames(res, names...), "create refused %s; the error must name %s: %v %s",
		what, strings.Join(names, " or "), res.Err, trim(res.Stderr))
}

// errorNames reports whether a failed call's error output names one of
// names (case-insensitive).
func errorNames(res Result, names ...string) bool {
	msg := strings.ToLower(res.Stderr + " " + res.Stdout)
	if res.Err != nil {
		msg += " " + strings.ToLower(res.Err.Error())
	}
	for _, n := range names {
		if strings.Contains(msg, strings.ToLower(n)) {
			return true
		}
	}
	return false
}

// memoryPolicyClaim says what the runtime's features claim about a memory
// policy mode ("" when nothing).
func memoryPolicyClaim(mode string) string {
	f := suite.features
	if f == nil || f.Linux == nil || f.Linux.MemoryPolicy == nil {
		return ""
	}
	if slices.Contains(f.Linux.MemoryPolicy.Modes, mode) {
		return "list memoryPolicy mode " + mode
	}
	return ""
}
