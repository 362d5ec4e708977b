package conformance

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// agentConn is what a fake seccomp agent saw on one connection.
type agentConn struct {
	payload  []byte
	fds      []int
	laterFds int // fds received after the first message
	closed   bool
	err      error
}

// seccompAgent listens on a SOCK_STREAM unix socket like a seccomp agent.
type seccompAgent struct {
	path  string
	mu    sync.Mutex
	conns []agentConn
}

func newSeccompAgent(t *testing.T) *seccompAgent {
	t.Helper()
	a := &seccompAgent{path: filepath.Join(t.TempDir(), "agent.sock")}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: a.path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() {
		l.Close()
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, c := range a.conns {
			for _, fd := range c.fds {
				syscall.Close(fd)
			}
		}
	})
	go func() {
		for {
			conn, err := l.AcceptUnix()
			if err != nil {
				return
			}
			a.serve(conn)
		}
	}()
	return a
}

func (a *seccompAgent) serve(conn *net.UnixConn) {
	defer conn.Close()
	var c agentConn
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, oob := make([]byte, 65536), make([]byte, 4096)
	for first := true; ; first = false {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		c.payload = append(c.payload, buf[:n]...)
		if oobn > 0 {
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for i := range msgs {
				fds, _ := syscall.ParseUnixRights(&msgs[i])
				if first {
					c.fds = append(c.fds, fds...)
				} else {
					c.laterFds += len(fds)
					for _, fd := range fds {
						syscall.Close(fd)
					}
				}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0 && oobn == 0) {
			c.closed = true
			break
		}
		if err != nil {
			c.err = err
			break
		}
	}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
}

func (a *seccompAgent) connections() []agentConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agentConn(nil), a.conns...)
}

func notifyListed(t *testing.T, clause string) {
	t.Helper()
	f := suite.features
	if f == nil {
		return
	}
	if f.Linux == nil || f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled ||
		!contains(f.Linux.Seccomp.Actions, string(specs.ActNotify)) {
		skipClause(t, clause, "features does not list seccomp action SCMP_ACT_NOTIFY")
	}
}

func notifyProfile(listener string) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow, ListenerPath: listener, ListenerMetadata: "conformance-metadata",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActNotify}},
	}
}

func TestSeccompListener(t *testing.T) {
	notifyListed(t, "CL-SECCOMP-STATE-PAYLOAD")
	rt := newRuntime(t)
	agent := newSeccompAgent(t)
	b := newBundle(t)
	sleeper(b)
	b.Spec.Linux.Seccomp = notifyProfile(agent.path)
	c := newCtr(t, rt, b)
	res := c.create()
	record(t, "FEAT-LINUX-SECCOMP-ACTIONS", res.OK(), "seccomp profile using SCMP_ACT_NOTIFY with a listener: %v %s", res.Err, trim(res.Stderr))
	if !res.OK() {
		t.FailNow()
	}
	var conns []agentConn
	err := WaitFor(10*time.Second, "the agent connection to end", func() bool {
		conns = agent.connections()
		return len(conns) > 0
	})
	record(t, "CL-SECCOMP-LISTENER-STREAM", err == nil, "the runtime connected to a SOCK_STREAM AF_UNIX listener: %v", err)
	if err != nil {
		t.FailNow()
	}
	conn := conns[0]
	record(t, "CL-SECCOMP-LISTENER-CLOSE", conn.closed, "the runtime closed the connection after the state (err %v)", conn.err)
	dec := json.NewDecoder(bytesReader(conn.payload))
	var st specs.ContainerProcessState
	derr := dec.Decode(&st)
	var extra json.RawMessage
	more := dec.Decode(&extra)
	record(t, "CL-SECCOMP-LISTENER-ONE", derr == nil && errors.Is(more, io.EOF) && len(conns) == 1,
		"one state per connection: decode %v, then %v; %d connections", derr, more, len(conns))
	seccompFd := -1
	for i, n := range st.Fds {
		if n == "seccompFd" && i < len(conn.fds) {
			seccompFd = conn.fds[i]
		}
	}
	ok := derr == nil && semver.MatchString(st.Version) && st.Pid > 0 && st.State.ID == c.id &&
		st.Metadata == "conformance-metadata" && len(st.Fds) == len(conn.fds) && seccompFd >= 0
	record(t, "CL-SECCOMP-STATE-PAYLOAD", ok, "state %+v with %d fds over SCM_RIGHTS", st, len(conn.fds))
	if seccompFd >= 0 {
		target, _ := os.Readlink("/proc/self/fd/" + itoa(seccompFd))
		record(t, "CL-SECCOMP-STATE-PAYLOAD", target == "anon_inode:seccomp notify", "seccompFd is %q", target)
	}
	record(t, "CL-SECCOMP-STATE-FDS-FIRST", conn.laterFds == 0, "%d fds came after the first sendmsg", conn.laterFds)
}

func TestSeccompListenerUnreachable(t *testing.T) {
	notifyListed(t, "CL-SECCOMP-LISTENER-FAIL")
	rt := newRuntime(t)
	b := newBundle(t)
	sleeper(b)
	b.Spec.Linux.Seccomp = notifyProfile(filepath.Join(t.TempDir(), "nobody-listens.sock"))
	c := newCtr(t, rt, b)
	res := c.create()
	record(t, "CL-SECCOMP-LISTENER-FAIL", !res.OK(), "create with an unreachable listenerPath: err=%v", res.Err)
	if !res.OK() {
		_, _, st := rt.State(c.id)
		record(t, "RT-ERRORS-NO-CHANGE", !st.OK(), "after the failed create the container exists: %v (want false)", st.OK())
	}
}
