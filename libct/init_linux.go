package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/capabilities"
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
	sock := os.NewFile(uintptr(boot.Sync), "sync")
	pipe := &syncPipe{enc: json.NewEncoder(sock), dec: json.NewDecoder(sock)}
	m, err := pipe.recv()
	if err != nil {
		return fmt.Errorf("read config from parent: %w", err)
	}
	if m.Type != syncConfig || m.Init == nil || m.Init.Config == nil || m.Init.Process == nil {
		return fmt.Errorf("parent sent %q instead of the config", m.Type)
	}
	in := &initProc{boot: boot, errFd: -1, fifoFd: -1, ic: m.Init, cfg: m.Init.Config, proc: m.Init.Process, pipe: pipe, sock: sock}
	if in.ic.Mode == modeInit {
		if boot.Fifo < 3 || boot.ErrFifo < 3 {
			return fmt.Errorf("bootstrap: init needs fifo and errfifo (got %d, %d)", boot.Fifo, boot.ErrFifo)
		}
		in.fifoFd, in.errFd = boot.Fifo, boot.ErrFifo
		unix.CloseOnExec(in.fifoFd)
		unix.CloseOnExec(in.errFd)
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
		_ = pipe.send(syncMsg{Type: syncError, Stage: se.Stage, Err: se.Err})
	}
	return se
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
	// seccompLoaded is set once the filter is in place.
	seccompLoaded bool
}

// stage wraps err with the name of the setup step that failed.
func stage(name string, err error) error {
	if err == nil {
		return nil
	}
	return &stageError{Stage: name, Err: err.Error()}
}

func (in *initProc) run() error {
	if a := in.proc.ExecCPUAffinity; a != nil && a.Initial != "" {
		if err := setCPUAffinity(a.Initial); err != nil {
			return stage("execCPUAffinity", err)
		}
	}
	if in.ic.Mode == modeInit {
		if err := in.setupContainer(); err != nil {
			return err
		}
	} else if in.proc.Terminal {
		if err := in.setupConsole(); err != nil {
			return stage("console", err)
		}
	}
	prog, err := finalProgram(programInput{
		proc:     in.proc,
		seccomp:  in.ic.Seccomp != nil,
		notify:   in.ic.Seccomp != nil && in.ic.Seccomp.Notify(),
		preserve: in.boot.Preserve,
		lastCap:  capabilities.Last(),
	})
	if err != nil {
		return err
	}
	return runProgram(liveSys{in}, prog, in.proc.Args, in.proc.Env)
}

// sendReady is the final program's ready step: init is set up. The
// parent's death no longer matters; the parent learns that init is ready
// and goes away. Init of a new container then waits for start and runs
// the startContainer hooks.
func (in *initProc) sendReady() error {
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
	if h := in.cfg.Hooks; h != nil && len(h.StartContainer) > 0 {
		var st specs.State
		if err := json.Unmarshal(in.ic.HookState, &st); err == nil {
			st.Status = specs.StateCreated
			st.Pid = os.Getpid()
			if err := runHooks("startContainer", h.StartContainer, &st); err != nil {
				return stage("startContainer hooks", err)
			}
		}
	}
	return nil
}

// setupContainer builds the container around init: namespaces created
// late, the rootfs and mounts, hooks, pivot_root, console, hostname and
// sysctls.
func (in *initProc) setupContainer() error {
	cfg := in.cfg
	if in.ic.NewCgroupNS {
		// Unshared only now, once in the cgroup, so that the namespace's
		// root is the container's cgroup.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return stage("cgroup namespace", err)
		}
	}
	if in.ic.NewTimeNS {
		if err := unshareTime(cfg.TimeOffsets); err != nil {
			return stage("time namespace", err)
		}
	}
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
	if in.proc.Terminal {
		if err := in.setupConsole(); err != nil {
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
	if !cfg.NoNewKeyring {
		// A session keyring of its own, so the container cannot read the
		// host's keys; ENOSYS/EACCES (keyrings off, or confined) are fine.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + in.ic.ID); err != nil &&
			!errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EACCES) {
			return stage("session keyring", err)
		}
	}
	if p := cfg.Personality; p != nil {
		if err := setPersonality(p); err != nil {
			return stage("personality", err)
		}
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

// unshareTime creates the time namespace that the process will enter at
// execve (Linux 5.18+: exec switches to time_for_children) and writes the
// offsets before any process is in it, as the kernel requires.
func unshareTime(off map[string]specs.LinuxTimeOffset) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return err
	}
	if len(off) == 0 {
		return nil
	}
	var b strings.Builder
	for clock, o := range off {
		fmt.Fprintf(&b, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	// /proc/self, not thread-self: the file is per process, and the main
	// thread (locked, running this) is the thread group leader.
	return writeProcFile("self/timens_offsets", b.String())
}

func setPersonality(p *specs.LinuxPersonality) error {
	var persona uintptr
	switch p.Domain {
	case specs.PerLinux:
		persona = 0x0000
	case specs.PerLinux32:
		persona = 0x0008
	default:
		return fmt.Errorf("unknown personality domain %q", p.Domain)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, persona, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
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
