package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// statusField returns a field of /proc/self/status.
func statusField(key string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func checkProcess(c *checker) {
	p := c.spec.Process
	if p == nil {
		c.skip("CFG-PROC-ARGS", "no process in config")
		return
	}
	wd, err := os.Getwd()
	c.expect("CFG-PROC-CWD", err == nil && wd == p.Cwd, "cwd is %q (err %v), config says %q", wd, err, p.Cwd)
	c.expect("CFG-PROC-ARGS", strings.Join(os.Args, "\x00") == strings.Join(p.Args, "\x00"),
		"argv is %q, config says %q", os.Args, p.Args)
	env := map[string]bool{}
	for _, e := range os.Environ() {
		env[e] = true
	}
	var missing []string
	for _, e := range p.Env {
		if !env[e] {
			missing = append(missing, e)
		}
	}
	c.expect("CFG-PROC-ENV", len(missing) == 0, "environment lacks %q", missing)
	if p.NoNewPrivileges {
		v := statusField("NoNewPrivs")
		c.expect("CFG-PROC-NNP", v == "1", "noNewPrivileges is true, /proc/self/status NoNewPrivs is %q", v)
	}
	b, _ := os.ReadFile("/proc/self/oom_score_adj")
	got := strings.TrimSpace(string(b))
	if p.OOMScoreAdj != nil {
		want := strconv.Itoa(*p.OOMScoreAdj)
		c.expect("CFG-PROC-OOM-SET", got == want, "oom_score_adj is %q, config says %s", got, want)
	} else if host := os.Getenv("HOST_OOM"); host != "" {
		c.expect("CFG-PROC-OOM-UNSET", got == host, "oomScoreAdj unset: oom_score_adj is %q, the runtime's is %s", got, host)
	}
}

func checkUser(c *checker) {
	if c.spec.Process == nil {
		return
	}
	u := c.spec.Process.User
	uid, gid := syscall.Getuid(), syscall.Getgid()
	c.expect("CFG-USER", uid == int(u.UID), "uid is %d, config says %d", uid, u.UID)
	c.expect("CFG-USER", gid == int(u.GID), "gid is %d, config says %d", gid, u.GID)
	if len(u.AdditionalGids) > 0 {
		groups, err := syscall.Getgroups()
		have := map[int]bool{}
		for _, g := range groups {
			have[g] = true
		}
		var missing []uint32
		for _, g := range u.AdditionalGids {
			if !have[int(g)] {
				missing = append(missing, g)
			}
		}
		c.expect("CFG-USER", err == nil && len(missing) == 0,
			"supplementary groups %v (err %v) lack additionalGids %v", groups, err, missing)
	}
	if u.Umask != nil {
		got := statusField("Umask")
		want := fmt.Sprintf("%04o", *u.Umask)
		c.expect("CFG-USER", got == want, "umask is %q, config says %s", got, want)
	}
}

// capNames is the kernel's capability numbering (capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func capMask(names []string) (uint64, []string) {
	var m uint64
	var unknown []string
	for _, n := range names {
		found := false
		for i, k := range capNames {
			if k == n {
				m |= 1 << uint(i)
				found = true
			}
		}
		if !found {
			unknown = append(unknown, n)
		}
	}
	return m, unknown
}

func capList(m uint64) []string {
	var out []string
	for i, n := range capNames {
		if m&(1<<uint(i)) != 0 {
			out = append(out, n)
		}
	}
	return out
}

