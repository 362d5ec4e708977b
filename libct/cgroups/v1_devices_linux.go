package cgroups

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setDevices applies the device rules to devices.allow and devices.deny.
//
// For the usual shape (deny everything, then allow or take back specific
// devices) the resulting list is predicted, compared with devices.list and
// reached by the difference alone: allows first, then denies of what must
// go. An update of a running container then never opens a window in which
// it loses a device it keeps (as writing "a" to devices.deny and replaying
// the list would). Any other shape is replayed in order after a deny of
// everything.
func (m *v1Manager) setDevices(r *specs.LinuxResources) error {
	if len(r.Devices) == 0 {
		return nil
	}
	dir, ok := m.paths["devices"]
	if !ok {
		if m.rootless {
			return nil // rootless containers rely on the user namespace
		}
		return fmt.Errorf("set devices: devices controller not joined: %w", ErrNotSupported)
	}
	rules := make([]string, 0, len(r.Devices))
	for i, d := range r.Devices {
		rule, err := deviceRule(d)
		if err != nil {
			return fmt.Errorf("devices[%d]: %w", i, err)
		}
		rules = append(rules, rule)
	}
	if want, ok := v1DeviceList(r.Devices); ok {
		cur, err := readFile(dir, "devices.list")
		if err != nil {
			return err
		}
		if have, ok := parseDeviceList(cur); ok {
			return v1DeviceDiff(dir, have, want)
		}
	}
	// The kernel takes one rule per write(2): each file is opened once
	// for all its rules (this runs on every create).
	deny, err := openCgroupFile(dir, "devices.deny")
	if err != nil {
		return err
	}
	defer deny.Close()
	if err := deny.write("a"); err != nil {
		if m.rootless && isPermission(err) {
			return nil
		}
		return err
	}
	allow, err := openCgroupFile(dir, "devices.allow")
	if err != nil {
		return err
	}
	defer allow.Close()
	for i, d := range r.Devices {
		f := deny
		if d.Allow {
			f = allow
		}
		if err := f.write(rules[i]); err != nil {
			return err
		}
	}
	return nil
}

// deviceRule formats a rule as devices.allow/deny take it: "c 1:3 rwm",
// with "a" for all devices and "*" for any major or minor.
func deviceRule(d specs.LinuxDeviceCgroup) (string, error) {
	typ := d.Type
	switch typ {
	case "", "a":
		typ = "a"
	case "c", "b":
	default:
		return "", fmt.Errorf("device type %q: want a, b or c", d.Type)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	for _, c := range access {
		if c != 'r' && c != 'w' && c != 'm' {
			return "", fmt.Errorf("device access %q: want letters of rwm", d.Access)
		}
	}
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	if typ == "a" && d.Major == nil && d.Minor == nil {
		return "a", nil
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access), nil
}

// deviceEntry is one line of devices.list: "c 1:3" and its access.
type deviceEntry struct {
	key, access string
}

// v1DeviceList predicts devices.list for rules that first deny everything
// and then allow or deny specific devices (not "a"), as the kernel keeps
// it: one entry per device in the order first allowed, access bits merged
// by allows and taken away by denies. ok is false for any other shape.
func v1DeviceList(devs []specs.LinuxDeviceCgroup) ([]deviceEntry, bool) {
	if len(devs) == 0 || devs[0].Allow || (devs[0].Type != "" && devs[0].Type != "a") || devs[0].Major != nil || devs[0].Minor != nil {
		return nil, false
	}
	var list []deviceEntry
	for _, d := range devs[1:] {
		if d.Type == "" || d.Type == "a" {
			return nil, false
		}
		rule, err := deviceRule(d)
		if err != nil {
			return nil, false
		}
		key, acc, _ := strings.Cut(rule, " ")
		key2, acc2, _ := strings.Cut(acc, " ")
		key, acc = key+" "+key2, acc2
		i := -1
		for j, e := range list {
			if e.key == key {
				i = j
			}
		}
		switch {
		case d.Allow && i < 0:
			list = append(list, deviceEntry{key, accessUnion("", acc)})
		case d.Allow:
			list[i].access = accessUnion(list[i].access, acc)
		case i >= 0:
			list[i].access = accessMinus(list[i].access, acc)
			if list[i].access == "" {
				list = append(list[:i], list[i+1:]...)
			}
		}
	}
	return list, true
}

// parseDeviceList reads devices.list; ok is false when it allows
// everything ("a *:* rwm"), which only a deny of everything undoes.
func parseDeviceList(s string) ([]deviceEntry, bool) {
	var list []deviceEntry
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		if f[0] == "a" {
			return nil, false
		}
		list = append(list, deviceEntry{f[0] + " " + f[1], f[2]})
	}
	return list, true
}

// v1DeviceDiff moves devices.list from have to want: allows first, so that
// no kept device is ever refused, then the denies of what goes.
func v1DeviceDiff(dir string, have, want []deviceEntry) error {
	find := func(list []deviceEntry, key string) string {
		for _, e := range list {
			if e.key == key {
				return e.access
			}
		}
		return ""
	}
	for _, w := range want {
		if accessMinus(w.access, find(have, w.key)) != "" {
			if err := writeFile(dir, "devices.allow", w.key+" "+w.access); err != nil {
				return err
			}
		}
	}
	for _, h := range have {
		if extra := accessMinus(h.access, find(want, h.key)); extra != "" {
			if err := writeFile(dir, "devices.deny", h.key+" "+extra); err != nil {
				return err
			}
		}
	}
	return nil
}

// accessUnion and accessMinus combine "rwm" access strings, keeping the
// kernel's letter order.
func accessUnion(a, b string) string {
	var out []byte
	for _, c := range []byte("rwm") {
		if strings.IndexByte(a, c) >= 0 || strings.IndexByte(b, c) >= 0 {
			out = append(out, c)
		}
	}
	return string(out)
}

func accessMinus(a, b string) string {
	var out []byte
	for _, c := range []byte("rwm") {
		if strings.IndexByte(a, c) >= 0 && strings.IndexByte(b, c) < 0 {
			out = append(out, c)
		}
	}
	return string(out)
}
