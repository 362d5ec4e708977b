package libct

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
	"github.com/hullrt/hull/libct/seccomp"
)

// liveSys is finalSys on the real kernel, for the calling thread of
// `hull init` (locked: capabilities, credentials, seccomp and LSM exec
// labels belong to the thread that calls execve).
type liveSys struct{ in *initProc }

func (liveSys) writeProc(rel, data string) error { return writeProcFile(rel, data) }

func (liveSys) schedSetattr(attr *unix.SchedAttr) error {
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("sched_setattr policy %d: %w", attr.Policy, err)
	}
	return nil
}

func (liveSys) ioprioSet(prio int) error { return setIOPriority(prio) }

// allCPUs is a CPU mask with every bit set, for 8192 CPUs (the kernel's
// largest NR_CPUS): sched_setaffinity clamps it to the CPUs of the
// cpuset. unix.CPUSet holds 1024, which would leave out CPUs above
// (runc#5023).
var allCPUs = func() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = 0xff
	}
	return b
}()

func (liveSys) setAffinity(set *unix.CPUSet) error {
	if set == nil {
		_, _, e := unix.RawSyscall(unix.SYS_SCHED_SETAFFINITY, 0, uintptr(len(allCPUs)), uintptr(unsafe.Pointer(&allCPUs[0])))
		if e != 0 {
			return fmt.Errorf("sched_setaffinity: %w", e)
		}
		return nil
	}
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("sched_setaffinity: %w", err)
	}
	return nil
}

func (liveSys) lsmExecLabel(lsm, label string) error { return applyLSMLabel(lsm, label) }

func (liveSys) noNewPrivs() error { return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }

func (s liveSys) loadSeccomp(bpf []byte, flags uint) error {
	return loadSeccomp(s.in, &seccomp.Filter{Program: bpf, Flags: flags})
}

func (liveSys) dropBounding(keep uint64, last int) error {
	return capabilities.DropBounding(keep, last)
}

// setgroups, setresgid and setresuid act on this thread only (raw
// syscalls: the thread that calls execve is what counts).
func (liveSys) setgroups(gids []int) error {
	if err := unix.Setgroups(gids); err != nil && !(errors.Is(err, unix.EPERM) && len(gids) == 0) {
		return fmt.Errorf("setgroups %v: %w", gids, err)
	}
	return nil
}

func (liveSys) setresgid(gid int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", gid, e)
	}
	return nil
}

func (liveSys) keepCaps(on bool) error {
	if on {
		return capabilities.KeepCapsForSetuid()
	}
	return capabilities.ClearKeepCaps()
}

func (liveSys) setresuid(uid int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	return nil
}

func (liveSys) capset(eff, perm, inh uint64) error { return capabilities.SetCaps(eff, perm, inh) }

func (liveSys) ambient(amb uint64, last int) error { return capabilities.SetAmbient(amb, last) }

func (liveSys) umask(mask int) { unix.Umask(mask) }

func (liveSys) passwdHome(uid uint32) string { return passwdHome("/etc/passwd", uid) }

func (liveSys) chdir(dir string) error { return chdirVerified(dir) }

func (s liveSys) closeFds(first int) error { return closeExtraFds(first, s.in.neededFds()) }

func (liveSys) lookPath(file string, env []string) (string, error) { return lookPath(file, env) }

func (s liveSys) ready(hooks []byte) error { return s.in.sendReady(hooks) }

// landlock applies process.landlock; notes about what best effort skips go
// to the process's stderr (the parent is gone by then).
func (liveSys) landlock(l *configs.Landlock) error { return landlock.Apply(l, os.Stderr) }

func (liveSys) setrlimit(resource int, soft, hard uint64) error {
	lim := unix.Rlimit{Cur: soft, Max: hard}
	if err := unix.Prlimit(0, resource, &lim, nil); err != nil {
		return fmt.Errorf("setrlimit %s: %w", rlimitName(resource), err)
	}
	return nil
}

func (s liveSys) execve(path string, args, env []string) error {
	if err := passPreserved(s.in.boot.Preserve); err != nil {
		return err
	}
	return unix.Exec(path, args, env)
}

// memoryPolicy is set_mempolicy(2) for the calling thread, inherited by
// what it execs.
func (liveSys) memoryPolicy(mode int, nodes []uint64, maxnode uint64) error {
	var p unsafe.Pointer
	if len(nodes) > 0 {
		p = unsafe.Pointer(&nodes[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SET_MEMPOLICY, uintptr(mode), uintptr(p), uintptr(maxnode)); e != 0 {
		return fmt.Errorf("set_mempolicy mode %#x: %w", mode, e)
	}
	return nil
}

func (s liveSys) console(pty bool, uid int, rows, cols uint16) error {
	if pty {
		if err := s.in.setupConsole(uid, rows, cols); err != nil {
			return err
		}
	}
	return controllingTerminal()
}

func (liveSys) unshare(flags int) error {
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare %#x: %w", flags, err)
	}
	return nil
}

// joinKeyring gives init a session keyring of its own, so the container
// cannot read the host's keys; ENOSYS and EACCES (keyrings off, or
// confined) are fine.
func (liveSys) joinKeyring(name string) error {
	if _, err := unix.KeyctlJoinSessionKeyring(name); err != nil && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EACCES) {
		return fmt.Errorf("join session keyring %s: %w", name, err)
	}
	return nil
}

func (liveSys) personality(persona uint64) error {
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(persona), 0, 0); e != 0 {
		return fmt.Errorf("personality %#x: %w", persona, e)
	}
	return nil
}

func (s liveSys) setup() error { return s.in.setupContainer() }

// errnoMsg is a failure whose message does not show the errno behind it
// (the C executor reports the same errno for the same failure).
type errnoMsg struct {
	msg   string
	errno unix.Errno
}

func (e errnoMsg) Error() string { return e.msg }
func (e errnoMsg) Unwrap() error { return e.errno }

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
		return errnoMsg{fmt.Sprintf("cwd %s resolves outside the container root", cwd), unix.ENOENT}
	}
	if err != nil {
		return fmt.Errorf("getcwd after chdir %s: %w", cwd, err)
	}
	if !strings.HasPrefix(wd, "/") {
		return errnoMsg{fmt.Sprintf("cwd %s resolves outside the container root (%s)", cwd, wd), unix.ENOENT}
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
	return "", errnoMsg{fmt.Sprintf("exec %q: executable file not found in $PATH", file), unix.ENOENT}
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

// writeSysctls writes linux.sysctl through the verified procfs handle.
func writeSysctls(s map[string]string) error {
	for k, v := range s {
		rel := "sys/" + configs.SysctlPath(k)
		if err := writeProcFile(rel, v); err != nil {
			return fmt.Errorf("%s=%s: %w", k, v, err)
		}
	}
	return nil
}
