//go:build reliability

package reliability

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// badCase is one hostile input to the CLI. Exactly one of edit, raw and
// prep shapes the bundle; args builds the command line (default: create).
type badCase struct {
	name string
	edit func(*specs.Spec)
	// raw replaces config.json with these bytes (after edit).
	raw func(valid []byte) []byte
	// prep changes the bundle dir after config.json is written.
	prep func(t *testing.T, b *bundle)
	// args returns the command line; nil means create --bundle B ID.
	args func(id, bdir string) []string
	// want: the one error line names at least one of these (case-insensitive).
	want []string
	// onRunning: the command targets a running container (id) that must
	// still run, untouched, afterwards.
	onRunning bool
}

func editJSON(path string, v any) func([]byte) []byte {
	// path is a dot path into the config; v replaces the value there.
	return func(valid []byte) []byte {
		var m map[string]any
		_ = json.Unmarshal(valid, &m)
		parts := strings.Split(path, ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = v
		b, _ := json.Marshal(m)
		return b
	}
}

func badCases() []badCase {
	create := func(extra ...string) func(id, b string) []string {
		return func(id, b string) []string {
			return append(append([]string{"create", "--bundle", b}, extra...), id)
		}
	}
	withID := func(bad string) func(id, b string) []string {
		return func(id, b string) []string { return []string{"create", "--bundle", b, bad} }
	}
	ns := func(types ...specs.LinuxNamespaceType) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Namespaces = nil
			for _, ty := range types {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: ty})
			}
		}
	}
	cs := []badCase{
		// Malformed JSON.
		{name: "empty config", raw: func([]byte) []byte { return nil }, want: []string{"config.json"}},
		{name: "truncated config", raw: func(v []byte) []byte { return v[:len(v)/2] }, want: []string{"config.json"}},
		{name: "one byte short", raw: func(v []byte) []byte { return v[:len(v)-1] }, want: []string{"config.json"}},
		{name: "not JSON", raw: func([]byte) []byte { return []byte("ociVersion: 1.0\n") }, want: []string{"config.json"}},
		{name: "JSON array", raw: func([]byte) []byte { return []byte(`[1,2,3]`) }, want: []string{"config.json"}},
		{name: "JSON null", raw: func([]byte) []byte { return []byte(`null`) }, want: []string{"config.json", "process", "root"}},
		{name: "trailing garbage", raw: func(v []byte) []byte { return append(v, []byte("}{")...) }, want: []string{"config.json"}},
		{name: "NUL bytes", raw: func(v []byte) []byte { return append([]byte{0, 0}, v...) }, want: []string{"config.json"}},
		// Wrong types.
		{name: "process.args a string", raw: editJSON("process.args", "sleep 10"), want: []string{"process.args", "args"}},
		{name: "ociVersion a number", raw: editJSON("ociVersion", 1.1), want: []string{"ociVersion"}},
		{name: "root.path a number", raw: editJSON("root.path", 7), want: []string{"root.path", "root"}},
		{name: "uid negative", raw: editJSON("process.user.uid", -1), want: []string{"uid"}},
		{name: "uid huge", raw: editJSON("process.user.uid", 1e20), want: []string{"uid"}},
		{name: "terminal a string", raw: editJSON("process.terminal", "yes"), want: []string{"terminal"}},
		{name: "namespaces an object", raw: editJSON("linux.namespaces", map[string]any{"type": "pid"}), want: []string{"namespaces"}},
		{name: "rlimit hard negative", raw: editJSON("process.rlimits", []any{map[string]any{"type": "RLIMIT_NOFILE", "hard": -1, "soft": 10}}), want: []string{"rlimit", "hard"}},
		{name: "pids limit a string", raw: editJSON("linux.resources.pids.limit", "many"), want: []string{"pids", "limit"}},
		// Missing or empty fields.
		{name: "no process", edit: func(s *specs.Spec) { s.Process = nil }, want: []string{"process"}},
		{name: "no root", edit: func(s *specs.Spec) { s.Root = nil }, want: []string{"root"}},
		{name: "empty args", edit: func(s *specs.Spec) { s.Process.Args = nil }, want: []string{"args"}},
		{name: "relative cwd", edit: func(s *specs.Spec) { s.Process.Cwd = "tmp" }, want: []string{"cwd"}},
		{name: "missing ociVersion", edit: func(s *specs.Spec) { s.Version = "" }, want: []string{"ociVersion", "version"}},
		// Values out of range.
		{name: "rlimit unknown type", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Hard: 1, Soft: 1}}
		}, want: []string{"RLIMIT_BOGUS"}},
		{name: "rlimit soft above hard", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 100}}
		}, want: []string{"RLIMIT_NOFILE", "soft"}},
		{name: "rlimit duplicate", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 10}, {Type: "RLIMIT_NOFILE", Hard: 20, Soft: 20}}
		}, want: []string{"RLIMIT_NOFILE"}},
		// Applied just before execve, so it fails at start: judged on run.
		{name: "rlimit above host hard limit", edit: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 40, Soft: 1 << 40}}
		}, args: func(id, b string) []string { return []string{"run", "-d", "--bundle", b, id} }, want: []string{"RLIMIT_NOFILE", "rlimit"}},
		{name: "oom_score_adj out of range", edit: func(s *specs.Spec) { v := 5000; s.Process.OOMScoreAdj = &v }, want: []string{"oomScoreAdj", "oom_score_adj"}},
		{name: "unknown capability", edit: func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_BOGUS")
		}, want: []string{"CAP_BOGUS"}},
		{name: "capability without CAP_ prefix garbage", edit: func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "sys admin")
		}, want: []string{"sys admin"}},
		{name: "seccomp unknown default action", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}
		}, want: []string{"SCMP_ACT_BOGUS"}},
		{name: "seccomp unknown rule action", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOPE"}}}
		}, want: []string{"SCMP_ACT_NOPE"}},
		{name: "seccomp unknown arch", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_VAX"}}
		}, want: []string{"SCMP_ARCH_VAX"}},
		{name: "seccomp unknown operator", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: "SCMP_CMP_SOMETIMES"}}}}}
		}, want: []string{"SCMP_CMP_SOMETIMES"}},
		{name: "seccomp arg index too big", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 9, Value: 1, Op: specs.OpEqualTo}}}}}
		}, want: []string{"index", "arg"}},
		// Issue 20: a syscall name libseccomp does not know is skipped (as
		// runc does); whether the create then fails or not, nothing of it
		// may stay under the state root (the compile cache did).
		{name: "seccomp unknown syscall then a failure", edit: func(s *specs.Spec) {
			s.Linux.Seccomp = unknownSyscallProfile()
			s.Process.Args = []string{"/bin/no-such-binary"}
		}, want: []string{"no-such-binary"}},
		{name: "unknown namespace type", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, want: []string{"bogus"}},
		{name: "duplicate namespace", edit: ns(specs.PIDNamespace, specs.MountNamespace, specs.PIDNamespace), want: []string{"pid"}},
		{name: "namespace path missing", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.NetworkNamespace, Path: "/nonexistent/ns/net"}}
		}, want: []string{"/nonexistent/ns/net"}},
		{name: "namespace path not a namespace", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.NetworkNamespace, Path: "/etc/hostname"}}
		}, want: []string{"/etc/hostname"}},
		{name: "hostname without uts namespace", edit: ns(specs.PIDNamespace, specs.MountNamespace), want: []string{"hostname", "uts"}},
		// Issue 20: (uid_t)-1 makes setresuid/setresgid leave the id
		// alone, so the process would keep hull's root.
		{name: "uid -1", edit: func(s *specs.Spec) { s.Process.User.UID = 4294967295 }, want: []string{"process.user.uid"}},
		{name: "gid -1", edit: func(s *specs.Spec) { s.Process.User.GID = 4294967295 }, want: []string{"process.user.gid"}},
		{name: "additional gid -1", edit: func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{4294967295} }, want: []string{"process.user.additionalGids[0]"}},
		{name: "uid -1 in a user namespace", edit: func(s *specs.Spec) {
			userNS(s)
			s.Process.User.UID = 4294967295
		}, want: []string{"process.user.uid"}},
		{name: "uid not mapped in the user namespace", edit: func(s *specs.Spec) {
			userNS(s)
			s.Process.User.UID = 70000
		}, want: []string{"process.user.uid"}},
		{name: "uid mapping reaching -1", edit: func(s *specs.Spec) {
			userNS(s)
			s.Linux.UIDMappings = append(s.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: 4294967295, HostID: 200000, Size: 1})
		}, want: []string{"linux.uidMappings[1]"}},
		{name: "user namespace without mappings", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, want: []string{"mapping", "uidMappings", "user"}},
		{name: "uid mapping of size 0", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 0}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, want: []string{"uidMappings", "size", "mapping"}},
		// (A relative destination is valid: config.md says it is relative to "/".)
		{name: "mount destination relative and escaping", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "../../etc/escape", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"../../etc/escape", "destination"}},
		{name: "mount destination with NUL", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt\x00x", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"destination", "NUL", "mnt"}},
		{name: "mount destination escaping", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/../../../../etc/escape", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"/../../../../etc/escape", "destination"}},
		{name: "mount destination empty", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"destination"}},
		{name: "mount unknown filesystem type", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "nosuchfs", Source: "none"})
		}, want: []string{"nosuchfs", "/mnt"}},
		{name: "bind mount source missing", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/nonexistent/src", Options: []string{"rbind"}})
		}, want: []string{"/nonexistent/src"}},
		{name: "mount bad tmpfs option", edit: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=lots"}})
		}, want: []string{"/mnt", "size=lots"}},
		// Issue 20.2: the option is named with its mount; first in the
		// list, so that it is mounts[0].
		{name: "mount unknown tmpfs option", edit: func(s *specs.Spec) {
			s.Mounts = append([]specs.Mount{{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755", "nosuchopt"}}}, s.Mounts...)
		}, want: []string{`mounts[0]: unknown option "nosuchopt"`}},
		{name: "mount unknown devpts option", edit: func(s *specs.Spec) {
			s.Mounts = append([]specs.Mount{{Destination: "/dev/pts2", Type: "devpts", Source: "devpts", Options: []string{"newinstance", "nosuchopt"}}}, s.Mounts...)
		}, want: []string{`mounts[0]: unknown option "nosuchopt"`}},
		{name: "bind mount unknown option", edit: func(s *specs.Spec) {
			s.Mounts = append([]specs.Mount{{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"rbind", "noexce"}}}, s.Mounts...)
		}, want: []string{`mounts[0]: unknown option "noexce"`}},
		{name: "rootfs missing", edit: func(s *specs.Spec) { s.Root.Path = "/nonexistent/rootfs" }, want: []string{"/nonexistent/rootfs", "root"}},
		{name: "rootfs a file", edit: func(s *specs.Spec) { s.Root.Path = "/etc/hostname" }, want: []string{"/etc/hostname", "root"}},
		{name: "rootfs relative and missing", edit: func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" }, want: []string{"no-such-rootfs", "root"}},
		{name: "rootfs /proc is a symlink", prep: func(t *testing.T, b *bundle) {
			rfs := copyRootfs(t, b.dir)
			if err := os.Remove(filepath.Join(rfs, "proc")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc", filepath.Join(rfs, "proc")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"/proc", "symlink"}},
		{name: "rootfs dangling symlink", prep: func(t *testing.T, b *bundle) {
			if err := os.Symlink("/nonexistent/target", filepath.Join(b.dir, "rootfs")); err != nil {
				t.Fatal(err)
			}
			b.spec.Root.Path = "rootfs"
			b.write(t)
		}, want: []string{"rootfs", "root"}},
		{name: "args[0] not in the rootfs", edit: func(s *specs.Spec) { s.Process.Args = []string{"/bin/no-such-binary"} }, want: []string{"no-such-binary"}},
		{name: "env entry without =", edit: func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "JUSTANAME") }, want: []string{"JUSTANAME", "env"}},
		{name: "unknown sysctl", edit: func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"bogus.key": "1"} }, want: []string{"bogus.key"}},
		{name: "net sysctl without net namespace", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace}}
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, want: []string{"net.ipv4.ip_forward"}},
		{name: "cgroupsPath escaping", edit: func(s *specs.Spec) { s.Linux.CgroupsPath = "/../../../../x" }, want: []string{"cgroupsPath", "cgroup"}},
		{name: "device of unknown type", edit: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/bogus", Type: "x", Major: 1, Minor: 3}}
		}, want: []string{"/dev/bogus", "type"}},
		{name: "device path relative", edit: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/rel", Type: "c", Major: 1, Minor: 3}}
		}, want: []string{"dev/rel"}},
		// Issue 20.3 (config-linux.md: a conflicting existing file MUST be
		// refused): a regular file where a device goes is not replaced.
		{name: "device over an existing regular file", prep: func(t *testing.T, b *bundle) {
			rfs := copyRootfs(t, b.dir)
			if err := os.WriteFile(filepath.Join(rfs, "devconflict"), []byte("not a device"), 0o644); err != nil {
				t.Fatal(err)
			}
			var s specs.Spec
			raw, _ := os.ReadFile(filepath.Join(b.dir, "config.json"))
			_ = json.Unmarshal(raw, &s)
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/devconflict", Type: "c", Major: 1, Minor: 3}}
			raw, _ = json.Marshal(&s)
			if err := os.WriteFile(filepath.Join(b.dir, "config.json"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"linux.devices[0]: /devconflict: a regular file is already there"}},
		{name: "hook path relative", edit: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "bin/true"}}}
		}, want: []string{"bin/true", "hook"}},
		{name: "memory limit below usage", edit: func(s *specs.Spec) {
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: int64p(4096)}
		}, want: []string{"memory"}},
		{name: "cpu shares a string", raw: editJSON("linux.resources.cpu.shares", "lots"), want: []string{"shares", "cpu"}},
		{name: "apparmor profile without apparmor", edit: func(s *specs.Spec) { s.Process.ApparmorProfile = "hull-test" }, want: []string{"apparmor"}},
		{name: "selinux label without selinux", edit: func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, want: []string{"selinux"}},
		{name: "scheduler unknown policy", edit: func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_BOGUS"} }, want: []string{"SCHED_BOGUS"}},
		{name: "ioPriority unknown class", edit: func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_BOGUS"} }, want: []string{"IOPRIO_CLASS_BOGUS"}},
		{name: "personality unknown domain", edit: func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX_BOGUS"} }, want: []string{"LINUX_BOGUS"}},
		// Bad ids.
		{name: "id ..", args: withID(".."), want: []string{`".."`, "id"}},
		{name: "id .", args: withID("."), want: []string{`"."`, "id"}},
		{name: "id with slash", args: withID("a/b"), want: []string{"a/b"}},
		{name: "id escaping", args: withID("../escape"), want: []string{"../escape"}},
		{name: "id empty", args: withID(""), want: []string{"id"}},
		{name: "id 1000 chars", args: withID(strings.Repeat("x", 1000)), want: []string{"id", "long"}},
		{name: "id 5000 chars", args: withID(strings.Repeat("y", 5000)), want: []string{"id", "long"}},
		{name: "id with space", args: withID("a b"), want: []string{"a b"}},
		{name: "id with newline", args: withID("a\nb"), want: []string{"id"}},
		{name: "id leading dash", args: func(id, b string) []string { return []string{"create", "--bundle", b, "--", "-x"} }, want: []string{"-x", "id"}},
		// Bad flags and files.
		{name: "bundle missing", args: func(id, b string) []string { return []string{"create", "--bundle", "/nonexistent/bundle", id} }, want: []string{"/nonexistent/bundle"}},
		{name: "config.json a directory", prep: func(t *testing.T, b *bundle) {
			os.Remove(filepath.Join(b.dir, "config.json"))
			if err := os.Mkdir(filepath.Join(b.dir, "config.json"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"config.json"}},
		{name: "pid file in a missing dir", args: create("--pid-file", "/nonexistent/dir/pid"), want: []string{"/nonexistent/dir/pid", "pid file"}},
		{name: "console socket not a socket", edit: func(s *specs.Spec) { s.Process.Terminal = true },
			args: create("--console-socket", "/etc/hostname"), want: []string{"/etc/hostname", "console"}},
		{name: "console socket missing", edit: func(s *specs.Spec) { s.Process.Terminal = true },
			args: create("--console-socket", "/nonexistent/sock"), want: []string{"/nonexistent/sock", "console"}},
		{name: "console socket nobody listens", edit: func(s *specs.Spec) { s.Process.Terminal = true },
			prep: func(t *testing.T, b *bundle) {
				l, err := net.Listen("unix", filepath.Join(b.dir, "sock"))
				if err != nil {
					t.Fatal(err)
				}
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close() // the socket file stays; nobody accepts
			}, args: func(id, b string) []string {
				return []string{"create", "--bundle", b, "--console-socket", filepath.Join(b, "sock"), id}
			}, want: []string{"console"}},
		{name: "terminal without console socket", edit: func(s *specs.Spec) { s.Process.Terminal = true }, want: []string{"console-socket", "tty"}},
		{name: "preserve-fds negative", args: create("--preserve-fds", "-1"), want: []string{"preserve-fds"}},
		{name: "preserve-fds not open", args: create("--preserve-fds", "50"), want: []string{"preserve-fds", "fd"}},
		// Commands on a running container.
		{name: "kill unknown signal", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, "SIGBOGUS"} }, want: []string{"SIGBOGUS", "signal"}},
		{name: "kill signal 0", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, "0"} }, want: []string{"signal"}},
		{name: "kill signal 65", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, "65"} }, want: []string{"signal"}},
		{name: "kill signal -9", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, "--", "-9"} }, want: []string{"signal"}},
		{name: "kill empty signal", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, ""} }, want: []string{"signal"}},
		{name: "kill huge signal number", onRunning: true, args: func(id, b string) []string { return []string{"kill", id, "99999999999999999999"} }, want: []string{"signal"}},
		{name: "update resources file missing", onRunning: true, args: func(id, b string) []string {
			return []string{"update", "--resources", "/nonexistent/res.json", id}
		}, want: []string{"/nonexistent/res.json", "resources"}},
		{name: "update resources malformed", onRunning: true, args: func(id, b string) []string {
			return []string{"update", "--resources", writeTemp("{\"memory\": {\"limit\": ", "res-"), id}
		}, want: []string{"resources"}},
		{name: "update resources wrong type", onRunning: true, args: func(id, b string) []string {
			return []string{"update", "--resources", writeTemp(`{"pids": {"limit": "lots"}}`, "res-"), id}
		}, want: []string{"resources", "limit"}},
		{name: "update resources a directory", onRunning: true, args: func(id, b string) []string {
			return []string{"update", "--resources", "/etc", id}
		}, want: []string{"resources", "/etc"}},
		{name: "update memory not a size", onRunning: true, args: func(id, b string) []string { return []string{"update", "--memory", "lots", id} }, want: []string{"--memory"}},
		{name: "update blkio weight out of range", onRunning: true, args: func(id, b string) []string { return []string{"update", "--blkio-weight", "5", id} }, want: []string{"--blkio-weight"}},
		{name: "update cpu-share negative", onRunning: true, args: func(id, b string) []string { return []string{"update", "--cpu-share", "-1", id} }, want: []string{"--cpu-share"}},
		{name: "exec user not a number", onRunning: true, args: func(id, b string) []string { return []string{"exec", "--user", "root:x", id, "true"} }, want: []string{"--user"}},
		{name: "exec user huge", onRunning: true, args: func(id, b string) []string { return []string{"exec", "--user", "99999999999", id, "true"} }, want: []string{"--user"}},
		{name: "exec user -1", onRunning: true, args: func(id, b string) []string { return []string{"exec", "--user", "4294967295", id, "true"} }, want: []string{"--user"}},
		{name: "exec group -1", onRunning: true, args: func(id, b string) []string { return []string{"exec", "--user", "0:4294967295", id, "true"} }, want: []string{"--user"}},
		{name: "exec additional gid -1", onRunning: true, args: func(id, b string) []string {
			return []string{"exec", "--additional-gids", "4294967295", id, "true"}
		}, want: []string{"additionalGids", "additional-gids"}},
		{name: "exec process file uid -1", onRunning: true, args: func(id, b string) []string {
			return []string{"exec", "--process", writeTemp(`{"args": ["true"], "cwd": "/", "user": {"uid": 4294967295, "gid": 0}}`, "proc-"), id}
		}, want: []string{"process.user.uid"}},
		{name: "exec cwd relative", onRunning: true, args: func(id, b string) []string { return []string{"exec", "--cwd", "tmp", id, "true"} }, want: []string{"cwd"}},
		{name: "exec process file malformed", onRunning: true, args: func(id, b string) []string {
			return []string{"exec", "--process", writeTemp(`{"args": [`, "proc-"), id}
		}, want: []string{"process", "invalid JSON"}},
		{name: "exec missing binary", onRunning: true, args: func(id, b string) []string { return []string{"exec", id, "/bin/no-such-binary"} }, want: []string{"no-such-binary"}},
		{name: "state of id ..", args: func(id, b string) []string { return []string{"state", ".."} }, want: []string{`".."`}},
		{name: "delete of id with slash", args: func(id, b string) []string { return []string{"delete", "a/../b"} }, want: []string{"a/../b"}},
		{name: "start of a missing container", args: func(id, b string) []string { return []string{"start", id} }, want: []string{"does not exist"}},
	}
	return cs
}

