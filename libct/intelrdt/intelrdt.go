// Package intelrdt applies linux.intelRdt: Intel Resource Director
// Technology (and AMD's equivalent, PQoS) through the kernel's resctrl
// filesystem (Documentation/arch/x86/resctrl.rst), normally mounted at
// /sys/fs/resctrl.
//
// A resctrl directory at the top level is a CTRL_MON group: a class of
// service (CLOSID) whose "schemata" file holds one line per resource
// ("L3:0=7f0;1=1f", "MB:0=20;1=70") and whose "tasks" file takes one pid
// per write(2). Under its "mon_groups" directory, a MON group counts the
// cache occupancy and memory bandwidth of the tasks put in it, which must
// already be in the parent CTRL_MON group. Children inherit both at fork.
//
// The rules of runtime-spec 1.3 (config-linux.md, "IntelRdt"):
//
//   - no resctrl mount: an error (Manager creation fails);
//   - closID unset: the group is named after the container, created (an
//     existing one is an error: hull never shares a group it did not make
//     under the container's name) and removed on delete;
//   - closID set with a schema: created and written if missing; if it
//     exists, its schemata must already hold the values asked for (an
//     error names the difference) and nothing is written;
//   - closID set without a schema: the group must exist;
//   - closID set: the group is never removed on delete (a group hull made
//     is removed when the create that made it fails);
//   - closID "/": the root group, the default class of service;
//   - l3CacheSchema is written first, memBwSchema next, schemata last,
//     each in its own write(2): the kernel refuses a domain named twice in
//     one write;
//   - enableMonitoring: mon_groups/<container-id> is created in the group
//     and removed on delete; failing to create it is an error.
//
// A rejected schemata write is reported with the kernel's reason from
// info/last_cmd_status.
package intelrdt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultRoot is where resctrl is normally mounted.
const DefaultRoot = "/sys/fs/resctrl"

// ErrNotMounted is wrapped by the error of a container that has
// linux.intelRdt on a host without a mounted resctrl filesystem.
var ErrNotMounted = errors.New("no resctrl filesystem is mounted")

// State is what must be kept in the container's state to find its group
// again (update, exec, events, delete).
type State struct {
	// Root is the resctrl mount point.
	Root string `json:"root"`
	// Path is the CTRL_MON group's directory (Root itself for closID "/").
	Path string `json:"path"`
	// Remove is set when delete removes Path: hull made it and closID
	// was not set.
	Remove bool `json:"remove,omitempty"`
	// MonPath is the container's MON group (enableMonitoring), removed on
	// delete.
	MonPath string `json:"monPath,omitempty"`
}

// Features reports what hull implements of linux.intelRdt, for `hull
// features`: the code, not this host.
type Features struct {
	Enabled, Schemata, Monitoring bool
}

// Supported is what this package implements.
var Supported = Features{Enabled: true, Schemata: true, Monitoring: true}

// ConfigError is a problem with one field of linux.intelRdt; Field is
// the name below linux.intelRdt ("closID", "schemata[1]").
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(field string, err error) error { return &ConfigError{Field: field, Err: err} }

// Validate checks linux.intelRdt without touching the host. Its errors
// are *ConfigError.
func Validate(c *specs.LinuxIntelRdt) error {
	if c == nil {
		return nil
	}
	if err := checkClosID(c.ClosID); err != nil {
		return configErr("closID", err)
	}
	if c.L3CacheSchema != "" {
		if err := checkLine(c.L3CacheSchema); err != nil {
			return configErr("l3CacheSchema", err)
		}
		if !strings.HasPrefix(c.L3CacheSchema, "L3") {
			return configErr("l3CacheSchema", fmt.Errorf("%q does not start with L3 (L3:, L3CODE: or L3DATA:)", c.L3CacheSchema))
		}
	}
	if c.MemBwSchema != "" {
		if err := checkLine(c.MemBwSchema); err != nil {
			return configErr("memBwSchema", err)
		}
		if !strings.HasPrefix(c.MemBwSchema, "MB:") {
			return configErr("memBwSchema", fmt.Errorf("%q does not start with MB:", c.MemBwSchema))
		}
	}
	for i, l := range c.Schemata {
		if err := checkLine(l); err != nil {
			return configErr(fmt.Sprintf("schemata[%d]", i), err)
		}
	}
	return nil
}

// CheckSchemaUpdate checks the values of `update --l3-cache-schema` and
// `--mem-bw-schema` as Validate checks the fields they replace.
func CheckSchemaUpdate(l3, mb string) error {
	return Validate(&specs.LinuxIntelRdt{L3CacheSchema: l3, MemBwSchema: mb})
}

// reserved are the names resctrl uses at its top level.
var reserved = map[string]bool{"info": true, "mon_groups": true, "mon_data": true}

// checkClosID checks a CLOS name: "" (the container's id), "/" (the root
// group) or one directory name.
func checkClosID(id string) error {
	switch {
	case id == "" || id == "/":
		return nil
	case id == "." || id == "..":
		return fmt.Errorf("%q is not a group name", id)
	case strings.ContainsAny(id, "/\x00\n"):
		return fmt.Errorf("%q must be one directory name (no '/', NUL or newline), or \"/\" for the root group", id)
	case reserved[id]:
		return fmt.Errorf("%q is a name resctrl keeps for itself", id)
	case len(id) > 255:
		return fmt.Errorf("%q is longer than 255 bytes", id)
	}
	return nil
}

