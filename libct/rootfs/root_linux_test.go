package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// needRoot skips tests that mount.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN) to mount")
	}
}

// inMountNS runs f on a locked OS thread that has unshared its fs
// attributes and its mount namespace, so that mounts, pivot_root and chdir
// touch only that thread. The thread is never unlocked: it exits with the
// goroutine, and the namespace with it.
func inMountNS(t *testing.T, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		// Nothing made here may reach the host.
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			errc <- fmt.Errorf("make / rslave: %w", err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// threadMounts reads the calling thread's mount table.
// inMountedNS runs Prepare and MountAll for c in a private mount namespace
// (inMountNS), then f with the thread's mounts.
func inMountedNS(t *testing.T, c *configs.Config, f func([]*mountinfo.Info) error) {
	t.Helper()
	inMountNS(t, func() error {
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
		return f(infos)
	})
}

func threadMounts() ([]*mountinfo.Info, error) {
	return realSys{}.mounts(nil)
}

// mountAt returns the top mount at mountpoint p, or nil.
func mountAt(infos []*mountinfo.Info, p string) *mountinfo.Info {
	var top *mountinfo.Info
	for _, mi := range infos {
		if mi.Mountpoint == p {
			top = mi // later lines are mounted on top of earlier ones
		}
	}
	return top
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// newRootfs makes a minimal rootfs: a few directories, no binaries.
func newRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"proc", "sys", "dev", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// specMounts are the mounts of `runc spec`, parsed as specconv would.
func specMounts() []*configs.Mount {
	return []*configs.Mount{
		{Source: "proc", Destination: "/proc", Type: "proc"},
		{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_STRICTATIME, AttrClr: unix.MOUNT_ATTR__ATIME, Data: []string{"mode=755", "size=65536k"}},
		{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Data: []string{"newinstance", "ptmxmode=0666", "mode=0620"}},
		{Source: "shm", Destination: "/dev/shm", Type: "tmpfs", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV, Data: []string{"mode=1777", "size=65536k"}},
		{Source: "mqueue", Destination: "/dev/mqueue", Type: "mqueue", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV},
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RDONLY},
		{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RELATIME | unix.MOUNT_ATTR_RDONLY, AttrClr: unix.MOUNT_ATTR__ATIME},
	}
}

func checkDevice(p string, typ uint32, major, minor uint32, perm uint32, uid, gid uint32) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != typ || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor ||
		st.Mode&0o7777 != perm || st.Uid != uid || st.Gid != gid {
		return fmt.Errorf("%s: mode %#o dev %d:%d owner %d:%d, want type %#o dev %d:%d perm %#o owner %d:%d",
			p, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Uid, st.Gid, typ, major, minor, perm, uid, gid)
	}
	return nil
}

func u32(v uint32) *uint32 { return &v }

func fileMode(m os.FileMode) *os.FileMode { return &m }

// TestRootfsLifecycle runs Prepare, MountAll, PivotRoot and Finalize on a
// runc-like config and checks the result from inside.
func TestRootfsLifecycle(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(hostFile, []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &configs.Config{
		Rootfs: root,
		Mounts: append(specMounts(),
			&configs.Mount{Source: hostDir, Destination: "/data", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID},
			&configs.Mount{Source: hostFile, Destination: "/etc/resolv.conf", Type: "bind", Bind: true},
		),
		Devices: []specs.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o600), UID: u32(1000), GID: u32(1001)},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: fileMode(0o666)},
		},
		MaskedPaths:   []string{"/proc/kcore", "/proc/timer_list", "/proc/acpi", "/proc/does-not-exist", "/sys/firmware"},
		ReadonlyPaths: []string{"/proc/sys", "/proc/keys", "/proc/missing"},
		Readonly:      true,
	}
	inMountedNS(t, c, func(infos []*mountinfo.Info) error {
		for _, want := range []struct{ dest, fstype string }{
			{"", "bind"}, // the rootfs is a mount point
			{"/proc", "proc"}, {"/dev", "tmpfs"}, {"/dev/pts", "devpts"}, {"/dev/shm", "tmpfs"},
			{"/dev/mqueue", "mqueue"}, {"/sys", "sysfs"}, {"/sys/fs/cgroup", "tmpfs"},
		} {
			mi := mountAt(infos, root+want.dest)
			if mi == nil {
				return fmt.Errorf("nothing mounted on %s", root+want.dest)
			}
			if want.fstype != "bind" && mi.FSType != want.fstype {
				return fmt.Errorf("%s: type %s, want %s", root+want.dest, mi.FSType, want.fstype)
			}
		}
		// sysfs is read-only at once; the /dev tmpfs is not yet.
		if mi := mountAt(infos, root+"/sys"); !hasOpt(mi.Options, "ro") {
			return fmt.Errorf("/sys options %q, want ro", mi.Options)
		}
		if mi := mountAt(infos, root+"/data"); mi == nil || !hasOpt(mi.Options, "ro") || !hasOpt(mi.Options, "nosuid") {
			return fmt.Errorf("/data: %+v, want a ro,nosuid bind", mi)
		}
		if mi := mountAt(infos, root+"/etc/resolv.conf"); mi == nil {
			return errors.New("/etc/resolv.conf is not mounted")
		}
		if b, err := os.ReadFile(root + "/etc/resolv.conf"); err != nil || string(b) != "nameserver 192.0.2.1\n" {
			return fmt.Errorf("/etc/resolv.conf reads %q, %v", b, err)
		}
		for _, d := range []struct {
			path         string
			major, minor uint32
			perm         uint32
			uid, gid     uint32
		}{
			{"/dev/null", 1, 3, 0o666, 0, 0}, {"/dev/zero", 1, 5, 0o666, 0, 0}, {"/dev/full", 1, 7, 0o666, 0, 0},
			{"/dev/random", 1, 8, 0o666, 0, 0}, {"/dev/urandom", 1, 9, 0o666, 0, 0}, {"/dev/tty", 5, 0, 0o666, 0, 0},
			{"/dev/fuse", 10, 229, 0o600, 1000, 1001}, {"/dev/net/tun", 10, 200, 0o666, 0, 0},
		} {
			if err := checkDevice(root+d.path, unix.S_IFCHR, d.major, d.minor, d.perm, d.uid, d.gid); err != nil {
				return err
			}
		}
		for link, target := range map[string]string{
			"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
			"/dev/stderr": "/proc/self/fd/2", "/dev/ptmx": "pts/ptmx",
		} {
			if got, err := os.Readlink(root + link); err != nil || got != target {
				return fmt.Errorf("%s -> %q (%v), want %q", link, got, err, target)
			}
		}

		if err := PivotRoot(c); err != nil {
			return err
		}
		if cwd, err := os.Getwd(); err != nil || cwd != "/" {
			return fmt.Errorf("cwd after pivot: %q, %v", cwd, err)
		}
		if _, err := os.Stat("/etc/resolv.conf"); err != nil {
			return fmt.Errorf("after pivot: %w", err)
		}
		if err := Finalize(c); err != nil {
			return err
		}
		infos, err := threadMounts()
		if err != nil {
			return err
		}
		if mi := mountAt(infos, "/"); mi == nil || !hasOpt(mi.Options, "ro") {
			return fmt.Errorf("/ is %+v, want read-only", mi)
		}
		if mi := mountAt(infos, "/dev"); mi == nil || !hasOpt(mi.Options, "rw") {
			return fmt.Errorf("/dev is %+v, want rw (not asked read-only)", mi)
		}
		// Masked: the file reads empty (it is /dev/null), the directory
		// is an empty read-only tmpfs.
		if b, err := os.ReadFile("/proc/timer_list"); err != nil || len(b) != 0 {
			return fmt.Errorf("/proc/timer_list reads %d bytes, %v; want masked", len(b), err)
		}
		if _, err := os.Stat("/proc/acpi"); err == nil {
			mi := mountAt(infos, "/proc/acpi")
			if mi == nil || mi.FSType != "tmpfs" || !hasOpt(mi.Options, "ro") {
				return fmt.Errorf("/proc/acpi is %+v, want a read-only tmpfs", mi)
			}
		}
		if mi := mountAt(infos, "/sys/firmware"); mi == nil || mi.FSType != "tmpfs" {
			return fmt.Errorf("/sys/firmware is %+v, want masked", mi)
		}
		for _, p := range []string{"/proc/sys", "/proc/keys"} {
			if mi := mountAt(infos, p); mi == nil || !hasOpt(mi.Options, "ro") {
				return fmt.Errorf("%s is %+v, want a read-only bind", p, mi)
			}
		}
		if err := os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("write to /proc/sys: %v, want EROFS", err)
		}
		if err := os.WriteFile("/newfile", nil, 0o644); !errors.Is(err, unix.EROFS) {
			return fmt.Errorf("create on /: %v, want EROFS", err)
		}
		return nil
	})
}

