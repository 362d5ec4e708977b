package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/nsenter"
	"github.com/hullrt/hull/libct/rootfs"
)

// IsInit reports whether this process was started by hull as a
// container's init (or exec'd process) and must run Init instead of the
// CLI: its environment holds the bootstrap (sync.go).
func IsInit() bool { return os.Getenv(envBootstrap) != "" }

// Init is the whole life of `hull init`: it reads its configuration from
// the parent, sets up the container from inside its namespaces and
// execve's the process. It returns only on failure, after reporting it to
// the parent; the caller exits non-zero.
//
// Everything runs on the main OS thread (the caller locks it in an init
// function), because capabilities, credentials and the cgroup and time
// namespaces are per thread, and the thread that calls execve decides
// what the new program gets.
func Init() error {
	runtime.LockOSThread()
	boot, err := decodeBootstrap(os.Getenv(envBootstrap))
	if err != nil {
		return err
	}
	os.Unsetenv(envBootstrap)
	if !nsenter.Reported() {
		// The parent waits for the constructor's report first.
		return errors.New("hull init: the nsenter constructor did not run (binary built without libct/nsenter?)")
	}
	switch nsenter.Role() {
	case nsenter.RoleSetup:
		return setupHelper(boot)
	case nsenter.RoleHooks:
		return hooksHelper(boot)
	}
	// Nothing init inherited reaches a hook it runs, or the process
	// (the preserved fds are passed again right before execve).
	if err := inheritedCloseOnExec(); err != nil {
		return fmt.Errorf("close-on-exec: %w", err)
	}
	// In a new user namespace: wait for newuidmap/newgidmap and become
	// root of it, then unshare the ipc namespace (userns_linux.go).
	// Before the line below: the helpers refuse a non-dumpable target.
	if err := enterUserNS(boot); err != nil {
		return err
	}
	// Not dumpable: a process exec'd into a created container must not
	// reach init's fds through /proc/1/fd (execve makes the container's
	// process dumpable again).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("set not dumpable: %w", err)
	}
	// Die with the parent while it sets us up; cleared once ready.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	in, err := receiveConfig(boot)
	if err != nil {
		return err
	}
	err = in.run()
	// run returns only on failure; report it with its stage.
	var se *stageError
	if !errors.As(err, &se) {
		se = &stageError{Err: err.Error()}
	}
	if in.ready {
		// The parent is gone (create returned): tell start through the
		// state directory, and stderr.
		if in.errFd >= 0 {
			in.reportStartError(se) // start prints it
		} else {
			fmt.Fprintf(os.Stderr, "hull init: %s\n", se)
		}
	} else {
		_ = in.pipe.send(syncMsg{Type: syncError, Stage: se.Stage, Err: se.Err})
	}
	return se
}

