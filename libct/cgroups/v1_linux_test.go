package cgroups

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var testSeq atomic.Int64

// testID returns a fresh container id under testPrefix.
func testID() string { return testPrefix + strconv.FormatInt(testSeq.Add(1), 10) }

// newTestV1 makes a manager for a fresh default-path cgroup (or path) and
// destroys it when the test ends.
func newTestV1(t *testing.T, path string, res *specs.LinuxResources) *v1Manager {
	t.Helper()
	mgr, err := New(&configs.Cgroup{Path: path, Resources: res}, testID(), false)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mgr.(*v1Manager)
	if !ok {
		t.Fatalf("New returned %T on a v1 host", mgr)
	}
	t.Cleanup(func() {
		// Kill what the test left in the cgroup, as `delete` does.
		if pids, err := m.Pids(); err == nil {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			waitFor(func() bool { p, _ := m.Pids(); return len(p) == 0 })
		}
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

func TestV1ApplyDestroy(t *testing.T) {
	mode := needV1Root(t)
	m := newTestV1(t, "", nil)
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio", "name=systemd"} {
		if _, err := os.Stat(filepath.Join(DefaultRoot, strings.TrimPrefix(c, "name="))); err != nil {
			continue // not mounted here
		}
		dir := m.Path(c)
		if dir == "" {
			t.Errorf("%s: no path", c)
			continue
		}
		if !strings.HasSuffix(dir, "/"+testPrefix) && !strings.Contains(filepath.Base(dir), testPrefix) {
			t.Errorf("%s: path %s not named after the container id", c, dir)
		}
		pids, err := readPids(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(pids, cmd.Process.Pid) {
			t.Errorf("%s: pid %d not in %s/cgroup.procs (%v)", c, cmd.Process.Pid, dir, pids)
		}
	}
	if mode == Hybrid {
		if m.Path("") == "" {
			t.Errorf("hybrid host: unified hierarchy not joined")
		} else if pids, _ := readPids(m.Path("")); !slices.Contains(pids, cmd.Process.Pid) {
			t.Errorf("unified: pid %d not in %s", cmd.Process.Pid, m.Path(""))
		}
	}
	// Nested under the caller's memory cgroup, as runc does.
	own, _ := os.ReadFile("/proc/self/cgroup")
	for line := range strings.Lines(string(own)) {
		if parts := strings.SplitN(strings.TrimSpace(line), ":", 3); len(parts) == 3 && parts[1] == "memory" {
			want := filepath.Join(DefaultRoot, "memory", parts[2])
			if filepath.Dir(m.Path("memory")) != want {
				t.Errorf("memory path %s not under the caller's cgroup %s", m.Path("memory"), want)
			}
		}
	}
	st := m.State()
	if len(st.Created) == 0 || st.Driver != DriverFS {
		t.Errorf("state = %+v, want created directories and driver fs", st)
	}
	pids, err := m.Pids()
	if err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("Pids() = %v, %v; want it to hold %d", pids, err, cmd.Process.Pid)
	}
	killWait(cmd)
	// Destroy through a Load of the persisted state, as `delete` does.
	loaded, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Created {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Destroy (%v)", d, err)
		}
	}
	if err := loaded.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// TestV1JoinExisting: a container placed in an existing cgroup (a pod's)
// joins it, and its delete removes only what it created.
func TestV1JoinExisting(t *testing.T) {
	needV1Root(t)
	parent := newTestV1(t, "", nil)
	if err := parent.Apply(0); err != nil {
		t.Fatal(err)
	}
	parentName := filepath.Base(parent.Path("memory"))

	child := newTestV1(t, parentName+"/ctr", nil)
	cmd := startSleep(t)
	if err := child.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	killWait(cmd)
	if err := child.Destroy(); err != nil {
		t.Fatal(err)
	}
	for c, d := range parent.paths {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: parent cgroup %s removed by the child's Destroy: %v", c, d, err)
		}
		if _, err := os.Stat(filepath.Join(d, "ctr")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: child cgroup left in %s", c, d)
		}
	}

	joiner := newTestV1(t, parentName, nil)
	cmd2 := startSleep(t)
	if err := joiner.Apply(cmd2.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if st := joiner.State(); len(st.Created) != 0 {
		t.Errorf("joining an existing cgroup recorded created dirs %q", st.Created)
	}
	killWait(cmd2)
	if err := joiner.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parent.Path("memory")); err != nil {
		t.Errorf("joined cgroup removed by Destroy: %v", err)
	}
}

func TestV1AbsolutePath(t *testing.T) {
	needV1Root(t)
	id := testID()
	m := newTestV1(t, "/"+id+"/leaf", nil)
	if got, want := m.Path("pids"), filepath.Join(DefaultRoot, "pids", id, "leaf"); got != want {
		t.Fatalf("pids path = %s, want %s", got, want)
	}
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	// Only the leaf is the container's; its parent, made on the way, is
	// removed here by the test.
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.dirs() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left", d)
		}
		if err := os.Remove(filepath.Dir(d)); err != nil {
			t.Errorf("remove parent: %v", err)
		}
	}
}

