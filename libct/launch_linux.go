package libct

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
	"github.com/hullrt/hull/libct/rootfs"
)

// initLaunch starts the init of a new container: new namespaces as clone
// flags, namespaces given by path joined by the constructor, a new cgroup
// with the container's resources, and the exec FIFO to wait on.
type initLaunch struct {
	fifo, errFifo *os.File
	// mountSources are detached trees for idmapped mounts, by mount index.
	mountSources rootfs.Sources
	// onStart runs once the child exists, before it joins its cgroup:
	// Create records the pid and the cgroup there (see Create).
	onStart func(pid int) error
	// hooks runs the prestart and createRuntime hooks.
	hooks func(pid int) error
	cfg   *configs.Config
	// applied: Create made the cgroup and wrote its resources before the
	// start (Apply(0), cgroup v2), and cgroupFile, when set, is that
	// cgroup for the child to start in (CLONE_INTO_CGROUP).
	applied    bool
	cgroupFile *os.File
}

func (k *initLaunch) mode() initMode { return modeInit }
func (k *initLaunch) what() string   { return "init" }

func (k *initLaunch) prepare(l *launch, c *command) error {
	c.boot.Fifo = c.addFd(k.fifo)
	c.boot.ErrFifo = c.addFd(k.errFifo)
	if len(k.mountSources) > 0 {
		c.boot.MountSources = map[int]int{}
		for i, f := range k.mountSources {
			c.boot.MountSources[i] = c.addFd(f)
		}
	}
	flags, join := cloneFlags(l.cfg)
	if _, ok := join[configs.NEWPID]; ok {
		// The constructor joins the pid namespace and clones the process
		// that goes on: the new namespaces are that clone's flags.
		if err := c.cloneInChild(l.cfg, flags); err != nil {
			return err
		}
		return joinNamespaces(c, join)
	}
	attr := c.cmd.SysProcAttr
	attr.Cloneflags = flags
	if flags&unix.CLONE_NEWUSER != 0 {
		mapper, err := userNSAttr(attr, l.cfg)
		if err != nil {
			return err
		}
		if deferIPC(&attr.Cloneflags) {
			c.boot.Flags |= bootNewIPC
		}
		if mapper != nil {
			c.waitForMaps(mapper, true)
		}
	}
	return joinNamespaces(c, join)
}

// cloneInChild has the constructor create the new namespaces (flags) when
// it clones the process that goes on, after it joined a pid namespace. A
// new user namespace then gets its maps from the parent once that process
// exists, written directly or by newuidmap/newgidmap (idMapper).
func (c *command) cloneInChild(cfg *configs.Config, flags uintptr) error {
	if flags&unix.CLONE_NEWUSER != 0 {
		if err := checkRootMapped(cfg); err != nil {
			return err
		}
		m, err := newIDMapper(cfg, !mapsWithHelpers(cfg, os.Geteuid(), os.Getegid()))
		if err != nil {
			return err
		}
		// root writes /proc/<pid>/uid_map of a non-dumpable process; a
		// non-root parent (or its helpers) needs it dumpable.
		c.waitForMaps(m, os.Geteuid() != 0)
		if deferIPC(&flags) {
			c.boot.Flags |= bootNewIPC
		}
	}
	c.boot.Clone = int(flags)
	return nil
}

// waitForMaps makes the child wait for m to write its id maps.
func (c *command) waitForMaps(m *idMapper, dumpable bool) {
	c.mapper = m
	c.boot.UserNSWait = c.addFd(m.childEnd)
	if dumpable {
		c.boot.Flags |= bootDumpable
	}
}

func (k *initLaunch) started(pid int) error {
	if k.onStart != nil {
		return k.onStart(pid)
	}
	return nil
}

func (k *initLaunch) cgroupFD() *os.File { return k.cgroupFile }

// place creates the cgroup, moves the child into it and writes the
// container's resources (handed to the manager once, at cgroups.New).
// A child started in its cgroup (inCgroup) is there already, in a
// cgroup Create made with its resources; one whose start into it failed
// joins it.
func (k *initLaunch) place(cg cgroups.Manager, pid int, inCgroup bool) error {
	var err error
	switch {
	case cg == nil || inCgroup:
	case k.applied:
		err = cg.Join(pid)
	default:
		err = cg.Apply(pid)
	}
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	return nil
}

func (k *initLaunch) runHooks(pid int) error {
	if k.hooks != nil {
		return k.hooks(pid)
	}
	return nil
}

