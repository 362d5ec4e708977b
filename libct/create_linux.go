package libct

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
	"github.com/hullrt/hull/libct/rootfs"
)

// CreateOpts are the caller's choices for Create that are not part of the
// container's configuration.
type CreateOpts struct {
	// PidFile, when set, receives init's host pid (written atomically).
	PidFile string
	// ConsoleSocket is the path of a unix socket that receives the pty
	// master when process.terminal is set (runc's --console-socket).
	ConsoleSocket string
	// ConsoleConn is an already connected socket used instead of
	// ConsoleSocket (hull run uses a socketpair).
	ConsoleConn *os.File
	// ExtraFiles become fds 3, 4, ... of the process (LISTEN_FDS and
	// --preserve-fds).
	ExtraFiles []*os.File
	// Stdin, Stdout, Stderr of the process; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
	// NotifySocket is the caller's NOTIFY_SOCKET: the container gets a
	// socket of its own for sd_notify, that StartNotify passes on.
	NotifySocket string
	// Rootless marks a container created without root privileges.
	Rootless bool
	// PidfdSocket, when set, is a connected AF_UNIX socket that receives
	// a pidfd of init once it is ready (runc's --pidfd-socket; see
	// sendPidfd).
	PidfdSocket *os.File
}

// Create makes a new container id under root from cfg: it starts init in
// its namespaces and cgroup, which sets up the rootfs and then waits for
// Start. On failure nothing is left behind: no state directory, cgroup,
// mount or process.
func Create(root, id string, cfg *configs.Config, o *CreateOpts) (_ *Container, err error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if cfg.Process == nil {
		return nil, errors.New("config has no process to run")
	}
	if err := checkLSM(cfg, cfg.Process); err != nil {
		return nil, err
	}
	if err := checkNamespacePaths(cfg); err != nil {
		return nil, err
	}
	// In a new user namespace init holds every capability (of that
	// namespace), whatever hull holds.
	if caps := capabilities.Ungrantable(cfg.Process.Capabilities); len(caps) > 0 && !createsUserNS(cfg) {
		logrus.Warnf("process.capabilities: hull does not hold %s, so the container cannot have them", strings.Join(caps, ", "))
	}
	// 0700, as runc: the state (pids, cgroup paths, configs with their
	// environment) is root's alone. A container dir below is 0711.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", root, err)
	}
	filter, err := compileSeccomp("", cfg.Seccomp)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	unlock, err := makeLockedDir(root, id)
	if err != nil {
		return nil, err
	}
	c := &Container{root: root, dir: dir, p: persisted{
		head: head{
			ID:       id,
			Created:  time.Now().UTC(),
			Owner:    owner(),
			Rootless: o.Rootless,
		},
		Config: cfg,
	}}
	defer unlock()
	defer func() {
		if err == nil {
			return
		}
		_ = c.destroy()
		// runtime.md: when a prestart, createRuntime or createContainer
		// hook fails, the lifecycle continues at delete: the container
		// is destroyed and the poststop hooks run.
		if isHookFailure(err) && cfg.Hooks != nil {
			if herr := runAllHooks("poststop", cfg.Hooks.Poststop, c.specState(Stopped, 0)); herr != nil {
				logrus.Warn(herr)
			}
		}
	}()

	if o.NotifySocket != "" {
		cfgCopy := *cfg
		cfg = &cfgCopy
		c.p.Config = cfg
		if err := setupNotify(dir, cfg); err != nil {
			return nil, err
		}
	}
	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o600); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Init keeps the read end; start opens the write end. Opening the
	// read end non-blocking succeeds with no writer yet.
	fifo, err := os.OpenFile(fifoPath, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()
	// A second FIFO carries init's failure after start, if any. Opened
	// read-write, which never blocks; init gets this end.
	errFifoPath := filepath.Join(dir, errFifoName)
	if err := unix.Mkfifo(errFifoPath, 0o600); err != nil {
		return nil, fmt.Errorf("create error fifo: %w", err)
	}
	errFifo, err := os.OpenFile(errFifoPath, os.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open error fifo: %w", err)
	}
	defer errFifo.Close()

	if cfg.Cgroup != nil {
		m, err := cgroups.New(cfg.Cgroup, id, o.Rootless)
		if err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		c.cg = m
	}
	// nil without linux.intelRdt: resctrl is then never touched.
	rdt, err := intelrdt.New(cfg.IntelRdt, id)
	if err != nil {
		return nil, err
	}

	var sources rootfs.Sources
	if rootfs.NeedsSources(cfg) {
		// Opened here: init, in the container's user namespace, may no
		// longer idmap the host's filesystems.
		if sources, err = rootfs.OpenSources(cfg); err != nil {
			return nil, fmt.Errorf("mounts: %w", err)
		}
	}
	defer func() {
		for _, f := range sources {
			f.Close()
		}
	}()
	if o.NotifySocket != "" && createsUserNS(cfg) {
		// The state root is 0700 (root's, as runc's): init, in its user
		// namespace, cannot reach the notify directory below it.
		i, f, err := openNotifySource(dir, cfg)
		if err != nil {
			return nil, err
		}
		if sources == nil {
			sources = rootfs.Sources{}
		}
		sources[i] = f
	}
	console, err := consoleConn(cfg.Process.Terminal, o)
	if err != nil {
		return nil, err
	}
	if console != nil && console != o.ConsoleConn {
		defer console.Close()
	}

	// Host interfaces moved into the container go back when the create
	// fails (this runs before the destroy above).
	var devices *movedDevices
	defer func() { devices.finish(err) }()
	kind := &initLaunch{
		cfg:          cfg,
		fifo:         fifo,
		errFifo:      errFifo,
		mountSources: sources,
		// Recorded before init joins its cgroup or is told anything: if
		// this process is killed from here on, state.json already names
		// init, the cgroup directories and the resctrl groups, and
		// `delete --force` removes them (without it, init and the
		// cgroups would leak). Then init joins its resctrl group and the
		// host's interfaces move into its network namespace.
		onStart: func(pid int) error {
			c.p.InitPid = pid
			if st, err := readProcStat(pid); err == nil {
				c.p.InitStartTime = st.StartTime
			}
			if c.cg != nil {
				c.p.Cgroup = intendedCgroup(c.cg.State())
			}
			if err := c.saveState(); err != nil {
				return err
			}
			if err := c.applyIntelRdt(rdt, pid); err != nil {
				return err
			}
			if len(cfg.NetDevices) > 0 {
				md, err := moveNetDevices(pid, cfg.NetDevices)
				if err != nil {
					return err
				}
				devices = md
			}
			return nil
		},
		hooks: func(pid int) error {
			h := cfg.Hooks
			if h == nil {
				return nil
			}
			st := c.specState(Creating, pid)
			//lint:ignore SA1019 prestart is deprecated but still in the spec.
			if err := runHooks("prestart", h.Prestart, st); err != nil { //nolint:staticcheck
				return err
			}
			return runHooks("createRuntime", h.CreateRuntime, st)
		},
	}
	// A rootless manager skips the hierarchies it may not use; when it
	// skipped them all (cgroup v1 cannot be delegated) the container has
	// no cgroup, as with runc, and nothing to kill or remove there.
	noCgroup := func() bool { return o.Rootless && c.cg != nil && len(c.cg.State().Paths) == 0 }
	l := &launch{
		id:         id,
		cfg:        cfg,
		proc:       cfg.Process,
		cg:         c.cg,
		seccomp:    filter,
		console:    console,
		extraFiles: o.ExtraFiles,
		stdin:      o.Stdin, stdout: o.Stdout, stderr: o.Stderr,
		hookState: func(pid int) []byte {
			b, _ := jsonMarshal(c.specState(Creating, pid))
			return b
		},
		kind: kind,
		ready: func(proc *os.Process) error {
			if noCgroup() {
				c.cg = nil
				logrus.Warnf("cgroup: uid %d may not create or join any cgroup here (not delegated): the container runs without one", os.Geteuid())
			}
			if c.cg != nil {
				// Taken after Apply: it records which directories hull created.
				c.p.Cgroup = c.cg.State()
			}
			if err := c.saveState(); err != nil {
				return err
			}
			if o.PidfdSocket != nil {
				// init is our child, not yet reaped: its pid cannot be reused.
				if err := sendPidfd(o.PidfdSocket, proc.Pid, pidfdMsgInit); err != nil {
					return err
				}
			}
			if o.PidFile != "" {
				return writePidFile(o.PidFile, proc.Pid)
			}
			return nil
		},
	}
	if c.cg != nil && cgroups.CanCloneInto(c.cg) {
		// cgroup v2: init starts in its cgroup, made beforehand.
		f, err := c.makeCgroup()
		if err != nil {
			return nil, err
		}
		if f != nil {
			defer f.Close()
		}
		kind.applied, kind.cgroupFile = true, f
	}
	proc, err := l.start()
	if err != nil {
		if noCgroup() {
			c.cg = nil
			if errors.Is(err, cgroups.ErrNotSupported) {
				err = fmt.Errorf("%w (uid %d was delegated no cgroup, so linux.resources cannot be applied)", err, os.Geteuid())
			}
		}
		return nil, err
	}
	_ = proc.Release()
	return c, nil
}

