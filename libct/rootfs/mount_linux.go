package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// mounter carries what one MountAll needs.
type mounter struct {
	sys sysOps
	c   *configs.Config
	t   dirTree // the rootfs
	src Sources
	// userns caches idmap user namespaces by mapping, closed at the end.
	userns map[string]int
}

// mountAll is MountAll through the seam.
func mountAll(s sysOps, c *configs.Config, src Sources) error {
	root, err := s.openat(unix.AT_FDCWD, c.Rootfs, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", c.Rootfs, err)
	}
	m := &mounter{sys: s, c: c, t: dirTree{sys: s, root: root, path: c.Rootfs}, src: src}
	defer m.close()
	for i, mnt := range c.Mounts {
		if err := m.mountOne(i, mnt); err != nil {
			return err
		}
	}
	if needsDev(c) {
		if err := m.setupDev(); err != nil {
			return err
		}
	}
	return nil
}

func (m *mounter) close() {
	for _, fd := range m.userns {
		m.sys.close(fd)
	}
	m.sys.close(m.t.root)
}

// mountOne performs c.Mounts[i].
func (m *mounter) mountOne(i int, mnt *configs.Mount) error {
	dest, err := cleanDest(mnt.Destination)
	if err != nil {
		return fmt.Errorf("mounts[%d]: destination %w", i, err)
	}
	switch {
	case mnt.IsBind():
		return m.mountBind(i, mnt, dest)
	case mnt.Type == "cgroup" || mnt.Type == "cgroup2":
		return m.mountCgroup(i, mnt, dest)
	default:
		return m.mountFS(i, mnt, dest)
	}
}

// procMountsAllowed are the files under /proc a container may mount over
// (those lxcfs emulates). Anything else there, or over /proc itself with
// something that is not procfs, could hide what masked and read-only paths
// protect (CVE-2019-16884, CVE-2019-19921).
var procMountsAllowed = map[string]bool{
	"/proc/cpuinfo":                true,
	"/proc/diskstats":              true,
	"/proc/meminfo":                true,
	"/proc/stat":                   true,
	"/proc/swaps":                  true,
	"/proc/uptime":                 true,
	"/proc/loadavg":                true,
	"/proc/slabinfo":               true,
	"/proc/net/dev":                true,
	"/proc/sys/kernel/ns_last_pid": true,
}

// checkProcDest refuses a mount inside /proc. dst is the opened destination
// and isProc says whether the source is procfs. The destination's real
// filesystem is checked too, so that a symlink to /proc (made before or
// after procfs was mounted there) does not get around the rule.
func (m *mounter) checkProcDest(i int, dest string, dst int, isProc bool) error {
	if dest == "/proc" {
		if !isProc {
			return fmt.Errorf("mounts[%d]: %s cannot be mounted on /proc: only procfs may be", i, m.c.Mounts[i].Source)
		}
		return nil
	}
	if procMountsAllowed[dest] {
		return nil
	}
	inProc := strings.HasPrefix(dest, "/proc/")
	if !inProc {
		var st unix.Statfs_t
		if err := m.sys.fstatfs(dst, &st); err != nil {
			return fmt.Errorf("mounts[%d]: statfs %s: %w", i, dest, err)
		}
		inProc = st.Type == unix.PROC_SUPER_MAGIC
	}
	if inProc {
		return fmt.Errorf("mounts[%d]: %s cannot be mounted on %s: it is inside /proc", i, m.c.Mounts[i].Source, dest)
	}
	return nil
}

