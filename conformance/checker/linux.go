package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

var nsFiles = map[string]string{
	"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
	"uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time",
}

func nsInode(p string) string {
	l, err := os.Readlink(p)
	if err != nil {
		return ""
	}
	if i := strings.Index(l, "["); i >= 0 {
		return strings.Trim(l[i:], "[]")
	}
	return ""
}

func checkNamespaces(c *checker) {
	if c.spec.Linux == nil {
		return
	}
	configured := map[string]string{}
	for _, ns := range c.spec.Linux.Namespaces {
		configured[ns.Type] = ns.Path
	}
	for typ, f := range nsFiles {
		host := os.Getenv("HOSTNS_" + f)
		mine := nsInode("/proc/self/ns/" + f)
		if host == "" || mine == "" {
			continue // this kernel lacks the namespace type
		}
		p, ok := configured[typ]
		switch {
		case !ok:
			c.expect("CL-NS-INHERIT", mine == host, "%s namespace not configured: container has %s, runtime has %s", typ, mine, host)
		case p == "":
			c.expect("CL-NS-NEW", mine != host, "%s namespace configured without path: container has %s, runtime has %s", typ, mine, host)
		default:
			want := os.Getenv("EXPECTNS_" + f)
			if want == "" {
				c.skip("CL-NS-PATH-JOIN", "no expected inode for %s given by the harness", p)
				continue
			}
			c.expect("CL-NS-PATH-JOIN", mine == want, "%s namespace path %s: container has %s, path is %s", typ, p, mine, want)
		}
	}
}

func readIDMap(p string) ([]idmap, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []idmap
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		a, _ := strconv.ParseUint(f[0], 10, 32)
		h, _ := strconv.ParseUint(f[1], 10, 32)
		s, _ := strconv.ParseUint(f[2], 10, 32)
		out = append(out, idmap{uint32(a), uint32(h), uint32(s)})
	}
	return out, nil
}

func sameMaps(a, b []idmap) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[idmap]int{}
	for _, m := range a {
		seen[m]++
	}
	for _, m := range b {
		seen[m]--
		if seen[m] < 0 {
			return false
		}
	}
	return true
}

func checkIDMappings(c *checker) {
	l := c.spec.Linux
	if l == nil || len(l.UIDMappings) == 0 {
		return
	}
	for _, f := range []struct {
		file string
		want []idmap
	}{{"/proc/self/uid_map", l.UIDMappings}, {"/proc/self/gid_map", l.GIDMappings}} {
		got, err := readIDMap(f.file)
		c.expect("CL-USERNS-MAPPINGS", err == nil && sameMaps(got, f.want), "%s is %v (err %v), config says %v", f.file, got, err, f.want)
	}
}

func checkSysctl(c *checker) {
	if c.spec.Linux == nil {
		return
	}
	for k, v := range c.spec.Linux.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		b, err := os.ReadFile(p)
		got := strings.Join(strings.Fields(string(b)), " ")
		want := strings.Join(strings.Fields(v), " ")
		c.expect("CL-SYSCTL", err == nil && got == want, "sysctl %s is %q (err %v), config says %q", k, got, err, want)
	}
}

// cgroupFile finds file of controller ctrl for this process: it takes the
// process's cgroup from /proc/self/cgroup and the mount of that hierarchy
// from /proc/self/mountinfo (whose root field says which part of the
// hierarchy is visible), and returns the file's path and whether it is a
// cgroup v2 hierarchy.
func cgroupFile(ctrl, v1name, v2name string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	mi, err := readMountinfo()
	if err != nil {
		return "", err
	}
	var v2path string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2path = parts[2]
			continue
		}
		for _, cc := range strings.Split(parts[1], ",") {
			if cc != ctrl {
				continue
			}
			for i := len(mi) - 1; i >= 0; i-- {
				e := mi[i]
				if e.FSType == "cgroup" && e.Super[ctrl] {
					rel, err := filepath.Rel(e.Root, parts[2])
					if err != nil || strings.HasPrefix(rel, "..") {
						continue
					}
					return filepath.Join(e.Point, rel, v1name), nil
				}
			}
			return "", fmt.Errorf("no cgroup v1 mount of %s visible in the container", ctrl)
		}
	}
	if v2path != "" {
		for i := len(mi) - 1; i >= 0; i-- {
			e := mi[i]
			if e.FSType == "cgroup2" {
				rel, err := filepath.Rel(e.Root, v2path)
				if err != nil || strings.HasPrefix(rel, "..") {
					continue
				}
				p := filepath.Join(e.Point, rel)
				ctrls, _ := os.ReadFile(filepath.Join(p, "cgroup.controllers"))
				if !strings.Contains(" "+string(ctrls)+" ", " "+ctrl) {
					continue
				}
				return filepath.Join(p, v2name), nil
			}
		}
	}
	return "", fmt.Errorf("controller %s not found in /proc/self/cgroup and mountinfo", ctrl)
}

