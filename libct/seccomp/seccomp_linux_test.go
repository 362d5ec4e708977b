package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The loading tests install filters in a throwaway process: the test binary
// re-executed with helperEnv set. It does what the container's init does
// (no_new_privs, Load, hand the listener to the agent) and then makes the
// requested raw syscalls, printing their results as JSON.
const helperEnv = "HULL_SECCOMP_TEST_HELPER"

type sysCall struct {
	Nr   uintptr
	Args [3]uintptr
	// Path, when set, is passed as a pointer in argument PathArg.
	Path    string
	PathArg int
}

type sysResult struct {
	Ret   uintptr
	Errno syscall.Errno
}

type helperRequest struct {
	Profile  *specs.LinuxSeccomp
	CacheDir string
	Calls    []sysCall
	// Unprivileged loads without no_new_privs and without CAP_SYS_ADMIN.
	Unprivileged bool
}

func init() {
	if os.Getenv(helperEnv) != "" {
		runtime.LockOSThread() // as the container's init
	}
}

func TestMain(m *testing.M) {
	if req := os.Getenv(helperEnv); req != "" {
		if err := runHelper(req); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(reqJSON string) error {
	var req helperRequest
	if err := json.Unmarshal([]byte(reqJSON), &req); err != nil {
		return err
	}
	f, err := Compile(req.Profile, req.CacheDir)
	if err != nil {
		return err
	}
	if req.Unprivileged {
		if err := dropEffective(unix.CAP_SYS_ADMIN); err != nil {
			return err
		}
	} else if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	fd, err := f.Load()
	if err != nil {
		return err
	}
	if fd >= 0 {
		state := &specs.State{Version: specs.Version, ID: "test", Status: specs.StateCreating, Pid: os.Getpid(), Bundle: "/bundle"}
		if err := SendNotifyFd(req.Profile.ListenerPath, fd, state, req.Profile.ListenerMetadata); err != nil {
			return err
		}
		unix.Close(fd)
	}
	var results []sysResult
	for _, c := range req.Calls {
		args := c.Args
		var p *byte
		if c.Path != "" {
			p, err = unix.BytePtrFromString(c.Path)
			if err != nil {
				return err
			}
			args[c.PathArg] = uintptr(unsafe.Pointer(p))
		}
		r, _, errno := unix.Syscall(c.Nr, args[0], args[1], args[2])
		runtime.KeepAlive(p)
		results = append(results, sysResult{Ret: r, Errno: errno})
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// dropEffective removes capability c from the calling thread's effective set.
func dropEffective(c int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[c/32].Effective &^= 1 << uint(c%32)
	return unix.Capset(&hdr, &data[0])
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (uid 0): the helper process loads filters after setting no_new_privs as init does")
	}
}

type helperOutcome struct {
	results []sysResult
	state   *os.ProcessState
	stderr  string
	err     error
}

func runHelperProcess(t *testing.T, req helperRequest) helperOutcome {
	t.Helper()
	reqJSON, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(reqJSON))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	out := helperOutcome{state: cmd.ProcessState, stderr: stderr.String(), err: err}
	if err == nil {
		if jerr := json.Unmarshal(stdout.Bytes(), &out.results); jerr != nil {
			t.Fatalf("helper output %q: %v", stdout.String(), jerr)
		}
	}
	return out
}

func allowAllBut(calls ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: calls}
}

func TestLoadProfiles(t *testing.T) {
	requireRoot(t)
	fdcwd := unix.AT_FDCWD
	atFdcwd := uintptr(fdcwd)
	dir := t.TempDir()
	newDir := filepath.Join(dir, "made-by-mkdir")
	mkdir := sysCall{Nr: unix.SYS_MKDIRAT, Args: [3]uintptr{atFdcwd, 0, 0o755}, Path: newDir, PathArg: 1}
	getpgid := func(pid uintptr) sysCall { return sysCall{Nr: unix.SYS_GETPGID, Args: [3]uintptr{pid}} }
	getpriority := func(which, who uintptr) sysCall {
		return sysCall{Nr: unix.SYS_GETPRIORITY, Args: [3]uintptr{which, who}}
	}
	arg := func(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
	}
	deny := func(names []string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EXDEV)), Args: args}
	}
	ok := unix.Errno(0)
	// getpgid of a pid that does not exist is ESRCH: the call reached the
	// kernel; EXDEV means the filter answered.
	const noPid = 0x7fff_fff0
	tests := []struct {
		name      string
		profile   *specs.LinuxSeccomp
		calls     []sysCall
		want      []syscall.Errno
		wantNoDir bool
	}{
		{
			name:      "mkdir denied with EPERM",
			profile:   allowAllBut(specs.LinuxSyscall{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}),
			calls:     []sysCall{mkdir},
			want:      []syscall.Errno{unix.EPERM},
			wantNoDir: true,
		},
		{
			name:    "custom errnoRet",
			profile: allowAllBut(deny([]string{"getpgid"})),
			calls:   []sysCall{getpgid(0)},
			want:    []syscall.Errno{unix.EXDEV},
		},
		{
			name:    "unknown syscall names skipped",
			profile: allowAllBut(deny([]string{"hull_no_such_syscall", "getpgid"})),
			calls:   []sysCall{getpgid(0)},
			want:    []syscall.Errno{unix.EXDEV},
		},
		{
			name: "all architectures of x86",
			profile: &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls:      []specs.LinuxSyscall{deny([]string{"getpgid"})},
			},
			calls: []sysCall{getpgid(0)},
			want:  []syscall.Errno{unix.EXDEV},
		},
		{
			name:    "arg equal",
			profile: allowAllBut(deny([]string{"getpgid"}, arg(0, specs.OpEqualTo, noPid, 0))),
			calls:   []sysCall{getpgid(noPid), getpgid(noPid + 1), getpgid(0)},
			want:    []syscall.Errno{unix.EXDEV, unix.ESRCH, ok},
		},
		{
			name:    "arg not equal",
			profile: allowAllBut(deny([]string{"getpgid"}, arg(0, specs.OpNotEqual, 0, 0))),
			calls:   []sysCall{getpgid(noPid), getpgid(0)},
			want:    []syscall.Errno{unix.EXDEV, ok},
		},
		{
			name:    "arg greater and less",
			profile: allowAllBut(deny([]string{"getpgid"}, arg(0, specs.OpGreaterThan, noPid, 0)), deny([]string{"getpriority"}, arg(1, specs.OpLessThan, 5, 0))),
			calls:   []sysCall{getpgid(noPid + 1), getpgid(noPid), getpriority(0, 4), getpriority(0, noPid)},
			want:    []syscall.Errno{unix.EXDEV, unix.ESRCH, unix.EXDEV, unix.ESRCH},
		},
		{
			name:    "arg greater-equal and less-equal",
			profile: allowAllBut(deny([]string{"getpgid"}, arg(0, specs.OpGreaterEqual, noPid, 0)), deny([]string{"getpriority"}, arg(1, specs.OpLessEqual, 5, 0))),
			calls:   []sysCall{getpgid(noPid), getpgid(noPid - 1), getpriority(0, 5), getpriority(0, noPid)},
			want:    []syscall.Errno{unix.EXDEV, unix.ESRCH, unix.EXDEV, unix.ESRCH},
		},
		{
			// (arg0 & 0xff00) == 0x1200
			name:    "arg masked equal",
			profile: allowAllBut(deny([]string{"getpgid"}, arg(0, specs.OpMaskedEqual, 0xff00, 0x1200))),
			calls:   []sysCall{getpgid(noPid&^0xffff | 0x1234), getpgid(noPid&^0xffff | 0x12ff), getpgid(noPid&^0xffff | 0x1334)},
			want:    []syscall.Errno{unix.EXDEV, unix.EXDEV, unix.ESRCH},
		},
		{
			// which == PRIO_PROCESS && (who == noPid || who == noPid+1)
			name: "same index OR, different index AND",
			profile: allowAllBut(deny([]string{"getpriority"},
				arg(0, specs.OpEqualTo, unix.PRIO_PROCESS, 0),
				arg(1, specs.OpEqualTo, noPid, 0),
				arg(1, specs.OpEqualTo, noPid+1, 0))),
			calls: []sysCall{
				getpriority(unix.PRIO_PROCESS, noPid), getpriority(unix.PRIO_PROCESS, noPid+1),
				getpriority(unix.PRIO_PROCESS, noPid+2), getpriority(unix.PRIO_PGRP, noPid),
			},
			want: []syscall.Errno{unix.EXDEV, unix.EXDEV, unix.ESRCH, unix.ESRCH},
		},
		{
			name:    "log allows",
			profile: allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: specs.ActLog}),
			calls:   []sysCall{getpgid(noPid), getpgid(0)},
			want:    []syscall.Errno{unix.ESRCH, ok},
		},
		{
			name: "log and spec-allow flags",
			profile: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Flags:    []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC"},
				Syscalls: []specs.LinuxSyscall{deny([]string{"getpgid"})}},
			calls: []sysCall{getpgid(0)},
			want:  []syscall.Errno{unix.EXDEV},
		},
		{
			// Without a tracer, SECCOMP_RET_TRACE fails the call with ENOSYS.
			name:    "trace without tracer",
			profile: allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: specs.ActTrace}),
			calls:   []sysCall{getpgid(0)},
			want:    []syscall.Errno{unix.ENOSYS},
		},
		{
			name:    "rule equal to default action skipped",
			profile: allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: specs.ActAllow}),
			calls:   []sysCall{getpgid(0)},
			want:    []syscall.Errno{ok},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(newDir)
			out := runHelperProcess(t, helperRequest{Profile: tt.profile, Calls: tt.calls})
			if out.err != nil {
				t.Fatalf("helper: %v: %s", out.err, out.stderr)
			}
			if len(out.results) != len(tt.want) {
				t.Fatalf("got %d results, want %d", len(out.results), len(tt.want))
			}
			for i, r := range out.results {
				if r.Errno != tt.want[i] {
					t.Errorf("call %d: errno %d (%v), want %d (%v)", i, r.Errno, r.Errno, tt.want[i], tt.want[i])
				}
			}
			if tt.wantNoDir {
				if _, err := os.Stat(newDir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s exists after a denied mkdir (stat: %v)", newDir, err)
				}
			}
		})
	}
}

