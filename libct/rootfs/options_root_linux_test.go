package rootfs

import (
	"errors"
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
			mnt:     configs.Mount{Bind: true, Recursive: true},
			want:    []string{"rw", "nodev"},
			notWant: []string{"ro"},
		},
		{
			name:    "ro nosuid",
			mnt:     configs.Mount{Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID},
			want:    []string{"ro", "nosuid"},
			notWant: []string{"nodev"}, // "mount --bind -o ro,nosuid" sets exactly these
			sub:     []string{"rw"},    // ro is not recursive
		},
		{
			name: "rro",
			mnt:  configs.Mount{Bind: true, Recursive: true, RecAttrSet: unix.MOUNT_ATTR_RDONLY},
			want: []string{"ro"},
			sub:  []string{"ro"},
		},
		{
			name:    "remount keeps what is not cleared",
			mnt:     configs.Mount{Bind: true, Recursive: true, Remount: true, Attr: unix.MOUNT_ATTR_NOEXEC},
			want:    []string{"noexec", "nodev"},
			notWant: []string{"ro"},
		},
		{
			name:    "explicit clear",
			mnt:     configs.Mount{Bind: true, Recursive: true, Remount: true, AttrClr: unix.MOUNT_ATTR_NODEV},
			notWant: []string{"nodev"},
		},
		{
			name: "rshared",
			mnt:  configs.Mount{Bind: true, Recursive: true, PropagationFlags: []uintptr{unix.MS_SHARED | unix.MS_REC}},
			prop: "shared:",
		},
		{
			name: "noatime",
			mnt:  configs.Mount{Bind: true, Attr: unix.MOUNT_ATTR_NOATIME, AttrClr: unix.MOUNT_ATTR__ATIME},
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

// TestSysBindReadonlyRecursive binds the host's /sys as a rootless
// container's config does ("rbind,nosuid,noexec,nodev,ro"): the host's
// mounts under /sys (cgroup, securityfs, bpf, ...) must be read-only,
// nosuid, nodev and noexec too, not only the top mount (issue 15.4). Any
// other recursive bind keeps mount(8)'s meaning: the top mount only.
func TestSysBindReadonlyRecursive(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	other := t.TempDir()
	c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{
		{Source: "/sys", Destination: "/sys", Type: "bind", Bind: true, Recursive: true,
			Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RDONLY},
		{Source: other, Destination: "/other", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY},
	}}
	inMountNS(t, func() error {
		// A writable submount in the other source.
		if err := os.Mkdir(other+"/sub", 0o755); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", other+"/sub", "tmpfs", 0, ""); err != nil {
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
		if err := subMountsReadonly(infos, root+"/sys"); err != nil {
			return err
		}
		if mi := mountAt(infos, root+"/other"); mi == nil || !hasOpt(mi.Options, "ro") {
			return fmt.Errorf("/other is %+v, want read-only", mi)
		}
		if mi := mountAt(infos, root+"/other/sub"); mi == nil || hasOpt(mi.Options, "ro") {
			return fmt.Errorf("/other/sub is %+v, want it as its source: ro is for the top mount only", mi)
		}
		return nil
	})
}

