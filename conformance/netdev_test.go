package conformance

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// netNS is a network namespace of the test's own, held by a sleep.
type netNS struct {
	t    *testing.T
	path string
}

func newNetNS(t *testing.T) *netNS {
	t.Helper()
	cmd := exec.Command("sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("a network namespace for the test: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &netNS{t: t, path: "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"}
}

// ip runs ip(8) in the namespace.
func (n *netNS) ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.path, "--", "ip"}, args...)...).CombinedOutput()
	return string(out), err
}

func (n *netNS) mustIP(args ...string) {
	n.t.Helper()
	if out, err := n.ip(args...); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// ifLink is what `ip -j addr show` says of an interface.
type ifLink struct {
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

func (l *ifLink) addrs() []string {
	var out []string
	for _, a := range l.AddrInfo {
		out = append(out, a.Local+"/"+strconv.Itoa(a.PrefixLen))
	}
	return out
}

// linksAt returns the interfaces of the network namespace at path.
func linksAt(t *testing.T, path string) map[string]*ifLink {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+path, "--", "ip", "-j", "addr", "show").Output()
	if err != nil {
		t.Fatalf("ip addr show in %s: %v", path, err)
	}
	var ls []*ifLink
	if err := json.Unmarshal(out, &ls); err != nil {
		t.Fatalf("ip -j addr show: %v: %s", err, out)
	}
	m := map[string]*ifLink{}
	for _, l := range ls {
		m[l.Name] = l
	}
	return m
}

// TestNetDevices checks linux.netDevices with veth pairs in a network
// namespace the test makes and runs the runtime in (nsenter): the host's
// own interfaces are never touched. A runtime whose features do not
// enable netDevices must refuse them, naming the field.
func TestNetDevices(t *testing.T) {
	requireSuite(t)
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipClause(t, "CL-NETDEV-AVAILABLE", "no %s(8) on this host (host probe)", tool)
		}
	}
	claim := ""
	if f := suite.features; f != nil && f.Linux != nil && f.Linux.NetDevices != nil && f.Linux.NetDevices.Enabled != nil && *f.Linux.NetDevices.Enabled {
		claim = "enable netDevices"
	}
	host := newNetNS(t)
	veth := func(name string, addrs ...string) {
		host.mustIP("link", "add", name, "type", "veth", "peer", "name", name+"p")
		for _, a := range addrs {
			host.mustIP("addr", "add", a, "dev", name, "nodad")
		}
		host.mustIP("link", "set", name, "up")
	}
	// create makes a sleeping container with devs, run from the host
	// namespace; join, when set, is a network namespace to join.
	create := func(t *testing.T, devs map[string]specs.LinuxNetDevice, join string) (*ctr, Result) {
		t.Helper()
		rt := newRuntime(t)
		rt.Wrap = []string{"nsenter", "--net=" + host.path, "--"}
		b := newBundle(t)
		sleeper(b)
		if join != "" {
			b.SetNamespace(specs.NetworkNamespace, join)
		}
		b.Spec.Linux.NetDevices = devs
		c := newCtr(t, rt, b)
		return c, c.create()
	}

	t.Run("move", func(t *testing.T) {
		veth("conf0", "10.251.0.1/24", "fd51::1/64")
		veth("conf1")
		c, res := create(t, map[string]specs.LinuxNetDevice{"conf0": {Name: "ctr0"}, "conf1": {Name: "eth%d"}}, "")
		if !res.OK() {
			recordRefusal(t, "CL-NETDEV-AVAILABLE", res, "linux.netDevices", claim, "netDevices")
			return
		}
		st, _, sres := c.rt.State(c.id)
		if !sres.OK() {
			t.Fatalf("state: %s", sres)
		}
		in := linksAt(t, "/proc/"+itoa(st.Pid)+"/ns/net")
		out := linksAt(t, host.path)
		ctr0, eth0 := in["ctr0"], in["eth0"]
		record(t, "CL-NETDEV-AVAILABLE", ctr0 != nil && out["conf0"] == nil,
			"conf0 as ctr0: in the container=%v, still on the host=%v", ctr0 != nil, out["conf0"] != nil)
		record(t, "CL-NETDEV-TEMPLATE", eth0 != nil && out["conf1"] == nil,
			"conf1 as eth%%d (the kernel numbers it: eth0 in a new namespace): container has %v", keys(in))
		if ctr0 != nil {
			want := []string{"10.251.0.1/24", "fd51::1/64"}
			got := ctr0.addrs()
			kept := true
			for _, w := range want {
				kept = kept && slices.Contains(got, w)
			}
			record(t, "CL-NETDEV-ADDRS", kept, "ctr0's addresses %v, want the permanent global ones %v kept", got, want)
			record(t, "CL-NETDEV-UP", slices.Contains(ctr0.Flags, "UP"), "ctr0's flags %v, want UP", ctr0.Flags)
		}
		if eth0 != nil {
			record(t, "CL-NETDEV-UP", slices.Contains(eth0.Flags, "UP"), "eth0's flags %v, want UP", eth0.Flags)
		}
	})

	t.Run("missing-device", func(t *testing.T) {
		_, res := create(t, map[string]specs.LinuxNetDevice{"conf-nodev": {}}, "")
		record(t, "CL-NETDEV-CHECK", !res.OK(), "netDevices names conf-nodev, which the host does not have: create err=%v (want an error)", res.Err)
	})

	t.Run("name-exists", func(t *testing.T) {
		ctrNS := newNetNS(t)
		ctrNS.mustIP("link", "add", "ctr9", "type", "veth", "peer", "name", "ctr9p")
		veth("conf2")
		_, res := create(t, map[string]specs.LinuxNetDevice{"conf2": {Name: "ctr9"}}, ctrNS.path)
		back := linksAt(t, host.path)["conf2"] != nil
		record(t, "CL-NETDEV-NAME-EXISTS", !res.OK() && back,
			"conf2 as ctr9 into a namespace that has a ctr9: create err=%v (want an error), conf2 still on the host=%v", res.Err, back)
	})

	t.Run("no-move-out", func(t *testing.T) {
		// The container joins a namespace that outlives it: a runtime
		// that moved the interface out before deletion would show it
		// back on the host side.
		ctrNS := newNetNS(t)
		veth("conf3")
		c, res := create(t, map[string]specs.LinuxNetDevice{"conf3": {Name: "ctr3"}}, ctrNS.path)
		if !res.OK() {
			recordRefusal(t, "CL-NETDEV-AVAILABLE", res, "linux.netDevices", claim, "netDevices")
			return
		}
		if !record(t, "CL-NETDEV-AVAILABLE", linksAt(t, ctrNS.path)["ctr3"] != nil, "conf3 as ctr3 into a joined namespace: it has %v", keys(linksAt(t, ctrNS.path))) {
			return
		}
		c.rt.Kill(c.id, "KILL")
		if res := c.rt.Delete(c.id, true); !res.OK() {
			t.Fatalf("delete: %s", res)
		}
		// A move-out is done by delete itself, before it returns.
		in, out := linksAt(t, ctrNS.path)["ctr3"] != nil, linksAt(t, host.path)["conf3"] != nil
		record(t, "CL-NETDEV-NO-MOVE-OUT", in && !out, "after delete: ctr3 in the joined namespace=%v (want true), conf3 back on the host=%v (want false)", in, out)
	})

	t.Run("unmanaged", func(t *testing.T) {
		// Once the interface is in the container's namespace, its owner
		// configures it: after create, the test (in the owner's place)
		// adds an address, changes the MTU and sets it down. Neither
		// start nor delete may undo any of it (a joined namespace
		// outlives the container, so delete's effect can be seen).
		ctrNS := newNetNS(t)
		veth("conf4", "10.253.0.1/24")
		c, res := create(t, map[string]specs.LinuxNetDevice{"conf4": {Name: "ctr4"}}, ctrNS.path)
		if !res.OK() {
			recordRefusal(t, "CL-NETDEV-AVAILABLE", res, "linux.netDevices", claim, "netDevices")
			return
		}
		if !record(t, "CL-NETDEV-AVAILABLE", linksAt(t, ctrNS.path)["ctr4"] != nil, "conf4 as ctr4 into a joined namespace: it has %v", keys(linksAt(t, ctrNS.path))) {
			return
		}
		ctrNS.mustIP("addr", "add", "10.254.0.4/24", "dev", "ctr4", "nodad")
		ctrNS.mustIP("link", "set", "ctr4", "mtu", "1280")
		ctrNS.mustIP("link", "set", "ctr4", "down")
		// configured says how ctr4 differs from what the test made it.
		configured := func() string {
			out, err := ctrNS.ip("-j", "addr", "show", "dev", "ctr4")
			if err != nil {
				return "ctr4 is gone from the namespace: " + strings.TrimSpace(out)
			}
			var ls []struct {
				ifLink
				MTU int `json:"mtu"`
			}
			if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
				return "ip -j addr show: " + out
			}
			l := ls[0]
			var diff []string
			for _, a := range []string{"10.253.0.1/24", "10.254.0.4/24"} {
				if !slices.Contains(l.addrs(), a) {
					diff = append(diff, "address "+a+" gone")
				}
			}
			if l.MTU != 1280 {
				diff = append(diff, "mtu "+itoa(l.MTU)+", not 1280")
			}
			if slices.Contains(l.Flags, "UP") {
				diff = append(diff, "set up again")
			}
			return strings.Join(diff, ", ")
		}
		if diff := configured(); diff != "" {
			t.Fatalf("configuring ctr4 in the container's namespace: %s", diff)
		}
		if res := c.rt.Start(c.id); !res.OK() {
			t.Fatalf("start: %s", res)
		}
		afterStart := configured()
		c.rt.Kill(c.id, "KILL")
		if res := c.rt.Delete(c.id, true); !res.OK() {
			t.Fatalf("delete: %s", res)
		}
		afterDelete := configured()
		record(t, "CL-NETDEV-UNMANAGED", afterStart == "" && afterDelete == "",
			"ctr4 given an address, mtu 1280 and set down in the container's namespace after create: after start %q, after delete %q (want both unchanged)", afterStart, afterDelete)
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
