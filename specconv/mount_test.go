package specconv

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	const atime = unix.MOUNT_ATTR__ATIME
	tests := []struct {
		opts  []string
		want  mountOptions
		error string
	}{
		{opts: nil, want: mountOptions{}},
		{opts: []string{"defaults"}, want: mountOptions{}},
		{opts: []string{"ro"}, want: mountOptions{attr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"rw"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"ro", "rw"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"rw", "ro"}, want: mountOptions{attr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"nosuid", "suid"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_NOSUID}},
		{opts: []string{"nodev", "noexec"}, want: mountOptions{attr: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
		{opts: []string{"dev", "exec"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}},
		{opts: []string{"sync"}, want: mountOptions{data: []string{"sync"}}},
		{opts: []string{"sync", "async"}, want: mountOptions{data: []string{"sync", "async"}}},
		{opts: []string{"dirsync"}, want: mountOptions{data: []string{"dirsync"}}},
		{opts: []string{"remount", "ro"}, want: mountOptions{remount: true, attr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"mand", "nomand"}, want: mountOptions{data: []string{"mand", "nomand"}}},
		{opts: []string{"noatime"}, want: mountOptions{attr: unix.MOUNT_ATTR_NOATIME, attrClr: atime}},
		{opts: []string{"atime"}, want: mountOptions{}},
		{opts: []string{"noatime", "atime"}, want: mountOptions{}},
		{opts: []string{"strictatime", "atime"}, want: mountOptions{attr: unix.MOUNT_ATTR_STRICTATIME, attrClr: atime}},
		{opts: []string{"nodiratime"}, want: mountOptions{attr: unix.MOUNT_ATTR_NODIRATIME}},
		{opts: []string{"diratime"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_NODIRATIME}},
		{opts: []string{"relatime"}, want: mountOptions{attr: unix.MOUNT_ATTR_RELATIME, attrClr: atime}},
		{opts: []string{"relatime", "norelatime"}, want: mountOptions{}},
		{opts: []string{"strictatime"}, want: mountOptions{attr: unix.MOUNT_ATTR_STRICTATIME, attrClr: atime}},
		{opts: []string{"nostrictatime"}, want: mountOptions{}},
		{opts: []string{"noatime", "strictatime"}, want: mountOptions{attr: unix.MOUNT_ATTR_STRICTATIME, attrClr: atime}},
		{opts: []string{"ro", "noatime", "nosuid"}, want: mountOptions{attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NOSUID, attrClr: atime}},
		{opts: []string{"bind"}, want: mountOptions{bind: true}},
		{opts: []string{"rbind"}, want: mountOptions{bind: true, rec: true}},
		{opts: []string{"silent", "loud", "iversion", "noiversion"}, want: mountOptions{}},
		{opts: []string{"lazytime", "nosymfollow"}, want: mountOptions{attr: unix.MOUNT_ATTR_NOSYMFOLLOW, data: []string{"lazytime"}}},
		{opts: []string{"symfollow"}, want: mountOptions{attrClr: unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{opts: []string{"private"}, want: mountOptions{propagation: []uintptr{unix.MS_PRIVATE}}},
		{opts: []string{"rprivate"}, want: mountOptions{propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}}},
		{opts: []string{"shared", "rslave"}, want: mountOptions{propagation: []uintptr{unix.MS_SHARED, unix.MS_SLAVE | unix.MS_REC}}},
		{opts: []string{"rshared", "slave"}, want: mountOptions{propagation: []uintptr{unix.MS_SHARED | unix.MS_REC, unix.MS_SLAVE}}},
		{opts: []string{"unbindable", "runbindable"}, want: mountOptions{propagation: []uintptr{unix.MS_UNBINDABLE, unix.MS_UNBINDABLE | unix.MS_REC}}},
		{opts: []string{"rro"}, want: mountOptions{recSet: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"rro", "rrw"}, want: mountOptions{recClr: unix.MOUNT_ATTR_RDONLY}},
		{opts: []string{"rnosuid", "rnodev", "rnoexec", "rnodiratime", "rnosymfollow"}, want: mountOptions{
			recSet: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{opts: []string{"rsuid", "rdev", "rexec", "rdiratime", "rsymfollow"}, want: mountOptions{
			recClr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_NODIRATIME | unix.MOUNT_ATTR_NOSYMFOLLOW}},
		{opts: []string{"rnoatime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_NOATIME, recClr: atime}},
		{opts: []string{"rstrictatime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_STRICTATIME, recClr: atime}},
		{opts: []string{"rrelatime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_RELATIME, recClr: atime}},
		{opts: []string{"rnoatime", "ratime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_RELATIME, recClr: atime}},
		{opts: []string{"rnorelatime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_STRICTATIME, recClr: atime}},
		{opts: []string{"rstrictatime", "rnostrictatime"}, want: mountOptions{recSet: unix.MOUNT_ATTR_RELATIME, recClr: atime}},
		{opts: []string{"rro", "rnoatime", "rnodev"}, want: mountOptions{
			recSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOATIME | unix.MOUNT_ATTR_NODEV, recClr: atime}},
		{opts: []string{"idmap"}, want: mountOptions{idmap: true}},
		{opts: []string{"ridmap"}, want: mountOptions{ridmap: true}},
		{opts: []string{"mode=755", "size=65536k"}, want: mountOptions{data: []string{"mode=755", "size=65536k"}}},
		{opts: []string{"nosuid", "strictatime", "mode=755", "", "size=65536k"}, want: mountOptions{
			attr: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_STRICTATIME, attrClr: atime, data: []string{"mode=755", "size=65536k"}}},
		{opts: []string{"mode=755,size=1m", `context="a:b:s0:c1,c2",uid=0`}, want: mountOptions{
			data: []string{"mode=755", "size=1m", `context="a:b:s0:c1,c2"`, "uid=0"}}},
		{opts: []string{"ro,nosuid", "rbind,,rprivate"}, want: mountOptions{
			attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, bind: true, rec: true, propagation: []uintptr{unix.MS_PRIVATE | unix.MS_REC}}},
		{opts: []string{"newinstance", "rsync"}, want: mountOptions{data: []string{"newinstance", "rsync"}}},
		{opts: []string{"ro", "tmpcopyup"}, want: mountOptions{attr: unix.MOUNT_ATTR_RDONLY, tmpcopyup: true}},
		{opts: []string{"a\x00b"}, error: "options[0]: contains a NUL byte"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.opts, ","), func(t *testing.T) {
			got, err := parseMountOptions(tc.opts)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("error %v, want %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEscapes(t *testing.T) {
	for p, want := range map[string]bool{
		"/":            false,
		"/a/../b":      false,
		"/a/b/../../c": false,
		"/..":          true,
		"/a/../../b":   true,
		"/./../x":      true,
		"//a//..//..":  true,
		"/a/..b":       false,
	} {
		if got := escapes(p); got != want {
			t.Errorf("escapes(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestSysctlName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward"},
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward"},
		{"net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter"},
		{"kernel", "kernel"},
		{"", ""},
		{"net..x", ""},
		{"net/../x", ""},
		{"net/./x", ""},
		{".net", ""},
		{"net.ipv4.", ""},
		{"net./.x", ""},
		{"net.//.x", ""},
	} {
		got, err := sysctlName(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("sysctlName(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("sysctlName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
