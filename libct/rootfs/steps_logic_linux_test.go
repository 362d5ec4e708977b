package rootfs

import (
	"os"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// fromDev cuts ops to the /dev setup.
func fromDev(ops []string) []string {
	for i, o := range ops {
		if o == "umask 0" {
			return ops[i:]
		}
	}
	return nil
}

// TestSetupDevOperations checks how /dev is populated.
func TestSetupDevOperations(t *testing.T) {
	d := fr + "/dev"
	defaults := []string{
		"mknod " + d + "/null c 1:3 0666", "mknod " + d + "/zero c 1:5 0666", "mknod " + d + "/full c 1:7 0666",
		"mknod " + d + "/random c 1:8 0666", "mknod " + d + "/urandom c 1:9 0666", "mknod " + d + "/tty c 5:0 0666",
	}
	links := []string{
		"symlink " + d + "/fd -> /proc/self/fd", "symlink " + d + "/stdin -> /proc/self/fd/0",
		"symlink " + d + "/stdout -> /proc/self/fd/1", "symlink " + d + "/stderr -> /proc/self/fd/2",
	}
	devpts := &configs.Mount{Source: "devpts", Destination: "/dev/pts", Type: "devpts"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		setup   func(f *fakeSys, c *configs.Config)
		mounts  []*configs.Mount
		devices []specs.LinuxDevice
		want    []string
	}{
		{
			name: "defaults and symlinks, no devpts so no ptmx link",
			want: cat([]string{"umask 0"}, defaults, links, []string{"umask 022"}),
		},
		{
			name:   "devpts gets /dev/ptmx -> pts/ptmx and a /dev/ptmx device is skipped",
			mounts: []*configs.Mount{devpts},
			devices: []specs.LinuxDevice{
				{Path: "/dev/ptmx", Type: "c", Major: 5, Minor: 2},
			},
			setup: func(f *fakeSys, _ *configs.Config) { f.files[d+"/ptmx"] = unix.S_IFCHR | 0o666 },
			want: cat([]string{"mkdir " + d + "/pts", "fsmount devpts devpts [] 0", "move_mount new:devpts -> " + d + "/pts", "umask 0"}, defaults, links,
				[]string{"unlink " + d + "/ptmx", "symlink " + d + "/ptmx -> pts/ptmx", "umask 022"}),
		},
		{
			name:  "/dev/core when the kernel has /proc/kcore",
			setup: func(f *fakeSys, _ *configs.Config) { f.files["/proc/kcore"] = unix.S_IFREG | 0o400 },
			want:  cat([]string{"umask 0"}, defaults, links, []string{"symlink " + d + "/core -> /proc/kcore", "umask 022"}),
		},
		{
			name: "linux.devices: override a default, nested path, owner, block and fifo",
			devices: []specs.LinuxDevice{
				{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o600)},
				{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, UID: u32(1000), GID: u32(2000)},
				{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0, FileMode: fileMode(0o660)},
				{Path: "/dev/fifo", Type: "p"},
			},
			want: cat([]string{"umask 0", "mknod " + d + "/null c 1:3 0600"}, defaults[1:], []string{
				"mkdir " + d + "/net", "mknod " + d + "/net/tun c 10:200 0666", "chown " + d + "/net/tun 1000:2000",
				"mknod " + d + "/sda b 8:0 0660", "mknod " + d + "/fifo p 0:0 0666",
			}, links, []string{"umask 022"}),
		},
		{
			name: "whatever is in the way is unlinked, never followed",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.files[d+"/null"] = unix.S_IFLNK | 0o777
				f.files[d+"/fd"] = unix.S_IFLNK | 0o777 // symlinks already there are kept
			},
			want: cat([]string{"umask 0", "unlink " + d + "/null"}, defaults, links[1:], []string{"umask 022"}),
		},
		{
			name: "a device already mounted there is kept",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.files[d+"/fuse"] = unix.S_IFCHR | 0o600
				f.rdev[d+"/fuse"] = unix.Mkdev(10, 229)
				f.busy[d+"/fuse"] = true
			},
			devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, UID: u32(1000)}},
			want:    cat([]string{"umask 0"}, defaults, links, []string{"umask 022"}),
		},
		{
			name: "the same device already there is made anew",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.files[d+"/fuse"] = unix.S_IFCHR | 0o600
				f.rdev[d+"/fuse"] = unix.Mkdev(10, 229)
			},
			devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
			want: cat([]string{"umask 0"}, defaults,
				[]string{"unlink " + d + "/fuse", "mknod " + d + "/fuse c 10:229 0666"}, links, []string{"umask 022"}),
		},
		{
			name: "read-only /dev: the right nodes are kept, a wrong one is an error",
			setup: func(f *fakeSys, _ *configs.Config) {
				f.readonly = true
				for _, n := range []struct {
					name string
					dev  uint64
				}{{"null", unix.Mkdev(1, 3)}, {"zero", unix.Mkdev(1, 5)}, {"full", unix.Mkdev(1, 7)},
					{"random", unix.Mkdev(1, 8)}, {"urandom", unix.Mkdev(1, 9)}, {"tty", unix.Mkdev(5, 0)}} {
					f.files[d+"/"+n.name] = unix.S_IFCHR | 0o666
					f.rdev[d+"/"+n.name] = n.dev
				}
				f.files[d+"/fd"] = unix.S_IFLNK | 0o777
				f.files[d+"/stdin"] = unix.S_IFLNK | 0o777
				f.files[d+"/stdout"] = unix.S_IFLNK | 0o777
				f.files[d+"/stderr"] = unix.S_IFLNK | 0o777
			},
			want: []string{"umask 0", "umask 022"},
		},
		{
			name:  "user namespace: bind the runtime's nodes",
			setup: func(f *fakeSys, c *configs.Config) { c.Namespaces = []configs.Namespace{{Type: configs.NEWUSER}} },
			devices: []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, UID: u32(1000)},
			},
			want: cat([]string{"umask 0"}, func() []string {
				var out []string
				for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty", "fuse"} {
					out = append(out, "create "+d+"/"+n+" 0666", "open_tree /dev/"+n, "move_mount tree:/dev/"+n+" -> "+d+"/"+n)
				}
				return out
			}(), links, []string{"umask 022"}),
		},
		{
			name:  "mknod refused: fall back to a bind",
			setup: func(f *fakeSys, _ *configs.Config) { f.fail["mknod "+d+"/tty"] = unix.EPERM },
			want: cat([]string{"umask 0"}, defaults[:5], []string{
				"mknod " + d + "/tty c 5:0 0666 = operation not permitted",
				"create " + d + "/tty 0666", "open_tree /dev/tty", "move_mount tree:/dev/tty -> " + d + "/tty",
			}, links, []string{"umask 022"}),
		},
		{
			name:   "a bind-mounted /dev is left alone",
			mounts: []*configs.Mount{{Source: "/dev", Destination: "/dev", Type: "bind", Bind: true, Recursive: true}},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(fr+"/dev", "/dev")
			for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty", "fuse"} {
				f.files["/dev/"+n] = unix.S_IFCHR | 0o666
			}
			c := &configs.Config{Rootfs: fr, Mounts: tt.mounts, Devices: tt.devices}
			if tt.setup != nil {
				tt.setup(f, c)
			}
			if err := mountAll(f, c, nil); err != nil {
				t.Fatalf("mountAll: %v\nops: %q", err, f.ops)
			}
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
			got := fromDev(f.ops)
			if tt.mounts != nil && len(tt.mounts) > 0 && tt.mounts[0].Type == "devpts" {
				got = f.ops // the devpts mount is part of the expectation
			}
			diffOps(t, got, tt.want)
		})
	}
}

