package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// Stats reads the accounting of every joined v1 controller (and of the
// unified hierarchy's hugetlb on a hybrid host). Controllers not joined
// are left zero.
func (m *v1Manager) Stats() (*Stats, error) {
	st := &Stats{}
	if dir, ok := m.paths["cpuacct"]; ok {
		if err := v1CPUAcctStats(dir, &st.CPU); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["cpu"]; ok {
		if err := cpuStatThrottling(dir, &st.CPU, false); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["cpuset"]; ok {
		if err := cpusetStats(dir, "cpuset.cpus", "cpuset.mems", &st.CPUSet); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["memory"]; ok {
		if err := v1MemoryStats(dir, &st.Memory); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["pids"]; ok {
		if err := pidsStats(dir, &st.Pids); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["blkio"]; ok {
		if err := v1BlkioStats(dir, &st.Blkio); err != nil {
			return nil, err
		}
	}
	if dir, ok := m.paths["hugetlb"]; ok {
		h, err := hugetlbStats(dir, false)
		if err != nil {
			return nil, err
		}
		st.Hugetlb = h
	} else if dir, ok := m.paths[""]; ok {
		h, err := hugetlbStats(dir, true)
		if err != nil {
			return nil, err
		}
		st.Hugetlb = h
	}
	if dir, ok := m.paths[""]; ok {
		// The cgroup2 mount of a hybrid host has the pressure files.
		var err error
		for _, p := range []struct {
			file string
			dst  **PSIStats
		}{{"cpu.pressure", &st.CPU.PSI}, {"memory.pressure", &st.Memory.PSI}, {"io.pressure", &st.Blkio.PSI}} {
			if *p.dst, err = readPSI(dir, p.file); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

func v1CPUAcctStats(dir string, c *CPU) error {
	var err error
	if c.Usage.Total, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *[]uint64
	}{
		{"cpuacct.usage_percpu", &c.Usage.Percpu},
		{"cpuacct.usage_percpu_sys", &c.Usage.PercpuKernel},
		{"cpuacct.usage_percpu_user", &c.Usage.PercpuUser},
	} {
		s, err := readFile(dir, f.name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the _sys/_user files are from kernel v4.7
			}
			return err
		}
		for _, w := range strings.Fields(s) {
			v, err := strconv.ParseUint(w, 10, 64)
			if err != nil {
				return fmt.Errorf("parse %s: %w", filepath.Join(dir, f.name), err)
			}
			*f.dst = append(*f.dst, v)
		}
	}
	kv, err := readKeyValues(dir, "cpuacct.stat")
	if err != nil {
		return err
	}
	const nsPerTick = 1e9 / userHZ
	c.Usage.User = kv["user"] * nsPerTick
	c.Usage.Kernel = kv["system"] * nsPerTick
	return nil
}

// cpuStatThrottling reads the CFS bandwidth counters of cpu.stat; on v2 the
// time is in microseconds and the file also has the usage.
func cpuStatThrottling(dir string, c *CPU, v2 bool) error {
	kv, err := readKeyValues(dir, "cpu.stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	c.Throttling.Periods = kv["nr_periods"]
	c.Throttling.ThrottledPeriods = kv["nr_throttled"]
	if v2 {
		c.Throttling.ThrottledTime = kv["throttled_usec"] * 1000
		c.Usage.Total = kv["usage_usec"] * 1000
		c.Usage.User = kv["user_usec"] * 1000
		c.Usage.Kernel = kv["system_usec"] * 1000
	} else {
		c.Throttling.ThrottledTime = kv["throttled_time"]
	}
	return nil
}

func cpusetStats(dir, cpusFile, memsFile string, cs *CPUSet) error {
	for _, f := range []struct {
		name string
		dst  *[]uint16
	}{{cpusFile, &cs.CPUs}, {memsFile, &cs.Mems}} {
		s, err := readFile(dir, f.name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		list, err := parseCPUList(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("parse %s: %w", filepath.Join(dir, f.name), err)
		}
		*f.dst = list
	}
	return nil
}

// parseCPUList parses the kernel's list format: "0-3,7,9-10".
func parseCPUList(s string) ([]uint16, error) {
	var out []uint16
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, err
			}
		}
		if b < a {
			return nil, fmt.Errorf("bad range %q", part)
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

func v1MemoryStats(dir string, mem *Memory) error {
	raw, err := readKeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	mem.Raw = raw
	mem.Cache = raw["cache"]
	for _, e := range []struct {
		prefix string
		dst    *MemoryEntry
	}{
		{"memory.", &mem.Usage},
		{"memory.memsw.", &mem.Swap},
		{"memory.kmem.", &mem.Kernel},
		{"memory.kmem.tcp.", &mem.KernelTCP},
	} {
		if err := v1MemoryEntry(dir, e.prefix, e.dst); err != nil {
			return err
		}
	}
	return nil
}

// v1MemoryEntry reads <prefix>usage_in_bytes, max_usage_in_bytes, failcnt
// and limit_in_bytes; a missing group (no swap accounting, no kmem) is
// left zero.
func v1MemoryEntry(dir, prefix string, e *MemoryEntry) error {
	for _, f := range []struct {
		name string
		dst  *uint64
	}{
		{"usage_in_bytes", &e.Usage},
		{"max_usage_in_bytes", &e.Max},
		{"failcnt", &e.Failcnt},
		{"limit_in_bytes", &e.Limit},
	} {
		v, err := readUint(dir, prefix+f.name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && prefix != "memory." {
				return nil
			}
			return err
		}
		*f.dst = v
	}
	return nil
}

func pidsStats(dir string, p *Pids) error {
	var err error
	if p.Current, err = readUint(dir, "pids.current"); err != nil {
		return err
	}
	if p.Limit, err = readUint(dir, "pids.max"); err != nil {
		return err
	}
	if p.Limit == math.MaxUint64 {
		p.Limit = 0 // "max": no limit
	}
	return nil
}

// v1BlkioStats reads the CFQ statistics when the kernel has them, else
// BFQ's, else the throttle layer's (which every kernel has).
func v1BlkioStats(dir string, b *Blkio) error {
	for _, prefix := range []string{"blkio.", "blkio.bfq.", "blkio.throttle."} {
		bytes, err := readBlkioEntries(dir, prefix+"io_service_bytes_recursive")
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		ios, err := readBlkioEntries(dir, prefix+"io_serviced_recursive")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if len(bytes) == 0 && len(ios) == 0 && prefix != "blkio.throttle." {
			continue
		}
		b.IoServiceBytesRecursive, b.IoServicedRecursive = bytes, ios
		if prefix == "blkio." {
			for _, f := range []struct {
				name string
				dst  *[]BlkioEntry
			}{
				{"blkio.io_queued_recursive", &b.IoQueuedRecursive},
				{"blkio.io_service_time_recursive", &b.IoServiceTimeRecursive},
				{"blkio.io_wait_time_recursive", &b.IoWaitTimeRecursive},
				{"blkio.io_merged_recursive", &b.IoMergedRecursive},
				{"blkio.time_recursive", &b.IoTimeRecursive},
				{"blkio.sectors_recursive", &b.SectorsRecursive},
			} {
				if *f.dst, err = readBlkioEntries(dir, f.name); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		return nil
	}
	return nil
}

// readBlkioEntries parses "8:0 Read 4096" lines ("8:0 4096" for the files
// without an operation); the "Total" summary line is skipped.
func readBlkioEntries(dir, name string) ([]BlkioEntry, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] == "Total" {
			continue
		}
		var e BlkioEntry
		if _, err := fmt.Sscanf(f[0], "%d:%d", &e.Major, &e.Minor); err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(dir, name), strings.TrimSpace(line), err)
		}
		val := f[1]
		if len(f) >= 3 {
			e.Op, val = f[1], f[2]
		}
		if e.Value, err = strconv.ParseUint(val, 10, 64); err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", filepath.Join(dir, name), strings.TrimSpace(line), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// hugetlbStats reads every huge page size the directory has files for:
// v1 usage_in_bytes/max_usage_in_bytes/failcnt, or v2 current/max and the
// "max" count of hugetlb.<size>.events.
func hugetlbStats(dir string, v2 bool) (map[string]Hugetlb, error) {
	suffix := ".usage_in_bytes"
	if v2 {
		suffix = ".current"
	}
	matches, err := filepath.Glob(filepath.Join(dir, "hugetlb.*"+suffix))
	if err != nil {
		return nil, err
	}
	out := make(map[string]Hugetlb)
	for _, p := range matches {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "hugetlb."), suffix)
		if strings.Contains(size, ".") {
			continue // hugetlb.2MB.rsvd.*
		}
		var h Hugetlb
		pre := "hugetlb." + size
		if h.Usage, err = readUint(dir, pre+suffix); err != nil {
			return nil, err
		}
		if v2 {
			if h.Max, err = readUint(dir, pre+".max"); err != nil {
				return nil, err
			}
			if ev, err := readKeyValues(dir, pre+".events"); err == nil {
				h.Failcnt = ev["max"]
			}
		} else {
			if h.Max, err = readUint(dir, pre+".max_usage_in_bytes"); err != nil {
				return nil, err
			}
			if h.Failcnt, err = readUint(dir, pre+".failcnt"); err != nil {
				return nil, err
			}
		}
		out[size] = h
	}
	return out, nil
}

// Stats reads cpu.stat, cpuset, memory.*, pids.*, io.stat and hugetlb of
// the cgroup; files of controllers not enabled are skipped.
func (m *v2Manager) Stats() (*Stats, error) {
	st := &Stats{}
	if err := cpuStatThrottling(m.dir, &st.CPU, true); err != nil {
		return nil, err
	}
	if err := cpusetStats(m.dir, "cpuset.cpus.effective", "cpuset.mems.effective", &st.CPUSet); err != nil {
		return nil, err
	}
	if err := v2MemoryStats(m.dir, &st.Memory); err != nil {
		return nil, err
	}
	if err := pidsStats(m.dir, &st.Pids); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := v2IOStats(m.dir, &st.Blkio); err != nil {
		return nil, err
	}
	h, err := hugetlbStats(m.dir, true)
	if err != nil {
		return nil, err
	}
	st.Hugetlb = h
	for _, p := range []struct {
		file string
		dst  **PSIStats
	}{{"cpu.pressure", &st.CPU.PSI}, {"memory.pressure", &st.Memory.PSI}, {"io.pressure", &st.Blkio.PSI}} {
		if *p.dst, err = readPSI(m.dir, p.file); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// readPSI parses a pressure file ("some avg10=0.12 avg60=0.05 avg300=0.01
// total=1234"); a missing file (kernel without CONFIG_PSI, or psi=0) is
// nil, as is one the kernel refuses to read (EOPNOTSUPP when PSI is off
// at boot).
func readPSI(dir, name string) (*PSIStats, error) {
	s, err := readFile(dir, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, err
	}
	var ps PSIStats
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var d *PSIData
		switch f[0] {
		case "some":
			d = &ps.Some
		case "full":
			d = &ps.Full
		default:
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "avg10":
				d.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				d.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				d.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				d.Total, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("parse %s field %q: %w", filepath.Join(dir, name), kv, err)
			}
		}
	}
	return &ps, nil
}

// v2MemoryStats fills memory the way v1 tools expect: the swap entry holds
// memory+swap (v1's memsw), so usage and limit add memory.current and
// memory.max to the swap files'.
func v2MemoryStats(dir string, mem *Memory) error {
	raw, err := readKeyValues(dir, "memory.stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // memory controller not enabled
		}
		return err
	}
	mem.Raw = raw
	mem.Cache = raw["file"]
	if mem.Usage.Usage, err = readUint(dir, "memory.current"); err != nil {
		return err
	}
	if mem.Usage.Limit, err = readUint(dir, "memory.max"); err != nil {
		return err
	}
	if v, err := readUint(dir, "memory.peak"); err == nil {
		mem.Usage.Max = v // kernel v5.19
	}
	if ev, err := readKeyValues(dir, "memory.events"); err == nil {
		mem.Usage.Failcnt = ev["max"]
	}
	if v, err := readUint(dir, "memory.swap.current"); err == nil {
		mem.Swap.Usage = v + mem.Usage.Usage
		lim, err := readUint(dir, "memory.swap.max")
		if err != nil {
			return err
		}
		mem.Swap.Limit = addSat(lim, mem.Usage.Limit)
		if ev, err := readKeyValues(dir, "memory.swap.events"); err == nil {
			mem.Swap.Failcnt = ev["max"]
		}
	}
	return nil
}

// addSat adds without wrapping past math.MaxUint64 ("max").
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// v2IOStats reads io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...") into
// the v1-shaped service bytes and serviced entries.
func v2IOStats(dir string, b *Blkio) error {
	s, err := readFile(dir, "io.stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	ops := map[string]struct {
		dst *[]BlkioEntry
		op  string
	}{
		"rbytes": {&b.IoServiceBytesRecursive, "Read"},
		"wbytes": {&b.IoServiceBytesRecursive, "Write"},
		"dbytes": {&b.IoServiceBytesRecursive, "Discard"},
		"rios":   {&b.IoServicedRecursive, "Read"},
		"wios":   {&b.IoServicedRecursive, "Write"},
		"dios":   {&b.IoServicedRecursive, "Discard"},
	}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var major, minor uint64
		if _, err := fmt.Sscanf(f[0], "%d:%d", &major, &minor); err != nil {
			return fmt.Errorf("parse %s line %q: %w", filepath.Join(dir, "io.stat"), strings.TrimSpace(line), err)
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			o, known := ops[k]
			if !ok || !known {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("parse %s field %q: %w", filepath.Join(dir, "io.stat"), kv, err)
			}
			*o.dst = append(*o.dst, BlkioEntry{Major: major, Minor: minor, Op: o.op, Value: n})
		}
	}
	return nil
}
