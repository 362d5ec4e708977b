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

// rootlessBundle is `hull spec --rootless` run by u in a bundle u owns,
// with args, not a terminal, and edit applied (nil: as generated).
func rootlessBundle(t *testing.T, u *testUser, xdg string, edit func(*specs.Spec), args ...string) string {
	t.Helper()
	dir := bundle(t, u.uid, u.gid)
	must(t, hullAs(t, u, xdg, dir, "spec", "--rootless"), "hull spec --rootless")
	s := readSpec(t, dir)
	s.Process.Terminal = false
	s.Process.Args = args
	if edit != nil {
		edit(s)
	}
	writeSpec(t, dir, s, u.uid, u.gid)
	return dir
}

// TestRootlessSpecAsIs: `hull spec --rootless` runs as generated (but for
// the terminal and args) for an unprivileged user: root inside mapped to
// the user outside, state under $XDG_RUNTIME_DIR/hull, owned by the user,
// and nothing left after delete.
func TestRootlessSpecAsIs(t *testing.T) {
	u := needUser(t)
	xdg := xdgDir(t, u)
	dir := rootlessBundle(t, u, xdg, nil, "sleep", "600")
	must(t, hullAs(t, u, xdg, dir, "create", "rl"), "create")
	defer hullAs(t, u, xdg, dir, "delete", "-f", "rl")
	st, err := os.Stat(filepath.Join(xdg, "hull", "rl", "state.json"))
	if err != nil {
		t.Fatalf("state not under $XDG_RUNTIME_DIR/hull: %v", err)
	}
	if got := statOwner(t, filepath.Join(xdg, "hull", "rl")); got != fmt.Sprintf("%d:%d", u.uid, u.gid) {
		t.Errorf("state dir owned by %s, want the user %d:%d", got, u.uid, u.gid)
	}
	_ = st
	pid := statePid(t, must(t, hullAs(t, u, xdg, dir, "state", "rl"), "state"))
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid)); err != nil || collapse(string(b)) != fmt.Sprintf("0 %d 1", u.uid) {
		t.Errorf("uid_map %q, %v; want 0 %d 1", b, err, u.uid)
	}
	if self, err := os.Readlink("/proc/self/ns/user"); err != nil {
		t.Fatal(err)
	} else if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid)); ns == self || ns == "" {
		t.Errorf("init's user namespace %q is the host's %q", ns, self)
	}
	must(t, hullAs(t, u, xdg, dir, "start", "rl"), "start")
	if uid := hostUID(t, pid); uid != u.uid {
		t.Errorf("the container's root runs as host uid %d, want the user's %d", uid, u.uid)
	}
	must(t, hullAs(t, u, xdg, dir, "kill", "rl", "KILL"), "kill")
	must(t, hullAs(t, u, xdg, dir, "delete", "-f", "rl"), "delete")
	if _, err := os.Stat(filepath.Join(xdg, "hull", "rl")); !os.IsNotExist(err) {
		t.Errorf("state left after delete: %v", err)
	}
}

// TestRootlessRun: inside a rootless container the process is root, the
// maps are what the config asks, files it makes belong to the right host
// ids, and the cgroup it could not have is a warning, not an error.
func TestRootlessRun(t *testing.T) {
	u := needUser(t)
	self := func(s *specs.Spec) {}
	// Podman's layout: root is the user, 1..65536 are its subordinate ids.
	sub := func(s *specs.Spec) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.uid), Size: 1}, {ContainerID: 1, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.gid), Size: 1}, {ContainerID: 1, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
	}
	// Only subordinate ids: the user itself is not mapped at all.
	onlySub := func(s *specs.Spec) {
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
	}
	for _, tc := range []struct {
		name string
		maps func(*specs.Spec)
		// rootOwner is who owns, on the host, a file the container's root
		// makes; userOwner one that uid 1000 makes (none: not mapped).
		rootOwner, userOwner string
	}{
		{"self-map", self, fmt.Sprintf("%d:%d", u.uid, u.gid), ""},
		{"newuidmap", sub, fmt.Sprintf("%d:%d", u.uid, u.gid), fmt.Sprintf("%d:%d", u.sub+999, u.sub+999)},
		{"newuidmap-only-subids", onlySub, fmt.Sprintf("%d:%d", u.sub, u.sub), fmt.Sprintf("%d:%d", u.sub+1000, u.sub+1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xdg := xdgDir(t, u)
			script := "id -u; id -g; cat /proc/self/uid_map; echo --; touch /tmp/root; stat -c '%u:%g %n' /dev /dev/pts /dev/shm /dev/mqueue /tmp/root"
			if tc.userOwner != "" {
				// uid 1000 is "user" in the rootfs's /etc/passwd.
				script += "; chmod 1777 /tmp; su -s /bin/sh -c 'touch /tmp/user' user"
			}
			var spec *specs.Spec
			dir := rootlessBundle(t, u, xdg, func(s *specs.Spec) {
				tc.maps(s)
				s.Root.Readonly = false
				if tc.userOwner != "" {
					// su needs them (setgroups, setgid, setuid).
					c := s.Process.Capabilities
					c.Bounding = append(c.Bounding, "CAP_SETUID", "CAP_SETGID")
					c.Effective = append(c.Effective, "CAP_SETUID", "CAP_SETGID")
					c.Permitted = append(c.Permitted, "CAP_SETUID", "CAP_SETGID")
				}
				spec = s
			}, "sh", "-c", script)
			if tc.name == "newuidmap-only-subids" {
				// The rootfs must belong to the container's root.
				if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.sub, u.sub), filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
					t.Fatalf("chown rootfs: %v: %s", err, out)
				}
			}
			r := hullAs(t, u, xdg, dir, "run", "rl-"+tc.name)
			if r.code != 0 {
				t.Fatalf("run: %s", r)
			}
			out, owned, _ := strings.Cut(r.stdout, "--\n")
			lines := strings.SplitN(out, "\n", 3)
			if len(lines) < 3 || lines[0] != "0" || lines[1] != "0" {
				t.Fatalf("ids inside %q, want root\n%s", lines, r)
			}
			if got, want := collapse(lines[2]), mapText(spec.Linux.UIDMappings); got != want {
				t.Errorf("uid_map inside:\n%s\nwant\n%s", got, want)
			}
			got := owners(owned)
			for _, p := range []string{"/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp/root"} {
				if got[p] != "0:0" {
					t.Errorf("%s owned by %q inside, want 0:0\n%s", p, got[p], r)
				}
			}
			if o := statOwner(t, filepath.Join(dir, "rootfs", "tmp", "root")); o != tc.rootOwner {
				t.Errorf("a file of the container's root is %s on the host, want %s", o, tc.rootOwner)
			}
			if tc.userOwner != "" {
				if o := statOwner(t, filepath.Join(dir, "rootfs", "tmp", "user")); o != tc.userOwner {
					t.Errorf("a file of uid 1000 is %s on the host, want %s", o, tc.userOwner)
				}
			}
			// cgroup v1 cannot be delegated: a warning, never EACCES.
			if strings.Contains(r.stderr, "permission denied") {
				t.Errorf("stderr has a permission error:\n%s", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(xdg, "hull", "rl-"+tc.name)); !os.IsNotExist(err) {
				t.Errorf("state left after run: %v", err)
			}
		})
	}
}

