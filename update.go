package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
	"github.com/hullrt/hull/libct/intelrdt"
)

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change a running container's resource limits",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "`FILE` with linux.resources JSON (- for stdin); other flags are then ignored"},
			&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight, 10 to 1000"},
			&cli.StringFlag{Name: "cpu-period", Usage: "CFS period (µs)"},
			&cli.StringFlag{Name: "cpu-quota", Usage: "CFS quota (µs per period)"},
			&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight)"},
			&cli.StringFlag{Name: "cpu-rt-period", Usage: "realtime period (µs)"},
			&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "realtime runtime (µs per period)"},
			&cli.StringFlag{Name: "cpu-burst", Usage: "CFS burst (µs)"},
			&cli.StringFlag{Name: "cpu-idle", Usage: "1 to make the cgroup SCHED_IDLE"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (0-3,5)"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use"},
			&cli.StringFlag{Name: "memory", Usage: "memory limit (bytes, or with k/m/g; -1 unlimited)"},
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory soft limit"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory+swap limit (-1 unlimited)"},
			&cli.StringFlag{Name: "kernel-memory", Hidden: true, Usage: "ignored, as by runc on recent kernels"},
			&cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true, Usage: "kernel TCP memory limit"},
			&cli.StringFlag{Name: "pids-limit", Usage: "maximum number of processes (-1 unlimited)"},
			&cli.StringFlag{Name: "l3-cache-schema", Usage: "Intel RDT L3 cache `SCHEMA` of the container's resctrl group (L3:0=ff;1=f0)"},
			&cli.StringFlag{Name: "mem-bw-schema", Usage: "Intel RDT memory bandwidth `SCHEMA` of the container's resctrl group (MB:0=70;1=50)"},
		},
		Action: onContainerArgs(0, func(ctx *cli.Context, c *libct.Container) error {
			l3, mb := ctx.String("l3-cache-schema"), ctx.String("mem-bw-schema")
			if l3 != "" || mb != "" {
				// Checked before anything is written, as runc does.
				if err := intelrdt.CheckSchemaUpdate(l3, mb); err != nil {
					return fmt.Errorf("update intel RDT: %w", err)
				}
			}
			if !rdtOnly(ctx) {
				upd, err := updateRequest(ctx)
				if err != nil {
					return err
				}
				if err := c.Update(mergeResources(c.Resources(), upd)); err != nil {
					return err
				}
			}
			if l3 != "" || mb != "" {
				return c.UpdateIntelRdt(l3, mb)
			}
			return nil
		}),
	}
}

// updateRequest reads what to change: the --resources JSON, or the flags.
func updateRequest(ctx *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if path := ctx.String("resources"); path != "" {
		var in io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			in = f
		}
		dec := json.NewDecoder(in)
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("--resources %s: invalid JSON: %w", path, err)
		}
		return r, nil
	}
	var err error
	num := func(flag string, bytes bool) *int64 {
		v := ctx.String(flag)
		if v == "" || err != nil {
			return nil
		}
		var n int64
		if bytes {
			n, err = parseBytes(v)
		} else {
			n, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			err = fmt.Errorf("--%s %q: %w", flag, v, err)
			return nil
		}
		return &n
	}
	unsigned := func(flag string) *uint64 {
		p := num(flag, false)
		if p == nil {
			return nil
		}
		if *p < 0 {
			err = fmt.Errorf("--%s %d: must not be negative", flag, *p)
			return nil
		}
		u := uint64(*p)
		return &u
	}
	mem := &specs.LinuxMemory{
		Limit:       num("memory", true),
		Reservation: num("memory-reservation", true),
		Swap:        num("memory-swap", true),
		KernelTCP:   num("kernel-memory-tcp", true),
	}
	cpu := &specs.LinuxCPU{
		Shares:          unsigned("cpu-share"),
		Quota:           num("cpu-quota", false),
		Period:          unsigned("cpu-period"),
		Burst:           unsigned("cpu-burst"),
		RealtimeRuntime: num("cpu-rt-runtime", false),
		RealtimePeriod:  unsigned("cpu-rt-period"),
		Idle:            num("cpu-idle", false),
		Cpus:            ctx.String("cpuset-cpus"),
		Mems:            ctx.String("cpuset-mems"),
	}
	if w := unsigned("blkio-weight"); w != nil {
		if *w < 10 || *w > 1000 {
			return nil, fmt.Errorf("--blkio-weight %d: must be 10 to 1000", *w)
		}
		v := uint16(*w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &v}
	}
	if p := num("pids-limit", false); p != nil {
		r.Pids = &specs.LinuxPids{Limit: p}
	}
	if err != nil {
		return nil, err
	}
	r.Memory, r.CPU = mem, cpu
	return r, nil
}

