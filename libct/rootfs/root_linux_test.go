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
		{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620"},
		{Source: "shm", Destination: "/dev/shm", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, Data: "mode=1777,size=65536k"},
		{Source: "mqueue", Destination: "/dev/mqueue", Type: "mqueue", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
		{Source: "sysfs", Destination: "/sys", Type: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RELATIME | unix.MS_RDONLY},
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
			&configs.Mount{Source: hostDir, Destination: "/data", Type: "bind", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID},
			&configs.Mount{Source: hostFile, Destination: "/etc/resolv.conf", Type: "bind", Flags: unix.MS_BIND},
		),
		Devices: []specs.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o600), UID: u32(1000), GID: u32(1001)},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: fileMode(0o666)},
		},
		MaskedPaths:   []string{"/proc/kcore", "/proc/timer_list", "/proc/acpi", "/proc/does-not-exist", "/sys/firmware"},
		ReadonlyPaths: []string{"/proc/sys", "/proc/keys", "/proc/missing"},
		Readonly:      true,
	}
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
		infos, err = threadMounts()
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