// TestMountDestinationStaysInRootfs mounts through symlinks in the image
// that point out of the rootfs (CVE-2021-30465): every mount must land
// inside the rootfs and nothing may appear on the host.
func TestMountDestinationStaysInRootfs(t *testing.T) {
	needRoot(t)
	tag := fmt.Sprintf("hull-escape-%d", os.Getpid())
	hostDir := t.TempDir()
	hostFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(hostFile, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		link    string // rootfs/evil -> link
		mount   configs.Mount
		landsOn string // inside the rootfs
	}{
		{"absolute symlink, tmpfs", "/", configs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: "/evil/" + tag}, "/" + tag},
		{"relative symlink, tmpfs", "../../../../../../..", configs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: "/evil/" + tag}, "/" + tag},
		{"absolute symlink, dir bind", "/tmp", configs.Mount{Source: hostDir, Type: "bind", Bind: true, Destination: "/evil/" + tag}, "/tmp/" + tag},
		{"absolute symlink, file bind", "/etc", configs.Mount{Source: hostFile, Type: "bind", Bind: true, Destination: "/evil/" + tag}, "/etc/" + tag},
		{"symlink as the destination", "/", configs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: "/evil"}, ""},
		{"symlink in a nested path", "/tmp/../..", configs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: "/evil/a/b/" + tag}, "/a/b/" + tag},
		{"dangling symlink, file bind", "/run/systemd/resolve/" + tag, configs.Mount{Source: hostFile, Type: "bind", Bind: true, Destination: "/evil"}, "/run/systemd/resolve/" + tag},
		{"dangling relative symlink, tmpfs", "../../../" + tag + "/dir", configs.Mount{Source: "tmpfs", Type: "tmpfs", Destination: "/evil"}, "/" + tag + "/dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			if err := os.Symlink(tt.link, filepath.Join(root, "evil")); err != nil {
				t.Fatal(err)
			}
			mnt := tt.mount
			c := &configs.Config{Rootfs: root, Mounts: []*configs.Mount{&mnt}}
			inMountedNS(t, c, func(infos []*mountinfo.Info) error {
				if mountAt(infos, root+tt.landsOn) == nil {
					return fmt.Errorf("nothing mounted on %s", root+tt.landsOn)
				}
				for _, mi := range infos {
					if strings.Contains(mi.Mountpoint, tag) && !strings.HasPrefix(mi.Mountpoint, root+"/") {
						return fmt.Errorf("mount escaped the rootfs: %s", mi.Mountpoint)
					}
				}
				for _, p := range []string{"/" + tag, "/tmp/" + tag, "/etc/" + tag} {
					if _, err := os.Lstat(p); err == nil {
						return fmt.Errorf("%s was created on the host", p)
					}
				}
				return nil
			})
		})
	}
}

