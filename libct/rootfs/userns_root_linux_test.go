package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// childEnv names the function a re-executed test binary runs instead of
// the tests (see TestMain), with the config as JSON in childConfigEnv.
const (
	childEnv       = "HULL_ROOTFS_TEST_CHILD"
	childConfigEnv = "HULL_ROOTFS_TEST_CONFIG"
)

var children = map[string]func(c *configs.Config) error{
	"userns": usernsChild,
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		var c configs.Config
		if err := json.Unmarshal([]byte(os.Getenv(childConfigEnv)), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := children[name](&c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUserNamespace runs the whole sequence in a child in new user, mount
// and pid namespaces (root mapped to root, no network namespace): mknod is
// refused there so devices are binds, sysfs cannot be mounted so /sys is a
// bind of the runtime's, the host's mounts carry locked flags, and the
// idmapped mount comes from OpenSources in the runtime's namespaces.
func TestUserNamespace(t *testing.T) {
	needRoot(t)
	root := newRootfs(t)
	idmSrc := t.TempDir()
	if err := os.WriteFile(filepath.Join(idmSrc, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	c := &configs.Config{
		Rootfs: root,
		Mounts: []*configs.Mount{
			{Source: "proc", Destination: "/proc", Type: "proc", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC},
			{Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Attr: unix.MOUNT_ATTR_NOSUID, Data: []string{"mode=755"}},
			{Source: "devpts", Destination: "/dev/pts", Type: "devpts", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, Data: []string{"newinstance", "ptmxmode=0666"}},
			{Source: "sysfs", Destination: "/sys", Type: "sysfs", Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY},
			{Source: idmSrc, Destination: "/idm", Type: "bind", Bind: true, UIDMappings: idmap, GIDMappings: idmap},
		},
		Namespaces:    []configs.Namespace{{Type: configs.NEWUSER}, {Type: configs.NEWNS}, {Type: configs.NEWPID}},
		MaskedPaths:   []string{"/proc/timer_list", "/proc/acpi"},
		ReadonlyPaths: []string{"/proc/sys"},
		Readonly:      true,
	}
	if !NeedsSources(c) {
		t.Fatal("NeedsSources is false for an idmapped mount in a user namespace")
	}
	src, err := OpenSources(c)
	if err != nil {
		t.Fatal(err)
	}
	defer src[4].Close()

	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"=userns", childConfigEnv+"="+string(js))
	cmd.ExtraFiles = []*os.File{src[4]} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func usernsChild(c *configs.Config) error {
	if err := Prepare(c); err != nil {
		return err
	}
	if err := MountAllFrom(c, Sources{4: os.NewFile(3, "idmapped source")}); err != nil {
		return err
	}
	if err := PivotRoot(c); err != nil {
		return err
	}
	if err := Finalize(c); err != nil {
		return err
	}
	infos, err := threadMounts()
	if err != nil {
		return err
	}
	// mknod is refused in a user namespace: the nodes are binds.
	if mi := mountAt(infos, "/dev/null"); mi == nil || mi.FSType != "devtmpfs" && mi.FSType != "tmpfs" {
		return fmt.Errorf("/dev/null is %+v, want a bind of the runtime's node", mi)
	}
	// The owner is the host node's, whatever it is.
	var null unix.Stat_t
	if err := unix.Stat("/dev/null", &null); err != nil {
		return err
	}
	if err := checkDevice("/dev/null", unix.S_IFCHR, 1, 3, 0o666, null.Uid, null.Gid); err != nil {
		return err
	}
	// sysfs cannot be mounted without a network namespace: /sys is the
	// runtime's, read-only.
	if mi := mountAt(infos, "/sys"); mi == nil || mi.FSType != "sysfs" || !hasOpt(mi.Options, "ro") {
		return fmt.Errorf("/sys is %+v, want a read-only bind of sysfs", mi)
	}
	// And so are the host's mounts under it (cgroup, securityfs, ...):
	// "ro" on the top mount alone would leave them writable.
	if err := subMountsReadonly(infos, "/sys"); err != nil {
		return err
	}
	// The idmapped file: on-disk root maps to 1000, which this user
	// namespace does not map, so it shows as the overflow id.
	var st unix.Stat_t
	if err := unix.Stat("/idm/f", &st); err != nil {
		return err
	}
	if st.Uid != 65534 {
		return fmt.Errorf("/idm/f owned by %d, want 65534 (unmapped 1000)", st.Uid)
	}
	if mi := mountAt(infos, "/proc/sys"); mi == nil || !hasOpt(mi.Options, "ro") {
		return fmt.Errorf("/proc/sys is %+v, want read-only", mi)
	}
	if b, err := os.ReadFile("/proc/timer_list"); err != nil || len(b) != 0 {
		return fmt.Errorf("/proc/timer_list reads %d bytes, %v; want masked", len(b), err)
	}
	if err := os.WriteFile("/x", nil, 0o644); !errors.Is(err, unix.EROFS) {
		return fmt.Errorf("create on /: %v, want EROFS", err)
	}
	return nil
}
