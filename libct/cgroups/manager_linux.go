package cgroups

import (
	"errors"
	"fmt"

	"github.com/hullrt/hull/libct/configs"
)

// New returns the manager for a new container's cgroup: the systemd driver
// when c.Systemd is set, else the filesystem driver for the host's layout.
// It computes paths only; Apply creates the cgroup. id names the default
// cgroup when c.Path is empty. rootless makes cgroups that cannot be created
// or joined for lack of permission skipped instead of fatal.
func New(c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	if c == nil {
		c = &configs.Cgroup{}
	}
	if c.Systemd {
		return newSystemd(c, id, rootless)
	}
	return newFS(DefaultRoot, c, id, rootless)
}

// newFS builds a filesystem manager for the hierarchies under root.
func newFS(root string, c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	mode, err := DetectMode(root)
	if err != nil {
		return nil, err
	}
	inner, abs, err := innerPath(c.Path, id)
	if err != nil {
		return nil, err
	}
	if mode == Unified {
		dir, err := v2Dir(root, inner, abs)
		if err != nil {
			return nil, err
		}
		return &v2Manager{root: root, dir: dir, res: c.Resources, rootless: rootless}, nil
	}
	return newV1(root, mode, inner, abs, c.Resources, rootless)
}

// Load rebuilds the manager of an existing container from its State.
func Load(s *State) (Manager, error) {
	if s == nil {
		return nil, errors.New("load cgroup manager: no state")
	}
	switch s.Driver {
	case DriverFS, "":
	case DriverSystemd:
		return loadSystemd(s)
	default:
		return nil, fmt.Errorf("load cgroup manager: unknown driver %q", s.Driver)
	}
	created := make(map[string]bool, len(s.Created))
	for _, d := range s.Created {
		created[d] = true
	}
	if dir, ok := s.Paths[""]; ok && len(s.Paths) == 1 {
		mode, err := DetectMode(DefaultRoot)
		if err != nil {
			return nil, err
		}
		if mode == Unified {
			return &v2Manager{root: DefaultRoot, dir: dir, created: created[dir], rootless: s.Rootless}, nil
		}
	}
	m := &v1Manager{paths: make(map[string]string, len(s.Paths)), created: created, rootless: s.Rootless}
	for k, v := range s.Paths {
		m.paths[k] = v
	}
	return m, nil
}
