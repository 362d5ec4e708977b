package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The network tests run hull inside a network namespace the test makes
// (held by a sleep), so that the bridge, the veths, the NAT rules and
// net.ipv4.ip_forward they change are that namespace's: the host's
// interfaces, addresses, routes and firewall are never touched, and the
// bridge name and subnet cannot meet a user's.

// netns is a network namespace of the test's own.
type netns struct {
	t      *testing.T
	holder *exec.Cmd
	path   string // /proc/<holder>/ns/net
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	cmd := exec.Command("sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("a network namespace for the test: %v", err)
	}
	n := &netns{t: t, holder: cmd, path: "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return n
}

// run runs a host command inside the namespace and returns its output.
func (n *netns) run(name string, args ...string) (string, error) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.path, "--", name}, args...)...).CombinedOutput()
	return string(out), err
}

// hull runs the runtime under test inside the namespace.
func (n *netns) hull(r *rt, args ...string) result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd, stdout, stderr := n.hullCmd(ctx, r, args...)
	err := cmd.Run()
	return finish(args, cmd, err, stdout, stderr)
}

func (n *netns) hullCmd(ctx context.Context, r *rt, args ...string) (*exec.Cmd, *os.File, *os.File) {
	n.t.Helper()
	r.mu.Lock()
	for _, a := range args {
		if strings.HasPrefix(a, idPrefix) {
			r.ids[a] = true
		}
	}
	r.mu.Unlock()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + n.path, "--", r.bin, "--root", r.root}, args...)...)
	dir := n.t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		n.t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd, stdout, stderr
}

func (n *netns) mustHull(r *rt, args ...string) result {
	n.t.Helper()
	res := n.hull(r, args...)
	if res.code != 0 || res.err != nil {
		n.t.Fatalf("runtime call failed: %v", res)
	}
	return res
}

// deleteAll force-deletes the root's containers from inside the
// namespace, so that their poststop hooks act on it (rt's own cleanup
// runs in the host's).
func (n *netns) deleteAll(r *rt) {
	entries, _ := os.ReadDir(r.root)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), idPrefix) {
			n.hull(r, "delete", "--force", e.Name())
		}
	}
}

// leases returns `hull network list` as id -> address.
func (n *netns) leases(r *rt) map[string]string {
	n.t.Helper()
	res := n.mustHull(r, "network", "list")
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res.stdout), "\n")[1:] {
		if f := strings.Fields(l); len(f) == 4 {
			m[f[0]] = f[2]
		}
	}
	return m
}

