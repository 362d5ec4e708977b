package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
)

// Outcome is the result of one assertion.
type Outcome string

// Outcomes recorded in the report.
const (
	Pass      Outcome = "PASS"
	Fail      Outcome = "FAIL"
	Skip      Outcome = "SKIP"
	Deviation Outcome = "DEVIATION" // failed, but a documented known deviation (DEVIATIONS.md)
	Allowed   Outcome = "ALLOWED"   // failed, but on the runtime's own allow-list (-allow), with its reason
)

// Entry is one line of the report.
type Entry struct {
	Clause  string  `json:"clause"`
	Level   Level   `json:"level"`
	Section string  `json:"section"`
	Test    string  `json:"test"`
	Result  Outcome `json:"result"`
	Message string  `json:"message"`
}

// Report collects assertion results from concurrently running tests.
type Report struct {
	mu      sync.Mutex
	entries []Entry
}

// Add records one result.
func (r *Report) Add(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

// Entries returns a sorted copy of the results.
func (r *Report) Entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Entry(nil), r.entries...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Clause != out[j].Clause {
			return out[i].Clause < out[j].Clause
		}
		return out[i].Test < out[j].Test
	})
	return out
}

// Counts returns how many entries have each outcome.
func (r *Report) Counts() map[Outcome]int {
	n := map[Outcome]int{}
	for _, e := range r.Entries() {
		n[e.Result]++
	}
	return n
}

// Print writes the human-readable report: one line per clause with its
// counts, then every entry that did not pass, with its message.
func (r *Report) Print(w io.Writer, runtime string) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	type agg struct {
		c Clause
		n map[Outcome]int
	}
	var order []string
	per := map[string]*agg{}
	for _, e := range r.Entries() {
		a, ok := per[e.Clause]
		if !ok {
			a = &agg{Clause{ID: e.Clause, Level: e.Level, Section: e.Section}, map[Outcome]int{}}
			per[e.Clause] = a
			order = append(order, e.Clause)
		}
		a.n[e.Result]++
	}
	fmt.Fprintf(tw, "CLAUSE\tLEVEL\tSECTION\tRESULT\tPASS\tFAIL\tDEVIATION\tALLOWED\tSKIP\n")
	for _, id := range order {
		a := per[id]
		res := Pass
		switch {
		case a.n[Fail] > 0:
			res = Fail
		case a.n[Deviation] > 0:
			res = Deviation
		case a.n[Allowed] > 0:
			res = Allowed
		case a.n[Pass] == 0:
			res = Skip
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", id, a.c.Level, a.c.Section, res,
			a.n[Pass], a.n[Fail], a.n[Deviation], a.n[Allowed], a.n[Skip])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nnot passed:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "CLAUSE\tRESULT\tTEST\tMESSAGE\n")
	for _, e := range r.Entries() {
		if e.Result == Pass {
			continue
		}
		msg := e.Message
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Clause, e.Result, e.Test, msg)
	}
	tw.Flush()
	n := r.Counts()
	fmt.Fprintf(w, "\nconformance of %s: %d pass, %d fail, %d known deviations, %d allowed, %d skipped\n",
		runtime, n[Pass], n[Fail], n[Deviation], n[Allowed], n[Skip])
}

// WriteJSON writes the report as JSON to path.
func (r *Report) WriteJSON(path, runtime string) error {
	doc := struct {
		Runtime string          `json:"runtime"`
		Counts  map[Outcome]int `json:"counts"`
		Results []Entry         `json:"results"`
	}{runtime, r.Counts(), r.Entries()}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
