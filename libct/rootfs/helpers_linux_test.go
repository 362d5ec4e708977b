package rootfs

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

func TestCleanDest(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"/proc", "/proc", ""},
		{"dev/shm", "/dev/shm", ""},
		{"/a//b/./c/", "/a/b/c", ""},
		{"/", "/", ""},
		{"", "/", ""},
		{"/a/../b", "", "/a/../b escapes the rootfs"},
		{"..", "", ".. escapes the rootfs"},
		{"/a/..b", "/a/..b", ""},
	}
	for _, tt := range tests {
		got, err := cleanDest(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("cleanDest(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSplitOption(t *testing.T) {
	for _, tt := range []struct {
		in, key, value string
		flag           bool
	}{
		{"newinstance", "newinstance", "", true},
		{"mode=755", "mode", "755", false},
		{"size=", "size", "", false},
		{`context="a:b:c:s0:c1,c2"`, "context", "a:b:c:s0:c1,c2", false},
		{"context=a:b:c:s0:c1,c2", "context", "a:b:c:s0:c1,c2", false},
		{`x="`, "x", `"`, false},
		{"k=v=w", "k", "v=w", false},
	} {
		k, v, flag := splitOption(tt.in)
		if k != tt.key || v != tt.value || flag != tt.flag {
			t.Errorf("splitOption(%q) = %q, %q, %v; want %q, %q, %v", tt.in, k, v, flag, tt.key, tt.value, tt.flag)
		}
	}
}

func TestDataOptions(t *testing.T) {
	for _, tt := range []struct {
		data []string
		key  string
		want bool
	}{
		{[]string{"mode=755", "size=65536k"}, "mode", true},
		{[]string{"size=1m"}, "mode", false},
		{[]string{"ptmxmode=0666"}, "mode", false},
		{[]string{"mode"}, "mode", true},
		{nil, "mode", false},
	} {
		if got := hasDataOption(tt.data, tt.key); got != tt.want {
			t.Errorf("hasDataOption(%q, %q) = %v", tt.data, tt.key, got)
		}
	}
	for _, tt := range []struct {
		data  []string
		label string
		want  []string
	}{
		{nil, "", nil},
		{[]string{"mode=755"}, "", []string{"mode=755"}},
		{nil, "s0", []string{"context=s0"}},
		{[]string{"mode=755"}, "a:b:c:s0:c1,c2", []string{"mode=755", "context=a:b:c:s0:c1,c2"}},
	} {
		if got := withLabel(tt.data, tt.label); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("withLabel(%q, %q) = %q, want %q", tt.data, tt.label, got, tt.want)
		}
	}
}

func TestDevicesList(t *testing.T) {
	mode := fileMode(0o600)
	devpts := []*configs.Mount{{Destination: "/dev/pts", Type: "devpts"}}
	tests := []struct {
		name    string
		mounts  []*configs.Mount
		devices []specs.LinuxDevice
		want    []string
	}{
		{"defaults", nil, nil, []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}},
		{"override keeps the place, extra appended", nil,
			[]specs.LinuxDevice{{Path: "/dev/zero", FileMode: mode}, {Path: "dev/kvm"}},
			[]string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/kvm"}},
		{"ptmx kept without devpts", nil, []specs.LinuxDevice{{Path: "/dev/ptmx"}},
			[]string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx"}},
		{"ptmx dropped with devpts", devpts, []specs.LinuxDevice{{Path: "/dev/ptmx"}},
			[]string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range devices(&configs.Config{Mounts: tt.mounts, Devices: tt.devices}) {
				got = append(got, d.Path)
				if d.Path == "/dev/zero" && tt.devices != nil && tt.devices[0].Path == "/dev/zero" && d.FileMode != mode {
					t.Errorf("/dev/zero not overridden")
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("devices: %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := deviceMode(specs.LinuxDevice{Type: "x"}); err == nil {
		t.Error("deviceMode accepted type x")
	}
}

func TestNeedsDevAndDeferReadonly(t *testing.T) {
	tests := []struct {
		name     string
		m        configs.Mount
		needsDev bool
		deferRO  bool
	}{
		{"tmpfs /dev ro", configs.Mount{Destination: "/dev", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY}, true, true},
		{"bind /dev", configs.Mount{Destination: "/dev/", Type: "bind", Bind: true, Attr: unix.MOUNT_ATTR_RDONLY}, false, false},
		{"bind elsewhere", configs.Mount{Destination: "/data", Type: "bind", Bind: true}, true, false},
		{"tmpfs rw", configs.Mount{Destination: "/tmp", Type: "tmpfs"}, true, false},
		{"tmpfs ro", configs.Mount{Destination: "/tmp", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY}, true, true},
		{"sysfs ro", configs.Mount{Destination: "/sys", Type: "sysfs", Attr: unix.MOUNT_ATTR_RDONLY}, true, false},
		{"devtmpfs /dev ro", configs.Mount{Destination: "/dev", Type: "devtmpfs", Attr: unix.MOUNT_ATTR_RDONLY}, true, true},
	}
	for _, tt := range tests {
		m := tt.m
		if got := needsDev(&configs.Config{Mounts: []*configs.Mount{&m}}); got != tt.needsDev {
			t.Errorf("%s: needsDev = %v", tt.name, got)
		}
		if got := deferReadonly(&m); got != tt.deferRO {
			t.Errorf("%s: deferReadonly = %v", tt.name, got)
		}
	}
}
