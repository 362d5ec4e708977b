package conformance

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// Allowance is one entry of a runtime's allow-list (-allow FILE): a
// failure that the runtime's maintainers reviewed and keep on purpose,
// with the reason. Unlike KnownDeviations (documented deviations of the
// reference runc, matched for any runtime and turned into failures by
// -strict), an allow-list belongs to the one runtime it is passed for,
// holds under -strict, and every entry must match something in a full run
// (a stale entry fails the run, so the list cannot quietly grow).
type Allowance struct {
	Clause  string
	Test    string // substring of the test name
	Message string // substring of the failure message ("" matches any)
	Reason  string
	Line    int // in the file, for messages
	used    atomic.Bool
}

// Matches reports whether a failure of clause in test with message msg is
// allowed by a.
func (a *Allowance) Matches(clause, test, msg string) bool {
	return a.Clause == clause && strings.Contains(test, a.Test) && strings.Contains(msg, a.Message)
}

// Used reports whether a matched a failure in this run.
func (a *Allowance) Used() bool { return a.used.Load() }

// ParseAllowList reads an allow-list: a Markdown file whose table rows are
// `| clause | test | message | reason |` (the header row, whose first cell
// is "clause", and the separator row are skipped; every other line is
// text). clause, test and reason are required; message may be empty.
func ParseAllowList(path string) ([]*Allowance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("allow-list: %w", err)
	}
	defer f.Close()
	var out []*Allowance
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if len(cells) != 4 {
			return nil, fmt.Errorf("allow-list %s:%d: want 4 cells (clause | test | message | reason), got %d", path, n, len(cells))
		}
		if strings.EqualFold(cells[0], "clause") || strings.Trim(cells[0], "-: ") == "" && strings.Trim(cells[1], "-: ") == "" {
			continue // header or separator
		}
		a := &Allowance{Clause: cells[0], Test: cells[1], Message: cells[2], Reason: cells[3], Line: n}
		if _, ok := LookupClause(a.Clause); !ok {
			return nil, fmt.Errorf("allow-list %s:%d: unknown clause %q", path, n, a.Clause)
		}
		if a.Test == "" || a.Reason == "" {
			return nil, fmt.Errorf("allow-list %s:%d: an entry needs a test and a reason", path, n)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("allow-list %s: %w", path, err)
	}
	return out, nil
}

// matchAllowance returns the entry of list that allows a failure, marking
// it used.
func matchAllowance(list []*Allowance, clause, test, msg string) (*Allowance, bool) {
	for _, a := range list {
		if a.Matches(clause, test, msg) {
			a.used.Store(true)
			return a, true
		}
	}
	return nil, false
}