// receiveConfig reads the parent's config from the sync socket.
func receiveConfig(boot *bootstrap) (*initProc, error) {
	sock := os.NewFile(uintptr(boot.Sync), "sync")
	pipe := &syncPipe{enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	m, err := pipe.recv()
	if err != nil {
		return nil, fmt.Errorf("read config from parent: %w", err)
	}
	if m.Type != syncConfig || m.Init == nil || m.Init.Config == nil || m.Init.Process == nil {
		return nil, fmt.Errorf("parent sent %q instead of the config", m.Type)
	}
	in := &initProc{boot: boot, errFd: -1, fifoFd: -1, ic: m.Init, cfg: m.Init.Config, proc: m.Init.Process, pipe: pipe, sock: sock}
	if in.ic.Mode == modeInit {
		if boot.Fifo < 3 || boot.ErrFifo < 3 {
			return nil, fmt.Errorf("bootstrap: init needs fifo and errfifo (got %d, %d)", boot.Fifo, boot.ErrFifo)
		}
		in.fifoFd, in.errFd = boot.Fifo, boot.ErrFifo
		unix.CloseOnExec(in.fifoFd)
		unix.CloseOnExec(in.errFd)
	}
	return in, nil
}

// setupHelper is the process the C init forks for its setup step
// (nsenter's final.c), as soon as it has reported: it shares init's fd
// table and filesystem info (CLONE_FILES|CLONE_FS) and namespaces, waits
// for its config (sent once the parent placed init and the helper in the
// cgroup), sets the container up as Go's init would (setupContainer:
// rootfs, mounts, hooks, pivot_root, console, hostname, sysctls) and
// exits 0; init, which never ran Go, goes on with the rest of the
// program. A failure is reported to the parent here, on the sync socket,
// and the helper exits 255.
func setupHelper(boot *bootstrap) error {
	var b [1]byte
	if n, err := unix.Read(nsenter.SetupGate(), b[:]); n != 1 {
		return fmt.Errorf("setup helper: wait for init: %v", err)
	}
	in, err := receiveConfig(boot)
	if err != nil {
		return err
	}
	// Forked before init's cgroup namespace existed, and placed in the
	// cgroup since: a cgroup namespace of its own, with the same root, for
	// the cgroupfs mounts (this thread makes them).
	if ns, ok := in.cfg.Namespace(configs.NEWCGROUP); ok && ns.Path == "" {
		err = stage("cgroup namespace", unix.Unshare(unix.CLONE_NEWCGROUP))
	}
	if err == nil {
		err = in.setupContainer()
	}
	if err != nil {
		var se *stageError
		if !errors.As(err, &se) {
			se = &stageError{Err: err.Error()}
		}
		_ = in.pipe.send(syncMsg{Type: syncError, Stage: se.Stage, Err: se.Err})
		return se
	}
	return nil
}

// hooksHelper is the process the C init forks once `start` released it,
// to run the startContainer hooks of its ready step (nsenter.HookData):
// a failure goes to err.fifo, where start reads it.
func hooksHelper(boot *bootstrap) error {
	err := runStartHooks(nsenter.HookData(), os.Getppid())
	if err != nil && boot.ErrFifo >= 3 {
		_, _ = unix.Write(boot.ErrFifo, []byte(err.Error()))
	}
	return err
}

// runStartHooks runs the startContainer hooks of a ready step (JSON
// startHooks) with init's pid in their state.
func runStartHooks(data []byte, pid int) error {
	if len(data) == 0 {
		return nil
	}
	var h startHooks
	if err := json.Unmarshal(data, &h); err != nil {
		return stage("startContainer hooks", err)
	}
	h.State.Pid = pid
	if err := runHooks("startContainer", h.Hooks, &h.State); err != nil {
		return stage("startContainer hooks", err)
	}
	return nil
}

type initProc struct {
	boot   *bootstrap
	errFd  int // write end of err.fifo; -1 for exec
	fifoFd int // read end of the exec FIFO; -1 for exec
	ic     *initConfig
	cfg    *configs.Config
	proc   *configs.Process
	pipe   *syncPipe
	sock   *os.File
	ready  bool
}

// stage wraps err with the name of the setup step that failed.
func stage(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{Stage: name, Err: err.Error(), cause: err}
}

// run is Go's executor of the final program the parent sent (Go mode,
// see finalInC): the same steps the C executor runs.
func (in *initProc) run() error {
	prog, err := decodeProgram(in.ic.Program)
	if err != nil {
		return err
	}
	return runProgram(liveSys{in}, prog)
}

// sendReady is the final program's ready step: init is set up. The
// parent's death no longer matters; the parent learns that init is ready
// and goes away. Init of a new container then waits for start and runs
// the startContainer hooks (hooks, JSON startHooks).
func (in *initProc) sendReady(hooks []byte) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0); err != nil {
		return stage("pdeathsig", err)
	}
	if err := in.pipe.send(syncMsg{Type: syncReady}); err != nil {
		return stage("ready", err)
	}
	in.ready = true
	in.sock.Close()
	if in.ic.Mode != modeInit {
		return nil
	}
	if err := waitExecFifo(in.fifoFd); err != nil {
		return stage("wait for start", err)
	}
	return runStartHooks(hooks, os.Getpid())
}

