package rootfs

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

const (
	cgroupRoot = "/sys/fs/cgroup"
	// defaultMountAttrs are the attributes runc gives the mounts it makes up.
	defaultMountAttrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
)

// mountCgroup mounts a "cgroup" or "cgroup2" entry. On a cgroup v2 host (or
// for an explicit "cgroup2") it mounts cgroup2. On a v1 or hybrid host it
// builds what runc builds: a tmpfs at the destination holding, for every v1
// hierarchy, the container's own cgroup directory (bind-mounted from the
// host, or a fresh cgroup mount showing the cgroup namespace root when the
// container has one), plus symlinks for co-mounted controllers
// (cpu -> cpu,cpuacct). The container's cgroup is read from
// /proc/thread-self/cgroup, so init must already be in it.
func (m *mounter) mountCgroup(i int, mnt *configs.Mount, dest string) error {
	var st unix.Statfs_t
	unified := m.sys.statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	if unified || mnt.Type == "cgroup2" {
		return m.mountCgroup2(i, mnt, dest, unified)
	}
	return m.mountCgroup1(i, mnt, dest)
}

func (m *mounter) mountCgroup2(i int, mnt *configs.Mount, dest string, unified bool) error {
	dst, _, err := m.t.mkdirAll(dest)
	if err != nil {
		return fmt.Errorf("mounts[%d]: create mount point %s: %w", i, dest, err)
	}
	defer m.sys.close(dst)
	src := mnt.Source
	if src == "" {
		src = "cgroup2"
	}
	var opts []string
	if mnt.Attr&unix.MOUNT_ATTR_RDONLY != 0 {
		opts = append(opts, "ro")
	}
	fs, err := m.sys.fsmount("cgroup2", src, append(opts, mnt.Data...), mnt.Attr)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
		// A user namespace without a cgroup namespace may not mount
		// cgroup2: bind the hierarchy (or, with a cgroup namespace,
		// the container's own cgroup) instead.
		root := cgroupRoot
		if !unified {
			root = cgroupRoot + "/unified"
		}
		bind := *mnt
		bind.Type = "bind"
		bind.Source = root
		bind.Bind, bind.Recursive = true, true
		bind.Data = nil
		if _, ok := m.c.Namespace(configs.NEWCGROUP); ok {
			paths, perr := m.ownCgroups()
			if perr != nil {
				return fmt.Errorf("mounts[%d]: cgroup2 on %s: %w", i, dest, perr)
			}
			if p, ok := paths[""]; ok {
				bind.Source = path.Join(root, p)
			}
		} else if mnt.AttrClr&unix.MOUNT_ATTR_RDONLY == 0 {
			// Without a cgroup namespace the bind is the whole
			// hierarchy, every cgroup of the host: read-only (and
			// so its submounts) unless the config says "rw".
			bind.Attr |= unix.MOUNT_ATTR_RDONLY
			bind.RecAttrSet |= unix.MOUNT_ATTR_RDONLY
			bind.RecAttrClr &^= unix.MOUNT_ATTR_RDONLY
		}
		return m.bindOnto(i, &bind, dest, dst)
	}
	if err != nil {
		return mountError(i, &configs.Mount{Source: src, Type: "cgroup2", Data: mnt.Data}, dest, err)
	}
	defer m.sys.close(fs)
	return m.attachNew(i, mnt, dest, fs, dst)
}

// cgroupLine is one line of /proc/PID/cgroup.
type cgroupLine struct {
	id    int      // hierarchy ID
	ctrls []string // controllers, "name=..." for a named hierarchy; none for v2
	path  string
}

// ownCgroupLines parses /proc/thread-self/cgroup.
func (m *mounter) ownCgroupLines() ([]cgroupLine, error) {
	b, err := m.sys.readFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	var out []cgroupLine
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		id, _ := strconv.Atoi(parts[0])
		l := cgroupLine{id: id, path: parts[2]}
		if parts[1] != "" {
			l.ctrls = strings.Split(parts[1], ",")
		}
		out = append(out, l)
	}
	return out, nil
}

// ownCgroups maps every controller (and "name=..." hierarchy) of
// /proc/thread-self/cgroup to the cgroup path; "" is the v2 path.
func (m *mounter) ownCgroups() (map[string]string, error) {
	lines, err := m.ownCgroupLines()
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for _, l := range lines {
		if len(l.ctrls) == 0 {
			paths[""] = l.path
		}
		for _, c := range l.ctrls {
			paths[c] = l.path
		}
	}
	return paths, nil
}

// cgroupV1 is one v1 hierarchy as the container sees it.
type cgroupV1 struct {
	name   string // directory under the destination: base of the host mount point
	source string // the container's cgroup directory on the host
	data   string // controllers, for a fresh mount in a cgroup namespace
}

// cgroupV1Hierarchies lists the v1 hierarchies with the container's cgroup
// in each. The usual layout, every hierarchy mounted whole on
// /sys/fs/cgroup/<controllers> (as crun assumes), is checked with one
// statfs per hierarchy; anything else is worked out from the mount table,
// which costs far more to read.
func (m *mounter) cgroupV1Hierarchies() ([]cgroupV1, error) {
	lines, err := m.ownCgroupLines()
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	if hs, ok := m.cgroupV1Usual(lines); ok {
		return hs, nil
	}
	paths := map[string]string{}
	for _, l := range lines {
		for _, c := range l.ctrls {
			paths[c] = l.path
		}
	}
	infos, err := m.sys.mounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	var out []cgroupV1
	seen := map[string]bool{}
	for _, mi := range infos {
		var ctrls []string
		for _, opt := range strings.Split(mi.VFSOptions, ",") {
			if _, ok := paths[opt]; ok {
				ctrls = append(ctrls, opt)
			}
		}
		name := filepath.Base(mi.Mountpoint)
		if len(ctrls) == 0 || seen[name] {
			continue
		}
		seen[name] = true
		own := paths[ctrls[0]]
		rel, err := filepath.Rel(mi.Root, own)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("cgroup %s of %s is outside the hierarchy root %s mounted on %s", own, ctrls[0], mi.Root, mi.Mountpoint)
		}
		out = append(out, cgroupV1{
			name:   name,
			source: filepath.Join(mi.Mountpoint, rel),
			data:   strings.Join(ctrls, ","),
		})
	}
	return out, nil
}

