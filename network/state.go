// Package network gives a container started by hand (hull run, hull
// create) a way out of its empty network namespace, as lxc's lxcbr0 does:
// a host bridge holding the gateway address, one veth pair per container
// (its end in the container named eth0, with an address and a default
// route), the address taken from a small lease file under hull's state
// root, and NAT (masquerade) to the outside with nftables or iptables.
//
// `hull spec --network bridge` writes the hooks that drive it: a
// createRuntime hook runs `hull network add` (the container's namespaces
// exist, its process has not started) and a poststop hook runs `hull
// network del`. The bridge and the NAT rules exist while at least one
// container is on the network; the last del removes them, and puts
// net.ipv4.ip_forward back if add had to turn it on.
//
// Every step is undone by del, and del is idempotent: after a crash (hull
// killed mid-create, a hook killed mid-add) `hull delete` runs the
// poststop hook and leaves nothing. A veth dies with its container's
// network namespace; a lease whose container's state directory is gone
// is released by the next add.
//
// The kernel is driven through iproute2's ip(8), nft(8) or iptables(8):
// no netlink library. All of it runs in the caller's network namespace
// (the host's, for a hook).
package network

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sync"
)

// Defaults of `hull spec --network bridge`.
const (
	DefaultBridge = "hull0"
	// DefaultSubnet is rarely used by others (Podman takes 10.88.0.0/16,
	// lxc 10.0.3.0/24, Docker 172.17.0.0/16); add refuses a subnet that
	// overlaps a route of the host anyway.
	DefaultSubnet = "10.99.0.0/24"
)

// Options name one bridge network of one state root.
type Options struct {
	// Root is hull's state root: leases are kept in Root/network/.
	Root string
	// Bridge is the bridge's name: letters, digits and _ (it also names
	// the nftables table), at most 15 bytes (IFNAMSIZ).
	Bridge string
	// Subnet is the IPv4 network, e.g. 10.99.0.0/24: the bridge has its
	// first address, containers the next ones.
	Subnet string
	// Firewall does the NAT: "nft", "iptables", "none" or "auto" (nft
	// when found, else iptables).
	Firewall string
	// IfName is the container's end of the veth pair (eth0).
	IfName string
}

// Compiled on first use: every hull process links this package, few
// use these (issue 17.4).
var (
	bridgeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_]{1,15}$`) })
	ifName     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`) })
)

// check validates o and returns its subnet.
func (o *Options) check() (netip.Prefix, error) {
	if o.Root == "" {
		return netip.Prefix{}, errors.New("no state root given")
	}
	if err := CheckBridge(o.Bridge); err != nil {
		return netip.Prefix{}, err
	}
	if !ifName().MatchString(o.IfName) {
		return netip.Prefix{}, fmt.Errorf("interface name %q: want 1 to 15 letters, digits, _ . or -", o.IfName)
	}
	if !slices.Contains([]string{"auto", "nft", "iptables", "none"}, o.Firewall) {
		return netip.Prefix{}, fmt.Errorf("firewall %q: want auto, nft, iptables or none", o.Firewall)
	}
	return ParseSubnet(o.Subnet)
}

// CheckBridge checks a bridge name: 1 to 15 (IFNAMSIZ) letters, digits or
// _, as it also names the network's nftables table.
func CheckBridge(name string) error {
	if !bridgeName().MatchString(name) {
		return fmt.Errorf("bridge name %q: want 1 to 15 letters, digits or _", name)
	}
	return nil
}

// ParseSubnet checks an IPv4 subnet for a bridge network: its network
// address, with room for the gateway and at least one container.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("subnet %q: %w", s, err)
	}
	if !p.Addr().Is4() {
		return p, fmt.Errorf("subnet %q: only IPv4 is supported", s)
	}
	if p.Bits() < 8 || p.Bits() > 30 {
		return p, fmt.Errorf("subnet %q: the prefix length must be 8 to 30", s)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("subnet %q: host bits set (the network is %s)", s, p.Masked())
	}
	return p, nil
}

// Lease is one container's place on a network.
type Lease struct {
	ID      string `json:"id"`
	Address string `json:"address"` // without the prefix length
	Veth    string `json:"veth"`    // the host's end
	Bridge  string `json:"bridge"`
}

// netState is Root/network/<bridge>.json.
type netState struct {
	Bridge string `json:"bridge"`
	Subnet string `json:"subnet"`
	// Firewall is the tool that made the NAT rules ("none" when none):
	// the same one removes them.
	Firewall string  `json:"firewall"`
	Leases   []Lease `json:"leases"`
}

// gateway is the bridge's address: the subnet's first.
func gateway(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// allocate returns the lowest address of p that is neither the network,
// the gateway, the broadcast address nor leased.
func allocate(p netip.Prefix, leases []Lease) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	for _, l := range leases {
		if a, err := netip.ParseAddr(l.Address); err == nil {
			used[a] = true
		}
	}
	for a := gateway(p).Next(); p.Contains(a); a = a.Next() {
		if !p.Contains(a.Next()) {
			break // the broadcast address
		}
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("subnet %s is full (%d containers)", p, len(leases))
}

// vethName is the host end's name for container id under root: "hv" and
// ten hex digits of a hash, so that it fits IFNAMSIZ and two roots never
// share one.
func vethName(root, id string) string {
	h := sha256.Sum256([]byte(root + "\x00" + id))
	return "hv" + hex.EncodeToString(h[:5])
}
