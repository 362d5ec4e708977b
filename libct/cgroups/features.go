package cgroups

import "github.com/opencontainers/runtime-spec/specs-go/features"

// Features reports the cgroup support built into hull, for `hull
// features` (the spec's features.json): what the code can drive, not what
// this host has.
func Features() *features.Cgroup {
	yes := true
	return &features.Cgroup{
		V1:          &yes,
		V2:          &yes,
		Systemd:     &yes,
		SystemdUser: &yes,
		Rdma:        &yes,
	}
}
