package libct

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/landlock"
	"github.com/hullrt/hull/libct/seccomp"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// launch is one `hull init` to start: the init of a new container
// (initLaunch) or a process joining a running one (execLaunch). start
// takes both through the same three steps -- build the command, place the
// child in its cgroup, run the protocol of sync.go -- and kills and reaps
// the child when any step fails, so that callers never do.
type launch struct {
	id   string
	cfg  *configs.Config
	proc *configs.Process
	cg   cgroups.Manager
	// console receives the pty master when proc.Terminal is set.
	console    *os.File
	extraFiles []*os.File
	seccomp    *seccomp.Filter
	// stdin, stdout, stderr of the child; nil means the caller's own.
	stdin, stdout, stderr *os.File
	hookState             func(pid int) []byte
	// ready runs once the child reported ready; if it fails, the child
	// is killed and start returns its error.
	ready func(p *os.Process) error
	kind  launchKind
	// prog is the final program (finalProgram) and wire its wire form,
	// built before the child exists: a process config that cannot be
	// applied fails before anything is started.
	prog []step
	wire []byte
	// inC: the constructor runs prog (finalInC when start began).
	inC bool
}

// finalInC chooses the executor of the final program: the nsenter
// constructor, in C, so that no Go runtime starts in an exec'd process
// and a created init holds no Go heap (doc.go); or Go's Init. The tests
// run both.
var finalInC = true

// launchKind is what differs between starting a container's init and
// exec'ing a process into a running container.
type launchKind interface {
	mode() initMode
	// what names the child in errors.
	what() string
	// prepare adds the kind's fds, namespaces and clone flags to c.
	prepare(l *launch, c *command) error
	// started runs as soon as the child exists, before its cgroup.
	started(pid int) error
	// cgroupFD is the cgroup for the child to start in
	// (CLONE_INTO_CGROUP), or nil.
	cgroupFD() *os.File
	// place moves the child into its cgroup, unless it was started
	// there (inCgroup).
	place(cg cgroups.Manager, pid int, inCgroup bool) error
	// runHooks runs the prestart and createRuntime hooks when the child
	// asks for them.
	runHooks(pid int) error
	// configure fills in the kind's part of the final program's input.
	configure(in *programInput)
}

// start starts the child and runs the protocol of sync.go until the child
// is ready and l.ready has run. On any failure the child is killed and
// reaped before start returns.
func (l *launch) start() (*os.Process, error) {
	if err := l.program(); err != nil {
		return nil, err
	}
	c, err := l.command()
	if err != nil {
		return nil, err
	}
	defer c.close()
	proc, err := c.spawn(l.kind.what(), func(pid int) error { return l.place(c, pid) })
	if err != nil {
		return nil, err
	}
	if err := l.setUp(proc, c); err != nil {
		killAndReap(proc)
		return nil, err
	}
	return proc, nil
}

// program builds the final program and its wire form.
func (l *launch) program() error {
	cfg := l.cfg
	in := programInput{proc: l.proc, filter: l.seccomp, preserve: len(l.extraFiles),
		lastCap: capabilities.Last(), memPolicy: cfg.MemoryPolicy}
	l.kind.configure(&in)
	if in.init {
		in.timeOffsets = cfg.TimeOffsets
		if !cfg.NoNewKeyring {
			in.keyring = "_ses." + l.id
		}
		in.personality = cfg.Personality
		if h := cfg.Hooks; h != nil && len(h.StartContainer) > 0 && l.hookState != nil {
			sh := startHooks{Hooks: h.StartContainer}
			if err := json.Unmarshal(l.hookState(0), &sh.State); err != nil {
				return fmt.Errorf("startContainer hooks: state: %w", err)
			}
			sh.State.Status = specs.StateCreated
			b, err := json.Marshal(sh)
			if err != nil {
				return fmt.Errorf("startContainer hooks: %w", err)
			}
			in.startHooks = b
		}
	}
	prog, err := finalProgram(in)
	if err != nil {
		return err
	}
	// Reduced to the kernel's Landlock ABI here; none (0) when even
	// asking fails: the parent warned (checkLSM).
	abi, _ := landlock.ABI()
	if l.wire, err = encodeProgram(prog, abi); err != nil {
		return err
	}
	l.prog, l.inC = prog, finalInC
	return nil
}

