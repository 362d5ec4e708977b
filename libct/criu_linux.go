package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/checkpoint-restore/go-criu/v8/rpc"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/criu"
)

// CriuOpts are the choices shared by Checkpoint and Restore, runc's
// checkpoint/restore flags. Each maps to the CRIU option of the same name
// (criu(8)).
type CriuOpts struct {
	// CriuPath is the criu binary (global --criu); "" means "criu" in PATH.
	CriuPath string
	// ImagePath holds CRIU's image files; WorkPath its log and work files
	// (default: ImagePath).
	ImagePath, WorkPath string
	// ParentPath, relative to ImagePath, is a previous pre-dump's images
	// (--parent-path): only the pages changed since then are written.
	ParentPath string
	// LeaveRunning keeps the container running after the dump.
	LeaveRunning bool
	// TCPEstablished, TCPSkipInFlight, ExtUnixSk, ShellJob, FileLocks,
	// LinkRemap, AutoDedup: CRIU's options of those names.
	TCPEstablished, TCPSkipInFlight, ExtUnixSk, ShellJob, FileLocks, LinkRemap, AutoDedup bool
	// PreDump writes the memory only and leaves the container running
	// (iterative migration).
	PreDump bool
	// LazyPages leaves the memory to a page server or `criu lazy-pages`
	// (userfaultfd); StatusFd, when >= 0, gets a 0 byte once the lazy
	// pages server is ready.
	LazyPages bool
	StatusFd  int
	// PageServer is ADDRESS:PORT of a page server to send the memory to.
	PageServer string
	// ManageCgroupsMode is soft, full, strict, ignore, or "" (CRIU's
	// default, soft).
	ManageCgroupsMode string
	// EmptyNs lists namespaces (only "network") that CRIU recreates
	// empty instead of restoring. The network namespace is always in it,
	// as with runc: hull configures no network, the engine does.
	EmptyNs []string
	// LsmProfile (type:label) and LsmMountContext replace the dumped
	// LSM profile and mount context on restore.
	LsmProfile, LsmMountContext string
}

// The CRIU files hull names: the logs, and the container's stdio as it was
// at the dump (descriptors.json, as runc writes it, so that the images of
// either runtime restore with the other).
const (
	dumpLog         = "dump.log"
	restoreLog      = "restore.log"
	descriptorsFile = "descriptors.json"
	// criuConfigAnnotation names a CRIU configuration file for this
	// container (runc's org.criu.config); "" turns the default off.
	criuConfigAnnotation = "org.criu.config"
	// defaultCriuConfig is read by CRIU when the annotation is absent,
	// as runc's /etc/criu/runc.conf; a missing file is ignored by CRIU.
	defaultCriuConfig = "/etc/criu/hull.conf"
)

// criuCgMode maps --manage-cgroups-mode to CRIU's enum.
func criuCgMode(mode string) (rpc.CriuCgMode, error) {
	switch mode {
	case "":
		return rpc.CriuCgMode_DEFAULT, nil
	case "soft":
		return rpc.CriuCgMode_SOFT, nil
	case "full":
		return rpc.CriuCgMode_FULL, nil
	case "strict":
		return rpc.CriuCgMode_STRICT, nil
	case "ignore":
		return rpc.CriuCgMode_IGNORE, nil
	}
	return 0, fmt.Errorf("invalid --manage-cgroups-mode %q: soft, full, strict or ignore", mode)
}

// emptyNsMask is CRIU's empty_ns: CLONE_NEWNET always, plus what --empty-ns
// names.
func emptyNsMask(names []string) (uint32, error) {
	mask := uint32(unix.CLONE_NEWNET)
	for _, n := range names {
		switch n {
		case "network", "net":
		default:
			return 0, fmt.Errorf("--empty-ns %q: only the network namespace can be left empty", n)
		}
	}
	return mask, nil
}

