package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkFailure asserts a failed runtime call: non-zero exit, a message on
// stderr containing at least one of wantAny (case-insensitive). On hull it
// also wants the message on one line naming every string in hullWant.
func checkFailure(t *testing.T, res result, wantAny, hullWant []string) {
	t.Helper()
	if res.err != nil {
		t.Fatalf("runtime call did not finish: %v", res)
	}
	if res.code == 0 {
		t.Fatalf("want failure, got exit 0: %v", res)
	}
	msg := strings.TrimSpace(res.stderr)
	if msg == "" {
		t.Fatalf("failure without a message on stderr: %v", res)
	}
	for _, l := range res.leftovers {
		t.Errorf("leak: the failed call left process %s", l)
	}
	if len(wantAny) > 0 {
		found := false
		for _, w := range wantAny {
			if strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
				found = true
			}
		}
		if !found {
			t.Errorf("stderr names none of %q: %s", wantAny, msg)
		}
	}
	if !hullOnly() {
		return
	}
	if n := len(strings.Split(msg, "\n")); n != 1 {
		t.Errorf("hull: error message has %d lines, want 1: %q", n, msg)
	}
	for _, w := range hullWant {
		if !strings.Contains(msg, w) {
			t.Errorf("hull: error message does not name %q: %q", w, msg)
		}
	}
}

// createErrCase is a create (or run) that must fail and leave nothing.
type createErrCase struct {
	name     string
	id       *string                   // nil: a fresh valid id
	edit     func(*specs.Spec)         // config change
	prep     func(*testing.T, *bundle) // bundle change after config.json is written
	cmd      string                    // "create" (default) or "run"
	wantAny  []string                  // stderr names one of these (any runtime)
	hullWant []string                  // hull's one-line message names all of these
	// runcDeviation, when set, skips the case on runc only, naming why.
	runcDeviation string
	// after runs extra checks once the call has failed.
	after func(*testing.T, *bundle)
}

func strp(s string) *string { return &s }

func failingHook(script string, timeout *int) []specs.Hook {
	return []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Timeout: timeout}}
}

