package libct

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/rootfs"
)

// setupConsole gives init a pty: the master goes to the caller over the
// console socket (SCM_RIGHTS, as runc's --console-socket protocol), the
// slave, owned by uid and of size rows x cols when they are not 0,
// becomes stdin/stdout/stderr and, for a new container, /dev/console.
// The slave is opened from the master with TIOCGPTPEER, never by a path
// the container could swap for a symlink (CVE-2025-52565). The console
// step makes it the controlling terminal (controllingTerminal).
func (in *initProc) setupConsole(uid int, rows, cols uint16) error {
	sockFd := in.boot.Console
	if sockFd < 3 {
		return fmt.Errorf("bootstrap: no console socket (fd %d)", sockFd)
	}
	defer unix.Close(sockFd)
	master, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	defer unix.Close(master)
	var st unix.Stat_t
	if err := unix.Fstat(master, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		return fmt.Errorf("/dev/pts/ptmx is not the pty multiplexer (device %d:%d)", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	var unlock int32
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, int(unlock)); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	ptn, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("get pty number: %w", err)
	}
	slave, err := ioctlGetPeer(master)
	if err != nil {
		return fmt.Errorf("open pty slave: %w", err)
	}
	slaveFile := os.NewFile(uintptr(slave), "/dev/pts/"+strconv.Itoa(ptn))
	defer slaveFile.Close()
	if rows != 0 || cols != 0 {
		ws := &unix.Winsize{Row: rows, Col: cols}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	// The owner becomes the process's user; the group stays tty (devpts
	// gid=5), as with runc.
	if err := unix.Fchown(slave, uid, -1); err != nil {
		return fmt.Errorf("chown pty slave: %w", err)
	}
	if in.ic != nil && in.ic.Mode == modeInit {
		if err := rootfs.BindConsoleFile(slaveFile); err != nil {
			return err
		}
	}
	name := "/dev/pts/" + strconv.Itoa(ptn)
	if err := unix.Sendmsg(sockFd, []byte(name), unix.UnixRights(master), nil, 0); err != nil {
		return fmt.Errorf("send pty master over console socket: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("dup pty slave to fd %d: %w", fd, err)
		}
	}
	return nil
}

// controllingTerminal makes stdin, the pty slave, the controlling
// terminal of the calling process, a session leader: the parent starts it
// with Setsid, and the constructor's fork into a joined pid namespace
// calls setsid.
func controllingTerminal() error {
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	return nil
}

// ioctlGetPeer is TIOCGPTPEER: open the pty's slave from its master.
func ioctlGetPeer(master int) (int, error) {
	fd, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(master), uintptr(unix.TIOCGPTPEER), uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}