// subMountsReadonly checks that the mounts strictly under dir are
// read-only, nosuid, nodev and noexec, and that there is at least one.
func subMountsReadonly(infos []*mountinfo.Info, dir string) error {
	n := 0
	for _, mi := range infos {
		if !strings.HasPrefix(mi.Mountpoint, dir+"/") {
			continue
		}
		n++
		for _, o := range []string{"ro", "nosuid", "nodev", "noexec"} {
			if !hasOpt(mi.Options, o) {
				return fmt.Errorf("%s (%s) is %s: not %s", mi.Mountpoint, mi.FSType, mi.Options, o)
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("no mount under %s: the host's /sys has no submount to check", dir)
	}
	return nil
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
		{Source: "tmpfs", Type: "tmpfs", Destination: "/tmp", Data: []string{"mode=1777"}},
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
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RDONLY},
		{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RELATIME | unix.MOUNT_ATTR_RDONLY, AttrClr: unix.MOUNT_ATTR__ATIME},
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
		{Source: src, Destination: "/idm", Type: "bind", Bind: true, Recursive: true, UIDMappings: maps, GIDMappings: maps},
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

// TestRootPropagation sets each linux.rootfsPropagation value and reads
// the container's / back from /proc/thread-self/mountinfo: its optional
// fields (shared:N, master:N, unbindable) must say what was asked.
//
// The rootfs's parent is made a shared mount in an outer mount namespace
// that stays alive (an open handle on it), and the container's namespace is
// a copy of that one: its parent is then a peer of a group with a member
// outside, as a host's shared / would be. A slave / must get that group as
// its master, and a shared / must be a new peer group that does not reach
// the outer namespace.
func TestRootPropagation(t *testing.T) {
	needRoot(t)
	const none = ""
	for _, tc := range []struct {
		name string
		prop uintptr
		want string // "shared", "master", "unbindable" or none
	}{
		{"default rslave", 0, "master"},
		{"slave", unix.MS_SLAVE, "master"},
		{"rslave", unix.MS_SLAVE | unix.MS_REC, "master"},
		{"private", unix.MS_PRIVATE, none},
		{"rprivate", unix.MS_PRIVATE | unix.MS_REC, none},
		{"shared", unix.MS_SHARED, "shared"},
		{"rshared", unix.MS_SHARED | unix.MS_REC, "shared"},
		{"unbindable", unix.MS_UNBINDABLE, "unbindable"},
		{"runbindable", unix.MS_UNBINDABLE | unix.MS_REC, "unbindable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRootfs(t)
			c := &configs.Config{Rootfs: root, RootPropagation: tc.prop}
			inMountNS(t, func() error {
				parent := filepath.Dir(root)
				if err := unix.Mount(parent, parent, "", unix.MS_BIND, ""); err != nil {
					return err
				}
				if err := unix.Mount("", parent, "", unix.MS_SHARED, ""); err != nil {
					return err
				}
				outer, err := parentGroup(parent)
				if err != nil {
					return err
				}
				// Keep the outer namespace (and the group's member
				// in it) alive while the container's is set up.
				ns, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				defer unix.Close(ns)
				if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
					return err
				}
				// The rootfs has no /proc: read the table through
				// a handle taken before the pivot.
				self, err := os.Open("/proc/thread-self")
				if err != nil {
					return err
				}
				defer self.Close()
				if err := Prepare(c); err != nil {
					return err
				}
				if err := PivotRoot(c); err != nil {
					return err
				}
				fd, err := unix.Openat(int(self.Fd()), "mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return err
				}
				mi := os.NewFile(uintptr(fd), "mountinfo")
				defer mi.Close()
				infos, err := mountinfo.GetMountsFromReader(mi, nil)
				if err != nil {
					return err
				}
				top := mountAt(infos, "/")
				if top == nil {
					return errors.New("no mount on / after the pivot")
				}
				got := map[string]string{}
				for _, f := range strings.Fields(top.Optional) {
					k, v, _ := strings.Cut(f, ":")
					got[k] = v
				}
				for _, k := range []string{"shared", "master", "unbindable"} {
					if _, ok := got[k]; ok != (k == tc.want) {
						return fmt.Errorf("/ has optional fields %q, want %s", top.Optional, or(tc.want, "none of shared, master, unbindable"))
					}
				}
				switch tc.want {
				case "master":
					if got["master"] != outer {
						return fmt.Errorf("/ is a slave of group %s, want the outer group %s", got["master"], outer)
					}
				case "shared":
					if got["shared"] == outer {
						return fmt.Errorf("/ is a peer of the outer group %s: the rootfs would propagate out", outer)
					}
				}
				return nil
			})
		})
	}
}

// parentGroup returns the peer group N of the shared mount on p.
func parentGroup(p string) (string, error) {
	infos, err := threadMounts()
	if err != nil {
		return "", err
	}
	if mi := mountAt(infos, p); mi != nil {
		for _, f := range strings.Fields(mi.Optional) {
			if g, ok := strings.CutPrefix(f, "shared:"); ok {
				return g, nil
			}
		}
	}
	return "", fmt.Errorf("%s is not a shared mount", p)
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
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
