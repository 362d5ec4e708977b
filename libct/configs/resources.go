package configs

// MemoryPolicy is linux.memoryPolicy in set_mempolicy(2)'s terms: the
// mode and flags as the kernel's MPOL_* numbers and MPOL_F_* bits, the
// node list as a nodemask of 64 nodes per word (node n is bit n%64 of
// word n/64). specconv has checked the combination as the kernel would.
type MemoryPolicy struct {
	Mode  int      `json:"mode"`
	Flags int      `json:"flags,omitempty"`
	Nodes []uint64 `json:"nodes,omitempty"`
}

// SyscallArgs returns the arguments of set_mempolicy(2): the mode with
// the flags or'ed in, the nodemask (nil without nodes) and maxnode.
//
// maxnode is one more than the bits of the mask: the kernel's get_nodes
// starts with --maxnode, an off-by-one kept since Linux 2.6 that
// numactl(8) and libnuma pass the same way.
func (p *MemoryPolicy) SyscallArgs() (mode int, nodemask []uint64, maxnode uint64) {
	if len(p.Nodes) == 0 {
		return p.Mode | p.Flags, nil, 0
	}
	return p.Mode | p.Flags, p.Nodes, uint64(len(p.Nodes))*64 + 1
}

// NetDevice is one entry of linux.netDevices: the host interface HostName
// moved into the container's network namespace as Name (which may hold
// one "%d" for the kernel to number).
type NetDevice struct {
	HostName string `json:"hostName"`
	Name     string `json:"name"`
}

// SystemdProperty is one org.systemd.property.<Name> annotation for the
// systemd cgroup driver: the property name as written after the prefix,
// and its value in GVariant text form ("uint64 123", "'a string'",
// "true"). The cgroups package turns it into a D-Bus property.
type SystemdProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