func (k *initLaunch) configure(in *programInput) {
	in.init = true
	if ns, ok := k.cfg.Namespace(configs.NEWCGROUP); ok && ns.Path == "" {
		in.newCgroupNS = true
	}
	if ns, ok := k.cfg.Namespace(configs.NEWTIME); ok && ns.Path == "" {
		in.newTimeNS = true
	}
}

// execLaunch starts a process in a running container: it joins every
// namespace of the container's init and its existing cgroup.
type execLaunch struct {
	// initPid and initStart (its start time) are the container's init,
	// whose namespaces are joined.
	initPid   int
	initStart uint64
	// nsTypes are the container's namespaces (from its config).
	nsTypes []configs.NamespaceType
	// target is where the process goes in the container's cgroup (nil:
	// the container has none), cgroupFile that cgroup for the child to
	// start in (CLONE_INTO_CGROUP), or nil.
	target     *cgroups.ExecTarget
	cgroupFile *os.File
	// cgroupTasks are the "tasks" files of the cgroup v1 directories
	// that the child moves itself into (ExecTarget.SelfJoin), passed as
	// bootstrap.CgTasks.
	cgroupTasks []*os.File
	// rdt is the container's resctrl group, or nil.
	rdt *intelrdt.Manager
	// gated: the child is placed in its cgroup before its constructor's
	// gate (bootGate), and in rdt once it reported (setUp).
	gated bool
	// onJoined runs once the process is in its cgroup (joined), whether
	// the join worked or not: Exec releases its shared lock there, and
	// not before, so that a delete waiting for the lock finds the
	// process in the cgroup it kills (cgroups/kill_linux.go).
	onJoined func()
}

func (k *execLaunch) mode() initMode { return modeExec }
func (k *execLaunch) what() string   { return "the exec'd process" }

// prepare hands the constructor the container's namespaces: a pidfd of
// its init, opened once and checked to be init (openProcess: its start
// time and liveness after the open), for one setns(pidfd, CLONE_NEW*...)
// where the kernel has it (Linux 5.8), or an fd of each
// /proc/<init>/ns/<type>, opened while that pidfd pins init and checked
// again after: a reused pid never lends its namespaces.
func (k *execLaunch) prepare(l *launch, c *command) error {
	h, err := openProcess(k.initPid, k.initStart)
	if errors.Is(err, errProcessGone) {
		return errStoppedDuringExec
	}
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(h.fd), "init-pidfd")
	c.childFiles = append(c.childFiles, f)
	for i, t := range k.cgroupTasks {
		if fd := c.addFd(t); i == 0 {
			c.boot.CgTasks = fd
		}
		c.cgTasks = append(c.cgTasks, t.Name())
	}
	c.boot.CgTasksN = len(k.cgroupTasks)
	var uname unix.Utsname
	_ = unix.Uname(&uname)
	if chooseNSJoin(unix.ByteSliceToString(uname.Release[:])) == joinByPidfd {
		for _, t := range k.nsTypes {
			c.boot.PidfdNS |= nsTypes[t]
		}
		c.boot.Pidfd = c.addFd(f)
		return nil
	}
	join := map[configs.NamespaceType]string{}
	initNS := "/proc/" + strconv.Itoa(k.initPid) + "/ns/"
	for _, t := range k.nsTypes {
		join[t] = initNS + string(t)
	}
	if err := joinNamespaces(c, join); err != nil {
		return err
	}
	return k.sameInit(h)
}

// sameInit checks that init, pinned by h, still is the process at its pid
// (so the namespace fds opened by path are its own).
func (k *execLaunch) sameInit(h *procHandle) error {
	st, err := readProcStat(k.initPid)
	if err != nil || st.StartTime != k.initStart || st.State == 'Z' || st.State == 'X' {
		return errStoppedDuringExec
	}
	if err := h.signal(0); err != nil {
		return errStoppedDuringExec
	}
	return nil
}

// nsJoin is how exec joins a container's namespaces.
type nsJoin int

const (
	joinByPidfd nsJoin = iota // setns(pidfd, CLONE_NEW*...): Linux 5.8
	joinByPath                // setns on each /proc/<pid>/ns/<type>
)

// chooseNSJoin is nsJoinFor; the tests force the fallback through it.
var chooseNSJoin = nsJoinFor

// nsJoinFor chooses how to join for a kernel release ("6.1.0-18-amd64"):
// by pidfd from Linux 5.8 on (pidfd_open itself is 5.3, and hull needs
// it for kill and delete too).
func nsJoinFor(release string) nsJoin {
	var major, minor int
	if n, _ := fmt.Sscanf(release, "%d.%d", &major, &minor); n != 2 {
		return joinByPath
	}
	if major > 5 || major == 5 && minor >= 8 {
		return joinByPidfd
	}
	return joinByPath
}

