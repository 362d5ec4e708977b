package capabilities

import (
	"strings"
	"testing"

	"github.com/hullrt/hull/libct/configs"
)

func TestFromName(t *testing.T) {
	tests := []struct {
		name    string
		want    int
		wantErr string
	}{
		{name: "CAP_CHOWN", want: 0},
		{name: "CAP_NET_ADMIN", want: 12},
		{name: "CAP_SYS_ADMIN", want: 21},
		{name: "CAP_AUDIT_READ", want: 37},
		{name: "CAP_PERFMON", want: 38},
		{name: "CAP_BPF", want: 39},
		{name: "CAP_CHECKPOINT_RESTORE", want: 40},
		{name: "CAP_FOO", wantErr: `unknown capability "CAP_FOO"`},
		{name: "NET_ADMIN", wantErr: `unknown capability "NET_ADMIN"`},
		{name: "cap_net_admin", wantErr: `unknown capability "cap_net_admin"`},
		{name: "", wantErr: `unknown capability ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromName(tt.name)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("FromName(%q) error = %v, want %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromName(%q) = %d, %v; want %d", tt.name, got, err, tt.want)
			}
			if n := Name(got); n != tt.name {
				t.Fatalf("Name(%d) = %q, want %q", got, n, tt.name)
			}
		})
	}
}

func TestNamesComplete(t *testing.T) {
	names := Names()
	if len(names) != MaxKnown+1 || MaxKnown != 40 {
		t.Fatalf("Names() has %d entries, MaxKnown %d; want 41 and 40", len(names), MaxKnown)
	}
	seen := map[string]bool{}
	for i, n := range names {
		if !strings.HasPrefix(n, "CAP_") || seen[n] {
			t.Errorf("entry %d: bad or duplicate name %q", i, n)
		}
		seen[n] = true
	}
	names[0] = "changed"
	if Name(0) != "CAP_CHOWN" {
		t.Fatal("Names() returned the package's own table")
	}
	if got := Name(63); got != "CAP_63" {
		t.Fatalf("Name(63) = %q", got)
	}
}

func TestFromNames(t *testing.T) {
	got, err := FromNames([]string{"CAP_KILL", "CAP_BPF"})
	if err != nil || len(got) != 2 || got[0] != 5 || got[1] != 39 {
		t.Fatalf("FromNames = %v, %v", got, err)
	}
	if _, err := FromNames([]string{"CAP_KILL", "CAP_NOPE"}); err == nil || !strings.Contains(err.Error(), `"CAP_NOPE"`) {
		t.Fatalf("FromNames with unknown name: err = %v", err)
	}
}

func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *configs.Capabilities
		last int
		want Sets
		err  string
	}{
		{"nil is empty", nil, 40, Sets{}, ""},
		{"each set as listed", &configs.Capabilities{Bounding: []int{0, 21}, Effective: []int{21}, Permitted: []int{0, 21}, Inheritable: []int{0}},
			40, Sets{Bounding: 1 | 1<<21, Effective: 1 << 21, Permitted: 1 | 1<<21, Inheritable: 1}, ""},
		{"inheritable never widened", &configs.Capabilities{Permitted: []int{5}, Effective: []int{5}}, 40, Sets{Permitted: 1 << 5, Effective: 1 << 5}, ""},
		{"ambient needs permitted and inheritable", &configs.Capabilities{Permitted: []int{1, 2}, Inheritable: []int{2, 3}, Ambient: []int{1, 2, 3}},
			40, Sets{Permitted: 6, Inheritable: 12, Ambient: 4}, ""},
		{"above the kernel's last: left out", &configs.Capabilities{Bounding: []int{38, 40}}, 39, Sets{Bounding: 1 << 38}, ""},
		{"not a capability number", &configs.Capabilities{Effective: []int{64}}, 40, Sets{}, "effective capabilities: 64"},
		{"negative", &configs.Capabilities{Ambient: []int{-1}}, 40, Sets{}, "ambient capabilities: -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compute(tc.c, tc.last)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Compute = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