// TestPrepareOperations checks root propagation and the shared-parent
// check, which reads the mount table only when it can matter.
func TestPrepareOperations(t *testing.T) {
	table := []*mountinfo.Info{
		{Mountpoint: "/"},
		{Mountpoint: "/fake", Optional: "shared:5"},
		{Mountpoint: "/fakeother", Optional: "shared:6"},
	}
	bind := "mount " + fr + " on " + fr + " type=bind flags=bind,rec"
	tests := []struct {
		name string
		prop uintptr
		want []string
	}{
		{"default rslave", 0, []string{"mount  on / type= flags=rec,slave", bind}},
		// Anything but shared is applied after the pivot
		// (applyRootPropagation); before it, / is rslave.
		{"rprivate", unix.MS_PRIVATE | unix.MS_REC, []string{"mount  on / type= flags=rec,slave", bind}},
		{"runbindable", unix.MS_UNBINDABLE | unix.MS_REC, []string{"mount  on / type= flags=rec,slave", bind}},
		{"rshared", unix.MS_SHARED | unix.MS_REC, []string{"mount  on / type= flags=rec,shared", "mount  on /fake type= flags=private", bind}},
		{"shared, not recursive", unix.MS_SHARED, []string{"mount  on / type= flags=shared", "mount  on /fake type= flags=private", bind}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(fr)
			f.mountinfo = table
			if err := prepare(f, &configs.Config{Rootfs: fr, RootPropagation: tt.prop}); err != nil {
				t.Fatal(err)
			}
			diffOps(t, f.ops, tt.want)
		})
	}
}

