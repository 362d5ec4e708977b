package integration

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestCreatedInitUnreachable: a created container's init, the C process
// that waits for start (libct/doc.go, "A light init"), shows nothing of
// the host: its fds are stdio and the two FIFOs of the state directory,
// its root and cwd are the container's, its setup helper is gone, and a
// process exec'd into the created container (same uid and capabilities)
// cannot reach its fds, environment, root or cwd through /proc/1: it is
// not dumpable (CVE-2016-9962 class).
func TestCreatedInitUnreachable(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	b := newBundle(t, []string{"sleep", "1000"}, nil)
	id := newID(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.must("create", "--bundle", b.dir, "--pid-file", pidFile, id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	proc := "/proc/" + pid

	// From the host.
	ents, err := os.ReadDir(proc + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink(proc + "/fd/" + e.Name())
		n, _ := strconv.Atoi(e.Name())
		if n < 3 {
			continue
		}
		base := filepath.Base(target)
		if strings.HasPrefix(target, "anon_inode:") {
			continue // no path leads anywhere through it
		}
		if base != "exec.fifo" && base != "err.fifo" {
			t.Errorf("created init holds fd %s -> %s, want only stdio and the state FIFOs", e.Name(), target)
		}
		fds = append(fds, base)
	}
	sort.Strings(fds)
	if strings.Join(fds, " ") != "err.fifo exec.fifo" {
		t.Errorf("created init's fds from 3 on: %v, want err.fifo and exec.fifo", fds)
	}
	// /proc/<pid>/root and cwd lead (as magic links) to the container's
	// root, never to the host's.
	want, err := os.Stat(b.rootfs("/"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"root", "cwd"} {
		if got, err := os.Stat(proc + "/" + l); err != nil || !os.SameFile(got, want) {
			t.Errorf("created init's %s is not the container's root %s (%v)", l, b.rootfs("/"), err)
		}
	}
	if kids, _ := os.ReadFile(proc + "/task/" + pid + "/children"); strings.TrimSpace(string(kids)) != "" {
		t.Errorf("created init has children %q: its setup helper should be gone", kids)
	}

	// From inside: a process exec'd into the created container.
	res := r.call("exec", id, "sh", "-c",
		`readlink /proc/1/fd/0 >/dev/null 2>&1 && echo FD-READABLE
		 cat /proc/1/environ >/dev/null 2>&1 && echo ENV-READABLE
		 readlink /proc/1/root >/dev/null 2>&1 && echo ROOT-READABLE
		 readlink /proc/1/cwd >/dev/null 2>&1 && echo CWD-READABLE
		 echo done`)
	if res.code != 0 || !strings.Contains(res.stdout, "done") {
		t.Fatalf("exec into the created container: %v", res)
	}
	for _, w := range []string{"FD-READABLE", "ENV-READABLE", "ROOT-READABLE", "CWD-READABLE"} {
		if strings.Contains(res.stdout, w) {
			t.Errorf("a process of the container reaches the created init: %s", w)
		}
	}
	r.must("start", id)
}