func TestV1PathEscapeRejected(t *testing.T) {
	needV1Root(t)
	for _, p := range []string{"../../x", "/a/../../x"} {
		if _, err := New(&configs.Cgroup{Path: p}, testID(), false); err == nil {
			t.Errorf("New with cgroupsPath %q: want an error", p)
		}
	}
}

func i64(v int64) *int64     { return &v }
func u64(v uint64) *uint64   { return &v }
func u16(v uint16) *uint16   { return &v }
func u32(v uint32) *uint32   { return &v }
func boolp(v bool) *bool     { return &v }
func hostFile(p string) bool { _, err := os.Stat(p); return err == nil }

// blockDevice returns the major:minor of a disk of the host.
func blockDevice(t *testing.T) (int64, int64) {
	for _, name := range []string{"vda", "sda", "nvme0n1", "xvda", "loop0"} {
		b, err := os.ReadFile("/sys/block/" + name + "/dev")
		if err != nil {
			continue
		}
		maj, min, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
		a, _ := strconv.ParseInt(maj, 10, 64)
		c, _ := strconv.ParseInt(min, 10, 64)
		return a, c
	}
	t.Skip("no block device in /sys/block to throttle")
	return 0, 0
}

func TestV1Set(t *testing.T) {
	needV1Root(t)
	type check struct{ ctrl, file, want string }
	maj, min := blockDevice(t)
	dev := strconv.FormatInt(maj, 10) + ":" + strconv.FormatInt(min, 10)
	tests := []struct {
		name    string
		needs   string // a host file the case needs, relative to DefaultRoot
		res     specs.LinuxResources
		checks  []check
		wantErr bool
	}{
		{name: "memory limit", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
			checks: []check{{"memory", "memory.limit_in_bytes", "67108864"}}},
		{name: "memory reservation", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(32 << 20)}},
			checks: []check{{"memory", "memory.soft_limit_in_bytes", "33554432"}}},
		{name: "memory swap", needs: "memory/memory.memsw.limit_in_bytes",
			res:    specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)}},
			checks: []check{{"memory", "memory.limit_in_bytes", "67108864"}, {"memory", "memory.memsw.limit_in_bytes", "134217728"}}},
		{name: "memory swap below limit", needs: "memory/memory.memsw.limit_in_bytes",
			res:     specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}},
			wantErr: true},
		{name: "memory kernelTCP", needs: "memory/memory.kmem.tcp.limit_in_bytes", res: specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(16 << 20), Kernel: i64(8 << 20)}},
			checks: []check{{"memory", "memory.kmem.tcp.limit_in_bytes", "16777216"}, {"memory", "memory.kmem.limit_in_bytes", "9223372036854771712"}}},
		{name: "memory swappiness", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(7)}},
			checks: []check{{"memory", "memory.swappiness", "7"}}},
		{name: "memory swappiness too big", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, wantErr: true},
		{name: "memory disableOOMKiller", res: specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: boolp(true)}},
			checks: []check{{"memory", "memory.oom_control", "oom_kill_disable 1"}}},
		{name: "memory useHierarchy", res: specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: boolp(true)}},
			checks: []check{{"memory", "memory.use_hierarchy", "1"}}},
		{name: "memory checkBeforeUpdate", res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), CheckBeforeUpdate: boolp(true)}},
			checks: []check{{"memory", "memory.limit_in_bytes", "67108864"}}},
		{name: "cpu shares", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512)}},
			checks: []check{{"cpu", "cpu.shares", "512"}}},
		{name: "cpu shares clamped", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}}, wantErr: true},
		{name: "cpu quota period", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000), Period: u64(50000)}},
			checks: []check{{"cpu", "cpu.cfs_quota_us", "20000"}, {"cpu", "cpu.cfs_period_us", "50000"}}},
		{name: "cpu burst", needs: "cpu/cpu.cfs_burst_us", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000), Period: u64(50000), Burst: u64(10000)}},
			checks: []check{{"cpu", "cpu.cfs_burst_us", "10000"}}},
		{name: "cpu realtime", needs: "cpu/cpu.rt_runtime_us", res: specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64(500000), RealtimeRuntime: i64(1000)}},
			checks: []check{{"cpu", "cpu.rt_period_us", "500000"}, {"cpu", "cpu.rt_runtime_us", "1000"}}},
		{name: "cpu idle", needs: "cpu/cpu.idle", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}},
			checks: []check{{"cpu", "cpu.idle", "1"}}},
		{name: "cpuset", res: specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}},
			checks: []check{{"cpuset", "cpuset.cpus", "0"}, {"cpuset", "cpuset.mems", "0"}}},
		{name: "pids limit", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(42)}},
			checks: []check{{"pids", "pids.max", "42"}}},
		{name: "pids unlimited", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}},
			checks: []check{{"pids", "pids.max", "max"}}},
		{name: "pids zero is a limit", res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			checks: []check{{"pids", "pids.max", "0"}}},
		{name: "blkio throttle", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 1048576}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 2097152}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: maj, Minor: min}, Rate: 200}},
		}}, checks: []check{
			{"blkio", "blkio.throttle.read_bps_device", dev + " 1048576"},
			{"blkio", "blkio.throttle.write_bps_device", dev + " 2097152"},
			{"blkio", "blkio.throttle.read_iops_device", dev + " 100"},
			{"blkio", "blkio.throttle.write_iops_device", dev + " 200"},
		}},
		{name: "blkio weight", needs: "blkio/blkio.weight", res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}},
			checks: []check{{"blkio", "blkio.weight", "300"}}},
		{name: "net_cls classid", needs: "net_cls", res: specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}},
			checks: []check{{"net_cls", "net_cls.classid", "1048577"}}},
		{name: "hugetlb v1", needs: "hugetlb/hugetlb.2MB.limit_in_bytes", res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			checks: []check{{"hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304"}}},
		{name: "hugetlb on the hybrid cgroup2 mount", needs: "unified/cgroup.controllers:hugetlb",
			res:    specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
			checks: []check{{"", "hugetlb.2MB.max", "4194304"}}},
		{name: "hugetlb unknown size", needs: "unified/cgroup.controllers:hugetlb",
			res: specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "3MB", Limit: 1}}}, wantErr: true},
		{name: "devices", res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(136), Access: "rw"},
		}}, checks: []check{{"devices", "devices.list", "c 1:3 rwm\nc 136:* rw"}}},
		{name: "devices bad type", res: specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x", Access: "r"}}}, wantErr: true},
		{name: "unified for a v1 controller", res: specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}, wantErr: true},
		{name: "unified hugetlb on the hybrid cgroup2 mount", needs: "unified/cgroup.controllers:hugetlb",
			res:    specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "6291456"}},
			checks: []check{{"", "hugetlb.2MB.max", "6291456"}}},
		{name: "rdma without controller", needs: "!rdma", res: specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: u32(1)}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needs != "" {
				if neg, ok := strings.CutPrefix(tt.needs, "!"); ok {
					if hostFile(filepath.Join(DefaultRoot, neg)) {
						t.Skipf("host has %s mounted", neg)
					}
				} else if file, word, ok := strings.Cut(tt.needs, ":"); ok {
					b, _ := os.ReadFile(filepath.Join(DefaultRoot, file))
					if !hasWord(string(b), word) {
						t.Skipf("host lacks %s in %s", word, filepath.Join(DefaultRoot, file))
					}
				} else if !hostFile(filepath.Join(DefaultRoot, tt.needs)) {
					t.Skipf("host lacks %s", filepath.Join(DefaultRoot, tt.needs))
				}
			}
			m := newTestV1(t, "", nil)
			cmd := startSleep(t)
			if err := m.Apply(cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			defer killWait(cmd)
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
				dir := m.Path(c.ctrl)
				if dir == "" {
					t.Fatalf("no path for %q", c.ctrl)
				}
				got := readTrim(t, filepath.Join(dir, c.file))
				if c.file == "memory.oom_control" {
					got = firstLine(got)
				}
				if got != c.want {
					t.Errorf("%s = %q, want %q", c.file, got, c.want)
				}
			}
		})
	}
}