// baseOpts are the options a dump and a restore both send.
func (o *CriuOpts) baseOpts(cfg *configs.Config, logFile string) (*rpc.CriuOpts, error) {
	mode, err := criuCgMode(o.ManageCgroupsMode)
	if err != nil {
		return nil, err
	}
	empty, err := emptyNsMask(o.EmptyNs)
	if err != nil {
		return nil, err
	}
	opts := &rpc.CriuOpts{
		LogLevel:          new(int32(4)),
		LogFile:           new(logFile),
		ManageCgroups:     new(true), // CRIU < 3.12 reads this one
		ManageCgroupsMode: new(mode),
		NotifyScripts:     new(true),
		ShellJob:          new(o.ShellJob),
		TcpEstablished:    new(o.TCPEstablished),
		ExtUnixSk:         new(o.ExtUnixSk),
		FileLocks:         new(o.FileLocks),
		EmptyNs:           new(empty),
		OrphanPtsMaster:   new(true),
		AutoDedup:         new(o.AutoDedup),
		LazyPages:         new(o.LazyPages),
	}
	// CRIU reads a configuration file whose settings override these
	// (CRIU >= 3.11): the container's own (org.criu.config), or hull's.
	if f, ok := cfg.Annotations[criuConfigAnnotation]; ok {
		if f != "" {
			opts.ConfigFile = new(f)
		}
	} else {
		opts.ConfigFile = new(defaultCriuConfig)
	}
	return opts, nil
}

// criuDirs opens the image directory (made if mkdir) and the work
// directory (always made), for CRIU to use by fd.
type criuDirs struct {
	images, work *os.File
	logDir       string
}

func (o *CriuOpts) openDirs(mkdir bool) (*criuDirs, error) {
	if o.ImagePath == "" {
		return nil, errors.New("no image path")
	}
	if mkdir {
		if err := os.MkdirAll(o.ImagePath, 0o700); err != nil {
			return nil, fmt.Errorf("image path: %w", err)
		}
	}
	d := &criuDirs{logDir: o.ImagePath}
	var err error
	if d.images, err = os.OpenFile(o.ImagePath, os.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
		return nil, fmt.Errorf("image path: %w", err)
	}
	if o.WorkPath != "" {
		if err := os.MkdirAll(o.WorkPath, 0o700); err != nil {
			d.close()
			return nil, fmt.Errorf("work path: %w", err)
		}
		if d.work, err = os.OpenFile(o.WorkPath, os.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
			d.close()
			return nil, fmt.Errorf("work path: %w", err)
		}
		d.logDir = o.WorkPath
	}
	return d, nil
}

// set names the directories in opts. CRIU opens these fds through
// /proc/<peer>/fd/N of the process at the other end of the RPC socket,
// hull: they are hull's fd numbers and are not passed to criu.
func (d *criuDirs) set(opts *rpc.CriuOpts) {
	opts.ImagesDirFd = new(int32(d.images.Fd()))
	if d.work != nil {
		opts.WorkDirFd = new(int32(d.work.Fd()))
	}
}

func (d *criuDirs) close() {
	if d.images != nil {
		d.images.Close()
	}
	if d.work != nil {
		d.work.Close()
	}
}

// inContainer returns dest as CRIU names a mount point: the path inside
// the rootfs, with symlinks in the rootfs resolved there (as the mount was
// made).
func inContainer(rootfs, dest string) string {
	if p, err := securejoin.SecureJoin(rootfs, dest); err == nil {
		if rel, err := filepath.Rel(rootfs, p); err == nil {
			return "/" + rel
		}
	}
	return dest
}

// defaultDevicePaths are the device nodes every container gets (the
// runtime spec's default devices): bind mounts of the host's nodes in a
// user namespace, so external mounts for CRIU like linux.devices.
var defaultDevicePaths = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// externalMounts returns, for CRIU's ext_mnt map, every mount of the
// container whose source is outside it: bind mounts, the /dev/null binds
// over masked files, device nodes bound from the host (rootless), and
// each hierarchy bound under a cgroup v1 /sys/fs/cgroup. For a dump
// (source nil) key and value are both the mount point; for a restore the
// value is where the new mount comes from.
func externalMounts(cfg *configs.Config, initPid int, source func(m *configs.Mount) string) []*rpc.ExtMountMap {
	var out []*rpc.ExtMountMap
	seen := map[string]bool{}
	add := func(key, val string) {
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, &rpc.ExtMountMap{Key: new(key), Val: new(val)})
	}
	for _, m := range cfg.Mounts {
		if !m.Bind {
			continue
		}
		dest := inContainer(cfg.Rootfs, m.Destination)
		val := dest
		if source != nil {
			val = source(m)
		}
		add(dest, val)
	}
	for _, p := range cfg.MaskedPaths {
		if initPid > 0 {
			// Only files are masked with /dev/null (directories get a
			// read-only tmpfs, which CRIU dumps as it is).
			fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(initPid), "root", p))
			if err != nil || fi.IsDir() {
				continue
			}
		}
		add(p, "/dev/null")
	}
	for _, p := range defaultDevicePaths {
		add(p, p)
	}
	for _, d := range cfg.Devices {
		add(d.Path, d.Path)
	}
	return out
}