// userNS gives the container a user namespace mapping 0-65535 to
// 100000-165535 on the host.
func userNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// unknownSyscallProfile allows everything but mkdir (EPERM) and names a
// syscall no libseccomp knows.
func unknownSyscallProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"hull_no_such_syscall"}, Action: specs.ActErrno},
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
	}}
}

// TestSeccompLeavesNothing (issue 20): a profile naming a syscall
// libseccomp does not know runs (the name is skipped, the rest applies),
// through run, exec and delete, and leaves nothing under the state root.
func TestSeccompLeavesNothing(t *testing.T) {
	if left := rootLeftovers(); len(left) > 0 {
		t.Fatalf("state root not clean before the test: %v", left)
	}
	// run: the profile applies (mkdir fails), the container goes.
	id := newID("seccomp-run")
	b := newBundle(t, id, func(s *specs.Spec) {
		s.Linux.Seccomp = unknownSyscallProfile()
		s.Process.Args = []string{"sh", "-c", "mkdir /tmp/d 2>/dev/null && exit 0 || exit 42"}
	})
	r := testEnv.call(t, callOpts{dir: b.dir}, "run", "--bundle", b.dir, id)
	if r.code != 42 {
		t.Errorf("want exit 42 (mkdir refused by the profile): %v", r)
	}
	testEnv.call(t, callOpts{}, "delete", "--force", id)
	checkClean(t, []string{id}, []string{b.dir})

	// exec into a container with the profile, twice (the second may use
	// a compiled program kept from the first), then delete.
	id = newID("seccomp-exec")
	b = newBundle(t, id, func(s *specs.Spec) { s.Linux.Seccomp = unknownSyscallProfile() })
	testEnv.mustHull(t, "run", "-d", "--bundle", b.dir, id)
	for i := 0; i < 2; i++ {
		r := testEnv.hull(t, "exec", id, "sh", "-c", "mkdir /tmp/e 2>/dev/null && exit 0 || exit 42")
		if r.code != 42 {
			t.Errorf("exec %d: want exit 42 (mkdir refused by the profile): %v", i, r)
		}
	}
	cleanup(t, []string{id}, []string{b.dir})
}

