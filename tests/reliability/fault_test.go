//go:build reliability

package reliability

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Fault injection without touching hull: strace (-f) stops hull, or the
// `hull init` it starts, on entry to a chosen syscall (optionally only on
// a chosen path, -P) and either kills it there (signal=KILL) or fails the
// syscall (error=E...). strace counts invocations per syscall and per
// tracee (thread), so a point is named by a syscall that only one side
// makes, or by the path it touches, never by a global count.

// cgroupDir returns where hull puts container id in hierarchy ctrl: under
// the caller's own cgroup there, as runc does with a relative path.
func cgroupDir(ctrl, id string) string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctrl {
				return filepath.Join("/sys/fs/cgroup", ctrl, parts[2], id)
			}
		}
	}
	return ""
}

func needStrace(t *testing.T) {
	t.Helper()
	if testEnv.strace == "" {
		t.Skip("host lacks strace (apt-get install strace): no syscall fault injection")
	}
}

// straceCall runs hull args under strace with the given options and waits
// until hull itself has exited (a status file written by a wrapping sh),
// then detaches strace from whatever it still traces (an init waiting for
// start). The result's code is hull's exit status (-1 and signal when it
// was killed).
func straceCall(t *testing.T, sopts []string, timeout time.Duration, args ...string) result {
	t.Helper()
	status := filepath.Join(testEnv.tmp, "status-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	defer os.Remove(status)
	outF, _ := os.CreateTemp(testEnv.tmp, "out-")
	errF, _ := os.CreateTemp(testEnv.tmp, "err-")
	defer func() {
		outF.Close()
		errF.Close()
		os.Remove(outF.Name())
		os.Remove(errF.Name())
	}()
	argv := []string{"-f", "-I1", "-qq", "-o", "/dev/null"}
	argv = append(argv, sopts...)
	argv = append(argv, "--", "/bin/sh", "-c", `"$@"; echo $? >"$HULL_REL_STATUS"`, "sh", testEnv.binary, "--root", testEnv.root)
	argv = append(argv, args...)
	cmd := exec.Command(testEnv.strace, argv...)
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.Dir = testEnv.tmp
	cmd.Env = append(os.Environ(), "HULL_REL_STATUS="+status, "XDG_RUNTIME_DIR=")
	t0 := time.Now()
	if err := reg.start(cmd); err != nil {
		t.Fatalf("start strace: %v", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); reg.done(cmd.Process.Pid); close(waited) }()
	r := result{args: args, code: -1}
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(status); err == nil && strings.HasSuffix(string(b), "\n") {
			r.code, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			r.timedOut = true
			break
		}
		select {
		case <-waited:
			// strace died before hull reported (should not happen).
			if b, err := os.ReadFile(status); err == nil {
				r.code, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			goto out
		case <-time.After(5 * time.Millisecond):
		}
	}
out:
	r.dur = time.Since(t0)
	// sh reports a death by SIGKILL as 137; hull itself never exits 137
	// except exec and run, which mirror their process's status.
	if r.code == 128+int(syscall.SIGKILL) {
		r.signal = syscall.SIGKILL
		r.code = -1
	}
	// Detach from what is still traced (SIGTERM: strace detaches and exits).
	select {
	case <-waited:
	case <-time.After(300 * time.Millisecond):
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	}
	if r.timedOut {
		// Hull hung under the fault: kill what strace traced.
		for _, pid := range children() {
			if !reg.tracked(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	b, _ := os.ReadFile(outF.Name())
	r.stdout = string(b)
	b, _ = os.ReadFile(errF.Name())
	r.stderr = string(b)
	return r
}

// inject builds strace options: trace and tamper with syscalls on entry
// (when: "" for every invocation, else strace's when=), only for paths.
func inject(syscalls, action, when string, paths ...string) []string {
	spec := syscalls + ":" + action
	if when != "" {
		spec += ":when=" + when
	}
	o := []string{"-e", "trace=" + syscalls, "-e", "inject=" + spec}
	for _, p := range paths {
		o = append(o, "-P", p)
	}
	return o
}

// checkTruthful asserts that `hull state` says something true of id: a
// live init for created/running/paused; no live process of the container
// for stopped; or that the container does not exist.
func checkTruthful(t *testing.T, id string) (status string) {
	t.Helper()
	st, ok := stateOf(t, id)
	if !ok {
		return "does not exist"
	}
	if st.ID != id {
		t.Errorf("state of %s names id %q", id, st.ID)
	}
	switch st.Status {
	case "created", "running", "paused":
		if s, err := procState(st.Pid); err != nil || s == 'Z' {
			// The process may have died after state looked (an init
			// killed by its parent-death signal when create was killed):
			// then state must say so now.
			if again, ok := stateOf(t, id); ok && again.Status != "stopped" {
				t.Errorf("state says %s with pid %d, but that process is gone or a zombie (%c %v)", again.Status, st.Pid, s, err)
			}
		}
	case "stopped":
		if pids := markedProcs([]string{id}); len(pids) > 0 {
			t.Errorf("state says stopped, but container processes %v live", pids)
		}
		// cgroup v1 lists zombies in cgroup.procs until they are reaped:
		// only live processes contradict "stopped".
		for _, d := range cgroupDirs(id) {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				if s, err := procState(pid); err == nil && s != 'Z' && s != 'X' {
					t.Errorf("state says stopped, but cgroup %s holds live process %d %q (%c)", d, pid, cmdline(pid), s)
				}
			}
		}
	default:
		t.Errorf("state reports status %q", st.Status)
	}
	return st.Status
}

// checkStateFile asserts that state.json, when present, is whole JSON.
func checkStateFile(t *testing.T, id string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testEnv.root, id, "state.json"))
	if err != nil {
		return
	}
	if !jsonValid(b) {
		t.Errorf("state.json of %s is not whole JSON (%d bytes)", id, len(b))
	}
}

// checkOneLine asserts an error message of a failed call: one line on
// stderr, prefixed "hull:", naming at least one of words, never a bare EOF.
func checkOneLine(t *testing.T, r result, words ...string) {
	t.Helper()
	msg := strings.TrimSpace(r.stderr)
	if msg == "" {
		t.Errorf("failure without a message: %v", r)
		return
	}
	// Warnings (level=warning) may precede; judge the other lines.
	var errLines []string
	for _, l := range strings.Split(msg, "\n") {
		if !strings.Contains(l, "level=warning") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 {
		t.Errorf("want exactly one error line, got %d: %q", len(errLines), msg)
	}
	last := errLines[len(errLines)-1]
	if strings.HasSuffix(last, ": EOF") || strings.HasSuffix(last, "EOF") {
		t.Errorf("bare EOF in the error: %q", last)
	}
	if len(words) == 0 {
		return
	}
	for _, w := range words {
		if strings.Contains(strings.ToLower(last), strings.ToLower(w)) {
			return
		}
	}
	t.Errorf("error %q names none of %q", last, words)
}

// createPoint is one place to stop `hull create` (or its init).
type createPoint struct {
	name string
	// opts returns the strace options, given the id and its state dir.
	opts func(id, dir string) []string
	// pidFile passes --pid-file (in the bundle) to create.
	pidFile bool
	// side is "parent" or "init": who the fault hits.
	side string
}

func createPoints() []createPoint {
	kill := "signal=KILL"
	return []createPoint{
		// The state dir is made under a hidden name, locked, and renamed
		// into place (RENAME_NOREPLACE): the rename is the step that makes it.
		{"rename state dir into place", func(id, dir string) []string { return inject("rename,renameat,renameat2", kill, "", dir) }, false, "parent"},
		{"flock state dir", func(id, dir string) []string { return inject("flock", kill, "1") }, false, "parent"},
		{"mkfifo exec.fifo", func(id, dir string) []string { return inject("mknod,mknodat", kill, "", dir+"/exec.fifo") }, false, "parent"},
		{"mkfifo err.fifo", func(id, dir string) []string { return inject("mknod,mknodat", kill, "", dir+"/err.fifo") }, false, "parent"},
		{"mkdir pids cgroup", func(id, dir string) []string { return inject("mkdir,mkdirat", kill, "", cgroupDir("pids", id)) }, false, "parent"},
		{"mkdir memory cgroup", func(id, dir string) []string { return inject("mkdir,mkdirat", kill, "", cgroupDir("memory", id)) }, false, "parent"},
		{"join pids cgroup", func(id, dir string) []string {
			return inject("open,openat", kill, "", cgroupDir("pids", id)+"/cgroup.procs")
		}, false, "parent"},
		{"join memory cgroup", func(id, dir string) []string {
			return inject("open,openat", kill, "", cgroupDir("memory", id)+"/cgroup.procs")
		}, false, "parent"},
		{"set pids.max", func(id, dir string) []string {
			return inject("open,openat", kill, "", cgroupDir("pids", id)+"/pids.max")
		}, false, "parent"},
		// config.json, then state.json: each temp file is written, then
		// fchmod'ed, then renamed.
		{"fchmod config.json temp file", func(id, dir string) []string { return inject("fchmod", kill, "1") }, false, "parent"},
		{"rename config.json", func(id, dir string) []string {
			return inject("rename,renameat,renameat2", kill, "", dir+"/config.json")
		}, false, "parent"},
		{"fchmod state.json temp file", func(id, dir string) []string { return inject("fchmod", kill, "2") }, false, "parent"},
		{"rename state.json", func(id, dir string) []string {
			return inject("rename,renameat,renameat2", kill, "", dir+"/state.json")
		}, false, "parent"},
		{"rename pid file", func(id, dir string) []string {
			return inject("rename,renameat,renameat2", kill, "", filepath.Join(testEnv.tmp, "pid-"+id))
		}, true, "parent"},
		{"init: 1st mount", func(id, dir string) []string { return inject("mount", kill, "1") }, false, "init"},
		{"init: 2nd mount", func(id, dir string) []string { return inject("mount", kill, "2") }, false, "init"},
		// Filesystems are mounted with fsopen/fsconfig/fsmount/move_mount
		// (a default config: 8 fsmount, 24 move_mount); mount(2) is left
		// for propagation changes only.
		{"init: 3rd fsmount", func(id, dir string) []string { return inject("fsmount", kill, "3") }, false, "init"},
		{"init: 5th fsmount", func(id, dir string) []string { return inject("fsmount", kill, "5") }, false, "init"},
		{"init: 6th move_mount", func(id, dir string) []string { return inject("move_mount", kill, "6") }, false, "init"},
		{"init: pivot_root", func(id, dir string) []string { return inject("pivot_root", kill, "1") }, false, "init"},
		{"init: umount old root", func(id, dir string) []string { return inject("umount2", kill, "1") }, false, "init"},
		{"init: sethostname", func(id, dir string) []string { return inject("sethostname", kill, "1") }, false, "init"},
		{"init: capset", func(id, dir string) []string { return inject("capset", kill, "1") }, false, "init"},
		{"init: chdir to cwd", func(id, dir string) []string { return inject("chdir", kill, "1") }, false, "init"},
	}
}

// TestFaultCreateKill kills hull create, or its init, at each step, then
// checks state is truthful, delete --force succeeds, and nothing is left.
func TestFaultCreateKill(t *testing.T) {
	needStrace(t)
	for _, p := range createPoints() {
		t.Run(p.name, func(t *testing.T) {
			id := newID("ck-" + p.name)
			b := newBundle(t, id, nil)
			dir := filepath.Join(testEnv.root, id)
			args := []string{"create", "--bundle", b.dir}
			if p.pidFile {
				args = append(args, "--pid-file", filepath.Join(testEnv.tmp, "pid-"+id))
			}
			args = append(args, id)
			r := straceCall(t, p.opts(id, dir), 30*time.Second, args...)
			defer os.Remove(filepath.Join(testEnv.tmp, "pid-"+id))
			if r.timedOut {
				t.Errorf("hang: create did not finish in 30s under the fault: %v", r)
			}
			switch {
			case r.code == 0:
				t.Errorf("the fault point was not reached (create succeeded): the case proves nothing")
			case p.side == "parent" && r.signal != syscall.SIGKILL:
				t.Errorf("want hull killed at %s, got %v", p.name, r)
			case p.side == "init":
				// The parent survives and must say what happened.
				if r.signal != 0 {
					t.Errorf("hull itself died: %v", r)
				} else {
					checkOneLine(t, r, "init")
				}
			}
			checkStateFile(t, id)
			st := checkTruthful(t, id)
			t.Logf("after the kill: create %v; state: %s", r.signal, st)
			if p.side == "init" {
				// Create failed and said so: it must have cleaned up itself.
				checkClean(t, []string{id}, []string{b.dir})
			}
			d := testEnv.call(t, callOpts{timeout: 30 * time.Second}, "delete", "--force", id)
			if d.code != 0 || d.timedOut {
				t.Errorf("delete --force after the fault: %v", d)
			}
			checkClean(t, []string{id}, []string{b.dir})
		})
	}
}

// TestFaultCreateError fails one syscall of create (or init) and wants a
// one-line error naming the step, and nothing left behind, before any
// delete.
func TestFaultCreateError(t *testing.T) {
	needStrace(t)
	cases := []struct {
		name  string
		opts  func(id, dir string) []string
		words []string
	}{
		{"rename state dir EACCES", func(id, dir string) []string {
			return inject("rename,renameat,renameat2", "error=EACCES", "", dir)
		}, []string{"state dir", "permission denied"}},
		{"mkfifo exec.fifo EIO", func(id, dir string) []string { return inject("mknod,mknodat", "error=EIO", "", dir+"/exec.fifo") }, []string{"fifo"}},
		{"mkdir pids cgroup ENOSPC", func(id, dir string) []string {
			return inject("mkdir,mkdirat", "error=ENOSPC", "", cgroupDir("pids", id))
		}, []string{"cgroup"}},
		{"join pids cgroup EBUSY", func(id, dir string) []string {
			return inject("open,openat", "error=EBUSY", "", cgroupDir("pids", id)+"/cgroup.procs")
		}, []string{"cgroup"}},
		{"write pids.max EINVAL", func(id, dir string) []string {
			return inject("open,openat", "error=EINVAL", "", cgroupDir("pids", id)+"/pids.max")
		}, []string{"pids"}},
		{"init mount EPERM", func(id, dir string) []string { return inject("mount", "error=EPERM", "1") }, []string{"mount"}},
		{"init 4th fsmount ENOMEM", func(id, dir string) []string { return inject("fsmount", "error=ENOMEM", "4") }, []string{"mount"}},
		{"init 5th move_mount EPERM", func(id, dir string) []string { return inject("move_mount", "error=EPERM", "5") }, []string{"mount"}},
		{"init pivot_root EINVAL", func(id, dir string) []string { return inject("pivot_root", "error=EINVAL", "1") }, []string{"pivot_root"}},
		{"init sethostname EPERM", func(id, dir string) []string { return inject("sethostname", "error=EPERM", "1") }, []string{"hostname"}},
		{"init capset EPERM", func(id, dir string) []string { return inject("capset", "error=EPERM", "1") }, []string{"cap"}},
		{"init chdir ENOENT", func(id, dir string) []string { return inject("chdir", "error=ENOENT", "1") }, []string{"cwd", "chdir"}},
		{"rename state.json EIO", func(id, dir string) []string {
			return inject("rename,renameat,renameat2", "error=EIO", "", dir+"/state.json")
		}, []string{"state"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := newID("ce-" + c.name)
			b := newBundle(t, id, nil)
			dir := filepath.Join(testEnv.root, id)
			r := straceCall(t, c.opts(id, dir), 30*time.Second, "create", "--bundle", b.dir, id)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			if r.code == 0 {
				t.Errorf("create succeeded: the fault point was not reached or was ignored: %v", r)
			} else if r.signal != 0 {
				t.Errorf("hull died instead of reporting the failure: %v", r)
			} else {
				checkOneLine(t, r, c.words...)
				t.Logf("%s", strings.TrimSpace(r.stderr))
			}
			if r.code != 0 {
				// A failed create leaves nothing behind (no delete needed).
				checkClean(t, []string{id}, []string{b.dir})
			}
			cleanup(t, []string{id}, []string{b.dir})
		})
	}
}

// createdContainer creates id (sleep) and returns its bundle.
func createdContainer(t *testing.T, id string) *bundle {
	t.Helper()
	b := newBundle(t, id, nil)
	testEnv.mustHull(t, "create", "--bundle", b.dir, id)
	return b
}

// TestFaultInitDiesBeforeStart: init killed while it waits on the exec
// FIFO; start and run must fail at once instead of hanging (runc#1697).
func TestFaultInitDiesBeforeStart(t *testing.T) {
	t.Run("start", func(t *testing.T) {
		id := newID("init-dies-start")
		b := createdContainer(t, id)
		st, _ := stateOf(t, id)
		if err := syscall.Kill(st.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { s, _ := procState(st.Pid); return s == 0 || s == 'Z' })
		r := testEnv.call(t, callOpts{timeout: 10 * time.Second}, "start", id)
		if r.timedOut {
			t.Fatalf("hang: start blocked on a dead init (runc#1697): %v", r)
		}
		if r.code == 0 {
			t.Errorf("start of a container whose init died succeeded")
		} else {
			checkOneLine(t, r, "init", "stopped", "exited")
		}
		if s := checkTruthful(t, id); s != "stopped" {
			t.Errorf("state after init died: %s, want stopped", s)
		}
		cleanup(t, []string{id}, []string{b.dir})
	})
	// run: init killed at its wait on the FIFO (its first poll), so run's
	// own start finds no reader.
	for _, detach := range []bool{true, false} {
		name := "run"
		if detach {
			name = "run -d"
		}
		t.Run(name, func(t *testing.T) {
			needStrace(t)
			// The kill lands on the first poll(2) of any tracee: init's
			// wait on the FIFO, or (when init was quicker to be released)
			// run's own wait for exec. Only the first proves the point, so
			// retry a few times until it lands there.
			for attempt := 1; ; attempt++ {
				id := newID("init-dies-" + name)
				b := newBundle(t, id, nil)
				args := []string{"run", "--bundle", b.dir}
				if detach {
					args = append(args, "-d")
				}
				args = append(args, id)
				r := straceCall(t, inject("poll,ppoll", "signal=KILL", "1"), 20*time.Second, args...)
				if r.timedOut {
					t.Fatalf("hang: run blocked on a dead init (runc#1697): %v", r)
				}
				if r.signal == syscall.SIGKILL && attempt < 8 {
					t.Logf("attempt %d: the fault hit hull run, not init; again", attempt)
					cleanup(t, []string{id}, []string{b.dir})
					continue
				}
				if r.code == 0 {
					t.Errorf("run succeeded although init was killed before start: %v", r)
				} else if r.signal != 0 {
					t.Errorf("the fault never landed on init in %d attempts: %v", attempt, r)
				} else {
					checkOneLine(t, r)
					t.Logf("%s", strings.TrimSpace(r.stderr))
				}
				checkTruthful(t, id)
				cleanup(t, []string{id}, []string{b.dir})
				return
			}
		})
	}
}

// TestFaultStartKill kills hull start at each of its steps.
func TestFaultStartKill(t *testing.T) {
	needStrace(t)
	cases := []struct {
		name string
		opts func(dir string) []string
		// want is the status after the fault ("" = any truthful one).
		want string
	}{
		{"open exec.fifo", func(dir string) []string { return inject("open,openat", "signal=KILL", "", dir+"/exec.fifo") }, "created"},
		{"unlink exec.fifo", func(dir string) []string { return inject("unlink,unlinkat", "signal=KILL", "", dir+"/exec.fifo") }, ""},
		{"poll for exec", func(dir string) []string { return inject("poll,ppoll", "signal=KILL", "1") }, "running"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := newID("sk-" + c.name)
			b := createdContainer(t, id)
			dir := filepath.Join(testEnv.root, id)
			r := straceCall(t, c.opts(dir), 20*time.Second, "start", id)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			if r.signal != syscall.SIGKILL {
				t.Errorf("the fault point was not reached: %v", r)
			}
			st := checkTruthful(t, id)
			t.Logf("after start was killed at %s: %s", c.name, st)
			if c.want != "" && st != c.want {
				t.Errorf("status %s, want %s", st, c.want)
			}
			if st == "created" {
				// The container must still be startable.
				testEnv.mustHull(t, "start", id)
				if s := checkTruthful(t, id); s != "running" {
					t.Errorf("after a second start: %s", s)
				}
			}
			cleanup(t, []string{id}, []string{b.dir})
		})
	}
}

// TestFaultExec kills hull exec, or the process it starts, at steps and
// at delays: the container keeps running, nothing of the exec remains.
func TestFaultExec(t *testing.T) {
	id := newID("exec-faults")
	// The exec'd program at a path the host does not have (/hullrel), so
	// that strace's -P matches it as given (the host's /bin is a symlink).
	rel := t.TempDir()
	if err := os.Symlink("/bin/busybox", filepath.Join(rel, "sleep")); err != nil {
		t.Fatal(err)
	}
	b := newBundle(t, id, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hullrel", Type: "bind", Source: rel, Options: []string{"bind", "ro"}})
	})
	testEnv.mustHull(t, "create", "--bundle", b.dir, id)
	testEnv.mustHull(t, "start", id)
	st0, _ := stateOf(t, id)
	reg.keep(st0.Pid)
	defer cleanup(t, []string{id}, []string{b.dir})
	defer reg.done(st0.Pid)
	execArgs := []string{"exec", "--env", "RELTEST=" + id, id, "/hullrel/sleep", "30"}
	check := func(t *testing.T) {
		t.Helper()
		if s := checkTruthful(t, id); s != "running" {
			t.Fatalf("container is %s after the exec fault, want running", s)
		}
		// Nothing of the exec is left: only init carries the mark.
		st, _ := stateOf(t, id)
		waitFor(t, 300*time.Millisecond, func() bool {
			for _, p := range markedProcs([]string{id}) {
				if p != st.Pid {
					return false
				}
			}
			return true
		})
		// An exec'd process whose hull exec was killed lives on in the
		// container (as with runc); it must be inside the container, and
		// delete must take it (cleanup checks that).
		for _, p := range markedProcs([]string{id}) {
			if p == st.Pid {
				continue
			}
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cgroup")
			if !strings.Contains(string(b), id) {
				t.Errorf("leak: exec'd process %d %q is outside the container's cgroup: %s", p, cmdline(p), b)
			} else {
				t.Logf("exec'd process %d %q outlived its killed hull exec, inside the container", p, cmdline(p))
			}
		}
		// A later exec still works.
		r := testEnv.call(t, callOpts{timeout: 20 * time.Second}, "exec", id, "true")
		if r.code != 0 {
			t.Errorf("exec after the fault: %v", r)
		}
	}
	for _, d := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 8 * time.Millisecond, 15 * time.Millisecond, 30 * time.Millisecond, 60 * time.Millisecond} {
		t.Run("kill after "+d.String(), func(t *testing.T) {
			r := testEnv.call(t, callOpts{timeout: 20 * time.Second, started: func(p *os.Process) {
				time.Sleep(d)
				_ = p.Kill()
			}}, execArgs...)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			check(t)
		})
	}
	if testEnv.strace == "" {
		t.Skip("host lacks strace: exec's step faults skipped")
	}
	steps := []struct {
		name string
		opts []string
		// parentDies: the fault kills hull exec itself.
		parentDies bool
		words      []string
	}{
		// The child execs `hull init`, whose constructor joins the
		// namespaces (setns) and clones the process that goes on; that
		// one's execve is the process's (/hullrel/sleep).
		{"kill the process at its execve", inject("execve", "signal=KILL", "", "/hullrel/sleep"), false, nil},
		{"execve fails ENOENT", inject("execve", "error=ENOENT", "", "/hullrel/sleep"), false, []string{"exec", "no such file"}},
		// The parent calls no setns; the child's first joins (all of
		// init's namespaces at once through a pidfd, or the first of
		// them by path on kernels before 5.8).
		{"kill the child at a setns", inject("setns", "signal=KILL", "1"), false, nil},
		{"setns fails EINVAL", inject("setns", "error=EINVAL", "1"), false, []string{"setns", "namespace", "join"}},
		// hull exec's first waitid reaps the child that forked the
		// process: the process is on its own, waiting for its config.
		{"kill the parent as it reaps the forking child", inject("waitid", "signal=KILL", "1"), true, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := straceCall(t, s.opts, 20*time.Second, execArgs...)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			if r.code == 0 {
				t.Errorf("exec succeeded: the fault point was not reached: %v", r)
			}
			switch {
			case s.parentDies:
				if r.signal != syscall.SIGKILL {
					t.Errorf("want hull exec killed: %v", r)
				}
			case s.words != nil:
				checkOneLine(t, r, s.words...)
				t.Logf("%s", strings.TrimSpace(r.stderr))
			default:
				// The process was killed: exec exits 137 as a shell would.
				t.Logf("%v", r)
			}
			check(t)
		})
	}
}

