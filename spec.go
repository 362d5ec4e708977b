package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/network"
	"github.com/hullrt/hull/specconv"
)

func specCommand() *cli.Command {
	return &cli.Command{
		Name:  "spec",
		Usage: "write a default config.json to the bundle",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle `DIR` to write config.json into"},
			&cli.BoolFlag{Name: "rootless", Usage: "a config for a container run by a non-root user"},
			&cli.StringFlag{Name: "network", Value: "none", Usage: "`MODE` of the network namespace: none (only lo) or bridge (hooks run hull network: a veth on a host bridge, NAT)"},
			&cli.StringFlag{Name: "network-bridge", Value: network.DefaultBridge, Usage: "bridge `NAME` for --network bridge"},
			&cli.StringFlag{Name: "network-subnet", Value: network.DefaultSubnet, Usage: "IPv4 `CIDR` for --network bridge"},
		},
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 0, 0); err != nil {
				return err
			}
			s := specconv.Example()
			if ctx.Bool("rootless") {
				specconv.ToRootless(s)
			}
			if err := specNetwork(ctx, s); err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			path := filepath.Join(ctx.String("bundle"), "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("spec: %s exists: remove it first", path)
			}
			b, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, b, 0o666); err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			return nil
		},
	}
}

// specNetwork adds, for --network bridge, the hooks that put the
// container on a host bridge: `hull network add` at createRuntime (its
// network namespace exists, its process has not started) and `hull
// network del` at poststop. They name this hull binary and its --root.
func specNetwork(ctx *cli.Context, s *specs.Spec) error {
	switch ctx.String("network") {
	case "none":
		return nil
	case "bridge":
	default:
		return fmt.Errorf("--network %q: none or bridge", ctx.String("network"))
	}
	if ctx.Bool("rootless") {
		return errors.New("--network bridge needs root (it makes a host bridge): not with --rootless")
	}
	bridge, subnet := ctx.String("network-bridge"), ctx.String("network-subnet")
	if err := network.CheckBridge(bridge); err != nil {
		return fmt.Errorf("--network-bridge: %w", err)
	}
	if _, err := network.ParseSubnet(subnet); err != nil {
		return fmt.Errorf("--network-subnet: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	root, err := filepath.Abs(ctx.String("root"))
	if err != nil {
		return err
	}
	hook := func(args ...string) specs.Hook {
		return specs.Hook{Path: self, Args: append([]string{"hull", "--root", root, "network"}, args...)}
	}
	if s.Hooks == nil {
		s.Hooks = &specs.Hooks{}
	}
	s.Hooks.CreateRuntime = append(s.Hooks.CreateRuntime, hook("add", "--bridge", bridge, "--subnet", subnet))
	s.Hooks.Poststop = append(s.Hooks.Poststop, hook("del"))
	return nil
}
