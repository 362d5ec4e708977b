// Package netdev moves host network interfaces into a container's network
// namespace for linux.netDevices (runtime-spec 1.3, config-linux.md
// "Network Devices"), over rtnetlink with golang.org/x/sys/unix: no
// netlink library, and no ip(8).
//
// Move does what the spec asks of a runtime: it checks that the name is
// free in the container (an error unless the name is a "%d" template for
// the kernel to number), moves and renames the interface in one
// RTM_NEWLINK (IFLA_NET_NS_FD and IFLA_IFNAME), puts back the permanent,
// global addresses the move flushed (IFA_F_PERMANENT, RT_SCOPE_UNIVERSE:
// RFC 3549 2.3.3.2), and sets the interface up.
//
// MoveBack undoes a Move: the interface goes back to the host under its
// old name, with its addresses and its old up/down state. It is for a
// create that fails after the move. The spec forbids it on delete ("The
// runtime MUST NOT attempt to move the interface out of the namespace
// before deletion"): when the namespace is freed the kernel moves physical
// interfaces back by itself and destroys virtual ones.
//
// Every namespace is named by an open file (/proc/PID/ns/net, or a
// bind-mounted one): the package never changes the namespace of the
// calling thread.
package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Addr is an address of an interface as RTM_NEWADDR takes it back.
type Addr struct {
	Family    uint8  `json:"family"`
	PrefixLen uint8  `json:"prefixLen"`
	Scope     uint8  `json:"scope"`
	Flags     uint32 `json:"flags"`
	Local     []byte `json:"local,omitempty"`
	Address   []byte `json:"address,omitempty"`
	Broadcast []byte `json:"broadcast,omitempty"`
}

// Moved is what Move changed, for MoveBack.
type Moved struct {
	// HostName is the interface's name on the host; Name its name in the
	// container (a template filled in by the kernel).
	HostName string `json:"hostName"`
	Name     string `json:"name"`
	// Addrs are the addresses put back after the move.
	Addrs []Addr `json:"addrs,omitempty"`
	// WasUp says the interface was up on the host.
	WasUp bool `json:"wasUp,omitempty"`
}

// link is what the package reads of an interface.
type link struct {
	index int32
	name  string
	flags uint32
	mac   []byte
}

// getLink looks an interface up by name (RTM_GETLINK, IFLA_IFNAME).
func (c *conn) getLink(name string) (*link, error) {
	body := attrString(ifinfo{family: unix.AF_UNSPEC}.bytes(), unix.IFLA_IFNAME, name)
	msgs, err := c.request(unix.RTM_GETLINK, 0, body)
	if err != nil {
		return nil, err
	}
	return firstLink(msgs)
}

// getLinkByIndex looks an interface up by index.
func (c *conn) getLinkByIndex(index int32) (*link, error) {
	msgs, err := c.request(unix.RTM_GETLINK, 0, ifinfo{family: unix.AF_UNSPEC, index: index}.bytes())
	if err != nil {
		return nil, err
	}
	return firstLink(msgs)
}

