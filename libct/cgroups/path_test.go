package cgroups

import "testing"

func TestInnerPath(t *testing.T) {
	tests := []struct {
		name, path, id string
		want           string
		abs, wantErr   bool
	}{
		{name: "empty uses id", path: "", id: "ctr1", want: "ctr1"},
		{name: "empty with bad id", path: "", id: "a/b", wantErr: true},
		{name: "empty with dotdot id", path: "", id: "..", wantErr: true},
		{name: "absolute", path: "/kubepods/pod1/ctr", want: "/kubepods/pod1/ctr", abs: true},
		{name: "absolute cleaned", path: "//a/./b//", want: "/a/b", abs: true},
		{name: "absolute dotdot inside", path: "/a/b/../c", want: "/a/c", abs: true},
		{name: "absolute escapes", path: "/a/../../etc", wantErr: true},
		{name: "absolute root", path: "/", wantErr: true},
		{name: "absolute back to root", path: "/a/..", wantErr: true},
		{name: "relative", path: "machine/ctr", want: "machine/ctr"},
		{name: "relative dotdot inside", path: "a/../b", want: "b"},
		{name: "relative escapes", path: "../sibling", wantErr: true},
		{name: "relative escapes late", path: "a/../../b", wantErr: true},
		{name: "nul byte", path: "a\x00b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, abs, err := innerPath(tt.path, tt.id)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("innerPath(%q, %q) = %q, want an error", tt.path, tt.id, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("innerPath(%q, %q): %v", tt.path, tt.id, err)
			}
			if got != tt.want || abs != tt.abs {
				t.Fatalf("innerPath(%q, %q) = %q, %v; want %q, %v", tt.path, tt.id, got, abs, tt.want, tt.abs)
			}
		})
	}
}
