package specconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// newBundle makes a bundle directory with an empty rootfs/ and a file.
func newBundle(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "afile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ptr[T any](v T) *T { return &v }

// userns adds a user namespace mapping container 0-65535 to host 100000+.
func userns(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

func seccompAllow() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}
}

func dropNS(s *specs.Spec, t specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	s.Linux.Namespaces = out
}

func TestConvertBad(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(s *specs.Spec, o *Options)
		field string // the error must start with field + ": "
		msg   string // and contain msg
	}{
		{"no version", func(s *specs.Spec, o *Options) { s.Version = "" }, "ociVersion", "required"},
		{"version 2", func(s *specs.Spec, o *Options) { s.Version = "2.0.0" }, "ociVersion", "not supported"},
		{"version junk", func(s *specs.Spec, o *Options) { s.Version = "one" }, "ociVersion", "not a SemVer"},
		{"no root", func(s *specs.Spec, o *Options) { s.Root = nil }, "root", "required"},
		{"no root path", func(s *specs.Spec, o *Options) { s.Root.Path = "" }, "root.path", "required"},
		{"root missing", func(s *specs.Spec, o *Options) { s.Root.Path = "nothere" }, "root.path", "no such file"},
		{"root a file", func(s *specs.Spec, o *Options) { s.Root.Path = "afile" }, "root.path", "not a directory"},
		{"no process", func(s *specs.Spec, o *Options) { s.Process = nil }, "process", "required"},
		{"no args", func(s *specs.Spec, o *Options) { s.Process.Args = nil }, "process.args", "at least one"},
		{"empty arg0", func(s *specs.Spec, o *Options) { s.Process.Args = []string{""} }, "process.args[0]", "empty"},
		{"relative cwd", func(s *specs.Spec, o *Options) { s.Process.Cwd = "tmp" }, "process.cwd", "not an absolute path"},
		{"env no =", func(s *specs.Spec, o *Options) { s.Process.Env = append(s.Process.Env, "FOO") }, "process.env[2]", "no '='"},
		{"env no name", func(s *specs.Spec, o *Options) { s.Process.Env = []string{"=x"} }, "process.env[0]", "empty name"},
		{"unknown cap", func(s *specs.Spec, o *Options) { s.Process.Capabilities.Bounding[1] = "CAP_FOO" }, "process.capabilities.bounding[1]", `unknown capability "CAP_FOO"`},
		{"unknown ambient cap", func(s *specs.Spec, o *Options) { s.Process.Capabilities.Ambient = []string{"chown"} }, "process.capabilities.ambient[0]", "unknown capability"},
		{"unknown rlimit", func(s *specs.Spec, o *Options) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, "process.rlimits[0]", `unknown rlimit type "RLIMIT_FOO"`},
		{"soft > hard", func(s *specs.Spec, o *Options) { s.Process.Rlimits[0].Soft = 2048 }, "process.rlimits[0]", "soft limit 2048 is greater than hard limit 1024"},
		{"duplicate rlimit", func(s *specs.Spec, o *Options) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) }, "process.rlimits[1]", "duplicate"},
		{"oom score", func(s *specs.Spec, o *Options) { s.Process.OOMScoreAdj = ptr(1001) }, "process.oomScoreAdj", "out of range"},
		{"umask", func(s *specs.Spec, o *Options) { s.Process.User.Umask = ptr(uint32(0o1022)) }, "process.user.umask", "bits"},
		{"sched policy", func(s *specs.Spec, o *Options) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FOO"} }, "process.scheduler.policy", "unknown policy"},
		{"sched fifo prio", func(s *specs.Spec, o *Options) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO} }, "process.scheduler.priority", "1-99"},
		{"sched nice", func(s *specs.Spec, o *Options) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 20}
		}, "process.scheduler.nice", "out of range"},
		{"sched flag", func(s *specs.Spec, o *Options) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"X"}}
		}, "process.scheduler.flags[0]", "unknown flag"},
		{"ioprio class", func(s *specs.Spec, o *Options) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: "RT"} }, "process.ioPriority.class", "unknown class"},
		{"ioprio level", func(s *specs.Spec, o *Options) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}, "process.ioPriority.priority", "0-7"},
		{"cpu affinity", func(s *specs.Spec, o *Options) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Final: "3-1"} }, "process.execCPUAffinity.final", "not a list"},
		{"no linux", func(s *specs.Spec, o *Options) { s.Linux = nil }, "linux", "required"},
		{"unknown ns", func(s *specs.Spec, o *Options) { s.Linux.Namespaces[2].Type = "foo" }, "linux.namespaces[2]", `unknown namespace type "foo"`},
		{"duplicate ns", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces[5]", "duplicate"},
		{"relative ns path", func(s *specs.Spec, o *Options) { s.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, "linux.namespaces[0]", "not an absolute path"},
		{"no mount ns", func(s *specs.Spec, o *Options) { dropNS(s, specs.MountNamespace) }, "linux.namespaces", "mount namespace is required"},
		{"maps without userns", func(s *specs.Spec, o *Options) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "linux.uidMappings", "no user namespace"},
		{"userns without maps", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Linux.GIDMappings = nil
		}, "linux.gidMappings", "required"},
		{"map size 0", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Linux.UIDMappings[0].Size = 0
		}, "linux.uidMappings[0]", "size"},
		{"maps overlap", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 100, HostID: 500000, Size: 1})
		}, "linux.uidMappings[1]", "overlaps"},
		{"uid not mapped", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Process.User.UID = 70000
		}, "process.user.uid", "not mapped"},
		{"gid not mapped", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Process.User.AdditionalGids = []uint32{1, 70000}
		}, "process.user.additionalGids[1]", "not mapped"},
		// (uid_t)-1 makes setresuid leave the uid alone: the process would
		// stay root (issue 20).
		{"uid -1", func(s *specs.Spec, o *Options) { s.Process.User.UID = 4294967295 }, "process.user.uid", "(uid_t)-1"},
		{"gid -1", func(s *specs.Spec, o *Options) { s.Process.User.GID = 4294967295 }, "process.user.gid", "(gid_t)-1"},
		{"additional gid -1", func(s *specs.Spec, o *Options) {
			s.Process.User.AdditionalGids = []uint32{1, 4294967295}
		}, "process.user.additionalGids[1]", "(gid_t)-1"},
		{"uid -1 with a userns mapping all", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 4294967295}}
			s.Process.User.UID = 4294967295
		}, "process.user.uid", "(uid_t)-1"},
		{"map reaching -1", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Linux.GIDMappings = append(s.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: 4294967295, HostID: 500000, Size: 1})
		}, "linux.gidMappings[1]", "cannot be mapped"},
		{"hostname no uts", func(s *specs.Spec, o *Options) { dropNS(s, specs.UTSNamespace) }, "hostname", "no uts namespace"},
		{"domainname long", func(s *specs.Spec, o *Options) { s.Domainname = strings.Repeat("d", 65) }, "domainname", "longer than 64"},
		{"ipc sysctl no ipc", func(s *specs.Spec, o *Options) {
			dropNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, `linux.sysctl["kernel.shmmax"]`, "ipc namespace"},
		{"mqueue sysctl no ipc", func(s *specs.Spec, o *Options) {
			dropNS(s, specs.IPCNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.msg_max": "1"}
		}, `linux.sysctl["fs.mqueue.msg_max"]`, "ipc namespace"},
		{"net sysctl no netns", func(s *specs.Spec, o *Options) {
			dropNS(s, specs.NetworkNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl["net.ipv4.ip_forward"]`, "network namespace"},
		{"net sysctl host netns", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces[1].Path = "/proc/self/ns/net"
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, `linux.sysctl["net.ipv4.ip_forward"]`, "host's"},
		{"hostname sysctl", func(s *specs.Spec, o *Options) {
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"}
		}, `linux.sysctl["kernel.hostname"]`, "hostname field"},
		{"host sysctl", func(s *specs.Spec, o *Options) {
			s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"}
		}, `linux.sysctl["vm.swappiness"]`, "not allowed"},
		{"sysctl dotdot", func(s *specs.Spec, o *Options) {
			s.Linux.Sysctl = map[string]string{"net/../../../etc/x": "1"}
		}, `linux.sysctl["net/../../../etc/x"]`, "not a sysctl name"},
		{"mount escapes", func(s *specs.Spec, o *Options) { s.Mounts[3].Destination = "../x" }, "mounts[3]", `destination "../x" escapes the rootfs`},
		{"mount abs escapes", func(s *specs.Spec, o *Options) { s.Mounts[1].Destination = "/dev/../../x" }, "mounts[1]", "escapes the rootfs"},
		{"mount no dest", func(s *specs.Spec, o *Options) { s.Mounts[0].Destination = "" }, "mounts[0].destination", "required"},
		{"mount on root", func(s *specs.Spec, o *Options) { s.Mounts[0].Destination = "/proc/.." }, "mounts[0]", "whole rootfs"},
		{"tmpcopyup not tmpfs", func(s *specs.Spec, o *Options) {
			s.Mounts[0].Options = append(s.Mounts[0].Options, "tmpcopyup")
		}, "mounts[0].options", "only for tmpfs"},
		{"bind no source", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Options: []string{"rbind"}})
		}, "mounts[7].source", "required"},
		{"bind unknown option", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Options: []string{"rbind", "noexce", "ro"}})
		}, "mounts[7]", `unknown option "noexce"`},
		{"bind unknown option in a list", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Type: "bind", Options: []string{"ro,mode=755"}})
		}, "mounts[7]", `unknown option "mode=755"`},
		{"mount no type", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "x"})
		}, "mounts[7].type", "required"},
		{"mount none", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Type: "none", Options: []string{"ro"}})
		}, "mounts[7].type", "without a bind"},
		{"idmap not bind", func(s *specs.Spec, o *Options) {
			userns(s)
			s.Mounts[0].Options = []string{"idmap"}
		}, "mounts[0]", "bind mount"},
		{"idmap no userns", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Options: []string{"rbind", "idmap"}})
		}, "mounts[7]", "user namespace"},
		{"idmap half maps", func(s *specs.Spec, o *Options) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Type: "bind",
				UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, "mounts[7]", "together"},
		{"device type", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "x", Major: 1, Minor: 3}}
		}, "linux.devices[0]", "unknown device type"},
		{"device relative", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c", Major: 1, Minor: 3}}
		}, "linux.devices[0]", "not an absolute path"},
		{"device no numbers", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c"}}
		}, "linux.devices[0]", "major and minor are required"},
		{"device major range", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "b", Major: 4096, Minor: 1}}
		}, "linux.devices[0]", "out of range"},
		{"device duplicate", func(s *specs.Spec, o *Options) {
			d := specs.LinuxDevice{Path: "/dev/x", Type: "p"}
			s.Linux.Devices = []specs.LinuxDevice{d, d}
		}, "linux.devices[1]", "duplicate"},
		{"device mode", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "p", FileMode: ptr(os.FileMode(0o20666))}}
		}, "linux.devices[0]", `does not match device type "p"`},
		{"device mode extra bits", func(s *specs.Spec, o *Options) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 5, FileMode: ptr(os.FileMode(0o120666))}}
		}, "linux.devices[0]", `does not match device type "c"`},
		{"masked relative", func(s *specs.Spec, o *Options) { s.Linux.MaskedPaths[1] = "proc/kcore" }, "linux.maskedPaths[1]", "not an absolute path"},
		{"readonly escapes", func(s *specs.Spec, o *Options) { s.Linux.ReadonlyPaths[0] = "/../etc" }, "linux.readonlyPaths[0]", "escapes"},
		{"propagation", func(s *specs.Spec, o *Options) { s.Linux.RootfsPropagation = "foo" }, "linux.rootfsPropagation", "unknown value"},
		{"private no pivot", func(s *specs.Spec, o *Options) {
			s.Linux.RootfsPropagation = "rprivate"
			o.NoPivotRoot = true
		}, "linux.rootfsPropagation", "pivot_root"},
		{"offsets no timens", func(s *specs.Spec, o *Options) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets", "no time namespace"},
		{"offsets joined timens", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace, Path: "/proc/1/ns/time"})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, "linux.timeOffsets", "joined"},
		{"offsets clock", func(s *specs.Spec, o *Options) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, `linux.timeOffsets["realtime"]`, "unknown clock"},
		{"personality", func(s *specs.Spec, o *Options) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"}
		}, "linux.personality.domain", "unknown domain"},
		{"intelRdt closID", func(s *specs.Spec, o *Options) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "a/b"} }, "linux.intelRdt.closID", "one directory name"},
		{"intelRdt memBwSchema", func(s *specs.Spec, o *Options) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{MemBwSchema: "L3:0=f"}
		}, "linux.intelRdt.memBwSchema", "does not start with MB:"},
		{"intelRdt schemata newline", func(s *specs.Spec, o *Options) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{Schemata: []string{"L3:0=f", "MB:0=1\nL2:0=1"}}
		}, "linux.intelRdt.schemata[1]", "newline"},
		{"memoryPolicy nodes", func(s *specs.Spec, o *Options) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Nodes: "0"}
		}, "linux.memoryPolicy.nodes", "takes no nodes"},
		{"netDevices no netns", func(s *specs.Spec, o *Options) {
			dropNS(s, specs.NetworkNamespace)
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
		}, "linux.netDevices", "no network namespace"},
		{"netDevices name", func(s *specs.Spec, o *Options) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "a b"}}
		}, `linux.netDevices["eth1"].name`, "whitespace"},
		{"netDevices conflict", func(s *specs.Spec, o *Options) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}, "eth2": {Name: "eth1"}}
		}, `linux.netDevices["eth2"]`, `as linux.netDevices["eth1"] would`},
		{"systemd property", func(s *specs.Spec, o *Options) {
			o.Systemd = true
			s.Linux.CgroupsPath = "system.slice:hull:x"
			s.Annotations = map[string]string{"org.systemd.property.TimeoutStopSec": "'ten'"}
		}, `annotations["org.systemd.property.TimeoutStopSec"]`, "seconds"},
		{"systemd property PIDs", func(s *specs.Spec, o *Options) {
			o.Systemd = true
			s.Linux.CgroupsPath = "system.slice:hull:x"
			s.Annotations = map[string]string{"org.systemd.property.PIDs": "@au []"}
		}, `annotations["org.systemd.property.PIDs"]`, "may not be set"},
		{"seccomp default", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.DefaultAction = "SCMP_ACT_FOO"
		}, "linux.seccomp.defaultAction", "unknown action"},
		{"seccomp default notify", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.DefaultAction = specs.ActNotify
		}, "linux.seccomp.defaultAction", "default action"},
		{"seccomp arch", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Architectures = []specs.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"}
		}, "linux.seccomp.architectures[1]", "unknown architecture"},
		{"seccomp flag", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FOO"}
		}, "linux.seccomp.flags[0]", "unknown flag"},
		{"seccomp rule action", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls = append(s.Linux.Seccomp.Syscalls, specs.LinuxSyscall{Names: []string{"x"}, Action: "kill"})
		}, "linux.seccomp.syscalls[1].action", "unknown action"},
		{"seccomp rule names", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].Names = nil
		}, "linux.seccomp.syscalls[0].names", "at least one"},
		{"seccomp op", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 0, Op: "=="}}
		}, "linux.seccomp.syscalls[0].args[0].op", "unknown operator"},
		{"seccomp arg index", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].Args = []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}
		}, "linux.seccomp.syscalls[0].args[0].index", "6 is not"},
		{"seccomp errno on allow", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].Action = specs.ActAllow
			s.Linux.Seccomp.Syscalls[0].ErrnoRet = ptr(uint(1))
		}, "linux.seccomp.syscalls[0].errnoRet", "takes no errno"},
		{"seccomp errno range", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].ErrnoRet = ptr(uint(70000))
		}, "linux.seccomp.syscalls[0].errnoRet", "out of range"},
		{"seccomp notify no listener", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.Syscalls[0].Action = specs.ActNotify
		}, "linux.seccomp.listenerPath", "required"},
		{"seccomp notify write", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.ListenerPath = "/run/agent.sock"
			s.Linux.Seccomp.Syscalls[0] = specs.LinuxSyscall{Names: []string{"read", "write"}, Action: specs.ActNotify}
		}, "linux.seccomp.syscalls[0].names[1]", "write"},
		{"seccomp metadata", func(s *specs.Spec, o *Options) {
			s.Linux.Seccomp = seccompAllow()
			s.Linux.Seccomp.ListenerMetadata = "x"
		}, "linux.seccomp.listenerMetadata", "without listenerPath"},
		{"hook relative", func(s *specs.Spec, o *Options) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "bin/true"}}}
		}, "hooks.prestart[0]", "not an absolute path"},
		{"hook timeout", func(s *specs.Spec, o *Options) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true"}, {Path: "/bin/true", Timeout: ptr(0)}}}
		}, "hooks.poststop[1]", "timeout"},
		{"hook no path", func(s *specs.Spec, o *Options) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{}}}
		}, "hooks.createContainer[0]", "required"},
		{"memory limit", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(-2))}
		}, "linux.resources.memory.limit", "negative"},
		{"swap below limit", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(2 << 20)), Swap: ptr(int64(1 << 20))}
		}, "linux.resources.memory.swap", "less than memory.limit"},
		{"swappiness", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Swappiness: ptr(uint64(201))}
		}, "linux.resources.memory.swappiness", "out of range"},
		{"cpu shares", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(1))}
		}, "linux.resources.cpu.shares", "out of range"},
		{"cpu quota", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(-5))}
		}, "linux.resources.cpu.quota", "negative"},
		{"cpu burst", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: ptr(int64(50000)), Burst: ptr(uint64(60000))}
		}, "linux.resources.cpu.burst", "greater than cpu.quota"},
		{"cpuset", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.CPU = &specs.LinuxCPU{Cpus: "0-"}
		}, "linux.resources.cpu.cpus", "not a list"},
		{"pids", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(-2))}
		}, "linux.resources.pids.limit", "negative"},
		{"device rule access", func(s *specs.Spec, o *Options) { s.Linux.Resources.Devices[0].Access = "rwx" }, "linux.resources.devices[0].access", "not a combination"},
		{"device rule type", func(s *specs.Spec, o *Options) { s.Linux.Resources.Devices[0].Type = "p" }, "linux.resources.devices[0].type", "unknown device type"},
		{"blkio weight", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{Weight: ptr(uint16(5))}
		}, "linux.resources.blockIO.weight", "out of range"},
		{"blkio weight device", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.BlockIO = &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{}}}
		}, "linux.resources.blockIO.weightDevice[0]", "needs weight or leafWeight"},
		{"hugepage size", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2M"}}
		}, "linux.resources.hugepageLimits[0]", "pageSize"},
		{"rdma", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Rdma = map[string]specs.LinuxRdma{"mlx4_0": {}}
		}, `linux.resources.rdma["mlx4_0"]`, "hcaHandles"},
		{"unified key", func(s *specs.Spec, o *Options) {
			s.Linux.Resources.Unified = map[string]string{"../memory.max": "1"}
		}, `linux.resources.unified["../memory.max"]`, "not a cgroup file name"},
		{"systemd path", func(s *specs.Spec, o *Options) {
			s.Linux.CgroupsPath = "/foo/bar"
			o.Systemd = true
		}, "linux.cgroupsPath", "slice:prefix:name"},
		{"cgroups dotdot", func(s *specs.Spec, o *Options) { s.Linux.CgroupsPath = "/a/../../b" }, "linux.cgroupsPath", `".."`},
		{"rootless no userns", func(s *specs.Spec, o *Options) { o.Rootless = true }, "linux.namespaces", "user namespace"},
		{"rootless gid option", func(s *specs.Spec, o *Options) {
			toRootless(s, 1000, 1000)
			s.Mounts[2].Options = append(s.Mounts[2].Options, "gid=5")
			o.Rootless = true
		}, "mounts[2]", "not mapped"},
		{"rootless idmap", func(s *specs.Spec, o *Options) {
			toRootless(s, 1000, 1000)
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Source: "/srv", Options: []string{"bind", "idmap"}})
			o.Rootless = true
		}, "mounts[7]", "rootless"},
		{"annotation key", func(s *specs.Spec, o *Options) { s.Annotations = map[string]string{"": "x"} }, "annotations", "empty"},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d cases", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Example()
			o := Options{ID: "test", Bundle: newBundle(t)}
			tc.edit(s, &o)
			c, err := Convert(&Spec{Spec: s}, o)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			got := err.Error()
			if !strings.HasPrefix(got, tc.field+": ") || !strings.Contains(got, tc.msg) {
				t.Fatalf("error %q\nwant it to start with %q and contain %q", got, tc.field+": ", tc.msg)
			}
			if strings.Contains(got, "\n") {
				t.Fatalf("error is more than one line: %q", got)
			}
		})
	}
}

func TestConvertOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		msg  string
	}{
		{"bad id", Options{ID: "a/b", Bundle: "/tmp"}, "invalid container id"},
		{"dot id", Options{ID: "..", Bundle: "/tmp"}, "invalid container id"},
		{"no bundle", Options{ID: "a"}, "no bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert(&Spec{Spec: Example()}, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %q", err, tc.msg)
			}
		})
	}
	if _, err := Convert(nil, Options{Bundle: "/tmp"}); err == nil {
		t.Fatal("nil spec accepted")
	}
}

func TestConvertExample(t *testing.T) {
	bundle := newBundle(t)
	c, err := Convert(&Spec{Spec: Example()}, Options{ID: "x", Bundle: bundle, NoNewKeyring: true})
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(filepath.Join(bundle, "rootfs"))
	if c.Rootfs != real || !c.Readonly || c.Bundle != bundle || !c.NoNewKeyring || c.Version != specs.Version {
		t.Errorf("rootfs %q readonly %v bundle %q keyring %v version %q", c.Rootfs, c.Readonly, c.Bundle, c.NoNewKeyring, c.Version)
	}
	wantNS := []configs.Namespace{{Type: configs.NEWPID}, {Type: configs.NEWNET}, {Type: configs.NEWIPC}, {Type: configs.NEWUTS}, {Type: configs.NEWNS}}
	if !reflect.DeepEqual(c.Namespaces, wantNS) {
		t.Errorf("namespaces %+v", c.Namespaces)
	}
	wantCaps := []int{unix.CAP_AUDIT_WRITE, unix.CAP_KILL, unix.CAP_NET_BIND_SERVICE}
	if !reflect.DeepEqual(c.Process.Capabilities.Bounding, wantCaps) || !reflect.DeepEqual(c.Process.Capabilities.Ambient, wantCaps) || c.Process.Capabilities.Inheritable != nil {
		t.Errorf("capabilities %+v", c.Process.Capabilities)
	}
	if !reflect.DeepEqual(c.Process.Rlimits, []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 1024}}) {
		t.Errorf("rlimits %+v", c.Process.Rlimits)
	}
	shm := c.Mounts[3]
	if shm.Destination != "/dev/shm" || shm.Type != "tmpfs" || shm.Attr != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NODEV || !reflect.DeepEqual(shm.Data, []string{"mode=1777", "size=65536k"}) {
		t.Errorf("/dev/shm mount %+v", shm)
	}
	if c.Hostname != "runc" || c.Cgroup == nil || c.Cgroup.Path != "" || c.Cgroup.Resources == nil || c.RootPropagation != 0 {
		t.Errorf("hostname %q cgroup %+v propagation %#x", c.Hostname, c.Cgroup, c.RootPropagation)
	}
	if len(c.MaskedPaths) != 10 || len(c.ReadonlyPaths) != 5 {
		t.Errorf("masked %v readonly %v", c.MaskedPaths, c.ReadonlyPaths)
	}
	// The config crosses the sync pipe as JSON: it must survive that.
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back configs.Config
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, c) {
		t.Errorf("config changed through JSON:\n%+v\n%+v", &back, c)
	}
}

func TestConvertRootless(t *testing.T) {
	s := Example()
	toRootless(s, 1000, 1000)
	c, err := Convert(&Spec{Spec: s}, Options{Bundle: newBundle(t), Rootless: true})
	if err != nil {
		t.Fatal(err)
	}
	sys := c.Mounts[5]
	if sys.Destination != "/sys" || sys.Type != "bind" || sys.Source != "/sys" ||
		!sys.Bind || !sys.Recursive || sys.Attr != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_RDONLY {
		t.Errorf("/sys mount %+v", sys)
	}
	if len(c.UIDMappings) != 1 || c.UIDMappings[0].HostID != 1000 || len(c.Cgroup.Resources.Devices) != len(defaultDeviceRules) {
		t.Errorf("mappings %+v resources %+v", c.UIDMappings, c.Cgroup.Resources)
	}
}

// TestDefaultDeviceRules: the config's rules come first, then runc's
// defaults, and the spec itself is not modified.
func TestDefaultDeviceRules(t *testing.T) {
	s := Example() // its one rule: deny all
	c, err := Convert(&Spec{Spec: s}, Options{Bundle: newBundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Cgroup.Resources.Devices
	if len(got) != 1+len(defaultDeviceRules) || got[0].Allow || got[0].Access != "rwm" {
		t.Fatalf("devices %+v", got)
	}
	var ptmx bool
	for _, d := range got[1:] {
		if d.Allow && d.Type == "c" && d.Major != nil && *d.Major == 5 && d.Minor != nil && *d.Minor == 2 {
			ptmx = true
		}
	}
	if !ptmx {
		t.Error("no rule allows /dev/ptmx (5:2)")
	}
	if len(s.Linux.Resources.Devices) != 1 {
		t.Errorf("Convert changed the spec's device rules: %+v", s.Linux.Resources.Devices)
	}
}

// TestConvertFull exercises the optional parts that Example leaves out.
func TestConvertFull(t *testing.T) {
	bundle := newBundle(t)
	s := Example()
	userns(s)
	s.Linux.Namespaces = append(s.Linux.Namespaces,
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
		specs.LinuxNamespace{Type: specs.TimeNamespace})
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}, Umask: ptr(uint32(0o22))}
	s.Process.Terminal = false
	s.Process.ConsoleSize = &specs.Box{Height: 1, Width: 2}
	s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedRR, Priority: 10}
	s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
	s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0-1,3", Final: "0"}
	s.Process.OOMScoreAdj = ptr(-500)
	s.Domainname = "example.org"
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "size=1m"}},
		specs.Mount{Destination: "/data", Source: "data", Type: "none", Options: []string{"rbind", "ro", "rprivate", "ridmap"}},
		specs.Mount{Destination: "/opt", Source: "/opt", Type: "bind",
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 10}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 10}}},
	)
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: ptr(os.FileMode(0o666))}, {Path: "/run/fifo", Type: "p"}}
	s.Linux.Sysctl = map[string]string{
		"net/ipv4/conf/eth0.100/rp_filter": "1",
		"kernel.shm_rmid_forced":           "1",
		"fs.mqueue.queues_max":             "64",
		"kernel.domainname":                "x",
	}
	s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: -10}, "boottime": {Secs: 5, Nanosecs: 999999999}}
	s.Linux.RootfsPropagation = "slave"
	s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	s.Linux.Seccomp = seccompAllow()
	s.Linux.Seccomp.ListenerPath = "/run/agent.sock"
	s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog}
	s.Linux.Seccomp.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86}
	s.Linux.Seccomp.Syscalls = append(s.Linux.Seccomp.Syscalls,
		specs.LinuxSyscall{Names: []string{"openat"}, Action: specs.ActNotify},
		specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(1)),
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpMaskedEqual, ValueTwo: 8}}})
	s.Linux.CgroupsPath = "/hull/full"
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(-1)), Swappiness: ptr(uint64(60))}
	s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"}
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(-1))}
	s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}}
	s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Timeout: ptr(5)}}}
	s.Annotations = map[string]string{"org.example.key": "value"}
	s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "gold", L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=50", EnableMonitoring: true}
	s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "ctr%d"}, "eth0": {}}

	c, err := Convert(&Spec{Spec: s}, Options{ID: "full", Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	if c.Process.ConsoleSize != nil {
		t.Errorf("consoleSize kept without a terminal")
	}
	if c.Process.UID != 1000 || *c.Process.Umask != 0o22 || *c.Process.OOMScoreAdj != -500 {
		t.Errorf("process %+v", c.Process)
	}
	tmp, data, opt := c.Mounts[7], c.Mounts[8], c.Mounts[9]
	if tmp.Destination != "/tmp" || tmp.AttrClr != unix.MOUNT_ATTR_RDONLY || !reflect.DeepEqual(tmp.Data, []string{"size=1m"}) {
		t.Errorf("relative destination mount %+v", tmp)
	}
	if data.Source != filepath.Join(bundle, "data") || data.Type != "bind" || !data.IDMapRecursive ||
		!reflect.DeepEqual(data.UIDMappings, s.Linux.UIDMappings) ||
		!reflect.DeepEqual(data.PropagationFlags, []uintptr{unix.MS_PRIVATE | unix.MS_REC}) {
		t.Errorf("bind mount %+v", data)
	}
	if !opt.Bind || opt.Recursive || opt.Attr|opt.AttrClr != 0 || opt.UIDMappings[0].HostID != 200000 || opt.IDMapRecursive {
		t.Errorf("idmapped bind mount %+v", opt)
	}
	wantSysctl := map[string]string{
		"net.ipv4.conf.eth0/100.rp_filter": "1",
		"kernel.shm_rmid_forced":           "1",
		"fs.mqueue.queues_max":             "64",
		"kernel.domainname":                "x",
	}
	if !reflect.DeepEqual(c.Sysctl, wantSysctl) {
		t.Errorf("sysctl %v", c.Sysctl)
	}
	if c.RootPropagation != unix.MS_SLAVE || c.Personality.Domain != specs.PerLinux32 || c.Seccomp != s.Linux.Seccomp {
		t.Errorf("propagation %#x personality %+v", c.RootPropagation, c.Personality)
	}
	if c.Cgroup.Path != "/hull/full" || c.Cgroup.Resources.CPU == nil || len(c.TimeOffsets) != 2 {
		t.Errorf("cgroup %+v offsets %v", c.Cgroup, c.TimeOffsets)
	}
	if c.Annotations["org.example.key"] != "value" || len(c.Hooks.CreateRuntime) != 1 || c.Domainname != "example.org" {
		t.Errorf("annotations %v hooks %+v", c.Annotations, c.Hooks)
	}
	if c.Devices[0].Path != "/dev/fuse" || c.Devices[1].Type != "p" {
		t.Errorf("devices %+v", c.Devices)
	}
	if !reflect.DeepEqual(c.IntelRdt, s.Linux.IntelRdt) {
		t.Errorf("intelRdt %+v", c.IntelRdt)
	}
	if want := []configs.NetDevice{{HostName: "eth0", Name: "eth0"}, {HostName: "eth1", Name: "ctr%d"}}; !reflect.DeepEqual(c.NetDevices, want) {
		t.Errorf("netDevices %+v, want %+v", c.NetDevices, want)
	}
}

// TestConvertJoined: namespaces joined by path need no mappings and may
// take sysctls of a network namespace that is not the caller's.
func TestConvertJoined(t *testing.T) {
	s := Example()
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"})
	s.Linux.Namespaces[0].Path = "/proc/1/ns/pid"
	s.Process.User.UID = 4242 // mapped by /proc/1/uid_map (the host's namespace)
	c, err := Convert(&Spec{Spec: s}, Options{Bundle: newBundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	if ns, _ := c.Namespace(configs.NEWUSER); ns.Path != "/proc/1/ns/user" || c.UIDMappings != nil {
		t.Errorf("user namespace %+v mappings %v", ns, c.UIDMappings)
	}
}

// TestLoadConvertRoundTrip: a spec written out as config.json and read
// back is the same spec, and converts to the same config.
func TestLoadConvertRoundTrip(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		bundle := newBundle(t)
		s := Example()
		if rootless {
			ToRootless(s)
		}
		s.Annotations = map[string]string{"a": "b"}
		s.Linux.Sysctl = map[string]string{"kernel.shmmni": "256"}
		data, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		loaded, err := LoadSpec(bundle)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(loaded.Spec, s) {
			t.Fatalf("spec changed through config.json:\n%+v\n%+v", loaded.Spec, s)
		}
		o := Options{Bundle: bundle, Rootless: rootless}
		c1, err1 := Convert(&Spec{Spec: s}, o)
		c2, err2 := Convert(loaded, o)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("configs differ: %v %v", err1, err2)
		}
	}
}

func TestConvertProcess(t *testing.T) {
	p := Example().Process
	p.Cwd = "rel"
	_, err := ConvertProcess("", &Process{Process: p})
	if err == nil || !strings.HasPrefix(err.Error(), "cwd: ") {
		t.Fatalf("error %v, want one about cwd", err)
	}
	if _, err := ConvertProcess("", nil); err == nil {
		t.Fatal("nil process accepted")
	}
	// exec's process.json: field names relative to the process.
	p = Example().Process
	p.User.GID = 4294967295
	if _, err := ConvertProcess("", &Process{Process: p}); err == nil || !strings.HasPrefix(err.Error(), "user.gid: ") {
		t.Fatalf("error %v, want one about user.gid", err)
	}
}

// TestConvertDockerConfig: a config.json as Docker writes it converts.
func TestConvertDockerConfig(t *testing.T) {
	bundle := newBundle(t)
	data, err := os.ReadFile("testdata/docker-config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(bundle)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Convert(s, Options{ID: "0123456789ab", Bundle: bundle})
	if err != nil {
		t.Fatal(err)
	}
	resolv := c.Mounts[7]
	if resolv.Type != "bind" || !resolv.Bind || !resolv.Recursive || resolv.Attr|resolv.AttrClr != 0 ||
		!reflect.DeepEqual(resolv.PropagationFlags, []uintptr{unix.MS_PRIVATE | unix.MS_REC}) {
		t.Errorf("resolv.conf mount %+v", resolv)
	}
	if c.Process.ApparmorProfile != "docker-default" || len(c.Process.Capabilities.Bounding) != 14 || c.Cgroup.Path != "/docker/0123456789ab" {
		t.Errorf("process %+v cgroup %+v", c.Process, c.Cgroup)
	}
}

// TestDeviceModeWithType: Podman sends a device's whole st_mode; the type
// bits are accepted when they match and dropped.
func TestDeviceModeWithType(t *testing.T) {
	s := Example()
	mode := os.FileMode(0o20644) // S_IFCHR|0644, as podman --privileged sends it
	s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/zero2", Type: "c", Major: 1, Minor: 5, FileMode: &mode}}
	c, err := Convert(&Spec{Spec: s}, Options{Bundle: newBundle(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := *c.Devices[0].FileMode; got != 0o644 {
		t.Errorf("fileMode %#o, want 0644", uint32(got))
	}
}
