package libct

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// runConstructor starts this test binary with envBootstrap=boot, the
// child's end of a socketpair as fd 3 and extra as fds 4, 5, ..., and
// returns the constructor's report (the Go side of the child, Init, then
// fails on the closed socket or the test's odd bootstrap: only the report
// is looked at).
func runConstructor(t *testing.T, boot string, extra ...*os.File) (bootReport, error, *os.Process) {
	rep, err, p, _ := runConstructorEnv(t, boot, nil, extra...)
	return rep, err, p
}

// runConstructorEnv is runConstructor with more environment, returning
// the child's stdout (read once it exited).
func runConstructorEnv(t *testing.T, boot string, env []string, extra ...*os.File) (bootReport, error, *os.Process, *os.File) {
	t.Helper()
	return runConstructorSend(t, boot, env, nil, extra...)
}

// runConstructorSend is runConstructorEnv writing send on the parent's end
// of the sync socket once the child started (a gate byte).
func runConstructorSend(t *testing.T, boot string, env []string, send []byte, extra ...*os.File) (bootReport, error, *os.Process, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "p"), os.NewFile(uintptr(fds[1]), "c")
	defer parent.Close()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	if !strings.Contains(boot, "fds=") {
		boot += " fds=" + strconv.Itoa(1+len(extra))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append([]string{envBootstrap + "=" + boot}, env...)
	cmd.ExtraFiles = append([]*os.File{child}, extra...)
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	if send != nil {
		if _, err := parent.Write(send); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := readBootReport(parent)
	if err == nil {
		err = rep.err()
	}
	return rep, err, cmd.Process, out
}

// dumpableProbe makes TestMain print PR_GET_DUMPABLE instead of running
// Init.
const dumpableProbe = "HULL_TEST_DUMPABLE_PROBE"

// TestConstructorDumpable: the constructor makes every `hull init`
// non-dumpable before anything else (CVE-2016-9962), unless the parent
// asks it to stay dumpable for the id-map helpers (bootDumpable).
func TestConstructorDumpable(t *testing.T) {
	for _, tc := range []struct {
		boot, want string
	}{
		{"sync=3", "dumpable=0\n"},
		{"sync=3 flags=" + strconv.Itoa(int(bootDumpable)), "dumpable=1\n"},
	} {
		rep, err, p, out := runConstructorEnv(t, tc.boot, []string{dumpableProbe + "=1"})
		if err != nil || rep.Pid != 0 {
			t.Fatalf("%s: report %+v, %v", tc.boot, rep, err)
		}
		if _, err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out.Name())
		if string(got) != tc.want {
			t.Errorf("%s: the process printed %q, want %q", tc.boot, got, tc.want)
		}
	}
}

