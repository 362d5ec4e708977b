package libct

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
	"github.com/hullrt/hull/libct/seccomp"
)

// The executors' harness: a program in its wire form is run by this test
// binary as `hull init`, either by the nsenter constructor in C
// (bootProgram) or by Go (goExecutorProbe: TestMain decodes it and runs
// runProgram); the test plays the parent, and the program's execve runs
// this binary again as probeEnv, which prints the state the process got.

const (
	// goExecutorProbe makes TestMain run a program with Go's executor.
	goExecutorProbe = "HULL_TEST_GO_EXECUTOR"
	// probeEnv makes TestMain print the process's state (probeState).
	probeEnv = "HULL_TEST_PROBE"
)

// probeDirMade is probeDir's directory once made, for TestMain to remove.
var probeDirMade string

// probeDir holds a world-executable copy of this test binary and a
// world-writable file, so that the process can exec it and write to it
// as any user.
var probeDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hull-final-")
	if err != nil {
		return "", err
	}
	probeDirMade = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), self, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "w"), nil, 0o666); err != nil {
		return "", err
	}
	if err := os.Chmod(filepath.Join(dir, "w"), 0o666); err != nil {
		return "", err
	}
	// Not executable, and garbage that is: for execve's failures.
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("x"), 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "garbage"), []byte("\x00\x01\x02garbage"), 0o755)
})

func needProbeDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the programs change credentials")
	}
	dir, err := probeDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// execResult is what a run of a program showed the parent.
type execResult struct {
	reports        []progReport
	exit           int // the exit status, or -signal
	stdout, stderr string
}

func (r execResult) String() string {
	return fmt.Sprintf("reports %+v, exit %d, stdout %q, stderr %q", r.reports, r.exit, r.stdout, r.stderr)
}

