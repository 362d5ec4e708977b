package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// This host's kernel has no resctrl, so the linux.intelRdt tests give the
// runtime a fake one: a directory laid out as a resctrl mount, which the
// runtime finds because, in a mount namespace of the test's, its
// /proc/self/mountinfo has a line of type resctrl for it (a file bound
// over /proc/<pid>/mountinfo by a shell that then execs the runtime, so
// the pid is the runtime's). Nothing in hull knows of the fake. A plain
// directory is not the kernel's resctrl: a new group comes empty, where
// the kernel fills it with schemata and tasks files; so these tests use
// groups made beforehand (closID), as an administrator does, and the
// groups hull makes itself are tested in libct/intelrdt on a fake tree
// that plays the kernel's part.

// fakeResctrl is a fake resctrl tree, the mountinfo that shows it, and a
// cpuinfo whose flags claim RDT (runc reads them; hull does not).
type fakeResctrl struct {
	root, mountinfo, cpuinfo string
}

func newFakeResctrl(t *testing.T) *fakeResctrl {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) on this host (util-linux) to make the mount namespace")
	}
	dir := t.TempDir()
	f := &fakeResctrl{root: filepath.Join(dir, "resctrl"), mountinfo: filepath.Join(dir, "mountinfo"), cpuinfo: filepath.Join(dir, "cpuinfo")}
	for name, content := range map[string]string{
		"schemata":                 "    L3:0=7ff\n    MB:0=100\n",
		"tasks":                    "",
		"info/last_cmd_status":     "ok\n",
		"info/L3/cbm_mask":         "7ff\n",
		"info/L3/min_cbm_bits":     "1\n",
		"info/L3/num_closids":      "16\n",
		"info/MB/bandwidth_gran":   "10\n",
		"info/MB/min_bandwidth":    "10\n",
		"info/MB/num_closids":      "8\n",
		"info/MB/delay_linear":     "1\n",
		"info/L3_MON/num_rmids":    "224\n",
		"info/L3_MON/mon_features": "llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n",
	} {
		writeHostFile(t, filepath.Join(f.root, name), content)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mi = append(mi, []byte("4242 1 0:4242 / "+f.root+" rw,relatime shared:4242 - resctrl resctrl rw\n")...)
	writeHostFile(t, f.mountinfo, string(mi))
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(ci), "\n") {
		if strings.HasPrefix(l, "flags") {
			l += " rdt_a cat_l3 mba cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local"
		}
		lines = append(lines, l)
	}
	writeHostFile(t, f.cpuinfo, strings.Join(lines, "\n"))
	return f
}

// group makes the group name as the kernel would, with schemata and
// monitoring counters, and returns its directory.
func (f *fakeResctrl) group(t *testing.T, name, schemata string) string {
	t.Helper()
	g := filepath.Join(f.root, name)
	for file, content := range map[string]string{
		"schemata":                           schemata,
		"tasks":                              "",
		"mon_data/mon_L3_00/llc_occupancy":   "4096\n",
		"mon_data/mon_L3_00/mbm_total_bytes": "1000\n",
		"mon_data/mon_L3_00/mbm_local_bytes": "900\n",
	} {
		writeHostFile(t, filepath.Join(g, file), content)
	}
	return g
}

// call runs the runtime in a mount namespace where the fake is resctrl.
func (f *fakeResctrl) call(r *rt, args ...string) result {
	r.t.Helper()
	return r.callWith(callOpts{shellPrefix: `exec unshare -m --propagation private /bin/sh -c 'mount --bind "$0" /proc/$$/mountinfo && mount --bind "$1" /proc/cpuinfo && shift 2 && exec "$@"' ` + f.mountinfo + " " + f.cpuinfo}, args...)
}

// must is call, failing the test unless the runtime exits 0.
func (f *fakeResctrl) must(r *rt, args ...string) result {
	r.t.Helper()
	res := f.call(r, args...)
	if res.code != 0 || res.err != nil {
		r.t.Fatalf("runtime call failed: %v", res)
	}
	return res
}

func writeHostFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readHost(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rdtBundle is a sleeping container with linux.intelRdt rdt.
func rdtBundle(t *testing.T, rdt *specs.LinuxIntelRdt) *bundle {
	return newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) { s.Linux.IntelRdt = rdt })
}

