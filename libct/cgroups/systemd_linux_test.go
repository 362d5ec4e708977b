package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSystemdUnit(t *testing.T) {
	tests := []struct {
		path, id            string
		unit, slice, cgroup string
		wantErr             bool
	}{
		{path: "", id: "abc", unit: "hull-abc.scope", slice: "system.slice", cgroup: "/system.slice/hull-abc.scope"},
		{path: "machine.slice:libpod:xyz", unit: "libpod-xyz.scope", slice: "machine.slice", cgroup: "/machine.slice/libpod-xyz.scope"},
		{path: "kubepods-besteffort-pod1.slice:cri-containerd:c1", unit: "cri-containerd-c1.scope", slice: "kubepods-besteffort-pod1.slice",
			cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-c1.scope"},
		{path: ":hull:x", unit: "hull-x.scope", slice: "system.slice", cgroup: "/system.slice/hull-x.scope"},
		{path: "system.slice::x", unit: "x.scope", slice: "system.slice", cgroup: "/system.slice/x.scope"},
		{path: "-.slice:p:x", unit: "p-x.scope", slice: "-.slice", cgroup: "/p-x.scope"},
		{path: "::my-app.slice", unit: "my-app.slice", slice: "", cgroup: "/my.slice/my-app.slice"},
		{path: "a:b", wantErr: true},
		{path: "system.slice:p:", wantErr: true},
		{path: "system.slice:p:a/b", wantErr: true},
		{path: "notaslice:p:x", wantErr: true},
		{path: "a--b.slice:p:x", wantErr: true},
		{path: "../x.slice:p:x", wantErr: true},
	}
	for _, tt := range tests {
		unit, slice, cg, err := systemdUnit(tt.path, tt.id)
		if tt.wantErr {
			if err == nil {
				t.Errorf("systemdUnit(%q): want an error, got %q %q %q", tt.path, unit, slice, cg)
			}
			continue
		}
		if err != nil || unit != tt.unit || slice != tt.slice || cg != tt.cgroup {
			t.Errorf("systemdUnit(%q) = %q %q %q %v; want %q %q %q", tt.path, unit, slice, cg, err, tt.unit, tt.slice, tt.cgroup)
		}
	}
}

const testProcDevices = `Character devices:
  1 mem
  5 /dev/tty
136 pts
Block devices:
  7 loop
254 virtblk
`

// propMap turns properties into name -> value for comparison.
func propMap(ps []property) map[string]any {
	m := make(map[string]any, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value.Value
	}
	return m
}

func TestResourceProperties(t *testing.T) {
	tests := []struct {
		name    string
		v2      bool
		res     specs.LinuxResources
		want    map[string]any
		wantErr bool
	}{
		{name: "v2 memory", v2: true, res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(300), Reservation: i64(50)}},
			want: map[string]any{"MemoryMax": uint64(100), "MemoryLow": uint64(50), "MemorySwapMax": uint64(200)}},
		{name: "v2 memory unlimited", v2: true, res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			want: map[string]any{"MemoryMax": uint64(infinity), "MemorySwapMax": uint64(infinity)}},
		{name: "v2 bad swap", v2: true, res: specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(300)}}, wantErr: true},
		{name: "v1 memory", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}},
			want: map[string]any{"MemoryLimit": uint64(100)}},
		{name: "v2 cpu", v2: true, res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1,4", Mems: "0"}},
			want: map[string]any{"CPUWeight": uint64(100), "CPUQuotaPerSecUSec": uint64(500000), "CPUQuotaPeriodUSec": uint64(100000),
				"AllowedCPUs": []byte{0x13}, "AllowedMemoryNodes": []byte{0x01}}},
		{name: "v1 cpu quota rounded up", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(12345)}},
			want: map[string]any{"CPUShares": uint64(512), "CPUQuotaPerSecUSec": uint64(130000)}},
		{name: "cpu quota unlimited", v2: true, res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}},
			want: map[string]any{"CPUQuotaPerSecUSec": uint64(infinity)}},
		{name: "pids", v2: true, res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(64)}},
			want: map[string]any{"TasksMax": uint64(64)}},
		{name: "pids unlimited", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}},
			want: map[string]any{"TasksMax": uint64(infinity)}},
		{name: "pids zero", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			want: map[string]any{"TasksMax": uint64(1)}},
		{name: "v2 io", v2: true, res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10}}}},
			want: map[string]any{"IOWeight": uint64(4950), "IOReadBandwidthMax": []any{[]any{"/dev/block/8:0", uint64(1000)}},
				"IOWriteIOPSMax": []any{[]any{"/dev/block/8:0", uint64(10)}}}},
		{name: "v1 blkio", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			ThrottleReadIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10}}}},
			want: map[string]any{"BlockIOWeight": uint64(500)}},
		{name: "devices", v2: true, res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(136), Access: "rw"},
			{Allow: true, Type: "b", Access: "m"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "r"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(9), Access: "r"},
			{Allow: true, Type: "c", Major: i64(999), Access: "r"},
		}}, want: map[string]any{"DevicePolicy": "strict", "DeviceAllow": []any{
			[]any{"/dev/char/1:3", "rwm"}, []any{"char-pts", "rw"}, []any{"block-*", "m"},
		}}},
		{name: "devices allow all", v2: true, res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"}, {Allow: true, Access: "rwm"}}},
			want: map[string]any{"DevicePolicy": "auto", "DeviceAllow": []any{}}},
		{name: "devices deny one after allow all", v2: true, res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: true, Access: "rwm"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(3)}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := resourceProperties(&tt.res, tt.v2, testProcDevices)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", ps)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := propMap(ps)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("properties:\n got %#v\nwant %#v", got, tt.want)
			}
			// Every property must marshal with its signature.
			var e encoder
			for _, p := range ps {
				if err := e.encode("(sv)", []any{p.Name, p.Value}); err != nil {
					t.Errorf("%s: %v", p.Name, err)
				}
			}
		})
	}
}