// TestPivotRootOperations checks both ways into the rootfs.
func TestPivotRootOperations(t *testing.T) {
	tests := []struct {
		name    string
		noPivot bool
		fail    map[string]error
		want    []string
	}{
		{
			name: "pivot_root",
			want: []string{
				"fchdir " + fr, "pivot_root . .", "fchdir /", "mount  on . type= flags=rec,slave",
				"umount . 0x2", "chdir /",
			},
		},
		{
			name:    "no pivot: host proc and sysfs detached or covered, then move and chroot",
			noPivot: true,
			fail:    map[string]error{"umount /sys ": unix.EPERM},
			want: []string{
				"mount  on /proc type= flags=rec,slave", "umount /proc 0x2",
				"mount  on /sys type= flags=rec,slave", "umount /sys 0x2 = operation not permitted",
				"mount tmpfs on /sys type=tmpfs flags=0",
				"chdir " + fr, "mount " + fr + " on / type= flags=move", "chroot .", "chdir /",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys(fr)
			f.fail = tt.fail
			f.mountinfo = []*mountinfo.Info{
				{Mountpoint: "/proc", Root: "/", FSType: "proc"},
				{Mountpoint: "/sys", Root: "/", FSType: "sysfs"},
				{Mountpoint: "/sys/kernel/debug", Root: "/", FSType: "debugfs"},
				{Mountpoint: "/run/netns/x", Root: "/1234/ns/net", FSType: "proc"}, // not a full mount
				{Mountpoint: fr + "/proc", Root: "/", FSType: "proc"},              // the container's
			}
			if err := pivotRoot(f, &configs.Config{Rootfs: fr, NoPivotRoot: tt.noPivot}); err != nil {
				t.Fatalf("pivotRoot: %v\nops: %q", err, f.ops)
			}
			diffOps(t, f.ops, tt.want)
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
		})
	}
}

