package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Set writes r to the cgroup's v2 files; the unified map goes last, so that
// it overrides what the structured fields wrote.
func (m *v2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m.skipped {
		if isEmptyResources(r) {
			return nil
		}
		return fmt.Errorf("set resources: the rootless container could not create or join cgroup %s", m.dir)
	}
	steps := []func(*specs.LinuxResources) error{
		m.setCpuset, m.setMemory, m.setCPU, m.setPids, m.setIO,
		m.setHugetlb, m.setRdma, m.setDevices, m.setUnified,
	}
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	if r.Network != nil && (r.Network.ClassID != nil || len(r.Network.Priorities) > 0) {
		return fmt.Errorf("set network classID/priorities: no net_cls/net_prio on cgroup v2: %w", ErrNotSupported)
	}
	m.res = r
	return nil
}

// isEmptyResources reports resources that ask for nothing.
func isEmptyResources(r *specs.LinuxResources) bool {
	return r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil &&
		len(r.HugepageLimits) == 0 && r.Network == nil && len(r.Rdma) == 0 && len(r.Unified) == 0
}

func (m *v2Manager) setCpuset(r *specs.LinuxResources) error {
	if r.CPU == nil {
		return nil
	}
	if r.CPU.Cpus != "" {
		if err := writeFile(m.dir, "cpuset.cpus", r.CPU.Cpus); err != nil {
			return v2CtrlErr("cpuset", err)
		}
	}
	if r.CPU.Mems != "" {
		if err := writeFile(m.dir, "cpuset.mems", r.CPU.Mems); err != nil {
			return v2CtrlErr("cpuset", err)
		}
	}
	return nil
}

// v2CtrlErr explains a missing interface file: the controller is not
// enabled for the cgroup.
func v2CtrlErr(ctrl string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (the %s controller is not enabled for the cgroup): %w", err, ctrl, ErrNotSupported)
	}
	return err
}

