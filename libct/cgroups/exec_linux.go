package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ParseExecCgroup parses the values of `exec --cgroup`, as runc takes
// them: one *path* (a sub-cgroup of the container's cgroup in every
// hierarchy: the only form on cgroup v2), or, on cgroup v1, any number of
// *controller*[,*controller*...]:*path*, one per controller. The result
// maps each controller to its path, or "" to the path for all. A path is
// relative to the container's cgroup ("/" or "" is the cgroup itself); a
// ".." that climbs out of it is refused.
func ParseExecCgroup(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(args))
	for _, a := range args {
		ctrls, p, hasCtrl := strings.Cut(a, ":")
		if !hasCtrl {
			if len(args) != 1 {
				return nil, fmt.Errorf("exec --cgroup %q: a path without controller: must be the only --cgroup (or give each controller:path)", a)
			}
			clean, err := subPath(a)
			if err != nil {
				return nil, fmt.Errorf("exec --cgroup %q: %w", a, err)
			}
			out[""] = clean
			continue
		}
		clean, err := subPath(p)
		if err != nil {
			return nil, fmt.Errorf("exec --cgroup %q: %w", a, err)
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c == "" || strings.ContainsAny(c, "/\x00") {
				return nil, fmt.Errorf("exec --cgroup %q: bad controller name %q", a, c)
			}
			if _, dup := out[c]; dup {
				return nil, fmt.Errorf("exec --cgroup %q: controller %s given twice", a, c)
			}
			out[c] = clean
		}
	}
	return out, nil
}

// subPath cleans a sub-cgroup path; "" is the container's cgroup itself.
func subPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("path contains a NUL byte")
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("%q climbs out of the container's cgroup", p)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "/"), nil
}

// ExecTarget is where `exec` puts a new process, from Manager.Exec: the
// container's cgroup, or a sub-cgroup of it, in each hierarchy.
//
// Without --cgroup, on cgroup v2, a container running systemd or docker
// moves its processes to leaf cgroups and enables controllers for them in
// its own cgroup; the kernel then refuses a process there with EBUSY (the
// "no internal processes" rule). As runc does (runc#2356), exec then
// joins the cgroup of the container's init instead. An explicit --cgroup
// (even "/") turns that fallback off.
type ExecTarget struct {
	// dirs are the directories to join, one per distinct hierarchy
	// directory, sorted.
	dirs []string
	// unified is set on a pure cgroup v2 host (dirs has one entry).
	unified bool
	// root is the v2 mountpoint, and base the container's cgroup there,
	// for the fallback.
	root, base string
	// initPid is the container's init, whose cgroup is the fallback
	// (0: no fallback, as with an explicit --cgroup).
	initPid int
	// rootless skips what may not be written, as Join does.
	rootless bool
	// attach, when set (the systemd driver on cgroup v2), moves a
	// process that hull may not move itself: sub is the cgroup relative
	// to the container's ("" or "/a/b"). See systemdManager.attach.
	attach func(sub string, pid int) error
	// write moves pid into dir (writePid; the tests replace it).
	write func(dir string, pid int) error
	// hybrid is the unified hierarchy's directory among dirs on a hybrid
	// host, or "".
	hybrid string
}

// Dirs returns the directories the process joins.
func (t *ExecTarget) Dirs() []string { return slices.Clone(t.dirs) }

// execTarget builds the target of a filesystem manager: paths maps each
// hierarchy key to the container's directory in it. sub (from
// ParseExecCgroup) names a v1 controller or "" for all.
func execTarget(paths map[string]string, unified bool, root string, sub map[string]string, initPid int, rootless bool) (*ExecTarget, error) {
	t := &ExecTarget{unified: unified, root: root, rootless: rootless}
	if len(sub) == 0 {
		t.initPid = initPid
	}
	chosen := make(map[string]string, len(paths))
	for k, dir := range paths {
		chosen[k] = dir
	}
	if all, ok := sub[""]; ok {
		for k := range chosen {
			chosen[k] = filepath.Join(chosen[k], all)
		}
	} else {
		if unified && len(sub) > 0 {
			return nil, fmt.Errorf("exec --cgroup: controller:path is for cgroup v1; this host has cgroup v2 only: give one path")
		}
		for ctrl, p := range sub {
			dir, ok := paths[ctrl]
			if !ok {
				return nil, fmt.Errorf("exec --cgroup %s:%s: no %s hierarchy for this container", ctrl, p, ctrl)
			}
			chosen[ctrl] = filepath.Join(dir, p)
		}
		// Co-mounted controllers (cpu,cpuacct) share a directory: they
		// must not be sent two ways.
		for ctrl, p := range sub {
			for other, dir := range paths {
				if other != ctrl && dir == paths[ctrl] && chosen[other] != chosen[ctrl] {
					return nil, fmt.Errorf("exec --cgroup %s:%s: %s shares its hierarchy with %s, which goes elsewhere", ctrl, p, ctrl, other)
				}
			}
		}
	}
	seen := map[string]bool{}
	for k, dir := range chosen {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if dir != paths[k] {
			// An explicit sub-cgroup must exist: exec never creates one.
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
				return nil, fmt.Errorf("exec --cgroup: sub-cgroup %s: %w", dir, unwrapPathError(err))
			}
		}
		t.dirs = append(t.dirs, dir)
	}
	slices.Sort(t.dirs)
	if unified {
		t.base = paths[""]
	} else if dir, ok := chosen[""]; ok {
		t.hybrid = dir
	}
	return t, nil
}

