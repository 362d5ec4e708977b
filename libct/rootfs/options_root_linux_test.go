package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// TestBindOptions checks the flags, recursive attributes and propagation a
// bind mount ends up with.
func TestBindOptions(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		mnt     configs.Mount
		want    []string // options of the mount at /b
		notWant []string
		sub     []string // options of the submount at /b/sub
		prop    string   // prefix of an optional field at /b
	}{
		{
			name:    "plain bind keeps the source flags",
			mnt:     configs.Mount{Flags: unix.MS_BIND | unix.MS_REC},
			want:    []string{"rw", "nodev"},
			notWant: []string{"ro"},
		},
		{
			name:    "ro nosuid",
			mnt:     configs.Mount{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID},
			want:    []string{"ro", "nosuid"},
			notWant: []string{"nodev"}, // "mount --bind -o ro,nosuid" sets exactly these
			sub:     []string{"rw"},    // ro is not recursive
		},
		{
			name: "rro",
			mnt:  configs.Mount{Flags: unix.MS_BIND | unix.MS_REC, RecAttrSet: unix.MOUNT_ATTR_RDONLY},
			want: []string{"ro"},
			sub:  []string{"ro"},
		},
		{
			name:    "remount keeps what is not cleared",
			mnt:     configs.Mount{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT | unix.MS_NOEXEC},
			want:    []string{"noexec", "nodev"},
			notWant: []string{"ro"},
		},
		{
			name:    "explicit clear",
			mnt:     configs.Mount{Flags: unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT, ClearFlags: unix.MS_NODEV},
			notWant: []string{"nodev"},
		},
		{
			name: "rshared",
			mnt:  configs.Mount{Flags: unix.MS_BIND | unix.MS_REC, PropagationFlags: []uintptr{unix.MS_SHARED | unix.MS_REC}},
			prop: "shared:",
		},
		{
			name: "noatime",
			mnt:  configs.Mount{Flags: unix.MS_BIND | unix.MS_NOATIME},
			want: []string{"noatime"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			src := t.TempDir()
			if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			mnt := tt.mnt
			mnt.Source = src
			mnt.Destination = "/b"
			mnt.Type = "bind"
			c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{&mnt}}
			inMountNS(t, func() error {
				// The source is a nodev tmpfs with a tmpfs submount.
				if err := unix.Mount("tmpfs", src, "tmpfs", unix.MS_NODEV, ""); err != nil {
					return err
				}
				if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
					return err
				}
				if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, ""); err != nil {
					return err
				}
				if err := Prepare(c); err != nil {
					return err
				}
				if err := MountAll(c); err != nil {
					return err
				}
				infos, err := threadMounts()
				if err != nil {
					return err
				}
				mi := mountAt(infos, root+"/b")
				if mi == nil {
					return fmt.Errorf("nothing on %s/b", root)
				}
				for _, o := range tt.want {
					if !hasOpt(mi.Options, o) {
						return fmt.Errorf("options %q lack %s", mi.Options, o)
					}
				}
				for _, o := range tt.notWant {
					if hasOpt(mi.Options, o) {
						return fmt.Errorf("options %q have %s", mi.Options, o)
					}
				}
				if tt.prop != "" && !strings.Contains(mi.Optional, tt.prop) {
					return fmt.Errorf("optional fields %q, want %s", mi.Optional, tt.prop)
				}
				if tt.sub != nil {
					sub := mountAt(infos, root+"/b/sub")
					if sub == nil {
						return fmt.Errorf("submount not carried over")
					}
					for _, o := range tt.sub {
						if !hasOpt(sub.Options, o) {
							return fmt.Errorf("submount options %q lack %s", sub.Options, o)
						}
					}
				}
				return nil
			})
		})
	}
}

// TestTmpfsKeepsDirectoryMode checks that a tmpfs over an existing
// directory takes its permissions, and a new one gets tmpfs's default.
func TestTmpfsKeepsDirectoryMode(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	if err := os.Mkdir(filepath.Join(root, "tight"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tight"), 0o711); err != nil {
		t.Fatal(err)
	}
	c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{
		{Source: "tmpfs", Type: "tmpfs", Destination: "/tight"},
		{Source: "tmpfs", Type: "tmpfs", Destination: "/new"},
		{Source: "tmpfs", Type: "tmpfs", Destination: "/tmp", Data: "mode=1777"},
	}}
	inMountedNS(t, c, func([]*mountinfo.Info) error {
		for p, want := range map[string]os.FileMode{
			"/tight": os.ModeDir | 0o711,
			"/new":   os.ModeDir | os.ModeSticky | 0o777,
			"/tmp":   os.ModeDir | os.ModeSticky | 0o777,
		} {
			fi, err := os.Stat(root + p)
			if err != nil {
				return err
			}
			if fi.Mode() != want {
				return fmt.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
			}
		}
		return nil
	})
}

