package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containerd/console"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// ttyRelay is the foreground side of process.terminal for run: it receives
// the pty master from init over a socketpair and copies between hull's
// own stdio and the master. With no terminal it does nothing.
type ttyRelay struct {
	local, remote *os.File // socketpair ends: ours, and the one init gets
	master        console.Console
	current       console.Console // hull's own terminal, when stdin is one
	done          chan struct{}
}

func newTTYRelay(ctx *cli.Context) (*ttyRelay, error) {
	t := &ttyRelay{}
	if ctx.String("console-socket") != "" {
		return nil, errors.New("--console-socket needs --detach")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	t.local = os.NewFile(uintptr(fds[0]), "console-local")
	t.remote = os.NewFile(uintptr(fds[1]), "console-remote")
	return t, nil
}

// give returns the socket end for init (or exec's process) to send the
// pty master on, when the process has a terminal; without one the relay
// has nothing to do and its sockets are closed.
func (t *ttyRelay) give(terminal bool) *os.File {
	if !terminal {
		t.closeSockets()
		return nil
	}
	return t.remote
}

// given closes our copy of the end handed out by give, once the process
// holds its own.
func (t *ttyRelay) given() {
	if t.remote != nil {
		t.remote.Close()
		t.remote = nil
	}
}

// attach receives the master (already sent by init before it was ready)
// and starts copying.
func (t *ttyRelay) attach() error {
	if t.local == nil {
		return nil
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(t.local.Fd()), buf, oob, 0)
	if err != nil {
		return fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return errors.New("receive pty master: no fd in the message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return errors.New("receive pty master: no fd in the message")
	}
	t.closeSockets()
	master, err := console.ConsoleFromFile(os.NewFile(uintptr(fds[0]), "pty-master"))
	if err != nil {
		unix.Close(fds[0])
		return fmt.Errorf("pty master: %w", err)
	}
	t.master = master
	if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
		t.current = cur
		_ = cur.SetRaw()
		t.resize()
	}
	t.done = make(chan struct{})
	go func() {
		_, _ = io.Copy(master, os.Stdin)
	}()
	go func() {
		_, _ = io.Copy(os.Stdout, master)
		close(t.done)
	}()
	return nil
}

// resize copies hull's terminal size to the container's (SIGWINCH).
func (t *ttyRelay) resize() {
	if t.master != nil && t.current != nil {
		_ = t.master.ResizeFrom(t.current)
	}
}

// drain waits for the container's last output to reach hull's stdout:
// until the pty hangs up, or for a second at most, since a process left
// in the background can hold the pty open forever.
func (t *ttyRelay) drain() {
	if t.done != nil {
		select {
		case <-t.done:
		case <-time.After(time.Second):
		}
	}
}

func (t *ttyRelay) closeSockets() {
	if t.local != nil {
		t.local.Close()
		t.local = nil
	}
	if t.remote != nil {
		t.remote.Close()
		t.remote = nil
	}
}

func (t *ttyRelay) close() {
	t.closeSockets()
	if t.current != nil {
		_ = t.current.Reset()
	}
	if t.master != nil {
		t.master.Close()
	}
}
