package capabilities

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// The tests change the capabilities of a throwaway process: the test binary
// re-executed with helperEnv set, which does what the container's init does
// and prints its /proc/thread-self/status capability lines.
const helperEnv = "HULL_CAPS_TEST_HELPER"

// helperRequest is what the parent test asks the helper to do.
type helperRequest struct {
	Caps configs.Capabilities
	UID  int
	// Exec makes the helper execve /bin/cat /proc/self/status after
	// applying, to see the sets the container process ends up with.
	Exec bool
}

func init() {
	if os.Getenv(helperEnv) != "" {
		// Capabilities are per thread: stay on the main thread, as the
		// container's init does, so that /proc/self is this thread too.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if req := os.Getenv(helperEnv); req != "" {
		if err := runHelper(req); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(reqJSON string) error {
	var req helperRequest
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		return err
	}
	if err := ApplyBounding(&req.Caps); err != nil {
		return err
	}
	if err := KeepCapsForSetuid(); err != nil {
		return err
	}
	if err := syscall.Setresgid(req.UID, req.UID, req.UID); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(req.UID, req.UID, req.UID); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if err := ClearKeepCaps(); err != nil {
		return err
	}
	if err := Apply(&req.Caps); err != nil {
		return err
	}
	if req.Exec {
		return syscall.Exec("/bin/cat", []string{"cat", "/proc/self/status"}, nil)
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(status)
	return err
}

// capStatus holds the Cap* lines of a /proc/PID/status.
type capStatus struct{ Inh, Prm, Eff, Bnd, Amb uint64 }

func parseStatus(t *testing.T, b []byte) capStatus {
	t.Helper()
	var s capStatus
	fields := map[string]*uint64{"CapInh": &s.Inh, "CapPrm": &s.Prm, "CapEff": &s.Eff, "CapBnd": &s.Bnd, "CapAmb": &s.Amb}
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		p, want := fields[k]
		if !ok || !want {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("parse %s: %v", k, err)
		}
		*p = n
		found++
	}
	if found != len(fields) {
		t.Fatalf("status has %d of the 5 Cap lines:\n%s", found, b)
	}
	return s
}

func bits(caps ...int) uint64 {
	var s uint64
	for _, c := range caps {
		s |= 1 << uint(c)
	}
	return s
}

func requireRootWithSetpcap(t *testing.T) capStatus {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (uid 0) to change capability sets and uids")
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	host := parseStatus(t, b)
	for _, c := range []int{unix.CAP_SETPCAP, unix.CAP_SETUID, unix.CAP_SETGID} {
		if host.Eff&bits(c) == 0 {
			t.Skipf("needs %s in the effective set", Name(c))
		}
	}
	return host
}

func runHelperProcess(t *testing.T, req helperRequest) ([]byte, error) {
	t.Helper()
	reqJSON, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(reqJSON))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func TestApplySets(t *testing.T) {
	host := requireRootWithSetpcap(t)
	// The default set Docker and runc's spec example give a container.
	dflt := []int{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER,
		unix.CAP_MKNOD, unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETFCAP,
		unix.CAP_SETPCAP, unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_KILL,
		unix.CAP_AUDIT_WRITE}
	nbs := []int{unix.CAP_NET_BIND_SERVICE}
	tests := []struct {
		name string
		req  helperRequest
		want capStatus // Bnd is intersected with the host's bounding set
	}{
		{
			name: "root default set",
			req:  helperRequest{Caps: configs.Capabilities{Bounding: dflt, Effective: dflt, Permitted: dflt}},
			want: capStatus{Bnd: bits(dflt...), Eff: bits(dflt...), Prm: bits(dflt...)},
		},
		{
			name: "root nothing",
			req:  helperRequest{Caps: configs.Capabilities{}},
			want: capStatus{},
		},
		{
			name: "non-root keeps listed caps across setuid",
			req: helperRequest{UID: 1000, Caps: configs.Capabilities{
				Bounding: dflt, Effective: []int{unix.CAP_KILL}, Permitted: []int{unix.CAP_KILL, unix.CAP_CHOWN}}},
			want: capStatus{Bnd: bits(dflt...), Eff: bits(unix.CAP_KILL), Prm: bits(unix.CAP_KILL, unix.CAP_CHOWN)},
		},
		{
			// CVE-2022-29162: effective/permitted caps must not leak into
			// the inheritable set.
			name: "inheritable never implicit",
			req: helperRequest{UID: 1000, Caps: configs.Capabilities{
				Bounding: []int{unix.CAP_NET_ADMIN}, Effective: []int{unix.CAP_NET_ADMIN}, Permitted: []int{unix.CAP_NET_ADMIN}}},
			want: capStatus{Bnd: bits(unix.CAP_NET_ADMIN), Eff: bits(unix.CAP_NET_ADMIN), Prm: bits(unix.CAP_NET_ADMIN)},
		},
		{
			name: "non-root ambient",
			req: helperRequest{UID: 1000, Caps: configs.Capabilities{
				Bounding: nbs, Effective: nbs, Permitted: nbs, Inheritable: nbs, Ambient: nbs}},
			want: capStatus{Bnd: bits(nbs...), Eff: bits(nbs...), Prm: bits(nbs...), Inh: bits(nbs...), Amb: bits(nbs...)},
		},
		{
			// runc's own default spec lists ambient capabilities but no
			// inheritable ones; the kernel refuses to raise them, and runc
			// (so hull) leaves them out instead of failing.
			name: "ambient without inheritable left out",
			req: helperRequest{UID: 1000, Caps: configs.Capabilities{
				Bounding: nbs, Effective: nbs, Permitted: nbs, Ambient: nbs}},
			want: capStatus{Bnd: bits(nbs...), Eff: bits(nbs...), Prm: bits(nbs...)},
		},
		{
			// After execve of a file without file capabilities a non-root
			// process has P' = E' = ambient (capabilities(7)).
			name: "non-root ambient survives execve",
			req: helperRequest{UID: 1000, Exec: true, Caps: configs.Capabilities{
				Bounding: dflt, Effective: dflt, Permitted: dflt, Inheritable: nbs, Ambient: nbs}},
			want: capStatus{Bnd: bits(dflt...), Eff: bits(nbs...), Prm: bits(nbs...), Inh: bits(nbs...), Amb: bits(nbs...)},
		},
		{
			name: "non-root without ambient loses everything at execve",
			req: helperRequest{UID: 1000, Exec: true, Caps: configs.Capabilities{
				Bounding: dflt, Effective: dflt, Permitted: dflt}},
			want: capStatus{Bnd: bits(dflt...)},
		},
		{
			// Capabilities above what the kernel knows are ignored, as in runc.
			name: "unknown to kernel ignored",
			req:  helperRequest{Caps: configs.Capabilities{Bounding: []int{unix.CAP_KILL, 62}, Effective: []int{62}}},
			want: capStatus{Bnd: bits(unix.CAP_KILL)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runHelperProcess(t, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got := parseStatus(t, out)
			want := tt.want
			want.Bnd &= host.Bnd
			if got != want {
				t.Fatalf("capabilities\n got  %+x\n want %+x", got, want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	requireRootWithSetpcap(t)
	tests := []struct {
		name    string
		req     helperRequest
		wantErr string
	}{
		{
			name:    "not a capability number",
			req:     helperRequest{Caps: configs.Capabilities{Permitted: []int{64}}},
			wantErr: "permitted capabilities: 64 is not a capability number",
		},
		{
			name:    "negative bounding",
			req:     helperRequest{Caps: configs.Capabilities{Bounding: []int{-1}}},
			wantErr: "bounding capabilities: -1 is not a capability number",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runHelperProcess(t, tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLast(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skipf("needs /proc/sys/kernel/cap_last_cap: %v", err)
	}
	want, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got := Last(); got != want {
		t.Fatalf("Last() = %d, cap_last_cap says %d", got, want)
	}
}

// TestUngrantableLeftOut: a capability outside hull's own permitted set
// (CAP_SYS_RESOURCE in this sandbox) is left out, not a failure, and
// Ungrantable names it for the warning.
func TestUngrantableLeftOut(t *testing.T) {
	host := requireRootWithSetpcap(t)
	missing := -1
	for n := 0; n <= Last(); n++ {
		if host.Prm&bits(n) == 0 {
			missing = n
			break
		}
	}
	if missing < 0 {
		t.Skip("hull holds every capability here: none is ungrantable (host feature: a reduced bounding set)")
	}
	want := []int{unix.CAP_KILL, missing}
	if got := Ungrantable(&configs.Capabilities{Effective: want}); len(got) != 1 || got[0] != Name(missing) {
		t.Errorf("Ungrantable = %v, want [%s]", got, Name(missing))
	}
	out, err := runHelperProcess(t, helperRequest{Caps: configs.Capabilities{Bounding: want, Effective: want, Permitted: want}})
	if err != nil {
		t.Fatalf("applying a set with %s failed: %v", Name(missing), err)
	}
	got := parseStatus(t, out)
	if got.Eff != bits(unix.CAP_KILL) || got.Prm != bits(unix.CAP_KILL) {
		t.Errorf("effective %#x permitted %#x, want only CAP_KILL", got.Eff, got.Prm)
	}
}
