package libct

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Scheduling policies and flags of sched_setattr(2), by the spec's names.
var (
	schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
		specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2,
		specs.SchedBatch: 3, specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
	}
	schedFlagBits = map[specs.LinuxSchedulerFlag]uint64{
		specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02,
		specs.SchedFlagDLOverrun: 0x04, specs.SchedFlagKeepPolicy: 0x08,
		specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
		specs.SchedFlagUtilClampMax: 0x40,
	}
	ioprioClasses = map[specs.IOPriorityClass]int{
		specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
	}
)

// schedAttr turns process.scheduler into sched_setattr(2)'s argument.
func schedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("unknown policy %q", s.Policy)
	}
	attr := &unix.SchedAttr{
		Size:     schedAttrSize,
		Policy:   policy,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}
	for _, f := range s.Flags {
		bit, ok := schedFlagBits[f]
		if !ok {
			return nil, fmt.Errorf("unknown flag %q", f)
		}
		attr.Flags |= bit
	}
	return attr, nil
}

// ioprioValue turns process.ioPriority into ioprio_set(2)'s value.
func ioprioValue(p *specs.LinuxIOPriority) (int, error) {
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return 0, fmt.Errorf("unknown class %q", p.Class)
	}
	const ioprioClassShift = 13
	return class<<ioprioClassShift | p.Priority, nil
}

// setIOPriority sets the calling process's I/O priority (ioprio_set(2)).
func setIOPriority(prio int) error {
	const ioprioWhoProcess = 1
	if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
		return fmt.Errorf("ioprio_set %#x: %w", prio, e)
	}
	return nil
}

// setCPUAffinity pins the calling thread (the one that will execve) to the
// CPUs of a list like "0-3,7".
func setCPUAffinity(list string) error {
	set, err := parseCPUList(list)
	if err != nil {
		return err
	}
	if err := unix.SchedSetaffinity(0, set); err != nil {
		return fmt.Errorf("sched_setaffinity %s: %w", list, err)
	}
	return nil
}

// parseCPUList parses a CPU list like "0-3,7".
func parseCPUList(list string) (*unix.CPUSet, error) {
	var set unix.CPUSet
	set.Zero()
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			set.Set(cpu)
		}
	}
	if set.Count() == 0 {
		return nil, fmt.Errorf("cpu list %q is empty", list)
	}
	return &set, nil
}