// mountFS mounts a new filesystem (tmpfs, proc, sysfs, devpts, mqueue,
// ...) with the new mount API: fsopen, one fsconfig per option (so that a
// refused option is named), fsmount with the mount attributes, and
// move_mount onto the opened destination.
func (m *mounter) mountFS(i int, mnt *configs.Mount, dest string) error {
	if len(mnt.UIDMappings)+len(mnt.GIDMappings) > 0 {
		return fmt.Errorf("mounts[%d]: idmapped mount of %s on %s: only bind mounts can be idmapped", i, mnt.Type, dest)
	}
	var (
		dst     int
		existed bool
		err     error
	)
	if mnt.Type == "proc" || mnt.Type == "sysfs" {
		// Mounted on an ordinary directory only, never through a final
		// symlink: procfs and sysfs in the wrong place defeat masking.
		dst, err = m.t.open(dest, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW)
		existed = err == nil
		if errors.Is(err, unix.ENOENT) {
			dst, existed, err = m.t.mkdirAll(dest)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("mounts[%d]: %s must be mounted on an ordinary directory, %s is not one", i, mnt.Type, dest)
		}
	} else {
		dst, existed, err = m.t.mkdirAll(dest)
	}
	if err != nil {
		return fmt.Errorf("mounts[%d]: create mount point %s: %w", i, dest, err)
	}
	defer m.sys.close(dst)
	if err := m.checkProcDest(i, dest, dst, mnt.Type == "proc"); err != nil {
		return err
	}
	if mnt.Remount {
		return m.remount(i, mnt, dest, dst)
	}

	attrs := mnt.Attr
	if deferReadonly(mnt) {
		// Made read-only by Finalize: /dev is populated and hooks may
		// write to tmpfs mounts before that.
		attrs &^= unix.MOUNT_ATTR_RDONLY
	}
	var opts []string
	if attrs&unix.MOUNT_ATTR_RDONLY != 0 {
		// As mount(2) with MS_RDONLY: the superblock is read-only too.
		opts = append(opts, "ro")
	}
	if mnt.Type == "tmpfs" && existed && !hasDataOption(mnt.Data, "mode") {
		// Keep the permissions of the directory the tmpfs covers.
		st, err := fstat(m.sys, dst)
		if err != nil {
			return fmt.Errorf("mounts[%d]: stat %s: %w", i, dest, err)
		}
		opts = append(opts, "mode="+strconv.FormatUint(uint64(st.Mode&0o7777), 8))
	}
	opts = append(opts, mnt.Data...)
	switch mnt.Type {
	case "proc", "sysfs", "mqueue":
		// No SELinux context: procfs and sysfs refuse one, mqueue
		// takes the label from the process (relabelled below).
	default:
		opts = withLabel(opts, m.c.MountLabel)
	}

	// tmpcopyup: hold the covered directory open to copy from it.
	copySrc := -1
	if mnt.TmpCopyUp && existed {
		if copySrc, err = m.sys.openat(dst, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
			return fmt.Errorf("mounts[%d]: tmpcopyup: open %s: %w", i, dest, err)
		}
		defer m.sys.close(copySrc)
	}
	fs, err := m.sys.fsmount(mnt.Type, mnt.Source, opts, attrs)
	if mnt.Type == "sysfs" && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) {
		// A user namespace without its own network namespace may not
		// mount sysfs: bind the runtime's /sys instead, with the same
		// attributes (on its submounts too: see attachTree).
		bind := *mnt
		bind.Source = "/sys"
		bind.Type = "bind"
		bind.Bind, bind.Recursive = true, true
		bind.Data = nil
		return m.bindOnto(i, &bind, dest, dst)
	}
	if err != nil {
		return mountError(i, mnt, dest, err)
	}
	defer m.sys.close(fs)
	// The new filesystem is filled and labelled while detached: nothing
	// in the container sees it half made.
	if copySrc >= 0 || (mnt.Type == "mqueue" && m.c.MountLabel != "") {
		if err := m.prepareNew(i, mnt, dest, fs, copySrc); err != nil {
			return err
		}
	}
	return m.attachNew(i, mnt, dest, fs, dst)
}

// mountError names what the kernel refused in a new mount: the option,
// when fsconfig(2) refused one ("mounts[3]: unknown option "nosuchopt"
// ..."), with the filesystem's own message.
func mountError(i int, mnt *configs.Mount, dest string, err error) error {
	var fe *fsError
	if errors.As(err, &fe) && fe.Option != "" {
		what := "option"
		if fe.unknownOption() {
			what = "unknown option"
		}
		if fe.Log != "" {
			return fmt.Errorf("mounts[%d]: %s %q: %s on %s refused it: %s: %w", i, what, fe.Option, mnt.Type, dest, fe.Log, fe.Err)
		}
		return fmt.Errorf("mounts[%d]: %s %q: %s on %s refused it: %w", i, what, fe.Option, mnt.Type, dest, fe.Err)
	}
	if errors.As(err, &fe) && fe.Step == "create" && len(mnt.Data) > 0 && errors.Is(err, unix.EINVAL) {
		// A filesystem that parses its options only at creation.
		return fmt.Errorf("mounts[%d]: mount %s on %s (%s) with options %s: %w", i, mnt.Source, dest, mnt.Type, strings.Join(mnt.Data, ","), err)
	}
	return fmt.Errorf("mounts[%d]: mount %s on %s (%s): %w", i, mnt.Source, dest, mnt.Type, err)
}

