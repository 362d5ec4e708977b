package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dir returns the directory of controller, or an error naming what the
// resource needs.
func (m *v1Manager) dir(controller, what string) (string, error) {
	if d, ok := m.paths[controller]; ok {
		return d, nil
	}
	return "", fmt.Errorf("set %s: %s controller not mounted or not joined: %w", what, controller, ErrNotSupported)
}

// Set writes r to the v1 controllers' files.
func (m *v1Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	steps := []func(*specs.LinuxResources) error{
		m.setCpuset, m.setDevices, m.setMemory, m.setCPU, m.setPids,
		m.setBlkio, m.setHugetlb, m.setNetwork, m.setRdma, m.setUnified,
	}
	for _, step := range steps {
		if err := step(r); err != nil {
			return err
		}
	}
	m.res = r
	return nil
}

// setUnified writes the unified map on a hybrid host, into the cgroup2
// directory, for the controllers that hierarchy has (hugetlb, typically);
// on a pure v1 host, or for a controller that lives on v1, it is an error,
// as the spec requires.
func (m *v1Manager) setUnified(r *specs.LinuxResources) error {
	if len(r.Unified) == 0 {
		return nil
	}
	udir, ok := m.paths[""]
	if !ok {
		return fmt.Errorf("set unified resources: the host has no cgroup v2 hierarchy: %w", ErrNotSupported)
	}
	mp := m.mountpoints[""]
	if mp == "" {
		mp = filepath.Join(DefaultRoot, "unified")
	}
	avail, err := readFile(mp, "cgroup.controllers")
	if err != nil {
		return err
	}
	for k := range r.Unified {
		ctrl, _, _ := strings.Cut(k, ".")
		if ctrl == "cgroup" || !hasWord(avail, ctrl) {
			continue // refused with its reason by setUnified below
		}
		if err := v2EnableController(mp, udir, ctrl); err != nil {
			return fmt.Errorf("set unified %q: %w", k, err)
		}
	}
	return (&v2Manager{root: mp, dir: udir}).setUnified(r)
}

func (m *v1Manager) setCpuset(r *specs.LinuxResources) error {
	if r.CPU == nil || (r.CPU.Cpus == "" && r.CPU.Mems == "") {
		return nil
	}
	dir, err := m.dir("cpuset", "cpu.cpus/cpu.mems")
	if err != nil {
		return err
	}
	if r.CPU.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", r.CPU.Cpus); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		if err := writeFile(dir, "cpuset.mems", r.CPU.Mems); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setMemory(r *specs.LinuxResources) error {
	mem := r.Memory
	if mem == nil {
		return nil
	}
	dir, err := m.dir("memory", "memory")
	if err != nil {
		return err
	}
	if mem.CheckBeforeUpdate != nil && *mem.CheckBeforeUpdate && mem.Limit != nil && *mem.Limit > 0 {
		usage, err := readUint(dir, "memory.usage_in_bytes")
		if err != nil {
			return err
		}
		if uint64(*mem.Limit) < usage {
			return fmt.Errorf("set memory limit %d: lower than the current usage %d (checkBeforeUpdate)", *mem.Limit, usage)
		}
	}
	if err := v1SetMemoryAndSwap(dir, mem); err != nil {
		return err
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	// memory.kernel is ignored, as runc does since 1.0 and the spec
	// allows: kmem limits were deprecated in kernel v5.4, only warn in the
	// kernel log where they remain and are gone from newer kernels. The
	// TCP buffer limit still works on v1.
	if mem.KernelTCP != nil && *mem.KernelTCP != 0 {
		err := writeFile(dir, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*mem.KernelTCP, 10))
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("set memory swappiness %d: want 0 to 100", *mem.Swappiness)
		}
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
		if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		v := "0"
		if *mem.UseHierarchy {
			v = "1"
		}
		// Since kernel v5.16 hierarchy is always on: writing "1" is
		// accepted, "0" fails with EINVAL, which is reported.
		if err := writeFile(dir, "memory.use_hierarchy", v); err != nil {
			return err
		}
	}
	return nil
}