// TestRootlessRefused: what a rootless container cannot have fails with a
// clear error and leaves no state.
func TestRootlessRefused(t *testing.T) {
	u := needUser(t)
	limit := int64(64 << 20)
	for _, tc := range []struct {
		name string
		edit func(*specs.Spec)
		want []string // all in stderr
	}{
		{"range-not-in-subuid", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.uid), Size: 1}, {ContainerID: 1, HostID: 10000, Size: 100}}
		}, []string{"newuidmap", "/etc/subuid allows " + u.name}},
		{"root-not-mapped", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 1, HostID: uint32(u.uid), Size: 1}}
			s.Process.User.UID = 1
		}, []string{"linux.uidMappings", "id 0 is not mapped"}},
		{"memory-limit", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
		}, []string{"memory", "delegated no cgroup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xdg := xdgDir(t, u)
			dir := rootlessBundle(t, u, xdg, tc.edit, "true")
			r := hullAs(t, u, xdg, dir, "run", "refused")
			if r.code == 0 {
				t.Fatalf("run succeeded: %s", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
				t.Errorf("more than one error line:\n%s", r.stderr)
			}
			if ents, _ := os.ReadDir(filepath.Join(xdg, "hull")); len(ents) > 0 {
				t.Errorf("state left after a failed run: %v", ents)
			}
		})
	}
}

// TestRootlessExec: hull exec as the user joins every namespace of the
// container, the pid namespace too (which the non-root parent cannot join
// itself), runs as the asked uid, and returns the process's status.
func TestRootlessExec(t *testing.T) {
	u := needUser(t)
	for _, tc := range []struct {
		name string
		maps func(*specs.Spec)
	}{
		{"self-map", nil},
		{"newuidmap", func(s *specs.Spec) {
			m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(u.sub), Size: uint32(u.subCount)}}
			s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xdg := xdgDir(t, u)
			dir := rootlessBundle(t, u, xdg, tc.maps, "sleep", "600")
			if tc.maps != nil {
				if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", u.sub, u.sub), filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
					t.Fatalf("chown rootfs: %v: %s", err, out)
				}
			}
			must(t, hullAs(t, u, xdg, dir, "run", "-d", "ex"), "run -d")
			defer hullAs(t, u, xdg, dir, "delete", "-f", "ex")
			r := must(t, hullAs(t, u, xdg, dir, "exec", "ex", "sh", "-c", "id -u; readlink /proc/self/ns/pid; readlink /proc/1/ns/pid; readlink /proc/self/ns/ipc; readlink /proc/1/ns/ipc; readlink /proc/self/ns/mnt; readlink /proc/1/ns/mnt"), "exec")
			l := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(l) != 7 || l[0] != "0" || l[1] != l[2] || l[3] != l[4] || l[5] != l[6] {
				t.Errorf("exec'd process: uid, then its pid, ipc and mnt namespaces each beside init's:\n%s", r)
			}
			if r := hullAs(t, u, xdg, dir, "exec", "ex", "sh", "-c", "exit 7"); r.code != 7 {
				t.Errorf("exec exit status %d, want 7: %s", r.code, r)
			}
			if tc.maps != nil {
				r := must(t, hullAs(t, u, xdg, dir, "exec", "--user", "1000:1000", "ex", "id", "-u"), "exec --user")
				if strings.TrimSpace(r.stdout) != "1000" {
					t.Errorf("exec --user 1000: %s", r)
				}
			}
		})
	}
}
