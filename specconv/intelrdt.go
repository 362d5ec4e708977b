package specconv

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/intelrdt"
)

// convertIntelRdt checks linux.intelRdt's syntax (libct/intelrdt's rules:
// closID a group name or "/", schemas as the kernel parses them, no
// newlines) and keeps a copy. Whether resctrl is mounted, and the rules
// on existing groups, are checked by create.
func convertIntelRdt(r *specs.LinuxIntelRdt) (*specs.LinuxIntelRdt, error) {
	if r == nil {
		return nil, nil
	}
	if err := intelrdt.Validate(r); err != nil {
		var ce *intelrdt.ConfigError
		if errors.As(err, &ce) {
			return nil, &FieldError{Field: "linux.intelRdt." + ce.Field, Err: ce.Err}
		}
		return nil, wrapField("linux.intelRdt", err)
	}
	c := *r
	c.Schemata = append([]string(nil), r.Schemata...)
	return &c, nil
}
