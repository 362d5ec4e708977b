package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Manager drives a cgroup v1 host, hybrid or not: one directory per
// mounted hierarchy, plus the unified hierarchy's on a hybrid host.
type v1Manager struct {
	// paths maps a controller ("memory", "name=systemd") to the
	// container's directory in its hierarchy; co-mounted controllers
	// ("cpu,cpuacct") share one. "" is the unified hierarchy (hybrid).
	paths map[string]string
	// mountpoints maps the same keys to the hierarchy's mountpoint: Apply
	// creates directories below it only.
	mountpoints map[string]string
	// created holds the directories Apply created; Destroy removes these.
	created map[string]bool
	res     *specs.LinuxResources
	// rootless drops hierarchies that cannot be joined for lack of
	// permission, instead of failing.
	rootless bool
}

// newV1 finds the container's directory in each mounted hierarchy.
func newV1(root string, mode Mode, inner string, abs bool, res *specs.LinuxResources, rootless bool) (*v1Manager, error) {
	cg, err := readProcSelf("cgroup")
	if err != nil {
		return nil, err
	}
	byCtrl, unified, ok := fastV1Hierarchies(root, cg, mode == Hybrid)
	if !ok {
		mi, err := readProcSelf("mountinfo")
		if err != nil {
			return nil, err
		}
		if byCtrl, unified, err = v1Hierarchies(root, cg, mi); err != nil {
			return nil, err
		}
	}
	m := &v1Manager{
		paths:       make(map[string]string, len(byCtrl)+1),
		mountpoints: make(map[string]string, len(byCtrl)+1),
		created:     make(map[string]bool),
		res:         res,
		rootless:    rootless,
	}
	place := func(key string, h *hierarchy) {
		if abs {
			m.paths[key] = filepath.Join(h.mountpoint, inner)
		} else {
			m.paths[key] = filepath.Join(h.dir(h.own), inner)
		}
		m.mountpoints[key] = h.mountpoint
	}
	for ctrl, h := range byCtrl {
		// Named hierarchies other than systemd's hold no controller and
		// belong to someone else.
		if strings.HasPrefix(ctrl, "name=") && ctrl != "name=systemd" {
			continue
		}
		place(ctrl, h)
	}
	if unified != nil {
		place("", unified)
	}
	// Without the devices controller every device would be open to the
	// container: refuse, as runc does, unless rootless (which cannot
	// write devices.* anyway and relies on the user namespace).
	if _, ok := m.paths["devices"]; !ok && !rootless {
		return nil, fmt.Errorf("cgroup v1 devices controller not mounted under %s: %w", root, ErrNotSupported)
	}
	return m, nil
}

