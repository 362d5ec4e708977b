package cgroups

import (
	"os"
	"testing"

	"github.com/hullrt/hull/libct/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// benchResources are what a typical container asks for: a memory limit,
// cpu shares, a pids limit and the default device rules.
func benchResources() *specs.LinuxResources {
	return &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(256 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024)},
		Pids:   &specs.LinuxPids{Limit: i64(1024)},
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},
		},
	}
}

// BenchmarkCreateApplySetDestroy measures the create hot path on the host:
// New, Apply (of the benchmark process's pid: 0, create only), Set, and the
// Destroy that delete does.
func BenchmarkCreateApplySetDestroy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to create cgroups")
	}
	res := benchResources()
	for b.Loop() {
		m, err := New(&configs.Cgroup{Resources: res}, testID(), false)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Apply(0); err != nil {
			b.Fatal(err)
		}
		if err := m.Set(res); err != nil {
			b.Fatal(err)
		}
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew measures layout detection and path computation alone.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(&configs.Cgroup{}, "bench", false); err != nil {
			b.Fatal(err)
		}
	}
}
