package integration

import (
	"os"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestHookFailureAfterCreate covers the hooks whose failure comes after
// create succeeded (runtime.md lifecycle steps 7, 9 and 13).
func TestHookFailureAfterCreate(t *testing.T) {
	for _, reportErr := range []bool{false, true} {
		name := "startContainer"
		if reportErr {
			name += " error reported by start"
		}
		t.Run(name, func(t *testing.T) {
			if reportErr {
				runcDeviation(t, "runc 1.1 start exits 0 when a startContainer hook fails: init fails after start returned")
			}
			startContainerFails(t, reportErr)
		})
	}
	t.Run("poststart", func(t *testing.T) {
		// Step 9: the runtime generates an error and stops the container.
		r := newRuntime(t)
		id := newID(t)
		b := newBundle(t, []string{"sleep", "1000"}, func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: failingHook("exit 5", nil)}
		})
		snap := snapshot(t, b.dir)
		res := r.callReaped("run", "--detach", "--bundle", b.dir, id)
		checkFailure(t, res, []string{"hook"}, []string{"poststart"})
		expectStoppedOrGone(t, r, id)
		r.quiet("delete", "--force", id)
		checkNoLeaks(t, r, id, b.dir, snap)
	})
	t.Run("poststop", func(t *testing.T) {
		// Step 13: a warning only; delete succeeds.
		poststopFails(t, false)
	})
	t.Run("poststop remaining hooks run", func(t *testing.T) {
		runcDeviation(t, "runc 1.1 stops at the first failing poststop hook (runc#1710)")
		poststopFails(t, true)
	})
}

// poststopFails covers lifecycle step 13: a failing poststop hook is a
// warning; delete succeeds and, with checkRemaining, the next hook runs.
func poststopFails(t *testing.T, checkRemaining bool) {
	t.Helper()
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, []string{"true"}, nil)
	host := b.rootfs("hooks")
	if err := os.MkdirAll(host, 0o777); err != nil {
		t.Fatal(err)
	}
	b.spec.Hooks = &specs.Hooks{Poststop: append(failingHook("exit 5", nil), recordHook("poststop", host))}
	b.write(t)
	snap := snapshot(t, b.dir)
	r.must("run", "--detach", "--bundle", b.dir, id)
	r.waitStatus(id, "stopped")
	res := r.call("delete", id)
	if res.code != 0 {
		t.Errorf("delete with a failing poststop hook: %v, want success with a warning", res)
	}
	if checkRemaining {
		checkOrder(t, host, []string{"poststop"})
	}
	checkNoLeaks(t, r, id, b.dir, snap)
}

// startContainerFails covers lifecycle step 7: a failing startContainer
// hook stops the container before the user process runs; with reportErr
// the start command must also fail.
func startContainerFails(t *testing.T, reportErr bool) {
	r := newRuntime(t)
	id := newID(t)
	b := newBundle(t, sh(`echo ran > /ran; sleep 1000`), func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{StartContainer: failingHook("exit 5", nil)}
	})
	r.must("create", "--bundle", b.dir, id)
	snap := snapshot(t, b.dir)
	res := r.callReaped("start", id)
	if reportErr {
		checkFailure(t, res, []string{"hook"}, []string{"startContainer"})
	}
	if _, err := os.Stat(b.rootfs("ran")); err == nil {
		t.Error("the user process ran despite the failing startContainer hook")
	}
	expectStoppedOrGone(t, r, id)
	r.quiet("delete", "--force", id)
	checkNoLeaks(t, r, id, b.dir, snap)
}

// expectStoppedOrGone asserts the container is not running: it is either
// stopped or already destroyed, and its init is dead.
func expectStoppedOrGone(t *testing.T, r *rt, id string) {
	t.Helper()
	res := r.call("state", id)
	if res.code != 0 {
		return // destroyed
	}
	st := r.waitStatus(id, "stopped")
	if st.Pid > 0 && syscall.Kill(st.Pid, 0) == nil && !isZombie(st.Pid) {
		t.Errorf("container %s init %d alive after a failed hook", id, st.Pid)
	}
}
