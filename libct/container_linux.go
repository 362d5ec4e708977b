package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
)

// ErrNotExist is returned (wrapped) when no container has the given id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned (wrapped) when the id is already taken.
var ErrExist = errors.New("container with this id already exists")

// Container is one container under a state root (one directory per
// container, holding state.json and, while created, the exec FIFO).
type Container struct {
	root string
	dir  string
	p    persisted
	cg   cgroups.Manager
	// configSaved: config.json holds p.Config as it is (it was read from
	// there, or written since the last change).
	configSaved bool
	// configErr is why config.json could not be read (see config).
	configErr error
	// forExec: p.Config is read as execConfig (LoadForExec), and the
	// container saves no state.
	forExec bool
}

// LoadForExec is Load for Exec alone: the config is read without the
// parts that only create, start, update, checkpoint and delete use
// (execConfig), and the container refuses to save its state.
func LoadForExec(root, id string) (*Container, error) {
	c, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	c.forExec = true
	return c, nil
}

// execConfig is configs.Config as Exec reads it: the fields named here
// shadow the embedded ones (encoding/json takes the shallower field) and
// are skipped unread. They are the big ones that Exec and the process it
// starts never use (a new container's mounts, devices, paths, sysctls,
// resources, hooks, resctrl and network devices); skipping them spares
// a fresh process encoding/json's work on their types (bench/RESULTS.md,
// issue 17 round 3: most of the 0.55 ms decode). Exec uses the process,
// namespaces, id maps, seccomp, mount label, memory policy, and the
// version, bundle and annotations of the hooks' state.
type execConfig struct {
	configs.Config
	TimeOffsets   skipJSON `json:"timeOffsets"`
	Mounts        skipJSON `json:"mounts"`
	Devices       skipJSON `json:"devices"`
	MaskedPaths   skipJSON `json:"maskedPaths"`
	ReadonlyPaths skipJSON `json:"readonlyPaths"`
	Sysctl        skipJSON `json:"sysctl"`
	Cgroup        skipJSON `json:"cgroup"`
	Hooks         skipJSON `json:"hooks"`
	IntelRdt      skipJSON `json:"intelRdt"`
	NetDevices    skipJSON `json:"netDevices"`
}

// skipJSON is a value decoded into nothing.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// State is what `hull state` and `hull list --format json` print: the
// runtime.md state plus runc's rootfs, created and owner fields.
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Load opens the container id under root.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("read state of %q: %w", id, err)
	}
	var h head
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("state of %q is corrupt: %w", id, err)
	}
	return &Container{root: root, dir: dir, p: persisted{head: h}, configSaved: true}, nil
}

// config returns the container's configuration, read from config.json on
// first use. When that fails it returns a stand-in made from the head, so
// that state, kill and delete keep working; configErr then says why, and
// everything that would act on the stand-in (exec, update, hooks) must use
// loadConfig instead.
func (c *Container) config() *configs.Config {
	if c.p.Config == nil {
		cfg, err := c.readConfig()
		if err != nil {
			c.configErr = err
			cfg = &configs.Config{Version: c.p.Version, Bundle: c.p.Bundle, Rootfs: c.p.Rootfs, Annotations: c.p.Annotations, Process: &configs.Process{}}
		}
		c.p.Config = cfg
	}
	return c.p.Config
}

// loadConfig is config for the operations that must not run on a stand-in
// (exec with no namespaces to join would run on the host).
func (c *Container) loadConfig() (*configs.Config, error) {
	cfg := c.config()
	if c.configErr != nil {
		return nil, c.configErr
	}
	return cfg, nil
}