// fakeSystemd plays systemd on a test bus: it owns org.freedesktop.systemd1,
// answers the calls the driver makes, creates and removes the unit's
// directory in a fake cgroup tree, and sends JobRemoved for each job.
type fakeSystemd struct {
	c     *dbusConn
	root  string // fake cgroup tree; units live under system.slice
	mu    sync.Mutex
	calls []*message
	units map[string]bool
}

func startFakeSystemd(t *testing.T, sock, root string) *fakeSystemd {
	c, err := dialDBus(sock, true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.call(5*time.Second, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName", "su", systemdBusName, uint32(4))
	if err != nil || reply.body[0] != uint32(1) {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
	f := &fakeSystemd{c: c, root: root, units: map[string]bool{}}
	go f.serve()
	t.Cleanup(func() { c.Close() })
	return f
}

func (f *fakeSystemd) serve() {
	job := uint32(0)
	for {
		m, err := f.c.next(time.Hour, func(m *message) bool { return m.typ == msgMethodCall })
		if err != nil {
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, m)
		f.mu.Unlock()
		reply := &message{typ: msgMethodReturn, replySerial: m.serial, dest: m.src}
		var done *message
		fail := func(name, text string) {
			reply = &message{typ: msgError, replySerial: m.serial, dest: m.src, errName: name, sig: "s", body: []any{text}}
		}
		switch m.member {
		case "Subscribe", "ResetFailedUnit", "SetUnitProperties":
		case "StartTransientUnit", "StopUnit":
			unit := m.body[0].(string)
			dir := filepath.Join(f.root, "system.slice", unit)
			f.mu.Lock()
			switch {
			case m.member == "StartTransientUnit" && f.units[unit]:
				fail("org.freedesktop.systemd1.UnitExists", "Unit "+unit+" already exists.")
			case m.member == "StartTransientUnit":
				f.units[unit] = true
				if os.Mkdir(filepath.Dir(dir), 0o755) == nil {
					fakeCgroup(filepath.Dir(dir))
					// systemd enables the controllers for delegation.
					os.WriteFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"),
						[]byte("+"+strings.ReplaceAll(allControllers, " ", " +")), 0o644)
				}
				os.Mkdir(dir, 0o755)
				fakeCgroup(dir)
			case !f.units[unit]:
				fail("org.freedesktop.systemd1.NoSuchUnit", "Unit "+unit+" not loaded.")
			default:
				delete(f.units, unit)
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					os.Remove(filepath.Join(dir, e.Name()))
				}
				os.Remove(dir)
			}
			f.mu.Unlock()
			if reply.typ == msgMethodReturn {
				job++
				path := objectPath("/org/freedesktop/systemd1/job/" + strings.Repeat("1", int(job)))
				reply.sig, reply.body = "o", []any{path}
				done = &message{typ: msgSignal, path: systemdPath, iface: systemdInterface, member: "JobRemoved",
					sig: "uoss", body: []any{job, path, unit, "done"}}
			}
		default:
			fail("org.freedesktop.DBus.Error.UnknownMethod", m.member)
		}
		if _, err := f.c.send(reply); err != nil {
			return
		}
		if done != nil {
			if _, err := f.c.send(done); err != nil {
				return
			}
		}
	}
}

func (f *fakeSystemd) call(member string) *message {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.calls {
		if m.member == member {
			return m
		}
	}
	return nil
}

// TestSystemdDriverOverDBus runs the driver against a fake systemd on a
// real dbus-daemon, with a fake v2 cgroup tree.
func TestSystemdDriverOverDBus(t *testing.T) {
	sock := startBus(t)
	root := fakeRoot(t)
	for name, content := range map[string]string{"cgroup.controllers": allControllers + "\n", "cgroup.subtree_control": "+" + strings.ReplaceAll(allControllers, " ", " +") + "\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fake := startFakeSystemd(t, sock, root)
	unit, slice, path, err := systemdUnit("", "c1")
	if err != nil {
		t.Fatal(err)
	}
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}, Pids: &specs.LinuxPids{Limit: i64(10)},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}}
	dial := func() (*dbusConn, error) { return dialDBus(sock, true, 5*time.Second) }
	m := &systemdManager{unit: unit, slice: slice, id: "c1", v2: true, res: res, dial: dial, timeout: 5 * time.Second,
		fs: &v2Manager{root: root, dir: filepath.Join(root, path)}}
	if err := m.Apply(0); err == nil {
		t.Fatal("Apply(0) of a scope: want an error")
	}
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	start := fake.call("StartTransientUnit")
	if start == nil || start.body[0] != "hull-c1.scope" || start.body[1] != "replace" {
		t.Fatalf("StartTransientUnit call = %+v", start)
	}
	got := map[string]any{}
	for _, p := range start.body[2].([]any) {
		kv := p.([]any)
		got[kv[0].(string)] = kv[1].(variant).Value
	}
	for name, want := range map[string]any{
		"Slice": "system.slice", "Delegate": true, "PIDs": []any{uint32(4321)}, "MemoryMax": uint64(1 << 20),
		"TasksMax": uint64(10), "DevicePolicy": "strict", "Description": "hull container c1",
	} {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("property %s = %#v, want %#v", name, got[name], want)
		}
	}
	if got := readTrim(t, filepath.Join(m.Path(""), "cgroup.procs")); got != "4321" {
		t.Errorf("cgroup.procs = %q, want the pid joined", got)
	}
	// Set with the resources the unit started with: files only.
	if err := m.Set(res); err != nil {
		t.Fatal(err)
	}
	if fake.call("SetUnitProperties") != nil {
		t.Errorf("Set of the start resources called SetUnitProperties")
	}
	if got := readTrim(t, filepath.Join(m.Path(""), "memory.max")); got != "1048576" {
		t.Errorf("memory.max = %q", got)
	}
	// An update goes to systemd and to the files, from a loaded manager.
	st := m.State()
	if st.Driver != DriverSystemd || st.Unit != "hull-c1.scope" || st.Paths[""] != m.Path("") {
		t.Fatalf("State() = %+v", st)
	}
	l := &systemdManager{unit: st.Unit, fs: &v2Manager{root: root, dir: st.Paths[""]}, v2: true, loaded: true, dial: dial, timeout: 5 * time.Second}
	if err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	if set := fake.call("SetUnitProperties"); set == nil || set.body[0] != "hull-c1.scope" || set.body[1] != true {
		t.Errorf("SetUnitProperties call = %+v", set)
	}
	if got := readTrim(t, filepath.Join(m.Path(""), "pids.max")); got != "20" {
		t.Errorf("pids.max = %q after update", got)
	}
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Path("")); !os.IsNotExist(err) {
		t.Errorf("unit cgroup left after Destroy: %v", err)
	}
	// A second Destroy finds no unit: not an error.
	l.loaded = true
	if err := l.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}
