package conformance

import (
	"strings"
	"testing"
)

// Tests of the harness itself: they need neither root nor a runtime.

func TestValidateState(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"ociVersion": "1.0.2", "id": "c", "status": "running", "pid": float64(42), "bundle": "/b",
			"annotations": map[string]any{"k": "v"}}
	}
	cases := []struct {
		name   string
		edit   func(m map[string]any)
		status string
		errs   int
	}{
		{"valid", func(m map[string]any) {}, "running", 0},
		{"missing id", func(m map[string]any) { delete(m, "id") }, "running", 1},
		{"bad version", func(m map[string]any) { m["ociVersion"] = "one" }, "running", 1},
		{"no pid while running", func(m map[string]any) { delete(m, "pid") }, "running", 1},
		{"no pid when stopped", func(m map[string]any) { delete(m, "pid"); m["status"] = "stopped" }, "stopped", 0},
		{"wrong status", func(m map[string]any) { m["status"] = "paused" }, "running", 1},
		{"negative pid", func(m map[string]any) { m["pid"] = float64(-1) }, "running", 2},
		{"wrong bundle", func(m map[string]any) { m["bundle"] = "rel" }, "running", 1},
		{"non-string annotation", func(m map[string]any) { m["annotations"] = map[string]any{"k": 1.0} }, "running", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.edit(m)
			errs := validateState(m, "c", "/b", tc.status, map[string]string{"k": "v"})
			if len(errs) != tc.errs {
				t.Errorf("got %d errors %v, want %d", len(errs), errs, tc.errs)
			}
		})
	}
}

func TestSemverLess(t *testing.T) {
	cases := []struct {
		a, b string
		less bool
	}{
		{"1.0.0", "1.0.2-dev", true},
		{"1.0.2-dev", "1.0.2", true},
		{"1.2.0", "1.10.0", true},
		{"1.3.0", "1.3.0", false},
		{"2.0.0", "1.9.9", false},
	}
	for _, tc := range cases {
		if got := semverLess(tc.a, tc.b); got != tc.less {
			t.Errorf("semverLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}

func TestMustSentences(t *testing.T) {
	doc := "# <a name=\"top\" />Top\n\nFirst sentence. The runtime MUST do a thing.\nIt continues here.\n\n" +
		"## Plain heading\n\n* **`x`** item MUST hold. Another MUST too.\n\n| opt | MUST | note |\n\n```json\n\"MUST\": 1\n```\n"
	got := MustSentences("f.md", doc)
	want := []struct{ anchor, text string }{
		{"top", "The runtime MUST do a thing."},
		{"plain-heading", "**`x`** item MUST hold."},
		{"plain-heading", "Another MUST too."},
		{"plain-heading", "| opt | MUST | note |"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sentences %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Anchor != w.anchor || !strings.HasPrefix(got[i].Text, w.text) {
			t.Errorf("sentence %d = %q in %q, want %q in %q", i, got[i].Text, got[i].Anchor, w.text, w.anchor)
		}
	}
}

func TestMatchDeviation(t *testing.T) {
	cases := []struct {
		clause, test, msg string
		want              bool
	}{
		{"RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "delete on a created container: err=<nil>", true},
		{"RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-created", "delete on a created container: err=exit status 1", false},
		{"RT-DELETE-NOT-STOPPED", "TestOperationErrors/delete-running", "err=<nil>", false},
		{"CFG-MOUNTOPT-RO", "TestAnything", "mount /sys/fs/cgroup option \"ro\": want", true},
		{"CFG-MOUNTOPT-RO", "TestAnything", "mount /mnt/x option \"ro\": want", false},
	}
	for _, tc := range cases {
		if _, got := MatchDeviation(tc.clause, tc.test, tc.msg); got != tc.want {
			t.Errorf("MatchDeviation(%s, %s, %q) = %v, want %v", tc.clause, tc.test, tc.msg, got, tc.want)
		}
	}
}

func TestClausesWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Clauses() {
		if seen[c.ID] {
			t.Errorf("duplicate clause %s", c.ID)
		}
		seen[c.ID] = true
		if c.Level != MUST && c.Level != SHOULD {
			t.Errorf("%s: level %q", c.ID, c.Level)
		}
		if c.Anchor() == "" || !strings.HasSuffix(c.File(), ".md") {
			t.Errorf("%s: section %q is not file.md#anchor", c.ID, c.Section)
		}
		if c.Text == "" && c.Via == "" {
			t.Errorf("%s: neither text nor via", c.ID)
		}
		if c.Via != "" {
			if _, ok := LookupClause(c.Via); !ok {
				t.Errorf("%s: via unknown clause %s", c.ID, c.Via)
			}
		}
	}
	for _, d := range KnownDeviations {
		if _, ok := LookupClause(d.Clause); !ok {
			t.Errorf("deviation %s names unknown clause %s", d.ID, d.Clause)
		}
	}
}