// TestCreateErrors is the error catalogue for create/run: each case must
// fail with a message and leave no state dir, mount, process or cgroup.
func TestCreateErrors(t *testing.T) {
	one := 1
	cases := []createErrCase{
		{
			name:     "malformed json",
			prep:     func(t *testing.T, b *bundle) { writeHost(t, filepath.Join(b.dir, "config.json"), "{\"ociVersion\": ") },
			wantAny:  []string{"json", "unexpected end", "eof"},
			hullWant: []string{"config.json"},
		},
		{
			name:     "not an object",
			prep:     func(t *testing.T, b *bundle) { writeHost(t, filepath.Join(b.dir, "config.json"), "[1, 2]") },
			wantAny:  []string{"json", "unmarshal", "array"},
			hullWant: []string{"config.json"},
		},
		{
			name:     "missing config.json",
			prep:     func(t *testing.T, b *bundle) { rmHost(t, filepath.Join(b.dir, "config.json")) },
			wantAny:  []string{"config.json"},
			hullWant: []string{"config.json"},
		},
		{
			name:     "missing rootfs",
			prep:     func(t *testing.T, b *bundle) { rmHost(t, filepath.Join(b.dir, "rootfs")) },
			wantAny:  []string{"rootfs", "no such file"},
			hullWant: []string{"rootfs"},
		},
		{
			name:     "missing rootfs with run",
			cmd:      "run",
			prep:     func(t *testing.T, b *bundle) { rmHost(t, filepath.Join(b.dir, "rootfs")) },
			wantAny:  []string{"rootfs", "no such file"},
			hullWant: []string{"rootfs"},
		},
		{name: "id with dot-dot", id: strp("../x"), wantAny: []string{"id"}, hullWant: []string{"../x"}},
		{name: "id with slash", id: strp("a/b"), wantAny: []string{"id"}, hullWant: []string{"a/b"}},
		{name: "empty id", id: strp(""), wantAny: []string{"id", "argument"}},
		{
			name: "id starting with a dot", id: strp(".hidden"), wantAny: []string{"id"}, hullWant: []string{".hidden"},
			runcDeviation: "runc 1.1 accepts ids starting with '.' (its pattern is ^[\\w+-\\.]+$); hull requires [A-Za-z0-9] first",
		},
		{name: "1000 char id", id: strp(strings.Repeat("a", 1000)), wantAny: []string{"id", "too long"}},
		{
			name: "unknown namespace type",
			edit: func(s *specs.Spec) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			},
			wantAny:  []string{"bogus", "namespace"},
			hullWant: []string{"bogus"},
		},
		{
			name: "bind mount source missing",
			edit: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/x", Type: "bind", Source: "/nonexistent-hull-it-src", Options: []string{"bind"}})
			},
			wantAny:  []string{"/nonexistent-hull-it-src"},
			hullWant: []string{"/nonexistent-hull-it-src"},
		},
		{
			name: "unknown rlimit",
			edit: func(s *specs.Spec) {
				s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1})
			},
			wantAny:  []string{"RLIMIT_BOGUS", "rlimit"},
			hullWant: []string{"RLIMIT_BOGUS"},
		},
		{
			name: "rlimit soft above hard",
			edit: func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2000, Hard: 1000}}
			},
			wantAny:  []string{"RLIMIT_NOFILE", "rlimit", "invalid argument"},
			hullWant: []string{"rlimits[0]"},
		},
		{
			name:     "relative cwd",
			edit:     func(s *specs.Spec) { s.Process.Cwd = "tmp" },
			wantAny:  []string{"cwd", "absolute"},
			hullWant: []string{"cwd"},
		},
		{
			name: "hostname without a uts namespace",
			edit: func(s *specs.Spec) {
				s.Hostname = "nope"
				s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.UTSNamespace)
			},
			wantAny:  []string{"hostname", "uts"},
			hullWant: []string{"hostname"},
		},
		{
			name: "net sysctl without a network namespace",
			edit: func(s *specs.Spec) {
				s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
				s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.NetworkNamespace)
			},
			wantAny:  []string{"net.ipv4.ip_forward", "sysctl"},
			hullWant: []string{"net.ipv4.ip_forward"},
		},
		{
			name:     "sysctl outside any namespace",
			edit:     func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "10"} },
			wantAny:  []string{"vm.swappiness", "sysctl"},
			hullWant: []string{"vm.swappiness"},
		},
		{
			name:     "nonexistent executable",
			edit:     func(s *specs.Spec) { s.Process.Args = []string{"/nonexistent-bin"} },
			wantAny:  []string{"/nonexistent-bin"},
			hullWant: []string{"/nonexistent-bin"},
		},
		{
			name:     "no process args",
			edit:     func(s *specs.Spec) { s.Process.Args = nil },
			wantAny:  []string{"args", "process"},
			hullWant: []string{"args"},
		},
		{
			name:     "failing prestart hook",
			edit:     func(s *specs.Spec) { s.Hooks = &specs.Hooks{Prestart: failingHook("exit 3", nil)} }, //nolint:staticcheck // deprecated, still run
			wantAny:  []string{"hook"},
			hullWant: []string{"prestart"},
		},
		{
			name:     "failing createRuntime hook",
			edit:     func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateRuntime: failingHook("exit 3", nil)} },
			wantAny:  []string{"hook"},
			hullWant: []string{"createRuntime"},
		},
		{
			name:     "failing createContainer hook",
			edit:     func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateContainer: failingHook("exit 3", nil)} },
			wantAny:  []string{"hook"},
			hullWant: []string{"createContainer"},
		},
		{
			name:     "failing createRuntime hook with run",
			cmd:      "run",
			edit:     func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateRuntime: failingHook("exit 3", nil)} },
			wantAny:  []string{"hook"},
			hullWant: []string{"createRuntime"},
		},
		{
			// A hook that outlives its timeout is killed and fails create
			// (without the timeout the call would hang for 600 s).
			name: "createRuntime hook timeout",
			edit: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{CreateRuntime: failingHook(`echo $$ > "$0/rootfs/hook.pid"; exec sleep 600`, &one)}
			},
			prep: func(t *testing.T, b *bundle) {
				b.spec.Hooks.CreateRuntime[0].Args = append(b.spec.Hooks.CreateRuntime[0].Args, b.dir)
				b.write(t)
			},
			wantAny:  []string{"hook", "timeout", "timed out"},
			hullWant: []string{"createRuntime"},
			after: func(t *testing.T, b *bundle) {
				data, err := os.ReadFile(b.rootfs("hook.pid"))
				if err != nil {
					t.Fatalf("hook did not run: %v", err)
				}
				pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
				if pid > 0 && syscall.Kill(pid, 0) == nil && !isZombie(pid) {
					t.Errorf("leak: timed-out hook %d still running: %q", pid, procCmdline(pid))
					syscall.Kill(pid, syscall.SIGKILL)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runcDeviation != "" {
				runcDeviation(t, tc.runcDeviation)
			}
			r := newRuntime(t)
			id := newID(t)
			if tc.id != nil {
				id = *tc.id
			}
			b := newBundle(t, []string{"true"}, tc.edit)
			if tc.prep != nil {
				tc.prep(t, b)
			}
			cmd := tc.cmd
			if cmd == "" {
				cmd = "create"
			}
			before := snapshot(t, b.dir)
			res := r.callReaped(cmd, "--bundle", b.dir, id)
			checkFailure(t, res, tc.wantAny, tc.hullWant)
			checkNoLeaks(t, r, safeID(id), b.dir, before)
			if tc.after != nil {
				tc.after(t, b)
			}
			if entries, _ := os.ReadDir(r.root); len(entries) != 0 {
				t.Errorf("leak: root %s not empty after failed %s: %v", r.root, cmd, names(entries))
			}
		})
	}
}

// safeID returns id for leak searches, or "" when it cannot name a state
// dir or process (empty, or containing a path separator).
func safeID(id string) string {
	if id == "" || strings.ContainsAny(id, "/") {
		return ""
	}
	return id
}

func names(entries []os.DirEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func writeHost(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rmHost(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func withoutNamespace(list []specs.LinuxNamespace, typ specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range list {
		if ns.Type != typ {
			out = append(out, ns)
		}
	}
	return out
}
