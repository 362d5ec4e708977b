package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultTimeout bounds every runtime invocation so that a hanging runtime
// fails one test instead of hanging the whole suite.
const DefaultTimeout = 30 * time.Second

// Runtime drives a runc-compatible runtime binary through its command line.
// Every call uses a private --root so the suite never sees or touches
// containers that it did not create.
type Runtime struct {
	Path    string
	Root    string
	Timeout time.Duration
	// Wrap, when set, is a command line the runtime runs under, with
	// its path and arguments appended: a namespace the test made (see
	// FakeResctrl, and nsenter for a network namespace).
	Wrap []string
}

// Result is the outcome of one runtime invocation.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Err    error
}

// OK reports whether the runtime exited with status 0.
func (r Result) OK() bool { return r.Err == nil }

func (r Result) String() string {
	return fmt.Sprintf("%s: err=%v stdout=%q stderr=%q", strings.Join(r.Args, " "), r.Err,
		trim(r.Stdout), trim(r.Stderr))
}

func trim(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// Stdio names the files a container's standard streams are connected to.
// Plain files (not pipes) are used so that a detached container that keeps
// them open never blocks the runtime invocation.
type Stdio struct {
	Stdin  *os.File
	Stdout *os.File
	Stderr *os.File
}

func (rt *Runtime) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--root", rt.Root}, args...)
	cmd := exec.CommandContext(ctx, rt.Path, full...)
	if len(rt.Wrap) > 0 {
		cmd = exec.CommandContext(ctx, rt.Wrap[0], append(append(append([]string(nil), rt.Wrap[1:]...), rt.Path), full...)...)
	}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run invokes the runtime with args and captures its output.
func (rt *Runtime) Run(args ...string) Result {
	return rt.run(nil, nil, args...)
}

func (rt *Runtime) run(stdio *Stdio, env []string, args ...string) Result {
	timeout := rt.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := rt.command(ctx, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	res := Result{Args: append([]string{rt.Path}, args...)}
	if stdio != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
		if stdio.Stdin == nil {
			cmd.Stdin = nil
		}
		if stdio.Stdout == nil {
			cmd.Stdout = &stdout
		}
		if stdio.Stderr == nil {
			cmd.Stderr = &stderr
		}
	} else {
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
	}
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("runtime call timed out after %s: %w", timeout, err)
	}
	res.Err = err
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	if stdio != nil && stdio.Stderr != nil && stdio.Stderr.Name() != os.DevNull {
		res.Stderr = readBack(stdio.Stderr)
		res.Stdout = readBack(stdio.Stdout)
	}
	return res
}

func readBack(f *os.File) string {
	if f == nil {
		return ""
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return ""
	}
	return string(b)
}

// CreateOpts are the optional parts of a create call.
type CreateOpts struct {
	Stdio         *Stdio
	ConsoleSocket string
	PidFile       string
}

// Create runs `create --bundle BUNDLE ID`.
func (rt *Runtime) Create(id, bundle string, o CreateOpts) Result {
	args := []string{"create", "--bundle", bundle}
	if o.ConsoleSocket != "" {
		args = append(args, "--console-socket", o.ConsoleSocket)
	}
	if o.PidFile != "" {
		args = append(args, "--pid-file", o.PidFile)
	}
	args = append(args, id)
	if o.Stdio == nil {
		// The container inherits create's stdio; pipes would keep this
		// call waiting for as long as the container lives.
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return Result{Args: args, Err: err}
		}
		defer null.Close()
		o.Stdio = &Stdio{Stdin: null, Stdout: null, Stderr: null}
	}
	return rt.run(o.Stdio, nil, args...)
}

// Start runs `start ID`.
func (rt *Runtime) Start(id string) Result { return rt.Run("start", id) }

// Kill runs `kill ID SIGNAL`.
func (rt *Runtime) Kill(id, sig string) Result { return rt.Run("kill", id, sig) }

// Delete runs `delete [--force] ID`.
func (rt *Runtime) Delete(id string, force bool) Result {
	if force {
		return rt.Run("delete", "--force", id)
	}
	return rt.Run("delete", id)
}

// Exec runs `exec ID ARGS...`.
func (rt *Runtime) Exec(id string, args ...string) Result {
	return rt.Run(append([]string{"exec", id}, args...)...)
}

// State runs `state ID` and decodes the result both into specs.State and a
// raw map (for schema checks that must see absent versus empty fields).
func (rt *Runtime) State(id string) (specs.State, map[string]any, Result) {
	res := rt.Run("state", id)
	var st specs.State
	var raw map[string]any
	if res.Err != nil {
		return st, nil, res
	}
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		res.Err = fmt.Errorf("decode state: %w", err)
		return st, nil, res
	}
	if err := json.Unmarshal([]byte(res.Stdout), &raw); err != nil {
		res.Err = fmt.Errorf("decode state: %w", err)
	}
	return st, raw, res
}

// Status returns the container's status, or "" if state fails.
func (rt *Runtime) Status(id string) string {
	st, _, res := rt.State(id)
	if res.Err != nil {
		return ""
	}
	return string(st.Status)
}

// Features runs `features` and returns its raw output.
func (rt *Runtime) Features() ([]byte, error) {
	res := rt.Run("features")
	if res.Err != nil {
		return nil, errors.New(res.String())
	}
	return []byte(res.Stdout), nil
}