func (c *Container) readConfig() (*configs.Config, error) {
	path := filepath.Join(c.dir, configFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Written by an older hull: the config inside state.json.
		var old struct {
			Config *configs.Config `json:"config"`
		}
		sb, serr := os.ReadFile(filepath.Join(c.dir, stateFile))
		if serr == nil && json.Unmarshal(sb, &old) == nil && old.Config != nil && old.Config.Process != nil {
			return old.Config, nil
		}
		if errors.Is(serr, os.ErrNotExist) {
			// Both gone: a delete removed the container since Load.
			return nil, fmt.Errorf("container %q: %w", c.p.ID, ErrNotExist)
		}
		return nil, fmt.Errorf("config of container %q: %w", c.p.ID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("config of container %q: %w", c.p.ID, err)
	}
	cfg := &configs.Config{}
	if c.forExec {
		v := &execConfig{}
		err = json.Unmarshal(b, v)
		cfg = &v.Config
	} else {
		err = json.Unmarshal(b, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("config of container %q: %s is corrupt: %w", c.p.ID, path, err)
	}
	if cfg.Process == nil {
		return nil, fmt.Errorf("config of container %q: %s has no process", c.p.ID, path)
	}
	return cfg, nil
}

// ListStates returns the state of every container under root, in
// directory order, with each status derived now. With many containers the
// reads (state.json, /proc/<pid>/stat, the FIFO, the freezer) run on a few
// goroutines at once: `list` of 50 is mostly waiting on those files.
func ListStates(root string) ([]*State, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	states := make([]*State, len(ents))
	one := func(i int) {
		if !ents[i].IsDir() {
			return
		}
		if c, err := Load(root, ents[i].Name()); err == nil {
			states[i] = c.State()
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(ents)/8)
	if workers < 2 {
		for i := range ents {
			one(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(ents); i = int(next.Add(1) - 1) {
					one(i)
				}
			}()
		}
		wg.Wait()
	}
	var out []*State // nil when empty: `list --format json` prints null, as runc's
	for _, st := range states {
		if st != nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// ID returns the container's id.
func (c *Container) ID() string { return c.p.ID }

// Config returns the container's configuration.
func (c *Container) Config() (*configs.Config, error) { return c.loadConfig() }

// Pid returns the host pid of the container's init.
func (c *Container) Pid() int { return c.p.InitPid }

// Status derives the container's status now.
func (c *Container) Status() Status { return c.status() }

// State returns the container's state, with its status derived now.
func (c *Container) State() *State {
	s := &State{
		OCIVersion:  c.p.Version,
		ID:          c.p.ID,
		Pid:         c.p.InitPid,
		Status:      c.status(),
		Bundle:      c.p.Bundle,
		Rootfs:      c.p.Rootfs,
		Created:     c.p.Created,
		Owner:       c.p.Owner,
		Annotations: c.p.Annotations,
	}
	if s.Status == Stopped {
		s.Pid = 0
	}
	return s
}

// specState is the state given to hooks on stdin.
func (c *Container) specState(st Status, pid int) *specs.State {
	cfg := c.config()
	return &specs.State{
		Version:     cfg.Version,
		ID:          c.p.ID,
		Status:      specs.ContainerState(st),
		Pid:         pid,
		Bundle:      cfg.Bundle,
		Annotations: cfg.Annotations,
	}
}

// cgroup returns the container's cgroup manager, rebuilding it from the
// state on first use, or nil when the container has none or it cannot be
// rebuilt (see loadCgroup, for callers that must tell the two apart).
func (c *Container) cgroup() cgroups.Manager {
	cg, _ := c.loadCgroup()
	return cg
}

// loadCgroup is cgroup with the error of a state whose cgroup cannot be
// rebuilt (an unknown driver, a hull of another version): exec must fail
// then, never take "no cgroup" and run its process outside the
// container's limits.
func (c *Container) loadCgroup() (cgroups.Manager, error) {
	if c.cg == nil && c.p.Cgroup != nil {
		m, err := cgroups.Load(c.p.Cgroup)
		if err != nil {
			return nil, fmt.Errorf("container %q: its cgroup from state.json: %w", c.p.ID, err)
		}
		c.cg = m
	}
	return c.cg, nil
}

func owner() string {
	uid := os.Geteuid()
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}

// Start lets a created container's init exec the process (runtime.md
// "start"), then runs the poststart hooks.
func (c *Container) Start() error { return c.start("") }

// StartNotify is Start for a caller with a NOTIFY_SOCKET (host, a unix
// datagram socket): once the process has exec'd, it waits until the
// container notifies READY=1 (sd_notify) and passes that on to host, as
// runc does. A container created without NOTIFY_SOCKET starts as usual.
func (c *Container) StartNotify(host string) error { return c.start(host) }

func (c *Container) start(notifyHost string) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	switch st := c.status(); st {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start a container that is %s, not created", st)
	}
	// Everything that can fail is set up before the exec FIFO is opened:
	// once its write end closes, init gives up (a failed start would kill
	// a container that could have been started again).
	//
	// The config, for the poststart hooks: a container whose config.json
	// cannot be read is not started (its hooks are unknown). Without
	// hooks it is not read at all (decoding it costs a fresh process
	// about as much as the rest of start).
	cfg := &configs.Config{}
	if c.p.needsConfig() {
		if cfg, err = c.loadConfig(); err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
	}
	//
	// Hold err.fifo's read end before releasing init, so that what init
	// writes there survives init's exit.
	errFd, err := unix.Open(filepath.Join(c.dir, errFifoName), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open error fifo: %w", err)
	}
	defer unix.Close(errFd)
	var notify *net.UnixConn
	if notifyHost != "" {
		if notify, err = c.listenNotify(); err != nil {
			return err
		}
		if notify != nil {
			defer notify.Close()
		}
	}
	fifo := filepath.Join(c.dir, fifoName)
	// O_NONBLOCK: opening for writing fails with ENXIO at once when no
	// reader holds the FIFO, i.e. init died; runc blocks forever there
	// (runc#1697).
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return errors.New("cannot start: the container's init is no longer waiting (it exited)")
		}
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	os.Remove(fifo)
	if _, err = unix.Write(fd, []byte{0}); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	if err := waitExec(fd, errFd); err != nil {
		return err
	}
	if h := cfg.Hooks; h != nil && len(h.Poststart) > 0 {
		// A hook may call `hull exec` or `hull state` on this container:
		// exec's shared lock must not wait for ours (runc has no lock).
		unlock()
		locked = false
		if err := runHooks("poststart", h.Poststart, c.specState(Running, c.p.InitPid)); err != nil {
			// runtime.md: generate an error and stop the container; it
			// stays until delete.
			_ = c.signalAllOrInit(unix.SIGKILL)
			waitGone(c.p.InitPid, c.p.InitStartTime, 10*time.Second)
			return err
		}
	}
	if notify != nil {
		// The container runs: waiting for its READY=1 must not keep
		// delete, kill or pause out.
		if locked {
			unlock()
			locked = false
		}
		return c.forwardReady(notify, notifyHost)
	}
	return nil
}

// waitExec waits until init has either exec'd the process or failed after
// the FIFO released it (startContainer hooks, seccomp, rlimits, execve):
// init's read end of the FIFO is close-on-exec, so the write end polls
// POLLERR once init has exec'd or died. A failure is reported by init
// through err.fifo, so that start can fail with it as runtime.md asks.
func waitExec(fd, errFd int) error {
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: 0}}
		_, err := unix.Poll(pfd, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for exec: %w", err)
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			break
		}
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(errFd, buf); n > 0 {
		return fmt.Errorf("container process failed to start: %s", buf[:n])
	}
	return nil
}

// signalAllOrInit kills the whole container when it has a cgroup, else
// its init.
func (c *Container) signalAllOrInit(sig unix.Signal) error {
	if c.cgroup() != nil {
		if err := c.signalAll(sig); err == nil {
			return nil
		}
	}
	return c.signalInit(sig)
}

// signalInit sends sig to the container's init through a pidfd checked
// against the recorded start time (see openProcess): a dead init's pid,
// reused by another process, is never signalled. errProcessGone means
// init has exited.
func (c *Container) signalInit(sig unix.Signal) error {
	h, err := c.openInit()
	if err != nil {
		return err
	}
	defer h.close()
	return h.signal(sig)
}

// HookWarning is a hook failure that runtime.md says must not stop the
// operation (poststart, poststop): the caller logs it as a warning.
type HookWarning struct{ Err error }

func (w *HookWarning) Error() string { return w.Err.Error() }
func (w *HookWarning) Unwrap() error { return w.Err }

// Signal sends sig to the container's init, or with all to every process
// in its cgroup.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	if all {
		// Whatever init's state: with --all, what is left in the cgroup
		// is signalled (runc does so; containerd kills the children of a
		// stopped init of a shared-pid pod with `kill --all ID 9`).
		return c.signalAll(sig)
	}
	st := c.status()
	if st == Stopped {
		return errors.New("container not running")
	}
	if err := c.signalInit(sig); errors.Is(err, errProcessGone) {
		return errors.New("container not running")
	} else if err != nil {
		return fmt.Errorf("signal init (pid %d): %w", c.p.InitPid, err)
	}
	if st == Paused && sig == unix.SIGKILL {
		if cg := c.cgroup(); cg != nil {
			_ = cg.Thaw()
		}
	}
	return nil
}

