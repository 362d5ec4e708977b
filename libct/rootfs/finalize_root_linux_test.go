package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// devConfig is a config with a tmpfs /dev and a devpts.
func devConfig(root string) *configs.Config {
	return &configs.Config{Rootfs: root, Mounts: []*configs.Mount{
		{Source: "proc", Destination: "/proc", Type: "proc"},
		{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Attr: unix.MOUNT_ATTR_NOSUID, Data: []string{"mode=755"}},
		{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Data: []string{"newinstance", "ptmxmode=0666", "mode=0620"}},
	}}
}

// setUp runs Prepare, MountAll, before (still outside), and PivotRoot.
func setUp(c *configs.Config, before func() error) error {
	if err := Prepare(c); err != nil {
		return err
	}
	if err := MountAll(c); err != nil {
		return err
	}
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	return PivotRoot(c)
}

// TestMaskRefusesFakeDevNull binds a /dev whose null is a regular file: the
// masking must refuse it (CVE-2025-31133).
func TestMaskRefusesFakeDevNull(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		make func(dir string) error
	}{
		{"regular file", func(dir string) error { return os.WriteFile(filepath.Join(dir, "null"), nil, 0o666) }},
		{"symlink", func(dir string) error { return os.Symlink("/proc/sys/kernel/core_pattern", filepath.Join(dir, "null")) }},
		{"other device", func(dir string) error {
			return unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			dev := t.TempDir()
			if err := tt.make(dev); err != nil {
				t.Fatal(err)
			}
			c := &configs.Config{
				Rootfs: root,
				Mounts: []*configs.Mount{
					{Source: "proc", Destination: "/proc", Type: "proc"},
					{Source: dev, Destination: "/dev", Type: "bind", Bind: true},
				},
				MaskedPaths: []string{"/proc/timer_list"},
			}
			inMountNS(t, func() error {
				if err := setUp(c, nil); err != nil {
					return err
				}
				err := Finalize(c)
				if err == nil || !strings.Contains(err.Error(), "masked path /proc/timer_list: refusing to mask with /dev/null: it is not the null device") {
					return fmt.Errorf("Finalize: %v, want a refusal", err)
				}
				return nil
			})
		})
	}
}

// TestFinalizeReadonlyTmpfs checks that a read-only tmpfs stays writable
// until Finalize, and that masked directories are empty.
func TestFinalizeReadonlyTmpfs(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	c := devConfig(root)
	c.Mounts[1].Attr |= unix.MOUNT_ATTR_RDONLY // /dev
	c.Mounts = append(c.Mounts, &configs.Mount{Source: "tmpfs", Destination: "/ro", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY})
	c.MaskedPaths = []string{"/proc/acpi", "/proc/driver"}
	inMountNS(t, func() error {
		if err := setUp(c, nil); err != nil {
			return err
		}
		// A createContainer hook could write here.
		if err := os.WriteFile("/ro/hook-was-here", nil, 0o644); err != nil {
			return fmt.Errorf("write before Finalize: %w", err)
		}
		if err := Finalize(c); err != nil {
			return err
		}
		infos, err := threadMounts()
		if err != nil {
			return err
		}
		for _, p := range []string{"/ro", "/dev"} {
			if mi := mountAt(infos, p); mi == nil || !hasOpt(mi.Options, "ro") {
				return fmt.Errorf("%s is %+v, want read-only", p, mi)
			}
		}
		if mi := mountAt(infos, "/dev/pts"); mi == nil || !hasOpt(mi.Options, "rw") {
			return fmt.Errorf("/dev/pts is %+v, want still rw", mi)
		}
		for _, p := range c.MaskedPaths {
			ents, err := os.ReadDir(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil || len(ents) != 0 {
				return fmt.Errorf("%s lists %d entries, %v; want masked", p, len(ents), err)
			}
		}
		return nil
	})
}

// openPty opens a new pty pair in the container's devpts and returns the
// master and the slave's path.
func openPty() (*os.File, string, error) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptmx.Close()
		return nil, "", err
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptmx.Close()
		return nil, "", err
	}
	return ptmx, "/dev/pts/" + strconv.Itoa(n), nil
}

// TestBindConsole binds a pty over /dev/console, by path and by fd, and
// refuses a /dev/console the image made a symlink (CVE-2025-52565).
func TestBindConsole(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		plant   func(dev string) error // run on the container's /dev before the pivot
		byFile  bool
		pts     string // overrides the pty path
		wantErr string
	}{
		{name: "by path"},
		{name: "by file", byFile: true},
		{name: "over an existing file", plant: func(dev string) error { return os.WriteFile(filepath.Join(dev, "console"), nil, 0o600) }},
		{
			name:    "symlink",
			plant:   func(dev string) error { return os.Symlink("/etc/hostname", filepath.Join(dev, "console")) },
			wantErr: "console: refusing to bind over /dev/console: it is not a regular file or a device",
		},
		{
			name:    "directory",
			plant:   func(dev string) error { return os.Mkdir(filepath.Join(dev, "console"), 0o755) },
			wantErr: "console: refusing to bind over /dev/console",
		},
		{name: "not a pty", pts: "/dev/null", wantErr: "console: /dev/null is not a pty on a devpts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			if err := os.WriteFile(filepath.Join(root, "etc", "hostname"), []byte("image"), 0o644); err != nil {
				t.Fatal(err)
			}
			c := devConfig(root)
			inMountNS(t, func() error {
				err := setUp(c, func() error {
					if tt.plant != nil {
						return tt.plant(filepath.Join(root, "dev"))
					}
					return nil
				})
				if err != nil {
					return err
				}
				ptmx, pts, err := openPty()
				if err != nil {
					return err
				}
				defer ptmx.Close()
				if tt.pts != "" {
					pts = tt.pts
				}
				if tt.byFile {
					peer, err := unix.IoctlRetInt(int(ptmx.Fd()), unix.TIOCGPTPEER)
					if err != nil {
						return err
					}
					f := os.NewFile(uintptr(peer), pts)
					defer f.Close()
					err = BindConsoleFile(f)
				} else {
					err = BindConsole(pts)
				}
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						return fmt.Errorf("BindConsole: %v, want %q", err, tt.wantErr)
					}
					if b, _ := os.ReadFile("/etc/hostname"); string(b) != "image" {
						return fmt.Errorf("/etc/hostname changed to %q", b)
					}
					return nil
				}
				if err != nil {
					return err
				}
				infos, err := threadMounts()
				if err != nil {
					return err
				}
				if mi := mountAt(infos, "/dev/console"); mi == nil || mi.FSType != "devpts" {
					return fmt.Errorf("/dev/console is %+v, want the pty", mi)
				}
				var a, b unix.Stat_t
				if err := unix.Stat("/dev/console", &a); err != nil {
					return err
				}
				if err := unix.Stat(pts, &b); err != nil {
					return err
				}
				if a.Rdev != b.Rdev {
					return fmt.Errorf("/dev/console is device %#x, want %s (%#x)", a.Rdev, pts, b.Rdev)
				}
				return nil
			})
		})
	}
}
