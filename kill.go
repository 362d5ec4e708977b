package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct"
)

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal to a container's init (default SIGTERM)",
		ArgsUsage: "<container-id> [signal]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"},
		},
		Action: onContainerArgs(1, func(ctx *cli.Context, c *libct.Container) error {
			sigName := "SIGTERM"
			if ctx.NArg() == 2 {
				sigName = ctx.Args().Get(1)
			}
			sig, err := parseSignal(sigName)
			if err != nil {
				return err
			}
			return c.Signal(sig, ctx.Bool("all"))
		}),
	}
}

// parseSignal takes a signal by number ("9"), name ("SIGKILL") or short
// name ("kill", "KILL"), as runc does.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}
