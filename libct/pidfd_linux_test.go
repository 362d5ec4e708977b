package libct

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenProcess: a process is opened only while its pid still names the
// process that started at the recorded time and has not exited.
func TestOpenProcess(t *testing.T) {
	start := func(t *testing.T) (*exec.Cmd, uint64) {
		t.Helper()
		cmd := exec.Command("sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		st, err := readProcStat(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return cmd, st.StartTime
	}
	// zombie kills the process and waits until it is a zombie (not reaped).
	zombie := func(t *testing.T, cmd *exec.Cmd) {
		t.Helper()
		_ = unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		for {
			var si unix.Siginfo
			if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &si, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
				return
			}
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, cmd *exec.Cmd, st uint64) (pid int, start uint64)
		ok    bool
	}{
		{"the recorded process", func(t *testing.T, cmd *exec.Cmd, st uint64) (int, uint64) { return cmd.Process.Pid, st }, true},
		{"another start time (pid reused)", func(t *testing.T, cmd *exec.Cmd, st uint64) (int, uint64) { return cmd.Process.Pid, st - 1 }, false},
		{"a zombie", func(t *testing.T, cmd *exec.Cmd, st uint64) (int, uint64) {
			zombie(t, cmd)
			return cmd.Process.Pid, st
		}, false},
		{"reaped", func(t *testing.T, cmd *exec.Cmd, st uint64) (int, uint64) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return cmd.Process.Pid, st
		}, false},
		{"no pid", func(t *testing.T, cmd *exec.Cmd, st uint64) (int, uint64) { return 0, st }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, st := start(t)
			pid, recorded := tc.setup(t, cmd, st)
			h, err := openProcess(pid, recorded)
			if !tc.ok {
				if !errors.Is(err, errProcessGone) {
					t.Fatalf("openProcess = %v, want errProcessGone", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer h.close()
			if err := h.signal(unix.SIGTERM); err != nil {
				t.Fatal(err)
			}
			ws, _ := cmd.Process.Wait()
			if ws == nil || ws.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
				t.Fatalf("process ended with %v, want SIGTERM", ws)
			}
			// Reaped now: the handle never reaches whatever gets the pid.
			if err := h.signal(unix.SIGKILL); !errors.Is(err, errProcessGone) {
				t.Fatalf("signal after reap = %v, want errProcessGone", err)
			}
		})
	}
}