// links returns the namespace's interface names.
func (n *netns) links() []string {
	n.t.Helper()
	out, err := n.run("ip", "-j", "link", "show")
	if err != nil {
		n.t.Fatalf("ip link show: %v: %s", err, out)
	}
	var links []struct {
		Name string `json:"ifname"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		n.t.Fatalf("ip -j link show: %v: %s", err, out)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	return names
}

// nat returns the NAT rules of bridge that fw holds in the namespace.
func (n *netns) nat(fw, bridge string) []string {
	n.t.Helper()
	if fw == "nft" {
		out, err := n.run("nft", "list", "table", "ip", "hull_"+bridge)
		if err != nil {
			return nil // no such table
		}
		return []string{out}
	}
	var rules []string
	for _, table := range []string{"nat", "filter"} {
		out, err := n.run("iptables", "-w", "-t", table, "-S")
		if err != nil {
			n.t.Fatalf("iptables -t %s -S: %v: %s", table, err, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "hull:"+bridge) {
				rules = append(rules, l)
			}
		}
	}
	return rules
}

func (n *netns) forward() string {
	n.t.Helper()
	out, err := n.run("cat", "/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		n.t.Fatalf("read ip_forward: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// netBundle is a bundle made by `hull spec --network bridge` on a bridge
// and subnet of the test's, whose process sleeps and may ping
// (CAP_NET_RAW), with NAT by fw. extraHooks go after `hull network add`.
func netBundle(t *testing.T, r *rt, bridge, fw string, extraHooks ...map[string]any) *bundle {
	t.Helper()
	b := newBundle(t, nil, nil)
	if err := os.Remove(filepath.Join(b.dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	r.must("spec", "--bundle", b.dir, "--network", "bridge", "--network-bridge", bridge, "--network-subnet", "10.234.56.0/24")
	path := filepath.Join(b.dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	proc := doc["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []any{"sleep", "1000"}
	caps := proc["capabilities"].(map[string]any)
	for _, set := range []string{"bounding", "effective", "permitted"} {
		caps[set] = append(caps[set].([]any), "CAP_NET_RAW")
	}
	hooks := doc["hooks"].(map[string]any)
	cr := hooks["createRuntime"].([]any)
	add := cr[0].(map[string]any)
	add["args"] = append(add["args"].([]any), "--firewall", fw)
	for _, h := range extraHooks {
		cr = append(cr, h)
	}
	hooks["createRuntime"] = cr
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func testBridge(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "hit" + hex.EncodeToString(b[:]) // 11 bytes
}

// firewalls runs body once per NAT tool, skipping a tool the host lacks.
func firewalls(t *testing.T, body func(t *testing.T, fw string)) {
	for _, fw := range []string{"iptables", "nft"} {
		t.Run(fw, func(t *testing.T) {
			if _, err := exec.LookPath(fw); err != nil {
				pkg := map[string]string{"nft": "nftables", "iptables": "iptables"}[fw]
				t.Skipf("needs %s (Debian package %s; scripts/deps.sh installs it)", fw, pkg)
			}
			body(t, fw)
		})
	}
}

// checkGone asserts that nothing of the network is left in the namespace
// (no veth, no bridge, no NAT rule, ip_forward back to 0), no lease under
// the root, and nothing of it in the host's namespace.
func checkGone(t *testing.T, n *netns, r *rt, fw, bridge string) {
	t.Helper()
	for _, l := range n.links() {
		if l != "lo" {
			t.Errorf("leak: interface %s is left in the namespace", l)
		}
	}
	if rules := n.nat(fw, bridge); len(rules) > 0 {
		t.Errorf("leak: NAT rules are left: %q", rules)
	}
	if f := n.forward(); f != "0" {
		t.Errorf("ip_forward is %s after the last container left, want 0 (as it was)", f)
	}
	entries, _ := os.ReadDir(filepath.Join(r.root, "network"))
	for _, e := range entries {
		t.Errorf("leak: %s is left in %s", e.Name(), filepath.Join(r.root, "network"))
	}
	if _, err := os.Stat("/sys/class/net/" + bridge); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the bridge %s is in the host's namespace (%v)", bridge, err)
	}
}

// TestNetworkBridge: two containers on a bridge made by `hull spec
// --network bridge` ping each other and the host (the test's namespace),
// the host pings them; NAT and forwarding are on while they run, and
// deleting them takes every veth, lease and rule away.
func TestNetworkBridge(t *testing.T) {
	hullFeature(t, "hull network")
	firewalls(t, func(t *testing.T, fw string) {
		r := newRuntime(t)
		n := newNetns(t)
		t.Cleanup(func() { n.deleteAll(r) })
		bridge := testBridge(t)
		b := netBundle(t, r, bridge, fw)
		c1, c2 := newID(t), newID(t)
		n.mustHull(r, "run", "--detach", "--bundle", b.dir, c1)
		n.mustHull(r, "run", "--detach", "--bundle", b.dir, c2)

		leases := n.leases(r)
		a1, a2 := leases[c1], leases[c2]
		if a1 != "10.234.56.2" || a2 != "10.234.56.3" {
			t.Fatalf("leases %v, want %s 10.234.56.2 and %s 10.234.56.3", leases, c1, c2)
		}
		for _, tc := range []struct{ from, to string }{{c1, a2}, {c2, a1}, {c1, "10.234.56.1"}} {
			if res := n.hull(r, "exec", tc.from, "ping", "-c", "1", "-W", "10", tc.to); res.code != 0 {
				t.Errorf("%s cannot ping %s: %v", tc.from, tc.to, res)
			}
		}
		if out, err := n.run("/bin/busybox", "ping", "-c", "1", "-W", "10", a1); err != nil {
			t.Errorf("the host cannot ping %s: %v: %s", a1, err, out)
		}
		res := n.mustHull(r, "exec", c1, "ip", "route")
		if !strings.Contains(res.stdout, "default via 10.234.56.1 dev eth0") {
			t.Errorf("no default route to the bridge: %q", res.stdout)
		}
		if len(n.nat(fw, bridge)) == 0 {
			t.Errorf("no NAT rule for %s with %s", bridge, fw)
		}
		if f := n.forward(); f != "1" {
			t.Errorf("ip_forward is %s with NAT on, want 1", f)
		}

		// The first one leaves: its veth and lease go, the network stays.
		veths := func() (out []string) {
			for _, l := range n.links() {
				if strings.HasPrefix(l, "hv") {
					out = append(out, l)
				}
			}
			return out
		}
		if v := veths(); len(v) != 2 {
			t.Fatalf("veths %v, want two", v)
		}
		n.mustHull(r, "delete", "--force", c1)
		if l := n.leases(r); len(l) != 1 || l[c2] != a2 {
			t.Errorf("leases after deleting %s: %v", c1, l)
		}
		if v := veths(); len(v) != 1 {
			t.Errorf("veths after deleting %s: %v", c1, v)
		}
		if len(n.nat(fw, bridge)) == 0 {
			t.Errorf("the NAT went with the first container")
		}
		if res := n.hull(r, "exec", c2, "ping", "-c", "1", "-W", "10", "10.234.56.1"); res.code != 0 {
			t.Errorf("%s lost the bridge: %v", c2, res)
		}
		n.mustHull(r, "delete", "--force", c2)
		checkGone(t, n, r, fw, bridge)
	})
}

// TestNetworkCrash kills `hull create` (SIGKILL) while a createRuntime
// hook runs after `hull network add`: the container's lease, veth and NAT
// exist then. `hull delete --force` (what RELIABILITY.md's G3 promises
// works after such a kill) runs the poststop hook, which leaves nothing;
// `hull network del` again is a no-op.
func TestNetworkCrash(t *testing.T) {
	hullFeature(t, "hull network")
	firewalls(t, func(t *testing.T, fw string) {
		r := newRuntime(t)
		n := newNetns(t)
		t.Cleanup(func() { n.deleteAll(r) })
		bridge := testBridge(t)
		mark := filepath.Join(t.TempDir(), "hook-pid")
		b := netBundle(t, r, bridge, fw, map[string]any{
			"path": "/bin/sh",
			"args": []any{"sh", "-c", `echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 60`, mark},
		})
		id := newID(t)
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		cmd, stdout, stderr := n.hullCmd(ctx, r, "create", "--bundle", b.dir, id)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var hookPid int
		waitFor(t, "the hook after network add", func() bool {
			data, err := os.ReadFile(mark)
			if err != nil {
				return false
			}
			hookPid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			return true
		})
		t.Cleanup(func() { _ = syscall.Kill(hookPid, syscall.SIGKILL) })
		if l := n.leases(r); l[id] == "" {
			t.Fatalf("no lease for %s while its create hangs in a later hook: %v", id, l)
		}
		if len(n.nat(fw, bridge)) == 0 {
			t.Fatal("no NAT while the create hangs in a later hook")
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-done
		stdout.Close()
		stderr.Close()
		_ = syscall.Kill(hookPid, syscall.SIGKILL)

		n.mustHull(r, "delete", "--force", id)
		checkGone(t, n, r, fw, bridge)
		if res := n.hull(r, "network", "del", id); res.code != 0 {
			t.Errorf("a second del is not a no-op: %v", res)
		}
		if l := n.leases(r); len(l) != 0 {
			t.Errorf("leases after the second del: %v", l)
		}
	})
}

// TestNetworkErrors: what `hull network` refuses, on one line.
func TestNetworkErrors(t *testing.T) {
	hullFeature(t, "hull network")
	r := newRuntime(t)
	n := newNetns(t)
	t.Cleanup(func() { n.deleteAll(r) })

	t.Run("a bridge hull did not make", func(t *testing.T) {
		if out, err := n.run("ip", "link", "add", "hitmine", "type", "bridge"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		b := netBundle(t, r, "hitmine", "none")
		id := newID(t)
		res := n.hull(r, "run", "--detach", "--bundle", b.dir, id)
		checkFailure(t, res, []string{"hitmine"}, []string{"bridge hitmine exists and is not hull's network"})
		if l := n.leases(r); len(l) != 0 {
			t.Errorf("leases after the failure: %v", l)
		}
		if out, err := n.run("ip", "link", "show", "hitmine"); err != nil {
			t.Errorf("the user's bridge is gone: %v: %s", err, out)
		}
	})

	t.Run("a subnet that overlaps a route", func(t *testing.T) {
		for _, args := range [][]string{{"link", "add", "hitdummy", "type", "bridge"}, {"addr", "add", "10.234.56.77/16", "dev", "hitdummy"}, {"link", "set", "hitdummy", "up"}} {
			if out, err := n.run("ip", args...); err != nil {
				t.Fatalf("ip %v: %v: %s", args, err, out)
			}
		}
		defer n.run("ip", "link", "del", "hitdummy")
		bridge := testBridge(t)
		b := netBundle(t, r, bridge, "none")
		res := n.hull(r, "run", "--detach", "--bundle", b.dir, newID(t))
		checkFailure(t, res, []string{"overlaps"}, []string{"subnet 10.234.56.0/24 overlaps the route 10.234.0.0/16 dev hitdummy"})
		for _, l := range n.links() {
			if l == bridge || strings.HasPrefix(l, "hv") {
				t.Errorf("leak: %s", l)
			}
		}
	})

	t.Run("spec", func(t *testing.T) {
		dir := t.TempDir()
		res := r.call("spec", "--bundle", dir, "--network", "bridge", "--network-subnet", "10.234.56.1/24")
		checkFailure(t, res, []string{"subnet"}, []string{"--network-subnet", "host bits set"})
		res = r.call("spec", "--bundle", dir, "--network", "bridge", "--rootless")
		checkFailure(t, res, []string{"rootless"}, []string{"needs root"})
	})
}
