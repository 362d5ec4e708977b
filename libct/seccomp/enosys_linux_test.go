package seccomp

import (
	"fmt"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// runStub interprets the ENOSYS stub for one seccomp_data: it returns
// "ENOSYS", or "filter" when control reaches libseccomp's program.
func runStub(t *testing.T, stub []unix.SockFilter, arch, nr uint32) string {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(stub); {
		in := stub[pc]
		switch in.Code {
		case bpfLdWAbs:
			switch in.K {
			case offNr:
				a = nr
			case offArch:
				a = arch
			default:
				t.Fatalf("pc %d: load of offset %d", pc, in.K)
			}
			pc++
		case bpfJeqK, bpfJgtK, bpfJsetK:
			var cond bool
			switch in.Code {
			case bpfJeqK:
				cond = a == in.K
			case bpfJgtK:
				cond = a > in.K
			default:
				cond = a&in.K != 0
			}
			if cond {
				pc += 1 + int(in.Jt)
			} else {
				pc += 1 + int(in.Jf)
			}
		case bpfJa:
			pc += 1 + int(in.K)
		case bpfRetK:
			if in.K != retErrnoENOSYS {
				t.Fatalf("pc %d: returns %#x", pc, in.K)
			}
			return "ENOSYS"
		default:
			t.Fatalf("pc %d: unexpected opcode %#x", pc, in.Code)
		}
		if pc > len(stub) {
			t.Fatalf("jump past the stub's end to %d", pc)
		}
	}
	return "filter"
}

func TestENOSYSStub(t *testing.T) {
	three := dockerLike() // x86_64, x86, x32
	maxes, err := maxSyscalls(three)
	if err != nil {
		t.Fatal(err)
	}
	var x86_64, x32, i386 uint32
	for _, m := range maxes {
		switch m.arch {
		case unix.AUDIT_ARCH_X86_64:
			if !m.hasPlain || !m.hasX32 {
				t.Fatalf("x86_64 entry %+v lacks x86_64 or x32", m)
			}
			x86_64, x32 = m.plain, m.x32|x32SyscallBit
		case unix.AUDIT_ARCH_I386:
			i386 = m.plain
		}
	}
	if x86_64 != unix.SYS_FACCESSAT2 {
		t.Fatalf("highest x86_64 syscall of the profile = %d, want faccessat2 (%d)", x86_64, unix.SYS_FACCESSAT2)
	}
	amd64Only := dockerLike()
	amd64Only.Architectures = nil
	allowing := dockerLike()
	allowing.DefaultAction = specs.ActLog

	tests := []struct {
		name    string
		profile *specs.LinuxSeccomp
		arch    uint32
		nr      uint32
		want    string
	}{
		{"x86_64 highest", three, unix.AUDIT_ARCH_X86_64, x86_64, "filter"},
		{"x86_64 above highest", three, unix.AUDIT_ARCH_X86_64, x86_64 + 1, "ENOSYS"},
		{"x86_64 zero", three, unix.AUDIT_ARCH_X86_64, 0, "filter"},
		{"x32 highest", three, unix.AUDIT_ARCH_X86_64, x32, "filter"},
		{"x32 above highest", three, unix.AUDIT_ARCH_X86_64, x32 + 1, "ENOSYS"},
		{"i386 highest", three, unix.AUDIT_ARCH_I386, i386, "filter"},
		{"i386 above highest", three, unix.AUDIT_ARCH_I386, i386 + 1, "ENOSYS"},
		{"arch not in profile", three, unix.AUDIT_ARCH_AARCH64, 5000, "filter"},
		{"x32 call, profile without x32", amd64Only, unix.AUDIT_ARCH_X86_64, x32SyscallBit | 5000, "filter"},
		{"x86_64 above highest, profile without x32", amd64Only, unix.AUDIT_ARCH_X86_64, 5000, "ENOSYS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stub, err := enosysStub(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			if got := runStub(t, stub, tt.arch, tt.nr); got != tt.want {
				t.Fatalf("arch %#x nr %#x: %s, want %s", tt.arch, tt.nr, got, tt.want)
			}
		})
	}
	if stub, err := enosysStub(allowing); err != nil || stub != nil {
		t.Fatalf("allowing default: stub %v, %v; want none", stub, err)
	}
}

// TestENOSYSLoaded checks the stub in the kernel: under a denying profile a
// syscall newer than the profile fails with ENOSYS (so libc falls back),
// an older unlisted one with the default EPERM.
func TestENOSYSLoaded(t *testing.T) {
	requireRoot(t)
	const future = 1000 // above every syscall Linux has today
	out := runHelperProcess(t, helperRequest{Profile: dockerLike(), Calls: []sysCall{
		{Nr: future}, {Nr: unix.SYS_ACCT}, {Nr: unix.SYS_GETPGID}, {Nr: unix.SYS_CLONE3},
	}})
	if out.err != nil {
		t.Fatalf("helper: %v: %s", out.err, out.stderr)
	}
	want := []syscall.Errno{unix.ENOSYS, unix.EPERM, 0, unix.ENOSYS}
	for i, r := range out.results {
		if r.Errno != want[i] {
			t.Errorf("call %d: %v, want %v", i, r.Errno, want[i])
		}
	}
	if len(out.results) != len(want) {
		t.Fatal(fmt.Sprint("results: ", out.results))
	}
}