// cgroupV1Usual returns the hierarchies if each one's cgroup directory is
// a v1 cgroup at /sys/fs/cgroup/<controllers>/<path>, in the order of
// their IDs (the order they were mounted in, which runc follows).
func (m *mounter) cgroupV1Usual(lines []cgroupLine) ([]cgroupV1, bool) {
	lines = slices.Clone(lines)
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].id < lines[b].id })
	var out []cgroupV1
	for _, l := range lines {
		if len(l.ctrls) == 0 {
			continue
		}
		name := strings.Join(l.ctrls, ",")
		dir := strings.TrimPrefix(name, "name=")
		src := path.Join(cgroupRoot, dir, l.path)
		var st unix.Statfs_t
		if err := m.sys.statfs(src, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			return nil, false
		}
		out = append(out, cgroupV1{name: dir, source: src, data: name})
	}
	return out, len(out) > 0
}

func (m *mounter) mountCgroup1(i int, mnt *configs.Mount, dest string) error {
	hs, err := m.cgroupV1Hierarchies()
	if err != nil {
		return fmt.Errorf("mounts[%d]: cgroup on %s: %w", i, dest, err)
	}
	dst, _, err := m.t.mkdirAll(dest)
	if err != nil {
		return fmt.Errorf("mounts[%d]: create mount point %s: %w", i, dest, err)
	}
	defer m.sys.close(dst)
	top, err := m.sys.fsmount("tmpfs", "tmpfs", withLabel([]string{"mode=755"}, m.c.MountLabel), defaultMountAttrs)
	if err != nil {
		return fmt.Errorf("mounts[%d]: mount tmpfs on %s for cgroup: %w", i, dest, err)
	}
	defer m.sys.close(top)
	// Attached before the hierarchies are mounted in it: move_mount onto
	// a detached tree needs Linux 6.15.
	if err := m.sys.moveMount(top, "", dst, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounts[%d]: mount tmpfs on %s for cgroup: move_mount: %w", i, dest, err)
	}
	if err := m.setPropagation(i, mnt, dest, top); err != nil {
		return err
	}
	if err := m.cgroupV1Tree(i, mnt, dest, top, hs); err != nil {
		return err
	}
	if mnt.Attr&unix.MOUNT_ATTR_RDONLY != 0 {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := m.sys.mountSetattr(top, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("mounts[%d]: make %s read-only: mount_setattr: %w", i, dest, err)
		}
	}
	return nil
}

// cgroupV1Tree fills the tmpfs top with one directory per
// hierarchy, each holding the container's cgroup, and the symlinks of the
// co-mounted controllers.
func (m *mounter) cgroupV1Tree(i int, mnt *configs.Mount, dest string, top int, hs []cgroupV1) error {
	_, cgroupns := m.c.Namespace(configs.NEWCGROUP)
	for _, h := range hs {
		sub := dest + "/" + h.name
		// The tmpfs is new and only ours: plain *at calls beneath it.
		if err := m.sys.mkdirat(top, h.name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mounts[%d]: mkdir %s: %w", i, sub, err)
		}
		d, err := m.sys.openBeneath(top, h.name, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("mounts[%d]: open %s: %w", i, sub, err)
		}
		if cgroupns {
			err = m.mountCgroup1Fresh(i, mnt, h, sub, d)
		} else {
			bind := &configs.Mount{
				Source:           h.source,
				Destination:      sub,
				Type:             "bind",
				Bind:             true,
				Recursive:        true,
				Attr:             mnt.Attr,
				AttrClr:          mnt.AttrClr,
				PropagationFlags: mnt.PropagationFlags,
			}
			err = m.bindOnto(i, bind, sub, d)
		}
		m.sys.close(d)
		if err != nil {
			return err
		}
	}
	for _, h := range hs {
		if !strings.Contains(h.name, ",") {
			continue
		}
		for _, ctrl := range strings.Split(h.name, ",") {
			if err := m.sys.symlinkat(h.name, top, ctrl); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("mounts[%d]: symlink %s/%s: %w", i, dest, ctrl, err)
			}
		}
	}
	return nil
}

// mountCgroup1Fresh mounts the v1 hierarchy h on d: in a cgroup namespace
// the kernel shows the namespace's root, the container's cgroup.
func (m *mounter) mountCgroup1Fresh(i int, mnt *configs.Mount, h cgroupV1, sub string, d int) error {
	var opts []string
	if mnt.Attr&unix.MOUNT_ATTR_RDONLY != 0 {
		opts = append(opts, "ro")
	}
	fs, err := m.sys.fsmount("cgroup", "cgroup", append(opts, strings.Split(h.data, ",")...), mnt.Attr|defaultMountAttrs)
	if err != nil {
		return fmt.Errorf("mounts[%d]: mount cgroup %s on %s: %w", i, h.data, sub, err)
	}
	defer m.sys.close(fs)
	if err := m.sys.moveMount(fs, "", d, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("mounts[%d]: mount cgroup %s on %s: move_mount: %w", i, h.data, sub, err)
	}
	return m.setPropagation(i, mnt, sub, fs)
}
