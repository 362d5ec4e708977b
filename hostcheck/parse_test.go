package hostcheck

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v857", 6, 18, true},
		{"5.12.0", 5, 12, true},
		{"5.4-rc1", 5, 4, true},
		{"6.1.0-27-amd64", 6, 1, true},
		{"4.19+", 4, 19, true},
		{"garbage", 0, 0, false},
		{"x.y", 0, 0, false},
	} {
		major, minor, ok := parseRelease(tc.in)
		if major != tc.major || minor != tc.minor || ok != tc.ok {
			t.Errorf("parseRelease(%q) = %d, %d, %v; want %d, %d, %v", tc.in, major, minor, ok, tc.major, tc.minor, tc.ok)
		}
	}
}

func TestParseFilesystems(t *testing.T) {
	fs := parseFilesystems([]byte("nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n"))
	for _, want := range []string{"sysfs", "tmpfs", "ext4", "overlay"} {
		if !fs[want] {
			t.Errorf("%s not found in %v", want, fs)
		}
	}
	if fs["nodev"] {
		t.Errorf("nodev taken for a filesystem: %v", fs)
	}
}

func TestParseSubID(t *testing.T) {
	const data = "# comment\nalice:100000:65536\n1000:300000:1000\nbob:165536:65536\nalice:bad:1\nalice:5:0\n"
	for _, tc := range []struct {
		name string
		uid  int
		want []idRange
	}{
		{"alice", 1000, []idRange{{100000, 65536}, {300000, 1000}}},
		{"bob", 1001, []idRange{{165536, 65536}}},
		{"carol", 1002, nil},
		{"", 1000, []idRange{{300000, 1000}}},
	} {
		got := parseSubID([]byte(data), tc.name, tc.uid)
		if !slices.Equal(got, tc.want) {
			t.Errorf("parseSubID(%q, %d) = %v, want %v", tc.name, tc.uid, got, tc.want)
		}
	}
	if got := formatRanges([]idRange{{100000, 65536}}); got != "100000-165535 (65536 ids)" {
		t.Errorf("formatRanges = %q", got)
	}
}

