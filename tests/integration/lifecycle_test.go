package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestLifecycle walks create -> start -> kill -> delete, checking the
// state JSON at every step.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.hull.test": "lifecycle", "k": "v"}
	})

	r.must("create", "--bundle", b.dir, id)
	st := r.state(id)
	checkState(t, st, id, b.dir, "created")
	if st.Pid <= 0 {
		t.Fatalf("created: pid %d, want > 0", st.Pid)
	}
	if st.Annotations["org.hull.test"] != "lifecycle" || st.Annotations["k"] != "v" {
		t.Errorf("annotations = %v, want the config's", st.Annotations)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); err != nil {
		t.Errorf("state dir: %v", err)
	}
	// The init process exists but has not exec'd sleep yet.
	if cmd := procCmdline(st.Pid); strings.HasPrefix(cmd, "sleep") {
		t.Errorf("created container already runs its process: %q", cmd)
	}

	r.must("start", id)
	st = r.waitStatus(id, "running")
	checkState(t, st, id, b.dir, "running")
	// "running" may be reported just before the execve completes.
	waitFor(t, "the init to exec sleep", func() bool { return procCmdline(st.Pid) == "sleep 1000" })
	pid := st.Pid

	snap := snapshot(t, b.dir)
	r.must("kill", id, "KILL")
	st = r.waitStatus(id, "stopped")
	checkState(t, st, id, b.dir, "stopped")
	if err := syscall.Kill(pid, 0); err == nil {
		if !isZombie(pid) {
			t.Errorf("stopped container's init %d still alive", pid)
		}
	}

	r.must("delete", id)
	if res := r.call("state", id); res.code == 0 {
		t.Errorf("state after delete succeeded: %v", res)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state dir after delete: %v, want not exist", err)
	}
	checkNoLeaks(t, r, id, b.dir, snap)
}

func checkState(t *testing.T, st state, id, bundle, status string) {
	t.Helper()
	if st.ID != id {
		t.Errorf("state id %q, want %q", st.ID, id)
	}
	if st.Status != status {
		t.Errorf("state status %q, want %q", st.Status, status)
	}
	if !strings.HasPrefix(st.OCIVersion, "1.") {
		t.Errorf("state ociVersion %q, want 1.x", st.OCIVersion)
	}
	if st.Bundle != bundle {
		t.Errorf("state bundle %q, want %q", st.Bundle, bundle)
	}
}

// procCmdline returns /proc/PID/cmdline with NULs as spaces.
func procCmdline(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

// isZombie reports whether pid is a zombie (exited, not yet reaped).
func isZombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestStatusDerived kills a container's init behind the runtime's back:
// the status must come from the process, not from the state file.
func TestStatusDerived(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"created", "running"} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id, b := containerIn(t, r, status)
			pid := r.state(id).Pid
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			st := r.waitStatus(id, "stopped")
			checkState(t, st, id, b.dir, "stopped")
			if res := r.call("start", id); res.code == 0 {
				t.Errorf("start of a container whose init died succeeded: %v", res)
			}
			snap := snapshot(t, b.dir)
			r.must("delete", id)
			checkNoLeaks(t, r, id, b.dir, snap)
		})
	}
}

// TestConcurrentCreate races several creates of one id: exactly one wins,
// and the losers leave nothing behind.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	runcDeviation(t, "runc 1.1 takes no per-id lock across processes: a losing create's cleanup can remove the winner's state dir, so sometimes none wins (see runc#886 review: multiple processes handling one container are unsupported)")
	const n = 4
	r := newRuntime(t)
	id := newID(t)
	bundles := make([]*bundle, n)
	snaps := make([]hostSnapshot, n)
	for i := range bundles {
		bundles[i] = newBundle(t, []string{"sleep", "1000"}, nil)
		snaps[i] = snapshot(t, bundles[i].dir)
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range bundles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.callReaped("create", "--bundle", bundles[i].dir, id)
		}()
	}
	wg.Wait()
	winner := -1
	for i, res := range results {
		if res.code == 0 {
			if winner >= 0 {
				t.Errorf("two concurrent creates of %s succeeded", id)
			}
			winner = i
			continue
		}
		checkFailure(t, res, nil, []string{id})
		checkNoLeaks(t, r, "", bundles[i].dir, snaps[i])
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent creates of %s succeeded: %v", n, id, results)
	}
	checkState(t, r.state(id), id, bundles[winner].dir, "created")
}