// killAndReap kills a child that start gave up on and waits for it.
func killAndReap(p *os.Process) {
	_ = p.Kill()
	_, _ = p.Wait()
}

// command is the `hull init` being built: the exec.Cmd, the bootstrap of
// its fds and flags, and what the parent closes once the child runs.
type command struct {
	cmd  *exec.Cmd
	boot bootstrap
	// sock is the parent's end of the sync socketpair.
	sock *os.File
	// childFiles are the parent's copies of the child's fds, closed once
	// the child has started; owned are closed by close.
	childFiles, owned []*os.File
	// cgTasks names the tasks files of bootstrap.CgTasks, in order, for
	// the report of one the child could not write.
	cgTasks []string
	// mapper writes the id maps of a new user namespace once the child
	// exists (newuidmap/newgidmap); nil when the parent writes them at
	// clone time.
	mapper *idMapper
	// passcred: the sync socket has SO_PASSCRED, for the report of the
	// C init's setup helper, whose pid is then helper.
	passcred bool
	helper   int
}

// bootReport reads the constructor's report. A new container's C init
// forks its setup helper at once, and when the constructor forked into a
// joined pid namespace the two write from two processes: the helper's
// report may come first, and is kept for helperPid.
func (c *command) bootReport() (bootReport, error) {
	if !c.passcred {
		return readBootReport(c.sock)
	}
	for {
		b, pid, err := recvFrame(c.sock)
		if err != nil {
			return bootReport{}, err
		}
		if rep, err := readProgReport(bytes.NewReader(b)); err == nil && rep.Kind == reportHelper && c.helper == 0 && pid > 0 {
			c.helper = pid
			continue
		}
		return readBootReport(bytes.NewReader(b))
	}
}

// helperPid returns the pid of the C init's setup helper, reading its
// report unless it came before the constructor's.
func (c *command) helperPid() (int, error) {
	for c.helper == 0 {
		b, pid, err := recvFrame(c.sock)
		if err != nil {
			return 0, err
		}
		rep, err := readProgReport(bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		if rep.Kind != reportHelper || pid <= 0 {
			return 0, fmt.Errorf("init sent report %d (pid %d) instead of its setup helper's", rep.Kind, pid)
		}
		c.helper = pid
	}
	return c.helper, nil
}

// addFd passes f to the child and returns its fd number there.
func (c *command) addFd(f *os.File) int {
	c.cmd.ExtraFiles = append(c.cmd.ExtraFiles, f)
	return 2 + len(c.cmd.ExtraFiles)
}

// joinNS passes an fd of the namespace at path for the constructor to
// setns into (the parent opens it: no path crosses to the child, and no
// mount namespace the child joins can change what a later path means).
func (c *command) joinNS(t configs.NamespaceType, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s namespace %s: %w", t, path, err)
	}
	c.childFiles = append(c.childFiles, f)
	c.boot.NS[nsIndex(t)] = c.addFd(f)
	return nil
}

func (c *command) close() {
	for _, f := range c.childFiles {
		f.Close()
	}
	for _, f := range c.owned {
		f.Close()
	}
	if c.mapper != nil {
		c.mapper.close()
	}
}

