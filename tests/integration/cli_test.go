package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestList checks list in table, json and quiet form.
func TestList(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	if res := r.must("list", "-q"); strings.TrimSpace(res.stdout) != "" {
		t.Errorf("list -q on an empty root: %q", res.stdout)
	}
	created, cb := containerIn(t, r, "created")
	running, rb := containerIn(t, r, "running")
	want := map[string]struct {
		status, bundle string
		pid            int
	}{
		created: {"created", cb.dir, r.state(created).Pid},
		running: {"running", rb.dir, r.state(running).Pid},
	}

	quiet := strings.Fields(r.must("list", "-q").stdout)
	if len(quiet) != 2 || !contains(quiet, created) || !contains(quiet, running) {
		t.Errorf("list -q = %v, want %s and %s", quiet, created, running)
	}

	var list []struct {
		ID      string `json:"id"`
		Pid     int    `json:"pid"`
		Status  string `json:"status"`
		Bundle  string `json:"bundle"`
		Created string `json:"created"`
		Owner   string `json:"owner"`
	}
	res := r.must("list", "--format", "json")
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		t.Fatalf("list --format json: %v: %q", err, res.stdout)
	}
	if len(list) != 2 {
		t.Fatalf("list --format json has %d entries, want 2: %s", len(list), res.stdout)
	}
	for _, c := range list {
		w, ok := want[c.ID]
		if !ok {
			t.Errorf("unexpected container %q", c.ID)
			continue
		}
		if c.Status != w.status || c.Bundle != w.bundle || c.Pid != w.pid || c.Created == "" || c.Owner != "root" {
			t.Errorf("list entry %+v, want status %s bundle %s pid %d owner root", c, w.status, w.bundle, w.pid)
		}
	}

	lines := strings.Split(strings.TrimSpace(r.must("list").stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("list table has %d lines, want header + 2: %q", len(lines), lines)
	}
	if h := strings.Fields(lines[0]); strings.Join(h, " ") != "ID PID STATUS BUNDLE CREATED OWNER" {
		t.Errorf("list header %q", lines[0])
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 6 {
			t.Errorf("list row %q: want 6 columns", l)
			continue
		}
		w := want[f[0]]
		if f[1] != strconv.Itoa(w.pid) || f[2] != w.status || f[3] != w.bundle || f[5] != "root" {
			t.Errorf("list row %q, want pid %d status %s bundle %s", l, w.pid, w.status, w.bundle)
		}
	}
}

// TestListMissingRoot lists a root that does not exist yet: nothing, no
// error (engines list before creating anything).
func TestListMissingRoot(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.root = filepath.Join(r.root, "not-yet")
	if out := r.must("list", "-q").stdout; strings.TrimSpace(out) != "" {
		t.Errorf("list -q: %q, want nothing", out)
	}
	if out := strings.TrimSpace(r.must("list", "--format", "json").stdout); out != "null" && out != "[]" {
		t.Errorf("list --format json: %q, want [] or null", out)
	}
	lines := strings.Split(strings.TrimSpace(r.must("list").stdout), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("list: %q, want only the header", lines)
	}
}

// TestStateRootMode: the state root create makes is root's alone (0700,
// as runc's, issue 15.4): the state holds pids, cgroup paths and the
// configs with their environment. A container's directory below is 0711
// and its files 0600.
func TestStateRootMode(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.root = filepath.Join(r.root, "not-yet", "hull")
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	r.must("create", "--bundle", b.dir, id)
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{r.root, 0o700},
		{filepath.Join(r.root, id), 0o711},
		{filepath.Join(r.root, id, "state.json"), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %#o, want %#o", c.path, got, c.want)
		}
	}
}

// TestKillSignals sends signals by name, SIG-name and number; the
// container's trap records each one.
func TestKillSignals(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh(`trap 'echo usr1 >> /log' USR1; trap 'echo usr2 >> /log' USR2; trap 'echo hup >> /log' HUP
trap 'echo term >> /log; exit 0' TERM
echo ready > /ready; while :; do sleep 0.1; done`), nil)
	r.must("run", "--detach", "--bundle", b.dir, id)
	waitFor(t, "container ready", func() bool { _, err := os.Stat(b.rootfs("ready")); return err == nil })
	var want []string
	for _, tc := range []struct{ arg, line string }{
		{"USR1", "usr1"}, {"SIGUSR2", "usr2"}, {"1", "hup"}, {"10", "usr1"}, {"sigusr2", "usr2"},
	} {
		r.must("kill", id, tc.arg)
		want = append(want, tc.line)
		waitFor(t, "signal "+tc.arg, func() bool {
			data, _ := os.ReadFile(b.rootfs("log"))
			return strings.Join(strings.Fields(string(data)), " ") == strings.Join(want, " ")
		})
	}
	// The default signal is SIGTERM. (Untrapped, it would be ignored: the
	// shell is its PID namespace's init.)
	r.must("kill", id)
	r.waitStatus(id, "stopped")
	data, _ := os.ReadFile(b.rootfs("log"))
	if !strings.HasSuffix(string(data), "term\n") {
		t.Errorf("kill without a signal: trap log %q, want SIGTERM last", data)
	}
}

