package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func namespaceListed(t *testing.T, typ string, clause string) {
	t.Helper()
	ok, why := featureListed(func(f *features.Features) []string {
		if f.Linux == nil {
			return nil
		}
		return f.Linux.Namespaces
	}, typ)
	if !ok {
		skipClause(t, clause, "%s", why)
	}
	if _, err := os.Stat("/proc/self/ns/" + NamespaceFiles[typ]); err != nil {
		skipClause(t, clause, "this kernel has no %s namespace (host probe)", typ)
	}
}

var userMapping = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}

func TestNamespaces(t *testing.T) {
	cases := []struct {
		name string
		typ  string
		edit func(*Bundle)
	}{
		{"defaults", "mount", func(b *Bundle) {}},
		{"cgroup", "cgroup", func(b *Bundle) { b.SetNamespace(specs.CgroupNamespace, "") }},
		{"inherit-network", "network", func(b *Bundle) { b.RemoveNamespace(specs.NetworkNamespace) }},
		{"inherit-ipc-uts", "uts", func(b *Bundle) {
			b.RemoveNamespace(specs.IPCNamespace)
			b.RemoveNamespace(specs.UTSNamespace)
			b.Spec.Hostname = ""
		}},
		{"time", "time", func(b *Bundle) {
			b.SetNamespace(specs.TimeNamespace, "")
			b.Spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
				"monotonic": {Secs: 1000000, Nanosecs: 500}, "boottime": {Secs: 2000000},
			}
		}},
		{"user", "user", func(b *Bundle) {
			b.SetNamespace(specs.UserNamespace, "")
			b.Spec.Linux.UIDMappings = userMapping
			b.Spec.Linux.GIDMappings = userMapping
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			namespaceListed(t, tc.typ, "FEAT-LINUX-NAMESPACES")
			b := newBundle(t)
			tc.edit(b)
			groups := []string{"namespaces"}
			switch tc.typ {
			case "user":
				groups = append(groups, "idmap")
			case "time":
				groups = append(groups, "timens")
			}
			ok := runChecker(t, b, groups...)
			record(t, "FEAT-LINUX-NAMESPACES", ok, "a container with namespace %s (listed in features) ran", tc.typ)
			record(t, "CL-NS-TYPES", ok, "namespace type %s is supported", tc.typ)
			if tc.typ == "user" {
				var st syscall.Stat_t
				err := syscall.Stat(filepath.Join(b.Rootfs, "bin", "busybox"), &st)
				record(t, "CL-USERNS-NO-CHOWN", err == nil && st.Uid == 0 && st.Gid == 0,
					"rootfs file owner on the host after a user-namespace container: %d:%d (err %v), want 0:0", st.Uid, st.Gid, err)
			}
		})
	}
}

// TestNamespacePaths joins the namespaces of a running container by path.
func TestNamespacePaths(t *testing.T) {
	for _, typ := range []string{"network", "ipc", "uts", "pid"} {
		t.Run(typ, func(t *testing.T) {
			namespaceListed(t, typ, "CL-NS-PATH-JOIN")
			rt := newRuntime(t)
			first := newBundle(t)
			sleeper(first)
			holder := newCtr(t, rt, first)
			holder.mustCreate()
			pid := checkStatePid(t, rt, holder.id)
			nsPath := fmt.Sprintf("/proc/%d/ns/%s", pid, NamespaceFiles[typ])
			ino, err := NamespaceInode(nsPath)
			if err != nil {
				t.Fatal(err)
			}
			b := newBundle(t)
			b.SetNamespace(specs.LinuxNamespaceType(typ), nsPath)
			if typ == "uts" {
				b.Spec.Hostname = "conformance"
			}
			b.Spec.Process.Env = append(b.Spec.Process.Env, "EXPECTNS_"+NamespaceFiles[typ]+"="+ino)
			runChecker(t, b, "namespaces")
		})
	}
}

func checkStatePid(t *testing.T, rt *Runtime, id string) int {
	t.Helper()
	st, _, res := rt.State(id)
	if !res.OK() || st.Pid <= 0 {
		t.Fatalf("state %s: %s", id, res)
	}
	return st.Pid
}

