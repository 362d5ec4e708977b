package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mountTable prints "DEST FSTYPE PER-MOUNT-OPTS" for each mount point.
const mountTable = `awk '{ for (i = 7; $i != "-"; i++) ; print $5, $(i+1), $6 }' /proc/self/mountinfo`

// TestMounts checks config.json mounts, the default /dev, masked and
// readonly paths and a readonly rootfs from inside the container.
func TestMounts(t *testing.T) {
	t.Parallel()
	runInside(t, []insideCase{
		{
			name:   "default mounts",
			script: mountTable + ` | awk '{print $1, $2}'`,
			want: []string{
				"/proc proc", "/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs",
				"/dev/mqueue mqueue", "/sys sysfs",
			},
		},
		{
			name: "sys readonly",
			script: `if touch /sys/x 2>/dev/null; then echo sys-writable; else echo sys-readonly; fi
awk '$5 == "/sys" { print $6 }' /proc/self/mountinfo | tr , '\n'`,
			want: []string{"sys-readonly", "ro", "nosuid", "nodev", "noexec"},
		},
		{
			name: "tmpfs with options",
			edit: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{
					Destination: "/mnt/t", Type: "tmpfs", Source: "tmpfs",
					Options: []string{"nosuid", "nodev", "noexec", "size=1m", "mode=750"},
				})
			},
			script: `stat -c 'mode=%a' /mnt/t
awk '$5 == "/mnt/t" { print $6 }' /proc/self/mountinfo | tr , '\n'
grep ' /mnt/t ' /proc/self/mountinfo | sed 's/.* - //' | tr ', ' '\n\n'
echo hi > /mnt/t/f && cat /mnt/t/f`,
			want: []string{"mode=750", "rw", "nosuid", "nodev", "noexec", "size=1024k", "tmpfs", "hi"},
		},
		{
			name: "cgroup mount",
			edit: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{
					Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
					Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
				})
			},
			script: `ls /sys/fs/cgroup
[ -f /sys/fs/cgroup/pids/pids.max ] && echo pids-max
if mkdir /sys/fs/cgroup/pids/x 2>/dev/null; then echo cgroup-writable; else echo cgroup-readonly; fi`,
			want: []string{"memory", "pids", "cpu", "pids-max", "cgroup-readonly"},
		},
		{
			name: "default dev",
			script: `for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo "char $d"; done
for l in ptmx fd stdin stdout stderr; do [ -L /dev/$l ] && echo "link $l $(readlink /dev/$l)"; done
[ -d /dev/pts ] && echo dir-pts; [ -d /dev/shm ] && echo dir-shm
echo "zero $(head -c 5 /dev/zero | wc -c)"; echo x > /dev/null && echo null-ok
stat -c '%n %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty`,
			want: []string{
				"char null", "char zero", "char full", "char random", "char urandom", "char tty",
				"link ptmx pts/ptmx", "link fd /proc/self/fd", "link stdin /proc/self/fd/0",
				"link stdout /proc/self/fd/1", "link stderr /proc/self/fd/2",
				"dir-pts", "dir-shm", "zero 5", "null-ok",
				"/dev/null 1:3", "/dev/zero 1:5", "/dev/full 1:7", "/dev/random 1:8",
				"/dev/urandom 1:9", "/dev/tty 5:0",
			},
		},
		{
			name: "linux.devices",
			edit: func(s *specs.Spec) {
				mode := os.FileMode(0o640)
				uid, gid := uint32(1000), uint32(1000)
				s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{
					Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid,
				})
			},
			script: `stat -c '%n %F %t:%T %a %u:%g' /dev/fuse`,
			want:   []string{"/dev/fuse character special file a:e5 640 1000:1000"},
		},
		{
			name: "masked paths",
			edit: func(s *specs.Spec) {
				s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/etc/secretdir")
			},
			files: map[string]string{"/etc/secret": "s3cret\n", "/etc/secretdir/a": "x\n"},
			script: `echo "kcore $(cat /proc/kcore | wc -c)"
echo "acpi $(ls -A /proc/acpi 2>/dev/null | wc -l)"
echo "secret [$(cat /etc/secret)]"
echo "secretdir $(ls -A /etc/secretdir | wc -l)"
if touch /etc/secretdir/x 2>/dev/null; then echo secretdir-writable; else echo secretdir-readonly; fi`,
			want: []string{"kcore 0", "acpi 0", "secret []", "secretdir 0", "secretdir-readonly"},
		},
		{
			name: "readonly paths",
			edit: func(s *specs.Spec) {
				s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/etc")
			},
			script: `if echo x > /proc/sys/kernel/hostname 2>/dev/null; then echo procsys-writable; else echo procsys-readonly; fi
if touch /etc/x 2>/dev/null; then echo etc-writable; else echo etc-readonly; fi
if touch /tmp/x 2>/dev/null; then echo tmp-writable; else echo tmp-readonly; fi
cat /etc/hostname`,
			want: []string{"procsys-readonly", "etc-readonly", "tmp-writable", "rootfs"},
		},
		{
			name: "readonly rootfs",
			edit: func(s *specs.Spec) { s.Root.Readonly = true },
			script: `if touch /x 2>/dev/null; then echo root-writable; else echo root-readonly; fi
if touch /dev/shm/x 2>/dev/null; then echo shm-writable; else echo shm-readonly; fi
awk '$5 == "/" { print $6 }' /proc/self/mountinfo | tr , '\n'`,
			want: []string{"root-readonly", "shm-writable", "ro"},
		},
	})
}

// TestBindMounts checks rw and ro bind mounts of a host directory.
func TestBindMounts(t *testing.T) {
	t.Parallel()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "hello"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh(`cat /rw/hello /ro/hello
echo from-container > /rw/written
if touch /ro/x 2>/dev/null; then echo ro-writable; else echo ro-readonly; fi`), func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/rw", Type: "bind", Source: host, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/ro", Type: "bind", Source: host, Options: []string{"bind", "ro"}},
		)
	})
	res := r.call("run", "--bundle", b.dir, id)
	if res.code != 0 {
		t.Fatalf("run: %v", res)
	}
	if want := "from-host\nfrom-host\nro-readonly\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	got, err := os.ReadFile(filepath.Join(host, "written"))
	if err != nil || strings.TrimSpace(string(got)) != "from-container" {
		t.Errorf("host sees %q (%v), want from-container", got, err)
	}
	if _, err := os.Stat(filepath.Join(host, "x")); !os.IsNotExist(err) {
		t.Errorf("ro bind: host has x: %v", err)
	}
}
