package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// defaultDevices are the devices every container gets (runtime-spec
// "Default Devices"); an entry of linux.devices with the same path wins.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// needsDev reports whether hull populates /dev: always, unless /dev is a
// bind mount (then it is the caller's /dev, as runc).
func needsDev(c *configs.Config) bool {
	for _, m := range c.Mounts {
		if d, err := cleanDest(m.Destination); err == nil && d == "/dev" && m.IsBind() {
			return false
		}
	}
	return true
}

// hasDevpts reports whether a devpts is mounted on /dev/pts.
func hasDevpts(c *configs.Config) bool {
	for _, m := range c.Mounts {
		if d, err := cleanDest(m.Destination); err == nil && d == "/dev/pts" && m.Type == "devpts" {
			return true
		}
	}
	return false
}

// devices is the list of device nodes to create: the defaults, then
// c.Devices, a later entry replacing an earlier one with the same path.
// /dev/ptmx is left out when it becomes a symlink to the devpts one.
func devices(c *configs.Config) []specs.LinuxDevice {
	skipPtmx := hasDevpts(c)
	var out []specs.LinuxDevice
	at := map[string]int{}
	for _, list := range [][]specs.LinuxDevice{defaultDevices, c.Devices} {
		for _, d := range list {
			p, err := cleanDest(d.Path)
			if err == nil && p == "/dev/ptmx" && skipPtmx {
				continue
			}
			if err == nil {
				d.Path = p
			}
			if j, ok := at[d.Path]; ok {
				out[j] = d
				continue
			}
			at[d.Path] = len(out)
			out = append(out, d)
		}
	}
	return out
}

// askedDevices maps the cleaned path of each linux.devices entry to its
// index (the last one, as devices keeps it).
func askedDevices(c *configs.Config) map[string]int {
	out := map[string]int{}
	for i, d := range c.Devices {
		if p, err := cleanDest(d.Path); err == nil {
			out[p] = i
		}
	}
	return out
}

// setupDev creates the device nodes, the /dev/fd and stdio symlinks, and
// /dev/ptmx, in the container's /dev.
func (m *mounter) setupDev() error {
	dev, _, err := m.t.mkdirAll("/dev")
	if err != nil {
		return fmt.Errorf("create /dev: %w", err)
	}
	defer m.sys.close(dev)

	// Device modes are exact, whatever the umask of the runtime.
	old := m.sys.umask(0)
	defer m.sys.umask(old)
	_, userns := m.c.Namespace(configs.NEWUSER)
	asked := askedDevices(m.c)
	for _, d := range devices(m.c) {
		i, isAsked := asked[d.Path]
		if err := m.createDevice(dev, d, userns, isAsked); err != nil {
			if isAsked {
				return fmt.Errorf("linux.devices[%d]: %s: %w", i, d.Path, err)
			}
			return fmt.Errorf("devices: %s: %w", d.Path, err)
		}
	}

	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	// CONFIG_PROC_KCORE may be off.
	if m.sys.access("/proc/kcore") == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, l := range links {
		if err := m.sys.symlinkat(l[0], dev, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s -> %s: %w", l[1], l[0], err)
		}
	}
	if hasDevpts(m.c) {
		if err := m.sys.unlinkat(dev, "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove /dev/ptmx: %w", err)
		}
		if err := m.sys.symlinkat("pts/ptmx", dev, "ptmx"); err != nil {
			return fmt.Errorf("symlink /dev/ptmx -> pts/ptmx: %w", err)
		}
	}
	return nil
}

// deviceMode returns the st_mode (type and permissions) of a device.
func deviceMode(d specs.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(*d.FileMode) & 0o7777
	}
	switch d.Type {
	case "c", "u":
		return unix.S_IFCHR | perm, nil
	case "b":
		return unix.S_IFBLK | perm, nil
	case "p":
		return unix.S_IFIFO | perm, nil
	}
	return 0, fmt.Errorf("unknown device type %q", d.Type)
}

