package libct

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v8/rpc"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/criu"
	"github.com/hullrt/hull/libct/intelrdt"
)

// RestoreOpts are the caller's choices for Restore.
type RestoreOpts struct {
	CriuOpts
	// PidFile, when set, receives the restored init's host pid.
	PidFile string
	// ConsoleSocket / ConsoleConn receive the restored pty's new master
	// (CRIU's orphan-pts-master) when process.terminal is set, as for
	// CreateOpts.
	ConsoleSocket string
	ConsoleConn   *os.File
	// Stdin, Stdout, Stderr are given to CRIU, which hands them to the
	// restored process in place of the pipes it had at the dump
	// (descriptors.json); nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
	// Rootless marks a container restored without root privileges.
	Rootless bool
}

// Restore makes container id under root from cfg and the CRIU images in
// o.ImagePath (made by Checkpoint, or by runc checkpoint): the state
// directory and cgroup as Create makes them, then CRIU restores the
// process tree into them and the restored init is recorded as the
// container's. The container is running when Restore returns. On failure
// nothing is left behind: no state directory, cgroup, mount or process.
func Restore(root, id string, cfg *configs.Config, o *RestoreOpts) (_ *Container, err error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if cfg.Process == nil {
		return nil, errors.New("config has no process to run")
	}
	if cfg.Process.Terminal && o.ConsoleSocket == "" && o.ConsoleConn == nil {
		return nil, errors.New("process.terminal is true but no --console-socket was given")
	}
	if !cfg.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket given but process.terminal is false")
	}
	if o.PreDump || o.LeaveRunning || o.ParentPath != "" {
		return nil, errors.New("--pre-dump, --leave-running and --parent-path are for checkpoint, not restore")
	}
	if err := checkNamespacePaths(cfg); err != nil {
		return nil, err
	}
	// Everything that needs only the images is checked before anything
	// is made.
	dirs, err := o.openDirs(false)
	if err != nil {
		return nil, err
	}
	defer dirs.close()
	stdio, err := readDescriptors(o.ImagePath)
	if err != nil {
		return nil, err
	}
	// nil without linux.intelRdt: resctrl is then never touched.
	rdt, err := intelrdt.New(cfg.IntelRdt, id)
	if err != nil {
		return nil, err
	}
	client := &criu.Client{Path: o.CriuPath}
	// Lazy pages need userfaultfd in the kernel and in CRIU: without it
	// the restore is refused here, naming the flag, where CRIU would
	// fail later with its own words.
	if o.LazyPages {
		if err := needFeatures(client, &rpc.CriuFeatures{LazyPages: new(true)}); err != nil {
			return nil, fmt.Errorf("--lazy-pages: %w", err)
		}
	}
	// 0700, as Create makes it.
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", root, err)
	}
	unlock, err := makeLockedDir(root, id)
	if err != nil {
		return nil, err
	}
	c := &Container{root: root, dir: filepath.Join(root, id), p: persisted{
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
		if err != nil {
			if derr := c.destroy(); derr != nil {
				logrus.Warnf("restore failed; cleaning up: %v", derr)
			}
		}
	}()
	if cfg.Cgroup != nil {
		if c.cg, err = cgroups.New(cfg.Cgroup, id, o.Rootless); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		// Recorded before the cgroup exists: if hull is killed during
		// the restore, delete --force finds and removes it.
		c.p.Cgroup = intendedCgroup(c.cg.State())
	}
	if err := c.saveState(); err != nil {
		return nil, err
	}
	// Host interfaces moved into the container go back when the restore
	// fails (this runs before the destroy above), as for create.
	var devices *movedDevices
	defer func() { devices.finish(err) }()

	req, nsFiles, err := restoreRequest(cfg, o, dirs, stdio)
	defer closeAll(nsFiles)
	if err != nil {
		return nil, err
	}
	if err := prepareMountpoints(cfg); err != nil {
		return nil, err
	}
	// CRIU wants the root to be a mount point whose parent is not over-
	// mounted: a bind of the rootfs. It is made beside the state
	// directories, not in the container's: a hull killed before the
	// unmount must not leave the rootfs mounted where delete's RemoveAll
	// of the state directory would descend into it.
	sweepCriuRoots(root)
	criuRoot, err := os.MkdirTemp(root, criuRootPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("criu root: %w", err)
	}
	defer os.Remove(criuRoot)
	if err := unix.Mount(cfg.Rootfs, criuRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("bind rootfs %s on %s: %w", cfg.Rootfs, criuRoot, err)
	}
	defer func() {
		if uerr := unix.Unmount(criuRoot, unix.MNT_DETACH); uerr != nil {
			logrus.Warnf("unmount %s: %v", criuRoot, uerr)
		}
	}()
	req.Opts.Root = new(criuRoot)

	var restored int
	_, err = client.Do(&criu.Request{
		Req:        req,
		ExtraFiles: nsFiles,
		Stdin:      orStd(o.Stdin, os.Stdin),
		Stdout:     orStd(o.Stdout, os.Stdout),
		Stderr:     orStd(o.Stderr, os.Stderr),
		LogPath:    filepath.Join(dirs.logDir, restoreLog),
		// criu joins the container's cgroup and resctrl group before
		// it restores anything: the tasks it forks are born in both.
		Started: func(pid int) error {
			if err := c.restoreCgroup(cfg, req.Opts, pid); err != nil {
				return err
			}
			return c.applyIntelRdt(rdt, pid)
		},
		Notify: func(script string, pid int, fds []*os.File) error {
			defer closeAll(fds)
			logrus.Debugf("criu restore: %s (pid %d)", script, pid)
			switch script {
			case "setup-namespaces":
				// The namespaces exist, the processes do not run yet:
				// where create moves linux.netDevices in and runs
				// prestart and createRuntime. CRIU made the network
				// namespace empty (empty_ns always has CLONE_NEWNET,
				// as runc's: the dump left the interfaces out), so
				// the host's interfaces move in as at create, with
				// the addresses they have on the host now.
				if len(cfg.NetDevices) > 0 {
					md, err := moveNetDevices(pid, cfg.NetDevices)
					if err != nil {
						return err
					}
					devices = md
				}
				if h := cfg.Hooks; h != nil {
					st := c.specState(Creating, pid)
					//lint:ignore SA1019 prestart is deprecated but still in the spec.
					if err := runHooks("prestart", h.Prestart, st); err != nil { //nolint:staticcheck
						return err
					}
					return runHooks("createRuntime", h.CreateRuntime, st)
				}
			case "post-restore":
				restored = pid
				return c.recordRestored(pid)
			case "orphan-pts-master":
				if len(fds) != 1 {
					return fmt.Errorf("expected the pty master, got %d fds", len(fds))
				}
				return sendMaster(fds[0], o)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if restored == 0 {
		return nil, errors.New("criu did not report the restored process")
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, restored); err != nil {
			return nil, err
		}
	}
	// The restored init is the caller's child (CRIU's rst_sibling): a
	// foreground restore waits for it as run does.
	return c, nil
}

// criuRootPrefix starts the name of a restore's bind of the rootfs, then
// the pid of the hull that made it.
const criuRootPrefix = ".criu-root-"

// sweepCriuRoots removes the rootfs binds of restores whose hull died
// before unmounting them (killed): detached, then the empty directory
// removed with rmdir, never RemoveAll, which would descend into a rootfs
// still mounted there.
func sweepCriuRoots(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), criuRootPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 || unix.Kill(pid, 0) == nil || !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			continue // alive (or unknown): its restore may be running
		}
		p := filepath.Join(root, e.Name())
		_ = unix.Unmount(p, unix.MNT_DETACH)
		_ = unix.Rmdir(p)
	}
}

