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
	// notified is closed once every signal is caught (see newForeground).
	notified chan struct{}
	tty      *ttyRelay
}

// newForeground starts catching signals and sets up the terminal relay.
// With subreaper, orphans of the process (without a pid namespace of its
// own) are reparented to hull, which reaps them.
//
// Catching every signal is slow in Go: the runtime enables each one with
// a round trip to its signal-mask thread (two thread switches, about 60
// signals: 1-2 ms here, bench/RESULTS.md). It runs on a goroutine of its
// own, overlapping what the caller does next (loading the container and
// its config); the caller calls catching before the process exists.
func newForeground(ctx *cli.Context, subreaper bool) (*foreground, error) {
	f := startForeground(subreaper)
	if err := f.openTTY(ctx); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// startForeground starts catching signals, on a goroutine (see
// newForeground); openTTY sets up the terminal relay.
func startForeground(subreaper bool) *foreground {
	f := &foreground{sigs: make(chan os.Signal, 128), notified: make(chan struct{})}
	go func() {
		signal.Notify(f.sigs)
		close(f.notified)
	}()
	if subreaper {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	return f
}

// openTTY sets up the terminal relay.
func (f *foreground) openTTY(ctx *cli.Context) error {
	tty, err := newTTYRelay(ctx)
	if err != nil {
		return err
	}
	f.tty = tty
	return nil
}

// catching returns once every signal hull gets is caught: call it before
// the process exists, so that none is missed.
func (f *foreground) catching() { <-f.notified }

// close restores hull's terminal. Signals stay caught (and are dropped
// from here on): hull exits right after, and signal.Stop would cost as
// much as catching them did, only to let a late signal kill hull before
// it reports the process's status.
func (f *foreground) close() {
	if f.tty != nil {
		f.tty.close()
	}
}

// wait forwards every signal hull gets to pid (a child of hull) until it
// exits, reaps any other child, and returns pid's exit status as a shell
// would (128+signal when killed). The container's last output is drained
// before it returns.
func (f *foreground) wait(pid int) (int, error) {
	defer f.tty.drain()
	f.catching()
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
