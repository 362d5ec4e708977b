package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// env is what every test shares: the binary under test and the cached
// busybox rootfs. It is set once by TestMain and read-only afterwards.
type env struct {
	binary string // absolute path of the runtime under test
	rootfs string // cached busybox rootfs, copied into each bundle
	isRunc bool   // the binary is runc (for documented runc deviations)
	isHull bool   // the binary is hull (for assertions on hull's exact wording)
}

var testEnv env

func TestMain(m *testing.M) {
	if report := os.Getenv(reaperEnv); report != "" {
		os.Exit(runReaper(report, os.Args[1:]))
	}
	if plan := os.Getenv(pidReuseEnv); plan != "" {
		os.Exit(runPidReuse(plan))
	}
	if code, ok := fakeCriuMain(); ok {
		os.Exit(code)
	}
	e, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		os.Exit(1)
	}
	testEnv = e
	os.Exit(m.Run())
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the test source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

func setup() (env, error) {
	if os.Geteuid() != 0 {
		return env{}, fmt.Errorf("integration tests need root (uid 0), running as uid %d", os.Geteuid())
	}
	repo, err := repoRoot()
	if err != nil {
		return env{}, err
	}
	bin := os.Getenv("HULL_BINARY")
	if bin == "" {
		bin = filepath.Join(repo, "hull")
	}
	if !filepath.IsAbs(bin) {
		if p, err := exec.LookPath(bin); err == nil {
			bin = p
		}
		if bin, err = filepath.Abs(bin); err != nil {
			return env{}, err
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return env{}, fmt.Errorf("runtime binary: %w (build it with `make hull` or set HULL_BINARY)", err)
	}
	out, err := exec.Command(filepath.Join(repo, "scripts", "mkrootfs.sh")).Output()
	if err != nil {
		return env{}, fmt.Errorf("scripts/mkrootfs.sh: %w", err)
	}
	banner, _ := exec.Command(bin, "--version").Output()
	return env{
		binary: bin,
		rootfs: strings.TrimSpace(string(out)),
		isRunc: strings.HasPrefix(string(banner), "runc "),
		isHull: strings.HasPrefix(string(banner), "hull ") || filepath.Base(bin) == "hull",
	}, nil
}

// runcDeviation skips the test when the binary under test is runc, because
// of a documented runc behaviour that hull deliberately does differently.
// It never skips for any other binary.
func runcDeviation(t *testing.T, why string) {
	t.Helper()
	if testEnv.isRunc {
		t.Skipf("runc deviation: %s", why)
	}
}

// hullOnly skips assertions on hull's exact wording when testing another
// runtime; the behavioural assertions around it still run.
func hullOnly() bool {
	return testEnv.isHull
}
