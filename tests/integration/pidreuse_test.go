package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pidReuseEnv, when set in the environment of the test binary, turns it
// into the pid-reuse helper (runPidReuse); the value is the path of its
// plan (reusePlan, JSON).
//
// The helper makes a container's init die and its pid go to an unrelated
// process exactly while the runtime is between finding the init and
// signalling it: the runtime's kill or delete runs under ptrace, and when
// one of its threads enters the syscall named by the plan's trigger, the
// helper SIGKILLs init, reaps it (it is init's subreaper), and forks until
// a new process gets the same pid (through /proc/sys/kernel/ns_last_pid),
// then lets the syscall go on. A runtime that signals by pid then hits the
// new process; one that holds a pidfd checked against init's start time
// does not.
const pidReuseEnv = "HULL_IT_PIDREUSE_PLAN"

// Triggers: when the helper reuses the pid.
const (
	// triggerLookup: before the runtime looks the process up (pidfd_open
	// of the pid, or a kill(2) of it when there is no lookup).
	triggerLookup = "lookup"
	// triggerSignal: between the lookup and the signal (a non-zero
	// pidfd_send_signal on the fd pidfd_open returned, or kill(2)).
	triggerSignal = "signal"
)

type reusePlan struct {
	Setup   [][]string // run first, in order, each must exit 0
	State   []string   // prints the container's state JSON
	Victim  []string   // run under ptrace
	Trigger string
	Result  string // where the helper writes its reuseResult
}

type reuseResult struct {
	Err          string
	Pid          int  // the container's init
	Triggered    bool // the victim entered the trigger syscall
	Reused       bool // a new process got Pid while the victim was stopped
	ReusedKilled string
	VictimExit   int
	VictimStderr string
}

// runPidReuse is the helper's main (see pidReuseEnv).
func runPidReuse(planPath string) int {
	var plan reusePlan
	res := &reuseResult{}
	b, err := os.ReadFile(planPath)
	if err == nil {
		err = json.Unmarshal(b, &plan)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pid-reuse helper: %v\n", err)
		return 125
	}
	if err := pidReuse(&plan, res); err != nil {
		res.Err = err.Error()
	}
	out, _ := json.Marshal(res)
	if err := os.WriteFile(plan.Result, out, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "pid-reuse helper: %v\n", err)
		return 125
	}
	return 0
}

func pidReuse(plan *reusePlan, res *reuseResult) error {
	// The container's init is reparented here when create exits, so that
	// it can be reaped at once and its pid handed out again.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	// Files, never pipes: the container inherits create's stdio.
	setupErr, err := os.CreateTemp(filepath.Dir(plan.Result), "setup-stderr")
	if err != nil {
		return err
	}
	defer setupErr.Close()
	for _, argv := range plan.Setup {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, setupErr
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(setupErr.Name())
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, b)
		}
	}
	out, err := exec.Command(plan.State[0], plan.State[1:]...).Output()
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	var st state
	if err := json.Unmarshal(out, &st); err != nil || st.Pid <= 0 {
		return fmt.Errorf("state: no pid in %q", out)
	}
	res.Pid = st.Pid
	stderr, err := os.CreateTemp(filepath.Dir(plan.Result), "victim-stderr")
	if err != nil {
		return err
	}
	defer stderr.Close()
	var reused *os.Process
	var reuseErr error
	tr, err := traceVictim(plan.Victim, null, stderr, st.Pid, plan.Trigger, func() {
		reused, reuseErr = reusePid(st.Pid)
	})
	if reused != nil {
		defer func() {
			_ = reused.Kill()
			var ws unix.WaitStatus
			_, _ = unix.Wait4(reused.Pid, &ws, 0, nil)
		}()
	}
	if err != nil {
		return err
	}
	if reuseErr != nil {
		return reuseErr
	}
	res.Triggered = tr.triggered
	res.Reused = reused != nil
	res.VictimExit = tr.exit.ExitStatus()
	if b, err := os.ReadFile(stderr.Name()); err == nil {
		res.VictimStderr = string(b)
	}
	if reused != nil {
		ws, ok := tr.others[reused.Pid]
		if !ok {
			// Not reaped during the trace: still alive, or died since.
			if p, _ := unix.Wait4(reused.Pid, &ws, unix.WNOHANG, nil); p == reused.Pid {
				ok = true
			}
		}
		if ok && ws.Signaled() {
			res.ReusedKilled = ws.Signal().String()
		} else if ok {
			res.ReusedKilled = "exited " + strconv.Itoa(ws.ExitStatus())
		}
	}
	return nil
}

