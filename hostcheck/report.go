// Package hostcheck examines the running kernel and host, feature by
// feature, for `hull check`: where it can it tries a feature (creates a
// namespace, idmaps a detached mount, calls a syscall) rather than reading
// the kernel's build configuration, and it leaves nothing behind.
package hostcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// The results a check can have.
const (
	// OK is present and usable.
	OK = "ok"
	// Limited is present, with a restriction hull works around or reports.
	Limited = "limited"
	// Missing is absent: the check's Impact says what cannot work.
	Missing = "missing"
)

// Check is one line of the report.
type Check struct {
	// Name is the feature, in the kernel's words where it has some.
	Name string `json:"name"`
	// Status is OK, Limited or Missing.
	Status string `json:"status"`
	// Detail is what was found (a version, a path, the error of a try).
	Detail string `json:"detail"`
	// Impact is what hull does, or what cannot work, without the feature.
	Impact string `json:"impact"`
	// Required is set when a default container (one made by `hull spec`,
	// or `hull spec --rootless` for a non-root caller) needs the feature.
	Required bool `json:"required"`
}

// Report is the result of Run.
type Report struct {
	// Kernel is the running kernel's release (uname -r).
	Kernel string `json:"kernel"`
	// UID is the effective uid the checks ran as.
	UID int `json:"uid"`
	// Rootless is set when the checks were made for a non-root caller.
	Rootless bool `json:"rootless"`
	// Checks are the results, in the order of the man page.
	Checks []Check `json:"checks"`
	// CanRun tells whether every check that a default container needs
	// passed (ok or limited).
	CanRun bool `json:"canRun"`
}

// Find returns the check named name, or nil.
func (r *Report) Find(name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// add appends a check.
func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// finish sets CanRun from the required checks.
func (r *Report) finish() {
	r.CanRun = true
	for _, c := range r.Checks {
		if c.Required && c.Status == Missing {
			r.CanRun = false
		}
	}
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people: one line per check, status
// first, and for every check that is not ok what hull does without it.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	who := "root"
	if r.Rootless {
		who = fmt.Sprintf("uid %d, rootless", r.UID)
	}
	fmt.Fprintf(&b, "hull check: kernel %s, checked as %s\n\n", r.Kernel, who)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		mark := " "
		if c.Required {
			mark = "*"
		}
		fmt.Fprintf(&b, "%-7s %s %-*s  %s\n", c.Status, mark, width, c.Name, c.Detail)
		if c.Status != OK && c.Impact != "" {
			fmt.Fprintf(&b, "%-7s   %-*s  -> %s\n", "", width, "", c.Impact)
		}
	}
	b.WriteString("\n* needed by a default container")
	if r.Rootless {
		b.WriteString(" (hull spec --rootless)")
	} else {
		b.WriteString(" (hull spec)")
	}
	b.WriteString("\n")
	if r.CanRun {
		b.WriteString("hull can run a default container on this host.\n")
	} else {
		var miss []string
		for _, c := range r.Checks {
			if c.Required && c.Status == Missing {
				miss = append(miss, c.Name)
			}
		}
		fmt.Fprintf(&b, "hull cannot run a default container on this host: missing %s.\n", strings.Join(miss, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
