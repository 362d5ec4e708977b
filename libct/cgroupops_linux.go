package libct

import (
	"context"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
)

var errNoCgroup = errors.New("the container has no cgroup")

// Pause freezes every process of a running (or created) container.
func (c *Container) Pause() error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	switch st := c.status(); st {
	case Running, Created:
	default:
		return fmt.Errorf("cannot pause a container that is %s: container not running", st)
	}
	cg := c.cgroup()
	if cg == nil {
		return errNoCgroup
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st != Paused {
		return fmt.Errorf("cannot resume a container that is %s: container not paused", st)
	}
	if err := c.cgroup().Thaw(); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// lockForUpdate takes the container's lock for an update of a container
// that is not stopped and loads its config; the caller unlocks.
func (c *Container) lockForUpdate() (func(), *configs.Config, error) {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return nil, nil, err
	}
	if st := c.status(); st == Stopped {
		unlock()
		return nil, nil, errors.New("cannot update a stopped container")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("cannot update: %w", err)
	}
	return unlock, cfg, nil
}

// Update applies r to the running container's cgroup and stores it, so
// that later updates and `state` see it. r replaces the stored resources
// as a whole: the caller merges (the CLI's update command, mergeResources
// in update.go).
func (c *Container) Update(r *specs.LinuxResources) error {
	unlock, cfg, err := c.lockForUpdate()
	if err != nil {
		return err
	}
	defer unlock()
	cg := c.cgroup()
	if cg == nil || cfg.Cgroup == nil {
		return errNoCgroup
	}
	if err := cg.Set(r); err != nil {
		return err
	}
	cfg.Cgroup.Resources = r
	c.configSaved = false
	return c.saveState()
}

// UpdateIntelRdt writes a new L3 cache schema and memory bandwidth
// schema (update --l3-cache-schema, --mem-bw-schema; "" leaves one as it
// is) to the container's resctrl group, and stores them in its
// linux.intelRdt. A container without linux.intelRdt has no group to
// change: runc makes one then; hull refuses, as create would have needed
// one to be asked for.
func (c *Container) UpdateIntelRdt(l3, mb string) error {
	unlock, cfg, err := c.lockForUpdate()
	if err != nil {
		return err
	}
	defer unlock()
	rdt := intelrdt.Load(c.p.IntelRdt)
	if rdt == nil || cfg.IntelRdt == nil {
		return errors.New("update intel RDT: the container has no resctrl group (its config has no linux.intelRdt)")
	}
	if err := rdt.Update(l3, mb); err != nil {
		return err
	}
	r := *cfg.IntelRdt
	if l3 != "" {
		r.L3CacheSchema = l3
	}
	if mb != "" {
		r.MemBwSchema = mb
	}
	cfg.IntelRdt = &r
	c.configSaved = false
	return c.saveState()
}

// Resources returns the resources currently stored for the container.
func (c *Container) Resources() *specs.LinuxResources {
	if c.config().Cgroup == nil || c.config().Cgroup.Resources == nil {
		return &specs.LinuxResources{}
	}
	return c.config().Cgroup.Resources
}

// Stats is what `events` reports: the cgroup's accounting and, for a
// container with linux.intelRdt, its resctrl group's ("intel_rdt", as
// runc's).
type Stats struct {
	cgroups.Stats
	IntelRdt *intelrdt.Stats `json:"intel_rdt,omitempty"`
}

// Stats reads the container's cgroup and resctrl accounting.
func (c *Container) Stats() (*Stats, error) {
	if c.status() == Stopped {
		return nil, errors.New("container not running")
	}
	cg := c.cgroup()
	if cg == nil {
		return nil, errNoCgroup
	}
	cs, err := cg.Stats()
	if err != nil {
		return nil, err
	}
	s := &Stats{Stats: *cs}
	if rdt := intelrdt.Load(c.p.IntelRdt); rdt != nil {
		if s.IntelRdt, err = rdt.Stats(); err != nil {
			return nil, fmt.Errorf("intel RDT stats of %s: %w", rdt.Path(), err)
		}
	}
	return s, nil
}

// OOMEvents reports each OOM kill in the container's cgroup until ctx is
// done or the cgroup goes away.
func (c *Container) OOMEvents(ctx context.Context) (<-chan struct{}, error) {
	cg := c.cgroup()
	if cg == nil {
		return nil, errNoCgroup
	}
	return cg.OOMEvents(ctx)
}

// Processes returns the host pids of every process in the container.
func (c *Container) Processes() ([]int, error) {
	if c.status() == Stopped {
		return nil, errors.New("container not running")
	}
	cg := c.cgroup()
	if cg == nil {
		return []int{c.p.InitPid}, nil
	}
	return cg.Pids()
}