// readDescriptors reads the container's stdio at the dump.
func readDescriptors(imagePath string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(imagePath, descriptorsFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("image path %s has no %s: not a checkpoint of hull or runc (or a pre-dump)", imagePath, descriptorsFile)
		}
		return nil, err
	}
	var fds []string
	if err := json.Unmarshal(b, &fds); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(imagePath, descriptorsFile), err)
	}
	return fds, nil
}

// restoreRequest builds the RESTORE request and the files criu gets as
// fds 4, 5, ...: the namespaces to restore into.
func restoreRequest(cfg *configs.Config, o *RestoreOpts, dirs *criuDirs, stdio []string) (_ *rpc.CriuReq, nsFiles []*os.File, err error) {
	opts, err := o.baseOpts(cfg, restoreLog)
	if err != nil {
		return nil, nil, err
	}
	opts.EvasiveDevices = new(true)
	opts.RstSibling = new(true) // the restored init becomes our child
	if o.LsmProfile != "" {
		opts.LsmProfile = new(o.LsmProfile)
	}
	if o.LsmMountContext != "" {
		opts.LsmMountContext = new(o.LsmMountContext)
	}
	dirs.set(opts)
	fail := func(err error) (*rpc.CriuReq, []*os.File, error) {
		return nil, nsFiles, err
	}
	for _, ns := range cfg.Namespaces {
		if ns.Path == "" {
			continue
		}
		switch ns.Type {
		case configs.NEWNET, configs.NEWPID:
			// Dumped as external: CRIU takes the namespace as an fd
			// under the key the dump wrote.
			f, err := os.Open(ns.Path)
			if err != nil {
				return fail(fmt.Errorf("%s namespace %s: %w", ns.Type, ns.Path, err))
			}
			// inherit_fd numbers are criu's own fds: ExtraFiles
			// start at 4 (3 is the RPC socket).
			opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: new(extNsKey(ns.Type)), Fd: new(int32(4 + len(nsFiles)))})
			nsFiles = append(nsFiles, f)
		case configs.NEWCGROUP:
			return fail(fmt.Errorf("cgroup namespace %s: criu cannot restore into an existing cgroup namespace", ns.Path))
		default:
			opts.JoinNs = append(opts.JoinNs, &rpc.JoinNamespace{Ns: new(string(ns.Type)), NsFile: new(ns.Path)})
		}
	}
	opts.ExtMnt = externalMounts(cfg, 0, func(m *configs.Mount) string { return m.Source })
	// A pipe the container had as stdio (to the engine that ran it) is
	// replaced by the fd criu has at that number: ours, or the engine's.
	for i, s := range stdio {
		if strings.HasPrefix(s, "pipe:") {
			opts.InheritFd = append(opts.InheritFd, &rpc.InheritFd{Key: new(s), Fd: new(int32(i))})
		}
	}
	return &rpc.CriuReq{Type: new(rpc.CriuReqType_RESTORE), Opts: opts}, nsFiles, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// restoreCgroup puts criu (pid) into the container's cgroup before it