// TestConstructor drives the C side of the bootstrap (libct/nsenter) as
// the parent does and checks its report.
func TestConstructor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: joins namespaces")
	}
	own := func(ns string) *os.File {
		f, err := os.Open("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	pidfd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	self := os.NewFile(uintptr(pidfd), "pidfd")
	defer self.Close()
	uts := strconv.Itoa(unix.CLONE_NEWUTS)
	for _, tc := range []struct {
		name  string
		boot  string
		extra []*os.File
		want  string // error text; "" for success
	}{
		{"nothing to do", "sync=3", nil, ""},
		{"joins by pidfd", "sync=3 pidfd=4 pidfd_ns=" + uts, []*os.File{self}, ""},
		{"pidfd without namespaces", "sync=3 pidfd=4", []*os.File{self}, "nsenter: join the namespaces of the container's init (setns on its pidfd): invalid argument"},
		{"pidfd with other flags", "sync=3 pidfd=4 pidfd_ns=" + strconv.Itoa(unix.CLONE_NEWUTS|unix.CLONE_THREAD), []*os.File{self}, "nsenter: join the namespaces of the container's init (setns on its pidfd): invalid argument"},
		{"pidfd not passed", "sync=3 pidfd=9 pidfd_ns=" + uts, nil, "nsenter: join the namespaces of the container's init (setns on its pidfd): invalid argument"},
		{"not a pidfd", "sync=3 pidfd=4 pidfd_ns=" + uts, []*os.File{devNull(t)}, "nsenter: join the namespaces of the container's init (setns on its pidfd): invalid argument"},
		{"skips Go's fields", "sync=3 mnt=1:9 newfield=x:y", nil, ""},
		{"fifo not passed", "sync=3 fifo=9", nil, "nsenter: read the bootstrap: bad file descriptor"},
		{"console among the preserved", "sync=3 preserve=2 console=4 fds=2", []*os.File{devNull(t)}, "nsenter: read the bootstrap: bad file descriptor"},
		{"joins by fd", "sync=3 ns_uts=4 ns_ipc=5", []*os.File{own("uts"), own("ipc")}, ""},
		{"not an fd", "sync=3 ns_net=99", nil, "nsenter: join net namespace: bad file descriptor"},
		{"wrong type", "sync=3 ns_net=4", []*os.File{own("uts")}, "nsenter: join net namespace: invalid argument"},
		{"fd below 3", "sync=3 ns_mnt=1", nil, "nsenter: join mnt namespace: bad file descriptor"},
		{"bad value", "sync=3 ns_net=4x", nil, "nsenter: read the bootstrap: invalid argument"},
		{"no equals", "sync=3 ns_net", nil, "nsenter: read the bootstrap: invalid argument"},
		{"too long", "sync=3 flags=1234567890123456789", nil, "nsenter: read the bootstrap: invalid argument"},
		{"sync not among the fds", "sync=4 fds=1", nil, ""},
		{"no fds", "sync=3 fds=0", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err, p := runConstructor(t, tc.boot, tc.extra...)
			ps, _ := p.Wait()
			if strings.HasPrefix(tc.name, "sync not") || tc.name == "no fds" {
				// Refused before the sync fd can be trusted: no report.
				if err == nil || ps.ExitCode() != 1 {
					t.Fatalf("report %+v, %v, exit %v: want no report and exit 1", rep, err, ps)
				}
				return
			}
			if tc.want == "" {
				if err != nil || rep.Pid != 0 {
					t.Fatalf("report %+v, %v; want success for the child itself", rep, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if ps == nil || ps.ExitCode() != 1 {
				t.Errorf("child exited %v, want 1", ps)
			}
		})
	}
}

// TestConstructorForks: with a pid namespace to join, the constructor
// forks a sibling (our child, CLONE_PARENT), reports its pid and exits 0.
func TestConstructorForks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: joins a pid namespace")
	}
	pidns, err := os.Open("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	defer pidns.Close()
	boot := &bootstrap{Sync: 3, Fds: 2}
	boot.NS[nsIndex(configs.NEWPID)] = 4
	rep, err, first := runConstructor(t, boot.encode(), pidns)
	if err != nil {
		t.Fatal(err)
	}
	ps, werr := first.Wait()
	if werr != nil || !ps.Success() {
		t.Fatalf("the forking child: %v %v, want exit 0", ps, werr)
	}
	if rep.Pid <= 0 || int(rep.Pid) == first.Pid {
		t.Fatalf("reported pid %d (first child %d): want the forked one", rep.Pid, first.Pid)
	}
	// Ours to reap: it fails in Go (the socket is gone) and exits.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(int(rep.Pid), &ws, 0, nil); err != nil {
		t.Fatalf("wait for the forked process %d: %v (not our child?)", rep.Pid, err)
	}
	if ws.Exited() && ws.ExitStatus() == 0 {
		t.Errorf("the forked process exited 0 without a parent to talk to")
	}
}

// TestConstructorGate: with bootGate the constructor reads the parent's
// gate byte before it forks into the pid namespace or reports, and refuses
// any other byte without forking (the parent sends it once the child is in
// the container's cgroup; TestExecCgroupFromTheStart shows the result).
func TestConstructorGate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: joins a pid namespace")
	}
	for _, tc := range []struct {
		name string
		send byte
		ok   bool
	}{
		{"gate byte", gateByte, true},
		{"other byte", 'x', false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidns, err := os.Open("/proc/self/ns/pid")
			if err != nil {
				t.Fatal(err)
			}
			defer pidns.Close()
			boot := &bootstrap{Sync: 3, Fds: 2, Flags: bootGate}
			boot.NS[nsIndex(configs.NEWPID)] = 4
			rep, err, first, _ := runConstructorSend(t, boot.encode(), nil, []byte{tc.send}, pidns)
			ps, _ := first.Wait()
			if rep.Pid > 0 {
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(int(rep.Pid), &ws, 0, nil)
			}
			if tc.ok {
				if err != nil || rep.Pid <= 0 || !ps.Success() {
					t.Fatalf("report %+v, %v (first child %v): want a forked pid", rep, err, ps)
				}
				return
			}
			if err == nil || rep.Step != bootGateStep || rep.Errno != int32(syscall.EPROTO) || rep.Pid != 0 {
				t.Fatalf("report %+v, %v: want %s failing with EPROTO and no fork", rep, err, bootStepNames[bootGateStep])
			}
			if !strings.Contains(err.Error(), "wait for the parent to place it in its cgroup") {
				t.Errorf("error %q does not name the gate", err)
			}
			if ps.Success() {
				t.Errorf("the constructor exited 0 after a wrong gate byte")
			}
		})
	}
}

