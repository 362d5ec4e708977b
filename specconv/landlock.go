package specconv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
)

// process.landlock is runtime-spec PR #1241's proposal, which the spec's Go
// types do not have:
//
//	"landlock": {
//	    "ruleset": {"handledAccessFS": ["write_file", ...],
//	                "handledAccessNetwork": ["bind_tcp", "connect_tcp"]},
//	    "rules": {"pathBeneath": [{"allowedAccess": [...], "paths": ["/tmp"]}],
//	              "netPort": [{"allowedAccess": ["connect_tcp"], "ports": [443]}]},
//	    "disableBestEffort": false
//	}
//
// The loaders read it from the document themselves and return it beside
// the runtime-spec type (Spec.Landlock, Process.Landlock), where Convert
// and ConvertProcess take it. Unlike the rest of config.json, an unknown or wrongly-cased
// property inside it is an error: ignoring a misspelt "handledAccessFs"
// would run the container without the confinement it asks for.

// mayHaveLandlock is a cheap test that spares the extra parse of
// documents that cannot hold the property (its name in any case, or
// written with \u escapes).
func mayHaveLandlock(data []byte) bool {
	const name = "landlock"
	for i := 0; i+len(name) <= len(data); i++ {
		if bytes.EqualFold(data[i:i+len(name)], []byte(name)) {
			return true
		}
	}
	return bytes.Contains(data, []byte(`\u`))
}

// loadLandlock reads the landlock property of the process object in data
// (the whole config.json when inSpec, else a process.json); hasProcess says
// that the document has one. data has already been decoded once, so it is
// valid JSON.
func loadLandlock(data []byte, hasProcess, inSpec bool) (*configs.Landlock, error) {
	if !hasProcess || !mayHaveLandlock(data) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	proc, parent := tree, ""
	if inSpec {
		// An inexact "Process" is ignored, as decode ignores it.
		if m, ok := tree.(map[string]any); ok {
			proc = m["process"]
		}
		parent = "process"
	}
	v, err := member(parent, proc, "landlock")
	if err != nil || v == nil {
		return nil, err
	}
	return parseLandlock(join(parent, "landlock"), v)
}

// member returns the property k of obj (nil when absent, or when obj is
// not an object: decode has reported that already). A property that is k
// only when case is ignored is an error.
func member(field string, obj any, k string) (any, error) {
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, nil
	}
	for name := range m {
		if name != k && strings.EqualFold(name, k) {
			return nil, fieldErr(join(field, name), "unknown property: did you mean %q? (names are case-sensitive)", k)
		}
	}
	return m[k], nil
}

// join names the property name of parent as pathAt does: quoted when it
// is not an identifier (so a key with a newline stays on one line).
func join(parent, name string) string {
	switch {
	case !isIdent(name):
		return key(parent, name)
	case parent == "":
		return name
	}
	return parent + "." + name
}

// object checks that v is a JSON object with only the given properties.
func object(field string, v any, known ...string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(field, "cannot unmarshal %s into object", kindOf(v))
	}
	for k := range m {
		hint := ""
		for _, want := range known {
			if k == want {
				hint = "-"
				break
			}
			if strings.EqualFold(k, want) {
				hint = fmt.Sprintf(": did you mean %q? (names are case-sensitive)", want)
			}
		}
		if hint == "-" {
			continue
		}
		if hint == "" {
			hint = fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
		}
		return nil, fieldErr(join(field, k), "unknown property%s", hint)
	}
	return m, nil
}

func kindOf(v any) string {
	if v == nil {
		return "null"
	}
	s := jsonKind(v)
	s = strings.TrimPrefix(s, "an ")
	return strings.TrimPrefix(s, "a ")
}

func array(field string, v any) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, fieldErr(field, "cannot unmarshal %s into array", kindOf(v))
	}
	return a, nil
}

// rights turns a list of access right names into their bits.
func rights(field string, v any, known []landlock.Right) (uint64, error) {
	list, err := array(field, v)
	if err != nil {
		return 0, err
	}
	var mask uint64
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return 0, fieldErr(idx(field, i), "cannot unmarshal %s into string", kindOf(e))
		}
		r, ok := landlock.Lookup(known, s)
		if !ok {
			names := make([]string, len(known))
			for j, k := range known {
				names[j] = k.Name
			}
			return 0, fieldErr(idx(field, i), "unknown access right %q (known: %s)", s, strings.Join(names, ", "))
		}
		mask |= r.Bit
	}
	return mask, nil
}

