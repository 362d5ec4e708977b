package cgroups

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/hullrt/hull/libct/configs"
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

// propMap turns properties into name -> value for comparison; of a
// property sent twice (DeviceAllow), the last value.
func propMap(ps []systemdDbus.Property) map[string]any {
	m := make(map[string]any, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value.Value()
	}
	return m
}

// propertySignatures are the D-Bus types systemd takes for the properties
// (org.freedesktop.systemd1(5)); it refuses a value of another type.
var propertySignatures = map[string]string{
	"MemoryMax": "t", "MemoryLimit": "t", "MemoryLow": "t", "MemorySwapMax": "t", "MemoryMin": "t", "MemoryHigh": "t",
	"CPUWeight": "t", "CPUShares": "t", "CPUQuotaPerSecUSec": "t", "CPUQuotaPeriodUSec": "t",
	"AllowedCPUs": "ay", "AllowedMemoryNodes": "ay", "TasksMax": "t",
	"IOWeight": "t", "BlockIOWeight": "t", "IODeviceWeight": "a(st)", "BlockIODeviceWeight": "a(st)",
	"IOReadBandwidthMax": "a(st)", "IOWriteBandwidthMax": "a(st)", "IOReadIOPSMax": "a(st)", "IOWriteIOPSMax": "a(st)",
	"BlockIOReadBandwidth": "a(st)", "BlockIOWriteBandwidth": "a(st)",
	"DeviceAllow": "a(ss)", "DevicePolicy": "s",
	"Description": "s", "Slice": "s", "Delegate": "b", "DefaultDependencies": "b", "PIDs": "au",
	"MemoryAccounting": "b", "CPUAccounting": "b", "TasksAccounting": "b", "IOAccounting": "b", "BlockIOAccounting": "b",
}

// checkSignatures fails for a property of an unexpected D-Bus type.
func checkSignatures(t *testing.T, ps []systemdDbus.Property) {
	t.Helper()
	for _, p := range ps {
		if got, want := p.Value.Signature().String(), propertySignatures[p.Name]; got != want {
			t.Errorf("%s: D-Bus type %q, want %q", p.Name, got, want)
		}
	}
}

// checkDeviceOrder checks that device properties clear DeviceAllow first
// and end with DevicePolicy.
func checkDeviceOrder(t *testing.T, ps []systemdDbus.Property) {
	t.Helper()
	first, policy, last := -1, -1, -1
	for i, p := range ps {
		switch p.Name {
		case "DeviceAllow":
			if first < 0 {
				first = i
				if v, ok := p.Value.Value().([]deviceAllow); !ok || len(v) != 0 {
					t.Errorf("first DeviceAllow = %#v, want the empty list that clears it", p.Value.Value())
				}
			}
			last = i
		case "DevicePolicy":
			policy = i
		}
	}
	if (first < 0) != (policy < 0) || policy < last {
		t.Errorf("device properties out of order (DeviceAllow at %d..%d, DevicePolicy at %d)", first, last, policy)
	}
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
			want: map[string]any{"IOWeight": uint64(4950), "IOReadBandwidthMax": []ioDevice{{"/dev/block/8:0", 1000}},
				"IOWriteIOPSMax": []ioDevice{{"/dev/block/8:0", 10}}}},
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
		}}, want: map[string]any{"DevicePolicy": "strict", "DeviceAllow": []deviceAllow{
			{"/dev/char/1:3", "rwm"}, {"char-pts", "rw"}, {"block-*", "m"},
		}}},
		{name: "devices deny all", v2: true, res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"}}},
			want: map[string]any{"DevicePolicy": "strict", "DeviceAllow": []deviceAllow{}}},
		{name: "devices allow all", v2: true, res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"}, {Allow: true, Access: "rwm"}}},
			want: map[string]any{"DevicePolicy": "auto", "DeviceAllow": []deviceAllow{}}},
		{name: "v2 unified", v2: true, res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}, Unified: map[string]string{
			"memory.max": "200", "memory.high": "max", "memory.min": "10", "memory.low": "20", "memory.swap.max": "0",
			"pids.max": "0", "cpu.weight": "50", "cpu.max": "25000 50000", "cpuset.cpus": "1", "cpuset.mems": "0",
			"io.max": "8:0 rbps=1", "memory.oom.group": "1"}},
			want: map[string]any{"MemoryMax": uint64(200), "MemoryHigh": uint64(infinity), "MemoryMin": uint64(10), "MemoryLow": uint64(20),
				"MemorySwapMax": uint64(0), "TasksMax": uint64(1), "CPUWeight": uint64(50), "CPUQuotaPeriodUSec": uint64(50000),
				"CPUQuotaPerSecUSec": uint64(500000), "AllowedCPUs": []byte{0x02}, "AllowedMemoryNodes": []byte{0x01}}},
		{name: "v2 unified cpu.max max", v2: true, res: specs.LinuxResources{Unified: map[string]string{"cpu.max": "max"}},
			want: map[string]any{"CPUQuotaPerSecUSec": uint64(infinity)}},
		{name: "v1 unified ignored", res: specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, want: map[string]any{}},
		{name: "v2 unified bad memory", v2: true, res: specs.LinuxResources{Unified: map[string]string{"memory.max": "1G"}}, wantErr: true},
		{name: "v2 unified bad weight", v2: true, res: specs.LinuxResources{Unified: map[string]string{"cpu.weight": "0"}}, wantErr: true},
		{name: "v2 unified bad cpu.max", v2: true, res: specs.LinuxResources{Unified: map[string]string{"cpu.max": "1 2 3"}}, wantErr: true},
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
			checkSignatures(t, ps)
			checkDeviceOrder(t, ps)
		})
	}
}

