package apparmor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const helperEnv = "HULL_APPARMOR_TEST_HELPER"

func init() {
	if os.Getenv(helperEnv) != "" {
		runtime.LockOSThread() // thread-self must stay the main thread
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := overmountHelper(os.Getenv(helperEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// dirOpener is a fake procfs rooted at root: root/thread-self/attr/...
func dirOpener(root string, opened *[]string) attrOpener {
	return func(sub string) (*os.File, func(), error) {
		*opened = append(*opened, sub)
		f, err := os.OpenFile(filepath.Join(root, "thread-self", sub), os.O_WRONLY|unix.O_CLOEXEC, 0)
		return f, func() {}, err
	}
}

func TestApplyProfileWrite(t *testing.T) {
	tests := []struct {
		name    string
		files   []string // created under thread-self/
		profile string
		// want maps files to their content after the call
		want       map[string]string
		wantOpened []string
		wantErr    string
	}{
		{
			name:       "per-LSM attr",
			files:      []string{"attr/apparmor/exec", "attr/exec"},
			profile:    "hull-default",
			want:       map[string]string{"attr/apparmor/exec": "exec hull-default", "attr/exec": ""},
			wantOpened: []string{"attr/apparmor/exec"},
		},
		{
			name:       "fallback before Linux 5.1",
			files:      []string{"attr/exec"},
			profile:    "docker-default",
			want:       map[string]string{"attr/exec": "exec docker-default"},
			wantOpened: []string{"attr/apparmor/exec", "attr/exec"},
		},
		{
			name:       "profile with spaces kept whole",
			files:      []string{"attr/apparmor/exec"},
			profile:    "my profile (enforce)",
			want:       map[string]string{"attr/apparmor/exec": "exec my profile (enforce)"},
			wantOpened: []string{"attr/apparmor/exec"},
		},
		{
			name:       "no attr files",
			profile:    "p",
			wantOpened: []string{"attr/apparmor/exec", "attr/exec"},
			wantErr:    `apparmor profile "p": open /proc/thread-self/attr/exec: `,
		},
		{
			name:    "empty profile touches nothing",
			files:   []string{"attr/apparmor/exec"},
			profile: "",
			want:    map[string]string{"attr/apparmor/exec": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(root, "thread-self", f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var opened []string
			var err error
			if tt.profile != "" {
				err = applyProfile(dirOpener(root, &opened), tt.profile)
			} else {
				err = ApplyProfile("") // must not touch the real procfs either
			}
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("error = %v, want prefix %q wrapping ENOENT", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(opened, ",") != strings.Join(tt.wantOpened, ",") {
				t.Errorf("opened %v, want %v", opened, tt.wantOpened)
			}
			for f, want := range tt.want {
				got, err := os.ReadFile(filepath.Join(root, "thread-self", f))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", f, got, err, want)
				}
			}
		})
	}
}

func TestIsEnabled(t *testing.T) {
	tests := []struct {
		name       string
		securityfs bool
		enabled    string // "" = no parameter file
		want       bool
	}{
		{name: "enabled", securityfs: true, enabled: "Y\n", want: true},
		{name: "disabled", securityfs: true, enabled: "N\n"},
		{name: "no securityfs entry", enabled: "Y\n"},
		{name: "module absent", securityfs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			if tt.securityfs {
				os.MkdirAll(filepath.Join(sys, "kernel/security/apparmor"), 0o755)
			}
			if tt.enabled != "" {
				p := filepath.Join(sys, "module/apparmor/parameters/enabled")
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(tt.enabled), 0o644)
			}
			if got := isEnabled(sys); got != tt.want {
				t.Fatalf("isEnabled = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		profile string
		enabled bool
		wantErr string
	}{
		{name: "none requested, absent", enabled: false},
		{name: "requested, present", profile: "p", enabled: true},
		{name: "requested, absent", profile: "hull-default", wantErr: `apparmor profile "hull-default" requested, but AppArmor is not enabled on this host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.profile, tt.enabled)
			if (err == nil && tt.wantErr != "") || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("check = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestNotEnabledHere checks the errors on a host without AppArmor, at
// create (Check) and in init (ApplyProfile).
func TestNotEnabledHere(t *testing.T) {
	if IsEnabled() {
		t.Skip("needs a host without AppArmor; this one has it enabled")
	}
	if err := Check("hull-default"); err == nil || !strings.Contains(err.Error(), "AppArmor is not enabled on this host") {
		t.Fatalf("Check = %v", err)
	}
	err := ApplyProfile("hull-default")
	if err == nil || !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "/proc/thread-self/attr/exec") {
		t.Fatalf("ApplyProfile = %v, want EINVAL from /proc/thread-self/attr/exec", err)
	}
}

// TestOvermountedAttr reproduces the CVE-2025-52881 setup: a file mounted
// over /proc/<tid>/attr/apparmor/exec (attr/exec on a kernel without
// AppArmor's directory), as a malicious container config could do. A
// path-based write lands in the decoy; ApplyProfile's must reach procfs.
// It runs with and without AppArmor (tests/vm runs it in a guest that has
// it, with HULL_APPARMOR_TEST_PROFILE naming a loaded profile).
func TestOvermountedAttr(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (uid 0) to bind-mount in a private mount namespace")
	}
	decoy := filepath.Join(t.TempDir(), "decoy")
	if err := os.WriteFile(decoy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+decoy)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	got, _ := os.ReadFile(decoy)
	if string(got) != "exec naive" {
		t.Fatalf("decoy = %q: the path-based control write did not land in it, so the attack was not set up", got)
	}
	t.Logf("%s", out)
}

// overmountHelper runs in its own mount namespace.
func overmountHelper(decoy string) error {
	attr := "attr/exec"
	if _, err := os.Stat("/proc/thread-self/attr/apparmor"); err == nil {
		attr = "attr/apparmor/exec" // what ApplyProfile writes where AppArmor is on
	}
	target := fmt.Sprintf("/proc/%d/task/%d/%s", os.Getpid(), unix.Gettid(), attr)
	if err := unix.Mount(decoy, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over %s: %w", decoy, target, err)
	}
	// Control: what a path-based write does.
	if err := os.WriteFile("/proc/thread-self/"+attr, []byte("exec naive"), 0); err != nil {
		return fmt.Errorf("control write: %w", err)
	}
	profile := os.Getenv("HULL_APPARMOR_TEST_PROFILE")
	if profile == "" {
		profile = "hull-test"
	}
	err := applyProfile(openProcAttr, profile)
	if b, _ := os.ReadFile(decoy); string(b) != "exec naive" {
		return fmt.Errorf("ApplyProfile wrote into the overmounted %s: %q", attr, b)
	}
	switch {
	case !IsEnabled():
		// No AppArmor: the real attr/exec refuses the command.
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("ApplyProfile through procfs = %v, want EINVAL from the real attr/exec", err)
		}
	case os.Getenv("HULL_APPARMOR_TEST_PROFILE") != "":
		// A loaded profile: the real attr took it.
		if err != nil {
			return fmt.Errorf("ApplyProfile(%q) through procfs = %v, want success on the real %s", profile, err, attr)
		}
	case err == nil:
		return fmt.Errorf("ApplyProfile(%q) succeeded, but no such profile is loaded", profile)
	}
	fmt.Printf("decoy over %s untouched; ApplyProfile(%q) through procfs: %v\n", attr, profile, err)
	return nil
}
