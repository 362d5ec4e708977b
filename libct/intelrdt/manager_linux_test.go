package intelrdt

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultSchemata is the root group's schemata of the fake two-socket
// machine, printed as the kernel prints it.
const defaultSchemata = "    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n"

// fakeTree lays out a directory like a resctrl mount of a machine with L3
// CAT, MBA and L3 monitoring on two domains, and returns its root. The
// hook it returns plays the kernel's part when a group is made.
func fakeTree(t *testing.T) (string, func(string) error) {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"schemata": defaultSchemata, "tasks": "", "cpus": "3\n",
		"info/last_cmd_status":     "ok\n",
		"info/L3/cbm_mask":         "7ff\n",
		"info/L3/min_cbm_bits":     "1\n",
		"info/L3/num_closids":      "16\n",
		"info/MB/bandwidth_gran":   "10\n",
		"info/MB/delay_linear":     "1\n",
		"info/MB/min_bandwidth":    "10\n",
		"info/MB/num_closids":      "8\n",
		"info/L3_MON/num_rmids":    "224\n",
		"info/L3_MON/mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
	}
	for name, content := range files {
		writeTestFile(t, filepath.Join(root, name), content)
	}
	if err := os.Mkdir(filepath.Join(root, "mon_groups"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMonData(t, root, 0)
	hook := func(dir string) error {
		// A CTRL_MON group starts with the default schemata and its
		// own mon_groups; a MON group has tasks and mon_data only.
		if filepath.Base(filepath.Dir(dir)) != "mon_groups" {
			if err := os.WriteFile(filepath.Join(dir, "schemata"), []byte(defaultSchemata), 0o644); err != nil {
				return err
			}
			if err := os.Mkdir(filepath.Join(dir, "mon_groups"), 0o755); err != nil {
				return err
			}
		}
		for _, f := range []string{"tasks", "cpus"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				return err
			}
		}
		fakeMonData(t, dir, 1)
		return nil
	}
	return root, hook
}

