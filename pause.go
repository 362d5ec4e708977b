package main

import "github.com/urfave/cli/v2"

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "freeze every process of a container",
		ArgsUsage: "<container-id>",
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			c, err := loadContainer(ctx)
			if err != nil {
				return cmdErr(ctx, err)
			}
			return cmdErr(ctx, c.Pause())
		},
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "thaw a paused container",
		ArgsUsage: "<container-id>",
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			c, err := loadContainer(ctx)
			if err != nil {
				return cmdErr(ctx, err)
			}
			return cmdErr(ctx, c.Resume())
		},
	}
}