// TestV1MemorySwapOrder: raising and lowering memory and memsw together
// works in both directions (the kernel wants memsw >= memory at all times).
func TestV1MemorySwapOrder(t *testing.T) {
	needV1Root(t)
	if !hostFile(filepath.Join(DefaultRoot, "memory/memory.memsw.limit_in_bytes")) {
		t.Skip("host lacks swap accounting (memory.memsw.limit_in_bytes)")
	}
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ limit, swap int64 }{
		{100 << 20, 200 << 20}, {300 << 20, 400 << 20}, {50 << 20, 60 << 20}, {-1, -1}, {80 << 20, 90 << 20},
	}
	for _, s := range steps {
		r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(s.limit), Swap: i64(s.swap)}}
		if err := m.Set(r); err != nil {
			t.Fatalf("Set(limit %d, swap %d): %v", s.limit, s.swap, err)
		}
		if s.limit < 0 {
			continue
		}
		if got := readTrim(t, filepath.Join(m.Path("memory"), "memory.memsw.limit_in_bytes")); got != strconv.FormatInt(s.swap, 10) {
			t.Errorf("memsw = %s, want %d", got, s.swap)
		}
	}
}

func TestV1Update(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}})
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}}); err != nil {
		t.Fatal(err)
	}
	// update goes through a Load of the state, as `hull update` does.
	l, err := Load(m.State())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(m.Path("pids"), "pids.max")); got != "20" {
		t.Fatalf("pids.max = %s after update, want 20", got)
	}
}