// fakeMonData gives dir the counters of two L3 domains, scaled by n.
func fakeMonData(t *testing.T, dir string, n int) {
	t.Helper()
	for i, d := range []string{"mon_L3_00", "mon_L3_01"} {
		v := func(base int) string { return strconv.Itoa(base*n+i) + "\n" }
		writeTestFile(t, filepath.Join(dir, "mon_data", d, "llc_occupancy"), v(1000))
		writeTestFile(t, filepath.Join(dir, "mon_data", d, "mbm_total_bytes"), v(2000))
		writeTestFile(t, filepath.Join(dir, "mon_data", d, "mbm_local_bytes"), v(3000))
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFake(t *testing.T, root string, hook func(string) error, c *specs.LinuxIntelRdt, id string) *Manager {
	t.Helper()
	m, err := newAt(root, c, id)
	if err != nil {
		t.Fatal(err)
	}
	m.onMkdir = hook
	m.rmdir = fakeRmdir
	return m
}

// fakeRmdir removes a group of the fake tree, files and all, as the
// kernel's rmdir of a resctrl group does; and fails as rmdir(2) for a
// group that is not there.
func fakeRmdir(dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return unix.ENOENT
	}
	return os.RemoveAll(dir)
}

// load is Load over the fake tree.
func load(s *State) *Manager {
	m := Load(s)
	m.rmdir = fakeRmdir
	return m
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestApplyDestroy runs the spec's rules on closID over a fake tree: which
// group the container lands in, what is written, and what delete removes.
func TestApplyDestroy(t *testing.T) {
	tests := []struct {
		name string
		cfg  specs.LinuxIntelRdt
		// pre is a group made before the container (with the default
		// schemata unless preSchemata is set).
		pre, preSchemata string
		wantPath         string // relative to the root; "" is the root
		wantSchemata     string // the group's schemata after Apply
		wantRemoved      bool   // Destroy removes the group
		wantErr          string
	}{
		{name: "no closID: own group", cfg: specs.LinuxIntelRdt{L3CacheSchema: "L3:0=7f0;1=1f", MemBwSchema: "MB:0=20;1=70"},
			wantPath: "c1", wantSchemata: "MB:0=20;1=70\n", wantRemoved: true},
		{name: "no closID, no schema", cfg: specs.LinuxIntelRdt{},
			wantPath: "c1", wantSchemata: defaultSchemata, wantRemoved: true},
		{name: "no closID: leftover group", cfg: specs.LinuxIntelRdt{}, pre: "c1",
			wantErr: "linux.intelRdt: resctrl group"},
		{name: "closID made", cfg: specs.LinuxIntelRdt{ClosID: "gold", Schemata: []string{"L3:0=7f0;1=1f", "MB:0=20;1=70"}},
			wantPath: "gold", wantSchemata: "L3:0=7f0;1=1f\nMB:0=20;1=70\n"},
		{name: "closID exists, same schemata", cfg: specs.LinuxIntelRdt{ClosID: "gold", L3CacheSchema: "L3:0=7f0", MemBwSchema: "MB:1=70"},
			pre: "gold", preSchemata: "    L3:0=007f0;1=0001f\n    MB:0= 20;1= 70\n",
			wantPath: "gold", wantSchemata: "    L3:0=007f0;1=0001f\n    MB:0= 20;1= 70\n"},
		{name: "closID exists, other schemata", cfg: specs.LinuxIntelRdt{ClosID: "gold", MemBwSchema: "MB:1=50"},
			pre: "gold", preSchemata: "    L3:0=7f0;1=1f\n    MB:0=20;1=70\n",
			wantErr: "linux.intelRdt: resctrl group"},
		{name: "closID pre-configured", cfg: specs.LinuxIntelRdt{ClosID: "gold"}, pre: "gold",
			wantPath: "gold", wantSchemata: defaultSchemata},
		{name: "closID pre-configured missing", cfg: specs.LinuxIntelRdt{ClosID: "gold"},
			wantErr: "linux.intelRdt.closID: resctrl group"},
		{name: "root closID", cfg: specs.LinuxIntelRdt{ClosID: "/"},
			wantPath: "", wantSchemata: defaultSchemata},
		{name: "root closID, other schemata", cfg: specs.LinuxIntelRdt{ClosID: "/", L3CacheSchema: "L3:0=f"},
			wantErr: "exists with other schemata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, hook := fakeTree(t)
			if tt.pre != "" {
				dir := filepath.Join(root, tt.pre)
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := hook(dir); err != nil {
					t.Fatal(err)
				}
				if tt.preSchemata != "" {
					writeTestFile(t, filepath.Join(dir, "schemata"), tt.preSchemata)
				}
			}
			before := listTree(t, root)
			m := newFake(t, root, hook, &tt.cfg, "c1")
			err := m.Apply(4321)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %v, want an error with %q", err, tt.wantErr)
				}
				if after := listTree(t, root); after != before {
					t.Fatalf("failed Apply changed the tree:\nbefore %s\nafter  %s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, tt.wantPath)
			if m.Path() != dir {
				t.Fatalf("Path = %s, want %s", m.Path(), dir)
			}
			if got := read(t, filepath.Join(dir, "tasks")); got != "4321" {
				t.Errorf("tasks = %q, want the pid", got)
			}
			if got := read(t, filepath.Join(dir, "schemata")); got != tt.wantSchemata {
				t.Errorf("schemata = %q, want %q", got, tt.wantSchemata)
			}
			// Delete goes through the persisted state, as `hull delete` does.
			l := load(m.State())
			if err := l.Destroy(); err != nil {
				t.Fatal(err)
			}
			if removed := !exists(dir); removed != tt.wantRemoved {
				t.Errorf("group removed by Destroy: %v, want %v", removed, tt.wantRemoved)
			}
			if err := l.Destroy(); err != nil {
				t.Errorf("second Destroy: %v", err)
			}
		})
	}
}

// listTree names every directory under root, to compare before and after.
func listTree(t *testing.T, root string) string {
	t.Helper()
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return strings.Join(dirs, " ")
}

// TestMonitoring checks enableMonitoring: mon_groups/<id> in the group,
// the pid in both, the MON group removed on delete even where the group
// stays; and a MON group that cannot be made fails the create, leaving
// nothing behind.
func TestMonitoring(t *testing.T) {
	root, hook := fakeTree(t)
	if err := os.Mkdir(filepath.Join(root, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := hook(filepath.Join(root, "shared")); err != nil {
		t.Fatal(err)
	}
	m := newFake(t, root, hook, &specs.LinuxIntelRdt{ClosID: "shared", EnableMonitoring: true}, "c1")
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	mon := filepath.Join(root, "shared", "mon_groups", "c1")
	for _, d := range []string{filepath.Join(root, "shared"), mon} {
		if got := read(t, filepath.Join(d, "tasks")); got != "4321" {
			t.Errorf("%s/tasks = %q, want the pid", d, got)
		}
	}
	st, err := load(m.State()).Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.MBMStats == nil || len(*st.MBMStats) != 2 || (*st.MBMStats)[1].MBMTotalBytes != 2001 || (*st.CMTStats)[0].LLCOccupancy != 1000 {
		t.Errorf("stats of the MON group: %+v %+v", st.MBMStats, st.CMTStats)
	}
	if err := load(m.State()).Destroy(); err != nil {
		t.Fatal(err)
	}
	if exists(mon) || !exists(filepath.Join(root, "shared")) {
		t.Errorf("after Destroy: MON group there %v (want no), group there %v (want yes)", exists(mon), exists(filepath.Join(root, "shared")))
	}

	// The kernel is out of RMIDs: the group hull made goes too.
	before := listTree(t, root)
	full := func(dir string) error {
		if filepath.Base(filepath.Dir(dir)) == "mon_groups" {
			return unix.ENOSPC
		}
		return hook(dir)
	}
	m = newFake(t, root, full, &specs.LinuxIntelRdt{EnableMonitoring: true}, "c2")
	err = m.Apply(4321)
	if err == nil || !strings.Contains(err.Error(), "linux.intelRdt.enableMonitoring") || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Apply without RMIDs = %v, want ENOSPC naming enableMonitoring", err)
	}
	if after := listTree(t, root); after != before {
		t.Fatalf("failed Apply left %s (before: %s)", after, before)
	}
}

// TestJoinExec checks that exec's Join puts the pid in the group, then in
// the MON group.
func TestJoinExec(t *testing.T) {
	root, hook := fakeTree(t)
	m := newFake(t, root, hook, &specs.LinuxIntelRdt{EnableMonitoring: true}, "c1")
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "c1", "tasks")); got != "" {
		t.Errorf("Apply(0) wrote tasks: %q", got)
	}
	if err := load(m.State()).Join(99); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"c1", "c1/mon_groups/c1"} {
		if got := read(t, filepath.Join(root, d, "tasks")); got != "99" {
			t.Errorf("%s/tasks = %q", d, got)
		}
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := load(m.State()).Join(99); err == nil || !strings.Contains(err.Error(), "linux.intelRdt") {
		t.Errorf("Join of a removed group = %v, want an error", err)
	}
}

// TestSchemataRefused checks that a write the kernel refuses is reported
// with the kernel's reason from info/last_cmd_status.
func TestSchemataRefused(t *testing.T) {
	root, hook := fakeTree(t)
	refuse := func(dir string) error {
		if err := hook(dir); err != nil {
			return err
		}
		// A directory in place of the file makes the write fail.
		if err := os.Remove(filepath.Join(dir, "schemata")); err != nil {
			return err
		}
		return os.Mkdir(filepath.Join(dir, "schemata"), 0o755)
	}
	writeTestFile(t, filepath.Join(root, "info", "last_cmd_status"), "Mask out of range\n")
	m := newFake(t, root, refuse, &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=fffff"}, "c1")
	err := m.Apply(1)
	if err == nil || !strings.Contains(err.Error(), "resctrl: Mask out of range") {
		t.Fatalf("Apply = %v, want the kernel's reason", err)
	}
	if exists(filepath.Join(root, "c1")) {
		t.Errorf("failed Apply left the group")
	}
}

func TestUpdate(t *testing.T) {
	root, hook := fakeTree(t)
	m := newFake(t, root, hook, &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=7f0"}, "c1")
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	l := load(m.State())
	if err := l.Update("", "MB:0=30"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "c1", "schemata")); got != "MB:0=30\n" {
		t.Errorf("schemata after update = %q", got)
	}
	if err := l.Update("MB:0=30", ""); err == nil || !strings.Contains(err.Error(), "l3CacheSchema") {
		t.Errorf("update with an MB line as the L3 schema = %v", err)
	}
	r := newFake(t, root, hook, &specs.LinuxIntelRdt{ClosID: "/"}, "c2")
	if err := r.Apply(2); err != nil {
		t.Fatal(err)
	}
	if err := load(r.State()).Update("L3:0=1", ""); err == nil {
		t.Errorf("update of the root group: want an error")
	}
	if got := read(t, filepath.Join(root, "schemata")); got != defaultSchemata {
		t.Errorf("root schemata changed: %q", got)
	}
}

func TestStats(t *testing.T) {
	root, hook := fakeTree(t)
	m := newFake(t, root, hook, &specs.LinuxIntelRdt{Schemata: []string{"L3:0=7f0;1=1f", "MB:0=20;1=70"}}, "c1")
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.L3CacheSchema != "L3:0=7f0;1=1f" || st.MemBwSchema != "MB:0=20;1=70" ||
		st.L3CacheSchemaRoot != "L3:0=7ff;1=7ff" || st.MemBwSchemaRoot != "MB:0=100;1=100" {
		t.Errorf("schemas: %+v", st)
	}
	if st.L3CacheInfo == nil || *st.L3CacheInfo != (L3CacheInfo{CbmMask: "7ff", MinCbmBits: 1, NumClosids: 16}) {
		t.Errorf("L3 info: %+v", st.L3CacheInfo)
	}
	if st.MemBwInfo == nil || *st.MemBwInfo != (MemBwInfo{BandwidthGran: 10, DelayLinear: 1, MinBandwidth: 10, NumClosids: 8}) {
		t.Errorf("MB info: %+v", st.MemBwInfo)
	}
	// Without a MON group, the CTRL_MON group's own counters.
	if st.CMTStats == nil || (*st.CMTStats)[1].LLCOccupancy != 1001 {
		t.Errorf("CMT stats: %+v", st.CMTStats)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(); err == nil {
		t.Errorf("Stats of a removed group: want an error")
	}
}

// TestNewWithoutResctrl checks the spec's MUST: linux.intelRdt on a host
// without a resctrl mount is an error naming the field; and without
// linux.intelRdt nothing is looked up at all.
func TestNewWithoutResctrl(t *testing.T) {
	if m, err := New(nil, "c1"); m != nil || err != nil {
		t.Fatalf("New(nil) = %v, %v; want no manager", m, err)
	}
	if _, err := Root(); err == nil {
		t.Skip("this host has resctrl mounted")
	}
	_, err := New(&specs.LinuxIntelRdt{ClosID: "x"}, "c1")
	if err == nil || !errors.Is(err, ErrNotMounted) || !strings.HasPrefix(err.Error(), "linux.intelRdt: ") {
		t.Fatalf("New without resctrl = %v, want ErrNotMounted naming linux.intelRdt", err)
	}
}

func TestNewChecks(t *testing.T) {
	root, _ := fakeTree(t)
	if _, err := newAt(root, &specs.LinuxIntelRdt{}, "a/b"); err == nil {
		t.Errorf("a container id with / as the group name: want an error")
	}
	if _, err := newAt(root, &specs.LinuxIntelRdt{MemBwSchema: "L3:0=1"}, "c"); err == nil || !strings.Contains(err.Error(), "linux.intelRdt.memBwSchema") {
		t.Errorf("bad memBwSchema: %v", err)
	}
}

// TestIntended: the state recorded before Apply names what Apply will
// make, so that Destroy after a create killed during Apply removes it,
// and never a group that was there before.
func TestIntended(t *testing.T) {
	root, hook := fakeTree(t)
	if err := os.Mkdir(filepath.Join(root, "leftover"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "mon_groups", "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id string
		c        *specs.LinuxIntelRdt
		want     State
	}{
		{"own group", "c1", &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f"},
			State{Root: root, Path: filepath.Join(root, "c1"), Remove: true}},
		{"own group exists", "leftover", &specs.LinuxIntelRdt{},
			State{Root: root, Path: filepath.Join(root, "leftover")}},
		{"closID", "c2", &specs.LinuxIntelRdt{ClosID: "gold", L3CacheSchema: "L3:0=f"},
			State{Root: root, Path: filepath.Join(root, "gold")}},
		{"monitoring", "c3", &specs.LinuxIntelRdt{ClosID: "/", EnableMonitoring: true},
			State{Root: root, Path: root, MonPath: filepath.Join(root, "mon_groups", "c3")}},
		{"monitoring exists", "old", &specs.LinuxIntelRdt{ClosID: "/", EnableMonitoring: true},
			State{Root: root, Path: root}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFake(t, root, hook, tc.c, tc.id)
			if got := *m.Intended(); got != tc.want {
				t.Errorf("Intended() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