// v1SetMemoryAndSwap writes memory.limit_in_bytes and
// memory.memsw.limit_in_bytes in the order the kernel accepts: memsw may
// never be below the memory limit, so a raise writes memsw first and a
// lowering writes the memory limit first.
func v1SetMemoryAndSwap(dir string, mem *specs.LinuxMemory) error {
	var limit, swap int64
	if mem.Limit != nil {
		limit = *mem.Limit
	}
	if mem.Swap != nil {
		swap = *mem.Swap
	}
	const memsw = "memory.memsw.limit_in_bytes"
	// An unlimited memory with no swap setting means unlimited swap too,
	// where swap accounting exists.
	if limit == -1 && swap == 0 {
		if _, err := os.Stat(filepath.Join(dir, memsw)); err == nil {
			swap = -1
		}
	}
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		if errors.Is(err, unix.EBUSY) {
			usage, _ := readUint(dir, "memory.usage_in_bytes")
			peak, _ := readUint(dir, "memory.max_usage_in_bytes")
			return fmt.Errorf("set memory limit %d: below current usage %d (peak %d): %w", limit, usage, peak, err)
		}
		return err
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		if err := writeFile(dir, memsw, strconv.FormatInt(swap, 10)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("set memory swap: swap accounting is off in this kernel (%s missing): %w", memsw, ErrNotSupported)
			}
			return err
		}
		return nil
	}
	if limit != 0 && swap != 0 {
		cur, err := readUint(dir, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		if swap == -1 || cur < uint64(swap) {
			if err := setSwap(); err != nil {
				return err
			}
			return setLimit()
		}
	}
	if err := setLimit(); err != nil {
		return err
	}
	return setSwap()
}

func (m *v1Manager) setCPU(r *specs.LinuxResources) error {
	c := r.CPU
	if c == nil || (c.Shares == nil && c.Quota == nil && c.Period == nil && c.Burst == nil &&
		c.RealtimePeriod == nil && c.RealtimeRuntime == nil && c.Idle == nil) {
		return nil
	}
	dir, err := m.dir("cpu", "cpu")
	if err != nil {
		return err
	}
	if c.Shares != nil && *c.Shares != 0 {
		if err := writeFile(dir, "cpu.shares", strconv.FormatUint(*c.Shares, 10)); err != nil {
			return err
		}
		// The kernel clamps shares to [2, 262144] silently: report it.
		got, err := readUint(dir, "cpu.shares")
		if err != nil {
			return err
		}
		if got != *c.Shares {
			return fmt.Errorf("set cpu shares %d: the kernel set %d (allowed range 2 to 262144)", *c.Shares, got)
		}
	}
	// A smaller period can be refused (EINVAL) while the old quota over the
	// new period exceeds the parent's bandwidth: then write the quota and
	// retry the period.
	retryPeriod := false
	if c.Period != nil && *c.Period != 0 {
		err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10))
		if err != nil {
			if !errors.Is(err, unix.EINVAL) || c.Quota == nil || *c.Quota == 0 {
				return err
			}
			retryPeriod = true
		}
	}
	if c.Quota != nil && *c.Quota != 0 {
		if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(*c.Quota, 10)); err != nil {
			return err
		}
		if retryPeriod {
			if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(*c.Period, 10)); err != nil {
				return err
			}
		}
	}
	if c.Burst != nil {
		if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	if err := v1SetRealtime(dir, c); err != nil {
		return err
	}
	if c.Idle != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

// v1SetRealtime writes the realtime period before the runtime: the kernel
// checks runtime against the period.
func v1SetRealtime(dir string, c *specs.LinuxCPU) error {
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(*c.RealtimePeriod, 10)); err != nil {
			return err
		}
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(*c.RealtimeRuntime, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (m *v1Manager) setPids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil
	}
	dir, err := m.dir("pids", "pids.limit")
	if err != nil {
		return err
	}
	return writeFile(dir, "pids.max", pidsMax(*r.Pids.Limit))
}