// TestMountErrors checks refused mounts and their messages.
func TestMountErrors(t *testing.T) {
	needRoot(t)
	hostDir := t.TempDir()
	tests := []struct {
		name   string
		setup  func(root string) error
		mounts []*configs.Mount
		want   string
	}{
		{
			name:   "dotdot destination",
			mounts: []*configs.Mount{{Source: "tmpfs", Type: "tmpfs", Destination: "/tmp/../../etc"}},
			want:   "mounts[0]: destination /tmp/../../etc escapes the rootfs",
		},
		{
			name:   "tmpfs over /proc",
			mounts: []*configs.Mount{{Source: "tmpfs", Type: "tmpfs", Destination: "/proc"}},
			want:   "mounts[0]: tmpfs cannot be mounted on /proc: only procfs may be",
		},
		{
			name: "bind inside /proc",
			mounts: []*configs.Mount{
				{Source: "proc", Type: "proc", Destination: "/proc"},
				{Source: hostDir, Type: "bind", Bind: true, Destination: "/proc/sys"},
			},
			want: "mounts[1]: " + hostDir + " cannot be mounted on /proc/sys: it is inside /proc",
		},
		{
			name:  "bind inside /proc through a symlink",
			setup: func(root string) error { return os.Symlink("/proc", filepath.Join(root, "p")) },
			mounts: []*configs.Mount{
				{Source: "proc", Type: "proc", Destination: "/proc"},
				{Source: hostDir, Type: "bind", Bind: true, Destination: "/p/sys"},
			},
			want: "mounts[1]: " + hostDir + " cannot be mounted on /p/sys: it is inside /proc",
		},
		{
			name: "proc through a symlink",
			setup: func(root string) error {
				if err := os.Remove(filepath.Join(root, "proc")); err != nil {
					return err
				}
				return os.Symlink("/etc", filepath.Join(root, "proc"))
			},
			mounts: []*configs.Mount{{Source: "proc", Type: "proc", Destination: "/proc"}},
			want:   "mounts[0]: proc must be mounted on an ordinary directory, /proc is not one",
		},
		{
			name:   "missing bind source",
			mounts: []*configs.Mount{{Source: "/nonexistent-hull-source", Type: "bind", Bind: true, Destination: "/x"}},
			want:   "mounts[0]: bind /nonexistent-hull-source on /x: open_tree: no such file or directory",
		},
		{
			name:   "idmapped tmpfs",
			mounts: []*configs.Mount{{Source: "tmpfs", Type: "tmpfs", Destination: "/x", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}},
			want:   "mounts[0]: idmapped mount of tmpfs on /x: only bind mounts can be idmapped",
		},
		// Issue 20.2: the option the filesystem refuses is named, with
		// the filesystem's own reason (mount(2) only said EINVAL).
		{
			name:   "unknown tmpfs option",
			mounts: []*configs.Mount{{Source: "tmpfs", Type: "tmpfs", Destination: "/x", Data: []string{"mode=755", "nosuchopt"}}},
			want:   `mounts[0]: unknown option "nosuchopt": tmpfs on /x refused it: tmpfs: Unknown parameter 'nosuchopt': invalid argument`,
		},
		{
			name:   "bad value of a tmpfs option",
			mounts: []*configs.Mount{{Source: "tmpfs", Type: "tmpfs", Destination: "/x", Data: []string{"size=lots"}}},
			want:   `mounts[0]: option "size=lots": tmpfs on /x refused it: tmpfs: Bad value for 'size': invalid argument`,
		},
		{
			name:   "unknown devpts option",
			mounts: []*configs.Mount{{Source: "devpts", Type: "devpts", Destination: "/dev/pts", Data: []string{"newinstance", "nosuchopt"}}},
			want:   `mounts[0]: unknown option "nosuchopt": devpts on /dev/pts refused it: devpts: Unknown parameter 'nosuchopt': invalid argument`,
		},
		{
			name:   "unknown filesystem",
			mounts: []*configs.Mount{{Source: "x", Type: "nosuchfs", Destination: "/x"}},
			want:   `mounts[0]: mount x on /x (nosuchfs): fsopen: no such device`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			if tt.setup != nil {
				if err := tt.setup(root); err != nil {
					t.Fatal(err)
				}
			}
			c := &configs.Config{Rootfs: root, Mounts: tt.mounts}
			inMountNS(t, func() error {
				if err := Prepare(c); err != nil {
					return err
				}
				err := MountAll(c)
				if err == nil || err.Error() != tt.want {
					return fmt.Errorf("MountAll: %v, want %q", err, tt.want)
				}
				return nil
			})
		})
	}
}

