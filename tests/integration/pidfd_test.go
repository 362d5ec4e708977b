package integration

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pidfdListener is the receiving end of --pidfd-socket, as a caller of
// runc 1.2 sets it up: an AF_UNIX stream socket it listens on.
type pidfdListener struct {
	path string
	l    *net.UnixListener
}

func newPidfdListener(t *testing.T) *pidfdListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pidfd.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &pidfdListener{path: path, l: l}
}

// receive accepts the runtime's connection and returns the one fd and the
// message body it sent.
func (p *pidfdListener) receive(t *testing.T) (fd int, body string) {
	t.Helper()
	_ = p.l.SetDeadline(time.Now().Add(callTimeout))
	conn, err := p.l.AcceptUnix()
	if err != nil {
		t.Fatalf("accept on the pidfd socket: %v", err)
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("read the pidfd message: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("pidfd message: %d control messages (%v), want 1", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("pidfd message: %d fds (%v), want 1", len(fds), err)
	}
	t.Cleanup(func() { unix.Close(fds[0]) })
	return fds[0], string(buf[:n])
}

// pidOfPidfd reads the pid a pidfd refers to from /proc/self/fdinfo.
func pidOfPidfd(t *testing.T, fd int) int {
	t.Helper()
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("fdinfo Pid: %q", v)
			}
			return pid
		}
	}
	t.Fatalf("fd %d is not a pidfd: no Pid: in its fdinfo", fd)
	return 0
}

// TestPidfdSocket: create, run -d and exec -d send a pidfd of the
// container's init (body "standard") or of the exec'd process (body
// "setns") to --pidfd-socket, as runc 1.2 does; the pidfd refers to that
// process and signals it.
func TestPidfdSocket(t *testing.T) {
	for _, cmd := range []string{"create", "run"} {
		t.Run(cmd, func(t *testing.T) {
			r := newRuntime(t)
			id := newID(t)
			b := newBundle(t, []string{"sleep", "1000"}, nil)
			p := newPidfdListener(t)
			args := []string{cmd, "--pidfd-socket", p.path, "--bundle", b.dir, id}
			if cmd == "run" {
				args = append([]string{"run", "--detach"}, args[1:]...)
			}
			r.must(args...)
			fd, body := p.receive(t)
			if body != "standard" {
				t.Errorf("message body %q, want %q (runc's)", body, "standard")
			}
			st := r.state(id)
			if got := pidOfPidfd(t, fd); got != st.Pid {
				t.Fatalf("the pidfd refers to pid %d, the container's init is %d", got, st.Pid)
			}
			if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
				t.Fatalf("pidfd_send_signal 0: %v", err)
			}
			if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
				t.Fatalf("pidfd_send_signal SIGKILL: %v", err)
			}
			r.waitStatus(id, "stopped")
		})
	}
	t.Run("exec", func(t *testing.T) {
		r := newRuntime(t)
		id, _ := running(t, r)
		p := newPidfdListener(t)
		pidFile := filepath.Join(t.TempDir(), "exec.pid")
		r.must("exec", "--detach", "--pidfd-socket", p.path, "--pid-file", pidFile, id, "sleep", "1000")
		fd, body := p.receive(t)
		if body != "setns" {
			t.Errorf("message body %q, want %q (runc's)", body, "setns")
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if got := pidOfPidfd(t, fd); got != want || got == r.state(id).Pid {
			t.Fatalf("the pidfd refers to pid %d, the exec'd process is %d", got, want)
		}
		if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
			t.Fatalf("pidfd_send_signal 0: %v", err)
		}
	})
	t.Run("unreachable socket", func(t *testing.T) {
		r := newRuntime(t)
		id := newID(t)
		b := newBundle(t, []string{"sleep", "1000"}, nil)
		missing := filepath.Join(t.TempDir(), "nobody-listens.sock")
		res := r.call("create", "--pidfd-socket", missing, "--bundle", b.dir, id)
		if res.code == 0 {
			t.Fatalf("create with an unreachable --pidfd-socket succeeded")
		}
		if hullOnly() && !strings.Contains(res.stderr, missing) {
			t.Errorf("the error does not name the socket: %q", res.stderr)
		}
		if _, err := os.Stat(filepath.Join(r.root, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed create left its state directory: %v", err)
		}
	})
}
