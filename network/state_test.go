package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseSubnet(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"10.99.0.0/24", ""},
		{"192.168.7.0/30", ""},
		{"10.0.0.0/8", ""},
		{"10.99.0.1/24", "host bits set (the network is 10.99.0.0/24)"},
		{"10.99.0.0/31", "the prefix length must be 8 to 30"},
		{"10.0.0.0/7", "the prefix length must be 8 to 30"},
		{"fd00::/64", "only IPv4"},
		{"10.99.0.0", "no '/'"},
	} {
		_, err := ParseSubnet(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

func TestCheck(t *testing.T) {
	ok := Options{Root: "/run/hull", Bridge: "hull0", Subnet: "10.99.0.0/24", Firewall: "auto", IfName: "eth0"}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		err  string
	}{
		{"ok", func(*Options) {}, ""},
		{"bridge too long", func(o *Options) { o.Bridge = "abcdefghijklmnop" }, `bridge name "abcdefghijklmnop"`},
		{"bridge with a dash", func(o *Options) { o.Bridge = "hull-0" }, `bridge name "hull-0"`},
		{"firewall", func(o *Options) { o.Firewall = "ufw" }, `firewall "ufw"`},
		{"ifname", func(o *Options) { o.IfName = "eth 0" }, `interface name "eth 0"`},
		{"no root", func(o *Options) { o.Root = "" }, "no state root"},
	} {
		o := ok
		tc.edit(&o)
		_, err := o.check()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestAllocate(t *testing.T) {
	p := netip.MustParsePrefix("10.1.2.0/29") // .1 gateway, .2-.6 containers, .7 broadcast
	var leases []Lease
	var got []string
	for {
		a, err := allocate(p, leases)
		if err != nil {
			if !strings.Contains(err.Error(), "subnet 10.1.2.0/29 is full (5 containers)") {
				t.Fatalf("unexpected error: %v", err)
			}
			break
		}
		got = append(got, a.String())
		leases = append(leases, Lease{Address: a.String()})
	}
	if strings.Join(got, " ") != "10.1.2.2 10.1.2.3 10.1.2.4 10.1.2.5 10.1.2.6" {
		t.Errorf("allocated %v", got)
	}
	// A released address is the next one given.
	leases = append(leases[:1], leases[2:]...)
	if a, err := allocate(p, leases); err != nil || a.String() != "10.1.2.3" {
		t.Errorf("after releasing .3: %v, %v", a, err)
	}
}

func TestVethName(t *testing.T) {
	a, b := vethName("/run/hull", "c1"), vethName("/run/hull", "c2")
	if len(a) != 12 || !strings.HasPrefix(a, "hv") || a == b || a != vethName("/run/hull", "c1") {
		t.Errorf("vethName: %q, %q", a, b)
	}
	if a == vethName("/tmp/other", "c1") {
		t.Error("two roots share a veth name")
	}
}

func TestAlias(t *testing.T) {
	for _, root := range []string{"/run/hull", "/tmp/a forward=1 b"} {
		r, fw, ok := aliasRoot(alias(root, "0"))
		if !ok || r != root || fw != "0" {
			t.Errorf("aliasRoot(alias(%q, 0)) = %q, %q, %v", root, r, fw, ok)
		}
	}
	for _, a := range []string{"", "my bridge", "hull root=/x"} {
		if _, _, ok := aliasRoot(a); ok {
			t.Errorf("aliasRoot(%q) says it is hull's", a)
		}
	}
}

func TestRules(t *testing.T) {
	p := netip.MustParsePrefix("10.99.0.0/24")
	script := nftScript("hull0", p)
	for _, want := range []string{"add table ip hull_hull0\ndelete table ip hull_hull0\ntable ip hull_hull0 {", `ip saddr 10.99.0.0/24 oifname != "hull0" masquerade`} {
		if !strings.Contains(script, want) {
			t.Errorf("nft script lacks %q:\n%s", want, script)
		}
	}
	rules := iptRules("hull0", p)
	want := "-t nat POSTROUTING -s 10.99.0.0/24 ! -o hull0 -m comment --comment hull:hull0 -j MASQUERADE"
	if len(rules) != 3 || strings.Join(rules[0], " ") != want {
		t.Errorf("iptables rules %q", rules)
	}
}
