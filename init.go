package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// initCommand is the hidden `hull init`. hull starts its container init as
// `hull init` with its bootstrap in _HULL_INIT (libct/sync.go), and main
// dispatches on that variable before the CLI is built; reaching this
// command means someone ran `hull init` by hand.
func initCommand() *cli.Command {
	return &cli.Command{
		Name:   "init",
		Hidden: true,
		Usage:  "the container's init (internal)",
		Action: func(*cli.Context) error {
			return errors.New("init: only hull itself starts init")
		},
	}
}
