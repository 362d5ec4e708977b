package rootless

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The ids of the root-started tests: two uid ranges, so that a wrong
// range is seen, and one gid range.
const (
	hostBase   = 300000 // container uid 0.. -> host 300000..
	hostSecond = 340000 // container uid 1000.. -> host 340000..
)

var (
	rootUIDMaps = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostBase, Size: 1000}, {ContainerID: 1000, HostID: hostSecond, Size: 1000}}
	rootGIDMaps = []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostBase, Size: 65536}}
)

// rootUserNSBundle is `hull spec` plus a user namespace with the maps
// above, the rootfs owned by the container's root, a bind mount whose
// target hull must create, and args.
func rootUserNSBundle(t *testing.T, args ...string) string {
	t.Helper()
	dir := bundle(t, hostBase, hostBase)
	must(t, hullAsRoot(t, dir, t.TempDir(), "spec"), "hull spec")
	s := readSpec(t, dir)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings, s.Linux.GIDMappings = rootUIDMaps, rootGIDMaps
	s.Process.Terminal = false
	s.Process.Args = args
	s.Root.Readonly = false
	src := t.TempDir()
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/made/by/hull", Type: "bind", Source: src, Options: []string{"bind"}})
	writeSpec(t, dir, s, 0, 0)
	return dir
}

// TestRootUserNSOwnership: in a user namespace started by root, what hull
// makes inside the container belongs to the container's root, and host
// nodes bound in (mknod is refused in a user namespace) to nobody, as
// with runc.
func TestRootUserNSOwnership(t *testing.T) {
	needRoot(t)
	paths := []string{"/dev", "/dev/pts", "/dev/pts/ptmx", "/dev/shm", "/dev/mqueue", "/dev/null", "/dev/zero", "/dev/tty", "/made", "/made/by", "/proc/self/uid_map"}
	dir := rootUserNSBundle(t, "sh", "-c", "id -u; id -g; touch /tmp/new; stat -c '%u:%g %n' "+strings.Join(paths, " "))
	r := must(t, hullAsRoot(t, dir, t.TempDir(), "run", "own"), "run")
	lines := strings.SplitN(r.stdout, "\n", 3)
	if len(lines) < 3 || lines[0] != "0" || lines[1] != "0" {
		t.Fatalf("process ids inside: %q, want 0 and 0\n%s", lines, r)
	}
	got := owners(lines[2])
	for _, tc := range []struct {
		path, want string
	}{
		{"/dev", "0:0"},
		{"/dev/pts", "0:0"},
		{"/dev/pts/ptmx", "0:0"},
		{"/dev/shm", "0:0"},
		// The mqueue filesystem belongs to whoever made the ipc
		// namespace: hull makes it as root of the user namespace.
		{"/dev/mqueue", "0:0"},
		{"/made", "0:0"},
		{"/made/by", "0:0"},
		{"/proc/self/uid_map", "0:0"},
		// Binds of the host's nodes: host root is not mapped.
		{"/dev/null", "65534:65534"},
		{"/dev/zero", "65534:65534"},
		{"/dev/tty", "65534:65534"},
	} {
		if got[tc.path] != tc.want {
			t.Errorf("%s is owned by %q inside, want %s\n%s", tc.path, got[tc.path], tc.want, r)
		}
	}
	// A file made by the container's root belongs to the first range's
	// base on the host.
	var st = statOwner(t, filepath.Join(dir, "rootfs", "tmp", "new"))
	if want := fmt.Sprintf("%d:%d", hostBase, hostBase); st != want {
		t.Errorf("/tmp/new owned by %s on the host, want %s", st, want)
	}
}