// dirs returns the distinct directories of the manager, sorted.
func (m *v1Manager) dirs() []string {
	seen := make(map[string]bool, len(m.paths))
	var ds []string
	for _, d := range m.paths {
		if !seen[d] {
			seen[d] = true
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds
}

// keysOf returns the controllers whose directory is dir.
func (m *v1Manager) keysOf(dir string) []string {
	var ks []string
	for k, d := range m.paths {
		if d == dir {
			ks = append(ks, k)
		}
	}
	return ks
}

// Apply creates the cgroup in every hierarchy, moves pid into it and
// writes the resources the manager was made with.
func (m *v1Manager) Apply(pid int) error {
	if err := m.join(pid); err != nil {
		return err
	}
	return m.Set(m.res)
}

// join creates the cgroup in every hierarchy and moves pid into it.
func (m *v1Manager) join(pid int) (retErr error) {
	// On failure, remove what this call created, and only that: a
	// manager rebuilt by Load for exec must never lose the container's
	// cgroups because joining one more process failed.
	var made []string
	defer func() {
		if retErr != nil {
			for i := len(made) - 1; i >= 0; i-- {
				if rmdirCgroup(made[i]) == nil {
					delete(m.created, made[i])
				}
			}
		}
	}()
	for _, dir := range m.dirs() {
		keys := m.keysOf(dir)
		had := m.created[dir]
		err := m.applyDir(dir, keys, pid)
		if !had && m.created[dir] {
			made = append(made, dir)
		}
		if err == nil {
			continue
		}
		if m.rootless && isPermission(err) {
			for _, k := range keys {
				delete(m.paths, k)
			}
			continue
		}
		return fmt.Errorf("join cgroup %s: %w", dir, err)
	}
	return nil
}

// Join moves pid into every hierarchy's existing cgroup. A hierarchy whose
// directory is gone is skipped, as runc's exec does (someone removed it by
// hand); when all are gone the cgroup no longer exists and Join fails.
// A rootless manager also skips what it may not write.
func (m *v1Manager) Join(pid int) error {
	dirs := m.dirs()
	var gone []string
	for _, dir := range dirs {
		err := writePid(dir, pid)
		switch {
		case err == nil:
		case errors.Is(err, unix.ENOENT):
			gone = append(gone, dir)
		case m.rootless && isPermission(err):
		default:
			return joinErr(dir, err)
		}
	}
	if len(gone) > 0 && len(gone) == len(dirs) && !m.rootless {
		return joinErr(gone[0], unix.ENOENT)
	}
	return nil
}

func (m *v1Manager) applyDir(dir string, keys []string, pid int) error {
	isCpuset := slices.Contains(keys, "cpuset")
	var made func(string) error
	if isCpuset {
		made = cpusetInherit
	}
	stop := m.mountpoints[keys[0]]
	if stop == "" {
		stop = filepath.Dir(dir)
	}
	created, err := mkdirCgroup(stop, dir, made)
	if err != nil {
		return err
	}
	if created {
		m.created[dir] = true
	}
	if isCpuset && !created {
		// A joined cpuset cgroup may still be empty (created by someone
		// who did not fill it): no task can join it then.
		if err := cpusetInherit(dir); err != nil {
			return err
		}
	}
	if slices.Contains(keys, "cpu") && m.res != nil && m.res.CPU != nil {
		// A realtime task can only join a cgroup that already has an
		// rt_runtime, so the realtime budget is set before the pid moves.
		if err := v1SetRealtime(dir, m.res.CPU); err != nil {
			return err
		}
	}
	if pid > 0 {
		return writePid(dir, pid)
	}
	return nil
}

// cpusetInherit copies cpuset.cpus and cpuset.mems from the parent when
// they are empty: a v1 cpuset cgroup starts empty, and no task may join it
// so (the write to cgroup.procs fails with ENOSPC).
func cpusetInherit(dir string) error {
	parent := filepath.Dir(dir)
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(dir, f)
		if err != nil {
			return err
		}
		if strings.TrimSpace(cur) != "" {
			continue
		}
		pv, err := readFile(parent, f)
		if err != nil {
			return err
		}
		if pv = strings.TrimSpace(pv); pv == "" {
			if err := cpusetInherit(parent); err != nil {
				return err
			}
			if pv, err = readFile(parent, f); err != nil {
				return err
			}
			pv = strings.TrimSpace(pv)
		}
		if err := writeFile(dir, f, pv); err != nil {
			return err
		}
	}
	return nil
}

// Pids lists the processes of the cgroup and its children.
func (m *v1Manager) Pids() ([]int, error) {
	for _, c := range []string{"pids", "freezer", "devices", "memory", "cpu", "name=systemd", ""} {
		if dir, ok := m.paths[c]; ok {
			return readPidsRecursive(dir)
		}
	}
	return nil, fmt.Errorf("list cgroup processes: no hierarchy joined: %w", ErrNotSupported)
}

// Freeze freezes the cgroup with the v1 freezer and waits for FROZEN.
func (m *v1Manager) Freeze() error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return fmt.Errorf("freeze: freezer controller not mounted: %w", ErrNotSupported)
	}
	// The kernel moves FREEZING -> FROZEN once every task has stopped; a
	// task in an uninterruptible sleep (vfork parent, NFS) can hold it in
	// FREEZING. Writing FROZEN again restarts the freeze of late tasks.
	delay := time.Millisecond
	for i := 0; i < 200; i++ {
		if i%25 == 0 {
			if err := writeFile(dir, "freezer.state", "FROZEN"); err != nil {
				return fmt.Errorf("freeze: %w", err)
			}
		}
		state, err := readFile(dir, "freezer.state")
		if err != nil {
			return fmt.Errorf("freeze: %w", err)
		}
		if strings.TrimSpace(state) == "FROZEN" {
			return nil
		}
		time.Sleep(delay)
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
	_ = writeFile(dir, "freezer.state", "THAWED")
	return fmt.Errorf("freeze %s: timed out with tasks still FREEZING", dir)
}

// Thaw thaws the cgroup.
func (m *v1Manager) Thaw() error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return fmt.Errorf("thaw: freezer controller not mounted: %w", ErrNotSupported)
	}
	if err := writeFile(dir, "freezer.state", "THAWED"); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// Frozen reports whether freezer.state says FROZEN. A cgroup frozen
// because an ancestor is (freezer.parent_freezing) counts as frozen too.
func (m *v1Manager) Frozen() (bool, error) {
	dir, ok := m.paths["freezer"]
	if !ok {
		return false, nil
	}
	state, err := readFile(dir, "freezer.state")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return strings.TrimSpace(state) == "FROZEN", nil
}

// Destroy removes the directories Apply created, with any cgroups the
// container made under them.
func (m *v1Manager) Destroy() error {
	var errs []error
	for _, dir := range m.dirs() {
		if !m.created[dir] {
			continue
		}
		if err := rmdirCgroup(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(m.created, dir)
	}
	return errors.Join(errs...)
}

// Path returns the directory of controller; "" is the unified hierarchy.
func (m *v1Manager) Path(controller string) string { return m.paths[controller] }

// State returns the manager's persisted form.
func (m *v1Manager) State() *State {
	s := &State{Driver: DriverFS, Paths: make(map[string]string, len(m.paths)), Rootless: m.rootless}
	for k, v := range m.paths {
		s.Paths[k] = v
	}
	for d := range m.created {
		s.Created = append(s.Created, d)
	}
	slices.Sort(s.Created)
	return s
}