// TestDevicesNeverFollowSymlinks plants symlinks to host files where the
// default device nodes go, in an on-disk /dev (no tmpfs): the nodes must
// replace the symlinks and the host files must stay untouched. (A symlink
// where a linux.devices entry goes is refused: TestDeviceConflict.)
func TestDevicesNeverFollowSymlinks(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"null", "zero"} {
		if err := os.Symlink(victim, filepath.Join(root, "dev", name)); err != nil {
			t.Fatal(err)
		}
	}
	// A directory symlink for a nested device.
	if err := os.Symlink(filepath.Dir(victim), filepath.Join(root, "dev", "net")); err != nil {
		t.Fatal(err)
	}
	c := &configs.Config{
		Rootfs: root,
		Devices: []specs.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o640), UID: u32(1000), GID: u32(1000)},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200},
		},
	}
	inMountedNS(t, c, func([]*mountinfo.Info) error {
		for _, d := range []struct {
			path         string
			major, minor uint32
			perm, owner  uint32
		}{{"/dev/null", 1, 3, 0o666, 0}, {"/dev/zero", 1, 5, 0o666, 0}, {"/dev/fuse", 10, 229, 0o640, 1000}} {
			if err := checkDevice(root+d.path, unix.S_IFCHR, d.major, d.minor, d.perm, d.owner, d.owner); err != nil {
				return err
			}
		}
		var st unix.Stat_t
		if err := unix.Stat(victim, &st); err != nil {
			return err
		}
		if st.Mode != unix.S_IFREG|0o600 || st.Uid != 0 || st.Gid != 0 {
			return fmt.Errorf("host file changed: mode %#o owner %d:%d", st.Mode, st.Uid, st.Gid)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			return fmt.Errorf("host file content %q", b)
		}
		// /dev/net resolved inside the rootfs (to <root>/<dir of victim>).
		if _, err := os.Lstat(filepath.Join(filepath.Dir(victim), "tun")); err == nil {
			return errors.New("/dev/net/tun was created on the host")
		}
		return checkDevice(filepath.Join(root, filepath.Dir(victim), "tun"), unix.S_IFCHR, 10, 200, 0o666, 0, 0)
	})
}

