package libct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs hooks in order, each with the state JSON on its stdin, and
// stops at the first failure. kind names the hook list in errors
// ("createRuntime"). A hook that outlives its timeout is killed with its
// whole process group; hull does not wait for grandchildren that keep the
// hook's output pipe open (runc hangs there).
func runHooks(kind string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, b); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// runAllHooks runs every hook even when some fail (poststop: runtime.md
// says the remaining hooks run as if the failed one had succeeded) and
// returns the failures joined.
func runAllHooks(kind string, hooks []specs.Hook, state *specs.State) error {
	var errs []error
	for i := range hooks {
		if err := runHooks(kind, hooks[i:i+1], state); err != nil {
			errs = append(errs, fmt.Errorf("%s hook #%d (%s): %w", kind, i, hooks[i].Path, errors.Unwrap(err)))
		}
	}
	return errors.Join(errs...)
}

func runHook(h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d is not positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output pipes held open by the hook's own children must not hang us.
	cmd.WaitDelay = 500 * time.Millisecond
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // the hook succeeded; only its leftover children held the pipe
	}
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			if len(msg) > 512 {
				msg = msg[len(msg)-512:]
			}
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// hookFailure marks an error as a failed hook, for the lifecycle rules of
// runtime.md (continue at delete: destroy, then poststop hooks).
type hookFailure struct{ err error }

func (h *hookFailure) Error() string { return h.err.Error() }
func (h *hookFailure) Unwrap() error { return h.err }

// isHookFailure reports whether err comes from a hook, run by the parent
// or (createContainer, startContainer) by init.
func isHookFailure(err error) bool {
	var hf *hookFailure
	if errors.As(err, &hf) {
		return true
	}
	var se *stageError
	return errors.As(err, &se) && strings.HasSuffix(se.Stage, " hooks")
}