// TestExecUserNotMapped (issue 20): exec --user with an id the container's
// user namespace does not map is refused naming --user, and the container
// keeps running.
func TestExecUserNotMapped(t *testing.T) {
	id := newID("userns-exec")
	b := newBundle(t, id, func(s *specs.Spec) {
		userNS(s)
		s.Process.Capabilities = nil
	})
	r := testEnv.hull(t, "run", "-d", "--bundle", b.dir, id)
	if r.code != 0 {
		t.Skipf("a user namespace container does not run here (mapped ids must reach the rootfs %s): %v", testEnv.rootfs, r)
	}
	defer cleanup(t, []string{id}, []string{b.dir})
	testEnv.mustHull(t, "exec", "--user", "1000:1000", id, "true")
	for _, user := range []string{"70000", "0:70000", "4294967295"} {
		r := testEnv.hull(t, "exec", "--user", user, id, "true")
		msg := strings.TrimSpace(r.stderr)
		if r.code == 0 || !strings.Contains(msg, "--user") || strings.Count(msg, "\n") > 0 {
			t.Errorf("exec --user %s: want one line naming --user: %v", user, r)
		}
		t.Logf("%s", msg)
	}
	if st, ok := stateOf(t, id); !ok || st.Status != "running" {
		t.Errorf("the container changed: %+v", st)
	}
}

