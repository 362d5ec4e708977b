package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runDeviceProgram interprets the few eBPF instructions deviceProgram
// emits, for a request of device type typ ('c' or 'b'), access and numbers.
func runDeviceProgram(t *testing.T, prog []bpfInsn, typ byte, access string, major, minor uint32) bool {
	t.Helper()
	var acc uint32
	for _, c := range access {
		acc |= map[rune]uint32{'r': devcgRead, 'w': devcgWrit, 'm': devcgMknd}[c]
	}
	dt := uint32(devcgChr)
	if typ == 'b' {
		dt = devcgBlk
	}
	ctx := [3]uint32{acc<<16 | dt, major, minor}
	var reg [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.regs&0xf, in.regs>>4
		switch in.code {
		case opLdxW:
			reg[dst] = uint64(ctx[in.off/4])
		case opAnd32K:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(in.imm))
		case opRsh32K:
			reg[dst] = uint64(uint32(reg[dst]) >> uint32(in.imm))
		case opMov32X:
			reg[dst] = uint64(uint32(reg[src]))
		case opMov64K:
			reg[dst] = uint64(int64(in.imm))
		case opJneK:
			if reg[dst] != uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case opJeqK:
			if reg[dst] == uint64(int64(in.imm)) {
				pc += int(in.off)
			}
		case opExit:
			return reg[0] == 1
		default:
			t.Fatalf("unknown opcode %#x at %d", in.code, pc)
		}
	}
	t.Fatal("program ran off its end")
	return false
}

// containerRules are the usual rules: deny all, then the default devices.
var containerRules = []specs.LinuxDeviceCgroup{
	{Allow: false, Access: "rwm"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, // /dev/null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"}, // /dev/urandom
	{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},              // /dev/pts/*
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rw"},  // /dev/ptmx
	{Allow: false, Type: "c", Major: i64(1), Minor: i64(9), Access: "w"},  // no writes to urandom
	{Allow: true, Type: "b", Major: i64(8), Minor: i64(0), Access: "r"},   // read-only disk
}

func TestDeviceProgramDecisions(t *testing.T) {
	prog, err := deviceProgram(containerRules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ          byte
		access       string
		major, minor uint32
		want         bool
	}{
		{'c', "rw", 1, 3, true},
		{'c', "m", 1, 3, true},
		{'c', "rw", 1, 5, false}, // /dev/zero not listed
		{'c', "rw", 136, 7, true},
		{'b', "rw", 136, 7, false}, // type matters
		{'c', "rw", 5, 2, true},
		{'c', "m", 5, 2, false}, // ptmx: rw only
		{'c', "r", 1, 9, true},
		{'c', "w", 1, 9, false}, // later deny wins
		{'c', "rw", 1, 9, false},
		{'b', "r", 8, 0, true},
		{'b', "w", 8, 0, false},
		{'b', "r", 8, 1, false},
	}
	for _, tt := range tests {
		if got := runDeviceProgram(t, prog, tt.typ, tt.access, tt.major, tt.minor); got != tt.want {
			t.Errorf("%c %d:%d %s: allowed %v, want %v", tt.typ, tt.major, tt.minor, tt.access, got, tt.want)
		}
	}
	all, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	if !runDeviceProgram(t, all, 'b', "rwm", 253, 4) {
		t.Errorf("allow-all after deny-all denied a device")
	}
	if _, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}); err == nil {
		t.Errorf("bad type: want an error")
	}
	if _, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rx"}}); err == nil {
		t.Errorf("bad access: want an error")
	}
}

// TestDeviceProgramEnforced loads and attaches the program for real on the
// host's cgroup2 mount (pure v2, or the hybrid one at /sys/fs/cgroup/unified:
// the kernel runs cgroup2 device programs whatever the v1 controllers).
func TestDeviceProgramEnforced(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	root := DefaultRoot
	switch mode {
	case Hybrid:
		root = filepath.Join(DefaultRoot, "unified")
	case Legacy:
		t.Skip("no cgroup2 mount on this host")
	}
	dir := filepath.Join(root, testID())
	m := &v2Manager{root: root, dir: dir}
	cmd := exec.Command("/bin/sh", "-c", `read x; if echo hi > /dev/null; then echo null-ok; fi; if : < /dev/zero; then echo zero-ok; fi`)
	stdin, _ := cmd.StdinPipe()
	outFile := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killWait(cmd)
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	defer func() {
		killWait(cmd)
		if err := m.Destroy(); err != nil {
			t.Error(err)
		}
	}()
	rules := []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"}}
	// A first program that is replaced: only the second must remain.
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	rules = append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}, rules...)
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := queryDevicePrograms(fd)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 {
		t.Errorf("%d device programs attached after two Sets, want 1", len(ids))
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	_ = cmd.Wait()
	got, _ := os.ReadFile(outFile)
	if !strings.Contains(string(got), "null-ok") || !strings.Contains(string(got), "zero-ok") {
		t.Errorf("allowed devices refused: output %q", got)
	}

	// Now deny /dev/zero: a new process in the cgroup cannot open it.
	rules = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}
	if err := m.Set(&specs.LinuxResources{Devices: rules}); err != nil {
		t.Fatal(err)
	}
	cmd2 := exec.Command("/bin/sh", "-c", `read x; if (: < /dev/zero) 2>/dev/null; then echo zero-ok; else echo zero-denied; fi`)
	stdin2, _ := cmd2.StdinPipe()
	out2 := &strings.Builder{}
	cmd2.Stdout, cmd2.Stderr = out2, out2
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := writePid(dir, cmd2.Process.Pid); err != nil {
		killWait(cmd2)
		t.Fatal(err)
	}
	stdin2.Write([]byte("go\n"))
	stdin2.Close()
	_ = cmd2.Wait()
	if !strings.Contains(out2.String(), "zero-denied") {
		t.Errorf("/dev/zero not denied: output %q", out2.String())
	}
}
