//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var runtimeFlag = flag.String("runtime", "", "runtime binary under test (default: $HULL_BINARY, else the repo's ./hull)")

// env is what every scenario shares. It is built once by TestMain and
// read-only afterwards.
type env struct {
	runtime string // absolute path of the runtime binary under test
	name    string // its base name ("hull", "runc"): Podman keys runtime_supports_json on it
	repo    string // repository root
	work    string // private temp dir holding every engine's state
	rootfs  string // busybox rootfs (scripts/mkrootfs.sh)
	layer   string // tar of rootfs, the single image layer

	podman     *podman     // nil with podmanErr set if Podman could not be set up
	podmanErr  error       // why Podman is unavailable
	ctrd       *containerd // nil with ctrdErr set if containerd could not be set up
	ctrdErr    error       // why containerd is unavailable
	setupNotes []string
}

var testEnv *env

func TestMain(m *testing.M) {
	flag.Parse()
	e, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		if e != nil {
			e.teardown()
		}
		os.Exit(1)
	}
	testEnv = e
	code := m.Run()
	if leaks := e.teardown(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: left behind after teardown:\n  %s\n", strings.Join(leaks, "\n  "))
		code = 1
	}
	os.Exit(code)
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the test source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

func setup() (*env, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("e2e tests need root (uid 0), running as uid %d", os.Geteuid())
	}
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	bin := *runtimeFlag
	if bin == "" {
		bin = os.Getenv("HULL_BINARY")
	}
	if bin == "" {
		bin = filepath.Join(repo, "hull")
	}
	if !filepath.IsAbs(bin) {
		if p, err := exec.LookPath(bin); err == nil && strings.Contains(bin, "/") == false {
			bin = p
		}
		if bin, err = filepath.Abs(bin); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("runtime binary: %w (build it with `make hull`, or pass -runtime)", err)
	}
	work := os.Getenv("E2E_WORKDIR")
	if work == "" {
		if work, err = os.MkdirTemp("", "hull-e2e-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	// overlayfs refuses an upper dir that is not searchable by the mounter's
	// user namespace's mapped ids; keep the tree world-searchable.
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, err
	}
	e := &env{runtime: bin, name: filepath.Base(bin), repo: repo, work: work}
	out, err := exec.Command(filepath.Join(repo, "scripts", "mkrootfs.sh")).Output()
	if err != nil {
		return e, fmt.Errorf("scripts/mkrootfs.sh: %w", err)
	}
	e.rootfs = strings.TrimSpace(string(out))
	e.layer = filepath.Join(work, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", e.rootfs, "--numeric-owner", "-cf", e.layer, ".").CombinedOutput(); err != nil {
		return e, fmt.Errorf("tar of %s: %w: %s", e.rootfs, err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: runtime %s, work dir %s\n", bin, work)
	e.podman, e.podmanErr = newPodman(e)
	if e.podmanErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: podman setup: %v\n", e.podmanErr)
	}
	e.ctrd, e.ctrdErr = newContainerd(e)
	if e.ctrdErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: containerd setup: %v\n", e.ctrdErr)
	}
	return e, nil
}

// teardown stops every engine, kills every process still running from the
// work dir (by PID), unmounts what is left under it and removes it. It
// returns what it had to clean up by force or could not clean up: a correct
// engine and runtime leave nothing for it.
func (e *env) teardown() []string {
	var leaks []string
	if e.podman != nil {
		leaks = append(leaks, e.podman.teardown()...)
	}
	if e.ctrd != nil {
		leaks = append(leaks, e.ctrd.teardown()...)
	}
	for _, pid := range pidsMentioning(e.work) {
		leaks = append(leaks, fmt.Sprintf("process %d (%s) still running: killed", pid, cmdline(pid)))
		killPID(pid)
	}
	for _, m := range mountsUnder(e.work) {
		leaks = append(leaks, "mount "+m+": unmounted")
	}
	unmountUnder(e.work)
	if os.Getenv("E2E_KEEP") == "" {
		if err := os.RemoveAll(e.work); err != nil {
			leaks = append(leaks, fmt.Sprintf("remove %s: %v", e.work, err))
		}
	} else {
		fmt.Fprintf(os.Stderr, "e2e: E2E_KEEP set, keeping %s\n", e.work)
	}
	return leaks
}

// result is one finished command.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int   // exit status; -1 if it did not exit normally
	err    error // start failure or timeout
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\nexit %d err %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.err, r.stdout, r.stderr)
}

// run runs cmd with stdin (may be nil) and a timeout, collecting its output.
// The whole process group is killed at the timeout.
func run(timeout time.Duration, stdin []byte, extraEnv []string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	setPgid(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %s", timeout)
	} else if err != nil && !errors.As(err, &ee) {
		r.err = err
	}
	return r
}

// runExtraFiles is run with files given to the command as fds 3, 4, ...
func runExtraFiles(timeout time.Duration, extraEnv []string, files []*os.File, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.ExtraFiles = files
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	setPgid(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %s", timeout)
	} else if err != nil && !errors.As(err, &ee) {
		r.err = err
	}
	return r
}

// expect fails t unless r exited with code; it returns r's trimmed stdout.
func expect(t *testing.T, r result, code int) string {
	t.Helper()
	if r.err != nil || r.code != code {
		t.Fatalf("want exit %d:\n%s", code, r)
	}
	return strings.TrimSpace(r.stdout)
}

// expectOut fails t unless r exited 0 and its trimmed stdout is want.
func expectOut(t *testing.T, r result, want string) {
	t.Helper()
	if got := expect(t, r, 0); got != want {
		t.Fatalf("stdout %q, want %q\n%s", got, want, r)
	}
}

// eventually polls f until it returns nil or timeout passes.
func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sc is one running scenario: a test with a deadline that bounds every
// command it runs, so no scenario can outlive its timeout.
type sc struct {
	*testing.T
	deadline time.Time
}

// scenario wraps f as a subtest body with a deadline d from its start.
func scenario(d time.Duration, f func(s *sc)) func(t *testing.T) {
	return func(t *testing.T) {
		f(&sc{T: t, deadline: time.Now().Add(d)})
	}
}

// budget is the time left for one command: at most d, never past the
// scenario's deadline (and at least a second, so the command can report).
func (s *sc) budget(d time.Duration) time.Duration {
	left := time.Until(s.deadline)
	if left < time.Second {
		left = time.Second
	}
	if left < d {
		return left
	}
	return d
}

// cgroupFile reads a v1 (or v2) cgroup file of pid from the host: the
// controller's hierarchy joined with the pid's path in it.
func cgroupFile(pid int, controller, file string) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				p := filepath.Join("/sys/fs/cgroup", controller, parts[2], file)
				b, err := os.ReadFile(p)
				if err != nil {
					return "", err
				}
				return strings.TrimSpace(string(b)), nil
			}
		}
	}
	return "", fmt.Errorf("pid %d is in no %s cgroup:\n%s", pid, controller, data)
}