// signalAll signals every process in the container's cgroup (frozen
// meanwhile, so that no process can fork a new one unseen).
func (c *Container) signalAll(sig unix.Signal) error {
	cg := c.cgroup()
	if cg == nil {
		return errors.New("kill --all: the container has no cgroup to find its processes")
	}
	return cgroups.Signal(cg, sig)
}

// Delete removes a stopped container: its processes, cgroup and state,
// then runs the poststop hooks. With force a created, running or paused
// container is killed first; without it, one that is not stopped is left
// as it is and an error names its state. A poststop failure is returned
// as a *HookWarning after the container is gone.
func (c *Container) Delete(force bool) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %q: %w", c.p.ID, ErrNotExist)
		}
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(c.dir, stateFile)); err != nil {
		// Deleted by a concurrent delete while we waited for the lock.
		return fmt.Errorf("container %q: %w", c.p.ID, ErrNotExist)
	}
	// runtime.md: deleting a container that is not stopped MUST have no
	// effect on it and MUST fail. runc deletes a created one anyway (it
	// kills its init); hull does not. Podman always passes --force; the
	// containerd client kills a created task before it deletes it.
	if st := c.status(); st != Stopped && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: it is %s (use --force)", c.p.ID, st)
	}
	if err := c.destroy(); err != nil {
		return err
	}
	if !c.p.needsConfig() {
		return nil
	}
	if c.configErr != nil {
		return &HookWarning{Err: fmt.Errorf("poststop hooks not run: %w", c.configErr)}
	}
	if h := c.config().Hooks; h != nil {
		if err := runAllHooks("poststop", h.Poststop, c.specState(Stopped, 0)); err != nil {
			return &HookWarning{Err: err}
		}
	}
	return nil
}

