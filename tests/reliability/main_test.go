//go:build reliability

// Package reliability drives the hull binary under faults, load and hostile
// input, and checks after each case that the host is left as it was: no
// process, mount, cgroup, state directory or fd. Run it with run.sh (as
// root); the build tag keeps it out of the plain `go test ./...` of the unit
// step, since it needs the binary and root.
//
// Every hull call runs through env.hull, which keeps the call's pid in a
// registry. The test process is a child subreaper (PR_SET_CHILD_SUBREAPER),
// so that whatever hull leaves behind (an orphaned `hull init`, a container
// init whose runtime died) is reparented to it: a live child that is not a
// registered call is a leaked process; zombie orphans are reaped and counted.
package reliability

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// env is what the tests share; set once by TestMain.
type env struct {
	binary string // absolute path of hull
	root   string // private --root for every call
	rootfs string // cached busybox rootfs (read-only use: bundles point at it)
	tmp    string // scratch directory for bundles and logs
	strace string // path of strace, "" when not installed
}

var testEnv env

// reg is the registry of running hull calls (see the package doc).
var reg = &registry{pids: map[int]bool{}}

func TestMain(m *testing.M) {
	os.Exit(mainRun(m))
}

func mainRun(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "reliability: needs root (uid 0), running as uid %d\n", os.Geteuid())
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "reliability: PR_SET_CHILD_SUBREAPER: %v\n", err)
		return 1
	}
	e, err := setup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		return 1
	}
	testEnv = e
	stop := reg.startReaper()
	code := m.Run()
	stop()
	os.RemoveAll(e.tmp)
	if ents, _ := os.ReadDir(e.root); len(ents) == 0 {
		os.RemoveAll(e.root)
	} else {
		fmt.Fprintf(os.Stderr, "reliability: state root %s not empty, kept\n", e.root)
	}
	fmt.Fprintf(os.Stderr, "reliability: reaped %d orphaned processes\n", reg.reaped())
	return code
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the test source")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

func setup() (env, error) {
	repo, err := repoRoot()
	if err != nil {
		return env{}, err
	}
	bin := os.Getenv("HULL_BINARY")
	if bin == "" {
		bin = filepath.Join(repo, "hull")
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return env{}, err
	}
	if _, err := os.Stat(bin); err != nil {
		return env{}, fmt.Errorf("hull binary: %w (build it with `make hull` or set HULL_BINARY)", err)
	}
	out, err := exec.Command(filepath.Join(repo, "scripts", "mkrootfs.sh")).Output()
	if err != nil {
		return env{}, fmt.Errorf("scripts/mkrootfs.sh: %w", err)
	}
	tmp, err := os.MkdirTemp("", "hull-rel-")
	if err != nil {
		return env{}, err
	}
	// Private state root: other suites may run on the same host.
	root, err := os.MkdirTemp("/run", "hull-rel-")
	if err != nil {
		return env{}, err
	}
	st, _ := exec.LookPath("strace")
	return env{binary: bin, root: root, rootfs: strings.TrimSpace(string(out)), tmp: tmp, strace: st}, nil
}

// newID returns a container id unique to this run, naming the case.
func newID(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(name))
	if len(name) > 40 {
		name = name[:40]
	}
	return "rel" + hex.EncodeToString(b[:]) + "-" + name
}

// result is one finished hull call.
type result struct {
	args     []string
	code     int // exit status; -1 when killed by a signal
	signal   syscall.Signal
	stdout   string
	stderr   string
	timedOut bool
	dur      time.Duration
}

func (r result) String() string {
	s := fmt.Sprintf("hull %s: exit %d", strings.Join(r.args, " "), r.code)
	if r.timedOut {
		s += " (TIMED OUT, killed)"
	}
	if r.signal != 0 {
		s += fmt.Sprintf(" (signal %v)", r.signal)
	}
	if r.stdout != "" {
		s += fmt.Sprintf("\nstdout: %s", strings.TrimSpace(r.stdout))
	}
	if r.stderr != "" {
		s += fmt.Sprintf("\nstderr: %s", strings.TrimSpace(r.stderr))
	}
	return s
}

// callOpts tunes one call.
type callOpts struct {
	timeout time.Duration // default 30s
	dir     string        // working directory (bundle), default tmp
	stdin   *os.File
	// started, when set, gets the process once it runs (for timed kills).
	started func(p *os.Process)
	// wrap runs the call under another program (strace); the hull
	// command line is appended to it.
	wrap []string
}

// hull runs the binary with --root and args and waits for it. stdout and
// stderr go to files, never pipes: a container's init inherits them and
// would keep a pipe open long after hull exits.
func (e env) hull(t testing.TB, args ...string) result {
	t.Helper()
	return e.call(t, callOpts{}, args...)
}