// prepareNew fills (tmpcopyup) or labels (mqueue, which takes no context=
// option; runc relabels it the same way) the detached filesystem fs.
func (m *mounter) prepareNew(i int, mnt *configs.Mount, dest string, fs, copySrc int) error {
	root, err := m.sys.openat(fs, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("mounts[%d]: open new %s for %s: %w", i, mnt.Type, dest, err)
	}
	defer m.sys.close(root)
	if copySrc >= 0 {
		if err := copyUp(copySrc, root); err != nil {
			return fmt.Errorf("mounts[%d]: tmpcopyup into %s: %w", i, dest, err)
		}
	}
	if mnt.Type == "mqueue" {
		if err := m.sys.fsetxattr(root, "security.selinux", []byte(m.c.MountLabel)); err != nil {
			return fmt.Errorf("mounts[%d]: label %s as %q: %w", i, dest, m.c.MountLabel, err)
		}
	}
	return nil
}

// attachNew applies the recursive attributes to the detached mount fs,
// attaches it on dst and sets its propagation.
func (m *mounter) attachNew(i int, mnt *configs.Mount, dest string, fs, dst int) error {
	if err := m.setRecAttr(i, mnt, dest, fs, 0); err != nil {
		return err
	}
	if err := m.sys.moveMount(fs, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounts[%d]: mount %s on %s (%s): move_mount: %w", i, mnt.Source, dest, mnt.Type, err)
	}
	return m.setPropagation(i, mnt, dest, fs)
}

// remount is the "remount" option without "bind": the filesystem mounted
// at dst gets the options (fspick + FSCONFIG_CMD_RECONFIGURE) and the
// mount exactly the attributes asked, keeping its access-time mode when
// none is given, as mount(2) with MS_REMOUNT.
func (m *mounter) remount(i int, mnt *configs.Mount, dest string, dst int) error {
	ro := "rw"
	if mnt.Attr&unix.MOUNT_ATTR_RDONLY != 0 {
		ro = "ro"
	}
	if err := m.sys.reconfigure(dst, append([]string{ro}, mnt.Data...)); err != nil {
		return mountError(i, mnt, dest, err)
	}
	attr := unix.MountAttr{Attr_set: mnt.Attr, Attr_clr: clearableAttrs&^mnt.Attr | mnt.AttrClr&unix.MOUNT_ATTR__ATIME}
	if err := m.sys.mountSetattr(dst, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("mounts[%d]: remount %s: mount_setattr: %w", i, dest, err)
	}
	return m.setPropagation(i, mnt, dest, dst)
}

// deferReadonly says whether the read-only attribute of mnt is applied by
// Finalize rather than at mount time (as runc: tmpfs mounts and /dev).
func deferReadonly(mnt *configs.Mount) bool {
	if mnt.Bind || mnt.Remount || mnt.Attr&unix.MOUNT_ATTR_RDONLY == 0 {
		return false
	}
	dest, err := cleanDest(mnt.Destination)
	return mnt.Type == "tmpfs" || (err == nil && dest == "/dev")
}

// hasDataOption reports whether the options set key.
func hasDataOption(opts []string, key string) bool {
	for _, o := range opts {
		if k, _, _ := strings.Cut(o, "="); k == key {
			return true
		}
	}
	return false
}

// withLabel adds the SELinux context option for label to opts. The value
// goes to fsconfig(2) as it is: no quoting, whatever commas it holds.
func withLabel(opts []string, label string) []string {
	if label == "" {
		return opts
	}
	return append(opts, "context="+label)
}

// mountBind bind-mounts mnt.Source on dest, idmapped if asked.
func (m *mounter) mountBind(i int, mnt *configs.Mount, dest string) error {
	var tree int
	if f := m.src[i]; f != nil {
		// Opened (and idmapped) by the runtime outside the container;
		// the caller owns it.
		tree = int(f.Fd())
	} else {
		fd, err := m.openSource(i, mnt, dest)
		if err != nil {
			return err
		}
		defer m.sys.close(fd)
		tree = fd
	}

	st, err := fstat(m.sys, tree)
	if err != nil {
		return fmt.Errorf("mounts[%d]: bind %s on %s: stat source: %w", i, mnt.Source, dest, err)
	}
	var dst int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		dst, _, err = m.t.mkdirAll(dest)
	} else {
		dst, err = m.t.createFile(dest, 0o755)
	}
	if err != nil {
		return fmt.Errorf("mounts[%d]: create mount point %s: %w", i, dest, err)
	}
	defer m.sys.close(dst)
	var sfs unix.Statfs_t
	if err := m.sys.fstatfs(tree, &sfs); err != nil {
		return fmt.Errorf("mounts[%d]: bind %s on %s: statfs source: %w", i, mnt.Source, dest, err)
	}
	if err := m.checkProcDest(i, dest, dst, sfs.Type == unix.PROC_SUPER_MAGIC); err != nil {
		return err
	}
	return m.attachTree(i, mnt, dest, tree, dst, sfs.Type)
}

