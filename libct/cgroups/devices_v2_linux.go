package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setDevices enforces the device rules on v2, which has no devices.*
// files: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE is attached to
// the cgroup; the kernel runs it on every open(2) and mknod(2) of a device
// node and denies access when it returns 0.
func (m *v2Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	if m.rootless {
		// Loading BPF needs CAP_BPF/CAP_SYS_ADMIN in the init user
		// namespace; a rootless container relies on its user namespace,
		// where mknod(2) of a device is refused anyway.
		return nil
	}
	insns, err := deviceProgram(r.Devices)
	if err != nil {
		return fmt.Errorf("set devices: %w", err)
	}
	if err := attachDeviceProgram(m.dir, insns); err != nil {
		return fmt.Errorf("set devices: %w", err)
	}
	return nil
}

// bpfInsn is one eBPF instruction (struct bpf_insn).
type bpfInsn struct {
	code uint8
	regs uint8 // dst in the low nibble, src in the high one
	off  int16
	imm  int32
}

// The eBPF opcodes the device program uses.
const (
	opLdxW    = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W   // dst = *(u32 *)(src + off)
	opAnd32K  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K   // dst &= imm
	opRsh32K  = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K   // dst >>= imm
	opMov32X  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X   // dst = src
	opMov64K  = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K // dst = imm
	opJneK    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K   // if dst != imm goto +off
	opJeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K   // if dst == imm goto +off
	opExit    = unix.BPF_JMP | unix.BPF_EXIT
	devcgBlk  = 1 // BPF_DEVCG_DEV_BLOCK
	devcgChr  = 2 // BPF_DEVCG_DEV_CHAR
	devcgMknd = 1 // BPF_DEVCG_ACC_MKNOD
	devcgRead = 2 // BPF_DEVCG_ACC_READ
	devcgWrit = 4 // BPF_DEVCG_ACC_WRITE
)