func devNull(t *testing.T) *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// fdsProbe makes TestMain print the fds it has open from 3 on instead of
// running Init.
const fdsProbe = "HULL_TEST_FDS_PROBE"

// TestConstructorClosesLeakedFds is CVE-2024-21626's first half: every fd
// above the ones the parent placed is closed before anything else runs,
// also one that is not close-on-exec and a directory.
func TestConstructorClosesLeakedFds(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	// fd 3 sync, 4 passed, 5 and 6 inherited but not passed. The Go
	// runtime's settings as the parent gives them (initRuntimeEnv): else
	// the runtime opens cgroup files of its own at once.
	env := append([]string{fdsProbe + "=1"}, initRuntimeEnv...)
	rep, err, p, out := runConstructorEnv(t, "sync=3 fds=2", env, null, dir, null)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	_ = rep
	got, _ := os.ReadFile(out.Name())
	if string(got) != "fds=3,4\n" {
		t.Errorf("the child has %q open, want fds=3,4 (5 and 6 closed)", got)
	}
}

// TestBootstrapNamesInC: every name the C table reads is one the Go
// encoder writes (a renamed field cannot silently stop reaching C).
func TestBootstrapNamesInC(t *testing.T) {
	src, err := os.ReadFile("nsenter/nsenter.c")
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := os.ReadFile("nsenter/nsenter.h")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range (&bootstrap{}).ints() {
		known[f.name] = true
	}
	c := string(src)
	// The fields table: F(name) and NS(type, index).
	var read []string
	for _, m := range regexp.MustCompile(`\b(F|NS)\((\w+)(?:, (\d+))?\)`).FindAllStringSubmatch(c, -1) {
		if m[1] == "F" && m[2] != "n" {
			read = append(read, m[2])
			continue
		}
		if m[1] == "NS" && m[3] != "" {
			i, _ := strconv.Atoi(m[3])
			if i >= len(nsOrder) || string(nsOrder[i]) != m[2] {
				t.Errorf("nsenter.c has ns_%s at %d: not nsOrder %v", m[2], i, nsOrder)
			}
			read = append(read, "ns_"+m[2])
		}
	}
	for _, name := range []string{"sync", "fds", "preserve", "flags", "clone", "fifo", "errfifo", "console", "usernswait"} {
		if !slices.Contains(read, name) {
			t.Errorf("nsenter.c does not read %q", name)
		}
	}
	for _, name := range read {
		if !known[name] {
			t.Errorf("nsenter.c reads %q, which Go never writes", name)
		}
	}
	for _, ns := range nsOrder {
		if !slices.Contains(read, "ns_"+string(ns)) {
			t.Errorf("nsenter.c does not read ns_%s", ns)
		}
	}
	// The steps: the C enum lists sync.go's in the same order.
	enum := c[strings.Index(c, "enum step {"):]
	enum = enum[:strings.Index(enum, "}")]
	var names []string
	for _, f := range strings.FieldsFunc(enum[len("enum step {"):], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		names = append(names, f)
	}
	if !slices.Equal(names, bootStepNames) {
		t.Errorf("nsenter.c's steps %v, sync.go's %v", names, bootStepNames)
	}
	if int(bootCgroup) != len(bootStepNames)-1 {
		t.Errorf("sync.go has %d step names for %d steps", len(bootStepNames), bootCgroup+1)
	}
	for st := bootParse; st <= bootCgroup; st++ {
		if err := (bootReport{Magic: bootMagic, Step: st, Errno: 1}).err(); strings.Contains(err.Error(), "step ") {
			t.Errorf("step %s has no name: %v", bootStepNames[st], err)
		}
	}
	for _, want := range []string{"FLAG_NEWIPC 0x" + strconv.FormatInt(int64(bootNewIPC), 16),
		"FLAG_DUMPABLE 0x" + strconv.FormatInt(int64(bootDumpable), 16),
		"FLAG_PROGRAM 0x" + strconv.FormatInt(int64(bootProgram), 16),
		"FLAG_GATE 0x" + strconv.FormatInt(int64(bootGate), 16),
		"GATE_BYTE '" + string(rune(gateByte)) + "'",
		"REPORT_MAGIC 0x" + strconv.FormatInt(bootMagic, 16)} {
		if !strings.Contains(c+string(hdr), want) {
			t.Errorf("nsenter.c and .h lack %q (sync.go's value)", want)
		}
	}
}
