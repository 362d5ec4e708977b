package specconv

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

// userNSProcess starts a process in a new user namespace mapping only
// container ids 0-9 (to the caller's uid and gid) and returns its pid.
func userNSProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot make a user namespace on this host: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestConvertJoinedUserNSUnmapped: a user namespace joined by
// /proc/PID/ns/user is checked against that process's maps.
func TestConvertJoinedUserNSUnmapped(t *testing.T) {
	pid := userNSProcess(t)
	for _, tt := range []struct {
		name  string
		edit  func(p *specs.Process)
		field string
	}{
		{"mapped", func(p *specs.Process) {}, ""},
		{"uid", func(p *specs.Process) { p.User.UID = 5 }, "process.user.uid"},
		{"gid", func(p *specs.Process) { p.User.GID = 5 }, "process.user.gid"},
		{"additional gid", func(p *specs.Process) { p.User.AdditionalGids = []uint32{0, 7} }, "process.user.additionalGids[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := Example()
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: fmt.Sprintf("/proc/%d/ns/user", pid)})
			tt.edit(s.Process)
			_, err := Convert(&Spec{Spec: s}, Options{Bundle: newBundle(t)})
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+": ") || !strings.Contains(err.Error(), "not mapped") {
				t.Fatalf("error %v, want %s: ... not mapped", err, tt.field)
			}
		})
	}
}

func TestCheckExecUser(t *testing.T) {
	pid := userNSProcess(t)
	newNS := &configs.Config{
		Namespaces:  []configs.Namespace{{Type: configs.NEWNS}, {Type: configs.NEWUSER}},
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}},
	}
	joined := &configs.Config{Namespaces: []configs.Namespace{{Type: configs.NEWNS}, {Type: configs.NEWUSER, Path: "/somewhere"}}}
	host := &configs.Config{Namespaces: []configs.Namespace{{Type: configs.NEWNS}}}
	flags := UserFields{UID: "--user", GID: "--user", AdditionalGids: "--additional-gids"}
	tests := []struct {
		name    string
		cfg     *configs.Config
		pid     int
		p       configs.Process
		f       UserFields
		wantErr string // prefix; "" means accepted
	}{
		{"host ok", host, 0, configs.Process{UID: 4294967294, GID: 65534}, ProcessUserFields, ""},
		{"host uid -1", host, 0, configs.Process{UID: 4294967295}, ProcessUserFields, "process.user.uid: 4294967295 is (uid_t)-1"},
		{"host gid -1 from --user", host, 0, configs.Process{GID: 4294967295}, flags, "--user: 4294967295 is (gid_t)-1"},
		{"host additional gid -1", host, 0, configs.Process{AdditionalGids: []uint32{4294967295}}, flags, "--additional-gids[0]: "},
		{"new userns mapped", newNS, pid, configs.Process{UID: 999, GID: 999}, ProcessUserFields, ""},
		{"new userns uid unmapped", newNS, pid, configs.Process{UID: 1000}, ProcessUserFields, "process.user.uid: 1000 is not mapped"},
		{"new userns gid -1", newNS, pid, configs.Process{GID: 4294967295}, ProcessUserFields, "process.user.gid: 4294967295 is (gid_t)-1"},
		{"joined userns mapped", joined, pid, configs.Process{}, ProcessUserFields, ""},
		{"joined userns uid unmapped", joined, pid, configs.Process{UID: 1}, ProcessUserFields, "process.user.uid: 1 is not mapped"},
		{"joined userns additional gid unmapped", joined, pid, configs.Process{AdditionalGids: []uint32{0, 3}}, ProcessUserFields, "process.user.additionalGids[1]: 3 is not mapped"},
		// No init to read the maps of: left to the kernel.
		{"joined userns, maps unreadable", joined, 0, configs.Process{UID: 1}, ProcessUserFields, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckExecUser(&tt.p, tt.cfg, tt.pid, tt.f)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want prefix %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseIDMap(t *testing.T) {
	got, err := parseIDMap([]byte("         0     100000       1000\n      1000          0          1\n"))
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 1000}, {ContainerID: 1000, HostID: 0, Size: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseIDMap = %v, %v; want %v", got, err, want)
	}
	if _, err := parseIDMap([]byte("0 x 1\n")); err == nil {
		t.Fatal("malformed map accepted")
	}
}