// rdtOnly reports whether update was asked for nothing but Intel RDT
// schemas: the cgroup is then left as it is (a container may have a
// resctrl group and no cgroup).
func rdtOnly(ctx *cli.Context) bool {
	if ctx.String("l3-cache-schema") == "" && ctx.String("mem-bw-schema") == "" {
		return false
	}
	for _, f := range ctx.LocalFlagNames() {
		if f != "l3-cache-schema" && f != "mem-bw-schema" {
			return false
		}
	}
	return true
}

// parseBytes takes a size in bytes with an optional k, m, g or t suffix
// (powers of 1024, as runc), or -1.
func parseBytes(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	mult := int64(1)
	t := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(s), "b"), "i"))
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	case strings.HasSuffix(t, "t"):
		mult, t = 1<<40, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size")
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// mergeResources lays the set fields of upd over cur (a pointer field is
// set when non-nil; cpuset strings when non-empty; lists and maps when
// non-empty) and returns the result; cur is not modified.
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	out := *cur
	if m := upd.Memory; m != nil {
		nm := specs.LinuxMemory{}
		if out.Memory != nil {
			nm = *out.Memory
		}
		setI64(&nm.Limit, m.Limit)
		setI64(&nm.Reservation, m.Reservation)
		setI64(&nm.Swap, m.Swap)
		setI64(&nm.KernelTCP, m.KernelTCP)
		if m.Swappiness != nil {
			nm.Swappiness = m.Swappiness
		}
		if m.DisableOOMKiller != nil {
			nm.DisableOOMKiller = m.DisableOOMKiller
		}
		if m.UseHierarchy != nil {
			nm.UseHierarchy = m.UseHierarchy
		}
		if m.CheckBeforeUpdate != nil {
			nm.CheckBeforeUpdate = m.CheckBeforeUpdate
		}
		out.Memory = &nm
	}
	if c := upd.CPU; c != nil {
		nc := specs.LinuxCPU{}
		if out.CPU != nil {
			nc = *out.CPU
		}
		setU64(&nc.Shares, c.Shares)
		setI64(&nc.Quota, c.Quota)
		setU64(&nc.Period, c.Period)
		setU64(&nc.Burst, c.Burst)
		setI64(&nc.RealtimeRuntime, c.RealtimeRuntime)
		setU64(&nc.RealtimePeriod, c.RealtimePeriod)
		setI64(&nc.Idle, c.Idle)
		if c.Cpus != "" {
			nc.Cpus = c.Cpus
		}
		if c.Mems != "" {
			nc.Mems = c.Mems
		}
		out.CPU = &nc
	}
	if upd.Pids != nil && upd.Pids.Limit != nil && *upd.Pids.Limit != 0 {
		out.Pids = &specs.LinuxPids{Limit: upd.Pids.Limit}
	}
	if b := upd.BlockIO; b != nil {
		nb := specs.LinuxBlockIO{}
		if out.BlockIO != nil {
			nb = *out.BlockIO
		}
		if b.Weight != nil && *b.Weight != 0 {
			nb.Weight = b.Weight
		}
		if b.LeafWeight != nil && *b.LeafWeight != 0 {
			nb.LeafWeight = b.LeafWeight
		}
		if len(b.WeightDevice) > 0 {
			nb.WeightDevice = b.WeightDevice
		}
		if len(b.ThrottleReadBpsDevice) > 0 {
			nb.ThrottleReadBpsDevice = b.ThrottleReadBpsDevice
		}
		if len(b.ThrottleWriteBpsDevice) > 0 {
			nb.ThrottleWriteBpsDevice = b.ThrottleWriteBpsDevice
		}
		if len(b.ThrottleReadIOPSDevice) > 0 {
			nb.ThrottleReadIOPSDevice = b.ThrottleReadIOPSDevice
		}
		if len(b.ThrottleWriteIOPSDevice) > 0 {
			nb.ThrottleWriteIOPSDevice = b.ThrottleWriteIOPSDevice
		}
		out.BlockIO = &nb
	}
	if len(upd.HugepageLimits) > 0 {
		out.HugepageLimits = upd.HugepageLimits
	}
	if len(upd.Unified) > 0 {
		out.Unified = upd.Unified
	}
	if upd.Network != nil {
		out.Network = upd.Network
	}
	if len(upd.Rdma) > 0 {
		out.Rdma = upd.Rdma
	}
	if len(upd.Devices) > 0 {
		out.Devices = upd.Devices
	}
	return &out
}

// setI64 and setU64 take a value when it is set and not zero: zero means
// "unchanged" in runc's update, except -1 which means unlimited.
func setI64(dst **int64, v *int64) {
	if v != nil && *v != 0 {
		*dst = v
	}
}

func setU64(dst **uint64, v *uint64) {
	if v != nil && *v != 0 {
		*dst = v
	}
}
