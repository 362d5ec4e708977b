package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Aliases:   []string{"del"},
		Usage:     "delete a stopped container (with --force, any container)",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it is created, running or paused"},
		},
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			id := ctx.Args().First()
			c, err := loadContainer(ctx)
			if errors.Is(err, libct.ErrNotExist) {
				// A create killed before it wrote state.json leaves only
				// its directory: remove that. With --force a missing
				// container is not an error (engines rely on it).
				_ = libct.RemoveStale(ctx.String("root"), id)
				if ctx.Bool("force") {
					return nil
				}
			}
			if err != nil {
				return cmdErr(ctx, err)
			}
			err = warnHook(c.Delete(ctx.Bool("force")))
			if errors.Is(err, libct.ErrNotExist) && ctx.Bool("force") {
				return nil // a racing delete won: the container is gone
			}
			return cmdErr(ctx, err)
		},
	}
}