// command builds the child's command: hull's own binary (sealed, see
// selfExe) as `hull init`, with the bootstrap as its only environment.
func (l *launch) command() (*command, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	c := &command{sock: os.NewFile(uintptr(fds[0]), "sync-parent")}
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	c.owned = append(c.owned, c.sock)
	c.childFiles = append(c.childFiles, childSock)
	exe, err := selfExe()
	if err != nil {
		c.close()
		return nil, err
	}
	c.owned = append(c.owned, exe)
	c.cmd = &exec.Cmd{
		// The fd is inherited across fork and closed on exec, so the
		// child resolves this path in its own fd table, before it joins
		// any mount namespace.
		Path:   "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args:   []string{"hull", "init"},
		Stdin:  orStd(l.stdin, os.Stdin),
		Stdout: orStd(l.stdout, os.Stdout),
		Stderr: orStd(l.stderr, os.Stderr),
		// No Pdeathsig here: Go's child checks getppid() against the
		// parent's pid and kills itself when they differ, and in a joined
		// pid namespace getppid() is 0. Init sets its parent-death signal
		// itself; until then a dead parent shows as EOF on the sync pipe.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	c.cmd.ExtraFiles = append(c.cmd.ExtraFiles, l.extraFiles...)
	c.boot.Preserve = len(l.extraFiles)
	c.boot.Sync = c.addFd(childSock)
	if l.console != nil {
		c.boot.Console = c.addFd(l.console)
	}
	if err := l.kind.prepare(l, c); err != nil {
		c.close()
		return nil, err
	}
	if k, ok := l.kind.(*execLaunch); ok {
		// Placed while its constructor joins the namespaces (spawn).
		c.boot.Flags |= bootGate
		k.gated = true
	}
	if l.inC {
		c.boot.Flags |= bootProgram
		if l.kind.mode() == modeInit {
			// The setup helper's report names it by its credentials.
			if err := unix.SetsockoptInt(int(c.sock.Fd()), unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
				c.close()
				return nil, fmt.Errorf("sync socket: SO_PASSCRED: %w", err)
			}
			c.passcred = true
		}
	}
	c.startInCgroup(l.kind.cgroupFD())
	c.boot.Fds = len(c.cmd.ExtraFiles)
	c.cmd.Env = append([]string{envBootstrap + "=" + c.boot.encode()}, initRuntimeEnv...)
	return c, nil
}

// initRuntimeEnv is the Go runtime's environment in `hull init`. Init is
// one thread's worth of work and short-lived: one P, no GC (its heap is a
// few hundred KB), and no reading of cgroup limits to size GOMAXPROCS
// (bench/RESULTS.md: 0.93x CPU, 0.82x wall for run): without
// containermaxprocs=0 the runtime also keeps cgroup files open, fds that
// init's close-fds step would have to tell from a leak. The process init
// exec's gets only its own environment.
var initRuntimeEnv = []string{"GOMAXPROCS=1", "GOGC=off", "GODEBUG=containermaxprocs=0,updatemaxprocs=0"}

// spawn starts the child and reads its constructor's report (sync.go).
// With bootGate, place runs first, on the started child, while its
// constructor joins the namespaces; the gate byte follows once it
// succeeded, and only then can the constructor fork the process that goes
// on (which inherits the cgroups) or report. When the constructor forked
// into a joined pid namespace, spawn reaps the process that forked and
// returns the one that goes on. On failure nothing is left running.
func (c *command) spawn(what string, place func(pid int) error) (*os.Process, error) {
	if err := c.start(); err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	for _, f := range c.childFiles {
		f.Close()
	}
	c.childFiles = nil
	if c.mapper != nil {
		c.mapper.childEnd.Close()
	}
	proc := c.cmd.Process
	if c.gated() {
		// Still gated, the child has not forked: killing it leaves nothing.
		if err := place(proc.Pid); err != nil {
			killAndReap(proc)
			return nil, err
		}
		// An error: the constructor failed before the gate (its report
		// says why) or died (EOF below).
		_, _ = c.sock.Write([]byte{gateByte})
	}
	rep, err := c.bootReport()
	if err == nil {
		err = rep.err()
		if err != nil && rep.Step == bootCgroup && int(rep.NS) < len(c.cgTasks) {
			err = fmt.Errorf("%w (%s)", err, c.cgTasks[rep.NS])
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			err = exitedBeforeReady(what, proc)
		}
		killAndReap(proc)
		return nil, err
	}
	if rep.Pid == 0 {
		return proc, nil
	}
	// The constructor forked the process that goes on (our child too,
	// CLONE_PARENT) and exited.
	if ps, err := proc.Wait(); err != nil || !ps.Success() {
		if next, ferr := os.FindProcess(int(rep.Pid)); ferr == nil {
			killAndReap(next)
		}
		return nil, fmt.Errorf("join pid namespace: the forking child failed (%v, %v)", ps, err)
	}
	return os.FindProcess(int(rep.Pid))
}

// gated reports whether the constructor waits for the gate byte (bootGate)
// before it forks or reports: the child is then placed by spawn.
func (c *command) gated() bool { return c.boot.Flags&bootGate != 0 }

// place moves the child into its cgroup: the started child itself when
// gated (spawn), else the one that goes on (setUp).
func (l *launch) place(c *command, pid int) error {
	if c.gated() {
		if err := l.initialAffinity(pid); err != nil {
			return err
		}
	}
	return l.kind.place(l.cg, pid, c.inCgroup())
}

// initialAffinity sets execCPUAffinity.initial: the CPUs the child runs on
// until it is in the container's cgroup (the program's first step sets
// the final ones).
func (l *launch) initialAffinity(pid int) error {
	if a := l.proc.ExecCPUAffinity; a != nil && a.Initial != "" {
		set, err := parseCPUList(a.Initial)
		if err == nil {
			err = unix.SchedSetaffinity(pid, set)
		}
		if err != nil {
			return stage("execCPUAffinity", fmt.Errorf("initial %s: %w", a.Initial, err))
		}
	}
	return nil
}

// exitedBeforeReady reaps a child whose end of the sync socket closed and
// says how it exited.
func exitedBeforeReady(what string, proc *os.Process) error {
	ps, err := proc.Wait()
	if err == nil {
		return fmt.Errorf("%s exited before it was ready: %s", what, ps)
	}
	return fmt.Errorf("%s exited before it was ready", what)
}

// setUp takes a started child through its cgroup, its id maps and the
// protocol of sync.go, until it is ready.
func (l *launch) setUp(proc *os.Process, c *command) error {
	if err := l.kind.started(proc.Pid); err != nil {
		return err
	}
	if c.mapper != nil {
		if err := c.mapper.mapIDs(proc.Pid); err != nil {
			return err
		}
	}
	if !c.gated() {
		if err := l.initialAffinity(proc.Pid); err != nil {
			return err
		}
	}
	// The C init forks its setup helper at once, so that the helper's Go
	// start overlaps the cgroup placement; it is placed right after init
	// (before it reads its config: nothing it does escapes the cgroup).
	helper := 0
	if l.inC && l.kind.mode() == modeInit {
		pid, err := c.helperPid()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return exitedBeforeReady(l.kind.what(), proc)
			}
			return fmt.Errorf("init's setup helper: %w", err)
		}
		helper = pid
	}
	if !c.gated() {
		if err := l.place(c, proc.Pid); err != nil {
			return err
		}
	} else if k, ok := l.kind.(*execLaunch); ok {
		// Its resctrl group, by the pid of the process that goes on
		// (forked after the gate), before it gets its program.
		if k.rdt != nil {
			if err := k.rdt.Join(proc.Pid); err != nil {
				return err
			}
		}
		// Past the gate, so it moved itself into cgroupTasks.
		k.joined()
	}
	// Forked by init, the helper starts in init's cgroup when init was
	// started there (CLONE_INTO_CGROUP); moving it again would be a
	// second migration for nothing.
	if helper != 0 && l.cg != nil && !c.inCgroup() {
		if err := l.cg.Join(helper); err != nil {
			return fmt.Errorf("cgroup: join init's setup helper: %w", err)
		}
	}
	var ic *initConfig
	if !l.inC || l.kind.mode() == modeInit {
		// For Go's Init, or the C init's setup helper.
		ic = &initConfig{Mode: l.kind.mode(), ID: l.id, Config: l.cfg, Process: l.proc}
		if l.hookState != nil {
			ic.HookState = l.hookState(proc.Pid)
		}
		if !l.inC {
			ic.Program = l.wire
		}
	}
	if err := l.protocol(proc, c.sock, ic); err != nil {
		return err
	}
	if l.ready != nil {
		return l.ready(proc)
	}
	return nil
}

