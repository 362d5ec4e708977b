package libct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
)

// setupProcess gives the process its credentials and security context,
// in the order the kernel needs: procfs writes and LSM exec labels while
// still privileged, the bounding set before setuid, the other capability
// sets after it, and seccomp last (see finalSecurity).
func (in *initProc) setupProcess() error {
	p := in.proc
	if p.OOMScoreAdj != nil {
		if err := writeProcFile("self/oom_score_adj", strconv.Itoa(*p.OOMScoreAdj)); err != nil {
			return stage("oom_score_adj", err)
		}
	}
	if p.Scheduler != nil {
		if err := setScheduler(p.Scheduler); err != nil {
			return stage("scheduler", err)
		}
	}
	if p.IOPriority != nil {
		if err := setIOPriority(p.IOPriority); err != nil {
			return stage("ioPriority", err)
		}
	}
	if a := p.ExecCPUAffinity; a != nil && a.Final != "" {
		if err := setCPUAffinity(a.Final); err != nil {
			return stage("execCPUAffinity", err)
		}
	}
	if err := applyLSMLabels(p); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return stage("no_new_privs", err)
		}
	}
	if !p.NoNewPrivileges {
		// Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which
		// the process may be about to lose: load it now.
		if err := loadSeccomp(in); err != nil {
			return err
		}
	}
	if err := capabilities.ApplyBounding(p.Capabilities); err != nil {
		return stage("capabilities", err)
	}
	if err := setCredentials(p); err != nil {
		return stage("setuid", err)
	}
	if err := capabilities.Apply(p.Capabilities); err != nil {
		return stage("capabilities", err)
	}
	// runc's default umask when the config has none, rather than
	// whatever hull was started with.
	umask := 0o022
	if p.Umask != nil {
		umask = int(*p.Umask)
	}
	unix.Umask(umask)
	p.Env = withHome(p.Env, p.UID)
	if err := chdirVerified(p.Cwd); err != nil {
		return stage("cwd", err)
	}
	return nil
}

// finalSecurity runs right before execve: with no_new_privs the seccomp
// filter is loaded as late as possible, so that none of hull's own setup
// is filtered.
func (in *initProc) finalSecurity() error {
	if in.proc.NoNewPrivileges {
		return loadSeccomp(in)
	}
	return nil
}

