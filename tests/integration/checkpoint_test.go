package integration

import (
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// criuCheck returns criu's binary and, when `criu check` fails on this
// host, the message of its first "Error (file:line): message" line. The
// test is skipped without criu (scripts/deps.sh installs it).
func criuCheck(t *testing.T) (string, string) {
	t.Helper()
	bin, err := exec.LookPath("criu")
	if err != nil {
		t.Skip("criu is not installed (scripts/deps.sh installs it)")
	}
	out, err := exec.Command(bin, "check").CombinedOutput()
	if err == nil {
		return bin, ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "Error ("); i >= 0 {
			m := l[i:]
			if j := strings.Index(m, "): "); j >= 0 {
				m = m[j+3:]
			}
			return bin, strings.TrimSpace(m)
		}
	}
	return bin, strings.TrimSpace(string(out))
}

// counter is a busybox counter: it writes 1, 2, 3, ... to /count in its
// rootfs, one number at a time.
func counter(t *testing.T, r *rt) (string, *bundle) {
	t.Helper()
	id := newID(t)
	b := newBundle(t, sh(`i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.05; done`), nil)
	r.must("run", "-d", "--bundle", b.dir, id)
	r.waitStatus(id, "running")
	return id, b
}

func (b *bundle) count(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(b.rootfs("count"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// closedPort returns a local TCP address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestCheckpointFailure: a checkpoint that CRIU fails must say what CRIU
// reported and leave the container running and untouched: same init, not
// frozen, its cgroup in place, its process still counting. On a host
// where `criu check` itself fails (Debian's criu 3.17 on kernel 6.18: the
// vDSO layout) the error must carry that cause; everywhere, a dump to a
// page server that is not there fails inside CRIU.
func TestCheckpointFailure(t *testing.T) {
	t.Parallel()
	_, checkErr := criuCheck(t)
	cases := []struct {
		name  string
		flags func(t *testing.T) []string
		want  string // a part of the message CRIU logged
	}{
		{name: "host", flags: func(*testing.T) []string { return nil }, want: checkErr},
		{name: "page-server", flags: func(t *testing.T) []string { return []string{"--page-server", closedPort(t)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.name == "host" && checkErr == "" {
				t.Skip("criu check passes on this host: a plain checkpoint succeeds here (tests/vm checks that)")
			}
			r := newRuntime(t)
			id, b := counter(t, r)
			before := r.state(id)
			stat := procStatStart(t, before.Pid)
			cgs := procCgroups(t, itoa(before.Pid))
			images := filepath.Join(t.TempDir(), "images")

			res := r.call(append([]string{"checkpoint", "--image-path", images}, append(tc.flags(t), id)...)...)
			if res.code == 0 {
				t.Fatalf("checkpoint succeeded, want a failure: %v", res)
			}
			if hullOnly() {
				msg := res.stderr
				if !strings.Contains(msg, "criu dump failed: ") || !strings.Contains(msg, "log "+filepath.Join(images, "dump.log")) {
					t.Errorf("error does not report CRIU's failure and its log: %q", msg)
				}
				if tc.want != "" && !strings.Contains(msg, tc.want) {
					t.Errorf("error does not name what CRIU reported (%q): %q", tc.want, msg)
				}
				if tc.want == "" && !strings.Contains(msg, "dump failed: ") {
					t.Errorf("error names no CRIU error: %q", msg)
				}
			}

			after := r.state(id)
			if after.Status != "running" || after.Pid != before.Pid || procStatStart(t, after.Pid) != stat {
				t.Fatalf("after the failed checkpoint: status %s pid %d, want running pid %d (same process)", after.Status, after.Pid, before.Pid)
			}
			for ctrl, p := range procCgroups(t, itoa(after.Pid)) {
				if cgs[ctrl] != p {
					t.Errorf("init moved from cgroup %s:%s to %s", ctrl, cgs[ctrl], p)
				}
			}
			if f := frozenState(t, cgs); f != "" && f != "THAWED" && f != "0" {
				t.Errorf("container left frozen: %s", f)
			}
			n := b.count(t)
			waitFor(t, "the counter to go on after the failed checkpoint", func() bool { return b.count(t) > n+2 })
			if left := orphanCriu(); len(left) > 0 {
				t.Errorf("criu left running: pids %v", left)
			}
		})
	}
}

// TestRestoreFailure: a restore that fails (no images, or CRIU failing)
// leaves nothing: no state directory, cgroup, mount or process.
func TestRestoreFailure(t *testing.T) {
	t.Parallel()
	criuCheck(t)
	r := newRuntime(t)
	b := newBundle(t, sh("sleep 1000"), nil)
	cases := []struct {
		name   string
		images func(t *testing.T) string
		want   string
	}{
		{name: "no-images", images: func(t *testing.T) string { return t.TempDir() }, want: "descriptors.json"},
		{name: "criu-fails", images: func(t *testing.T) string {
			// What runc and hull write beside CRIU's images, and no image.
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, "descriptors.json"), []byte(`["/dev/null","pipe:[1]","pipe:[2]"]`), 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}, want: "criu restore failed: "},
		{name: "missing-dir", images: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, want: "image path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			snap := snapshot(t, b.dir)
			res := r.call("restore", "-d", "--bundle", b.dir, "--image-path", tc.images(t), id)
			if res.code == 0 {
				t.Fatalf("restore succeeded, want a failure: %v", res)
			}
			if hullOnly() && !strings.Contains(res.stderr, tc.want) {
				t.Errorf("error %q does not say %q", res.stderr, tc.want)
			}
			checkNoLeaks(t, r, id, b.dir, snap)
			ents, _ := os.ReadDir(r.root)
			for _, e := range ents {
				t.Errorf("left in the state root: %s", e.Name())
			}
			if res := r.call("state", id); res.code == 0 {
				t.Errorf("state of the failed restore succeeded: %v", res)
			}
		})
	}
}

// TestCheckpointWrongState: only a running or paused container can be
// checkpointed; the refusal touches nothing.
func TestCheckpointWrongState(t *testing.T) {
	t.Parallel()
	criuCheck(t)
	r := newRuntime(t)
	for _, status := range []string{"created", "stopped"} {
		id, _ := containerIn(t, r, status)
		res := r.call("checkpoint", "--image-path", t.TempDir(), id)
		if res.code == 0 {
			t.Fatalf("checkpoint of a %s container succeeded", status)
		}
		if hullOnly() && !strings.Contains(res.stderr, "cannot checkpoint a container that is "+status) {
			t.Errorf("%s: error %q", status, res.stderr)
		}
		if st := r.state(id); st.Status != status {
			t.Errorf("status after the refused checkpoint: %s, want %s", st.Status, status)
		}
	}
}

// procStatStart returns field 22 of /proc/PID/stat (the start time).
func procStatStart(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	return f[19]
}

// frozenState reads the freezer of the cgroups in cgs (v1 freezer.state
// or v2 cgroup.freeze); "" when there is none.
func frozenState(t *testing.T, cgs map[string]string) string {
	t.Helper()
	for ctrl, p := range cgs {
		var f string
		switch {
		case strings.Contains(ctrl, "freezer"):
			f = filepath.Join("/sys/fs/cgroup/freezer", p, "freezer.state")
		case ctrl == "":
			for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
				if _, err := os.Stat(filepath.Join(root, p, "cgroup.freeze")); err == nil {
					f = filepath.Join(root, p, "cgroup.freeze")
				}
			}
		}
		if f == "" {
			continue
		}
		if data, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	return ""
}

// TestCheckpointFeatures: engines find out about checkpoint/restore from
// `features` (runc's annotation) and from `checkpoint --help` succeeding
// (Podman's test).
func TestCheckpointFeatures(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	res := r.must("features")
	var f struct {
		Annotations map[string]string `json:"annotations"`
		Unsafe      []string          `json:"potentiallyUnsafeConfigAnnotations"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &f); err != nil {
		t.Fatalf("features: %v", err)
	}
	if f.Annotations["org.opencontainers.runc.checkpoint.enabled"] != "true" {
		t.Errorf("features annotations %v: want org.opencontainers.runc.checkpoint.enabled=true", f.Annotations)
	}
	if hullOnly() && !slices.Contains(f.Unsafe, "org.criu.config") {
		t.Errorf("potentiallyUnsafeConfigAnnotations %v: want org.criu.config", f.Unsafe)
	}
	for _, cmd := range []string{"checkpoint", "restore"} {
		r.must(cmd, "--help")
	}
}

// fakeCriuOnly skips a test that drives the runtime with the fake criu:
// runc asks criu its VERSION before restoring, which the fake refuses.
func fakeCriuOnly(t *testing.T) {
	t.Helper()
	if !testEnv.isHull {
		t.Skip("the fake criu answers hull's RESTORE request only (runc asks criu's VERSION first)")
	}
}

// TestRestoreNetDevices: a restore moves linux.netDevices into the
// restored network namespace, as create does, when CRIU says
// setup-namespaces (CRIU made that namespace empty: empty_ns has
// CLONE_NEWNET, as runc's), under their container names with their
// addresses, up; delete leaves them to the kernel. A restore that fails
// after the move puts them back on the host as they were and leaves
// nothing. CRIU is the fake of fakecriu_test.go; the "host" is a network
// namespace of the test's.
func TestRestoreNetDevices(t *testing.T) {
	fakeCriuOnly(t)
	r := newRuntime(t)
	n := newNetns(t)
	veth(t, n, "hr0", "10.79.0.1/24")
	veth(t, n, "hr1", "10.80.0.1/24")
	bundleFor := func(host string) *bundle {
		return newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{host: {Name: "ctr0"}}
		})
	}

	t.Run("restored", func(t *testing.T) {
		criu, report := newFakeCriu(t, "ok")
		id := newID(t)
		b := bundleFor("hr0")
		n.mustHull(r, "--criu", criu, "restore", "-d", "--bundle", b.dir, "--image-path", fakeImages(t), id)
		t.Cleanup(func() { n.deleteAll(r) })
		pid := fakeReport(t, report)["init"]
		if st := r.state(id); st.Pid != pid || st.Status != "running" {
			t.Fatalf("state after restore: pid %d %s, want the restored init %d running", st.Pid, st.Status, pid)
		}
		ctr0 := linksIn(t, "/proc/"+itoa(pid)+"/ns/net")["ctr0"]
		if ctr0 == nil || !slices.Contains(ctr0.addrs(), "10.79.0.1/24") || !slices.Contains(ctr0.Flags, "UP") {
			t.Fatalf("restored namespace's ctr0 = %+v, want hr0 moved in with 10.79.0.1/24, up", ctr0)
		}
		if linksIn(t, n.path)["hr0"] != nil {
			t.Errorf("hr0 still on the host side after the restore")
		}
		n.mustHull(r, "delete", "--force", id)
		waitFor(t, "the kernel to destroy hr0 (ctr0) and its peer with the restored namespace", func() bool {
			host := linksIn(t, n.path)
			return host["hr0"] == nil && host["hr0p"] == nil
		})
	})

	t.Run("criu fails after the move", func(t *testing.T) {
		criu, report := newFakeCriu(t, "fail")
		id := newID(t)
		b := bundleFor("hr1")
		before := linksIn(t, n.path)["hr1"]
		snap := snapshot(t, b.dir)
		res := n.hull(r, "--criu", criu, "restore", "-d", "--bundle", b.dir, "--image-path", fakeImages(t), id)
		if res.code == 0 {
			t.Fatalf("restore succeeded, want CRIU's failure: %v", res)
		}
		if !strings.Contains(res.stderr, "fake failure after setup-namespaces") {
			t.Errorf("error does not say what criu reported: %q", res.stderr)
		}
		if fakeReport(t, report)["init"] == 0 {
			t.Fatal("the fake criu never reached setup-namespaces")
		}
		after := linksIn(t, n.path)["hr1"]
		if after == nil {
			t.Fatalf("hr1 is not back on the host side after the failed restore: %v", slices.Sorted(maps.Keys(linksIn(t, n.path))))
		}
		if !subset(before.addrs(), after.addrs()) || !slices.Contains(after.Flags, "UP") {
			t.Errorf("hr1 back as %v %v, was %v %v", after.addrs(), after.Flags, before.addrs(), before.Flags)
		}
		checkNoLeaks(t, r, id, b.dir, snap)
	})

	t.Run("missing device", func(t *testing.T) {
		criu, _ := newFakeCriu(t, "ok")
		id := newID(t)
		b := bundleFor("hrnone")
		snap := snapshot(t, b.dir)
		res := n.hull(r, "--criu", criu, "restore", "-d", "--bundle", b.dir, "--image-path", fakeImages(t), id)
		if res.code == 0 || !strings.Contains(res.stderr, `linux.netDevices["hrnone"]`) {
			t.Fatalf("restore with a device the host lacks: %v, want an error naming linux.netDevices[\"hrnone\"]", res)
		}
		checkNoLeaks(t, r, id, b.dir, snap)
	})
}

// TestRestoreIntelRdt: a restore puts criu into the container's resctrl
// group before CRIU restores anything (the restored tasks inherit it, as
// a fork does), as create puts init; delete leaves a group set up
// beforehand (closID); a group that is missing is refused, naming the
// field, and a failed restore leaves nothing. resctrl is the fake tree of
// intelrdt_test.go, criu the fake of fakecriu_test.go.
func TestRestoreIntelRdt(t *testing.T) {
	fakeCriuOnly(t)
	f := newFakeResctrl(t)
	g := f.group(t, "gold", "    L3:0=0ff\n    MB:0= 70\n")
	r := newRuntime(t)
	restore := func(t *testing.T, mode string, rdt *specs.LinuxIntelRdt) (result, string, *bundle, hostSnapshot) {
		criu, _ := newFakeCriu(t, mode)
		id := newID(t)
		b := rdtBundle(t, rdt)
		snap := snapshot(t, b.dir)
		res := f.call(r, "--criu", criu, "restore", "-d", "--bundle", b.dir, "--image-path", fakeImages(t), id)
		return res, id, b, snap
	}
	t.Run("joined", func(t *testing.T) {
		criu, report := newFakeCriu(t, "ok")
		id := newID(t)
		b := rdtBundle(t, &specs.LinuxIntelRdt{ClosID: "gold"})
		f.must(r, "--criu", criu, "restore", "-d", "--bundle", b.dir, "--image-path", fakeImages(t), id)
		got := fakeReport(t, report)
		if st := r.state(id); st.Pid != got["init"] {
			t.Fatalf("state pid %d, want the restored init %d", st.Pid, got["init"])
		}
		checkTasks(t, filepath.Join(g, "tasks"), itoa(got["criu"]), "criu (before it restores)")
		// exec'd processes join it too, from the state the restore wrote
		pidFile := filepath.Join(t.TempDir(), "pid")
		f.must(r, "exec", "--pid-file", pidFile, id, "true")
		checkTasks(t, filepath.Join(g, "tasks"), readHost(t, pidFile), "the exec'd process")
		r.must("delete", "--force", id)
		if _, err := os.Stat(g); err != nil {
			t.Errorf("delete removed the group hull did not make (closID set): %v", err)
		}
	})
	t.Run("missing group", func(t *testing.T) {
		res, id, b, snap := restore(t, "ok", &specs.LinuxIntelRdt{ClosID: "bronze"})
		if res.code == 0 || !strings.Contains(res.stderr, "linux.intelRdt.closID") {
			t.Fatalf("restore into a missing group: %v, want an error naming linux.intelRdt.closID", res)
		}
		checkNoLeaks(t, r, id, b.dir, snap)
		if _, err := os.Stat(filepath.Join(f.root, "bronze")); err == nil {
			t.Errorf("restore made the missing group bronze (closID without schema)")
		}
	})
	t.Run("criu fails", func(t *testing.T) {
		res, id, b, snap := restore(t, "fail", &specs.LinuxIntelRdt{ClosID: "gold"})
		if res.code == 0 || !strings.Contains(res.stderr, "fake failure") {
			t.Fatalf("restore: %v, want CRIU's failure", res)
		}
		checkNoLeaks(t, r, id, b.dir, snap)
		if _, err := os.Stat(g); err != nil {
			t.Errorf("the failed restore removed the group hull did not make: %v", err)
		}
	})
}

// TestCriuFeaturesRefused: where criu cannot do lazy pages (no
// userfaultfd) or track memory (no soft-dirty bits, for --pre-dump),
// checkpoint and restore refuse before touching anything, naming the
// flag: the container runs on, a restore leaves nothing. criu is the fake
// of fakecriu_test.go answering its feature check with neither.
func TestCriuFeaturesRefused(t *testing.T) {
	fakeCriuOnly(t)
	r := newRuntime(t)
	criu, _ := newFakeCriu(t, "nofeatures")
	id, b := counter(t, r)
	pid := r.state(id).Pid
	for _, tc := range []struct{ flags []string }{
		{[]string{"--lazy-pages"}},
		{[]string{"--pre-dump"}},
	} {
		res := r.call(append(append([]string{"--criu", criu, "checkpoint", "--image-path", t.TempDir()}, tc.flags...), id)...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.flags[0]+": criu lacks") {
			t.Errorf("checkpoint %s without the feature: %v, want a refusal naming %s", tc.flags[0], res, tc.flags[0])
		}
		if st := r.state(id); st.Status != "running" || st.Pid != pid {
			t.Fatalf("after the refused checkpoint %s: %s pid %d, want running pid %d", tc.flags[0], st.Status, st.Pid, pid)
		}
	}
	n := b.count(t)
	waitFor(t, "the counter to go on after the refusals", func() bool { return b.count(t) > n+1 })

	rid := newID(t)
	rb := newBundle(t, []string{"sleep", "1000"}, nil)
	snap := snapshot(t, rb.dir)
	res := r.call("--criu", criu, "restore", "-d", "--lazy-pages", "--bundle", rb.dir, "--image-path", fakeImages(t), rid)
	if res.code == 0 || !strings.Contains(res.stderr, "--lazy-pages: criu lacks lazy pages") {
		t.Errorf("restore --lazy-pages without the feature: %v, want a refusal naming --lazy-pages", res)
	}
	checkNoLeaks(t, r, rid, rb.dir, snap)
}

// orphanCriu lists the `criu swrk` processes no hull waits for: hull runs
// criu as its child and waits for it, so one whose parent is not a hull
// (reparented once its hull exited) was left behind. A criu of a parallel
// test, still its hull's child, is not counted.
func orphanCriu() []string {
	out, _ := exec.Command("pgrep", "-f", "criu swrk").Output()
	var left []string
	for _, pid := range strings.Fields(string(out)) {
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			continue // gone meanwhile
		}
		ppid := ""
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
			}
		}
		if comm, err := os.ReadFile("/proc/" + ppid + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "hull" {
			continue
		}
		left = append(left, pid)
	}
	return left
}
