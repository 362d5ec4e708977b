package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct"
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
	detach := ctx.Bool("detach")
	if detach {
		c, err := createContainer(ctx, false, true)
		if err != nil {
			return cmdErr(ctx, err)
		}
		if err := warnHook(c.StartNotify(os.Getenv("NOTIFY_SOCKET"))); err != nil {
			_ = c.Delete(true)
			return cmdErr(ctx, err)
		}
		return nil
	}

	// Foreground: catch signals before init exists, to forward every one.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	if !ctx.Bool("no-subreaper") {
		// Orphans of the container's process (without a pid namespace of
		// its own) are reparented to hull, which reaps them.
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}

	tty, err := newTTYRelay(ctx)
	if err != nil {
		return cmdErr(ctx, err)
	}
	defer tty.close()
	c, err := createContainerWithConsole(ctx, tty)
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
	if err := tty.attach(); err != nil {
		cleanup()
		return cmdErr(ctx, err)
	}
	if err := warnHook(c.Start()); err != nil {
		cleanup()
		return cmdErr(ctx, err)
	}
	status, err := waitForwarding(c, sigs, tty)
	tty.drain()
	cleanup()
	if err != nil {
		return cmdErr(ctx, err)
	}
	if status != 0 {
		return &exitError{code: status}
	}
	return nil
}

// waitForwarding forwards every signal hull gets to the container's init
// until init exits, reaps any other child, and returns init's exit status
// as a shell would (128+signal when killed).
func waitForwarding(c *libct.Container, sigs chan os.Signal, tty *ttyRelay) (int, error) {
	pid := c.Pid()
	for s := range sigs {
		sig := s.(syscall.Signal)
		switch sig {
		case unix.SIGCHLD:
			if code, done := reap(pid); done {
				return code, nil
			}
		case unix.SIGWINCH:
			tty.resize()
		case unix.SIGURG:
			// The Go runtime's own preemption signal: not the user's.
		default:
			if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
				logrus.Warnf("forward %s to pid %d: %v", sig, pid, err)
			}
		}
	}
	return 0, fmt.Errorf("signal channel closed")
}

// reap collects every exited child; done is set when init was among them.
func reap(initPid int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || pid <= 0 {
			return code, done
		}
		if pid == initPid {
			done = true
			switch {
			case ws.Exited():
				code = ws.ExitStatus()
			case ws.Signaled():
				code = 128 + int(ws.Signal())
			}
		}
	}
}
