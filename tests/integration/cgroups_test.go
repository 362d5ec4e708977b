package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// procCgroups parses /proc/PID/cgroup into controller -> path (v1 lines;
// the v2 line is keyed "").
func procCgroups(t *testing.T, pid string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out
}

// TestCgroupsV1 checks that a container gets cgroups of its own with the
// config's resources applied, on a host with cgroup v1 controllers.
func TestCgroupsV1(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"memory", "pids", "cpu"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "cgroup.procs")); err != nil {
			t.Skipf("host lacks a cgroup v1 %s hierarchy at /sys/fs/cgroup/%s", c, c)
		}
	}
	r := newRuntime(t)
	id := newID(t)
	limit, shares, pids := int64(64<<20), uint64(512), int64(123)
	b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.Resources = &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: &limit},
			CPU:    &specs.LinuxCPU{Shares: &shares},
			Pids:   &specs.LinuxPids{Limit: &pids},
		}
	})
	r.must("create", "--bundle", b.dir, id)
	pid := itoa(r.state(id).Pid)
	mine := procCgroups(t, "self")
	theirs := procCgroups(t, pid)
	for _, tc := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"cpu", "cpu.shares", "512"},
		{"pids", "pids.max", "123"},
	} {
		path, ok := theirs[tc.ctrl]
		if !ok {
			t.Errorf("container not in a %s cgroup: %v", tc.ctrl, theirs)
			continue
		}
		if path == mine[tc.ctrl] {
			t.Errorf("container shares the test's %s cgroup %s", tc.ctrl, path)
		}
		data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", tc.ctrl, path, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if got := strings.TrimSpace(string(data)); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.file, got, tc.want)
		}
	}
	snap := snapshot(t, b.dir)
	r.must("delete", "--force", id)
	checkNoLeaks(t, r, id, b.dir, snap)
}

// TestExecCgroupFromTheStart: an exec'd process is in every one of the
// container's cgroups from its first instruction. The parent places the
// child while its constructor joins the namespaces and lets it fork the
// process that goes on only after that (libct/sync.go's bootGate): a gate
// opened too early leaves that process in hull's own cgroups, which is
// what this test sees (the first cgroup v1 write is slow).
func TestExecCgroupFromTheStart(t *testing.T) {
	r := newRuntime(t)
	id, _ := running(t, r)
	init := procCgroups(t, itoa(r.state(id).Pid))
	for i := 0; i < 30; i++ {
		res := r.must("exec", id, "cat", "/proc/self/cgroup")
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
			if f := strings.SplitN(l, ":", 3); len(f) == 3 {
				for _, c := range strings.Split(f[1], ",") {
					got[c] = f[2]
				}
			}
		}
		for c, want := range init {
			if got[c] != want {
				t.Fatalf("exec #%d: %q cgroup %q, want the container's %q", i, c, got[c], want)
			}
		}
	}
}

// TestExecCgroupV1: exec --cgroup puts the process in a sub-cgroup of the
// container's, in the hierarchy named (controller:path) and in the
// container's own cgroup in the others; a sub-cgroup that does not exist
// is an error, never created.
func TestExecCgroupV1(t *testing.T) {
	for _, c := range []string{"memory", "pids"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "cgroup.procs")); err != nil {
			t.Skipf("host lacks a cgroup v1 %s hierarchy at /sys/fs/cgroup/%s", c, c)
		}
	}
	r := newRuntime(t)
	id, _ := running(t, r)
	init := procCgroups(t, itoa(r.state(id).Pid))
	sub := filepath.Join("/sys/fs/cgroup/memory", init["memory"], "hit-sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sub) })

	res := r.must("exec", "--cgroup", "memory:hit-sub", id, "cat", "/proc/self/cgroup")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 {
			for _, c := range strings.Split(f[1], ",") {
				got[c] = f[2]
			}
		}
	}
	// The container has a cgroup namespace only if asked: here paths
	// are the host's.
	if want := init["memory"] + "/hit-sub"; got["memory"] != want {
		t.Errorf("exec --cgroup memory:hit-sub: memory cgroup %q, want %q", got["memory"], want)
	}
	if got["pids"] != init["pids"] {
		t.Errorf("exec --cgroup memory:hit-sub: pids cgroup %q, want the container's %q", got["pids"], init["pids"])
	}

	// Without --cgroup: the container's cgroup.
	res = r.must("exec", id, "cat", "/proc/self/cgroup")
	if !strings.Contains(res.stdout, ":memory:"+init["memory"]+"\n") {
		t.Errorf("exec without --cgroup: %q, want memory in %s", res.stdout, init["memory"])
	}

	// A sub-cgroup missing in one hierarchy: an error, and not created.
	res = r.call("exec", "--cgroup", "pids:hit-sub", id, "true")
	if res.code == 0 {
		t.Errorf("exec --cgroup pids:hit-sub (no such sub-cgroup) succeeded: %v", res)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/pids", init["pids"], "hit-sub")); err == nil {
		t.Errorf("exec --cgroup created the missing sub-cgroup pids:hit-sub")
	}
	if hullOnly() && !strings.Contains(res.stderr, "sub-cgroup") {
		t.Errorf("exec --cgroup pids:hit-sub: stderr %q does not name the sub-cgroup", res.stderr)
	}
}
