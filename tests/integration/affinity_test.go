package integration

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// allowedCPUs is the Cpus_allowed_list line of /proc/<pid>/status.
func allowedCPUs(t *testing.T, status string) string {
	t.Helper()
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in %q", status)
	return ""
}

// TestCPUAffinityReset: a container's processes do not inherit the CPU
// mask of whoever started the runtime (a systemd unit's CPUAffinity=,
// taskset); they get every CPU of their cpuset, as runc 1.3.1 does (Linux
// 6.2+ no longer resets the mask of a task moved into a cpuset), or
// execCPUAffinity.final when the process names one.
func TestCPUAffinityReset(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs: the runtime is pinned to one")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("needs taskset (util-linux)")
	}
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	all := allowedCPUs(t, string(self))
	if all == "0" {
		t.Skip("this test itself runs on CPU 0 only")
	}
	// The runtime runs pinned to CPU 0, as under taskset -c 0.
	pinned := callOpts{shellPrefix: "taskset -p -c 0 $$ >/dev/null &&"}
	status := sh("grep Cpus_allowed_list /proc/self/status")

	r := newRuntime(t)
	b := newBundle(t, status, nil)
	res := r.callWith(pinned, "run", "--bundle", b.dir, newID(t))
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	if got := allowedCPUs(t, res.stdout); got != all {
		t.Errorf("run under taskset -c 0: the container's process may use CPUs %s, want %s (all)", got, all)
	}

	// Within a cpuset: its CPUs.
	b = newBundle(t, status, func(s *specs.Spec) {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "1", Mems: "0"}
	})
	res = r.callWith(pinned, "run", "--bundle", b.dir, newID(t))
	if res.code != 0 {
		t.Fatalf("run with cpuset 1: %v", res)
	}
	if got := allowedCPUs(t, res.stdout); got != "1" {
		t.Errorf("run with cpuset 1 under taskset -c 0: CPUs %s, want 1", got)
	}

	// exec: the default, and execCPUAffinity.final.
	id := newID(t)
	r.must("run", "-d", "--bundle", newBundle(t, []string{"sleep", "1000"}, nil).dir, id)
	res = r.callWith(pinned, "exec", id, "grep", "Cpus_allowed_list", "/proc/self/status")
	if res.code != 0 {
		t.Fatalf("exec: %v", res)
	}
	if got := allowedCPUs(t, res.stdout); got != all {
		t.Errorf("exec under taskset -c 0: CPUs %s, want %s", got, all)
	}
	proc := writeProcessJSON(t, `{"args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/",
		"user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "0", "final": "1"}}`)
	res = r.callWith(pinned, "exec", "--process", proc, id)
	if res.code != 0 {
		t.Fatalf("exec with execCPUAffinity: %v", res)
	}
	if got := allowedCPUs(t, res.stdout); got != "1" {
		t.Errorf("exec with execCPUAffinity.final 1: CPUs %s, want 1", got)
	}
}

func writeProcessJSON(t *testing.T, js string) string {
	t.Helper()
	p := t.TempDir() + "/process.json"
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMemoryPolicy: linux.memoryPolicy is the policy of the container's
// processes, exec'd ones too (numa_maps shows it on every mapping).
func TestMemoryPolicy(t *testing.T) {
	if _, _, e := unix.Syscall(unix.SYS_GET_MEMPOLICY, 0, 0, 0); e != 0 {
		t.Skipf("host has no NUMA memory policies: get_mempolicy: %v", e)
	}
	r := newRuntime(t)
	pol := func(s *specs.Spec) {
		s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0"}
	}
	res := r.call("run", "--bundle", newBundle(t, sh("head -1 /proc/self/numa_maps"), pol).dir, newID(t))
	if res.code != 0 || !strings.Contains(res.stdout, " bind:0 ") {
		t.Fatalf("run: want the first mapping bound to node 0: %v", res)
	}
	id := newID(t)
	r.must("run", "-d", "--bundle", newBundle(t, []string{"sleep", "1000"}, pol).dir, id)
	res = r.call("exec", id, "head", "-1", "/proc/self/numa_maps")
	if res.code != 0 || !strings.Contains(res.stdout, " bind:0 ") {
		t.Fatalf("exec: want the first mapping bound to node 0: %v", res)
	}
}
