package cgroups

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeFiles are the interface files a fake cgroup gets per controller, with
// their initial content, as the kernel would create them.
var fakeFiles = map[string]map[string]string{
	"": {"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.freeze": "0\n",
		"cgroup.events": "populated 0\nfrozen 0\n", "cgroup.max.depth": "max\n"},
	"cpu": {"cpu.weight": "100\n", "cpu.max": "max 100000\n", "cpu.max.burst": "0\n", "cpu.idle": "0\n",
		"cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"},
	"cpuset": {"cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1\n", "cpuset.mems.effective": "0\n"},
	"memory": {"memory.max": "max\n", "memory.low": "0\n", "memory.high": "max\n", "memory.swap.max": "max\n",
		"memory.current": "0\n", "memory.swap.current": "0\n", "memory.stat": "anon 0\nfile 0\n",
		"memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "memory.oom.group": "0\n"},
	"io":      {"io.weight": "default 100\n", "io.max": "", "io.stat": ""},
	"pids":    {"pids.max": "max\n", "pids.current": "0\n"},
	"hugetlb": {"hugetlb.2MB.max": "max\n", "hugetlb.2MB.rsvd.max": "max\n", "hugetlb.2MB.current": "0\n", "hugetlb.2MB.events": "max 0\n"},
	"rdma":    {"rdma.max": ""},
}

// fakeCgroup populates dir like the kernel populates a new cgroup: its
// cgroup.controllers are what the parent enabled in cgroup.subtree_control.
func fakeCgroup(dir string) error {
	enabled, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	// Our writes replace the file ("+cpu +memory"): take the names.
	var ctrls []string
	for _, w := range strings.Fields(string(enabled)) {
		ctrls = append(ctrls, strings.TrimPrefix(w, "+"))
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte(strings.Join(ctrls, " ")+"\n"), 0o644); err != nil {
		return err
	}
	for _, c := range append([]string{""}, ctrls...) {
		for name, content := range fakeFiles[c] {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// newFakeV2 makes a fake v2 hierarchy with every controller available at
// its root and a manager for /<path> in it, applied (created).
func newFakeV2(t *testing.T, path string, ctrls string) *v2Manager {
	t.Helper()
	root := fakeRoot(t)
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte(ctrls+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	inner, abs, err := innerPath(path, "")
	if err != nil || !abs {
		t.Fatalf("innerPath(%q) = %v, %v", path, abs, err)
	}
	dir, err := v2Dir(root, inner, abs)
	if err != nil {
		t.Fatal(err)
	}
	m := &v2Manager{root: root, dir: dir, onMkdir: fakeCgroup}
	return m
}

// fakeRoot returns a temporary directory for a fake tree, on tmpfs
// (/dev/shm) where there is one: the trees are many small files, which a
// disk makes slow for no gain.
func fakeRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "hull-cgroups-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

const allControllers = "cpuset cpu io memory hugetlb pids rdma"

func TestV2ApplyCreatesAndEnables(t *testing.T) {
	m := newFakeV2(t, "/pod/ctr", allControllers)
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{m.root, filepath.Join(m.root, "pod")} {
		got := readTrim(t, filepath.Join(d, "cgroup.subtree_control"))
		if got != "+cpuset +cpu +io +memory +hugetlb +pids +rdma" {
			t.Errorf("%s/cgroup.subtree_control = %q, want every controller enabled", d, got)
		}
	}
	if got := readTrim(t, filepath.Join(m.dir, "cgroup.procs")); got != "4242" {
		t.Errorf("cgroup.procs = %q, want 4242", got)
	}
	st := m.State()
	if st.Paths[""] != m.dir || len(st.Created) != 1 || st.Created[0] != m.dir {
		t.Errorf("State() = %+v", st)
	}
	if m.Path("") != m.dir || m.Path("memory") != "" {
		t.Errorf("Path: %q %q", m.Path(""), m.Path("memory"))
	}
	// On a real filesystem the fake interface files would make rmdir(2)
	// fail; the kernel removes them with the cgroup, so does the test.
	entries, _ := os.ReadDir(m.dir)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(m.dir, e.Name()))
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left after Destroy: %v", m.dir, err)
	}
	if _, err := os.Stat(filepath.Dir(m.dir)); err != nil {
		t.Fatalf("Destroy removed the parent, which is not the container's: %v", err)
	}
}

func TestV2ApplyJoinsExisting(t *testing.T) {
	m := newFakeV2(t, "/pod", allControllers)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	j := &v2Manager{root: m.root, dir: m.dir, onMkdir: fakeCgroup}
	if err := j.Apply(7); err != nil {
		t.Fatal(err)
	}
	if j.created || len(j.State().Created) != 0 {
		t.Fatalf("joining an existing cgroup marked it created")
	}
	if err := j.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.dir); err != nil {
		t.Fatalf("Destroy removed a cgroup it did not create: %v", err)
	}
}

func TestV2ApplyOutsideRoot(t *testing.T) {
	m := &v2Manager{root: t.TempDir(), dir: "/elsewhere/x"}
	if err := m.Apply(0); err == nil {
		t.Fatal("Apply outside the hierarchy root: want an error")
	}
}

func TestV2Set(t *testing.T) {
	type check struct{ file, want string }
	tests := []struct {
		name    string
		ctrls   string // controllers available (default: all)
		res     specs.LinuxResources
		checks  []check
		wantErr bool
	}{
		{name: "memory limit", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
			checks: []check{{"memory.max", "67108864"}, {"memory.swap.max", "max"}}},
		{name: "memory unlimited", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			checks: []check{{"memory.max", "max"}, {"memory.swap.max", "max"}}},
		{name: "memory swap is memsw minus memory", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(300)}},
			checks: []check{{"memory.max", "100"}, {"memory.swap.max", "200"}}},
		{name: "memory swap equal means no swap", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(100)}},
			checks: []check{{"memory.swap.max", "0"}}},
		{name: "memory swap without limit", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}}, wantErr: true},
		{name: "memory reservation", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(1000)}},
			checks: []check{{"memory.low", "1000"}}},
		{name: "memory ignored fields", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(5), DisableOOMKiller: boolp(true)}},
			checks: []check{{"memory.max", "max"}}},
		{name: "memory controller missing", ctrls: "cpu pids", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}}, wantErr: true},
		{name: "cpu shares to weight", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024)}},
			checks: []check{{"cpu.weight", "100"}}},
		{name: "cpu shares max", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(262144)}},
			checks: []check{{"cpu.weight", "10000"}}},
		{name: "cpu quota and period", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)}},
			checks: []check{{"cpu.max", "50000 100000"}}},
		{name: "cpu quota only", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000)}},
			checks: []check{{"cpu.max", "20000"}}},
		{name: "cpu unlimited quota with period", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(10000)}},
			checks: []check{{"cpu.max", "max 10000"}}},
		{name: "cpu burst and idle", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Burst: u64(1000), Idle: i64(1)}},
			checks: []check{{"cpu.max.burst", "1000"}, {"cpu.idle", "1"}}},
		{name: "cpu realtime refused", res: specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}, wantErr: true},
		{name: "cpuset", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0"}},
			checks: []check{{"cpuset.cpus", "0-1"}, {"cpuset.mems", "0"}}},
		{name: "pids", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(99)}},
			checks: []check{{"pids.max", "99"}}},
		{name: "pids unlimited", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}},
			checks: []check{{"pids.max", "max"}}},
		{name: "pids zero is a limit", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			checks: []check{{"pids.max", "0"}}},
		{name: "io weight", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500)}},
			checks: []check{{"io.weight", "default 4950"}}},
		{name: "io weight device", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(1000)}}}},
			checks: []check{{"io.weight", "8:0 10000"}}},
		{name: "io throttle", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 120}}}},
			checks: []check{{"io.max", "8:16 wiops=120"}}},
		{name: "io throttle zero is max", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
			{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 0}}}},
			checks: []check{{"io.max", "8:16 rbps=max"}}},
		{name: "hugetlb", res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			checks: []check{{"hugetlb.2MB.max", "4194304"}, {"hugetlb.2MB.rsvd.max", "4194304"}}},
		{name: "hugetlb page size with a path", res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB.max/../../x", Limit: 1}}}, wantErr: true},
		{name: "hugetlb page size without unit", res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2", Limit: 1}}}, wantErr: true},
		{name: "hugetlb unknown size", res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1}}}, wantErr: true},
		{name: "rdma", res: specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_1": {HcaHandles: u32(3), HcaObjects: u32(10000)}}},
			checks: []check{{"rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"}}},
		{name: "network refused", res: specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}, wantErr: true},
		{name: "unified written as is", res: specs.LinuxResources{Unified: map[string]string{"memory.high": "5000", "cgroup.max.depth": "3"}},
			checks: []check{{"memory.high", "5000"}, {"cgroup.max.depth", "3"}}},
		{name: "unified overrides structured", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}, Unified: map[string]string{"memory.max": "200"}},
			checks: []check{{"memory.max", "200"}}},
		{name: "unified controller not enabled", ctrls: "cpu memory", res: specs.LinuxResources{Unified: map[string]string{"io.max": "8:0 rbps=1"}}, wantErr: true},
		{name: "unified unknown file", res: specs.LinuxResources{Unified: map[string]string{"memory.nonexistent": "1"}}, wantErr: true},
		{name: "unified path traversal", res: specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, wantErr: true},
		{name: "unified no dot", res: specs.LinuxResources{Unified: map[string]string{"memory": "1"}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctrls := tt.ctrls
			if ctrls == "" {
				ctrls = allControllers
			}
			m := newFakeV2(t, "/ctr", ctrls)
			if err := m.Apply(1); err != nil {
				t.Fatal(err)
			}
			err := m.Set(&tt.res)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Set: want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			for _, c := range tt.checks {
				if got := readTrim(t, filepath.Join(m.dir, c.file)); got != c.want {
					t.Errorf("%s = %q, want %q", c.file, got, c.want)
				}
			}
		})
	}
}

