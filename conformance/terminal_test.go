package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// consoleReceiver accepts one connection on a console socket and takes the
// pseudoterminal master fd the runtime sends with SCM_RIGHTS.
type consoleReceiver struct {
	path string
	l    *net.UnixListener
	mu   sync.Mutex
	out  bytes.Buffer
	err  error
	done chan struct{}
}

func newConsoleReceiver(t *testing.T) *consoleReceiver {
	t.Helper()
	dir := t.TempDir()
	r := &consoleReceiver{path: filepath.Join(dir, "console.sock"), done: make(chan struct{})}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen console socket: %v", err)
	}
	r.l = l
	t.Cleanup(func() { l.Close() })
	go r.serve()
	return r
}

func (r *consoleReceiver) serve() {
	defer close(r.done)
	r.l.SetDeadline(time.Now().Add(DefaultTimeout))
	conn, err := r.l.AcceptUnix()
	if err != nil {
		r.fail(fmt.Errorf("accept console socket: %w", err))
		return
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, 4096)
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		r.fail(fmt.Errorf("read console socket: %w", err))
		return
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		r.fail(fmt.Errorf("no control message on the console socket: %v", err))
		return
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		r.fail(fmt.Errorf("no fd in the console socket message: %v", err))
		return
	}
	master := os.NewFile(uintptr(fds[0]), "pty-master")
	defer master.Close()
	// Read until the slave side is closed (EIO) when the container exits.
	chunk := make([]byte, 4096)
	for {
		n, err := master.Read(chunk)
		r.mu.Lock()
		r.out.Write(chunk[:n])
		r.mu.Unlock()
		if err != nil {
			if err != io.EOF && !strings.Contains(err.Error(), "input/output error") {
				r.fail(err)
			}
			return
		}
	}
}

func (r *consoleReceiver) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *consoleReceiver) output() (string, error) {
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("pty output not closed 10s after the container stopped")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String(), r.err
}

func TestTerminal(t *testing.T) {
	rt := newRuntime(t)
	b := newBundle(t)
	b.Spec.Process.Terminal = true
	b.Spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	b.Spec.Process.Args = []string{"/checker", "terminal", "devices"}
	recv := newConsoleReceiver(t)
	c := newCtr(t, rt, b)
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	res := rt.Create(c.id, b.Dir, CreateOpts{ConsoleSocket: recv.path})
	record(t, "CFG-PROC-TERMINAL", res.OK(), "create with terminal and --console-socket: %v %s", res.Err, trim(res.Stderr))
	if !res.OK() {
		return
	}
	c.mustStart()
	c.mustWaitStatus("stopped")
	out, err := recv.output()
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	// The checker's output came through the pty: parse it like plain stdio.
	if err := os.WriteFile(c.stdout.Name(), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	c.recordChecker()
}