// runWire runs wire with the C executor (inC) or Go's, as the parent:
// it sends the program after the constructor's report, answers listener
// reports and collects the rest. The child gets preserved as fds 3, 4,
// ..., then the sync socket, then extra; boot adds bootstrap fields.
func runWire(t *testing.T, inC bool, wire []byte, boot string, preserved, extra []*os.File) execResult {
	t.Helper()
	dir := needProbeDir(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "p"), os.NewFile(uintptr(fds[1]), "c")
	defer parent.Close()
	stdout, stderr := &bytes.Buffer{}, &bytes.Buffer{}
	p := len(preserved)
	boot = strings.TrimSpace(fmt.Sprintf("sync=%d preserve=%d fds=%d %s", 3+p, p, p+1+len(extra), boot))
	env := append([]string{}, initRuntimeEnv...)
	if inC {
		boot += " flags=" + strconv.Itoa(int(bootProgram))
	} else {
		env = append(env, goExecutorProbe+"=1")
	}
	cmd := exec.Command(filepath.Join(dir, "probe"), "-test.run=^$")
	cmd.Env = append([]string{envBootstrap + "=" + boot}, env...)
	cmd.ExtraFiles = append(append(append([]*os.File{}, preserved...), child), extra...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// As hull's parent starts `hull init`: a session of its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var res execResult
	rep, err := readBootReport(parent)
	if err == nil {
		err = rep.err()
	}
	if err == nil {
		_, err = parent.Write(wire)
	}
	for err == nil {
		var r progReport
		if r, err = readProgReport(parent); err == nil {
			if r.Kind == reportHelper {
				// A C init's setup helper announces itself when it
				// starts, in any order with init's own reports (hull's
				// parent reads it before it sends the program); it says
				// nothing about the program.
				continue
			}
			res.reports = append(res.reports, r)
			if r.Kind == reportListener {
				_, err = parent.Write([]byte{1})
			}
		}
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("talking to the child: %v", err)
	}
	parent.Close()
	_ = cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	res.exit = ws.ExitStatus()
	if ws.Signaled() {
		res.exit = -int(ws.Signal())
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

// goExecutorChild is the Go executor of the harness, in the child: the
// program from the socket, decoded and run by runProgram, with the C
// executor's reports instead of Init's JSON messages.
func goExecutorChild() int {
	// One OS thread for every step and the execve, as hull's main locks
	// it for Init: capabilities and credentials are per thread, and the
	// thread that calls execve decides what the program gets. Unlocked,
	// the capset of one step could land on a thread that does not exec
	// (TestExecutorsAgree failed ~1 run in 30 with the full sets kept).
	runtime.LockOSThread()
	boot, err := decodeBootstrap(os.Getenv(envBootstrap))
	if err != nil {
		return 2
	}
	os.Unsetenv(envBootstrap)
	sock := os.NewFile(uintptr(boot.Sync), "sync")
	in := &initProc{boot: boot, errFd: -1, fifoFd: -1, sock: sock}
	send := func(kind reportKind, step, errno, value int) {
		var b [reportSize]byte
		e := binary.NativeEndian
		e.PutUint32(b[:], reportMagic)
		e.PutUint16(b[4:], uint16(kind))
		e.PutUint16(b[6:], uint16(step))
		e.PutUint32(b[8:], uint32(errno))
		e.PutUint32(b[12:], uint32(value))
		_, _ = sock.Write(b[:])
	}
	// As the constructor does before a program: every fd close-on-exec,
	// not dumpable, the parent-death signal.
	_ = inheritedCloseOnExec()
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	var hdr [progHeader]byte
	if _, err := io.ReadFull(sock, hdr[:]); err != nil {
		return 255
	}
	total := int(binary.NativeEndian.Uint32(hdr[8:]))
	wire := append(hdr[:], make([]byte, max(total-progHeader, 0))...)
	if total > progMaxBytes {
		send(reportRefused, 0, int(unix.EINVAL), 0)
		return 255
	}
	if _, err := io.ReadFull(sock, wire[progHeader:]); err != nil {
		return 255
	}
	prog, err := decodeProgram(wire)
	if err != nil {
		send(reportRefused, 0, int(unix.EINVAL), 0)
		return 255
	}
	err = runProgram(harnessSys{liveSys{in}, send}, prog)
	var se *stepError
	if !errors.As(err, &se) {
		return 254
	}
	if !in.ready {
		send(reportFailed, se.index, int(se.errno), 0)
	} else {
		fmt.Fprintf(os.Stderr, "hull init: %s\n", se.stageError)
	}
	return 255
}

// harnessSys is liveSys with the C executor's reports for ready and a
// NOTIFY listener.
type harnessSys struct {
	liveSys
	send func(kind reportKind, step, errno, value int)
}

func (h harnessSys) ready([]byte) error {
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	h.send(reportReady, 0, 0, 0)
	h.in.sock.Close()
	h.in.ready = true
	return nil
}

func (h harnessSys) loadSeccomp(bpf []byte, flags uint) error {
	f := &seccomp.Filter{Program: bpf, Flags: flags}
	fd, err := f.Load()
	if err != nil || fd < 0 {
		return err
	}
	h.send(reportListener, 0, 0, fd)
	var b [1]byte
	if _, err := h.in.sock.Read(b[:]); err != nil {
		os.Exit(255)
	}
	return unix.Close(fd)
}

// probeState describes the calling process as the program left it, one
// "key=value" a line, for two runs to compare.
func probeState() string {
	var out []string
	add := func(k string, v any) { out = append(out, fmt.Sprintf("%s=%v", k, v)) }
	r, e, s := unix.Getresuid()
	add("uids", []int{r, e, s})
	r, e, s = unix.Getresgid()
	add("gids", []int{r, e, s})
	groups, _ := unix.Getgroups()
	sort.Ints(groups)
	add("groups", groups)
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "Umask", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "Cpus_allowed_list":
			add(k, strings.TrimSpace(v))
		}
	}
	wd, _ := os.Getwd()
	add("cwd", wd)
	env := os.Environ()
	sort.Strings(env)
	add("env", env)
	for _, rl := range []int{unix.RLIMIT_MSGQUEUE, unix.RLIMIT_NPROC} { // Go raises NOFILE's soft limit
		var lim unix.Rlimit
		_ = unix.Getrlimit(rl, &lim)
		add("rlimit"+strconv.Itoa(rl), []uint64{lim.Cur, lim.Max})
	}
	prio, _, _ := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0)
	add("ioprio", prio)
	if a, err := unix.SchedGetAttr(0, 0); err == nil {
		add("sched", []any{a.Policy, a.Nice, a.Priority})
	}
	var mode int32
	var mask [16]uint64
	_, _, errno := unix.Syscall6(unix.SYS_GET_MEMPOLICY, uintptr(unsafe.Pointer(&mode)), uintptr(unsafe.Pointer(&mask[0])), 1025, 0, 0, 0)
	add("mempolicy", []any{mode, mask[0], errno})
	oom, _ := os.ReadFile("/proc/self/oom_score_adj")
	add("oom_score_adj", strings.TrimSpace(string(oom)))
	persona, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	add("personality", persona)
	var fds []string
	for fd := 0; fd < 64; fd++ {
		// The probe's Go runtime has its own (epoll, eventfd, pipes,
		// the cgroup files it sizes GOMAXPROCS with).
		l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		if err == nil && (fd < 3 || !strings.HasPrefix(l, "anon_inode:") && !strings.HasPrefix(l, "pipe:") &&
			!strings.HasPrefix(l, "/sys/fs/cgroup/")) {
			fds = append(fds, strconv.Itoa(fd))
		}
	}
	add("fds", fds)
	dir := filepath.Dir(os.Args[0])
	var werr syscall.Errno
	if f, err := os.OpenFile(filepath.Join(dir, "w"), os.O_WRONLY, 0); err == nil {
		add("write", "ok")
		f.Close()
	} else if errors.As(err, &werr) {
		add("write", werr)
	}
	if unix.IoctlSetInt(0, unix.TIOCGPGRP, 0) == nil || isTerminal(0) {
		sid, _ := unix.Getsid(0)
		add("tty", sid == os.Getpid())
	}
	return strings.Join(out, "\n") + "\n"
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// probeProcess is a process whose execve is the probe.
func probeProcess(t *testing.T) *configs.Process {
	dir := needProbeDir(t)
	return &configs.Process{Args: []string{filepath.Join(dir, "probe")}, Cwd: "/",
		Env: []string{probeEnv + "=1", "PATH=/usr/bin:/bin"}}
}

// wireFor builds and encodes the program of in.
func wireFor(t *testing.T, in programInput) ([]step, []byte) {
	t.Helper()
	if in.lastCap == 0 {
		in.lastCap = capabilities.Last()
	}
	prog, err := finalProgram(in)
	if err != nil {
		t.Fatal(err)
	}
	abi, _ := landlock.ABI()
	wire, err := encodeProgram(prog, abi)
	if err != nil {
		t.Fatal(err)
	}
	return prog, wire
}

// agreeCase is one program for both executors.
type agreeCase struct {
	name string
	in   func(t *testing.T) programInput
	// extra are the fds after the sync socket (preserved first).
	extra func(t *testing.T) []*os.File
	// want checks the C executor's result (both agree on it).
	want func(t *testing.T, prog []step, r execResult)
}

// wantProbe wants the probe to run and print every line of lines.
func wantProbe(lines ...string) func(*testing.T, []step, execResult) {
	return func(t *testing.T, _ []step, r execResult) {
		t.Helper()
		if r.exit != 0 || len(r.reports) == 0 || r.reports[len(r.reports)-1].Kind != reportReady {
			t.Fatalf("the probe did not run: %v", r)
		}
		for _, l := range lines {
			if !strings.Contains(r.stdout, l+"\n") {
				t.Errorf("probe lacks %q:\n%s", l, r.stdout)
			}
		}
	}
}

// wantFailed wants step op to fail with errno before ready.
func wantFailed(op opCode, errno syscall.Errno) func(*testing.T, []step, execResult) {
	return func(t *testing.T, prog []step, r execResult) {
		t.Helper()
		last := progReport{}
		if len(r.reports) > 0 {
			last = r.reports[len(r.reports)-1]
		}
		if last.Kind != reportFailed || last.Step != uint16(index(prog, op)) || last.Errno != errno || r.exit != 255 {
			t.Fatalf("want %s (step %d) failed with %v: %v", op, index(prog, op), errno, r)
		}
	}
}

// wantAfterReady wants a failure after ready that says msg on stderr.
func wantAfterReady(msg string) func(*testing.T, []step, execResult) {
	return func(t *testing.T, _ []step, r execResult) {
		t.Helper()
		if r.exit != 255 || len(r.reports) == 0 || r.reports[len(r.reports)-1].Kind != reportReady || !strings.Contains(r.stderr, msg) {
			t.Fatalf("want a failure after ready saying %q: %v", msg, r)
		}
	}
}

func devNullFiles(t *testing.T, n int) func(*testing.T) []*os.File {
	return func(t *testing.T) []*os.File {
		var out []*os.File
		for i := 0; i < n; i++ {
			out = append(out, devNull(t))
		}
		return out
	}
}

// agreeCases run through both executors: every op of the final stage
// (what the host allows) and its error paths.
func agreeCases() []agreeCase {
	plain := func(edit func(p *configs.Process, in *programInput)) func(t *testing.T) programInput {
		return func(t *testing.T) programInput {
			in := programInput{proc: probeProcess(t)}
			if edit != nil {
				edit(in.proc, &in)
			}
			return in
		}
	}
	user := func(t *testing.T) programInput {
		p := probeProcess(t)
		dir := needProbeDir(t)
		umask := uint32(0o027)
		oom := 100
		p.UID, p.GID, p.AdditionalGids = 1000, 1000, []uint32{20, 10}
		p.Umask, p.OOMScoreAdj, p.NoNewPrivileges, p.Cwd = &umask, &oom, true, dir
		p.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5}
		p.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
		p.ExecCPUAffinity = &specs.CPUAffinity{Final: "0"}
		p.Capabilities = &configs.Capabilities{Bounding: []int{0, 5, 10}, Effective: []int{10}, Permitted: []int{10},
			Inheritable: []int{10}, Ambient: []int{10}}
		p.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_MSGQUEUE, Soft: 1000, Hard: 2000}, {Type: unix.RLIMIT_NOFILE, Soft: 100, Hard: 200}}
		p.Landlock = &configs.Landlock{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_WRITE_FILE}
		in := programInput{proc: p, filter: testFilter, preserve: 1}
		if hasMempolicy() {
			in.memPolicy = &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1}}
		}
		return in
	}
	return []agreeCase{
		{name: "root, nothing asked", in: plain(nil),
			want: wantProbe("uids=[0 0 0]", "NoNewPrivs=0", "Seccomp=0", "Umask=0022", "CapEff=0000000000000000", "cwd=/", "fds=[0 1 2]", "write=ok")},
		{name: "a user with everything", in: user, extra: devNullFiles(nil, 1),
			want: wantProbe("uids=[1000 1000 1000]", "gids=[1000 1000 1000]", "groups=[10 20]", "Umask=0027",
				"CapEff=0000000000000400", "CapAmb=0000000000000400", "CapBnd=0000000000000421", "NoNewPrivs=1",
				"Seccomp=2", "Cpus_allowed_list=0", "rlimit12=[1000 2000]", "ioprio=16388", "oom_score_adj=100",
				"fds=[0 1 2 3]", "write=permission denied")},
		{name: "notify filter: the listener before ready", in: plain(func(p *configs.Process, in *programInput) {
			p.NoNewPrivileges, in.filter = true, notifyFilter
		}), want: func(t *testing.T, prog []step, r execResult) {
			wantProbe("Seccomp=2")(t, prog, r)
			if len(r.reports) != 2 || r.reports[0].Kind != reportListener || r.reports[0].Step != uint16(index(prog, opSeccomp)) || r.reports[0].Value < 3 {
				t.Errorf("want the listener reported by the seccomp step, then ready: %+v", r.reports)
			}
		}},
		{name: "seccomp without no_new_privs", in: plain(func(p *configs.Process, in *programInput) { in.filter = testFilter }),
			want: wantProbe("Seccomp=2", "NoNewPrivs=0")},
		{name: "HOME from passwd", in: plain(func(p *configs.Process, in *programInput) {
			p.Env = append(p.Env[:1:1], "PATH=/bin")
		}), want: wantProbe("env=[HOME=/root " + probeEnv + "=1 PATH=/bin]")},
		{name: "args[0] by the env's PATH", in: plain(func(p *configs.Process, in *programInput) {
			p.Env = append(p.Env[:1:1], "PATH=/nonexistent::"+filepath.Dir(p.Args[0]))
			p.Args[0] = "probe"
		}), want: wantProbe("cwd=/")},
		{name: "chdir to nowhere", in: plain(func(p *configs.Process, in *programInput) { p.Cwd = "/nonexistent" }),
			want: wantFailed(opChdir, unix.ENOENT)},
		{name: "args[0] not in PATH", in: plain(func(p *configs.Process, in *programInput) { p.Args[0] = "nothere-hull" }),
			want: wantFailed(opResolve, unix.ENOENT)},
		{name: "args[0] a directory", in: plain(func(p *configs.Process, in *programInput) { p.Args[0] = "/tmp" }),
			want: wantFailed(opResolve, unix.EISDIR)},
		{name: "args[0] not executable", in: plain(func(p *configs.Process, in *programInput) {
			p.Args[0] = filepath.Join(filepath.Dir(p.Args[0]), "noexec")
		}), want: wantFailed(opResolve, unix.EACCES)},
		{name: "oom_score_adj out of range", in: plain(func(p *configs.Process, in *programInput) {
			v := 5000
			p.OOMScoreAdj = &v
		}), want: wantFailed(opWriteProc, unix.EINVAL)},
		{name: "scheduler refused", in: plain(func(p *configs.Process, in *programInput) {
			p.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 0}
		}), want: wantFailed(opScheduler, unix.EINVAL)},
		{name: "affinity to no CPU of ours", in: plain(func(p *configs.Process, in *programInput) {
			p.ExecCPUAffinity = &specs.CPUAffinity{Final: "1000"}
		}), want: wantFailed(opCPUAffinity, unix.EINVAL)},
		{name: "memory policy refused", in: plain(func(p *configs.Process, in *programInput) {
			in.memPolicy = &configs.MemoryPolicy{Mode: unix.MPOL_BIND}
		}), want: wantFailed(opMemoryPolicy, unix.EINVAL)},
		{name: "rlimit refused after ready", in: plain(func(p *configs.Process, in *programInput) {
			p.Rlimits = []configs.Rlimit{{Type: unix.RLIMIT_NOFILE, Soft: 2, Hard: 1}}
		}), want: wantAfterReady("hull init: rlimits: setrlimit RLIMIT_NOFILE: invalid argument")},
		{name: "execve fails after ready", in: plain(func(p *configs.Process, in *programInput) {
			p.Args[0] = filepath.Join(filepath.Dir(p.Args[0]), "garbage")
		}), want: wantAfterReady("hull init: exec: exec /")},
		{name: "landlock: a missing path, best effort", in: plain(func(p *configs.Process, in *programInput) {
			p.Landlock = &configs.Landlock{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_WRITE_FILE,
				PathBeneath: []configs.LandlockPathBeneath{{AllowedAccess: unix.LANDLOCK_ACCESS_FS_WRITE_FILE, Paths: []string{"/no/such"}}}}
		}), want: func(t *testing.T, prog []step, r execResult) {
			wantProbe("write=permission denied")(t, prog, r)
			if !strings.Contains(r.stderr, `hull: warning: process.landlock.rules.pathBeneath[0].paths[0] "/no/such" skipped: no such file or directory`) {
				t.Errorf("no warning: %q", r.stderr)
			}
		}},
		{name: "landlock: a missing path, mandatory", in: plain(func(p *configs.Process, in *programInput) {
			p.Landlock = &configs.Landlock{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_WRITE_FILE, DisableBestEffort: true,
				PathBeneath: []configs.LandlockPathBeneath{{AllowedAccess: unix.LANDLOCK_ACCESS_FS_WRITE_FILE, Paths: []string{"/tmp", "/no/such"}}}}
		}), want: wantAfterReady(`hull init: landlock: process.landlock.rules.pathBeneath[0].paths[1] "/no/such": no such file or directory`)},
		{name: "landlock: allowed where asked", in: func(t *testing.T) programInput {
			in := plain(nil)(t)
			in.proc.Landlock = &configs.Landlock{HandledAccessFS: unix.LANDLOCK_ACCESS_FS_WRITE_FILE,
				PathBeneath: []configs.LandlockPathBeneath{{AllowedAccess: unix.LANDLOCK_ACCESS_FS_WRITE_FILE, Paths: []string{needProbeDir(t)}}}}
			return in
		}, want: wantProbe("write=ok")},
		{name: "apparmor where there is none", in: plain(func(p *configs.Process, in *programInput) { p.ApparmorProfile = "hull-test" }),
			want: func(t *testing.T, prog []step, r execResult) {
				if hostHasLSM("apparmor") {
					t.Skip("host has AppArmor: the profile would have to exist")
				}
				wantFailed(opApparmor, unix.EINVAL)(t, prog, r)
			}},
		{name: "preserved fds passed, others closed", in: plain(func(p *configs.Process, in *programInput) { in.preserve = 2 }),
			extra: devNullFiles(nil, 3), want: wantProbe("fds=[0 1 2 3 4]")},
		{name: "a console: the pty on stdio, the controlling terminal", in: func(t *testing.T) programInput {
			in := plain(nil)(t)
			// stdout is the pty: the probe writes to a file.
			in.proc.Env[0] = probeEnv + "=" + filepath.Join(t.TempDir(), "out")
			in.proc.Terminal = true
			return in
		}, extra: consoleSocket, want: wantProbe("tty=true")},
	}
}

