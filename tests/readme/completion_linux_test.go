package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashCompletion sources the installed bash completion and completes
// like a shell would: command names, global flags and a command's flags.
func TestBashCompletion(t *testing.T) {
	repo := repoRoot(t)
	hull := filepath.Join(repo, "hull")
	if _, err := os.Stat(hull); err != nil {
		t.Skipf("needs the built ./hull (make hull): %v", err)
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	tests := []struct {
		name  string
		words []string // the line; the last word is the one completed
		want  string
	}{
		{"command", []string{hull, "cre"}, "create"},
		{"flag", []string{hull, "kill", "--a"}, "--all"},
		{"global flag", []string{hull, "--ro"}, "--root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _hull; printf '%s\n' "${COMPREPLY[@]}"`
			args := append([]string{"-c", script, "bash", filepath.Join(repo, "contrib/completions/bash/hull")}, tc.words...)
			out, err := exec.Command("bash", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !strings.Contains("\n"+string(out), "\n"+tc.want+"\n") {
				t.Errorf("completing %q offered %q, want %q", tc.words, out, tc.want)
			}
		})
	}
}