// createDevice makes one device node, with mknodat in its directory, or, in
// a user namespace (where mknod is refused), by bind-mounting the runtime's
// node of the same path onto an empty file.
//
// For a device the config asks for (asked), a file already at the path
// must be that device, of the same type and number: anything else (a
// regular file, a symlink, another device) is refused, as config-linux.md
// requires ("MUST ... generate an error" for a conflicting existing file).
// The defaults replace what is there.
//
// Nothing here follows a symlink in the image (CVE-2025-52565 class): an
// entry already at the path is unlinked (never opened) and the node made
// anew, unless it is a mount point, which is left as the mounts made it;
// ownership is set through a handle on the node just made, after checking
// it is that node.
func (m *mounter) createDevice(dev int, d specs.LinuxDevice, userns, asked bool) error {
	mode, err := deviceMode(d)
	if err != nil {
		return err
	}
	p, err := cleanDest(d.Path)
	if err != nil {
		return err
	}
	dirName, name := path.Split(p)
	if name == "" {
		return errors.New("not a file path")
	}
	dir := dev
	if dirName != "/dev/" {
		fd, _, err := m.t.mkdirAll(dirName)
		if err != nil {
			return err
		}
		defer m.sys.close(fd)
		dir = fd
	}
	if asked {
		if err := m.checkExisting(dir, name, mode, d); err != nil {
			return err
		}
	}
	if !userns {
		err := m.mknod(dir, name, mode, d)
		if !errors.Is(err, unix.EPERM) {
			return err
		}
		// mknod is refused (nested in a user namespace we did not
		// make): bind the runtime's node, as runc.
	}
	return m.bindDevice(dir, name, p)
}

