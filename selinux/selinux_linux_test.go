package selinux

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNotEnabledHere checks the errors on a host without SELinux.
func TestNotEnabledHere(t *testing.T) {
	if Enabled() {
		t.Skip("needs a host without SELinux; this one has it enabled")
	}
	const l = "system_u:system_r:container_t:s0:c1,c2"
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{name: "check", call: func() error { return Check(l, "") }, want: ErrNotEnabled},
		{name: "empty exec label", call: func() error { return SetExecLabel("") }},
		{name: "file label", call: func() error { return SetFileLabel(filepath.Join(t.TempDir(), "x"), l) }, want: ErrNotEnabled},
		{name: "empty file label", call: func() error { return SetFileLabel("/nonexistent", "") }},
	}
	// SetExecLabel trusts Check (done by the parent): here the kernel
	// itself refuses the label.
	if err := SetExecLabel(l); err == nil {
		t.Error("exec label accepted on a host without SELinux")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

const overmountHelperEnv = "HULL_SELINUX_TEST_OVERMOUNT"

func TestMain(m *testing.M) {
	if decoy := os.Getenv(overmountHelperEnv); decoy != "" {
		runtime.LockOSThread() // thread-self must stay this thread
		if err := overmountHelper(decoy); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestOvermountedExecAttr (CVE-2025-52881): a file mounted over
// /proc/<tid>/attr/exec, as a malicious container config could do,
// catches a path-based write; SetExecLabel's goes through go-selinux's
// verified procfs handle and must reach procfs. With SELinux (tests/vm
// runs it in an enforcing guest, HULL_SELINUX_TEST_LABEL naming a label
// the policy allows) the real attr takes the label; without, it refuses.
func TestOvermountedExecAttr(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (uid 0) to bind-mount in a private mount namespace")
	}
	decoy := filepath.Join(t.TempDir(), "decoy")
	if err := os.WriteFile(decoy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), overmountHelperEnv+"="+decoy)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	if got, _ := os.ReadFile(decoy); string(got) != "naive" {
		t.Fatalf("decoy = %q: the path-based control write did not land in it, so the attack was not set up", got)
	}
	t.Logf("%s", out)
}

// overmountHelper runs in its own mount namespace, on a locked thread.
func overmountHelper(decoy string) error {
	target := fmt.Sprintf("/proc/%d/task/%d/attr/exec", os.Getpid(), unix.Gettid())
	err := unix.Mount(decoy, target, "", unix.MS_BIND, "")
	if errors.Is(err, unix.EACCES) && os.Getenv("HULL_SELINUX_TEST_PERMISSIVE_SETUP") != "" {
		// Debian's refpolicy denies unconfined_t "mounton" its own attr
		// files, which blocks this attack's set-up there; other
		// policies need not. In the tests/vm guest the decoy is bound
		// permissively, and enforcing is back before any write.
		err = permissive(func() error { return unix.Mount(decoy, target, "", unix.MS_BIND, "") })
	}
	if err != nil {
		return fmt.Errorf("bind %s over %s: %w", decoy, target, err)
	}
	if err := os.WriteFile("/proc/thread-self/attr/exec", []byte("naive"), 0); err != nil {
		return fmt.Errorf("control write: %w", err)
	}
	label := os.Getenv("HULL_SELINUX_TEST_LABEL")
	if label == "" {
		label = "system_u:system_r:container_t:s0:c1,c2"
	}
	err = SetExecLabel(label)
	if b, _ := os.ReadFile(decoy); string(b) != "naive" {
		return fmt.Errorf("SetExecLabel wrote into the overmounted attr/exec: %q", b)
	}
	switch {
	case os.Getenv("HULL_SELINUX_TEST_LABEL") != "" && err != nil:
		return fmt.Errorf("SetExecLabel(%q) through procfs = %v, want success on the real attr/exec", label, err)
	case os.Getenv("HULL_SELINUX_TEST_LABEL") == "" && !Enabled() && err == nil:
		return fmt.Errorf("SetExecLabel(%q) succeeded on a kernel without SELinux", label)
	}
	fmt.Printf("decoy over attr/exec untouched; SetExecLabel(%q) through procfs: %v\n", label, err)
	return nil
}

// permissive runs f with SELinux permissive and sets enforcing back.
func permissive(f func() error) error {
	const enforce = "/sys/fs/selinux/enforce"
	if err := os.WriteFile(enforce, []byte("0"), 0); err != nil {
		return fmt.Errorf("setenforce 0: %w", err)
	}
	ferr := f()
	if err := os.WriteFile(enforce, []byte("1"), 0); err != nil {
		return fmt.Errorf("setenforce 1: %w", err)
	}
	if b, err := os.ReadFile(enforce); err != nil || string(b) != "1" {
		return fmt.Errorf("enforcing not back: %q, %v", b, err)
	}
	return ferr
}
