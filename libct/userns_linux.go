package libct

import (
	"bufio"
	"bytes"
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
// child (bootstrap.UserNSWait), closes it after the start and calls
// mapIDs.
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
	m, err := newIDMapper(cfg, false)
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

// idMapper writes a child's maps once the child exists -- with newuidmap
// and newgidmap, or directly (direct: a root parent, or a non-root one
// mapping only itself) -- then lets the child go on: it waits on a pipe (bootstrap.UserNSWait) before anything else,
// and becomes uid and gid 0 of its namespace once released (becomeRoot).
type idMapper struct {
	uidmap, gidmap string // paths of newuidmap and newgidmap, unless direct
	direct         bool
	uids, gids     []specs.LinuxIDMapping
	// childEnd is the read end, for the child; release the write end.
	childEnd, release *os.File
}

func newIDMapper(cfg *configs.Config, direct bool) (*idMapper, error) {
	m := &idMapper{uids: cfg.UIDMappings, gids: cfg.GIDMappings, direct: direct}
	var err error
	for _, h := range []struct {
		name string
		path *string
	}{{"newuidmap", &m.uidmap}, {"newgidmap", &m.gidmap}} {
		if direct {
			break
		}
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

// mapIDs writes pid's maps and releases the child.
func (m *idMapper) mapIDs(pid int) error {
	defer m.release.Close()
	if m.direct {
		if err := writeIDMaps(pid, m.uids, m.gids, os.Geteuid() != 0); err != nil {
			return err
		}
		if _, err := m.release.Write([]byte{0}); err != nil {
			return fmt.Errorf("user namespace: release init: %w", err)
		}
		return nil
	}
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

// writeIDMaps writes pid's uid_map and gid_map, as Go's exec does for a
// child it clones into a new user namespace. An unprivileged writer must
// deny setgroups first (user_namespaces(7), CVE-2014-8989).
func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping, denySetgroups bool) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	text := func(maps []specs.LinuxIDMapping) string {
		var b strings.Builder
		for _, e := range maps {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		return b.String()
	}
	files := [][2]string{{"uid_map", text(uids)}, {"gid_map", text(gids)}}
	if denySetgroups {
		files = append([][2]string{{"setgroups", "deny"}}, files...)
	}
	for _, f := range files {
		if err := os.WriteFile(dir+f[0], []byte(f[1]), 0); err != nil {
			return fmt.Errorf("user namespace: write %s: %w", f[0], err)
		}
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
// user namespace, and reports whether the child must unshare it itself
// (bootNewIPC, see enterUserNS).
//
// The kernel mounts a new IPC namespace's mqueue filesystem when the
// namespace is created, owned by the creator's fsuid and fsgid. Made at
// clone time, that is the host uid that started hull, unmapped inside:
// /dev/mqueue would belong to nobody:nogroup and root of the container
// could not chmod it. Made by the child once it is root of its user
// namespace, it belongs to root:root there.
func deferIPC(flags *uintptr) bool {
	if *flags&unix.CLONE_NEWUSER == 0 || *flags&unix.CLONE_NEWIPC == 0 {
		return false
	}
	*flags &^= unix.CLONE_NEWIPC
	return true
}

// enterUserNS runs first in init. In a child whose maps newuidmap and
// newgidmap write (bootstrap.UserNSWait set) it waits until the parent
// says they are written, then takes uid and gid 0 of the namespace, with
// the ambient capabilities it was started with. Then, if asked
// (bootNewIPC), it unshares the IPC namespace (see deferIPC). Without
// either it does nothing.
//
// It must run before init makes itself non-dumpable: newuidmap checks
// that /proc/PID belongs to the caller, and a non-dumpable process's
// /proc/PID belongs to root.
func enterUserNS(b *bootstrap) error {
	if err := becomeRoot(b.UserNSWait); err != nil {
		return err
	}
	if b.Flags&bootNewIPC == 0 {
		return nil
	}
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

func becomeRoot(fd int) error {
	if fd == 0 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "userns")
	defer f.Close()
	var b [1]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		// The parent failed to map us and reports why itself.
		return fmt.Errorf("user namespace: wait for the id maps (fd %d): %w", fd, err)
	}
	// syscall's, not x/sys's: they change every thread of the process
	// (through libc with cgo), so that no thread is left unmapped.
	err := syscall.Setresgid(0, 0, 0)
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

// Joining a running container's pid namespace.
//
// setns(CLONE_NEWPID) only changes where the caller's future children go,
// and for a non-root caller it needs CAP_SYS_ADMIN over the target
// namespace and in the caller's own user namespace (kernel/pid_namespace.c,
// pidns_install), which only a process already in the container's user
// namespace has. So the child joins, in the nsenter constructor: it makes
// itself non-dumpable in the host's pid namespace, joins the user
// namespace first, the mount namespace and the others next and the pid
// namespace last, then clones the process that goes on (CLONE_PARENT: the
// parent's child, reported by pid, see sync.go): the same image, before
// the Go runtime, with the same fds.
//
// What the container's processes can see of it (CVE-2016-9962): a process
// exec'd into the container appears in its pid namespace already in its
// mount namespace, never with the host's root. The init of a new container
// sharing the pid namespace has its own copy of the host's mounts until
// pivot_root; it is non-dumpable, which keeps out every process without
// CAP_SYS_PTRACE over the user namespace that owns it (the kernel lets
// that capability override dumpability, so a container holding it in the
// host's user namespace can reach that init: see SECURITY.md).
