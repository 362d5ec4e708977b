package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// metric holds one measured quantity per runtime, one value per iteration,
// so that value i of every runtime comes from the same interleaved round and
// ratios can be taken pair by pair.
type metric struct {
	name string
	unit string // "ms", "MB" or "ms/50"
	vals map[string][]float64
}

// results keeps metrics in the order they were first recorded.
type results struct {
	order   []string
	metrics map[string]*metric
}

func newResults() *results { return &results{metrics: map[string]*metric{}} }

func (r *results) add(name, unit, rt string, v float64) {
	m, ok := r.metrics[name]
	if !ok {
		m = &metric{name: name, unit: unit, vals: map[string][]float64{}}
		r.metrics[name] = m
		r.order = append(r.order, name)
	}
	m.vals[rt] = append(m.vals[rt], v)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pairRatio is the median over rounds of a[i]/b[i].
func pairRatio(a, b []float64) float64 {
	n := min(len(a), len(b))
	var rs []float64
	for i := 0; i < n; i++ {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return median(rs)
}

func fmtVal(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch {
	case unit == "MB":
		return fmt.Sprintf("%.1f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// table writes a markdown table of medians, and of pairwise ratios of every
// runtime not in refs against each runtime in refs, for the metrics whose
// unit is in units.
func (r *results) table(w io.Writer, rts, refs []string, units ...string) {
	want := map[string]bool{}
	for _, u := range units {
		want[u] = true
	}
	isRef := map[string]bool{}
	for _, x := range refs {
		isRef[x] = true
	}
	type pair struct{ num, den string }
	var pairs []pair
	for _, x := range rts {
		if isRef[x] {
			continue
		}
		for _, ref := range refs {
			pairs = append(pairs, pair{x, ref})
		}
	}
	head := []string{"operation", "unit", "n"}
	head = append(head, rts...)
	for _, p := range pairs {
		head = append(head, p.num+"/"+p.den)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(head)))
	for _, name := range r.order {
		m := r.metrics[name]
		if !want[m.unit] {
			continue
		}
		n := len(m.vals[rts[0]])
		row := []string{m.name, m.unit, fmt.Sprint(n)}
		for _, rt := range rts {
			row = append(row, fmtVal(median(m.vals[rt]), m.unit))
		}
		for _, p := range pairs {
			row = append(row, fmtRatio(pairRatio(m.vals[p.num], m.vals[p.den])))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}
