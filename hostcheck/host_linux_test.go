package hostcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRunThisHost runs the real probes and checks what is known about the
// host independently of hostcheck: the cgroup layout from statfs(2), AppArmor
// and SELinux from sysfs, namespaces (as root) from the kernel having them
// in /proc/self/ns. On this project's host that is: v1 hybrid, no AppArmor,
// no SELinux, no systemd, every namespace type creatable.
func TestRunThisHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the namespace and mount tries are those of hull as root")
	}
	r := Run(Options{})
	status := func(name string) string {
		c := r.Find(name)
		if c == nil {
			t.Fatalf("no check %q", name)
		}
		return c.Status
	}
	for _, c := range r.Checks {
		t.Logf("%-7s %-20s %s", c.Status, c.Name, c.Detail)
	}

	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Skipf("no /sys/fs/cgroup: %v", err)
	}
	layout := r.Find("cgroup layout").Detail
	switch {
	case st.Type == unix.CGROUP2_SUPER_MAGIC:
		if !strings.HasPrefix(layout, "v2 ") {
			t.Errorf("/sys/fs/cgroup is cgroup2, report says %q", layout)
		}
	case unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC:
		if !strings.HasPrefix(layout, "hybrid: ") || status("cgroup layout") != Limited {
			t.Errorf("host is hybrid, report says %s: %q", status("cgroup layout"), layout)
		}
	default:
		if !strings.HasPrefix(layout, "v1 ") {
			t.Errorf("host is v1, report says %q", layout)
		}
	}

	if _, err := os.Stat("/sys/module/apparmor"); os.IsNotExist(err) && status("apparmor") != Missing {
		t.Errorf("no AppArmor in this kernel, report says %s", status("apparmor"))
	}
	if _, err := os.Stat("/sys/fs/selinux/enforce"); os.IsNotExist(err) && status("selinux") != Missing {
		t.Errorf("no selinuxfs, report says %s", status("selinux"))
	}
	if _, err := os.Stat("/run/systemd/system"); os.IsNotExist(err) && status("systemd") != Missing {
		t.Errorf("not booted with systemd, report says %s", status("systemd"))
	}
	for _, ns := range []string{"mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"} {
		if _, err := os.Lstat("/proc/self/ns/" + ns); err != nil {
			continue // the kernel lacks it: missing is right
		}
		if c := r.Find(ns + " namespace"); c.Status != OK {
			t.Errorf("%s namespace: %s: %s", ns, c.Status, c.Detail)
		}
	}
	for _, name := range []string{"kernel", "filesystems", "mount API", "mount_setattr", "openat2"} {
		if status(name) != OK {
			t.Errorf("%s: %s: %s (hull's own tests need it on this host)", name, status(name), r.Find(name).Detail)
		}
	}
	if !r.CanRun {
		t.Errorf("report says a default container cannot run, but hull's own tests run them here")
	}
}

// snapshot is what Run must leave as it found: mounts, the namespaces of
// every thread, children, open fds.
type snapshot struct {
	mountinfo string
	ns        []string // distinct namespace links over all threads
	children  string
	fds       []string
}

func takeSnapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	s.mountinfo = string(b)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		dir := filepath.Join("/proc/self/task", task.Name())
		for _, ns := range []string{"mnt", "uts", "ipc", "pid_for_children", "net", "user", "cgroup", "time_for_children"} {
			if l, err := os.Readlink(filepath.Join(dir, "ns", ns)); err == nil && !slices.Contains(s.ns, l) {
				s.ns = append(s.ns, l)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "children")); err == nil {
			s.children += strings.TrimSpace(string(b))
		}
	}
	slices.Sort(s.ns)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		s.fds = append(s.fds, fd.Name()+" "+l)
	}
	return s
}

// TestRunLeavesNothingBehind: no mount, namespace, child or fd survives a
// Run. It runs in a re-executed test binary in a mount namespace of its own
// (made private, as Go's Unshareflags does), so that mounts other processes
// make on the host meanwhile do not show.
func TestRunLeavesNothingBehind(t *testing.T) {
	if os.Getenv("HOSTCHECK_LEAK_CHILD") == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root: a mount namespace of its own, away from the host's mount traffic")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunLeavesNothingBehind$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "HOSTCHECK_LEAK_CHILD=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestRunLeavesNothingBehind") {
			t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
		}
		return
	}
	Run(Options{}) // once first: Go opens its netpoller fds on first use
	before := takeSnapshot(t)
	Run(Options{})
	after := takeSnapshot(t)
	if before.mountinfo != after.mountinfo {
		t.Errorf("mounts changed:\nbefore:\n%s\nafter:\n%s", before.mountinfo, after.mountinfo)
	}
	if !slices.Equal(before.ns, after.ns) {
		t.Errorf("a thread is left in another namespace:\nbefore %q\nafter  %q", before.ns, after.ns)
	}
	if after.children != "" {
		t.Errorf("children left: %s", after.children)
	}
	// The fd listing itself is open while it is read: compare all others.
	if len(before.fds) != len(after.fds) {
		t.Errorf("fds changed:\nbefore %q\nafter  %q", before.fds, after.fds)
	}
}

func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		Run(Options{})
	}
}
