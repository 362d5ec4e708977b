package cgroups

import (
	"fmt"

	"github.com/hullrt/hull/libct/configs"
)

func newSystemd(c *configs.Cgroup, id string, rootless bool) (Manager, error) {
	return nil, fmt.Errorf("systemd cgroup driver: %w", ErrNotSupported)
}

func loadSystemd(s *State) (Manager, error) {
	return nil, fmt.Errorf("systemd cgroup driver: %w", ErrNotSupported)
}
