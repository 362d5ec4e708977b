package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
)

// Status is a container's status in the words of runtime.md.
type Status string

// The statuses of runtime.md, plus "paused" as runc reports a frozen container.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

const (
	stateFile = "state.json"
	// configFile holds the container's configs.Config, apart from
	// state.json so that state and list never read or decode it.
	configFile = "config.json"
	fifoName   = "exec.fifo"
	// errFifoName is a FIFO through which init reports a failure after
	// start released it (see Container.waitExec).
	errFifoName = "err.fifo"
)

// persisted is what a container's state directory holds: the head in
// state.json, the config in config.json. Status is never stored: it is
// derived from the init process and the exec FIFO each time it is read.
//
// What `state` and `list` print is kept apart from the config, so that
// they read and decode only that: decoding a configs.Config costs a fresh
// process more than the rest of `hull state`, and `list` once per
// container (bench/RESULTS.md). The config is read on first use
// (Container.config).
type persisted struct {
	head
	Config *configs.Config `json:"config"`
}

// head is state.json: what status, `state` and `list` need.
type head struct {
	ID            string            `json:"id"`
	InitPid       int               `json:"init_pid"`
	InitStartTime uint64            `json:"init_start_time"`
	Created       time.Time         `json:"created"`
	Owner         string            `json:"owner"`
	Cgroup        *cgroups.State    `json:"cgroup,omitempty"`
	Rootless      bool              `json:"rootless,omitempty"`
	Version       string            `json:"ociVersion"`
	Bundle        string            `json:"bundle"`
	Rootfs        string            `json:"rootfs"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	// Split: the config is in config.json (not inside state.json, as an
	// older hull wrote it), and HostHooks tells whether it has poststart
	// or poststop hooks, so that start and delete read it only then.
	Split     bool `json:"split,omitempty"`
	HostHooks bool `json:"host_hooks,omitempty"`
	// IntelRdt is the container's resctrl group (linux.intelRdt).
	IntelRdt *intelrdt.State `json:"intel_rdt,omitempty"`
}

// needsConfig reports whether start or delete must read the config: for
// its poststart or poststop hooks, or because the state predates Split.
func (h *head) needsConfig() bool { return !h.Split || h.HostHooks }

// idPattern is what runc accepts as a container id; "." and ".." are
// refused separately because they match it.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)

// ValidateID checks a container id: it becomes a directory name under the
// state root, so it must not be empty, hold a slash, or be "." or "..".
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if len(id) > 1024 {
		return fmt.Errorf("container id %.32q...: longer than 1024 characters", id)
	}
	if id == "." || id == ".." || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid container id %q: must match [A-Za-z0-9][A-Za-z0-9_.+-]*", id)
	}
	return nil
}

// writeFileAtomic writes data to path through a temp file and rename, so a
// crash of hull leaves the old file or the new one, never half of either.
// No fsync: the state describes processes that a reboot ends anyway, and
// on a disk-backed /run the fsync cost 5-50 ms per create (bench/RESULTS.md).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this is a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// saveState writes config.json (when it changed since it was last written
// or read) and then state.json, whose presence makes the container exist.
func (c *Container) saveState() error {
	if c.forExec {
		return errors.New("internal error: a container loaded for exec (its config in part) saves no state")
	}
	cfg := c.config()
	if !c.configSaved {
		b, err := json.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("encode config: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(c.dir, configFile), b, 0o600); err != nil {
			return fmt.Errorf("write config: %w", err)
		}
		c.configSaved = true
	}
	c.p.Version, c.p.Bundle, c.p.Rootfs, c.p.Annotations = cfg.Version, cfg.Bundle, cfg.Rootfs, cfg.Annotations
	c.p.Split = true
	c.p.HostHooks = cfg.Hooks != nil && (len(cfg.Hooks.Poststart) > 0 || len(cfg.Hooks.Poststop) > 0)
	b, err := json.Marshal(&c.p.head)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(c.dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// lock takes the per-container lock (flock on the state directory) that
// every mutating operation holds. It returns an unlock function.
func lockDir(dir string) (func(), error) {
	return flockDir(dir, unix.LOCK_EX)
}

// lockDirShared is lockDir's shared form, for exec: any number of execs
// may join a container at once, but none while it is created, started or
// deleted (a delete racing an exec would otherwise kill the cgroup's
// processes, miss the one joining, and fail to remove the cgroup).
//
// It waits at most timeout: a hook of create that runs `hull exec` on its
// own container would otherwise wait for ever for the create that waits
// for the hook.
func lockDirShared(dir string, timeout time.Duration) (func(), error) {
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		unlock, err := flockDir(dir, unix.LOCK_SH|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return unlock, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("container %s is busy: a create, start, pause, update or delete has held its lock for %s", filepath.Base(dir), timeout)
		}
		time.Sleep(delay)
	}
}

func flockDir(dir string, how int) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, how); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	// While we waited, the holder may have deleted the container and
	// someone created a new one with the same id: the lock is then on
	// the old, removed directory and protects nothing.
	var locked, now unix.Stat_t
	if err := unix.Fstat(fd, &locked); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Stat(dir, &now); err != nil || now.Dev != locked.Dev || now.Ino != locked.Ino {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: removed while waiting for the lock: %w", dir, os.ErrNotExist)
	}
	return func() { unix.Close(fd) }, nil
}

// status derives the container's status; see the package doc.
func (c *Container) status() Status {
	if c.p.InitPid <= 0 {
		return Stopped
	}
	st, err := readProcStat(c.p.InitPid)
	if err != nil || st.StartTime != c.p.InitStartTime || st.State == 'Z' || st.State == 'X' {
		return Stopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	if cg := c.cgroup(); cg != nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return Paused
		}
	}
	return Running
}
