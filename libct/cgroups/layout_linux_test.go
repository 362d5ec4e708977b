package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

const testProcCgroup = `9:name=systemd:/
8:pids:/user.slice
4:memory:/process_api/abc
2:cpu,cpuacct:/docker/x
1:name=foo:/
0::/init.scope
`

const testMountinfo = `23 1 0:21 / / rw - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 /user.slice /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:35 / /mnt/other\040memory rw,relatime - cgroup cgroup rw,memory
`

func TestV1Hierarchies(t *testing.T) {
	byCtrl, unified, err := v1Hierarchies("/sys/fs/cgroup", []byte(testProcCgroup), []byte(testMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ctrl, mountpoint, own, dir string
	}{
		{"cpu", "/sys/fs/cgroup/cpu,cpuacct", "/docker/x", "/sys/fs/cgroup/cpu,cpuacct/docker/x"},
		{"cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/docker/x", "/sys/fs/cgroup/cpu,cpuacct/docker/x"},
		{"memory", "/sys/fs/cgroup/memory", "/process_api/abc", "/sys/fs/cgroup/memory/process_api/abc"},
		// A mount of a subtree: the own path is relative to the hierarchy.
		{"pids", "/sys/fs/cgroup/pids", "/user.slice", "/sys/fs/cgroup/pids"},
		{"name=systemd", "/sys/fs/cgroup/systemd", "/", "/sys/fs/cgroup/systemd"},
	}
	for _, tt := range tests {
		h, ok := byCtrl[tt.ctrl]
		if !ok {
			t.Errorf("%s: not found", tt.ctrl)
			continue
		}
		if h.mountpoint != tt.mountpoint || h.own != tt.own || h.dir(h.own) != tt.dir {
			t.Errorf("%s: mountpoint %q own %q dir %q; want %q %q %q", tt.ctrl, h.mountpoint, h.own, h.dir(h.own), tt.mountpoint, tt.own, tt.dir)
		}
	}
	if _, ok := byCtrl["name=foo"]; ok {
		t.Errorf("name=foo is not mounted but was found")
	}
	if unified == nil || unified.mountpoint != "/sys/fs/cgroup/unified" || unified.own != "/init.scope" {
		t.Errorf("unified = %+v, want /sys/fs/cgroup/unified with /init.scope", unified)
	}
}

func TestParseMountinfoUnescape(t *testing.T) {
	ms, err := parseMountinfo([]byte(testMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.mountpoint)
	}
	want := []string{"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
		"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/mnt/other memory"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mountpoints = %q, want %q", got, want)
	}
}

func TestOwnCgroupsErrors(t *testing.T) {
	if _, err := ownCgroups([]byte("garbage\n")); err == nil {
		t.Fatal("want an error for a line without 3 fields")
	}
	if _, err := ownUnifiedPath([]byte("4:memory:/x\n")); err == nil {
		t.Fatal("want an error when there is no 0:: line")
	}
	p, err := ownUnifiedPath([]byte("0::/a/b\n"))
	if err != nil || p != "/a/b" {
		t.Fatalf("ownUnifiedPath = %q, %v; want /a/b", p, err)
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{0, 1, 2, 5, 7, 8}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"3-1", "x", "1-"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q): want an error", bad)
		}
	}
}

// TestFastHierarchiesMatchMountinfo: on this host the fast path (no
// mountinfo) finds what the mountinfo parse finds.
func TestFastHierarchiesMatchMountinfo(t *testing.T) {
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	if mode == Unified {
		t.Skip("host is cgroup v2 only: no v1 hierarchies")
	}
	cg, err := readProcSelf("cgroup")
	if err != nil {
		t.Fatal(err)
	}
	mi, err := readProcSelf("mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	fast, fastU, ok := fastV1Hierarchies(DefaultRoot, cg, mode == Hybrid)
	if !ok {
		t.Skip("host does not mount its hierarchies at the default places")
	}
	slow, slowU, err := v1Hierarchies(DefaultRoot, cg, mi)
	if err != nil {
		t.Fatal(err)
	}
	for c, h := range slow {
		if strings.HasPrefix(c, "name=") && c != "name=systemd" {
			continue
		}
		f, ok := fast[c]
		if !ok || f.dir(f.own) != h.dir(h.own) {
			t.Errorf("%s: fast %+v, mountinfo %+v", c, f, h)
		}
	}
	if (fastU == nil) != (slowU == nil) || (fastU != nil && fastU.dir(fastU.own) != slowU.dir(slowU.own)) {
		t.Errorf("unified: fast %+v, mountinfo %+v", fastU, slowU)
	}
}