func (c *checker) cgroupValue(id, ctrl, v1, v2, want string) {
	p, err := cgroupFile(ctrl, v1, v2)
	if err != nil {
		c.fail(id, "%s: %v", v1, err)
		return
	}
	b, err := os.ReadFile(p)
	got := strings.TrimSpace(string(b))
	c.expect(id, err == nil && got == want, "%s is %q (err %v), config says %q", p, got, err, want)
}

func checkCgroups(c *checker) {
	if c.spec.Linux == nil || c.spec.Linux.Resources == nil {
		return
	}
	r := c.spec.Linux.Resources
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			c.cgroupValue("CL-MEMORY", "memory", "memory.limit_in_bytes", "memory.max", strconv.FormatInt(*m.Limit, 10))
		}
		if m.Reservation != nil {
			c.cgroupValue("CL-MEMORY", "memory", "memory.soft_limit_in_bytes", "memory.low", strconv.FormatInt(*m.Reservation, 10))
		}
		// v1 memsw is memory+swap, as the spec's swap is; v2's
		// memory.swap.max is swap alone, so compare it with swap-limit.
		if m.Swap != nil && m.Limit != nil {
			p, err := cgroupFile("memory", "memory.memsw.limit_in_bytes", "memory.swap.max")
			want := strconv.FormatInt(*m.Swap, 10)
			if err == nil && strings.HasSuffix(p, "memory.swap.max") {
				want = strconv.FormatInt(*m.Swap-*m.Limit, 10)
			}
			c.cgroupValue("CL-MEMORY", "memory", "memory.memsw.limit_in_bytes", "memory.swap.max", want)
		}
	}
	if bio := r.BlockIO; bio != nil {
		for _, d := range bio.ThrottleReadBpsDevice {
			p, err := cgroupFile("blkio", "blkio.throttle.read_bps_device", "io.max")
			if err != nil {
				p, err = cgroupFile("io", "blkio.throttle.read_bps_device", "io.max")
			}
			if err != nil {
				c.fail("CL-BLOCKIO", "blkio/io cgroup: %v", err)
				continue
			}
			b, err := os.ReadFile(p)
			dev := fmt.Sprintf("%d:%d", d.Major, d.Minor)
			want1, want2 := fmt.Sprintf("%s %d", dev, d.Rate), fmt.Sprintf("rbps=%d", d.Rate)
			found := false
			for _, l := range strings.Split(string(b), "\n") {
				if l == want1 || (strings.HasPrefix(l, dev+" ") && strings.Contains(l, want2)) {
					found = true
				}
			}
			c.expect("CL-BLOCKIO", err == nil && found, "%s has %q (err %v), config says %s rate %d", p, strings.TrimSpace(string(b)), err, dev, d.Rate)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		c.cgroupValue("CL-PIDS", "pids", "pids.max", "pids.max", strconv.FormatInt(*p.Limit, 10))
	}
	if cpu := r.CPU; cpu != nil {
		// On cgroup v2 quota and period share cpu.max ("QUOTA PERIOD"),
		// and shares become cpu.weight by a conversion the spec leaves
		// to the runtime (runc and crun use different ones): not checked.
		if p, err := cgroupFile("cpu", "cpu.cfs_quota_us", "cpu.max"); err == nil && strings.HasSuffix(p, "cpu.max") {
			b, err := os.ReadFile(p)
			f := strings.Fields(string(b))
			if cpu.Quota != nil {
				c.expect("CL-CPU", err == nil && len(f) == 2 && f[0] == strconv.FormatInt(*cpu.Quota, 10), "%s is %q (err %v), config says quota %d", p, strings.TrimSpace(string(b)), err, *cpu.Quota)
			}
			if cpu.Period != nil {
				c.expect("CL-CPU", err == nil && len(f) == 2 && f[1] == strconv.FormatUint(*cpu.Period, 10), "%s is %q (err %v), config says period %d", p, strings.TrimSpace(string(b)), err, *cpu.Period)
			}
		} else {
			if cpu.Shares != nil {
				c.cgroupValue("CL-CPU", "cpu", "cpu.shares", "cpu.shares", strconv.FormatUint(*cpu.Shares, 10))
			}
			if cpu.Quota != nil {
				c.cgroupValue("CL-CPU", "cpu", "cpu.cfs_quota_us", "cpu.cfs_quota_us", strconv.FormatInt(*cpu.Quota, 10))
			}
			if cpu.Period != nil {
				c.cgroupValue("CL-CPU", "cpu", "cpu.cfs_period_us", "cpu.cfs_period_us", strconv.FormatUint(*cpu.Period, 10))
			}
		}
		if cpu.Cpus != "" {
			c.cgroupValue("CL-CPU", "cpuset", "cpuset.cpus", "cpuset.cpus", cpu.Cpus)
		}
		if cpu.Mems != "" {
			c.cgroupValue("CL-CPU", "cpuset", "cpuset.mems", "cpuset.mems", cpu.Mems)
		}
	}
}

