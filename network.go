package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
	"github.com/hullrt/hull/network"
)

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "put containers on a host bridge with NAT, like lxc's lxcbr0 (run as hooks)",
		Description: `The hooks that hull spec --network bridge writes run these: add as a
createRuntime hook, del as a poststop hook, each reading the container's
state on stdin. Given a container id (and for add its pid), they act on
it instead.`,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "connect a container: veth pair, address from the lease file, default route",
				ArgsUsage: "[<container-id> <pid>]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "bridge", Value: network.DefaultBridge, Usage: "bridge `NAME` (made with the first container)"},
					&cli.StringFlag{Name: "subnet", Value: network.DefaultSubnet, Usage: "IPv4 `CIDR` of the network; the bridge takes its first address"},
					&cli.StringFlag{Name: "firewall", Value: "auto", Usage: "NAT with `TOOL`: nft, iptables, none, or auto (nft if found)"},
					&cli.StringFlag{Name: "ifname", Value: "eth0", Usage: "`NAME` of the interface in the container"},
				},
				Action: networkAdd,
			},
			{
				Name:      "del",
				Usage:     "disconnect a container; the last one takes the bridge and NAT away",
				ArgsUsage: "[<container-id>]",
				Action:    networkDel,
			},
			{
				Name:   "list",
				Usage:  "list the containers on networks and their addresses",
				Action: networkList,
			},
		},
	}
}

// hookTarget returns the container id (and pid) from the arguments, or
// from the state JSON a hook gets on stdin.
func hookTarget(ctx *cli.Context, withPid bool) (string, int, error) {
	want := 1
	if withPid {
		want = 2
	}
	if ctx.NArg() > 0 {
		if err := checkArgs(ctx, want, want); err != nil {
			return "", 0, err
		}
		id := ctx.Args().Get(0)
		if !withPid {
			return id, 0, libct.ValidateID(id)
		}
		pid, err := strconv.Atoi(ctx.Args().Get(1))
		if err != nil || pid <= 0 {
			return "", 0, fmt.Errorf("pid %q: not a process id", ctx.Args().Get(1))
		}
		return id, pid, libct.ValidateID(id)
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("read the container state on stdin: %w", err)
	}
	var st struct {
		ID  string `json:"id"`
		Pid int    `json:"pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return "", 0, fmt.Errorf("the container state on stdin (hull network runs as a hook, or takes an id): %w", err)
	}
	if err := libct.ValidateID(st.ID); err != nil {
		return "", 0, err
	}
	if withPid && st.Pid <= 0 {
		return "", 0, fmt.Errorf("container %s: the state on stdin has no pid", st.ID)
	}
	return st.ID, st.Pid, nil
}

func absRoot(ctx *cli.Context) (string, error) {
	return filepath.Abs(ctx.String("root"))
}

func networkAdd(ctx *cli.Context) error {
	id, pid, err := hookTarget(ctx, true)
	if err != nil {
		return fmt.Errorf("network add: %w", err)
	}
	root, err := absRoot(ctx)
	if err != nil {
		return err
	}
	_, err = network.Add(network.Options{
		Root:     root,
		Bridge:   ctx.String("bridge"),
		Subnet:   ctx.String("subnet"),
		Firewall: ctx.String("firewall"),
		IfName:   ctx.String("ifname"),
	}, id, pid)
	if err != nil {
		return fmt.Errorf("network add %s: %w", id, err)
	}
	return nil
}

func networkDel(ctx *cli.Context) error {
	id, _, err := hookTarget(ctx, false)
	if err != nil {
		return fmt.Errorf("network del: %w", err)
	}
	root, err := absRoot(ctx)
	if err != nil {
		return err
	}
	if err := network.Del(root, id); err != nil {
		return fmt.Errorf("network del %s: %w", id, err)
	}
	return nil
}

func networkList(ctx *cli.Context) error {
	if err := checkArgs(ctx, 0, 0); err != nil {
		return err
	}
	root, err := absRoot(ctx)
	if err != nil {
		return err
	}
	leases, err := network.List(root)
	if err != nil {
		return fmt.Errorf("network list: %w", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tBRIDGE\tADDRESS\tVETH")
	for _, l := range leases {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", l.ID, l.Bridge, l.Address, l.Veth)
	}
	return w.Flush()
}
