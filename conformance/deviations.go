package conformance

import "strings"

// KnownDeviation is a documented way in which a reference runtime departs
// from the spec (see DEVIATIONS.md). A failing assertion that matches one is
// reported as DEVIATION instead of FAIL unless -strict is given. Matching is
// by clause and test name, never by the runtime's name: a runtime that gets
// the clause right simply passes.
type KnownDeviation struct {
	Clause  string
	Test    string // substring of the test name
	Message string // substring of the failure message ("" matches any)
	Note    string
}

// KnownDeviations lists the deviations of Debian's runc 1.1.5 found by this
// suite. Keep in sync with DEVIATIONS.md.
var KnownDeviations = []KnownDeviation{}

// MatchDeviation returns the known deviation covering a failure of clause
// in test with message msg.
func MatchDeviation(clause, test, msg string) (KnownDeviation, bool) {
	for _, d := range KnownDeviations {
		if d.Clause == clause && strings.Contains(test, d.Test) && strings.Contains(msg, d.Message) {
			return d, true
		}
	}
	return KnownDeviation{}, false
}
