package libct

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hullrt/hull/libct/configs"
)

// sd_notify support (NOTIFY_SOCKET), as runc: the container's process
// gets NOTIFY_SOCKET=/run/notify/notify.sock, a socket in the state
// directory bind-mounted read-only into the container; start listens on
// it and passes the container's READY=1 on to the host's NOTIFY_SOCKET,
// with MAINPID set to the container's init, so that systemd (or Podman's
// --sdnotify=container) follows the container's own readiness.
const (
	notifyDirName    = "notify"
	notifySockName   = "notify.sock"
	notifyDirInCtr   = "/run/notify"
	notifyReadyLimit = 4096
)

// setupNotify prepares create for NOTIFY_SOCKET: the directory that will
// hold the socket, its bind mount and the process's environment.
func setupNotify(dir string, cfg *configs.Config) error {
	nd := filepath.Join(dir, notifyDirName)
	if err := os.Mkdir(nd, 0o755); err != nil {
		return fmt.Errorf("notify socket dir: %w", err)
	}
	cfg.Mounts = append(cfg.Mounts, &configs.Mount{
		Source:      nd,
		Destination: notifyDirInCtr,
		Type:        "bind",
		Bind:        true,
		Recursive:   true,
		Attr:        unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC | unix.MOUNT_ATTR_RDONLY,
	})
	p := *cfg.Process
	p.Env = append(append([]string(nil), p.Env...), "NOTIFY_SOCKET="+notifyDirInCtr+"/"+notifySockName)
	cfg.Process = &p
	return nil
}

// openNotifySource opens the notify directory's bind mount (added by
// setupNotify, the last mount) as a detached tree, for init to attach when
// it cannot reach the state root from its user namespace. It returns the
// mount's index in cfg.Mounts.
func openNotifySource(dir string, cfg *configs.Config) (int, *os.File, error) {
	i := len(cfg.Mounts) - 1
	nd := filepath.Join(dir, notifyDirName)
	if i < 0 || cfg.Mounts[i].Source != nd {
		return 0, nil, errors.New("notify socket: its mount is missing")
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, nd, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return 0, nil, fmt.Errorf("notify socket dir: open_tree %s: %w", nd, err)
	}
	return i, os.NewFile(uintptr(fd), nd), nil
}

// listenNotify binds the container's notify socket (before init is
// released, so that nothing the process sends is lost). It returns nil
// when the container was not created with NOTIFY_SOCKET.
func (c *Container) listenNotify() (*net.UnixConn, error) {
	nd := filepath.Join(c.dir, notifyDirName)
	if _, err := os.Stat(nd); err != nil {
		return nil, nil
	}
	path := filepath.Join(nd, notifySockName)
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	// The container's process may run as any user.
	if err := os.Chmod(path, 0o777); err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return conn, nil
}

// forwardReady waits for a message with READY=1 from the container (or
// for its init to exit) and sends MAINPID (init's) and READY=1 to host.
func (c *Container) forwardReady(conn *net.UnixConn, host string) error {
	defer conn.Close()
	buf := make([]byte, notifyReadyLimit)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			return err
		}
		n, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if c.status() == Stopped {
				return errors.New("the container exited before it notified READY=1")
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("notify socket: %w", err)
		}
		msg := buf[:n]
		if !bytes.Contains(append([]byte("\n"), msg...), []byte("\nREADY=1")) {
			continue
		}
		out, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: host, Net: "unixgram"})
		if err != nil {
			return fmt.Errorf("NOTIFY_SOCKET %s: %w", host, err)
		}
		defer out.Close()
		if _, err := out.Write([]byte("MAINPID=" + strconv.Itoa(c.p.InitPid) + "\n")); err != nil {
			return fmt.Errorf("NOTIFY_SOCKET %s: %w", host, err)
		}
		// Only READY: anything else the container wrote (its own
		// MAINPID=, STOPPING=, ...) would reach systemd with hull's root
		// credentials.
		if _, err := out.Write([]byte("READY=1\n")); err != nil {
			return fmt.Errorf("NOTIFY_SOCKET %s: %w", host, err)
		}
		return nil
	}
}
