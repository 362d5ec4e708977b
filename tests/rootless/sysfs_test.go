package rootless

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mountOpts maps each mount point of a /proc/self/mountinfo text to the
// per-mount options of its top mount (field 6).
func mountOpts(mountinfo string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 5 {
			out[f[4]] = f[5]
		}
	}
	return out
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// TestRootlessSysReadonly (issue 15.4): a rootless container cannot mount
// sysfs (no network namespace of its own), so `hull spec --rootless` binds
// the host's /sys "rbind,nosuid,noexec,nodev,ro". The host's mounts under
// /sys (cgroup, securityfs, bpf, debugfs, ...) must be read-only (and
// nosuid, nodev, noexec) inside too: mount(8)'s "ro" alone leaves them
// writable. And a cgroup2 mount without a cgroup namespace, which becomes
// a bind of the host's whole hierarchy, is read-only unless it says "rw".
func TestRootlessSysReadonly(t *testing.T) {
	u := needUser(t)
	xdg := xdgDir(t, u)
	noCgroupNS := func(s *specs.Spec) {
		var nss []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.CgroupNamespace {
				nss = append(nss, ns)
			}
		}
		s.Linux.Namespaces = nss
	}
	cgroup2 := func(opts ...string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			noCgroupNS(s)
			var ms []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/sys/fs/cgroup" {
					ms = append(ms, m)
				}
			}
			s.Mounts = append(ms, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup2", Source: "cgroup2", Options: opts})
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*specs.Spec)
		cgroup string // want for /sys/fs/cgroup: "ro", "rw" or "" (not checked)
	}{
		{name: "spec as generated", edit: noCgroupNS},
		{name: "cgroup2 without ro", edit: cgroup2("nosuid", "noexec", "nodev"), cgroup: "ro"},
		{name: "cgroup2 rw", edit: cgroup2("nosuid", "noexec", "nodev", "rw"), cgroup: "rw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := rootlessBundle(t, u, xdg, tc.edit, "cat", "/proc/self/mountinfo")
			r := must(t, hullAs(t, u, xdg, dir, "run", "rl-sys"), "run")
			defer hullAs(t, u, xdg, dir, "delete", "-f", "rl-sys")
			opts := mountOpts(r.stdout)
			if o, ok := opts["/sys"]; !ok || !hasOpt(o, "ro") {
				t.Fatalf("/sys has options %q, want a read-only bind:\n%s", o, r.stdout)
			}
			n := 0
			for mp, o := range opts {
				if !strings.HasPrefix(mp, "/sys/") || mp == "/sys/fs/cgroup" && tc.cgroup != "" {
					continue
				}
				n++
				for _, want := range []string{"ro", "nosuid", "nodev", "noexec"} {
					if !hasOpt(o, want) {
						t.Errorf("%s is %q in the container: not %s", mp, o, want)
					}
				}
			}
			if n == 0 && tc.cgroup == "" {
				t.Fatalf("no mount under /sys in the container: the host has none to check\n%s", r.stdout)
			}
			if tc.cgroup != "" {
				if o := opts["/sys/fs/cgroup"]; !hasOpt(o, tc.cgroup) {
					t.Errorf("/sys/fs/cgroup (a bind of the host's cgroup2 hierarchy) is %q, want %s", o, tc.cgroup)
				}
			}
		})
	}
}
