package intelrdt

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		c       specs.LinuxIntelRdt
		wantErr string // a part of the error; "" for none
	}{
		{"empty", specs.LinuxIntelRdt{}, ""},
		{"closID", specs.LinuxIntelRdt{ClosID: "guaranteed_group"}, ""},
		{"root closID", specs.LinuxIntelRdt{ClosID: "/"}, ""},
		{"spec example", specs.LinuxIntelRdt{ClosID: "g", Schemata: []string{"L3:0=7f0;1=1f", "L2:0=f;1=f;2=f;3=f", "MB:0=20;1=70"}}, ""},
		{"l3 and mb", specs.LinuxIntelRdt{L3CacheSchema: "L3:0=ffff0;1=3ff", MemBwSchema: "MB:0=20;1=70"}, ""},
		{"l3 cdp", specs.LinuxIntelRdt{L3CacheSchema: "L3CODE:0=ff;1=ff"}, ""},
		{"hex prefix", specs.LinuxIntelRdt{L3CacheSchema: "L3:0=0x7f0"}, ""},
		{"closID slash", specs.LinuxIntelRdt{ClosID: "a/b"}, "closID:"},
		{"closID dotdot", specs.LinuxIntelRdt{ClosID: ".."}, "closID:"},
		{"closID info", specs.LinuxIntelRdt{ClosID: "info"}, "closID:"},
		{"closID newline", specs.LinuxIntelRdt{ClosID: "a\nb"}, "closID:"},
		{"mb prefix", specs.LinuxIntelRdt{MemBwSchema: "L3:0=20"}, "memBwSchema:"},
		{"mb newline", specs.LinuxIntelRdt{MemBwSchema: "MB:0=20\nL3:0=1"}, "memBwSchema:"},
		{"mb hex", specs.LinuxIntelRdt{MemBwSchema: "MB:0=ff"}, "memBwSchema:"},
		{"l3 prefix", specs.LinuxIntelRdt{L3CacheSchema: "MB:0=20"}, "l3CacheSchema:"},
		{"l3 not hex", specs.LinuxIntelRdt{L3CacheSchema: "L3:0=xyz"}, "l3CacheSchema:"},
		{"l3 no domain", specs.LinuxIntelRdt{L3CacheSchema: "L3:"}, "l3CacheSchema:"},
		{"l3 no colon", specs.LinuxIntelRdt{L3CacheSchema: "L3"}, "l3CacheSchema:"},
		{"l3 domain twice", specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f;0=f"}, "given twice"},
		{"schemata newline", specs.LinuxIntelRdt{Schemata: []string{"L3:0=f", "MB:0=1\n"}}, "schemata[1]:"},
		{"schemata empty line", specs.LinuxIntelRdt{Schemata: []string{""}}, "schemata[0]:"},
		{"schemata id not decimal", specs.LinuxIntelRdt{Schemata: []string{"L2:a=f"}}, "schemata[0]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(&tt.c)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestCompareSchemata(t *testing.T) {
	// As the kernel prints a schemata file: names right-aligned, cache
	// masks zero-padded to the CBM's width, bandwidths space-padded.
	const have = "    L3:0=007f0;1=0001f\n    MB:0= 20;1= 70\n"
	tests := []struct {
		want    []string
		wantErr string
	}{
		{[]string{"L3:0=7f0;1=1f"}, ""},
		{[]string{"L3:1=0x1f"}, ""},
		{[]string{"MB:0=20;1=70", "L3:0=7f0"}, ""},
		{[]string{"L3:0=7f1"}, "domain 0 = 7f0"},
		{[]string{"MB:1=80"}, "domain 1 = 70"},
		{[]string{"L2:0=f"}, "no L2 line"},
		{[]string{"L3:2=f"}, "no domain 2"},
	}
	for _, tt := range tests {
		err := compareSchemata(have, tt.want)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("compare %q: %v", tt.want, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("compare %q = %v, want an error with %q", tt.want, err, tt.wantErr)
		}
	}
}

// TestSchemaWrites checks the spec's order (l3CacheSchema, memBwSchema,
// schemata last) and one write per field: the kernel refuses a domain
// named twice in a single write, so schemata that repeat an L3 domain
// must come in a write of their own.
func TestSchemaWrites(t *testing.T) {
	c := &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=50", Schemata: []string{"L3:0=3", "MB:0=20"}}
	got := schemaWrites(c)
	want := []string{"L3:0=f\n", "MB:0=50\n", "L3:0=3\nMB:0=20\n"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schemaWrites = %q, want %q", got, want)
	}
	if got := schemaWrites(&specs.LinuxIntelRdt{ClosID: "x"}); len(got) != 0 {
		t.Fatalf("no schema: writes %q, want none", got)
	}
}
