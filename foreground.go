package main

import (
	"errors"
	"os"
	"os/signal"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// foreground is what run and exec share when they wait for the process
// they started: every signal hull gets is caught (from before the process
// exists, so none is missed) and forwarded to it, orphans are reaped, and
// a terminal is relayed.
type foreground struct {
	sigs chan os.Signal
	tty  *ttyRelay
}

// newForeground starts catching signals and sets up the terminal relay.
// With subreaper, orphans of the process (without a pid namespace of its
// own) are reparented to hull, which reaps them.
func newForeground(ctx *cli.Context, subreaper bool) (*foreground, error) {
	f := &foreground{sigs: make(chan os.Signal, 128)}
	signal.Notify(f.sigs)
	if subreaper {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	tty, err := newTTYRelay(ctx)
	if err != nil {
		signal.Stop(f.sigs)
		return nil, err
	}
	f.tty = tty
	return f, nil
}

// close stops catching signals and restores hull's terminal.
func (f *foreground) close() {
	f.tty.close()
	signal.Stop(f.sigs)
}

// wait forwards every signal hull gets to pid (a child of hull) until it
// exits, reaps any other child, and returns pid's exit status as a shell
// would (128+signal when killed). The container's last output is drained
// before it returns.
func (f *foreground) wait(pid int) (int, error) {
	defer f.tty.drain()
	// The process may have exited before the first SIGCHLD was caught.
	if code, done := reap(pid); done {
		return code, nil
	}
	for s := range f.sigs {
		sig := s.(unix.Signal)
		switch sig {
		case unix.SIGCHLD:
			if code, done := reap(pid); done {
				return code, nil
			}
		case unix.SIGWINCH:
			f.tty.resize()
		case unix.SIGURG:
			// The Go runtime's own preemption signal: not the user's.
		default:
			// pid is hull's child and is only reaped above: it cannot have
			// been reused by another process here.
			if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
				logrus.Warnf("forward %s to pid %d: %v", sig, pid, err)
			}
		}
	}
	return -1, errors.New("signal channel closed")
}

// reap collects every exited child; done is set when pid was among them.
func reap(pid int) (code int, done bool) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || p <= 0 {
			return code, done
		}
		if p == pid {
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