// consoleSocket is the console socket, as fd 4 (boot console=4): the
// test's end receives the master and keeps it open until the test ends.
func consoleSocket(t *testing.T) []*os.File {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(fds[0]), "console-ours")
	t.Cleanup(func() { ours.Close() })
	go func() {
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
		if _, oobn, _, _, err := unix.Recvmsg(fds[0], buf, oob, 0); err == nil {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
				if got, err := unix.ParseUnixRights(&msgs[0]); err == nil {
					t.Cleanup(func() {
						for _, fd := range got {
							unix.Close(fd)
						}
					})
				}
			}
		}
	}()
	return []*os.File{os.NewFile(uintptr(fds[1]), "console")}
}

func hasMempolicy() bool {
	_, _, e := unix.Syscall(unix.SYS_GET_MEMPOLICY, 0, 0, 0)
	return e == 0
}

func hostHasLSM(name string) bool {
	b, _ := os.ReadFile("/sys/kernel/security/lsm")
	return slices.Contains(strings.Split(strings.TrimSpace(string(b)), ","), name)
}

// TestExecutorsAgree runs each program through the C executor and Go's
// and wants the same reports (kind, step, errno), exit status, stderr and
// process state, and each case's own result.
func TestExecutorsAgree(t *testing.T) {
	for _, tc := range agreeCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in(t)
			prog, wire := wireFor(t, in)
			run := func(inC bool) execResult {
				var extra []*os.File
				if tc.extra != nil {
					extra = tc.extra(t)
				}
				boot := ""
				if in.proc.Terminal {
					boot = "console=" + strconv.Itoa(4+in.preserve)
				}
				r := runWire(t, inC, wire, boot, extra[:in.preserve], extra[in.preserve:])
				if out, ok := strings.CutPrefix(in.proc.Env[0], probeEnv+"="); ok && out != "1" {
					b, _ := os.ReadFile(out)
					r.stdout = string(b)
					os.Remove(out)
				}
				return r
			}
			c, g := run(true), run(false)
			tc.want(t, prog, c)
			strip := func(r execResult) execResult {
				r.reports = slices.Clone(r.reports)
				for i := range r.reports {
					// A listener's fd, a failure's detail: the executor's
					// own; the harness's Go reports no step but a failure's.
					r.reports[i].Value = 0
					if r.reports[i].Kind != reportFailed {
						r.reports[i].Step = 0
					}
				}
				return r
			}
			if cs, gs := strip(c), strip(g); !slices.Equal(cs.reports, gs.reports) || cs.exit != gs.exit ||
				cs.stdout != gs.stdout || cs.stderr != gs.stderr {
				t.Errorf("the executors disagree:\n C  %v\n Go %v", c, g)
			}
		})
	}
}

