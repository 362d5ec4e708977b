package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// watcherSource is the attacker inside the container: as fast as it can,
// it walks the container's /proc and tries /proc/<pid>/root<marker> for
// every process it sees, with one goroutine per CPU. A process that joins
// the container while it still has the host's root (and is dumpable) lets
// it reach the marker, which exists only on the host. Every hit is
// appended to /escaped; the number of passes is in /passes.
const watcherSource = `package main

import (
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	marker := os.Args[1]
	self := strconv.Itoa(os.Getpid())
	var passes atomic.Int64
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			for {
				d, err := os.Open("/proc")
				if err != nil {
					continue
				}
				names, _ := d.Readdirnames(-1)
				d.Close()
				for _, n := range names {
					if n == "" || n[0] < '0' || n[0] > '9' || n == self {
						continue
					}
					if _, err := os.Stat("/proc/" + n + "/root" + marker); err == nil {
						f, err := os.OpenFile("/escaped", os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
						if err == nil {
							f.WriteString(n + "\n")
							f.Close()
						}
					}
				}
				passes.Add(1)
			}
		}()
	}
	for {
		time.Sleep(20 * time.Millisecond)
		os.WriteFile("/passes.tmp", []byte(strconv.FormatInt(passes.Load(), 10)), 0o644)
		os.Rename("/passes.tmp", "/passes")
	}
}
`

// buildWatcher builds the watcher into dir/watcher (static).
func buildWatcher(t *testing.T, dir string) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(watcherSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module watcher\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "watcher"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the watcher (needs the Go toolchain): %v: %s", err, out)
	}
}

// watcher is a running container whose root, with CAP_SYS_PTRACE, races
// processes that join it (see watcherSource).
type watcher struct {
	t      *testing.T
	id     string
	pid    int
	b      *bundle
	marker string
}

