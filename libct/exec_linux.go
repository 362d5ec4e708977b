package libct

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/hullrt/hull/libct/cgroups"
	"github.com/hullrt/hull/libct/configs"
	"github.com/hullrt/hull/libct/intelrdt"
)

// execLockTimeout bounds exec's wait for the container's lock (see
// lockDirShared): longer than a delete's own waits for the container's
// processes to die (10 s each).
const execLockTimeout = 30 * time.Second

// errStoppedDuringExec: the container's init died while a process was
// being exec'd into it.
var errStoppedDuringExec = errors.New("the container stopped during exec")

// ExecOpts are the caller's choices for Exec.
type ExecOpts struct {
	// PidFile, when set, receives the process's host pid.
	PidFile string
	// ConsoleSocket / ConsoleConn receive the pty master when p.Terminal
	// is set, as for CreateOpts.
	ConsoleSocket string
	ConsoleConn   *os.File
	// ExtraFiles become fds 3, 4, ... of the process.
	ExtraFiles []*os.File
	// Stdin, Stdout, Stderr of the process; nil means the caller's own.
	Stdin, Stdout, Stderr *os.File
	// IgnorePaused allows exec into a paused container.
	IgnorePaused bool
	// PidfdSocket, when set, receives a pidfd of the process once it is
	// ready, as CreateOpts.PidfdSocket.
	PidfdSocket *os.File
	// Cgroup is the sub-cgroup of the container's cgroup to run in, from
	// cgroups.ParseExecCgroup (exec --cgroup); nil for the container's
	// cgroup itself.
	Cgroup map[string]string
}

// Exec starts p inside the running container: in all its namespaces
// (joined through /proc/<init>/ns/*), its cgroup, and with p's own
// credentials and security context. It is the same child as Create's init
// in exec mode: one code path, one cleanup. The returned process is a
// child of the caller, which waits for it.
func (c *Container) Exec(p *configs.Process, o *ExecOpts) (*os.Process, error) {
	// The shared lock keeps create, start, pause and delete out until the
	// process is in the container's cgroup: a delete then kills it with the
	// rest, and never races its join (see lockDirShared).
	release, err := lockDirShared(c.dir, execLockTimeout)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", c.p.ID, ErrNotExist)
		}
		return nil, err
	}
	unlock := sync.OnceFunc(release)
	defer unlock()
	st := c.status()
	switch st {
	case Running, Created:
	case Paused:
		if !o.IgnorePaused {
			return nil, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	default:
		return nil, fmt.Errorf("cannot exec in a %s container", st)
	}
	// Never a stand-in: with no namespaces to join, the process would run
	// on the host.
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, fmt.Errorf("cannot exec: %w", err)
	}
	if err := checkLSM(cfg, p); err != nil {
		return nil, err
	}
	filter, err := compileSeccomp(c.dir, cfg.Seccomp)
	if err != nil {
		return nil, err
	}
	var nsTypes []configs.NamespaceType
	for _, ns := range cfg.Namespaces {
		nsTypes = append(nsTypes, ns.Type)
	}
	kind := &execLaunch{initPid: c.p.InitPid, initStart: c.p.InitStartTime, nsTypes: nsTypes, onJoined: unlock, rdt: intelrdt.Load(c.p.IntelRdt)}
	cg, err := c.loadCgroup()
	if err != nil {
		return nil, fmt.Errorf("cannot exec: %w", err)
	}
	if cg != nil {
		target, err := cg.Exec(o.Cgroup, c.p.InitPid)
		if err != nil {
			return nil, err
		}
		// Where it can (cgroup v1), the child moves itself, in its
		// constructor, before the gate (see bootGate): no move by pid.
		// Not with execCPUAffinity.initial, which the parent sets
		// before the child joins its cgroup, and not into a paused
		// container: the child would freeze as it joins the freezer,
		// before the report that releases this shared lock (see
		// execLaunch.joined), and resume would wait for the lock.
		var tasks []*os.File
		var into *os.File
		rest := target
		if a := p.ExecCPUAffinity; (a == nil || a.Initial == "") && st != Paused {
			tasks, into, rest = target.SelfJoin()
		}
		for _, f := range tasks {
			defer f.Close()
		}
		if into != nil {
			defer into.Close()
		}
		kind.target, kind.cgroupTasks = rest, tasks
		// Not into a frozen cgroup: the child would stop there before
		// it could report, and this shared lock would keep resume out.
		// (On a hybrid host, the unified hierarchy has no freezer.)
		switch {
		case into != nil:
			kind.cgroupFile = into
		case st != Paused:
			f, err := kind.target.OpenFD()
			switch {
			case err == nil:
				defer f.Close()
				kind.cgroupFile = f
			case !errors.Is(err, cgroups.ErrNotSupported):
				logrus.Debugf("exec: %v: the process joins its cgroup once started", err)
			}
		}
	} else if len(o.Cgroup) > 0 {
		return nil, fmt.Errorf("exec --cgroup: %w", errNoCgroup)
	}
	console, err := consoleConn(p.Terminal, &CreateOpts{ConsoleSocket: o.ConsoleSocket, ConsoleConn: o.ConsoleConn})
	if err != nil {
		return nil, err
	}
	if console != nil && console != o.ConsoleConn {
		defer console.Close()
	}
	l := &launch{
		id:         c.p.ID,
		cfg:        cfg,
		proc:       p,
		cg:         c.cgroup(),
		console:    console,
		extraFiles: o.ExtraFiles,
		seccomp:    filter,
		kind:       kind,
		hookState: func(pid int) []byte {
			b, _ := jsonMarshal(c.specState(Running, pid))
			return b
		},
		stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr,
		ready: func(proc *os.Process) error {
			// The init may have died while we joined it: then the process
			// sits in namespaces nobody else uses. Refuse rather than run
			// it there.
			if c.status() == Stopped {
				return errStoppedDuringExec
			}
			if o.PidfdSocket != nil {
				// proc is our unreaped child (the constructor's fork is
				// CLONE_PARENT): its pid cannot be reused.
				if err := sendPidfd(o.PidfdSocket, proc.Pid, pidfdMsgExec); err != nil {
					return err
				}
			}
			if o.PidFile != "" {
				return writePidFile(o.PidFile, proc.Pid)
			}
			return nil
		},
	}
	proc, err := l.start()
	if err != nil {
		if !errors.Is(err, errStoppedDuringExec) && c.status() == Stopped {
			// A delete or the init's death killed the process on its way in.
			return nil, fmt.Errorf("%w: %w", errStoppedDuringExec, err)
		}
		return nil, err
	}
	return proc, nil
}
