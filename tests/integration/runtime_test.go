package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// callTimeout bounds every runtime invocation.
const callTimeout = 30 * time.Second

// rt is the runtime under test with a private --root state directory.
type rt struct {
	t    *testing.T
	bin  string
	root string

	mu  sync.Mutex
	ids map[string]bool // container ids passed to the runtime (see newID)
}

// newRuntime returns the runtime under test with a fresh private --root.
// Containers created through it are killed and force-deleted on cleanup.
func newRuntime(t *testing.T) *rt {
	t.Helper()
	root, err := os.MkdirTemp("", "hull-it-root-")
	if err != nil {
		t.Fatal(err)
	}
	r := &rt{t: t, bin: testEnv.binary, root: root, ids: map[string]bool{}}
	t.Cleanup(func() {
		r.cleanupAll()
		r.removeLeakedCgroups()
		os.RemoveAll(root)
	})
	return r
}

// result is one finished runtime invocation.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int // exit status; -1 when killed by a signal or not started
	err    error
	// leftovers are the processes a failed call under the reaper
	// (callReaped) left behind, as "PID CMDLINE".
	leftovers []string
}

func (res result) String() string {
	return fmt.Sprintf("%s: exit %d (%v)\nstdout: %q\nstderr: %q",
		strings.Join(res.args, " "), res.code, res.err, res.stdout, res.stderr)
}

// callOpts tweaks one invocation.
type callOpts struct {
	extraFiles []*os.File // become fds 3, 4, ...
	stdin      *os.File
	// shell runs the runtime through /bin/sh -c 'exec "$@"' with this
	// prefix (e.g. to set LISTEN_PID=$$).
	shellPrefix string
	// reaperReport, when set, runs the runtime under the reaper (see
	// reaperEnv), which reports leftovers of a failed call to this file.
	reaperReport string
	// dir is the runtime's working directory (default: the test's).
	dir string
}

// command builds the exec.Cmd for one invocation. Stdout and stderr go to
// files, never pipes: a container inherits them and may outlive the call.
func (r *rt) command(ctx context.Context, o callOpts, args ...string) (*exec.Cmd, *os.File, *os.File) {
	r.t.Helper()
	r.mu.Lock()
	for _, a := range args {
		if strings.HasPrefix(a, idPrefix) {
			r.ids[a] = true
		}
	}
	r.mu.Unlock()
	full := append([]string{"--root", r.root}, args...)
	var cmd *exec.Cmd
	switch {
	case o.shellPrefix != "":
		script := o.shellPrefix + ` exec "$@"`
		cmd = exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", script, "sh", r.bin}, full...)...)
	case o.reaperReport != "":
		self, err := os.Executable()
		if err != nil {
			r.t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, self, append([]string{r.bin}, full...)...)
	default:
		cmd = exec.CommandContext(ctx, r.bin, full...)
	}
	dir := r.t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		r.t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if o.stdin != nil {
		cmd.Stdin = o.stdin
	}
	cmd.ExtraFiles = o.extraFiles
	cmd.Dir = o.dir
	cmd.Env = os.Environ()
	if o.reaperReport != "" {
		cmd.Env = append(cmd.Env, reaperEnv+"="+o.reaperReport)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd, stdout, stderr
}

// callWith runs the runtime with options and waits for it (at most callTimeout).
func (r *rt) callWith(o callOpts, args ...string) result {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd, stdout, stderr := r.command(ctx, o, args...)
	err := cmd.Run()
	res := finish(args, cmd, err, stdout, stderr)
	if ctx.Err() != nil {
		res.err = fmt.Errorf("timed out after %v: %w", callTimeout, res.err)
	}
	return res
}

// callReaped runs the runtime under the reaper (see reaperEnv): when the
// call fails, res.leftovers lists every process it left behind.
func (r *rt) callReaped(args ...string) result {
	r.t.Helper()
	report := filepath.Join(r.t.TempDir(), "leftovers")
	res := r.callWith(callOpts{reaperReport: report}, args...)
	if data, err := os.ReadFile(report); err == nil && len(data) > 0 {
		res.leftovers = strings.Split(string(data), "\n")
	}
	return res
}

// call runs the runtime and waits for it.
func (r *rt) call(args ...string) result {
	r.t.Helper()
	return r.callWith(callOpts{}, args...)
}

// must runs the runtime and fails the test unless it exits 0.
func (r *rt) must(args ...string) result {
	r.t.Helper()
	res := r.call(args...)
	if res.code != 0 || res.err != nil {
		r.t.Fatalf("runtime call failed: %v", res)
	}
	return res
}

func finish(args []string, cmd *exec.Cmd, err error, stdout, stderr *os.File) result {
	res := result{args: args, err: err, code: -1}
	if cmd.ProcessState != nil {
		res.code = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.err = nil // a non-zero exit is reported in code
		if res.code < 0 {
			res.err = err
		}
	}
	stdout.Close()
	stderr.Close()
	o, _ := os.ReadFile(stdout.Name())
	e, _ := os.ReadFile(stderr.Name())
	res.stdout, res.stderr = string(o), string(e)
	return res
}

// bg is a runtime invocation running in the background.
type bg struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File
	args           []string
	cancel         context.CancelFunc
	done           chan result
}