func TestV2SetCheckBeforeUpdate(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, "memory.current"), []byte("5000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(4000), CheckBeforeUpdate: boolp(true)}}
	if err := m.Set(r); err == nil {
		t.Fatal("limit below usage with checkBeforeUpdate: want an error")
	}
	if got := readTrim(t, filepath.Join(m.dir, "memory.max")); got != "max" {
		t.Fatalf("memory.max = %q after a refused update", got)
	}
	r.Memory.Limit = i64(6000)
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
}

func TestV2FreezeThaw(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(m.dir, "cgroup.events")
	// Play the kernel: report frozen a little after the request.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = os.WriteFile(events, []byte("populated 1\nfrozen 1\n"), 0o644)
	}()
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(m.dir, "cgroup.freeze")); got != "1" {
		t.Fatalf("cgroup.freeze = %q, want 1", got)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Fatalf("Frozen() = %v, %v", f, err)
	}
	if err := os.WriteFile(events, []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || f {
		t.Fatalf("Frozen() = %v, %v after Thaw", f, err)
	}
	if err := os.Remove(filepath.Join(m.dir, "cgroup.freeze")); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Freeze without cgroup.freeze = %v, want ErrNotSupported", err)
	}
}

func TestV2PidsRecursive(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(10); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(m.dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte("11\n12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{10, 11, 12}) {
		t.Fatalf("Pids() = %v, want [10 11 12]", pids)
	}
}

func TestV2Stats(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cpu.stat":            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 70\n",
		"memory.current":      "4096\n",
		"memory.max":          "8192\n",
		"memory.swap.current": "100\n",
		"memory.swap.max":     "max\n",
		"memory.stat":         "anon 1024\nfile 2048\n",
		"memory.events":       "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"pids.current":        "3\n",
		"pids.max":            "max\n",
		"io.stat":             "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
		"hugetlb.2MB.current": "2097152\n",
		"hugetlb.2MB.max":     "4194304\n",
		"hugetlb.2MB.events":  "max 2\n",
		"memory.pressure":     "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(m.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"cpu total", st.CPU.Usage.Total, 1500000},
		{"cpu user", st.CPU.Usage.User, 1000000},
		{"cpu kernel", st.CPU.Usage.Kernel, 500000},
		{"throttled periods", st.CPU.Throttling.ThrottledPeriods, 3},
		{"throttled time", st.CPU.Throttling.ThrottledTime, 70000},
		{"memory usage", st.Memory.Usage.Usage, 4096},
		{"memory limit", st.Memory.Usage.Limit, 8192},
		{"memory failcnt", st.Memory.Usage.Failcnt, 4},
		{"memory cache", st.Memory.Cache, 2048},
		{"swap usage (memsw)", st.Memory.Swap.Usage, 4196},
		{"swap limit (max)", st.Memory.Swap.Limit, ^uint64(0)},
		{"pids current", st.Pids.Current, 3},
		{"pids limit", st.Pids.Limit, 0},
		{"hugetlb usage", st.Hugetlb["2MB"].Usage, 2097152},
		{"hugetlb failcnt", st.Hugetlb["2MB"].Failcnt, 2},
		{"cpuset cpus", uint64(len(st.CPUSet.CPUs)), 2},
	}
	if st.Memory.PSI == nil || st.Memory.PSI.Some.Avg10 != 1.5 || st.Memory.PSI.Some.Total != 12345 || st.Memory.PSI.Full.Total != 99 {
		t.Errorf("memory PSI = %+v", st.Memory.PSI)
	}
	if st.CPU.PSI != nil {
		t.Errorf("cpu PSI without cpu.pressure = %+v, want nil", st.CPU.PSI)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	want := []BlkioEntry{{8, 0, "Read", 100}, {8, 0, "Write", 200}, {8, 0, "Discard", 0}}
	if len(st.Blkio.IoServiceBytesRecursive) != 3 {
		t.Fatalf("io service bytes = %+v", st.Blkio.IoServiceBytesRecursive)
	}
	for i, e := range want {
		if st.Blkio.IoServiceBytesRecursive[i] != e {
			t.Errorf("io service bytes[%d] = %+v, want %+v", i, st.Blkio.IoServiceBytesRecursive[i], e)
		}
	}
}

func TestV2OOMEvents(t *testing.T) {
	m := newFakeV2(t, "/ctr", allControllers)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(m.dir, "memory.events")
	// A change that is not an OOM kill is not an event.
	if err := os.WriteFile(events, []byte("low 0\nhigh 1\nmax 1\noom 0\noom_kill 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(events, []byte("low 0\nhigh 1\nmax 2\noom 1\noom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed before the OOM event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OOM event after oom_kill rose")
	}
	// The cgroup going away ends the stream.
	if err := os.Remove(events); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("unexpected event after memory.events was removed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after memory.events was removed")
	}
}

func TestV2Dir(t *testing.T) {
	root := "/sys/fs/cgroup"
	if got, _ := v2Dir(root, "/a/b", true); got != "/sys/fs/cgroup/a/b" {
		t.Errorf("absolute: %s", got)
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, err := ownUnifiedPath(data)
	if err != nil {
		t.Skip("no cgroup v2 line in /proc/self/cgroup (pure v1 host)")
	}
	got, err := v2Dir(root, "x", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, filepath.Dir(own), "x"); got != want {
		t.Errorf("relative: %s, want %s (under the parent of the caller's cgroup)", got, want)
	}
}

func TestV2JoinNeverCreates(t *testing.T) {
	m := newFakeV2(t, "/pod", allControllers)
	j := &v2Manager{root: m.root, dir: m.dir, onMkdir: fakeCgroup}
	err := j.Join(7)
	if err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("Join into a missing cgroup: got %v, want an error saying it no longer exists", err)
	}
	if _, err := os.Stat(m.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Join created %s (stat: %v)", m.dir, err)
	}
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if err := j.Join(7); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(m.dir, "cgroup.procs")); err != nil || strings.TrimSpace(string(b)) != "7" {
		t.Fatalf("cgroup.procs after Join: %q, %v", b, err)
	}
}
