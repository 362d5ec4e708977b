package seccomp

import (
	"bytes"
	"encoding/binary"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The ENOSYS stub. A profile is written against the syscalls of its day;
// with a denying default action, a syscall added to the kernel later gets
// the default errno (usually EPERM), and a libc that tries the new syscall
// first and falls back on ENOSYS (glibc's clone3 -> clone, faccessat2,
// openat2, close_range...) then fails instead of falling back. As runc does,
// hull puts a short program in front of libseccomp's that returns ENOSYS for
// every syscall numbered above the highest one the profile names, per
// architecture; everything else goes to libseccomp's program unchanged.
// With an allowing default (ALLOW, LOG, TRACE) nothing is prepended.

const x32SyscallBit = 0x40000000 // __X32_SYSCALL_BIT

// auditArch is the AUDIT_ARCH_* value seccomp_data.arch holds for a
// libseccomp architecture; x32 shares x86_64's and sets x32SyscallBit in
// the syscall number.
var auditArch = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchX86: unix.AUDIT_ARCH_I386, libseccomp.ArchAMD64: unix.AUDIT_ARCH_X86_64, libseccomp.ArchX32: unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchARM: unix.AUDIT_ARCH_ARM, libseccomp.ArchARM64: unix.AUDIT_ARCH_AARCH64,
	libseccomp.ArchMIPS: unix.AUDIT_ARCH_MIPS, libseccomp.ArchMIPS64: unix.AUDIT_ARCH_MIPS64, libseccomp.ArchMIPS64N32: unix.AUDIT_ARCH_MIPS64N32,
	libseccomp.ArchMIPSEL: unix.AUDIT_ARCH_MIPSEL, libseccomp.ArchMIPSEL64: unix.AUDIT_ARCH_MIPSEL64, libseccomp.ArchMIPSEL64N32: unix.AUDIT_ARCH_MIPSEL64N32,
	libseccomp.ArchPPC: unix.AUDIT_ARCH_PPC, libseccomp.ArchPPC64: unix.AUDIT_ARCH_PPC64, libseccomp.ArchPPC64LE: unix.AUDIT_ARCH_PPC64LE,
	libseccomp.ArchS390: unix.AUDIT_ARCH_S390, libseccomp.ArchS390X: unix.AUDIT_ARCH_S390X,
	libseccomp.ArchPARISC: unix.AUDIT_ARCH_PARISC, libseccomp.ArchPARISC64: unix.AUDIT_ARCH_PARISC64,
	libseccomp.ArchRISCV64: unix.AUDIT_ARCH_RISCV64, libseccomp.ArchLOONGARCH64: unix.AUDIT_ARCH_LOONGARCH64,
	libseccomp.ArchM68K: unix.AUDIT_ARCH_M68K, libseccomp.ArchSH: unix.AUDIT_ARCH_SHEL, libseccomp.ArchSHEB: unix.AUDIT_ARCH_SH,
}

// archMax is the highest syscall number a profile names on one AUDIT_ARCH:
// plain is for the arch itself, x32 for x32 on x86_64 (bit 30 set).
type archMax struct {
	arch       uint32
	plain, x32 uint32
	hasPlain   bool
	hasX32     bool
	s390       bool
}

// Classic BPF opcodes (linux/bpf_common.h).
const (
	bpfLdWAbs = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	bpfJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfJa     = unix.BPF_JMP | unix.BPF_JA
	bpfRetK   = unix.BPF_RET | unix.BPF_K

	offNr   = 0 // offsetof(struct seccomp_data, nr)
	offArch = 4 // offsetof(struct seccomp_data, arch)

	retErrnoENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

func allowingAction(a specs.LinuxSeccompAction) bool {
	return a == specs.ActAllow || a == specs.ActLog || a == specs.ActTrace
}

// maxSyscalls finds, for each architecture of the filter (native plus
// listed), the highest syscall number the profile names.
func maxSyscalls(s *specs.LinuxSeccomp) ([]*archMax, error) {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, fmt.Errorf("native architecture: %w", err)
	}
	arches := []libseccomp.ScmpArch{native}
	for _, a := range s.Architectures {
		arches = append(arches, archs[a])
	}
	var out []*archMax
	byAudit := map[uint32]*archMax{}
	seen := map[libseccomp.ScmpArch]bool{}
	for _, a := range arches {
		if seen[a] {
			continue
		}
		seen[a] = true
		audit, ok := auditArch[a]
		if !ok {
			return nil, fmt.Errorf("no AUDIT_ARCH for %v", a)
		}
		var max uint32
		found := false
		for _, sc := range s.Syscalls {
			for _, name := range sc.Names {
				nr, err := libseccomp.GetSyscallFromNameByArch(name, a)
				if err != nil || nr < 0 {
					continue // unknown here, or a multiplexed pseudo-syscall
				}
				if uint32(nr) >= max {
					max, found = uint32(nr), true
				}
			}
		}
		if !found {
			continue
		}
		m := byAudit[audit]
		if m == nil {
			m = &archMax{arch: audit, s390: a == libseccomp.ArchS390 || a == libseccomp.ArchS390X}
			byAudit[audit] = m
			out = append(out, m)
		}
		if a == libseccomp.ArchX32 {
			m.x32, m.hasX32 = max, true
		} else {
			m.plain, m.hasPlain = max, true
		}
	}
	return out, nil
}