func TestParseLSMList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"lockdown,capability,landlock,yama,apparmor\n", []string{"lockdown", "capability", "landlock", "yama", "apparmor"}},
		{"capability", []string{"capability"}},
		{"\n", nil},
	} {
		if got := parseLSMList([]byte(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("parseLSMList(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Mountinfo lines of the layouts tested.
const (
	miRoot     = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	miCgTmpfs  = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	miV1CPU    = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
	miV1Memory = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	miV1Pids   = "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	miV1Named  = "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
	miHybridV2 = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
	miV2       = "31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	// A second view of the memory hierarchy, bound elsewhere: ignored.
	miV1MemoryBind = "50 27 0:32 /a /mnt/mem rw,relatime - cgroup cgroup rw,memory\n"
	// A container's view: its own cgroup bound at the mount point.
	miV2Sub = "31 23 0:28 /user.slice/user-1000.slice /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
)

const procCgroupsV1 = `#subsys_name	hierarchy	num_cgroups	enabled
cpu	1	13	1
cpuacct	1	13	1
memory	4	78	1
net_cls	0	10	1
hugetlb	0	10	1
pids	8	14	1
rdma	0	1	0
`

func TestParseCgroupLayout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mountinfo  string
		self       string
		proc       string
		v2ctrls    string // cgroup.controllers of the cgroup2 mount
		mode       string
		v1         []string // name and own dir of each v1 hierarchy
		v2dir      string
		unmounted  []string
		v2ctrlWant []string
	}{
		{
			name:      "hybrid, as this project's host",
			mountinfo: miRoot + miCgTmpfs + miV1CPU + miV1Memory + miV1Pids + miV1Named + miHybridV2 + miV1MemoryBind,
			self:      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n",
			proc:      procCgroupsV1,
			v2ctrls:   "hugetlb\n",
			mode:      modeHybrid,
			v1: []string{
				"cpu,cpuacct /sys/fs/cgroup/cpu,cpuacct",
				"memory /sys/fs/cgroup/memory/process_api/abc",
				"pids /sys/fs/cgroup/pids",
				"name=systemd /sys/fs/cgroup/systemd",
			},
			v2dir:      "/sys/fs/cgroup/unified",
			unmounted:  []string{"net_cls"},
			v2ctrlWant: []string{"hugetlb"},
		},
		{
			name:      "legacy v1 only",
			mountinfo: miRoot + miCgTmpfs + miV1CPU + miV1Memory,
			self:      "4:memory:/x\n1:cpu,cpuacct:/x\n",
			proc:      procCgroupsV1,
			mode:      modeV1,
			v1:        []string{"cpu,cpuacct /sys/fs/cgroup/cpu,cpuacct/x", "memory /sys/fs/cgroup/memory/x"},
			unmounted: []string{"net_cls", "hugetlb", "pids"},
		},
		{
			name:       "v2 with systemd's name=systemd v1 only is still v2",
			mountinfo:  miRoot + miV2 + miV1Named,
			self:       "1:name=systemd:/\n0::/user.slice/user-1000.slice/session-1.scope\n",
			proc:       procCgroupsV1,
			v2ctrls:    "cpuset cpu io memory hugetlb pids rdma misc\n",
			mode:       modeV2,
			v1:         []string{"name=systemd /sys/fs/cgroup/systemd"},
			v2dir:      "/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope",
			unmounted:  []string{"cpuacct", "net_cls"},
			v2ctrlWant: []string{"cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"},
		},
		{
			name:       "v2 seen from a container whose cgroup is bound at the mount point",
			mountinfo:  miRoot + miV2Sub,
			self:       "0::/user.slice/user-1000.slice\n",
			v2ctrls:    "memory pids\n",
			mode:       modeV2,
			v2dir:      "/sys/fs/cgroup",
			v2ctrlWant: []string{"memory", "pids"},
		},
		{
			name:      "no cgroup filesystem",
			mountinfo: miRoot,
			self:      "0::/\n",
			mode:      modeNone,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(p string) ([]byte, error) {
				if strings.HasSuffix(p, "/cgroup.controllers") && tc.v2ctrls != "" {
					return []byte(tc.v2ctrls), nil
				}
				return nil, os.ErrNotExist
			}
			l, err := parseCgroupLayout([]byte(tc.mountinfo), []byte(tc.self), []byte(tc.proc), read)
			if err != nil {
				t.Fatal(err)
			}
			if l.mode != tc.mode {
				t.Errorf("mode = %s, want %s", l.mode, tc.mode)
			}
			var v1 []string
			for _, h := range l.v1 {
				v1 = append(v1, h.name()+" "+h.dir())
			}
			if !slices.Equal(v1, tc.v1) {
				t.Errorf("v1 = %q, want %q", v1, tc.v1)
			}
			switch {
			case l.v2 == nil && tc.v2dir != "":
				t.Errorf("no cgroup2 mount found, want one at %s", tc.v2dir)
			case l.v2 != nil && l.v2.dir() != tc.v2dir:
				t.Errorf("cgroup2 dir = %q, want %q", l.v2.dir(), tc.v2dir)
			case l.v2 != nil && !slices.Equal(l.v2.controllers, tc.v2ctrlWant):
				t.Errorf("cgroup2 controllers = %q, want %q", l.v2.controllers, tc.v2ctrlWant)
			}
			if !slices.Equal(l.unmounted, tc.unmounted) {
				t.Errorf("unmounted = %q, want %q", l.unmounted, tc.unmounted)
			}
		})
	}
}

func TestParseCgroupLayoutBadMountinfo(t *testing.T) {
	_, err := parseCgroupLayout([]byte("1 2 3\n"), nil, nil, func(string) ([]byte, error) { return nil, errors.New("no") })
	if err == nil {
		t.Fatal("a truncated mountinfo line was accepted")
	}
}
