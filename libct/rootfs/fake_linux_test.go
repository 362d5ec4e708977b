package rootfs

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fakeSys is sysOps over a pretend filesystem: a set of paths with their
// modes. It records, in order and with fds turned back into the paths they
// stand for, every operation that changes something (mounts, creations,
// attributes), which is what the logic tests compare.
type fakeSys struct {
	ops    []string
	next   int
	names  map[int]string    // fd -> path (or "tree:<path>" for an open_tree clone)
	files  map[string]uint32 // existing paths -> st_mode
	rdev   map[string]uint64 // device numbers of existing nodes
	fstype map[string]int64  // statfs f_type by path (default ext4)
	busy   map[string]bool   // mount points: unlink fails with EBUSY
	// readonly makes unlink fail with EROFS.
	readonly bool
	// fail makes the first operation whose record starts with the key
	// fail with the error.
	fail      map[string]error
	cgroup    string
	mountinfo []*mountinfo.Info
	mask      int
	closed    int
}

func newFakeSys(paths ...string) *fakeSys {
	f := &fakeSys{
		next:   100,
		names:  map[int]string{},
		files:  map[string]uint32{"/": unix.S_IFDIR | 0o755},
		rdev:   map[string]uint64{},
		fstype: map[string]int64{},
		busy:   map[string]bool{},
		fail:   map[string]error{},
		mask:   0o022,
	}
	for _, p := range paths {
		f.addDir(p)
	}
	return f
}

// addDir makes p and its parents directories.
func (f *fakeSys) addDir(p string) {
	for q := p; q != "/" && q != "."; q = path.Dir(q) {
		if _, ok := f.files[q]; !ok {
			f.files[q] = unix.S_IFDIR | 0o755
		}
	}
}

func (f *fakeSys) newFd(name string) int {
	f.next++
	f.names[f.next] = name
	return f.next
}

func (f *fakeSys) name(fd int) string {
	if fd == unix.AT_FDCWD {
		return "."
	}
	if n, ok := f.names[fd]; ok {
		return n
	}
	return "fd" + strconv.Itoa(fd)
}

// target turns a /proc/self/fd/N path back into what N stands for.
func (f *fakeSys) target(p string) string {
	if n, ok := strings.CutPrefix(p, "/proc/self/fd/"); ok {
		fd, _ := strconv.Atoi(n)
		return f.name(fd)
	}
	return p
}

// record appends op, or fails it as asked.
func (f *fakeSys) record(op string) error {
	for k, err := range f.fail {
		if strings.HasPrefix(op, k) {
			delete(f.fail, k)
			f.ops = append(f.ops, op+" = "+err.Error())
			return err
		}
	}
	f.ops = append(f.ops, op)
	return nil
}

