package main

import (
	"errors"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/hullrt/hull/libct"
)

func restoreCommand() *cli.Command {
	flags := append(criuFlags(),
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle `DIR`"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container's process"},
		&cli.StringFlag{Name: "pid-file", Usage: "write the restored init's pid to `FILE`"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket `PATH` that receives the pty master (process.terminal)"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc compatibility (criu restores the root as it was)"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not reap the container's orphans"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "restore with this LSM profile (`TYPE:LABEL`, apparmor or selinux) instead of the dumped one"},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "restore mounts that had a context with this SELinux `CONTEXT`"},
	)
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a container from a checkpoint made with `hull checkpoint`",
		ArgsUsage: "<container-id>",
		Flags:     flags,
		Action: func(ctx *cli.Context) error {
			if err := checkArgs(ctx, 1, 1); err != nil {
				return err
			}
			if rootless(ctx) {
				logrus.Warn("restore is untested with rootless containers (criu needs root)")
			}
			return restoreContainer(ctx)
		},
	}
}

func restoreContainer(ctx *cli.Context) error {
	id := ctx.Args().First()
	if err := libct.ValidateID(id); err != nil {
		return cmdErr(ctx, err)
	}
	co, err := criuOptions(ctx)
	if err != nil {
		return cmdErr(ctx, err)
	}
	cfg, err := loadConfig(ctx, id)
	if err != nil {
		return cmdErr(ctx, err)
	}
	o := &libct.RestoreOpts{
		CriuOpts: *co,
		PidFile:  ctx.String("pid-file"),
		Rootless: rootless(ctx),
	}
	detach := ctx.Bool("detach")
	sock := ctx.String("console-socket")
	if detach {
		// The same rules as create: a detached tty needs somewhere to
		// send the pty master; a console socket needs a tty.
		if cfg.Process.Terminal && sock == "" {
			return cmdErr(ctx, errors.New("cannot allocate a tty when detached without --console-socket"))
		}
		if !cfg.Process.Terminal && sock != "" {
			return cmdErr(ctx, errors.New("--console-socket needs process.terminal and a detached container"))
		}
		o.ConsoleSocket = sock
		_, err := libct.Restore(ctx.String("root"), id, cfg, o)
		return cmdErr(ctx, err)
	}

	// Foreground, as run: forward every signal to the restored init
	// (CRIU restores it as hull's child) and exit with its status.
	fg, err := newForeground(ctx, !ctx.Bool("no-subreaper"))
	if err != nil {
		return cmdErr(ctx, err)
	}
	defer fg.close()
	o.ConsoleConn = fg.tty.give(cfg.Process.Terminal)
	c, err := libct.Restore(ctx.String("root"), id, cfg, o)
	fg.tty.given()
	if err != nil {
		return cmdErr(ctx, err)
	}
	cleanup := func() {
		if err := warnHook(c.Delete(true)); err != nil {
			logrus.Warn(err)
		}
	}
	return waitForeground(ctx, fg, c, nil, cleanup)
}