// SelfJoin splits the target for a process that places itself before it
// runs anything (libct's exec; libct/sync.go, bootGate): the "tasks" file
// of every cgroup v1 directory, opened for writing, into which the
// process writes "0", and on a hybrid host the unified hierarchy's
// directory (O_PATH), for clone3's CLONE_INTO_CGROUP. Why: moving a
// process by pid (cgroup.procs, or tasks with a pid) takes the kernel's
// global cgroup_threadgroup_rwsem for writing, which waits for an RCU
// grace period when it was idle -- 4-8 ms on a 2-core host, the largest
// part of an exec -- while a single thread moving itself ("0" in tasks)
// skips that lock, and so does CLONE_INTO_CGROUP (cgroup v2 only). The
// returned rest is what the caller still moves with Join: the unified
// directory (once more, if the start in it fails), or everything when
// any tasks file cannot be opened, the target is rootless, has systemd
// move processes, or is pure cgroup v2 (OpenFD). The caller closes the
// files.
func (t *ExecTarget) SelfJoin() (tasks []*os.File, into *os.File, rest *ExecTarget) {
	if t.unified || t.rootless || t.attach != nil {
		return nil, nil, t
	}
	rest = &ExecTarget{rootless: t.rootless, write: t.write}
	for _, dir := range t.dirs {
		if dir == t.hybrid {
			rest.dirs = append(rest.dirs, dir)
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range tasks {
				f.Close()
			}
			return nil, nil, t
		}
		tasks = append(tasks, f)
	}
	if t.hybrid != "" {
		if f, err := openDirPath(t.hybrid); err == nil {
			into = f
		}
	}
	return tasks, into, rest
}

// Join moves pid into the target's directories. On cgroup v2 without an
// explicit --cgroup, a container cgroup that refuses the process (EBUSY)
// sends it to the init's cgroup instead. Where hull may not write
// cgroup.procs (a rootless caller outside the cgroup's delegated
// subtree), the systemd driver has systemd move the process. A rootless
// target skips what it may not write, saying why when systemd could not
// move it either; a container cgroup that is gone is an error.
func (t *ExecTarget) Join(pid int) error {
	for _, dir := range t.dirs {
		err := t.enter(dir, pid)
		if err != nil && errors.Is(err, unix.EBUSY) && t.unified && t.initPid > 0 {
			var init string
			if init, err = t.initCgroup(); err == nil {
				err = t.enter(init, pid)
				dir = init
			}
		}
		switch {
		case err == nil:
		case t.rootless && (isPermission(err) || errors.Is(err, unix.ENOENT)):
			if t.attach != nil {
				logrus.Warnf("cgroup: process %d stays outside the container's cgroup %s: %v", pid, dir, err)
			}
		default:
			return joinErr(dir, err)
		}
	}
	return nil
}

// enter moves pid into dir: by writing its cgroup.procs, or, when that is
// not permitted and the target has attach, through systemd. An error of
// both says both.
func (t *ExecTarget) enter(dir string, pid int) error {
	write := t.write
	if write == nil {
		write = writePid
	}
	err := write(dir, pid)
	if err == nil || t.attach == nil || !isPermission(err) {
		return err
	}
	rel, rerr := filepath.Rel(t.base, dir)
	if rerr != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return err
	}
	sub := ""
	if rel != "." {
		sub = "/" + rel
	}
	if aerr := t.attach(sub, pid); aerr != nil {
		return fmt.Errorf("%w; through systemd: %w", err, aerr)
	}
	return nil
}

// initCgroup returns the v2 directory of the container's init, which must
// be inside the container's cgroup: a process the container moved out of
// its own tree (it could, with the host's cgroupfs mounted) is not a place
// to put an exec'd process.
func (t *ExecTarget) initCgroup() (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(t.initPid) + "/cgroup")
	if err != nil {
		return "", fmt.Errorf("the container's cgroup refuses processes (EBUSY) and the init's cgroup is unknown: %w", err)
	}
	own, err := ownUnifiedPath(data)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(t.root, own)
	if dir != t.base && !strings.HasPrefix(dir, t.base+"/") {
		return "", fmt.Errorf("the container's cgroup refuses processes (EBUSY) and its init is in %s, outside it", dir)
	}
	return dir, nil
}

