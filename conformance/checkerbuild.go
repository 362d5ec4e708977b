package conformance

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// checkerSource is the in-container checker, embedded so the compiled test
// binary can rebuild it wherever it runs (it needs only a Go toolchain).
//
//go:embed checker/*.go
var checkerSource embed.FS

// BuildChecker compiles the in-container checker as a static binary
// (CGO_ENABLED=0) into dir and returns its path.
func BuildChecker(goTool, dir string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", fmt.Errorf("mkdir checker source: %w", err)
	}
	ents, err := checkerSource.ReadDir("checker")
	if err != nil {
		return "", fmt.Errorf("read embedded checker: %w", err)
	}
	for _, e := range ents {
		b, err := checkerSource.ReadFile("checker/" + e.Name())
		if err != nil {
			return "", fmt.Errorf("read embedded checker %s: %w", e.Name(), err)
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), b, 0o644); err != nil {
			return "", fmt.Errorf("write checker source %s: %w", e.Name(), err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module checker\n\ngo 1.22\n"), 0o644); err != nil {
		return "", fmt.Errorf("write checker go.mod: %w", err)
	}
	out := filepath.Join(dir, "checker")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build checker: %w: %s", err, b)
	}
	return out, nil
}