// TestFinalCRefuses: the constructor refuses every malformed program
// (those decodeProgram refuses) before it runs any step: one report, and
// the process exits.
func TestFinalCRefuses(t *testing.T) {
	needProbeDir(t)
	for name, b := range malformedPrograms(t) {
		t.Run(name, func(t *testing.T) {
			r := runWire(t, true, b, "", nil, nil)
			if len(r.reports) != 1 || r.reports[0].Kind != reportRefused || r.exit != 255 || r.stdout != "" {
				t.Fatalf("want the program refused: %v", r)
			}
		})
	}
}

// TestFinalCSteps: failures only the C executor's bootstrap can set up,
// and the parent's words for them (describe).
func TestFinalCSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(p *configs.Process)
		boot  string
		extra func(t *testing.T) []*os.File
		op    opCode
		errno syscall.Errno
		msg   string
	}{
		{"a kept fd is a directory", nil, "fifo=4", func(t *testing.T) []*os.File {
			d, err := os.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return []*os.File{d}
		}, opCloseFds, unix.EISDIR, "close fds: fd 4 that init keeps until execve is a directory"},
		{"a console without its socket", func(p *configs.Process) { p.Terminal = true }, "", nil,
			opConsole, unix.EBADF, "console: send pty master over console socket: bad file descriptor"},
		{"a relative cwd that is not there", func(p *configs.Process) { p.Cwd = "no/such" }, "", nil,
			opChdir, unix.ENOENT, "cwd: chdir no/such: no such file or directory"},
		{"args[0] nowhere in PATH", func(p *configs.Process) { p.Args[0] = "nothere-hull" }, "", nil,
			opResolve, unix.ENOENT, `exec: exec "nothere-hull": executable file not found in $PATH`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := probeProcess(t)
			if tc.edit != nil {
				tc.edit(p)
			}
			prog, wire := wireFor(t, programInput{proc: p})
			var extra []*os.File
			if tc.extra != nil {
				extra = tc.extra(t)
			}
			r := runWire(t, true, wire, tc.boot, nil, extra)
			wantFailed(tc.op, tc.errno)(t, prog, r)
			if err := describe(prog, r.reports[len(r.reports)-1]); err.Error() != tc.msg {
				t.Errorf("the parent says %q, want %q", err, tc.msg)
			}
		})
	}
}

