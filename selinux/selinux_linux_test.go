package selinux

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestNotEnabledHere checks the errors on a host without SELinux.
func TestNotEnabledHere(t *testing.T) {
	if Enabled() {
		t.Skip("needs a host without SELinux; this one has it enabled")
	}
	const l = "system_u:system_r:container_t:s0:c1,c2"
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{name: "check", call: func() error { return Check(l, "") }, want: ErrNotEnabled},
		{name: "empty exec label", call: func() error { return SetExecLabel("") }},
		{name: "file label", call: func() error { return SetFileLabel(filepath.Join(t.TempDir(), "x"), l) }, want: ErrNotEnabled},
		{name: "empty file label", call: func() error { return SetFileLabel("/nonexistent", "") }},
	}
	// SetExecLabel trusts Check (done by the parent): here the kernel
	// itself refuses the label.
	if err := SetExecLabel(l); err == nil {
		t.Error("exec label accepted on a host without SELinux")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}
