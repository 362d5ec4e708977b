package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "freeze every process of a container",
		ArgsUsage: "<container-id>",
		Action: onContainer(func(c *libct.Container) error {
			return c.Pause()
		}),
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resume",
		Usage:     "thaw a paused container",
		ArgsUsage: "<container-id>",
		Action: onContainer(func(c *libct.Container) error {
			return c.Resume()
		}),
	}
}