// TestDescribe: the parent's words for each step the C executor reports
// failed are the Go executor's.
func TestDescribe(t *testing.T) {
	p := fullProcess()
	p.Terminal = true
	prog, err := finalProgram(programInput{proc: p, filter: testFilter, lastCap: 40,
		memPolicy: &configs.MemoryPolicy{Mode: unix.MPOL_BIND, Nodes: []uint64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	initProg, err := finalProgram(programInput{proc: fullProcess(), init: true, keyring: "_ses.c", lastCap: 40})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prog   []step
		op     opCode
		errno  syscall.Errno
		detail int32
		want   string
	}{
		{prog, opWriteProc, unix.EACCES, 0, "oom_score_adj: write /proc/self/oom_score_adj: permission denied"},
		{prog, opWriteProc, unix.EXDEV, detailNotProc, "oom_score_adj: /proc/self/oom_score_adj is not on procfs"},
		{prog, opCPUAffinity, unix.EINVAL, 0, "execCPUAffinity: sched_setaffinity: invalid argument"},
		{prog, opMemoryPolicy, unix.EINVAL, 0, "memoryPolicy: set_mempolicy mode 0x2: invalid argument"},
		{prog, opScheduler, unix.EPERM, 0, "scheduler: sched_setattr policy 3: operation not permitted"},
		{prog, opApparmor, unix.EINVAL, 0, `apparmor: apparmor profile "prof": invalid argument`},
		{prog, opDropBounding, unix.EPERM, 21, "capabilities: drop CAP_SYS_ADMIN from the bounding set: operation not permitted"},
		{prog, opSetresuid, unix.EINVAL, 0, "setuid: setresuid 1000: invalid argument"},
		{prog, opAmbient, unix.EPERM, 0, "capabilities: raise ambient capability CAP_CHOWN: operation not permitted"},
		{prog, opChdir, unix.ENOENT, detailChdir, "cwd: chdir /work: no such file or directory"},
		{prog, opChdir, unix.ENOENT, detailGetcwd, "cwd: cwd /work resolves outside the container root"},
		{prog, opResolve, unix.EACCES, 0, `exec: exec "sh": permission denied`},
		{prog, opConsole, unix.ENODEV, 1, "console: /dev/pts/ptmx is not the pty multiplexer: no such device"},
		{prog, opSeccomp, unix.EACCES, 0, "seccomp: load seccomp filter: seccomp(SECCOMP_SET_MODE_FILTER): permission denied (needs no_new_privs or CAP_SYS_ADMIN)"},
		{initProg, opKeyring, unix.EDQUOT, 0, "session keyring: join session keyring _ses.c: disk quota exceeded"},
		{initProg, opSetup, 0, 0x200, "setup: the setup helper exited with status 2"},
		{initProg, opSetup, 0, 9, "setup: the setup helper was killed by signal 9 (killed)"},
	} {
		i := index(tc.prog, tc.op)
		err := describe(tc.prog, progReport{Kind: reportFailed, Step: uint16(i), Errno: tc.errno, Value: tc.detail})
		var se *stepError
		if !errors.As(err, &se) || se.index != i || se.errno != tc.errno || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q at step %d", tc.op, err, tc.want, i)
		}
	}
}

// TestBothExecutorsRunContainers: a container created, started and
// exec'd into with either executor of the final program (finalInC) runs
// its processes, with their exit status, and a created init under the C
// executor is the constructor's process (its setup helper gone).
func TestBothExecutorsRunContainers(t *testing.T) {
	defer func(v bool) { finalInC = v }(finalInC)
	for _, inC := range []bool{true, false} {
		t.Run(fmt.Sprintf("inC=%v", inC), func(t *testing.T) {
			finalInC = inC
			cfg := testConfig(t, "sh", "-c", "exit 7")
			c := createTest(t, cfg)
			kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.Pid(), c.Pid()))
			if strings.TrimSpace(string(kids)) != "" {
				t.Errorf("created init has children %q", kids)
			}
			p, err := c.Exec(&configs.Process{Args: []string{"sh", "-c", "exit 3"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
				&ExecOpts{Stdin: devNull(t), Stdout: devNull(t), Stderr: devNull(t)})
			if err != nil {
				t.Fatal(err)
			}
			if ps, err := p.Wait(); err != nil || ps.ExitCode() != 3 {
				t.Errorf("exec'd process: %v %v, want exit 3", ps, err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(c.Pid(), &ws, 0, nil); err == nil && ws.ExitStatus() != 7 {
				t.Errorf("container process exited %v, want 7", ws)
			}
		})
	}
}
