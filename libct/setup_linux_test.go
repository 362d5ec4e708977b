package libct

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hullrt/hull/libct/configs"
)

func TestSysctlPath(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"kernel.shmmni", "kernel/shmmni"},
		{"net.ipv4.ip_forward", "net/ipv4/ip_forward"},
		{"net.ipv4.conf.eth0/100.rp_filter", "net/ipv4/conf/eth0.100/rp_filter"},
	} {
		if got := configs.SysctlPath(tc.key); got != tc.want {
			t.Errorf("SysctlPath(%q) = %q, want %q", tc.key, got, tc.want)
		}
		if back := configs.SysctlPath(tc.want); back != tc.key {
			t.Errorf("SysctlPath(%q) = %q, want %q back", tc.want, back, tc.key)
		}
	}
}

func TestWithHome(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\nnohome:x:7:7::::\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uid  uint32
		want string
	}{{0, "/root"}, {1000, "/home/u"}, {7, "/"}, {4242, "/"}} {
		if got := passwdHome(passwd, tc.uid); got != tc.want {
			t.Errorf("passwdHome(uid %d) = %q, want %q", tc.uid, got, tc.want)
		}
	}
	if got := passwdHome(filepath.Join(dir, "missing"), 0); got != "/" {
		t.Errorf("missing passwd: %q", got)
	}
	// A symlinked passwd is not followed.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(passwd, link); err != nil {
		t.Fatal(err)
	}
	if got := passwdHome(link, 0); got != "/" {
		t.Errorf("symlinked passwd followed: %q", got)
	}
	env := []string{"HOME=/x", "A=b"}
	if got := withDefaultHome(env, func() string { return "/root" }); !slices.Equal(got, env) {
		t.Errorf("withDefaultHome replaced an explicit HOME: %v", got)
	}
	if got := withDefaultHome([]string{"A=b"}, func() string { return "/root" }); !slices.Equal(got, []string{"A=b", "HOME=/root"}) {
		t.Errorf("withDefaultHome without HOME: %v", got)
	}
}

func TestParseProcStat(t *testing.T) {
	b := []byte("42 (a (b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0")
	st, err := parseProcStat(b)
	if err != nil || st.State != 'S' || st.StartTime != 12345 {
		t.Fatalf("parseProcStat = %+v, %v", st, err)
	}
	if _, err := parseProcStat([]byte("42 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestValidateID(t *testing.T) {
	good := []string{"a", "c1", "A.b_c+d-e", "0"}
	bad := []string{"", ".", "..", "../x", "a/b", "-a", ".a", "a b", string(make([]byte, 1025))}
	for _, id := range good {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range bad {
		if err := ValidateID(id); err == nil {
			t.Errorf("ValidateID(%.20q) accepted", id)
		}
	}
}
