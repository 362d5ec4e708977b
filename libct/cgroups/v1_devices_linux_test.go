package cgroups

import (
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestV1DeviceList(t *testing.T) {
	got, ok := v1DeviceList(containerRules)
	if !ok {
		t.Fatal("usual container rules: not predicted")
	}
	want := []deviceEntry{{"c 1:3", "rwm"}, {"c 1:9", "rm"}, {"c 136:*", "rwm"}, {"c 5:2", "rw"}, {"b 8:0", "r"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1DeviceList = %v, want %v", got, want)
	}
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		{{Allow: true, Access: "rwm"}},
		{{Allow: false, Access: "rwm"}, {Allow: true, Access: "r"}},
	} {
		if _, ok := v1DeviceList(rules); ok {
			t.Errorf("%v: predicted, want a replay", rules)
		}
	}
}

// TestV1DevicesUpdate: an update reaches the new list by difference.
func TestV1DevicesUpdate(t *testing.T) {
	needV1Root(t)
	m := newTestV1(t, "", nil)
	if err := m.Apply(0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{containerRules, "c 1:3 rwm\nc 1:9 rm\nc 136:* rwm\nc 5:2 rw\nb 8:0 r"},
		{[]specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(9), Access: "rw"},
			{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"},
		}, "c 1:3 rwm\nc 1:9 rw\nc 10:200 rwm"},
		{[]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, ""},
		{[]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, "a *:* rwm"},
	}
	for i, s := range steps {
		if err := m.Set(&specs.LinuxResources{Devices: s.rules}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := readTrim(t, filepath.Join(m.Path("devices"), "devices.list")); got != s.want {
			t.Errorf("step %d: devices.list = %q, want %q", i, got, s.want)
		}
	}
}