func TestV1PidsLimitEnforced(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	// The shell forks children in the cgroup: with pids.max 3 (the
	// shell plus two) the fourth fork fails.
	cmd := exec.Command("/bin/sh", "-c", "read x; for i in 1 2 3; do sleep 5 >/dev/null 2>&1 & done; wait")
	stdin, _ := cmd.StdinPipe()
	outFile := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killWait(cmd)
	output := func() string { b, _ := os.ReadFile(outFile); return string(b) }
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(3)}}); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if !waitFor(func() bool { return strings.Contains(output(), "fork") }) {
		t.Fatalf("no fork failure under pids.max=3; output %q", output())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Limit != 3 || st.Pids.Current == 0 || st.Pids.Current > 3 {
		t.Errorf("pids stats = %+v, want limit 3 and 1-3 current", st.Pids)
	}
}

func TestV1FreezeThaw(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	cmd := startSleep(t, "/bin/sh", "-c", "while :; do :; done")
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Fatalf("Frozen() = %v, %v after Freeze", f, err)
	}
	before := cpuTicks(t, cmd.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	if after := cpuTicks(t, cmd.Process.Pid); after != before {
		t.Errorf("frozen busy loop used CPU: %d -> %d ticks", before, after)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || f {
		t.Fatalf("Frozen() = %v, %v after Thaw", f, err)
	}
	if !waitFor(func() bool { return cpuTicks(t, cmd.Process.Pid) != before }) {
		t.Errorf("thawed busy loop made no progress")
	}
	killWait(cmd)
}

// cpuTicks reads utime+stime of /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) uint64 {
	s := readTrim(t, "/proc/"+strconv.Itoa(pid)+"/stat")
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return u + k
}

func TestV1Stats(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	// The work starts only once the shell is in the cgroup: v1 does not
	// move charges with a task, so work done before would not count.
	cmd := exec.Command("/bin/sh", "-c", "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 100")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killWait(cmd)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(256 << 20)}, Pids: &specs.LinuxPids{Limit: i64(50)}}); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	var st *Stats
	ok := waitFor(func() bool {
		var err error
		if st, err = m.Stats(); err != nil {
			t.Fatal(err)
		}
		return st.CPU.Usage.Total > 0 && st.Memory.Usage.Usage > 0
	})
	if !ok {
		t.Fatalf("no cpu or memory usage accounted: %+v", st)
	}
	if st.Memory.Usage.Limit != 256<<20 {
		t.Errorf("memory limit = %d, want %d", st.Memory.Usage.Limit, 256<<20)
	}
	if len(st.Memory.Raw) == 0 {
		t.Errorf("memory.stat not read")
	}
	if len(st.CPU.Usage.Percpu) == 0 {
		t.Errorf("per-cpu usage not read")
	}
	if st.Pids.Current != 1 || st.Pids.Limit != 50 {
		t.Errorf("pids = %+v, want current 1 limit 50", st.Pids)
	}
	if len(st.CPUSet.CPUs) == 0 {
		t.Errorf("cpuset cpus not read")
	}
	if m.Path("") != "" && hostFile(filepath.Join(m.Path(""), "cpu.pressure")) && st.CPU.PSI == nil {
		t.Errorf("cpu.pressure of the hybrid cgroup2 directory not read")
	}
	// The JSON is runc's `events --stats` data.
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu":{"usage":{"total":`, `"percpu":[`, `"memory":{`, `"usage":{"limit":268435456`, `"pids":{"current":1,"limit":50}`, `"blkio":{`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("stats JSON lacks %s: %s", key, js)
		}
	}
}

