package specconv

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseMountOptions: never panics; an attribute is never both set and
// cleared; a NUL byte is always refused.
func FuzzParseMountOptions(f *testing.F) {
	f.Add("ro,rw,nosuid,rbind,rprivate,size=64k")
	f.Add("rro,rnoatime,ratime,rstrictatime,idmap,ridmap,tmpcopyup,,")
	f.Add("bind,ro,remount,noexec,exec,nodev,dev,mode=755")
	f.Add("a\x00b")
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, ",")
		m, err := parseMountOptions(opts)
		if strings.IndexByte(s, 0) >= 0 {
			if err == nil {
				t.Fatalf("%q: a NUL byte was accepted", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		// MOUNT_ATTR__ATIME in attrClr goes with the access-time mode
		// in attr, as mount_setattr(2) takes it; no other bit is both.
		if both := m.attr & m.attrClr &^ unix.MOUNT_ATTR__ATIME; both != 0 {
			t.Fatalf("%q: attributes %#x both set and cleared", s, both)
		}
		if m.attr&unix.MOUNT_ATTR__ATIME != 0 && m.attrClr&unix.MOUNT_ATTR__ATIME == 0 {
			t.Fatalf("%q: access-time mode %#x without MOUNT_ATTR__ATIME in attr_clr", s, m.attr)
		}
		for _, d := range m.data {
			if d == "" {
				t.Fatalf("%q: an empty option became filesystem data", s)
			}
		}
	})
}

// FuzzSysctlName: a name it accepts always names a file under /proc/sys
// (no "..", no empty component: CVE-2022-29162-style walks out of it).
func FuzzSysctlName(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/eth0.100/rp_filter", "kernel.shm_rmid_forced", "..", "net/../../etc", "a..b", "./x", "", "net.ipv4.conf.eth0/100.rp_filter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := sysctlName(s)
		if err != nil {
			return
		}
		var comps []string
		for _, c := range strings.Split(name, ".") {
			comps = append(comps, strings.ReplaceAll(c, "/", "."))
		}
		for _, c := range comps {
			if c == "" || c == "." || c == ".." || strings.Contains(c, "/") {
				t.Fatalf("sysctlName(%q) = %q: component %q", s, name, c)
			}
		}
		p := filepath.Join(append([]string{"/proc/sys"}, comps...)...)
		if !strings.HasPrefix(p, "/proc/sys/") {
			t.Fatalf("sysctlName(%q) = %q resolves to %s", s, name, p)
		}
	})
}
