package integration

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
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
			if out, _ := exec.Command("pgrep", "-f", "criu swrk").Output(); len(out) > 0 {
				t.Errorf("criu left running: pids %s", strings.Fields(string(out)))
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
