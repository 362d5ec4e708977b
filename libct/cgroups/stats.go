package cgroups

// Stats is a cgroup's accounting, shaped like the "data" of runc's
// `events --stats` (field names and JSON keys match, so tools that read
// runc's output read hull's).
type Stats struct {
	CPU     CPU                `json:"cpu"`
	CPUSet  CPUSet             `json:"cpuset"`
	Memory  Memory             `json:"memory"`
	Pids    Pids               `json:"pids"`
	Blkio   Blkio              `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb,omitempty"`
}

// Hugetlb is the accounting of one huge page size, keyed by size ("2MB").
type Hugetlb struct {
	// Usage is the current usage in bytes.
	Usage uint64 `json:"usage,omitempty"`
	// Max is the peak usage (v1) or the limit (v2) in bytes.
	Max uint64 `json:"max,omitempty"`
	// Failcnt counts allocations that hit the limit.
	Failcnt uint64 `json:"failcnt"`
}

// BlkioEntry is one line of a blkio (v1) or io.stat (v2) statistic.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	// Op is "Read", "Write", "Sync", "Async", "Discard" or "Total".
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// Blkio is the block I/O accounting, recursive over the cgroup's subtree.
type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	// PSI is io.pressure (cgroup v2 only).
	PSI *PSIStats `json:"psi,omitempty"`
}

// Pids is the pids controller's accounting.
type Pids struct {
	// Current is the number of tasks in the cgroup.
	Current uint64 `json:"current,omitempty"`
	// Limit is pids.max (0: no limit).
	Limit uint64 `json:"limit,omitempty"`
}

// Throttling is the CFS bandwidth controller's accounting.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	// ThrottledTime is in nanoseconds.
	ThrottledTime uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is CPU time used, in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// CPU is the cpu and cpuacct accounting.
type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
	// PSI is cpu.pressure (cgroup v2 only).
	PSI *PSIStats `json:"psi,omitempty"`
}

// PSIData is one line of a pressure stall file: the share of time some
// (or all) tasks stalled, averaged over 10, 60 and 300 seconds, and the
// total stall time in microseconds.
type PSIData struct {
	Avg10  float64 `json:"avg10"`
	Avg60  float64 `json:"avg60"`
	Avg300 float64 `json:"avg300"`
	Total  uint64  `json:"total"`
}

// PSIStats is a pressure stall file (cpu.pressure, memory.pressure,
// io.pressure).
type PSIStats struct {
	Some PSIData `json:"some,omitempty"`
	Full PSIData `json:"full,omitempty"`
}

// CPUSet is the cpuset the cgroup may use, as lists of numbers.
type CPUSet struct {
	CPUs []uint16 `json:"cpus,omitempty"`
	Mems []uint16 `json:"mems,omitempty"`
}

// MemoryEntry is one memory counter with its limit, in bytes.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Memory is the memory controller's accounting.
type Memory struct {
	// Cache is the page cache in bytes ("cache" on v1, "file" on v2).
	Cache     uint64      `json:"cache,omitempty"`
	Usage     MemoryEntry `json:"usage,omitempty"`
	Swap      MemoryEntry `json:"swap,omitempty"`
	Kernel    MemoryEntry `json:"kernel,omitempty"`
	KernelTCP MemoryEntry `json:"kernelTCP,omitempty"`
	// Raw is memory.stat as it is.
	Raw map[string]uint64 `json:"raw,omitempty"`
	// PSI is memory.pressure (cgroup v2 only).
	PSI *PSIStats `json:"psi,omitempty"`
}
