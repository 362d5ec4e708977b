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