// checkExisting refuses an entry at name in dir that is not the device d
// (whose st_mode type is in mode). Nothing there is fine.
func (m *mounter) checkExisting(dir int, name string, mode uint32, d specs.LinuxDevice) error {
	var st unix.Stat_t
	err := m.sys.fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat what is there: %w", err)
	}
	typ := st.Mode & unix.S_IFMT
	rdev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if typ == mode&unix.S_IFMT && (typ == unix.S_IFIFO || st.Rdev == rdev) {
		return nil
	}
	what := map[uint32]string{
		unix.S_IFREG: "a regular file", unix.S_IFDIR: "a directory", unix.S_IFLNK: "a symlink",
		unix.S_IFSOCK: "a socket", unix.S_IFIFO: "a FIFO",
	}[typ]
	switch typ {
	case unix.S_IFCHR, unix.S_IFBLK:
		kind := "c"
		if typ == unix.S_IFBLK {
			kind = "b"
		}
		what = fmt.Sprintf("the device %s %d:%d", kind, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	want := fmt.Sprintf("the device %s %d:%d", d.Type, d.Major, d.Minor)
	if typ2 := mode & unix.S_IFMT; typ2 == unix.S_IFIFO {
		want = "a FIFO"
	}
	return fmt.Errorf("%s is already there in the rootfs, not %s: refusing to replace it", what, want)
}

// replace runs create, and if the name is taken, unlinks what is there
// (refusing a directory) and runs create again. A mount point there (a
// bind of the device among the mounts, say) is kept: created is false. So
// is an entry on a read-only filesystem that keep, given its lstat,
// accepts as it is.
func (m *mounter) replace(dir int, name string, create func() error, keep func(*unix.Stat_t) bool) (created bool, err error) {
	err = create()
	if !errors.Is(err, unix.EEXIST) {
		return err == nil, err
	}
	err = m.sys.unlinkat(dir, name, 0)
	switch {
	case err == nil:
		return true, create()
	case errors.Is(err, unix.EBUSY):
		return false, nil
	case errors.Is(err, unix.EROFS) && keep != nil:
		var st unix.Stat_t
		if m.sys.fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && keep(&st) {
			return false, nil
		}
	}
	return false, fmt.Errorf("remove what is in the way: %w", err)
}

func (m *mounter) mknod(dir int, name string, mode uint32, d specs.LinuxDevice) error {
	rdev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	same := func(st *unix.Stat_t) bool {
		return st.Mode&unix.S_IFMT == mode&unix.S_IFMT && (mode&unix.S_IFMT == unix.S_IFIFO || int(st.Rdev) == rdev)
	}
	created, err := m.replace(dir, name, func() error { return m.sys.mknodat(dir, name, mode, rdev) }, same)
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if !created {
		return nil
	}
	var uid, gid int
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid == 0 && gid == 0 {
		return nil // mknod made it ours already
	}
	fd, err := m.sys.openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("open new node: %w", err)
	}
	defer m.sys.close(fd)
	st, err := fstat(m.sys, fd)
	if err != nil {
		return fmt.Errorf("stat new node: %w", err)
	}
	if !same(&st) {
		return errors.New("the node was replaced behind our back")
	}
	if err := m.sys.fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// bindDevice bind-mounts the runtime's node at hostPath onto a new empty
// file name in dir.
func (m *mounter) bindDevice(dir int, name, hostPath string) error {
	fd := -1
	created, err := m.replace(dir, name, func() (err error) {
		fd, err = m.sys.openat(dir, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY, 0o666)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("create bind target: %w", err)
	}
	if !created {
		return nil
	}
	defer m.sys.close(fd)
	tree, err := m.sys.openTree(unix.AT_FDCWD, hostPath, unix.OPEN_TREE_CLONE)
	if err != nil {
		return fmt.Errorf("bind %s: open_tree: %w", hostPath, err)
	}
	defer m.sys.close(tree)
	if err := m.sys.moveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind %s: move_mount: %w", hostPath, err)
	}
	return nil
}

// BindConsole bind-mounts the pty slave at ptsPath (a path inside the
// container, such as /dev/pts/0) onto /dev/console. It runs after
// PivotRoot and before Finalize.
func BindConsole(ptsPath string) error {
	return bindConsole(realSys{}, ptsPath, nil)
}

// BindConsoleFile is BindConsole for a pty slave the caller holds open (for
// example from TIOCGPTPEER), which spares a path lookup.
func BindConsoleFile(pty *os.File) error {
	return bindConsole(realSys{}, "", pty)
}

// bindConsole verifies that the source is a pty slave on a devpts, makes
// /dev/console a regular file (or uses the one there, refusing a symlink or
// anything else: CVE-2025-52565), and binds the source over it by fd.
func bindConsole(s sysOps, ptsPath string, pty *os.File) error {
	root, err := s.openat(unix.AT_FDCWD, "/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("console: open /: %w", err)
	}
	defer s.close(root)
	t := dirTree{sys: s, root: root, path: "/"}

	var src int
	name := ptsPath
	if pty != nil {
		src = int(pty.Fd())
		name = pty.Name()
	} else {
		p, err := cleanDest(ptsPath)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
		src, err = t.open(p, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			return fmt.Errorf("console: open %s: %w", ptsPath, err)
		}
		defer s.close(src)
	}
	st, err := fstat(s, src)
	if err != nil {
		return fmt.Errorf("console: stat %s: %w", name, err)
	}
	var sfs unix.Statfs_t
	if err := s.fstatfs(src, &sfs); err != nil {
		return fmt.Errorf("console: statfs %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || sfs.Type != unix.DEVPTS_SUPER_MAGIC {
		return fmt.Errorf("console: %s is not a pty on a devpts", name)
	}

	dev, _, err := t.mkdirAll("/dev")
	if err != nil {
		return fmt.Errorf("console: create /dev: %w", err)
	}
	defer s.close(dev)
	dst, err := s.openat(dev, "console", unix.O_PATH|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ENOENT) {
		dst, err = s.openat(dev, "console", unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY, 0o666)
	}
	if err != nil {
		return fmt.Errorf("console: create /dev/console: %w", err)
	}
	defer s.close(dst)
	cst, err := fstat(s, dst)
	if err != nil {
		return fmt.Errorf("console: stat /dev/console: %w", err)
	}
	if typ := cst.Mode & unix.S_IFMT; typ != unix.S_IFREG && typ != unix.S_IFCHR {
		return fmt.Errorf("console: refusing to bind over /dev/console: it is not a regular file or a device (mode %#o)", cst.Mode)
	}
	tree, err := s.openTree(src, "", unix.OPEN_TREE_CLONE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("console: bind %s on /dev/console: open_tree: %w", name, err)
	}
	defer s.close(tree)
	if err := s.moveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("console: bind %s on /dev/console: move_mount: %w", name, err)
	}
	return nil
}