func insn(code uint8, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// deviceProgram compiles the spec's device rules to eBPF. The rules are
// checked last to first, so that a later rule overrides an earlier one as
// in the v1 allow/deny lists; the first match decides, and a request no
// rule matches is denied. An allow rule matches when it grants every
// access asked for; a deny rule when it refuses any of them.
//
// The context (struct bpf_cgroup_dev_ctx) is: u32 access_type (access
// << 16 | device type), u32 major, u32 minor. Registers: r2 type, r3
// access, r4 major, r5 minor, r6 scratch.
func deviceProgram(rules []specs.LinuxDeviceCgroup) ([]bpfInsn, error) {
	prog := []bpfInsn{
		insn(opLdxW, 2, 1, 0, 0),
		insn(opAnd32K, 2, 0, 0, 0xffff),
		insn(opLdxW, 3, 1, 0, 0),
		insn(opRsh32K, 3, 0, 0, 16),
		insn(opLdxW, 4, 1, 4, 0),
		insn(opLdxW, 5, 1, 8, 0),
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, final, err := deviceRuleBlock(rules[i])
		if err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		prog = append(prog, block...)
		if final {
			// A rule that matches everything decides every request: the
			// verifier refuses the unreachable code after it.
			for j := i - 1; j >= 0; j-- {
				if _, _, err := deviceRuleBlock(rules[j]); err != nil {
					return nil, fmt.Errorf("devices[%d]: %w", j, err)
				}
			}
			return prog, nil
		}
	}
	return append(prog, insn(opMov64K, 0, 0, 0, 0), insn(opExit, 0, 0, 0, 0)), nil
}

// deviceRuleBlock is one rule's test: jumps past the block's end on a
// mismatch, returns the rule's verdict on a match. final is set for a rule
// without conditions, which matches every request.
func deviceRuleBlock(d specs.LinuxDeviceCgroup) (block []bpfInsn, final bool, err error) {
	var access int32
	acc := d.Access
	if acc == "" {
		acc = "rwm"
	}
	for _, c := range acc {
		switch c {
		case 'r':
			access |= devcgRead
		case 'w':
			access |= devcgWrit
		case 'm':
			access |= devcgMknd
		default:
			return nil, false, fmt.Errorf("device access %q: want letters of rwm", d.Access)
		}
	}
	// Each test is a jump to "next", patched once the block's length is
	// known (offset 0 here marks it).
	var jumps []int
	jump := func(in bpfInsn) {
		jumps = append(jumps, len(block))
		block = append(block, in)
	}
	switch d.Type {
	case "", "a":
	case "c":
		jump(insn(opJneK, 2, 0, 0, devcgChr))
	case "b":
		jump(insn(opJneK, 2, 0, 0, devcgBlk))
	default:
		return nil, false, fmt.Errorf("device type %q: want a, b or c", d.Type)
	}
	const all = devcgRead | devcgWrit | devcgMknd
	if access != all {
		block = append(block, insn(opMov32X, 6, 3, 0, 0))
		if d.Allow {
			block = append(block, insn(opAnd32K, 6, 0, 0, ^access&all))
			jump(insn(opJneK, 6, 0, 0, 0)) // asks for more than granted
		} else {
			block = append(block, insn(opAnd32K, 6, 0, 0, access))
			jump(insn(opJeqK, 6, 0, 0, 0)) // asks for nothing refused
		}
	}
	if d.Major != nil && *d.Major >= 0 {
		jump(insn(opJneK, 4, 0, 0, int32(*d.Major)))
	}
	if d.Minor != nil && *d.Minor >= 0 {
		jump(insn(opJneK, 5, 0, 0, int32(*d.Minor)))
	}
	verdict := int32(0)
	if d.Allow {
		verdict = 1
	}
	block = append(block, insn(opMov64K, 0, 0, 0, verdict), insn(opExit, 0, 0, 0, 0))
	for _, j := range jumps {
		block[j].off = int16(len(block) - j - 1)
	}
	return block, len(jumps) == 0, nil
}

// bpfProgLoadAttr is the BPF_PROG_LOAD member of union bpf_attr, up to
// expected_attach_type.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfAttachAttr is the BPF_PROG_ATTACH/DETACH member of union bpf_attr.
type bpfAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

// bpfQueryAttr is the BPF_PROG_QUERY member of union bpf_attr.
type bpfQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// loadDeviceProgram loads insns into the kernel and returns the program fd.
// On a verifier error the kernel's log is part of the error.
func loadDeviceProgram(insns []bpfInsn) (int, error) {
	license := []byte("Apache\x00")
	logBuf := make([]byte, 64*1024)
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	copy(attr.progName[:], "hull_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if err != nil {
		log := logBuf
		if i := indexByte(log, 0); i >= 0 {
			log = log[:i]
		}
		return -1, fmt.Errorf("bpf(BPF_PROG_LOAD) of the device program: %w: %s", err, log)
	}
	return fd, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// attachDeviceProgram loads insns and attaches the program to the cgroup
// dir with BPF_F_ALLOW_MULTI, then detaches the device programs that were
// attached before (an earlier Set's). The new program is in place before
// the old ones go, so the rules never loosen in between: while both run,
// a device must pass both.
func attachDeviceProgram(dir string, insns []bpfInsn) error {
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(cg)
	old, err := queryDevicePrograms(cg)
	if err != nil {
		return err
	}
	prog, err := loadDeviceProgram(insns)
	if err != nil {
		return err
	}
	defer unix.Close(prog)
	attach := bpfAttachAttr{
		targetFd:    uint32(cg),
		attachBpfFd: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attach), unsafe.Sizeof(attach)); err != nil {
		return fmt.Errorf("bpf(BPF_PROG_ATTACH) of the device program to %s: %w", dir, err)
	}
	var errs []error
	for _, id := range old {
		getFd := struct{ id, nextID, openFlags uint32 }{id: id}
		ofd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&getFd), unsafe.Sizeof(getFd))
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			errs = append(errs, fmt.Errorf("bpf(BPF_PROG_GET_FD_BY_ID %d): %w", id, err))
			continue
		}
		detach := bpfAttachAttr{targetFd: uint32(cg), attachBpfFd: uint32(ofd), attachType: unix.BPF_CGROUP_DEVICE}
		if _, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&detach), unsafe.Sizeof(detach)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("bpf(BPF_PROG_DETACH) of the old device program %d from %s: %w", id, dir, err))
		}
		unix.Close(ofd)
	}
	return errors.Join(errs...)
}

// queryDevicePrograms lists the ids of the device programs attached to the
// cgroup fd itself.
func queryDevicePrograms(cg int) ([]uint32, error) {
	ids := make([]uint32, 64)
	q := bpfQueryAttr{
		targetFd:   uint32(cg),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&q), unsafe.Sizeof(q))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("bpf(BPF_PROG_QUERY) of device programs: %w", err)
	}
	return ids[:q.progCnt], nil
}
