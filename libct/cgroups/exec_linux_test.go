package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseExecCgroup(t *testing.T) {
	tests := []struct {
		args    []string
		want    map[string]string
		wantErr string
	}{
		{nil, nil, ""},
		{[]string{"sub"}, map[string]string{"": "sub"}, ""},
		{[]string{"/"}, map[string]string{"": ""}, ""},
		{[]string{"/a/./b/"}, map[string]string{"": "a/b"}, ""},
		{[]string{"a/../b"}, map[string]string{"": "b"}, ""},
		{[]string{"memory:m", "cpu,cpuacct:/c"}, map[string]string{"memory": "m", "cpu": "c", "cpuacct": "c"}, ""},
		{[]string{"name=systemd:s"}, map[string]string{"name=systemd": "s"}, ""},
		{[]string{".."}, nil, "climbs out"},
		{[]string{"a/../../b"}, nil, "climbs out"},
		{[]string{"memory:../x"}, nil, "climbs out"},
		{[]string{"a", "b"}, nil, "must be the only"},
		{[]string{"a", "memory:b"}, nil, "must be the only"},
		{[]string{"memory:a", "memory:b"}, nil, "given twice"},
		{[]string{"cpu,,memory:a"}, nil, "bad controller"},
		{[]string{":a"}, nil, "bad controller"},
		{[]string{"a\x00b"}, nil, "NUL"},
	}
	for _, tt := range tests {
		got, err := ParseExecCgroup(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseExecCgroup(%q) = %v, %v; want an error with %q", tt.args, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseExecCgroup(%q) = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
}

// TestExecTargetPaths checks how sub-cgroups map onto hierarchies, on
// directories that stand for cgroups (cgroup.procs marks one).
func TestExecTargetPaths(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string {
		d := filepath.Join(root, rel)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	paths := map[string]string{"memory": mk("memory/c"), "cpu": mk("cpu,cpuacct/c"), "cpuacct": filepath.Join(root, "cpu,cpuacct/c"), "": mk("unified/c")}
	for _, d := range []string{"memory/c/a", "cpu,cpuacct/c/a", "unified/c/a", "memory/c/m"} {
		mk(d)
	}
	tests := []struct {
		name    string
		sub     map[string]string
		want    []string
		wantErr string
	}{
		{"none", nil, []string{"cpu,cpuacct/c", "memory/c", "unified/c"}, ""},
		{"all", map[string]string{"": "a"}, []string{"cpu,cpuacct/c/a", "memory/c/a", "unified/c/a"}, ""},
		{"one controller", map[string]string{"memory": "m"}, []string{"cpu,cpuacct/c", "memory/c/m", "unified/c"}, ""},
		{"co-mounted together", map[string]string{"cpu": "a", "cpuacct": "a"}, []string{"cpu,cpuacct/c/a", "memory/c", "unified/c"}, ""},
		{"co-mounted apart", map[string]string{"cpu": "a"}, nil, "shares its hierarchy with cpuacct"},
		{"missing everywhere", map[string]string{"": "m"}, nil, "sub-cgroup"},
		{"missing", map[string]string{"memory": "x"}, nil, "sub-cgroup"},
		{"unknown controller", map[string]string{"rdma": "a"}, nil, "no rdma hierarchy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := execTarget(paths, false, "", tt.sub, 1, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("execTarget = %v, %v; want an error with %q", target, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range target.Dirs() {
				got = append(got, strings.TrimPrefix(d, root+"/"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("dirs %v, want %v", got, tt.want)
			}
		})
	}
	// cgroup v2 takes one path, never controller:path.
	if _, err := execTarget(map[string]string{"": paths[""]}, true, root, map[string]string{"memory": "a"}, 1, false); err == nil || !strings.Contains(err.Error(), "cgroup v2 only") {
		t.Errorf("controller:path on v2: %v", err)
	}
}

// unifiedRoot returns a cgroup2 mount this test may make cgroups in, as
// root: the host's v2 hierarchy, or on a hybrid host its unified one
// (which works the same for one hierarchy, and is where the kernel's
// EBUSY and CLONE_INTO_CGROUP can be shown on this v1 host).
func unifiedRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	for _, r := range []string{DefaultRoot, filepath.Join(DefaultRoot, "unified")} {
		var st unix.Statfs_t
		if unix.Statfs(r, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return r
		}
	}
	t.Skip("no cgroup2 hierarchy mounted")
	return ""
}

// newUnifiedManager makes a v2 manager for a fresh cgroup at the top of
// the cgroup2 hierarchy, created, and destroyed (processes killed) when
// the test ends.
func newUnifiedManager(t *testing.T) *v2Manager {
	t.Helper()
	root := unifiedRoot(t)
	m := &v2Manager{root: root, dir: filepath.Join(root, testID())}
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
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

// v2CgroupOf returns the unified line of /proc/pid/cgroup as a directory
// under root.
func v2CgroupOf(t *testing.T, root string, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	own, err := ownUnifiedPath(data)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, own)
}

// nestedInit turns the container's cgroup into what systemd makes of it
// inside a container: init moved to a leaf (init.scope) and a controller
// enabled for the children, after which the kernel refuses processes in
// the container's cgroup itself with EBUSY.
func nestedInit(t *testing.T, m *v2Manager, initPid int) string {
	t.Helper()
	leaf := filepath.Join(m.dir, "init.scope")
	if err := os.Mkdir(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writePid(leaf, initPid); err != nil {
		t.Fatal(err)
	}
	avail, err := readFile(m.dir, "cgroup.controllers")
	if err != nil {
		t.Fatal(err)
	}
	ctrls := strings.Fields(avail)
	if len(ctrls) == 0 {
		t.Skipf("no controller available in %s to enable for children", m.dir)
	}
	if err := writeFile(m.dir, "cgroup.subtree_control", "+"+ctrls[0]); err != nil {
		t.Fatal(err)
	}
	probe := startSleep(t)
	if err := writePid(m.dir, probe.Process.Pid); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("joining a cgroup with %s enabled for its children: %v, want EBUSY", ctrls[0], err)
	}
	killWait(probe)
	return leaf
}

// TestExecJoinFallsBackToInitCgroup shows runc's EBUSY fallback on the
// kernel: exec into a container whose cgroup refuses processes lands in
// its init's cgroup; with an explicit --cgroup (even "/") there is no
// fallback; a sub-cgroup given by name is joined.
func TestExecJoinFallsBackToInitCgroup(t *testing.T) {
	m := newUnifiedManager(t)
	init := startSleep(t)
	if err := m.Join(init.Process.Pid); err != nil {
		t.Fatal(err)
	}
	leaf := nestedInit(t, m, init.Process.Pid)
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr error
	}{
		{"no --cgroup", nil, leaf, nil},
		{"explicit top", []string{"/"}, "", unix.EBUSY},
		{"named leaf", []string{"init.scope"}, leaf, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := ParseExecCgroup(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			target, err := m.Exec(sub, init.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			p := startSleep(t)
			defer killWait(p)
			err = target.Join(p.Process.Pid)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Join = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v2CgroupOf(t, m.root, p.Process.Pid); got != tt.want {
				t.Fatalf("exec'd process in %s, want %s", got, tt.want)
			}
		})
	}

	// An init that left the container's tree is no place to fall back to.
	outside := &v2Manager{root: m.root, dir: filepath.Join(m.root, testID())}
	if err := outside.Apply(init.Process.Pid); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = writePid(leaf, init.Process.Pid)
		_ = outside.Destroy()
	}()
	target, err := m.Exec(nil, init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p := startSleep(t)
	defer killWait(p)
	if err := target.Join(p.Process.Pid); err == nil || !strings.Contains(err.Error(), "outside it") {
		t.Fatalf("fallback to an init outside the container's cgroup: %v", err)
	}
}

// TestCloneIntoCgroup starts processes with clone3(CLONE_INTO_CGROUP)
// through exec.Cmd (SysProcAttr.UseCgroupFD) on the fds the package
// opens: a new container's cgroup (CloneIntoFD), exec's target, its
// fallback to init's cgroup, and the EBUSY the caller must answer by
// starting without the fd when --cgroup / forbids the fallback.
func TestCloneIntoCgroup(t *testing.T) {
	m := newUnifiedManager(t)
	start := func(f *os.File) (*exec.Cmd, error) {
		cmd := exec.Command("sleep", "100")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
		err := cmd.Start()
		f.Close()
		if err == nil {
			t.Cleanup(func() { killWait(cmd) })
		}
		return cmd, err
	}
	f, err := CloneIntoFD(m)
	if err != nil {
		t.Fatal(err)
	}
	init, err := start(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := v2CgroupOf(t, m.root, init.Process.Pid); got != m.dir {
		t.Fatalf("init started in %s, want %s", got, m.dir)
	}
	target, err := m.Exec(nil, init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if f, err = target.OpenFD(); err != nil {
		t.Fatal(err)
	}
	p, err := start(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := v2CgroupOf(t, m.root, p.Process.Pid); got != m.dir {
		t.Fatalf("exec'd process started in %s, want %s", got, m.dir)
	}
	killWait(p) // the container's cgroup must be empty to delegate

	leaf := nestedInit(t, m, init.Process.Pid)
	if f, err = target.OpenFD(); err != nil {
		t.Fatal(err)
	}
	if p, err = start(f); err != nil {
		t.Fatalf("start into the fallback: %v", err)
	}
	if got := v2CgroupOf(t, m.root, p.Process.Pid); got != leaf {
		t.Fatalf("exec'd process started in %s, want init's %s", got, leaf)
	}
	top, err := m.Exec(map[string]string{"": ""}, init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if f, err = top.OpenFD(); err != nil {
		t.Fatal(err)
	}
	if _, err := start(f); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("clone into a cgroup with controllers for its children: %v, want EBUSY", err)
	}
}

// TestCloneIntoNotOnV1 checks that a v1 (or hybrid) manager says it
// cannot, so that the caller moves the process by writing cgroup.procs.
func TestCloneIntoNotOnV1(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	if _, err := CloneIntoFD(m); !errors.Is(err, ErrNotSupported) {
		t.Errorf("CloneIntoFD on v1: %v, want ErrNotSupported", err)
	}
	target, err := m.Exec(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := target.OpenFD(); !errors.Is(err, ErrNotSupported) {
		t.Errorf("OpenFD on v1: %v, want ErrNotSupported", err)
	}
}

// TestV1ExecSubCgroup joins sub-cgroups of a real v1 container cgroup:
// one controller's, and one path in every hierarchy.
func TestV1ExecSubCgroup(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	init := startSleep(t)
	if err := m.Apply(init.Process.Pid); err != nil {
		t.Fatal(err)
	}
	memDir, pidsDir := m.Path("memory"), m.Path("pids")
	if memDir == "" || pidsDir == "" {
		t.Skip("no memory or pids hierarchy")
	}
	if err := os.Mkdir(filepath.Join(memDir, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub, err := ParseExecCgroup([]string{"memory:/m"})
	if err != nil {
		t.Fatal(err)
	}
	target, err := m.Exec(sub, init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p := startSleep(t)
	defer killWait(p)
	if err := target.Join(p.Process.Pid); err != nil {
		t.Fatal(err)
	}
	pids, _ := readPids(filepath.Join(memDir, "m"))
	if len(pids) != 1 || pids[0] != p.Process.Pid {
		t.Errorf("memory/m has %v, want the exec'd pid", pids)
	}
	pids, _ = readPids(pidsDir)
	found := false
	for _, q := range pids {
		found = found || q == p.Process.Pid
	}
	if !found {
		t.Errorf("exec'd pid not in the container's pids cgroup (%v)", pids)
	}
	// One path for every hierarchy: it must exist in each.
	if _, err := m.Exec(map[string]string{"": "m"}, init.Process.Pid); err == nil || !strings.Contains(err.Error(), "sub-cgroup") {
		t.Errorf("a sub-cgroup missing in some hierarchies: %v", err)
	}
}

// TestSelfJoin: a v1 target hands over the "tasks" file of each of its
// v1 directories and the hybrid host's unified directory (left in rest
// for Join when the start in it fails); a target it cannot hand over whole
// (a tasks file missing, rootless, moved by systemd, pure v2) stays with
// the parent.
func TestSelfJoin(t *testing.T) {
	root := t.TempDir()
	paths := map[string]string{}
	for _, k := range []string{"memory", "pids", ""} {
		dir := filepath.Join(root, k+"x", "c")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if k != "" {
			if err := os.WriteFile(filepath.Join(dir, "tasks"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths[k] = dir
	}
	for _, tc := range []struct {
		name                    string
		rootless, unified, sysd bool
		noTasks                 string
		tasks                   int
		into                    bool
	}{
		{name: "v1 hybrid", tasks: 2, into: true},
		{name: "a tasks file missing", noTasks: "pids"},
		{name: "rootless", rootless: true},
		{name: "systemd moves it", sysd: true},
		{name: "pure v2", unified: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := paths
			if tc.noTasks != "" {
				p = map[string]string{}
				for k, v := range paths {
					p[k] = v
				}
				p[tc.noTasks] = filepath.Join(root, "none")
			}
			if tc.unified {
				p = map[string]string{"": paths[""]}
			}
			target, err := execTarget(p, tc.unified, root, nil, 0, tc.rootless)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sysd {
				target.attach = func(string, int) error { return nil }
			}
			tasks, into, rest := target.SelfJoin()
			for _, f := range tasks {
				defer f.Close()
			}
			if into != nil {
				defer into.Close()
			}
			if len(tasks) != tc.tasks || (into != nil) != tc.into {
				t.Fatalf("%d tasks files, into %v; want %d, %v", len(tasks), into != nil, tc.tasks, tc.into)
			}
			if tc.tasks == 0 {
				if rest != target {
					t.Errorf("rest is not the whole target")
				}
				return
			}
			for _, f := range tasks {
				if filepath.Base(f.Name()) != "tasks" {
					t.Errorf("handed over %s, want a tasks file", f.Name())
				}
			}
			if !reflect.DeepEqual(rest.Dirs(), []string{paths[""]}) || into.Name() != paths[""] {
				t.Errorf("rest %v, into %s: want the unified directory %s", rest.Dirs(), into.Name(), paths[""])
			}
		})
	}
}