// TestDeviceAlsoBindMounted lists a device that the mounts already bind
// there (as --device and a volume of the same node would): the bind stays.
func TestDeviceAlsoBindMounted(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	c := &configs.Config{
		Rootfs: root,
		Mounts: []*configs.Mount{
			{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Data: []string{"mode=755"}},
			{Source: "/dev/zero", Destination: "/dev/custom", Type: "bind", Bind: true},
		},
		Devices: []specs.LinuxDevice{{Path: "/dev/custom", Type: "c", Major: 1, Minor: 5, UID: u32(1000)}},
	}
	inMountedNS(t, c, func(infos []*mountinfo.Info) error {
		if mountAt(infos, root+"/dev/custom") == nil {
			return errors.New("the bind of /dev/custom is gone")
		}
		var st unix.Stat_t
		if err := unix.Stat(root+"/dev/custom", &st); err != nil {
			return err
		}
		if unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 5 {
			return fmt.Errorf("/dev/custom is %d:%d, want the bound /dev/zero", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if st.Uid == 1000 {
			return errors.New("the host's /dev/zero was chowned")
		}
		return nil
	})
}

// TestDeviceConflict (issue 20.3, config-linux.md "Devices": a runtime
// MUST refuse a conflicting existing file): a linux.devices path that
// already holds something other than that device (type, major, minor) is
// refused with the entry and the path named, and what is there, and any
// host file it points at, is left as it was. The same device is accepted.
func TestDeviceConflict(t *testing.T) {
	needRoot(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	fuse := specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o640)}
	tests := []struct {
		name  string
		plant func(p string) error // makes something at <rootfs>/dev/fuse
		dev   specs.LinuxDevice
		want  string // error; "" for accepted
	}{
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("not a device"), 0o644) }, fuse,
			"linux.devices[1]: /dev/fuse: a regular file is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"symlink to a host file", func(p string) error { return os.Symlink(victim, p) }, fuse,
			"linux.devices[1]: /dev/fuse: a symlink is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, fuse,
			"linux.devices[1]: /dev/fuse: a directory is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"another device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }, fuse,
			"linux.devices[1]: /dev/fuse: the device c 1:3 is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"a block device of the same numbers", func(p string) error { return unix.Mknod(p, unix.S_IFBLK|0o666, int(unix.Mkdev(10, 229))) }, fuse,
			"linux.devices[1]: /dev/fuse: the device b 10:229 is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"a FIFO for a character device", func(p string) error { return unix.Mkfifo(p, 0o600) }, fuse,
			"linux.devices[1]: /dev/fuse: a FIFO is already there in the rootfs, not the device c 10:229: refusing to replace it"},
		{"the same device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(10, 229))) }, fuse, ""},
		{"a FIFO for a FIFO", func(p string) error { return unix.Mkfifo(p, 0o600) },
			specs.LinuxDevice{Path: "/dev/fuse", Type: "p", FileMode: fileMode(0o640)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootfs(t)
			p := filepath.Join(root, "dev", "fuse")
			if err := tt.plant(p); err != nil {
				t.Fatal(err)
			}
			var before unix.Stat_t
			if err := unix.Lstat(p, &before); err != nil {
				t.Fatal(err)
			}
			c := &configs.Config{Rootfs: root, Devices: []specs.LinuxDevice{{Path: "/dev/kvm", Type: "c", Major: 10, Minor: 232}, tt.dev}}
			inMountNS(t, func() error {
				if err := Prepare(c); err != nil {
					return err
				}
				err := MountAll(c)
				if tt.want == "" {
					if err != nil {
						return fmt.Errorf("MountAll: %v, want the same device accepted", err)
					}
					typ := uint32(unix.S_IFCHR)
					if tt.dev.Type == "p" {
						typ = unix.S_IFIFO
					}
					return checkDevice(p, typ, uint32(tt.dev.Major), uint32(tt.dev.Minor), 0o640, 0, 0)
				}
				if err == nil || err.Error() != tt.want {
					return fmt.Errorf("MountAll: %v, want %q", err, tt.want)
				}
				var after unix.Stat_t
				if err := unix.Lstat(p, &after); err != nil || after.Ino != before.Ino || after.Mode != before.Mode || after.Rdev != before.Rdev {
					return fmt.Errorf("what was at /dev/fuse changed: %+v, %v", after, err)
				}
				return nil
			})
			if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
				t.Errorf("host file: %q, %v", b, err)
			}
		})
	}
}
