package configs

import (
	"reflect"
	"testing"
)

// TestMemoryPolicySyscallArgs checks set_mempolicy(2)'s arguments: the
// flags or'ed into the mode, no mask and maxnode 0 without nodes, and
// otherwise maxnode one past the mask's bits (the kernel drops one).
// specconv's TestMemoryPolicyMaxnode shows the kernel's side.
func TestMemoryPolicySyscallArgs(t *testing.T) {
	tests := []struct {
		p       MemoryPolicy
		mode    int
		mask    []uint64
		maxnode uint64
	}{
		{MemoryPolicy{Mode: 0}, 0, nil, 0},
		{MemoryPolicy{Mode: 4}, 4, nil, 0},
		{MemoryPolicy{Mode: 2, Flags: 1 << 15, Nodes: []uint64{0b1011}}, 2 | 1<<15, []uint64{0b1011}, 65},
		{MemoryPolicy{Mode: 3, Nodes: []uint64{0, 1}}, 3, []uint64{0, 1}, 129},
	}
	for _, tt := range tests {
		mode, mask, maxnode := tt.p.SyscallArgs()
		if mode != tt.mode || !reflect.DeepEqual(mask, tt.mask) || maxnode != tt.maxnode {
			t.Errorf("%+v: SyscallArgs = %#x %v %d, want %#x %v %d", tt.p, mode, mask, maxnode, tt.mode, tt.mask, tt.maxnode)
		}
	}
}