func TestDevices(t *testing.T) {
	b := newBundle(t)
	mode := os.FileMode(0o640)
	b.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/conformance-null", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: u32(0), GID: u32(0)},
		{Path: "/dev/conformance-loop", Type: "b", Major: 7, Minor: 200},
		{Path: "/dev/conformance-fifo", Type: "p"},
		{Path: "/dev/conformance-u", Type: "u", Major: 1, Minor: 5},
	}
	runChecker(t, b, "devices", "devlinks")
}

// TestDeviceCgroupOrder checks that linux.resources.devices entries apply in
// order: the later entry wins for the same device.
func TestDeviceCgroupOrder(t *testing.T) {
	if !CgroupV1("devices") && !CgroupV2Unified() {
		skipClause(t, "CL-DEVICE-CGROUP-ORDER", "no devices cgroup controller on this host (host probe)")
	}
	major := int64(240) // a "local/experimental" major without a driver
	cases := []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"allow-then-deny-read", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: &major, Minor: i64(0), Access: "rwm"},
			{Allow: false, Type: "c", Major: &major, Minor: i64(0), Access: "r"},
		}, "EPERM"},
		{"deny-read-then-allow", []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: false, Type: "c", Major: &major, Minor: i64(0), Access: "r"},
			{Allow: true, Type: "c", Major: &major, Minor: i64(0), Access: "rwm"},
		}, "ENXIO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t)
			node := filepath.Join(b.Rootfs, "conformance-dev240")
			if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(major<<8)); err != nil {
				t.Fatalf("mknod %s: %v", node, err)
			}
			b.Spec.Linux.Resources.Devices = tc.rules
			b.Spec.Process.Env = append(b.Spec.Process.Env, "DEVOPEN_PATH=/conformance-dev240", "DEVOPEN_WANT="+tc.want)
			runChecker(t, b, "devcgroup")
		})
	}
}

func TestCgroupResources(t *testing.T) {
	if !CgroupV1("memory") && !CgroupV2Unified() {
		skipClause(t, "CL-MEMORY", "no memory cgroup controller on this host (host probe)")
	}
	b := newBundle(t)
	b.Spec.Linux.CgroupsPath = fmt.Sprintf("/conformance-%d-resources", os.Getpid())
	b.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20)}
	if CgroupV2Unified() || fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") {
		b.Spec.Linux.Resources.Memory.Swap = i64(128 << 20)
	}
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(100)}
	cpu := &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"}
	if CgroupV2Unified() {
		cpu.Shares = nil // cpu.weight is a conversion; not compared
	}
	b.Spec.Linux.Resources.CPU = cpu
	runChecker(t, b, "cgroups")
}

// TestCgroupsPath checks where an absolute cgroupsPath lands, from the host.
func TestCgroupsPath(t *testing.T) {
	if !CgroupV1("memory") && !CgroupV2Unified() {
		skipClause(t, "CL-CGROUPSPATH-ABS", "no memory cgroup controller on this host (host probe)")
	}
	path := fmt.Sprintf("/conformance-%d-path", os.Getpid())
	var first []string
	for round := 0; round < 2; round++ {
		rt := newRuntime(t)
		b := newBundle(t)
		sleeper(b)
		b.Spec.Linux.CgroupsPath = path
		c := newCtr(t, rt, b)
		c.mustCreate()
		pid := checkStatePid(t, rt, c.id)
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, l := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
			parts := strings.SplitN(l, ":", 3)
			if len(parts) == 3 && (strings.Contains(","+parts[1]+",", ",memory,") || (parts[0] == "0" && CgroupV2Unified())) {
				paths = append(paths, parts[2])
			}
		}
		if round == 0 {
			record(t, "CL-CGROUPSPATH-ABS", len(paths) > 0 && paths[0] == path, "cgroupsPath %s: memory cgroup of the container is %v", path, paths)
			first = paths
		} else {
			record(t, "CL-CGROUPSPATH-SAME", strings.Join(paths, ",") == strings.Join(first, ","), "same cgroupsPath twice: %v then %v", first, paths)
		}
		rt.Kill(c.id, "KILL")
		c.mustWaitStatus("stopped")
		rt.Delete(c.id, false)
	}
}

