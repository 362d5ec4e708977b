package landlock

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

const (
	write = unix.LANDLOCK_ACCESS_FS_WRITE_FILE
	refer = unix.LANDLOCK_ACCESS_FS_REFER
	trunc = unix.LANDLOCK_ACCESS_FS_TRUNCATE
	ioctl = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	bind  = unix.LANDLOCK_ACCESS_NET_BIND_TCP
	conn  = unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
)

func TestSupported(t *testing.T) {
	for _, tc := range []struct {
		abi     int
		fs, net uint64
	}{
		{0, 0, 0},
		{1, 1<<13 - 1, 0},
		{2, 1<<14 - 1, 0},
		{3, 1<<15 - 1, 0},
		{4, 1<<15 - 1, bind | conn},
		{5, 1<<16 - 1, bind | conn},
	} {
		fs, net := Supported(tc.abi)
		if fs != tc.fs || net != tc.net {
			t.Errorf("Supported(%d) = %#x, %#x; want %#x, %#x", tc.abi, fs, net, tc.fs, tc.net)
		}
	}
	// Every right of the table is a distinct bit.
	var seen uint64
	for _, r := range append(append([]Right(nil), FSRights...), NetRights...) {
		if r.Bit&(r.Bit-1) != 0 {
			t.Errorf("%s: %#x is not one bit", r.Name, r.Bit)
		}
	}
	for _, r := range FSRights {
		if seen&r.Bit != 0 {
			t.Errorf("%s: bit %#x used twice", r.Name, r.Bit)
		}
		seen |= r.Bit
	}
}

func TestNames(t *testing.T) {
	got := Names(FSRights, write|refer|1<<40)
	want := []string{"write_file", "refer", "0x10000000000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	if r, ok := Lookup(NetRights, "connect_tcp"); !ok || r.Bit != conn || r.ABI != 4 {
		t.Errorf("Lookup(connect_tcp) = %+v, %v", r, ok)
	}
	if _, ok := Lookup(FSRights, "connect_tcp"); ok {
		t.Error("connect_tcp found among the filesystem rights")
	}
}

func TestCompat(t *testing.T) {
	full := &configs.Landlock{
		HandledAccessFS:  write | trunc | ioctl,
		HandledAccessNet: bind | conn,
		PathBeneath:      []configs.LandlockPathBeneath{{AllowedAccess: write | trunc, Paths: []string{"/tmp"}}, {AllowedAccess: ioctl, Paths: []string{"/dev"}}},
		NetPort:          []configs.LandlockNetPort{{AllowedAccess: conn, Ports: []uint16{443}}},
	}
	strict := *full
	strict.DisableBestEffort = true
	referRule := &configs.Landlock{
		HandledAccessFS: write | refer,
		PathBeneath:     []configs.LandlockPathBeneath{{AllowedAccess: refer, Paths: []string{"/tmp"}}},
	}
	netOnly := &configs.Landlock{HandledAccessNet: conn}
	for _, tc := range []struct {
		name    string
		l       *configs.Landlock
		abi     int
		want    *configs.Landlock // nil: nothing enforced
		notes   []string          // substrings, one per note
		wantErr string
	}{
		{name: "nil", l: nil, abi: 5},
		{name: "all known", l: full, abi: 5, want: full},
		{name: "newer kernel", l: full, abi: 7, want: full},
		{
			name: "ABI 3 drops net and ioctl_dev", l: full, abi: 3,
			want: &configs.Landlock{
				HandledAccessFS: write | trunc,
				PathBeneath:     []configs.LandlockPathBeneath{{AllowedAccess: write | trunc, Paths: []string{"/tmp"}}, {AllowedAccess: 0, Paths: []string{"/dev"}}},
				NetPort:         []configs.LandlockNetPort{{AllowedAccess: 0, Ports: []uint16{443}}},
			},
			notes: []string{"ruleset.handledAccessFS ioctl_dev not enforced: this kernel has ABI version 3", "ruleset.handledAccessNetwork bind_tcp, connect_tcp not enforced"},
		},
		{
			name: "ABI 1 drops truncate too", l: full, abi: 1,
			want: &configs.Landlock{
				HandledAccessFS: write,
				PathBeneath:     []configs.LandlockPathBeneath{{AllowedAccess: write, Paths: []string{"/tmp"}}, {AllowedAccess: 0, Paths: []string{"/dev"}}},
				NetPort:         []configs.LandlockNetPort{{AllowedAccess: 0, Ports: []uint16{443}}},
			},
			notes: []string{"truncate, ioctl_dev not enforced", "bind_tcp, connect_tcp not enforced"},
		},
		{name: "no Landlock", l: full, abi: 0, notes: []string{"this kernel has no Landlock", "this kernel has no Landlock", "none of its handled rights is left"}},
		{name: "net only before ABI 4", l: netOnly, abi: 3, notes: []string{"connect_tcp not enforced", "none of its handled rights is left"}},
		{name: "strict, all known", l: &strict, abi: 5, want: &strict},
		{name: "strict on ABI 3", l: &strict, abi: 3, wantErr: "process.landlock: this kernel has ABI version 3, without ruleset.handledAccessFS ioctl_dev; ruleset.handledAccessNetwork bind_tcp, connect_tcp (disableBestEffort is set)"},
		{name: "strict without Landlock", l: &strict, abi: 0, wantErr: "this kernel has no Landlock, without"},
		// ABI 1 denies every reparenting under a ruleset: a process
		// allowed refer would break, so best effort enforces nothing.
		{name: "refer allowed on ABI 1", l: referRule, abi: 1, notes: []string{"refer not enforced", "a rule allows refer"}},
		{name: "refer allowed on ABI 2", l: referRule, abi: 2, want: referRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before configs.Landlock
			if tc.l != nil {
				before = *tc.l
			}
			got, notes, err := Compat(tc.l, tc.abi)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if len(notes) != len(tc.notes) {
				t.Fatalf("notes %q, want %d like %q", notes, len(tc.notes), tc.notes)
			}
			for i, n := range tc.notes {
				if !strings.Contains(notes[i], n) {
					t.Errorf("note %d: %q lacks %q", i, notes[i], n)
				}
			}
			if tc.l != nil && !reflect.DeepEqual(*tc.l, before) {
				t.Errorf("Compat changed its input: %+v, was %+v", *tc.l, before)
			}
		})
	}
}
