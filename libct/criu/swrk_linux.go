// Package criu talks to CRIU (checkpoint/restore in userspace) over its RPC
// protocol: `criu swrk 3` is started with one end of a SOCK_SEQPACKET
// socketpair as fd 3, hull sends one CriuReq (a protobuf message, the types
// of github.com/checkpoint-restore/go-criu/v8/rpc) and reads CriuResp
// messages until the final answer, answering each NOTIFY (the "action
// scripts": post-dump, setup-namespaces, post-restore, orphan-pts-master,
// ...) on the way. Only the transport lives here; what to ask CRIU for is
// libct's business (criu_linux.go, restore_linux.go).
//
// An error names what CRIU reported: its cr_errmsg and errno when it
// answered, else how it exited, and in both cases the "Error" lines of its
// log file (CRIU logs the cause there, the RPC answer often says only
// "dump failed").
package criu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/checkpoint-restore/go-criu/v8/rpc"
	"golang.org/x/sys/unix"
)

// Request is one RPC exchange with a fresh `criu swrk`.
type Request struct {
	// Req is what is sent. Opts.NotifyScripts must be set for Notify to
	// be called.
	Req *rpc.CriuReq
	// ExtraFiles become fds 4, 5, ... of criu (3 is the RPC socket):
	// what InheritFd entries name.
	ExtraFiles []*os.File
	// Stdin, Stdout and Stderr of criu. A restore passes the container's
	// stdio here: CRIU hands these fds (InheritFd) to the restored tasks.
	// When Stderr is nil, criu's stderr is collected and quoted in errors.
	Stdin, Stdout, Stderr *os.File
	// Started is called with criu's pid before the request is sent (a
	// restore moves criu into the container's cgroup there, so that the
	// tasks it restores are born in it).
	Started func(pid int) error
	// Notify is called for each NOTIFY message with the script name, the
	// pid CRIU gives (0 when none) and the fds that came with it (the pty
	// master of "orphan-pts-master"; Notify owns them). An error aborts
	// the operation: CRIU is not told success and gives up.
	Notify func(script string, pid int, fds []*os.File) error
	// LogPath is CRIU's log file (its work directory joined with
	// Opts.LogFile), quoted in errors.
	LogPath string
}

// Client runs CRIU.
type Client struct {
	// Path is the criu binary (hull's global --criu); a bare name is
	// looked up in PATH.
	Path string
}

// maxMsg is the largest message read: a CriuResp is small, but a feature
// check or version answer with a long gitid must fit.
const maxMsg = 10 * 4096

// Do runs one request and returns CRIU's final answer, which reported
// success.
func (c *Client) Do(r *Request) (*rpc.CriuResp, error) {
	op := strings.ReplaceAll(strings.ToLower(r.Req.GetType().String()), "_", "-")
	resp, err := c.do(r)
	if err != nil {
		return nil, fmt.Errorf("criu %s failed: %w", op, err)
	}
	return resp, nil
}