func checkCaps(c *checker) {
	p := c.spec.Process
	if p == nil || p.Capabilities == nil {
		c.skip("CFG-CAPS-SETS", "no process.capabilities in config")
		return
	}
	// Capabilities the runtime itself lacks cannot be granted (the spec
	// says they are a warning, not an error), so expect config & host bounding.
	host := ^uint64(0)
	if v := os.Getenv("HOST_CAPBND"); v != "" {
		if h, err := strconv.ParseUint(v, 16, 64); err == nil {
			host = h
		}
	}
	sets := []struct {
		field string
		want  []string
	}{
		{"CapBnd", p.Capabilities.Bounding}, {"CapEff", p.Capabilities.Effective},
		{"CapInh", p.Capabilities.Inheritable}, {"CapPrm", p.Capabilities.Permitted},
		{"CapAmb", p.Capabilities.Ambient},
	}
	// capabilities(7), "Capabilities and execution of programs by root":
	// unless SECBIT_NOROOT is set, execve as uid 0 sets the effective set to
	// the new permitted set, so a root process's effective set cannot be
	// narrower than its permitted set whatever the runtime does.
	rootExec := syscall.Getuid() == 0 && secureBits()&secbitNoroot == 0
	for _, s := range sets {
		names := s.want
		if s.field == "CapEff" && rootExec {
			names = p.Capabilities.Permitted
		}
		want, _ := capMask(names)
		want &= host
		got, err := strconv.ParseUint(statusField(s.field), 16, 64)
		c.expect("CFG-CAPS-SETS", err == nil && got == want, "%s is %v, config (limited to the runtime's bounding set) says %v",
			s.field, capList(got), capList(want))
	}
}

// rlimitRows maps RLIMIT_* names to their row in /proc/PID/limits.
var rlimitRows = map[string]string{
	"RLIMIT_CPU": "Max cpu time", "RLIMIT_FSIZE": "Max file size", "RLIMIT_DATA": "Max data size",
	"RLIMIT_STACK": "Max stack size", "RLIMIT_CORE": "Max core file size", "RLIMIT_RSS": "Max resident set",
	"RLIMIT_NPROC": "Max processes", "RLIMIT_NOFILE": "Max open files", "RLIMIT_MEMLOCK": "Max locked memory",
	"RLIMIT_AS": "Max address space", "RLIMIT_LOCKS": "Max file locks", "RLIMIT_SIGPENDING": "Max pending signals",
	"RLIMIT_MSGQUEUE": "Max msgqueue size", "RLIMIT_NICE": "Max nice priority",
	"RLIMIT_RTPRIO": "Max realtime priority", "RLIMIT_RTTIME": "Max realtime timeout",
}

func parseLimit(s string) uint64 {
	if s == "unlimited" {
		return ^uint64(0)
	}
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func checkRlimits(c *checker) {
	p := c.spec.Process
	if p == nil || len(p.Rlimits) == 0 {
		c.skip("CFG-RLIMIT-SOFT", "no process.rlimits in config")
		return
	}
	// The Go runtime raises its own RLIMIT_NOFILE soft limit at start-up and
	// restores it for children, so read the limits of a child process.
	out, err := exec.Command("/bin/cat", "/proc/self/limits").Output()
	if err != nil {
		c.fail("CFG-RLIMIT-GETRLIMIT", "read limits of a child: %v", err)
		return
	}
	rows := map[string][2]uint64{}
	for _, l := range strings.Split(string(out), "\n") {
		for name, row := range rlimitRows {
			if strings.HasPrefix(l, row+" ") {
				f := strings.Fields(strings.TrimPrefix(l, row))
				if len(f) >= 2 {
					rows[name] = [2]uint64{parseLimit(f[0]), parseLimit(f[1])}
				}
			}
		}
	}
	for _, r := range p.Rlimits {
		got, ok := rows[r.Type]
		c.expect("CFG-RLIMIT-GETRLIMIT", ok, "getrlimit(%s)", r.Type)
		if !ok {
			continue
		}
		c.expect("CFG-RLIMIT-SOFT", got[0] == r.Soft, "%s soft is %d, config says %d", r.Type, got[0], r.Soft)
		c.expect("CFG-RLIMIT-HARD", got[1] == r.Hard, "%s hard is %d, config says %d", r.Type, got[1], r.Hard)
	}
}

func checkIdentity(c *checker) {
	if h := c.spec.Hostname; h != "" {
		got, err := os.Hostname()
		c.expect("CFG-HOSTNAME", err == nil && got == h, "hostname is %q, config says %q", got, h)
	}
	if d := c.spec.Domain; d != "" {
		b, err := os.ReadFile("/proc/sys/kernel/domainname")
		got := strings.TrimSpace(string(b))
		c.expect("CFG-DOMAINNAME", err == nil && got == d, "domainname is %q (err %v), config says %q", got, err, d)
	}
}

const (
	prGetSecurebits = 27
	secbitNoroot    = 1
)

func secureBits() uintptr {
	r, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, prGetSecurebits, 0, 0)
	return r
}