// line is one parsed schemata line: a resource and its domains' values,
// in the order written.
type line struct {
	resource string
	domains  []domainValue
}

type domainValue struct {
	id    uint64
	value string
}

// checkLine checks a schemata line as the kernel parses it
// (rdtgroup_schemata_write): "<resource>:<id>=<value>[;<id>=<value>...]",
// no newline.
func checkLine(s string) error {
	if strings.ContainsAny(s, "\n\x00") {
		return fmt.Errorf("%q contains a newline or NUL byte", s)
	}
	_, err := parseLine(s)
	return err
}

// parseLine parses a schemata line as written in config.json or as read
// back from a schemata file (where the kernel pads resource names and MB
// values with spaces).
func parseLine(s string) (line, error) {
	name, rest, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return line{}, fmt.Errorf("%q is not <resource>:<id>=<value>[;...]", s)
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return line{}, fmt.Errorf("%q: bad resource name %q", s, name)
		}
	}
	l := line{resource: name}
	seen := map[uint64]bool{}
	for _, d := range strings.Split(rest, ";") {
		id, val, ok := strings.Cut(d, "=")
		id, val = strings.TrimSpace(id), strings.TrimSpace(val)
		n, err := strconv.ParseUint(id, 10, 32)
		if !ok || err != nil {
			return line{}, fmt.Errorf("%q: domain %q is not <id>=<value> with a decimal id", s, d)
		}
		if seen[n] {
			return line{}, fmt.Errorf("%q: domain %d given twice", s, n)
		}
		seen[n] = true
		if _, err := parseValue(name, val); err != nil {
			return line{}, fmt.Errorf("%q: domain %d: %w", s, n, err)
		}
		l.domains = append(l.domains, domainValue{n, val})
	}
	return l, nil
}

// decimal reports whether resource's values are decimal (memory
// bandwidth: percent or MBps) rather than hexadecimal bitmasks (caches).
func decimal(resource string) bool {
	return strings.HasPrefix(resource, "MB") || resource == "SMBA"
}

// parseValue parses a domain's value: a hexadecimal capacity bitmask for
// the caches (the kernel's kstrtoul base 16 takes an optional 0x), a
// decimal number for memory bandwidth.
func parseValue(resource, v string) (uint64, error) {
	if decimal(resource) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a decimal number", v)
		}
		return n, nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X")
	n, err := strconv.ParseUint(h, 16, 64)
	if err != nil || h == "" {
		return 0, fmt.Errorf("%q is not a hexadecimal bitmask", v)
	}
	return n, nil
}

// parseSchemata parses a schemata file: resource -> domain -> value.
func parseSchemata(content string) (map[string]map[uint64]uint64, error) {
	out := map[string]map[uint64]uint64{}
	for raw := range strings.Lines(content) {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		l, err := parseLine(s)
		if err != nil {
			return nil, err
		}
		ds := map[uint64]uint64{}
		for _, d := range l.domains {
			ds[d.id], _ = parseValue(l.resource, d.value)
		}
		out[l.resource] = ds
	}
	return out, nil
}

// compareSchemata checks that every value of the wanted lines is what the
// group's schemata file holds (numerically: the kernel prints bitmasks
// zero-padded and bandwidths space-padded). It returns the first
// difference.
func compareSchemata(have string, want []string) error {
	cur, err := parseSchemata(have)
	if err != nil {
		return fmt.Errorf("parse the group's schemata: %w", err)
	}
	for _, w := range want {
		l, err := parseLine(w)
		if err != nil {
			return err
		}
		ds, ok := cur[l.resource]
		if !ok {
			return fmt.Errorf("%q: the group's schemata has no %s line", w, l.resource)
		}
		for _, d := range l.domains {
			v, _ := parseValue(l.resource, d.value)
			got, ok := ds[d.id]
			if !ok {
				return fmt.Errorf("%q: the group's schemata has no domain %d for %s", w, d.id, l.resource)
			}
			if got != v {
				return fmt.Errorf("%q: the group has %s domain %d = %s", w, l.resource, d.id, formatValue(l.resource, got))
			}
		}
	}
	return nil
}

func formatValue(resource string, v uint64) string {
	if decimal(resource) {
		return strconv.FormatUint(v, 10)
	}
	return strconv.FormatUint(v, 16)
}

// schemaWrites returns the writes to a group's schemata file, in the
// spec's order: l3CacheSchema, memBwSchema, then the schemata lines
// together. Each ends with the newline the kernel requires.
func schemaWrites(c *specs.LinuxIntelRdt) []string {
	var ws []string
	if c.L3CacheSchema != "" {
		ws = append(ws, c.L3CacheSchema+"\n")
	}
	if c.MemBwSchema != "" {
		ws = append(ws, c.MemBwSchema+"\n")
	}
	if len(c.Schemata) > 0 {
		ws = append(ws, strings.Join(c.Schemata, "\n")+"\n")
	}
	return ws
}

// wantedLines are the lines compared against an existing group.
func wantedLines(c *specs.LinuxIntelRdt) []string {
	var ls []string
	if c.L3CacheSchema != "" {
		ls = append(ls, c.L3CacheSchema)
	}
	if c.MemBwSchema != "" {
		ls = append(ls, c.MemBwSchema)
	}
	return append(ls, c.Schemata...)
}