func (c *Client) do(r *Request) (_ *rpc.CriuResp, retErr error) {
	path := c.Path
	if path == "" {
		path = "criu"
	}
	bin, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("cannot run criu (--criu %s): %w", path, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	clientFile := os.NewFile(uintptr(fds[0]), "criu-client")
	server := os.NewFile(uintptr(fds[1]), "criu-server")
	fc, err := net.FileConn(clientFile)
	clientFile.Close()
	if err != nil {
		server.Close()
		return nil, fmt.Errorf("criu socket: %w", err)
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()

	cmd := exec.Command(bin, "swrk", "3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, r.Stdout, r.Stderr
	var stderr *tailBuffer
	var stderrW *os.File
	if r.Stderr == nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			server.Close()
			return nil, err
		}
		stderr = newTailBuffer(pr)
		stderrW = pw
		cmd.Stderr = pw
		if r.Stdout == nil {
			cmd.Stdout = pw
		}
	}
	cmd.ExtraFiles = append([]*os.File{server}, r.ExtraFiles...)
	err = cmd.Start()
	// criu holds its own copies now: with ours closed, a criu that dies
	// makes the next read return EOF instead of blocking for ever.
	server.Close()
	if stderrW != nil {
		stderrW.Close()
	}
	if err != nil {
		if stderr != nil {
			stderr.wait()
		}
		return nil, fmt.Errorf("start %s swrk: %w", bin, err)
	}
	// Not cmd.Wait: on restore, criu's stdio copies may be held by the
	// restored tasks for ever; only criu itself is waited for.
	proc := cmd.Process
	waited := false
	wait := func() (*os.ProcessState, error) {
		waited = true
		return proc.Wait()
	}
	defer func() {
		if !waited {
			conn.Close() // criu sees EOF and exits
			_, _ = wait()
		}
		if retErr != nil {
			retErr = withReport(retErr, stderr, r.LogPath)
		} else if stderr != nil {
			stderr.wait()
		}
	}()

	if r.Started != nil {
		if err := r.Started(proc.Pid); err != nil {
			return nil, &ownError{err}
		}
	}
	req := r.Req
	data, err := req.MarshalVT()
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	if _, err := conn.Write(data); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}

	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4*16))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read reply: %w", err)
		}
		files, ferr := rightsFiles(oob[:oobn])
		if n == 0 {
			closeAll(files)
			ps, _ := wait()
			return nil, fmt.Errorf("criu exited without a reply (%s)", ps)
		}
		if n == len(buf) {
			closeAll(files)
			return nil, errors.New("reply too large")
		}
		if ferr != nil {
			return nil, ferr
		}
		resp := &rpc.CriuResp{}
		if err := resp.UnmarshalVT(buf[:n]); err != nil {
			closeAll(files)
			return nil, fmt.Errorf("decode reply: %w", err)
		}
		if !resp.GetSuccess() {
			closeAll(files)
			return nil, replyError(resp)
		}
		t := resp.GetType()
		if t != rpc.CriuReqType_NOTIFY {
			closeAll(files)
			if t != req.GetType() {
				return nil, fmt.Errorf("unexpected reply of type %s", t)
			}
			// Done: let criu exit, and wait for it (a restore's criu
			// must be gone before its restored init is reaped by us).
			_ = conn.CloseWrite()
			ps, err := wait()
			if err != nil {
				return nil, fmt.Errorf("wait for criu: %w", err)
			}
			// A pre-dump criu stays for the next iteration of a dump
			// series that never comes: it is killed by the closed socket
			// and its status means nothing.
			if !ps.Success() && t != rpc.CriuReqType_PRE_DUMP {
				return nil, fmt.Errorf("criu reported success but %s", ps)
			}
			return resp, nil
		}
		script := resp.GetNotify().GetScript()
		if r.Notify != nil {
			if err := r.Notify(script, int(resp.GetNotify().GetPid()), files); err != nil {
				return nil, &ownError{fmt.Errorf("%s: %w", script, err)}
			}
		} else {
			closeAll(files)
		}
		ack := &rpc.CriuReq{Type: new(rpc.CriuReqType_NOTIFY), NotifySuccess: new(true)}
		if data, err = ack.MarshalVT(); err != nil {
			return nil, fmt.Errorf("encode notify answer: %w", err)
		}
		if _, err := conn.Write(data); err != nil {
			return nil, fmt.Errorf("answer %s: %w", script, err)
		}
	}
}

// Version asks criu for its version as major*10000+minor*100+sublevel
// (3.17.1 is 31701), as runc and go-criu number it.
func (c *Client) Version() (int, error) {
	resp, err := c.Do(&Request{Req: &rpc.CriuReq{Type: new(rpc.CriuReqType_VERSION)}})
	if err != nil {
		return 0, err
	}
	v := resp.GetVersion()
	if v == nil {
		return 0, errors.New("criu version: no version in the reply (criu older than 3.0)")
	}
	return int(v.GetMajorNumber())*10000 + int(v.GetMinorNumber())*100 + int(v.GetSublevel()), nil
}

// Features asks criu which of want it supports and returns the names of
// those it lacks.
func (c *Client) Features(want *rpc.CriuFeatures) ([]string, error) {
	resp, err := c.Do(&Request{Req: &rpc.CriuReq{Type: new(rpc.CriuReqType_FEATURE_CHECK), Features: want}})
	if err != nil {
		return nil, err
	}
	got := resp.GetFeatures()
	var missing []string
	if want.GetMemTrack() && !got.GetMemTrack() {
		missing = append(missing, "memory tracking (pre-dump)")
	}
	if want.GetLazyPages() && !got.GetLazyPages() {
		missing = append(missing, "lazy pages (userfaultfd)")
	}
	return missing, nil
}