// startBus runs a private dbus-daemon and points the system bus address at
// it, so that dialSystemd connects there.
func startBus(t *testing.T) {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon not installed")
	}
	conf := "/usr/share/dbus-1/session.conf"
	if _, err := os.Stat(conf); err != nil {
		t.Skip("no dbus session.conf")
	}
	sock := filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address", "--address=unix:path="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	if !strings.Contains(line, sock) {
		t.Fatalf("dbus-daemon address %q", line)
	}
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+sock)
}

// fakeCall is a method call the fake systemd received.
type fakeCall struct {
	member, unit string
	props        []systemdDbus.Property
	pids         []uint32
}

// fakeSystemd plays systemd on a test bus: it owns org.freedesktop.systemd1,
// answers the calls the driver makes, creates and removes the unit's
// directory in a fake cgroup tree, and sends JobRemoved for each job.
type fakeSystemd struct {
	conn  *dbus.Conn
	root  string // fake cgroup tree; units live under system.slice
	mu    sync.Mutex
	calls []fakeCall
	units map[string]string // unit -> "active" or "failed"
	// result is the JobRemoved result of a start job ("done" if empty).
	result string
	job    uint32
	// onSet runs in SetUnitProperties (under mu).
	onSet func()
	// version is the manager's Version property.
	version string
	// refuse names a property StartTransientUnit refuses, as systemd
	// refuses one it does not know.
	refuse string
	// controlGroup is the manager's ControlGroup property ("" is "/");
	// units live under it, in their Slice (system.slice if none).
	controlGroup string
	// dirs are the units' cgroup directories.
	dirs map[string]string
	// attachErr is the D-Bus error AttachProcessesToUnit answers, if set.
	attachErr string
}

// fakeProperties answers org.freedesktop.DBus.Properties.Get for the
// manager's Version.
type fakeProperties struct{ f *fakeSystemd }

func (p fakeProperties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.record("Get "+name, "", nil)
	switch {
	case iface != "org.freedesktop.systemd1.Manager":
	case name == "Version":
		return dbus.MakeVariant(p.f.version), nil
	case name == "ControlGroup":
		cg := p.f.controlGroup
		if cg == "" {
			cg = "/"
		}
		return dbus.MakeVariant(cg), nil
	}
	return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{name})
}

