package libct

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/nsenter"
)

// The environment of a child in a new user namespace.
const (
	// envUserNSFd names the fd on which a child waits until newuidmap
	// and newgidmap have written its maps (see idMapper).
	envUserNSFd = "_HULL_USERNSFD"
	// envNewIPC asks the child to unshare its IPC namespace itself, as
	// root of its user namespace (see deferIPC).
	envNewIPC = "_HULL_NEWIPC"
)

// A new user namespace gets its uid_map and gid_map from a process outside
// it. There are three ways, by who runs hull and what the maps say:
//
//   - root: the parent writes any maps itself (Go's UidMappings, written
//     between clone and execve while the child waits), and the child
//     becomes uid 0 of the namespace before execve (Credential).
//   - a non-root user mapping only its own uid and gid (one range of size
//     1 each, `hull spec --rootless`): the same, except that the kernel
//     refuses an unprivileged gid_map write unless setgroups is "deny"
//     first (user_namespaces(7), since Linux 3.19, CVE-2014-8989).
//   - a non-root user mapping more (subordinate ids from /etc/subuid and
//     /etc/subgid): only the setuid helpers newuidmap(1) and newgidmap(1)
//     may write such maps. They run after the child exists, so Go cannot
//     wait for them before execve; see idMapper.

// mapsWithHelpers reports whether a non-root caller (euid, egid) needs
// newuidmap/newgidmap for cfg's maps: anything but a single self-map.
func mapsWithHelpers(cfg *configs.Config, euid, egid int) bool {
	if euid == 0 {
		return false
	}
	self := func(m []specs.LinuxIDMapping, id int) bool {
		return len(m) == 1 && m[0].Size == 1 && int(m[0].HostID) == id
	}
	return !self(cfg.UIDMappings, euid) || !self(cfg.GIDMappings, egid)
}

// userNSAttr fills attr for a child started in a new user namespace. It
// returns an idMapper when the maps must be written by newuidmap and
// newgidmap once the child exists; the caller passes its childEnd to the
// child (envUserNSFd), closes it after the start and calls mapIDs.
func userNSAttr(attr *syscall.SysProcAttr, cfg *configs.Config) (*idMapper, error) {
	if err := checkRootMapped(cfg); err != nil {
		return nil, err
	}
	euid, egid := os.Geteuid(), os.Getegid()
	if !mapsWithHelpers(cfg, euid, egid) {
		attr.UidMappings = idMaps(cfg.UIDMappings)
		attr.GidMappings = idMaps(cfg.GIDMappings)
		// An unprivileged writer must deny setgroups before gid_map.
		attr.GidMappingsEnableSetgroups = euid == 0
		// Become root of the new namespace once the maps are written:
		// still the host's uid, unmapped there, execve would drop every
		// capability.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: euid != 0}
		return nil, nil
	}
	m, err := newIDMapper(cfg)
	if err != nil {
		return nil, err
	}
	// The child execs `hull init` before any map exists, as an unmapped
	// uid: execve would leave it no capability in its own namespace, and
	// it could not become root there. Ambient capabilities survive
	// execve for a non-root uid (capabilities(7)); Go raises them in the
	// child right after clone, where the new namespace gives it all.
	for c := 0; c <= capabilities.Last(); c++ {
		attr.AmbientCaps = append(attr.AmbientCaps, uintptr(c))
	}
	return m, nil
}

// idMapper writes a child's maps with newuidmap and newgidmap, then lets
// the child go on: it waits on a pipe (envUserNSFd) before anything else,
// and becomes uid and gid 0 of its namespace once released (becomeRoot).
type idMapper struct {
	uidmap, gidmap string // paths of newuidmap and newgidmap
	uids, gids     []specs.LinuxIDMapping
	// childEnd is the read end, for the child; release the write end.
	childEnd, release *os.File
}