// TestIntelRdt: a container in a resctrl group set up beforehand (closID,
// no schema) gets its init and exec'd processes written to the group's
// tasks file; update writes the new schemas to the group's schemata;
// events reports them and the monitoring counters; delete leaves the
// group, which hull did not make.
func TestIntelRdt(t *testing.T) {
	f := newFakeResctrl(t)
	g := f.group(t, "gold", "    L3:0=0ff\n    MB:0= 70\n")
	r := newRuntime(t)
	id := newID(t)
	b := rdtBundle(t, &specs.LinuxIntelRdt{ClosID: "gold"})
	if res := f.call(r, "create", "--bundle", b.dir, id); res.code != 0 {
		t.Fatalf("create: %v", res)
	}
	pid := itoa(r.state(id).Pid)
	checkTasks(t, filepath.Join(g, "tasks"), pid, "init")
	if got := readHost(t, filepath.Join(g, "schemata")); got != "    L3:0=0ff\n    MB:0= 70\n" {
		t.Errorf("create wrote gold/schemata (%q) though no schema was asked for", got)
	}
	f.must(r, "start", id)

	pidFile := filepath.Join(t.TempDir(), "pid")
	f.must(r, "exec", "--pid-file", pidFile, id, "true")
	checkTasks(t, filepath.Join(g, "tasks"), readHost(t, pidFile), "the exec'd process")

	t.Run("update and events", func(t *testing.T) {
		rdtUpdateAndEvents(t, f, r, id, g)
	})

	r.must("delete", "--force", id)
	if _, err := os.Stat(g); err != nil {
		t.Errorf("delete removed the group hull did not make (closID set): %v", err)
	}
}

// checkTasks checks that the last pid written to the fake tasks file
// (which keeps only the last write, where the kernel's lists the group's
// tasks) is pid. runc writes the pid of its nsexec stage that then forks
// the process (the fork inherits the group): for runc any pid will do.
func checkTasks(t *testing.T, file, pid, what string) {
	t.Helper()
	got := readHost(t, file)
	if got != pid && (!testEnv.isRunc || got == "") {
		t.Errorf("%s = %q, want %s's pid %s", file, got, what, pid)
	}
}

// runcNoCompare: runc 1.1 writes the schemas over an existing group's.
const runcNoCompare = "runc 1.1 predates runtime-spec 1.3's rule to compare with an existing group's schemata: it writes over them"