func startFakeSystemd(t *testing.T, root string) *fakeSystemd {
	t.Helper()
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeSystemd{conn: conn, root: root, units: map[string]string{}, dirs: map[string]string{}, version: "252.22-1~deb12u1"}
	if err := conn.Export(f, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Export(fakeProperties{f}, "/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v %v", reply, err)
	}
	return f
}

// record keeps a call, with the struct arrays that arrive as [][]any
// stored back into the driver's types for comparison.
func (f *fakeSystemd) record(member, unit string, props []systemdDbus.Property) {
	for i, p := range props {
		var v any
		switch p.Value.Signature().String() {
		case "a(ss)":
			v = &[]deviceAllow{}
		case "a(st)":
			v = &[]ioDevice{}
		default:
			continue
		}
		if err := p.Value.Store(v); err == nil {
			props[i].Value = dbus.MakeVariant(reflect.ValueOf(v).Elem().Interface())
		}
	}
	f.calls = append(f.calls, fakeCall{member: member, unit: unit, props: props})
}

// jobDone sends the JobRemoved signal of a new job and returns the job.
func (f *fakeSystemd) jobDone(unit, result string) dbus.ObjectPath {
	f.job++
	job := dbus.ObjectPath("/org/freedesktop/systemd1/job/" + strconv.Itoa(int(f.job)))
	id := f.job
	// After the reply, as systemd does (go-systemd copes with either order).
	go f.conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.JobRemoved", id, job, unit, result)
	return job
}

func (f *fakeSystemd) StartTransientUnit(name, mode string, props []systemdDbus.Property, aux []systemdDbus.PropertyCollection) (dbus.ObjectPath, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StartTransientUnit", name, props)
	for _, p := range props {
		if f.refuse != "" && p.Name == f.refuse {
			return "", dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"Cannot set property " + p.Name + ", or unknown property."})
		}
	}
	if _, ok := f.units[name]; ok {
		return "", dbus.NewError("org.freedesktop.systemd1.UnitExists", []any{"Unit " + name + " already exists."})
	}
	result := f.result
	if result == "" {
		result = "done"
	}
	if result == "done" {
		f.units[name] = "active"
		slice := "system.slice"
		for _, p := range props {
			if p.Name == "Slice" {
				slice = p.Value.Value().(string)
			}
		}
		sp, err := expandSlice(slice)
		if err != nil {
			return "", dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{err.Error()})
		}
		dir := filepath.Join(f.root, f.controlGroup, sp, name)
		// Top down: a fake cgroup takes its controllers from its parent.
		var parents []string
		for d := filepath.Dir(dir); d != f.root && d != "/"; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if os.Mkdir(d, 0o755) == nil {
				fakeCgroup(d)
				// systemd enables the controllers for delegation.
				os.WriteFile(filepath.Join(d, "cgroup.subtree_control"),
					[]byte("+"+strings.ReplaceAll(allControllers, " ", " +")), 0o644)
			}
		}
		os.Mkdir(dir, 0o755)
		fakeCgroup(dir)
		f.dirs[name] = dir
	} else {
		f.units[name] = "failed"
	}
	return f.jobDone(name, result), nil
}

func (f *fakeSystemd) StopUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("StopUnit", name, nil)
	if f.units[name] != "active" {
		return "", dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	delete(f.units, name)
	dir := f.dirs[name]
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	os.Remove(dir)
	return f.jobDone(name, "done"), nil
}

// AttachProcessesToUnit writes the pids to the unit's cgroup (or its
// sub-cgroup sub) in the fake tree, or answers attachErr.
func (f *fakeSystemd) AttachProcessesToUnit(name, sub string, pids []uint32) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{member: "AttachProcessesToUnit", unit: name + sub, pids: pids})
	if f.attachErr != "" {
		return dbus.NewError(f.attachErr, []any{"Failed to attach processes to control group"})
	}
	dir, ok := f.dirs[name]
	if f.units[name] != "active" || !ok {
		return dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(dir, sub, "cgroup.procs"), []byte(strconv.Itoa(int(pid))), 0o644); err != nil {
			return dbus.NewError("System.Error.ENOENT", []any{err.Error()})
		}
	}
	return nil
}