func (e env) call(t testing.TB, o callOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 30 * time.Second
	}
	full := append([]string{e.binary, "--root", e.root}, args...)
	if len(o.wrap) > 0 {
		full = append(append([]string{}, o.wrap...), full...)
	}
	out, err := os.CreateTemp(e.tmp, "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	errf, err := os.CreateTemp(e.tmp, "err-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = out, errf
	if o.stdin != nil {
		cmd.Stdin = o.stdin
	}
	cmd.Dir = o.dir
	if cmd.Dir == "" {
		cmd.Dir = e.tmp
	}
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR=")
	r := result{args: args}
	t0 := time.Now()
	if err := reg.start(cmd); err != nil {
		t.Fatalf("start %v: %v", full, err)
	}
	if o.started != nil {
		o.started(cmd.Process)
	}
	timer := time.AfterFunc(o.timeout, func() {
		r.timedOut = true
		_ = cmd.Process.Kill()
	})
	werr := cmd.Wait()
	timer.Stop()
	reg.done(cmd.Process.Pid)
	r.dur = time.Since(t0)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		r.code = ws.ExitStatus()
		if ws.Signaled() {
			r.signal = ws.Signal()
			r.code = -1
		}
	} else if werr != nil {
		t.Fatalf("wait %v: %v", full, werr)
	}
	b, _ := os.ReadFile(out.Name())
	r.stdout = string(b)
	b, _ = os.ReadFile(errf.Name())
	r.stderr = string(b)
	return r
}

// mustHull runs a call that must succeed.
func (e env) mustHull(t testing.TB, args ...string) result {
	t.Helper()
	r := e.hull(t, args...)
	if r.code != 0 || r.timedOut {
		t.Fatalf("%v", r)
	}
	return r
}

// state is what `hull state` prints.
type state struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"`
	Bundle string `json:"bundle"`
}

// bundle is one bundle directory whose config points at the shared rootfs.
type bundle struct {
	dir  string
	spec *specs.Spec
}

// baseSpec is a detached container running `sleep` with the usual
// namespaces; every process carries RELTEST=<id> in its environment.
func baseSpec(id string, args ...string) *specs.Spec {
	if len(args) == 0 {
		args = []string{"sleep", "1000"}
	}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: testEnv.rootfs, Readonly: true},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "RELTEST=" + id},
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
				Effective: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
				Permitted: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"},
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "rel",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			Resources:     &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: int64p(100)}},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys"},
			ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

func int64p(v int64) *int64 { return &v }

// newBundle writes a bundle for id (edit may change the spec first).
func newBundle(t testing.TB, id string, edit func(*specs.Spec)) *bundle {
	t.Helper()
	dir, err := os.MkdirTemp(testEnv.tmp, "bundle-")
	if err != nil {
		t.Fatal(err)
	}
	s := baseSpec(id)
	if edit != nil {
		edit(s)
	}
	b := &bundle{dir: dir, spec: s}
	b.write(t)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return b
}

func (b *bundle) write(t testing.TB) {
	t.Helper()
	data, err := json.MarshalIndent(b.spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stateOf runs `hull state` and decodes it; ok is false when hull says the
// container does not exist (any other failure fails the test).
func stateOf(t testing.TB, id string) (st state, ok bool) {
	t.Helper()
	r := testEnv.call(t, callOpts{timeout: 10 * time.Second}, "state", id)
	if r.timedOut {
		t.Fatalf("hang: %v", r)
	}
	if r.code != 0 {
		if strings.Contains(r.stderr, "does not exist") {
			return state{}, false
		}
		t.Fatalf("state failed without saying the container does not exist: %v", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("state printed invalid JSON: %v: %v", err, r)
	}
	return st, true
}

// registry tracks the pids of running calls and reaps orphans.
type registry struct {
	mu     sync.RWMutex // held for reading while a call starts, for writing while reaping
	pids   map[int]bool
	pidsMu sync.Mutex
	nReap  int
}

func (g *registry) start(cmd *exec.Cmd) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	g.pidsMu.Lock()
	g.pids[cmd.Process.Pid] = true
	g.pidsMu.Unlock()
	return nil
}

// keep marks pid (a container's init that a test keeps running) as
// expected, so leak checks do not take it for an orphan; done unmarks it.
func (g *registry) keep(pid int) {
	g.pidsMu.Lock()
	g.pids[pid] = true
	g.pidsMu.Unlock()
}

func (g *registry) done(pid int) {
	g.pidsMu.Lock()
	delete(g.pids, pid)
	g.pidsMu.Unlock()
}

func (g *registry) tracked(pid int) bool {
	g.pidsMu.Lock()
	defer g.pidsMu.Unlock()
	return g.pids[pid]
}

func (g *registry) reaped() int {
	g.pidsMu.Lock()
	defer g.pidsMu.Unlock()
	return g.nReap
}

// startReaper reaps zombie children that are not registered calls (the
// orphans reparented to this subreaper). os/exec reaps its own.
func (g *registry) startReaper() (stop func()) {
	sig := make(chan os.Signal, 16)
	signal.Notify(sig, syscall.SIGCHLD)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				g.reap()
				return
			case <-sig:
			case <-tick.C:
			}
			g.reap()
		}
	}()
	return func() { close(quit); <-done; signal.Stop(sig) }
}

func (g *registry) reap() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, pid := range children() {
		if g.tracked(pid) {
			continue
		}
		if st, _ := procState(pid); st == 'Z' {
			var ws unix.WaitStatus
			if p, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); p == pid {
				g.pidsMu.Lock()
				g.nReap++
				g.pidsMu.Unlock()
			}
		}
	}
}

// children lists this process's children (all threads' lists: an orphan
// is reparented to some thread of the subreaper).
func children() []int {
	var out []int
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// procState returns the state letter of pid (field 3 of /proc/PID/stat).
func procState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("malformed stat")
	}
	return b[i+2], nil
}

// procPPid returns the parent pid of pid (field 4 of /proc/PID/stat).
func procPPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

func jsonValid(b []byte) bool { return json.Valid(b) }
