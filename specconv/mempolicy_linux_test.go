package specconv

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

func TestConvertMemoryPolicy(t *testing.T) {
	mp := func(mode string, nodes string, flags ...string) *specs.LinuxMemoryPolicy {
		p := &specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(mode), Nodes: nodes}
		for _, f := range flags {
			p.Flags = append(p.Flags, specs.MemoryPolicyFlagType(f))
		}
		return p
	}
	tests := []struct {
		name    string
		in      *specs.LinuxMemoryPolicy
		want    *configs.MemoryPolicy
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"spec example", mp("MPOL_INTERLEAVE", "2-3", "MPOL_F_STATIC_NODES"),
			&configs.MemoryPolicy{Mode: unix.MPOL_INTERLEAVE, Flags: unix.MPOL_F_STATIC_NODES, Nodes: []uint64{0b1100}}, ""},
		{"default", mp("MPOL_DEFAULT", ""), &configs.MemoryPolicy{Mode: unix.MPOL_DEFAULT}, ""},
		{"local", mp("MPOL_LOCAL", ""), &configs.MemoryPolicy{Mode: unix.MPOL_LOCAL}, ""},
		{"preferred local", mp("MPOL_PREFERRED", ""), &configs.MemoryPolicy{Mode: unix.MPOL_PREFERRED}, ""},
		{"bind balancing", mp("MPOL_BIND", "0,64-65", "MPOL_F_NUMA_BALANCING"),
			&configs.MemoryPolicy{Mode: unix.MPOL_BIND, Flags: unix.MPOL_F_NUMA_BALANCING, Nodes: []uint64{1, 3}}, ""},
		{"highest node", mp("MPOL_BIND", "1023"), &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: append(make([]uint64, 15), 1<<63)}, ""},
		{"no mode", mp("", "0"), nil, "linux.memoryPolicy.mode: required"},
		{"unknown mode", mp("MPOL_FOO", "0"), nil, "linux.memoryPolicy.mode: unknown"},
		{"unknown flag", mp("MPOL_BIND", "0", "MPOL_F_STATIC_NODES", "MPOL_F_X"), nil, "linux.memoryPolicy.flags[1]: unknown"},
		{"static and relative", mp("MPOL_BIND", "0", "MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"), nil, "exclude each other"},
		{"balancing interleave", mp("MPOL_INTERLEAVE", "0", "MPOL_F_NUMA_BALANCING"), nil, "MPOL_F_NUMA_BALANCING goes with"},
		{"default with nodes", mp("MPOL_DEFAULT", "0"), nil, "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes"},
		{"local with nodes", mp("MPOL_LOCAL", "1"), nil, "takes no nodes"},
		{"local static", mp("MPOL_LOCAL", "", "MPOL_F_STATIC_NODES"), nil, "MPOL_LOCAL takes neither"},
		{"preferred local relative", mp("MPOL_PREFERRED", "", "MPOL_F_RELATIVE_NODES"), nil, "MPOL_PREFERRED without nodes"},
		{"bind without nodes", mp("MPOL_BIND", ""), nil, "MPOL_BIND needs at least one node"},
		{"many without nodes", mp("MPOL_PREFERRED_MANY", ""), nil, "needs at least one node"},
		{"bad list", mp("MPOL_BIND", "0-"), nil, "linux.memoryPolicy.nodes:"},
		{"backwards", mp("MPOL_BIND", "3-1"), nil, "goes backwards"},
		{"node too high", mp("MPOL_BIND", "1024"), nil, "no kernel has more than"},
		{"empty element", mp("MPOL_BIND", "0,,1"), nil, "not a node number"},
		{"space", mp("MPOL_BIND", "0, 1"), nil, "not a node number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convertMemoryPolicy(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("convert = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "linux.memoryPolicy") {
					t.Errorf("error %v does not name a linux.memoryPolicy field", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("convert = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// setMempolicy calls set_mempolicy(2) with a policy's arguments on a
// thread of its own (the policy is per thread), then reads the thread's
// policy back with get_mempolicy(2). The thread is never unlocked, so it
// ends with the goroutine and no policy leaks into the test binary.
func setMempolicy(p *configs.MemoryPolicy) (gotMode int, gotMask uint64, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		mode, mask, maxnode := p.SyscallArgs()
		var ptr unsafe.Pointer
		if len(mask) > 0 {
			ptr = unsafe.Pointer(&mask[0])
		}
		if _, _, e := unix.Syscall(unix.SYS_SET_MEMPOLICY, uintptr(mode), uintptr(ptr), uintptr(maxnode)); e != 0 {
			err = e
			return
		}
		var m int32
		var got [16]uint64
		if _, _, e := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&m)), uintptr(unsafe.Pointer(&got[0])), 16*64, 0, 0, 0); e != 0 {
			err = e
			return
		}
		gotMode, gotMask = int(m), got[0]
	}()
	<-done
	return gotMode, gotMask, err
}

