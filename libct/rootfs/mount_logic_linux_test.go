package rootfs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

const fr = "/fake/rootfs" // the rootfs of the logic tests

// untilDev cuts the /dev setup (which starts with "umask 0") off ops.
func untilDev(ops []string) []string {
	for i, o := range ops {
		if o == "umask 0" {
			return ops[:i]
		}
	}
	return ops
}

func diffOps(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operations:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestMountAllOperations checks, without root, what MountAll asks of the
// kernel for each kind of mount, and in which order.
func TestMountAllOperations(t *testing.T) {
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
	v1info := []*mountinfo.Info{
		{Mountpoint: "/sys/fs/cgroup/memory", Root: "/", FSType: "cgroup", VFSOptions: "rw,memory"},
		{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/", FSType: "cgroup", VFSOptions: "rw,cpu,cpuacct"},
		{Mountpoint: "/sys/fs/cgroup/systemd", Root: "/", FSType: "cgroup", VFSOptions: "rw,xattr,name=systemd"},
		{Mountpoint: "/sys/fs/cgroup/other", Root: "/", FSType: "cgroup", VFSOptions: "rw,name=other"},
	}
	const ownCgroup = "4:memory:/a/b\n2:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n"
	cgroupMount := &configs.Mount{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup",
		Attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_RELATIME | unix.MOUNT_ATTR_RDONLY, AttrClr: unix.MOUNT_ATTR__ATIME}
	bindSetattr := "setattr tree:/host/dir set=ro,nosuid clr=nodev,noexec,nodiratime,nosymfollow"

	tests := []struct {
		name   string
		setup  func(f *fakeSys, c *configs.Config)
		mounts []*configs.Mount
		want   []string
	}{
		{
			name:   "proc on an existing directory",
			mounts: []*configs.Mount{{Source: "proc", Destination: "/proc", Type: "proc"}},
			want:   []string{"fsmount proc proc [] 0", "move_mount new:proc -> " + fr + "/proc"},
		},
		{
			name:   "tmpfs read-only is deferred and keeps the directory's mode",
			setup:  func(f *fakeSys, _ *configs.Config) { f.files[fr+"/tmp"] = unix.S_IFDIR | 0o1777 },
			mounts: []*configs.Mount{{Source: "tmpfs", Destination: "/tmp", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, Data: []string{"size=1m"}}},
			want:   []string{"fsmount tmpfs tmpfs [mode=1777 size=1m] nosuid", "move_mount new:tmpfs -> " + fr + "/tmp"},
		},
		{
			name:   "tmpfs with its own mode on a new directory",
			mounts: []*configs.Mount{{Source: "tmpfs", Destination: "/a/b", Type: "tmpfs", Data: []string{"mode=700"}}},
			want: []string{
				"mkdir " + fr + "/a", "mkdir " + fr + "/a/b",
				"fsmount tmpfs tmpfs [mode=700] 0", "move_mount new:tmpfs -> " + fr + "/a/b",
			},
		},
		{
			name:   "SELinux label: context= on tmpfs, none on proc, mqueue relabelled",
			setup:  func(_ *fakeSys, c *configs.Config) { c.MountLabel = "system_u:object_r:container_file_t:s0" },
			mounts: []*configs.Mount{{Source: "shm", Destination: "/shm", Type: "tmpfs", Data: []string{"mode=1777"}}, {Source: "mqueue", Destination: "/mq", Type: "mqueue"}},
			want: []string{
				"mkdir " + fr + "/shm",
				"fsmount tmpfs shm [mode=1777 context=system_u:object_r:container_file_t:s0] 0",
				"move_mount new:tmpfs -> " + fr + "/shm",
				"mkdir " + fr + "/mq",
				"fsmount mqueue mqueue [] 0",
				// labelled before it is attached
				"setxattr new:mqueue security.selinux=system_u:object_r:container_file_t:s0",
				"move_mount new:mqueue -> " + fr + "/mq",
			},
		},
		{
			name:   "rbind ro,nosuid of a directory",
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/data", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}},
			want: []string{
				"open_tree /host/dir rec", "mkdir " + fr + "/data", bindSetattr,
				"move_mount tree:/host/dir -> " + fr + "/data",
			},
		},
		{
			name:   "plain bind of a file keeps the source's flags",
			mounts: []*configs.Mount{{Source: "/host/file", Destination: "/etc/resolv.conf", Type: "bind", Bind: true}},
			want: []string{
				"open_tree /host/file", "create " + fr + "/etc/resolv.conf 0755",
				"move_mount tree:/host/file -> " + fr + "/etc/resolv.conf",
			},
		},
		{
			name:   "flags locked by a user namespace are kept, explicit clears still done",
			setup:  func(f *fakeSys, _ *configs.Config) { f.fail[bindSetattr] = unix.EPERM },
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/data", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, AttrClr: unix.MOUNT_ATTR_NOEXEC}},
			want: []string{
				"open_tree /host/dir rec", "mkdir " + fr + "/data",
				bindSetattr + " = operation not permitted",
				"setattr tree:/host/dir set=ro,nosuid clr=noexec",
				"move_mount tree:/host/dir -> " + fr + "/data",
			},
		},
		{
			name:   "remount option changes only what is named",
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/data", Type: "bind", Bind: true, Remount: true, Attr: unix.MOUNT_ATTR_NOEXEC}},
			want: []string{
				"open_tree /host/dir", "mkdir " + fr + "/data",
				"setattr tree:/host/dir set=noexec",
				"move_mount tree:/host/dir -> " + fr + "/data",
			},
		},
		{
			name: "idmapped binds share one user namespace per mapping",
			mounts: []*configs.Mount{
				{Source: "/host/dir", Destination: "/a", Type: "bind", Bind: true, Recursive: true, UIDMappings: idmap, GIDMappings: idmap, IDMapRecursive: true},
				{Source: "/host/dir", Destination: "/b", Type: "bind", Bind: true, UIDMappings: idmap, GIDMappings: idmap},
			},
			want: []string{
				"open_tree /host/dir rec", "userns u0:1000:10,g0:1000:10,",
				"setattr tree:/host/dir set=idmap userns=userns:u0:1000:10,g0:1000:10, rec",
				"mkdir " + fr + "/a", "move_mount tree:/host/dir -> " + fr + "/a",
				"open_tree /host/dir",
				"setattr tree:/host/dir set=idmap userns=userns:u0:1000:10,g0:1000:10,",
				"mkdir " + fr + "/b", "move_mount tree:/host/dir -> " + fr + "/b",
			},
		},
		{
			name:   "propagation and recursive attributes of a tmpfs",
			mounts: []*configs.Mount{{Source: "tmpfs", Destination: "/x", Type: "tmpfs", PropagationFlags: []uintptr{unix.MS_SHARED}, RecAttrSet: unix.MOUNT_ATTR_NOSUID}},
			want: []string{
				"mkdir " + fr + "/x", "fsmount tmpfs tmpfs [] 0",
				"setattr new:tmpfs set=nosuid rec", "move_mount new:tmpfs -> " + fr + "/x",
				"setattr new:tmpfs prop=shared",
			},
		},
		{
			name:   "propagation of a bind is set once attached",
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/x", Type: "bind", Bind: true, Recursive: true, PropagationFlags: []uintptr{unix.MS_SLAVE | unix.MS_REC}}},
			want: []string{
				"open_tree /host/dir rec", "mkdir " + fr + "/x", "move_mount tree:/host/dir -> " + fr + "/x",
				"setattr tree:/host/dir prop=slave rec",
			},
		},
		{
			name: "sysfs refused in a user namespace falls back to binding /sys",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.fail["fsmount sysfs"] = unix.EPERM
				f.addDir("/sys")
				f.fstype["/sys"] = unix.SYSFS_MAGIC
			},
			mounts: []*configs.Mount{{Source: "sysfs", Destination: "/sys", Type: "sysfs", Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
			want: []string{
				"mkdir " + fr + "/sys",
				"fsmount sysfs sysfs [ro] ro,nosuid,nodev,noexec = operation not permitted",
				"open_tree /sys rec",
				"setattr tree:/sys set=ro,nosuid,nodev,noexec clr=nodiratime,nosymfollow",
				// and on its submounts: the host's cgroup, securityfs, ... mounts
				"setattr tree:/sys set=ro,nosuid,nodev,noexec rec",
				"move_mount tree:/sys -> " + fr + "/sys",
			},
		},
		{
			name:   "a recursive bind of sysfs: its ro and no* attributes reach its submounts",
			setup:  func(f *fakeSys, _ *configs.Config) { f.addDir("/sys"); f.fstype["/sys"] = unix.SYSFS_MAGIC },
			mounts: []*configs.Mount{{Source: "/sys", Destination: "/sys", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, RecAttrClr: unix.MOUNT_ATTR_RDONLY}},
			want: []string{
				"open_tree /sys rec", "mkdir " + fr + "/sys",
				"setattr tree:/sys set=ro,nosuid clr=nodev,noexec,nodiratime,nosymfollow",
				"setattr tree:/sys set=ro,nosuid rec",
				"move_mount tree:/sys -> " + fr + "/sys",
			},
		},
		{
			name:   "a recursive bind of anything else: ro on the top mount only",
			setup:  func(f *fakeSys, _ *configs.Config) { f.addDir("/sys") },
			mounts: []*configs.Mount{{Source: "/sys", Destination: "/sys", Type: "bind", Bind: true, Recursive: true, Attr: unix.MOUNT_ATTR_RDONLY}},
			want: []string{
				"open_tree /sys rec", "mkdir " + fr + "/sys",
				"setattr tree:/sys set=ro clr=nosuid,nodev,noexec,nodiratime,nosymfollow",
				"move_mount tree:/sys -> " + fr + "/sys",
			},
		},
		{
			name: "cgroup v1 from the mount table, in its order: tmpfs, the container's cgroups, symlinks, read-only",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.mountinfo, f.cgroup = v1info, ownCgroup
				f.addDir("/sys/fs/cgroup/memory/a/b")
				f.addDir("/sys/fs/cgroup/cpu,cpuacct/a")
				f.addDir("/sys/fs/cgroup/systemd/s")
			},
			mounts: []*configs.Mount{cgroupMount},
			want: []string{
				"mkdir " + fr + "/sys", "mkdir " + fr + "/sys/fs", "mkdir " + fr + "/sys/fs/cgroup",
				"fsmount tmpfs tmpfs [mode=755] nosuid,nodev,noexec",
				"move_mount new:tmpfs -> " + fr + "/sys/fs/cgroup",
				"mkdir new:tmpfs/memory",
				"open_tree /sys/fs/cgroup/memory/a/b rec",
				"setattr tree:/sys/fs/cgroup/memory/a/b set=ro,nosuid,nodev,noexec clr=atime,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/memory/a/b -> new:tmpfs/memory",
				"mkdir new:tmpfs/cpu,cpuacct",
				"open_tree /sys/fs/cgroup/cpu,cpuacct/a rec",
				"setattr tree:/sys/fs/cgroup/cpu,cpuacct/a set=ro,nosuid,nodev,noexec clr=atime,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/cpu,cpuacct/a -> new:tmpfs/cpu,cpuacct",
				"mkdir new:tmpfs/systemd",
				"open_tree /sys/fs/cgroup/systemd/s rec",
				"setattr tree:/sys/fs/cgroup/systemd/s set=ro,nosuid,nodev,noexec clr=atime,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/systemd/s -> new:tmpfs/systemd",
				"symlink new:tmpfs/cpu -> cpu,cpuacct",
				"symlink new:tmpfs/cpuacct -> cpu,cpuacct",
				"setattr new:tmpfs set=ro",
			},
		},
		{
			name: "cgroup v1 in the usual layout is found without the mount table",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.cgroup = "4:memory:/a/b\n1:name=systemd:/s\n0::/u\n" // f.mountinfo stays empty
				f.fstype["/sys/fs/cgroup/memory"] = unix.CGROUP_SUPER_MAGIC
				f.fstype["/sys/fs/cgroup/systemd"] = unix.CGROUP_SUPER_MAGIC
				f.addDir("/sys/fs/cgroup/memory/a/b")
				f.addDir("/sys/fs/cgroup/systemd/s")
				f.addDir(fr + "/sys/fs/cgroup")
			},
			mounts: []*configs.Mount{{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup", Attr: unix.MOUNT_ATTR_NOSUID}},
			want: []string{
				"fsmount tmpfs tmpfs [mode=755] nosuid,nodev,noexec",
				"move_mount new:tmpfs -> " + fr + "/sys/fs/cgroup",
				"mkdir new:tmpfs/systemd",
				"open_tree /sys/fs/cgroup/systemd/s rec",
				"setattr tree:/sys/fs/cgroup/systemd/s set=nosuid clr=ro,nodev,noexec,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/systemd/s -> new:tmpfs/systemd",
				"mkdir new:tmpfs/memory",
				"open_tree /sys/fs/cgroup/memory/a/b rec",
				"setattr tree:/sys/fs/cgroup/memory/a/b set=nosuid clr=ro,nodev,noexec,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/memory/a/b -> new:tmpfs/memory",
			},
		},
		{
			name: "cgroup v1 with a cgroup namespace mounts each hierarchy",
			setup: func(f *fakeSys, c *configs.Config) {
				f.mountinfo, f.cgroup = v1info[:1], ownCgroup
				f.addDir(fr + "/sys/fs/cgroup")
				c.Namespaces = []configs.Namespace{{Type: configs.NEWCGROUP}}
			},
			mounts: []*configs.Mount{cgroupMount},
			want: []string{
				"fsmount tmpfs tmpfs [mode=755] nosuid,nodev,noexec",
				"move_mount new:tmpfs -> " + fr + "/sys/fs/cgroup",
				"mkdir new:tmpfs/memory",
				"fsmount cgroup cgroup [ro memory] ro,nosuid,nodev,noexec",
				"move_mount new:cgroup -> new:tmpfs/memory",
				"setattr new:tmpfs set=ro",
			},
		},
		{
			name: "cgroup on a cgroup v2 host",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.fstype["/sys/fs/cgroup"] = unix.CGROUP2_SUPER_MAGIC
				f.addDir(fr + "/sys/fs/cgroup")
			},
			mounts: []*configs.Mount{cgroupMount},
			want:   []string{"fsmount cgroup2 cgroup [ro] ro,nosuid,nodev,noexec", "move_mount new:cgroup2 -> " + fr + "/sys/fs/cgroup"},
		},
		{
			name: "cgroup2 refused: bind of the own cgroup with a cgroup namespace",
			setup: func(f *fakeSys, c *configs.Config) {
				f.fstype["/sys/fs/cgroup"] = unix.CGROUP2_SUPER_MAGIC
				f.fail["fsmount cgroup2"] = unix.EPERM
				f.cgroup = "0::/u\n"
				f.addDir("/sys/fs/cgroup/u")
				f.addDir(fr + "/sys/fs/cgroup")
				c.Namespaces = []configs.Namespace{{Type: configs.NEWCGROUP}}
			},
			mounts: []*configs.Mount{{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup2", Attr: unix.MOUNT_ATTR_RDONLY}},
			want: []string{
				"fsmount cgroup2 cgroup [ro] ro = operation not permitted",
				"open_tree /sys/fs/cgroup/u rec",
				"setattr tree:/sys/fs/cgroup/u set=ro clr=nosuid,nodev,noexec,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup/u -> " + fr + "/sys/fs/cgroup",
			},
		},
		{
			name: "cgroup2 refused without a cgroup namespace: the host's hierarchy, read-only throughout",
			setup: func(f *fakeSys, c *configs.Config) {
				f.fstype["/sys/fs/cgroup"] = unix.CGROUP2_SUPER_MAGIC
				f.fail["fsmount cgroup2"] = unix.EPERM
				f.addDir(fr + "/sys/fs/cgroup")
				f.addDir("/sys/fs/cgroup")
			},
			mounts: []*configs.Mount{{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup2", Attr: unix.MOUNT_ATTR_NOSUID}},
			want: []string{
				"fsmount cgroup2 cgroup [] nosuid = operation not permitted",
				"open_tree /sys/fs/cgroup rec",
				"setattr tree:/sys/fs/cgroup set=ro,nosuid clr=nodev,noexec,nodiratime,nosymfollow",
				"setattr tree:/sys/fs/cgroup set=ro rec",
				"move_mount tree:/sys/fs/cgroup -> " + fr + "/sys/fs/cgroup",
			},
		},
		{
			name: "cgroup2 refused without a cgroup namespace, rw asked: as asked",
			setup: func(f *fakeSys, c *configs.Config) {
				f.fstype["/sys/fs/cgroup"] = unix.CGROUP2_SUPER_MAGIC
				f.fail["fsmount cgroup2"] = unix.EPERM
				f.addDir(fr + "/sys/fs/cgroup")
				f.addDir("/sys/fs/cgroup")
			},
			mounts: []*configs.Mount{{Source: "cgroup", Destination: "/sys/fs/cgroup", Type: "cgroup2", AttrClr: unix.MOUNT_ATTR_RDONLY}},
			want: []string{
				"fsmount cgroup2 cgroup [] 0 = operation not permitted",
				"open_tree /sys/fs/cgroup rec",
				"setattr tree:/sys/fs/cgroup clr=ro,nosuid,nodev,noexec,nodiratime,nosymfollow",
				"move_mount tree:/sys/fs/cgroup -> " + fr + "/sys/fs/cgroup",
			},
		},
		{
			name:   "remount of a filesystem: its options, then exactly the asked attributes",
			setup:  func(f *fakeSys, c *configs.Config) { f.addDir(fr + "/run") },
			mounts: []*configs.Mount{{Destination: "/run", Type: "tmpfs", Remount: true, Attr: unix.MOUNT_ATTR_NOEXEC, Data: []string{"size=2m"}}},
			want: []string{
				"reconfigure " + fr + "/run [rw size=2m]",
				"setattr " + fr + "/run set=noexec clr=ro,nosuid,nodev,nodiratime,nosymfollow",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(fr+"/proc", fr+"/dev", fr+"/etc", "/host/dir")
			f.files["/host/file"] = unix.S_IFREG | 0o644
			c := &configs.Config{Rootfs: fr, Mounts: tt.mounts}
			if tt.setup != nil {
				tt.setup(f, c)
			}
			if err := mountAll(f, c, nil); err != nil {
				t.Fatalf("mountAll: %v\nops: %q", err, f.ops)
			}
			diffOps(t, untilDev(f.ops), tt.want)
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
		})
	}
}

// TestMountAllErrors checks the error of each failing step: it names the
// mount index and what failed.
func TestMountAllErrors(t *testing.T) {
	tests := []struct {
		name   string
		fail   map[string]error
		mounts []*configs.Mount
		want   string
	}{
		{
			name:   "mount refused",
			fail:   map[string]error{"fsmount tmpfs": unix.EPERM},
			mounts: []*configs.Mount{{Source: "proc", Destination: "/proc", Type: "proc"}, {Source: "tmpfs", Destination: "/x", Type: "tmpfs"}},
			want:   "mounts[1]: mount tmpfs on /x (tmpfs): create: operation not permitted",
		},
		{
			name:   "move_mount refused",
			fail:   map[string]error{"move_mount": unix.EINVAL},
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/x", Type: "bind", Bind: true}},
			want:   "mounts[0]: bind /host/dir on /x: move_mount: invalid argument",
		},
		{
			name:   "mount point cannot be made",
			fail:   map[string]error{"mkdir": unix.EROFS},
			mounts: []*configs.Mount{{Source: "tmpfs", Destination: "/x", Type: "tmpfs"}},
			want:   "mounts[0]: create mount point /x: mkdir /x: read-only file system",
		},
		{
			name:   "propagation refused",
			fail:   map[string]error{"setattr": unix.EINVAL},
			mounts: []*configs.Mount{{Source: "tmpfs", Destination: "/proc", Type: "proc", PropagationFlags: []uintptr{unix.MS_PRIVATE}}},
			want:   "mounts[0]: set propagation 0x40000 of /proc: mount_setattr: invalid argument",
		},
		{
			name:   "idmap user namespace refused",
			fail:   map[string]error{"userns": unix.EPERM},
			mounts: []*configs.Mount{{Source: "/host/dir", Destination: "/x", Type: "bind", Bind: true, UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}},
			want:   "mounts[0]: idmapped bind /host/dir on /x: make user namespace for the mapping: operation not permitted",
		},
		{
			name:   "device node refused",
			fail:   map[string]error{"mknod " + fr + "/dev/zero": unix.EROFS},
			mounts: nil,
			want:   "devices: /dev/zero: mknod: read-only file system",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(fr+"/proc", fr+"/dev", "/host/dir")
			f.fail = tt.fail
			c := &configs.Config{Rootfs: fr, Mounts: tt.mounts}
			err := mountAll(f, c, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("mountAll: %v, want %q", err, tt.want)
			}
			// Every fd opened was closed.
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
		})
	}
}
