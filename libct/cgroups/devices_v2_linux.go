package cgroups

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setDevices enforces the device rules on v2, which has no devices.*
// files: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE is attached to
// the cgroup; the kernel runs it on every open(2) and mknod(2) of a device
// node and denies access when it returns 0. The program is built, loaded
// and attached with github.com/cilium/ebpf.
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

// The values of struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h).
const (
	devcgBlk  = 1 // BPF_DEVCG_DEV_BLOCK
	devcgChr  = 2 // BPF_DEVCG_DEV_CHAR
	devcgMknd = 1 // BPF_DEVCG_ACC_MKNOD
	devcgRead = 2 // BPF_DEVCG_ACC_READ
	devcgWrit = 4 // BPF_DEVCG_ACC_WRITE
)

// deviceProgram compiles the spec's device rules to eBPF. The rules are
// checked last to first, so that a later rule overrides an earlier one as
// in the v1 allow/deny lists; the first match decides, and a request no
// rule matches is denied. An allow rule matches when it grants every
// access asked for; a deny rule when it refuses any of them.
//
// The context (struct bpf_cgroup_dev_ctx) is: u32 access_type (access
// << 16 | device type), u32 major, u32 minor. Registers: r2 type, r3
// access, r4 major, r5 minor, r6 scratch.
func deviceProgram(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	prog := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	// next labels the code that runs when the block just emitted does
	// not match: the following block, or the final deny.
	next := ""
	label := func(block asm.Instructions) asm.Instructions {
		if next != "" {
			block[0] = block[0].WithSymbol(next)
		}
		return block
	}
	for i := len(rules) - 1; i >= 0; i-- {
		block, final, err := deviceRuleBlock(rules[i], "rule"+strconv.Itoa(i)+"_next")
		if err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		prog = append(prog, label(block)...)
		next = "rule" + strconv.Itoa(i) + "_next"
		if final {
			// A rule that matches everything decides every request: the
			// verifier refuses the unreachable code after it.
			for j := i - 1; j >= 0; j-- {
				if _, _, err := deviceRuleBlock(rules[j], ""); err != nil {
					return nil, fmt.Errorf("devices[%d]: %w", j, err)
				}
			}
			return prog, nil
		}
	}
	return append(prog, label(asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})...), nil
}

// deviceRuleBlock is one rule's test: jumps to next on a mismatch, returns
// the rule's verdict on a match. final is set for a rule without
// conditions, which matches every request.
func deviceRuleBlock(d specs.LinuxDeviceCgroup, next string) (block asm.Instructions, final bool, err error) {
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
	jumps := 0
	jump := func(in asm.Instruction) {
		jumps++
		block = append(block, in)
	}
	switch d.Type {
	case "", "a":
	case "c":
		jump(asm.JNE.Imm(asm.R2, devcgChr, next))
	case "b":
		jump(asm.JNE.Imm(asm.R2, devcgBlk, next))
	default:
		return nil, false, fmt.Errorf("device type %q: want a, b or c", d.Type)
	}
	const all = devcgRead | devcgWrit | devcgMknd
	if access != all {
		block = append(block, asm.Mov.Reg32(asm.R6, asm.R3))
		if d.Allow {
			block = append(block, asm.And.Imm32(asm.R6, ^access&all))
			jump(asm.JNE.Imm(asm.R6, 0, next)) // asks for more than granted
		} else {
			block = append(block, asm.And.Imm32(asm.R6, access))
			jump(asm.JEq.Imm(asm.R6, 0, next)) // asks for nothing refused
		}
	}
	if d.Major != nil && *d.Major >= 0 {
		jump(asm.JNE.Imm(asm.R4, int32(*d.Major), next))
	}
	if d.Minor != nil && *d.Minor >= 0 {
		jump(asm.JNE.Imm(asm.R5, int32(*d.Minor), next))
	}
	verdict := int32(0)
	if d.Allow {
		verdict = 1
	}
	block = append(block, asm.Mov.Imm(asm.R0, verdict), asm.Return())
	return block, jumps == 0, nil
}

// attachDeviceProgram loads insns and attaches the program to the cgroup
// dir in place of the device programs attached before (an earlier Set's),
// as runc does: with a single old program, BPF_F_REPLACE swaps it
// atomically; otherwise (none, several, or a kernel before 5.6 without
// BPF_F_REPLACE) the new program is attached with BPF_F_ALLOW_MULTI first
// and the old ones are detached after, so the rules never loosen in
// between: while both run, a device must pass both.
func attachDeviceProgram(dir string, insns asm.Instructions) error {
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(cg)
	old, err := deviceProgramIDs(cg)
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "hull_devices",
		Type:         ebpf.CGroupDevice,
		License:      "Apache",
		Instructions: insns,
	})
	if err != nil {
		return fmt.Errorf("load the device program: %w", err)
	}
	defer prog.Close()
	attach := link.RawAttachProgramOptions{
		Target:  cg,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}
	if len(old) == 1 {
		if oldProg, err := ebpf.NewProgramFromID(old[0]); err == nil {
			replace := attach
			replace.Anchor = link.ReplaceProgram(oldProg)
			err = link.RawAttachProgram(replace)
			oldProg.Close()
			if err == nil {
				return nil
			}
		}
	}
	if err := link.RawAttachProgram(attach); err != nil {
		return fmt.Errorf("attach the device program to %s: %w", dir, err)
	}
	var errs []error
	for _, id := range old {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("old device program %d: %w", id, err))
			}
			continue
		}
		err = link.RawDetachProgram(link.RawDetachProgramOptions{Target: cg, Program: p, Attach: ebpf.AttachCGroupDevice})
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach the old device program %d from %s: %w", id, dir, err))
		}
		p.Close()
	}
	return errors.Join(errs...)
}

// deviceProgramIDs lists the device programs attached to the cgroup fd
// itself.
func deviceProgramIDs(cg int) ([]ebpf.ProgramID, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: cg, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		return nil, fmt.Errorf("query the device programs: %w", err)
	}
	ids := make([]ebpf.ProgramID, len(res.Programs))
	for i, p := range res.Programs {
		ids[i] = p.ID
	}
	return ids, nil
}