// TestRootUserNSFromHost: the maps seen from the host in /proc/PID/uid_map
// are the config's, the container's root is an unprivileged uid outside,
// and a process exec'd as uid 1000 lands in the second range.
func TestRootUserNSFromHost(t *testing.T) {
	needRoot(t)
	dir := rootUserNSBundle(t, "sleep", "600")
	state := t.TempDir()
	must(t, hullAsRoot(t, dir, state, "create", "host"), "create")
	defer hullAsRoot(t, dir, state, "delete", "-f", "host")
	pid := statePid(t, must(t, hullAsRoot(t, dir, state, "state", "host"), "state"))
	for _, f := range []struct {
		name string
		want []specs.LinuxIDMapping
	}{{"uid_map", rootUIDMaps}, {"gid_map", rootGIDMaps}} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := collapse(string(b)), mapText(f.want); got != want {
			t.Errorf("/proc/%d/%s:\n%s\nwant\n%s", pid, f.name, got, want)
		}
	}
	// Created, not yet started: init is already root of its namespace.
	if uid := hostUID(t, pid); uid != hostBase {
		t.Errorf("init (created) runs as host uid %d, want %d", uid, hostBase)
	}
	must(t, hullAsRoot(t, dir, state, "start", "host"), "start")
	if uid := hostUID(t, pid); uid != hostBase {
		t.Errorf("the container's root runs as host uid %d (ps -o uid), want %d", uid, hostBase)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	must(t, hullAsRoot(t, dir, state, "exec", "-d", "--pid-file", pidFile, "--user", "1000:1000", "host", "sleep", "600"), "exec")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var epid int
	if _, err := fmt.Sscan(string(b), &epid); err != nil {
		t.Fatalf("pid file: %q", b)
	}
	if uid := hostUID(t, epid); uid != hostSecond {
		t.Errorf("a process exec'd as uid 1000 runs as host uid %d, want %d (second range)", uid, hostSecond)
	}
}

// statOwner returns "uid:gid" of path as the host sees it.
func statOwner(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%u:%g", path).Output()
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// TestConsoleInUserNS: with a terminal, /dev/console and the pty slave
// belong to the container's root, whether root or a user started it.
func TestConsoleInUserNS(t *testing.T) {
	needRoot(t)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("needs script(1) (Debian bsdutils) for a terminal")
	}
	check := "stat -c '%u %n' /dev/console $(tty)"
	for _, tc := range []struct {
		name  string
		user  bool
		setup func(t *testing.T) (dir string, argv []string)
	}{
		{"root-started", false, func(t *testing.T) (string, []string) {
			dir := rootUserNSBundle(t, "sh", "-c", check)
			s := readSpec(t, dir)
			s.Process.Terminal = true
			writeSpec(t, dir, s, 0, 0)
			return dir, []string{testEnv.binary, "--root", t.TempDir(), "run", "con"}
		}},
		{"rootless", true, func(t *testing.T) (string, []string) {
			u := needUser(t)
			xdg := xdgDir(t, u)
			dir := rootlessBundle(t, u, xdg, func(s *specs.Spec) {
				s.Process.Terminal = true
				m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.uid), Size: 1}, {ContainerID: 1, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
				s.Linux.UIDMappings = m
			}, "sh", "-c", check)
			return dir, []string{"setpriv", "--reuid", fmt.Sprint(u.uid), "--regid", fmt.Sprint(u.gid), "--init-groups", "--",
				"env", "XDG_RUNTIME_DIR=" + xdg, testEnv.binary, "run", "con"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, argv := tc.setup(t)
			cmd := exec.Command(script, "-qec", strings.Join(argv, " "), "/dev/null")
			cmd.Dir = dir
			cmd.Stdin = strings.NewReader("")
			r := run(t, cmd)
			if r.code != 0 {
				t.Fatalf("run under script: %s", r)
			}
			// The NUL the terminal setup writes comes back echoed as ^@ (runc too).
			lines := strings.Split(strings.TrimSpace(strings.NewReplacer("\r", "", "\x00", "", "^@", "").Replace(r.stdout)), "\n")
			found := 0
			for _, l := range lines {
				if uid, name, ok := strings.Cut(strings.TrimSpace(l), " "); ok && strings.HasPrefix(name, "/dev/") {
					found++
					if uid != "0" {
						t.Errorf("%s owned by uid %s inside, want 0", name, uid)
					}
				}
			}
			if found != 2 {
				t.Errorf("want /dev/console and the tty in the output:\n%s", r)
			}
		})
	}
}
