// Command recvtty is the console socket of the tests/vm checks: it listens
// on a unix socket for the pty masters a runtime sends with SCM_RIGHTS
// (--console-socket: create, run -d and restore -d of a container with
// process.terminal) and appends what each master reads to a file, keeping
// every master open, as an engine's console holder does. A checkpointed
// container's pty goes away with it; the restored one's new master (CRIU's
// orphan-pts-master) arrives on the next connection and its output follows
// in the same file. The guest has no Go: built on the host by run.sh.
//
//	recvtty SOCKET OUTPUT
package main

import (
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: recvtty SOCKET OUTPUT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "recvtty:", err)
		os.Exit(1)
	}
}

func run(sock, output string) error {
	out, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return err
	}
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			return err
		}
		master, name, err := receive(conn)
		conn.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "recvtty: receive:", err)
			continue
		}
		fmt.Fprintf(os.Stderr, "recvtty: got the master of %s\n", name)
		go func() {
			// EIO once the pty's last slave is closed (the container
			// checkpointed or gone): the master is kept open until then.
			_, _ = io.Copy(out, master)
			master.Close()
		}()
	}
}

// receive reads one message carrying one fd: the pty master, and its name.
func receive(conn *net.UnixConn) (*os.File, string, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, "", err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, "", fmt.Errorf("no fd in the message (%d control messages, %v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, "", fmt.Errorf("want one fd, got %d (%v)", len(fds), err)
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), string(buf[:n]), nil
}