// replyError is a failed reply in CRIU's words.
func replyError(resp *rpc.CriuResp) error {
	var parts []string
	if m := strings.TrimSpace(resp.GetCrErrmsg()); m != "" {
		// CRIU sends its last logged error, "Error (file:line): ...".
		if msgs := errorMessages([]string{m}, 1); len(msgs) == 1 {
			m = msgs[0]
		}
		parts = append(parts, m)
	}
	if e := resp.GetCrErrno(); e != 0 {
		parts = append(parts, fmt.Sprintf("errno %d: %s", e, unix.Errno(e)))
	}
	if len(parts) == 0 {
		return errors.New("criu reported failure")
	}
	return errors.New(strings.Join(parts, ", "))
}

// ownError is a failure of hull's side of the exchange (a notification
// handler, the cgroup): the cause is then hull's, not what criu says
// after it was cut off.
type ownError struct{ err error }

func (e *ownError) Error() string { return e.err.Error() }
func (e *ownError) Unwrap() error { return e.err }

// withReport puts what CRIU logged as errors (or, without a log, said on
// stderr) first, since that is the cause, and names the log.
func withReport(err error, stderr *tailBuffer, logPath string) error {
	said := ""
	if stderr != nil {
		said = stderr.wait()
	}
	var own *ownError
	if errors.As(err, &own) {
		return err
	}
	if msgs := errorMessages(strings.Split(said, "\n"), 4); len(msgs) > 0 {
		said = strings.Join(msgs, "; ")
	} else {
		said = oneLine(lastLines(strings.TrimSpace(said), 4))
	}
	var lines []string
	if logPath != "" {
		// What the reply already says is not repeated.
		for _, l := range ErrorLines(logPath, 4) {
			if !strings.Contains(err.Error(), l) {
				lines = append(lines, l)
			}
		}
	}
	switch {
	case len(lines) > 0:
		return fmt.Errorf("%s (%w; log %s)", strings.Join(lines, "; "), err, logPath)
	case said != "":
		return fmt.Errorf("%s (%w)", said, err)
	case logPath != "":
		if _, serr := os.Stat(logPath); serr == nil {
			return fmt.Errorf("%w (log %s)", err, logPath)
		}
	}
	return err
}

// ErrorLines returns the messages of the last max lines of CRIU's log at
// path that report an error (CRIU writes "(time) pid: Error (file:line):
// message"; the full line stays in the log).
func ErrorLines(path string, max int) []string {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil
	}
	defer f.Close()
	var all []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		if strings.Contains(s.Text(), "Error (") {
			all = append(all, s.Text())
		}
	}
	return errorMessages(all, max)
}

// errorMessages returns the messages of the last max "Error (file:line):
// message" lines of lines.
func errorMessages(lines []string, max int) []string {
	var out []string
	for _, l := range lines {
		i := strings.Index(l, "Error (")
		if i < 0 {
			continue
		}
		m := l[i:]
		if j := strings.Index(m, "): "); j >= 0 {
			m = m[j+3:]
		}
		out = append(out, strings.TrimSpace(m))
		if len(out) > max {
			out = out[1:]
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// rightsFiles returns the fds passed with a message (SCM_RIGHTS).
func rightsFiles(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var files []*os.File
	for i := range msgs {
		fds, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "criu-fd"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// tailBuffer collects the last 64 KiB read from r until EOF.
type tailBuffer struct {
	done chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newTailBuffer(r *os.File) *tailBuffer {
	t := &tailBuffer{done: make(chan struct{})}
	go func() {
		defer close(t.done)
		defer r.Close()
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			t.mu.Lock()
			t.buf.Write(b[:n])
			if t.buf.Len() > 64*1024 {
				t.buf.Next(t.buf.Len() - 64*1024)
			}
			t.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return t
}

// wait waits for EOF (criu and everything it started have exited) and
// returns what was read.
func (t *tailBuffer) wait() string {
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