// openSource clones the source of a bind mount into a detached tree
// (open_tree OPEN_TREE_CLONE, recursive for rbind) and idmaps it when the
// mount has mappings.
func (m *mounter) openSource(i int, mnt *configs.Mount, dest string) (int, error) {
	// The source is resolved once, by specconv (a relative one is the
	// bundle's): here it is opened as it is.
	if !filepath.IsAbs(mnt.Source) {
		return -1, fmt.Errorf("mounts[%d]: bind source %q is not an absolute path", i, mnt.Source)
	}
	var flags uint = unix.OPEN_TREE_CLONE
	if mnt.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := m.sys.openTree(unix.AT_FDCWD, mnt.Source, flags)
	if err != nil {
		return -1, fmt.Errorf("mounts[%d]: bind %s on %s: open_tree: %w", i, mnt.Source, dest, err)
	}
	if len(mnt.UIDMappings)+len(mnt.GIDMappings) == 0 {
		return tree, nil
	}
	if err := m.idmap(mnt, tree); err != nil {
		m.sys.close(tree)
		return -1, fmt.Errorf("mounts[%d]: idmapped bind %s on %s: %w", i, mnt.Source, dest, err)
	}
	return tree, nil
}

// idmap applies MOUNT_ATTR_IDMAP to a detached tree.
func (m *mounter) idmap(mnt *configs.Mount, tree int) error {
	key := mappingKey(mnt.UIDMappings, mnt.GIDMappings)
	ns, ok := m.userns[key]
	if !ok {
		fd, err := m.sys.usernsFd(mnt.UIDMappings, mnt.GIDMappings)
		if err != nil {
			return fmt.Errorf("make user namespace for the mapping: %w", err)
		}
		if m.userns == nil {
			m.userns = map[string]int{}
		}
		m.userns[key] = fd
		ns = fd
	}
	return setIDMap(m.sys, tree, ns, mnt.IDMapRecursive)
}

// setIDMap is mount_setattr(MOUNT_ATTR_IDMAP) on a detached tree.
func setIDMap(s sysOps, tree, userns int, recursive bool) error {
	var flags uint = unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := s.mountSetattr(tree, "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr MOUNT_ATTR_IDMAP: %w", err)
	}
	return nil
}

