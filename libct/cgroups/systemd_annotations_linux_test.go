package cgroups

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

func TestParseSystemdProperty(t *testing.T) {
	tests := []struct {
		name, value string
		wantName    string
		want        any
		wantSig     string
		wantErr     string
	}{
		{"TimeoutStopUSec", "uint64 123456789", "TimeoutStopUSec", uint64(123456789), "t", ""},
		{"CollectMode", "'inactive-or-failed'", "CollectMode", "inactive-or-failed", "s", ""},
		{"DefaultDependencies", "true", "DefaultDependencies", true, "b", ""},
		{"Wants", "['a.service', 'b.service']", "Wants", []string{"a.service", "b.service"}, "as", ""},
		{"CPUWeight", "@t 50", "CPUWeight", uint64(50), "t", ""},
		// The unit-file spelling in seconds becomes the D-Bus one.
		{"TimeoutStopSec", "uint64 10", "TimeoutStopUSec", uint64(10_000_000), "t", ""},
		{"TimeoutStopSec", "int32 3", "TimeoutStopUSec", uint64(3_000_000), "t", ""},
		{"RuntimeMaxSec", "1.5", "RuntimeMaxUSec", uint64(1_500_000), "t", ""},
		// Only a lowercase letter before Sec makes it seconds.
		{"FooUSec", "uint64 7", "FooUSec", uint64(7), "t", ""},
		{"TimeoutStopSec", "'ten'", "", nil, "", "seconds"},
		{"TimeoutStopSec", "-1.0", "", nil, "", "cannot be microseconds"},
		{"Ti", "true", "", nil, "", "shorter than 3"},
		{"Time_out", "true", "", nil, "", "letters only"},
		{"Timeout1", "true", "", nil, "", "letters only"},
		{"PIDs", "[uint32 1]", "", nil, "", "may not be set"},
		{"CollectMode", "inactive", "", nil, "", "not a GVariant"},
		{"CollectMode", "", "", nil, "", "not a GVariant"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			p, err := ParseSystemdProperty(tt.name, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "annotation org.systemd.property."+tt.name) {
					t.Fatalf("parse = %v, %v; want an error naming the annotation with %q", p, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.wantName || !reflect.DeepEqual(p.Value.Value(), tt.want) || p.Value.Signature().String() != tt.wantSig {
				t.Fatalf("parse = %s %s %#v, want %s %s %#v", p.Name, p.Value.Signature(), p.Value.Value(), tt.wantName, tt.wantSig, tt.want)
			}
		})
	}
}

// TestSystemdAnnotationsOverDBus starts a unit with annotated properties
// through the private bus: they reach StartTransientUnit after hull's own,
// an annotated property replaces hull's of the same name (sent once), and
// an update does not send them again.
func TestSystemdAnnotationsOverDBus(t *testing.T) {
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	cg := &configs.Cgroup{Systemd: true, Resources: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}},
		SystemdProperties: []configs.SystemdProperty{
			{Name: "CollectMode", Value: "'inactive-or-failed'"},
			{Name: "Description", Value: "'my pod'"},
			{Name: "TimeoutStopSec", Value: "uint64 10"},
		}}
	m := newTestSystemd(t, root, "ann", cg.Resources)
	user, err := systemdProperties(cg.SystemdProperties)
	if err != nil {
		t.Fatal(err)
	}
	m.user = user
	if err := m.Apply(4321); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy()
	start := fake.call("StartTransientUnit")
	count := map[string]int{}
	for _, p := range start.props {
		count[p.Name]++
	}
	got := propMap(start.props)
	for name, want := range map[string]any{
		"CollectMode": "inactive-or-failed", "Description": "my pod", "TimeoutStopUSec": uint64(10_000_000),
		"TasksMax": uint64(10), "Delegate": true,
	} {
		if !reflect.DeepEqual(got[name], want) {
			t.Errorf("property %s = %#v, want %#v", name, got[name], want)
		}
	}
	if count["Description"] != 1 {
		t.Errorf("Description sent %d times, want once (the annotation's)", count["Description"])
	}
	if last := start.props[len(start.props)-1]; last.Name != "TimeoutStopUSec" {
		t.Errorf("last property %s, want the annotations last", last.Name)
	}
	if err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	if set := fake.call("SetUnitProperties"); set == nil || len(set.props) != 1 || set.props[0].Name != "TasksMax" {
		t.Errorf("update sent %+v, want TasksMax only", set)
	}
}

// TestSystemdAnnotationsRefused checks that a property systemd refuses
// fails the start with systemd's error, saying annotations were there.
func TestSystemdAnnotationsRefused(t *testing.T) {
	startBus(t)
	root := fakeSystemdTree(t)
	fake := startFakeSystemd(t, root)
	fake.mu.Lock()
	fake.refuse = "NoSuchThing"
	fake.mu.Unlock()
	m := newTestSystemd(t, root, "ann2", nil)
	m.user = append(m.user, prop("NoSuchThing", "x"))
	err := m.Apply(4321)
	if err == nil || !strings.Contains(err.Error(), "Cannot set property NoSuchThing") || !strings.Contains(err.Error(), "org.systemd.property") {
		t.Fatalf("Apply = %v, want systemd's refusal and the annotations named", err)
	}
	if m.started {
		t.Errorf("manager marked started")
	}
}

// TestNewSystemdChecksAnnotations checks that New refuses an annotation
// that does not parse (specconv refuses it first; a config written by hand
// still fails here).
func TestNewSystemdChecksAnnotations(t *testing.T) {
	root := fakeSystemdTree(t)
	_, err := newSystemdAt(root, &configs.Cgroup{Systemd: true, Path: "system.slice:hull:x",
		SystemdProperties: []configs.SystemdProperty{{Name: "CollectMode", Value: "bare"}}}, "x", false, nil)
	if err == nil || !strings.Contains(err.Error(), "org.systemd.property.CollectMode") {
		t.Fatalf("newSystemdAt = %v, want the annotation named", err)
	}
}