func newIDMapper(cfg *configs.Config) (*idMapper, error) {
	m := &idMapper{uids: cfg.UIDMappings, gids: cfg.GIDMappings}
	var err error
	for _, h := range []struct {
		name string
		path *string
	}{{"newuidmap", &m.uidmap}, {"newgidmap", &m.gidmap}} {
		if *h.path, err = exec.LookPath(h.name); err != nil {
			return nil, fmt.Errorf("user namespace: the id maps go beyond uid %d and gid %d, which only %s may write (Debian package uidmap): %w",
				os.Geteuid(), os.Getegid(), h.name, err)
		}
	}
	if m.childEnd, m.release, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("user namespace: pipe: %w", err)
	}
	return m, nil
}

// close closes both ends of the pipe; a child still waiting then sees EOF
// and exits.
func (m *idMapper) close() {
	m.childEnd.Close()
	m.release.Close()
}

// mapIDs runs newuidmap and newgidmap on pid and releases the child.
func (m *idMapper) mapIDs(pid int) error {
	defer m.release.Close()
	if err := runIDMapHelper(m.uidmap, pid, m.uids, "/etc/subuid"); err != nil {
		return err
	}
	if err := runIDMapHelper(m.gidmap, pid, m.gids, "/etc/subgid"); err != nil {
		return err
	}
	if _, err := m.release.Write([]byte{0}); err != nil {
		return fmt.Errorf("user namespace: release init: %w", err)
	}
	return nil
}

// runIDMapHelper runs `helper PID inside outside count ...`. The helper
// names the range it refused; the error adds the caller's ranges from
// subFile, where most such failures come from.
func runIDMapHelper(helper string, pid int, maps []specs.LinuxIDMapping, subFile string) error {
	args := []string{strconv.Itoa(pid)}
	for _, e := range maps {
		args = append(args, strconv.FormatUint(uint64(e.ContainerID), 10),
			strconv.FormatUint(uint64(e.HostID), 10), strconv.FormatUint(uint64(e.Size), 10))
	}
	cmd := exec.Command(helper, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = []string{}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("user namespace: %s %s: %s (%s)", helper, strings.Join(args, " "), msg, subRangesHint(subFile))
	}
	return nil
}

// subRangesHint describes the caller's ranges in a subordinate id file.
func subRangesHint(file string) string {
	uid := os.Geteuid()
	names := []string{strconv.Itoa(uid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		names = append(names, u.Username)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Sprintf("%s: %v", file, err)
	}
	defer f.Close()
	ranges, err := parseSubIDs(f, names)
	if err != nil {
		return fmt.Sprintf("%s: %v", file, err)
	}
	if len(ranges) == 0 {
		return fmt.Sprintf("%s has no range for %s", file, strings.Join(names, " or "))
	}
	var parts []string
	for _, r := range ranges {
		parts = append(parts, fmt.Sprintf("%d-%d", r.start, r.start+r.count-1))
	}
	return fmt.Sprintf("%s allows %s host ids %s", file, names[len(names)-1], strings.Join(parts, ", "))
}

// subIDRange is one line of /etc/subuid or /etc/subgid: count ids from
// start.
type subIDRange struct{ start, count uint64 }

// parseSubIDs returns the ranges of r (subuid(5) format, name:start:count)
// that belong to any of names (a user name or a numeric id).
func parseSubIDs(r io.Reader, names []string) ([]subIDRange, error) {
	var out []subIDRange
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %q is not name:start:count", n, line)
		}
		mine := false
		for _, name := range names {
			mine = mine || f[0] == name
		}
		if !mine {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, subIDRange{start, count})
	}
	return out, sc.Err()
}

// deferIPC takes CLONE_NEWIPC out of the clone flags of a child in a new
// user namespace, and returns the environment entry that asks the child
// to unshare it itself (enterUserNS), or "".
//
// The kernel mounts a new IPC namespace's mqueue filesystem when the
// namespace is created, owned by the creator's fsuid and fsgid. Made at
// clone time, that is the host uid that started hull, unmapped inside:
// /dev/mqueue would belong to nobody:nogroup and root of the container
// could not chmod it. Made by the child once it is root of its user
// namespace, it belongs to root:root there.
func deferIPC(flags *uintptr) string {
	if *flags&unix.CLONE_NEWUSER == 0 || *flags&unix.CLONE_NEWIPC == 0 {
		return ""
	}
	*flags &^= unix.CLONE_NEWIPC
	return envNewIPC + "=1"
}

