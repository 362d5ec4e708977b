package specconv

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/hullrt/hull/libct/configs"
)

// ifNameSize is IFNAMSIZ: an interface name has at most 15 bytes.
const ifNameSize = 16

// convertNetDevices checks linux.netDevices: interface names as the kernel
// takes them (net/core/dev.c: dev_valid_name, and one "%d" in a new name
// for the kernel to number, __dev_alloc_name), a network namespace to move
// them into, and no two devices ending with the same name in it (the
// kernel would refuse the second with EEXIST after the first has moved).
// The loopback device can neither leave its namespace nor be replaced in
// the container's, so "lo" is refused on either side. Moving a host
// interface takes CAP_NET_ADMIN over the host's network namespace, which a
// rootless container does not have.
func convertNetDevices(in map[string]specs.LinuxNetDevice, c *configs.Config, rootless bool) ([]configs.NetDevice, error) {
	if len(in) == 0 {
		return nil, nil
	}
	const f = "linux.netDevices"
	if _, ok := c.Namespace(configs.NEWNET); !ok {
		return nil, fieldErr(f, "set, but linux.namespaces has no network namespace to move the devices into")
	}
	if rootless {
		return nil, fieldErr(f, "moving host interfaces needs CAP_NET_ADMIN in the host's network namespace, which a rootless container lacks")
	}
	hosts := make([]string, 0, len(in))
	for h := range in {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	out := make([]configs.NetDevice, 0, len(in))
	byName := map[string]string{}
	for _, h := range hosts {
		fk := key(f, h)
		if err := checkIfName(h, false); err != nil {
			return nil, fieldErr(fk, "host interface name: %v", err)
		}
		if h == "lo" {
			return nil, fieldErr(fk, "the loopback device cannot leave its network namespace")
		}
		name := in[h].Name
		if name == "" {
			name = h
		} else if err := checkIfName(name, true); err != nil {
			return nil, fieldErr(fk+".name", "%v", err)
		}
		if name == "lo" {
			return nil, fieldErr(fk+".name", "\"lo\" is the container's own loopback device")
		}
		if !strings.Contains(name, "%") {
			if other, dup := byName[name]; dup {
				return nil, fieldErr(fk, "would be named %q in the container, as %s[%q] would", name, f, other)
			}
			byName[name] = h
		}
		out = append(out, configs.NetDevice{HostName: h, Name: name})
	}
	return out, nil
}

// checkIfName checks an interface name as dev_valid_name does; template
// allows one "%d" (and no other '%').
func checkIfName(s string, template bool) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) >= ifNameSize:
		return fmt.Errorf("%q is longer than %d bytes (IFNAMSIZ)", s, ifNameSize-1)
	case s == "." || s == "..":
		return fmt.Errorf("%q is not an interface name", s)
	}
	for _, r := range s {
		switch r {
		case '/', ':', ' ', '\t', '\n', '\v', '\f', '\r', 0:
			return fmt.Errorf("%q: interface names have no '/', ':', whitespace or NUL", s)
		}
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		if !template {
			return fmt.Errorf("%q: '%%' has no place in an existing interface's name", s)
		}
		if !strings.HasPrefix(s[i:], "%d") || strings.Contains(s[i+2:], "%") {
			return fmt.Errorf("%q: a name template has exactly one %%d and no other '%%'", s)
		}
	}
	return nil
}
