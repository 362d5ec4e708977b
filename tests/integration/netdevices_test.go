package integration

import (
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linkInfo is what `ip -j addr show` says of an interface.
type linkInfo struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func (l *linkInfo) addrs() []string {
	var out []string
	for _, a := range l.AddrInfo {
		out = append(out, a.Local+"/"+itoa(a.PrefixLen))
	}
	return out
}

// linksIn returns the interfaces of the network namespace at nsPath.
func linksIn(t *testing.T, nsPath string) map[string]*linkInfo {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+nsPath, "--", "ip", "-j", "addr", "show").Output()
	if err != nil {
		t.Fatalf("ip addr show in %s: %v", nsPath, err)
	}
	var ls []*linkInfo
	if err := json.Unmarshal(out, &ls); err != nil {
		t.Fatalf("ip -j addr show: %v: %s", err, out)
	}
	m := map[string]*linkInfo{}
	for _, l := range ls {
		m[l.Name] = l
	}
	return m
}

// veth makes the pair name/name+"p" in n with the addresses on name, up.
func veth(t *testing.T, n *netns, name string, addrs ...string) {
	t.Helper()
	cmds := [][]string{{"ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"}}
	for _, a := range addrs {
		cmds = append(cmds, []string{"ip", "addr", "add", a, "dev", name, "nodad"})
	}
	cmds = append(cmds, []string{"ip", "link", "set", name, "up"})
	for _, c := range cmds {
		if out, err := n.run(c[0], c[1:]...); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
}

// TestNetDevices: linux.netDevices moves host interfaces into the
// container's network namespace under their new names (a "%d" template
// numbered by the kernel), with their permanent global addresses and up,
// and takes them off the host; a create that fails after the move puts
// them back as they were; delete leaves them to the kernel, which
// destroys a veth (and its peer) with the namespace. The "host" is a
// network namespace of the test's own, where hull runs.
func TestNetDevices(t *testing.T) {
	runcDeviation(t, "runc 1.1 predates linux.netDevices (runtime-spec 1.3) and ignores it")
	r := newRuntime(t)
	n := newNetns(t)
	veth(t, n, "hv0", "10.77.0.1/24", "fd77::1/64")
	veth(t, n, "hv1")
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"hv0": {Name: "ctr0"}, "hv1": {Name: "eth%d"}}
	})
	n.mustHull(r, "create", "--bundle", b.dir, id)
	t.Cleanup(func() { n.deleteAll(r) })
	ctrNS := "/proc/" + itoa(r.state(id).Pid) + "/ns/net"

	in := linksIn(t, ctrNS)
	ctr0, eth0 := in["ctr0"], in["eth0"]
	if ctr0 == nil || eth0 == nil {
		t.Fatalf("container's interfaces %v, want ctr0 (hv0) and eth0 (hv1 as eth%%d)", slices.Sorted(maps.Keys(in)))
	}
	if want := []string{"10.77.0.1/24", "fd77::1/64"}; !subset(want, ctr0.addrs()) {
		t.Errorf("ctr0 has addresses %v, want %v kept", ctr0.addrs(), want)
	}
	for _, l := range []*linkInfo{ctr0, eth0} {
		if !slices.Contains(l.Flags, "UP") {
			t.Errorf("%s is not up in the container: %v", l.Name, l.Flags)
		}
	}
	// The container sees them too (its own ip, through exec).
	if res := n.mustHull(r, "exec", id, "ip", "-o", "addr", "show", "ctr0"); !strings.Contains(res.stdout, "10.77.0.1/24") {
		t.Errorf("exec ip addr show ctr0: %q", res.stdout)
	}
	host := linksIn(t, n.path)
	for _, gone := range []string{"hv0", "hv1"} {
		if host[gone] != nil {
			t.Errorf("%s still on the host side after the move", gone)
		}
	}
	if host["hv0p"] == nil || host["hv1p"] == nil {
		t.Fatalf("the veth peers left the host side: %v", slices.Sorted(maps.Keys(host)))
	}

	// Delete does not move them back: the namespace goes, and the
	// kernel destroys the veths with it, peers included (asynchronously:
	// cleanup_net runs from a workqueue).
	if res := n.hull(r, "delete", "--force", id); res.code != 0 {
		t.Fatalf("delete: %v", res)
	}
	deadline := time.Now().Add(callTimeout)
	for {
		host = linksIn(t, n.path)
		if host["hv0p"] == nil && host["hv1p"] == nil && host["hv0"] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete, the host side still has %v; want hv0p and hv1p destroyed with the container's namespace", slices.Sorted(maps.Keys(host)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNetDevicesFailedCreate: a create that fails after the devices were
// moved (here a createRuntime hook) moves them back under their host
// names, with their addresses and their up state, and leaves nothing.
func TestNetDevicesFailedCreate(t *testing.T) {
	runcDeviation(t, "runc 1.1 predates linux.netDevices (runtime-spec 1.3) and ignores it")
	r := newRuntime(t)
	n := newNetns(t)
	veth(t, n, "hv2", "10.78.0.1/24", "fd78::1/64")
	before := linksIn(t, n.path)["hv2"]
	id := newID(t)
	b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"hv2": {Name: "ctr0"}}
		// The hook checks that the device is in the container by then.
		s.Hooks = &specs.Hooks{CreateRuntime: failingHook(`read -r st; pid=$(echo "$st" | sed 's/.*"pid":\([0-9]*\).*/\1/'); nsenter --net=/proc/$pid/ns/net ip link show ctr0 > /dev/null && echo moved >&2; exit 3`, nil)}
	})
	snap := snapshot(t, b.dir)
	res := n.hull(r, "create", "--bundle", b.dir, id)
	if res.code == 0 {
		t.Fatalf("create with a failing createRuntime hook succeeded: %v", res)
	}
	if !strings.Contains(res.stderr, "moved") {
		t.Errorf("the hook did not see ctr0 in the container: %v", res)
	}
	after := linksIn(t, n.path)["hv2"]
	if after == nil {
		t.Fatalf("hv2 is not back on the host side after the failed create: %v", slices.Sorted(maps.Keys(linksIn(t, n.path))))
	}
	if !subset(before.addrs(), after.addrs()) || !slices.Contains(after.Flags, "UP") {
		t.Errorf("hv2 back as %v %v, was %v %v", after.addrs(), after.Flags, before.addrs(), before.Flags)
	}
	checkNoLeaks(t, r, id, b.dir, snap)
}

// subset reports whether every element of want is in have.
func subset(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