// OpenFD opens the directory the process joins, O_PATH|O_DIRECTORY, for
// clone3's CLONE_INTO_CGROUP (exec.Cmd's SysProcAttr.UseCgroupFD and
// CgroupFD): the process then starts in its cgroup, never running a
// moment in hull's. It needs a pure cgroup v2 host: on v1 and hybrid
// hosts (several hierarchies, which clone3 cannot enter) the error wraps
// ErrNotSupported and the caller uses Join.
//
// Without --cgroup, a container cgroup that has controllers enabled for
// its children (where the kernel would refuse with EBUSY) gives the
// init's cgroup, as Join's fallback does. If starting the process with
// the descriptor still fails with EBUSY (the container enabled
// controllers in between), the caller starts it without and calls Join.
func (t *ExecTarget) OpenFD() (*os.File, error) {
	switch {
	case !t.unified:
		return nil, fmt.Errorf("CLONE_INTO_CGROUP needs a pure cgroup v2 host: %w", ErrNotSupported)
	case len(t.dirs) != 1:
		// A rootless container that was delegated no cgroup.
		return nil, fmt.Errorf("CLONE_INTO_CGROUP: the container has no cgroup to start in: %w", ErrNotSupported)
	}
	dir := t.dirs[0]
	if t.initPid > 0 {
		if sc, err := readFile(dir, "cgroup.subtree_control"); err == nil && strings.TrimSpace(sc) != "" {
			if init, err := t.initCgroup(); err == nil {
				dir = init
			}
		}
	}
	return openDirPath(dir)
}

// openDirPath opens dir O_PATH|O_DIRECTORY|O_CLOEXEC.
func openDirPath(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Exec resolves where exec puts a process in this cgroup.
func (m *v2Manager) Exec(sub map[string]string, initPid int) (*ExecTarget, error) {
	if m.skipped {
		return &ExecTarget{unified: true, rootless: true}, nil
	}
	return execTarget(map[string]string{"": m.dir}, true, m.root, sub, initPid, m.rootless)
}

// Exec resolves where exec puts a process in each hierarchy.
func (m *v1Manager) Exec(sub map[string]string, initPid int) (*ExecTarget, error) {
	return execTarget(m.paths, false, "", sub, initPid, m.rootless)
}

// Exec resolves where exec puts a process: in the unit's cgroup through
// the fs manager (the unit exists; root may write its cgroup.procs). On
// cgroup v2, where that write is not permitted (a rootless container's
// unit in the user's systemd instance, hull run from outside that
// instance: the common ancestor of the two cgroups is root's), systemd
// moves the process (AttachProcessesToUnit, systemd 248).
func (m *systemdManager) Exec(sub map[string]string, initPid int) (*ExecTarget, error) {
	t, err := m.files().Exec(sub, initPid)
	if err != nil {
		return nil, err
	}
	if t.unified && t.base != "" {
		t.attach = m.attach
	}
	return t, nil
}

// CloneIntoFD opens the cgroup of a new container, made by Apply(0), for
// clone3's CLONE_INTO_CGROUP, so that init starts in it. It needs the fs
// driver on a pure cgroup v2 host; otherwise (v1 and hybrid hosts, the
// systemd driver whose scope is started with its first process, a
// rootless manager that could not create the cgroup) the error wraps
// ErrNotSupported and the caller moves init with Apply(pid).
func CloneIntoFD(m Manager) (*os.File, error) {
	if err := cloneInto(m); err != nil {
		return nil, err
	}
	v2 := m.(*v2Manager)
	if v2.skipped {
		return nil, fmt.Errorf("CLONE_INTO_CGROUP: the rootless container has no cgroup: %w", ErrNotSupported)
	}
	return openDirPath(v2.dir)
}

// CanCloneInto reports whether a new container's init can start in the
// cgroup of m with CLONE_INTO_CGROUP (the fs driver on a pure cgroup v2
// host): the caller then runs Apply(0) before the start and CloneIntoFD,
// rather than Apply(pid) after it. It touches nothing.
func CanCloneInto(m Manager) bool { return cloneInto(m) == nil }

// cloneInto says why CloneIntoFD cannot work for m, or nil.
func cloneInto(m Manager) error {
	if _, ok := m.(*v2Manager); ok {
		return nil
	}
	if _, sd := m.(*systemdManager); sd {
		return fmt.Errorf("CLONE_INTO_CGROUP with the systemd driver: the scope is started with its first process: %w", ErrNotSupported)
	}
	return fmt.Errorf("CLONE_INTO_CGROUP needs a pure cgroup v2 host: %w", ErrNotSupported)
}
