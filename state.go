package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "print a container's state as JSON",
		ArgsUsage: "<container-id>",
		Action: onContainer(func(c *libct.Container) error {
			b, err := json.MarshalIndent(c.State(), "", "  ")
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		}),
	}
}
