package seccomp

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFeaturesArchsCompile: every architecture `hull features` lists must
// be one this libseccomp can build a filter for (a runtime that lists an
// architecture and then refuses profiles naming it fails conformance).
func TestFeaturesArchsCompile(t *testing.T) {
	f := Features()
	if len(f.Archs) == 0 {
		t.Fatal("no architectures listed")
	}
	for _, a := range f.Archs {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.Arch(a)}}
		_, err := Compile(p, "")
		if err != nil && strings.Contains(err.Error(), "not supported") {
			t.Errorf("listed architecture %s cannot be compiled: %v", a, err)
		}
	}
	if len(f.SupportedFlags) == 0 || len(f.Actions) != len(knownActions) {
		t.Errorf("features %+v", f)
	}
}
