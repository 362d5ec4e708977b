package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKillAllForkingTree(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	// A shell that keeps forking sleeping children, once it has joined
	// every hierarchy (as a container's init waits for Apply): a child
	// forked while Apply moves its parent hierarchy by hierarchy would be
	// in some of them only.
	cmd := exec.Command("/bin/sh", "-c", "read x; while :; do sleep 10 & sleep 0.01; done")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	if err := m.Apply(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	if !waitFor(func() bool { p, _ := m.Pids(); return len(p) >= 4 }) {
		t.Fatal("the shell did not fork")
	}
	if err := KillAll(m, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 0 {
		t.Fatalf("Pids() = %v, %v after KillAll", pids, err)
	}
	if f, _ := m.Frozen(); f {
		t.Fatal("cgroup left frozen by KillAll")
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestSignalReachesEveryProcess(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	a := startSleep(t)
	b := startSleep(t)
	for _, c := range []*exec.Cmd{a, b} {
		if err := m.Apply(c.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := Signal(m, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*exec.Cmd{a, b} {
		err := c.Wait()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("pid %d ended with %v, want SIGTERM", c.Process.Pid, err)
		}
	}
}

func TestCgroupKillV2Fake(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "cgroup.kill"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok, err := cgroupKill(m)
	if !ok || err != nil {
		t.Fatalf("cgroupKill = %v, %v", ok, err)
	}
	if got := readTrim(t, filepath.Join(m.dir, "cgroup.kill")); got != "1" {
		t.Fatalf("cgroup.kill = %q, want 1", got)
	}
}

// A zombie keeps a v1 cgroup busy until it is reaped, but is not a live
// process: rmdirCgroup waits for it instead of failing at once.
func TestLivePids(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if got := livePids([]int{pid}); !slices.Equal(got, []int{pid}) {
		t.Errorf("running: livePids = %v, want [%d]", got, pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: a zombie once the kernel has handled the signal.
	deadline := time.Now().Add(5 * time.Second)
	for len(livePids([]int{pid})) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := livePids([]int{pid}); len(got) != 0 {
		t.Errorf("zombie: livePids = %v, want none", got)
	}
	_ = cmd.Wait()
	if got := livePids([]int{pid}); len(got) != 0 {
		t.Errorf("reaped: livePids = %v, want none", got)
	}
}