// TestFinalizeOperations checks read-only and masked paths, the deferred
// read-only tmpfs mounts and the read-only root, after the pivot.
func TestFinalizeOperations(t *testing.T) {
	setup := func() *fakeSys {
		f := newFakeSys("/proc/sys", "/proc/acpi", "/proc/scsi", "/dev", "/tmp")
		f.files["/proc/kcore"] = unix.S_IFREG | 0o400
		f.files["/proc/timer_list"] = unix.S_IFREG | 0o400
		f.files["/dev/null"] = unix.S_IFCHR | 0o666
		f.rdev["/dev/null"] = unix.Mkdev(1, 3)
		return f
	}
	tests := []struct {
		name    string
		c       configs.Config
		devNull func(f *fakeSys)
		want    []string
		wantErr string
	}{
		{
			name: "read-only paths, recursive, missing ones skipped",
			c:    configs.Config{ReadonlyPaths: []string{"/proc/sys", "/proc/missing"}},
			want: []string{"open_tree /proc/sys rec", "setattr tree:/proc/sys set=ro rec", "move_mount tree:/proc/sys -> /proc/sys"},
		},
		{
			name: "masked files get /dev/null, directories one read-only tmpfs",
			c:    configs.Config{MaskedPaths: []string{"/proc/kcore", "/proc/acpi", "/proc/missing", "/proc/timer_list", "/proc/scsi"}},
			want: []string{
				"open_tree /dev/null", "move_mount tree:/dev/null -> /proc/kcore",
				"fsmount tmpfs tmpfs [ro] ro,nosuid,nodev,noexec", "move_mount new:tmpfs -> /proc/acpi",
				"open_tree /dev/null", "move_mount tree:/dev/null -> /proc/timer_list",
				"open_tree new:tmpfs", "move_mount tree:new:tmpfs -> /proc/scsi",
			},
		},
		{
			name:    "a /dev/null that is not 1:3 is refused (CVE-2025-31133)",
			c:       configs.Config{MaskedPaths: []string{"/proc/kcore"}},
			devNull: func(f *fakeSys) { f.rdev["/dev/null"] = unix.Mkdev(1, 5) },
			wantErr: "masked path /proc/kcore: refusing to mask with /dev/null: it is not the null device (mode 020666, device 1:5)",
		},
		{
			name:    "a /dev/null that is a regular file is refused",
			c:       configs.Config{MaskedPaths: []string{"/proc/kcore"}},
			devNull: func(f *fakeSys) { f.files["/dev/null"] = unix.S_IFREG | 0o666; f.rdev["/dev/null"] = 0 },
			wantErr: "masked path /proc/kcore: refusing to mask with /dev/null: it is not the null device",
		},
		{
			name: "deferred read-only tmpfs and /dev, then read-only /",
			c: configs.Config{Readonly: true, Mounts: []*configs.Mount{
				{Destination: "/dev", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY},
				{Destination: "/tmp", Type: "tmpfs", Attr: unix.MOUNT_ATTR_RDONLY},
				{Destination: "/proc/sys", Type: "bind", Bind: true, Attr: unix.MOUNT_ATTR_RDONLY}, // already read-only
				{Destination: "/proc", Type: "proc", Attr: unix.MOUNT_ATTR_RDONLY},                 // read-only at mount time
			}},
			want: []string{"setattr /dev set=ro", "setattr /tmp set=ro", "setattr / set=ro"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup()
			if tt.devNull != nil {
				tt.devNull(f)
			}
			c := tt.c
			err := finalize(f, &c)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("finalize: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("finalize: %v\nops: %q", err, f.ops)
			}
			diffOps(t, f.ops, tt.want)
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
		})
	}
}

// TestBindConsoleOperations checks the checks made on both ends.
func TestBindConsoleOperations(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fakeSys)
		pts     string
		want    []string
		wantErr string
	}{
		{
			name: "new /dev/console",
			pts:  "/dev/pts/3",
			want: []string{"create /dev/console 0666", "open_tree /dev/pts/3", "move_mount tree:/dev/pts/3 -> /dev/console"},
		},
		{
			name:  "existing regular file",
			pts:   "/dev/pts/3",
			setup: func(f *fakeSys) { f.files["/dev/console"] = unix.S_IFREG | 0o600 },
			want:  []string{"open_tree /dev/pts/3", "move_mount tree:/dev/pts/3 -> /dev/console"},
		},
		{
			name:    "symlink refused",
			pts:     "/dev/pts/3",
			setup:   func(f *fakeSys) { f.files["/dev/console"] = unix.S_IFLNK | 0o777 },
			wantErr: "console: refusing to bind over /dev/console: it is not a regular file or a device (mode 0120777)",
		},
		{
			name:    "source not on devpts",
			pts:     "/dev/pts/3",
			setup:   func(f *fakeSys) { f.fstype["/dev/pts"] = unix.TMPFS_MAGIC },
			wantErr: "console: /dev/pts/3 is not a pty on a devpts",
		},
		{
			name:    "source not a device",
			pts:     "/dev/pts/3",
			setup:   func(f *fakeSys) { f.files["/dev/pts/3"] = unix.S_IFREG | 0o600 },
			wantErr: "console: /dev/pts/3 is not a pty on a devpts",
		},
		{
			name:    "source path escaping",
			pts:     "/dev/pts/../../etc/shadow",
			wantErr: "console: /dev/pts/../../etc/shadow escapes the rootfs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSys("/dev/pts")
			f.files["/dev/pts/3"] = unix.S_IFCHR | 0o620
			f.fstype["/dev/pts"] = unix.DEVPTS_SUPER_MAGIC
			if tt.setup != nil {
				tt.setup(f)
			}
			err := bindConsole(f, tt.pts, nil)
			if opened := f.next - 100; f.closed != opened {
				t.Errorf("%d fds opened, %d closed", opened, f.closed)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("bindConsole: %v, want %q", err, tt.wantErr)
				}
				if len(f.ops) != 0 && strings.HasPrefix(f.ops[len(f.ops)-1], "move_mount") {
					t.Errorf("mounted anyway: %q", f.ops)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			diffOps(t, f.ops, tt.want)
		})
	}
}