// setMemory writes memory.swap.max, memory.max and memory.low. The spec's
// swap is memory+swap (v1's memsw): v2 limits swap alone, so the memory
// limit is subtracted. Swap goes first so that the pair is never, even for
// a moment, looser than asked. Swappiness, disableOOMKiller and the kernel
// memory limits have no v2 files and are ignored, as the spec allows.
func (m *v2Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	var limit, swap int64
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	swapV2, err := ConvertMemorySwapToV2(swap, limit)
	if err != nil {
		return fmt.Errorf("set memory: %w", err)
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && limit > 0 {
		usage, err := readUint(m.dir, "memory.current")
		if err != nil {
			return v2CtrlErr("memory", err)
		}
		if uint64(limit) < usage {
			return fmt.Errorf("set memory limit %d: lower than the current usage %d (checkBeforeUpdate)", limit, usage)
		}
	}
	// swapV2 is 0 both for "unset" and for "no swap at all" (swap equal
	// to the limit): only the spec's value tells them apart.
	if swap != 0 || swapV2 == -1 {
		if err := writeFile(m.dir, "memory.swap.max", v2Max(swapV2)); err != nil {
			// No swap accounting (CONFIG_MEMCG_SWAP off or swapaccount=0):
			// only "unlimited" can be honoured then.
			if !errors.Is(err, os.ErrNotExist) || swapV2 != -1 {
				return v2CtrlErr("memory", err)
			}
		}
	}
	if limit != 0 {
		if err := writeFile(m.dir, "memory.max", v2Max(limit)); err != nil {
			return v2CtrlErr("memory", err)
		}
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(m.dir, "memory.low", v2Max(*mem.Reservation)); err != nil {
			return v2CtrlErr("memory", err)
		}
	}
	return nil
}

// v2Max formats a limit where -1 means "max".
func v2Max(v int64) string {
	if v == -1 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (m *v2Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil {
		return nil
	}
	if (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) || (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) {
		return fmt.Errorf("set cpu realtimePeriod/realtimeRuntime: no realtime group scheduling on cgroup v2: %w", ErrNotSupported)
	}
	if c.Shares != nil && *c.Shares != 0 {
		w := ConvertCPUSharesToWeight(*c.Shares)
		if err := writeFile(m.dir, "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return v2CtrlErr("cpu", err)
		}
	}
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota != 0 || period != 0 {
		// "max" keeps the period; a quota alone keeps it too.
		v := "max"
		if quota > 0 {
			v = strconv.FormatInt(quota, 10)
		}
		if period != 0 {
			v += " " + strconv.FormatUint(period, 10)
		}
		if err := writeFile(m.dir, "cpu.max", v); err != nil {
			return v2CtrlErr("cpu", err)
		}
	}
	if c.Burst != nil {
		if err := writeFile(m.dir, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return v2CtrlErr("cpu", err)
		}
	}
	if c.Idle != nil {
		if err := writeFile(m.dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return v2CtrlErr("cpu", err)
		}
	}
	return nil
}

func (m *v2Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	if err := writeFile(m.dir, "pids.max", pidsMax(*r.Pids.Limit)); err != nil {
		return v2CtrlErr("pids", err)
	}
	return nil
}

// setIO maps blockIO to io.*: with BFQ, io.bfq.weight takes the v1 weight
// range (1-1000) as it is; otherwise the weight is converted to io.weight's
// 1-10000. The leaf weights have no v2 equivalent and are ignored.
func (m *v2Manager) setIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	bfq := false
	if _, err := os.Stat(filepath.Join(m.dir, "io.bfq.weight")); err == nil {
		bfq = true
	}
	weight := func(w uint16) (string, string) {
		if bfq {
			return "io.bfq.weight", strconv.FormatUint(uint64(w), 10)
		}
		return "io.weight", strconv.FormatUint(ConvertBlkioWeightToIOWeight(uint64(w)), 10)
	}
	if b.Weight != nil && *b.Weight != 0 {
		file, v := weight(*b.Weight)
		if !bfq {
			v = "default " + v
		}
		if err := writeFile(m.dir, file, v); err != nil {
			return v2CtrlErr("io", err)
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		file, v := weight(*wd.Weight)
		if err := writeFile(m.dir, file, fmt.Sprintf("%d:%d %s", wd.Major, wd.Minor, v)); err != nil {
			return v2CtrlErr("io", err)
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			v := strconv.FormatUint(d.Rate, 10)
			if d.Rate == 0 {
				v = "max" // v1 took 0 as "no limit"
			}
			line := fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, t.key, v)
			if err := writeFile(m.dir, "io.max", line); err != nil {
				return v2CtrlErr("io", err)
			}
		}
	}
	return nil
}

func (m *v2Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	return v2SetHugetlb(m.dir, r.HugepageLimits)
}

// v2SetHugetlb writes hugetlb.<size>.max and, where the kernel has
// reservation accounting, hugetlb.<size>.rsvd.max, which the spec prefers:
// a reservation limit fails mmap(2) instead of raising SIGBUS at fault time.
func v2SetHugetlb(dir string, limits []specs.LinuxHugepageLimit) error {
	if err := checkPagesizes(limits); err != nil {
		return err
	}
	for _, h := range limits {
		v := strconv.FormatUint(h.Limit, 10)
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".max", v); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("set hugepageLimits: size %q unknown or hugetlb controller not enabled: %w", h.Pagesize, err)
			}
			return err
		}
		if err := writeFile(dir, "hugetlb."+h.Pagesize+".rsvd.max", v); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (m *v2Manager) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	if err := setRdmaMax(m.dir, r.Rdma); err != nil {
		return v2CtrlErr("rdma", err)
	}
	return nil
}

// setUnified writes the unified map as it is. A key must name a file of
// this cgroup ("cpu.max", "memory.oom.group"); its controller, the part
// before the first dot, must be enabled for the cgroup, except for the
// core "cgroup." files. Anything else is an error, as the spec requires.
func (m *v2Manager) setUnified(r *specs.LinuxResources) error {
	if len(r.Unified) == 0 {
		return nil
	}
	ctrls, err := readFile(m.dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return fmt.Errorf("set unified %q: not a cgroup file name", k)
		}
		ctrl, _, ok := strings.Cut(k, ".")
		if !ok {
			return fmt.Errorf("set unified %q: not a cgroup interface file (want <controller>.<name>)", k)
		}
		if ctrl != "cgroup" && !hasWord(ctrls, ctrl) {
			return fmt.Errorf("set unified %q: the %s controller is not enabled for the cgroup (enabled: %q): %w", k, ctrl, strings.TrimSpace(ctrls), ErrNotSupported)
		}
		if err := writeFile(m.dir, k, r.Unified[k]); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("set unified %q: no such cgroup file: %w", k, err)
			}
			return fmt.Errorf("set unified %q: %w", k, err)
		}
	}
	return nil
}
