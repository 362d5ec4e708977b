package main

import (
	"errors"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start the process of a created container",
		ArgsUsage: "<container-id>",
		Action: onContainer(func(c *libct.Container) error {
			// With NOTIFY_SOCKET, start returns once the container has
			// said READY=1 (sd_notify), which it passes on, as runc.
			return warnHook(c.StartNotify(os.Getenv("NOTIFY_SOCKET")))
		}),
	}
}

// warnHook logs a hook failure that the spec says must not fail the
// operation, and returns any other error.
func warnHook(err error) error {
	var hw *libct.HookWarning
	if errors.As(err, &hw) {
		logrus.Warn(hw.Err)
		return nil
	}
	return err
}