// TestFaultDeleteKill kills hull delete at each step; a second delete
// --force must finish the job.
func TestFaultDeleteKill(t *testing.T) {
	needStrace(t)
	cases := []struct {
		name string
		opts func(id, dir string) []string
	}{
		// Init is signalled through a pidfd (pid reuse, issue 15.3).
		{"pidfd_send_signal to init", func(id, dir string) []string { return inject("kill,pidfd_send_signal", "signal=KILL", "1") }},
		{"rmdir pids cgroup", func(id, dir string) []string {
			return inject("rmdir,unlinkat", "signal=KILL", "", cgroupDir("pids", id))
		}},
		{"rmdir memory cgroup", func(id, dir string) []string {
			return inject("rmdir,unlinkat", "signal=KILL", "", cgroupDir("memory", id))
		}},
		{"remove state dir", func(id, dir string) []string { return inject("rmdir,unlink,unlinkat", "signal=KILL", "1", dir) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := newID("dk-" + c.name)
			b := createdContainer(t, id)
			testEnv.mustHull(t, "start", id)
			r := straceCall(t, c.opts(id, filepath.Join(testEnv.root, id)), 30*time.Second, "delete", "--force", id)
			if r.timedOut {
				t.Fatalf("hang: %v", r)
			}
			if r.signal != syscall.SIGKILL {
				t.Errorf("the fault point was not reached: %v", r)
			}
			checkStateFile(t, id)
			st := checkTruthful(t, id)
			t.Logf("after delete was killed at %s: %s", c.name, st)
			cleanup(t, []string{id}, []string{b.dir})
		})
	}
}