// TestV1HybridHugetlbStats: on a hybrid host whose hugetlb controller is on
// the cgroup2 mount, limits and stats go through the unified directory.
func TestV1HybridHugetlbStats(t *testing.T) {
	if needV1Root(t) != Hybrid {
		t.Skip("host is not hybrid")
	}
	if b, _ := os.ReadFile(filepath.Join(DefaultRoot, "unified/cgroup.controllers")); !hasWord(string(b), "hugetlb") {
		t.Skip("no hugetlb controller on the hybrid cgroup2 mount")
	}
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 8 << 20}}}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	h, ok := st.Hugetlb["2MB"]
	if !ok || h.Max != 8<<20 {
		t.Fatalf("hugetlb stats = %+v, want 2MB with max %d", st.Hugetlb, 8<<20)
	}
}

func TestV1OOMKill(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := m.OOMEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), hogEnv+"=1")
	// Start the hog stopped in the cgroup: it joins before touching memory.
	stdin, _ := cmd.StdinPipe()
	cmd.Args = []string{"/bin/sh", "-c", "read x; exec \"$0\" -test.run=^$", exe}
	cmd.Path = "/bin/sh"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(cmd.Process.Pid); err != nil {
		killWait(cmd)
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hog ended with %v, want SIGKILL from the OOM killer", err)
	}
	select {
	case <-events:
	case <-time.After(5 * time.Second):
		t.Fatal("no OOM event")
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Usage.Failcnt == 0 {
		t.Errorf("memory failcnt = 0 after an OOM kill")
	}
	cancel()
	select {
	case _, open := <-events:
		for open {
			_, open = <-events
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OOM event channel not closed after cancel")
	}
}

func TestV1DestroyBusyCgroupFails(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	cmd := startSleep(t)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(); err == nil {
		t.Fatal("Destroy of a cgroup with a live process succeeded")
	}
	killWait(cmd)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
}

// newLoadedV1 makes a container's cgroup (empty: no process keeps it busy,
// as between create's Apply and an exec into a container whose init has not
// joined yet) and the manager that Load rebuilds from its state, as exec's.
func newLoadedV1(t *testing.T) (created *v1Manager, loaded Manager) {
	t.Helper()
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	l, err := Load(m.State())
	if err != nil {
		t.Fatal(err)
	}
	return m, l
}

// TestV1ExecJoinFailureKeepsCgroup: a manager rebuilt by Load (as for exec)
// whose Apply fails must not remove the container's cgroup.
func TestV1ExecJoinFailureKeepsCgroup(t *testing.T) {
	needV1Root(t)
	m, l := newLoadedV1(t)
	if err := l.Apply(1 << 30); err == nil {
		t.Fatal("Apply of a pid that does not exist: want an error")
	}
	for c, d := range m.paths {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: container cgroup gone after a failed join: %v", c, err)
		}
	}
}

// TestV1JoinNeverCreates: Join (exec's) moves a pid into the container's
// cgroup and, once a delete has removed it, fails naming it rather than
// creating the directory again.
func TestV1JoinNeverCreates(t *testing.T) {
	needV1Root(t)
	m, l := newLoadedV1(t)
	cmd := startSleep(t)
	if err := l.Join(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, _ := m.Pids(); !slices.Contains(pids, cmd.Process.Pid) {
		t.Fatalf("pid %d not in the cgroup after Join: %v", cmd.Process.Pid, pids)
	}
	killWait(cmd)
	waitFor(func() bool { p, _ := m.Pids(); return len(p) == 0 })
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	cmd = startSleep(t)
	defer killWait(cmd)
	err := l.Join(cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("Join into a removed cgroup: got %v, want an error saying it no longer exists", err)
	}
	for c, d := range m.paths {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Join re-created %s (stat: %v)", c, d, err)
		}
	}
}