// Checkpoint dumps the running (or paused) container with CRIU into
// o.ImagePath. Unless o.LeaveRunning or o.PreDump, CRIU kills the
// container's processes after the dump and the container is then deleted
// (its cgroup and state removed, poststop hooks run), as runc does: a
// restore makes a new container from the images. On failure the
// container is left as it was (CRIU resumes what it froze); the images
// directory keeps CRIU's log, which the error quotes.
func (c *Container) Checkpoint(o *CriuOpts) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %q: %w", c.p.ID, ErrNotExist)
		}
		return err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	switch st := c.status(); st {
	case Running, Paused:
	default:
		return fmt.Errorf("cannot checkpoint a container that is %s (it must be running or paused)", st)
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	client := &criu.Client{Path: o.CriuPath}
	req, dirs, err := c.dumpRequest(client, cfg, o)
	if dirs != nil {
		defer dirs.close()
	}
	if err != nil {
		return err
	}
	_, err = client.Do(&criu.Request{
		Req:     req,
		LogPath: filepath.Join(dirs.logDir, dumpLog),
		Notify: func(script string, pid int, fds []*os.File) error {
			for _, f := range fds {
				f.Close()
			}
			logrus.Debugf("criu dump: %s", script)
			if script == "status-ready" && o.LazyPages && o.StatusFd >= 0 {
				// The lazy pages server is up: tell whoever waits on
				// --status-fd, once.
				if _, err := unix.Write(o.StatusFd, []byte{0}); err != nil {
					logrus.Warnf("--status-fd %d: %v", o.StatusFd, err)
				}
				_ = unix.Close(o.StatusFd)
				o.StatusFd = -1
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	if o.LeaveRunning || o.PreDump {
		return nil
	}
	// CRIU killed the processes: the container is gone, as after runc's
	// checkpoint. The poststop hooks run as for delete.
	err = c.destroy()
	unlock()
	locked = false
	if err != nil {
		return fmt.Errorf("checkpoint: dumped, but removing the container: %w", err)
	}
	if h := cfg.Hooks; h != nil && len(h.Poststop) > 0 {
		if err := runAllHooks("poststop", h.Poststop, c.specState(Stopped, 0)); err != nil {
			return &HookWarning{Err: err}
		}
	}
	return nil
}

// dumpRequest builds the DUMP (or PRE_DUMP) request: runc's choices, so
// that images made by either runtime restore with the other.
func (c *Container) dumpRequest(client *criu.Client, cfg *configs.Config, o *CriuOpts) (*rpc.CriuReq, *criuDirs, error) {
	if o.ParentPath != "" {
		if filepath.IsAbs(o.ParentPath) {
			return nil, nil, fmt.Errorf("--parent-path %s: must be relative to the image path", o.ParentPath)
		}
		if fi, err := os.Stat(filepath.Join(o.ImagePath, o.ParentPath)); err != nil {
			return nil, nil, fmt.Errorf("--parent-path: %w", err)
		} else if !fi.IsDir() {
			return nil, nil, fmt.Errorf("--parent-path %s: not a directory", o.ParentPath)
		}
	}
	opts, err := o.baseOpts(cfg, dumpLog)
	if err != nil {
		return nil, nil, err
	}
	opts.Root = new(cfg.Rootfs)
	opts.Pid = new(int32(c.p.InitPid))
	opts.LeaveRunning = new(o.LeaveRunning)
	opts.TcpSkipInFlight = new(o.TCPSkipInFlight)
	opts.LinkRemap = new(o.LinkRemap)

	version, err := client.Version()
	if err != nil {
		return nil, nil, err
	}
	logrus.Debugf("criu version %d", version)
	// A namespace joined by path belongs to someone else: CRIU leaves it
	// out of the images and expects it back on restore (the key is what
	// restore's inherit_fd names). net needs CRIU 3.11, pid 3.15.
	for _, ns := range []struct {
		t   configs.NamespaceType
		min int
	}{{configs.NEWNET, 31100}, {configs.NEWPID, 31500}} {
		n, ok := cfg.Namespace(ns.t)
		if !ok || n.Path == "" {
			continue
		}
		if version < ns.min {
			return nil, nil, fmt.Errorf("criu %d cannot dump an external %s namespace (%s): needs %d", version, ns.t, n.Path, ns.min)
		}
		var st unix.Stat_t
		if err := unix.Stat(n.Path, &st); err != nil {
			return nil, nil, fmt.Errorf("%s namespace %s: %w", ns.t, n.Path, err)
		}
		opts.External = append(opts.External, fmt.Sprintf("%s[%d]:%s", ns.t, st.Ino, extNsKey(ns.t)))
	}
	// Freeze with the cgroup freezer rather than ptrace (v2 needs CRIU
	// 3.14).
	if cg := c.cgroup(); cg != nil {
		mode, _ := cgroups.DetectMode("")
		p := cg.Path("freezer")
		if mode == cgroups.Unified {
			p = ""
			if version >= 31400 {
				p = cg.Path("")
			}
		}
		if p != "" {
			opts.FreezeCgroup = new(p)
		}
	}
	if o.PageServer != "" {
		addr, port, err := splitHostPort(o.PageServer)
		if err != nil {
			return nil, nil, err
		}
		opts.Ps = &rpc.CriuPageServerInfo{Address: new(addr), Port: new(port)}
	}
	if o.ParentPath != "" {
		opts.ParentImg = new(o.ParentPath)
		opts.TrackMem = new(true)
	}
	typ := rpc.CriuReqType_DUMP
	if o.PreDump {
		typ = rpc.CriuReqType_PRE_DUMP
		if err := needFeatures(client, &rpc.CriuFeatures{MemTrack: new(true)}); err != nil {
			return nil, nil, fmt.Errorf("--pre-dump: %w", err)
		}
	}
	if o.LazyPages {
		if err := needFeatures(client, &rpc.CriuFeatures{LazyPages: new(true)}); err != nil {
			return nil, nil, fmt.Errorf("--lazy-pages: %w", err)
		}
	}
	dirs, err := o.openDirs(true)
	if err != nil {
		return nil, nil, err
	}
	dirs.set(opts)
	// CRIU 3.15 and later say "status-ready" instead (see Checkpoint).
	if o.LazyPages && o.StatusFd >= 0 && version < 31500 {
		flags, err := unix.FcntlInt(uintptr(o.StatusFd), unix.F_GETFL, 0)
		if err != nil {
			return nil, dirs, fmt.Errorf("--status-fd %d: %w", o.StatusFd, err)
		}
		if flags&unix.O_ACCMODE == unix.O_RDONLY {
			return nil, dirs, fmt.Errorf("--status-fd %d: not open for writing", o.StatusFd)
		}
		// Like the directories, an fd of hull's that criu opens.
		opts.StatusFd = new(int32(o.StatusFd))
	}
	if !o.PreDump {
		opts.ExtMnt = externalMounts(cfg, c.p.InitPid, nil)
		// The container's stdio as CRIU will see it: a pipe to the
		// engine is reconnected on restore through inherit_fd.
		fds := make([]string, 3)
		for i := range fds {
			fds[i], _ = os.Readlink(filepath.Join("/proc", strconv.Itoa(c.p.InitPid), "fd", strconv.Itoa(i)))
		}
		b, _ := json.Marshal(fds)
		if err := os.WriteFile(filepath.Join(o.ImagePath, descriptorsFile), b, 0o600); err != nil {
			return nil, dirs, fmt.Errorf("write %s: %w", descriptorsFile, err)
		}
	}
	return &rpc.CriuReq{Type: new(typ), Opts: opts}, dirs, nil
}

// extNsKey is the key of an external namespace between dump and restore,
// runc's: extRootNetNS, extRootPidNS.
func extNsKey(t configs.NamespaceType) string {
	name := map[configs.NamespaceType]string{configs.NEWNET: "Net", configs.NEWPID: "Pid"}[t]
	return "extRoot" + name + "NS"
}

func needFeatures(client *criu.Client, want *rpc.CriuFeatures) error {
	missing, err := client.Features(want)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("criu lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// splitHostPort parses --page-server ADDRESS:PORT.
func splitHostPort(s string) (string, int32, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return "", 0, fmt.Errorf("--page-server %q: want ADDRESS:PORT", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("--page-server %q: invalid port", s)
	}
	return strings.Trim(s[:i], "[]"), int32(port), nil
}
