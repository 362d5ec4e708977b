package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// infinity is systemd's "no limit" for the t-typed resource properties.
const infinity = math.MaxUint64

// systemdUnit parses a systemd cgroupsPath, "slice:prefix:name", into the
// unit to create, its parent slice and the unit's cgroup path. An empty
// path gives "hull-<id>.scope" in system.slice. A name ending in ".slice"
// makes the unit a slice itself.
func systemdUnit(cgPath, id string) (unit, slice, path string, err error) {
	return systemdUnitIn(cgPath, id, "system.slice")
}

// systemdUnitIn is systemdUnit with the slice an empty one stands for:
// system.slice for the system instance, user.slice for a user's (as
// runc); path is then relative to the manager's own cgroup.
func systemdUnitIn(cgPath, id, defSlice string) (unit, slice, path string, err error) {
	prefix, name := "hull", id
	slice = defSlice
	if cgPath != "" {
		parts := strings.Split(cgPath, ":")
		if len(parts) != 3 {
			return "", "", "", fmt.Errorf("systemd cgroupsPath %q: want slice:prefix:name", cgPath)
		}
		slice, prefix, name = parts[0], parts[1], parts[2]
		if slice == "" {
			slice = defSlice
		}
	}
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return "", "", "", fmt.Errorf("systemd cgroupsPath %q: bad unit name %q", cgPath, name)
	}
	if strings.HasSuffix(name, ".slice") {
		unit = name
		path, err = expandSlice(unit)
		return unit, "", path, err
	}
	unit = name + ".scope"
	if prefix != "" {
		unit = prefix + "-" + unit
	}
	if strings.ContainsAny(prefix, "/\x00") {
		return "", "", "", fmt.Errorf("systemd cgroupsPath %q: bad prefix %q", cgPath, prefix)
	}
	sp, err := expandSlice(slice)
	if err != nil {
		return "", "", "", err
	}
	return unit, slice, strings.TrimSuffix(sp, "/") + "/" + unit, nil
}

// expandSlice turns a slice name into its cgroup path: each dash opens a
// level, "a-b.slice" is /a.slice/a-b.slice; "-.slice" is the root.
func expandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", fmt.Errorf("systemd slice %q: want a name ending in .slice, without /", slice)
	}
	if name == "-" {
		return "/", nil
	}
	var b strings.Builder
	prefix := ""
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			return "", fmt.Errorf("systemd slice %q: empty component", slice)
		}
		b.WriteString("/" + prefix + part + ".slice")
		prefix += part + "-"
	}
	return b.String(), nil
}

// prop is a unit property; godbus derives its D-Bus type from v's Go
// type: uint64 "t", []byte "ay", []uint32 "au", []deviceAllow "a(ss)",
// []ioDevice "a(st)".
func prop(name string, v any) systemdDbus.Property {
	return systemdDbus.Property{Name: name, Value: dbus.MakeVariant(v)}
}

// deviceAllow is an entry of DeviceAllow: a device node or class and the
// access granted ("rwm").
type deviceAllow struct {
	Path, Perms string
}

// ioDevice is an entry of the per-device io properties (IOReadBandwidthMax,
// IODeviceWeight, ...): a block device and a value.
type ioDevice struct {
	Path  string
	Value uint64
}

