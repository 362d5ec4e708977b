package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/checkpoint-restore/go-criu/v8/rpc"
	"golang.org/x/sys/unix"
)

// This host's criu fails `criu check` (Debian's 3.17 on kernel 6.18), so
// what a restore does before and after CRIU's part (the cgroup, resctrl,
// linux.netDevices, cleanup) is tested here with a fake criu: the test
// binary itself, run through a link whose name starts with
// fakeCriuPrefix and whose rest is the mode. It answers one RESTORE
// request as criu swrk does: it "restores" a `sleep` in a new network
// namespace (the empty one CRIU makes for empty_ns), tells the runtime
// setup-namespaces and post-restore with that pid, and reports success,
// or (mode fail) kills it after setup-namespaces and reports a failure.
// It answers VERSION (3.17.1) and FEATURE_CHECK (all there, or none in
// mode nofeatures) too. It writes "criu PID" and "init PID" to the file
// report beside the link. The real round trip is checked in tests/vm (guest/criu.sh).
const fakeCriuPrefix = "fake-criu-"

// fakeCriuMain runs the fake when the test binary is called as one.
func fakeCriuMain() (int, bool) {
	base := filepath.Base(os.Args[0])
	if !strings.HasPrefix(base, fakeCriuPrefix) || len(os.Args) != 3 || os.Args[1] != "swrk" {
		return 0, false
	}
	if err := fakeCriu(strings.TrimPrefix(base, fakeCriuPrefix), filepath.Join(filepath.Dir(os.Args[0]), "report")); err != nil {
		fmt.Fprintln(os.Stderr, "fake criu:", err)
		return 1, true
	}
	return 0, true
}

// newFakeCriu returns the path of a fake criu in mode and its report file.
func newFakeCriu(t *testing.T, mode string) (bin, report string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, fakeCriuPrefix+mode)
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	return bin, filepath.Join(dir, "report")
}

// fakeReport reads what the fake criu wrote: "criu" and "init" pids.
func fakeReport(t *testing.T, report string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("fake criu report: %v", err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, " ")
		m[k], _ = strconv.Atoi(v)
	}
	return m
}

func fakeCriu(mode, report string) error {
	const sk = 3
	rep, err := os.OpenFile(report, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer rep.Close()
	fmt.Fprintf(rep, "criu %d\n", os.Getpid())
	buf := make([]byte, 1<<16)
	recv := func() (*rpc.CriuReq, error) {
		n, err := unix.Read(sk, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errors.New("the runtime closed the socket")
		}
		req := &rpc.CriuReq{}
		return req, req.UnmarshalVT(buf[:n])
	}
	send := func(resp *rpc.CriuResp) error {
		b, err := resp.MarshalVT()
		if err != nil {
			return err
		}
		_, err = unix.Write(sk, b)
		return err
	}
	notify := func(script string, pid int) error {
		if err := send(&rpc.CriuResp{Type: new(rpc.CriuReqType_NOTIFY), Success: new(true),
			Notify: &rpc.CriuNotify{Script: new(script), Pid: new(int32(pid))}}); err != nil {
			return err
		}
		ack, err := recv()
		if err != nil {
			return fmt.Errorf("answer to %s: %w", script, err)
		}
		if !ack.GetNotifySuccess() {
			return fmt.Errorf("%s refused", script)
		}
		return nil
	}
	req, err := recv()
	if err != nil {
		return err
	}
	switch req.GetType() {
	case rpc.CriuReqType_RESTORE:
	case rpc.CriuReqType_VERSION:
		return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_VERSION), Success: new(true),
			Version: &rpc.CriuVersion{MajorNumber: new(int32(3)), MinorNumber: new(int32(17)), Sublevel: new(int32(1))}})
	case rpc.CriuReqType_FEATURE_CHECK:
		// mode nofeatures: a kernel without userfaultfd or soft-dirty
		// bits (the features criu reports are those it can use here)
		has := mode != "nofeatures"
		return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_FEATURE_CHECK), Success: new(true),
			Features: &rpc.CriuFeatures{LazyPages: new(has), MemTrack: new(has)}})
	default:
		return send(&rpc.CriuResp{Type: new(req.GetType()), Success: new(false), CrErrmsg: new("the fake criu does not " + req.GetType().String())})
	}
	init := exec.Command("sleep", "1000")
	init.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := init.Start(); err != nil {
		return err
	}
	kill := func() { _ = init.Process.Kill(); _ = init.Wait() }
	fmt.Fprintf(rep, "init %d\n", init.Process.Pid)
	if err := notify("setup-namespaces", init.Process.Pid); err != nil {
		kill()
		return err
	}
	if mode == "fail" {
		kill()
		return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_RESTORE), Success: new(false), CrErrmsg: new("fake failure after setup-namespaces")})
	}
	if err := notify("post-restore", init.Process.Pid); err != nil {
		kill()
		return err
	}
	return send(&rpc.CriuResp{Type: new(rpc.CriuReqType_RESTORE), Success: new(true)})
}

// fakeImages is an image directory with what runc and hull write beside
// CRIU's images (the fake reads none of CRIU's own).
func fakeImages(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "descriptors.json"), []byte(`["/dev/null","/dev/null","/dev/null"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}
