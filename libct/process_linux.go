package libct

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/nsenter"
	"github.com/hullrt/hull/libct/rootfs"
	"github.com/hullrt/hull/libct/seccomp"
)

// The environment of `hull init`: nothing of the caller's leaks in.
const (
	envInit      = "_HULL_INIT"      // "1": this process is hull's init
	envSyncFd    = "_HULL_SYNCFD"    // the child's end of the sync socketpair
	envFifoFd    = "_HULL_FIFOFD"    // read end of the exec FIFO (init only)
	envConsoleFd = "_HULL_CONSOLEFD" // socket that receives the pty master
	envErrFd     = "_HULL_ERRFD"     // write end of err.fifo (init only)
	envMountSrc  = "_HULL_MOUNTSRC"  // "index:fd,...": idmapped mount sources
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// child is one `hull init` to start: the init of a new container, or a
// process joining a running one (exec). Both go through start, one code
// path and one cleanup.
type child struct {
	mode initMode
	id   string
	cfg  *configs.Config
	proc *configs.Process
	cg   cgroups.Manager
	// newCgroup: Set the resources on the cgroup (create); exec only joins.
	newCgroup bool
	// join maps a namespace type to the path to setns into; for create
	// these come from config, for exec from /proc/<init>/ns/*.
	join       map[configs.NamespaceType]string
	fifo       *os.File
	errFifo    *os.File
	console    *os.File
	extraFiles []*os.File
	seccomp    *seccomp.Filter
	// mountSources are detached trees for idmapped mounts, by mount index.
	mountSources rootfs.Sources

	stdin, stdout, stderr *os.File
	hookState             func(pid int) []byte
	// onStart runs once the child exists, before it joins its cgroup:
	// Create records the pid and the cgroup there (see Create).
	onStart func(pid int) error
	// onJoined runs right after the cgroup join, whether it worked or not:
	// Exec releases its shared lock there (a process that joins a frozen
	// cgroup stops, and resume must not wait for it).
	onJoined func()
	runHooks func(pid int) error
}

// what names the child in errors: the container's init, or exec's process.
func (ch *child) what() string {
	if ch.mode == modeExec {
		return "the exec'd process"
	}
	return "init"
}

// cloneFlags returns the CLONE_NEW* flags for the namespaces to create at
// clone time. The cgroup and time namespaces are unshared by the child
// itself later (see initConfig).
func cloneFlags(cfg *configs.Config) (flags uintptr, join map[configs.NamespaceType]string) {
	join = map[configs.NamespaceType]string{}
	for _, ns := range cfg.Namespaces {
		if ns.Path != "" {
			join[ns.Type] = ns.Path
			continue
		}
		switch ns.Type {
		case configs.NEWPID:
			flags |= unix.CLONE_NEWPID
		case configs.NEWNET:
			flags |= unix.CLONE_NEWNET
		case configs.NEWNS:
			flags |= unix.CLONE_NEWNS
		case configs.NEWIPC:
			flags |= unix.CLONE_NEWIPC
		case configs.NEWUTS:
			flags |= unix.CLONE_NEWUTS
		case configs.NEWUSER:
			flags |= unix.CLONE_NEWUSER
		}
	}
	return flags, join
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// start starts the child and runs the protocol of sync.go until the child
// is ready. It returns the child's process as soon as it exists, also
// with an error, so that the caller can kill and reap it.
func (ch *child) start() (*os.Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer parentSock.Close()
	defer childSock.Close()

	exe, err := selfExe()
	if err != nil {
		return nil, err
	}
	defer exe.Close()
	cmd := &exec.Cmd{
		// The fd is inherited across fork and closed on exec, so the
		// child resolves this path in its own fd table, before it joins
		// any mount namespace.
		Path:   "/proc/self/fd/" + strconv.Itoa(int(exe.Fd())),
		Args:   []string{"hull", "init"},
		Stdin:  orStd(ch.stdin, os.Stdin),
		Stdout: orStd(ch.stdout, os.Stdout),
		Stderr: orStd(ch.stderr, os.Stderr),
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, ch.extraFiles...)
	// Init is one thread's worth of work and short-lived: one P, no GC
	// (its heap is a few hundred KB), and no reading of cgroup limits to
	// size GOMAXPROCS (bench/RESULTS.md: 0.93x CPU, 0.82x wall for run).
	// The process it exec's gets only its own environment.
	env := []string{envInit + "=1", "GOMAXPROCS=1", "GOGC=off"}
	addFd := func(name string, f *os.File) {
		env = append(env, name+"="+strconv.Itoa(3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	addFd(envSyncFd, childSock)
	if ch.fifo != nil {
		addFd(envFifoFd, ch.fifo)
	}
	if ch.errFifo != nil {
		addFd(envErrFd, ch.errFifo)
	}
	if ch.console != nil {
		addFd(envConsoleFd, ch.console)
	}
	if len(ch.mountSources) > 0 {
		var list []string
		for i, f := range ch.mountSources {
			list = append(list, strconv.Itoa(i)+":"+strconv.Itoa(3+len(cmd.ExtraFiles)))
			cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		}
		env = append(env, envMountSrc+"="+strings.Join(list, ","))
	}

	// No Pdeathsig here: Go's child checks getppid() against the parent's
	// pid and kills itself when they differ, and in a joined pid namespace
	// getppid() is 0. Init sets its parent-death signal itself; until then
	// a dead parent shows as EOF on the sync pipe.
	attr := &syscall.SysProcAttr{Setsid: true}
	join := ch.join
	// mapper is set when newuidmap/newgidmap write the maps (userns_linux.go).
	var mapper *idMapper
	if ch.mode == modeInit {
		attr.Cloneflags, join = cloneFlags(ch.cfg)
		if attr.Cloneflags&unix.CLONE_NEWUSER != 0 {
			if mapper, err = userNSAttr(attr, ch.cfg); err != nil {
				return nil, err
			}
			if e := deferIPC(&attr.Cloneflags); e != "" {
				env = append(env, e)
			}
			if mapper != nil {
				defer mapper.close()
				addFd(envUserNSFd, mapper.childEnd)
			}
		}
	}
	pidPath := join[configs.NEWPID]
	// A non-root caller cannot join the pid namespace; the child does
	// (userns_linux.go).
	forkInPidNS := ch.mode == modeExec && joinPidNSInChild(join)
	if forkInPidNS {
		// An fd: the child resolves no host path once in the
		// container's mount namespace.
		pidns, err := os.Open(pidPath)
		if err != nil {
			return nil, fmt.Errorf("open pid namespace %s: %w", pidPath, err)
		}
		defer pidns.Close()
		addFd(envJoinPidNS, pidns)
		addFd(envExeFd, exe)
		pidPath = ""
	}
	var enter []string
	for _, t := range []configs.NamespaceType{configs.NEWUSER, configs.NEWNS, configs.NEWNET, configs.NEWIPC, configs.NEWUTS, configs.NEWCGROUP, configs.NEWTIME} {
		if p, ok := join[t]; ok {
			if strings.ContainsAny(p, ",") {
				return nil, fmt.Errorf("namespace path %q: a comma is not allowed", p)
			}
			if forkInPidNS && t == configs.NEWNS {
				// Joined by the second child (userns_linux.go).
				env = append(env, envJoinMntNS+"="+p)
				continue
			}
			enter = append(enter, string(t)+":"+p)
		}
	}
	if len(enter) > 0 {
		env = append(env, nsenter.EnvVar+"="+strings.Join(enter, ","))
	}
	cmd.Env = env
	cmd.SysProcAttr = attr

	release, err := startInPidNS(cmd, pidPath)
	if err != nil {
		release()
		return nil, fmt.Errorf("start init: %w", err)
	}
	defer release()
	proc := cmd.Process
	childSock.Close()
	if forkInPidNS {
		if proc, err = forkedChild(parentSock, proc); err != nil {
			return nil, err
		}
	}

	fail := func(err error) (*os.Process, error) { return proc, err }
	if ch.onStart != nil {
		if err := ch.onStart(proc.Pid); err != nil {
			return fail(err)
		}
	}
	if mapper != nil {
		mapper.childEnd.Close()
		if err := mapper.mapIDs(proc.Pid); err != nil {
			return fail(err)
		}
	}
	// reported turns an EOF on the pipe into the child's own exit status
	// and last words.
	pipe := &syncPipe{enc: json.NewEncoder(parentSock), dec: json.NewDecoder(parentSock)}
	reported := func(err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			// The child's end is closed: what it wrote before dying
			// (the nsenter constructor's error, say) is still there.
			if m, rerr := pipe.recv(); rerr == nil && m.Type == syncError {
				_, _ = proc.Wait()
				return &stageError{Stage: m.Stage, Err: m.Err}
			}
			ps, werr := proc.Wait()
			if werr == nil {
				return fmt.Errorf("%s exited before it was ready: %s", ch.what(), ps)
			}
			return fmt.Errorf("%s exited before it was ready", ch.what())
		}
		return err
	}

	if ch.cg == nil && ch.onJoined != nil {
		ch.onJoined() // nothing to join
	}
	if ch.cg != nil {
		join := ch.cg.Apply
		if !ch.newCgroup {
			join = ch.cg.Join
		}
		err := join(proc.Pid)
		if ch.onJoined != nil {
			ch.onJoined()
		}
		if err != nil {
			return fail(fmt.Errorf("cgroup: join: %w", err))
		}
		if ch.newCgroup && ch.cfg.Cgroup != nil && ch.cfg.Cgroup.Resources != nil {
			if err := ch.cg.Set(ch.cfg.Cgroup.Resources); err != nil {
				return fail(fmt.Errorf("cgroup: %w", err))
			}
		}
	}

	ic := &initConfig{
		Mode:        ch.mode,
		ID:          ch.id,
		Config:      ch.cfg,
		Process:     ch.proc,
		PreserveFds: len(ch.extraFiles),
	}
	if ch.hookState != nil {
		ic.HookState = ch.hookState(proc.Pid)
	}
	if ch.mode == modeInit {
		if ns, ok := ch.cfg.Namespace(configs.NEWCGROUP); ok && ns.Path == "" {
			ic.NewCgroupNS = true
		}
		if ns, ok := ch.cfg.Namespace(configs.NEWTIME); ok && ns.Path == "" {
			ic.NewTimeNS = true
		}
	}
	if ch.seccomp != nil {
		ic.Seccomp = ch.seccomp
	}
	if err := pipe.send(syncMsg{Type: syncConfig, Init: ic}); err != nil {
		return fail(reported(fmt.Errorf("send config to init: %w", err)))
	}
	for {
		m, err := pipe.recv()
		if err != nil {
			return fail(reported(err))
		}
		switch m.Type {
		case syncReady:
			return proc, nil
		case syncError:
			_, _ = proc.Wait()
			return fail(&stageError{Stage: m.Stage, Err: m.Err})
		case syncSeccompFd:
			var st specs.State
			if ic.HookState != nil {
				_ = json.Unmarshal(ic.HookState, &st)
			}
			if err := takeSeccompFd(proc.Pid, m.Fd, ch.cfg.Seccomp, &st); err != nil {
				_ = pipe.send(syncMsg{Type: syncError, Err: err.Error()})
				return fail(err)
			}
			if err := pipe.send(syncMsg{Type: syncSeccompFdDone}); err != nil {
				return fail(reported(err))
			}
		case syncHooks:
			if ch.runHooks != nil {
				if err := ch.runHooks(proc.Pid); err != nil {
					_ = pipe.send(syncMsg{Type: syncError, Err: err.Error()})
					return fail(&hookFailure{err})
				}
			}
			if err := pipe.send(syncMsg{Type: syncHooksDone}); err != nil {
				return fail(reported(err))
			}
		default:
			return fail(fmt.Errorf("init sent an unexpected message %q", m.Type))
		}
	}
}

// startInPidNS starts cmd, in the pid namespace at path if one is given.
// setns(CLONE_NEWPID) changes only where the calling thread's future
// children go, so it is done on a locked thread that forks the child and
// is then thrown away (the goroutine exits while still locked). The thread
// lives until release is called: the child's parent-death signal fires
// when the thread that forked it exits.
func startInPidNS(cmd *exec.Cmd, path string) (release func(), err error) {
	if path == "" {
		return func() {}, cmd.Start()
	}
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		errc <- func() error {
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open pid namespace %s: %w", path, err)
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWPID); err != nil {
				return fmt.Errorf("join pid namespace %s: %w", path, err)
			}
			return cmd.Start()
		}()
		<-done
	}()
	return func() { close(done) }, <-errc
}

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}
