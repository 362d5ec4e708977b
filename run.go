package main

import (
	"os"

	"github.com/hullrt/hull/libct"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	flags := append(createFlags(),
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container's process"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not reap the container's orphans (accepted for runc compatibility)"},
	)
	return &cli.Command{
		Name:      "run",
		Usage:     "create and start a container, and wait for it",
		ArgsUsage: "<container-id>",
		Flags:     flags,
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			return runContainer(ctx)
		},
	}
}

func runContainer(ctx *cli.Context) error {
	if ctx.Bool("detach") {
		c, err := createContainer(ctx, nil)
		if err != nil {
			return cmdErr(ctx, err)
		}
		if err := warnHook(c.StartNotify(os.Getenv("NOTIFY_SOCKET"))); err != nil {
			_ = c.Delete(true)
			return cmdErr(ctx, err)
		}
		return nil
	}

	fg, err := newForeground(ctx, !ctx.Bool("no-subreaper"))
	if err != nil {
		return cmdErr(ctx, err)
	}
	defer fg.close()
	c, err := createContainer(ctx, fg)
	if err != nil {
		return cmdErr(ctx, err)
	}
	cleanup := func() {
		if !ctx.Bool("keep") {
			if err := warnHook(c.Delete(true)); err != nil {
				logrus.Warn(err)
			}
		}
	}
	return waitForeground(ctx, fg, c, c.Start, cleanup)
}

// waitForeground is the end of a foreground run or restore: it attaches
// the terminal, runs start (nil when the container already runs), waits
// for the container's init and exits with its status. cleanup runs once,
// whatever happens.
func waitForeground(ctx *cli.Context, fg *foreground, c *libct.Container, start func() error, cleanup func()) error {
	if err := fg.tty.attach(); err != nil {
		cleanup()
		return cmdErr(ctx, err)
	}
	if start != nil {
		if err := warnHook(start()); err != nil {
			cleanup()
			return cmdErr(ctx, err)
		}
	}
	status, err := fg.wait(c.Pid())
	cleanup()
	if err != nil {
		return cmdErr(ctx, err)
	}
	if status != 0 {
		return &exitError{code: status}
	}
	return nil
}
