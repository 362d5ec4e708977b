package integration

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleReceiver listens on a unix socket for the pty master a runtime
// sends with SCM_RIGHTS (the --console-socket protocol).
type consoleReceiver struct {
	path string
	ln   *net.UnixListener
	got  chan receivedConsole
}

type receivedConsole struct {
	master *os.File
	name   string // the data sent along with the fd
	err    error
}

func newConsoleReceiver(t *testing.T) *consoleReceiver {
	t.Helper()
	// Short path: sun_path holds at most 108 bytes.
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	c := &consoleReceiver{path: path, ln: ln, got: make(chan receivedConsole, 1)}
	go c.accept()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *consoleReceiver) accept() {
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		c.got <- receivedConsole{err: err}
		return
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		c.got <- receivedConsole{err: err}
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		c.got <- receivedConsole{err: errors.Join(errors.New("want one control message"), err)}
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		c.got <- receivedConsole{err: errors.Join(errors.New("want one fd"), err)}
		return
	}
	c.got <- receivedConsole{master: os.NewFile(uintptr(fds[0]), "pty-master"), name: string(buf[:n])}
}

// receive waits for the pty master.
func (c *consoleReceiver) receive(t *testing.T) receivedConsole {
	t.Helper()
	select {
	case rc := <-c.got:
		if rc.err != nil {
			t.Fatalf("console socket: %v", rc.err)
		}
		t.Cleanup(func() { rc.master.Close() })
		return rc
	case <-time.After(callTimeout):
		t.Fatal("console socket: no pty master received")
	}
	return receivedConsole{}
}

// ptyReader accumulates what a pty master yields until EIO (slave closed).
type ptyReader struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func readPty(f *os.File) *ptyReader {
	p := &ptyReader{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *ptyReader) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// TestConsoleSocket runs a terminal container, receives its pty master over
// --console-socket and talks to the container through it.
func TestConsoleSocket(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id := newID(t)
	cs := newConsoleReceiver(t)
	b := newBundle(t, sh(`tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; stty size
stat -c 'console %t:%T' /dev/console; read x; echo "got-$x"`),
		func(s *specs.Spec) {
			s.Process.Terminal = true
			s.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
		})
	r.must("create", "--console-socket", cs.path, "--bundle", b.dir, id)
	rc := cs.receive(t)
	out := readPty(rc.master)
	if _, err := rc.master.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	r.must("start", id)
	// /dev/console is the pty's slave, /dev/pts/0 (major 136 = 0x88).
	for _, want := range []string{"/dev/pts/0", "stdio-is-tty", "40 100", "console 88:0", "got-abc"} {
		waitFor(t, "pty output "+want, func() bool { return strings.Contains(out.String(), want) })
	}
	r.waitStatus(id, "stopped")
	t.Logf("pty output %q, name %q", out.String(), rc.name)
}

// TestConsoleSocketRequired checks that a terminal container without
// --console-socket fails cleanly when detached.
func TestConsoleSocketRequired(t *testing.T) {
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"true"}, func(s *specs.Spec) { s.Process.Terminal = true })
	before := snapshot(t, b.dir)
	res := r.callReaped("create", "--bundle", b.dir, id)
	checkFailure(t, res, []string{"console"}, []string{"console-socket"})
	checkNoLeaks(t, r, id, b.dir, before)
}

// TestExecConsoleSocket execs a terminal process into a running container,
// as containerd and Podman do for `exec -t`: the process is in the
// container's pid namespace (forked there by hull's constructor) and must
// still get the pty as its controlling terminal, which needs a session of
// its own.
func TestExecConsoleSocket(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	id, _ := running(t, r)
	cs := newConsoleReceiver(t)
	done := make(chan result, 1)
	go func() {
		done <- r.call("exec", "--detach", "-t", "--console-socket", cs.path, id, "sh", "-c",
			"tty; [ -t 0 ] && echo stdin-is-tty; read x; echo got-$x")
	}()
	var rc receivedConsole
	select {
	case rc = <-cs.got:
		if rc.err != nil {
			t.Fatalf("console socket: %v", rc.err)
		}
		defer rc.master.Close()
	case res := <-done:
		if res.err != nil || res.code != 0 {
			t.Fatalf("exec -t: %v", res)
		}
		rc = cs.receive(t)
	}
	out := readPty(rc.master)
	if _, err := rc.master.Write([]byte("abc\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/dev/pts/", "stdin-is-tty", "got-abc"} {
		waitFor(t, "pty output "+want, func() bool { return strings.Contains(out.String(), want) })
	}
}
