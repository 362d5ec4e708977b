package netdev

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// newNetns makes a network namespace that only the test knows: a thread
// unshares it and dies (never unlocked), the returned file keeps it alive.
// The host's own interfaces are never touched.
func newNetns(t *testing.T) *os.File {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN) to make network namespaces")
	}
	ch := make(chan *os.File, 1)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		ch <- f
	}()
	select {
	case f := <-ch:
		t.Cleanup(func() { f.Close() })
		return f
	case err := <-errc:
		t.Fatalf("new network namespace: %v", err)
	}
	return nil
}

// ipIn runs ip(8) in the namespace ns: ip is the test's independent
// witness of what the package did, and sets the scene.
func ipIn(t *testing.T, ns *os.File, args ...string) string {
	t.Helper()
	out, err := runIn(ns, "ip", args...)
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func runIn(ns *os.File, prog string, args ...string) (string, error) {
	if _, err := exec.LookPath("nsenter"); err != nil {
		return "", err
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/proc/self/fd/3", prog}, args...)...)
	cmd.ExtraFiles = []*os.File{ns}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ifaceJSON is what the tests read of `ip -j addr show`.
type ifaceJSON struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

// iface reads an interface of ns, or nil when it has none of that name.
func iface(t *testing.T, ns *os.File, name string) *ifaceJSON {
	t.Helper()
	var all []ifaceJSON
	if err := json.Unmarshal([]byte(ipIn(t, ns, "-j", "addr", "show")), &all); err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i]
		}
	}
	return nil
}

func (i *ifaceJSON) addrs() []string {
	var out []string
	for _, a := range i.AddrInfo {
		out = append(out, a.Local+"/"+itoa(a.PrefixLen))
	}
	slices.Sort(out)
	return out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// vethWithAddrs makes a veth pair in ns with, on name: an IPv4 and an IPv6
// global permanent address, and a link-local one that is not to be kept.
func vethWithAddrs(t *testing.T, ns *os.File, name string, up bool) {
	t.Helper()
	ipIn(t, ns, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	ipIn(t, ns, "addr", "add", "10.1.2.3/24", "dev", name)
	ipIn(t, ns, "-6", "addr", "add", "2001:db8::5/64", "dev", name, "nodad")
	ipIn(t, ns, "addr", "add", "169.254.7.7/16", "scope", "link", "dev", name)
	if up {
		ipIn(t, ns, "link", "set", name, "up")
	}
}

var wantKept = []string{"10.1.2.3/24", "2001:db8::5/64"}

// TestMoveAndBack moves a veth end from one test namespace into another
// and back: renamed, its permanent global addresses kept (the link-scope
// one is not: the spec keeps RT_SCOPE_UNIVERSE only), set up; then back
// under its old name with its addresses and state.
func TestMoveAndBack(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	vethWithAddrs(t, host, "h0", false)
	m, err := Move(host, ctr, "h0", "c0")
	if err != nil {
		t.Fatal(err)
	}
	if iface(t, host, "h0") != nil {
		t.Errorf("h0 still on the host")
	}
	in := iface(t, ctr, "c0")
	if in == nil {
		t.Fatalf("no c0 in the container: %s", ipIn(t, ctr, "addr"))
	}
	if got := in.addrs(); !slices.Equal(got, wantKept) {
		t.Errorf("addresses in the container %v, want %v", got, wantKept)
	}
	if !slices.Contains(in.Flags, "UP") {
		t.Errorf("c0 flags %v, want UP", in.Flags)
	}
	if m.Name != "c0" || m.HostName != "h0" || m.WasUp {
		t.Errorf("Moved = %+v", m)
	}
	if err := MoveBack(host, ctr, m); err != nil {
		t.Fatal(err)
	}
	if iface(t, ctr, "c0") != nil {
		t.Errorf("c0 still in the container")
	}
	back := iface(t, host, "h0")
	if back == nil {
		t.Fatalf("h0 not back on the host")
	}
	if got := back.addrs(); !slices.Equal(got, wantKept) {
		t.Errorf("addresses back on the host %v, want %v", got, wantKept)
	}
	if slices.Contains(back.Flags, "UP") {
		t.Errorf("h0 up after moving back; it was down before")
	}
}

// TestMoveKeepsName moves an interface that is up without renaming it.
func TestMoveKeepsName(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	vethWithAddrs(t, host, "h1", true)
	m, err := Move(host, ctr, "h1", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "h1" || !m.WasUp || iface(t, ctr, "h1") == nil {
		t.Fatalf("Moved = %+v; container: %s", m, ipIn(t, ctr, "link"))
	}
}

// TestMoveNameTaken checks the spec's MUST: a name the container already
// has is an error, and the interface stays on the host as it was.
func TestMoveNameTaken(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	vethWithAddrs(t, host, "h0", true)
	ipIn(t, ctr, "link", "add", "taken", "type", "veth", "peer", "name", "takenp")
	_, err := Move(host, ctr, "h0", "taken")
	if err == nil || !strings.Contains(err.Error(), "already has an interface named taken") {
		t.Fatalf("Move onto a taken name = %v", err)
	}
	h := iface(t, host, "h0")
	if h == nil || !slices.Contains(h.Flags, "UP") || len(h.AddrInfo) != 3 {
		t.Fatalf("h0 after the refused move: %+v", h)
	}
}

// TestMoveTemplate checks a "%d" name: the kernel numbers it past the
// names the container has, and Move reports the name it got.
func TestMoveTemplate(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	vethWithAddrs(t, host, "h0", false)
	ipIn(t, ctr, "link", "add", "net0", "type", "veth", "peer", "name", "other")
	m, err := Move(host, ctr, "h0", "net%d")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "net1" || iface(t, ctr, "net1") == nil {
		t.Fatalf("Moved = %+v; container: %s", m, ipIn(t, ctr, "link"))
	}
	if got := iface(t, ctr, "net1").addrs(); !slices.Equal(got, wantKept) {
		t.Errorf("addresses %v, want %v", got, wantKept)
	}
}

func TestMoveMissing(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	if _, err := Move(host, ctr, "nothere", "x"); err == nil || !strings.Contains(err.Error(), "no such interface on the host") {
		t.Fatalf("Move of a missing interface = %v", err)
	}
}

// TestMoveFailsMovesBack makes the container refuse the interface's IPv6
// address (IPv6 disabled there) after the move: Move fails naming the
// address, and the interface is back on the host as it was, name,
// addresses and state: a failed create leaves nothing behind.
func TestMoveFailsMovesBack(t *testing.T) {
	host, ctr := newNetns(t), newNetns(t)
	vethWithAddrs(t, host, "h0", true)
	if out, err := runIn(ctr, "sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		t.Skipf("cannot disable IPv6 in the test namespace: %v %s", err, out)
	}
	_, err := Move(host, ctr, "h0", "c0")
	if err == nil || !strings.Contains(err.Error(), "2001:db8::5/64") {
		t.Fatalf("Move into a namespace without IPv6 = %v, want the IPv6 address refused", err)
	}
	if iface(t, ctr, "c0") != nil {
		t.Fatalf("c0 left in the container")
	}
	h := iface(t, host, "h0")
	if h == nil {
		t.Fatalf("h0 not back on the host: %s", ipIn(t, host, "link"))
	}
	if got := h.addrs(); !slices.Equal(got, wantKept) || !slices.Contains(h.Flags, "UP") {
		t.Errorf("h0 back with %v %v, want %v and UP", got, h.Flags, wantKept)
	}
}