// TestKillAll checks kill --all in a container sharing the host PID
// namespace, where killing init alone would leave its children alive.
func TestKillAll(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh(`sleep 1000 & echo $! > /child1; sleep 1000 & echo $! > /child2; wait`), func(s *specs.Spec) {
		s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.PIDNamespace)
	})
	r.must("run", "--detach", "--bundle", b.dir, id)
	var children []int
	for _, f := range []string{"child1", "child2"} {
		waitFor(t, f, func() bool {
			data, _ := os.ReadFile(b.rootfs(f))
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err == nil {
				children = append(children, pid)
			}
			return err == nil
		})
	}
	r.must("kill", "--all", id, "KILL")
	r.waitStatus(id, "stopped")
	for _, pid := range children {
		waitFor(t, "child "+strconv.Itoa(pid)+" to die", func() bool {
			return syscall.Kill(pid, 0) != nil || isZombie(pid)
		})
	}
	r.must("delete", id)
}

// TestDeleteForce checks that delete --force kills a running container.
func TestDeleteForce(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"created", "running", "stopped"} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			id, b := containerIn(t, r, status)
			pid := r.state(id).Pid
			snap := snapshot(t, b.dir)
			r.must("delete", "--force", id)
			if res := r.call("state", id); res.code == 0 {
				t.Errorf("state after delete --force: %v", res)
			}
			waitFor(t, "init to die", func() bool { return syscall.Kill(pid, 0) != nil || isZombie(pid) })
			checkNoLeaks(t, r, id, b.dir, snap)
		})
	}
	t.Run("nonexistent", func(t *testing.T) {
		t.Parallel()
		// runc treats a forced delete of a missing container as done.
		r := newRuntime(t)
		r.must("delete", "--force", newID(t))
	})
}

// TestSpec checks that spec writes a valid default config.json.
func TestSpec(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	dir := t.TempDir()
	r.must("spec", "--bundle", dir)
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("spec: invalid JSON: %v", err)
	}
	if !strings.HasPrefix(s.Version, "1.") {
		t.Errorf("ociVersion %q", s.Version)
	}
	if s.Process == nil || strings.Join(s.Process.Args, " ") != "sh" || !s.Process.Terminal || s.Process.Cwd != "/" {
		t.Errorf("process %+v, want args [sh], terminal, cwd /", s.Process)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root %+v, want rootfs readonly", s.Root)
	}
	if s.Linux == nil {
		t.Fatal("no linux section")
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	for _, want := range []string{"pid", "network", "ipc", "uts", "mount"} {
		if !contains(ns, want) {
			t.Errorf("namespaces %v lack %s", ns, want)
		}
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	for _, want := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"} {
		if !contains(dests, want) {
			t.Errorf("mounts %v lack %s", dests, want)
		}
	}
	if !contains(s.Linux.MaskedPaths, "/proc/kcore") || !contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("maskedPaths %v / readonlyPaths %v lack the defaults", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}

	// A second spec refuses to overwrite.
	res := r.call("spec", "--bundle", dir)
	checkFailure(t, res, []string{"config.json"}, []string{"config.json"})
	after, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if string(after) != string(data) {
		t.Error("failed spec changed config.json")
	}
}

// TestLogJSON checks --log FILE --log-format json on a failing create.
func TestLogJSON(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	missing := filepath.Join(t.TempDir(), "no-such-bundle")
	res := r.callReaped("--log", logFile, "--log-format", "json", "create", "--bundle", missing, newID(t))
	if res.code == 0 {
		t.Fatalf("create with a missing bundle succeeded: %v", res)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	var errors int
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %q: %v", line, err)
			continue
		}
		for _, k := range []string{"level", "msg", "time"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("log line lacks %q: %q", k, line)
			}
		}
		if entry["level"] == "error" {
			errors++
			if msg, _ := entry["msg"].(string); !strings.Contains(msg, missing) {
				t.Errorf("error log line does not name the bundle %s: %q", missing, line)
			}
		}
	}
	if errors == 0 {
		t.Errorf("no error-level line in %q", data)
	}
}

// TestLogText checks --log FILE (default text format) on a failing create.
func TestLogText(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	logFile := filepath.Join(t.TempDir(), "log")
	missing := filepath.Join(t.TempDir(), "no-such-bundle")
	res := r.callReaped("--log", logFile, "create", "--bundle", missing, newID(t))
	checkFailure(t, res, []string{missing}, []string{missing})
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "level=error") && strings.Contains(line, "msg=") && strings.Contains(line, missing) {
			found = true
		}
	}
	if !found {
		t.Errorf("no level=error line naming %s in %q", missing, data)
	}
}