// enterUserNS runs first in init. In a child whose maps newuidmap and
// newgidmap write (envUserNSFd set) it waits until the parent says they
// are written, then takes uid and gid 0 of the namespace, with the
// ambient capabilities it was started with. Then, if asked (envNewIPC),
// it unshares the IPC namespace (see deferIPC). Without either it does
// nothing.
//
// It must run before init makes itself non-dumpable: newuidmap checks
// that /proc/PID belongs to the caller, and a non-dumpable process's
// /proc/PID belongs to root.
func enterUserNS() error {
	if p := os.Getenv(envJoinPidNS); p != "" {
		joinPidNS(p) // does not return
	}
	if err := becomeRoot(); err != nil {
		return err
	}
	if os.Getenv(envNewIPC) != "1" {
		return nil
	}
	os.Unsetenv(envNewIPC)
	// Only this thread moves; it is the one that execs the process
	// (init is locked to the main thread), and /proc/PID/ns/ipc, which
	// exec joins, is the main thread's.
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		err = fmt.Errorf("user namespace: unshare the ipc namespace: %w", err)
		fmt.Fprintf(os.Stderr, "hull init: %v\n", err)
		return err
	}
	return nil
}

func becomeRoot() error {
	v, ok := os.LookupEnv(envUserNSFd)
	if !ok {
		return nil
	}
	fd, err := envFd(envUserNSFd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "userns")
	defer f.Close()
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		// The parent failed to map us and reports why itself.
		return fmt.Errorf("user namespace: wait for the id maps (fd %s): %w", v, err)
	}
	// syscall's, not x/sys's: they change every thread of the process
	// (through libc with cgo), so that no thread is left unmapped.
	err = syscall.Setresgid(0, 0, 0)
	if err == nil {
		err = syscall.Setresuid(0, 0, 0)
	}
	if err != nil {
		// Not yet on the sync pipe: say it on stderr, the parent only
		// sees init exit.
		err = fmt.Errorf("user namespace: become uid and gid 0: %w", err)
		fmt.Fprintf(os.Stderr, "hull init: %v\n", err)
	}
	return err
}

// checkRootMapped: init sets the container up as uid and gid 0 of its
// user namespace (as runc does), so the maps must give it those ids.
func checkRootMapped(cfg *configs.Config) error {
	for _, m := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"linux.uidMappings", cfg.UIDMappings}, {"linux.gidMappings", cfg.GIDMappings}} {
		ok := false
		for _, e := range m.maps {
			ok = ok || (e.ContainerID == 0 && e.Size > 0)
		}
		if !ok {
			return fmt.Errorf("%s: id 0 is not mapped: hull sets the container up as root of its user namespace", m.name)
		}
	}
	return nil
}

// createsUserNS reports whether cfg asks for a new user namespace.
func createsUserNS(cfg *configs.Config) bool {
	ns, ok := cfg.Namespace(configs.NEWUSER)
	return ok && ns.Path == ""
}

// Joining a running container's pid namespace as a non-root user.
//
// setns(CLONE_NEWPID) needs CAP_SYS_ADMIN over the target namespace and
// also in the caller's own user namespace (kernel/pid_namespace.c,
// pidns_install): hull's parent, a non-root user on the host, has the
// first (it owns the container's user namespace) but never the second, so
// it cannot join for the child as it does for root. The child can: the
// nsenter constructor puts it in the container's user namespace first,
// where it holds every capability. setns(CLONE_NEWPID) only changes where
// the caller's children go, so the child joins, starts `hull init` once
// more with CLONE_PARENT (the new process is the parent's child, which
// waits for it as for any other), tells the parent its pid over the sync
// socket and exits. The new process has every fd the first one inherited
// at the same number, and execs hull's binary as /proc/self/fd/N.
//
// The first child stays in the host's mount namespace and the second
// joins the container's (nsenter, after execve): that path is resolved in
// the host's /proc. Resolved in the container's, a process of the
// container could mount its own /proc there and have a binary of its
// choosing run with every capability and hull's fds (the class of
// CVE-2019-5736 and CVE-2024-21626).
const (
	// envJoinPidNS is the fd of the pid namespace the child joins itself.
	envJoinPidNS = "_HULL_JOINPIDNS"
	// envJoinMntNS is the mount namespace path for the second child.
	envJoinMntNS = "_HULL_JOINMNTNS"
	// envExeFd is the fd of hull's binary, for the second start.
	envExeFd = "_HULL_EXEFD"
)

