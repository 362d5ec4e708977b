package integration

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostNS returns the host's namespace link for kind (e.g. "net:[4026...]").
func hostNS(t *testing.T, kind string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// notHostNS checks that every "ns KIND LINK" line names a namespace other
// than the host's.
func notHostNS(t *testing.T, stdout string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ns" {
			continue
		}
		n++
		if f[2] == hostNS(t, f[1]) {
			t.Errorf("container shares the host's %s namespace %s", f[1], f[2])
		}
	}
	if n == 0 {
		t.Errorf("no namespace lines in %q", stdout)
	}
}

func withNamespace(s *specs.Spec, ns specs.LinuxNamespace) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, ns)
}

// TestNamespaces checks the namespaces config.json asks for.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name:   "default set is private",
			script: `for n in pid net ipc uts mnt; do echo "ns $n $(readlink /proc/self/ns/$n)"; done`,
			check:  notHostNS,
		},
		{
			name: "cgroup",
			edit: func(s *specs.Spec) { withNamespace(s, specs.LinuxNamespace{Type: specs.CgroupNamespace}) },
			// In its own cgroup namespace the container's cgroups are roots.
			script: `echo "ns cgroup $(readlink /proc/self/ns/cgroup)"; echo "paths $(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"`,
			want:   []string{"paths /"},
			check:  notHostNS,
		},
		{
			name: "user with mappings",
			edit: func(s *specs.Spec) {
				withNamespace(s, specs.LinuxNamespace{Type: specs.UserNamespace})
				s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				// sysfs cannot be mounted from a user namespace without
				// owning the network namespace's user ns: bind it instead.
				for i, m := range s.Mounts {
					if m.Destination == "/sys" {
						s.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
					}
				}
			},
			script: `echo "ns user $(readlink /proc/self/ns/user)"; echo "uid $(id -u)"; tr -s ' ' ' ' < /proc/self/uid_map; tr -s ' ' ' ' < /proc/self/gid_map`,
			want:   []string{"uid 0", " 0 100000 65536"},
			check:  notHostNS,
		},
		{
			name: "time with offsets",
			edit: func(s *specs.Spec) {
				withNamespace(s, specs.LinuxNamespace{Type: specs.TimeNamespace})
				s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10 * 86400}}
			},
			// uptime is CLOCK_BOOTTIME: at least the 10 days' offset.
			script:        `echo "ns time $(readlink /proc/self/ns/time)"; up=$(cut -d. -f1 /proc/uptime); [ "$up" -ge 864000 ] && echo uptime-offset`,
			want:          []string{"uptime-offset"},
			check:         notHostNS,
			runcDeviation: "runc 1.1 has no time namespace support (added in runc 1.2)",
		},
		{
			name:    "no-pivot",
			runArgs: []string{"--no-pivot"},
			script:  `cat /etc/hostname; echo "pid $$"; echo "ns mnt $(readlink /proc/self/ns/mnt)"`,
			want:    []string{"rootfs", "pid 1"},
			check:   notHostNS,
		},
	})
}

// TestJoinNamespace joins a running container's network, IPC and UTS
// namespaces by path, as engines do for pods.
func TestJoinNamespace(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	first, _ := containerIn(t, r, "running")
	pid := r.state(first).Pid
	id := newID(t)
	b := newBundle(t, sh(`for n in net ipc uts; do echo "$n $(readlink /proc/self/ns/$n)"; done; hostname`), func(s *specs.Spec) {
		s.Hostname = ""
		for i, ns := range s.Linux.Namespaces {
			switch ns.Type {
			case specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace:
				s.Linux.Namespaces[i].Path = "/proc/" + itoa(pid) + "/ns/" + map[specs.LinuxNamespaceType]string{
					specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts",
				}[ns.Type]
			}
		}
	})
	res := r.call("run", "--bundle", b.dir, id)
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	for _, n := range []string{"net", "ipc", "uts"} {
		want, err := os.Readlink("/proc/" + itoa(pid) + "/ns/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.stdout, n+" "+want+"\n") {
			t.Errorf("joined %s namespace: got %q, want %s", n, res.stdout, want)
		}
	}
	if !strings.Contains(res.stdout, "hull-it\n") {
		t.Errorf("hostname in the joined UTS namespace: %q, want hull-it", res.stdout)
	}
}