// TestKillCreated kills a container that was never started (engines do
// this to abort a create): it stops without running its process.
func TestKillCreated(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh(`echo ran > /ran`), nil)
	r.must("create", "--bundle", b.dir, id)
	r.must("kill", id, "KILL")
	r.waitStatus(id, "stopped")
	snap := snapshot(t, b.dir)
	r.must("delete", id)
	if _, err := os.Stat(b.rootfs("ran")); err == nil {
		t.Error("the process of a killed created container ran")
	}
	checkNoLeaks(t, r, id, b.dir, snap)
}

// TestSessionKeyring checks that the container gets a new session keyring
// named after it, unless --no-new-keyring.
func TestSessionKeyring(t *testing.T) {
	t.Parallel()
	for _, noNew := range []bool{false, true} {
		name := "new keyring"
		if noNew {
			name = "no-new-keyring"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, sh(`grep -c "_ses.$0:" /proc/keys; true`), func(s *specs.Spec) {
				s.Linux.MaskedPaths = nil
			})
			b.spec.Process.Args = append(b.spec.Process.Args, id)
			b.write(t)
			args := []string{"run", "--bundle", b.dir, id}
			if noNew {
				args = []string{"run", "--no-new-keyring", "--bundle", b.dir, id}
			}
			res := r.call(args...)
			want := "1\n"
			if noNew {
				want = "0\n"
			}
			if res.code != 0 || res.stdout != want {
				t.Errorf("keyrings named _ses.%s: %v, want %q", id, res, want)
			}
		})
	}
}

// TestUnreadableConfig: when a container's stored config cannot be read,
// exec refuses (with nothing to join it would run on the host) and so do
// update and, when the container has poststart hooks, start; state and
// delete still work, delete saying that the poststop hooks were not run.
// The state directory's layout is hull's own.
func TestUnreadableConfig(t *testing.T) {
	if !testEnv.isHull {
		t.Skip("the state directory layout (config.json beside state.json) is hull's")
	}
	t.Parallel()
	r := newRuntime(t)
	for _, started := range []bool{false, true} {
		id := newID(t)
		// With hooks to run after create, start and delete need the config.
		b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{
				Poststart: []specs.Hook{{Path: "/bin/true"}},
				Poststop:  []specs.Hook{{Path: "/bin/true"}},
			}
		})
		r.must("create", "--bundle", b.dir, id)
		want := "created"
		if started {
			r.must("start", id)
			want = "running"
		}
		if err := os.Remove(filepath.Join(r.root, id, "config.json")); err != nil {
			t.Fatal(err)
		}
		if st := r.state(id); st.Status != want {
			t.Errorf("state without config.json: %s, want %s", st.Status, want)
		}
		for _, args := range [][]string{{"exec", id, "true"}, {"start", id}, {"update", "--pids-limit", "10", id}} {
			if args[0] == "start" && started {
				continue
			}
			res := r.call(args...)
			if res.code == 0 {
				t.Errorf("%s without config.json succeeded", args[0])
			} else if !strings.Contains(res.stderr, "config of container") {
				t.Errorf("%s without config.json: stderr %q does not name the config", args[0], res.stderr)
			}
		}
		res := r.call("delete", "--force", id)
		if res.code != 0 {
			t.Errorf("delete --force without config.json: %v", res)
		}
		if !strings.Contains(res.stderr, "poststop hooks not run") {
			t.Errorf("delete without config.json: stderr %q does not warn that poststop hooks were not run", res.stderr)
		}
		if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
			t.Errorf("state dir left after delete: %v", err)
		}
	}
}

// TestPoststartHookExecs: a poststart hook may exec into its own
// container (start must not hold anything the exec waits for).
func TestPoststartHookExecs(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	timeout := 20
	b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{
			Path:    testEnv.binary,
			Args:    []string{"runtime", "--root", r.root, "exec", id, "true"},
			Timeout: &timeout,
		}}}
	})
	r.must("create", "--bundle", b.dir, id)
	if res := r.call("start", id); res.code != 0 {
		t.Errorf("start with a poststart hook that execs into the container: %v", res)
	}
	r.call("delete", "--force", id)
}
