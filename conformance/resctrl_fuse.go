package conformance

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The FUSE side of FakeResctrl: directories and files as go-fuse nodes,
// every operation handed to the FakeResctrl methods under its lock.

type dirKind int

const (
	dirRoot      dirKind = iota // the mount's root, the default CTRL_MON group
	dirCtrl                     // a CTRL_MON group
	dirMonGroups                // a CTRL_MON group's mon_groups
	dirMon                      // a MON group
	dirPlain                    // info/..., mon_data/...
)

// rdtDir is a directory; key is the group it belongs to.
type rdtDir struct {
	fs.Inode
	f    *FakeResctrl
	kind dirKind
	key  string
}

// rdtFile is a file of group key; static is the content of a read-only
// file (info/...), else the content comes from the group.
type rdtFile struct {
	fs.Inode
	f      *FakeResctrl
	key    string
	name   string
	static string
}

var (
	_ fs.NodeOnAdder   = (*rdtDir)(nil)
	_ fs.NodeMkdirer   = (*rdtDir)(nil)
	_ fs.NodeRmdirer   = (*rdtDir)(nil)
	_ fs.NodeUnlinker  = (*rdtDir)(nil)
	_ fs.NodeGetattrer = (*rdtDir)(nil)
	_ fs.NodeOpener    = (*rdtFile)(nil)
	_ fs.NodeReader    = (*rdtFile)(nil)
	_ fs.NodeWriter    = (*rdtFile)(nil)
	_ fs.NodeGetattrer = (*rdtFile)(nil)
	_ fs.NodeSetattrer = (*rdtFile)(nil)
)

// OnAdd lays out the root group and info/ when the root is mounted.
func (d *rdtDir) OnAdd(ctx context.Context) {
	if d.kind != dirRoot {
		return
	}
	d.fillGroup(ctx, &d.Inode, "", false)
	info := d.plainDir(ctx, &d.Inode, "info")
	d.addFile(ctx, info, "last_cmd_status", "")
	for p, content := range fakeInfo {
		dir, name := filepath.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		sub := info.GetChild(dir)
		if sub == nil {
			sub = d.plainDir(ctx, info, dir)
		}
		d.addFile(ctx, sub, name, content)
	}
}

// plainDir adds the directory name to parent.
func (d *rdtDir) plainDir(ctx context.Context, parent *fs.Inode, name string) *fs.Inode {
	ch := parent.NewPersistentInode(ctx, &rdtDir{f: d.f, kind: dirPlain}, fs.StableAttr{Mode: syscall.S_IFDIR})
	parent.AddChild(name, ch, false)
	return ch
}

func (d *rdtDir) addFile(ctx context.Context, parent *fs.Inode, name, static string) {
	key := ""
	if p, ok := parent.Operations().(*rdtDir); ok {
		key = p.key
	}
	ch := parent.NewPersistentInode(ctx, &rdtFile{f: d.f, key: key, name: name, static: static}, fs.StableAttr{Mode: syscall.S_IFREG})
	parent.AddChild(name, ch, false)
}

// fillGroup gives group dir (key) the files the kernel gives one.
func (d *rdtDir) fillGroup(ctx context.Context, dir *fs.Inode, key string, mon bool) {
	if !mon {
		d.addFile(ctx, dir, "schemata", "")
		mg := dir.NewPersistentInode(ctx, &rdtDir{f: d.f, kind: dirMonGroups, key: key}, fs.StableAttr{Mode: syscall.S_IFDIR})
		dir.AddChild("mon_groups", mg, false)
	}
	d.addFile(ctx, dir, "tasks", "")
	d.addFile(ctx, dir, "cpus", "")
	l3 := d.plainDir(ctx, d.plainDir(ctx, dir, "mon_data"), "mon_L3_00")
	for _, ev := range []string{"llc_occupancy", "mbm_total_bytes", "mbm_local_bytes"} {
		d.addFile(ctx, l3, ev, "0\n")
	}
}

// Mkdir makes a CTRL_MON group at the top level, a MON group in a
// mon_groups directory; nothing elsewhere (EPERM), as rdtgroup_mkdir.
func (d *rdtDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var key string
	kind := dirCtrl
	switch d.kind {
	case dirRoot:
		key = name
	case dirMonGroups:
		key, kind = strings.TrimPrefix(d.key+"/mon_groups/"+name, "/"), dirMon
	default:
		return nil, syscall.EPERM
	}
	if strings.Contains(name, "\n") {
		return nil, syscall.EINVAL
	}
	if d.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	d.f.mu.Lock()
	errno := d.f.mkdir(key, kind == dirMon)
	d.f.mu.Unlock()
	if errno != 0 {
		return nil, errno
	}
	ch := d.NewPersistentInode(ctx, &rdtDir{f: d.f, kind: kind, key: key}, fs.StableAttr{Mode: syscall.S_IFDIR})
	d.fillGroup(ctx, ch, key, kind == dirMon)
	out.Attr.Mode = syscall.S_IFDIR | 0o755
	return ch, 0
}

// Rmdir removes a group, whatever it holds; nothing else (EPERM).
func (d *rdtDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	var key string
	switch d.kind {
	case dirRoot:
		key = name
	case dirMonGroups:
		key = strings.TrimPrefix(d.key+"/mon_groups/"+name, "/")
	default:
		return syscall.EPERM
	}
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	if d.f.groups[key] == nil || key == "" {
		if d.GetChild(name) != nil {
			return syscall.EPERM
		}
		return syscall.ENOENT
	}
	d.f.rmdir(key)
	return 0
}

// Unlink: no file of resctrl can be removed.
func (d *rdtDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EPERM }

func (d *rdtDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o755
	out.Nlink = 2
	return 0
}

func (r *rdtFile) writable() bool {
	return r.static == "" && r.name != "last_cmd_status"
}

func (r *rdtFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	if r.writable() {
		out.Mode = syscall.S_IFREG | 0o644
	}
	out.Nlink = 1
	return 0
}

// Setattr takes the truncation of open(O_TRUNC) and does nothing: the
// kernel's files have no size.
func (r *rdtFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return r.Getattr(ctx, fh, out)
}

// Open serves every read and write straight (FOPEN_DIRECT_IO): the size
// is 0, as the kernel's, and each write(2) is one Write.
func (r *rdtFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY && !r.writable() {
		return nil, 0, syscall.EACCES
	}
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (r *rdtFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	content := r.static
	if r.static == "" {
		r.f.mu.Lock()
		switch {
		case r.name == "last_cmd_status":
			content = r.f.status
		case r.f.groups[r.key] == nil:
			r.f.mu.Unlock()
			return nil, syscall.ENOENT
		case r.name == "schemata":
			content = r.f.readSchemata(r.key)
		case r.name == "tasks":
			content = r.f.readTasks(r.key)
		case r.name == "cpus":
			content = "0\n"
		}
		r.f.mu.Unlock()
	}
	if off >= int64(len(content)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData([]byte(content[off:])), 0
}

func (r *rdtFile) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	if r.f.groups[r.key] == nil {
		return 0, syscall.ENOENT
	}
	var errno syscall.Errno
	switch r.name {
	case "schemata":
		errno = r.f.writeSchemata(r.key, string(data))
	case "tasks":
		errno = r.f.writeTasks(r.key, string(data))
	default:
		r.f.ops = append(r.f.ops, "write "+filepath.Join(r.key, r.name))
	}
	if errno != 0 {
		return 0, errno
	}
	return uint32(len(data)), 0
}
