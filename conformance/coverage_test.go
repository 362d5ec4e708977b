package conformance

//go:generate go test -run ^TestCoverage$ -update .

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var flagUpdate = flag.Bool("update", false, "rewrite COVERAGE.md and DEVIATIONS.md")

// usedClauseIDs scans the test and checker sources for clause IDs in
// string literals: a clause counts as covered when something asserts it.
func usedClauseIDs(dir string) (map[string]bool, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	more, _ := filepath.Glob(filepath.Join(dir, "checker", "*.go"))
	files = append(files, more...)
	lit := regexp.MustCompile(`"((?:RT|RL|CFG|CL|FEAT)-[A-Z0-9-]*[A-Z0-9])"`)
	used := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		src := string(b)
		for _, m := range lit.FindAllStringSubmatch(src, -1) {
			used[m[1]] = true
		}
		// TestMountOptions asserts every MUST option through
		// MountOptionClause; the checker builds the same IDs.
		if strings.Contains(src, "MountOptionClause(o)") {
			for _, o := range mustMountOptions {
				used[MountOptionClause(o)] = true
			}
		}
	}
	return used, nil
}

func specDir(t *testing.T) string {
	if d := os.Getenv("RUNTIME_SPEC_DIR"); d != "" {
		return d
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	if err != nil {
		t.Skipf("runtime-spec sources not found (go list: %v); set RUNTIME_SPEC_DIR", err)
	}
	return strings.TrimSpace(string(out))
}

func TestCoverage(t *testing.T) {
	if _, err := os.Stat("clauses.go"); err != nil {
		t.Skip("not run from the conformance source directory")
	}
	used, err := usedClauseIDs(".")
	if err != nil {
		t.Fatal(err)
	}
	rows, unmatched, err := BuildCoverage(specDir(t), used)
	if err != nil {
		t.Fatal(err)
	}
	if len(unmatched) > 0 {
		t.Errorf("clauses whose Text matches no MUST sentence of their section: %v", unmatched)
	}
	for id := range used {
		if _, ok := LookupClause(id); !ok {
			t.Errorf("tests use clause %s, which clauses.go does not define", id)
		}
	}
	for name, got := range map[string]string{"COVERAGE.md": RenderCoverage(rows), "DEVIATIONS.md": RenderDeviations()} {
		if *flagUpdate {
			if err := os.WriteFile(name, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(name)
		if err != nil || string(want) != got {
			t.Errorf("%s is missing or stale: run `go generate` in conformance/", name)
		}
	}
}