var msNames = []struct {
	f    uintptr
	name string
}{
	{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"},
	{unix.MS_REMOUNT, "remount"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"},
	{unix.MS_BIND, "bind"}, {unix.MS_MOVE, "move"}, {unix.MS_REC, "rec"}, {unix.MS_UNBINDABLE, "unbindable"},
	{unix.MS_PRIVATE, "private"}, {unix.MS_SLAVE, "slave"}, {unix.MS_SHARED, "shared"},
	{unix.MS_RELATIME, "relatime"}, {unix.MS_STRICTATIME, "strictatime"},
}

func msString(fl uintptr) string {
	var out []string
	for _, n := range msNames {
		if fl&n.f != 0 {
			out = append(out, n.name)
			fl &^= n.f
		}
	}
	if fl != 0 {
		out = append(out, fmt.Sprintf("%#x", fl))
	}
	if out == nil {
		return "0"
	}
	return strings.Join(out, ",")
}

var attrNames = []struct {
	a    uint64
	name string
}{
	{unix.MOUNT_ATTR_RDONLY, "ro"}, {unix.MOUNT_ATTR_NOSUID, "nosuid"}, {unix.MOUNT_ATTR_NODEV, "nodev"},
	{unix.MOUNT_ATTR_NOEXEC, "noexec"}, {unix.MOUNT_ATTR__ATIME, "atime"}, {unix.MOUNT_ATTR_NODIRATIME, "nodiratime"},
	{unix.MOUNT_ATTR_IDMAP, "idmap"}, {unix.MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"},
}

func attrString(a uint64) string {
	var out []string
	for _, n := range attrNames {
		if a&n.a == n.a {
			out = append(out, n.name)
			a &^= n.a
		}
	}
	if a != 0 {
		out = append(out, fmt.Sprintf("%#x", a))
	}
	if out == nil {
		return "0"
	}
	return strings.Join(out, ",")
}

func (f *fakeSys) mount(source, target, fstype string, flags uintptr, data string) error {
	op := fmt.Sprintf("mount %s on %s type=%s flags=%s", source, f.target(target), fstype, msString(flags))
	if data != "" {
		op += " data=" + data
	}
	return f.record(op)
}

func (f *fakeSys) unmount(target string, flags int) error {
	return f.record(fmt.Sprintf("umount %s %#x", f.target(target), flags))
}

func (f *fakeSys) openTree(dirfd int, p string, flags uint) (int, error) {
	src := p
	if flags&unix.AT_EMPTY_PATH != 0 {
		src = f.name(dirfd)
	}
	if _, ok := f.files[strings.TrimPrefix(src, "tree:")]; !ok && !strings.HasPrefix(src, "tree:") && !strings.HasPrefix(src, "new:") {
		return -1, unix.ENOENT
	}
	rec := ""
	if flags&unix.AT_RECURSIVE != 0 {
		rec = " rec"
	}
	if err := f.record("open_tree " + src + rec); err != nil {
		return -1, err
	}
	return f.newFd("tree:" + strings.TrimPrefix(src, "tree:")), nil
}

func (f *fakeSys) moveMount(fromfd int, _ string, tofd int, _ string, _ int) error {
	return f.record(fmt.Sprintf("move_mount %s -> %s", f.name(fromfd), f.name(tofd)))
}

func (f *fakeSys) mountSetattr(fd int, _ string, flags uint, attr *unix.MountAttr) error {
	op := "setattr " + f.name(fd)
	if attr.Attr_set != 0 {
		op += " set=" + attrString(attr.Attr_set)
	}
	if attr.Attr_clr != 0 {
		op += " clr=" + attrString(attr.Attr_clr)
	}
	if attr.Propagation != 0 {
		op += " prop=" + msString(uintptr(attr.Propagation))
	}
	if attr.Userns_fd != 0 {
		op += " userns=" + f.name(int(attr.Userns_fd))
	}
	if flags&unix.AT_RECURSIVE != 0 {
		op += " rec"
	}
	return f.record(op)
}

// fsmount records "fsmount TYPE SOURCE [OPTS] ATTRS"; the new mount is
// named "new:TYPE".
func (f *fakeSys) fsmount(fstype, source string, options []string, attrs uint64) (int, error) {
	op := fmt.Sprintf("fsmount %s %s %s %s", fstype, source, "["+strings.Join(options, " ")+"]", attrString(attrs))
	if err := f.record(op); err != nil {
		return -1, &fsError{Step: "create", Err: err}
	}
	f.files["new:"+fstype] = unix.S_IFDIR | 0o755
	return f.newFd("new:" + fstype), nil
}

func (f *fakeSys) reconfigure(fd int, options []string) error {
	return f.record("reconfigure " + f.name(fd) + " [" + strings.Join(options, " ") + "]")
}

func (f *fakeSys) join(dir int, p string) string {
	if strings.HasPrefix(p, "/") && dir == unix.AT_FDCWD {
		return path.Clean(p)
	}
	return path.Join(f.name(dir), p)
}

func (f *fakeSys) lookup(full string, flags int) (int, error) {
	mode, ok := f.files[full]
	if !ok {
		return -1, unix.ENOENT
	}
	if flags&unix.O_DIRECTORY != 0 && mode&unix.S_IFMT != unix.S_IFDIR {
		return -1, unix.ENOTDIR
	}
	return f.newFd(full), nil
}

func (f *fakeSys) openInRoot(root int, p string, flags int) (int, error) {
	return f.lookup(f.join(root, p), flags)
}

func (f *fakeSys) openBeneath(dir int, name string, flags int) (int, error) {
	return f.lookup(f.join(dir, name), flags)
}

func (f *fakeSys) openat(dir int, p string, flags int, mode uint32) (int, error) {
	full := f.join(dir, p)
	if flags&unix.O_CREAT == 0 {
		return f.lookup(full, flags)
	}
	if _, ok := f.files[full]; ok && flags&unix.O_EXCL != 0 {
		return -1, unix.EEXIST
	}
	if err := f.record(fmt.Sprintf("create %s %#o", full, mode)); err != nil {
		return -1, err
	}
	f.files[full] = unix.S_IFREG | mode
	return f.newFd(full), nil
}

func (f *fakeSys) mkdirat(dir int, p string, mode uint32) error {
	full := f.join(dir, p)
	if _, ok := f.files[full]; ok {
		return unix.EEXIST
	}
	if err := f.record(fmt.Sprintf("mkdir %s", full)); err != nil {
		return err
	}
	f.files[full] = unix.S_IFDIR | mode
	return nil
}

func (f *fakeSys) mknodat(dir int, p string, mode uint32, dev int) error {
	full := f.join(dir, p)
	if _, ok := f.files[full]; ok {
		return unix.EEXIST
	}
	typ := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b", unix.S_IFIFO: "p"}[mode&unix.S_IFMT]
	if err := f.record(fmt.Sprintf("mknod %s %s %d:%d %#o", full, typ, unix.Major(uint64(dev)), unix.Minor(uint64(dev)), mode&0o7777)); err != nil {
		return err
	}
	f.files[full] = mode
	f.rdev[full] = uint64(dev)
	return nil
}

func (f *fakeSys) fchownat(dir int, p string, uid, gid, _ int) error {
	return f.record(fmt.Sprintf("chown %s %d:%d", f.join(dir, p), uid, gid))
}

func (f *fakeSys) symlinkat(target string, dir int, name string) error {
	full := f.join(dir, name)
	if _, ok := f.files[full]; ok {
		return unix.EEXIST
	}
	if err := f.record(fmt.Sprintf("symlink %s -> %s", full, target)); err != nil {
		return err
	}
	f.files[full] = unix.S_IFLNK | 0o777
	return nil
}

func (f *fakeSys) unlinkat(dir int, p string, _ int) error {
	full := f.join(dir, p)
	mode, ok := f.files[full]
	if !ok {
		return unix.ENOENT
	}
	if mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	if f.busy[full] {
		return unix.EBUSY
	}
	if f.readonly {
		return unix.EROFS
	}
	delete(f.files, full)
	return f.record("unlink " + full)
}

func (f *fakeSys) fstatat(dir int, p string, st *unix.Stat_t, _ int) error {
	full := strings.TrimPrefix(f.join(dir, p), "tree:")
	mode, ok := f.files[full]
	if !ok {
		return unix.ENOENT
	}
	*st = unix.Stat_t{Mode: mode, Rdev: f.rdev[full]}
	return nil
}

func (f *fakeSys) fsType(p string) int64 {
	for q := p; ; q = path.Dir(q) {
		if t, ok := f.fstype[q]; ok {
			return t
		}
		if q == "/" || q == "." {
			return unix.EXT4_SUPER_MAGIC
		}
	}
}

func (f *fakeSys) fstatfs(fd int, st *unix.Statfs_t) error {
	*st = unix.Statfs_t{Type: f.fsType(strings.TrimPrefix(f.name(fd), "tree:"))}
	return nil
}

func (f *fakeSys) statfs(p string, st *unix.Statfs_t) error {
	*st = unix.Statfs_t{Type: f.fsType(p)}
	return nil
}

func (f *fakeSys) access(p string) error {
	if _, ok := f.files[p]; !ok {
		return unix.ENOENT
	}
	return nil
}

func (f *fakeSys) umask(mask int) int {
	old := f.mask
	f.mask = mask
	_ = f.record(fmt.Sprintf("umask %#o", mask))
	return old
}

func (f *fakeSys) close(int) error { f.closed++; return nil }

func (f *fakeSys) fsetxattr(fd int, name string, value []byte) error {
	return f.record(fmt.Sprintf("setxattr %s %s=%s", f.name(fd), name, value))
}

func (f *fakeSys) pivotRoot(newroot, putold string) error {
	return f.record("pivot_root " + newroot + " " + putold)
}

func (f *fakeSys) chroot(p string) error { return f.record("chroot " + p) }

func (f *fakeSys) chdir(p string) error { return f.record("chdir " + p) }

func (f *fakeSys) fchdir(fd int) error { return f.record("fchdir " + f.name(fd)) }

func (f *fakeSys) readFile(p string) ([]byte, error) {
	if p != "/proc/thread-self/cgroup" {
		return nil, unix.ENOENT
	}
	return []byte(f.cgroup), nil
}

func (f *fakeSys) mounts(filter mountinfo.FilterFunc) ([]*mountinfo.Info, error) {
	var out []*mountinfo.Info
	for _, mi := range f.mountinfo {
		if filter != nil {
			skip, stop := filter(mi)
			if !skip {
				out = append(out, mi)
			}
			if stop {
				break
			}
			continue
		}
		out = append(out, mi)
	}
	return out, nil
}

func (f *fakeSys) usernsFd(uid, gid []specs.LinuxIDMapping) (int, error) {
	key := mappingKey(uid, gid)
	if err := f.record("userns " + key); err != nil {
		return -1, err
	}
	return f.newFd("userns:" + key), nil
}

// sortedFiles lists the pretend filesystem, for debugging failures.
func (f *fakeSys) sortedFiles() []string {
	var out []string
	for p := range f.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