// restores anything, so that the restored tasks are born there, applies
// linux.resources, and tells CRIU where the cgroup is (cg_root) so that
// the dumped cgroup tree is put under it.
func (c *Container) restoreCgroup(cfg *configs.Config, opts *rpc.CriuOpts, pid int) error {
	if c.cg == nil {
		return nil
	}
	if err := c.cg.Apply(pid); err != nil {
		return fmt.Errorf("cgroup: join criu (pid %d): %w", pid, err)
	}
	c.p.Cgroup = c.cg.State()
	if err := c.saveState(); err != nil {
		return err
	}
	if cfg.Cgroup.Resources != nil {
		if err := c.cg.Set(cfg.Cgroup.Resources); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		opts.CgRoot = append(opts.CgRoot, &rpc.CgroupRoot{Ctrl: new(parts[1]), Path: new(parts[2])})
	}
	return s.Err()
}

// recordRestored makes pid the container's init (CRIU's post-restore: the
// processes exist, stopped, and resume once this returns).
func (c *Container) recordRestored(pid int) error {
	c.p.InitPid = pid
	st, err := readProcStat(pid)
	if err != nil {
		return fmt.Errorf("restored init (pid %d): %w", pid, err)
	}
	c.p.InitStartTime = st.StartTime
	c.p.Created = time.Now().UTC()
	// CRIU restores into a time namespace of its own (CRIU >= 3.14,
	// kernel >= 5.6), so that the monotonic clocks continue from the
	// dump: exec must join it too.
	cfg := c.config()
	if _, ok := cfg.Namespace(configs.NEWTIME); !ok {
		var self, init unix.Stat_t
		if unix.Stat("/proc/self/ns/time", &self) == nil && unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/time", &init) == nil && self.Ino != init.Ino {
			cfg.Namespaces = append(cfg.Namespaces, configs.Namespace{Type: configs.NEWTIME})
			c.configSaved = false
		}
	}
	if c.cg != nil {
		c.p.Cgroup = c.cg.State()
	}
	return c.saveState()
}