func TestKillProcess(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name   string
		action specs.LinuxSeccompAction
	}{
		{name: "kill process", action: specs.ActKillProcess},
		// SIGSYS from TRAP is fatal to a Go program that does not handle it.
		{name: "trap", action: specs.ActTrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runHelperProcess(t, helperRequest{
				Profile: allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: tt.action}),
				Calls:   []sysCall{{Nr: unix.SYS_GETPGID}},
			})
			if out.err == nil {
				t.Fatal("helper survived a forbidden syscall")
			}
			ws, _ := out.state.Sys().(syscall.WaitStatus)
			switch tt.action {
			case specs.ActKillProcess:
				if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
					t.Fatalf("helper ended with %v, want killed by SIGSYS; stderr: %s", out.state, out.stderr)
				}
			case specs.ActTrap:
				if !strings.Contains(out.stderr, "SIGSYS") {
					t.Fatalf("helper ended with %v without SIGSYS; stderr: %s", out.state, out.stderr)
				}
			}
		})
	}
}

func TestLoadFailsCleanly(t *testing.T) {
	tests := []struct {
		name    string
		profile *specs.LinuxSeccomp
		wantErr string
	}{
		{name: "nil", profile: nil, wantErr: "seccomp: no profile"},
		{
			name:    "unknown action",
			profile: allowAllBut(specs.LinuxSyscall{Names: []string{"getpid"}, Action: "SCMP_ACT_FOO"}),
			wantErr: `linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_FOO"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := Load(tt.profile)
			if err == nil || err.Error() != tt.wantErr || fd != -1 {
				t.Fatalf("Load = %d, %v; want -1, %q", fd, err, tt.wantErr)
			}
		})
	}
}

func TestLoadNeedsPrivilege(t *testing.T) {
	requireRoot(t)
	out := runHelperProcess(t, helperRequest{
		Profile:      allowAllBut(specs.LinuxSyscall{Names: []string{"getpgid"}, Action: specs.ActErrno}),
		Unprivileged: true,
	})
	const want = "load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER): permission denied (needs no_new_privs or CAP_SYS_ADMIN)"
	if out.err == nil || !strings.Contains(out.stderr, want) {
		t.Fatalf("helper: %v, stderr %q; want it to fail with %q", out.err, out.stderr, want)
	}
}

func TestFlagSupported(t *testing.T) {
	var uts unix.Utsname
	unix.Uname(&uts)
	tests := []struct {
		flag    specs.LinuxSeccompFlag
		wantErr string
	}{
		{flag: specs.LinuxSeccompFlagLog},       // Linux 4.14
		{flag: specs.LinuxSeccompFlagSpecAllow}, // Linux 4.17
		{flag: "SECCOMP_FILTER_FLAG_TSYNC"},     // Linux 3.17
		{flag: "SECCOMP_FILTER_FLAG_FOO", wantErr: `unknown seccomp flag "SECCOMP_FILTER_FLAG_FOO"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.flag), func(t *testing.T) {
			err := FlagSupported(tt.flag)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("FlagSupported on Linux %s: %v", unix.ByteSliceToString(uts.Release[:]), err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("FlagSupported = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestNotify runs a small seccomp agent: it receives the listener fd and the
// container process state over the listener socket and answers the
// helper's getppid with 4242.
func TestNotify(t *testing.T) {
	requireRoot(t)
	if api, _ := libseccomp.GetAPI(); api < 6 {
		t.Skipf("needs libseccomp API level 6 (seccomp user notification); have %d", api)
	}
	tests := []struct {
		name  string
		flags []specs.LinuxSeccompFlag
	}{
		{name: "notify"},
		{name: "notify wait killable", flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.flags {
				if err := FlagSupported(f); err != nil {
					t.Skipf("kernel lacks %s: %v", f, err)
				}
			}
			sock := filepath.Join(t.TempDir(), "agent.sock")
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			agentErr := make(chan error, 1)
			gotState := make(chan specs.ContainerProcessState, 1)
			go func() { agentErr <- runAgent(l, gotState) }()

			profile := allowAllBut(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActNotify})
			profile.ListenerPath, profile.ListenerMetadata, profile.Flags = sock, "hello agent", tt.flags
			out := runHelperProcess(t, helperRequest{Profile: profile, Calls: []sysCall{{Nr: unix.SYS_GETPPID}}})
			if out.err != nil {
				t.Fatalf("helper: %v: %s", out.err, out.stderr)
			}
			if err := <-agentErr; err != nil {
				t.Fatalf("agent: %v", err)
			}
			if r := out.results[0]; r.Errno != 0 || r.Ret != 4242 {
				t.Fatalf("getppid under notify = %d, errno %v; want 4242 from the agent", r.Ret, r.Errno)
			}
			st := <-gotState
			if st.Version != specs.Version || len(st.Fds) != 1 || st.Fds[0] != "seccompFd" ||
				st.Metadata != "hello agent" || st.Pid != out.state.Pid() || st.Pid != st.State.Pid ||
				st.State.ID != "test" || st.State.Status != specs.StateCreating {
				t.Fatalf("container process state = %+v", st)
			}
		})
	}
}

func runAgent(l *net.UnixListener, gotState chan<- specs.ContainerProcessState) error {
	l.SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := l.AcceptUnix()
	if err != nil {
		return err
	}
	defer conn.Close()
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("control messages %v: %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return fmt.Errorf("rights %v: %v", fds, err)
	}
	fd := fds[0]
	defer unix.Close(fd)
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return fmt.Errorf("state %q: %v", buf[:n], err)
	}
	gotState <- st
	// Wait for the one notification, but never forever.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 20000); err != nil || n != 1 || pfd[0].Revents&unix.POLLIN == 0 {
		return fmt.Errorf("poll listener: n=%d revents=%#x: %v", n, pfd[0].Revents, err)
	}
	req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
	if err != nil {
		return fmt.Errorf("receive notification: %w", err)
	}
	if name, _ := req.Data.Syscall.GetName(); name != "getppid" || int(req.Pid) != st.Pid {
		return fmt.Errorf("notification for %q from pid %d, want getppid from %d", name, req.Pid, st.Pid)
	}
	return libseccomp.NotifRespond(libseccomp.ScmpFd(fd), &libseccomp.ScmpNotifResp{ID: req.ID, Val: 4242})
}