func rdtUpdateAndEvents(t *testing.T, f *fakeResctrl, r *rt, id, g string) {
	f.must(r, "update", "--l3-cache-schema", "L3:0=f0", "--mem-bw-schema", "MB:0=50", id)
	// L3 first, MB last. hull writes each line with its own write(2)
	// (the fake file keeps the last); runc writes both in one.
	got := readHost(t, filepath.Join(g, "schemata"))
	if !strings.HasSuffix(got, "MB:0=50\n") || (hullOnly() && got != "MB:0=50\n") || (got != "MB:0=50\n" && got != "L3:0=f0\nMB:0=50\n") {
		t.Errorf("gold/schemata = %q after update, want L3:0=f0 then MB:0=50 written", got)
	}
	writeHostFile(t, filepath.Join(g, "schemata"), "    L3:0=0f0\n    MB:0= 50\n") // as the kernel would show it

	res := f.must(r, "events", "--stats", id)
	var ev struct {
		Data struct {
			IntelRdt *struct {
				L3CacheSchema     string `json:"l3_cache_schema"`
				MemBwSchema       string `json:"mem_bw_schema"`
				L3CacheSchemaRoot string `json:"l3_cache_schema_root"`
				L3CacheInfo       *struct {
					CbmMask string `json:"cbm_mask"`
				} `json:"l3_cache_info"`
				CMTStats *[]struct {
					LLCOccupancy uint64 `json:"llc_occupancy"`
				} `json:"cmt_stats"`
			} `json:"intel_rdt"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &ev); err != nil {
		t.Fatalf("events --stats: %v: %s", err, res.stdout)
	}
	if rdt := ev.Data.IntelRdt; rdt == nil || rdt.L3CacheSchema != "L3:0=0f0" || rdt.MemBwSchema != "MB:0= 50" ||
		rdt.L3CacheSchemaRoot != "L3:0=7ff" || rdt.L3CacheInfo == nil || rdt.L3CacheInfo.CbmMask != "7ff" ||
		rdt.CMTStats == nil || len(*rdt.CMTStats) != 1 || (*rdt.CMTStats)[0].LLCOccupancy != 4096 {
		t.Errorf("events --stats intel_rdt: %s", res.stdout)
	}
}

// TestIntelRdtRules: the spec's rules on a group that exists or not.
func TestIntelRdtRules(t *testing.T) {
	f := newFakeResctrl(t)
	silver := f.group(t, "silver", "    L3:0=00f\n    MB:0=100\n")
	r := newRuntime(t)
	for _, tc := range []struct {
		name    string
		rdt     *specs.LinuxIntelRdt
		tasks   string   // the tasks file that must get init's pid ("" for a failure)
		wantErr []string // what hull's message names
		runc    string   // a runc deviation
	}{
		// An existing group with the schemas asked for (compared as
		// numbers: the kernel pads them): joined, nothing written.
		{"same schemata", &specs.LinuxIntelRdt{ClosID: "silver", L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=100"}, filepath.Join(silver, "tasks"), nil, runcNoCompare},
		// Other schemas: an error naming the difference.
		{"other schemata", &specs.LinuxIntelRdt{ClosID: "silver", L3CacheSchema: "L3:0=ff"}, "", []string{"linux.intelRdt", "silver", "L3 domain 0 = f"}, runcNoCompare},
		// A closID without schema names a group set up beforehand.
		{"missing group", &specs.LinuxIntelRdt{ClosID: "bronze"}, "", []string{"linux.intelRdt.closID", "does not exist"}, ""},
		// "/" is the root group: the default class of service.
		{"root group", &specs.LinuxIntelRdt{ClosID: "/"}, filepath.Join(f.root, "tasks"), nil,
			"runc 1.1 predates runtime-spec 1.3's closID \"/\" (the root group): invalid closID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.runc != "" {
				runcDeviation(t, tc.runc)
			}
			id := newID(t)
			b := rdtBundle(t, tc.rdt)
			snap := snapshot(t, b.dir)
			res := f.call(r, "create", "--bundle", b.dir, id)
			if tc.tasks != "" {
				if res.code != 0 {
					t.Fatalf("create: %v", res)
				}
				checkTasks(t, tc.tasks, itoa(r.state(id).Pid), "init")
				r.must("delete", "--force", id)
				return
			}
			if res.code == 0 {
				t.Fatalf("create succeeded: %v", res)
			}
			for _, w := range tc.wantErr {
				if hullOnly() && !strings.Contains(res.stderr, w) {
					t.Errorf("stderr %q does not name %q", res.stderr, w)
				}
			}
			checkNoLeaks(t, r, id, b.dir, snap)
		})
		if got := readHost(t, filepath.Join(silver, "schemata")); got != "    L3:0=00f\n    MB:0=100\n" {
			t.Fatalf("%s: silver/schemata = %q: an existing group's schemata must not be written", tc.name, got)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "bronze")); err == nil {
		t.Errorf("create made the missing group bronze (closID without schema)")
	}
}

// TestIntelRdtUnset: without linux.intelRdt, resctrl is not touched even
// where it is mounted.
func TestIntelRdtUnset(t *testing.T) {
	f := newFakeResctrl(t)
	r := newRuntime(t)
	id := newID(t)
	b := rdtBundle(t, nil)
	if res := f.call(r, "run", "--detach", "--bundle", b.dir, id); res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	r.must("exec", id, "true")
	if hullOnly() {
		// No group to change: refused (runc would make one).
		res := f.call(r, "update", "--l3-cache-schema", "L3:0=f", id)
		if res.code == 0 || !strings.Contains(res.stderr, "linux.intelRdt") {
			t.Errorf("update --l3-cache-schema of a container without linux.intelRdt: %v", res)
		}
	}
	r.must("delete", "--force", id)
	if got := readHost(t, filepath.Join(f.root, "tasks")); got != "" {
		t.Errorf("the root group's tasks = %q, want untouched", got)
	}
	ents, _ := os.ReadDir(f.root)
	for _, e := range ents {
		if e.Name() != "info" && e.IsDir() {
			t.Errorf("a group %s appeared without linux.intelRdt", e.Name())
		}
	}
}
