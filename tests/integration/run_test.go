package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunExitCode checks that foreground `run` returns the container's exit
// status and passes its stdout through.
func TestRunExitCode(t *testing.T) {
	t.Parallel()
	for _, code := range []int{0, 1, 3, 42, 255} {
		r := newRuntime(t)
		id := newID(t)
		b := newBundle(t, nil, nil)
		b.spec.Process.Args = []string{"/bin/sh", "-c", "echo out-$0; exit $0", itoa(code)}
		b.write(t)
		snap := snapshot(t, b.dir)
		res := r.call("run", "--bundle", b.dir, id)
		if res.code != code {
			t.Errorf("exit %d: run exited %d: %v", code, res.code, res)
		}
		if want := "out-" + itoa(code); !strings.Contains(res.stdout, want) {
			t.Errorf("exit %d: stdout %q, want %q", code, res.stdout, want)
		}
		// Without --keep the container is gone once run returns.
		if st := r.call("state", id); st.code == 0 {
			t.Errorf("exit %d: container still exists after run: %v", code, st)
		}
		checkNoLeaks(t, r, id, b.dir, snap)
	}
}

// TestRunSignalForwarding sends signals to a foreground `run` and checks that
// the container's init receives them (it traps them and exits with a code).
func TestRunSignalForwarding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sig  syscall.Signal
		trap string
		code int
	}{
		{syscall.SIGTERM, "TERM", 42},
		{syscall.SIGUSR1, "USR1", 43},
		{syscall.SIGHUP, "HUP", 44},
	}
	for _, tc := range tests {
		t.Run(tc.trap, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id := newID(t)
			script := "trap 'echo got-" + tc.trap + "; exit " + itoa(tc.code) + "' " + tc.trap +
				"; echo ready; while :; do sleep 0.1; done"
			b := newBundle(t, sh(script), nil)
			run := r.start(callOpts{}, "run", "--bundle", b.dir, id)
			waitFor(t, "container ready", func() bool { return strings.Contains(run.readStdout(), "ready") })
			if err := run.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			res := run.wait(t)
			if res.code != tc.code {
				t.Fatalf("run exited %d, want %d: %v", res.code, tc.code, res)
			}
			if !strings.Contains(res.stdout, "got-"+tc.trap) {
				t.Errorf("stdout %q, want got-%s", res.stdout, tc.trap)
			}
		})
	}
}

// TestRunDetach checks that `run --detach` returns at once with the
// container running, and --pid-file names its init.
func TestRunDetach(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	pidFile := t.TempDir() + "/pid"
	r.must("run", "--detach", "--pid-file", pidFile, "--bundle", b.dir, id)
	st := r.state(id)
	checkState(t, st, id, b.dir, "running")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if got := strings.TrimSpace(string(data)); got != itoa(st.Pid) {
		t.Errorf("pid file %q, state pid %d", got, st.Pid)
	}
	r.must("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	r.must("delete", id)
}

// TestRunKeep checks that `run --keep` leaves the stopped container behind.
func TestRunKeep(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh("exit 7"), nil)
	res := r.call("run", "--keep", "--bundle", b.dir, id)
	if res.code != 7 {
		t.Fatalf("run --keep: %v, want exit 7", res)
	}
	st := r.state(id)
	checkState(t, st, id, b.dir, "stopped")
	r.must("delete", id)
}

// TestCreatePidFile checks create --pid-file against the state pid, with
// an absolute path and one relative to the working directory.
func TestCreatePidFile(t *testing.T) {
	t.Parallel()
	for _, relative := range []bool{false, true} {
		t.Run(map[bool]string{false: "absolute", true: "relative"}[relative], func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, []string{"true"}, nil)
			cwd := t.TempDir()
			pidFile, arg := filepath.Join(cwd, "pid"), filepath.Join(cwd, "pid")
			if relative {
				arg = "pid"
			}
			res := r.callWith(callOpts{dir: cwd}, "create", "--pid-file", arg, "--bundle", b.dir, id)
			if res.code != 0 {
				t.Fatalf("create: %v", res)
			}
			st := r.state(id)
			data, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			if got := strings.TrimSpace(string(data)); got != itoa(st.Pid) {
				t.Errorf("pid file %q, state pid %d", got, st.Pid)
			}
		})
	}
}

// waitFor polls cond until it holds or callTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(callTimeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestRunStdin checks that foreground run hands its stdin to the container.
func TestRunStdin(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	in := filepath.Join(t.TempDir(), "stdin")
	writeHost(t, in, "line one\nline two\n")
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := newBundle(t, sh(`while read l; do echo "got $l"; done`), nil)
	res := r.callWith(callOpts{stdin: f}, "run", "--bundle", b.dir, newID(t))
	if res.code != 0 || res.stdout != "got line one\ngot line two\n" {
		t.Errorf("run with stdin: %v", res)
	}
}

// TestBundleDefaultsToCwd checks that create without --bundle uses the
// working directory, and that state reports it as an absolute path.
func TestBundleDefaultsToCwd(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"true"}, nil)
	res := r.callWith(callOpts{dir: b.dir}, "create", id)
	if res.code != 0 {
		t.Fatalf("create in the bundle dir: %v", res)
	}
	checkState(t, r.state(id), id, b.dir, "created")
}