// TestMemoryPolicyKernelAgrees gives the running kernel every combination
// of mode, flags and node 0 (this host's only node) or no nodes, built by
// SyscallArgs: what convertMemoryPolicy accepts, set_mempolicy(2) takes
// and get_mempolicy(2) reports back; what it refuses, the kernel refuses
// with EINVAL too. So specconv's rules and the maxnode off-by-one are the
// kernel's, not a guess.
func TestMemoryPolicyKernelAgrees(t *testing.T) {
	if _, _, e := unix.Syscall(unix.SYS_GET_MEMPOLICY, 0, 0, 0); e == unix.ENOSYS {
		t.Skip("kernel without CONFIG_NUMA: no set_mempolicy(2)")
	}
	modes, flags := MemoryPolicyFeatures()
	flagSets := [][]string{nil}
	for i, a := range flags {
		flagSets = append(flagSets, []string{a})
		for _, b := range flags[i+1:] {
			flagSets = append(flagSets, []string{a, b})
		}
	}
	checked := 0
	for _, mode := range modes {
		for _, nodes := range []string{"", "0"} {
			for _, fs := range flagSets {
				in := &specs.LinuxMemoryPolicy{Mode: specs.MemoryPolicyModeType(mode), Nodes: nodes}
				for _, f := range fs {
					in.Flags = append(in.Flags, specs.MemoryPolicyFlagType(f))
				}
				// The raw arguments, whatever specconv thinks of them.
				raw := &configs.MemoryPolicy{Mode: mempolicyModes[in.Mode]}
				for _, f := range in.Flags {
					raw.Flags |= mempolicyFlags[f]
				}
				if nodes == "0" {
					raw.Nodes = []uint64{1}
				}
				conv, cerr := convertMemoryPolicy(in)
				gotMode, gotMask, kerr := setMempolicy(raw)
				name := mode + " nodes=" + nodes + " " + strings.Join(fs, "|")
				switch {
				case cerr == nil && kerr != nil:
					t.Errorf("%s: specconv accepts, the kernel says %v", name, kerr)
				case cerr != nil && kerr == nil:
					t.Errorf("%s: specconv refuses (%v), the kernel takes it", name, cerr)
				case cerr != nil && !errors.Is(kerr, unix.EINVAL):
					t.Errorf("%s: the kernel refuses with %v, not EINVAL", name, kerr)
				case cerr == nil:
					if !reflect.DeepEqual(conv, raw) {
						t.Errorf("%s: converted %+v, want %+v", name, conv, raw)
					}
					// get_mempolicy reports the mode with the static and
					// relative flags; MPOL_PREFERRED without nodes is local;
					// MPOL_DEFAULT drops its flags (the kernel takes them
					// and ignores them, and so does hull).
					want := raw.Mode | raw.Flags&(unix.MPOL_F_STATIC_NODES|unix.MPOL_F_RELATIVE_NODES)
					switch {
					case raw.Mode == unix.MPOL_PREFERRED && nodes == "":
						want = unix.MPOL_LOCAL
					case raw.Mode == unix.MPOL_DEFAULT:
						want = unix.MPOL_DEFAULT
					}
					if gotMode&^unix.MPOL_F_NUMA_BALANCING != want {
						t.Errorf("%s: get_mempolicy mode %#x, want %#x", name, gotMode, want)
					}
					if nodes == "0" && raw.Mode != unix.MPOL_PREFERRED && gotMask != 1 {
						t.Errorf("%s: get_mempolicy nodemask %#x, want node 0", name, gotMask)
					}
				}
				checked++
			}
		}
	}
	t.Logf("%d combinations checked against the kernel", checked)
}

// TestMemoryPolicyMaxnode checks maxnode on the kernel: with
// MPOL_F_STATIC_NODES get_mempolicy(2) returns the nodemask as given, so a
// maxnode one too short (the kernel's --maxnode) would lose node 63.
func TestMemoryPolicyMaxnode(t *testing.T) {
	p, err := convertMemoryPolicy(&specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0,63", Flags: []specs.MemoryPolicyFlagType{specs.MpolFStaticNodes}})
	if err != nil {
		t.Fatal(err)
	}
	_, mask, err := setMempolicy(p)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		t.Skipf("kernel takes no node 63 (MAX_NUMNODES below 64, or no NUMA): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if mask != 1|1<<63 {
		t.Fatalf("get_mempolicy nodemask %#x, want nodes 0 and 63", mask)
	}
}
