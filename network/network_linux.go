package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dir is where a root's networks keep their state: <bridge>.json each,
// and the directory itself is the lock every add, del and list takes.
func dir(root string) string { return filepath.Join(root, "network") }

func lock(d string) (func(), error) {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	fd, err := unix.Open(d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", d, err)
	}
	return func() { unix.Close(fd) }, nil
}

func statePath(root, bridge string) string { return filepath.Join(dir(root), bridge+".json") }

// load reads a network's state; a network that does not exist is a
// zero state.
func load(root, bridge string) (*netState, error) {
	b, err := os.ReadFile(statePath(root, bridge))
	if errors.Is(err, fs.ErrNotExist) {
		return &netState{Bridge: bridge}, nil
	}
	if err != nil {
		return nil, err
	}
	var st netState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(root, bridge), err)
	}
	return &st, nil
}

// save writes the state by temp file and rename, or removes it when no
// container is left.
func save(root string, st *netState) error {
	p := statePath(root, st.Bridge)
	if len(st.Leases) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// alias marks a bridge as made by hull for a state root, and keeps the
// value net.ipv4.ip_forward had before hull turned it on.
func alias(root, forward string) string { return "hull root=" + root + " forward=" + forward }

func aliasRoot(a string) (root, forward string, ok bool) {
	rest, ok := strings.CutPrefix(a, "hull root=")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, " forward=")
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+len(" forward="):], true
}

// Add puts the container id, whose process is pid, on the network: it
// makes the bridge and NAT if this is the network's first container, a
// lease, and a veth pair whose other end is o.IfName in the container,
// with the lease's address, up, and a default route to the bridge. On
// failure everything it did is undone.
func Add(o Options, id string, pid int) (_ *Lease, err error) {
	p, err := o.check()
	if err != nil {
		return nil, err
	}
	if own, err := ownNetns(pid); err != nil {
		return nil, err
	} else if !own {
		return nil, fmt.Errorf("container %s has no network namespace of its own (linux.namespaces): it would get the host's", id)
	}
	unlock, err := lock(dir(o.Root))
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := load(o.Root, o.Bridge)
	if err != nil {
		return nil, err
	}
	if st.Subnet != "" && st.Subnet != p.String() {
		return nil, fmt.Errorf("network %s has subnet %s, not %s (one subnet per bridge)", o.Bridge, st.Subnet, p)
	}
	// A lease of this id (an add that crashed, or a second add) and
	// leases of containers whose state is gone (deleted while hull was
	// killed before the poststop hook) are released first.
	st.Leases = slices.DeleteFunc(st.Leases, func(l Lease) bool {
		if l.ID != id {
			if _, err := os.Stat(filepath.Join(o.Root, l.ID)); !errors.Is(err, fs.ErrNotExist) {
				return false
			}
		}
		_ = delLink(l.Veth)
		return true
	})
	if st.Firewall == "" {
		if st.Firewall, err = resolveFirewall(o.Firewall); err != nil {
			return nil, err
		}
	}
	st.Subnet = p.String()
	addr, err := allocate(p, st.Leases)
	if err != nil {
		return nil, err
	}
	lease := Lease{ID: id, Address: addr.String(), Veth: vethName(o.Root, id), Bridge: o.Bridge}
	// Recorded before anything is made, so that a crash from here on
	// leaves a lease that del (or the next add) undoes.
	st.Leases = append(st.Leases, lease)
	if err := save(o.Root, st); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if uerr := release(o.Root, st, id); uerr != nil {
				err = fmt.Errorf("%w (and undoing it: %v)", err, uerr)
			}
		}
	}()
	if err := setUp(o.Root, st, p); err != nil {
		return nil, err
	}
	if err := ip("link", "add", lease.Veth, "type", "veth", "peer", "name", o.IfName, "netns", strconv.Itoa(pid)); err != nil {
		return nil, err
	}
	if err := ip("link", "set", lease.Veth, "master", o.Bridge, "up"); err != nil {
		return nil, err
	}
	gw := gateway(p)
	err = inNetns(pid, func() error {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"addr", "add", netip.PrefixFrom(addr, p.Bits()).String(), "dev", o.IfName},
			{"link", "set", o.IfName, "up"},
			{"route", "add", "default", "via", gw.String(), "dev", o.IfName},
		} {
			if err := ip(args...); err != nil {
				return fmt.Errorf("in the container: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &lease, nil
}

// setUp makes the bridge with the gateway address, unless hull made it
// already (a crash may have left it), then the NAT. A bridge of that
// name that hull did not make for this root is refused: it may be
// someone else's network.
func setUp(root string, st *netState, p netip.Prefix) error {
	brs, err := bridges()
	if err != nil {
		return err
	}
	exists, forward := false, ""
	for _, b := range brs {
		r, fw, ours := aliasRoot(b.Alias)
		switch {
		case b.Name == st.Bridge && (!ours || r != root):
			return fmt.Errorf("bridge %s exists and is not hull's network of --root %s (alias %q): choose another bridge name", st.Bridge, root, b.Alias)
		case b.Name == st.Bridge:
			exists = true
		case ours && forward == "":
			forward = fw // what ip_forward was before any hull network
		}
	}
	if !exists {
		if err := makeBridge(root, st.Bridge, p, forward); err != nil {
			return err
		}
	}
	if err := addNAT(st.Firewall, st.Bridge, p); err != nil {
		return err
	}
	if st.Firewall == "none" {
		return nil
	}
	// Masquerading is routing: without forwarding only the host and the
	// other containers are reachable.
	if v, err := readForward(); err != nil || v != "1" {
		return writeForward("1")
	}
	return nil
}

// makeBridge creates the bridge, marked as hull's with the value
// ip_forward had before hull (forward, or the current one), and gives it
// the gateway address.
func makeBridge(root, name string, p netip.Prefix, forward string) error {
	if linkExists(name) {
		return fmt.Errorf("%s exists and is not a bridge: choose another bridge name", name)
	}
	if r, err := overlap(p, name); err != nil {
		return err
	} else if r != "" {
		return fmt.Errorf("subnet %s overlaps the route %s: choose another subnet", p, r)
	}
	if forward == "" {
		var err error
		if forward, err = readForward(); err != nil {
			return err
		}
	}
	if err := ip("link", "add", name, "type", "bridge"); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"link", "set", name, "alias", alias(root, forward)},
		{"addr", "add", netip.PrefixFrom(gateway(p), p.Bits()).String(), "dev", name},
		{"link", "set", name, "up"},
	} {
		if err := ip(args...); err != nil {
			// Not marked as hull's yet, tearDown would not take it.
			_ = delLink(name)
			return err
		}
	}
	return nil
}

