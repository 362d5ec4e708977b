package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestExecDeleteRace: a delete that comes while an exec'd process is on
// its way into the container's cgroups waits for it (exec holds the
// container's lock until the process is in them), then kills it and
// removes every cgroup. strace slows the child's setns calls (1.5 s each)
// so that delete always arrives in that window. It failed when exec let
// go of the lock as soon as the child was started (0474986: the child
// moves itself into its cgroup v1 directories later, in its
// constructor): delete found the cgroups without it, then could not
// remove the one the child was started in ("cgroup still has
// processes"), and left the container behind.
func TestExecDeleteRace(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace(1) is not installed (scripts/deps.sh installs it)")
	}
	r := newRuntime(t)
	id, _ := running(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	slow := exec.CommandContext(ctx, "strace", "-f", "-o", "/dev/null", "-e", "trace=setns",
		"-e", "inject=setns:delay_exit=1500000", r.bin, "--root", r.root, "exec", id, "true")
	var out bytes.Buffer
	slow.Stdout, slow.Stderr = &out, &out
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // exec is in its first setns by now
	res := r.call("delete", "--force", id)
	_ = slow.Wait() // killed by delete, or failed: either is right
	if res.code != 0 {
		t.Fatalf("delete racing an exec: %v\n(exec under strace said %q)", res, out.String())
	}
	if st := r.call("state", id); st.code == 0 {
		t.Errorf("container still there after delete: %s", st.stdout)
	}
	if dirs := cgroupDirs(id); len(dirs) > 0 {
		t.Errorf("cgroups left after delete: %v", dirs)
	}
}

// TestExecUnloadableCgroup: an exec into a container whose cgroup cannot
// be rebuilt from its state (here an unknown driver, as a hull of another
// version might write) fails, naming it, instead of taking "no cgroup"
// and running the process outside the container's limits; delete still
// removes the container and warns that its cgroups are left.
func TestExecUnloadableCgroup(t *testing.T) {
	r := newRuntime(t)
	id, _ := running(t, r)
	path := filepath.Join(r.root, id, "state.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("this runtime keeps no %s (hull's state layout)", path)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	cg, ok := st["cgroup"].(map[string]any)
	if !ok {
		t.Skip("state.json records no cgroup (hull's state layout)")
	}
	cg["driver"] = "no-such-driver"
	if data, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res := r.call("exec", id, "cat", "/proc/self/cgroup")
	if res.code == 0 || !strings.Contains(res.stderr, `"no-such-driver"`) {
		t.Fatalf("exec with an unloadable cgroup: want a failure naming the driver, got %v", res)
	}
	del := r.call("delete", "--force", id)
	if del.code != 0 || !strings.Contains(del.stderr, "cgroups are left") {
		t.Errorf("delete: want success with a warning that the cgroups are left: %v", del)
	}
}