// links lists every interface.
func (c *conn) links() ([]*link, error) {
	msgs, err := c.request(unix.RTM_GETLINK, unix.NLM_F_DUMP, ifinfo{family: unix.AF_UNSPEC}.bytes())
	if err != nil {
		return nil, err
	}
	var out []*link
	for _, m := range msgs {
		l, err := firstLink([][]byte{m})
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func firstLink(msgs [][]byte) (*link, error) {
	if len(msgs) == 0 {
		return nil, errors.New("netlink: no link in the answer")
	}
	info, attrs, err := parseIfinfo(msgs[0])
	if err != nil {
		return nil, err
	}
	return &link{index: info.index, name: cString(attrs[unix.IFLA_IFNAME]), flags: info.flags, mac: attrs[unix.IFLA_ADDRESS]}, nil
}

// setUp sets or clears IFF_UP.
func (c *conn) setUp(index int32, up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	_, err := c.request(unix.RTM_NEWLINK, 0, ifinfo{family: unix.AF_UNSPEC, index: index, flags: flags, change: unix.IFF_UP}.bytes())
	return err
}

// moveTo moves the interface to the namespace ns with the name name, in
// one message: the kernel moves it (with name if its own is taken there),
// then renames it in its new namespace (do_setlink).
func (c *conn) moveTo(index int32, ns *os.File, name string) error {
	body := attrU32(ifinfo{family: unix.AF_UNSPEC, index: index}.bytes(), unix.IFLA_NET_NS_FD, uint32(ns.Fd()))
	body = attrString(body, unix.IFLA_IFNAME, name)
	_, err := c.request(unix.RTM_NEWLINK, 0, body)
	return err
}

// keptAddrs returns the addresses of the interface that the spec says to
// keep: permanent (not from DHCP or SLAAC, which come back by themselves)
// and of global scope.
func (c *conn) keptAddrs(index int32) ([]Addr, error) {
	msgs, err := c.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfAddrmsg))
	if err != nil {
		return nil, err
	}
	var out []Addr
	for _, m := range msgs {
		if len(m) < unix.SizeofIfAddrmsg {
			continue
		}
		a := Addr{Family: m[0], PrefixLen: m[1], Flags: uint32(m[2]), Scope: m[3]}
		if int32(binary.NativeEndian.Uint32(m[4:])) != index {
			continue
		}
		attrs := parseAttrs(m[unix.SizeofIfAddrmsg:])
		if f, ok := attrs[unix.IFA_FLAGS]; ok && len(f) == 4 {
			a.Flags = binary.NativeEndian.Uint32(f)
		}
		if a.Flags&unix.IFA_F_PERMANENT == 0 || a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		a.Local, a.Address, a.Broadcast = attrs[unix.IFA_LOCAL], attrs[unix.IFA_ADDRESS], attrs[unix.IFA_BROADCAST]
		out = append(out, a)
	}
	return out, nil
}

// userAddrFlags are the address flags RTM_NEWADDR takes from a user.
const userAddrFlags = unix.IFA_F_PERMANENT | unix.IFA_F_NODAD | unix.IFA_F_HOMEADDRESS |
	unix.IFA_F_MANAGETEMPADDR | unix.IFA_F_NOPREFIXROUTE | unix.IFA_F_MCAUTOJOIN | unix.IFA_F_OPTIMISTIC

// addAddr adds an address to the interface.
func (c *conn) addAddr(index int32, a Addr) error {
	h := make([]byte, unix.SizeofIfAddrmsg)
	h[0], h[1], h[2], h[3] = a.Family, a.PrefixLen, uint8(a.Flags&userAddrFlags), a.Scope
	binary.NativeEndian.PutUint32(h[4:], uint32(index))
	body := h
	for _, at := range []struct {
		typ  uint16
		data []byte
	}{{unix.IFA_LOCAL, a.Local}, {unix.IFA_ADDRESS, a.Address}, {unix.IFA_BROADCAST, a.Broadcast}} {
		if len(at.data) > 0 {
			body = attr(body, at.typ, at.data)
		}
	}
	// The flags a user sets (IFA_F_NOPREFIXROUTE, ...), not the states
	// the kernel keeps (secondary, tentative, deprecated).
	body = attrU32(body, unix.IFA_FLAGS, a.Flags&userAddrFlags)
	_, err := c.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body)
	return err
}

