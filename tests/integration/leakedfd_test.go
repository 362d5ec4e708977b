package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// leakedHostDir makes a host directory holding a static `echo` (the
// host's busybox): a host binary a container must never run. (A script
// would not do: the kernel resolves its path, but its interpreter can no
// longer open it once the fd is closed at execve.)
func leakedHostDir(t *testing.T) (dir string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (busybox-static) on the host")
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "echo"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLeakedFdNotExecutable is CVE-2024-21626 for args[0]: whoever starts
// the runtime leaves a host directory open as fd 19 (not close-on-exec),
// and the process is /proc/self/fd/19/echo. Marking hull's fds close-on-exec
// is not enough: execve resolves the path before it closes them. Every fd
// the runtime was not asked to pass must be closed before args[0] is
// resolved, for run and for exec.
func TestLeakedFdNotExecutable(t *testing.T) {
	r := newRuntime(t)
	dir := leakedHostDir(t)
	marker := "HOST-BINARY-RAN"
	args := []string{"/proc/self/fd/19/echo", marker}
	// fds 3 to 18 are /dev/null, 19 the host directory: all inherited by
	// the runtime, none of them passed on purpose.
	var files []*os.File
	for fd := 3; fd <= 19; fd++ {
		p := os.DevNull
		if fd == 19 {
			p = dir
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	leak := callOpts{extraFiles: files}
	check := func(t *testing.T, res result) {
		t.Helper()
		if strings.Contains(res.stdout, marker) || strings.Contains(res.stderr, marker) {
			t.Fatalf("the container ran the host's %s/echo through the leaked fd 19: %v", dir, res)
		}
		if res.code == 0 {
			t.Fatalf("a process at /proc/self/fd/19/echo ran: %v", res)
		}
		if hullOnly() && !strings.Contains(res.stderr, "/proc/self/fd/19/echo") {
			t.Errorf("the error does not name the path: %q", res.stderr)
		}
	}
	t.Run("run", func(t *testing.T) {
		b := newBundle(t, args, nil)
		check(t, r.callWith(leak, "run", "--bundle", b.dir, newID(t)))
	})
	t.Run("exec", func(t *testing.T) {
		id, _ := containerIn(t, r, "running")
		check(t, r.callWith(leak, append([]string{"exec", id}, args...)...))
	})
	t.Run("preserved fds still pass", func(t *testing.T) {
		// The fix must not close what the caller asked to pass.
		b := newBundle(t, sh(`ls /proc/self/fd | tr '\n' ' '`), nil)
		res := r.callWith(leak, "run", "--preserve-fds", "1", "--bundle", b.dir, newID(t))
		if res.code != 0 || !strings.HasPrefix(res.stdout, "0 1 2 3 ") || strings.Contains(res.stdout, "19") {
			t.Fatalf("fds seen: %v; want 0 1 2 3 and the listing's own, never 19", res)
		}
	})
}