// checkDeviceCgroup opens the device node named by DEVOPEN_PATH read-only
// and compares the errno with DEVOPEN_WANT: EPERM means the device cgroup
// denied it, ENXIO means it was allowed (no driver backs the number).
func checkDeviceCgroup(c *checker) {
	p, want := os.Getenv("DEVOPEN_PATH"), os.Getenv("DEVOPEN_WANT")
	if p == "" {
		return
	}
	f, err := os.OpenFile(p, os.O_RDONLY, 0)
	if err == nil {
		f.Close()
	}
	got := "ok"
	switch {
	case errors.Is(err, syscall.EPERM):
		got = "EPERM"
	case errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
		got = "ENXIO"
	case err != nil:
		got = err.Error()
	}
	c.expect("CL-DEVICE-CGROUP-ORDER", got == want, "open %s read-only: %s, want %s", p, got, want)
}

// probeSyscalls are syscalls the checker can make without side effects.
var probeSyscalls = map[string]uintptr{"getppid": syscall.SYS_GETPPID, "getpgrp": syscall.SYS_GETPGRP}

func checkSeccomp(c *checker) {
	if c.spec.Linux == nil || c.spec.Linux.Seccomp == nil {
		return
	}
	for _, s := range c.spec.Linux.Seccomp.Syscalls {
		if s.Action != "SCMP_ACT_ERRNO" || len(s.Args) > 0 {
			continue
		}
		want := uint(syscall.EPERM)
		if s.ErrnoRet != nil {
			want = *s.ErrnoRet
		}
		for _, n := range s.Names {
			nr, ok := probeSyscalls[n]
			if !ok {
				continue
			}
			_, _, errno := syscall.RawSyscall(nr, 0, 0, 0)
			c.expect("CL-SECCOMP", uint(errno) == want, "%s returned errno %d, seccomp rule says %d", n, uint(errno), want)
		}
	}
}

func checkPersonality(c *checker) {
	l := c.spec.Linux
	if l == nil || l.Personality == nil || l.Personality.Domain != "LINUX32" || runtime.GOARCH != "amd64" {
		return
	}
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		c.fail("CL-PERSONALITY", "uname: %v", err)
		return
	}
	var m []byte
	for _, b := range u.Machine {
		if b == 0 {
			break
		}
		m = append(m, byte(b))
	}
	c.expect("CL-PERSONALITY", string(m) == "i686", "personality LINUX32: uname machine is %q, want i686", m)
}

type winsize struct{ Row, Col, X, Y uint16 }

func checkTerminal(c *checker) {
	p := c.spec.Process
	if p == nil || !p.Terminal {
		return
	}
	for fd := 0; fd < 3; fd++ {
		var t syscall.Termios
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
		c.expect("CFG-PROC-TERMINAL", errno == 0, "fd %d is a terminal (TCGETS errno %d)", fd, errno)
	}
	if p.ConsoleSize != nil {
		var ws winsize
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 1, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
		c.expect("CFG-PROC-TERMINAL", errno == 0 && uint(ws.Row) == p.ConsoleSize.Height && uint(ws.Col) == p.ConsoleSize.Width,
			"console size %dx%d, config says %dx%d", ws.Row, ws.Col, p.ConsoleSize.Height, p.ConsoleSize.Width)
	}
}

// mempolicyModes are the MPOL_* numbers of set_mempolicy(2).
var mempolicyModes = map[string]uintptr{
	"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
	"MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}

func checkMemoryPolicy(c *checker) {
	l := c.spec.Linux
	if l == nil || l.MemoryPolicy == nil {
		return
	}
	want, ok := mempolicyModes[l.MemoryPolicy.Mode]
	if !ok {
		c.skip("CL-MEMORY-POLICY", "mode %q unknown to the checker", l.MemoryPolicy.Mode)
		return
	}
	var mode int32
	// get_mempolicy(&mode, NULL, 0, NULL, 0): the calling thread's policy.
	// The mode word carries the MPOL_F_* mode flags in its high bits.
	_, _, errno := syscall.RawSyscall6(syscall.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), 0, 0, 0, 0, 0)
	got := uintptr(mode) & 0xff
	c.expect("CL-MEMORY-POLICY", errno == 0 && got == want, "get_mempolicy mode %d (errno %d), config says %s (%d)", got, errno, l.MemoryPolicy.Mode, want)
}