// resourceProperties maps resources to the unit properties systemd
// manages, so that a `systemctl daemon-reload` does not undo them. The fs
// driver then writes the full set to the files as well.
func resourceProperties(r *specs.LinuxResources, v2 bool, procDevices string) ([]systemdDbus.Property, error) {
	if r == nil {
		return nil, nil
	}
	var ps []systemdDbus.Property
	if m := r.Memory; m != nil {
		var limit, swap int64
		if m.Limit != nil {
			limit = *m.Limit
		}
		if m.Swap != nil {
			swap = *m.Swap
		}
		tv := func(v int64) uint64 {
			if v == -1 {
				return infinity
			}
			return uint64(v)
		}
		switch {
		case limit != 0 && v2:
			ps = append(ps, prop("MemoryMax", tv(limit)))
		case limit != 0:
			ps = append(ps, prop("MemoryLimit", tv(limit)))
		}
		if v2 {
			if m.Reservation != nil && *m.Reservation != 0 {
				ps = append(ps, prop("MemoryLow", tv(*m.Reservation)))
			}
			sw, err := ConvertMemorySwapToV2(swap, limit)
			if err != nil {
				return nil, fmt.Errorf("memory swap: %w", err)
			}
			if swap != 0 || sw == -1 {
				ps = append(ps, prop("MemorySwapMax", tv(sw)))
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if v2 {
				ps = append(ps, prop("CPUWeight", ConvertCPUSharesToWeight(*c.Shares)))
			} else {
				ps = append(ps, prop("CPUShares", *c.Shares))
			}
		}
		var period uint64
		if c.Period != nil {
			period = *c.Period
		}
		if period != 0 {
			ps = append(ps, prop("CPUQuotaPeriodUSec", period))
		}
		if c.Quota != nil && *c.Quota != 0 {
			ps = append(ps, prop("CPUQuotaPerSecUSec", cpuQuotaPerSec(*c.Quota, period)))
		}
		if v2 {
			for _, s := range []struct{ name, list string }{{"AllowedCPUs", c.Cpus}, {"AllowedMemoryNodes", c.Mems}} {
				if s.list == "" {
					continue
				}
				mask, err := listToBitmask(s.list)
				if err != nil {
					return nil, fmt.Errorf("%s %q: %w", strings.ToLower(s.name), s.list, err)
				}
				ps = append(ps, prop(s.name, mask))
			}
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		v := uint64(infinity)
		if *r.Pids.Limit >= 0 {
			v = uint64(*r.Pids.Limit)
		}
		if v == 0 {
			// Sent as 1, as runc's systemd driver does (systemd versions
			// differ on TasksMax=0): 1 forbids a fork in the scope as
			// well, and the fs driver writes the exact 0 to pids.max.
			v = 1
		}
		ps = append(ps, prop("TasksMax", v))
	}
	if b := r.BlockIO; b != nil {
		ps = append(ps, ioProperties(b, v2)...)
	}
	if len(r.Devices) > 0 {
		dps, err := deviceProperties(r.Devices, procDevices)
		if err != nil {
			return nil, err
		}
		ps = append(ps, dps...)
	}
	if v2 && len(r.Unified) > 0 {
		ups, err := unifiedProperties(r.Unified)
		if err != nil {
			return nil, err
		}
		ps = append(ps, ups...)
	}
	return ps, nil
}

// propertySince is the first systemd version that takes each property
// newer than the rest (systemd's NEWS): an older systemd refuses the
// whole call with an unknown property, so such a property is left out
// there, as runc does, and the fs driver's write of the file stands alone.
var propertySince = map[string]int{
	"MemoryMin":          240,
	"CPUQuotaPeriodUSec": 242,
	"AllowedCPUs":        244,
	"AllowedMemoryNodes": 244,
}

// needsVersion reports whether ps has a property that not every systemd
// knows.
func needsVersion(ps []systemdDbus.Property) bool {
	return slices.ContainsFunc(ps, func(p systemdDbus.Property) bool { return propertySince[p.Name] != 0 })
}

// forVersion drops the properties systemd version ver (0: unknown) does
// not know.
func forVersion(ps []systemdDbus.Property, ver int) []systemdDbus.Property {
	return slices.DeleteFunc(slices.Clone(ps), func(p systemdDbus.Property) bool { return ver < propertySince[p.Name] })
}

// parseSystemdVersion reads the major version from the manager's Version
// property as go-systemd formats it: "\"252.22-1~deb12u1\"" is 252. It is
// 0 when there is no number.
func parseSystemdVersion(s string) int {
	s = strings.TrimPrefix(strings.Trim(s, `"`), "v")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	v, _ := strconv.Atoi(s[:end])
	return v
}

// unifiedProperties maps the entries of the unified map that systemd
// manages itself to their unit properties, as runc does: systemd rewrites
// those files from the unit on a daemon-reload, so a value written to the
// file alone would be undone. They come after the properties of the other
// fields, so that (as in the files) the unified map wins. The other
// entries are the fs driver's only.
func unifiedProperties(unified map[string]string) ([]systemdDbus.Property, error) {
	keys := make([]string, 0, len(unified))
	for k := range unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ps []systemdDbus.Property
	for _, k := range keys {
		v := strings.TrimSpace(unified[k])
		bad := func(want string) error { return fmt.Errorf("unified %s %q: want %s", k, v, want) }
		switch k {
		case "memory.min", "memory.low", "memory.high", "memory.max", "memory.swap.max", "pids.max":
			n := uint64(infinity)
			if v != "max" {
				var err error
				if n, err = strconv.ParseUint(v, 10, 64); err != nil {
					return nil, bad("a number or max")
				}
			}
			name := map[string]string{"memory.min": "MemoryMin", "memory.low": "MemoryLow", "memory.high": "MemoryHigh",
				"memory.max": "MemoryMax", "memory.swap.max": "MemorySwapMax", "pids.max": "TasksMax"}[k]
			if name == "TasksMax" && n == 0 {
				n = 1 // as for pids.limit 0: systemd refuses 0, the file gets 0
			}
			ps = append(ps, prop(name, n))
		case "cpu.weight":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n < 1 || n > 10000 {
				return nil, bad("1-10000")
			}
			ps = append(ps, prop("CPUWeight", n))
		case "cpu.max":
			f := strings.Fields(v)
			if len(f) < 1 || len(f) > 2 {
				return nil, bad(`"$MAX [$PERIOD]"`)
			}
			var period uint64
			if len(f) == 2 {
				var err error
				if period, err = strconv.ParseUint(f[1], 10, 64); err != nil || period == 0 {
					return nil, bad("a period in microseconds")
				}
				ps = append(ps, prop("CPUQuotaPeriodUSec", period))
			}
			quota := int64(-1)
			if f[0] != "max" {
				var err error
				if quota, err = strconv.ParseInt(f[0], 10, 64); err != nil || quota <= 0 {
					return nil, bad("a quota in microseconds or max")
				}
			}
			ps = append(ps, prop("CPUQuotaPerSecUSec", cpuQuotaPerSec(quota, period)))
		case "cpuset.cpus", "cpuset.mems":
			mask, err := listToBitmask(v)
			if err != nil {
				return nil, fmt.Errorf("unified %s %q: %w", k, v, err)
			}
			name := "AllowedCPUs"
			if k == "cpuset.mems" {
				name = "AllowedMemoryNodes"
			}
			ps = append(ps, prop(name, mask))
		}
	}
	return ps, nil
}

// cpuQuotaPerSec converts a CFS quota per period to systemd's CPU time per
// second, rounded up to the 10ms systemd works in; -1 is no limit.
func cpuQuotaPerSec(quota int64, period uint64) uint64 {
	if quota < 0 {
		return infinity
	}
	if period == 0 {
		period = 100000 // the kernel's default cfs_period_us
	}
	v := uint64(quota) * 1000000 / period
	if v%10000 != 0 {
		v = (v/10000 + 1) * 10000
	}
	return v
}

// listToBitmask turns a cpu or node list ("0-2,5") into the byte mask
// systemd's AllowedCPUs takes (bit n of byte n/8 for n).
func listToBitmask(list string) ([]byte, error) {
	ns, err := parseCPUList(list)
	if err != nil {
		return nil, err
	}
	var mask []byte
	for _, n := range ns {
		for int(n)/8 >= len(mask) {
			mask = append(mask, 0)
		}
		mask[n/8] |= 1 << (n % 8)
	}
	return mask, nil
}

func ioProperties(b *specs.LinuxBlockIO, v2 bool) []systemdDbus.Property {
	var ps []systemdDbus.Property
	dev := func(major, minor int64) string { return fmt.Sprintf("/dev/block/%d:%d", major, minor) }
	if b.Weight != nil && *b.Weight != 0 {
		if v2 {
			ps = append(ps, prop("IOWeight", ConvertBlkioWeightToIOWeight(uint64(*b.Weight))))
		} else {
			ps = append(ps, prop("BlockIOWeight", uint64(*b.Weight)))
		}
	}
	var weights []ioDevice
	for _, wd := range b.WeightDevice {
		if wd.Weight == nil {
			continue
		}
		w := uint64(*wd.Weight)
		if v2 {
			w = ConvertBlkioWeightToIOWeight(w)
		}
		weights = append(weights, ioDevice{dev(wd.Major, wd.Minor), w})
	}
	if len(weights) > 0 {
		name := "BlockIODeviceWeight"
		if v2 {
			name = "IODeviceWeight"
		}
		ps = append(ps, prop(name, weights))
	}
	for _, t := range []struct {
		v1, v2 string
		devs   []specs.LinuxThrottleDevice
	}{
		{"BlockIOReadBandwidth", "IOReadBandwidthMax", b.ThrottleReadBpsDevice},
		{"BlockIOWriteBandwidth", "IOWriteBandwidthMax", b.ThrottleWriteBpsDevice},
		{"", "IOReadIOPSMax", b.ThrottleReadIOPSDevice},
		{"", "IOWriteIOPSMax", b.ThrottleWriteIOPSDevice},
	} {
		name := t.v1
		if v2 {
			name = t.v2
		}
		if name == "" || len(t.devs) == 0 {
			continue // v1 iops: no systemd property, the fs driver writes it
		}
		var list []ioDevice
		for _, d := range t.devs {
			list = append(list, ioDevice{dev(d.Major, d.Minor), d.Rate})
		}
		ps = append(ps, prop(name, list))
	}
	return ps
}

// deviceProperties turns the device rules into DevicePolicy and
// DeviceAllow. systemd keeps an allow list only: the rules are replayed
// (a rule for every device resets the list), and a deny that is not of
// everything may only take back an earlier allow of the same devices. A
// device class without a minor is named as /proc/devices names its major
// ("char-pts").
//
// Like DeviceAllow= in a unit file, a non-empty DeviceAllow adds to the
// unit's list and an empty one clears it, so the list is cleared first (an
// update must drop what it no longer allows), as runc does. DevicePolicy
// comes after DeviceAllow: in the other order systemd marks the transient
// unit as needing a daemon-reload (systemd#35710, runc#4612).
func deviceProperties(rules []specs.LinuxDeviceCgroup, procDevices string) ([]systemdDbus.Property, error) {
	type entry struct{ typ, major, minor, access string }
	allowAll := true
	var allow []entry
	for i, d := range rules {
		if _, err := deviceRule(d); err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		typ := d.Type
		if typ == "" {
			typ = "a"
		}
		num := func(p *int64) string {
			if p == nil || *p < 0 {
				return "*"
			}
			return strconv.FormatInt(*p, 10)
		}
		e := entry{typ, num(d.Major), num(d.Minor), d.Access}
		if e.access == "" {
			e.access = "rwm"
		}
		if typ == "a" && e.major == "*" && e.minor == "*" {
			allowAll, allow = d.Allow, nil
			continue
		}
		same := func(x entry) bool { return x.typ == e.typ && x.major == e.major && x.minor == e.minor }
		switch {
		case d.Allow && !allowAll:
			allow = append(slicesDeleteFunc(allow, same), e)
		case !d.Allow && !allowAll:
			allow = slicesDeleteFunc(allow, same)
		case !d.Allow && allowAll:
			return nil, fmt.Errorf("devices[%d]: systemd cannot deny one device while allowing all", i)
		}
	}
	if allowAll {
		return []systemdDbus.Property{prop("DeviceAllow", []deviceAllow{}), prop("DevicePolicy", "auto")}, nil
	}
	ps := []systemdDbus.Property{prop("DeviceAllow", []deviceAllow{})}
	var list []deviceAllow
	for _, e := range allow {
		kinds := []string{e.typ}
		if e.typ == "a" {
			kinds = []string{"c", "b"}
		}
		for _, k := range kinds {
			class := map[string]string{"c": "char", "b": "block"}[k]
			var spec string
			switch {
			case e.major == "*":
				spec = class + "-*"
			case e.minor != "*":
				spec = "/dev/" + class + "/" + e.major + ":" + e.minor
			default:
				name, err := majorName(procDevices, class, e.major)
				if err != nil {
					return nil, err
				}
				if name == "" {
					continue // a major no driver has: nothing to allow
				}
				spec = class + "-" + name
			}
			list = append(list, deviceAllow{spec, e.access})
		}
	}
	if len(list) > 0 {
		ps = append(ps, prop("DeviceAllow", list))
	}
	return append(ps, prop("DevicePolicy", "strict")), nil
}

func slicesDeleteFunc[T any](s []T, del func(T) bool) []T {
	out := s[:0]
	for _, x := range s {
		if !del(x) {
			out = append(out, x)
		}
	}
	return out
}

// majorName finds a major number's driver name in /proc/devices text, in
// its "Character devices:" or "Block devices:" section.
func majorName(procDevices, class, major string) (string, error) {
	if procDevices == "" {
		return "", errors.New("no /proc/devices to name a device major")
	}
	want := "Character devices:"
	if class == "block" {
		want = "Block devices:"
	}
	in := false
	sc := bufio.NewScanner(strings.NewReader(procDevices))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, "devices:") {
			in = line == want
			continue
		}
		if f := strings.Fields(line); in && len(f) == 2 && f[0] == major {
			return f[1], nil
		}
	}
	return "", nil
}
