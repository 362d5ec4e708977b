package specconv

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// mempolicyModes are linux.memoryPolicy's modes (config-linux.md) as
// set_mempolicy(2) numbers.
var mempolicyModes = map[specs.MemoryPolicyModeType]int{
	specs.MpolDefault:            unix.MPOL_DEFAULT,
	specs.MpolPreferred:          unix.MPOL_PREFERRED,
	specs.MpolBind:               unix.MPOL_BIND,
	specs.MpolInterleave:         unix.MPOL_INTERLEAVE,
	specs.MpolLocal:              unix.MPOL_LOCAL,
	specs.MpolPreferredMany:      unix.MPOL_PREFERRED_MANY,
	specs.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE,
}

// mempolicyFlags are the flags, as the MPOL_F_* bits or'ed into the mode.
var mempolicyFlags = map[specs.MemoryPolicyFlagType]int{
	specs.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING,
	specs.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
	specs.MpolFStaticNodes:   unix.MPOL_F_STATIC_NODES,
}

// maxNUMANodes is MAX_NUMNODES at its largest (NODES_SHIFT 10 on x86_64
// and arm64): no kernel has a node 1024.
const maxNUMANodes = 1024

// MemoryPolicyFeatures returns the modes and flags hull recognizes in
// linux.memoryPolicy, sorted, for `hull features`.
func MemoryPolicyFeatures() (modes, flags []string) {
	for m := range mempolicyModes {
		modes = append(modes, string(m))
	}
	for f := range mempolicyFlags {
		flags = append(flags, string(f))
	}
	slices.Sort(modes)
	slices.Sort(flags)
	return modes, flags
}

// convertMemoryPolicy checks linux.memoryPolicy with the rules of the
// kernel's set_mempolicy (mm/mempolicy.c: sanitize_mpol_flags, mpol_new),
// so that what passes here fails in the container's init only for what
// depends on the host (a node that is offline or outside the cpuset):
//
//   - MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other;
//   - MPOL_F_NUMA_BALANCING goes with MPOL_BIND (and MPOL_PREFERRED_MANY,
//     since Linux 6.12);
//   - MPOL_DEFAULT and MPOL_LOCAL take no nodes; MPOL_LOCAL, and
//     MPOL_PREFERRED without nodes (which is MPOL_LOCAL), take neither
//     static nor relative nodes;
//   - MPOL_BIND, MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE and
//     MPOL_PREFERRED_MANY need at least one node.
func convertMemoryPolicy(p *specs.LinuxMemoryPolicy) (*configs.MemoryPolicy, error) {
	if p == nil {
		return nil, nil
	}
	const f = "linux.memoryPolicy"
	if p.Mode == "" {
		return nil, fieldErr(f+".mode", "required")
	}
	mode, ok := mempolicyModes[p.Mode]
	if !ok {
		return nil, fieldErr(f+".mode", "unknown mode %q", p.Mode)
	}
	flags := 0
	for i, fl := range p.Flags {
		bit, ok := mempolicyFlags[fl]
		if !ok {
			return nil, fieldErr(idx(f+".flags", i), "unknown flag %q", fl)
		}
		flags |= bit
	}
	nodes, err := parseNodeList(p.Nodes)
	if err != nil {
		return nil, fieldErr(f+".nodes", "%v", err)
	}
	staticOrRelative := flags&(unix.MPOL_F_STATIC_NODES|unix.MPOL_F_RELATIVE_NODES) != 0
	switch {
	case flags&unix.MPOL_F_STATIC_NODES != 0 && flags&unix.MPOL_F_RELATIVE_NODES != 0:
		return nil, fieldErr(f+".flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
	case flags&unix.MPOL_F_NUMA_BALANCING != 0 && mode != unix.MPOL_BIND && mode != unix.MPOL_PREFERRED_MANY:
		return nil, fieldErr(f+".flags", "MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY, not %s", p.Mode)
	}
	switch mode {
	case unix.MPOL_DEFAULT, unix.MPOL_LOCAL:
		if len(nodes) > 0 {
			return nil, fieldErr(f+".nodes", "%s takes no nodes", p.Mode)
		}
		if mode == unix.MPOL_LOCAL && staticOrRelative {
			return nil, fieldErr(f+".flags", "MPOL_LOCAL takes neither MPOL_F_STATIC_NODES nor MPOL_F_RELATIVE_NODES")
		}
	case unix.MPOL_PREFERRED:
		if len(nodes) == 0 && staticOrRelative {
			return nil, fieldErr(f+".flags", "MPOL_PREFERRED without nodes (local allocation) takes neither MPOL_F_STATIC_NODES nor MPOL_F_RELATIVE_NODES")
		}
	default:
		if len(nodes) == 0 {
			return nil, fieldErr(f+".nodes", "%s needs at least one node", p.Mode)
		}
	}
	return &configs.MemoryPolicy{Mode: mode, Flags: flags, Nodes: nodes}, nil
}

// parseNodeList parses a node list ("0-3,7") into a nodemask of 64 nodes
// per word, as short as the highest node allows; "" is no nodes.
func parseNodeList(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	var mask []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := nodeNumber(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = nodeNumber(hi); err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			if b < a {
				return nil, fmt.Errorf("%q: range %s goes backwards", s, part)
			}
		}
		for n := a; n <= b; n++ {
			for len(mask) <= n/64 {
				mask = append(mask, 0)
			}
			mask[n/64] |= 1 << (n % 64)
		}
	}
	return mask, nil
}

func nodeNumber(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a node number", s)
	}
	if n >= maxNUMANodes {
		return 0, fmt.Errorf("node %d: no kernel has more than %d nodes", n, maxNUMANodes)
	}
	return int(n), nil
}