// TestCgroupMount checks the v1 layout (the host here is hybrid) or the
// cgroup2 mount on a unified host.
func TestCgroupMount(t *testing.T) {
	needRoot(t)
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		t.Skipf("no %s: %v", cgroupRoot, err)
	}
	unified := st.Type == unix.CGROUP2_SUPER_MAGIC
	root := newRootfs(t)
	c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RELATIME | unix.MS_RDONLY},
	}}
	inMountedNS(t, c, func(infos []*mountinfo.Info) error {
		top := mountAt(infos, root+"/sys/fs/cgroup")
		if unified {
			if top == nil || top.FSType != "cgroup2" || !hasOpt(top.Options, "ro") {
				return fmt.Errorf("/sys/fs/cgroup is %+v, want read-only cgroup2", top)
			}
			return nil
		}
		if top == nil || top.FSType != "tmpfs" || !hasOpt(top.Options, "ro") {
			return fmt.Errorf("/sys/fs/cgroup is %+v, want a read-only tmpfs", top)
		}
		own, err := (&mounter{sys: realSys{}}).ownCgroups()
		if err != nil {
			return err
		}
		n := 0
		for _, mi := range infos {
			if mi.FSType != "cgroup" || !strings.HasPrefix(mi.Mountpoint, root+"/") {
				continue
			}
			n++
			if !hasOpt(mi.Options, "ro") || !hasOpt(mi.Options, "nosuid") {
				return fmt.Errorf("%s: options %q, want ro,nosuid", mi.Mountpoint, mi.Options)
			}
			// The bind shows the container's own cgroup.
			var want string
			for _, o := range strings.Split(mi.VFSOptions, ",") {
				if p, ok := own[o]; ok && o != "" {
					want = p
					break
				}
			}
			if mi.Root != want {
				return fmt.Errorf("%s: root %s, want own cgroup %s", mi.Mountpoint, mi.Root, want)
			}
		}
		if n == 0 {
			return fmt.Errorf("no cgroup hierarchy bound under %s/sys/fs/cgroup", root)
		}
		return nil
	})
}

// TestIDMappedMount binds a directory with an id mapping: a file owned by
// root on disk shows as owned by the mapped id.
func TestIDMappedMount(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{
		{Source: src, Destination: "/idm", Type: "bind", Flags: unix.MS_BIND | unix.MS_REC, UIDMappings: maps, GIDMappings: maps},
	}}
	var st unix.Statfs_t
	if err := unix.Statfs(src, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		t.Skip("idmapped mounts: the temp dir is on overlayfs, which cannot be idmapped")
	}
	inMountedNS(t, c, func([]*mountinfo.Info) error {
		var st unix.Stat_t
		if err := unix.Stat(root+"/idm/f", &st); err != nil {
			return err
		}
		if st.Uid != 100000 || st.Gid != 100000 {
			return fmt.Errorf("idmapped file owned by %d:%d, want 100000:100000", st.Uid, st.Gid)
		}
		return nil
	})
}

// TestRootPropagation checks non-default linux.rootfsPropagation values,
// which make Prepare look for a shared parent mount.
func TestRootPropagation(t *testing.T) {
	needRoot(t)
	for _, prop := range []uintptr{unix.MS_SHARED | unix.MS_REC, unix.MS_PRIVATE, unix.MS_SHARED} {
		t.Run(fmt.Sprintf("%#x", prop), func(t *testing.T) {
			root := newRootfs(t)
			c := &configs.Config{Rootfs: root, RootPropagation: prop}
			inMountNS(t, func() error {
				// Make the rootfs's parent a shared mount point.
				parent := filepath.Dir(root)
				if err := unix.Mount(parent, parent, "", unix.MS_BIND, ""); err != nil {
					return err
				}
				if err := unix.Mount("", parent, "", unix.MS_SHARED, ""); err != nil {
					return err
				}
				if err := Prepare(c); err != nil {
					return err
				}
				return PivotRoot(c)
			})
		})
	}
}

// TestNoPivotRoot checks the MS_MOVE + chroot path.
func TestNoPivotRoot(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	if err := os.WriteFile(filepath.Join(root, "etc", "marker"), []byte("in"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &configs.Config{Rootfs: root, NoPivotRoot: true, Mounts: []*configs.Mount{
		{Source: "proc", Destination: "/proc", Type: "proc"},
	}}
	inMountedNS(t, c, func([]*mountinfo.Info) error {
		if err := PivotRoot(c); err != nil {
			return err
		}
		if b, err := os.ReadFile("/etc/marker"); err != nil || string(b) != "in" {
			return fmt.Errorf("after chroot /etc/marker reads %q, %v", b, err)
		}
		if cwd, err := os.Getwd(); err != nil || cwd != "/" {
			return fmt.Errorf("cwd after chroot: %q, %v", cwd, err)
		}
		// The container's procfs is the only one it can see.
		infos, err := threadMounts()
		if err != nil {
			return err
		}
		for _, mi := range infos {
			if (mi.FSType == "sysfs" || mi.FSType == "proc") && mi.Mountpoint != "/proc" {
				return fmt.Errorf("%s visible on %s", mi.FSType, mi.Mountpoint)
			}
		}
		return nil
	})
}