// TestFaultTimedKill kills create, start and delete after growing delays
// (no tracer: real timing), then checks the same guarantees.
func TestFaultTimedKill(t *testing.T) {
	delays := []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond,
		6 * time.Millisecond, 8 * time.Millisecond, 12 * time.Millisecond, 16 * time.Millisecond, 24 * time.Millisecond,
		32 * time.Millisecond, 48 * time.Millisecond, 64 * time.Millisecond, 100 * time.Millisecond}
	for _, op := range []string{"create", "start", "delete"} {
		for _, d := range delays {
			t.Run(op+" "+d.String(), func(t *testing.T) {
				id := newID("tk-" + op)
				var b *bundle
				var args []string
				switch op {
				case "create":
					b = newBundle(t, id, nil)
					args = []string{"create", "--bundle", b.dir, id}
				case "start":
					b = createdContainer(t, id)
					args = []string{"start", id}
				case "delete":
					b = createdContainer(t, id)
					testEnv.mustHull(t, "start", id)
					args = []string{"delete", "--force", id}
				}
				r := testEnv.call(t, callOpts{timeout: 30 * time.Second, started: func(p *os.Process) {
					time.Sleep(d)
					_ = p.Kill()
				}}, args...)
				if r.timedOut {
					t.Fatalf("hang: %v", r)
				}
				checkStateFile(t, id)
				st := checkTruthful(t, id)
				t.Logf("%s killed after %v (%s): state %s", op, d, map[bool]string{true: "killed", false: "finished"}[r.signal == syscall.SIGKILL], st)
				cleanup(t, []string{id}, []string{b.dir})
			})
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
