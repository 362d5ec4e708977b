package criu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/checkpoint-restore/go-criu/v8/rpc"
	"golang.org/x/sys/unix"
)

// The test binary is its own fake criu: run as `criu swrk 3` with
// FAKE_CRIU set, it answers one request as FAKE_CRIU says. The real CRIU
// does not run on every kernel (Debian's 3.17 fails on 6.18's vDSO); the
// real round trip is tested in tests/vm.
const fakeEnv = "FAKE_CRIU"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" && len(os.Args) == 3 && os.Args[1] == "swrk" {
		if err := fakeCriu(mode); err != nil {
			fmt.Fprintln(os.Stderr, "fake criu:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeCriu(mode string) error {
	sk := 3
	buf := make([]byte, maxMsg)
	n, err := unix.Read(sk, buf)
	if err != nil {
		return err
	}
	req := &rpc.CriuReq{}
	if err := req.UnmarshalVT(buf[:n]); err != nil {
		return err
	}
	send := func(resp *rpc.CriuResp, fds ...int) error {
		b, err := resp.MarshalVT()
		if err != nil {
			return err
		}
		var oob []byte
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		return unix.Sendmsg(sk, b, oob, nil, 0)
	}
	switch mode {
	case "fail":
		return send(&rpc.CriuResp{Type: new(req.GetType()), Success: new(false), CrErrno: new(int32(2)), CrErrmsg: new("boom")})
	case "fail-logged":
		// as CRIU does: the reply repeats the last error of the log
		return send(&rpc.CriuResp{Type: new(req.GetType()), Success: new(false), CrErrmsg: new("Error (criu/files.c:12): cannot open /x: No such file")})
	case "eof":
		fmt.Fprintln(os.Stderr, "Error (criu/crtools.c:1): cannot go on")
		os.Exit(1)
	case "version":
		return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_VERSION), Success: new(true),
			Version: &rpc.CriuVersion{MajorNumber: new(int32(3)), MinorNumber: new(int32(17)), Sublevel: new(int32(1))}})
	case "notify":
		// the restored init's pid, then the pty master (here: our stdin)
		for _, n := range []struct {
			script string
			fds    []int
		}{{"post-restore", nil}, {"orphan-pts-master", []int{0}}} {
			if err := send(&rpc.CriuResp{Type: new(rpc.CriuReqType_NOTIFY), Success: new(true),
				Notify: &rpc.CriuNotify{Script: new(n.script), Pid: new(int32(42))}}, n.fds...); err != nil {
				return err
			}
			m, err := unix.Read(sk, buf)
			if err != nil {
				return err
			}
			if m == 0 {
				return errors.New("no answer to " + n.script)
			}
			ack := &rpc.CriuReq{}
			if err := ack.UnmarshalVT(buf[:m]); err != nil || !ack.GetNotifySuccess() {
				return fmt.Errorf("bad answer to %s: %v", n.script, err)
			}
		}
		return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_RESTORE), Success: new(true)})
	}
	return errors.New("unknown mode " + mode)
}

func TestDo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "restore.log")
	if err := os.WriteFile(log, []byte("(00.000100) Warn: nothing\n(00.002000)      1: Error (criu/files.c:12): cannot open /x: No such file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	restore := rpc.CriuReqType_RESTORE
	cases := []struct {
		name    string
		mode    string
		logPath string
		notify  func(string, int, []*os.File) error
		wantErr []string // all in the error, in this order
		check   func(t *testing.T, calls []string)
	}{
		{name: "failure reply", mode: "fail", logPath: log, wantErr: []string{
			"criu restore failed: cannot open /x: No such file (boom, errno 2: no such file or directory; log " + log + ")"}},
		{name: "failure reply repeating the log", mode: "fail-logged", logPath: log, wantErr: []string{
			"criu restore failed: cannot open /x: No such file (log " + log + ")"}},
		{name: "failure reply without log", mode: "fail", wantErr: []string{"criu restore failed: boom, errno 2"}},
		{name: "exit without reply", mode: "eof", wantErr: []string{"criu restore failed: cannot go on", "exited without a reply (exit status 1)"}},
		{name: "notifications", mode: "notify", check: func(t *testing.T, calls []string) {
			want := []string{"post-restore 42 0", "orphan-pts-master 42 1"}
			if strings.Join(calls, ",") != strings.Join(want, ",") {
				t.Errorf("notify calls %q, want %q", calls, want)
			}
		}},
		{name: "notify handler fails", mode: "notify", notify: func(s string, _ int, _ []*os.File) error {
			return errors.New("no cgroup")
		}, wantErr: []string{"criu restore failed: post-restore: no cgroup"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(fakeEnv, tc.mode)
			var calls []string
			notify := tc.notify
			if notify == nil {
				notify = func(s string, pid int, fds []*os.File) error {
					calls = append(calls, fmt.Sprintf("%s %d %d", s, pid, len(fds)))
					closeAll(fds)
					return nil
				}
			}
			c := &Client{Path: self}
			_, err := c.Do(&Request{Req: &rpc.CriuReq{Type: &restore, Opts: &rpc.CriuOpts{ImagesDirFd: new(int32(-1))}}, Notify: notify, LogPath: tc.logPath})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("Do succeeded, want an error")
				}
				rest := err.Error()
				for _, w := range tc.wantErr {
					i := strings.Index(rest, w)
					if i < 0 {
						t.Fatalf("error %q lacks %q", err, w)
					}
					rest = rest[i+len(w):]
				}
			}
			if tc.check != nil {
				tc.check(t, calls)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, "version")
	v, err := (&Client{Path: self}).Version()
	if err != nil || v != 31701 {
		t.Fatalf("Version = %d, %v; want 31701", v, err)
	}
}

func TestMissingBinary(t *testing.T) {
	_, err := (&Client{Path: "/nonexistent/criu"}).Version()
	if err == nil || !strings.Contains(err.Error(), "cannot run criu (--criu /nonexistent/criu)") {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dump.log")
	var b strings.Builder
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "(00.0%d)  %d: Error (criu/x.c:%d): e%d\n(00.0%d) note\n", i, i, i, i, i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := ErrorLines(p, 4)
	if strings.Join(got, ",") != "e3,e4,e5,e6" {
		t.Fatalf("ErrorLines = %q, want the last four messages", got)
	}
	if ErrorLines(filepath.Join(t.TempDir(), "none"), 4) != nil {
		t.Fatal("ErrorLines of a missing log is not nil")
	}
}