// startWatcher starts the attacker's container; edit adjusts its spec,
// and owner (when not 0) becomes the owner of its rootfs' top directory,
// where the watcher writes.
func startWatcher(t *testing.T, r *rt, marker string, owner int, edit func(*specs.Spec)) *watcher {
	t.Helper()
	caps := []string{"CAP_SYS_PTRACE", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH"}
	b := newBundle(t, []string{"/watcher", marker}, func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding, c.Effective, c.Permitted = caps, caps, caps
		if edit != nil {
			edit(s)
		}
	})
	buildWatcher(t, b.rootfs(""))
	if owner != 0 {
		if err := os.Chown(b.rootfs(""), owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	w := &watcher{t: t, id: newID(t), b: b, marker: marker}
	r.must("create", "--bundle", b.dir, w.id)
	r.must("start", w.id)
	w.pid = r.state(w.id).Pid
	deadline := time.Now().Add(callTimeout)
	for w.passes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watcher never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return w
}

func (w *watcher) passes() int {
	b, _ := os.ReadFile(w.b.rootfs("passes"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// escaped returns the distinct pids through which the watcher reached the
// marker since the last call.
func (w *watcher) escaped() []string {
	b, err := os.ReadFile(w.b.rootfs("escaped"))
	if err != nil {
		return nil
	}
	os.Remove(w.b.rootfs("escaped"))
	seen := map[string]bool{}
	var pids []string
	for _, p := range strings.Fields(string(b)) {
		if !seen[p] {
			seen[p] = true
			pids = append(pids, p)
		}
	}
	return pids
}

// race runs n joins while the watcher watches, and fails if any of them
// let it reach the marker.
func (w *watcher) race(what string, n int, one func(i int)) {
	t := w.t
	before := w.passes()
	for i := 0; i < n; i++ {
		one(i)
	}
	if w.passes() <= before {
		t.Fatalf("%s: the watcher stopped during the race: the test proves nothing", what)
	}
	if pids := w.escaped(); len(pids) > 0 {
		t.Errorf("%s: from inside the container, /proc/<pid>/root reached the host's %s through %d of %d joining processes (container pids %v)",
			what, w.marker, len(pids), n, pids)
	}
	t.Logf("%s: the watcher made %d passes over /proc during %d starts", what, w.passes()-before, n)
}

// hostMarker creates a file that exists only on the host, readable by
// anyone on the path (so that only the runtime's isolation, not file
// modes, keeps a container from it).
func hostMarker(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(dir, "host-only-marker")
	writeHost(t, marker, "host\n")
	return marker
}

// TestJoinNotReachable is CVE-2016-9962: a process joining a running
// container must never be reachable from inside it with the host's root.
// Root in the container with CAP_SYS_PTRACE walks /proc/<pid>/root of
// every process it sees, as fast as it can, while processes join:
//
//   - exec (200 times): the joining process must enter the container's
//     pid namespace only once it is in the container's mount namespace
//     (CAP_SYS_PTRACE in the owning user namespace overrides
//     non-dumpable, so only the join order protects here);
//   - a container created in the first one's user and pid namespaces (50
//     times), as Kubernetes creates a pod's containers with
//     shareProcessNamespace and user namespaces: its init still has a
//     copy of the host's root until pivot_root, so it must be
//     non-dumpable before it is in the pod's user namespace.
func TestJoinNotReachable(t *testing.T) {
	if testing.Short() {
		t.Skip("races 250 container starts")
	}
	r := newRuntime(t)
	marker := hostMarker(t)

	t.Run("exec", func(t *testing.T) {
		w := startWatcher(t, r, marker, 0, nil)
		w.t = t
		w.race("exec", 200, func(i int) {
			if res := r.call("exec", w.id, "true"); res.code != 0 {
				t.Fatalf("exec #%d: %v", i, res)
			}
		})
	})

	t.Run("create sharing a pod's user and pid namespaces", func(t *testing.T) {
		const base = 100000
		w := startWatcher(t, r, marker, base, func(s *specs.Spec) {
			withNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
			bindSys(s)
		})
		w.t = t
		shared := newBundle(t, []string{"true"}, func(s *specs.Spec) {
			withNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/" + itoa(w.pid) + "/ns/user"})
			for i, ns := range s.Linux.Namespaces {
				if ns.Type == specs.PIDNamespace {
					s.Linux.Namespaces[i].Path = "/proc/" + itoa(w.pid) + "/ns/pid"
				}
			}
			bindSys(s)
		})
		w.race("create", 50, func(i int) {
			sid := newID(t)
			if res := r.call("run", "--bundle", shared.dir, sid); res.code != 0 {
				t.Fatalf("run #%d in the pod's namespaces: %v", i, res)
			}
			r.must("delete", "--force", sid)
		})
	})
}

// bindSys replaces the sysfs mount with a read-only bind of the host's:
// sysfs cannot be mounted in a user namespace that does not own the
// network namespace.
func bindSys(s *specs.Spec) {
	for i, m := range s.Mounts {
		if m.Destination == "/sys" {
			s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// TestSharedPidNewUserNS: a container with a user namespace of its own
// that joins another container's pid namespace (Podman's --userns=auto
// with --pid=container:X). The pid namespace is joined before the new user
// namespace exists; the maps are written once the process does. (procfs
// cannot be mounted there: the pid namespace belongs to the host's user
// namespace, so the test looks from the host.)
func TestSharedPidNewUserNS(t *testing.T) {
	r := newRuntime(t)
	first, _ := containerIn(t, r, "running")
	pid := r.state(first).Pid
	const base = 200000
	b := newBundle(t, sh(`id -u > /tmp/uid; sleep 1000`), func(s *specs.Spec) {
		withNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				s.Linux.Namespaces[i].Path = "/proc/" + itoa(pid) + "/ns/pid"
			}
		}
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
		var mounts []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/proc" {
				mounts = append(mounts, m)
			}
		}
		s.Mounts = append(mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"})
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		bindSys(s)
	})
	id := newID(t)
	r.must("create", "--bundle", b.dir, id)
	r.must("start", id)
	cpid := r.state(id).Pid
	want, err := os.Readlink("/proc/" + itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink("/proc/" + itoa(cpid) + "/ns/pid"); got != want {
		t.Errorf("the container's pid namespace is %s, want the first container's %s", got, want)
	}
	if got, _ := os.Readlink("/proc/" + itoa(cpid) + "/ns/user"); got == "" || got == mustReadlink(t, "/proc/self/ns/user") {
		t.Errorf("the container's user namespace %q is not a new one", got)
	}
	if m, _ := os.ReadFile("/proc/" + itoa(cpid) + "/uid_map"); !strings.Contains(strings.Join(strings.Fields(string(m)), " "), "0 200000 65536") {
		t.Errorf("uid_map %q, want 0 200000 65536", m)
	}
	deadline := time.Now().Add(callTimeout)
	for {
		b, err := os.ReadFile("/proc/" + itoa(cpid) + "/root/tmp/uid")
		if err == nil && strings.TrimSpace(string(b)) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's id -u: %q, %v; want 0", b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