func TestSysctl(t *testing.T) {
	b := newBundle(t)
	b.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "20000 30000"}
	runChecker(t, b, "sysctl")
}

func TestSeccompErrno(t *testing.T) {
	if suite.features != nil && suite.features.Linux != nil && suite.features.Linux.Seccomp != nil &&
		suite.features.Linux.Seccomp.Enabled != nil && !*suite.features.Linux.Seccomp.Enabled {
		skipClause(t, "CL-SECCOMP", "features says seccomp is not enabled")
	}
	b := newBundle(t)
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: uintp(42)},
		{Names: []string{"getpgrp"}, Action: specs.ActErrno},
	}}
	runChecker(t, b, "seccomp")
}

func TestPersonality(t *testing.T) {
	if un := uname(); un != "x86_64" {
		skipClause(t, "CL-PERSONALITY", "LINUX32 check needs an x86_64 host, this is %s (host probe)", un)
	}
	b := newBundle(t)
	b.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	runChecker(t, b, "personality")
}

func uname() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

var _ = strconv.Itoa

// TestMemoryPolicy: a runtime either applies linux.memoryPolicy or, if it
// does not support it, must refuse the config (config.md "Valid values").
func TestMemoryPolicy(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_INTERLEAVE", Nodes: "0"}
	b.Spec.Process.Args = []string{"/checker", "mempolicy"}
	c := newCtr(t, rt, b)
	if res := c.create(); !res.OK() {
		recordRefusal(t, "CFG-VALID-VALUES", res, "linux.memoryPolicy", memoryPolicyClaim("MPOL_INTERLEAVE"), "memoryPolicy")
		return
	}
	c.mustStart()
	c.mustWaitStatus("stopped")
	c.recordChecker()
}

func TestCgroupUnified(t *testing.T) {
	if !CgroupV2Unified() {
		skipClause(t, "CL-UNIFIED-ENABLE", "linux.resources.unified needs cgroup v2 in unified mode; this host is not (host probe)")
	}
	cases := []struct {
		name, clause string
		unified      map[string]string
	}{
		{"pids", "CL-UNIFIED-ENABLE", map[string]string{"pids.max": "42"}},
		{"memory-high", "CL-UNIFIED-UNKNOWN-WRITTEN", map[string]string{"memory.high": "67108864", "memory.swap.high": "max"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t)
			b.Spec.Linux.Resources.Unified = tc.unified
			b.Spec.Process.Env = append(b.Spec.Process.Env, "UNIFIED_CLAUSE="+tc.clause)
			runChecker(t, b, "unified")
		})
	}
	t.Run("missing-controller", func(t *testing.T) {
		rt := newRuntime(t)
		b := newBundle(t)
		sleeper(b)
		b.Spec.Linux.Resources.Unified = map[string]string{"conformancectl.max": "1"}
		c := newCtr(t, rt, b)
		res := c.create()
		record(t, "CL-UNIFIED-MISSING-CONTROLLER", !res.OK(), "unified entry for a controller that does not exist: err=%v", res.Err)
	})
}

