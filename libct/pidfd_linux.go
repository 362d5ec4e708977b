package libct

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// errProcessGone: the process recorded in the state (pid and start time)
// no longer exists, or is a zombie; its pid may belong to another process.
var errProcessGone = errors.New("process has exited")

// procHandle is one process, opened once through a pidfd and checked to be
// the process the state recorded. Signals go through the pidfd
// (pidfd_send_signal), never through the pid: once the process is gone,
// its pid may be handed to an unrelated host process, which kill(2) by pid
// would hit (runc signals by pid after a start-time check, a race).
type procHandle struct {
	pid int
	fd  int
}

// openProcess opens pid with pidfd_open and checks, after the open, that
// the pid still names the process that started at startTime (field 22 of
// /proc/PID/stat) and that the pidfd's process still holds it:
//
//   - the pidfd pins the process that had pid at the open;
//   - /proc/PID/stat read after the open shows the recorded start time and
//     a live process;
//   - a signal 0 through the pidfd then succeeds, so the pidfd's process
//     was not reaped in between and still held pid when stat was read: the
//     stat was its own, so the pidfd is the recorded process.
//
// errProcessGone is returned when it is not (exited, a zombie, or reused).
func openProcess(pid int, startTime uint64) (*procHandle, error) {
	if pid <= 0 {
		return nil, errProcessGone
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, errProcessGone
	}
	if err != nil {
		// Linux ≥ 5.3; hull needs 5.12. Never fall back to kill(2) by pid.
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	h := &procHandle{pid: pid, fd: fd}
	st, err := readProcStat(pid)
	if err != nil || st.StartTime != startTime || st.State == 'Z' || st.State == 'X' {
		h.close()
		return nil, errProcessGone
	}
	if err := h.signal(0); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// signal sends sig to the process through its pidfd. errProcessGone means
// it has exited and been reaped: nothing was signalled.
func (h *procHandle) signal(sig unix.Signal) error {
	err := unix.PidfdSendSignal(h.fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return errProcessGone
	}
	if err != nil {
		return fmt.Errorf("pidfd_send_signal %d to pid %d: %w", int(sig), h.pid, err)
	}
	return nil
}

func (h *procHandle) close() {
	if h.fd >= 0 {
		unix.Close(h.fd)
		h.fd = -1
	}
}

// openInit opens the container's init (see openProcess).
func (c *Container) openInit() (*procHandle, error) {
	return openProcess(c.p.InitPid, c.p.InitStartTime)
}

// The body of the --pidfd-socket message names the kind of process, as
// runc's does: its init type.
const (
	pidfdMsgInit = "standard" // a container's init (create, run)
	pidfdMsgExec = "setns"    // a process exec'd into a container
)

// sendPidfd opens a pidfd of pid and sends it over sock in one SCM_RIGHTS
// message whose body is msg: runc's --pidfd-socket protocol, so that the
// caller (containerd, a shim) can signal and wait for the process without
// pid races. pid must not be reusable meanwhile (hull's own unreaped
// child).
func sendPidfd(sock *os.File, pid int, msg string) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd socket: pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(msg), unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("pidfd socket: send the pidfd of %d: %w", pid, err)
	}
	return nil
}