// start launches the runtime without waiting for it; wait collects it.
func (r *rt) start(o callOpts, args ...string) *bg {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	cmd, stdout, stderr := r.command(ctx, o, args...)
	if err := cmd.Start(); err != nil {
		cancel()
		r.t.Fatalf("start %s: %v", r.bin, err)
	}
	b := &bg{cmd: cmd, stdout: stdout, stderr: stderr, args: args, cancel: cancel, done: make(chan result, 1)}
	go func() {
		err := cmd.Wait()
		b.done <- finish(args, cmd, err, stdout, stderr)
	}()
	r.t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// wait returns the background invocation's result.
func (b *bg) wait(t *testing.T) result {
	t.Helper()
	res := <-b.done
	b.done <- res // keep it for cleanup
	return res
}

// readStdout returns what the invocation has written to stdout so far.
func (b *bg) readStdout() string {
	out, _ := os.ReadFile(b.stdout.Name())
	return string(out)
}

// newID returns a container id unique to this run, so leak checks that
// search for it cannot match anything else.
func newID(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return idPrefix + hex.EncodeToString(b[:])
}

// idPrefix starts every container id the tests make.
const idPrefix = "hit-"

// removeLeakedCgroups removes (empty) cgroups a buggy runtime left behind
// for this runtime's containers, so one failing run does not litter the
// host. The leak itself is reported by the tests that check for it.
func (r *rt) removeLeakedCgroups() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.ids {
		dirs := cgroupDirs(id)
		// Deepest first: a child cgroup must go before its parent.
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		removed := 0
		for _, d := range dirs {
			if os.Remove(d) == nil {
				removed++
			}
		}
		if removed > 0 {
			r.t.Logf("cleanup: removed %d cgroups the runtime leaked for %s", removed, id)
		}
	}
}

// state is the runtime-spec state JSON.
type state struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations"`
}

// state runs `state ID` and decodes it, failing the test on error.
func (r *rt) state(id string) state {
	r.t.Helper()
	res := r.must("state", id)
	var s state
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		r.t.Fatalf("state %s: invalid JSON: %v\n%s", id, err, res.stdout)
	}
	return s
}

// waitStatus polls `state` until the container reaches want.
func (r *rt) waitStatus(id, want string) state {
	r.t.Helper()
	deadline := time.Now().Add(callTimeout)
	var s state
	for time.Now().Before(deadline) {
		s = r.state(id)
		if s.Status == want {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("container %s: status %q, want %q", id, s.Status, want)
	return s
}

// cleanupAll kills and force-deletes every container left in the root.
func (r *rt) cleanupAll() {
	entries, _ := os.ReadDir(r.root)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		r.quiet("kill", "--all", id, "KILL")
		r.quiet("kill", id, "KILL")
		r.quiet("delete", "--force", id)
	}
}

// quiet runs the runtime ignoring the result (for cleanup).
func (r *rt) quiet(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"--root", r.root}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	_ = cmd.Run()
}