// parseLandlock validates and converts the landlock object v.
func parseLandlock(field string, v any) (*configs.Landlock, error) {
	top, err := object(field, v, "ruleset", "rules", "disableBestEffort")
	if err != nil {
		return nil, err
	}
	l := &configs.Landlock{}
	if d, ok := top["disableBestEffort"]; ok && d != nil {
		b, ok := d.(bool)
		if !ok {
			return nil, fieldErr(field+".disableBestEffort", "cannot unmarshal %s into boolean", kindOf(d))
		}
		l.DisableBestEffort = b
	}
	rsField := field + ".ruleset"
	if rs := top["ruleset"]; rs != nil {
		m, err := object(rsField, rs, "handledAccessFS", "handledAccessNetwork")
		if err != nil {
			return nil, err
		}
		if l.HandledAccessFS, err = rights(rsField+".handledAccessFS", m["handledAccessFS"], landlock.FSRights); err != nil {
			return nil, err
		}
		if l.HandledAccessNet, err = rights(rsField+".handledAccessNetwork", m["handledAccessNetwork"], landlock.NetRights); err != nil {
			return nil, err
		}
	}
	if l.HandledAccessFS == 0 && l.HandledAccessNet == 0 {
		// The kernel refuses an empty ruleset (ENOMSG); and a landlock
		// object that restricts nothing is most likely a mistake.
		return nil, fieldErr(rsField, "handles no access right: list some in handledAccessFS or handledAccessNetwork")
	}
	rulesField := field + ".rules"
	rules := top["rules"]
	if rules == nil {
		return l, nil
	}
	m, err := object(rulesField, rules, "pathBeneath", "netPort")
	if err != nil {
		return nil, err
	}
	list, err := array(rulesField+".pathBeneath", m["pathBeneath"])
	if err != nil {
		return nil, err
	}
	for i, e := range list {
		r, err := pathRule(idx(rulesField+".pathBeneath", i), e, l.HandledAccessFS)
		if err != nil {
			return nil, err
		}
		l.PathBeneath = append(l.PathBeneath, r)
	}
	if list, err = array(rulesField+".netPort", m["netPort"]); err != nil {
		return nil, err
	}
	for i, e := range list {
		r, err := portRule(idx(rulesField+".netPort", i), e, l.HandledAccessNet)
		if err != nil {
			return nil, err
		}
		l.NetPort = append(l.NetPort, r)
	}
	return l, nil
}

// allowed reads a rule's allowedAccess, which must be a non-empty subset
// of what the ruleset handles (the kernel: ENOMSG, EINVAL).
func allowed(field string, v any, known []landlock.Right, handled uint64, handledName string) (uint64, error) {
	mask, err := rights(field, v, known)
	if err != nil {
		return 0, err
	}
	if mask == 0 {
		return 0, fieldErr(field, "at least one access right is required")
	}
	if extra := mask &^ handled; extra != 0 {
		return 0, fieldErr(field, "%s not in ruleset.%s: a rule can only allow what the ruleset handles",
			strings.Join(landlock.Names(known, extra), ", "), handledName)
	}
	return mask, nil
}

func pathRule(field string, v any, handled uint64) (configs.LandlockPathBeneath, error) {
	var r configs.LandlockPathBeneath
	m, err := object(field, v, "allowedAccess", "paths")
	if err != nil {
		return r, err
	}
	if r.AllowedAccess, err = allowed(field+".allowedAccess", m["allowedAccess"], landlock.FSRights, handled, "handledAccessFS"); err != nil {
		return r, err
	}
	paths, err := array(field+".paths", m["paths"])
	if err != nil {
		return r, err
	}
	if len(paths) == 0 {
		return r, fieldErr(field+".paths", "at least one path is required")
	}
	for i, e := range paths {
		s, ok := e.(string)
		if !ok {
			return r, fieldErr(idx(field+".paths", i), "cannot unmarshal %s into string", kindOf(e))
		}
		// Opened by init inside the container, where a relative path
		// would depend on its cwd at that moment.
		if strings.IndexByte(s, 0) >= 0 || !filepath.IsAbs(s) {
			return r, fieldErr(idx(field+".paths", i), "%q is not an absolute path", s)
		}
		r.Paths = append(r.Paths, filepath.Clean(s))
	}
	return r, nil
}

func portRule(field string, v any, handled uint64) (configs.LandlockNetPort, error) {
	var r configs.LandlockNetPort
	m, err := object(field, v, "allowedAccess", "ports")
	if err != nil {
		return r, err
	}
	if r.AllowedAccess, err = allowed(field+".allowedAccess", m["allowedAccess"], landlock.NetRights, handled, "handledAccessNetwork"); err != nil {
		return r, err
	}
	ports, err := array(field+".ports", m["ports"])
	if err != nil {
		return r, err
	}
	if len(ports) == 0 {
		return r, fieldErr(field+".ports", "at least one port is required")
	}
	for i, e := range ports {
		n, ok := e.(json.Number)
		if !ok {
			return r, fieldErr(idx(field+".ports", i), "cannot unmarshal %s into a port number", kindOf(e))
		}
		p, err := n.Int64()
		if err != nil || p < 0 || p > 65535 {
			return r, fieldErr(idx(field+".ports", i), "%s is not a TCP port (0 to 65535)", n)
		}
		r.Ports = append(r.Ports, uint16(p))
	}
	return r, nil
}