// reusePid kills the container's init (a child of this subreaper), reaps
// it, and forks until a new process gets its pid.
func reusePid(pid int) (*os.Process, error) {
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return nil, fmt.Errorf("kill init %d: %w", pid, err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return nil, fmt.Errorf("reap init %d: %w", pid, err)
	}
	// Another process on the host may fork between the write and ours:
	// try again until the pid is ours.
	for i := 0; i < 2000; i++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			return nil, fmt.Errorf("ns_last_pid: %w", err)
		}
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		if cmd.Process.Pid == pid {
			return cmd.Process, nil
		}
		_ = cmd.Process.Kill()
		_, _ = unix.Wait4(cmd.Process.Pid, &ws, 0, nil)
	}
	return nil, fmt.Errorf("pid %d was not handed out again in 2000 forks", pid)
}

// traced is what traceVictim saw.
type traced struct {
	triggered bool
	exit      unix.WaitStatus
	// others are the children of the helper, not the victim's threads,
	// that were reaped during the trace (the process that got the pid,
	// when the victim killed it).
	others map[int]unix.WaitStatus
}

var errNoTracer = errors.New("no syscall tracer for " + runtime.GOARCH)

// TestPidReuse: kill and delete of a container whose init died and whose
// pid now belongs to an unrelated host process never signal that process,
// whether the pid is reused before the runtime looks the init up or
// between that and the signal (issue 15.3; a kill(2) by pid hits it).
func TestPidReuse(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the pid-reuse helper reads syscall arguments from amd64 ptrace registers")
	}
	cases := []struct {
		name    string
		start   bool
		victim  []string
		trigger string
	}{
		{"kill created, reused before lookup", false, []string{"kill", "ID", "KILL"}, triggerLookup},
		{"kill created, reused before signal", false, []string{"kill", "ID", "KILL"}, triggerSignal},
		{"kill running, reused before signal", true, []string{"kill", "ID", "TERM"}, triggerSignal},
		{"delete --force created, reused before lookup", false, []string{"delete", "--force", "ID"}, triggerLookup},
		{"delete --force running, reused before signal", true, []string{"delete", "--force", "ID"}, triggerSignal},
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			id := newID(t)
			r.mu.Lock()
			r.ids[id] = true
			r.mu.Unlock()
			b := newBundle(t, []string{"sleep", "1000"}, nil)
			rt := func(args ...string) []string {
				full := []string{r.bin, "--root", r.root}
				for _, a := range args {
					if a == "ID" {
						a = id
					}
					full = append(full, a)
				}
				return full
			}
			dir := t.TempDir()
			plan := reusePlan{
				Setup:   [][]string{rt("create", "--bundle", b.dir, id)},
				State:   rt("state", id),
				Victim:  rt(tc.victim...),
				Trigger: tc.trigger,
				Result:  filepath.Join(dir, "result.json"),
			}
			if tc.start {
				plan.Setup = append(plan.Setup, rt("start", id))
			}
			pb, _ := json.Marshal(&plan)
			planPath := filepath.Join(dir, "plan.json")
			if err := os.WriteFile(planPath, pb, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, self)
			cmd.Env = append(os.Environ(), pidReuseEnv+"="+planPath)
			out, err := os.Create(filepath.Join(dir, "helper-output"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				b, _ := os.ReadFile(out.Name())
				t.Fatalf("pid-reuse helper: %v\n%s", err, b)
			}
			var res reuseResult
			rb, err := os.ReadFile(plan.Result)
			if err == nil {
				err = json.Unmarshal(rb, &res)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Err == errNoTracer.Error() {
				t.Skip(res.Err)
			}
			if res.Err != "" {
				t.Fatalf("pid-reuse helper: %s", res.Err)
			}
			if !res.Triggered || !res.Reused {
				t.Fatalf("the runtime never entered the trigger syscall (or the pid was not reused): %+v", res)
			}
			if res.ReusedKilled != "" {
				t.Fatalf("%s signalled the unrelated process that reused init's pid %d: it was %s (stderr %q)",
					strings.Join(tc.victim, " "), res.Pid, res.ReusedKilled, res.VictimStderr)
			}
			if tc.victim[0] == "delete" {
				if res.VictimExit != 0 {
					t.Fatalf("delete --force of a container whose init is gone failed (exit %d): %s", res.VictimExit, res.VictimStderr)
				}
				if _, err := os.Stat(filepath.Join(r.root, id)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("delete --force left the state directory: %v", err)
				}
			}
		})
	}
}
