package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// The NAT of a network: container traffic leaving by another interface
// than the bridge is masqueraded, and forwarding to and from the bridge
// is accepted (as lxc-net does: a FORWARD policy of DROP, Docker's, would
// otherwise stop it). The rules exist while the network does, and are
// made and removed as a whole; both ways are idempotent.

// resolveFirewall turns "auto" into the tool found: nft, else iptables.
func resolveFirewall(want string) (string, error) {
	if want != "auto" {
		return want, nil
	}
	for _, t := range []string{"nft", "iptables"} {
		if findTool(t) != "" {
			return t, nil
		}
	}
	return "", errors.New("neither nft nor iptables found: install nftables (or iptables), or use --firewall none")
}

// nftTable is the network's own table: removing it removes every rule.
func nftTable(bridge string) string { return "hull_" + bridge }

// nftScript makes (or remakes) the table in one transaction: add then
// delete empties a table that may exist, then it is defined anew.
func nftScript(bridge string, p netip.Prefix) string {
	t := nftTable(bridge)
	return fmt.Sprintf(`add table ip %[1]s
delete table ip %[1]s
table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s oifname != "%[3]s" masquerade
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "%[3]s" accept
		oifname "%[3]s" accept
	}
}
`, t, p, bridge)
}

// iptRules are the iptables rules of a network, each as table, chain and
// match, tagged with a comment naming the bridge.
func iptRules(bridge string, p netip.Prefix) [][]string {
	tag := []string{"-m", "comment", "--comment", "hull:" + bridge}
	rule := func(table, chain string, spec ...string) []string {
		return append(append([]string{"-t", table, chain}, spec...), tag...)
	}
	return [][]string{
		append(rule("nat", "POSTROUTING", "-s", p.String(), "!", "-o", bridge), "-j", "MASQUERADE"),
		append(rule("filter", "FORWARD", "-i", bridge), "-j", "ACCEPT"),
		append(rule("filter", "FORWARD", "-o", bridge), "-j", "ACCEPT"),
	}
}

// iptables runs iptables on one rule with action (-C, -A, -I, -D) put
// before the chain. -w waits for the xtables lock.
func iptables(action string, r []string) error {
	args := []string{"-w", r[0], r[1], action}
	args = append(args, r[2:]...)
	_, err := run(nil, "iptables", args...)
	return err
}

// notThere is iptables' exit status 1: the rule (or chain) is not there.
func notThere(err error) bool {
	var te *toolError
	return errors.As(err, &te) && te.code == 1
}

// addNAT makes the network's rules with tool.
func addNAT(tool, bridge string, p netip.Prefix) error {
	switch tool {
	case "none":
		return nil
	case "nft":
		if _, err := run([]byte(nftScript(bridge, p)), "nft", "-f", "-"); err != nil {
			return fmt.Errorf("nat: %w", err)
		}
		return nil
	}
	for _, r := range iptRules(bridge, p) {
		err := iptables("-C", r)
		if err == nil {
			continue
		}
		if !notThere(err) {
			return fmt.Errorf("nat: %w", err)
		}
		// FORWARD accepts go first, before a DROP someone else put there.
		action := "-A"
		if r[1] == "FORWARD" {
			action = "-I"
		}
		if err := iptables(action, r); err != nil {
			return fmt.Errorf("nat: %w", err)
		}
	}
	return nil
}

// delNAT removes the network's rules made with tool; rules that are not
// there are no error.
func delNAT(tool, bridge string, p netip.Prefix) error {
	switch tool {
	case "", "none":
		return nil
	case "nft":
		t := nftTable(bridge)
		if _, err := run([]byte(fmt.Sprintf("add table ip %[1]s\ndelete table ip %[1]s\n", t)), "nft", "-f", "-"); err != nil {
			return fmt.Errorf("nat: %w", err)
		}
		return nil
	}
	var errs []string
	for _, r := range iptRules(bridge, p) {
		// A rule added twice (two crashed adds) goes with a second -D.
		for range 8 {
			err := iptables("-D", r)
			if notThere(err) {
				break
			}
			if err != nil {
				errs = append(errs, err.Error())
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nat: %s", strings.Join(errs, "; "))
	}
	return nil
}
