package conformance

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allGroups are the checker groups that apply to every container ("root"
// checks root.readonly, which the default config leaves false: see
// TestRootReadonly).
var allGroups = []string{"process", "user", "caps", "rlimits", "identity", "mounts", "defaultfs",
	"masked", "readonly", "devices", "devlinks", "namespaces"}

func TestDefaultConfig(t *testing.T) {
	b := newBundle(t)
	ok := runChecker(t, b, allGroups...)
	record(t, "RT-LIFE-CREATE-ENV", ok, "the in-container checks of the default configuration passed")
}

func TestProcess(t *testing.T) {
	cases := []struct {
		name   string
		groups []string
		edit   func(*specs.Spec)
	}{
		{"cwd-env-args", []string{"process"}, func(s *specs.Spec) {
			s.Process.Cwd = "/tmp"
			s.Process.Env = append(s.Process.Env, "CONFORMANCE_VALUE=with spaces and = sign", "EMPTY=")
		}},
		{"user", []string{"user", "process"}, func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 100}, Umask: u32(0o027)}
		}},
		{"umask-root", []string{"user"}, func(s *specs.Spec) {
			s.Process.User.Umask = u32(0o077)
		}},
		{"capabilities", []string{"caps"}, func(s *specs.Spec) {
			set := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}
			s.Process.Capabilities = &specs.LinuxCapabilities{
				Bounding: set, Permitted: set, Effective: set[:3],
				Inheritable: []string{"CAP_KILL", "CAP_CHOWN"}, Ambient: []string{"CAP_KILL"},
			}
		}},
		{"rlimits", []string{"rlimits"}, func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Soft: 1000, Hard: 2000},
				{Type: "RLIMIT_CORE", Soft: 1024, Hard: 4096},
				{Type: "RLIMIT_NPROC", Soft: 500, Hard: 1000},
				{Type: "RLIMIT_MSGQUEUE", Soft: 8192, Hard: 16384},
				{Type: "RLIMIT_STACK", Soft: 4 << 20, Hard: 8 << 20},
			}
		}},
		{"no-new-privileges", []string{"process"}, func(s *specs.Spec) { s.Process.NoNewPrivileges = true }},
		{"oom-score-adj", []string{"process"}, func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(500) }},
		{"oom-score-adj-unset", []string{"process"}, func(s *specs.Spec) { s.Process.OOMScoreAdj = nil }},
		{"hostname-domainname", []string{"identity"}, func(s *specs.Spec) {
			s.Hostname, s.Domainname = "conformance-host", "conformance.test"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBundle(t)
			tc.edit(b.Spec)
			runChecker(t, b, tc.groups...)
		})
	}
}

// TestUngrantableCapability asks for a capability outside the runtime's own
// bounding set (when the host has such a one): the runtime must warn and go
// on, not fail.
func TestUngrantableCapability(t *testing.T) {
	missing := ""
	hostBnd, err := statusField("/proc/self/status", "CapBnd")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"CAP_SYS_RESOURCE", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_MAC_ADMIN"} {
		if !capInMask(hostBnd, name) {
			missing = name
			break
		}
	}
	if missing == "" {
		skipClause(t, "CFG-CAPS-WARN", "the runtime's bounding set holds every probed capability (host probe)")
	}
	rt := newRuntime(t)
	b := newBundle(t)
	set := []string{"CAP_KILL", missing}
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: set, Permitted: set, Effective: set}
	b.Spec.Process.Args = []string{"/checker", "caps"}
	c := newCtr(t, rt, b)
	res := c.create()
	record(t, "CFG-CAPS-WARN", res.OK(), "create asking for %s, which the runtime lacks: %v %s", missing, res.Err, trim(res.Stderr))
	record(t, "CFG-CAPS-NO-FAIL", res.OK(), "create asking for %s, which the runtime lacks: %v %s", missing, res.Err, trim(res.Stderr))
	record(t, "RT-WARNINGS-CONTINUE", res.OK(), "create continues after the capability warning: %v %s", res.Err, trim(res.Stderr))
	if !res.OK() {
		return
	}
	c.mustStart()
	c.mustWaitStatus("stopped")
	c.recordChecker()
}

func capInMask(hex, name string) bool { return capMaskHas(hex, capIndex[name]) }

func TestConsoleSizeIgnoredWithoutTerminal(t *testing.T) {
	b := newBundle(t)
	b.Spec.Process.Terminal = false
	b.Spec.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
	ok := runChecker(t, b, "process")
	record(t, "CFG-PROC-CONSOLESIZE-IGNORED", ok, "terminal false with consoleSize set: the container ran and its checks passed")
}

// TestSchedulingAndIOPriority: process.scheduler and process.ioPriority are
// applied, or refused by a runtime that does not support them.
func TestSchedulingAndIOPriority(t *testing.T) {
	cases := []struct {
		name, field string
		edit        func(*specs.Process)
	}{
		{"scheduler", "scheduler", func(p *specs.Process) { p.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5} }},
		{"io-priority", "ioPriority", func(p *specs.Process) {
			p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 3}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRuntime(t)
			b := newBundle(t)
			tc.edit(b.Spec.Process)
			b.Spec.Process.Args = []string{"/checker", "sched"}
			c := newCtr(t, rt, b)
			if res := c.create(); !res.OK() {
				// features.md has no entry for these: any refusal that
				// names the field is one.
				recordRefusal(t, "CFG-VALID-VALUES", res, "process."+tc.field, "", tc.field)
				return
			}
			c.mustStart()
			c.mustWaitStatus("stopped")
			c.recordChecker()
		})
	}
}
