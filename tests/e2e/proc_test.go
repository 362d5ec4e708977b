//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setPgid puts cmd in its own process group and makes a timeout kill the
// whole group, so a stuck engine client takes its helpers with it.
func setPgid(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// cmdline returns pid's command line with spaces for NULs.
func cmdline(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// pidsMentioning lists live (non-zombie) processes, other than this one,
// whose command line contains s.
func pidsMentioning(s string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == self {
			continue
		}
		if !strings.Contains(cmdline(pid), s) || isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// killPID sends SIGTERM, waits up to 5 s, then SIGKILL.
func killPID(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 50; i++ {
		if isZombie(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// mountsUnder lists mount points at or below dir in this mount namespace,
// deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeOctal(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	return mps
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder lazily unmounts everything at or below dir, repeating while
// mounts remain (stacked mounts need one pass each).
func unmountUnder(dir string) {
	for i := 0; i < 5; i++ {
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return
		}
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	}
}

// openPty opens a new pseudo-terminal pair: the master and the slave.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// ptyRows and ptyCols are the window size of the terminal ptyRun gives its
// command; engines pass it on to the container's pty.
const (
	ptyRows = 33
	ptyCols = 111
)

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ptyInput is what ptyRun types: text, once the output shows prompt.
type ptyInput struct {
	prompt string
	text   string
}

// ptyRun runs args on a new pty of ptyRows x ptyCols as stdin, stdout and
// stderr (engines' -t wants its own stdin to be a terminal), types in (if
// any), and returns everything the pty printed.
func ptyRun(timeout time.Duration, in *ptyInput, args ...string) result {
	master, slave, err := openPty()
	if err != nil {
		return result{args: args, code: -1, err: fmt.Errorf("open a pty: %w", err)}
	}
	defer master.Close()
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ptyRows, Col: ptyCols}); err != nil {
		slave.Close()
		return result{args: args, code: -1, err: fmt.Errorf("set the pty's window size: %w", err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	setPgid(cmd)
	if err := cmd.Start(); err != nil {
		slave.Close()
		return result{args: args, code: -1, err: err}
	}
	slave.Close()
	var out lockedBuffer
	done := make(chan struct{})
	go func() { io.Copy(&out, master); close(done) }()
	var typeErr error
	if in != nil {
		typeErr = eventually(timeout, func() error {
			if !strings.Contains(out.String(), in.prompt) {
				return fmt.Errorf("no prompt %q on the terminal after %s: %q", in.prompt, timeout, out.String())
			}
			return nil
		})
		if typeErr == nil {
			_, typeErr = master.Write([]byte(in.text))
		}
	}
	werr := cmd.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		master.Close()
		<-done
	}
	r := result{args: args, stdout: out.String(), code: cmd.ProcessState.ExitCode()}
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("timed out after %s", timeout)
	case typeErr != nil:
		r.err = typeErr
	case werr != nil && cmd.ProcessState == nil:
		r.err = werr
	}
	return r
}
