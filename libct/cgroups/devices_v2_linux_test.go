package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runDeviceProgram interprets the few eBPF instructions deviceProgram
// emits, for a request of device type typ ('c' or 'b'), access and numbers.
// Jumps go to the instruction that carries their label.
func runDeviceProgram(t *testing.T, prog asm.Instructions, typ byte, access string, major, minor uint32) bool {
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
	labels := map[string]int{}
	for i, in := range prog {
		if in.OpCode.IsDWordLoad() {
			t.Fatalf("unexpected 64-bit load at %d", i)
		}
		if s := in.Symbol(); s != "" {
			labels[s] = i
		}
	}
	var reg [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		op := in.OpCode
		switch {
		case op == asm.LoadMemOp(asm.Word) && in.Src == asm.R1:
			reg[in.Dst] = uint64(ctx[in.Offset/4])
		case op == asm.And.Op32(asm.ImmSource):
			reg[in.Dst] = uint64(uint32(reg[in.Dst]) & uint32(in.Constant))
		case op == asm.RSh.Op32(asm.ImmSource):
			reg[in.Dst] = uint64(uint32(reg[in.Dst]) >> uint32(in.Constant))
		case op == asm.Mov.Op32(asm.RegSource):
			reg[in.Dst] = uint64(uint32(reg[in.Src]))
		case op == asm.Mov.Op(asm.ImmSource):
			reg[in.Dst] = uint64(in.Constant)
		case op == asm.JNE.Op(asm.ImmSource), op == asm.JEq.Op(asm.ImmSource):
			target, ok := labels[in.Reference()]
			if !ok {
				t.Fatalf("jump at %d to unknown label %q", pc, in.Reference())
			}
			if target <= pc {
				t.Fatalf("backward jump at %d", pc)
			}
			if (reg[in.Dst] == uint64(in.Constant)) == (op.JumpOp() == asm.JEq) {
				pc = target - 1
			}
		case op.JumpOp() == asm.Exit:
			return reg[0] == 1
		default:
			t.Fatalf("unexpected instruction %v at %d", in, pc)
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
	if ids := attachedDevicePrograms(t, dir); len(ids) != 1 {
		t.Errorf("%d device programs attached after two Sets, want 1", len(ids))
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	_ = cmd.Wait()
	got, _ := os.ReadFile(outFile)
	if !strings.Contains(string(got), "null-ok") || !strings.Contains(string(got), "zero-ok") {
		t.Errorf("allowed devices refused: output %q", got)
	}

	// A second program attached beside ours (another manager's): the
	// next Set cannot swap one for one, so it attaches its program and
	// detaches both old ones.
	attachAllowAll(t, dir)
	if ids := attachedDevicePrograms(t, dir); len(ids) != 2 {
		t.Fatalf("%d device programs attached, want 2", len(ids))
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
	if ids := attachedDevicePrograms(t, dir); len(ids) != 1 {
		t.Errorf("%d device programs attached after replacing two, want 1", len(ids))
	}
}

// attachedDevicePrograms lists the device programs attached to dir.
func attachedDevicePrograms(t *testing.T, dir string) []ebpf.ProgramID {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ids, err := deviceProgramIDs(fd)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// attachAllowAll attaches a device program that allows everything to dir
// with BPF_F_ALLOW_MULTI.
func attachAllowAll(t *testing.T, dir string) {
	t.Helper()
	insns, err := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, License: "Apache", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = link.RawAttachProgram(link.RawAttachProgramOptions{Target: fd, Program: prog,
		Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI})
	if err != nil {
		t.Fatal(err)
	}
}