func (f *fakeSystemd) ResetFailedUnit(name string) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("ResetFailedUnit", name, nil)
	if f.units[name] == "failed" {
		delete(f.units, name)
	}
	return nil
}

func (f *fakeSystemd) SetUnitProperties(name string, runtime bool, props []systemdDbus.Property) *dbus.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetUnitProperties", name, props)
	if f.onSet != nil {
		f.onSet()
	}
	if !runtime {
		return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []any{"hull sets runtime properties only"})
	}
	if f.units[name] != "active" {
		return dbus.NewError("org.freedesktop.systemd1.NoSuchUnit", []any{"Unit " + name + " not loaded."})
	}
	return nil
}

// members lists the methods called, in order.
func (f *fakeSystemd) members() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ms []string
	for _, c := range f.calls {
		ms = append(ms, c.member)
	}
	return ms
}

// call returns the last call of member.
func (f *fakeSystemd) call(member string) *fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].member == member {
			c := f.calls[i]
			return &c
		}
	}
	return nil
}

// fakeSystemdTree is a fake v2 cgroup root with every controller enabled.
func fakeSystemdTree(t *testing.T) string {
	t.Helper()
	root := fakeRoot(t)
	for name, content := range map[string]string{"cgroup.controllers": allControllers + "\n", "cgroup.subtree_control": "+" + strings.ReplaceAll(allControllers, " ", " +") + "\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// newTestSystemd is the driver of unit id's default scope over the fake
// tree, dialing the test bus.
func newTestSystemd(t *testing.T, root, id string, res *specs.LinuxResources) *systemdManager {
	t.Helper()
	unit, slice, path, err := systemdUnit("", id)
	if err != nil {
		t.Fatal(err)
	}
	return &systemdManager{unit: unit, slice: slice, id: id, v2: true, res: res, dial: dialSystemd, timeout: 5 * time.Second,
		fs: &v2Manager{root: root, dir: filepath.Join(root, path), res: withoutDevices(res)}}
}

// TestSystemdDriverOverDBus runs the driver (go-systemd on godbus) against
// a fake systemd on a real dbus-daemon, with a fake v2 cgroup tree.
func TestSystemdDriverOverDBus(t *testing.T) {
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}, Pids: &specs.LinuxPids{Limit: i64(10)},
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}}
	m := newTestSystemd(t, root, "c1", res)
	if err := m.Apply(0); err == nil {
		t.Fatal("Apply(0) of a scope: want an error")
	}
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	start := fake.call("StartTransientUnit")
	if start == nil || start.unit != "hull-c1.scope" {
		t.Fatalf("StartTransientUnit call = %+v", start)
	}
	checkSignatures(t, start.props)
	checkDeviceOrder(t, start.props)
	got := propMap(start.props)
	for name, want := range map[string]any{
		"Slice": "system.slice", "Delegate": true, "PIDs": []uint32{4321}, "MemoryMax": uint64(1 << 20),
		"TasksMax": uint64(10), "DevicePolicy": "strict", "Description": "hull container c1",
		"DeviceAllow": []deviceAllow{{"/dev/char/1:3", "rwm"}}, "DefaultDependencies": false,
	} {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("property %s = %#v, want %#v", name, got[name], want)
		}
	}
	if got := readTrim(t, filepath.Join(m.Path(""), "cgroup.procs")); got != "4321" {
		t.Errorf("cgroup.procs = %q, want the pid joined", got)
	}
	// The resources were handed over once, at New: Apply started the
	// unit with them and wrote the files systemd does not, with no
	// second round trip (SetUnitProperties).
	if fake.call("SetUnitProperties") != nil {
		t.Errorf("Apply of a new unit called SetUnitProperties")
	}
	if got := readTrim(t, filepath.Join(m.Path(""), "memory.max")); got != "1048576" {
		t.Errorf("memory.max = %q after Apply", got)
	}
	// An update goes to systemd and to the files, from a loaded manager.
	st := m.State()
	if st.Driver != DriverSystemd || st.Unit != "hull-c1.scope" || st.Paths[""] != m.Path("") {
		t.Fatalf("State() = %+v", st)
	}
	l := &systemdManager{unit: st.Unit, fs: &v2Manager{root: root, dir: st.Paths[""]}, v2: true, loaded: true, dial: dialSystemd, timeout: 5 * time.Second}
	if err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	set := fake.call("SetUnitProperties")
	if set == nil || set.unit != "hull-c1.scope" || !reflect.DeepEqual(propMap(set.props), map[string]any{"TasksMax": uint64(20)}) {
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
	// An update of a unit that is gone is systemd's error, named.
	l.loaded = true
	err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(30)}})
	if err == nil || !strings.Contains(err.Error(), "NoSuchUnit") && !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("update of a stopped unit: %v, want systemd's NoSuchUnit", err)
	}
}