// TestOpenSources checks what the runtime prepares for init when the
// container has its own user namespace.
func TestOpenSources(t *testing.T) {
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}}
	c := &configs.Config{Rootfs: fr, Mounts: []*configs.Mount{
		{Source: "tmpfs", Destination: "/tmp", Type: "tmpfs"},
		{Source: "/host/dir", Destination: "/a", Type: "bind", Bind: true, Recursive: true, UIDMappings: idmap, GIDMappings: idmap},
		{Source: "/host/dir", Destination: "/b", Type: "bind", Bind: true},
	}}
	if NeedsSources(c) {
		t.Fatal("NeedsSources without a user namespace")
	}
	c.Namespaces = []configs.Namespace{{Type: configs.NEWUSER}}
	if !NeedsSources(c) {
		t.Fatal("no NeedsSources with a user namespace and an idmapped mount")
	}
	f := newFakeSys("/host/dir")
	src, err := openSources(f, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(src) != 1 || src[1] == nil {
		t.Fatalf("sources %v, want one for mounts[1]", src)
	}
	diffOps(t, f.ops, []string{
		"open_tree /host/dir rec", "userns u0:1000:10,g0:1000:10,",
		"setattr tree:/host/dir set=idmap userns=userns:u0:1000:10,g0:1000:10,",
	})

	// In init the prepared source is used as is: no open_tree, no idmap.
	f = newFakeSys("/host/dir", fr, "/dev")
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		f.files["/dev/"+n] = unix.S_IFCHR | 0o666
	}
	tree, err := os.Open(os.DevNull) // stands for the detached tree
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	f.names[int(tree.Fd())] = "tree:/host/dir"
	if err := mountAll(f, c, Sources{1: tree}); err != nil {
		t.Fatal(err)
	}
	diffOps(t, untilDev(f.ops), []string{
		"mkdir " + fr + "/tmp", "fsmount tmpfs tmpfs [] 0", "move_mount new:tmpfs -> " + fr + "/tmp",
		"mkdir " + fr + "/a", "move_mount tree:/host/dir -> " + fr + "/a",
		"open_tree /host/dir", "mkdir " + fr + "/b", "move_mount tree:/host/dir -> " + fr + "/b",
		"mkdir " + fr + "/dev",
	})
}

// TestReadonlyDevWrongNode: on a read-only /dev a node that is not the
// asked one cannot be replaced, and that is an error.
func TestReadonlyDevWrongNode(t *testing.T) {
	f := newFakeSys(fr + "/dev")
	f.readonly = true
	f.files[fr+"/dev/null"] = unix.S_IFREG | 0o644
	err := mountAll(f, &configs.Config{Rootfs: fr}, nil)
	const want = "devices: /dev/null: mknod: remove what is in the way: read-only file system"
	if err == nil || err.Error() != want {
		t.Fatalf("mountAll: %v, want %q", err, want)
	}
}
