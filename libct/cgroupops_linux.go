package libct

import (
	"context"
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/cgroups"
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

// Update applies r to the running container's cgroup and stores it, so
// that later updates and `state` see it. r replaces the stored resources
// as a whole: the caller merges (the CLI's update command, mergeResources
// in update.go).
func (c *Container) Update(r *specs.LinuxResources) error {
	unlock, err := lockDir(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st == Stopped {
		return errors.New("cannot update a stopped container")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return fmt.Errorf("cannot update: %w", err)
	}
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

// Resources returns the resources currently stored for the container.
func (c *Container) Resources() *specs.LinuxResources {
	if c.config().Cgroup == nil || c.config().Cgroup.Resources == nil {
		return &specs.LinuxResources{}
	}
	return c.config().Cgroup.Resources
}

// Stats reads the container's cgroup accounting.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if c.status() == Stopped {
		return nil, errors.New("container not running")
	}
	cg := c.cgroup()
	if cg == nil {
		return nil, errNoCgroup
	}
	return cg.Stats()
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