func mappingKey(uid, gid []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, m := range uid {
		fmt.Fprintf(&b, "u%d:%d:%d,", m.ContainerID, m.HostID, m.Size)
	}
	for _, m := range gid {
		fmt.Fprintf(&b, "g%d:%d:%d,", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// bindOnto opens mnt.Source and attaches it on the already open dst.
func (m *mounter) bindOnto(i int, mnt *configs.Mount, dest string, dst int) error {
	tree, err := m.openSource(i, mnt, dest)
	if err != nil {
		return err
	}
	defer m.sys.close(tree)
	var sfs unix.Statfs_t
	if err := m.sys.fstatfs(tree, &sfs); err != nil {
		return fmt.Errorf("mounts[%d]: bind %s on %s: statfs source: %w", i, mnt.Source, dest, err)
	}
	return m.attachTree(i, mnt, dest, tree, dst, sfs.Type)
}

// attachTree applies the bind options to a detached tree, attaches it on
// dst (move_mount), and sets its propagation. The options are applied
// before the tree is attached, so it is never visible with weaker flags
// than asked for.
//
// A recursive bind of sysfs (the /sys of a rootless container, made by
// hand or as the fallback when sysfs cannot be mounted) gets the
// attributes it sets (ro, nosuid, nodev, noexec) on its submounts too:
// otherwise "ro" leaves the host's cgroup, securityfs, debugfs, bpf and
// tracefs mounts under /sys writable in the container (runc#1869).
func (m *mounter) attachTree(i int, mnt *configs.Mount, dest string, tree, dst int, fsType int64) error {
	if err := setBindFlags(m.sys, tree, mnt); err != nil {
		return fmt.Errorf("mounts[%d]: bind %s on %s: %w", i, mnt.Source, dest, err)
	}
	var extra uint64
	if fsType == unix.SYSFS_MAGIC && mnt.Recursive {
		extra = mnt.Attr & (unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC)
	}
	if err := m.setRecAttr(i, mnt, dest, tree, extra); err != nil {
		return err
	}
	if err := m.sys.moveMount(tree, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounts[%d]: bind %s on %s: move_mount: %w", i, mnt.Source, dest, err)
	}
	// tree now refers to the attached mount.
	return m.setPropagation(i, mnt, dest, tree)
}

// clearableAttrs are the attribute bits a bind mount's options decide.
const clearableAttrs = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV |
	unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW

// setBindFlags gives a bind mount the attributes of its options (the top
// mount only, as "mount --bind -o"). Without any option beyond bind/rbind
// the source's attributes are kept. Otherwise the mount gets exactly the
// asked attributes, like MS_BIND|MS_REMOUNT; in a user namespace the
// kernel refuses to clear attributes locked by the source mount (nosuid,
// nodev, noexec, ro, atime) and only the explicitly cleared ones ("suid",
// "rw", ...) are then cleared, keeping the locked ones, as runc does. With
// "remount" only explicit clears are done.
func setBindFlags(s sysOps, tree int, mnt *configs.Mount) error {
	if mnt.Attr == 0 && mnt.AttrClr == 0 {
		return nil
	}
	atime := mnt.AttrClr & unix.MOUNT_ATTR__ATIME
	if !mnt.Remount {
		attr := unix.MountAttr{Attr_set: mnt.Attr, Attr_clr: clearableAttrs&^mnt.Attr | atime}
		err := s.mountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr)
		if err == nil || !errors.Is(err, unix.EPERM) {
			return wrapSetattr(err)
		}
	}
	attr := unix.MountAttr{Attr_set: mnt.Attr, Attr_clr: mnt.AttrClr}
	return wrapSetattr(s.mountSetattr(tree, "", unix.AT_EMPTY_PATH, &attr))
}

func wrapSetattr(err error) error {
	if err != nil {
		return fmt.Errorf("mount_setattr: %w", err)
	}
	return nil
}

// setRecAttr applies the "r"-prefixed options (rro, rnosuid, ...), and the
// extra attributes to set, to the whole tree at fd.
func (m *mounter) setRecAttr(i int, mnt *configs.Mount, dest string, fd int, extra uint64) error {
	set, clr := mnt.RecAttrSet|extra, mnt.RecAttrClr&^extra
	if set|clr == 0 {
		return nil
	}
	attr := unix.MountAttr{Attr_set: set, Attr_clr: clr}
	if err := m.sys.mountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("mounts[%d]: set recursive attributes of %s: mount_setattr: %w", i, dest, err)
	}
	return nil
}

// setPropagation applies the propagation flags, one by one, to the mount
// at fd.
func (m *mounter) setPropagation(i int, mnt *configs.Mount, dest string, fd int) error {
	for _, p := range mnt.PropagationFlags {
		var flags uint = unix.AT_EMPTY_PATH
		if p&unix.MS_REC != 0 {
			flags |= unix.AT_RECURSIVE
		}
		attr := unix.MountAttr{Propagation: uint64(p &^ unix.MS_REC)}
		if err := m.sys.mountSetattr(fd, "", flags, &attr); err != nil {
			return fmt.Errorf("mounts[%d]: set propagation %#x of %s: mount_setattr: %w", i, p, dest, err)
		}
	}
	return nil
}

// OpenSources opens, in the calling (runtime's) namespaces, the sources that
// init cannot open itself: idmapped bind mounts of a container with its own
// user namespace (mount_setattr MOUNT_ATTR_IDMAP needs privilege over the
// source filesystem's user namespace, which init no longer has). The result
// is meant for MountAllFrom in init; the caller closes the files.
func OpenSources(c *configs.Config) (Sources, error) {
	return openSources(realSys{}, c)
}

// NeedsSources reports whether c has mounts that OpenSources must prepare.
func NeedsSources(c *configs.Config) bool {
	if _, ok := c.Namespace(configs.NEWUSER); !ok {
		return false
	}
	for _, mnt := range c.Mounts {
		if mnt.IsBind() && len(mnt.UIDMappings)+len(mnt.GIDMappings) > 0 {
			return true
		}
	}
	return false
}

func openSources(s sysOps, c *configs.Config) (_ Sources, err error) {
	if !NeedsSources(c) {
		return nil, nil
	}
	m := &mounter{sys: s, c: c}
	defer func() {
		for _, fd := range m.userns {
			s.close(fd)
		}
	}()
	src := Sources{}
	defer func() {
		if err != nil {
			for _, f := range src {
				f.Close()
			}
		}
	}()
	for i, mnt := range c.Mounts {
		if !mnt.Bind || len(mnt.UIDMappings)+len(mnt.GIDMappings) == 0 {
			continue
		}
		fd, err := m.openSource(i, mnt, mnt.Destination)
		if err != nil {
			return nil, err
		}
		src[i] = os.NewFile(uintptr(fd), "mount-source:"+mnt.Source)
	}
	return src, nil
}