// sendMaster passes the restored pty's new master to the console socket,
// as init does at create (the name is the pty's, /dev/pts/N).
func sendMaster(master *os.File, o *RestoreOpts) error {
	conn, err := consoleConn(true, &CreateOpts{ConsoleSocket: o.ConsoleSocket, ConsoleConn: o.ConsoleConn})
	if err != nil {
		return err
	}
	if conn != o.ConsoleConn {
		defer conn.Close()
	}
	name := "/dev/pts/ptmx"
	if n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN); err == nil {
		name = "/dev/pts/" + strconv.Itoa(n)
	}
	if err := unix.Sendmsg(int(conn.Fd()), []byte(name), unix.UnixRights(int(master.Fd())), nil, 0); err != nil {
		return fmt.Errorf("send pty master over console socket: %w", err)
	}
	return nil
}

// prepareMountpoints makes the mount points the restored mounts need in
// the rootfs, as create made them (a fresh copy of the rootfs lacks
// them). Those on a tmpfs of the container are not made: CRIU restores a
// tmpfs with its content. Paths are resolved inside the rootfs, never
// following a symlink out of it.
func prepareMountpoints(cfg *configs.Config) error {
	var tmpfs []string
	for _, m := range cfg.Mounts {
		if m.Type == "tmpfs" {
			tmpfs = append(tmpfs, filepath.Clean(m.Destination))
		}
	}
	onTmpfs := func(p string) bool {
		for _, t := range tmpfs {
			if strings.HasPrefix(p, t+"/") {
				return true
			}
		}
		return false
	}
	root, err := os.OpenFile(cfg.Rootfs, os.O_RDONLY|unix.O_DIRECTORY|unix.O_PATH, 0)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", cfg.Rootfs, err)
	}
	defer root.Close()
	for _, m := range cfg.Mounts {
		dest := filepath.Clean(m.Destination)
		if dest == "/" || onTmpfs(dest) || m.Type == "cgroup" || m.Type == "cgroup2" {
			continue
		}
		file := false
		if m.Bind {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				file = true
			}
		}
		dir := dest
		if file {
			dir = filepath.Dir(dest)
		}
		h, err := pathrs.MkdirAllHandle(root, dir, 0o755)
		if err != nil {
			return fmt.Errorf("mount point %s in %s: %w", dir, cfg.Rootfs, err)
		}
		if file {
			fd, err := unix.Openat(int(h.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o644)
			if err != nil && !errors.Is(err, unix.EEXIST) {
				h.Close()
				return fmt.Errorf("mount point %s in %s: %w", dest, cfg.Rootfs, err)
			}
			if err == nil {
				unix.Close(fd)
			}
		}
		h.Close()
	}
	return nil
}
