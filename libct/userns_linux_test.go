package libct

import (
	"reflect"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// idm is one id mapping, for short tables.
func idm(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

func TestMapsWithHelpers(t *testing.T) {
	one := func(host uint32) []specs.LinuxIDMapping {
		return []specs.LinuxIDMapping{{ContainerID: 0, HostID: host, Size: 1}}
	}
	for _, tc := range []struct {
		name       string
		uids, gids []specs.LinuxIDMapping
		euid, egid int
		want       bool
	}{
		{"root writes anything", []specs.LinuxIDMapping{idm(0, 100000, 65536)}, one(0), 0, 0, false},
		{"self-map", one(1000), one(1000), 1000, 1000, false},
		{"self uid, other gid", one(1000), one(1001), 1000, 1000, true},
		{"own uid, larger size", []specs.LinuxIDMapping{idm(0, 1000, 2)}, one(1000), 1000, 1000, true},
		{"subordinate range", []specs.LinuxIDMapping{idm(0, 100000, 65536)}, []specs.LinuxIDMapping{idm(0, 100000, 65536)}, 1000, 1000, true},
		{"self plus range", []specs.LinuxIDMapping{idm(0, 1000, 1), idm(1, 100000, 65536)}, one(1000), 1000, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &configs.Config{UIDMappings: tc.uids, GIDMappings: tc.gids}
			if got := mapsWithHelpers(c, tc.euid, tc.egid); got != tc.want {
				t.Errorf("mapsWithHelpers = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckRootMapped(t *testing.T) {
	root := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 10}}
	for _, tc := range []struct {
		name       string
		uids, gids []specs.LinuxIDMapping
		want       string // "" for no error
	}{
		{"both", root, root, ""},
		{"second range has 0", []specs.LinuxIDMapping{{ContainerID: 1, HostID: 5, Size: 1}, {ContainerID: 0, HostID: 7, Size: 1}}, root, ""},
		{"uid 0 missing", []specs.LinuxIDMapping{{ContainerID: 1, HostID: 100000, Size: 10}}, root, "linux.uidMappings: id 0 is not mapped"},
		{"gid map empty", root, nil, "linux.gidMappings: id 0 is not mapped"},
		{"size 0", []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1, Size: 0}}, root, "linux.uidMappings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRootMapped(&configs.Config{UIDMappings: tc.uids, GIDMappings: tc.gids})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseSubIDs(t *testing.T) {
	const file = "# comment\nalice:100000:65536\nbob:165536:65536\n\n1000:300000:10\nalice:500000:5\n"
	for _, tc := range []struct {
		name  string
		in    string
		names []string
		want  []subIDRange
		err   string
	}{
		{"by name", file, []string{"alice"}, []subIDRange{{100000, 65536}, {500000, 5}}, ""},
		{"by uid or name", file, []string{"1000", "carol"}, []subIDRange{{300000, 10}}, ""},
		{"none", file, []string{"dave"}, nil, ""},
		{"bad line", "alice:1\n", []string{"alice"}, nil, "line 1"},
		{"bad number", "alice:x:1\n", []string{"alice"}, nil, "line 1"},
		{"bad other line is skipped only if not ours", "bob:x:1\nalice:1:2\n", []string{"alice"}, []subIDRange{{1, 2}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSubIDs(strings.NewReader(tc.in), tc.names)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDeferIPC(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in, out   uintptr
		wantChild bool
	}{
		{"user and ipc", unix.CLONE_NEWUSER | unix.CLONE_NEWIPC | unix.CLONE_NEWPID, unix.CLONE_NEWUSER | unix.CLONE_NEWPID, true},
		{"ipc without user", unix.CLONE_NEWIPC, unix.CLONE_NEWIPC, false},
		{"user without ipc", unix.CLONE_NEWUSER, unix.CLONE_NEWUSER, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.in
			child := deferIPC(&f)
			if f != tc.out || child != tc.wantChild {
				t.Errorf("flags %#x, child unshares %v; want %#x and %v", f, child, tc.out, tc.wantChild)
			}
		})
	}
}

// TestUserNSAttr: which of the three ways userNSAttr picks for the caller
// this test runs as (root in CI, where the helpers are never used).
func TestUserNSAttr(t *testing.T) {
	if syscall.Geteuid() != 0 {
		t.Skip("needs root: checks the parent-written path of a root caller")
	}
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	attr := &syscall.SysProcAttr{}
	m, err := userNSAttr(attr, &configs.Config{UIDMappings: maps, GIDMappings: maps})
	if err != nil || m != nil {
		t.Fatalf("root caller: mapper %v, error %v; want the parent to write the maps", m, err)
	}
	if len(attr.UidMappings) != 1 || !attr.GidMappingsEnableSetgroups || attr.Credential == nil || attr.Credential.NoSetGroups {
		t.Errorf("root caller attr: %+v", attr)
	}
	if _, err := userNSAttr(&syscall.SysProcAttr{}, &configs.Config{UIDMappings: maps[:0], GIDMappings: maps}); err == nil {
		t.Error("no uid 0 in the maps: no error")
	}
}
