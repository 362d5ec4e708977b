package cgroups

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rootlessScenario runs as an unprivileged user with no delegated cgroup:
// the rootless manager must skip what it cannot create, and refuse only
// the limits it cannot apply. It prints what went wrong and returns the
// exit code.
func rootlessScenario() int {
	fail := func(format string, a ...any) int { fmt.Printf(format+"\n", a...); return 1 }
	m, err := New(&configs.Cgroup{}, testID(), true)
	if err != nil {
		return fail("New: %v", err)
	}
	if err := m.Apply(os.Getpid()); err != nil {
		return fail("Apply: %v", err)
	}
	if st := m.State(); len(st.Created) != 0 || !st.Rootless {
		return fail("State after a refused Apply: %+v", st)
	}
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}); err != nil {
		return fail("Set of device rules: %v (rootless relies on the user namespace)", err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}}); err == nil {
		return fail("Set of a memory limit without a cgroup: want an error")
	}
	if err := m.Destroy(); err != nil {
		return fail("Destroy: %v", err)
	}
	return 0
}

func TestRootlessWithoutDelegation(t *testing.T) {
	needV1Root(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary sits in a 0700 directory: copy it where nobody may
	// run it.
	dir, err := os.MkdirTemp("", "hull-cgroups-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cgroups.test")
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	src.Close()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{rootlessEnv + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rootless scenario as uid 65534: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}
