package cgroups

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testPrefix starts the name of every cgroup the tests create, so that the
// leak check can find any left behind.
var testPrefix = fmt.Sprintf("hull-cgtest-%d-", os.Getpid())

// hogEnv makes the test binary a memory hog: it touches memory until the
// OOM killer ends it.
const hogEnv = "HULL_CGROUPS_TEST_HOG"

// rootlessEnv makes the test binary run rootlessScenario (as an
// unprivileged user) and exit.
const rootlessEnv = "HULL_CGROUPS_TEST_ROOTLESS"

func TestMain(m *testing.M) {
	if os.Getenv(hogEnv) == "1" {
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = byte(i)
			}
			keep = append(keep, b)
		}
	}
	if os.Getenv(rootlessEnv) == "1" {
		os.Exit(rootlessScenario())
	}
	code := m.Run()
	if leaks := findTestCgroups(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "leak check: cgroups left behind: %q\n", leaks)
		code = 1
	}
	os.Exit(code)
}

// findTestCgroups walks the cgroup mounts for directories named with
// testPrefix.
func findTestCgroups() []string {
	var found []string
	_ = filepath.WalkDir(DefaultRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), testPrefix) {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// needV1Root skips unless the test runs as root on a cgroup v1 host.
func needV1Root(t *testing.T) Mode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	if mode == Unified {
		t.Skip("host is cgroup v2 only: no v1 hierarchies")
	}
	return mode
}

// startSleep starts a child that sleeps until the test ends.
func startSleep(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if len(args) == 0 {
		args = []string{"sleep", "100"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// killWait kills the child and reaps it.
func killWait(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// readTrim reads a file of the test, failing the test if it cannot.
func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitFor polls cond for up to 5 seconds.
func waitFor(cond func() bool) bool {
	for i := 0; i < 500; i++ {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