// insn is one stub instruction whose jump targets are labels, resolved once
// the stub's length is known. A label >= 0 is the index of an arch section
// (len(sections) being the final "unknown arch" jump); the constants below
// name the other targets; absLabel(pc) is instruction pc itself. Only jump
// instructions use their labels.
type insn struct {
	code     uint16
	k        uint32
	jt, jf   int // conditional jumps
	jaTarget int // BPF_JA
}

const (
	lblNext   = -1 // the next instruction
	lblENOSYS = -2 // the "return ENOSYS" instruction
	lblFilter = -3 // the first instruction of libseccomp's program
)

func absLabel(pc int) int { return -1000 - pc }

// enosysStub returns the instructions to prepend to libseccomp's program,
// or nil when none are needed.
func enosysStub(s *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	if allowingAction(s.DefaultAction) {
		return nil, nil
	}
	maxes, err := maxSyscalls(s)
	if err != nil || len(maxes) == 0 {
		return nil, err
	}
	// Sections are addressed by label = index of their first instruction,
	// filled in as they are emitted.
	var prog []insn
	sectionStart := make([]int, len(maxes)+1)
	prog = append(prog, insn{code: bpfLdWAbs, k: offArch})
	for i, m := range maxes {
		sectionStart[i] = len(prog)
		next := i + 1 // label: next section (or the fall-through jump)
		prog = append(prog, insn{code: bpfJeqK, k: m.arch, jt: lblNext, jf: next})
		prog = append(prog, insn{code: bpfLdWAbs, k: offNr})
		if m.s390 {
			// s390 multiplexes syscalls it does not know through
			// syscall 0 (the ancient setup(2)): that is ENOSYS too.
			prog = append(prog, insn{code: bpfJeqK, k: 0, jt: lblENOSYS, jf: lblNext})
		}
		switch {
		case m.arch == unix.AUDIT_ARCH_X86_64 && m.hasPlain && m.hasX32:
			jsetAt := len(prog)
			prog = append(prog, insn{code: bpfJsetK, k: x32SyscallBit, jf: lblNext})
			prog = append(prog, insn{code: bpfJgtK, k: m.plain, jt: lblENOSYS, jf: lblFilter})
			prog[jsetAt].jt = absLabel(len(prog)) // the x32 check below
			prog = append(prog, insn{code: bpfJgtK, k: m.x32 | x32SyscallBit, jt: lblENOSYS, jf: lblFilter})
		case m.arch == unix.AUDIT_ARCH_X86_64 && m.hasPlain:
			// x32 calls are not this profile's business: libseccomp's
			// program applies its bad-arch action to them.
			prog = append(prog, insn{code: bpfJsetK, k: x32SyscallBit, jt: lblFilter, jf: lblNext})
			prog = append(prog, insn{code: bpfJgtK, k: m.plain, jt: lblENOSYS, jf: lblFilter})
		case m.arch == unix.AUDIT_ARCH_X86_64:
			prog = append(prog, insn{code: bpfJsetK, k: x32SyscallBit, jt: lblNext, jf: lblFilter})
			prog = append(prog, insn{code: bpfJgtK, k: m.x32 | x32SyscallBit, jt: lblENOSYS, jf: lblFilter})
		default:
			prog = append(prog, insn{code: bpfJgtK, k: m.plain, jt: lblENOSYS, jf: lblFilter})
		}
	}
	sectionStart[len(maxes)] = len(prog)
	prog = append(prog, insn{code: bpfJa, jaTarget: lblFilter}) // unknown arch
	enosysAt := len(prog)
	prog = append(prog, insn{code: bpfRetK, k: retErrnoENOSYS})
	filterAt := len(prog)

	resolve := func(pc, label int) (int, error) {
		var target int
		switch {
		case label == lblNext:
			target = pc + 1
		case label == lblENOSYS:
			target = enosysAt
		case label == lblFilter:
			target = filterAt
		case label <= absLabel(0):
			target = absLabel(0) - label
		default:
			target = sectionStart[label]
		}
		off := target - pc - 1
		if off < 0 {
			return 0, fmt.Errorf("enosys stub: backward jump at %d", pc)
		}
		return off, nil
	}
	out := make([]unix.SockFilter, len(prog))
	for pc, in := range prog {
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch in.code {
		case bpfJa:
			off, err := resolve(pc, in.jaTarget)
			if err != nil {
				return nil, err
			}
			f.K = uint32(off)
		case bpfJeqK, bpfJgtK, bpfJsetK:
			jt, err := resolve(pc, in.jt)
			if err != nil {
				return nil, err
			}
			jf, err := resolve(pc, in.jf)
			if err != nil {
				return nil, err
			}
			if jt > 255 || jf > 255 {
				return nil, fmt.Errorf("enosys stub: jump too long at %d", pc)
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		out[pc] = f
	}
	return out, nil
}

// prependENOSYS returns prog with the ENOSYS stub for s in front.
func prependENOSYS(s *specs.LinuxSeccomp, prog []byte) ([]byte, error) {
	stub, err := enosysStub(s)
	if err != nil || len(stub) == 0 {
		return prog, err
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.NativeEndian, stub); err != nil {
		return nil, fmt.Errorf("enosys stub: %w", err)
	}
	buf.Write(prog)
	return buf.Bytes(), nil
}
