package cgroups

import (
	"errors"
	"fmt"
	"math"
	"strings"

	systemdDbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/hullrt/hull/libct/configs"
)

// SystemdPropertyPrefix starts the annotations that set a property of the
// systemd driver's unit, as with runc: the rest of the key is the
// property's name, the value the property's value as a D-Bus variant in
// GVariant text form (`uint64 123456789`, `'inactive-or-failed'`, `true`,
// `@as ['a', 'b']`).
const SystemdPropertyPrefix = "org.systemd.property."

// ownedProperties are the properties hull must set itself: PIDs puts the
// container's init in the unit, and any other list would leave it out.
var ownedProperties = map[string]string{
	"PIDs": "hull puts the container's init in the unit itself",
}

// ParseSystemdProperty turns one org.systemd.property.<name> annotation
// into the unit property sent to systemd. The name is ASCII letters only,
// at least three of them (runc's rule); the value must parse as a GVariant
// text. As with runc, a name ending in a lowercase letter and "Sec"
// (TimeoutStopSec, as the unit file documentation writes it) is sent as
// its D-Bus name in microseconds (TimeoutStopUSec) with the number scaled
// by a million. Errors name the annotation.
func ParseSystemdProperty(name, value string) (systemdDbus.Property, error) {
	key := SystemdPropertyPrefix + name
	if err := checkPropertyName(name); err != nil {
		return systemdDbus.Property{}, fmt.Errorf("annotation %s: property name %q: %w", key, name, err)
	}
	if why, ok := ownedProperties[name]; ok {
		return systemdDbus.Property{}, fmt.Errorf("annotation %s: %s may not be set (%s)", key, name, why)
	}
	v, err := dbus.ParseVariant(value, dbus.Signature{})
	if err != nil {
		return systemdDbus.Property{}, fmt.Errorf("annotation %s: value %q is not a GVariant text: %w", key, value, err)
	}
	if base, ok := strings.CutSuffix(name, "Sec"); ok && base[len(base)-1] >= 'a' && base[len(base)-1] <= 'z' {
		us, err := secondsToUSec(v)
		if err != nil {
			return systemdDbus.Property{}, fmt.Errorf("annotation %s: value %q: %w", key, value, err)
		}
		return systemdDbus.Property{Name: base + "USec", Value: dbus.MakeVariant(us)}, nil
	}
	return systemdDbus.Property{Name: name, Value: v}, nil
}

func checkPropertyName(s string) error {
	if len(s) < 3 {
		return errors.New("shorter than 3 letters")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return errors.New("not ASCII letters only")
		}
	}
	return nil
}

// secondsToUSec scales a number of seconds of any D-Bus numeric type to
// systemd's microseconds ("t").
func secondsToUSec(v dbus.Variant) (uint64, error) {
	const M = 1_000_000
	var f float64
	switch x := v.Value().(type) {
	case byte:
		f = float64(x)
	case int16:
		f = float64(x)
	case uint16:
		f = float64(x)
	case int32:
		f = float64(x)
	case uint32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		if x > math.MaxUint64/M {
			return 0, errors.New("seconds overflow microseconds")
		}
		return x * M, nil
	case float64:
		f = x
	default:
		return 0, fmt.Errorf("a number of seconds is needed, not a %s", v.Signature())
	}
	if f < 0 || f*M >= math.MaxUint64 || math.IsNaN(f) {
		return 0, fmt.Errorf("%v seconds cannot be microseconds", f)
	}
	return uint64(f * M), nil
}

// systemdProperties parses a container's annotated properties.
func systemdProperties(in []configs.SystemdProperty) ([]systemdDbus.Property, error) {
	out := make([]systemdDbus.Property, 0, len(in))
	for _, p := range in {
		sp, err := ParseSystemdProperty(p.Name, p.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// withUserProperties appends the annotated properties to hull's, dropping
// those of hull's that they name: the user's value wins, and systemd sees
// each property once.
func withUserProperties(ps, user []systemdDbus.Property) []systemdDbus.Property {
	if len(user) == 0 {
		return ps
	}
	named := make(map[string]bool, len(user))
	for _, p := range user {
		named[p.Name] = true
	}
	out := make([]systemdDbus.Property, 0, len(ps)+len(user))
	for _, p := range ps {
		if !named[p.Name] {
			out = append(out, p)
		}
	}
	return append(out, user...)
}