// pidsMax formats pids.limit: -1 (any negative) is "max". 0 is a limit
// like any other (no task may fork), as the spec says since v1.3.
func pidsMax(limit int64) string {
	if limit < 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

func (m *v1Manager) setBlkio(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	dir, err := m.dir("blkio", "blockIO")
	if err != nil {
		return err
	}
	// Without CFQ (gone since kernel v5.0) the weights live in BFQ's files.
	weightFile, weightDevFile := "blkio.weight", "blkio.weight_device"
	if _, err := os.Stat(filepath.Join(dir, weightFile)); err != nil {
		weightFile, weightDevFile = "blkio.bfq.weight", "blkio.bfq.weight_device"
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := writeFile(dir, weightFile, strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return blkioWeightErr(err)
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := writeFile(dir, "blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return blkioWeightErr(err)
		}
	}
	for _, wd := range b.WeightDevice {
		if wd.Weight != nil {
			v := fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.Weight)
			if err := writeFile(dir, weightDevFile, v); err != nil {
				return blkioWeightErr(err)
			}
		}
		if wd.LeafWeight != nil {
			v := fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, *wd.LeafWeight)
			if err := writeFile(dir, "blkio.leaf_weight_device", v); err != nil {
				return blkioWeightErr(err)
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, d := range t.devs {
			if err := writeFile(dir, t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func blkioWeightErr(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (no CFQ or BFQ I/O scheduler weight file): %w", err, ErrNotSupported)
	}
	return err
}

// setHugetlb writes hugepage limits: on a v1 hugetlb hierarchy both the
// fault limit and, where the kernel has it, the reservation limit; on a
// hybrid host whose hugetlb controller sits on the cgroup2 mount, the v2
// files of the unified directory.
func (m *v1Manager) setHugetlb(r *specs.LinuxResources) error {
	if len(r.HugepageLimits) == 0 {
		return nil
	}
	if err := checkPagesizes(r.HugepageLimits); err != nil {
		return err
	}
	if dir, ok := m.paths["hugetlb"]; ok {
		for _, h := range r.HugepageLimits {
			v := strconv.FormatUint(h.Limit, 10)
			if err := writeFile(dir, "hugetlb."+h.Pagesize+".limit_in_bytes", v); err != nil {
				return hugetlbErr(h.Pagesize, err)
			}
			rsvd := "hugetlb." + h.Pagesize + ".rsvd.limit_in_bytes"
			if err := writeFile(dir, rsvd, v); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	udir, ok := m.paths[""]
	if !ok {
		return fmt.Errorf("set hugepageLimits: hugetlb controller not mounted: %w", ErrNotSupported)
	}
	mp := m.mountpoints[""]
	if mp == "" { // rebuilt by Load: the hybrid mount is at its usual place
		mp = filepath.Join(DefaultRoot, "unified")
	}
	if err := v2EnableController(mp, udir, "hugetlb"); err != nil {
		return fmt.Errorf("set hugepageLimits: %w", err)
	}
	return v2SetHugetlb(udir, r.HugepageLimits)
}

// checkPagesizes accepts only page sizes of the kernel's form ("2MB",
// "64KB", "1GB"): the size is part of a file name, and a "/" or ".." in it
// would make the write land outside the cgroup.
func checkPagesizes(limits []specs.LinuxHugepageLimit) error {
	for _, h := range limits {
		num, ok := strings.CutSuffix(h.Pagesize, "B")
		if ok && len(num) > 1 && strings.ContainsRune("KMGTPE", rune(num[len(num)-1])) {
			num = num[:len(num)-1]
		}
		if _, err := strconv.ParseUint(num, 10, 32); !ok || err != nil || num[0] == '+' {
			return fmt.Errorf("set hugepageLimits: page size %q: want a number and a unit such as 2MB", h.Pagesize)
		}
	}
	return nil
}

func hugetlbErr(size string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("huge page size %q not supported by the kernel: %w", size, err)
	}
	return err
}

func (m *v1Manager) setNetwork(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		dir, err := m.dir("net_cls", "network.classID")
		if err != nil {
			return err
		}
		if err := writeFile(dir, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if len(n.Priorities) > 0 {
		dir, err := m.dir("net_prio", "network.priorities")
		if err != nil {
			return err
		}
		for _, p := range n.Priorities {
			if err := writeFile(dir, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *v1Manager) setRdma(r *specs.LinuxResources) error {
	if len(r.Rdma) == 0 {
		return nil
	}
	dir, err := m.dir("rdma", "rdma")
	if err != nil {
		return err
	}
	return setRdmaMax(dir, r.Rdma)
}

// setRdmaMax writes one rdma.max line per device (v1 and v2 share the
// format): "mlx4_0 hca_handle=2 hca_object=2000".
func setRdmaMax(dir string, rdma map[string]specs.LinuxRdma) error {
	for dev, l := range rdma {
		if l.HcaHandles == nil && l.HcaObjects == nil {
			continue
		}
		line := dev
		if l.HcaHandles != nil {
			line += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			line += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if err := writeFile(dir, "rdma.max", line); err != nil {
			return err
		}
	}
	return nil
}