// checkUnified reads back every linux.resources.unified entry from the
// container's cgroup v2 directory. UNIFIED_CLAUSE names the clause.
func checkUnified(c *checker) {
	l := c.spec.Linux
	if l == nil || l.Resources == nil {
		return
	}
	id := os.Getenv("UNIFIED_CLAUSE")
	if id == "" {
		id = "CL-UNIFIED-ENABLE"
	}
	for k, v := range l.Resources.Unified {
		ctrl, _, _ := strings.Cut(k, ".")
		p, err := cgroupFile(ctrl, k, k)
		if err != nil {
			c.fail(id, "%s: %v", k, err)
			continue
		}
		b, err := os.ReadFile(p)
		got := strings.TrimSpace(string(b))
		c.expect(id, err == nil && got == strings.TrimSpace(v), "%s is %q (err %v), unified says %q", p, got, err, v)
	}
}

// checkTimeOffsets compares /proc/self/timens_offsets (time_namespaces(7))
// with linux.timeOffsets.
func checkTimeOffsets(c *checker) {
	l := c.spec.Linux
	if l == nil || len(l.TimeOffsets) == 0 {
		return
	}
	b, err := os.ReadFile("/proc/self/timens_offsets")
	if err != nil {
		c.fail("CL-TIME-OFFSETS", "read /proc/self/timens_offsets: %v", err)
		return
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			got[f[0]] = f[1] + " " + f[2]
		}
	}
	for clock, off := range l.TimeOffsets {
		want := fmt.Sprintf("%d %d", off.Secs, off.Nanosecs)
		c.expect("CL-TIME-OFFSETS", got[clock] == want, "%s offset is %q, config says %q", clock, got[clock], want)
	}
}

// checkIdmapMount stats each of the comma-separated IDMAP_PATH and compares
// its owner with IDMAP_WANT ("uid:gid"): through an idmapped mount the
// on-disk owner appears mapped.
func checkIdmapMount(c *checker) {
	paths, want := os.Getenv("IDMAP_PATH"), os.Getenv("IDMAP_WANT")
	if paths == "" {
		return
	}
	id := os.Getenv("IDMAP_CLAUSE")
	if id == "" {
		id = "CFG-MOUNTOPT-IDMAP"
	}
	for _, p := range strings.Split(paths, ",") {
		var st syscall.Stat_t
		err := syscall.Stat(p, &st)
		got := fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		c.expect(id, err == nil && got == want, "%s is owned by %s (err %v), the mount's idmapping gives %s", p, got, err, want)
	}
}

var schedPolicies = map[string]string{"SCHED_OTHER": "0", "SCHED_FIFO": "1", "SCHED_RR": "2", "SCHED_BATCH": "3",
	"SCHED_ISO": "4", "SCHED_IDLE": "5", "SCHED_DEADLINE": "6"}

var ioprioClasses = map[string]uintptr{"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}

// checkScheduling compares the process's scheduling policy and nice value
// (/proc/self/stat fields 41 and 19) and I/O priority (ioprio_get(2)) with
// process.scheduler and process.ioPriority.
func checkScheduling(c *checker) {
	p := c.spec.Process
	if p == nil {
		return
	}
	if s := p.Scheduler; s != nil {
		b, err := os.ReadFile("/proc/self/stat")
		stat := string(b)
		var rest []string
		if i := strings.LastIndex(stat, ")"); i >= 0 {
			rest = strings.Fields(stat[i+1:])
		}
		if err != nil || len(rest) < 39 {
			c.fail("CFG-PROC-SCHEDULER", "read /proc/self/stat: %v", err)
		} else {
			c.expect("CFG-PROC-SCHEDULER", rest[38] == schedPolicies[s.Policy], "policy is %s, config says %s (%s)", rest[38], s.Policy, schedPolicies[s.Policy])
			c.expect("CFG-PROC-SCHEDULER", rest[16] == strconv.Itoa(int(s.Nice)), "nice is %s, config says %d", rest[16], s.Nice)
		}
	}
	if io := p.IOPriority; io != nil {
		const ioprioWhoProcess = 1
		r, _, errno := syscall.RawSyscall(syscall.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
		class, data := r>>13, r&0x1fff
		c.expect("CFG-PROC-IOPRIORITY", errno == 0 && class == ioprioClasses[io.Class] && int(data) == io.Priority,
			"ioprio class %d data %d (errno %d), config says %s %d", class, data, errno, io.Class, io.Priority)
	}
}