// Move moves the interface hostName from the namespace host into the
// namespace container as name ("" keeps hostName; "%d" in it is numbered
// by the kernel), puts back its permanent global addresses and sets it up.
// On failure the interface is moved back (MoveBack) and the error says
// what failed.
func Move(host, container *os.File, hostName, name string) (*Moved, error) {
	if name == "" {
		name = hostName
	}
	hc, err := dial(host)
	if err != nil {
		return nil, fmt.Errorf("move %s: host namespace: %w", hostName, err)
	}
	defer hc.Close()
	cc, err := dial(container)
	if err != nil {
		return nil, fmt.Errorf("move %s: container namespace: %w", hostName, err)
	}
	defer cc.Close()

	l, err := hc.getLink(hostName)
	if errors.Is(err, unix.ENODEV) {
		return nil, fmt.Errorf("move %s: no such interface on the host", hostName)
	}
	if err != nil {
		return nil, fmt.Errorf("move %s: %w", hostName, err)
	}
	if !strings.Contains(name, "%") {
		// The spec's MUST: a name taken in the container is an error. The
		// kernel would refuse the rename too, but only after the move.
		if _, err := cc.getLink(name); err == nil {
			return nil, fmt.Errorf("move %s: the container already has an interface named %s", hostName, name)
		} else if !errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("move %s: look for %s in the container: %w", hostName, name, err)
		}
	}
	addrs, err := hc.keptAddrs(l.index)
	if err != nil {
		return nil, fmt.Errorf("move %s: read its addresses: %w", hostName, err)
	}
	m := &Moved{HostName: hostName, Name: name, Addrs: addrs, WasUp: l.flags&unix.IFF_UP != 0}
	if err := hc.moveTo(l.index, container, name); err != nil {
		// A move that failed half-way (moved, not renamed) leaves it in
		// the container under its host name.
		if back := moveBackFrom(cc, host, m, hostName); back != nil && !errors.Is(back, unix.ENODEV) {
			return nil, fmt.Errorf("move %s into the container as %s: %w (and moving it back: %v)", hostName, name, err, back)
		}
		return nil, fmt.Errorf("move %s into the container as %s: %w", hostName, name, err)
	}
	moved, err := findMoved(cc, l)
	if err == nil {
		m.Name = moved.name
		err = configure(cc, moved.index, addrs)
	}
	if err != nil {
		if back := MoveBack(host, container, m); back != nil {
			return nil, fmt.Errorf("move %s: %w (and moving it back: %v)", hostName, err, back)
		}
		return nil, fmt.Errorf("move %s: %w", hostName, err)
	}
	return m, nil
}

// findMoved finds the interface in its new namespace: under its old index
// (which the kernel keeps when it is free there), checked by its MAC
// address, else by that address alone (a "%d" name is the kernel's).
func findMoved(c *conn, old *link) (*link, error) {
	if l, err := c.getLinkByIndex(old.index); err == nil && string(l.mac) == string(old.mac) {
		return l, nil
	}
	ls, err := c.links()
	if err != nil {
		return nil, fmt.Errorf("find it in the container: %w", err)
	}
	for _, l := range ls {
		if len(old.mac) > 0 && string(l.mac) == string(old.mac) {
			return l, nil
		}
	}
	return nil, errors.New("moved, but not found in the container")
}

// configure puts the addresses back and sets the interface up.
func configure(c *conn, index int32, addrs []Addr) error {
	for _, a := range addrs {
		if err := c.addAddr(index, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add address %s/%d: %w", ipString(a), a.PrefixLen, err)
		}
	}
	if err := c.setUp(index, true); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

// MoveBack moves an interface that Move moved back to the namespace host
// under its host name, puts its addresses back, and sets it up if it was.
// Only for undoing a failed create: see the package doc.
func MoveBack(host, container *os.File, m *Moved) error {
	cc, err := dial(container)
	if err != nil {
		return fmt.Errorf("move %s back: container namespace: %w", m.Name, err)
	}
	defer cc.Close()
	return moveBackFrom(cc, host, m, m.Name)
}

// moveBackFrom moves the interface named name in cc's namespace back.
func moveBackFrom(cc *conn, host *os.File, m *Moved, name string) error {
	l, err := cc.getLink(name)
	if err != nil {
		return fmt.Errorf("move %s back: %w", name, err)
	}
	// A renamed interface must be down (dev_change_name: EBUSY).
	if err := cc.setUp(l.index, false); err != nil {
		return fmt.Errorf("move %s back: set down: %w", name, err)
	}
	if err := cc.moveTo(l.index, host, m.HostName); err != nil {
		return fmt.Errorf("move %s back to the host as %s: %w", name, m.HostName, err)
	}
	hc, err := dial(host)
	if err != nil {
		return fmt.Errorf("move %s back: host namespace: %w", name, err)
	}
	defer hc.Close()
	hl, err := hc.getLink(m.HostName)
	if err != nil {
		return fmt.Errorf("move %s back: find %s on the host: %w", name, m.HostName, err)
	}
	for _, a := range m.Addrs {
		if err := hc.addAddr(hl.index, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("move %s back: add address %s/%d: %w", name, ipString(a), a.PrefixLen, err)
		}
	}
	if m.WasUp {
		if err := hc.setUp(hl.index, true); err != nil {
			return fmt.Errorf("move %s back: set up: %w", name, err)
		}
	}
	return nil
}

func ipString(a Addr) string {
	if len(a.Local) > 0 {
		return net.IP(a.Local).String()
	}
	return net.IP(a.Address).String()
}