// TestSystemdStartUnitExists covers a unit name that is taken: a failed
// unit of an earlier run is reset and the start retried; an active one is
// another container's, and an error.
func TestSystemdStartUnitExists(t *testing.T) {
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	fake.mu.Lock()
	fake.units["hull-old.scope"] = "failed"
	fake.units["hull-busy.scope"] = "active"
	fake.mu.Unlock()

	m := newTestSystemd(t, root, "old", nil)
	if err := m.Apply(4321); err != nil {
		t.Fatalf("start over a failed unit: %v", err)
	}
	want := []string{"StartTransientUnit", "ResetFailedUnit", "StartTransientUnit"}
	if got := fake.members(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}

	busy := newTestSystemd(t, root, "busy", nil)
	err := busy.Apply(4321)
	if err == nil || !isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		t.Fatalf("start over an active unit: %v, want UnitExists", err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.units["hull-busy.scope"] != "active" {
		t.Errorf("the other container's unit was touched: %q", fake.units["hull-busy.scope"])
	}
}

// TestSystemdStartJobFails covers a start job that systemd ends other than
// "done": Apply fails naming the result and leaves no unit behind.
func TestSystemdStartJobFails(t *testing.T) {
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	fake.mu.Lock()
	fake.result = "failed"
	fake.mu.Unlock()
	m := newTestSystemd(t, root, "bad", nil)
	err := m.Apply(4321)
	if err == nil || !strings.Contains(err.Error(), `"failed"`) {
		t.Fatalf("Apply = %v, want the job's result", err)
	}
	if m.started {
		t.Errorf("manager marked started after a failed start")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if _, ok := fake.units["hull-bad.scope"]; ok {
		t.Errorf("failed unit left behind (not reset)")
	}
}

// TestSystemdV1FreezesAroundDevices checks, on the host's v1 freezer, that
// an update carrying device rules runs SetUnitProperties with the cgroup
// frozen (systemd rewrites devices.deny "a" first) and thaws it after,
// that a frozen container stays frozen, and that other updates do not
// freeze.
func TestSystemdV1FreezesAroundDevices(t *testing.T) {
	needV1Root(t)
	startBus(t)
	fake := startFakeSystemd(t, t.TempDir())
	fs, err := New(&configs.Cgroup{}, testID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Path("freezer") == "" {
		t.Skip("no v1 freezer hierarchy")
	}
	cmd := startSleep(t)
	if err := fs.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	defer func() {
		killWait(cmd)
		if err := fs.Destroy(); err != nil {
			t.Error(err)
		}
	}()
	const unit = "hull-v1.scope"
	var states []string
	fake.mu.Lock()
	fake.units[unit] = "active"
	fake.onSet = func() {
		b, _ := os.ReadFile(filepath.Join(fs.Path("freezer"), "freezer.state"))
		states = append(states, strings.TrimSpace(string(b)))
	}
	fake.mu.Unlock()
	m := &systemdManager{unit: unit, fs: fs, loaded: true, dial: dialSystemd, timeout: 5 * time.Second}
	devices := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}
	tests := []struct {
		name      string
		frozen    bool
		res       *specs.LinuxResources
		wantInSet string
	}{
		{"devices", false, &specs.LinuxResources{Devices: devices}, "FROZEN"},
		{"devices while paused", true, &specs.LinuxResources{Devices: devices}, "FROZEN"},
		{"no devices", false, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}}, "THAWED"},
	}
	for _, tt := range tests {
		if tt.frozen {
			if err := fs.Freeze(); err != nil {
				t.Fatal(err)
			}
		}
		fake.mu.Lock()
		states = nil
		fake.mu.Unlock()
		if err := m.Set(tt.res); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		fake.mu.Lock()
		got := states
		fake.mu.Unlock()
		if len(got) != 1 || got[0] != tt.wantInSet {
			t.Errorf("%s: freezer.state during SetUnitProperties = %q, want %s", tt.name, got, tt.wantInSet)
		}
		if frozen, err := fs.Frozen(); err != nil || frozen != tt.frozen {
			t.Errorf("%s: frozen after Set = %v, %v; want %v", tt.name, frozen, err, tt.frozen)
		}
		if err := fs.Thaw(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseSystemdVersion(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`"252.22-1~deb12u1"`, 252}, {`"v245.4-1.fc32"`, 245}, {`"239"`, 239}, {`""`, 0}, {`"x"`, 0},
	}
	for _, tt := range tests {
		if got := parseSystemdVersion(tt.in); got != tt.want {
			t.Errorf("parseSystemdVersion(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestSystemdOldVersion checks that properties an old systemd does not know
// are left out of the calls (it would refuse the whole call), that the
// version is asked only when such a property is there, and that the fs
// driver still writes their files.
func TestSystemdOldVersion(t *testing.T) {
	tests := []struct {
		version  string
		res      *specs.LinuxResources
		wantAsk  bool
		wantSent []string
		wantLeft []string
	}{
		{`239.1`, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Quota: i64(50000), Period: u64(100000)}, Pids: &specs.LinuxPids{Limit: i64(5)}},
			true, []string{"CPUQuotaPerSecUSec", "TasksMax"}, []string{"AllowedCPUs", "CPUQuotaPeriodUSec"}},
		{`243`, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Quota: i64(50000), Period: u64(100000)}},
			true, []string{"CPUQuotaPeriodUSec", "CPUQuotaPerSecUSec"}, []string{"AllowedCPUs"}},
		{`252`, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, true, []string{"AllowedCPUs"}, nil},
		{`not a version`, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}, Pids: &specs.LinuxPids{Limit: i64(5)}},
			true, []string{"TasksMax"}, []string{"AllowedCPUs"}},
		{`239`, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}}, false, []string{"TasksMax"}, nil},
	}
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	for i, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			fake.mu.Lock()
			fake.version, fake.calls = tt.version, nil
			fake.mu.Unlock()
			m := newTestSystemd(t, root, "old"+strconv.Itoa(i), tt.res)
			if err := m.Apply(4321); err != nil {
				t.Fatal(err)
			}
			defer m.Destroy()
			if asked := fake.call("Get Version") != nil; asked != tt.wantAsk {
				t.Errorf("asked the version: %v, want %v", asked, tt.wantAsk)
			}
			sent := propMap(fake.call("StartTransientUnit").props)
			for _, name := range tt.wantSent {
				if _, ok := sent[name]; !ok {
					t.Errorf("%s not sent", name)
				}
			}
			for _, name := range tt.wantLeft {
				if _, ok := sent[name]; ok {
					t.Errorf("%s sent to systemd %s", name, tt.version)
				}
			}
			if err := m.Set(tt.res); err != nil {
				t.Fatal(err)
			}
			if tt.res.CPU != nil && tt.res.CPU.Cpus != "" {
				if got := readTrim(t, filepath.Join(m.Path(""), "cpuset.cpus")); got != tt.res.CPU.Cpus {
					t.Errorf("cpuset.cpus = %q, want %q from the fs driver", got, tt.res.CPU.Cpus)
				}
			}
		})
	}
}
