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

func TestMsToAttr(t *testing.T) {
	tests := []struct {
		flags uintptr
		attr  uint64
		atime bool
	}{
		{0, 0, false},
		{unix.MS_BIND | unix.MS_REC, 0, false},
		{unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
			unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC, false},
		{unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME, true},
		{unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME, true},
		{unix.MS_RELATIME | unix.MS_NODIRATIME, unix.MOUNT_ATTR_RELATIME | unix.MOUNT_ATTR_NODIRATIME, true},
		{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW, false},
	}
	for _, tt := range tests {
		attr, atime := msToAttr(tt.flags)
		if attr != tt.attr || atime != tt.atime {
			t.Errorf("msToAttr(%#x) = %#x, %v; want %#x, %v", tt.flags, attr, atime, tt.attr, tt.atime)
		}
	}
}

func TestDataOptions(t *testing.T) {
	for _, tt := range []struct {
		data, key string
		want      bool
	}{
		{"mode=755,size=65536k", "mode", true},
		{"size=1m", "mode", false},
		{"ptmxmode=0666", "mode", false},
		{"", "mode", false},
	} {
		if got := hasDataOption(tt.data, tt.key); got != tt.want {
			t.Errorf("hasDataOption(%q, %q) = %v", tt.data, tt.key, got)
		}
	}
	for _, tt := range []struct{ data, label, want string }{
		{"", "", ""},
		{"mode=755", "", "mode=755"},
		{"", "s0", `context="s0"`},
		{"mode=755", "a:b:c:s0", `mode=755,context="a:b:c:s0"`},
	} {
		if got := formatLabel(tt.data, tt.label); got != tt.want {
			t.Errorf("formatLabel(%q, %q) = %q, want %q", tt.data, tt.label, got, tt.want)
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
		{"tmpfs /dev ro", configs.Mount{Destination: "/dev", Type: "tmpfs", Flags: unix.MS_RDONLY}, true, true},
		{"bind /dev", configs.Mount{Destination: "/dev/", Type: "bind", Flags: unix.MS_BIND | unix.MS_RDONLY}, false, false},
		{"bind elsewhere", configs.Mount{Destination: "/data", Type: "bind", Flags: unix.MS_BIND}, true, false},
		{"tmpfs rw", configs.Mount{Destination: "/tmp", Type: "tmpfs"}, true, false},
		{"tmpfs ro", configs.Mount{Destination: "/tmp", Type: "tmpfs", Flags: unix.MS_RDONLY}, true, true},
		{"sysfs ro", configs.Mount{Destination: "/sys", Type: "sysfs", Flags: unix.MS_RDONLY}, true, false},
		{"devtmpfs /dev ro", configs.Mount{Destination: "/dev", Type: "devtmpfs", Flags: unix.MS_RDONLY}, true, true},
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