// frames reads what the child sends on the sync socket: JSON messages
// (one a line, from Go) and the C executor's fixed-size reports.
type frames struct{ r *bufio.Reader }

// next returns the next message or report.
func (f frames) next() (*syncMsg, *progReport, error) {
	b, err := f.r.Peek(1)
	if err != nil {
		return nil, nil, err
	}
	if b[0] != '{' {
		rep, err := readProgReport(f.r)
		return nil, &rep, err
	}
	line, err := f.r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	var m syncMsg
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, nil, fmt.Errorf("init sent a malformed message: %w", err)
	}
	return &m, nil, nil
}

// protocol sends the final program (C executor) and the config, and
// serves the child's requests until it is ready (the table in sync.go).
func (l *launch) protocol(proc *os.Process, sock *os.File, ic *initConfig) error {
	enc := json.NewEncoder(sock)
	in := frames{bufio.NewReader(sock)}
	// failure turns a message or report of failure into the error, once
	// the child that sent it has exited.
	failure := func(m *syncMsg, rep *progReport) error {
		_, _ = proc.Wait()
		if m != nil {
			return &stageError{Stage: m.Stage, Err: m.Err}
		}
		if rep.Kind == reportFailed {
			return describe(l.prog, *rep)
		}
		return fmt.Errorf("the constructor refused the final program (at byte %d): %w", rep.Value, errMalformed)
	}
	// reported turns an EOF on the socket into the child's own exit
	// status and last words.
	reported := func(err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			// The child's end is closed: what it wrote before dying is
			// still there.
			if m, rep, rerr := in.next(); rerr == nil && (m != nil && m.Type == syncError || rep != nil && rep.Kind >= reportFailed) {
				return failure(m, rep)
			}
			return exitedBeforeReady(l.kind.what(), proc)
		}
		return err
	}
	if l.inC {
		if _, err := sock.Write(l.wire); err != nil {
			return reported(fmt.Errorf("send the final program: %w", err))
		}
	}
	if ic != nil {
		if err := enc.Encode(syncMsg{Type: syncConfig, Init: ic}); err != nil {
			return reported(fmt.Errorf("send config to init: %w", err))
		}
	}
	for {
		m, rep, err := in.next()
		if err != nil {
			return reported(err)
		}
		if rep != nil {
			switch rep.Kind {
			case reportReady:
				return nil
			case reportListener:
				if err := l.takeListener(proc, int(rep.Value)); err != nil {
					return err
				}
				if _, err := sock.Write([]byte{1}); err != nil {
					return reported(err)
				}
			case reportFailed, reportRefused:
				return failure(nil, rep)
			default:
				return fmt.Errorf("init sent an unknown report %d", rep.Kind)
			}
			continue
		}
		switch m.Type {
		case syncReady:
			return nil
		case syncError:
			return failure(m, nil)
		case syncSeccompFd:
			if err := l.takeListener(proc, m.Fd); err != nil {
				_ = enc.Encode(syncMsg{Type: syncError, Err: err.Error()})
				return err
			}
			if err := enc.Encode(syncMsg{Type: syncSeccompFdDone}); err != nil {
				return reported(err)
			}
		case syncHooks:
			if err := l.kind.runHooks(proc.Pid); err != nil {
				_ = enc.Encode(syncMsg{Type: syncError, Err: err.Error()})
				return &hookFailure{err}
			}
			if err := enc.Encode(syncMsg{Type: syncHooksDone}); err != nil {
				return reported(err)
			}
		default:
			return fmt.Errorf("init sent an unexpected message %q", m.Type)
		}
	}
}

// takeListener hands the child's seccomp listener fd (its number there)
// to the seccomp agent.
func (l *launch) takeListener(proc *os.Process, fd int) error {
	var st specs.State
	if l.hookState != nil {
		_ = json.Unmarshal(l.hookState(proc.Pid), &st)
	}
	return takeSeccompFd(proc.Pid, fd, l.cfg.Seccomp, &st)
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}
