package libct

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/hullrt/hull/libct/configs"
)

func TestBootstrapRoundTrip(t *testing.T) {
	full := &bootstrap{Sync: 5, Fds: 11, Preserve: 2, Fifo: 6, ErrFifo: 7, Console: 8, UserNSWait: 9,
		Flags: bootNewIPC | bootDumpable, MountSources: map[int]int{0: 11, 4: 12}}
	full.NS[nsIndex(configs.NEWNET)] = 10
	full.NS[nsIndex(configs.NEWPID)] = 13
	for _, b := range []*bootstrap{{Sync: 3, Fds: 1}, full} {
		s := b.encode()
		got, err := decodeBootstrap(s)
		if err != nil {
			t.Fatalf("decode %q: %v", s, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Errorf("round trip of %q: got %+v, want %+v", s, got, b)
		}
	}
	if s := full.encode(); s != "sync=5 fds=11 preserve=2 fifo=6 errfifo=7 console=8 usernswait=9 ns_net=10 ns_pid=13 flags=3 mnt=0:11 mnt=4:12" {
		t.Errorf("encoding: %q", s)
	}
}

func TestDecodeBootstrapRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "not name=value"},
		{"fifo=4 fds=2", "no sync fd"},
		{"sync=3 bogus=1", `unknown field "bogus"`},
		{"sync=3 fifo=-1", "not a number"},
		{"sync=3 fifo=0x4", "not a number"},
		{"sync=3 fifo=", "not a number"},
		{"sync=3 fifo=1234567890123456789", "not a number"},
		{"sync=3  fifo=4", "not name=value"},
		{"sync=3 mnt=1", "bad mount source"},
		{"sync=3 mnt=1:2", "bad mount source"},
		{"sync=3 ns_net=4,5", "not a number"},
		{"sync=3", "fd 3 is not one of the 0 passed"},
		{"sync=3 fds=1 fifo=4", "fd 4 is not one of the 1 passed"},
		{"sync=3 fds=2 mnt=0:5", "fd 5 is not one of the 2 passed"},
		{"sync=3 fds=2 preserve=3", "3 preserved fds of 2 passed"},
		{"sync=3 fds=2 preserve=1", "fd 3 is one of the 1 preserved"},
	} {
		_, err := decodeBootstrap(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decode %q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// TestNSOrder: user first, pid last (see nsOrder), and every type once.
func TestNSOrder(t *testing.T) {
	if nsOrder[0] != configs.NEWUSER || nsOrder[len(nsOrder)-1] != configs.NEWPID {
		t.Fatalf("nsOrder %v: the user namespace must come first and pid last", nsOrder)
	}
	seen := map[configs.NamespaceType]bool{}
	for _, ns := range nsOrder {
		if seen[ns] {
			t.Fatalf("%s twice in nsOrder", ns)
		}
		seen[ns] = true
	}
	if len(seen) != len(nsTypes) {
		t.Fatalf("nsOrder has %d types, nsTypes %d", len(seen), len(nsTypes))
	}
}

func TestBootReport(t *testing.T) {
	enc := func(magic uint32, pid, errno int32, step bootStep, ns uint16) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.NativeEndian, struct {
			M    uint32
			P, E int32
			S    bootStep
			N    uint16
		}{magic, pid, errno, step, ns})
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		in   []byte
		pid  int32
		want string // error text, "" for success
	}{
		{"ok", enc(bootMagic, 0, 0, bootOK, 0), 0, ""},
		{"forked", enc(bootMagic, 4242, 0, bootOK, 0), 4242, ""},
		{"join failed", enc(bootMagic, 0, 1, bootJoin, uint16(nsIndex(configs.NEWNET))), 0, "nsenter: join net namespace: operation not permitted"},
		{"unknown ns index", enc(bootMagic, 0, 9, bootJoin, 99), 0, "nsenter: join a namespace: bad file descriptor"},
		{"unknown step", enc(bootMagic, 0, 22, 77, 0), 0, "nsenter: step 77: invalid argument"},
		{"negative pid", enc(bootMagic, -1, 0, bootOK, 0), 0, "bad pid"},
		{"bad magic", enc(0x7b227479, 0, 0, 0, 0), 0, "instead of its constructor's report"},
		{"short", enc(bootMagic, 0, 0, 0, 0)[:10], 0, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := readBootReport(bytes.NewReader(tc.in))
			if err == nil {
				err = rep.err()
			}
			if tc.want == "" {
				if err != nil || rep.Pid != tc.pid {
					t.Fatalf("report %+v, %v; want pid %d and no error", rep, err, tc.pid)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
