package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"
)

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "print a container's state as JSON",
		ArgsUsage: "<container-id>",
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			c, err := loadContainer(ctx)
			if err != nil {
				return cmdErr(ctx, err)
			}
			b, err := json.MarshalIndent(c.State(), "", "  ")
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		},
	}
}
