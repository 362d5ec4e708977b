package selinux

import (
	"errors"
	"testing"
)

func TestFormatMountLabel(t *testing.T) {
	tests := []struct {
		name, opts, label, want string
	}{
		{name: "no label", opts: "mode=755,size=65536k", label: "", want: "mode=755,size=65536k"},
		{name: "no label no opts", want: ""},
		{name: "label only", label: "system_u:object_r:container_file_t:s0:c1,c2",
			want: `context="system_u:object_r:container_file_t:s0:c1,c2"`},
		{name: "label appended", opts: "newinstance,ptmxmode=0666,mode=0620,gid=5", label: "system_u:object_r:container_file_t:s0:c7,c9",
			want: `newinstance,ptmxmode=0666,mode=0620,gid=5,context="system_u:object_r:container_file_t:s0:c7,c9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatMountLabel(tt.opts, tt.label); got != tt.want {
				t.Fatalf("FormatMountLabel(%q, %q) = %q, want %q", tt.opts, tt.label, got, tt.want)
			}
		})
	}
}

func TestMountTakesContext(t *testing.T) {
	tests := []struct {
		fstype string
		want   bool
	}{
		{"tmpfs", true}, {"devpts", true}, {"ramfs", true},
		{"bind", false}, {"proc", false}, {"sysfs", false}, {"mqueue", false},
		{"cgroup", false}, {"cgroup2", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.fstype, func(t *testing.T) {
			if got := MountTakesContext(tt.fstype); got != tt.want {
				t.Fatalf("MountTakesContext(%q) = %v, want %v", tt.fstype, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	const l = "system_u:system_r:container_t:s0:c1,c2"
	tests := []struct {
		name           string
		process, mount string
		enabled        bool
		wantErr        error
	}{
		{name: "nothing requested, disabled"},
		{name: "process label, disabled", process: l, wantErr: ErrNotEnabled},
		{name: "mount label, disabled", mount: "system_u:object_r:container_file_t:s0:c1,c2", wantErr: ErrNotEnabled},
		{name: "both, enabled", process: l, mount: l, enabled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := check(tt.process, tt.mount, tt.enabled); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("check = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
