package integration

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// traceVictim runs argv under ptrace, every thread of it, and calls reuse
// once, while the thread that enters the trigger syscall (see
// triggerLookup, triggerSignal) on pid is stopped before it. It returns
// when the victim has exited.
func traceVictim(argv []string, stdout, stderr *os.File, pid int, trigger string, reuse func()) (*traced, error) {
	// A tracee belongs to the thread that attached it: every ptrace call
	// and wait below runs on this one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	main := cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(main, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("wait for the victim's exec stop: %w", err)
	}
	opts := unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_EXITKILL
	if err := unix.PtraceSetOptions(main, opts); err != nil {
		return nil, fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	if err := unix.PtraceSyscall(main, 0); err != nil {
		return nil, fmt.Errorf("PTRACE_SYSCALL: %w", err)
	}
	tr := &traced{others: map[int]unix.WaitStatus{}}
	threads := map[int]bool{main: true}
	inSyscall := map[int]bool{}
	pidfd := -1 // what the victim's pidfd_open(pid) returned
	for {
		wpid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("wait4: %w", err)
		}
		if !ws.Stopped() && !threads[wpid] {
			tr.others[wpid] = ws
			continue
		}
		threads[wpid] = true // a new thread may stop before its creator's clone event
		if ws.Exited() || ws.Signaled() {
			delete(threads, wpid)
			if wpid == main {
				tr.exit = ws
				return tr, nil
			}
			continue
		}
		inject := 0
		switch sig := ws.StopSignal(); {
		case sig == unix.SIGTRAP|0x80: // syscall entry or exit (PTRACE_O_TRACESYSGOOD)
			entering := !inSyscall[wpid]
			inSyscall[wpid] = entering
			var regs unix.PtraceRegs
			if err := unix.PtraceGetRegs(wpid, &regs); err != nil {
				break
			}
			nr, arg0, arg1 := regs.Orig_rax, int(int32(regs.Rdi)), regs.Rsi
			hit := false
			switch {
			case entering && nr == unix.SYS_KILL && arg0 == pid:
				hit = true
			case entering && nr == unix.SYS_PIDFD_OPEN && arg0 == pid:
				hit = trigger == triggerLookup
			case !entering && nr == unix.SYS_PIDFD_OPEN && arg0 == pid && int64(regs.Rax) >= 0:
				pidfd = int(regs.Rax)
			case entering && nr == unix.SYS_PIDFD_SEND_SIGNAL && arg0 == pidfd && arg1 != 0:
				hit = trigger == triggerSignal
			}
			if hit && !tr.triggered {
				tr.triggered = true
				reuse()
			}
		case sig == unix.SIGTRAP && ws.TrapCause() > 0: // PTRACE_EVENT_CLONE
		case sig == unix.SIGSTOP: // a new thread's first stop (PTRACE_O_TRACECLONE)
		default:
			inject = int(sig) // a signal for the victim: deliver it
		}
		_ = unix.PtraceSyscall(wpid, inject)
	}
}
