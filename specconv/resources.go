package specconv

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
)

// Limits the kernel puts on cgroup values; writing outside them fails with
// EINVAL or is silently clamped, so they are reported here instead.
const (
	cpuSharesMin    = 2      // MIN_SHARES (kernel/sched/sched.h)
	cpuSharesMax    = 262144 // MAX_SHARES
	cfsQuotaMin     = 1000   // cpu.cfs_quota_us: at least 1ms
	cfsPeriodMin    = 1000   // cpu.cfs_period_us: 1ms ...
	cfsPeriodMax    = 1000000
	blkioWeightMin  = 10 // CFQ_WEIGHT_MIN / BFQ
	blkioWeightMax  = 1000
	swappinessMax   = 200 // memory.swappiness, since Linux 5.8
	swappinessUnset = math.MaxUint64
)

// convertCgroup checks linux.cgroupsPath and linux.resources. Resources are
// stored as they are: the cgroup manager applies them. Only values no
// kernel would take are refused here. With the systemd driver, the
// org.systemd.property.* annotations are checked and kept for the unit;
// without it they are ignored, as runc does.
func convertCgroup(lx *specs.Linux, systemd bool, annotations map[string]string) (*configs.Cgroup, error) {
	cg := &configs.Cgroup{Path: lx.CgroupsPath, Systemd: systemd, Resources: lx.Resources}
	if p := lx.CgroupsPath; p != "" {
		if strings.IndexByte(p, 0) >= 0 {
			return nil, fieldErr("linux.cgroupsPath", "contains a NUL byte")
		}
		if systemd {
			if parts := strings.Split(p, ":"); len(parts) != 3 {
				return nil, fieldErr("linux.cgroupsPath", "%q is not slice:prefix:name, which --systemd-cgroup needs", p)
			}
		} else if slices.Contains(strings.Split(p, "/"), "..") {
			// runc cleans ".." away; refusing it keeps the cgroup
			// manager from ever looking outside the cgroup mount.
			return nil, fieldErr("linux.cgroupsPath", "%q has a \"..\" component", p)
		}
	}
	if lx.Resources != nil {
		if err := checkResources(lx.Resources); err != nil {
			return nil, wrapField("linux.resources", err)
		}
	}
	cg.Resources = withDefaultDevices(lx.Resources)
	if systemd {
		var err error
		if cg.SystemdProperties, err = systemdProperties(annotations); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

// systemdProperties picks the org.systemd.property.* annotations, sorted
// by name, each checked as the systemd driver will parse it.
func systemdProperties(annotations map[string]string) ([]configs.SystemdProperty, error) {
	var keys []string
	for k := range annotations {
		if strings.HasPrefix(k, cgroups.SystemdPropertyPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []configs.SystemdProperty
	for _, k := range keys {
		name := strings.TrimPrefix(k, cgroups.SystemdPropertyPrefix)
		if _, err := cgroups.ParseSystemdProperty(name, annotations[k]); err != nil {
			// The cgroups error names the annotation already.
			_, why, _ := strings.Cut(err.Error(), ": ")
			return nil, fieldErr(key("annotations", k), "%s", why)
		}
		out = append(out, configs.SystemdProperty{Name: name, Value: annotations[k]})
	}
	return out, nil
}

// defaultDeviceRules are appended after the config's own device rules, as
// runc does: mknod of anything, and the devices every container has
// (config-linux.md "Default Devices", /dev/pts/* and /dev/ptmx for
// terminals, and /dev/net/tun as runc 1.1 allows it).
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	{Allow: true, Type: "c", Access: "m"},
	{Allow: true, Type: "b", Access: "m"},
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},    // /dev/null
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(8), Access: "rwm"},    // /dev/random
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(7), Access: "rwm"},    // /dev/full
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(0), Access: "rwm"},    // /dev/tty
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "rwm"},    // /dev/zero
	{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rwm"},    // /dev/urandom
	{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},                 // /dev/pts/*
	{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"},    // /dev/ptmx
	{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}, // /dev/net/tun
}

func i64(v int64) *int64 { return &v }

// withDefaultDevices returns a copy of r (never nil) whose device rules end
// with defaultDeviceRules. The spec's own struct is left untouched.
func withDefaultDevices(r *specs.LinuxResources) *specs.LinuxResources {
	var out specs.LinuxResources
	if r != nil {
		out = *r
	}
	out.Devices = append(append([]specs.LinuxDeviceCgroup(nil), out.Devices...), defaultDeviceRules...)
	return &out
}

func checkResources(r *specs.LinuxResources) error {
	for i, d := range r.Devices {
		if err := checkDeviceRule(d); err != nil {
			return wrapField(idx("devices", i), err)
		}
	}
	if m := r.Memory; m != nil {
		for _, v := range []struct {
			name string
			val  *int64
		}{{"memory.limit", m.Limit}, {"memory.reservation", m.Reservation}, {"memory.swap", m.Swap}, {"memory.kernel", m.Kernel}, {"memory.kernelTCP", m.KernelTCP}} {
			if v.val != nil && *v.val < -1 {
				return fieldErr(v.name, "%d is negative (-1 means unlimited)", *v.val)
			}
		}
		if m.Swap != nil && *m.Swap > 0 {
			// memory.memsw.limit_in_bytes is memory+swap and cannot be
			// below memory.limit_in_bytes; cgroup v2 needs the limit to
			// compute memory.swap.max.
			if m.Limit == nil || *m.Limit == 0 {
				return fieldErr("memory.swap", "set without memory.limit")
			}
			if *m.Limit > 0 && *m.Swap < *m.Limit {
				return fieldErr("memory.swap", "%d is less than memory.limit %d (swap is memory+swap)", *m.Swap, *m.Limit)
			}
		}
		if s := m.Swappiness; s != nil && *s > swappinessMax && *s != swappinessUnset {
			return fieldErr("memory.swappiness", "%d out of range 0-%d", *s, swappinessMax)
		}
	}
	if c := r.CPU; c != nil {
		if err := checkCPU(c); err != nil {
			return err
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit < -1 {
		return fieldErr("pids.limit", "%d is negative (-1 means no limit; 0 is a limit of 0)", *p.Limit)
	}
	if b := r.BlockIO; b != nil {
		if err := checkBlockIO(b); err != nil {
			return err
		}
	}
	seen := map[string]int{}
	for i, h := range r.HugepageLimits {
		f := idx("hugepageLimits", i)
		if !pageSizeRe().MatchString(h.Pagesize) {
			return fieldErr(f, "pageSize %q is not <size><unit>B (2MB, 1GB, ...)", h.Pagesize)
		}
		if j, dup := seen[h.Pagesize]; dup {
			return fieldErr(f, "duplicate pageSize %q (also hugepageLimits[%d])", h.Pagesize, j)
		}
		seen[h.Pagesize] = i
	}
	if n := r.Network; n != nil {
		for i, p := range n.Priorities {
			if p.Name == "" {
				return fieldErr(idx("network.priorities", i), "name: required")
			}
		}
	}
	for _, dev := range sortedKeys(r.Rdma) {
		if l := r.Rdma[dev]; l.HcaHandles == nil && l.HcaObjects == nil {
			return fieldErr(key("rdma", dev), "needs hcaHandles or hcaObjects")
		}
	}
	for _, k := range sortedKeys(r.Unified) {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") {
			// The key is a file name in the cgroup directory.
			return fieldErr(key("unified", k), "not a cgroup file name")
		}
	}
	return nil
}

var pageSizeRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[1-9][0-9]*[KMGTPE]?B$`) })

func checkDeviceRule(d specs.LinuxDeviceCgroup) error {
	switch d.Type {
	case "", "a", "b", "c":
	default:
		return fieldErr("type", "unknown device type %q (a, b or c)", d.Type)
	}
	if d.Major != nil && *d.Major < -1 {
		return fieldErr("major", "%d is negative (omit it, or -1, for any)", *d.Major)
	}
	if d.Minor != nil && *d.Minor < -1 {
		return fieldErr("minor", "%d is negative (omit it, or -1, for any)", *d.Minor)
	}
	// runc refuses an empty access too, rather than guess.
	if d.Access == "" {
		return fieldErr("access", "required (a combination of r, w and m)")
	}
	for _, ch := range d.Access {
		if ch != 'r' && ch != 'w' && ch != 'm' {
			return fieldErr("access", "%q is not a combination of r, w and m", d.Access)
		}
	}
	return nil
}

func checkCPU(c *specs.LinuxCPU) error {
	if s := c.Shares; s != nil && *s != 0 && (*s < cpuSharesMin || *s > cpuSharesMax) {
		// The kernel clamps; runc reads the value back and fails.
		return fieldErr("cpu.shares", "%d out of range %d-%d", *s, cpuSharesMin, cpuSharesMax)
	}
	if q := c.Quota; q != nil {
		if *q < -1 {
			return fieldErr("cpu.quota", "%d is negative (-1 means no limit)", *q)
		}
		if *q > 0 && *q < cfsQuotaMin {
			return fieldErr("cpu.quota", "%d is less than the kernel's minimum %d", *q, cfsQuotaMin)
		}
		if b := c.Burst; b != nil && *q > 0 && *b > uint64(*q) {
			return fieldErr("cpu.burst", "%d is greater than cpu.quota %d", *b, *q)
		}
	}
	if p := c.Period; p != nil && *p != 0 && (*p < cfsPeriodMin || *p > cfsPeriodMax) {
		return fieldErr("cpu.period", "%d out of range %d-%d", *p, cfsPeriodMin, cfsPeriodMax)
	}
	if rt := c.RealtimeRuntime; rt != nil && *rt < -1 {
		return fieldErr("cpu.realtimeRuntime", "%d is negative (-1 means no limit)", *rt)
	}
	if i := c.Idle; i != nil && *i != 0 && *i != 1 {
		return fieldErr("cpu.idle", "%d is neither 0 nor 1", *i)
	}
	if err := checkCPUList(c.Cpus); err != nil {
		return fieldErr("cpu.cpus", "%w", err)
	}
	if err := checkCPUList(c.Mems); err != nil {
		return fieldErr("cpu.mems", "%w", err)
	}
	return nil
}

// checkCPUList checks a kernel list ("0-3,7"; cpuset.cpus, cpuset.mems).
// Empty means unset.
func checkCPUList(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || b < a {
			return fmt.Errorf("%q is not a list like 0-3,7", s)
		}
	}
	return nil
}

func checkBlockIO(b *specs.LinuxBlockIO) error {
	weight := func(name string, w *uint16) error {
		if w != nil && *w != 0 && (*w < blkioWeightMin || *w > blkioWeightMax) {
			return fieldErr(name, "%d out of range %d-%d", *w, blkioWeightMin, blkioWeightMax)
		}
		return nil
	}
	if err := weight("blockIO.weight", b.Weight); err != nil {
		return err
	}
	if err := weight("blockIO.leafWeight", b.LeafWeight); err != nil {
		return err
	}
	for i, wd := range b.WeightDevice {
		f := idx("blockIO.weightDevice", i)
		if wd.Weight == nil && wd.LeafWeight == nil {
			return fieldErr(f, "needs weight or leafWeight")
		}
		if wd.Major < 0 || wd.Minor < 0 {
			return fieldErr(f, "major and minor must not be negative")
		}
		if err := weight(f+".weight", wd.Weight); err != nil {
			return err
		}
		if err := weight(f+".leafWeight", wd.LeafWeight); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		name string
		devs []specs.LinuxThrottleDevice
	}{
		{"blockIO.throttleReadBpsDevice", b.ThrottleReadBpsDevice},
		{"blockIO.throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
		{"blockIO.throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
		{"blockIO.throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range l.devs {
			if d.Major < 0 || d.Minor < 0 {
				return fieldErr(idx(l.name, i), "major and minor must not be negative")
			}
		}
	}
	return nil
}