// writeTemp writes data to a new file in the scratch dir and returns its path.
func writeTemp(data, prefix string) string {
	f, err := os.CreateTemp(testEnv.tmp, prefix)
	if err != nil {
		return "/nonexistent/tmp"
	}
	defer f.Close()
	_, _ = f.WriteString(data)
	return f.Name()
}

// copyRootfs copies the shared rootfs into the bundle (for cases that
// change it) and points the config at the copy.
func copyRootfs(t *testing.T, bdir string) string {
	t.Helper()
	dst := filepath.Join(bdir, "rootfs")
	// Started through the registry: the orphan reaper takes any zombie
	// child it does not know, and would take cp's from cmd.Wait.
	cmd := exec.Command("cp", "-a", testEnv.rootfs, dst)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := reg.start(cmd); err != nil {
		t.Fatalf("cp rootfs: %v", err)
	}
	err := cmd.Wait()
	reg.done(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("cp rootfs: %v: %s", err, out.String())
	}
	var s specs.Spec
	b, _ := os.ReadFile(filepath.Join(bdir, "config.json"))
	_ = json.Unmarshal(b, &s)
	s.Root.Path = "rootfs"
	b, _ = json.Marshal(&s)
	if err := os.WriteFile(filepath.Join(bdir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestBadInput is the catalogue of hostile inputs: each fails with a
// non-zero exit, one line on stderr naming the field, and leaves nothing
// (and a running container it targets keeps running, untouched).
func TestBadInput(t *testing.T) {
	cases := badCases()
	if len(cases) < 50 {
		t.Fatalf("catalogue has %d cases, want at least 50", len(cases))
	}
	// One running container serves the cases that target one.
	runID := newID("bad-target")
	rb := newBundle(t, runID, nil)
	testEnv.mustHull(t, "run", "-d", "--bundle", rb.dir, runID)
	target, _ := stateOf(t, runID)
	reg.keep(target.Pid)
	defer cleanup(t, []string{runID}, []string{rb.dir})
	defer reg.done(target.Pid)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := newID("bad-" + c.name)
			b := newBundle(t, id, c.edit)
			if c.raw != nil {
				valid, _ := os.ReadFile(filepath.Join(b.dir, "config.json"))
				if err := os.WriteFile(filepath.Join(b.dir, "config.json"), c.raw(valid), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.prep != nil {
				c.prep(t, b)
			}
			args := []string{"create", "--bundle", b.dir, id}
			if c.args != nil {
				target := id
				if c.onRunning {
					target = runID
				}
				args = c.args(target, b.dir)
			}
			r := testEnv.call(t, callOpts{timeout: 30 * time.Second, dir: b.dir}, args...)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			if r.code == 0 {
				t.Errorf("accepted: %v", r)
			} else {
				msg := strings.TrimSpace(r.stderr)
				lines := strings.Split(msg, "\n")
				if msg == "" || len(lines) != 1 {
					t.Errorf("want one line on stderr, got %d: %q", len(lines), msg)
				}
				named := false
				for _, w := range c.want {
					if strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
						named = true
					}
				}
				if !named {
					t.Errorf("the message names none of %q: %q", c.want, msg)
				}
				t.Logf("%s", msg)
			}
			if c.onRunning {
				if st, ok := stateOf(t, runID); !ok || st.Status != "running" || st.Pid != target.Pid {
					t.Errorf("the target container changed: %+v (was %+v)", st, target)
				}
			}
			checkClean(t, []string{id}, []string{b.dir})
			if r.code == 0 && !c.onRunning {
				cleanup(t, []string{id}, []string{b.dir})
			}
		})
	}
}