// syncExecPid: child to parent, first and only message of the child that
// joined the pid namespace for the parent; Fd carries the pid of the
// `hull init` it started there.
const syncExecPid syncType = "execPid"

// joinPidNSInChild reports whether the child must join the pid namespace
// itself (see above): a non-root caller joining a user namespace.
func joinPidNSInChild(join map[configs.NamespaceType]string) bool {
	_, user := join[configs.NEWUSER]
	_, pid := join[configs.NEWPID]
	return os.Geteuid() != 0 && user && pid
}

// forkedChild reads the pid the first child reports and reaps that
// child; the process at pid is the one the protocol goes on with.
func forkedChild(sock *os.File, first *os.Process) (*os.Process, error) {
	var m syncMsg
	err := json.NewDecoder(sock).Decode(&m)
	ps, werr := first.Wait()
	switch {
	case err != nil && werr == nil:
		return nil, fmt.Errorf("join pid namespace: child exited (%s) before it reported: %w", ps, err)
	case err != nil:
		return nil, fmt.Errorf("join pid namespace: %w", err)
	case m.Type == syncError:
		return nil, fmt.Errorf("join pid namespace: %s", m.Err)
	case m.Type != syncExecPid || m.Fd <= 0:
		return nil, fmt.Errorf("join pid namespace: child sent %q instead of a pid", m.Type)
	}
	return os.FindProcess(m.Fd)
}

// joinPidNS runs in the first child (envJoinPidNS set): it never returns
// to Init. See above.
func joinPidNS(fdStr string) {
	sock := os.NewFile(uintptr(atoiEnv(envSyncFd)), "sync")
	enc := json.NewEncoder(sock)
	pid, err := startInJoinedPidNS(fdStr)
	if err != nil {
		_ = enc.Encode(&syncMsg{Type: syncError, Err: err.Error()})
		os.Exit(1)
	}
	if err := enc.Encode(&syncMsg{Type: syncExecPid, Fd: pid}); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

func startInJoinedPidNS(fdStr string) (int, error) {
	exeFd := atoiEnv(envExeFd)
	if exeFd < 3 {
		return 0, fmt.Errorf("bad %s in init's environment", envExeFd)
	}
	fd, err := strconv.Atoi(fdStr)
	if err != nil || fd < 3 || fd >= exeFd {
		return 0, fmt.Errorf("bad %s=%q in init's environment", envJoinPidNS, fdStr)
	}
	// This thread (init is locked to it) is the one that forks below.
	if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
		return 0, fmt.Errorf("setns: %w", err)
	}
	unix.Close(fd)
	// Root of the container's user namespace, or the new process, not
	// root there, would lose every capability at execve.
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return 0, fmt.Errorf("setresgid 0: %w", err)
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return 0, fmt.Errorf("setresuid 0: %w", err)
	}
	// Every fd from 3 to the binary's came from the parent, at these
	// numbers; the Go runtime's own are close-on-exec and above.
	files := make([]*os.File, exeFd-2)
	for n := 3; n <= exeFd; n++ {
		if fl, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
			files[n-3] = os.NewFile(uintptr(n), "inherited")
		}
	}
	var env []string
	for _, e := range os.Environ() {
		switch k, v, _ := strings.Cut(e, "="); k {
		case envJoinPidNS:
		case envJoinMntNS:
			env = append(env, nsenter.EnvVar+"="+string(configs.NEWNS)+":"+v)
		default:
			env = append(env, e)
		}
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/" + strconv.Itoa(exeFd),
		Args:       os.Args,
		Env:        env,
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:     true,
			Cloneflags: unix.CLONE_PARENT,
		},
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start init in the pid namespace: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release() // not our child: CLONE_PARENT
	return pid, nil
}

func atoiEnv(name string) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return -1
	}
	return n
}