// writePidFile writes pid to path through a temp file and rename, so a
// reader never sees a partial pid (containerd reads it at once).
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err := writeFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file %s: %w", path, err)
	}
	return nil
}

// consoleConn returns the socket that receives the pty master, or nil when
// the process has no terminal.
func consoleConn(terminal bool, o *CreateOpts) (*os.File, error) {
	if !terminal {
		if o.ConsoleSocket != "" {
			return nil, errors.New("--console-socket given but process.terminal is false")
		}
		return nil, nil
	}
	if o.ConsoleConn != nil {
		return o.ConsoleConn, nil
	}
	if o.ConsoleSocket == "" {
		return nil, errors.New("process.terminal is true but no --console-socket was given")
	}
	conn, err := net.Dial("unix", o.ConsoleSocket)
	if err != nil {
		return nil, fmt.Errorf("console socket %s: %w", o.ConsoleSocket, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("console socket %s: %w", o.ConsoleSocket, err)
	}
	return f, nil
}

// nsTypes maps a namespace type to its CLONE_NEW* flag, as NS_GET_NSTYPE
// answers it.
var nsTypes = map[configs.NamespaceType]int{
	configs.NEWPID: unix.CLONE_NEWPID, configs.NEWNET: unix.CLONE_NEWNET, configs.NEWNS: unix.CLONE_NEWNS,
	configs.NEWIPC: unix.CLONE_NEWIPC, configs.NEWUTS: unix.CLONE_NEWUTS, configs.NEWUSER: unix.CLONE_NEWUSER,
	configs.NEWCGROUP: unix.CLONE_NEWCGROUP, configs.NEWTIME: unix.CLONE_NEWTIME,
}

// checkNamespacePaths makes sure every namespace to join is one, of the
// right type, before anything is started: the error then names the path,
// where a failed setns in the child could only say what it tried.
func checkNamespacePaths(cfg *configs.Config) error {
	for i, ns := range cfg.Namespaces {
		if ns.Path == "" {
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("linux.namespaces[%d]: %s namespace path %s: %w", i, ns.Type, ns.Path, err)
		}
		var sfs unix.Statfs_t
		err = unix.Fstatfs(fd, &sfs)
		if err == nil && sfs.Type != unix.NSFS_MAGIC {
			unix.Close(fd)
			return fmt.Errorf("linux.namespaces[%d]: %s is not a namespace (not on nsfs)", i, ns.Path)
		}
		t, terr := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
		unix.Close(fd)
		if err != nil || terr != nil {
			continue // older kernels: setns will tell
		}
		if want := nsTypes[ns.Type]; t != want {
			return fmt.Errorf("linux.namespaces[%d]: %s is not a %s namespace", i, ns.Path, ns.Type)
		}
	}
	return nil
}

// intendedCgroup is the cgroup state to record before Apply: every
// directory that does not exist yet is one Apply will create, so a
// destroy after a crash removes it.
func intendedCgroup(st *cgroups.State) *cgroups.State {
	out := *st
	out.Created = append([]string(nil), st.Created...)
	for _, dir := range st.Paths {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			out.Created = append(out.Created, dir)
		}
	}
	return &out
}

// makeLockedDir creates the container's state directory already locked:
// it is made under a hidden name, locked, and renamed into place with
// RENAME_NOREPLACE. A delete --force racing the create (RemoveStale) never
// finds it unlocked and empty, and of two creates of one id exactly one
// gets it.
func makeLockedDir(root, id string) (unlock func(), err error) {
	sweepNewDirs(root)
	tmp, err := os.MkdirTemp(root, newDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if err := os.Chmod(tmp, 0o711); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	unlock, err = lockDir(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, filepath.Join(root, id), unix.RENAME_NOREPLACE); err != nil {
		unlock()
		os.Remove(tmp)
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("container %q: %w", id, ErrExist)
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return unlock, nil
}

const newDirPrefix = ".new-"

// sweepNewDirs removes the hidden directories of creates that were killed
// before their rename: older than a minute, and nobody holds their lock.
func sweepNewDirs(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), newDirPrefix) {
			continue
		}
		// A young one may belong to a create between its mkdir and its
		// flock: leave it.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Minute {
			continue
		}
		p := filepath.Join(root, e.Name())
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(p)
		}
		unix.Close(fd)
	}
}
