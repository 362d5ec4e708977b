package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// running creates and starts a long-running container for exec tests.
func running(t *testing.T, r *rt) (string, *bundle) {
	t.Helper()
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	r.must("run", "--detach", "--bundle", b.dir, id)
	return id, b
}

// TestExec covers `exec` as engines use it: output, exit status, the
// flags that change the process, and the states it must refuse.
func TestExec(t *testing.T) {
	r := newRuntime(t)
	id, b := running(t, r)
	tests := []struct {
		name     string
		args     []string // flags, then "--", then the command
		wantCode int
		want     []string // lines the output must contain
	}{
		{"output and pid namespace", []string{"--", "sh", "-c", "echo hi; cat /proc/1/cmdline | tr '\\0' ' '"}, 0, []string{"hi", "sleep 1000"}},
		{"exit status", []string{"--", "sh", "-c", "exit 7"}, 7, nil},
		{"env", []string{"--env", "FOO=bar", "--", "sh", "-c", "echo $FOO"}, 0, []string{"bar"}},
		{"cwd", []string{"--cwd", "/tmp", "--", "pwd"}, 0, []string{"/tmp"}},
		{"user", []string{"--user", "1000:1000", "--", "id"}, 0, []string{"uid=1000"}},
		{"additional gids", []string{"--user", "1000:1000", "--additional-gids", "44", "--", "id", "-G"}, 0, []string{"1000 44"}},
		{"no new privs", []string{"--no-new-privs", "--", "sh", "-c", "grep NoNewPrivs /proc/self/status"}, 0, []string{"NoNewPrivs:\t1"}},
		{"missing executable", []string{"--", "/no/such/binary"}, 255, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flags, cmd := tc.args, []string(nil)
			for i, a := range tc.args {
				if a == "--" {
					flags, cmd = tc.args[:i], tc.args[i+1:]
					break
				}
			}
			args := append(append(append([]string{"exec"}, flags...), id), cmd...)
			res := r.call(args...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %v", res.code, tc.wantCode, res)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("output %q lacks %q", res.stdout, w)
				}
			}
		})
	}

	// CVE-2022-29162: --cap adds to bounding/effective/permitted, never
	// to inheritable (nor ambient).
	t.Run("cap is never inheritable", func(t *testing.T) {
		res := r.must("exec", "--cap", "CAP_NET_ADMIN", id, "sh", "-c", "grep -E 'Cap(Inh|Eff|Amb)' /proc/self/status")
		fields := map[string]uint64{}
		for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			k, v, _ := strings.Cut(l, ":")
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("parse %q: %v", l, err)
			}
			fields[k] = n
		}
		const netAdmin = 1 << 12
		if fields["CapEff"]&netAdmin == 0 {
			t.Errorf("CAP_NET_ADMIN not effective: %#x", fields["CapEff"])
		}
		if fields["CapInh"] != 0 || fields["CapAmb"] != 0 {
			t.Errorf("inheritable %#x ambient %#x, want 0", fields["CapInh"], fields["CapAmb"])
		}
	})

	t.Run("process file", func(t *testing.T) {
		p := b.spec.Process
		proc := *p
		proc.Args = []string{"sh", "-c", "echo from-file $X"}
		proc.Env = append(append([]string(nil), p.Env...), "X=1")
		data, err := json.Marshal(&proc)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "process.json")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res := r.must("exec", "--process", f, id)
		if !strings.Contains(res.stdout, "from-file 1") {
			t.Errorf("output %q", res.stdout)
		}
	})

	t.Run("detach with pid file", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		r.must("exec", "--detach", "--pid-file", pidFile, id, "sleep", "30")
		data, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("pid file %q: %v", data, err)
		}
		// The process runs in the container: ps --format json lists it.
		res := r.must("ps", "--format", "json", id)
		var pids []int
		if err := json.Unmarshal([]byte(res.stdout), &pids); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pids {
			found = found || p == pid
		}
		if !found {
			t.Errorf("exec'd pid %d not among the container's %v", pid, pids)
		}
	})

	t.Run("paused refused unless ignore-paused", func(t *testing.T) {
		r.must("pause", id)
		defer r.call("resume", id)
		res := r.call("exec", id, "true")
		if res.code == 0 {
			t.Fatal("exec into a paused container succeeded")
		}
		if !strings.Contains(res.stderr, "paused") {
			t.Errorf("stderr %q does not say paused", res.stderr)
		}
		// With --ignore-paused the process joins (and stays frozen until resume).
		bgRes := r.start(callOpts{}, "exec", "--ignore-paused", id, "true")
		time.Sleep(200 * time.Millisecond)
		r.must("resume", id)
		if res := bgRes.wait(t); res.code != 0 {
			t.Errorf("exec --ignore-paused: %v", res)
		}
	})

	t.Run("stopped refused", func(t *testing.T) {
		id2 := newID(t)
		b2 := newBundle(t, []string{"true"}, nil)
		r.must("run", "--detach", "--bundle", b2.dir, id2)
		r.waitStatus(id2, "stopped")
		res := r.call("exec", id2, "true")
		if res.code == 0 {
			t.Fatal("exec into a stopped container succeeded")
		}
		if !strings.Contains(res.stderr, "stopped") {
			t.Errorf("stderr %q does not say stopped", res.stderr)
		}
		r.must("delete", id2)
	})

	_ = specs.Version
}

// TestKillAllStopped: `kill --all ID 9` on a stopped container signals
// what is left in its cgroup and succeeds (runc does; containerd's shim
// sends it after init exits), while plain kill refuses.
func TestKillAllStopped(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"true"}, nil)
	r.must("run", "--detach", "--bundle", b.dir, id)
	r.waitStatus(id, "stopped")
	if res := r.call("kill", "--all", id, "9"); res.code != 0 {
		t.Errorf("kill --all on a stopped container: %v", res)
	}
	if res := r.call("kill", id, "9"); res.code == 0 {
		t.Error("kill on a stopped container succeeded")
	}
	r.must("delete", id)
}

// TestExecSignalForwarding sends signals to a foreground `exec` and checks
// that the exec'd process receives them (it traps them and exits with a
// code), as TestRunSignalForwarding does for run.
func TestExecSignalForwarding(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	r.must("run", "--detach", "--bundle", b.dir, id)
	t.Cleanup(func() { r.call("delete", "--force", id) })
	tests := []struct {
		sig  syscall.Signal
		trap string
		code int
	}{
		{syscall.SIGTERM, "TERM", 42},
		{syscall.SIGINT, "INT", 43},
		{syscall.SIGUSR2, "USR2", 44},
	}
	for _, tc := range tests {
		script := "trap 'echo got-" + tc.trap + "; exit " + itoa(tc.code) + "' " + tc.trap +
			"; echo ready; while :; do sleep 0.1; done"
		ex := r.start(callOpts{}, "exec", id, "sh", "-c", script)
		waitFor(t, "exec'd process ready", func() bool { return strings.Contains(ex.readStdout(), "ready") })
		if err := ex.cmd.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		res := ex.wait(t)
		if res.code != tc.code || !strings.Contains(res.stdout, "got-"+tc.trap) {
			t.Errorf("exec after SIG%s: exit %d, stdout %q; want %d, got-%s", tc.trap, res.code, res.stdout, tc.code, tc.trap)
		}
	}
}