// setupContainer builds the container around init: the rootfs and
// mounts, hooks, pivot_root, console, hostname and sysctls. It is the
// final program's setup step, run by Go's init itself or, under the C
// executor, by a helper that shares init's fd table and filesystem info:
// so nothing here may be per process (the cgroup and time namespaces, the
// keyring, the personality and the controlling terminal are steps of
// their own).
func (in *initProc) setupContainer() error {
	cfg := in.cfg
	if err := rootfs.Prepare(cfg); err != nil {
		return stage("rootfs", err)
	}
	src := mountSources(in.boot.MountSources)
	if err := rootfs.MountAllFrom(cfg, src); err != nil {
		return stage("mounts", err)
	}
	for _, f := range src {
		f.Close()
	}
	if h := cfg.Hooks; h != nil {
		//lint:ignore SA1019 prestart is deprecated but still in the spec.
		if len(h.Prestart) > 0 || len(h.CreateRuntime) > 0 { //nolint:staticcheck
			if err := in.pipe.send(syncMsg{Type: syncHooks}); err != nil {
				return stage("hooks", err)
			}
			m, err := in.pipe.recv()
			if err != nil {
				return stage("hooks", err)
			}
			if m.Type != syncHooksDone {
				return stage("hooks", errors.New(m.Err))
			}
		}
		if len(h.CreateContainer) > 0 {
			var st specs.State
			if err := json.Unmarshal(in.ic.HookState, &st); err != nil {
				return stage("createContainer hooks", err)
			}
			if err := runHooks("createContainer", h.CreateContainer, &st); err != nil {
				return stage("createContainer hooks", err)
			}
		}
	}
	if err := rootfs.PivotRoot(cfg); err != nil {
		if cfg.NoPivotRoot {
			return stage("chroot", err)
		}
		return stage("pivot_root", err)
	}
	if p := in.proc; p.Terminal {
		var rows, cols uint16
		if sz := p.ConsoleSize; sz != nil {
			rows, cols = uint16(sz.Height), uint16(sz.Width)
		}
		if err := in.setupConsole(int(p.UID), rows, cols); err != nil {
			return stage("console", err)
		}
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return stage("hostname", err)
		}
	}
	if cfg.Domainname != "" {
		if err := unix.Setdomainname([]byte(cfg.Domainname)); err != nil {
			return stage("domainname", err)
		}
	}
	if err := writeSysctls(cfg.Sysctl); err != nil {
		return stage("sysctl", err)
	}
	if err := rootfs.ReopenDevNull(); err != nil {
		return stage("rootfs", err)
	}
	// A missing cwd is created (as runc does) while / may still be
	// writable; Finalize may remount it read-only.
	if err := os.MkdirAll(in.proc.Cwd, 0o755); err != nil {
		return stage("cwd", fmt.Errorf("create %s: %w", in.proc.Cwd, err))
	}
	// After the sysctls: readonlyPaths usually holds /proc/sys.
	if err := rootfs.Finalize(cfg); err != nil {
		return stage("rootfs", err)
	}
	return nil
}

// reportStartError writes a failure after start released init into
// err.fifo, where start reads it (Container.waitExec). It must happen
// before init exits: its exit closes the FIFO that start waits on.
func (in *initProc) reportStartError(err error) {
	if in.errFd >= 0 {
		_, _ = unix.Write(in.errFd, []byte(err.Error()))
	}
}

// mountSources wraps the detached mount trees the parent opened for
// idmapped mounts (bootstrap.MountSources).
func mountSources(fds map[int]int) rootfs.Sources {
	if len(fds) == 0 {
		return nil
	}
	src := rootfs.Sources{}
	for i, fd := range fds {
		unix.CloseOnExec(fd)
		src[i] = os.NewFile(uintptr(fd), "mount-source")
	}
	return src
}

// waitExecFifo blocks until `hull start` writes a byte to the exec FIFO.
// A FIFO that has never had a writer polls as not ready, so poll sleeps
// until start opens it; a writer that leaves without writing is an error.
//
// The fd stays open (close-on-exec) until execve: start waits for its
// close to learn that init has exec'd or died.
func waitExecFifo(fd int) error {
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("poll exec fifo: %w", err)
		}
		var b [1]byte
		n, err := unix.Read(fd, b[:])
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		if n == 0 {
			return errors.New("exec fifo closed without a start")
		}
		return nil
	}
}