// setCredentials switches to the process's groups, gid and uid on this
// thread (raw syscalls: the thread that calls execve is what counts),
// keeping the permitted capabilities across the uid change.
func setCredentials(p *configs.Process) error {
	gids := make([]int, len(p.AdditionalGids))
	for i, g := range p.AdditionalGids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil && !(errors.Is(err, unix.EPERM) && len(gids) == 0) {
		return fmt.Errorf("setgroups %v: %w", gids, err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(p.GID), uintptr(p.GID), uintptr(p.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", p.GID, e)
	}
	if err := capabilities.KeepCapsForSetuid(); err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(p.UID), uintptr(p.UID), uintptr(p.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", p.UID, e)
	}
	return capabilities.ClearKeepCaps()
}

// chdirVerified changes into cwd and checks that the result is inside the
// container's root: a cwd of /proc/self/fd/N naming a leaked host
// directory fd would put the process outside it (CVE-2024-21626), and
// getcwd(2) then answers "(unreachable)/...".
func chdirVerified(cwd string) error {
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if errors.Is(err, unix.ENOENT) {
		// The kernel's answer for a directory not under the root.
		return fmt.Errorf("cwd %s resolves outside the container root", cwd)
	}
	if err != nil {
		return fmt.Errorf("getcwd after chdir %s: %w", cwd, err)
	}
	if !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("cwd %s resolves outside the container root (%s)", cwd, wd)
	}
	return nil
}

// closeExtraFds marks every fd from first on close-on-exec, so that no
// fd of hull (or one inherited from whoever started it) reaches the
// container process (CVE-2024-21626).
func closeExtraFds(first int) error {
	// close_range(CLOSE_RANGE_CLOEXEC) (Linux 5.11) needs no /proc: the
	// container's /proc, which exec sees, could be a fake with an empty
	// fd directory.
	const closeRangeCloexec = 1 << 2
	if err := unix.CloseRange(uint(first), ^uint(0), closeRangeCloexec); err == nil {
		return nil
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	dfd := int(d.Fd())
	if err != nil {
		d.Close()
		return err
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < first || fd == dfd {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return d.Close()
}

// setRlimits applies the rlimits right before execve: a low RLIMIT_NOFILE
// or RLIMIT_AS would otherwise break hull's own setup.
func setRlimits(rl []configs.Rlimit) error {
	for _, r := range rl {
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(0, r.Type, &lim, nil); err != nil {
			return fmt.Errorf("setrlimit %s: %w", rlimitName(r.Type), err)
		}
	}
	return nil
}

func rlimitName(t int) string {
	names := map[int]string{
		unix.RLIMIT_AS: "RLIMIT_AS", unix.RLIMIT_CORE: "RLIMIT_CORE", unix.RLIMIT_CPU: "RLIMIT_CPU",
		unix.RLIMIT_DATA: "RLIMIT_DATA", unix.RLIMIT_FSIZE: "RLIMIT_FSIZE", unix.RLIMIT_LOCKS: "RLIMIT_LOCKS",
		unix.RLIMIT_MEMLOCK: "RLIMIT_MEMLOCK", unix.RLIMIT_MSGQUEUE: "RLIMIT_MSGQUEUE", unix.RLIMIT_NICE: "RLIMIT_NICE",
		unix.RLIMIT_NOFILE: "RLIMIT_NOFILE", unix.RLIMIT_NPROC: "RLIMIT_NPROC", unix.RLIMIT_RSS: "RLIMIT_RSS",
		unix.RLIMIT_RTPRIO: "RLIMIT_RTPRIO", unix.RLIMIT_RTTIME: "RLIMIT_RTTIME", unix.RLIMIT_SIGPENDING: "RLIMIT_SIGPENDING",
		unix.RLIMIT_STACK: "RLIMIT_STACK",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return "rlimit " + strconv.Itoa(t)
}

// lookPath resolves the process's args[0] with the PATH of the process's
// own environment (not hull's), as execvp would in the container.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("exec %q: %w", file, err)
		}
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: executable file not found in $PATH", file)
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	return unix.Access(p, unix.X_OK)
}

// withHome adds HOME, as runc does, when the process's environment has
// none: the user's home from the container's /etc/passwd, or "/".
func withHome(env []string, uid uint32) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	return append(env, "HOME="+passwdHome("/etc/passwd", uid))
}

// passwdHome looks uid up in a passwd file of the container's. The file is
// the image's: it is opened without following a final symlink and read
// only if it is a small regular file (a FIFO there must not hang init).
func passwdHome(path string, uid uint32) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return "/"
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > 1<<20 {
		return "/"
	}
	b := make([]byte, st.Size())
	n, _ := f.Read(b)
	want := strconv.FormatUint(uint64(uid), 10)
	for _, line := range strings.Split(string(b[:n]), "\n") {
		fields := strings.Split(line, ":")
		if len(fields) >= 6 && fields[2] == want && fields[5] != "" {
			return fields[5]
		}
	}
	return "/"
}

// sysctlPath turns a sysctl key into its path under /proc/sys: dots
// separate directories and a slash stands for a dot inside a name
// (net.ipv4.conf.eth0/100.rp_filter), as sysctl(8) writes them.
func sysctlPath(key string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

// writeSysctls writes linux.sysctl through the verified procfs handle.
func writeSysctls(s map[string]string) error {
	for k, v := range s {
		rel := "sys/" + sysctlPath(k)
		if err := writeProcFile(rel, v); err != nil {
			return fmt.Errorf("%s=%s: %w", k, v, err)
		}
	}
	return nil
}