func (k *execLaunch) started(int) error { return nil }

func (k *execLaunch) cgroupFD() *os.File { return k.cgroupFile }

// place moves the process into its target in the container's existing
// cgroup (unless it was started there, inCgroup), then into the
// container's resctrl group.
func (k *execLaunch) place(_ cgroups.Manager, pid int, inCgroup bool) error {
	var err error
	if k.target != nil && !inCgroup {
		err = k.target.Join(pid) // "join cgroup DIR: ..."
	}
	if err == nil && k.rdt != nil && !k.gated {
		err = k.rdt.Join(pid)
	}
	if len(k.cgroupTasks) == 0 {
		k.joined()
	}
	return err
}

// joined runs onJoined: after the parent's moves (place) when it makes
// them all; when the child moves itself into cgroupTasks, only once it
// reported past the gate (setUp), which it does after those writes --
// releasing the lock at place let a racing delete kill and remove the
// cgroups while the child was still on its way in (found in review of
// 0474986). A paused container never self-joins (Exec), so the report
// never waits for a resume that waits for this lock.
func (k *execLaunch) joined() {
	if k.onJoined != nil {
		k.onJoined()
	}
}

// start starts the command. A start into a cgroup (CLONE_INTO_CGROUP)
// that fails is made once more without, and place then moves the child:
// clone3 refuses with EBUSY when the cgroup enabled controllers for its
// children since its descriptor was opened (cgroup v2's "no internal
// processes" rule), and kernels before 5.7 have no CLONE_INTO_CGROUP.
func (c *command) start() error {
	err := c.cmd.Start()
	attr := c.cmd.SysProcAttr
	if err == nil || attr == nil || !attr.UseCgroupFD {
		return err
	}
	logrus.Debugf("start in the cgroup (CLONE_INTO_CGROUP): %v; starting outside it, then moving it", err)
	plain := *attr
	plain.UseCgroupFD, plain.CgroupFD = false, 0
	old := c.cmd
	c.cmd = &exec.Cmd{
		Path: old.Path, Args: old.Args, Env: old.Env, Dir: old.Dir,
		Stdin: old.Stdin, Stdout: old.Stdout, Stderr: old.Stderr,
		ExtraFiles: old.ExtraFiles, SysProcAttr: &plain,
	}
	return c.cmd.Start()
}

// inCgroup reports whether the child was started in its cgroup.
func (c *command) inCgroup() bool {
	return c.cmd.SysProcAttr != nil && c.cmd.SysProcAttr.UseCgroupFD
}

// startInCgroup has the child start in the cgroup f (clone3's
// CLONE_INTO_CGROUP, Linux 5.7): it never runs a moment in hull's own
// cgroup, outside the container's limits. nil: place moves it.
func (c *command) startInCgroup(f *os.File) {
	if f == nil {
		return
	}
	c.cmd.SysProcAttr.UseCgroupFD = true
	c.cmd.SysProcAttr.CgroupFD = int(f.Fd())
}

func (k *execLaunch) runHooks(int) error {
	return errors.New("exec'd process asked for hooks")
}

func (k *execLaunch) configure(*programInput) {}

// joinNamespaces hands the constructor an fd of every namespace to join.
// A pid namespace is joined last, and the constructor then forks the
// process that goes on (see the constructor's report in sync.go).
func joinNamespaces(c *command, join map[configs.NamespaceType]string) error {
	for _, t := range nsOrder {
		p, ok := join[t]
		if !ok {
			continue
		}
		if err := c.joinNS(t, p); err != nil {
			return err
		}
	}
	return nil
}

// cloneFlags returns the CLONE_NEW* flags for the namespaces to create at
// clone time, and the namespaces to join by path. The cgroup and time
// namespaces are unshared by the child itself later (see initConfig).
func cloneFlags(cfg *configs.Config) (flags uintptr, join map[configs.NamespaceType]string) {
	join = map[configs.NamespaceType]string{}
	for _, ns := range cfg.Namespaces {
		if ns.Path != "" {
			join[ns.Type] = ns.Path
			continue
		}
		switch ns.Type {
		case configs.NEWPID:
			flags |= unix.CLONE_NEWPID
		case configs.NEWNET:
			flags |= unix.CLONE_NEWNET
		case configs.NEWNS:
			flags |= unix.CLONE_NEWNS
		case configs.NEWIPC:
			flags |= unix.CLONE_NEWIPC
		case configs.NEWUTS:
			flags |= unix.CLONE_NEWUTS
		case configs.NEWUSER:
			flags |= unix.CLONE_NEWUSER
		}
	}
	return flags, join
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}