// release removes the lease of id from st with its veth, and takes the
// network down if it was the last one.
func release(root string, st *netState, id string) error {
	var errs []error
	st.Leases = slices.DeleteFunc(st.Leases, func(l Lease) bool {
		if l.ID != id {
			return false
		}
		if err := delLink(l.Veth); err != nil {
			errs = append(errs, err)
		}
		return true
	})
	if len(st.Leases) == 0 {
		if err := tearDown(root, st); err != nil {
			errs = append(errs, err)
		}
	}
	if err := save(root, st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tearDown removes the NAT and the bridge, and puts ip_forward back when
// hull's first network turned it on and this was its last. Only a bridge
// hull made for this root (and in this network namespace) is touched.
func tearDown(root string, st *netState) error {
	var errs []error
	p, err := netip.ParsePrefix(st.Subnet)
	if err == nil {
		if err := delNAT(st.Firewall, st.Bridge, p); err != nil {
			errs = append(errs, err)
		}
	}
	brs, err := bridges()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	forward, others := "", false
	for _, b := range brs {
		r, fw, ours := aliasRoot(b.Alias)
		switch {
		case b.Name == st.Bridge && ours && r == root:
			if err := delLink(st.Bridge); err != nil {
				errs = append(errs, err)
			}
			forward = fw
		case ours:
			others = true
		}
	}
	if forward == "0" && !others && st.Firewall != "none" {
		if err := writeForward("0"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Del takes container id off every network of the root; a container that
// is on none is no error (del runs again after a crash, or after add
// failed and undid itself).
func Del(root, id string) error {
	d := dir(root)
	if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	unlock, err := lock(d)
	if err != nil {
		return err
	}
	defer unlock()
	names, err := networks(root)
	if err != nil {
		return err
	}
	var errs []error
	for _, br := range names {
		st, err := load(root, br)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.ContainsFunc(st.Leases, func(l Lease) bool { return l.ID == id }) {
			if err := release(root, st, id); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", br, err))
			}
		}
	}
	return errors.Join(errs...)
}

// List returns the leases of every network of the root.
func List(root string) ([]Lease, error) {
	d := dir(root)
	if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	unlock, err := lock(d)
	if err != nil {
		return nil, err
	}
	defer unlock()
	names, err := networks(root)
	if err != nil {
		return nil, err
	}
	var out []Lease
	for _, br := range names {
		st, err := load(root, br)
		if err != nil {
			return nil, err
		}
		out = append(out, st.Leases...)
	}
	return out, nil
}

// networks lists the bridges that have a state file under the root.
func networks(root string) ([]string, error) {
	entries, err := os.ReadDir(dir(root))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && bridgeName().MatchString(n) {
			names = append(names, n)
		}
	}
	return names, nil
}