// TestIdmapMount bind-mounts a host directory with the idmap (and ridmap)
// option into a container with a user namespace: a file owned by host root
// must appear with the owner the mount's uidMappings/gidMappings give it
// (for ridmap, also in a submount of the source). A runtime whose features
// do not enable idmap mounts must refuse the config (config.md "Valid
// values") or, if it applies the mapping anyway, say so in features.
func TestIdmapMount(t *testing.T) {
	for _, opt := range []string{"idmap", "ridmap"} {
		t.Run(opt, func(t *testing.T) {
			clause := MountOptionClauseIdmap(opt)
			requireSuite(t)
			f := suite.features
			enabled := f != nil && f.Linux != nil && f.Linux.MountExtensions != nil && f.Linux.MountExtensions.IDMap != nil &&
				f.Linux.MountExtensions.IDMap.Enabled != nil && *f.Linux.MountExtensions.IDMap.Enabled
			namespaceListed(t, "user", clause)
			rt := newRuntime(t)
			b := newBundle(t)
			src := t.TempDir()
			if err := os.Chmod(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "owned"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			paths := "/mnt/idmap/owned"
			if opt == "ridmap" {
				// A submount of the source: ridmap must map it too.
				sub := filepath.Join(src, "sub")
				if err := os.Mkdir(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := syscall.Mount("tmpfs", sub, "tmpfs", 0, "mode=755"); err != nil {
					t.Fatalf("mount tmpfs on %s: %v", sub, err)
				}
				t.Cleanup(func() { syscall.Unmount(sub, syscall.MNT_DETACH) })
				if err := os.WriteFile(filepath.Join(sub, "owned"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				paths += ",/mnt/idmap/sub/owned"
			}
			// The mount point exists: root in the user namespace could
			// not create it in the host-root-owned rootfs.
			if err := os.MkdirAll(filepath.Join(b.Rootfs, "mnt/idmap"), 0o755); err != nil {
				t.Fatal(err)
			}
			b.SetNamespace(specs.UserNamespace, "")
			b.Spec.Linux.UIDMappings = userMapping
			b.Spec.Linux.GIDMappings = userMapping
			b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/mnt/idmap", Type: "bind", Source: src,
				Options: []string{"rbind", opt}, UIDMappings: userMapping, GIDMappings: userMapping})
			checkClause := clause
			if !enabled {
				checkClause = "CFG-VALID-VALUES" // accepted although unsupported: must then work
			}
			b.Spec.Process.Env = append(b.Spec.Process.Env, "IDMAP_PATH="+paths, "IDMAP_WANT=0:0", "IDMAP_CLAUSE="+checkClause)
			b.Spec.Process.Args = []string{"/checker", "idmapmount"}
			c := newCtr(t, rt, b)
			res := c.create()
			if enabled {
				record(t, clause, res.OK(), "create with an %s mount: %v %s", opt, res.Err, trim(res.Stderr))
				record(t, "FEAT-LINUX-MOUNTEXT-IDMAP", true, "features sets mountExtensions.idmap.enabled")
			} else if !res.OK() {
				// Features do not enable idmap mounts: a refusal is right
				// if it is about the mount.
				recordRefusal(t, "CFG-VALID-VALUES", res, "an "+opt+" mount", "", opt, "mounts[", "/mnt/idmap")
			}
			if !res.OK() {
				return
			}
			c.mustStart()
			c.mustWaitStatus("stopped")
			ok := c.recordChecker()
			if !enabled {
				record(t, "FEAT-LINUX-MOUNTEXT-IDMAP", !ok, "the runtime applies %s mounts: %v (want false: its features do not set mountExtensions.idmap.enabled)", opt, ok)
			}
		})
	}
}

// MountOptionClauseIdmap returns the clause of the idmap or ridmap option.
func MountOptionClauseIdmap(opt string) string {
	if opt == "ridmap" {
		return "CFG-MOUNTOPT-RIDMAP"
	}
	return "CFG-MOUNTOPT-IDMAP"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestBlockIOThrottle throttles reads from the first whole disk of the host.
func TestBlockIOThrottle(t *testing.T) {
	major, minor, ok := firstDisk()
	if !ok {
		skipClause(t, "CL-BLOCKIO", "no whole disk in /sys/block (host probe)")
	}
	if !CgroupV1("blkio") && !CgroupV2Unified() {
		skipClause(t, "CL-BLOCKIO", "no blkio/io cgroup controller (host probe)")
	}
	b := newBundle(t)
	b.Spec.Linux.Resources.BlockIO = &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{
		{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}}}
	runChecker(t, b, "cgroups")
}

func firstDisk() (int64, int64, bool) {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return 0, 0, false
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		b, err := os.ReadFile("/sys/block/" + n + "/dev")
		if err != nil {
			continue
		}
		var ma, mi int64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &ma, &mi); err == nil {
			return ma, mi, true
		}
	}
	return 0, 0, false
}
