package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestMapUID(t *testing.T) {
	tests := []struct {
		name, uidMap string
		uid, want    int
		ok           bool
	}{
		{name: "initial namespace", uidMap: "         0          0 4294967295\n", uid: 1000, want: 1000, ok: true},
		{name: "rootless root", uidMap: "         0       1000          1\n", uid: 0, want: 1000, ok: true},
		{name: "subuid range", uidMap: "0 1000 1\n1 100000 65536\n", uid: 5, want: 100004, ok: true},
		{name: "unmapped", uidMap: "0 1000 1\n", uid: 7, ok: false},
		{name: "garbage", uidMap: "x y z\n", uid: 0, ok: false},
	}
	for _, tt := range tests {
		got, ok := mapUID([]byte(tt.uidMap), tt.uid)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("%s: mapUID(%d) = %d %v, want %d %v", tt.name, tt.uid, got, ok, tt.want, tt.ok)
		}
	}
}

func TestUserBusAddress(t *testing.T) {
	rt := t.TempDir()
	if err := os.WriteFile(filepath.Join(rt, "bus"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, session, runtime, want, wantErr string
	}{
		{name: "session address first", session: "unix:path=/x/bus", runtime: rt, want: "unix:path=/x/bus"},
		{name: "XDG_RUNTIME_DIR/bus", runtime: rt, want: "unix:path=" + filepath.Join(rt, "bus")},
		{name: "no bus socket", runtime: t.TempDir(), wantErr: "no user bus at"},
		{name: "nothing set", wantErr: "neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", tt.session)
			t.Setenv("XDG_RUNTIME_DIR", tt.runtime)
			got, err := userBusAddress()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("userBusAddress() = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("userBusAddress() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestSystemdRootlessNeedsV2 runs on a cgroup v1 or hybrid host: systemd
// delegates no v1 hierarchy to a user, so the rootless systemd driver is
// refused up front, naming why.
func TestSystemdRootlessNeedsV2(t *testing.T) {
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	if mode == Unified {
		t.Skip("host is cgroup v2: the rootless systemd driver is allowed here")
	}
	_, err = New(&configs.Cgroup{Systemd: true}, "c1", true)
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "needs cgroup v2") {
		t.Fatalf("New(systemd, rootless) on a %s host: %v, want a cgroup v2 error", mode, err)
	}
}

// userBusForTest runs the private bus of startBus and makes it the user's
// bus too: the fake systemd answers there as a user instance would.
func userBusForTest(t *testing.T) {
	t.Helper()
	startBus(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"))
	t.Setenv("XDG_RUNTIME_DIR", "")
}

const testUserManagerCgroup = "/user.slice/user-1000.slice/user@1000.service"

// TestSystemdRootlessOverDBus runs the rootless driver against a fake
// user instance on a private dbus-daemon: the unit is created in
// user.slice under the manager's own cgroup (asked over D-Bus at Apply,
// not at New), with no device properties, its limits written there, and
// the state names it as rootless, so that later commands dial the user's
// bus again.
func TestSystemdRootlessOverDBus(t *testing.T) {
	userBusForTest(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	fake.controlGroup = testUserManagerCgroup
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}, Pids: &specs.LinuxPids{Limit: i64(10)},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	m, err := userSystemd(root, &configs.Cgroup{Systemd: true, Resources: res}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	m.timeout = 5 * time.Second
	if calls := fake.members(); len(calls) != 0 {
		t.Fatalf("New talked to systemd: %v", calls)
	}
	if st := m.State(); st.Unit != "hull-c1.scope" || !st.Rootless || st.Driver != DriverSystemd || len(st.Paths) != 0 {
		t.Errorf("State() before Apply = %+v, want the unit, rootless, no paths yet", st)
	}
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	start := fake.call("StartTransientUnit")
	if start == nil || start.unit != "hull-c1.scope" {
		t.Fatalf("StartTransientUnit call = %+v", start)
	}
	checkSignatures(t, start.props)
	got := propMap(start.props)
	for name, want := range map[string]any{"Slice": "user.slice", "Delegate": true, "PIDs": []uint32{4321}, "MemoryMax": uint64(1 << 20), "TasksMax": uint64(10)} {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("property %s = %#v, want %#v", name, got[name], want)
		}
	}
	for _, name := range []string{"DevicePolicy", "DeviceAllow"} {
		if _, ok := got[name]; ok {
			t.Errorf("rootless unit has %s: a user's systemd has no device policy to give", name)
		}
	}
	want := filepath.Join(root, testUserManagerCgroup, "user.slice", "hull-c1.scope")
	if m.Path("") != want {
		t.Fatalf("Path() = %q, want %q", m.Path(""), want)
	}
	if got := readTrim(t, filepath.Join(want, "memory.max")); got != "1048576" {
		t.Errorf("memory.max = %q after Apply", got)
	}
	st := m.State()
	if !st.Rootless || st.Unit != "hull-c1.scope" || st.Paths[""] != want || len(st.Created) != 0 {
		t.Errorf("State() = %+v", st)
	}
	l, err := loadSystemd(st)
	if err != nil {
		t.Fatal(err)
	}
	if lm := l.(*systemdManager); !lm.rootless {
		t.Errorf("loadSystemd of a rootless state: not rootless (would dial the system bus)")
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Errorf("unit cgroup left after Destroy: %v", err)
	}
}

// TestSystemdRootlessSlice: an explicit slice of the cgroupsPath is
// taken in the user's instance, under its cgroup.
func TestSystemdRootlessSlice(t *testing.T) {
	m, err := userSystemd("/sys/fs/cgroup", &configs.Cgroup{Systemd: true, Path: "app.slice:podman:x"}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if m.unit != "podman-x.scope" || m.slice != "app.slice" || m.path != "/app.slice/podman-x.scope" {
		t.Errorf("unit %q slice %q path %q", m.unit, m.slice, m.path)
	}
}

// TestSystemdRootlessExecAttach: hull, rootless, may not write the
// cgroup.procs of the container's unit when it runs outside the user's
// systemd instance (EACCES on the common ancestor): systemd moves the
// exec'd process instead, into the sub-cgroup asked for; systemd's EBUSY
// stays EBUSY (for the init's-cgroup fallback); when systemd cannot move
// it either, a rootless exec runs outside with a warning, a root one
// fails naming both errors.
func TestSystemdRootlessExecAttach(t *testing.T) {
	userBusForTest(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	fake.controlGroup = testUserManagerCgroup
	m, err := userSystemd(root, &configs.Cgroup{Systemd: true}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	m.timeout = 5 * time.Second
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy()
	dir := m.Path("")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeCgroup(filepath.Join(dir, "sub"))
	// The manager of a later command, as Load makes it on a v2 host.
	l := &systemdManager{unit: m.unit, fs: &v2Manager{root: root, dir: dir, rootless: true}, v2: true, loaded: true,
		rootless: true, dial: dialUserSystemd, timeout: 5 * time.Second}
	denied := func(dir string, pid int) error {
		return &os.PathError{Op: "write", Path: filepath.Join(dir, "cgroup.procs"), Err: unix.EACCES}
	}
	tests := []struct {
		name      string
		sub       map[string]string
		attachErr string
		rootless  bool
		wantUnit  string // the unit and sub-cgroup systemd was asked for
		wantProcs string // where the pid landed, relative to dir
		wantErr   error
	}{
		{name: "unit", rootless: true, wantUnit: "hull-c1.scope", wantProcs: "."},
		{name: "sub-cgroup", sub: map[string]string{"": "sub"}, rootless: true, wantUnit: "hull-c1.scope/sub", wantProcs: "sub"},
		{name: "systemd says EBUSY", attachErr: "System.Error.EBUSY", sub: map[string]string{"": "/"}, wantUnit: "hull-c1.scope", wantErr: unix.EBUSY},
		{name: "old systemd, rootless", attachErr: "org.freedesktop.DBus.Error.UnknownMethod", rootless: true, wantUnit: "hull-c1.scope"},
		{name: "old systemd, root", attachErr: "org.freedesktop.DBus.Error.UnknownMethod", wantUnit: "hull-c1.scope", wantErr: unix.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.mu.Lock()
			fake.attachErr = tt.attachErr
			fake.calls = nil
			fake.mu.Unlock()
			for _, d := range []string{dir, filepath.Join(dir, "sub")} {
				os.WriteFile(filepath.Join(d, "cgroup.procs"), nil, 0o644)
			}
			target, err := l.Exec(tt.sub, 0)
			if err != nil {
				t.Fatal(err)
			}
			target.write = denied
			target.rootless = tt.rootless
			err = target.Join(777)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "AttachProcessesToUnit") {
					t.Fatalf("Join = %v, want %v and systemd's error", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Join = %v", err)
			}
			call := fake.call("AttachProcessesToUnit")
			if call == nil || call.unit != tt.wantUnit || !reflect.DeepEqual(call.pids, []uint32{777}) {
				t.Fatalf("AttachProcessesToUnit call = %+v, want %s [777]", call, tt.wantUnit)
			}
			if tt.wantProcs != "" {
				if got := readTrim(t, filepath.Join(dir, tt.wantProcs, "cgroup.procs")); got != "777" {
					t.Errorf("%s/cgroup.procs = %q, want the pid systemd moved", tt.wantProcs, got)
				}
			}
		})
	}
	// Where hull may write, it does, without asking systemd.
	fake.mu.Lock()
	fake.calls = nil
	fake.mu.Unlock()
	if err := l.Join(888); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.procs")); got != "888" || fake.call("AttachProcessesToUnit") != nil {
		t.Errorf("a permitted join: cgroup.procs = %q, systemd calls %v", got, fake.members())
	}
}