// destroy kills every process of the container, removes its cgroup and
// its state directory. It is the one cleanup path, used by delete and by a
// failed create.
func (c *Container) destroy() error {
	// Read config.json while it exists: the poststop hooks that run after
	// destroy come from it.
	if c.p.needsConfig() {
		c.config()
	}
	cg, err := c.loadCgroup()
	if err != nil {
		// Still delete (a container that cannot go is worse), but say
		// what is left: its cgroups, for the administrator.
		logrus.Warnf("%v: its cgroups are left in place", err)
	}
	// Only the recorded init, through a checked pidfd: a pid reused since
	// init died belongs to someone else.
	_ = c.signalInit(unix.SIGKILL)
	if c.p.InitPid > 0 {
		waitGone(c.p.InitPid, c.p.InitStartTime, 10*time.Second)
	}
	// Every step runs even when one before it failed: what can be removed
	// is removed, and the errors are reported together.
	var errs []error
	if cg != nil {
		// Without a pid namespace of its own, init's death does not take
		// the other processes with it; and a dead init's threads may
		// still be leaving the cgroup. Kill what is left and wait until
		// the cgroup is empty, or rmdir fails with EBUSY.
		if err := cgroups.KillAll(cg, 10*time.Second); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, cgroups.ErrNotSupported) {
			errs = append(errs, fmt.Errorf("kill the container's processes: %w", err))
		}
		if err := cg.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	// The resctrl groups hull made (closID unset; the MON group). The
	// interfaces of linux.netDevices are not moved back (runtime-spec:
	// the runtime MUST NOT move them out before deletion): when the last
	// reference to the network namespace is gone, the kernel returns a
	// physical interface to the initial network namespace (not
	// necessarily the one it came from) under the name it had in the
	// container, or dev<ifindex> if that is taken there
	// (default_device_exit_net), and destroys a virtual one (a veth with
	// its peer, a macvlan, a dummy).
	if rdt := intelrdt.Load(c.p.IntelRdt); rdt != nil {
		if err := rdt.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove state: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RemoveStale removes the state directory of a container whose create
// never wrote state.json (hull was killed during create). It waits for the
// directory's lock, so a create still in progress is never disturbed.
func RemoveStale(root, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	dir := filepath.Join(root, id)
	unlock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return fmt.Errorf("container %q exists", id)
	}
	return os.RemoveAll(dir)
}

// waitGone waits until pid (with that start time) has exited (is gone or a
// zombie), for at most d.
func waitGone(pid int, start uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for delay := 100 * time.Microsecond; ; delay *= 2 {
		st, err := readProcStat(pid)
		if err != nil || st.StartTime != start || st.State == 'Z' || st.State == 'X' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		if delay > 10*time.Millisecond {
			delay = 10 * time.Millisecond
		}
		time.Sleep(delay)
	}
}
